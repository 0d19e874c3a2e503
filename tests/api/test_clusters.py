"""ClusterService.Get and List through the official Python SDK (issue #17): the declared clusters
of a folder, paged and filtered as the contract allows, with the contract's codes for mistakes."""
import grpc
import pytest
from yandex.cloud.mdb.greenplum.v1 import cluster_pb2 as gp_c
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg
from yandex.cloud.mdb.redis.v1 import cluster_pb2 as rd_c
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg

from mdb_harness import OTHER, md


def test_get_and_list_the_declared_clusters(server):
    rd = server.client(rd_csg.ClusterServiceStub)
    c = rd.Get(rd_cs.GetClusterRequest(cluster_id="rd1"), metadata=md())
    assert (c.id, c.folder_id, c.name) == ("rd1", "f1", "rd1")
    assert c.status == rd_c.Cluster.RUNNING and c.environment == rd_c.Cluster.PRODUCTION
    assert c.health == rd_c.Cluster.HEALTH_UNKNOWN
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
