#!/usr/bin/env bash
# Configures (once) and builds everything with Ninja and ccache.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PROTO_DIR="$("$VENV/bin/python" -c 'import google.api, os; print(os.path.dirname(os.path.dirname(google.api.__path__[0])))')"
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGOOGLEAPIS_PROTO_DIR="$PROTO_DIR" >/dev/null
fi
log "build ($BUILD)"
ninja -C "$BUILD" "$@"
