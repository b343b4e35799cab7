# peer.sh - sourced by the bench scripts that measure against a PyTorch peer script
# (torch_fmnist.py by default); not a benchmark itself. The PyTorch peer scripts are not part of
# this repository: set ALIG_PEER (ALIG_DNC_PEER for the DNC) to the script's path; without it the
# scripts look for the project's peer folder next to the repository's own folder.
# Set NAME (the script's name) first. Sets root (the repository), peer (the script), py
# (Debian's interpreter, which has python3-torch) and tmp (a directory removed on exit); checks
# that the peer and torch are there. Provides need_int LABEL VALUE MIN and need_exe PATH.
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
