"""A Greenplum restore cancelled while it copies, and while it stages the archived WAL: the
repository (S3) is stalled under it by a proxy, so the restore is provably still at that step
when the cancel comes. It ends CANCELLED at the next chunk or WAL segment and says what it left
behind (the target's data directories keep what was written: empty them); a WAL staging directory
it made beside a data directory is removed. Once the directories are emptied, the same restore
runs to the end and the restored servers equal their sources."""
import datetime
import os
import shutil
import time
import uuid

import grpc
import pytest
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from mdb_harness import restore_target, start_server, wait_operation
from pg_harness import postgres_dir
from test_greenplum import DIGEST, WRITER, Api, gp1, wait_recovered
from test_window import ts, window

STOPPED = "restore cancelled; the target's data directories (this shard's: '"
WHAT_TO_DO = "empty them, and remove any '<data directory>.wal.*' directory beside them, before restoring"


def through_a_proxy(workdir, pg_factory, proxy_factory):
    """Two pgbench sources, the directories of a restore target, and an mdb-backupd whose S3
    repository is reached through a proxy. Returns (server, proxy, sources, dirs, the path of
    the repository's objects in the proxy's requests)."""
    endpoint = os.environ.get("MDB_S3_ENDPOINT")
    if not endpoint:
        assert os.environ.get("MDB_S3_REQUIRED") != "1", "MDB_S3_REQUIRED=1 but no MDB_S3_ENDPOINT"
        pytest.skip("no S3 server (set MDB_S3_ENDPOINT)")
    scheme, hostport = endpoint.split("://", 1)
    proxy = proxy_factory(hostport.rstrip("/"))
    sources = [pg_factory(), pg_factory()]
    for pg in sources:
        pg.pgbench("-i", "-s", 1, "-q")
    dirs = [postgres_dir(workdir, "restored-coordinator"), postgres_dir(workdir, "restored-seg0")]
    bucket, prefix = os.environ.get("MDB_S3_BUCKET", "mdb-test"), "gp-cancel-" + uuid.uuid4().hex[:8]
    server = start_server(
        workdir, gp1(*sources) + restore_target("gp-restored", dirs, ["coordinator", "seg0"]),
        server_extra='  repository: "s3://%s/%s?endpoint=%s://%s&region=us-east-1&path_style=true"\n'
        % (bucket, prefix, scheme, proxy.address))
    return server, proxy, sources, dirs, ("/%s/%s/" % (bucket, prefix)).encode()


def cancel_when_stalled(server, api, proxy, b, marker):
    """Starts restoring `b` with the proxy stalling the first request that begins with `marker`,
    cancels it once stalled, lets the traffic go, and returns the ended operation."""
    proxy.stall_after(marker, 0, to_client=False)
    op = api.clusters.Restore(api.restore_request(b, "gp-restored"), metadata=WRITER)
    proxy.wait_stalled()
    server.client(op_sg.OperationServiceStub).Cancel(
        op_s.CancelOperationRequest(operation_id=op.id), metadata=WRITER)
    proxy.release()
    done = wait_operation(server, op, timeout=120)
    assert done.error.code == grpc.StatusCode.CANCELLED.value[0], done
    assert STOPPED in done.error.message and WHAT_TO_DO in done.error.message, done.error.message
    return done


def staging_left(dirs):
    return [p for d in dirs for p in d.parent.glob(d.name + ".wal.*")]


def empty(dirs):
    """What the message asks for."""
    for d in dirs:
        for child in d.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def restores_equal(server, api, b, pg_factory, expected, dirs):
    """Restores `b` into the emptied `dirs`: each server ends with the `expected` digest."""
    again = api.restore(b, "gp-restored")
    assert again.WhichOneof("result") == "response", again.error
    size = written(dirs)
    restored = [pg_factory(data_dir=d) for d in dirs]
    for pg in restored:
        wait_recovered(pg)
    assert [pg.sql(DIGEST) for pg in restored] == expected
    return size


def written(dirs):
    """Bytes of the regular files under `dirs`."""
    return sum(f.stat().st_size for d in dirs for f in d.rglob("*") if f.is_file() and not f.is_symlink())


def test_a_restore_cancelled_mid_copy_says_what_it_left_and_runs_again_once_emptied(
        workdir, pg_factory, proxy_factory):
    server, proxy, sources, dirs, objects = through_a_proxy(workdir, pg_factory, proxy_factory)
    try:
        api = Api(server)
        b = api.backup("gp1")
        expected = [pg.sql(DIGEST) for pg in sources]  # no load: the backup's state
        # The first request for pack data gets no further than its path: the restore waits for it.
        cancel_when_stalled(server, api, proxy, b, b"GET " + objects + b"packs/")
        # Stopped at the first chunk after the cancel, not at the end of the copy: the pack data
        # came only after it. Nothing may look restored (a server would start on a partial copy).
        assert not any((d / "recovery.signal").exists() for d in dirs)
        partial = written(dirs)
        empty(dirs)
        whole = restores_equal(server, api, b, pg_factory, expected, dirs)
        assert whole > 10_000_000 and partial < whole / 20, (partial, whole)
    finally:
        proxy.release()
        server.stop()


def test_a_restore_cancelled_while_it_stages_the_wal_removes_the_staged_wal(workdir, pg_factory, proxy_factory):
    server, proxy, sources, dirs, objects = through_a_proxy(workdir, pg_factory, proxy_factory)
    try:
        api = Api(server)
        b = api.backup("gp1")
        expected = [pg.sql(DIGEST) for pg in sources]  # what recovery to its restore point gives
        # WAL past the backup's restore point, archived: the restore stages it beside each data
        # directory for recovery to replay.
        for pg in sources:
            pg.sql("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 1, now())")
            pg.sql("SELECT pg_switch_wal()")
        backup_at = b.created_at.ToDatetime(datetime.timezone.utc)
        deadline = time.time() + 120
        while ts(window(server).get("latest", "1970-01-01T00:00:00Z")) <= backup_at:
            assert time.time() < deadline, "the WAL after the backup was not archived in 120 s: %s" % window(server)
            time.sleep(0.2)
        # The copy is done when the first WAL segment is fetched: that fetch waits (a GET: the
        # archiver's uploads of new WAL pass).
        cancel_when_stalled(server, api, proxy, b, b"GET " + objects + b"journal/")
        assert staging_left(dirs) == [], staging_left(dirs)
        assert not any((d / "recovery.signal").exists() for d in dirs)
        assert all(any(d.iterdir()) for d in dirs)  # the copy itself is there, to be emptied
        empty(dirs)
        restores_equal(server, api, b, pg_factory, expected, dirs)
    finally:
        proxy.release()
        server.stop()
