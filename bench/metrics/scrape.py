"""/metrics with 1,000 declared clusters, each with backups in the catalog (their gauges seeded at
start), after API calls of every method: the time of a scrape over HTTP keep-alive, beside the
empty call on the same listener (GET /healthz), with no cluster event since the last scrape and
right after one (a backup of one cluster that failed: its server is unreachable).
Usage: MDB_BUILD=build python3 bench/metrics/scrape.py"""
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests/harness"))
from mdb_harness import Server, many_redis_clusters  # noqa: E402

CLUSTERS = 1000


def timed(conn, path, token, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        body = r.read()
        out.append(time.perf_counter() - t)
        assert r.status == 200, (r.status, body[:200])
    return out, len(body)


def main():
    with tempfile.TemporaryDirectory() as d:
        s = Server(d)
        many_redis_clusters(s, CLUSTERS, '{token: metrics-token-1, subject: prom, read: ["*"]}')
        records = []
        for i in range(CLUSTERS):
            for day, method in ((20, "BASE"), (21, "BASE")):
                records.append({"id": "b%04d-%d" % (i, day), "engine": "REDIS", "folderId": "f1",
                                "clusterId": "c%04d" % i, "startedAt": "2026-11-%dT01:00:00Z" % day,
                                "createdAt": "2026-11-%dT01:05:00Z" % day, "type": "AUTOMATED",
                                "method": method, "size": "1000000", "sourceShardNames": ["c%04d" % i]})
        s.import_records(records)
        s.start()
        try:
            host = s.rest.split("//")[1]
            conn = http.client.HTTPConnection(host)
            for i in range(0, CLUSTERS, 10):  # API series: Get and List of several clusters
                conn.request("GET", "/managed-redis/v1/clusters/c%04d/backups" % i,
                             headers={"Authorization": "Bearer writer-token-1"})
                conn.getresponse().read()
            timed(conn, "/metrics", "metrics-token-1", 20)  # warm up
            scrape, size = timed(conn, "/metrics", "metrics-token-1", 200)
            empty, _ = timed(conn, "/healthz", "metrics-token-1", 200)
            after_event = []
            for k in range(41):
                conn.request("POST", "/managed-redis/v1/clusters/c%04d:backup" % (k * 7),
                             headers={"Authorization": "Bearer writer-token-1"})
                op = json.loads(conn.getresponse().read())["id"]
                while True:  # its end is the event: mdb_backups_total{code="UNAVAILABLE"} of the cluster
                    conn.request("GET", "/operations/" + op, headers={"Authorization": "Bearer writer-token-1"})
                    if json.loads(conn.getresponse().read()).get("done"):
                        break
                    time.sleep(0.01)
                after_event += timed(conn, "/metrics", "metrics-token-1", 1)[0]
            med_s, med_e = statistics.median(scrape) * 1e3, statistics.median(empty) * 1e3
            p99 = sorted(scrape)[int(len(scrape) * 0.99) - 1] * 1e3
            print(json.dumps({"clusters": CLUSTERS, "exposition_bytes": size, "scrape_ms_median": round(med_s, 2),
                              "scrape_ms_p99": round(p99, 2), "healthz_ms_median": round(med_e, 3),
                              "ratio": round(med_s / med_e, 1),
                              "after_event_ms_median": round(statistics.median(after_event) * 1e3, 2),
                              "after_event_ms_max": round(max(after_event) * 1e3, 2)}))
        finally:
            s.stop()


if __name__ == "__main__":
    main()
