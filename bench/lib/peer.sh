# peer.sh - sourced by the bench scripts that measure against the PyTorch peer
# (shared/peers/torch_fmnist.py); not a benchmark itself. Set NAME (the script's name) first.
# Sets root (the repository), peer (ALIG_PEER or shared/peers/torch_fmnist.py beside the
# repository), py (Debian's interpreter, which has python3-torch) and tmp (a directory removed on
# exit); checks that the peer and torch are there. Provides need_int LABEL VALUE MIN and
# need_exe PATH.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
peer=${ALIG_PEER:-$root/../shared/peers/torch_fmnist.py}
py=/usr/bin/python3

# need_int LABEL VALUE MIN: VALUE is an integer >= MIN, or exit 2 naming LABEL
need_int() {
  case $2 in ''|*[!0-9]*) echo "$NAME: $1 must be an integer >= $3, got '$2'" >&2; exit 2;; esac
  [ "$2" -ge "$3" ] || { echo "$NAME: $1 must be an integer >= $3, got '$2'" >&2; exit 2; }
}
# need_exe PATH: a built executable, or exit 1
need_exe() { [ -x "$1" ] || { echo "$NAME: $1 not built (make build)" >&2; exit 1; }; }

[ -f "$peer" ] || { echo "$NAME: peer $peer not found (set ALIG_PEER)" >&2; exit 1; }
$py -c 'import torch, numpy' 2>/dev/null \
  || { echo "$NAME: needs python3-torch python3-numpy (ALIG_WITH_PEER=1 scripts/install-deps)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
