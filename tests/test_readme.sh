#!/usr/bin/env bash
# test_readme.sh - README.md's example sessions are real outputs of the current binary.
# Every fenced block of README.md whose lines start with "$ " is a session: each "$ COMMAND" line is
# run (bash, in one scratch directory shared by the whole session so that a later `head run.csv`
# sees the file an earlier `alig solve` wrote; `alig` is the binary under test) and the lines shown
# under it must be what it prints on stdout, with:
#   - a line "..." standing for any number of lines (an elided part of a long output);
#   - the parts that vary between runs and machines masked on both sides: wall times
#     (seconds=..., "in 3.4 s", "(experiment 2.2 s)") and the OpenMP thread count;
#   - numbers with a decimal point or an exponent equal up to one unit in the last digit shown in
#     README or 1e-9 relative (float sums may round differently with another BLAS), integers and
#     every other character exactly.
# Each command must exit 0. Fails when README and the binary drift apart.
# Run by ctest with ALIG_CLI set; standalone: ALIG_CLI=build/release/bin/alig bash tests/test_readme.sh
set -u
NAME=test_readme.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/harness.sh"
readme=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/README.md
[ -f "$readme" ] || { echo "$NAME: $readme not found" >&2; exit 1; }

mkdir -p "$TMP/bin" "$TMP/ex"
ln -s "$ALIG" "$TMP/bin/alig"

# 1. split README into numbered commands ($TMP/ex/N.cmd) and their shown output ($TMP/ex/N.exp);
#    blocks of the same fence share the session directory $TMP/ex/B.dir
awk -v dir="$TMP/ex" '
    /^```/ { fence = !fence; if (fence) blk++; cur = ""; next }
    fence && /^\$ / { n++; cur = dir "/" n ".exp"; printf "" > cur; close(cur)
                      f = dir "/" n ".cmd"; print substr($0, 3) > f; close(f)
                      b = dir "/" n ".blk"; print blk > b; close(b); next }
    fence && cur != "" { print >> cur; close(cur) }
    END { print n + 0 > (dir "/count") }' "$readme"
count=$(cat "$TMP/ex/count")
check "README.md has example sessions (\$ lines in fenced blocks)" [ "$count" -ge 4 ]

# mask what varies between runs: wall times and the thread count
mask() {
    sed -E -e 's/seconds=[0-9.]+/seconds=T/g' \
           -e 's/ in [0-9.]+ s/ in T s/g' \
           -e 's/\(experiment [0-9.]+ s\)/(experiment T s)/g' \
           -e 's/ on [0-9]+ thread\(s\)/ on N thread(s)/g' "$1"
}

# 2. compare expected (with "..." elisions) and actual line by line, numbers with tolerance
compare() { # compare EXPECTED ACTUAL : prints the first mismatch, exit 1 on mismatch
    awk '
    function skeleton(s, nums,    k, out, tok) {
        k = 0; out = ""
        while (match(s, /-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
            tok = substr(s, RSTART, RLENGTH)
            out = out substr(s, 1, RSTART - 1) "#"
            nums[++k] = tok
            s = substr(s, RSTART + RLENGTH)
        }
        nums[0] = k
        return out s
    }
    function unit(t,    m, e, p, d) {   # one unit in the last digit of t as written
        e = 0
        if (match(t, /[eE]/)) { e = substr(t, RSTART + 1) + 0; m = substr(t, 1, RSTART - 1) } else m = t
        p = index(m, ".")
        d = p ? length(m) - p : 0
        return 10 ^ (e - d)
    }
    function same(a, b,    na, nb, sa, sb, i, x, y, tol) {
        sa = skeleton(a, na); sb = skeleton(b, nb)
        if (sa != sb || na[0] != nb[0]) return 0
        for (i = 1; i <= na[0]; i++) {
            if (na[i] !~ /[.eE]/) { if (na[i] != nb[i]) return 0; continue }
            x = na[i] + 0; y = nb[i] + 0
            tol = unit(na[i]); if (1e-9 * (x < 0 ? -x : x) > tol) tol = 1e-9 * (x < 0 ? -x : x)
            if ((x - y > tol) || (y - x > tol)) return 0
        }
        return 1
    }
    FNR == NR { e[++ne] = $0; next }
    { a[++na] = $0 }
    END {
        j = 1
        for (i = 1; i <= ne; i++) {
            if (e[i] == "...") {
                if (i == ne) { j = na + 1; break }
                while (j <= na && !same(e[i + 1], a[j])) j++
                if (j > na) { printf "README line \"%s\" (after ...) not found in the output\n", e[i + 1]; exit 1 }
                continue
            }
            if (j > na) { printf "README shows \"%s\", the output has ended\n", e[i]; exit 1 }
            if (!same(e[i], a[j])) { printf "README: \"%s\"\noutput: \"%s\"\n", e[i], a[j]; exit 1 }
            j++
        }
        if (j <= na) { printf "output has more lines than README shows, from: \"%s\"\n", a[j]; exit 1 }
    }' "$1" "$2"
}

for n in $(seq 1 "$count"); do
    cmd=$(cat "$TMP/ex/$n.cmd")
    wd="$TMP/ex/session.$(cat "$TMP/ex/$n.blk")"
    mkdir -p "$wd"
    (cd "$wd" && PATH="$TMP/bin:$PATH" bash -c "$cmd") >"$TMP/ex/$n.out" 2>"$TMP/ex/$n.err" </dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then
        bad "README \$ $cmd -> exit $rc: $(head -c 300 "$TMP/ex/$n.err")"
        continue
    fi
    ok
    mask "$TMP/ex/$n.exp" >"$TMP/ex/$n.mexp"
    mask "$TMP/ex/$n.out" >"$TMP/ex/$n.mout"
    if diff=$(compare "$TMP/ex/$n.mexp" "$TMP/ex/$n.mout"); then ok; else bad "README \$ $cmd: $diff"; fi
done

# 3. the comparison itself: a changed digit, a changed word and a missing line must all be caught
printf 'a=1.2345 b=7 ok\nlast\n' >"$TMP/e1"
printf 'a=1.2346 b=7 ok\nlast\n' >"$TMP/a1"; check "last-digit rounding accepted" compare "$TMP/e1" "$TMP/a1"
printf 'a=1.2347 b=7 ok\nlast\n' >"$TMP/a2"; check "two units in the last digit caught" eval '! compare "$TMP/e1" "$TMP/a2" >/dev/null'
printf 'a=1.2345 b=8 ok\nlast\n' >"$TMP/a3"; check "a different integer caught" eval '! compare "$TMP/e1" "$TMP/a3" >/dev/null'
printf 'a=1.2345 b=7 OK\nlast\n' >"$TMP/a4"; check "a different word caught" eval '! compare "$TMP/e1" "$TMP/a4" >/dev/null'
printf 'a=1.2345 b=7 ok\n' >"$TMP/a5";       check "a missing line caught" eval '! compare "$TMP/e1" "$TMP/a5" >/dev/null'
printf 'x\n...\nlast\n' >"$TMP/e2"; printf 'x\n1\n2\nlast\n' >"$TMP/a6"
check "... elides lines" compare "$TMP/e2" "$TMP/a6"
printf 'x\n...\nfirst\n' >"$TMP/e3"; check "... still needs the line after it" eval '! compare "$TMP/e3" "$TMP/a6" >/dev/null'
finish
