"""Every RPC of all four engines through the official Python SDK (yandexcloud): against one
instance on SQLite, and against two instances on one PostgreSQL catalog, each call of a test
going to the next instance (as behind a load balancer)."""
import os
import pathlib
import shutil
import tempfile

import grpc
import pytest
from google.protobuf import empty_pb2, json_format
from yandex.cloud.mdb.greenplum.v1 import backup_service_pb2 as gp_bs, backup_service_pb2_grpc as gp_bsg
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg
from yandex.cloud.mdb.greenplum.v1 import backup_pb2 as gp_b, cluster_pb2 as gp_c
from yandex.cloud.mdb.mongodb.v1 import backup_service_pb2 as mg_bs, backup_service_pb2_grpc as mg_bsg
from yandex.cloud.mdb.mongodb.v1 import cluster_service_pb2 as mg_cs, cluster_service_pb2_grpc as mg_csg
from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg
from yandex.cloud.mdb.redis.v1 import backup_pb2 as rd_b
from yandex.cloud.mdb.opensearch.v1 import backup_service_pb2 as os_bs, backup_service_pb2_grpc as os_bsg
from yandex.cloud.mdb.opensearch.v1 import cluster_service_pb2 as os_cs, cluster_service_pb2_grpc as os_csg
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from mdb_harness import READER, RECORDS, WRITER, OTHER, Server, md, running_server, wait_operation
from pg_harness import Postgres


class Instances:
    """Two instances on one PostgreSQL catalog; every client() is the next instance's."""

    def __init__(self, servers):
        self.servers, self.calls = servers, 0

    def client(self, stub):
        self.calls += 1
        return self.servers[self.calls % len(self.servers)].client(stub)

    def import_records(self, records):
        self.servers[0].import_records(records)  # into the shared catalog


@pytest.fixture(scope="module", params=["sqlite", "postgresql-2-instances"])
def server(request):
    if request.param == "sqlite":
        with running_server() as s:
            yield s
        return
    d = tempfile.mkdtemp(prefix="sdk-instances-")
    os.chmod(d, 0o755)  # PostgreSQL runs as its own user
    pg = Postgres(d)
    servers = []
    try:
        url = "postgresql://postgres@%s/postgres" % pg.address
        for name in ("a", "b"):
            (pathlib.Path(d) / name).mkdir()
            servers.append(Server(pathlib.Path(d) / name, catalog=url))
        servers[0].import_records(RECORDS)
        for s in servers:
            s.start()
        yield Instances(servers)
    finally:
        for s in servers:
            s.stop()
        pg.stop()
        shutil.rmtree(d, ignore_errors=True)


def wait_done(server, op_id, token=READER):
    return wait_operation(server, op_id, token=token)


def test_greenplum_backup_fields_are_exact(server):
    c = server.client(gp_bsg.BackupServiceStub)
    b = c.Get(gp_bs.GetBackupRequest(backup_id="gp-incr"), metadata=md())
    assert b.id == "gp-incr" and b.folder_id == "f1" and b.source_cluster_id == "gp1"
    assert b.size == 9007199254740993 and b.journal_size == 1
    assert b.type == gp_b.Backup.MANUAL and b.method == gp_b.Backup.INCREMENTAL
    assert b.created_at.ToJsonString() == "2026-11-21T01:02:00.000000001Z"
    assert b.started_at.ToJsonString() == "2026-11-21T01:00:00Z"
    lst = c.List(gp_bs.ListBackupsRequest(folder_id="f1"), metadata=md())
    assert [x.id for x in lst.backups] == ["gp-incr", "gp-base"]
    assert lst.next_page_token == ""
    cl = server.client(gp_csg.ClusterServiceStub)
    lst = cl.ListBackups(gp_cs.ListClusterBackupsRequest(cluster_id="gp1", page_size=1), metadata=md())
    assert [x.id for x in lst.backups] == ["gp-incr"] and lst.next_page_token
    lst = cl.ListBackups(gp_cs.ListClusterBackupsRequest(cluster_id="gp1", page_size=1,
                                                         page_token=lst.next_page_token), metadata=md())
    assert [x.id for x in lst.backups] == ["gp-base"] and lst.next_page_token == ""


def test_mongodb_redis_opensearch_fields(server):
    b = server.client(mg_bsg.BackupServiceStub).Get(mg_bs.GetBackupRequest(backup_id="mg-1"), metadata=md())
    assert list(b.source_shard_names) == ["rs01", "rs02"] and b.size == 123456 and b.journal_size == 789
    b = server.client(rd_bsg.BackupServiceStub).Get(rd_bs.GetBackupRequest(backup_id="rd-1"), metadata=md())
    assert list(b.source_shard_names) == ["rd1"] and b.type == rd_b.Backup.AUTOMATED
    lst = server.client(rd_csg.ClusterServiceStub).ListBackups(
        rd_cs.ListClusterBackupsRequest(cluster_id="rd1"), metadata=md())
    assert [x.id for x in lst.backups] == ["rd-2", "rd-1"]
    b = server.client(os_bsg.BackupServiceStub).Get(os_bs.GetBackupRequest(backup_id="os-1"), metadata=md())
    assert len(b.indices) == 100 and b.indices_total == 120 and b.indices[0] == "logs-000"
    assert b.opensearch_version == "2.19.1" and b.size_bytes == 5000
    assert (b.incremental_size_bytes, b.total_size_bytes, b.free_space_required_bytes) == (400, 20000, 21000)
    lst = server.client(os_csg.ClusterServiceStub).ListBackups(
        os_cs.ListClusterBackupsRequest(cluster_id="os1"), metadata=md())
    assert [x.id for x in lst.backups] == ["os-1"]
    lst = server.client(mg_csg.ClusterServiceStub).ListBackups(
        mg_cs.ListClusterBackupsRequest(cluster_id="mg1"), metadata=md())
    assert [x.id for x in lst.backups] == ["mg-1"]


def test_backup_of_another_engine_is_not_found(server):
    with pytest.raises(grpc.RpcError) as e:
        server.client(mg_bsg.BackupServiceStub).Get(mg_bs.GetBackupRequest(backup_id="gp-base"), metadata=md())
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == "backup 'gp-base' not found"


def test_delete_through_each_engine_and_poll_the_operation(server):
    server.import_records([
        {"id": "del-" + e, "engine": e.upper(), "folderId": "f1", "clusterId": c,
         "createdAt": "2026-01-01T00:00:00Z"}
        for e, c in [("greenplum", "gp1"), ("mongodb", "mg1"), ("redis", "rd1"), ("opensearch", "os1")]])
    cases = [
        (gp_bsg.BackupServiceStub, "Delete", gp_bs.DeleteBackupRequest(backup_id="del-greenplum"),
         gp_bs.DeleteBackupMetadata, {"backup_id": "del-greenplum", "cluster_id": "gp1"}),
        (mg_bsg.BackupServiceStub, "Delete", mg_bs.DeleteBackupRequest(backup_id="del-mongodb"),
         mg_bs.DeleteBackupMetadata, {"backup_id": "del-mongodb"}),
        (rd_bsg.BackupServiceStub, "Delete", rd_bs.DeleteBackupRequest(backup_id="del-redis"),
         rd_bs.DeleteBackupMetadata, {"backup_id": "del-redis"}),
        (os_csg.ClusterServiceStub, "DeleteBackup",
         os_cs.DeleteBackupRequest(cluster_id="os1", backup_id="del-opensearch"),
         os_cs.DeleteBackupMetadata, {"backup_id": "del-opensearch", "cluster_id": "os1"}),
    ]
    for stub, rpc, req, meta_type, want_meta in cases:
        op = getattr(server.client(stub), rpc)(req, metadata=md(WRITER))
        assert op.id and op.description.startswith("Delete backup") and op.created_by == "writer"
        meta = meta_type()
        assert op.metadata.Unpack(meta), op.metadata.type_url
        assert json_format.MessageToDict(meta, preserving_proto_field_name=True) == want_meta
        done = wait_done(server, op.id)
        assert done.done and done.WhichOneof("result") == "response"
        assert done.response.Unpack(empty_pb2.Empty())
    with pytest.raises(grpc.RpcError) as e:
        server.client(gp_bsg.BackupServiceStub).Get(gp_bs.GetBackupRequest(backup_id="del-greenplum"), metadata=md())
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_operation_cancel_of_a_finished_operation(server):
    server.import_records([{"id": "del-cancel", "engine": "REDIS", "folderId": "f1", "clusterId": "rd1",
                            "createdAt": "2026-01-01T00:00:00Z"}])
    op = server.client(rd_bsg.BackupServiceStub).Delete(rd_bs.DeleteBackupRequest(backup_id="del-cancel"),
                                                        metadata=md(WRITER))
    wait_done(server, op.id)
    with pytest.raises(grpc.RpcError) as e:
        server.client(op_sg.OperationServiceStub).Cancel(op_s.CancelOperationRequest(operation_id=op.id),
                                                         metadata=md(WRITER))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as e:
        server.client(op_sg.OperationServiceStub).Get(op_s.GetOperationRequest(operation_id=op.id),
                                                      metadata=md(OTHER))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND  # f1's operation is invisible to f2's token


def test_cluster_backup_and_restore_validate_then_run(server):
    engines = [
        (gp_csg, gp_cs, "gp1", "gp-base",
         dict(folder_id="f1", name="restored", environment=gp_c.Cluster.PRODUCTION, network_id="n1")),
        (mg_csg, mg_cs, "mg1", "mg-1", dict(folder_id="f1", name="restored", environment=1,
                                           config_spec=mg_cs.ConfigSpec(version="6.0"),
                                           host_specs=[mg_cs.HostSpec(shard_name="rs01")])),
        (rd_csg, rd_cs, "rd1", "rd-1", dict(folder_id="f1", name="restored", environment=1,
                                           config_spec=rd_cs.ConfigSpec(version="7.2"))),
        (os_csg, os_cs, "os1", "os-1", dict(folder_id="f1", name="restored", network_id="n1",
                                           config_spec=os_cs.ConfigCreateSpec(version="2.19"))),
    ]
    for grpc_mod, mod, cluster, backup, restore in engines:
        cl = server.client(grpc_mod.ClusterServiceStub)
        with pytest.raises(grpc.RpcError) as e:
            cl.Backup(mod.BackupClusterRequest(cluster_id=cluster), metadata=md(READER))
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as e:
            cl.Backup(mod.BackupClusterRequest(cluster_id="missing"), metadata=md(WRITER))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        bad = dict(restore, name="no spaces allowed")
        with pytest.raises(grpc.RpcError) as e:
            cl.Restore(mod.RestoreClusterRequest(backup_id=backup, **bad), metadata=md(WRITER))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid 'name'" in e.value.details()
        # Every engine runs: the backup is an operation that fails because the servers of these
        # test clusters are unreachable, and says which.
        op = cl.Backup(mod.BackupClusterRequest(cluster_id=cluster), metadata=md(WRITER))
        done = wait_done(server, op.id)
        assert done.error.code == grpc.StatusCode.UNAVAILABLE.value[0], done.error
        assert "127.0.0.1:1" in done.error.message
        with pytest.raises(grpc.RpcError) as e:
            cl.Restore(mod.RestoreClusterRequest(backup_id=backup, **restore), metadata=md(WRITER))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert "target cluster 'restored' is not declared" in e.value.details()


def test_authentication_and_folder_rules(server):
    c = server.client(rd_bsg.BackupServiceStub)
    for meta, code in [([], grpc.StatusCode.UNAUTHENTICATED),
                       (md("not-a-declared-token"), grpc.StatusCode.UNAUTHENTICATED),
                       ([("authorization", "Basic abc")], grpc.StatusCode.UNAUTHENTICATED)]:
        with pytest.raises(grpc.RpcError) as e:
            c.Get(rd_bs.GetBackupRequest(backup_id="rd-1"), metadata=meta)
        assert e.value.code() == code
        assert "Bearer" in e.value.details() or "not valid" in e.value.details()
    # A backup in a folder the token cannot read answers exactly as a missing one.
    with pytest.raises(grpc.RpcError) as hidden:
        c.Get(rd_bs.GetBackupRequest(backup_id="rd-1"), metadata=md(OTHER))
    with pytest.raises(grpc.RpcError) as missing:
        c.Get(rd_bs.GetBackupRequest(backup_id="no-such-backup"), metadata=md(OTHER))
    assert hidden.value.code() == missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert hidden.value.details().replace("rd-1", "X") == missing.value.details().replace("no-such-backup", "X")
    assert c.Get(rd_bs.GetBackupRequest(backup_id="rd-f2"), metadata=md(OTHER)).id == "rd-f2"
    with pytest.raises(grpc.RpcError) as e:
        c.List(rd_bs.ListBackupsRequest(folder_id="f1"), metadata=md(OTHER))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as e:
        c.Delete(rd_bs.DeleteBackupRequest(backup_id="rd-1"), metadata=md(READER))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_responses_carry_a_request_id(server):
    c = server.client(rd_bsg.BackupServiceStub)
    _, call = c.Get.with_call(rd_bs.GetBackupRequest(backup_id="rd-1"), metadata=md())
    ids = [v for k, v in call.initial_metadata() if k == "x-request-id"]
    assert len(ids) == 1 and len(ids[0]) == 20
