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
  "$BENCH" --backups "$BACKUPS" --calls "$CALLS" --catalog "postgresql://postgres@127.0.0.1:$PORT/$db"
done
