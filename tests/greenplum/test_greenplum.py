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
        assert restored[0].sql("SELECT pg_is_in_recovery()") == "f"
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
