"""A Greenplum restore cancelled mid-copy: the repository (S3) is stalled under it by a proxy, so
the restore is provably still copying when the cancel comes. It ends CANCELLED at the next chunk
and says what it left behind (the target's data directories keep what was written: empty them);
once they are emptied, the same restore runs to the end and the restored servers equal their
sources."""
import os
import shutil
import uuid

import grpc
import pytest
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from mdb_harness import restore_target, start_server, wait_operation
from pg_harness import postgres_dir
from test_greenplum import DIGEST, WRITER, Api, gp1, wait_recovered


def test_a_cancelled_restore_says_what_it_left_and_runs_again_once_emptied(workdir, pg_factory, proxy_factory):
    endpoint = os.environ.get("MDB_S3_ENDPOINT")
    if not endpoint:
        assert os.environ.get("MDB_S3_REQUIRED") != "1", "MDB_S3_REQUIRED=1 but no MDB_S3_ENDPOINT"
        pytest.skip("no S3 server (set MDB_S3_ENDPOINT)")
    scheme, hostport = endpoint.split("://", 1)
    proxy = proxy_factory(hostport.rstrip("/"))
    coordinator, segment = pg_factory(), pg_factory()
    for pg in (coordinator, segment):
        pg.pgbench("-i", "-s", 1, "-q")
    dirs = [postgres_dir(workdir, "restored-coordinator"), postgres_dir(workdir, "restored-seg0")]
    server = start_server(
        workdir, gp1(coordinator, segment) + restore_target("gp-restored", dirs, ["coordinator", "seg0"]),
        server_extra='  repository: "s3://%s/gp-cancel-%s?endpoint=%s://%s&region=us-east-1&path_style=true"\n'
        % (os.environ.get("MDB_S3_BUCKET", "mdb-test"), uuid.uuid4().hex[:8], scheme, proxy.address))
    try:
        api = Api(server)
        b = api.backup("gp1")
        # The first request for pack data gets no further than its path: the restore waits for it.
        proxy.stall_after(b"/packs/", 0, to_client=False)
        op = api.clusters.Restore(api.restore_request(b, "gp-restored"), metadata=WRITER)
        proxy.wait_stalled()
        server.client(op_sg.OperationServiceStub).Cancel(
            op_s.CancelOperationRequest(operation_id=op.id), metadata=WRITER)
        proxy.release()
        done = wait_operation(server, op, timeout=120)
        assert done.error.code == grpc.StatusCode.CANCELLED.value[0], done
        assert ("restore cancelled; the target's data directories keep what was written: empty them "
                "before restoring into them again") in done.error.message, done.error.message
        # Stopped at the first chunk after the cancel, not at the end of the copy: the pack data
        # came only after it. Nothing may look restored (a server would start on a partial copy).
        assert not any((d / "recovery.signal").exists() for d in dirs)
        partial = written(dirs)
        for d in dirs:  # as the message says
            for child in d.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        again = api.restore(b, "gp-restored")
        assert again.WhichOneof("result") == "response", again.error
        assert written(dirs) > 10_000_000 and partial < written(dirs) / 20, (partial, written(dirs))
        restored = [pg_factory(data_dir=d) for d in dirs]
        for pg in restored:
            wait_recovered(pg)
        assert restored[0].sql(DIGEST) == coordinator.sql(DIGEST)
        assert restored[1].sql(DIGEST) == segment.sql(DIGEST)
    finally:
        proxy.release()
        server.stop()


def written(dirs):
    """Bytes of the regular files under `dirs`."""
    return sum(f.stat().st_size for d in dirs for f in d.rglob("*") if f.is_file() and not f.is_symlink())
