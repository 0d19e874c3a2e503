# Shared settings of the project scripts. Caches live outside the repository so that a second run
# (or CI on the same machine) is fast; a fresh machine fills them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MDB_CACHE:-$HOME/.cache/mdb-backup}"
BUILD="${MDB_BUILD:-$ROOT/build}"
VENV="$CACHE/venv"
NODE_DIR="$CACHE/node"
export CCACHE_DIR="${CCACHE_DIR:-$CACHE/ccache}"
mkdir -p "$CACHE"
log() { printf '\n== %s\n' "$*" >&2; }
