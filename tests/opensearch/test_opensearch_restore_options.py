"""Part of an OpenSearch backup (issue #19): some indices, under new names, with or without the
cluster-wide state (templates, pipelines), through our extension of the public restore request
(`restoreOptions`, field 100) and the CLI's flags for it."""
import os
import subprocess

import requests

from mdb_harness import CLI, start_server, wait_operation
from test_opensearch import BOOKS, backup, book, cluster, restore

HEADERS = {"Authorization": "Bearer writer-token-1"}


def indices(node):
    return sorted(i["index"] for i in node.req("GET", "/_cat/indices?format=json")
                  if not i["index"].startswith("."))


def test_some_indices_under_new_names_and_the_cluster_state(workdir, opensearch_factory):
    src, dst = opensearch_factory(), opensearch_factory()
    src.req("PUT", "/books", BOOKS)
    src.bulk("books", [(i, book(i)) for i in range(300)])
    src.req("PUT", "/logs-1", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    src.bulk("logs-1", [(i, {"msg": "event %d" % i}) for i in range(50)])
    src.req("PUT", "/_index_template/mdb-template",
            {"index_patterns": ["tmpl-*"], "template": {"settings": {"number_of_replicas": 0}}})
    src.req("PUT", "/_ingest/pipeline/mdb-pipeline",
            {"processors": [{"set": {"field": "copied", "value": 1}}]})
    dst.req("PUT", "/books", {"settings": {"number_of_replicas": 0}})  # the name is taken there
    server = start_server(workdir, cluster("os-src", src, src.repo_root / "mdb") +
                          cluster("os-dst", dst, dst.repo_root / "stage"))
    try:
        b = backup(server, "os-src")
        op = restore(server, b.id, "os-dst")  # all of it: `books` is in the way
        assert op.HasField("error") and "already has index 'books'" in op.error.message, op
        # Only `books`, renamed, without the cluster state (REST: our extension of the request).
        r = requests.post(server.rest + "/managed-opensearch/v1/clusters:restore", headers=HEADERS,
                          json={"backupId": b.id, "name": "os-dst", "folderId": "f1",
                                "networkId": "n1", "configSpec": {"version": "2.19"},
                                "restoreOptions": {"indices": ["books"], "renamePattern": "(.+)",
                                                   "renameReplacement": "restored-$1"}})
        assert r.status_code == 200, r.text
        op = wait_operation(server, r.json()["id"])
        assert not op.HasField("error"), op.error.message
        assert indices(dst) == ["books", "restored-books"], indices(dst)
        assert dst.count("restored-books") == 300 and dst.count("books") == 0
        assert dst.req("GET", "/_index_template/mdb-template", ok=False).get("status") == 404
        # The CLI: the logs, with the cluster-wide state.
        env = dict(os.environ, MDB_BACKUP_ENDPOINT=server.rest, MDB_BACKUP_TOKEN="writer-token-1")
        done = subprocess.run([str(CLI), "backup", "restore", "--engine", "opensearch", b.id,
                               "--to", "os-dst", "--indices", "logs-*,-nothing", "--global-state",
                               "--wait"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert indices(dst) == ["books", "logs-1", "restored-books"], indices(dst)
        assert dst.count("logs-1") == 50
        assert "mdb-template" in dst.req("GET", "/_index_template/mdb-template")["index_templates"][0]["name"]
        assert "mdb-pipeline" in dst.req("GET", "/_ingest/pipeline/mdb-pipeline")
        # A selection that matches nothing, or a bad pattern, is the caller's mistake.
        bad = subprocess.run([str(CLI), "backup", "restore", "--engine", "opensearch", b.id,
                              "--to", "os-dst", "--indices", "nothing-*", "--wait"],
                             env=env, capture_output=True, text=True)
        assert bad.returncode != 0 and "selects none" in bad.stdout + bad.stderr, bad.stdout + bad.stderr
        # Engines restored whole refuse the flags before calling the server.
        redis = subprocess.run([str(CLI), "backup", "restore", "--engine", "redis", "x", "--to",
                                "y", "--indices", "a"], env=env, capture_output=True, text=True)
        assert redis.returncode != 0 and "restored whole" in redis.stderr, redis.stderr
    finally:
        server.stop()
