"""MongoDB backups end to end through the official SDK: two FerretDB servers as two shards, one
of them with an oplog, backed up and restored into fresh servers."""
import threading
import time

import grpc
from yandex.cloud.mdb.mongodb.v1 import backup_pb2 as mg_b
from yandex.cloud.mdb.mongodb.v1 import backup_service_pb2 as mg_bs, backup_service_pb2_grpc as mg_bsg
from yandex.cloud.mdb.mongodb.v1 import cluster_service_pb2 as mg_cs, cluster_service_pb2_grpc as mg_csg

from mdb_harness import sharded_cluster, start_server, wait_operation
from mongo_harness import fill

WRITER = [("authorization", "Bearer writer-token-1")]


def backup(server, cluster_id):
    op = server.client(mg_csg.ClusterServiceStub).Backup(
        mg_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
    meta = mg_cs.BackupClusterMetadata()
    assert op.metadata.Unpack(meta) and meta.cluster_id == cluster_id
    op = wait_operation(server, op)
    # MongoDB's BackupClusterMetadata has no backup id: the newest backup of the cluster is it.
    lst = server.client(mg_csg.ClusterServiceStub).ListBackups(
        mg_cs.ListClusterBackupsRequest(cluster_id=cluster_id), metadata=WRITER)
    return op, (max(lst.backups, key=lambda b: b.created_at.ToNanoseconds()).id if lst.backups else None)


def restore(server, backup_id, target):
    op = server.client(mg_csg.ClusterServiceStub).Restore(
        mg_cs.RestoreClusterRequest(backup_id=backup_id, name=target, environment=1, folder_id="f1",
                                    config_spec=mg_cs.ConfigSpec(version="6.0"),
                                    host_specs=[mg_cs.HostSpec(zone_id="z")]), metadata=WRITER)
    return wait_operation(server, op)


def get(server, backup_id):
    return server.client(mg_bsg.BackupServiceStub).Get(mg_bs.GetBackupRequest(backup_id=backup_id),
                                                       metadata=WRITER)


def test_two_shards_backup_and_restore_are_exact(workdir, mongo_factory):
    a, b = mongo_factory("rs0"), mongo_factory()
    fill(a, 3000, "shop")
    fill(b, 1500, "crm")
    ra, rb = mongo_factory(), mongo_factory()
    server = start_server(workdir, sharded_cluster("mg", [a.address, b.address], "mongodb", ["rs01", "rs02"]) +
                          sharded_cluster("mg-restored", [ra.address, rb.address], "mongodb", ["rs01", "rs02"]))
    try:
        want_a, want_b = a.snapshot(), b.snapshot()
        assert len(want_a) == 4 and want_a["shop.orders"]["count"] == 3000
        before = time.time()
        op, backup_id = backup(server, "mg")
        assert op.WhichOneof("result") == "response", op.error
        bk = get(server, backup_id)
        assert list(bk.source_shard_names) == ["rs01", "rs02"]
        assert bk.type == mg_b.Backup.MANUAL and bk.source_cluster_id == "mg"
        assert before - 1 <= bk.started_at.seconds <= bk.created_at.seconds <= time.time() + 1
        assert bk.size > 0
        # No writes during the dump: the oplog window is empty, and so is the journal.
        assert bk.journal_size == 0
        op = restore(server, backup_id, "mg-restored")
        assert op.WhichOneof("result") == "response", op.error
        assert ra.snapshot() == want_a
        assert rb.snapshot() == want_b
        # A restore never merges into data: the targets are not empty any more.
        op = restore(server, backup_id, "mg-restored")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        assert "restore only into an empty server" in op.error.message
    finally:
        server.stop()


def test_writes_during_the_backup_are_replayed_from_the_oplog(workdir, mongo_factory):
    """A writer inserts numbered documents and moves a counter to the last number, one after the
    other. The restored shard must hold an unbroken prefix 0..k of the documents and counter = k:
    one consistent point, although the two collections were read at different times."""
    src = mongo_factory("rs0")
    big = src.client.bulk.data
    big.insert_many([{"_id": i, "pad": "p" * 2000} for i in range(40000)])  # makes the dump last
    src.client.app.counter.insert_one({"_id": "c", "n": -1})
    dst = mongo_factory()
    server = start_server(workdir, sharded_cluster("w", [src.address], "mongodb", ["rs01"]) +
                          sharded_cluster("w-restored", [dst.address], "mongodb", ["rs01"]))
    stop = threading.Event()
    written = [0]

    def write():
        n = 0
        while not stop.is_set():
            src.client.app.seq.insert_one({"_id": n, "at": time.time()})
            src.client.app.counter.update_one({"_id": "c"}, {"$set": {"n": n}})
            if n % 10 == 5:
                src.client.app.seq.delete_one({"_id": n - 5})
                src.client.app.seq.insert_one({"_id": n - 5, "again": True})
            n += 1
            written[0] = n
    t = threading.Thread(target=write)
    t.start()
    try:
        time.sleep(0.5)
        op, backup_id = backup(server, "w")
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    try:
        assert op.WhichOneof("result") == "response", op.error
        bk = get(server, backup_id)
        assert bk.journal_size > 0, "writes ran during the dump, so the oplog window is not empty"
        op = restore(server, backup_id, "w-restored")
        assert op.WhichOneof("result") == "response", op.error
        k = dst.client.app.counter.find_one({"_id": "c"})["n"]
        ids = sorted(d["_id"] for d in dst.client.app.seq.find())
        # The states the writer passes through, in order: seq 0..n with counter n-1 (just
        # inserted), seq 0..n with counter n, and every 10th step seq 0..n without n-5 (deleted,
        # not yet re-inserted). The restore must be exactly one of them.
        states = [list(range(k + 1)), list(range(k + 2))]
        if k % 10 == 5:
            states.append([i for i in range(k + 1) if i != k - 5])
        assert k >= 0 and ids in states, (k, ids[:5], ids[-5:], len(ids))
        assert k < written[0]
        assert dst.client.bulk.data.count_documents({}) == 40000
    finally:
        server.stop()


def test_a_dead_shard_fails_the_backup_and_leaves_nothing(workdir, mongo_factory):
    a = mongo_factory()
    fill(a, 500)
    server = start_server(workdir, sharded_cluster("mg", [a.address, "127.0.0.1:1"], "mongodb", ["rs01", "rs02"]))
    try:
        op, backup_id = backup(server, "mg")
        assert op.WhichOneof("result") == "error"
        assert op.error.code == grpc.StatusCode.UNAVAILABLE.value[0], op.error
        assert "rs02" in op.error.message and "127.0.0.1:1" in op.error.message
        lst = server.client(mg_csg.ClusterServiceStub).ListBackups(
            mg_cs.ListClusterBackupsRequest(cluster_id="mg"), metadata=WRITER)
        assert len(lst.backups) == 0
    finally:
        server.stop()
