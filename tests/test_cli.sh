#!/usr/bin/env bash
# test_cli.sh - the `alig` command line (list, info, solve, demo): exit codes (0 success, 2 usage
# error, 1 runtime failure), one-line error messages naming the flag and value, the CSV header,
# row count and iter column, the info JSON keys and values, atomic output files, and --help.
# Run by ctest with ALIG_CLI set to the alig binary; standalone: ALIG_CLI=build/.../bin/alig bash tests/test_cli.sh
set -u

NAME=test_cli.sh
. "$(dirname "$0")/lib/harness.sh"

# float_eq A B RELTOL : |A - B| <= RELTOL * max(|A|, |B|, 1e-300)
float_eq() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a);
    n = (b < 0 ? -b : b); if (n > m) m = n; if (m < 1e-300) m = 1e-300; exit !(d <= t * m) }'; }

not_in() { ! grep -q -- "$1" "$2"; }
differ() { ! cmp -s "$1" "$2"; }
no_tmp_files() { ! ls -A "$1" | grep -q '\.tmp\.'; }

# ---------------------------------------------------------------- --help of every command
run 0 --help && check "alig --help lists solve" grep -q "solve" "$TMP/out"
run 0 list --help
run 0 info --help && {
    check "info --help prints the eps default" grep -qF -- "--eps E" "$TMP/out"
    check "info --help prints defaults [0] [inf] [1]" grep -qF "[inf]" "$TMP/out"
    check "info --help prints per-class dim defaults" grep -q "dimension d \[lipschitz [0-9]" "$TMP/out"
}
run 0 solve --help && {
    for s in alig alig-inf polyak aprox sgd sps; do
        check "solve --help lists solver $s" grep -q "^  $s\\b" "$TMP/out"
    done
    check "solve --help: --eta default inf" grep -qE -- "--eta X .*\[inf\]" "$TMP/out"
    check "solve --help: --delta default 1e-05" grep -qE -- "--delta X .*\[1e-05\]" "$TMP/out"
    check "solve --help: --lr default 0.1 (sgd)" grep -qE -- "--lr X .*\[0.1\]" "$TMP/out"
    check "solve --help: --batch default 1" grep -qE -- "--batch B .*\[1\]" "$TMP/out"
    check "solve --help: --every default 1" grep -qE -- "--every K .*\[1\]" "$TMP/out"
    check "solve --help: SPS eps renamed --sps-eps" grep -qF -- "--sps-eps X" "$TMP/out"
    check "solve --help: polyak f-star default explained" grep -q "f-star defaults to the problem's f\*" "$TMP/out"
}
run 0 demo --help && check "demo --help prints --iters default" grep -qE -- "--iters T .*\[[0-9]+\]" "$TMP/out"
run 0 solve --iters 5 -h

# ---------------------------------------------------------------- list
run 0 list && {
    for s in alig polyak aprox sgd sps lipschitz smooth strongly-convex squared logistic; do
        check "list mentions $s" grep -qw -- "$s" "$TMP/out"
    done
    check "list prints the sgd schedule default" grep -qE -- "--schedule NAME .*\[constant\]" "$TMP/out"
}
usage_error "'extra'" list extra

# ---------------------------------------------------------------- info
run 0 info --problem lipschitz --eps 0.01 --json && {
    cp "$TMP/out" "$TMP/lip.json"
    for k in problem dim samples eps eps_realized f_star f_star_lower lipschitz_C smooth_beta strong_alpha \
             lipschitz_f radius seed w_star_norm D0; do
        check "info --json has key $k" grep -q "^  \"$k\": " "$TMP/lip.json"
    done
    check "info --json: eps_realized = 0.01 (got $(json_num eps_realized "$TMP/lip.json"))" \
        float_eq "$(json_num eps_realized "$TMP/lip.json")" 0.01 1e-9
    check "info --json: eps = 0.01" float_eq "$(json_num eps "$TMP/lip.json")" 0.01 0
    check "info --json: lipschitz is not smooth -> smooth_beta null" [ "$(json_num smooth_beta "$TMP/lip.json")" = null ]
    check "info --json: radius inf -> null" [ "$(json_num radius "$TMP/lip.json")" = null ]
    check "info --json: problem name" grep -q '"problem": "lipschitz"' "$TMP/lip.json"
    # D0 = |0 - w*|^2 = |w*|^2 without a constraint.
    w=$(json_num w_star_norm "$TMP/lip.json")
    check "info --json: D0 = |w*|^2 from w0 = 0" float_eq "$(json_num D0 "$TMP/lip.json")" "$(awk -v w="$w" 'BEGIN{printf "%.17g", w*w}')" 1e-12
    # python3 is installed by scripts/install-deps: this check always runs
    check "info --json is valid JSON with eps_realized 0.01" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert abs(d["eps_realized"] - 0.01) <= 1e-9 * 0.01, d["eps_realized"]
assert d["smooth_beta"] is None and d["dim"] > 0 and d["samples"] > 0' "$TMP/lip.json"
}
run 0 info --problem strongly-convex --seed 3 && {
    check "info text: strong_alpha line" grep -q "strong_alpha" "$TMP/out"
    check "info text: D0 line" grep -q "^  D0 " "$TMP/out"
}
# The radius of Omega is reported as given.
run 0 info --problem smooth --radius 50 --json && check "info --radius 50 reported" float_eq "$(json_num radius "$TMP/out")" 50 0

usage_error "--eps" info --problem lipschitz --eps -1
usage_error "'-1'" info --problem lipschitz --eps -1
usage_error "--dim" info --problem smooth --dim 0
usage_error "'abc'" info --problem smooth --samples abc
# flags are never abbreviated (getopt_long would take a unique prefix: --iter for --iters, and in
# train --eps would silently mean an optimizer's --eps-inside)
usage_error "not abbreviated" solve --problem smooth --solver alig --eta 0.1 --iter 10 --out "$TMP/ab.csv"
usage_error "unknown flag '--eps'" train --task repeat-copy --model dnc --opt rmsprop --eps 1 --steps 2 --out "$TMP/ab"
# messages name the flag the user typed: train's --opt, or its synonym --solver
usage_error "--opt: unknown solver 'l4adamx'" train --task repeat-copy --model dnc --opt l4adamx --steps 2 --out "$TMP/ab"
usage_error "--solver: unknown solver 'l4adamx'" train --task repeat-copy --model dnc --solver l4adamx --steps 2 --out "$TMP/ab"
usage_error "--opt alig --momentum 1.5: momentum must lie in [0, 1)" \
    train --task repeat-copy --model dnc --opt alig --momentum 1.5 --steps 2 --out "$TMP/ab"
check "rejected train commands create no run directory" [ ! -e "$TMP/ab" ]
# TensorFlow 1.x's Adagrad refuses an initial accumulator <= 0; PyTorch's (adagrad) accepts 0
usage_error "adagrad-tf: > 0" solve --problem smooth --solver adagrad-tf --initial-accumulator 0 --iters 5 --out "$TMP/ab.csv"
run 0 solve --problem smooth --solver adagrad --initial-accumulator 0 --iters 5 --out "$TMP/ab.csv"
usage_error "--seed" info --problem smooth --seed 0
usage_error "--radius" info --problem smooth --radius 0
usage_error "'nosuch'" info --problem nosuch
usage_error "--problem" info
usage_error "exclusive" info --problem smooth --data "$TMP/x.svm"
usage_error "--bogus" info --problem smooth --bogus 1
usage_error "--json" info --problem smooth --json=1
usage_error "--loss" info --data "$TMP/x.svm"
usage_error "'nosuchloss'" info --data "$TMP/x.svm" --loss nosuchloss
usage_error "--dim" info --data "$TMP/x.svm" --loss squared --dim 3
run 1 info --data "$TMP/does-not-exist.svm" --loss squared && {
    check "unreadable --data: one line naming the file" grep -qF "does-not-exist.svm" "$TMP/err"
    check "unreadable --data: one stderr line" [ "$(wc -l <"$TMP/err")" -eq 1 ]
}
printf '1 1:0.5 2:1\n-1 1:1 2:0.25\n1 1:x\n' >"$TMP/bad.svm"
run 1 info --data "$TMP/bad.svm" --loss squared && check "malformed --data names line 3: $(cat "$TMP/err")" grep -qF "bad.svm:3" "$TMP/err"

# ---------------------------------------------------------------- solve: good runs
HEADER="iter,loss,f_gap,avg_gap,dist2,step,step_unclipped"
run 0 solve --problem smooth --solver alig --iters 50 --seed 2 --out "$TMP/a.csv" && {
    check "solve: CSV exists" [ -f "$TMP/a.csv" ]
    check "solve: CSV header" [ "$(head -n 1 "$TMP/a.csv")" = "$HEADER" ]
    check "solve: T+1 = 51 data rows" [ "$(tail -n +2 "$TMP/a.csv" | wc -l)" -eq 51 ]
    check "solve: iter column is 0..50 in order" [ "$(tail -n +2 "$TMP/a.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 0 50) " ]
    check "solve: 7 columns in every row" awk -F, 'NF != 7 { exit 1 }' "$TMP/a.csv"
    check "solve: row 0 has no step (nan)" [ "$(sed -n 2p "$TMP/a.csv" | cut -d, -f6)" = nan ]
    check "solve: summary line on stdout" grep -qE '^solver=alig problem=smooth iters=50 batch=1 seed=2 f_gap=.* avg_gap=.* dist2=.* mean_step=.* clipped=.* sample_calls=50 full_calls=0 seconds=.* out=' "$TMP/out"
    check "solve: nothing on stderr" [ ! -s "$TMP/err" ]
    check "solve: no temporary file left" no_tmp_files "$TMP"
    # ALI-G (eta = inf, B = 0): step = max(step_unclipped, 0) on every row.
    check "solve: alig step = max(unclipped, 0)" awk -F, 'NR > 2 { u = $7 + 0; s = $6 + 0; e = (u > 0 ? u : 0);
        if (s != e) exit 1 }' "$TMP/a.csv"
}
# Independent check of row 0: dist2 = D0 and f_gap(w0) reported by info for the same instance.
run 0 info --problem smooth --json && {
    d0=$(json_num D0 "$TMP/out")
    check "solve row 0 dist2 = info D0" float_eq "$(sed -n 2p "$TMP/a.csv" | cut -d, -f5)" "$d0" 1e-12
}
run 0 solve --problem smooth --solver sgd --lr 0.05 --iters 50 --every 7 --out "$TMP/b.csv" && {
    check "solve --every 7: rows 0,7,...,49 and the last (50)" [ "$(tail -n +2 "$TMP/b.csv" | cut -d, -f1 | tr '\n' ' ')" = "0 7 14 21 28 35 42 49 50 " ]
    check "solve sgd: step column = --lr 0.05 exactly" awk -F, 'NR > 2 && ($6 != "0.05" || $7 != "0.05") { exit 1 }' "$TMP/b.csv"
    check "solve sgd: clipped=0.000" grep -q "clipped=0.000" "$TMP/out"
    check "solve --every: f_gap present on written rows" awk -F, 'NR > 1 && $3 == "nan" { exit 1 }' "$TMP/b.csv"
}
run 0 solve --problem strongly-convex --solver alig --eta 0.01 --iters 40 --out "$TMP/c.csv" && {
    check "solve alig --eta 0.01: step = min(max(unclipped,0), 0.01)" awk -F, 'NR > 2 { u = $7 + 0; e = (u > 0 ? u : 0);
        if (e > 0.01) e = 0.01; if ($6 + 0 != e) exit 1 }' "$TMP/c.csv"
}
# Same seed -> same file; a different seed -> a different file; full batch (B = n) ignores the seed.
run 0 solve --problem smooth --solver alig --iters 50 --seed 2 --out "$TMP/a2.csv" && check "same seed, same CSV" cmp -s "$TMP/a.csv" "$TMP/a2.csv"
run 0 solve --problem smooth --solver alig --iters 50 --seed 3 --out "$TMP/a3.csv" && check "other seed, other CSV" differ "$TMP/a.csv" "$TMP/a3.csv"
n=0
run 0 info --problem smooth --json && n=$(json_num samples "$TMP/out")
run 0 solve --problem smooth --solver alig --iters 20 --batch "$n" --seed 5 --out "$TMP/f1.csv" &&
run 0 solve --problem smooth --solver alig --iters 20 --batch "$n" --seed 6 --out "$TMP/f2.csv" &&
    check "full batch B = n: the seed does not matter" cmp -s "$TMP/f1.csv" "$TMP/f2.csv"
run 0 solve --problem smooth --solver alig --iters 5 --batch "$n" --out "$TMP/f3.csv" &&
    check "full batch: sample_calls = T*n" grep -q "sample_calls=$((5 * n)) " "$TMP/out"
# alig-inf is alig with its default eta = inf.
run 0 solve --problem smooth --solver alig-inf --iters 50 --seed 2 --out "$TMP/ainf.csv" && check "alig-inf = alig (eta inf)" cmp -s "$TMP/a.csv" "$TMP/ainf.csv"
# Polyak's --f-star defaults to the problem's f*: same file as passing f* explicitly.
run 0 info --problem strongly-convex --eps 0.01 --json && fstar=$(json_num f_star "$TMP/out")
run 0 solve --problem strongly-convex --eps 0.01 --solver polyak --iters 30 --out "$TMP/p1.csv" && {
    check "polyak: full oracle, one full call per step" grep -q "sample_calls=0 full_calls=30 " "$TMP/out"
    run 0 solve --problem strongly-convex --eps 0.01 --solver polyak --f-star "$fstar" --iters 30 --out "$TMP/p2.csv" &&
        check "polyak default --f-star = problem f* ($fstar)" cmp -s "$TMP/p1.csv" "$TMP/p2.csv"
    run 0 solve --problem strongly-convex --eps 0.01 --solver polyak --f-star 0 --iters 30 --out "$TMP/p3.csv" &&
        check "polyak --f-star 0 differs from the default" differ "$TMP/p1.csv" "$TMP/p3.csv"
}
run 0 solve --problem smooth --solver sgd --schedule multistep --milestones 10,20 --factor 0.5 --lr 0.04 --iters 25 --out "$TMP/m.csv" &&
    check "sgd multistep: steps 0.04, 0.02, 0.01 around milestones 10, 20" \
        [ "$(awk -F, 'NR==3 || NR==12 || NR==13 || NR==22 || NR==23 { printf "%s ", $6 }' "$TMP/m.csv")" = "0.04 0.04 0.02 0.02 0.01 " ]
run 0 solve --problem smooth --solver sps --sps-eps 0.001 --iters 10 --out "$TMP/s.csv"

# ---------------------------------------------------------------- solve: usage errors (exit 2)
S=(--problem smooth --iters 10 --out "$TMP/u.csv")
usage_error "--iters" solve --problem smooth --solver alig --out "$TMP/u.csv"
usage_error "--out" solve --problem smooth --solver alig --iters 10
usage_error "--solver" solve "${S[@]}"
usage_error "--problem" solve --solver alig --iters 10 --out "$TMP/u.csv"
usage_error "'abc'" solve --problem smooth --out "$TMP/u.csv" --solver alig --iters abc
usage_error "--iters given twice" solve "${S[@]}" --solver alig --iters 20
usage_error "--iters" solve "${S[@]}" --solver alig --iters 1.5
usage_error "--iters" solve "${S[@]}" --solver alig --iters -3
usage_error "--eps" solve "${S[@]}" --solver alig --eps -1
usage_error "'-1'" solve "${S[@]}" --solver alig --eps -1
usage_error "--batch" solve "${S[@]}" --solver alig --batch 0
usage_error "--batch" solve "${S[@]}" --solver alig --batch 100000
usage_error "--every" solve "${S[@]}" --solver alig --every 0
usage_error "--seed" solve "${S[@]}" --solver alig --seed x1
usage_error "'nosuch'" solve "${S[@]}" --solver nosuch
usage_error "--bogus" solve "${S[@]}" --solver alig --bogus
usage_error "--lr" solve "${S[@]}" --solver alig --lr 0.1
usage_error "'abc'" solve "${S[@]}" --solver alig --eta abc
usage_error "eta" solve "${S[@]}" --solver alig --eta -1
usage_error "--momentum" solve "${S[@]}" --solver sgd --momentum x
usage_error "--schedule" solve "${S[@]}" --solver sgd --schedule weekly
usage_error "--adjusted" solve "${S[@]}" --solver alig --adjusted maybe
usage_error "relaxation" solve "${S[@]}" --solver polyak --relax 2
usage_error "--eta" solve "${S[@]}" --solver alig-inf --eta 1
usage_error "'stray'" solve "${S[@]}" --solver alig stray
usage_error "--out" solve --problem smooth --iters 10 --solver alig --out --every 2
usage_error "missing value" solve "${S[@]}" --solver
check "usage errors leave no output file" [ ! -e "$TMP/u.csv" ]
check "usage errors leave no temporary file" no_tmp_files "$TMP"

# ---------------------------------------------------------------- runtime failures (exit 1), atomicity
run 1 solve --problem smooth --solver sgd --lr 1e6 --iters 2000 --out "$TMP/div.csv" && {
    check "divergence: message says so" grep -q "diverged at step" "$TMP/err"
    check "divergence: one stderr line" [ "$(wc -l <"$TMP/err")" -eq 1 ]
    check "divergence: no output file" [ ! -e "$TMP/div.csv" ]
    check "divergence: no temporary file" no_tmp_files "$TMP"
}
echo "precious" >"$TMP/keep.csv"
run 1 solve --problem smooth --solver sgd --lr 1e6 --iters 2000 --out "$TMP/keep.csv" &&
    check "failed run leaves an existing file untouched" [ "$(cat "$TMP/keep.csv")" = precious ]
run 2 solve "${S[@]}" --solver alig --eta -1 --out "$TMP/keep.csv" &&
    check "usage error leaves an existing file untouched" [ "$(cat "$TMP/keep.csv")" = precious ]
run 0 solve --problem smooth --solver alig --iters 3 --out "$TMP/keep.csv" &&
    check "a good run replaces the file" [ "$(head -n 1 "$TMP/keep.csv")" = "$HEADER" ]
run 1 solve --problem smooth --solver alig --iters 3 --out "$TMP/no/such/dir/x.csv" &&
    check "unwritable --out: names the path" grep -qF "no/such/dir/x.csv" "$TMP/err"
run 1 solve --data "$TMP/does-not-exist.svm" --loss squared --solver alig --iters 3 --out "$TMP/d.csv" &&
    check "unreadable data: no output file" [ ! -e "$TMP/d.csv" ]
run 1 solve --data "$TMP/bad.svm" --loss squared --solver alig --iters 3 --out "$TMP/d.csv" &&
    check "malformed data: line number in the message" grep -qF "bad.svm:3" "$TMP/err"
check "runtime failures leave no temporary file" no_tmp_files "$TMP"

# ---------------------------------------------------------------- solve on a data file
printf '# tiny consistent system y = x1 + 2 x2\n1 1:1\n2 2:1\n3 1:1 2:1\n-1 1:1 2:-1\n' >"$TMP/ok.svm"
# w* = (1, 2) solves all four equations; ALI-G with delta = 0 on a consistent least-squares system
# takes half Kaczmarz steps (gamma = loss/|g|^2 = 1/(2|x_i|^2)) and converges linearly.
run 0 solve --data "$TMP/ok.svm" --loss squared --solver alig --delta 0 --iters 300 --batch 2 --out "$TMP/data.csv" && {
    check "data solve: 301 rows" [ "$(tail -n +2 "$TMP/data.csv" | wc -l)" -eq 301 ]
    check "data solve: row 0 dist2 = |w*|^2 = 5" float_eq "$(sed -n 2p "$TMP/data.csv" | cut -d, -f5)" 5 1e-9
    check "data solve: ALI-G reaches w* = (1, 2) (dist2 < 1e-12)" awk -F, 'END { exit !($5 + 0 < 1e-12) }' "$TMP/data.csv"
}

# ---------------------------------------------------------------- demo
run 0 demo --iters 200 --table-only && {
    check "demo: 15 result rows (3 classes x (eps 0: 2 runs, eps > 0: 3 runs))" [ "$(grep -cE '^(lipschitz|smooth|strongly-convex) ' "$TMP/out")" -eq 15 ]
    check "demo: no run diverged at its stated step sizes" not_in diverged "$TMP/out"
    check "demo: header" grep -q "f(wbar)-f\*" "$TMP/out"
}
usage_error "--iters" demo --iters 0
usage_error "--eps" demo --eps 0

finish
