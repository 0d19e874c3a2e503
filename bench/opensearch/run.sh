#!/usr/bin/env bash
# bench/opensearch: a backup of one OpenSearch node (~1 GB of indexed documents) by mdb-backupd,
# in one run side by side with the snapshot API alone into an fs repository; then 1% more
# documents and a second backup (bytes it adds), and a restore into a fresh node.
# Usage: bench/opensearch/run.sh [DOCS]   (default 1,000,000 documents of ~1 KB)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${MDB_BUILD:-$ROOT/build}"
source "$ROOT/bench/lib.sh"
VENV="${MDB_CACHE:-$HOME/.cache/mdb-backup}/venv"
DOCS="${1:-1000000}"
W="$(mktemp -d /tmp/bench-opensearch.XXXXXX)"
SRC=39200; DST=39201
SERVER=""
PEER="$ROOT/scripts/peers/opensearch.sh"
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  bash "$PEER" stop "$W/src" >/dev/null 2>&1 || true
  bash "$PEER" stop "$W/dst" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
bash "$PEER" start "$W/src" $SRC
U="http://127.0.0.1:$SRC"
# ~1 KB documents of mixed content in two indices (2 shards each), like logs and orders.
"$VENV/bin/python" - "$U" "$DOCS" <<'PY'
import hashlib, json, sys, threading
import requests
url, n = sys.argv[1], int(sys.argv[2])
for index in ("logs", "orders"):
    requests.put(f"{url}/{index}", json={"settings": {"number_of_shards": 2, "number_of_replicas": 0,
                                                      "refresh_interval": "30s"}}).raise_for_status()
def work(part):
    s = requests.Session()
    for start in range(part * 1000, n, 2000):
        lines = []
        for i in range(start, min(n, start + 1000)):
            h = hashlib.sha1(str(i).encode()).hexdigest()
            index = "logs" if i % 3 else "orders"
            lines.append(json.dumps({"index": {"_index": index, "_id": str(i)}}))
            lines.append(json.dumps({"n": i, "user": "u%06d" % (i % 50000), "ref": h * 3, "level": ["info", "warn", "error"][i % 3],
                                     "msg": ("request %d served by node %d in %d ms; " % (i, i % 40, i % 997)) * 14}))
        r = s.post(f"{url}/_bulk", data="\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"})
        r.raise_for_status()
        assert not r.json()["errors"], r.text[:300]
threads = [threading.Thread(target=work, args=(p,)) for p in range(2)]
[t.start() for t in threads]; [t.join() for t in threads]
requests.post(f"{url}/_refresh").raise_for_status()
requests.post(f"{url}/_flush").raise_for_status()
PY
SNAPS="$W/src/snapshots"
echo "dataset: $(curl -s "$U/_cat/indices?h=index,docs.count,store.size&bytes=b" | tr '\n' ';')"
cat >"$W/config.yaml" <<YAML
server: {grpc_listen: "127.0.0.1:0", rest_listen: "127.0.0.1:0", catalog: catalog.db, repository: repo, automated_backups: false}
tokens: [{token: bench-token-1, read: [f], write: [f]}]
clusters:
  - {id: src, folder_id: f, engine: opensearch, hosts: [{address: "127.0.0.1:$SRC", repository_path: "$SNAPS/mdb"}]}
  - {id: dst, folder_id: f, engine: opensearch, hosts: [{address: "127.0.0.1:$DST", repository_path: "$W/dst/snapshots/stage"}]}
YAML
start_mdbd "$W"
newest() { "$CLI" --format json backup list --engine opensearch --cluster src | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4; }
field() { "$CLI" backup get --engine opensearch "$1" | grep -o "\"$2\":\"[0-9]*\"" | cut -d'"' -f4; }

curl -sf -XPUT "$U/_snapshot/plain" -H 'Content-Type: application/json' \
  -d "{\"type\":\"fs\",\"settings\":{\"location\":\"$SNAPS/plain\"}}" >/dev/null
t0=$(date +%s.%N)
curl -sf -XPUT "$U/_snapshot/plain/s1?wait_for_completion=true" >/dev/null
t1=$(date +%s.%N)
"$CLI" backup create --engine opensearch --cluster src --wait >/dev/null
t2=$(date +%s.%N)
FIRST="$(newest)"
# 1% more documents, then the second backup.
"$VENV/bin/python" - "$U" "$DOCS" <<'PY'
import json, sys, requests
url, n = sys.argv[1], int(sys.argv[2])
lines = []
for i in range(n, n + n // 100):
    lines.append(json.dumps({"index": {"_index": "logs", "_id": str(i)}}))
    lines.append(json.dumps({"n": i, "msg": ("late request %d; " % i) * 40}))
    if len(lines) >= 2000:
        requests.post(f"{url}/_bulk", data="\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"}).raise_for_status()
        lines = []
if lines:
    requests.post(f"{url}/_bulk", data="\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"}).raise_for_status()
requests.post(f"{url}/_refresh").raise_for_status()
requests.post(f"{url}/_flush").raise_for_status()
PY
t3=$(date +%s.%N)
"$CLI" backup create --engine opensearch --cluster src --wait >/dev/null
t4=$(date +%s.%N)
SECOND="$(newest)"
bash "$PEER" start "$W/dst" $DST
t5=$(date +%s.%N)
"$CLI" backup restore --engine opensearch "$SECOND" --to dst --wait >/dev/null
t6=$(date +%s.%N)
for index in logs orders; do
  a=$(curl -s "$U/$index/_count" | grep -o '"count":[0-9]*'); b=$(curl -s "http://127.0.0.1:$DST/$index/_count" | grep -o '"count":[0-9]*')
  [ "$a" = "$b" ] || { echo "restore differs for $index: $a vs $b" >&2; exit 1; }
done
RSS=$(peak_rss_kb)
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$t6" "$(du -sb "$SNAPS/plain" | cut -f1)" \
  "$(field "$FIRST" incrementalSizeBytes)" "$(field "$SECOND" incrementalSizeBytes)" \
  "$(field "$FIRST" totalSizeBytes)" "$RSS" <<'PY'
import sys
t = list(map(float, sys.argv[1:8])); plain, first, second, total, rss = map(int, sys.argv[8:13])
print(f"| step | mdb-backup | snapshot API to an fs repository | ratio |")
print(f"|---|---|---|---|")
print(f"| first backup, s | {t[2]-t[1]:.2f} | {t[1]-t[0]:.2f} | {(t[2]-t[1])/(t[1]-t[0]):.2f} |")
print(f"| first backup, stored MB | {first/1e6:.1f} | {plain/1e6:.1f} | {first/plain:.2f} |")
print(f"| second backup (+1% documents), s | {t[4]-t[3]:.2f} | | |")
print(f"| second backup, MB added | {second/1e6:.2f} | | {second/first:.3f} of the first |")
print(f"| restore into a fresh node, s | {t[6]-t[5]:.2f} | | |")
print(f"| peak RSS of mdb-backupd, MB | {rss/1000:.0f} | | |")
print(f"snapshot total size (OpenSearch's count): {total/1e6:.0f} MB")
PY
