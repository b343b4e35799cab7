#!/usr/bin/env bash
# lstm_vs_torch.sh - alig's Bi-LSTM + max-pooling encoder against a second implementation,
# PyTorch's nn.LSTM (bidirectional, pack_padded_sequence for the lengths), on the same weights and
# the same padded batch: outputs, pooled features, loss and the gradients of all eight LSTM tensors
# and of the input, for alig's composed and fused cells. The tolerances and why are in
# lstm_vs_torch.py (printed with the figures); exit 1 past any of them.
# Usage: bench/lstm_vs_torch.sh [BUILD_DIR]   (default: build/release)
# Needs: python3-torch python3-numpy for /usr/bin/python3.
set -euo pipefail
NAME=lstm_vs_torch
here=$(cd "$(dirname "$0")" && pwd)
ALIG_PEER=$here/lstm_vs_torch.py
. "$here/lib/peer.sh"
build=$(cd "${1:-$root/build/release}" && pwd)
chk=$build/bench/lstm_check
need_exe "$chk"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} $py "$peer" "$chk" "$tmp"
