#!/usr/bin/env bash
# fmnist_vs_torch.sh - alig's neural-net module against the PyTorch peer
# (shared/peers/torch_fmnist.py), measured in the same run on the same machine:
#   1. CNN, one epoch of ALI-G (eta 0.1, momentum 0.9, batch 128): images/s, peak memory,
#      test accuracy after one epoch;
#   2. WRN-16-2, 50 mini-batches: images/s and peak memory;
#   3. the CNN's convolution layers in GFLOP/s next to a same-run sgemm (bench/conv_gflops).
# Usage: bench/fmnist_vs_torch.sh [BUILD_DIR] [THREADS]    (defaults: build/release, 2)
# Needs: python3-torch python3-numpy dataset-fashion-mnist (ALIG_WITH_PEER=1 scripts/install-deps).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
threads=${2:-2}
peer=${ALIG_PEER:-$root/../shared/peers/torch_fmnist.py}
alig=$build/bin/alig
py=/usr/bin/python3
[ -x "$alig" ] || { echo "fmnist_vs_torch: $alig not built (make build)" >&2; exit 1; }
[ -f "$peer" ] || { echo "fmnist_vs_torch: peer $peer not found (set ALIG_PEER)" >&2; exit 1; }
$py -c 'import torch, numpy' 2>/dev/null || { echo "fmnist_vs_torch: needs python3-torch python3-numpy (ALIG_WITH_PEER=1 scripts/install-deps)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$threads

# run NAME CMD...: runs under GNU time, records wall seconds and peak RSS (KiB)
run() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/$name.time" "$@" > "$tmp/$name.log" 2>&1 \
    || { echo "fmnist_vs_torch: '$*' failed:" >&2; tail -5 "$tmp/$name.log" >&2; exit 1; }
}
jget() { $py -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])" "$@"; }

echo "threads=$threads  alig: $alig  peer: $peer"
echo "1/3 CNN one epoch: alig ..."
run alig_cnn "$alig" train --data fashion-mnist --model cnn --opt alig --eta 0.1 --momentum 0.9 --epochs 1 \
  --batch 128 --seed 0 --threads "$threads" --quiet --out "$tmp/cnn"
echo "    peer ..."
run peer_cnn $py "$peer" train --model cnn --opt alig --threads "$threads" --out "$tmp/peer_cnn.jsonl"
echo "2/3 WRN-16-2, 50 batches: alig ..."
run alig_wrn "$alig" train --data fashion-mnist --model wrn-16-2 --opt alig --eta 0.1 --momentum 0.9 --epochs 1 \
  --batch 128 --seed 0 --threads "$threads" --max-batches 50 --quiet --out "$tmp/wrn"
echo "    peer ..."
run peer_wrn $py "$peer" train --model wrn-16-2 --opt alig --threads "$threads" --max-batches 50 --out "$tmp/peer_wrn.jsonl"
echo "3/3 conv GFLOP/s ..."
conv=$("$build/bench/conv_gflops" 2>&1 || true)

a_ips=$(jget "$tmp/cnn/log.jsonl" images_per_s); a_acc=$(jget "$tmp/cnn/log.jsonl" test_acc)
p_ips=$(jget "$tmp/peer_cnn.jsonl" images_per_s); p_acc=$(jget "$tmp/peer_cnn.jsonl" test_acc)
aw_ips=$(jget "$tmp/wrn/log.jsonl" images_per_s); pw_ips=$(jget "$tmp/peer_wrn.jsonl" images_per_s)
read -r _ a_mem < "$tmp/alig_cnn.time"; read -r _ p_mem < "$tmp/peer_cnn.time"
read -r _ aw_mem < "$tmp/alig_wrn.time"; read -r _ pw_mem < "$tmp/peer_wrn.time"

$py - "$a_ips" "$p_ips" "$aw_ips" "$pw_ips" "$a_mem" "$p_mem" "$aw_mem" "$pw_mem" "$a_acc" "$p_acc" <<'PY'
import sys
a_ips, p_ips, aw_ips, pw_ips, a_mem, p_mem, aw_mem, pw_mem, a_acc, p_acc = map(float, sys.argv[1:])
print()
print(f"{'':34s} {'alig':>12s} {'PyTorch':>12s} {'ratio':>8s}")
print(f"{'CNN train images/s (1 epoch)':34s} {a_ips:12.0f} {p_ips:12.0f} {a_ips/p_ips:8.2f}x")
print(f"{'WRN-16-2 train images/s (50 b.)':34s} {aw_ips:12.0f} {pw_ips:12.0f} {aw_ips/pw_ips:8.2f}x")
print(f"{'CNN peak memory (MiB)':34s} {a_mem/1024:12.0f} {p_mem/1024:12.0f} {a_mem/p_mem:8.2f}x")
print(f"{'WRN-16-2 peak memory (MiB)':34s} {aw_mem/1024:12.0f} {pw_mem/1024:12.0f} {aw_mem/pw_mem:8.2f}x")
print(f"{'CNN test accuracy after 1 epoch':34s} {a_acc:12.4f} {p_acc:12.4f} {100*(a_acc-p_acc):+7.2f} pt")
PY
echo
echo "$conv"
