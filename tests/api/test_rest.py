"""REST over plain HTTP: the same answers as gRPC, in the proto3 JSON mapping; every contract
limit just inside and just outside; a paging walk under concurrent inserts and deletes; reload."""
import json
import sqlite3

import requests
from google.protobuf import json_format
from yandex.cloud.mdb.greenplum.v1 import backup_service_pb2 as gp_bs, backup_service_pb2_grpc as gp_bsg
from yandex.cloud.mdb.opensearch.v1 import backup_service_pb2 as os_bs, backup_service_pb2_grpc as os_bsg
from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg

from mdb_harness import READER, WRITER, Worker, md, wait_operation


def get(server, path, token=READER, **params):
    return requests.get(server.rest + path, params=params,
                        headers={"Authorization": "Bearer " + token} if token else {})


def test_rest_json_is_the_proto3_mapping_of_the_grpc_answer(server):
    for path, stub, req in [
        ("/managed-greenplum/v1/backups/gp-incr", gp_bsg.BackupServiceStub, gp_bs.GetBackupRequest(backup_id="gp-incr")),
        ("/managed-opensearch/v1/backups/os-1", os_bsg.BackupServiceStub, os_bs.GetBackupRequest(backup_id="os-1")),
        ("/managed-redis/v1/backups/rd-1", rd_bsg.BackupServiceStub, rd_bs.GetBackupRequest(backup_id="rd-1")),
    ]:
        r = get(server, path)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
        grpc_answer = server.client(stub).Get(req, metadata=md())
        assert r.json() == json_format.MessageToDict(grpc_answer)
    body = get(server, "/managed-greenplum/v1/backups/gp-incr").json()
    assert body["size"] == "9007199254740993" and body["journalSize"] == "1"  # int64 as strings
    assert body["createdAt"] == "2026-11-21T01:02:00.000000001Z" and body["method"] == "INCREMENTAL"


def test_rest_errors_and_statuses(server):
    r = get(server, "/managed-redis/v1/backups/rd-1", token=None)
    assert r.status_code == 401 and r.json()["code"] == 16 and r.json()["details"] == []
    r = get(server, "/managed-redis/v1/backups/missing")
    assert r.status_code == 404 and r.json() == {"code": 5, "message": "backup 'missing' not found", "details": []}
    r = requests.post(server.rest + "/managed-mongodb/v1/clusters/missing:backup", headers={"Authorization": "Bearer " + WRITER})
    assert r.status_code == 404 and "missing" in r.json()["message"]
    r = requests.post(server.rest + "/managed-redis/v1/clusters/rd1:backup", headers={"Authorization": "Bearer " + WRITER})
    assert r.status_code == 200 and r.json()["metadata"] == {
        "@type": "type.googleapis.com/yandex.cloud.mdb.redis.v1.BackupClusterMetadata", "clusterId": "rd1"}
    # The operation runs (rd1's server is unreachable) and ends; later tests back up rd1 again.
    op = wait_operation(server, r.json()["id"])
    assert op.error.code == 14 and "127.0.0.1:1" in op.error.message, op.error
    r = requests.post(server.rest + "/managed-redis/v1/clusters:restore", headers={"Authorization": "Bearer " + WRITER},
                      data=json.dumps({"backupId": "rd-1", "name": "x y", "environment": "PRODUCTION",
                                       "configSpec": {"version": "7.2"}, "unknownField": 1}))
    assert r.status_code == 400 and "invalid 'name'" in r.json()["message"]
    r = requests.delete(server.rest + "/managed-redis/v1/backups/rd-1", headers={"Authorization": "Bearer " + READER})
    assert r.status_code == 403


LIMITS = [
    # (path, params inside, params outside, message fragment)
    ("/managed-greenplum/v1/backups", {"folderId": "f" * 50}, {"folderId": "f" * 51}, "folder_id"),
    ("/managed-greenplum/v1/backups", {"folderId": "f1", "pageSize": 1000}, {"folderId": "f1", "pageSize": 1001}, "page_size"),
    ("/managed-greenplum/v1/backups", {"folderId": "f1", "pageSize": 0}, {"folderId": "f1", "pageSize": -1}, "page_size"),
    ("/managed-mongodb/v1/backups", {"folderId": "f1", "pageSize": 1000}, {"folderId": "f1", "pageSize": 1001}, "page_size"),
    ("/managed-mongodb/v1/backups", {"folderId": "f1", "pageSize": 0}, {"folderId": "f1", "pageSize": -1}, "page_size"),
    ("/managed-redis/v1/backups", {"folderId": "f1", "pageSize": 1}, {"folderId": ""}, "folder_id"),
    ("/managed-opensearch/v1/backups", {"folderId": "f1", "pageSize": 1000}, {"folderId": "f1", "pageSize": 1001}, "page_size"),
    ("/managed-greenplum/v1/clusters/gp1/backups", {"pageSize": 1000}, {"pageSize": 1001}, "page_size"),
    ("/managed-redis/v1/clusters/rd1/backups", {"pageSize": 0}, {"pageSize": -5}, "page_size"),
    ("/managed-opensearch/v1/clusters/os1/backups", {"pageSize": 1000}, {"pageSize": 1001}, "page_size"),
]


def test_every_list_limit_just_inside_and_just_outside(server):
    for path, inside, outside, field in LIMITS:
        r = get(server, path, **inside)
        # A 50-character folder is valid but not readable by this token: 403, never 400.
        want = 403 if inside.get("folderId") == "f" * 50 else 200
        assert r.status_code == want, (path, inside, r.text)
        r = get(server, path, **outside)
        assert r.status_code == 400, (path, outside, r.text)
        assert ("'%s'" % field) in r.json()["message"], r.text
    long_cluster = "c" * 51
    r = get(server, "/managed-redis/v1/clusters/%s/backups" % long_cluster)
    assert r.status_code == 400 and "cluster_id" in r.json()["message"]
    r = get(server, "/managed-redis/v1/clusters/%s/backups" % ("c" * 50))
    assert r.status_code == 404
    r = get(server, "/managed-redis/v1/backups", folderId="f1", pageToken="t" * 101)
    assert r.status_code == 400 and "page_token" in r.json()["message"]
    r = get(server, "/managed-redis/v1/backups", folderId="f1", pageToken="t" * 100)
    assert r.status_code == 400 and "next_page_token of this list" in r.json()["message"]


def test_tampered_page_tokens_are_refused(server):
    token = get(server, "/managed-redis/v1/backups", folderId="f1", pageSize=1).json()["nextPageToken"]
    assert len(token) <= 100
    assert get(server, "/managed-redis/v1/backups", folderId="f1", pageSize=1, pageToken=token).status_code == 200
    bad = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert get(server, "/managed-redis/v1/backups", folderId="f1", pageToken=bad).status_code == 400
    # A token of one list is not a token of another.
    assert get(server, "/managed-redis/v1/clusters/rd1/backups", pageToken=token).status_code == 400


def test_paging_walk_over_2500_backups_with_concurrent_inserts_and_deletes(server):
    """A walk of 100-backup pages while another thread inserts and deletes backups of the same
    folder; each page waits for at least one more insert+delete, so the list provably changes
    between pages. No backup is returned twice, none that existed for the whole walk is skipped,
    and the order is newest first."""
    initial = [{"id": "w%05d" % i, "engine": "REDIS", "folderId": "fwalk", "clusterId": "walk",
                "createdAt": "2026-10-01T00:%02d:%02dZ" % (i // 60 % 60, i % 60)} for i in range(2500)]
    server.import_records(initial)
    deleted = set()
    # Reader of fwalk and writer: a token declared for this test through SIGHUP reload.
    server.config.write_text(server.config.read_text().replace(
        "clusters:", "  - {token: walker-token-1, subject: walker, read: [fwalk], write: [fwalk]}\nclusters:", 1))
    assert "configuration reloaded" in server.reload()
    h = {"Authorization": "Bearer walker-token-1"}
    mutations = 40

    def mutate(i):
        if i == mutations:
            return False
        server.import_records([{"id": "new%03d" % i, "engine": "REDIS", "folderId": "fwalk",
                                "clusterId": "walk", "createdAt": "2026-10-01T00:20:%02dZ" % (i % 60)}])
        victim = "w%05d" % (i * 61 % 2500)
        r = requests.delete(server.rest + "/managed-redis/v1/backups/" + victim, headers=h)
        assert r.status_code == 200, r.text
        deleted.add(victim)
        assert wait_operation(server, r.json()["id"], token="walker-token-1").WhichOneof("result") == "response"

    mutator = Worker(mutate, "mutator").start()
    seen, token, pages = [], "", 0
    try:
        while True:
            mutator.wait_steps(min(pages + 1, mutations))  # the list changed since the last page
            params = {"folderId": "fwalk", "pageSize": 100}
            if token:
                params["pageToken"] = token
            r = requests.get(server.rest + "/managed-redis/v1/backups", params=params, headers=h)
            assert r.status_code == 200, r.text
            body = r.json()
            seen += [b["id"] for b in body.get("backups", [])]
            pages += 1
            token = body.get("nextPageToken", "")
            if not token:
                break
        mutator.wait_steps(mutations)
    finally:
        mutator.stop()
    assert mutator.steps == mutations and len(deleted) == mutations
    assert pages >= 24
    assert len(seen) == len(set(seen)), "a backup was returned twice"
    stable = {b["id"] for b in initial} - deleted
    missing = stable - set(seen)
    assert not missing, "skipped %d backups that existed for the whole walk" % len(missing)
    # Newest first: createdAt never increases along the walk.
    r = requests.get(server.rest + "/managed-redis/v1/backups", params={"folderId": "fwalk", "pageSize": 1000}, headers=h)
    times = [b["createdAt"] for b in r.json()["backups"]]
    assert len(times) == 1000 and times == sorted(times, reverse=True)


def test_reload_keeps_the_running_config_when_the_new_one_is_broken(server):
    """A broken file on SIGHUP is refused with its file, line and error in the log, and nothing
    of it applies: the reader token it renames still works, the new name does not. A good file
    then applies."""
    good = server.config.read_text()
    broken = good.replace("engine: redis", "engine: redys", 1).replace("reader-token-1", "reader-token-2")
    line = 1 + broken.splitlines().index(next(l for l in broken.splitlines() if "redys" in l))
    try:
        server.config.write_text(broken)
        outcome = server.reload()
        assert outcome.startswith("mdb-backupd: reload failed"), outcome
        assert "%s:%d: " % (server.config, line) in outcome and "unknown engine 'redys'" in outcome, outcome
        assert get(server, "/managed-redis/v1/backups/rd-1").status_code == 200
        assert get(server, "/managed-redis/v1/backups/rd-1", token="reader-token-2").status_code == 401
        server.config.write_text(good.replace("reader-token-1", "reader-token-2"))
        assert "configuration reloaded" in server.reload()
        assert get(server, "/managed-redis/v1/backups/rd-1", token="reader-token-2").status_code == 200
        assert get(server, "/managed-redis/v1/backups/rd-1").status_code == 401
    finally:
        server.config.write_text(good)
        assert "configuration reloaded" in server.reload()
    assert get(server, "/managed-redis/v1/backups/rd-1").status_code == 200


def test_a_listing_shows_every_change_at_once_whoever_made_it(server):
    """Pages of List are kept between calls while the catalog's backups are unchanged (the API's
    page cache). Each change shows in the very next listing, over gRPC and over REST alike,
    whoever made it: `catalog import` beside the running service, an edit of the catalog file by
    hand, a delete through the API."""
    stub = server.client(rd_bsg.BackupServiceStub)

    def listed(folder):
        answer = stub.List(rd_bs.ListBackupsRequest(folder_id=folder, page_size=1000), metadata=md())
        over_grpc = [(b.id, b.source_cluster_id) for b in answer.backups]
        r = get(server, "/managed-redis/v1/backups", folderId=folder, pageSize=1000)
        assert r.status_code == 200, r.text
        assert [(b["id"], b.get("sourceClusterId", "")) for b in r.json().get("backups", [])] == over_grpc
        return over_grpc

    rec = {"id": "kept-1", "engine": "REDIS", "folderId": "f2", "clusterId": "rdk",
           "createdAt": "2030-01-01T00:00:00Z"}
    before = listed("f2")
    assert listed("f2") == before  # the same page, kept
    server.import_records([rec])  # another process
    assert listed("f2") == [("kept-1", "rdk")] + before
    server.import_records([dict(rec, clusterId="rdk2")])  # the same backup, another record
    assert listed("f2") == [("kept-1", "rdk2")] + before
    db = sqlite3.connect(server.catalog)  # by hand
    db.execute("DELETE FROM backups WHERE id = 'kept-1'")
    db.commit()
    db.close()
    assert listed("f2") == before
    server.import_records([dict(rec, id="kept-2", folderId="f1", clusterId="rd1")])
    assert listed("f1")[0] == ("kept-2", "rd1")
    op = stub.Delete(rd_bs.DeleteBackupRequest(backup_id="kept-2"), metadata=md(WRITER))
    assert wait_operation(server, op).WhichOneof("result") == "response"
    assert "kept-2" not in [i for i, _ in listed("f1")]


def test_a_cluster_shows_only_the_backups_recorded_in_its_folder(server):
    """rd2 is in folder f2; records of an rd2 in folder f1 (the cluster's folder before a config
    change, or another folder's cluster of the same id) stay that folder's: a token of f2 alone
    does not see them through the cluster's listing, its verifications or its recovery window.
    Before, those listings went by the cluster id alone."""
    server.import_records([
        {"id": "rd2-was-f1", "engine": "REDIS", "folderId": "f1", "clusterId": "rd2",
         "createdAt": "2026-10-02T00:00:00Z"},
        {"id": "rd2-in-f2", "engine": "REDIS", "folderId": "f2", "clusterId": "rd2",
         "createdAt": "2026-10-01T00:00:00Z"}])
    other = "other-token-01"  # reads f2 only
    r = get(server, "/managed-redis/v1/clusters/rd2/backups", token=other)
    assert r.status_code == 200, r.text
    ids = [b["id"] for b in r.json().get("backups", [])]
    assert "rd2-in-f2" in ids and "rd2-was-f1" not in ids, r.text
    r = get(server, "/mdb-backup/v1/clusters/rd2/verifications", token=other)
    assert r.status_code == 200, r.text
    ids = [b["backupId"] for b in r.json().get("backups", [])]
    assert "rd2-in-f2" in ids and "rd2-was-f1" not in ids, r.text
    r = get(server, "/mdb-backup/v1/clusters/rd2/recoveryWindow", token=other)
    assert r.status_code in (200, 400), r.text
    assert "rd2-was-f1" not in r.text, r.text
    # The f1 record is f1's: listed with its folder, to a token that reads it.
    r = get(server, "/managed-redis/v1/backups", folderId="f1", pageSize=1000)
    assert "rd2-was-f1" in [b["id"] for b in r.json()["backups"]], r.text
