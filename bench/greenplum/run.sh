#!/usr/bin/env bash
# bench/greenplum: a full backup of one PostgreSQL 15 segment (pgbench scale 100) by mdb-backupd,
# side by side in one run with Debian's pgBackRest (zstd level 1, 2 processes), then a restore by
# each into an empty directory. mdb-backup streams over the replication protocol (no file access
# on the database host); pgBackRest reads the data directory directly.
# Both checkpoint fast (pgBackRest start-fast=y, BASE_BACKUP CHECKPOINT fast).
# Usage: bench/greenplum/run.sh [SCALE]   (installs postgresql-15, pgbackrest and zstd if missing)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${MDB_BUILD:-$ROOT/build}"
source "$ROOT/bench/lib.sh"
SCALE="${1:-100}"
PGBIN=/usr/lib/postgresql/15/bin
command -v pgbackrest >/dev/null && command -v zstd >/dev/null && [ -x $PGBIN/initdb ] ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 pgbackrest zstd >/dev/null; }
W="$(mktemp -d /tmp/bench-gp.XXXXXX)"; chmod 755 "$W"
PORT=45432
as_pg() { runuser -u postgres -- "$@"; }
mkdir -p "$W/pg" "$W/pgbr" "$W/r1" "$W/r2" && chown postgres:postgres "$W/pg" "$W/pgbr" "$W/r1" "$W/r2"
chmod 700 "$W/r1" "$W/r2"
cleanup() { kill "${SAMPLER:-}" 2>/dev/null || true; as_pg $PGBIN/pg_ctl -D "$W/pg/data" -m immediate stop >/dev/null 2>&1 || true; kill %1 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
as_pg $PGBIN/initdb -D "$W/pg/data" -A trust -U postgres >/dev/null
cat >>"$W/pg/data/postgresql.conf" <<CONF
archive_mode = on
archive_command = 'pgbackrest --config=$W/pgbr/pgbackrest.conf --stanza=bench archive-push %p'
CONF
cat >"$W/pgbr/pgbackrest.conf" <<CONF
[global]
repo1-path=$W/pgbr/repo
compress-type=zst
compress-level=1
process-max=2
start-fast=y
repo1-retention-full=9999
log-level-console=error
log-path=$W/pgbr
lock-path=$W/pgbr
[bench]
pg1-path=$W/pg/data
pg1-port=$PORT
pg1-socket-path=$W/pg
CONF
chown postgres:postgres "$W/pgbr/pgbackrest.conf"
as_pg $PGBIN/pg_ctl -D "$W/pg/data" -w -l "$W/pg/log" -o "-p $PORT -k $W/pg -c listen_addresses=127.0.0.1" start >/dev/null
as_pg $PGBIN/pgbench -h 127.0.0.1 -p $PORT -i -s "$SCALE" -q postgres >/dev/null 2>&1
as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
# Let the archiver push the WAL backlog of the load first: pgBackRest's backup waits for its own
# WAL to be archived, and timing the backlog would not be a fair backup time.
as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --archive-timeout=600 check >/dev/null
echo "database: $(as_pg $PGBIN/psql -h 127.0.0.1 -p $PORT -AtX -c "SELECT pg_size_pretty(pg_database_size('postgres'))" postgres)"

cat >"$W/config.yaml" <<YAML
server: {grpc_listen: "127.0.0.1:0", rest_listen: "127.0.0.1:0", catalog: catalog.db, repository: repo, automated_backups: false}
tokens: [{token: bench-token-1, read: [f], write: [f]}]
clusters:
  - {id: gp, folder_id: f, engine: greenplum, hosts: [{address: "127.0.0.1:$PORT", wal_archive: "off"}]}
  - {id: gp2, folder_id: f, engine: greenplum, hosts: [{address: "127.0.0.1:$PORT", wal_archive: "off"}]}
  - {id: target, folder_id: f, engine: greenplum, hosts: [{address: "127.0.0.1:1", data_dir: "$W/r1"}]}
YAML
start_mdbd "$W"

t() { date +%s.%N; }
# CPU seconds of one process (utime + stime), and of the whole machine (busy = all but idle and
# iowait, /proc/stat): the rest is the walsender, the checkpointer, the archiver and whatever
# else ran beside our backup.
cpu_s() { awk -v tk="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/tk}' "/proc/$1/stat"; }
busy_s() { awk -v tk="$(getconf CLK_TCK)" '/^cpu / {printf "%.2f", ($2+$3+$4+$7+$8)/tk}' /proc/stat; }
psql_pg() { as_pg $PGBIN/psql -h 127.0.0.1 -p $PORT -AtX -q -c "$1" postgres; }
# Untimed: the load's dirty buffers are written here, not by the first timed step's checkpoint.
psql_pg "CHECKPOINT"
# The floor of any backup over the replication protocol: the walsender's stream alone, asked for
# as ours asks (WAL true, WAIT false: -X fetch; no backup manifest). With -X none pg_basebackup
# also waits until the server has archived the last WAL segment, which the server checks once a
# second: 0.8 s more in one run (2.83 against 2.00 s). The archiver is a no-op for this one step,
# so that no archive-push shares the two cores with it; the check after it, untimed, archives
# what the floor left before pgBackRest's backup starts.
psql_pg "ALTER SYSTEM SET archive_command = 'true'" && psql_pg "SELECT pg_reload_conf()" >/dev/null
fb0=$(busy_s); f0=$(t); as_pg $PGBIN/pg_basebackup -h 127.0.0.1 -p $PORT -D - -Ft -X fetch --no-manifest -c fast >/dev/null; f1=$(t)
export FLOOR_BUSY; FLOOR_BUSY=$(python3 -c "print($(busy_s) - $fb0)")
# The stream compressed as a user would without a backup tool: through zstd -1 into a file. What
# the floor's two cores have left for compression shows in the CPU rows (BENCHMARKS.md).
export ZPIPE_S ZPIPE_BUSY ZPIPE_BYTES
zb0=$(busy_s); z0=$(t)
as_pg $PGBIN/pg_basebackup -h 127.0.0.1 -p $PORT -D - -Ft -X fetch --no-manifest -c fast | zstd -1 -T2 -q >"$W/stream.tar.zst"
ZPIPE_S=$(python3 -c "print($(t) - $z0)"); ZPIPE_BUSY=$(python3 -c "print($(busy_s) - $zb0)")
ZPIPE_BYTES=$(stat -c %s "$W/stream.tar.zst"); rm -f "$W/stream.tar.zst"
psql_pg "ALTER SYSTEM RESET archive_command" && psql_pg "SELECT pg_reload_conf()" >/dev/null
as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --archive-timeout=600 check >/dev/null
# The full backups in ABBA order (pgBackRest, ours, ours, pgBackRest), compared by their sums:
# run once each, ours took 1.97 s before pgBackRest's and 2.29 s right after it on one database.
# Our second is of cluster gp2, the same database under a chain of its own (so a BASE backup too),
# whose frames are mostly stored already: it writes only what changed since (the row after the
# sums says how much), where pgBackRest's second full writes all of it again.
t0=$(t); as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --type=full backup >/dev/null; t1=$(t)
S_FULL_PGBR=$(du -sb "$W/pgbr/repo/backup" | cut -f1)
# MDB_PERF=backup: profile mdb-backupd during its full backup (timed from after perf started).
t1b=$t1
[ "${MDB_PERF:-}" = backup ] && { perf record -F 499 -g -p "$SERVER" -o "$W/perf.data" >/dev/null 2>&1 & PERF=$!; sleep 0.5; t1b=$(t); }
c0s=$(cpu_s "$SERVER"); c0b=$(busy_s)
"$CLI" backup create --engine greenplum --cluster gp --wait >/dev/null; t2=$(t)
CPU_OURS=$(python3 -c "print($(cpu_s "$SERVER") - $c0s)"); CPU_ALL=$(python3 -c "print($(busy_s) - $c0b)")
[ "${MDB_PERF:-}" = backup ] && { kill -INT $PERF; wait $PERF || true; { perf report -i "$W/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v "^#" | grep "%" | head -12 || true; }; perf report -i "$W/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -v "^#" | grep "%" | head -25 || true; }
ID="$("$CLI" --format json backup list --engine greenplum --cluster gp | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)"
RSS_FULL=$(peak_rss_kb)
S_FULL_MDB=$(du -sb "$W/repo/packs" | cut -f1)
a0=$(t); "$CLI" backup create --engine greenplum --cluster gp2 --wait >/dev/null; a1=$(t)
S_GP2=$(( $(du -sb "$W/repo/packs" | cut -f1) - S_FULL_MDB ))
as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --type=full backup >/dev/null; a2=$(t)
S_PGBR2=$(( $(du -sb "$W/pgbr/repo/backup" | cut -f1) - S_FULL_PGBR ))
# MDB_PERF=1: profile mdb-backupd during its restore (perf record; the top of the report is printed).
[ -n "${MDB_PERF:-}" ] && [ "$MDB_PERF" != backup ] && { perf record -F 499 -g -p "$SERVER" -o "$W/perf.data" >/dev/null 2>&1 & PERF=$!; sleep 0.5; }
# Each restore starts with no write-back left of the step before (sync, not timed): otherwise the
# kernel's dirty-page limit charges one tool's writes to the next.
# The restore is sampled every 50 ms for the bytes the server has written so far (wchar in
# /proc/<pid>/io): the end of its data splits the restore into writing and what came after it
# (the final fsyncs: the device's flush). The server writes a little more after the flush (log
# lines, the catalog), so the end is the first sample within 1 MiB of the final count.
sample_wchar() {
  local k v w
  while [ -d "/proc/$SERVER" ]; do
    while read -r k v; do [ "$k" = wchar: ] && w=$v; done <"/proc/$SERVER/io"
    echo "${EPOCHREALTIME/,/.} $w"
    sleep 0.05
  done
}
sync; sample_wchar >"$W/wchar" & SAMPLER=$!
t3=$(t); "$CLI" backup restore --engine greenplum "$ID" --to target --wait >/dev/null; t4=$(t)
kill $SAMPLER; wait $SAMPLER 2>/dev/null || true
DATA_END=$(awk '{t[NR]=$1; w[NR]=$2} END{for(i=1;i<NR&&w[NR]-w[i]>=1048576;i++); print (NR?t[i]:0)}' "$W/wchar")
[ "$DATA_END" != 0 ] || DATA_END=$t4
[ -n "${MDB_PERF:-}" ] && [ "$MDB_PERF" != backup ] && { kill -INT $PERF; wait $PERF || true; perf report -i "$W/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -v "^#" | grep "%" | head -25 || true; }
sync; t4b=$(t); as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --pg1-path="$W/r2" restore >/dev/null; t5=$(t)
# Ours returns once the restored files are on disk (one syncfs); how long the kernel still needs
# after pgBackRest returns says whether its row is the same thing.
sync; t5s=$(t)
RSS_RESTORE=$(peak_rss_kb)
# The device's floor for the restore: as many bytes as it wrote, written by dd around the cache in
# 1 MiB blocks (not zeros, which a thin virtual disk may treat specially), then synced. Hosts
# differ here by 2.5x (BENCHMARKS.md), which the ratios alone would not show.
RMB=$(( $(du -sm "$W/r1" | cut -f1) ))
sync; d0=$(t); (yes mdb-backup-device-floor || true) | dd of="$W/devfloor" bs=1M count="$RMB" iflag=fullblock oflag=direct conv=fsync status=none; d1=$(t)
rm -f "$W/devfloor"
# And written behind (the restore's own way, io/write_behind.h): each 1 MiB block's write-back
# started at once, waited for and dropped from the cache 16 MiB behind, then fsync'd.
sync; d2=$(t); python3 - "$W/devfloor" "$RMB" "$W/floor-fsync" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
sfr = libc.sync_file_range
sfr.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
step, window = 1 << 20, 16 << 20
block = (b"mdb-backup-device-floor\n" * (step // 24 + 1))[:step]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
dropped = 0
for i in range(int(sys.argv[2])):
    os.pwrite(fd, block, i * step)
    sfr(fd, i * step, step, 2)  # SYNC_FILE_RANGE_WRITE
    while (i + 1) * step - dropped > window:
        sfr(fd, dropped, step, 7)  # WAIT_BEFORE | WRITE | WAIT_AFTER
        os.posix_fadvise(fd, dropped, step, os.POSIX_FADV_DONTNEED)
        dropped += step
import time
written = time.time()
os.fsync(fd)
os.close(fd)
print(f"{time.time() - written:.2f}", file=open(sys.argv[3], "w"))  # the fsync's share
PY
d3=$(t); rm -f "$W/devfloor"
# A restore drill of the same backup (issue #18): the restore into a throwaway directory, the
# segment's recovery by a postgres of its own, the relation list, and pg_amcheck of every page.
sync; td0=$(t); "$CLI" backup drill "$ID" --wait >/dev/null; td1=$(t)
"$CLI" --format json cluster drills gp | grep -q '"ok":true' || { echo "the drill did not pass" >&2; exit 1; }
grep -o "drill of backup .*" "$W/server.log" | tail -1  # where the drill's time went
RSS_DRILL=$(peak_rss_kb)
S_MDB=$(du -sb "$W/repo/packs" | cut -f1); S_PGBR=$(du -sb "$W/pgbr/repo/backup" | cut -f1)
# Incremental: 20 s of pgbench, then an incremental backup by each (ours is INCREMENTAL by the
# chain policy: the second backup of the chain). Stored bytes = what each repository grew by.
as_pg $PGBIN/pgbench -h 127.0.0.1 -p $PORT -c 2 -T 20 postgres >/dev/null 2>&1
as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --archive-timeout=600 check >/dev/null
t6=$(t); as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --type=incr backup >/dev/null; t7=$(t)
"$CLI" backup create --engine greenplum --cluster gp --wait >/dev/null; t8=$(t)
"$CLI" --format json backup list --engine greenplum --cluster gp | grep -q '"method":"INCREMENTAL"' || { echo "second backup is not INCREMENTAL" >&2; exit 1; }
grep "relation pages changed" "$W/server.log" || true
I_MDB=$(( $(du -sb "$W/repo/packs" | cut -f1) - S_MDB )); I_PGBR=$(( $(du -sb "$W/pgbr/repo/backup" | cut -f1) - S_PGBR ))
RSS=$(peak_rss_kb)
# The common daily change (issue #20): 1% of pgbench_accounts' rows, chosen at random, updated;
# then an incremental by each. The pages it changed are found by comparing the data files
# before and after (both after a checkpoint); zstd -1 of those pages alone is the floor of what
# an incremental can store.
ROWS=$((100000 * SCALE))
psql_pg "CHECKPOINT"
cp -a "$W/pg/data/base" "$W/base-before"
psql_pg "UPDATE pgbench_accounts SET abalance = abalance + 1
         WHERE aid IN (SELECT 1 + (random() * ($ROWS - 1))::int FROM generate_series(1, $ROWS / 100))"
psql_pg "CHECKPOINT"
CHANGED=$(python3 "$ROOT/bench/greenplum/changed_pages.py" "$W/base-before" "$W/pg/data/base")
rm -rf "$W/base-before"
as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --archive-timeout=600 check >/dev/null
S2_MDB=$(du -sb "$W/repo/packs" | cut -f1); S2_PGBR=$(du -sb "$W/pgbr/repo/backup" | cut -f1)
t9=$(t); as_pg pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench --type=incr backup >/dev/null; t10=$(t)
"$CLI" backup create --engine greenplum --cluster gp --wait >/dev/null; t11=$(t)
grep "relation pages changed" "$W/server.log" | tail -1 || true
J_MDB=$(( $(du -sb "$W/repo/packs" | cut -f1) - S2_MDB )); J_PGBR=$(( $(du -sb "$W/pgbr/repo/backup" | cut -f1) - S2_PGBR ))
RSS_END=$(peak_rss_kb)
# Passed as sums from 0: t1 = pgBackRest's two, t2 - t1 = ours.
P1=$(python3 -c "print($t1-$t0)"); P2=$(python3 -c "print($a2-$a1)")
O1=$(python3 -c "print($t2-$t1b)"); O2=$(python3 -c "print($a1-$a0)")
python3 - 0 "$(python3 -c "print($P1+$P2)")" "$(python3 -c "print($P1+$P2+$O1+$O2)")" "$t3" "$t4" "$t5" "$S_MDB" "$S_PGBR" "$RSS" "$t6" "$t7" "$t8" "$I_MDB" "$I_PGBR" "$RSS_FULL" "$RSS_RESTORE" "$f0" "$f1" "$td0" "$td1" "$t4b" "$t9" "$t10" "$t11" "$J_MDB" "$J_PGBR" $CHANGED "$t5s" "$RSS_DRILL" "$RSS_END" "$d0" "$d1" "$RMB" "$d2" "$d3" "$O1" "$O2" "$P1" "$P2" "$S_FULL_MDB" "$S_FULL_PGBR" "$S_GP2" "$S_PGBR2" "$CPU_OURS" "$CPU_ALL" "$DATA_END" "$(cat "$W/floor-fsync")" <<'PY'
import sys
cpu_ours, cpu_all = map(float, sys.argv[45:47]); data_end, floor_fsync = map(float, sys.argv[47:49])
o1, o2, p1, p2 = map(float, sys.argv[37:41]); full_ours, full_peer, gp2, peer2 = map(int, sys.argv[41:45])
d0, d1, rmb = float(sys.argv[32]), float(sys.argv[33]), int(sys.argv[34])
d2, d3 = float(sys.argv[35]), float(sys.argv[36])
t5s = float(sys.argv[29]); rss_drill, rss_end = int(sys.argv[30]), int(sys.argv[31])
t9, t10, t11 = map(float, sys.argv[22:25]); j_ours, j_peer, changed_pages, changed_zst = map(int, sys.argv[25:29])
t0, t1, t2, t3, t4, t5 = map(float, sys.argv[1:7]); ours, peer, rss = map(int, sys.argv[7:10])
t6, t7, t8 = map(float, sys.argv[10:13]); incr_ours, incr_peer, rss_full, rss_restore = map(int, sys.argv[13:17])
f0, f1, td0, td1, t4b = map(float, sys.argv[17:22])
print("| step | mdb-backup | pgBackRest 2.45 | ratio |")
print("|---|---|---|---|")
print(f"| full backup, s (sum of two, ABBA) | {t2-t1:.2f} | {t1-t0:.2f} | {(t2-t1)/(t1-t0):.2f} |")
print(f"| ... each, s (pgBackRest first and last) | {o1:.2f}, {o2:.2f} | {p1:.2f}, {p2:.2f} | {o1/p1:.2f}, {o2/p2:.2f} |")
print(f"| ... stored by each, MB (our second: what the first had not) | {full_ours/1e6:.1f}, {gp2/1e6:.1f} | {full_peer/1e6:.1f}, {peer2/1e6:.1f} | |")
print(f"| (floor: pg_basebackup -Ft -X fetch --no-manifest to /dev/null, s; the mean of ours / it) | {f1-f0:.2f} | | {(t2-t1)/2/(f1-f0):.2f} |")
print(f"| CPU in our first full backup, s: mdb-backupd + the rest of the machine (the walsender...); share of 2 cores busy | {cpu_ours:.2f} + {cpu_all-cpu_ours:.2f} | | {cpu_all/2/o1:.2f} |")
env = __import__("os").environ
floor_busy, zs, zbusy, zbytes = (float(env[k]) for k in ("FLOOR_BUSY", "ZPIPE_S", "ZPIPE_BUSY", "ZPIPE_BYTES"))
print(f"| (floor: CPU of the whole machine, s; share of 2 cores busy) | {floor_busy:.2f} | | {floor_busy/2/(f1-f0):.2f} |")
print(f"| (pg_basebackup of the same \\| zstd -1 -T2 into a file, s; MB; CPU of the machine, s; the mean of ours / it) | {zs:.2f}; {zbytes/1e6:.1f} MB; {zbusy:.2f} | | {(t2-t1)/2/zs:.2f} |")
print(f"| stored, MB | {full_ours/1e6:.1f} | {full_peer/1e6:.1f} | {full_ours/full_peer:.2f} |")
print(f"| restore, s | {t4-t3:.2f} | {t5-t4b:.2f} | {(t4-t3)/(t5-t4b):.2f} |")
print(f"| restore until on disk (pgBackRest: then sync), s | {t4-t3:.2f} | {t5s-t4b:.2f} | {(t4-t3)/(t5s-t4b):.2f} |")
print(f"| (floor: the restore's {rmb} MB written by dd oflag=direct, then synced, s) | {d1-d0:.2f} | | {(d1-d0)/(t5s-t4b):.2f} |")
print(f"| (floor: the same written behind, then synced, s; our restore's ratio to it) | {d3-d2:.2f} | | {(t4-t3)/(d3-d2):.2f} |")
print(f"| ... writing, then after the data's end (ours) or in the fsync (the floor, with Python's start), s | ours {data_end-t3:.2f}, {t4-data_end:.2f}; floor {d3-d2-floor_fsync:.2f}, {floor_fsync:.2f} | | |")
print(f"| restore drill (restore, recovery, pg_amcheck), s, ratio to our restore | {td1-td0:.2f} | | {(td1-td0)/(t4-t3):.2f} |")
print(f"| incremental after 20 s of pgbench, s | {t8-t7:.2f} | {t7-t6:.2f} | {(t8-t7)/(t7-t6):.2f} |")
print(f"| incremental, stored MB | {incr_ours/1e6:.2f} | {incr_peer/1e6:.2f} | {incr_ours/max(incr_peer,1):.2f} |")
print(f"| 1% of rows updated at random: changed pages (zstd -1 of them alone, MB) | {changed_pages} ({changed_zst/1e6:.2f}) | | |")
print(f"| incremental after the 1% update, s | {t11-t10:.2f} | {t10-t9:.2f} | {(t11-t10)/(t10-t9):.2f} |")
print(f"| incremental after the 1% update, stored MB | {j_ours/1e6:.2f} | {j_peer/1e6:.2f} | {j_ours/max(j_peer,1):.2f} |")
print(f"| ... stored, ratio to zstd -1 of the changed pages | {j_ours/max(changed_zst,1):.2f} | | |")
print(f"| peak RSS of mdb-backupd after the full backup, MB | {rss_full/1000:.0f} | | |")
print(f"| ... after the restore, MB | {rss_restore/1000:.0f} | | |")
print(f"| ... after the drill, MB | {rss_drill/1000:.0f} | | |")
print(f"| ... after the first incremental, MB | {rss/1000:.0f} | | |")
print(f"| ... after the 1% incremental (the whole sequence), MB | {rss_end/1000:.0f} | | |")
PY
kill $SERVER
