#!/usr/bin/env bash
# fmnist_vs_torch.sh - alig's neural-net module against the PyTorch peer torch_fmnist.py (not part
# of this repository; set ALIG_PEER to its path, see bench/lib/peer.sh), measured in the same run on the same machine:
#   1. CNN, one epoch of ALI-G (eta 0.1, momentum 0.9, batch 128): images/s, peak memory,
#      test accuracy after one epoch;
#   2. WRN-16-2, 50 mini-batches: images/s and peak memory;
#   3. the CNN's convolution layers in GFLOP/s next to a same-run sgemm (bench/conv_gflops), and
#      WRN-16-2's convolution layers with both algorithms (bench/conv_layers).
# Runs 1 and 2 are repeated in PAIRS alternating pairs (alig first in odd pairs, the peer first in
# even ones) and the table gives the median of the per-pair ratios, with their range: this
# machine is shared and its speed drifts by 10-20% between minutes, so one pair proves little.
# Usage: bench/fmnist_vs_torch.sh [BUILD_DIR] [THREADS] [PAIRS]   (defaults: build/release, 2, 3)
# Needs: python3-torch python3-numpy dataset-fashion-mnist (ALIG_WITH_PEER=1 scripts/install-deps).
set -euo pipefail
NAME=fmnist_vs_torch
. "$(dirname "$0")/lib/peer.sh"
build=${1:-$root/build/release}
threads=${2:-2}
pairs=${3:-3}
alig=$build/bin/alig
need_exe "$alig"
need_int THREADS "$threads" 1
need_int PAIRS "$pairs" 1
export OMP_NUM_THREADS=$threads

# run NAME CMD...: runs under GNU time, records wall seconds and peak RSS (KiB)
run() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/$name.time" "$@" > "$tmp/$name.log" 2>&1 \
    || { echo "fmnist_vs_torch: '$*' failed:" >&2; tail -5 "$tmp/$name.log" >&2; exit 1; }
}
alig_cnn() {
  run "alig_cnn_$1" "$alig" train --data fashion-mnist --model cnn --opt alig --eta 0.1 --momentum 0.9 --epochs 1 \
    --batch 128 --seed 0 --threads "$threads" --quiet --out "$tmp/cnn_$1"
}
peer_cnn() { run "peer_cnn_$1" $py "$peer" train --model cnn --opt alig --threads "$threads" --out "$tmp/peer_cnn_$1.jsonl"; }
alig_wrn() {
  run "alig_wrn_$1" "$alig" train --data fashion-mnist --model wrn-16-2 --opt alig --eta 0.1 --momentum 0.9 --epochs 1 \
    --batch 128 --seed 0 --threads "$threads" --max-batches 50 --quiet --out "$tmp/wrn_$1"
}
peer_wrn() {
  run "peer_wrn_$1" $py "$peer" train --model wrn-16-2 --opt alig --threads "$threads" --max-batches 50 \
    --out "$tmp/peer_wrn_$1.jsonl"
}

echo "threads=$threads  pairs=$pairs  alig: $alig  peer: $peer"
for i in $(seq 1 "$pairs"); do
  echo "pair $i/$pairs: CNN one epoch, WRN-16-2 50 batches ..."
  if [ $((i % 2)) = 1 ]; then alig_cnn "$i"; peer_cnn "$i"; alig_wrn "$i"; peer_wrn "$i"
  else peer_cnn "$i"; alig_cnn "$i"; peer_wrn "$i"; alig_wrn "$i"; fi
done
echo "conv GFLOP/s ..."
conv=$("$build/bench/conv_gflops" 2>&1 || true)
layers=$("$build/bench/conv_layers" 5 2>&1 || true)

$py - "$tmp" "$pairs" <<'PY'
import json, statistics, sys
tmp, pairs = sys.argv[1], int(sys.argv[2])
def last(path):
    return json.loads(open(path).read().strip().splitlines()[-1])
def rss(name):
    return float(open(f"{tmp}/{name}.time").read().split()[1]) / 1024.0
rows = {"cnn": [], "wrn": []}
for i in range(1, pairs + 1):
    rows["cnn"].append((last(f"{tmp}/cnn_{i}/log.jsonl"), last(f"{tmp}/peer_cnn_{i}.jsonl"),
                        rss(f"alig_cnn_{i}"), rss(f"peer_cnn_{i}")))
    rows["wrn"].append((last(f"{tmp}/wrn_{i}/log.jsonl"), last(f"{tmp}/peer_wrn_{i}.jsonl"),
                        rss(f"alig_wrn_{i}"), rss(f"peer_wrn_{i}")))
print()
print("per pair, training images/s (alig / PyTorch):")
for i in range(pairs):
    c, w = rows["cnn"][i], rows["wrn"][i]
    print(f"  pair {i + 1}: CNN {c[0]['images_per_s']:7.0f} / {c[1]['images_per_s']:7.0f} = "
          f"{c[0]['images_per_s'] / c[1]['images_per_s']:5.2f}x   WRN-16-2 {w[0]['images_per_s']:6.0f} / "
          f"{w[1]['images_per_s']:6.0f} = {w[0]['images_per_s'] / w[1]['images_per_s']:5.2f}x")
print()
print(f"{'median over pairs':34s} {'alig':>12s} {'PyTorch':>12s} {'ratio':>8s}  {'ratio range':>13s}")
for key, label in (("cnn", "CNN train images/s (1 epoch)"), ("wrn", "WRN-16-2 train images/s (50 b.)")):
    a = [r[0]["images_per_s"] for r in rows[key]]
    p = [r[1]["images_per_s"] for r in rows[key]]
    q = [x / y for x, y in zip(a, p)]
    print(f"{label:34s} {statistics.median(a):12.0f} {statistics.median(p):12.0f} {statistics.median(q):7.2f}x"
          f"  {min(q):5.2f}-{max(q):5.2f}x")
for key, label in (("cnn", "CNN peak memory (MiB)"), ("wrn", "WRN-16-2 peak memory (MiB)")):
    a = statistics.median(r[2] for r in rows[key])
    p = statistics.median(r[3] for r in rows[key])
    print(f"{label:34s} {a:12.0f} {p:12.0f} {a / p:7.2f}x")
a_acc = [r[0]["test_acc"] for r in rows["cnn"]]
p_acc = [r[1]["test_acc"] for r in rows["cnn"]]
print(f"{'CNN test accuracy after 1 epoch':34s} {a_acc[0]:12.4f} {p_acc[0]:12.4f} {100 * (a_acc[0] - p_acc[0]):+7.2f} pt"
      f"  (same in every pair: {len(set(a_acc)) == 1 and len(set(p_acc)) == 1})")
PY
echo
echo "$conv"
echo
echo "$layers"
