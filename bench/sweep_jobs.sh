#!/usr/bin/env bash
# sweep_jobs.sh - throughput of `alig sweep --jobs 2` against `--jobs 1` on a grid of short cells
# (ALI-G on the smooth least-squares problem, CELLS cells of ITERS steps, one thread each),
# measured in the same run. Target (issue 10): jobs 2 >= 1.9x jobs 1 on a 2-core machine.
# The runs alternate (jobs 1, jobs 2, jobs 1, jobs 2, ...) PAIRS times and the ratio printed is the
# median of the per-pair ratios with their range, since a shared machine drifts between minutes;
# the load average at the start and the end is printed too (other users' work slows jobs 2 more:
# it needs both cores). As a reference for what the machine allows at that moment, each pair also
# runs the same cell commands without the sweep, one at a time and two at a time (xargs -P), and
# the last line gives the sweep's ratio next to that raw ratio (sweep / raw = the share of the
# machine's parallel capacity the runner delivers).
# Usage: bench/sweep_jobs.sh [BUILD_DIR] [CELLS] [ITERS] [PAIRS]   (defaults: build/release, 16, 40000, 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
cells=${2:-16}
iters=${3:-40000}
pairs=${4:-3}
alig=$build/bin/alig
for v in "CELLS:$cells" "ITERS:$iters" "PAIRS:$pairs"; do
  case ${v#*:} in ''|*[!0-9]*|0) echo "sweep_jobs: ${v%%:*} must be an integer >= 1, got '${v#*:}'" >&2; exit 2;; esac
done
[ -x "$alig" ] || { echo "sweep_jobs: $alig not built (make build)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# cells: seeds 1..CELLS of one ALI-G setting (identical work per cell)
grid=(--base "solve --problem smooth --dim 50 --samples 500 --iters $iters --every $iters --solver alig --eta 1"
      --seeds "1-$cells" --quiet)
timed() { # timed JOBS DIR -> wall seconds of the whole sweep
  local t0 t1
  t0=$(date +%s.%N)
  "$alig" sweep "${grid[@]}" --jobs "$1" --out "$2" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
# the same cells without the sweep: one command line per cell, run by xargs
raw() { # raw P -> wall seconds of running every cell, P at a time
  local t0 t1
  t0=$(date +%s.%N)
  seq 1 "$cells" | xargs -P "$1" -I{} sh -c \
    "OMP_NUM_THREADS=1 '$alig' solve --problem smooth --dim 50 --samples 500 --iters $iters --every $iters --solver alig --eta 1 --seed {} --out '$tmp/raw_{}.csv' >/dev/null"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
echo "sweep_jobs: $cells cells of $iters ALI-G steps (smooth, d = 50, n = 500), $pairs pairs; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
ratios=()
raws=()
for p in $(seq 1 "$pairs"); do
  t1=$(timed 1 "$tmp/j1_$p")
  t2=$(timed 2 "$tmp/j2_$p")
  r1=$(raw 1)
  r2=$(raw 2)
  cmp -s <(sed 's/,[^,]*$//' "$tmp/j1_$p/summary.csv") <(sed 's/,[^,]*$//' "$tmp/j2_$p/summary.csv") \
    || { echo "sweep_jobs: the two summaries differ" >&2; exit 1; }
  cell=$(awk -F, 'NR > 1 { s += $NF; n++ } END { printf "%.3f", s / n }' "$tmp/j1_$p/summary.csv")
  r=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.3f", a / b }')
  rr=$(awk -v a="$r1" -v b="$r2" 'BEGIN { printf "%.3f", a / b }')
  ratios+=("$r")
  raws+=("$rr")
  printf '  pair %d: sweep jobs 1 %6.2f s, jobs 2 %6.2f s, ratio %s | raw -P1 %6.2f s, -P2 %6.2f s, ratio %s (mean cell %s s)\n' \
    "$p" "$t1" "$t2" "$r" "$r1" "$r2" "$rr" "$cell"
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
raw_median=$(printf '%s\n' "${raws[@]}" | median)
sorted=$(printf '%s\n' "${ratios[@]}" | sort -g)
median=$(awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }' <<<"$sorted")
echo "sweep_jobs: throughput jobs 2 / jobs 1 = ${median}x (median of $pairs pairs, range $(head -1 <<<"$sorted")-$(tail -1 <<<"$sorted")); target >= 1.9x"
echo "sweep_jobs: the machine's own ratio, the same cells two at a time without the sweep = ${raw_median}x; sweep / raw = $(awk -v a="$median" -v b="$raw_median" 'BEGIN { printf "%.2f", a / b }'); load $(cut -d' ' -f1-3 /proc/loadavg)"
