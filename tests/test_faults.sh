#!/usr/bin/env bash
# test_faults.sh - faults and hostile inputs for the commands other than `train`: a read-only
# output directory, a full disk (/dev/full for stdout, a file-size limit for files), missing or
# unreadable data, outputs that are not regular files, and every reproducer of the hardening
# issue (integer overflow in sizes, LIBSVM hangs, nonsense flags, exploding runs). Each case
# asserts: the exit code, ONE clear line on stderr naming the cause, and nothing half-written
# (no output file, no temporary file).
NAME=test_faults.sh
source "$(dirname "$0")/lib/harness.sh"

S=(--problem smooth --solver alig --eta 0.1)

# fail_line RC NEEDLE ARGS... : exit RC, exactly one stderr line containing NEEDLE.
fail_line() {
    local want=$1 needle=$2; shift 2
    run "$want" "$@" || return 1
    local lines
    lines=$(wc -l <"$TMP/err")
    check "alig $*: one stderr line (got $lines: $(head -c 300 "$TMP/err"))" [ "$lines" -eq 1 ]
    check "alig $*: stderr names '$needle': $(head -c 300 "$TMP/err")" grep -qF -- "$needle" "$TMP/err"
}
# no_leftovers DIR : no temporary file of an atomic write left in DIR
no_leftovers() {
    check "no temporary file left in $1: $(ls "$1" 2>/dev/null | tr '\n' ' ')" \
        bash -c "! ls '$1' 2>/dev/null | grep -q '\.tmp\.'"
}

# ------------------------------------------------------------------ stdout on a full disk
for args in "info --json --problem smooth" "info --problem smooth" "list" "--help" "--version" "solve --help" \
            "solve ${S[*]} --iters 50 --out $TMP/full.csv" "oscillation --no-plot --json --out $TMP/oscj" \
            "rates --problem smooth --horizon 10 --seeds 2 --seeds-cap 2 --no-figures --out $TMP/rj"; do
    # shellcheck disable=SC2086
    "$ALIG" $args >/dev/full 2>"$TMP/err" </dev/null
    rc=$?
    check "alig $args > /dev/full: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "alig $args > /dev/full: one line naming standard output: $(cat "$TMP/err")" \
        bash -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -qE 'cannot write to (standard output|stdout)' '$TMP/err'"
done

# ------------------------------------------------------------------ files on a full disk
# A file-size limit (ulimit -f, SIGXFSZ ignored) makes writes past it fail with EFBIG, as a full
# disk fails them with ENOSPC: the same write/flush/sync path.
limited() { ( trap '' XFSZ; ulimit -f "$1"; shift; "$ALIG" "$@" ) >"$TMP/out" 2>"$TMP/err" </dev/null; }
mkdir -p "$TMP/disk"
limited 16 solve "${S[@]}" --iters 2000 --out "$TMP/disk/big.csv"
rc=$?
check "solve on a full disk: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "solve on a full disk: one line naming the file: $(cat "$TMP/err")" \
    bash -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -qF 'big.csv' '$TMP/err'"
check "solve on a full disk: no output file" [ ! -e "$TMP/disk/big.csv" ]
no_leftovers "$TMP/disk"
# oscillation writes six CSVs; the second (trajectories, ~600 kB) does not fit under 300 kB while
# the first (function, ~56 kB) does: none of them may appear (issue: "leaves 3 CSVs")
limited 300 oscillation --no-plot --quiet --out "$TMP/disk/osc"
rc=$?
check "oscillation on a full disk: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "oscillation on a full disk: one line: $(cat "$TMP/err")" [ "$(wc -l <"$TMP/err")" -eq 1 ]
check "oscillation on a full disk: no CSV left: $(ls "$TMP/disk/osc" 2>/dev/null | tr '\n' ' ')" \
    bash -c "! ls '$TMP/disk/osc' 2>/dev/null | grep -q ."

# rates writes rates.csv, methods.csv and report.md (a few kB each): under 4 kB none may appear
limited 4 rates --problem smooth --horizon 10 --seeds 2 --seeds-cap 2 --no-figures --out "$TMP/disk/rates"
rc=$?
check "rates on a full disk: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "rates on a full disk: one line with the cause: $(cat "$TMP/err")" \
    bash -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -q 'File too large' '$TMP/err'"
check "rates on a full disk: no result file left: $(ls "$TMP/disk/rates" 2>/dev/null | tr '\n' ' ')" \
    bash -c "! ls '$TMP/disk/rates' 2>/dev/null | grep -q ."

# ------------------------------------------------------------------ outputs that are not regular files
ln -s /dev/null "$TMP/devnull-link"
mkfifo "$TMP/fifo"
mkdir -p "$TMP/adir"
fail_line 1 "not a regular file" solve "${S[@]}" --iters 5 --out "$TMP/devnull-link"
check "--out to a device (through a link) leaves the link a link to the device" \
    bash -c "[ -L '$TMP/devnull-link' ] && [ -c '$TMP/devnull-link' ]"
fail_line 1 "a FIFO" solve "${S[@]}" --iters 5 --out "$TMP/fifo"
check "--out FIFO: still a FIFO" [ -p "$TMP/fifo" ]
fail_line 1 "a directory" solve "${S[@]}" --iters 5 --out "$TMP/adir"
fail_line 1 "not a directory" oscillation --no-plot --quiet --out "$TMP/fifo"
no_leftovers "$TMP"

# ------------------------------------------------------------------ read-only output directory
# Root ignores permissions: run those cases as user nobody (setpriv) when root.
AS=()
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null; then AS=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
fi
if [ "$(id -u)" -ne 0 ] || [ ${#AS[@]} -gt 0 ]; then
    chmod 755 "$TMP"
    mkdir -p "$TMP/ro"
    chmod 555 "$TMP/ro"
    ro() { "${AS[@]}" "$ALIG" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; }
    ro solve "${S[@]}" --iters 5 --out "$TMP/ro/x.csv"
    rc=$?
    check "solve into a read-only directory: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "read-only directory: one line naming the file and the cause: $(cat "$TMP/err")" \
        bash -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -qF 'ro/x.csv' '$TMP/err' && grep -qi 'permission' '$TMP/err'"
    ro oscillation --no-plot --quiet --out "$TMP/ro/osc"
    rc=$?
    check "oscillation into a read-only directory: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "oscillation read-only: one line: $(cat "$TMP/err")" [ "$(wc -l <"$TMP/err")" -eq 1 ]
    ro rates --problem smooth --horizon 10 --seeds 2 --seeds-cap 2 --no-figures --out "$TMP/ro/rates"
    rc=$?
    check "rates into a read-only directory: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "rates read-only: one line: $(cat "$TMP/err")" [ "$(wc -l <"$TMP/err")" -eq 1 ]
    check "read-only directory still empty" bash -c "[ -z \"\$(ls -A '$TMP/ro')\" ]"
    # unreadable data file
    printf '1 1:1\n-1 1:2\n' >"$TMP/secret.svm"
    chmod 000 "$TMP/secret.svm"
    ro info --data "$TMP/secret.svm" --loss squared
    rc=$?
    check "unreadable --data: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "unreadable --data: one line naming the file and the cause: $(cat "$TMP/err")" \
        bash -c "[ \$(wc -l <'$TMP/err') -eq 1 ] && grep -qF 'secret.svm' '$TMP/err' && grep -qi 'permission' '$TMP/err'"
    chmod 755 "$TMP/ro"
else
    echo "$NAME: read-only cases not run (root without setpriv): not counted"
fi

# ------------------------------------------------------------------ missing or malformed data
fail_line 1 "missing.svm" info --data "$TMP/missing.svm" --loss squared
fail_line 1 "Is a directory" info --data "$TMP/adir" --loss squared
fail_line 1 "missing.svm" solve --data "$TMP/missing.svm" --loss squared --solver alig --iters 3 --out "$TMP/d.csv"
check "missing data: no output" [ ! -e "$TMP/d.csv" ]
# each LIBSVM format error names its file, line and actual problem (issue: all said "malformed")
svm_case() { # svm_case NEEDLE CONTENT(printf format)
    printf "$2" >"$TMP/case.svm"
    fail_line 1 "$1" info --data "$TMP/case.svm" --loss squared
}
svm_case "case.svm:2: indices must increase (1 after 2)" '1 1:1\n-1 2:1 1:2\n'
svm_case "case.svm:2: indices must increase (3 after 3: a repeated index)" '1 1:1\n-1 3:1 3:2\n'
svm_case "case.svm:1: value 'nan' is not finite" '1 1:nan\n'
svm_case "case.svm:2: label 'inf' is not finite" '1 1:1\ninf 1:1\n'
svm_case "case.svm:1: index in '99999999999:1' is too large" '1 99999999999:1\n'
svm_case "case.svm:2: NUL byte" '1 1:1\n\0001 1:1\n'
svm_case "case.svm:1: value 'x' is not a number" '1 1:x\n'
svm_case "case.svm:1: token '1:' has no value" '1 1:\n'
svm_case "has no sample" '# only a comment\n\n'
# the dense matrix of a file whose one index promises gigabytes: refused against the stated limit
svm_case "ALIG_LIBSVM_MAX_ENTRIES" '1 1:1\n1 2000000000:1\n'
# truncated gzip: says so (issue: said "no sample found")
printf '1 1:0.5 2:1\n-1 1:1 2:0.25\n1 1:2 2:3\n' | gzip -c >"$TMP/full.svm.gz"
head -c 30 "$TMP/full.svm.gz" >"$TMP/cut.svm.gz"
fail_line 1 "truncated" info --data "$TMP/cut.svm.gz" --loss squared

# ------------------------------------------------------------------ LIBSVM hangs (issue reproducers)
# values whose squares overflow: refused at once with file and line (issue: never ended)
printf '1 3:1\n1 1:1e200\n' >"$TMP/h.svm"
SECONDS=0
timeout 60 "$ALIG" info --data "$TMP/h.svm" --loss logistic >"$TMP/out" 2>"$TMP/err" </dev/null
rc=$?
check "1e200 value: exit 1, not a hang (got $rc)" [ "$rc" -eq 1 ]
check "1e200 value: names file, line and bound: $(cat "$TMP/err")" \
    bash -c "grep -qF 'h.svm:2: value' '$TMP/err' && grep -qF 'ALIG_LIBSVM_MAX_ABS' '$TMP/err'"
# 31 lines plus "1 4096:1": absolute and hinge took over 100 s; the zero columns no longer count
for i in $(seq 1 31); do
    printf '%d %d:%d.%d %d:-%d.5\n' $((i % 2 * 2 - 1)) $((i % 7 + 1)) $((i % 5)) $((i % 3)) $((i % 11 + 8)) $((i % 4))
done >"$TMP/wide.svm"
printf '1 4096:1\n' >>"$TMP/wide.svm"
for loss in absolute hinge; do
    SECONDS=0
    timeout 60 "$ALIG" info --data "$TMP/wide.svm" --loss $loss >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    check "31 lines + '1 4096:1', --loss $loss: exit 0 in under 30 s (rc $rc, ${SECONDS}s): $(head -c 200 "$TMP/err")" \
        bash -c "[ $rc -eq 0 ] && [ $SECONDS -lt 30 ]"
    check "--loss $loss: d = 4096 reported" grep -q "d = 4096" "$TMP/out"
done

# ------------------------------------------------------------------ integer overflow in sizes
fail_line 2 "too large" oscillation --iters 2305843009213693951 --no-plot --quiet --out "$TMP/o"
check "oscillation --iters huge: no output directory content" bash -c "! ls '$TMP/o' 2>/dev/null | grep -q ."
fail_line 2 "--seeds-cap" rates --horizon 10 --seeds 2 --seeds-cap 1152921504606846976 --problem smooth \
    --no-figures --out "$TMP/r"
check "rates --seeds-cap huge: nothing written" [ ! -e "$TMP/r" ]
fail_line 2 "--threads: '18446744073709551615' is too large" rates --threads 18446744073709551615 --out "$TMP/r"
fail_line 2 "--horizon: '18446744073709551615' is too large" rates --horizon 18446744073709551615 --out "$TMP/r"
fail_line 2 "overflows" solve "${S[@]}" --iters 99999999999999999999999 --out "$TMP/x.csv"
fail_line 2 "overflows" solve "${S[@]}" --iters 5 --seed 99999999999999999999999 --out "$TMP/x.csv"

# ------------------------------------------------------------------ nonsense accepted before
O=(--out "$TMP/n.csv")
fail_line 2 "--eta given twice" solve "${S[@]}" --iters 5 --eta 0.2 "${O[@]}"
fail_line 2 "--lr: bad value ' 1'" solve --problem smooth --solver sgd --lr " 1" --iters 5 "${O[@]}"
fail_line 2 "--lr: bad value '0x10'" solve --problem smooth --solver sgd --lr 0x10 --iters 5 "${O[@]}"
fail_line 2 "milestone '0'" solve --problem smooth --solver sgd --schedule multistep --milestones 0 --iters 5 "${O[@]}"
fail_line 2 "milestone '1e20'" solve --problem smooth --solver sgd --schedule multistep --milestones 1e20 --iters 5 "${O[@]}"
fail_line 2 "after the last step" solve --problem smooth --solver sgd --schedule multistep --milestones 3,9 --iters 5 "${O[@]}"
fail_line 2 "needs --milestones" solve --problem smooth --solver sgd --schedule multistep --iters 5 "${O[@]}"
fail_line 2 "not a whole number" solve --problem smooth --solver sps --batches-per-epoch 1.5 --iters 5 "${O[@]}"
fail_line 2 "unknown problem 'foo'" solve --problem foo
check "no output from any rejected command" [ ! -e "$TMP/n.csv" ]
# a run that ends non-finite or exploding says so and exits non-zero (momentum 1.5: issue's case;
# it may also be refused up front as a usage error once solvers validate momentum)
"$ALIG" solve --problem smooth --solver alig --eta 0.1 --momentum 1.5 --iters 200 --out "$TMP/m.csv" \
    >"$TMP/out" 2>"$TMP/err" </dev/null
rc=$?
check "momentum 1.5: non-zero exit (got $rc)" [ "$rc" -ne 0 ]
check "momentum 1.5: one line: $(cat "$TMP/err")" [ "$(wc -l <"$TMP/err")" -eq 1 ]
check "momentum 1.5: no CSV" [ ! -e "$TMP/m.csv" ]
fail_line 1 "diverged" solve --problem smooth --solver sgd --lr 100 --iters 300 --out "$TMP/m.csv"
check "sgd --lr 100: no CSV" [ ! -e "$TMP/m.csv" ]
# exploding but finite: sgd with rate 10 on `smooth` grows geometrically; after 20 steps the gap is
# about 5e11, finite, and far beyond 1e6 x its start (0.042)
fail_line 1 "exploding" solve --problem smooth --solver sgd --lr 10 --iters 20 --out "$TMP/m.csv"
check "exploding run: no CSV" [ ! -e "$TMP/m.csv" ]
# the same rate for 5 steps stays below the factor: a normal exit
run 0 solve --problem smooth --solver sgd --lr 10 --iters 5 --out "$TMP/m.csv" &&
    check "a short run below the factor writes its CSV" [ -s "$TMP/m.csv" ]
no_leftovers "$TMP"
finish
