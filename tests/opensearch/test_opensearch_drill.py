"""Restore drills of OpenSearch backups (issue #18): into a node mdb-backupd starts itself
(`local`, from the configured OpenSearch home), or into a declared scratch node, emptied before and
after; each restored index's documents checked against the count the backup recorded. A good backup
passes; damaged repository data fails and says what; a local drill leaves nothing behind."""
import pathlib
import subprocess

import requests

from mdb_harness import damage_largest_pack, drill_leftovers, drills_dir, start_server, wait_operation
from opensearch_harness import PEER
from test_opensearch import BOOKS, backup, book

WRITER = {"Authorization": "Bearer writer-token-1"}


def drill(server, backup_id, target):
    r = requests.post(server.rest + "/mdb-backup/v1/backups/%s:drill" % backup_id, headers=WRITER,
                      json={"target": target})
    assert r.status_code == 200, r.text
    return wait_operation(server, r.json()["id"])


def verification(server):
    r = requests.get(server.rest + "/mdb-backup/v1/clusters/os-src/verifications", headers=WRITER)
    assert r.status_code == 200, r.text
    return r.json()["backups"][0]["verification"]


def passes(server, backup_id, target, checked):
    """A drill of `backup_id` into `target` passes, is recorded, and checked `checked`."""
    op = drill(server, backup_id, target)
    assert not op.HasField("error"), op.error.message
    v = verification(server)
    assert v["ok"] is True and v["target"] == target, v
    assert checked in v["checked"], v


def test_drills_into_a_scratch_node(workdir, opensearch_factory):
    src, scratch = opensearch_factory(), opensearch_factory()
    src.req("PUT", "/books", BOOKS)
    src.bulk("books", [(i, book(i)) for i in range(3000)])
    src.req("PUT", "/logs", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    src.bulk("logs", [(i, {"msg": "event %d" % i}) for i in range(700)])
    scratch.req("PUT", "/left-over", {"settings": {"number_of_replicas": 0}})  # a restore refuses none
    server = start_server(workdir, (
        "  - id: os-src\n    folder_id: f1\n    engine: opensearch\n    hosts:\n"
        "      - {address: \"%s\", repository_path: \"%s\"}\n"
        "  - id: os-scratch\n    folder_id: f1\n    engine: opensearch\n    scratch: true\n    hosts:\n"
        "      - {address: \"%s\", repository_path: \"%s\"}\n")
        % (src.address, src.repo_root / "mdb", scratch.address, scratch.repo_root / "stage"))
    try:
        b = backup(server, "os-src")
        passes(server, b.id, "os-scratch", "2 indices with 3700 documents as the backup recorded")
        left = [i["index"] for i in scratch.req("GET", "/_cat/indices?format=json")]
        assert [i for i in left if not i.startswith(".")] == [], left
        damage_largest_pack(server)
        op = drill(server, b.id, "os-scratch")
        assert op.HasField("error"), op
        v = verification(server)
        assert not v.get("ok") and "chunk" in v["message"], v
    finally:
        server.stop()


def test_a_local_drill_starts_a_node_of_its_own_and_leaves_nothing(workdir, opensearch_factory):
    src = opensearch_factory()
    src.req("PUT", "/books", BOOKS)
    src.bulk("books", [(i, book(i)) for i in range(1000)])
    work_dir = drills_dir(workdir)
    home = pathlib.Path(workdir) / "opensearch-home"  # as a distribution's: bin/opensearch
    made = subprocess.run(["bash", str(PEER), "home", str(home)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    server = start_server(workdir, (
        "  - id: os-src\n    folder_id: f1\n    engine: opensearch\n    hosts:\n"
        "      - {address: \"%s\", repository_path: \"%s\"}\n") % (src.address, src.repo_root / "mdb"),
        server_extra="  drills: {work_dir: \"%s\", binaries: {opensearch: \"%s\"}}\n"
        % (work_dir, home))
    try:
        b = backup(server, "os-src")
        passes(server, b.id, "local", "1 indices with 1000 documents as the backup recorded")
        assert drill_leftovers(work_dir) == []
        damage_largest_pack(server)
        op = drill(server, b.id, "local")
        assert op.HasField("error"), op
        v = verification(server)
        assert not v.get("ok") and "chunk" in v["message"], v
        assert drill_leftovers(work_dir) == []
    finally:
        server.stop()
