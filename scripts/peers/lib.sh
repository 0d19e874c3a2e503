#!/usr/bin/env bash
# Shared by the test-peer scripts (versitygw.sh, ferretdb.sh, opensearch.sh): the process
# bookkeeping of a peer started in its own directory (DIR/pid), and the command-line dispatch.

# peer_alive DIR: the peer whose pid is in DIR/pid is running.
peer_alive() { [ -f "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

# peer_stop NAME DIR [SECONDS]: SIGTERM, up to SECONDS (default 10) for a clean exit, then SIGKILL.
peer_stop() {
  local name="$1" dir="$2" seconds="${3:-10}" pid i
  if ! peer_alive "$dir"; then
    printf '%s: not running in %s\n' "$name" "$dir" >&2
    rm -f "$dir/pid"
    return 0
  fi
  pid="$(cat "$dir/pid")"
  kill "$pid"
  for ((i = 0; i < seconds * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$dir/pid"
  printf '%s: stopped (pid %s)\n' "$name" "$pid" >&2
}

# peer_main NAME USAGE ARGS...: runs NAME_start / NAME_stop / NAME_install for a script run as a
# command (rather than sourced).
peer_main() {
  local name="$1" usage="$2"
  shift 2
  set -euo pipefail
  case "${1:-}" in
    start) shift; "${name}_start" "$@" ;;
    stop) shift; "${name}_stop" "$@" ;;
    install) "${name}_install" ;;
    *)
      echo "usage: $0 $usage" >&2
      exit 2
      ;;
  esac
}
