#!/usr/bin/env bash
# bench/api on both catalogs in one run (issue #15's target: Get/List p50 with the PostgreSQL
# catalog within 1.5x of SQLite's): a PostgreSQL 15 started here on 127.0.0.1 (a temporary
# cluster, removed after), then api_bench on SQLite and on it, alternately, $ROUNDS times.
# Usage: bench/api/catalogs.sh [BACKUPS] [CALLS] [ROUNDS]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH="${MDB_BUILD:-$ROOT/build}/bench/api_bench"
BACKUPS="${1:-100000}" CALLS="${2:-5000}" ROUNDS="${3:-2}"
PGBIN=/usr/lib/postgresql/15/bin
DIR="$(mktemp -d /tmp/mdb-bench-pg.XXXXXX)"
chmod 0777 "$DIR"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
trap 'as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
as_pg "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -w -l "$DIR/server.log" \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
for round in $(seq "$ROUNDS"); do
  echo "== round $round: SQLite"
  "$BENCH" --backups "$BACKUPS" --calls "$CALLS"
  db="bench_$round"
  as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE $db"
  echo "== round $round: PostgreSQL"
  # Filled, then vacuumed and checkpointed before the calls are timed: a bulk insert leaves
  # autovacuum and the checkpointer busy on the same two cores for a minute (an earlier run
  # timed them, not the catalog).
  "$BENCH" --backups "$BACKUPS" --catalog "postgresql://postgres@127.0.0.1:$PORT/$db" --phase fill
  as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" -qc "VACUUM ANALYZE" -c "CHECKPOINT"
  "$BENCH" --backups "$BACKUPS" --calls "$CALLS" --catalog "postgresql://postgres@127.0.0.1:$PORT/$db" \
    --phase measure
  # What bounds the PostgreSQL rows: the catalog's own round trip for the same statements,
  # measured by pgbench alone (one client; extended protocol as the catalog sends them today,
  # and prepared), with no API around it.
  echo "SELECT record FROM mdb_backups WHERE id = 'small-500';" > "$DIR/get.sql"
  echo "SELECT seq, created_ns, record FROM mdb_backups WHERE engine = 3 AND folder_id = 'small' \
AND (created_ns, seq) < (9223372036854775807, 9223372036854775807) \
ORDER BY created_ns DESC, seq DESC LIMIT 101;" > "$DIR/list.sql"
  chmod 0644 "$DIR"/*.sql
  for q in get list; do
    for mode in extended prepared; do
      printf 'pgbench %s (%s): ' "$q" "$mode"
      as_pg "$PGBIN/pgbench" -n -M "$mode" -c 1 -T 5 -f "$DIR/$q.sql" -h 127.0.0.1 -p "$PORT" \
        -U postgres "$db" 2>/dev/null | grep -E "latency average" || echo "failed"
    done
  done
done
