#!/usr/bin/env bash
# test_rates.sh - `alig rates` as a real check:
#   1. the quick grid exits 0, every applicable bound held, and rates.csv has the required header
#      and one row per checked case with held = 1;
#      the rate column names its fit window, and a curve still steepening at the horizon (slopes
#      computed here from the plotted data) is 'transient', never 'slower';
#   2. bounds scaled down by --bound-scale 0.01 make it exit 1 and say 'violated' (the failure path);
#   3. the results do not depend on the number of OpenMP threads (byte-identical CSVs);
#   4. usage errors exit 2.
set -u
CLI=${ALIG_CLI:?ALIG_CLI must point to the alig binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- 1. quick grid (the default mode)
"$CLI" rates --out "$tmp/q" --no-figures > "$tmp/q.out" 2> "$tmp/q.err"
rc=$?
[ $rc -eq 0 ] || { cat "$tmp/q.err" >&2; fail "quick rates exited $rc"; }
for f in report.md rates.csv methods.csv; do [ -s "$tmp/q/$f" ] || fail "missing $f"; done
header=$(head -1 "$tmp/q/rates.csv")
for col in case problem solver eps eta delta max_ratio held rate_fit rate_fit_se rate_theory; do
    echo ",$header," | grep -q ",$col," || fail "rates.csv header lacks column '$col': $header"
done
held_col=$(echo "$header" | tr ',' '\n' | grep -nx held | cut -d: -f1)
rows=$(tail -n +2 "$tmp/q/rates.csv" | wc -l)
[ "$rows" -ge 40 ] || fail "rates.csv has only $rows case rows"
bad=$(tail -n +2 "$tmp/q/rates.csv" | cut -d, -f"$held_col" | grep -vcx 1)
[ "$bad" -eq 0 ] || fail "$bad case rows have held != 1"
grep -q "held" "$tmp/q.out" || fail "terminal table missing"
grep -q "0 violated, 0 inconclusive" "$tmp/q.out" || fail "summary line missing or not all held"
# every bound kind was exercised
for b in ,D1, ,D1inf, ,D2, ,D3,; do grep -q "$b" "$tmp/q/rates.csv" || fail "no $b case checked"; done
# the fitted-rate column names its window (the last two decades of the horizon T = 1000)
head -1 "$tmp/q.out" | grep -q "fit T 10-1000" || fail "the rate column does not name its window: $(head -1 "$tmp/q.out")"
# T = 1000 is too short to call any case slower than its theorem: the full grid (T = 10 000) fits
# every quick-grid case at a rate at least the theorem's; the quick grid says 'transient' instead
grep -q " slower\$" "$tmp/q.out" && fail "the quick grid calls a rate slower: $(grep ' slower$' "$tmp/q.out")"

# ---- 1b. a curve that still steepens is 'transient': ALI-G at eta_low = 1/(8 beta) on the smooth
# class barely moves in the first decade. The slopes of log mean against log T over T = 10..100
# and 100..1000 are computed here (plain least squares) from the plotted data.
mkdir -p "$tmp/nobin"
PATH="$tmp/nobin" "$CLI" rates --problem smooth --out "$tmp/f" > "$tmp/f.out" 2> "$tmp/f.err" \
    || fail "smooth rates failed: $(cat "$tmp/f.err")"
slopes=$(awk '/^# block/ { b = ($0 ~ /smooth\/eps=0\/eta=low\/delta=0\/D2/) }
              b && NF == 5 && $1 + 0 >= 10 {
                  x = log($1); y = log($2)
                  if ($1 <= 100) { n1++; sx1 += x; sy1 += y; sxx1 += x * x; sxy1 += x * y }
                  if ($1 >= 100) { n2++; sx2 += x; sy2 += y; sxx2 += x * x; sxy2 += x * y } }
              END { printf "%.4f %.4f", (n1 * sxy1 - sx1 * sy1) / (n1 * sxx1 - sx1 * sx1),
                                        (n2 * sxy2 - sx2 * sy2) / (n2 * sxx2 - sx2 * sx2) }' "$tmp/f/rates_smooth.dat")
set -- $slopes
awk -v e="$1" -v l="$2" 'BEGIN { exit !(l < e - 0.3) }' || fail "smooth eta_low: expected a steepening curve, slopes $slopes"
grep -E "^smooth eps=0 eta=low delta=0 .* D2 " "$tmp/f.out" | grep -q " transient\$" \
    || fail "smooth eta_low (slopes $slopes) not reported transient: $(grep 'eps=0 eta=low delta=0 ' "$tmp/f.out")"

# ---- 2. a scaled-down bound must be reported violated, with a non-zero exit status
"$CLI" rates --problem smooth --horizon 200 --seeds 4 --seeds-cap 8 --bound-scale 0.01 --no-figures \
    --out "$tmp/s" > "$tmp/s.out" 2> "$tmp/s.err"
rc=$?
[ $rc -eq 1 ] || fail "scaled-down bound: exit status $rc, expected 1"
grep -q "violated" "$tmp/s.err" || fail "scaled-down bound: stderr does not say 'violated': $(cat "$tmp/s.err")"
grep -q ",0,violated," "$tmp/s/rates.csv" || fail "scaled-down bound: no row with held=0,violated"

# ---- 3. thread-count independence
"$CLI" rates --problem strongly-convex --horizon 300 --seeds 6 --threads 1 --no-figures --out "$tmp/t1" > /dev/null 2>&1 \
    || fail "threads=1 run failed"
"$CLI" rates --problem strongly-convex --horizon 300 --seeds 6 --threads 2 --no-figures --out "$tmp/t2" > /dev/null 2>&1 \
    || fail "threads=2 run failed"
cmp -s "$tmp/t1/rates.csv" "$tmp/t2/rates.csv" || fail "rates.csv differs between 1 and 2 threads"
cmp -s "$tmp/t1/methods.csv" "$tmp/t2/methods.csv" || fail "methods.csv differs between 1 and 2 threads"

# ---- 5. the configurations are a grid of the sweep engine: --dry-run prints it as a protocol that
#         `alig sweep` parses back; the cell counts match a hand count: per (class, eps) instance,
#         ALI-G's 3 eta x 2 delta + Polyak + APROX + SPS + 8 SGD rates = 17 configurations
(cd "$tmp" && "$CLI" rates --dry-run) > "$tmp/grid.sweep" 2> "$tmp/grid.err" || { cat "$tmp/grid.err" >&2; fail "rates --dry-run failed"; }
[ -e "$tmp/results" ] && fail "--dry-run wrote results"
head -1 "$tmp/grid.sweep" | grep -q "^# alig rates: 153 configurations" || fail "dry-run count: $(head -1 "$tmp/grid.sweep")"
n=$("$CLI" sweep --protocol "$tmp/grid.sweep" --dry-run 2>&1 | tail -1)
[ "$n" = "153 cells" ] || fail "sweep reads $n from the rates grid, expected 153 (3 x 3 x 17)"
"$CLI" rates --dry-run --problem smooth | head -1 | grep -q "^# alig rates: 51 configurations" \
    || fail "one class should give 3 x 17 = 51 configurations"
grep -q "^lr = 0.001,0.003,0.01,0.03,0.1,0.3,1,3\$" "$tmp/grid.sweep" || fail "SGD grid not in the protocol"
# every ALI-G configuration the grid names appears in the experiment's output (quick run of section 1)
for eta in low high inf; do for delta in 0 1e-5; do
    grep -q "alig eta=$eta delta=$delta" "$tmp/q.out" || grep -q "eta=$eta" "$tmp/q/rates.csv" \
        || fail "configuration eta=$eta delta=$delta of the grid missing from the run"
done; done

# ---- 4. usage errors
"$CLI" rates --quick --full > /dev/null 2>&1; [ $? -eq 2 ] || fail "--quick --full should be a usage error"
"$CLI" rates --seeds 1 > /dev/null 2>&1; [ $? -eq 2 ] || fail "--seeds 1 should be a usage error"
"$CLI" rates --problem nope > /dev/null 2>&1; [ $? -eq 2 ] || fail "unknown --problem should be a usage error"
"$CLI" rates --bound-scale -1 > /dev/null 2>&1; [ $? -eq 2 ] || fail "negative --bound-scale should be a usage error"
"$CLI" rates --help | grep -q "bound-scale" || fail "--help does not document --bound-scale"
echo "test_rates: ok"
