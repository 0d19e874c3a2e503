"""An orderly shutdown (SIGTERM) while an operation cannot end: the service waits its grace
(`server.shutdown_grace_seconds`), then stops the operation, which ends ABORTED with a reason a
person can act on and leaves no partial data. Before, it waited for the operation however long
it took, until the service manager killed it mid-copy."""
import grpc
from mdb_harness import start_server
from redis_harness import fill
from test_redis import SYNC, list_backups, repo_packs, start_backup, wait_op


def test_a_shutdown_stops_a_backup_that_outlives_its_grace(workdir, redis_factory, proxy_factory):
    src = redis_factory()
    fill(src, 3000)
    proxy = proxy_factory(src.address)
    server = start_server(workdir, """
  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}
""" % proxy.address, server_extra="  shutdown_grace_seconds: 2\n")
    try:
        proxy.stall_after(SYNC, 10000)
        op = start_backup(server, "src")
        proxy.wait_stalled()  # the snapshot has begun and cannot reach the service: it cannot end
        # The stalled backup never ends by itself: without the grace this stop would wait for it
        # until the harness's own 120 s and fail.
        server.stop()
        log = server.read_log()
        assert "shutting down: operation %s (" % op.id in log, log
        assert "still ran after 2s; told to stop: it ends ABORTED" in log, log
        proxy.release()
        server.start()
        op = wait_op(server, op)
        assert op.WhichOneof("result") == "error", op
        assert op.error.code == grpc.StatusCode.ABORTED.value[0], op.error
        assert "was stopping and stopped the operation after 2s" in op.error.message, op.error
        assert "start it again" in op.error.message, op.error
        assert list_backups(server, "src") == []
        assert repo_packs(server) == 0  # what the backup had written was collected
    finally:
        proxy.release()
        server.stop()
