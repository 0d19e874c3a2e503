#!/usr/bin/env bash
# bench/api/front_door.sh: runs bench/api/front_door.py (the REST listener under hostile load,
# issue #12) with the project's venv Python if there is one. Arguments go to the script, e.g.
#   bash bench/api/front_door.sh --calls 2000
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-$HOME/.cache/mdb-backup/venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" "$ROOT/bench/api/front_door.py" "$@"
