#!/usr/bin/env bash
# fmnist_accuracy_seeds.sh - test accuracy of the CNN after one epoch of ALI-G (eta 0.1, momentum
# 0.9, batch 128) over several seeds, alig train next to the PyTorch peer torch_fmnist.py (not
# part of this repository; set ALIG_PEER to its path, see bench/lib/peer.sh) with the same
# optimiser settings and seeds, in the same run.
# alig train keeps a 5,000-image validation split (55,000 training images, 430 batches); the
# peer trains on all 60,000 (469 batches).
# A single seed says little: initialisation and data order come from different generators on
# the two sides, and one epoch amplifies float rounding (which differs between machines, since
# OpenBLAS and oneDNN pick their kernels per CPU) to a few tenths of a point. This prints every
# seed, the mean and sample standard deviation of each side, and the difference of the means.
# Usage: bench/fmnist_accuracy_seeds.sh [BUILD_DIR] [SEEDS] [THREADS]   (defaults: build/release, 5, 2)
# Needs: python3-torch python3-numpy dataset-fashion-mnist (ALIG_WITH_PEER=1 scripts/install-deps).
set -euo pipefail
NAME=fmnist_accuracy_seeds
. "$(dirname "$0")/lib/peer.sh"
build=${1:-$root/build/release}
seeds=${2:-5}
threads=${3:-2}
alig=$build/bin/alig
need_exe "$alig"
need_int SEEDS "$seeds" 2
need_int THREADS "$threads" 1
export OMP_NUM_THREADS=$threads

echo "CNN, one epoch of ALI-G (eta 0.1, momentum 0.9, batch 128), seeds 0..$((seeds - 1)), threads=$threads"
for s in $(seq 0 $((seeds - 1))); do
  "$alig" train --data fashion-mnist --model cnn --opt alig --eta 0.1 --momentum 0.9 --epochs 1 --batch 128 \
    --seed "$s" --threads "$threads" --quiet --out "$tmp/alig_$s" > "$tmp/alig_$s.log" 2>&1 \
    || { echo "fmnist_accuracy_seeds: alig train --seed $s failed:" >&2; tail -5 "$tmp/alig_$s.log" >&2; exit 1; }
  $py "$peer" train --model cnn --opt alig --max-lr 0.1 --momentum 0.9 --batch 128 --seed "$s" \
    --threads "$threads" --out "$tmp/peer_$s.jsonl" > "$tmp/peer_$s.log" 2>&1 \
    || { echo "fmnist_accuracy_seeds: peer --seed $s failed:" >&2; tail -5 "$tmp/peer_$s.log" >&2; exit 1; }
done

$py - "$tmp" "$seeds" <<'PY'
import json, statistics, sys
tmp, seeds = sys.argv[1], int(sys.argv[2])
def last(path):
    return json.loads(open(path).read().strip().splitlines()[-1])
a = [last(f"{tmp}/alig_{s}/log.jsonl")["test_acc"] for s in range(seeds)]
p = [last(f"{tmp}/peer_{s}.jsonl")["test_acc"] for s in range(seeds)]
print(f"{'seed':>4s} {'alig':>8s} {'PyTorch':>8s}")
for s in range(seeds):
    print(f"{s:4d} {a[s]:8.4f} {p[s]:8.4f}")
ma, mp = statistics.mean(a), statistics.mean(p)
print(f"mean ± sd  alig {ma:.4f} ± {statistics.stdev(a):.4f}   PyTorch {mp:.4f} ± {statistics.stdev(p):.4f}   "
      f"difference of the means {100 * (ma - mp):+.2f} pt")
PY
