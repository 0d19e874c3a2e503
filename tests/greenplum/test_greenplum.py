"""Greenplum engine end to end through the official SDK: a coordinator and a segment (PostgreSQL
15), a BASE backup of both under pgbench load, and a restore into fresh data directories that then
start and hold the same data."""
import threading
import time

from yandex.cloud.mdb.greenplum.v1 import backup_pb2 as gp_b
from yandex.cloud.mdb.greenplum.v1 import backup_service_pb2 as gp_bs, backup_service_pb2_grpc as gp_bsg
from yandex.cloud.mdb.greenplum.v1 import cluster_pb2 as gp_c
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from pg_harness import Postgres, postgres_dir
from mdb_harness import sharded_cluster, start_server, wait_operation, wait_running

WRITER = [("authorization", "Bearer writer-token-1")]
CHECK = "SELECT count(*), sum(abalance), sum(bbalance) FROM pgbench_accounts, (SELECT sum(bbalance) AS bbalance FROM pgbench_branches) b"



def gp1(coordinator, segment):
    return sharded_cluster("gp1", [coordinator.address, segment.address], engine="greenplum",
                           names=["coordinator", "seg0"])


def wait_op(server, op, timeout=300):
    return wait_operation(server, op, timeout=timeout)


def test_base_backup_of_every_segment_and_restore(workdir, pg_factory):
    coordinator, segment = pg_factory(), pg_factory()
    for pg, scale in [(coordinator, 1), (segment, 2)]:
        pg.pgbench("-i", "-s", scale, "-q")
    dirs = [postgres_dir(workdir, "restored-coordinator"), postgres_dir(workdir, "restored-seg0")]
    server = start_server(workdir, gp1(coordinator, segment) + """  - id: gp-restored
    folder_id: f1
    engine: greenplum
    shards:
      - {name: coordinator, hosts: [{address: "127.0.0.1:1", data_dir: "%s"}]}
      - {name: seg0, hosts: [{address: "127.0.0.1:2", data_dir: "%s"}]}
""" % (dirs[0], dirs[1]))
    stop = threading.Event()

    def load():  # pgbench writes on the coordinator during the backup
        while not stop.is_set():
            coordinator.pgbench("-c", "2", "-T", "1")
    t = threading.Thread(target=load)
    t.start()
    try:
        op = server.client(gp_csg.ClusterServiceStub).Backup(
            gp_cs.BackupClusterRequest(cluster_id="gp1"), metadata=WRITER)
        meta = gp_cs.BackupClusterMetadata()
        assert op.metadata.Unpack(meta) and meta.cluster_id == "gp1" and meta.backup_id
        op = wait_op(server, op)
        stop.set()
        t.join()
        assert op.WhichOneof("result") == "response", op.error
        b = server.client(gp_bsg.BackupServiceStub).Get(gp_bs.GetBackupRequest(backup_id=meta.backup_id),
                                                         metadata=WRITER)
        assert b.method == gp_b.Backup.BASE and b.type == gp_b.Backup.MANUAL
        assert b.size > 1_000_000 and b.started_at.seconds <= b.created_at.seconds
        # The segment is idle: its restore must match it exactly now.
        expected_segment = segment.sql(CHECK)
        op = server.client(gp_csg.ClusterServiceStub).Restore(
            gp_cs.RestoreClusterRequest(backup_id=b.id, folder_id="f1", name="gp-restored",
                                        environment=gp_c.Cluster.PRODUCTION, network_id="local"),
            metadata=WRITER)
        op = wait_op(server, op)
        assert op.WhichOneof("result") == "response", op.error
        restored = [pg_factory(data_dir=d) for d in dirs]
        assert restored[1].sql(CHECK) == expected_segment
        count = int(restored[0].sql("SELECT count(*) FROM pgbench_accounts"))
        assert count == 100000  # the coordinator's rows, consistent (pgbench only updates)
        wait_recovered(restored[0])  # promoted: a new timeline
        # A restore never overwrites: the target directories are no longer empty.
        op = wait_op(server, server.client(gp_csg.ClusterServiceStub).Restore(
            gp_cs.RestoreClusterRequest(backup_id=b.id, folder_id="f1", name="gp-restored",
                                        environment=gp_c.Cluster.PRODUCTION, network_id="local"),
            metadata=WRITER))
        assert "not empty" in op.error.message
    finally:
        stop.set()
        t.join()
        server.stop()


def test_a_segment_that_dies_mid_backup_fails_it_and_leaves_nothing(workdir, pg_factory):
    coordinator, segment = pg_factory(), pg_factory()
    segment.pgbench("-i", "-s", "15", "-q")  # ~230 MB: the backup takes a moment
    server = start_server(workdir, gp1(coordinator, segment))
    try:
        op = server.client(gp_csg.ClusterServiceStub).Backup(
            gp_cs.BackupClusterRequest(cluster_id="gp1"), metadata=WRITER)
        wait_running(server, op)
        segment.stop()  # immediate shutdown: the walsender dies mid-stream
        op = wait_op(server, op)
        assert op.WhichOneof("result") == "error"
        assert "seg0" in op.error.message, op.error.message
        lst = server.client(gp_csg.ClusterServiceStub).ListBackups(
            gp_cs.ListClusterBackupsRequest(cluster_id="gp1"), metadata=WRITER)
        assert len(lst.backups) == 0
    finally:
        server.stop()


def wait_recovered(pg, timeout=60):
    """A restored server replays WAL to its target, then promotes itself."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pg.sql("SELECT pg_is_in_recovery()") == "f":
            return
        time.sleep(0.2)
    raise AssertionError("restored server still in recovery after %d s" % timeout)


def restored_cluster(cluster_id, dirs):
    shards = "".join('      - {name: %s, hosts: [{address: "127.0.0.1:1", data_dir: "%s", wal_archive: "off"}]}\n'
                     % (name, d) for name, d in zip(["coordinator", "seg0", "seg1"], dirs))
    return "  - id: %s\n    folder_id: f1\n    engine: greenplum\n    shards:\n%s" % (cluster_id, shards)


def test_incremental_then_point_in_time_restore_between_two_batches(workdir, pg_factory):
    """Coordinator + 2 segments. BASE, then INCREMENTAL after pgbench writes; both restore. Then two
    committed batches with a moment T between them: the restore to T holds exactly the first."""
    shards = [pg_factory() for _ in range(3)]
    for pg in shards:
        pg.pgbench("-i", "-s", "2", "-q")
        pg.sql("CREATE TABLE batches (batch int, n int)")
    targets = {name: [postgres_dir(workdir, "%s-%d" % (name, i)) for i in range(3)]
               for name in ("base", "incr", "pitr", "late")}
    server = start_server(workdir, sharded_cluster("gp3", [p.address for p in shards], engine="greenplum",
                                                   names=["coordinator", "seg0", "seg1"]) +
                          "".join(restored_cluster("gp-" + n, d) for n, d in targets.items()))
    clusters = server.client(gp_csg.ClusterServiceStub)
    backups = server.client(gp_bsg.BackupServiceStub)

    def backup():
        op = clusters.Backup(gp_cs.BackupClusterRequest(cluster_id="gp3"), metadata=WRITER)
        meta = gp_cs.BackupClusterMetadata()
        op.metadata.Unpack(meta)
        op = wait_op(server, op)
        assert op.WhichOneof("result") == "response", op.error
        return backups.Get(gp_bs.GetBackupRequest(backup_id=meta.backup_id), metadata=WRITER)

    def restore(b, target, at=None):
        req = gp_cs.RestoreClusterRequest(backup_id=b.id, folder_id="f1", name=target,
                                          environment=gp_c.Cluster.PRODUCTION, network_id="local")
        if at is not None:
            req.time.FromNanoseconds(int(at * 1e9))
        op = wait_op(server, clusters.Restore(req, metadata=WRITER))
        assert op.WhichOneof("result") == "response", op.error
        return [pg_factory(data_dir=d) for d in targets[target[3:]]]

    try:
        base = backup()
        assert base.method == gp_b.Backup.BASE and base.size > 0
        expected_base = [pg.sql(CHECK) for pg in shards]
        for pg in shards:
            pg.pgbench("-c", "2", "-t", "300")
        incr = backup()
        assert incr.method == gp_b.Backup.INCREMENTAL
        expected_incr = [pg.sql(CHECK) for pg in shards]
        assert expected_incr != expected_base
        # The WAL written between the two backups is the BASE backup's journal.
        deadline = time.time() + 60
        while backups.Get(gp_bs.GetBackupRequest(backup_id=base.id), metadata=WRITER).journal_size == 0:
            assert time.time() < deadline, "no WAL was archived"
            time.sleep(0.2)

        for pg in shards:
            pg.sql("INSERT INTO batches SELECT 1, g FROM generate_series(1, 100) g")
        time.sleep(1.0)
        t = time.time()  # between the batches
        time.sleep(1.0)
        for pg in shards:
            pg.sql("INSERT INTO batches SELECT 2, g FROM generate_series(1, 50) g")
        journal = backups.Get(gp_bs.GetBackupRequest(backup_id=incr.id), metadata=WRITER).journal_size
        for pg in shards:
            pg.sql("SELECT pg_switch_wal()")  # close the segments holding batch 2
        deadline = time.time() + 60
        while backups.Get(gp_bs.GetBackupRequest(backup_id=incr.id), metadata=WRITER).journal_size <= journal:
            assert time.time() < deadline, "the switched segments were not archived"
            time.sleep(0.2)
        time.sleep(2)  # every shard's segment (they are archived independently)

        restored = restore(base, "gp-base")
        for pg in restored:
            wait_recovered(pg)
        assert [pg.sql(CHECK) for pg in restored] == expected_base
        restored = restore(incr, "gp-incr")
        for pg in restored:
            wait_recovered(pg)  # replays to the backup's cluster-wide restore point
        assert [pg.sql(CHECK) for pg in restored] == expected_incr
        assert [pg.sql("SELECT count(*) FROM batches") for pg in restored] == ["0"] * 3

        restored = restore(incr, "gp-pitr", at=t)
        for pg in restored:
            wait_recovered(pg)
            assert pg.sql("SELECT batch, count(*) FROM batches GROUP BY batch ORDER BY batch") == "1|100"
        # Later than anything archived: refused with a message, the target left untouched.
        late = gp_cs.RestoreClusterRequest(backup_id=incr.id, folder_id="f1", name="gp-late",
                                           environment=gp_c.Cluster.PRODUCTION, network_id="local")
        late.time.FromSeconds(int(time.time()) + 3600)
        op = wait_op(server, clusters.Restore(late, metadata=WRITER))
        assert op.WhichOneof("result") == "error" and "not archived yet" in op.error.message, op.error
        assert all(not any(d.iterdir()) for d in targets["late"])

        # The BASE cannot go while the INCREMENTAL builds on it.
        op = backups.Delete(gp_bs.DeleteBackupRequest(backup_id=base.id), metadata=WRITER)
        op = wait_op(server, op)
        assert op.error.code == 9 and "parent of INCREMENTAL" in op.error.message, op.error  # FAILED_PRECONDITION
        # Deleting the newest backup hands its journal to the older one.
        before = [backups.Get(gp_bs.GetBackupRequest(backup_id=b.id), metadata=WRITER).journal_size
                  for b in (base, incr)]
        op = backups.Delete(gp_bs.DeleteBackupRequest(backup_id=incr.id), metadata=WRITER)
        assert wait_op(server, op).WhichOneof("result") == "response"
        after = backups.Get(gp_bs.GetBackupRequest(backup_id=base.id), metadata=WRITER).journal_size
        assert after >= sum(before)  # (more WAL may have arrived meanwhile)
    finally:
        server.stop()
