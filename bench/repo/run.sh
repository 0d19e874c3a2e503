#!/usr/bin/env bash
# bench/repo: the repository's write path against the compression floor (zstd -1 -T2) and
# Debian's restic on one real input: a tar of a pgbench scale-100 PGDATA (~1.6 GB). Then a second
# backup after changing 1% of the data, and a restore. Prints a table for BENCHMARKS.md.
# Usage: bench/repo/run.sh [WORKDIR]   (needs ~8 GB free; installs postgresql-15 and restic)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${MDB_BUILD:-$ROOT/build}"
# A WORKDIR given is kept (its input tar is reused by the next run); one made here is removed
# at exit (11 GB each).
if [ -n "${1:-}" ]; then W="$1"; else W="$(mktemp -d /tmp/bench-repo.XXXXXX)"; trap 'rm -rf "$W"' EXIT; fi
CLI="$BUILD/src/cli/mdb-backup"
export LC_ALL=C
command -v restic >/dev/null && command -v /usr/lib/postgresql/15/bin/pg_ctl >/dev/null ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 restic >/dev/null; }
PGBIN=/usr/lib/postgresql/15/bin
mkdir -p "$W"
run_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else bash -c "$*"; fi; }
chmod 777 "$W"

# 1. The input: PGDATA of pgbench scale 100, as a tar (built once per WORKDIR).
if [ ! -f "$W/pgdata.tar" ]; then
  run_pg "$PGBIN/initdb -D $W/pgdata >/dev/null"
  run_pg "$PGBIN/pg_ctl -D $W/pgdata -o '-p 55432 -k $W -c listen_addresses=' -l $W/pg.log start >/dev/null"
  run_pg "$PGBIN/pgbench -h $W -p 55432 -i -s 100 -q postgres >/dev/null 2>&1"
  run_pg "$PGBIN/psql -h $W -p 55432 -c checkpoint postgres >/dev/null"
  run_pg "$PGBIN/pg_ctl -D $W/pgdata stop >/dev/null"
  tar -C "$W" -cf "$W/pgdata.tar" pgdata
  # The "1% changed" input: rewrite 1% of the tar's 8 KiB pages in place (scattered).
  cp "$W/pgdata.tar" "$W/pgdata-1pct.tar"
  python3 - "$W/pgdata-1pct.tar" <<'PY'
import os, random, sys
f = sys.argv[1]; size = os.path.getsize(f); pages = size // 8192
rng = random.Random(1)
with open(f, "r+b") as fh:
    for p in rng.sample(range(pages), pages // 100):
        fh.seek(p * 8192 + 64); fh.write(rng.randbytes(512))
PY
fi
IN="$W/pgdata.tar"; IN2="$W/pgdata-1pct.tar"
MB() { python3 -c "print(f'{$1/1e6:.1f}')"; }
SIZE=$(stat -c %s "$IN")
cat "$IN" "$IN2" >/dev/null  # warm the page cache for every contender alike

measure() {  # measure NAME CMD...: wall seconds and peak RSS (MB) of CMD
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/time.$name" "$@" >"$W/out.$name" 2>&1
  read -r secs kb <"$W/time.$name"
  printf '%s %s %s\n' "$name" "$secs" "$((kb / 1000))"
}

rm -rf "$W/mdb" "$W/restic" "$W/restore"
(umask 077; head -c 32 /dev/urandom >"$W/key")
printf 'x' >"$W/restic.pw"
export RESTIC_PASSWORD_FILE="$W/restic.pw"
"$CLI" repo --repo "$W/mdb" init --zstd-level 1 >/dev/null
restic init -r "$W/restic" >/dev/null 2>&1

echo "input: $(MB "$SIZE") MB ($IN)"
R1=$(measure zstd sh -c "zstd -1 -T2 -q -c '$IN' > '$W/in.zst'")
R2=$(measure mdb "$CLI" repo --repo "$W/mdb" backup --id full "$IN")
R3=$(measure restic restic backup -q -r "$W/restic" --compression auto "$IN")
S_ZSTD=$(stat -c %s "$W/in.zst")
S_MDB=$(du -sb "$W/mdb" | cut -f1)
S_RESTIC=$(du -sb "$W/restic" | cut -f1)
# Second backup after 1% of pages changed: bytes the repository grew by.
R4=$(measure mdb2 "$CLI" repo --repo "$W/mdb" backup --id incr "$IN2")
R5=$(measure restic2 restic backup -q -r "$W/restic" --compression auto "$IN2")
A_MDB=$(( $(du -sb "$W/mdb" | cut -f1) - S_MDB ))
A_RESTIC=$(( $(du -sb "$W/restic" | cut -f1) - S_RESTIC ))
# Each restore starts with no write-back left of the step before (sync, not timed). Ours returns
# once the file is on disk (fsync); restic returns with it in the page cache, so its row is
# followed by the sync that puts it there.
mkdir -p "$W/restore"
sync; R6=$(measure mdbr "$CLI" repo --repo "$W/mdb" restore full --to "$W/restore")
cmp "$W/restore/0" "$IN"
rm -rf "$W/restore"; mkdir -p "$W/restore"
sync; R7=$(measure resticr restic restore -q -r "$W/restic" latest --target "$W/restore")
R7S=$(measure resticsync sync)
R8=$(measure zstdd sh -c "zstd -d -T2 -q -c '$W/in.zst' > /dev/null")

row() { set -- $1; echo "$1 $2 $3"; }
t() { echo "$1" | cut -d' ' -f2; }
r() { echo "$1" | cut -d' ' -f3; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo
echo "| step | mdb-backup | zstd -1 -T2 | restic (auto) | mdb / zstd | mdb / restic |"
echo "|---|---|---|---|---|---|"
echo "| full backup, s | $(t "$R2") | $(t "$R1") | $(t "$R3") | $(ratio "$(t "$R2")" "$(t "$R1")") | $(ratio "$(t "$R2")" "$(t "$R3")") |"
echo "| stored, MB | $(MB "$S_MDB") | $(MB "$S_ZSTD") | $(MB "$S_RESTIC") | $(ratio "$S_MDB" "$S_ZSTD") | $(ratio "$S_MDB" "$S_RESTIC") |"
echo "| peak RSS, MB | $(r "$R2") | $(r "$R1") | $(r "$R3") | | |"
echo "| 2nd backup (1% of pages changed), s | $(t "$R4") | | $(t "$R5") | | $(ratio "$(t "$R4")" "$(t "$R5")") |"
echo "| 2nd backup added, MB | $(MB "$A_MDB") | | $(MB "$A_RESTIC") | | $(ratio "$A_MDB" "$((A_RESTIC>0?A_RESTIC:1))") |"
echo "| restore, s | $(t "$R6") | $(t "$R8") (decompress) | $(t "$R7") | | $(ratio "$(t "$R6")" "$(t "$R7")") |"
echo "| restore until on disk (restic: then sync), s | $(t "$R6") | | $(python3 -c "print(f'{$(t "$R7")+$(t "$R7S"):.2f}')") | | $(python3 -c "print(f'{$(t "$R6")/($(t "$R7")+$(t "$R7S")):.2f}')") |"
echo "| restore, MB/s | $(python3 -c "print(f'{$SIZE/1e6/$(t "$R6"):.0f}')") | | $(python3 -c "print(f'{$SIZE/1e6/$(t "$R7"):.0f}')") | | |"
echo "| restore peak RSS, MB | $(r "$R6") | | $(r "$R7") | | |"
