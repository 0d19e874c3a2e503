#!/usr/bin/env bash
# bench/redis: a backup of one Redis shard (~994 MB in memory; a 141 MB RDB, as Redis compresses
# the values with LZF) by mdb-backupd, in one run side by side with the pipeline a user would
# otherwise run: redis-cli --rdb - | zstd -1 -T2. Reports time,
# stored size and the peak RSS of our process, and the restore time into an empty server.
# Usage: bench/redis/run.sh [KEYS]   (default 2,000,000 keys of 400 bytes)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${MDB_BUILD:-$ROOT/build}"
source "$ROOT/bench/lib.sh"
KEYS="${1:-2000000}"
W="$(mktemp -d /tmp/bench-redis.XXXXXX)"
PIDS=()
# Waits for the servers to exit: the next run uses the same ports.
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT
SRC=37379; DST=37380
for port in $SRC $DST; do
  mkdir -p "$W/r$port"
  redis-server --port $port --bind 127.0.0.1 --dir "$W/r$port" --save "" --appendonly no \
    --repl-diskless-sync-delay 0 --enable-debug-command yes >"$W/r$port.log" 2>&1 &
  PIDS+=($!)
done
for port in $SRC $DST; do
  for _ in $(seq 100); do redis-cli -p $port PING >/dev/null 2>&1 && break; sleep 0.1; done
done
# Values of mixed content (a counter, a hash and padding) so they compress as real data does.
redis-cli -p $SRC EVAL "for i=1,tonumber(ARGV[1]) do redis.call('SET','key:'..i, string.rep(redis.sha1hex(tostring(i)), 4)..string.rep('x', 240)) end" 0 "$KEYS" >/dev/null
echo "dataset: $(redis-cli -p $SRC DBSIZE) keys, used_memory $(redis-cli -p $SRC INFO memory | grep '^used_memory_human' | cut -d: -f2 | tr -d '\r')"

cat >"$W/config.yaml" <<YAML
server: {grpc_listen: "127.0.0.1:0", rest_listen: "127.0.0.1:0", catalog: catalog.db, repository: repo}
tokens: [{token: bench-token-1, read: [f], write: [f]}]
clusters:
  - {id: src, folder_id: f, engine: redis, hosts: ["127.0.0.1:$SRC"]}
  - {id: dst, folder_id: f, engine: redis, hosts: ["127.0.0.1:$DST"]}
YAML
start_mdbd "$W"
PIDS+=($SERVER)

# ABBA: the pipeline, ours, ours, the pipeline. Each snapshot is a fork of the same server, and
# which one runs first or second moved the ratio by ~10% (BENCHMARKS.md); the sums cancel that.
now() { date +%s.%N; }
# A step that fails says where (one run of four ended silently: set -e and redis-cli's stderr
# discarded).
trap 'echo "bench/redis: failed at line $LINENO" >&2' ERR
pipeline() {
  redis-cli -p $SRC --rdb - 2>"$W/rdb.err" | zstd -1 -T2 -q -c >"$W/peer.rdb.zst" ||
    { echo "redis-cli --rdb failed: $(cat "$W/rdb.err")" >&2; return 1; }
}
ours() { "$CLI" backup create --engine redis --cluster src --wait >/dev/null; }
a0=$(now); pipeline; a1=$(now)
ours; b1=$(now)
STORED=$(du -sb "$W/repo/packs" | cut -f1)  # the first backup's; the second dedups against it
b1s=$(now); ours; b2=$(now)
pipeline; a2=$(now)
t0=0; t1=$(python3 -c "print($a1-$a0+$a2-$b2)"); t2=$(python3 -c "print($t1+$b1-$a1+$b2-$b1s)")
ID="$("$CLI" --format json backup list --engine redis --cluster src | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)"
r0=$(now); "$CLI" backup restore --engine redis "$ID" --to dst --wait >/dev/null; r1=$(now)
t3=$(python3 -c "print($t2+$r1-$r0)")  # so that t3 - t2 is the restore
[ "$(redis-cli -p $SRC DEBUG DIGEST)" = "$(redis-cli -p $DST DEBUG DIGEST)" ] || { echo "restore differs" >&2; exit 1; }
RDB=$(zstd -lv "$W/peer.rdb.zst" 2>/dev/null | awk '/Decompressed Size/ {gsub(/[(),]/,""); for(i=1;i<=NF;i++) if ($i ~ /^[0-9]+$/ && $(i+1)=="B") print $i}' | tail -1)
peak_rss_kb >"$W/rss"  # peak RSS of mdb-backupd, KB
# The facts a backup records for drills (issue #18), counted from the same RDB by the backup's
# own path (tee into a pipe, CountRdbKeys on a thread): the CPU it adds, against the backup time.
zstd -d -q "$W/peer.rdb.zst" -o "$W/peer.rdb"
"$BUILD/bench/facts_bench" "$W/peer.rdb" >"$W/facts"
cat "$W/facts"
FACTS_CPU=$(awk '/^facts CPU/ {print $3}' "$W/facts")
rm -f "$W/peer.rdb"
python3 - "$t0" "$t1" "$t2" "$t3" "$(stat -c %s "$W/peer.rdb.zst")" "$STORED" "$(cat "$W/rss" 2>/dev/null || echo 0)" "${RDB:-0}" "${FACTS_CPU:-0}" <<'PY'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:5]); peer, ours, rss, rdb = map(int, sys.argv[5:9])
facts = float(sys.argv[9])
print(f"| step | mdb-backup | redis-cli --rdb - \\| zstd -1 -T2 | ratio |")
print(f"|---|---|---|---|")
print(f"| backup time, s (sum of two, ABBA) | {t2-t1:.2f} | {t1-t0:.2f} | {(t2-t1)/(t1-t0):.2f} |")
print(f"| stored, MB | {ours/1e6:.1f} | {peer/1e6:.1f} | {ours/peer:.2f} |")
print(f"| peak RSS of mdb-backupd, MB | {rss/1000:.0f} | | |")
print(f"| restore into an empty server, s | {t3-t2:.2f} | | |")
if rdb: print(f"RDB size: {rdb/1e6:.1f} MB")
print(f"| drill facts: CPU counting the RDB, s, share of our backup time | {facts:.3f} | | {facts/((t2-t1)/2):.3f} |")
PY
