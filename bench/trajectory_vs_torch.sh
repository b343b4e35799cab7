#!/usr/bin/env bash
# trajectory_vs_torch.sh - alig's nets and ALI-G against a second implementation: the PyTorch
# peer's models and ALI-G (torch_fmnist.py, not part of this repository; set ALIG_PEER to its path,
# see bench/lib/peer.sh) repeat alig's first STEPS steps from the
# same weights on the same batches (bench/trajectory writes them, bench/trajectory_vs_torch.py
# repeats and compares): the loss and gradient at x0, then the loss, ||g||^2 and step size of
# every step, and the weights at the end.
#   CNN (no batch norm): the gradient at x0 must agree to 1e-5 (float rounding), the loss of
#   every step to 2e-3 (measured 2.9e-4 after 20 steps);
#   WRN-16-1: the gradient at x0 to 1e-2, because an activation within rounding of a ReLU kink
#   may fall on either side in the two implementations, which moves the gradients below it by
#   ~1e-3; the loss of every step to 2e-2 (measured 7.2e-3, PyTorch against itself 8.6e-3).
# Usage: bench/trajectory_vs_torch.sh [BUILD_DIR] [STEPS] [THREADS]   (defaults: build/release, 20, 2)
# Needs: python3-torch python3-numpy dataset-fashion-mnist (ALIG_WITH_PEER=1 scripts/install-deps).
set -euo pipefail
NAME=trajectory_vs_torch
. "$(dirname "$0")/lib/peer.sh"
build=${1:-$root/build/release}
steps=${2:-20}
threads=${3:-2}
traj=$build/bench/trajectory
need_exe "$traj"
need_int STEPS "$steps" 1
need_int THREADS "$threads" 1
export OMP_NUM_THREADS=$threads
rc=0
for case in "cnn 1e-5 2e-3" "wrn-16-1 1e-2 2e-2"; do
  set -- $case
  echo "== $1 =="
  "$traj" "$1" "$steps" "$tmp/$1" > "$tmp/$1.log" 2>&1 \
    || { echo "trajectory_vs_torch: bench/trajectory $1 failed:" >&2; cat "$tmp/$1.log" >&2; exit 1; }
  $py "$root/bench/trajectory_vs_torch.py" "$tmp/$1" --peer "$peer" --threads "$threads" --tol-grad "$2" \
    --tol-all "$3" || rc=1
  echo
done
exit $rc
