#!/usr/bin/env bash
# densenet_vs_torch.sh - the ALI-G paper's vision models at 3x32x32 with augmentation, alig against
# the PyTorch peer script torch_fmnist.py (not in this repository; ALIG_PEER) in the same run on the same machine:
#   1. WRN-16-4 with dropout 0.4, batch 128 (the SVHN model; here with the CIFAR augmentation);
#   2. DenseNet-BC-100-12, batch 64 (Huang et al.'s CIFAR setting);
# both with SGD (lr 0.1, Nesterov momentum 0.9) for BATCHES mini-batches, random crop (zero padding
# 4) and horizontal flip on every batch. alig reads a synthetic CIFAR-10 directory in the binary
# distribution format written here (45,100 uniform random images, seeded; --val 100, so the
# training split is 45,000 images as the peer's cifar-synthetic epoch); the peer uses its
# --input cifar-synthetic --augment. images/s are training images over training time (alig's
# log.jsonl images_per_s, the peer's RESULT images_per_s), peak memory is GNU time's maximum RSS.
# Runs alternate in PAIRS pairs (alig first in odd pairs); the table gives the median of the
# per-pair ratios and their range. Last, bench/augment times the augmentation itself.
# Usage: bench/densenet_vs_torch.sh [BUILD_DIR] [THREADS] [PAIRS] [BATCHES]   (build/release, 2, 3, 20)
# Needs: python3-torch python3-numpy (ALIG_WITH_PEER=1 scripts/install-deps).
set -euo pipefail
NAME=densenet_vs_torch
. "$(dirname "$0")/lib/peer.sh"
build=${1:-$root/build/release}
threads=${2:-2}
pairs=${3:-3}
batches=${4:-20}
alig=$build/bin/alig
need_exe "$alig"
need_int THREADS "$threads" 1
need_int PAIRS "$pairs" 1
need_int BATCHES "$batches" 6
export OMP_NUM_THREADS=$threads

# the synthetic CIFAR-10 directory: 5 x 9,020 training records, 100 test records
$py - "$tmp/cifar" <<'PY'
import os, sys
import numpy as np
d = sys.argv[1]
os.makedirs(d)
rng = np.random.default_rng(2020)
for name, n in [(f"data_batch_{i}.bin", 9020) for i in range(1, 6)] + [("test_batch.bin", 100)]:
    rec = rng.integers(0, 256, size=(n, 3073), dtype=np.uint8)
    rec[:, 0] %= 10
    rec.tofile(os.path.join(d, name))
PY

run() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/$name.time" "$@" > "$tmp/$name.log" 2>&1 \
    || { echo "$NAME: '$*' failed:" >&2; tail -5 "$tmp/$name.log" >&2; exit 1; }
}
# model batch extra-flags...
alig_run() {
  local key=$1 model=$2 batch=$3 i=$4; shift 4
  run "alig_${key}_$i" "$alig" train --data cifar10 --data-dir "$tmp/cifar" --val 100 --test-subset 100 \
    --augment on --model "$model" "$@" --opt sgd --lr 0.1 --momentum 0.9 --nesterov true --epochs 1 \
    --batch "$batch" --max-batches "$batches" --eval-batch 100 --seed 0 --threads "$threads" --quiet \
    --out "$tmp/${key}_$i"
}
peer_run() {
  local key=$1 model=$2 batch=$3 i=$4; shift 4
  run "peer_${key}_$i" $py "$peer" train --input cifar-synthetic --augment --model "$model" "$@" --opt sgd \
    --lr 0.1 --momentum 0.9 --nesterov --batch "$batch" --max-batches "$batches" --threads "$threads" \
    --out "$tmp/peer_${key}_$i.jsonl"
}
wrn() { "$1_run" wrn wrn-16-4 128 "$2" --dropout 0.4; }
dn() { "$1_run" dn densenet-bc-100-12 64 "$2"; }

echo "threads=$threads  pairs=$pairs  batches=$batches  alig: $alig  peer: $peer"
for i in $(seq 1 "$pairs"); do
  echo "pair $i/$pairs: WRN-16-4 (dropout 0.4, batch 128), DenseNet-BC-100-12 (batch 64), $batches batches each ..."
  if [ $((i % 2)) = 1 ]; then wrn alig "$i"; wrn peer "$i"; dn alig "$i"; dn peer "$i"
  else wrn peer "$i"; wrn alig "$i"; dn peer "$i"; dn alig "$i"; fi
done
aug=$("$build/bench/augment" 128 200 2>&1 || true)

$py - "$tmp" "$pairs" <<'PY'
import json, statistics, sys
tmp, pairs = sys.argv[1], int(sys.argv[2])
def last(path):
    return json.loads(open(path).read().strip().splitlines()[-1])
def rss(name):
    return float(open(f"{tmp}/{name}.time").read().split()[1]) / 1024.0
labels = {"wrn": "WRN-16-4 p=0.4, b128", "dn": "DenseNet-BC-100-12, b64"}
rows = {k: [] for k in labels}
for k in labels:
    for i in range(1, pairs + 1):
        a, p = last(f"{tmp}/{k}_{i}/log.jsonl"), last(f"{tmp}/peer_{k}_{i}.jsonl")
        rows[k].append((a["images_per_s"], p["images_per_s"], rss(f"alig_{k}_{i}"), rss(f"peer_{k}_{i}"),
                        a.get("train_seconds"), p.get("train_seconds"), p.get("data_ms_per_batch_mean")))
print()
print("per pair, training images/s with augmentation (alig / PyTorch):")
for i in range(pairs):
    print("  pair %d: " % (i + 1) + "   ".join(
        f"{labels[k]} {rows[k][i][0]:6.1f} / {rows[k][i][1]:6.1f} = {rows[k][i][0] / rows[k][i][1]:5.2f}x" for k in labels))
print()
print(f"{'median over pairs':28s} {'alig':>10s} {'PyTorch':>10s} {'ratio':>8s}  {'ratio range':>13s}")
for k in labels:
    a = [r[0] for r in rows[k]]; p = [r[1] for r in rows[k]]; q = [x / y for x, y in zip(a, p)]
    print(f"{labels[k] + ' images/s':28s} {statistics.median(a):10.1f} {statistics.median(p):10.1f} "
          f"{statistics.median(q):7.2f}x  {min(q):5.2f}-{max(q):5.2f}x")
for k in labels:
    a = statistics.median(r[2] for r in rows[k]); p = statistics.median(r[3] for r in rows[k])
    print(f"{labels[k] + ' peak MiB':28s} {a:10.0f} {p:10.0f} {a / p:7.2f}x")
for k in labels:
    d = [r[6] for r in rows[k] if r[6] is not None]
    if d:
        print(f"{labels[k]}: the peer's data pipeline (gather, augment, normalise) {statistics.median(d):.2f} ms/batch")
PY
echo
echo "alig's augmentation alone (bench/augment): $aug"
