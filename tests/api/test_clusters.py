"""ClusterService.Get, List and ListOperations through the official Python SDK (issues #16, #17):
the declared clusters of a folder, paged and filtered as the contract allows, a cluster's
operations newest first, with the contract's codes for mistakes."""
import grpc
import pytest
import requests
from yandex.cloud.mdb.greenplum.v1 import cluster_pb2 as gp_c
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg
from yandex.cloud.mdb.redis.v1 import cluster_pb2 as rd_c
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg

from yandex.cloud.mdb.mongodb.v1 import cluster_service_pb2 as mg_cs, cluster_service_pb2_grpc as mg_csg
from yandex.cloud.mdb.opensearch.v1 import cluster_service_pb2 as os_cs, cluster_service_pb2_grpc as os_csg
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg

from mdb_harness import OTHER, READER, WRITER, md, running_server, wait_operation


def test_get_and_list_the_declared_clusters(server):
    rd = server.client(rd_csg.ClusterServiceStub)
    c = rd.Get(rd_cs.GetClusterRequest(cluster_id="rd1"), metadata=md())
    assert (c.id, c.folder_id, c.name) == ("rd1", "f1", "rd1")
    assert c.status == rd_c.Cluster.RUNNING and c.environment == rd_c.Cluster.PRODUCTION
    assert c.health == rd_c.Cluster.HEALTH_UNKNOWN  # no backup has checked its hosts yet
    # The schedule the config declares (defaults: 22:00 UTC, 7 days), in the contract's fields.
    assert (c.config.backup_window_start.hours, c.config.backup_window_start.minutes) == (22, 0)
    assert c.config.backup_retain_period_days.value == 7
    gp = server.client(gp_csg.ClusterServiceStub).Get(gp_cs.GetClusterRequest(cluster_id="gp1"), metadata=md())
    assert gp.id == "gp1" and gp.status == gp_c.Cluster.RUNNING  # Greenplum numbers its fields otherwise
    assert gp.config.backup_window_start.hours == 22 and gp.config.backup_retain_period_days.value == 7
    # f2's Redis clusters, one per page, walked to the end.
    seen, token = [], ""
    while True:
        page = rd.List(rd_cs.ListClustersRequest(folder_id="f2", page_size=1, page_token=token), metadata=md())
        seen += [x.id for x in page.clusters]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["rd2"]
    page = rd.List(rd_cs.ListClustersRequest(folder_id="f1"), metadata=md())
    assert [x.id for x in page.clusters] == ["rd1"] and not page.next_page_token  # Redis only, f1 only
    page = rd.List(rd_cs.ListClustersRequest(folder_id="f1", filter='name = "rd1"'), metadata=md())
    assert [x.id for x in page.clusters] == ["rd1"]
    page = rd.List(rd_cs.ListClustersRequest(folder_id="f1", filter='name = "other"'), metadata=md())
    assert list(page.clusters) == []


@pytest.mark.parametrize("grpc_mod, mod, cluster", [
    (gp_csg, gp_cs, "gp1"), (mg_csg, mg_cs, "mg1"), (rd_csg, rd_cs, "rd1"), (os_csg, os_cs, "os1")])
def test_every_engine_gets_and_lists_its_clusters(server, grpc_mod, mod, cluster):
    cl = server.client(grpc_mod.ClusterServiceStub)
    c = cl.Get(mod.GetClusterRequest(cluster_id=cluster), metadata=md())
    assert (c.id, c.folder_id, c.name) == (cluster, "f1", cluster)
    page = cl.List(mod.ListClustersRequest(folder_id="f1"), metadata=md())
    assert [x.id for x in page.clusters] == [cluster], page  # this engine's cluster of f1 only
    assert page.clusters[0] == c
    with pytest.raises(grpc.RpcError) as e:
        cl.Get(mod.GetClusterRequest(cluster_id="missing"), metadata=md())
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("call, code", [
    (lambda rd: rd.Get(rd_cs.GetClusterRequest(cluster_id="gp1"), metadata=md()), grpc.StatusCode.NOT_FOUND),
    (lambda rd: rd.Get(rd_cs.GetClusterRequest(cluster_id="rd1"), metadata=md(OTHER)), grpc.StatusCode.NOT_FOUND),
    (lambda rd: rd.List(rd_cs.ListClustersRequest(folder_id="f1"), metadata=md(OTHER)),
     grpc.StatusCode.PERMISSION_DENIED),
    (lambda rd: rd.List(rd_cs.ListClustersRequest(folder_id="f1", filter="status = RUNNING"), metadata=md()),
     grpc.StatusCode.INVALID_ARGUMENT),
    (lambda rd: rd.List(rd_cs.ListClustersRequest(folder_id="f1", page_token="!!"), metadata=md()),
     grpc.StatusCode.INVALID_ARGUMENT),
    (lambda rd: rd.List(rd_cs.ListClustersRequest(), metadata=md()), grpc.StatusCode.INVALID_ARGUMENT),
])
def test_mistakes_get_the_contracts_codes(server, call, code):
    with pytest.raises(grpc.RpcError) as e:
        call(server.client(rd_csg.ClusterServiceStub))
    assert e.value.code() == code, e.value.details()


@pytest.mark.parametrize("grpc_mod, mod, cluster, path", [
    (gp_csg, gp_cs, "gp1", "managed-greenplum"), (mg_csg, mg_cs, "mg1", "managed-mongodb"),
    (rd_csg, rd_cs, "rd1", "managed-redis"), (os_csg, os_cs, "os1", "managed-opensearch"),
])
def test_list_operations_of_a_cluster(server, grpc_mod, mod, cluster, path):
    cl = server.client(grpc_mod.ClusterServiceStub)
    # Two backups, started back to back (they fail: the test clusters' servers are unreachable,
    # or the first is still running); the newest first.
    started = [cl.Backup(mod.BackupClusterRequest(cluster_id=cluster), metadata=md(WRITER)) for _ in range(2)]
    ours = [wait_operation(server, op) for op in started]
    walked, token = [], ""
    for _ in range(100):
        page = cl.ListOperations(mod.ListClusterOperationsRequest(cluster_id=cluster, page_size=1, page_token=token),
                                 metadata=md(READER))
        assert len(page.operations) <= 1
        walked += list(page.operations)
        token = page.next_page_token
        if not token:
            break
    assert [o.id for o in walked[:2]] == [ours[1].id, ours[0].id]
    assert len({o.id for o in walked}) == len(walked)  # no operation twice
    # Each as OperationService.Get answers it: done, with the error and metadata naming the cluster.
    ops = server.client(op_sg.OperationServiceStub)
    for listed in walked[:2]:
        assert listed == ops.Get(op_s.GetOperationRequest(operation_id=listed.id), metadata=md(READER))
        assert listed.done and listed.error.code in (grpc.StatusCode.UNAVAILABLE.value[0],
                                                     grpc.StatusCode.FAILED_PRECONDITION.value[0])
        meta = mod.BackupClusterMetadata()
        assert listed.metadata.Unpack(meta) and meta.cluster_id == cluster
    # The backups' pre-flight checks found the cluster's only host down: the contract's health.
    assert cl.Get(mod.GetClusterRequest(cluster_id=cluster), metadata=md()).health == 2  # DEAD
    # The same over REST, in the contract's JSON.
    r = requests.get(server.rest + "/%s/v1/clusters/%s/operations" % (path, cluster), params={"pageSize": 1},
                     headers={"Authorization": "Bearer " + READER})
    assert r.status_code == 200, r.text
    assert [o["id"] for o in r.json()["operations"]] == [ours[1].id]
    assert r.json()["nextPageToken"]
    # Mistakes: another folder's token sees no such cluster; tokens of another walk, sizes out of range.
    for req, token_, code in [
            (mod.ListClusterOperationsRequest(cluster_id=cluster), OTHER, grpc.StatusCode.NOT_FOUND),
            (mod.ListClusterOperationsRequest(cluster_id="missing"), READER, grpc.StatusCode.NOT_FOUND),
            (mod.ListClusterOperationsRequest(cluster_id=cluster, page_token="forged"), READER,
             grpc.StatusCode.INVALID_ARGUMENT),
            (mod.ListClusterOperationsRequest(cluster_id=cluster, page_size=1001), READER,
             grpc.StatusCode.INVALID_ARGUMENT),
            (mod.ListClusterOperationsRequest(cluster_id=cluster, page_size=-1), READER,
             grpc.StatusCode.INVALID_ARGUMENT)]:
        with pytest.raises(grpc.RpcError) as e:
            cl.ListOperations(req, metadata=md(token_))
        assert e.value.code() == code, e.value.details()


def test_deletes_are_listed_under_their_cluster():
    """Redis' and MongoDB's DeleteBackupMetadata name no cluster: the operation is filed under the
    backup's cluster all the same."""
    with running_server() as server:
        op = server.client(rd_bsg.BackupServiceStub).Delete(rd_bs.DeleteBackupRequest(backup_id="rd-2"),
                                                            metadata=md(WRITER))
        wait_operation(server, op)
        listed = server.client(rd_csg.ClusterServiceStub).ListOperations(
            rd_cs.ListClusterOperationsRequest(cluster_id="rd1"), metadata=md(READER))
        assert [o.id for o in listed.operations] == [op.id], listed


def test_cluster_managing_methods_say_why_they_are_not_served(server):
    """The contract's Create, Delete... of clusters are known to SDK users: over gRPC as over REST
    they answer UNIMPLEMENTED with the reason, not an empty message."""
    for grpc_mod, mod, cluster in [(gp_csg, gp_cs, "gp1"), (rd_csg, rd_cs, "rd1")]:
        cl = server.client(grpc_mod.ClusterServiceStub)
        for call in (lambda: cl.Delete(mod.DeleteClusterRequest(cluster_id=cluster), metadata=md(WRITER)),
                     lambda: cl.Stop(mod.StopClusterRequest(cluster_id=cluster), metadata=md(WRITER))):
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "does not create, change, start, stop or delete clusters" in e.value.details(), e.value.details()
    # Any other unknown method: UNIMPLEMENTED, named.
    with grpc.insecure_channel(server.grpc) as channel:
        with pytest.raises(grpc.RpcError) as e:
            channel.unary_unary("/no.such.Service/Method")(b"", metadata=md())
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED and "is not served" in e.value.details()
