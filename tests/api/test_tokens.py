"""Tokens and permissions at the front door (issue #12): reading a folder's backups does not let a
token restore them (`restore` is a permission of its own), a token kept in the config only as its
SHA-256 works, wrong tokens from one address are slowed without locking out other addresses, and
Operation.created_by never holds token bytes."""
import hashlib
import http.client
import json
import time
import urllib.parse

import grpc
import pytest
from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg

from mdb_harness import md, running_server, wait_operation

HASHED = "kept-as-a-digest-1"
EXTRA_TOKENS = """
  - {token: read-f2-write-f1, subject: copier, read: [f2], write: [f1]}
  - {token: restore-f2-write-f1, subject: restorer, restore: [f2], write: [f1]}
  - {token_sha256: %s, subject: hashed, read: [f1]}
  - {token: no-subject-token-1, write: [f1]}
""" % hashlib.sha256(HASHED.encode()).hexdigest()


@pytest.fixture(scope="module")
def server():
    # A small burst and a slow refill (one every 10 s), so that the throttling test needs few
    # requests and its checks of the refusal fit well inside one refill; this server is the
    # module's own, so no other test sees its throttled address.
    with running_server(extra_tokens=EXTRA_TOKENS,
                        server_extra="  limits: {failed_auth_burst: 5, failed_auth_per_minute: 6}\n") as s:
        yield s


def restore(server, token):
    """Restores rd-f2 (folder f2) into rd1 (folder f1) through the SDK."""
    cl = server.client(rd_csg.ClusterServiceStub)
    return cl.Restore(rd_cs.RestoreClusterRequest(
        backup_id="rd-f2", name="rd1", folder_id="f1", environment=1,
        config_spec=rd_cs.ConfigSpec(version="7.2")), metadata=md(token))


def rest(server, verb, path, token, body=None, source="127.0.0.1"):
    host, port = server.rest.split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    headers = {"Authorization": "Bearer " + token} if token else {}
    conn.request(verb, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    out = (r.status, json.loads(r.read() or b"{}"))
    conn.close()
    return out


def test_read_is_not_enough_to_restore_a_folders_backups(server):
    # Read on the backup's folder and write on the target's: today's main restored this.
    with pytest.raises(grpc.RpcError) as e:
        restore(server, "read-f2-write-f1")
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "may not restore backups of folder 'f2'" in e.value.details()
    status, body = rest(server, "POST", "/managed-redis/v1/clusters:restore", "read-f2-write-f1",
                        {"backupId": "rd-f2", "name": "rd1", "folderId": "f1",
                         "environment": "PRODUCTION", "configSpec": {"version": "7.2"}})
    assert status == 403 and "restore" in body["message"], body
    # `restore` on the backup's folder (and write on the target's) is what it takes: the restore
    # starts (and fails on the test cluster's unreachable server, which is not the point here).
    op = restore(server, "restore-f2-write-f1")
    assert op.created_by == "restorer"
    done = wait_operation(server, op.id, token="restore-f2-write-f1")
    assert done.error.code != grpc.StatusCode.PERMISSION_DENIED.value[0], done.error
    # ...and a restorer still cannot write to the backup's folder.
    with pytest.raises(grpc.RpcError) as e:
        server.client(rd_bsg.BackupServiceStub).Delete(
            rd_bs.DeleteBackupRequest(backup_id="rd-f2"), metadata=md("restore-f2-write-f1"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_token_kept_only_as_its_digest_authenticates(server):
    b = server.client(rd_bsg.BackupServiceStub).Get(rd_bs.GetBackupRequest(backup_id="rd-1"),
                                                    metadata=md(HASHED))
    assert b.id == "rd-1"
    assert HASHED not in server.config.read_text()


def test_created_by_never_holds_token_bytes(server):
    op = server.client(rd_csg.ClusterServiceStub).Backup(
        rd_cs.BackupClusterRequest(cluster_id="rd1"), metadata=md("no-subject-token-1"))
    assert op.created_by.startswith("token at line "), op.created_by
    assert "no-s" not in op.created_by
    wait_operation(server, op.id)


def test_two_authorization_entries_are_refused_over_grpc(server):
    with pytest.raises(grpc.RpcError) as e:
        server.client(rd_bsg.BackupServiceStub).Get(
            rd_bs.GetBackupRequest(backup_id="rd-1"),
            metadata=md("writer-token-1") + md("nope-nope-nope"))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "more than one authorization" in e.value.details()


def test_wrong_tokens_are_slowed_per_address_without_locking_out_others(server):
    path = "/managed-redis/v1/backups/rd-1"
    codes = [rest(server, "GET", path, "wrong-token-%d" % i)[0] for i in range(8)]
    # The burst of 5 is answered 401; past it the address waits its turn (429), whatever token
    # it sends, so a guesser gains nothing by going faster.
    assert codes[:5] == [401] * 5, codes
    assert 429 in codes[5:], codes
    status, body = rest(server, "GET", path, "writer-token-1")
    assert status == 429 and "too many wrong tokens from 127.0.0.1" in body["message"], body
    with pytest.raises(grpc.RpcError) as e:  # gRPC counts per address too
        server.client(rd_bsg.BackupServiceStub).Get(rd_bs.GetBackupRequest(backup_id="rd-1"),
                                                    metadata=md("writer-token-1"))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Another address is not locked out by it.
    assert rest(server, "GET", path, "writer-token-1", source="127.0.0.2")[0] == 200
    # The wait is bounded: one attempt every 10 s comes back (polled; the deadline is a hang guard).
    deadline = time.time() + 60
    while rest(server, "GET", path, "writer-token-1")[0] != 200:
        assert time.time() < deadline, "127.0.0.1 still throttled 60 s after its last wrong token"
        time.sleep(0.5)
