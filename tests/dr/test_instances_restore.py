"""Two mdb-backupd instances on one PostgreSQL catalog and one S3 repository: a restore running on
one of them holds off a delete of its backup that the other instance runs (FAILED_PRECONDITION,
"is being restored"; the backup stays listed and whole), through the restore's mark in the
repository (docs/format.md "Locks"). Once the restore has ended the delete goes through. Before,
only a restore of the same process counted: the other instance deleted the backup mid-restore
and the restore failed with its target half-written."""
import os
import time

import grpc
from yandex.cloud.mdb.greenplum.v1 import backup_service_pb2 as gp_bs, backup_service_pb2_grpc as gp_bsg
from yandex.cloud.mdb.greenplum.v1 import cluster_pb2 as gp_c
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg

from mdb_harness import restore_target, sharded_cluster, start_server, wait_operation
from pg_harness import postgres_dir
from test_disaster_recovery import DIGEST, WRITER, done, poll, s3_url
from test_postgres_catalog import LEASE, running_on

NAMES = ["coordinator", "seg0"]


def restore_request(backup_id):
    return gp_cs.RestoreClusterRequest(backup_id=backup_id, folder_id="f1", name="gp-restored",
                                       environment=gp_c.Cluster.PRODUCTION, network_id="local")


def test_a_restore_on_one_instance_holds_off_a_delete_on_another(workdir, pg_factory, proxy_factory):
    url = s3_url()  # skips without an S3 peer
    endpoint = os.environ["MDB_S3_ENDPOINT"]
    scheme, hostport = endpoint.split("://", 1)
    db = pg_factory()
    catalog = "postgresql://postgres@%s/postgres" % db.address
    sources = [pg_factory(), pg_factory()]
    for pg in sources:
        pg.pgbench("-i", "-s", 1, "-q")
    dirs = [postgres_dir(workdir, "restored-coordinator"), postgres_dir(workdir, "restored-seg0")]
    clusters = (sharded_cluster("gp1", [pg.address for pg in sources], engine="greenplum", names=NAMES) +
                restore_target("gp-restored", dirs, NAMES))
    # Each instance reaches the bucket through a proxy of its own, so that the one that runs the
    # restore can be stalled alone. One worker each: the busy one cannot take the delete.
    proxies = [proxy_factory(hostport.rstrip("/")) for _ in range(2)]
    instances = []
    for name, p in zip(("first", "second"), proxies):
        s = start_server(workdir, clusters, name=name, catalog=catalog, start=False, server_extra=(
            '  repository: "%s"\n  lease_seconds: %d\n' % (url.replace(endpoint, "%s://%s" % (scheme, p.address)),
                                                          LEASE)))
        s.config.write_text(s.config.read_text().replace("worker_threads: 2", "worker_threads: 1"))
        s.start()
        instances.append(s)
    try:
        clusters_api = instances[0].client(gp_csg.ClusterServiceStub)
        op = done(instances[0], clusters_api.Backup(gp_cs.BackupClusterRequest(cluster_id="gp1"), metadata=WRITER))
        meta = gp_cs.BackupClusterMetadata()
        assert op.metadata.Unpack(meta)
        backup_id = meta.backup_id
        expected = [pg.sql(DIGEST) for pg in sources]
        # Pack data is the restore's alone here: the first request for it stalls.
        for p in proxies:
            p.stall_after(b"/packs/", 0, to_client=False)
        restore = clusters_api.Restore(restore_request(backup_id), metadata=WRITER)
        stalled = wait_any_stalled(proxies)
        runner, other = running_on(db, restore, instances)
        assert runner is instances[proxies.index(stalled)]
        proxies[1 - proxies.index(stalled)].release()  # the other instance's traffic flows
        for asked in instances:  # asked of either, run by the other (the runner is busy)
            op = asked.client(gp_bsg.BackupServiceStub).Delete(
                gp_bs.DeleteBackupRequest(backup_id=backup_id), metadata=WRITER)
            op = wait_operation(asked, op, timeout=120)
            assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op
            assert "backup '%s' is being restored (or drilled) by pid " % backup_id in op.error.message, \
                op.error.message
            assert running_on(db, op, instances)[0] is other
        assert other.client(gp_bsg.BackupServiceStub).Get(  # still listed
            gp_bs.GetBackupRequest(backup_id=backup_id), metadata=WRITER).id == backup_id
        stalled.release()
        done(runner, restore)
        restored = [pg_factory(data_dir=d) for d in dirs]
        for pg in restored:  # replayed to the backup's point, then promoted
            poll(lambda: pg.sql("SELECT pg_is_in_recovery()") == "f", "restored server left recovery")
        assert [pg.sql(DIGEST) for pg in restored] == expected
        # The restore has ended: its mark is gone and the delete goes through.
        done(other, other.client(gp_bsg.BackupServiceStub).Delete(
            gp_bs.DeleteBackupRequest(backup_id=backup_id), metadata=WRITER))
    finally:
        for p in proxies:
            p.release()
        for s in instances:
            s.stop()


def wait_any_stalled(proxies, timeout=120):
    """The proxy that holds back a request first (a hang guard, not a speed limit)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in proxies:
            if p.holding():
                return p
        time.sleep(0.02)
    raise AssertionError("no proxy held a request back within %d s" % timeout)
