#!/usr/bin/env bash
# Shared by the bench scripts: starting mdb-backupd on a config and reading its peak memory.

# start_mdbd DIR: starts mdb-backupd on DIR/config.yaml (log DIR/server.log), waits until it
# listens, and sets SERVER (its pid), CLI, MDB_BACKUP_ENDPOINT and MDB_BACKUP_TOKEN
# (bench-token-1, which the config must declare).
start_mdbd() {
  local dir="$1"
  "$BUILD/src/server/mdb-backupd" --config "$dir/config.yaml" >"$dir/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 50); do grep -q listening "$dir/server.log" && break; sleep 0.1; done
  export MDB_BACKUP_ENDPOINT="http://$(grep -o 'rest=[^ ]*' "$dir/server.log" | cut -d= -f2)"
  export MDB_BACKUP_TOKEN=bench-token-1
  CLI="$BUILD/src/cli/mdb-backup"
}

# peak_rss_kb: the peak resident memory of mdb-backupd so far, in KB.
peak_rss_kb() { grep VmHWM "/proc/$SERVER/status" | awk '{print $2}'; }
