#!/usr/bin/env bash
# mpi_train.sh - data-parallel `alig train` over MPI ranks against one process, in the same run:
# the CNN of the PyTorch peer on Fashion-MNIST (batch 128, ALI-G), trained for STEPS steps three
# ways, alternating (PAIRS rounds, each running the three back to back, since a shared machine
# drifts between minutes):
#   1 process, 1 thread  |  mpirun -np 2, 1 thread per rank  |  1 process, 2 OpenMP threads.
# Throughput is the steps/s of the second half of each run (log.csv's last window: the first half
# holds the warm-up and the data loading is outside both), so mpirun's start-up is not counted.
# It prints per round the 1 -> 2 rank speed-up and the 1 -> 2 thread speed-up, then their medians
# with their ranges, and the load average at the start and the end (on a loaded 2-core machine both
# speed-ups collapse: each needs a second free core). It also prints how far the last window's mean
# loss of the 2-rank run and of the 2-thread run lie from the 1-thread run's (relative): both differ
# from it by the order of their sums only, and these differences grow along the trajectory, so they
# are of a size (see docs/training.md). Ranks are not bound to cores (--bind-to none), like the
# one-process runs.
# Usage: bench/mpi_train.sh [BUILD_DIR] [STEPS] [PAIRS]   (defaults: build/release, 40, 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
steps=${2:-40}
pairs=${3:-3}
alig=$build/bin/alig
for v in "STEPS:$steps" "PAIRS:$pairs"; do
  case ${v#*:} in ''|*[!0-9]*|0|1) echo "mpi_train: ${v%%:*} must be an integer >= 2, got '${v#*:}'" >&2; exit 2;; esac
done
[ -x "$alig" ] || { echo "mpi_train: $alig not built (make build)" >&2; exit 1; }
"$alig" sweep --help | grep -q "MPI: built with MPI" || { echo "mpi_train: this alig was built without MPI" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpi_train: mpirun not found (install openmpi-bin)" >&2; exit 1; }
mpirun=(mpirun --bind-to none -np 2)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
export OMPI_MCA_btl=self,vader,tcp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

args=(train --model cnn --opt alig --eta 0.1 --batch 128 --steps "$steps" --log-every $((steps / 2))
      --checkpoint-every 1000000 --quiet)
sps() { tail -n 1 "$1/log.csv" | awk -F, '{ print $NF }'; }        # steps/s of the last window
loss() { tail -n 1 "$1/log.csv" | cut -d, -f3; }

echo "mpi_train: CNN on Fashion-MNIST, batch 128, ALI-G, $steps steps ($((steps / 2)) timed), $pairs rounds; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
ranks=()
threads=()
for p in $(seq 1 "$pairs"); do
  "$alig" "${args[@]}" --threads 1 --out "$tmp/p1_$p"
  "${mpirun[@]}" "$alig" "${args[@]}" --threads 1 --out "$tmp/r2_$p" </dev/null
  "$alig" "${args[@]}" --threads 2 --out "$tmp/t2_$p"
  a=$(sps "$tmp/p1_$p") b=$(sps "$tmp/r2_$p") c=$(sps "$tmp/t2_$p")
  la=$(loss "$tmp/p1_$p") lb=$(loss "$tmp/r2_$p") lc=$(loss "$tmp/t2_$p")
  rel() { awk -v a="$1" -v b="$2" 'BEGIN { d = (b - a) / a; printf "%.1e", d < 0 ? -d : d }'; }
  r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
  t=$(awk -v a="$a" -v c="$c" 'BEGIN { printf "%.3f", c / a }')
  ranks+=("$r")
  threads+=("$t")
  printf '  round %d: 1 process 1 thread %6.2f steps/s | 2 ranks x 1 thread %6.2f steps/s (x%s) | 1 process 2 threads %6.2f steps/s (x%s) | last loss vs 1 thread: ranks %s, threads %s\n' \
    "$p" "$a" "$b" "$r" "$c" "$t" "$(rel "$la" "$lb")" "$(rel "$la" "$lc")"
done
summary() { sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2fx (range %.2f-%.2f)", m, v[1], v[NR] }'; }
echo "mpi_train: speed-up 1 -> 2 ranks (1 thread each): $(printf '%s\n' "${ranks[@]}" | summary); 1 -> 2 threads in one process: $(printf '%s\n' "${threads[@]}" | summary); medians of $pairs rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
