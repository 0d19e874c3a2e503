"""OpenSearch backups end to end through the official SDK: snapshots of a real node while it
indexes, a second backup that stores little, restores into a fresh node, deletion through
ClusterService.DeleteBackup that frees the data, and links in the snapshot directory not followed."""
import os
import time

import grpc
from yandex.cloud.mdb.opensearch.v1 import backup_service_pb2 as os_bs, backup_service_pb2_grpc as os_bsg
from yandex.cloud.mdb.opensearch.v1 import cluster_service_pb2 as os_cs, cluster_service_pb2_grpc as os_csg

from mdb_harness import Worker, start_server, wait_operation

WRITER = [("authorization", "Bearer writer-token-1")]

BOOKS = {
    "settings": {"number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": "5s",
                 "analysis": {"analyzer": {"folded": {"type": "custom", "tokenizer": "standard",
                                                      "filter": ["lowercase", "asciifolding"]}}}},
    "mappings": {"dynamic": "strict", "properties": {
        "title": {"type": "text", "analyzer": "folded"}, "year": {"type": "integer"},
        "isbn": {"type": "keyword"}, "price": {"type": "scaled_float", "scaling_factor": 100}}},
    "aliases": {"library": {}},
}


def cluster(cluster_id, node, stage):
    return ("  - id: %s\n    folder_id: f1\n    engine: opensearch\n    hosts:\n"
            "      - {address: \"%s\", repository_path: \"%s\"}\n" % (cluster_id, node.address, stage))


def book(i):
    return {"title": "Book número %d" % i, "year": 1900 + i % 120, "isbn": "isbn-%07d" % i,
            "price": (i % 5000) / 100.0}


def backup(server, cluster_id):
    op = server.client(os_csg.ClusterServiceStub).Backup(
        os_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
    op = wait_operation(server, op)
    assert op.WhichOneof("result") == "response", op.error
    lst = server.client(os_csg.ClusterServiceStub).ListBackups(
        os_cs.ListClusterBackupsRequest(cluster_id=cluster_id), metadata=WRITER)
    return max(lst.backups, key=lambda b: b.created_at.ToNanoseconds())


def restore(server, backup_id, target):
    op = server.client(os_csg.ClusterServiceStub).Restore(
        os_cs.RestoreClusterRequest(backup_id=backup_id, name=target, folder_id="f1", network_id="n1",
                                    config_spec=os_cs.ConfigCreateSpec(version="2.19")), metadata=WRITER)
    return wait_operation(server, op)


def dir_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def assert_live_is_a_prefix(node, low, high):
    """Index `live` of `node` holds exactly the documents {"n": i} for i < some k, low <= k <= high
    (what an Indexer had acknowledged at some moment between two readings): returns k."""
    k = node.count("live")
    assert low <= k <= high, (low, k, high)
    below = node.req("POST", "/live/_count", {"query": {"range": {"n": {"lt": k}}}})["count"]
    assert below == k, (below, k)  # ids are n: k documents, all below k, are 0..k-1
    for i in range(0, k, max(1, k // 50)):
        assert node.doc("live", i) == {"n": i}
    return k


def test_backup_while_indexing_then_restore_into_a_fresh_node(workdir, opensearch_factory):
    """A backup taken while documents are indexed holds every document acknowledged before it
    started, and a consistent prefix of the ones indexed while it ran; a second backup stores
    little; each restores into a fresh node with mappings, settings, aliases and documents."""
    src, dst = opensearch_factory(), opensearch_factory()
    src.req("PUT", "/books", BOOKS)
    src.req("PUT", "/logs", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    for start in range(0, 20000, 2000):
        src.bulk("books", [(i, book(i)) for i in range(start, start + 2000)])
    src.bulk("logs", [(i, {"msg": "event %d" % i, "level": "info"}) for i in range(3000)])
    src.req("PUT", "/live", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    server = start_server(workdir, cluster("os-src", src, src.repo_root / "mdb") +
                          cluster("os-dst", dst, dst.repo_root / "stage"))
    bulk = 200

    def index(i):  # documents {"n": n} under id n, in order, during the backup
        src.bulk("live", [(n, {"n": n}) for n in range(i * bulk, (i + 1) * bulk)])
    indexer = Worker(index, "indexer").start()
    try:
        acked_before = indexer.wait_steps(1) * bulk
        before = time.time()
        first = backup(server, "os-src")
        acked_after = indexer.steps * bulk
    finally:
        acked = indexer.stop() * bulk
    try:
        # Two bulks acknowledged since the reading before: the second ran wholly during the backup.
        assert acked_after >= acked_before + 2 * bulk, "nothing was indexed while the backup ran"
        assert set(first.indices) >= {"books", "logs", "live"}
        assert first.indices_total == len(first.indices)
        assert first.opensearch_version == "2.19.1"
        assert before - 1 <= first.started_at.seconds <= first.created_at.seconds <= time.time() + 1
        assert 0 < first.size_bytes and 0 < first.total_size_bytes
        assert first.incremental_size_bytes > 0
        assert first.free_space_required_bytes > first.total_size_bytes
        # 1% more books, a second backup: only the new segments are new.
        src.bulk("books", [(i, book(i)) for i in range(20000, 20200)])
        src.req("POST", "/books/_refresh")
        second = backup(server, "os-src")
        assert second.incremental_size_bytes <= 0.1 * first.incremental_size_bytes, (second, first)
        # The cluster's own snapshot storage holds only the newest snapshot.
        snaps = src.req("GET", "/_snapshot/mdb-backup/_all")["snapshots"]
        assert [s["snapshot"] for s in snaps] == ["mdb-" + second.id.lower()]

        # The first backup: the books and logs of then, and the live documents acknowledged
        # before it started, plus a prefix of those indexed while it ran.
        op = restore(server, first.id, "os-dst")
        assert op.WhichOneof("result") == "response", op.error
        assert (dst.count("books"), dst.count("logs")) == (20000, 3000)
        assert_live_is_a_prefix(dst, acked_before, acked_after)
        # Nothing is merged into a node that already has the indices.
        op = restore(server, second.id, "os-dst")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        assert "already has index" in op.error.message
        assert not (dst.repo_root / "stage").exists() or not any((dst.repo_root / "stage").iterdir())

        # The second backup, into the node emptied: everything the source has.
        dst.req("DELETE", "/books,logs,live")
        op = restore(server, second.id, "os-dst")
        assert op.WhichOneof("result") == "response", op.error
        for index in ("books", "logs", "live"):
            assert dst.count(index) == src.count(index)
            assert dst.index_shape(index) == src.index_shape(index)
        for i in range(0, 20200, 997):
            assert dst.doc("books", i) == book(i)
        assert_live_is_a_prefix(dst, acked, acked)
        # The staged files and their temporary repository are gone.
        assert not any((dst.repo_root / "stage").iterdir())
        assert not [r for r in dst.req("GET", "/_snapshot/_all") if r.startswith("mdb-restore-")]
    finally:
        server.stop()


def test_delete_backup_frees_its_data(workdir, opensearch_factory):
    src = opensearch_factory()
    src.req("PUT", "/books", BOOKS)
    for start in range(0, 10000, 2000):
        src.bulk("books", [(i, book(i)) for i in range(start, start + 2000)])
        src.req("POST", "/books/_refresh")  # one segment per batch: the force merge below rewrites them
    server = start_server(workdir, cluster("os-src", src, src.repo_root / "mdb"))
    repo = workdir / "mdb" / "repository"
    try:
        first = backup(server, "os-src")
        # New segment files: the old ones are then unique to `first`.
        src.req("POST", "/books/_forcemerge?max_num_segments=1")
        src.bulk("books", [(i, book(i)) for i in range(10000, 10100)])
        second = backup(server, "os-src")
        full = dir_size(repo)
        clusters = server.client(os_csg.ClusterServiceStub)
        for b in (first, second):
            op = clusters.DeleteBackup(os_cs.DeleteBackupRequest(cluster_id="os-src", backup_id=b.id),
                                       metadata=WRITER)
            meta = os_cs.DeleteBackupMetadata()
            assert op.metadata.Unpack(meta) and meta.backup_id == b.id
            op = wait_operation(server, op)
            assert op.WhichOneof("result") == "response", op.error
            try:
                server.client(os_bsg.BackupServiceStub).Get(os_bs.GetBackupRequest(backup_id=b.id),
                                                            metadata=WRITER)
                raise AssertionError("deleted backup still listed")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND
            if b is first:
                after_first = dir_size(repo)
                assert after_first < full * 0.8, (after_first, full)  # its unique segments are gone
        assert dir_size(repo) < full * 0.05
    finally:
        server.stop()


def test_symlinks_in_the_snapshot_directory_are_not_followed(workdir, opensearch_factory):
    """The cluster's snapshot directory is writable by the nodes: links planted there (to a file,
    to a directory, at the top and in a shard's directory) are skipped, not followed: the backup
    succeeds and the linked secret is nowhere in the service's repository, so no restore can carry
    it."""
    src = opensearch_factory()
    src.req("PUT", "/books", BOOKS)
    src.bulk("books", [(i, book(i)) for i in range(2000)])
    outside = workdir / "outside"
    outside.mkdir()
    secret = os.urandom(1 << 20)  # incompressible: a copy of it would be stored verbatim
    (outside / "secret").write_bytes(secret)
    stage = src.repo_root / "mdb"
    server = start_server(workdir, cluster("os-src", src, stage))
    repo = workdir / "mdb" / "repository"
    try:
        backup(server, "os-src")  # registers the repository: its directory now exists
        index_dir = next(p for p in (stage / "indices").iterdir() if p.is_dir())
        links = {stage / "secret": outside / "secret",
                 stage / "secrets": outside,
                 index_dir / "0" / "secret": outside / "secret"}  # ("__*" there is pruned by OpenSearch)
        for link, target in links.items():
            link.symlink_to(target)
        src.bulk("books", [(i, book(i)) for i in range(2000, 2100)])
        second = backup(server, "os-src")
        # The links were there when the files were copied (OpenSearch left them alone).
        assert all(link.is_symlink() for link in links), [str(l) for l in links if not l.is_symlink()]
        assert second.size_bytes < len(secret)
        pieces = [secret[off:off + 512] for off in range(4096, len(secret), len(secret) // 16)]
        for path in (p for p in repo.rglob("*") if p.is_file()):
            data = path.read_bytes()
            assert not any(piece in data for piece in pieces), "the secret is in %s" % path
    finally:
        server.stop()
