"""MongoDB backups end to end through the official SDK: two FerretDB servers as two shards, one
of them with an oplog, backed up and restored into fresh servers.

Tests that act while an operation runs put a Proxy in front of the server it talks to and stall
it, so that the operation provably cannot end before the test has acted."""
import time

import bson
import grpc
from yandex.cloud.mdb.mongodb.v1 import backup_pb2 as mg_b
from yandex.cloud.mdb.mongodb.v1 import backup_service_pb2 as mg_bs, backup_service_pb2_grpc as mg_bsg
from yandex.cloud.mdb.mongodb.v1 import cluster_service_pb2 as mg_cs, cluster_service_pb2_grpc as mg_csg

from mdb_harness import Worker, operation_json, sharded_cluster, start_server, wait_operation, wait_running
from mongo_harness import fill

WRITER = [("authorization", "Bearer writer-token-1")]


def start_backup(server, cluster_id):
    op = server.client(mg_csg.ClusterServiceStub).Backup(
        mg_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
    meta = mg_cs.BackupClusterMetadata()
    assert op.metadata.Unpack(meta) and meta.cluster_id == cluster_id
    return op


def finish_backup(server, cluster_id, op):
    """Waits for the backup operation; returns it and the id of the backup it made (None if none)."""
    op = wait_operation(server, op)
    # MongoDB's BackupClusterMetadata has no backup id: the newest backup of the cluster is it.
    backups = list_backups(server, cluster_id)
    return op, (max(backups, key=lambda b: b.created_at.ToNanoseconds()).id if backups else None)


def backup(server, cluster_id):
    return finish_backup(server, cluster_id, start_backup(server, cluster_id))


def list_backups(server, cluster_id):
    return list(server.client(mg_csg.ClusterServiceStub).ListBackups(
        mg_cs.ListClusterBackupsRequest(cluster_id=cluster_id), metadata=WRITER).backups)


def start_restore(server, backup_id, target):
    return server.client(mg_csg.ClusterServiceStub).Restore(
        mg_cs.RestoreClusterRequest(backup_id=backup_id, name=target, environment=1, folder_id="f1",
                                    config_spec=mg_cs.ConfigSpec(version="6.0"),
                                    host_specs=[mg_cs.HostSpec(zone_id="z")]), metadata=WRITER)


def restore(server, backup_id, target):
    return wait_operation(server, start_restore(server, backup_id, target))


def insert_padded(coll, n, pad):
    """n documents {_id: i, pad: "p" * pad}; returns their BSON size, what a dump of them reads."""
    docs = [{"_id": i, "pad": "p" * pad} for i in range(n)]
    coll.insert_many(docs)
    return sum(len(bson.encode(d)) for d in docs)


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


def test_writes_during_the_backup_are_replayed_from_the_oplog(workdir, mongo_factory, proxy_factory):
    """A writer inserts numbered documents and moves a counter to the last number, one after the
    other, before, during and after the backup (the dump is held mid-way until the writer has
    written 20 more times). The restored shard must hold an unbroken prefix 0..k of the documents
    and counter = k: one consistent point, although the two collections were read at different
    times, and not the state after the backup."""
    src = mongo_factory("rs0")
    bulk_bytes = insert_padded(src.client.bulk.data, 40000, 2000)  # read after app.*
    src.client.app.counter.insert_one({"_id": "c", "n": -1})
    dst = mongo_factory()
    proxy = proxy_factory(src.address)
    server = start_server(workdir, sharded_cluster("w", [proxy.address], "mongodb", ["rs01"]) +
                          sharded_cluster("w-restored", [dst.address], "mongodb", ["rs01"]))

    def write(n):
        src.client.app.seq.insert_one({"_id": n, "at": time.time()})
        src.client.app.counter.update_one({"_id": "c"}, {"$set": {"n": n}})
        if n % 10 == 5:
            src.client.app.seq.delete_one({"_id": n - 5})
            src.client.app.seq.insert_one({"_id": n - 5, "again": True})
    writer = Worker(write, "writer").start()
    try:
        writer.wait_steps(10)
        op = start_backup(server, "w")
        wait_running(server, op)  # the oplog start is noted and the dump is under way
        proxy.hold()
        # Not all of bulk.data has reached the service: the dump has not ended, so the writes
        # from here on fall between the oplog start and the oplog end it will read after.
        assert proxy.bytes_to_client < bulk_bytes, (proxy.bytes_to_client, bulk_bytes)
        writer.wait_steps(writer.steps + 20)
        proxy.release()
        op, backup_id = finish_backup(server, "w", op)
        writer.wait_steps(writer.steps + 10)  # and writes after the backup, which it must not hold
    finally:
        proxy.release()
        written = writer.stop()
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
        assert k + 10 <= written  # not the state after the backup
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


def test_a_restored_collection_that_differs_from_the_backup_fails_with_data_loss(workdir, mongo_factory, proxy_factory):
    """The restore reads every collection back and compares its count and digest with the
    backup's. A document changed on the target while the collection loads (the restore is held in
    the middle of an insert batch, after document 0 is in) makes the restore fail with DATA_LOSS
    naming the collection: same count, different contents."""
    src = mongo_factory()
    count = 20000
    src.client.shop.orders.insert_many([{"_id": i, "name": "item-%05d" % i, "pad": "x" * 1000} for i in range(count)])
    dst = mongo_factory()
    proxy = proxy_factory(dst.address)
    server = start_server(workdir, sharded_cluster("mg", [src.address], "mongodb", ["rs01"]) +
                          sharded_cluster("mg-restored", [proxy.address], "mongodb", ["rs01"]))
    try:
        op, backup_id = backup(server, "mg")
        assert op.WhichOneof("result") == "response", op.error
        # Documents go in batches of a few MB: the one holding item-15000 stops half-sent, after
        # earlier batches are in, so the collection cannot have been read back yet.
        proxy.stall_after(b"item-%05d" % (count * 3 // 4), to_client=False)
        op = start_restore(server, backup_id, "mg-restored")
        proxy.wait_stalled()
        loaded = dst.client.shop.orders.count_documents({})
        assert 0 < loaded < count and dst.client.shop.orders.find_one({"_id": 0}), loaded
        assert dst.client.shop.orders.update_one({"_id": 0}, {"$set": {"name": "tampered"}}).modified_count == 1
        assert not operation_json(server, op).get("done")
        proxy.release()
        op = wait_operation(server, op)
        assert op.error.code == grpc.StatusCode.DATA_LOSS.value[0], op.error
        assert "'shop.orders'" in op.error.message and "same count, different contents" in op.error.message, op.error
    finally:
        proxy.release()
        server.stop()


def test_an_oplog_that_rolls_over_during_the_backup_fails_it(workdir, mongo_factory, proxy_factory):
    """The oplog keeps 100 entries. While the dump is held mid-way, 200 writes and FerretDB's
    capped-collection cleanup drop every entry up to the backup's oplog start: the writes of the
    window are partly gone, so the backup fails with FAILED_PRECONDITION naming the shard, and no
    backup is listed."""
    src = mongo_factory("rs0", oplog_max=100)
    bulk_bytes = insert_padded(src.client.bulk.data, 10000, 2000)
    src.roll_oplog()
    start = src.oplog_edge(newest=True)  # what the backup notes as its start: nothing is written until it has
    proxy = proxy_factory(src.address)
    server = start_server(workdir, sharded_cluster("mg", [proxy.address], "mongodb", ["rs01"]))
    try:
        op = start_backup(server, "mg")
        wait_running(server, op)
        proxy.hold()
        assert proxy.bytes_to_client < bulk_bytes, (proxy.bytes_to_client, bulk_bytes)  # the dump goes on
        src.client.app.events.insert_many([{"n": i} for i in range(200)])
        src.roll_oplog()
        assert src.oplog_edge(newest=False) > start  # the entries right after the start are gone
        proxy.release()
        op, backup_id = finish_backup(server, "mg", op)
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        assert "shard 'rs01'" in op.error.message and "oplog rolled over" in op.error.message, op.error
        assert backup_id is None
    finally:
        proxy.release()
        server.stop()
