#!/usr/bin/env bash
# test_oscillation_cli.sh - `alig oscillation` and `alig figures --only oscillation`:
#   1. --json: polyak_cycles true, converged_below_theory true, threshold_theory 10, threshold_measured
#      within 1e-5 of the closed form eta* = (8.05 + (2 + sqrt 10)/3)/0.04 = 244.26898... (docs/oscillation.md),
#      the Polyak cycle +-8.05 and the bisection bracket; the same JSON in OUT/summary.json;
#   2. the data files (header and content) and the three figures (SVG and PNG, non-empty, the PNG
#      signature), no temporary files left;
#   3. the text output; --no-plot writes no figure;
#   4. usage errors exit 2 with one stderr line naming the flag; a missing gnuplot is a clear runtime error;
#   5. alig figures --only oscillation --out DIR copies the six figure files.
# Run by ctest with ALIG_CLI set; standalone: ALIG_CLI=build/.../bin/alig bash tests/test_oscillation_cli.sh
set -u
CLI=${ALIG_CLI:?ALIG_CLI must point to the alig binary}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/alig_osc_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
FAIL=0
bad() { echo "FAIL: $*"; FAIL=$((FAIL + 1)); }
check() { local what=$1; shift; "$@" || bad "$what"; }
json() { sed -n "s/^ *\"$1\": *\\([^,]*\\),\\{0,1\\}\$/\\1/p" "$2"; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t) }'; }

# ---------------------------------------------------------------- 1. JSON
"$CLI" oscillation --json --out "$tmp/o" >"$tmp/o.json" 2>"$tmp/o.err"
rc=$?
[ $rc -eq 0 ] || { cat "$tmp/o.err"; bad "alig oscillation --json exited $rc"; }
J=$tmp/o.json
for k in polyak_cycles converged_below_theory threshold_theory threshold_measured threshold_converged \
         polyak_period polyak_cycle_lo polyak_cycle_hi polyak_solver_agrees grid_step grid_first_failed \
         fine_step outcome_at_threshold period_at_threshold x0 delta iters probes; do
    check "JSON key $k" grep -q "^  \"$k\": " "$J"
done
check "polyak_cycles true" [ "$(json polyak_cycles "$J")" = true ]
check "converged_below_theory true" [ "$(json converged_below_theory "$J")" = true ]
check "polyak solver agrees with ALI-G-inf" [ "$(json polyak_solver_agrees "$J")" = true ]
check "threshold_theory 10 (got $(json threshold_theory "$J"))" near "$(json threshold_theory "$J")" 10 0
eta_star=$(awk 'BEGIN { printf "%.12f", (8.05 + (2 + sqrt(10)) / 3) / 0.04 }')
m=$(json threshold_measured "$J")
check "threshold_measured $m within 1e-5 of eta* $eta_star" near "$m" "$eta_star" 1e-5
check "threshold_measured in [244, 245]" awk -v m="$m" 'BEGIN { exit !(m >= 244 && m <= 245) }'
check "bracket below the measured threshold" \
    awk -v a="$(json threshold_converged "$J")" -v b="$m" 'BEGIN { exit !(a < b && b - a <= 1e-8) }'
check "Polyak period 2" [ "$(json polyak_period "$J")" = 2 ]
check "Polyak cycle -8.05" near "$(json polyak_cycle_lo "$J")" -8.05 1e-9
check "Polyak cycle +8.05" near "$(json polyak_cycle_hi "$J")" 8.05 1e-9
check "999 eta tested below 2/L" [ "$(json n_below_tested "$J")" = 999 ]
check "fails by a 2-cycle at the threshold" [ "$(json outcome_at_threshold "$J")" = '"cycled"' ]
check "summary.json = stdout JSON (except the timing)" \
    diff <(grep -v '"seconds"' "$J") <(grep -v '"seconds"' "$tmp/o/summary.json")
check "stdout is valid JSON" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["polyak_cycles"] is True' "$J"
echo "info - took $(json seconds "$J") s (not asserted: timing belongs to benchmarks)"

# ---------------------------------------------------------------- 2. files
for f in function.csv trajectories.csv eta_scan.csv eta_sweep.csv eta_orbits.csv eta_zoom.csv summary.json; do
    check "file $f written" [ -s "$tmp/o/$f" ]
done
check "trajectories.csv header" grep -q '^t,x_polyak,f_polyak,x_alig_inf,f_alig_inf,x_eta_1,f_eta_1,' "$tmp/o/trajectories.csv"
check "trajectories.csv: 3001 rows" [ "$(tail -n +2 "$tmp/o/trajectories.csv" | wc -l)" -eq 3001 ]
# Polyak column alternates +-8.05
check "Polyak iterates alternate +-8.05" awk -F, 'NR > 1 { w = (($1 % 2) ? -8.05 : 8.05); d = $2 - w; if (d < 0) d = -d;
    if (d > 1e-9) exit 1 } END { exit (NR < 100) }' "$tmp/o/trajectories.csv"
check "eta_scan.csv header" grep -q '^eta,phase,outcome,period,lo,hi,since,x_last,f_last$' "$tmp/o/eta_scan.csv"
check "no failure below eta = 10 in the scan" awk -F, 'NR > 1 && $2 == "below" && $3 != "converged" { exit 1 }' "$tmp/o/eta_scan.csv"
check "the scan has refine and bisect rows" sh -c "grep -q ',refine,' '$tmp/o/eta_scan.csv' && grep -q ',bisect,' '$tmp/o/eta_scan.csv'"
check "sweep: eta = 500 cycles on {-1.95, 8.05}" awk -F, '$1 == 500 { found = 1; d1 = $5 + 1.95; d2 = $6 - 8.05;
    if ($3 != "cycled" || d1 > 1e-9 || d1 < -1e-9 || d2 > 1e-9 || d2 < -1e-9) exit 1 } END { exit !found }' "$tmp/o/eta_sweep.csv"
for fig in oscillation_function oscillation_trajectories oscillation_eta; do
    check "$fig.svg is an SVG" grep -q '<svg' "$tmp/o/$fig.svg"
    check "$fig.png is a PNG" sh -c "head -c 8 '$tmp/o/$fig.png' | od -An -c | grep -q 'P   N   G'"
    check "$fig.png not tiny" [ "$(wc -c <"$tmp/o/$fig.png")" -gt 10000 ]
done
check "no temporary files left" sh -c "! ls -A '$tmp/o' | grep -q 'tmp'"

# ---------------------------------------------------------------- 3. text output, --no-plot
"$CLI" oscillation --no-plot --eta-max 300 --out "$tmp/t" >"$tmp/t.out" 2>"$tmp/t.err"
rc=$?
check "text run exits 0 (got $rc)" [ $rc -eq 0 ]
check "text names the Polyak cycle" grep -q "Polyak / ALI-G-inf: cycled, period 2" "$tmp/t.out"
check "text names the measured threshold" grep -q "measured threshold: eta = 244.2689" "$tmp/t.out"
check "--no-plot: no figure" sh -c "! ls '$tmp/t' | grep -q '\\.svg\\|\\.png'"
check "--no-plot: data written" [ -s "$tmp/t/trajectories.csv" ]

# ---------------------------------------------------------------- 4. errors
usage() { # usage NEEDLE ARGS...
    local needle=$1; shift
    "$CLI" oscillation "$@" --out "$tmp/u" >"$tmp/u.out" 2>"$tmp/u.err"
    local rc=$?
    check "oscillation $*: exit 2 (got $rc)" [ $rc -eq 2 ]
    check "oscillation $*: one stderr line" [ "$(wc -l <"$tmp/u.err")" -eq 1 ]
    check "oscillation $*: stderr names '$needle': $(cat "$tmp/u.err")" grep -qF -- "$needle" "$tmp/u.err"
}
usage "--eta-max" --eta-max 5
usage "--eta-max" --eta-max nan
usage "--delta" --delta -1
usage "--x0" --x0 inf
usage "--iters" --iters 0
usage "--iters" --iters 50
usage "--eta-step" --eta-step 0
usage "--eta-step" --eta-step 11
usage "--refine-levels" --refine-levels 9
usage "--bogus" --bogus
check "no output directory after usage errors" [ ! -e "$tmp/u" ]
"$CLI" oscillation --help >"$tmp/h.out" 2>&1
check "--help exits 0 and shows defaults" sh -c "grep -q -- '--x0 X .*\\[8.05\\]' '$tmp/h.out' && grep -q -- '--iters N .*\\[3000\\]' '$tmp/h.out'"
# gnuplot missing: a clear one-line runtime error, exit 1 (PATH without gnuplot)
nognu=$tmp/nognu; mkdir -p "$nognu"
PATH="$nognu" "$CLI" oscillation --out "$tmp/ng" >"$tmp/ng.out" 2>"$tmp/ng.err"
rc=$?
check "no gnuplot: exit 1 (got $rc)" [ $rc -eq 1 ]
check "no gnuplot: message names gnuplot" grep -q "gnuplot not found" "$tmp/ng.err"
check "no gnuplot: one stderr line" [ "$(wc -l <"$tmp/ng.err")" -eq 1 ]
# runtime failure: --out names a regular file
: >"$tmp/afile"
"$CLI" oscillation --no-plot --out "$tmp/afile" >/dev/null 2>"$tmp/f.err"
check "--out on a file: exit 1" [ $? -eq 1 ]

# ---------------------------------------------------------------- 5. alig figures
"$CLI" figures --only oscillation --out "$tmp/figs" >"$tmp/fig.out" 2>"$tmp/fig.err"
rc=$?
check "figures --only oscillation exits 0 (got $rc; $(head -c 300 "$tmp/fig.err"))" [ $rc -eq 0 ]
for fig in oscillation_function oscillation_trajectories oscillation_eta; do
    for ext in svg png; do check "figures copied $fig.$ext" [ -s "$tmp/figs/$fig.$ext" ]; done
done
check "figures: only figure files copied" [ "$(ls "$tmp/figs" | wc -l)" -eq 6 ]
"$CLI" figures --only nosuch --out "$tmp/figs2" >/dev/null 2>"$tmp/fig2.err"
check "figures --only nosuch: exit 2" [ $? -eq 2 ]

if [ $FAIL -ne 0 ]; then
    echo "test_oscillation_cli.sh: $FAIL check(s) failed"
    exit 1
fi
echo "test_oscillation_cli.sh: all checks passed"
