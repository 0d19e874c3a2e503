"""mdb-backupd on a PostgreSQL catalog (`catalog: postgresql://...`, for teams that run the
service's state on a PostgreSQL they already operate): the API answers from it, a backup's record
and its operation are rows there, a restarted service finds them, and a second process on the same
catalog is refused, naming the holder."""
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg

from mdb_harness import start_server, wait_operation
from redis_harness import fill

WRITER = [("authorization", "Bearer writer-token-1")]


def listed(server):
    return [b.id for b in server.client(rd_csg.ClusterServiceStub).ListBackups(
        rd_cs.ListClusterBackupsRequest(cluster_id="rd-src"), metadata=WRITER).backups]


def test_a_postgresql_catalog_keeps_the_records_for_one_process_at_a_time(workdir, redis_factory, pg_factory):
    db = pg_factory()
    url = "postgresql://postgres@%s/postgres" % db.address
    src = redis_factory()
    fill(src, 500)
    clusters = '  - {id: rd-src, folder_id: f1, engine: redis, hosts: ["%s"]}\n' % src.address
    first = start_server(workdir, clusters, name="first", catalog=url)
    try:
        op = first.client(rd_csg.ClusterServiceStub).Backup(
            rd_cs.BackupClusterRequest(cluster_id="rd-src"), metadata=WRITER)
        op = wait_operation(first, op, timeout=300)
        assert op.WhichOneof("result") == "response", op.error
        ids = listed(first)
        assert len(ids) == 1
        # The rows are PostgreSQL's.
        assert db.sql("SELECT id FROM mdb_backups") == ids[0]
        assert db.sql("SELECT count(*) FROM mdb_operations WHERE done") == "1"
        # A second mdb-backupd on the same catalog would fail the first one's running operations
        # at its start: refused, with who holds it.
        second = start_server(workdir, clusters, name="second", catalog=url, start=False)
        code, err = second.run_until_exit()
        assert code != 0 and "in use by mdb-backup pid" in err, err
    finally:
        first.stop()
    # A new process (another host, say) on the same catalog finds what the first recorded.
    third = start_server(workdir, clusters, name="third", catalog=url)
    try:
        assert listed(third) == ids
    finally:
        third.stop()
