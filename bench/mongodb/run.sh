#!/usr/bin/env bash
# bench/mongodb: a backup of one MongoDB-protocol server (FerretDB, ~1 GB of BSON documents) by
# mdb-backupd, in one run side by side with the read floor: a plain libmongoc find of every
# document into /dev/null. Reports both times, the stored size, the restore time into an empty
# server and the peak RSS of our process.
# Usage: bench/mongodb/run.sh [DOCS]   (default 1,400,000 documents: ~1 GB of BSON)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${MDB_BUILD:-$ROOT/build}"
source "$ROOT/bench/lib.sh"
VENV="${MDB_CACHE:-$HOME/.cache/mdb-backup}/venv"
DOCS="${1:-1400000}"
W="$(mktemp -d /tmp/bench-mongodb.XXXXXX)"
SRC=37017; DST=37018
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  bash "$ROOT/scripts/peers/ferretdb.sh" stop "$W/src" >/dev/null 2>&1 || true
  bash "$ROOT/scripts/peers/ferretdb.sh" stop "$W/dst" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
bash "$ROOT/scripts/peers/ferretdb.sh" start "$W/src" $SRC 2>/dev/null
bash "$ROOT/scripts/peers/ferretdb.sh" start "$W/dst" $DST 2>/dev/null
# Documents of mixed content (numbers, dates, a hash-like string, repetitive text) so that they
# compress as real data does; two databases, three collections.
"$VENV/bin/python" - "$SRC" "$DOCS" <<'PY'
import datetime, hashlib, sys
import pymongo
c = pymongo.MongoClient("127.0.0.1", int(sys.argv[1]), directConnection=True)
n = int(sys.argv[2])
base = datetime.datetime(2026, 1, 1)
targets = [c.shop.orders, c.shop.events, c.crm.customers]
for start in range(0, n, 2000):
    batch = []
    for i in range(start, min(n, start + 2000)):
        h = hashlib.sha1(str(i).encode()).hexdigest()
        batch.append({"_id": i, "customer": "c-%06d" % (i % 50000), "at": base + datetime.timedelta(seconds=i),
                      "amount": (i % 100000) / 100.0, "qty": i % 17, "ref": h * 4,
                      "note": ("order %d shipped to warehouse %d; " % (i, i % 40)) * 12,
                      "tags": ["t%d" % (i % 7), "t%d" % (i % 11)]})
    targets[(start // 2000) % 3].insert_many(batch, ordered=False)
PY
cat >"$W/config.yaml" <<YAML
server: {grpc_listen: "127.0.0.1:0", rest_listen: "127.0.0.1:0", catalog: catalog.db, repository: repo, automated_backups: false}
tokens: [{token: bench-token-1, read: [f], write: [f]}]
clusters:
  - {id: src, folder_id: f, engine: mongodb, hosts: ["127.0.0.1:$SRC"]}
  - {id: dst, folder_id: f, engine: mongodb, hosts: ["127.0.0.1:$DST"]}
YAML
start_mdbd "$W"

t0=$(date +%s.%N)
"$BUILD/bench/mongo_read_floor" "127.0.0.1:$SRC" >/dev/null 2>"$W/floor.txt"
t1=$(date +%s.%N)
"$CLI" backup create --engine mongodb --cluster src --wait >/dev/null
t2=$(date +%s.%N)
ID="$("$CLI" --format json backup list --engine mongodb --cluster src | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)"
RSS_BACKUP=$(peak_rss_kb)
"$CLI" backup restore --engine mongodb "$ID" --to dst --wait >/dev/null
t3=$(date +%s.%N)
"$BUILD/bench/mongo_read_floor" "127.0.0.1:$DST" 2>"$W/restored.txt" >/dev/null
[ "$(grep '^read' "$W/floor.txt")" = "$(grep '^read' "$W/restored.txt")" ] ||
  { echo "restore differs: $(grep '^read' "$W/floor.txt") vs $(grep '^read' "$W/restored.txt")" >&2; exit 1; }
RSS=$(peak_rss_kb)
BYTES=$(grep '^read' "$W/floor.txt" | grep -o '[0-9]* bytes' | cut -d' ' -f1)
python3 - "$t0" "$t1" "$t2" "$t3" "$(du -sb "$W/repo/packs" | cut -f1)" "$RSS" "$BYTES" "$RSS_BACKUP" <<'PY'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:5]); stored, rss, data, rss_backup = map(int, sys.argv[5:9])
print(f"dataset: {data/1e6:.0f} MB of BSON")
print(f"| step | mdb-backup | libmongoc find -> /dev/null (read floor) | ratio |")
print(f"|---|---|---|---|")
print(f"| backup time, s | {t2-t1:.2f} | {t1-t0:.2f} | {(t2-t1)/(t1-t0):.2f} |")
print(f"| stored, MB | {stored/1e6:.1f} | | {stored/data:.2f} of the BSON |")
print(f"| peak RSS of mdb-backupd after the backup, MB | {rss_backup/1000:.0f} | | |")
print(f"| peak RSS of mdb-backupd after the restore, MB | {rss/1000:.0f} | | |")
print(f"| restore into an empty server (incl. verify + indexes), s | {t3-t2:.2f} | | |")
PY
