"""The console's clusters page with 1,000 declared Redis clusters (each with two backups in the
catalog), in Debian's headless Chromium: the time from navigation to the table of 1,000 rows
(window.mdbClustersRendered), to every row's details filled (window.mdbClustersFilled: two API
calls per cluster, six at a time), and the bytes the page transferred (the console's files and
/openapi.json; API replies counted apart). Usage: MDB_BUILD=build python3 bench/console/render.py"""
import json
import pathlib
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests/harness"))
from browser_harness import chromium, wait_for  # noqa: E402
from mdb_harness import Server, many_redis_clusters  # noqa: E402

CLUSTERS = 1000


def main():
    with tempfile.TemporaryDirectory() as d:
        s = Server(d)
        many_redis_clusters(s, CLUSTERS)
        s.import_records([{"id": "b%04d-%d" % (i, day), "engine": "REDIS", "folderId": "f1", "clusterId": "c%04d" % i,
                           "startedAt": "2026-11-%dT01:00:00Z" % day, "createdAt": "2026-11-%dT01:05:00Z" % day,
                           "type": "AUTOMATED", "sourceShardNames": ["c%04d" % i]}
                          for i in range(CLUSTERS) for day in (20, 21)])
        s.start()
        try:
            with chromium() as b:
                b.get(s.rest + "/console/")
                b.execute_script("sessionStorage.setItem('mdb.token', 'reader-token-1');"
                                 "sessionStorage.setItem('mdb.folder', 'f1')")
                rendered, filled = [], []
                for _ in range(5):
                    b.get(s.rest + "/console/?run")  # a fresh page load each time
                    wait_for(b, lambda b: b.execute_script("return window.mdbClustersFilled"), "filled", 300)
                    assert len(b.find_elements("css selector", "#clusters tbody tr")) == CLUSTERS
                    rendered.append(b.execute_script("return window.mdbClustersRendered"))
                    filled.append(b.execute_script("return window.mdbClustersFilled"))
                    sizes = b.execute_script(
                        "return performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
                        ".map(e => [e.name, e.encodedBodySize])")
                ui = sum(n for name, n in sizes if "/console" in name or name.endswith("/openapi.json"))
                api = sum(n for name, n in sizes if "/managed-" in name)
                print(json.dumps({"clusters": CLUSTERS, "table_rendered_ms_median": round(statistics.median(rendered)),
                                  "details_filled_ms_median": round(statistics.median(filled)),
                                  "console_transfer_bytes": ui, "api_reply_bytes": api}))
        finally:
            s.stop()


if __name__ == "__main__":
    main()
