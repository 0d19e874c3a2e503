#!/usr/bin/env bash
# Installs, builds and runs every test: format check, unit tests (ctest), then the live API tests
# through the official Node.js and Python SDKs and plain HTTP against a real mdb-backupd.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh"

log "clang-format check"
(cd "$ROOT" && find src bench tests -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run --Werror)

log "unit tests"
(cd "$BUILD" && ctest --output-on-failure -j2 -L unit)

export MDB_BUILD="$BUILD" MDB_NODE_MODULES="$NODE_DIR/node_modules"
log "live API tests: Node.js SDK"
node --test "$ROOT/tests/api/node/"

log "live API tests: Python SDK and REST"
cd "$ROOT/tests/api" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider .
