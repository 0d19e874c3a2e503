#!/usr/bin/env bash
# The main job on the embedded defaults: install and build, start a local Redis with data, start
# mdb-backupd (SQLite catalog + a repository directory), take a real backup through the API, list
# it, restore it into a second, empty Redis, and show that the data is the same.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh"

DEMO="$(mktemp -d /tmp/mdb-demo.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DEMO"; }
trap cleanup EXIT
SRC_PORT=${MDB_DEMO_PORT:-36379}
DST_PORT=$((SRC_PORT + 1))

log "two local Redis servers: the source (with data) and an empty restore target"
for port in "$SRC_PORT" "$DST_PORT"; do
  mkdir -p "$DEMO/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$DEMO/redis-$port" --save "" \
    --enable-debug-command yes --repl-diskless-sync-delay 0 >"$DEMO/redis-$port.log" 2>&1 &
  PIDS+=($!)
done
for port in "$SRC_PORT" "$DST_PORT"; do
  for _ in $(seq 50); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli -p "$SRC_PORT" DEBUG POPULATE 200000 user 64 >/dev/null
redis-cli -p "$SRC_PORT" HSET profile:1 name Ada lang C++ >/dev/null
redis-cli -p "$SRC_PORT" SET session:1 token EX 3600 >/dev/null
echo "source: $(redis-cli -p "$SRC_PORT" DBSIZE) keys, digest $(redis-cli -p "$SRC_PORT" DEBUG DIGEST)"

cat >"$DEMO/config.yaml" <<YAML
server:
  grpc_listen: 127.0.0.1:0
  rest_listen: 127.0.0.1:0
  catalog: catalog.db        # SQLite, beside this file
  repository: repository     # chunked, deduplicated, zstd-compressed, checksummed
tokens:
  - {token: demo-token-0001, subject: demo, read: [demo-folder], write: [demo-folder]}
clusters:
  - {id: cache, folder_id: demo-folder, engine: redis, hosts: ["127.0.0.1:$SRC_PORT"]}
  - {id: cache-restored, folder_id: demo-folder, engine: redis, hosts: ["127.0.0.1:$DST_PORT"]}
YAML
"$BUILD/src/server/mdb-backupd" --config "$DEMO/config.yaml" >"$DEMO/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$DEMO/server.log" && break; sleep 0.1; done
cat "$DEMO/server.log"
REST="http://$(grep -o 'rest=[^ ]*' "$DEMO/server.log" | cut -d= -f2)"
export MDB_BACKUP_ENDPOINT="$REST" MDB_BACKUP_TOKEN=demo-token-0001
CLI="$BUILD/src/cli/mdb-backup"

log "take a backup: POST $REST/managed-redis/v1/clusters/cache:backup, then wait for the operation"
"$CLI" backup create --engine redis --cluster cache --wait
log "list the cluster's backups"
"$CLI" backup list --cluster cache
ID="$("$CLI" --format json backup list --engine redis --cluster cache | python3 -c 'import json, sys; print(json.load(sys.stdin)["backups"][0]["id"])')"
log "restore backup $ID into the empty server (cluster 'cache-restored')"
"$CLI" backup restore --engine redis "$ID" --to cache-restored --wait
echo "restored: $(redis-cli -p "$DST_PORT" DBSIZE) keys, digest $(redis-cli -p "$DST_PORT" DEBUG DIGEST)"
if [ "$(redis-cli -p "$SRC_PORT" DEBUG DIGEST)" = "$(redis-cli -p "$DST_PORT" DEBUG DIGEST)" ]; then
  echo "the restored server holds exactly the source's data"
else
  echo "DIGESTS DIFFER" >&2
  exit 1
fi
log "the repository"
"$CLI" repo --repo "$DEMO/repository" stats
"$CLI" repo --repo "$DEMO/repository" verify
