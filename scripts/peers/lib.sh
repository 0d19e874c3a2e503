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

# peer_go_install NAME MODULE VERSION PACKAGE BIN: `go install PACKAGE@VERSION` into BIN's folder,
# unless BIN is already that build of MODULE (checked from its build info).
peer_go_install() {
  local name="$1" module="$2" version="$3" package="$4" bin="$5" dir
  dir="$(dirname "$bin")"
  if [ -x "$bin" ] && { ! command -v go >/dev/null ||
       go version -m "$bin" 2>/dev/null | grep -q "mod[[:space:]]*$module[[:space:]]*$version"; }; then
    return 0
  fi
  if ! command -v go >/dev/null; then
    printf '%s: Go is needed to install %s %s into %s\n' "$name" "$module" "$version" "$dir" >&2
    return 1
  fi
  printf '%s: installing %s %s into %s (a few minutes the first time)\n' "$name" "$module" "$version" "$dir" >&2
  mkdir -p "$dir"
  if ! GOBIN="$dir" GOFLAGS=-mod=mod go install "$package@$version"; then
    printf '%s: go install failed\n' "$name" >&2
    return 1
  fi
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
