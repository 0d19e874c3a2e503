"""mdb-backupd on a PostgreSQL catalog (`catalog: postgresql://...`, for teams that run the
service's state on a PostgreSQL they already operate): the API answers from it, a backup's record
and its operation are rows there, and several instances share it and one repository: any of them
answers for the others' backups and operations, a cancel reaches the instance running the work,
and the operations of an instance killed with -9 end as ABORTED once its lease has run out."""
import datetime
import signal
import time

import requests

from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from mdb_harness import Server, start_server, wait_operation, wait_running
from redis_harness import fill
from test_disaster_recovery import poll

SYNC = b"+FULLRESYNC"  # the source's answer to PSYNC: the snapshot follows it

WRITER = [("authorization", "Bearer writer-token-1")]
LEASE = 3  # seconds: renewed every second, a dead instance's work ends after 3


def running_on(db, op, instances):
    """The instance that claimed `op` (any may: operations are queued in the catalog), and the
    other one."""
    owner = db.sql("SELECT owner FROM mdb_operations WHERE id = '%s'" % op.id)
    runner = next(i for i in instances if ":%d:" % i.proc.pid in owner)
    return runner, next(i for i in instances if i is not runner)


def listed(server):
    return [b.id for b in server.client(rd_csg.ClusterServiceStub).ListBackups(
        rd_cs.ListClusterBackupsRequest(cluster_id="rd-src"), metadata=WRITER).backups]


def test_instances_on_one_postgresql_catalog_share_backups_operations_and_failover(
        workdir, redis_factory, pg_factory, proxy_factory):
    db = pg_factory()
    url = "postgresql://postgres@%s/postgres" % db.address
    # A source whose snapshot a proxy can stall half way (the backup provably still running).
    src = redis_factory("--rdbcompression", "no")
    src.cli("DEBUG", "POPULATE", "20000", "big", "1000")
    half = src.rdb_size() // 2
    proxy = proxy_factory(src.address)
    clusters = '  - {id: rd-src, folder_id: f1, engine: redis, hosts: ["%s"]}\n' % proxy.address
    shared = "  repository: %s\n  lease_seconds: %d\n" % (workdir / "repository", LEASE)
    first = start_server(workdir, clusters, name="first", catalog=url, server_extra=shared)
    second = start_server(workdir, clusters, name="second", catalog=url, server_extra=shared)
    try:
        op = first.client(rd_csg.ClusterServiceStub).Backup(
            rd_cs.BackupClusterRequest(cluster_id="rd-src"), metadata=WRITER)
        # Any instance answers for it: the operation while and after it runs, then the backup.
        op = wait_operation(second, op, timeout=300)
        assert op.WhichOneof("result") == "response", op.error
        ids = listed(second)
        assert len(ids) == 1 and listed(first) == ids
        # The rows are PostgreSQL's, and name the instance that ran the operation.
        assert db.sql("SELECT id FROM mdb_backups") == ids[0]
        assert db.sql("SELECT count(*) FROM mdb_operations WHERE done") == "1"
        running_on(db, op, (first, second))

        # A backup stalled half way: the other instance reports its progress (stored by the
        # runner's heartbeat), and a cancel asked there reaches the runner, which stops it.
        proxy.stall_after(SYNC, half)
        op = first.client(rd_csg.ClusterServiceStub).Backup(
            rd_cs.BackupClusterRequest(cluster_id="rd-src"), metadata=WRITER)
        assert wait_running(second, op, timeout=60) > 0
        runner, other = running_on(db, op, (first, second))
        assert wait_running(other, op, timeout=60) > 0
        other.client(op_sg.OperationServiceStub).Cancel(
            op_s.CancelOperationRequest(operation_id=op.id), metadata=WRITER)
        op = wait_operation(other, op, timeout=60)
        proxy.release()
        assert op.error.code == 1, op  # CANCELLED, by the instance running it
        assert len(listed(second)) == 1

        # kill -9 of the instance running a backup: the survivor ends it (ABORTED) once the
        # lease has run out, and answers for everything.
        proxy.stall_after(SYNC, half)
        op = first.client(rd_csg.ClusterServiceStub).Backup(
            rd_cs.BackupClusterRequest(cluster_id="rd-src"), metadata=WRITER)
        wait_running(second, op, timeout=60)
        runner, survivor = running_on(db, op, (first, second))
        runner.proc.send_signal(signal.SIGKILL)
        runner.proc.wait()
        killed = time.time()
        op = wait_operation(survivor, op, timeout=LEASE + 30)
        ended = time.time() - killed
        proxy.release()
        # Ended by the survivor once the lease ran out, not at a restart (the timeout above is a
        # hang guard; how soon is measured, not asserted: printed for the log).
        print("the dead instance's backup ended %.1f s after the kill" % ended)
        assert op.error.code == 10, op  # ABORTED
        assert "stopped renewing its lease" in op.error.message, op.error.message
        assert listed(survivor) == ids
    finally:
        first.stop()
        second.stop()
    # A new instance (another host, say) on the same catalog finds what the others recorded.
    third = start_server(workdir, clusters, name="third", catalog=url, server_extra=shared)
    try:
        assert listed(third) == ids
        # A load balancer's health check, with no token: ready while the catalog answers...
        r = requests.get(third.rest + "/readyz")
        assert r.status_code == 200 and r.json() == {"ready": True}, r.text
        assert requests.get(third.rest + "/readyz?x=1").status_code == 401  # only the check itself
        db.stop()
        time.sleep(1.1)  # the probe's result is kept for a second
        r = requests.get(third.rest + "/readyz")
        assert r.status_code == 503 and "catalog does not answer" in r.text, r.text
    finally:
        third.stop()


def test_a_daily_backup_stopped_by_a_shutdown_runs_after_the_restart(
        workdir, redis_factory, pg_factory, proxy_factory):
    """On a shared catalog an instance has a new name after each start. The window's AUTOMATED
    backup is running when the instance is told to stop: the grace ends it ABORTED, and the
    window's lease (`automated/<cluster>`, held 20 hours) is handed back, so the restarted
    instance catches the window up. Before, it found the window held by its predecessor's name
    and the day had no backup."""
    db = pg_factory()
    src = redis_factory()
    fill(src, 1000)
    proxy = proxy_factory(src.address)
    window = (datetime.datetime.now(datetime.timezone.utc) -
              datetime.timedelta(minutes=11)).strftime("%H:%M")
    d = workdir / "daily"
    d.mkdir()
    s = Server(d, catalog="postgresql://postgres@%s/postgres" % db.address,
               server_extra="  lease_seconds: %d\n  shutdown_grace_seconds: 1\n" % LEASE)
    text = s.config.read_text().replace("automated_backups: false", "automated_backups: true")
    s.config.write_text(text[:text.index("clusters:")] + "clusters:\n" +
                        '  - {id: daily, folder_id: f1, engine: redis, backup_window_start: "%s", '
                        'hosts: ["%s"]}\n' % (window, proxy.address))
    old = "2026-01-01T00:00:00Z"
    s.import_records([{"id": "old-auto", "engine": "REDIS", "folderId": "f1", "clusterId": "daily",
                       "createdAt": old, "startedAt": old, "type": "AUTOMATED"}])
    proxy.stall_after(SYNC)
    s.start()
    try:
        proxy.wait_stalled()  # the window's backup has begun and cannot end
        s.stop()
        assert "still ran after 1s; told to stop: it ends ABORTED" in s.read_log()
        proxy.release()
        s.start()

        def new_backups():
            return [b.id for b in s.client(rd_csg.ClusterServiceStub).ListBackups(
                rd_cs.ListClusterBackupsRequest(cluster_id="daily"), metadata=WRITER).backups
                if b.id != "old-auto"]
        poll(new_backups, "the window's AUTOMATED backup after the restart")
        assert "another instance has the window" not in s.read_log()
    finally:
        proxy.release()
        s.stop()
