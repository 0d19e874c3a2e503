"""Redis backups end to end: through the official SDK, against real redis-server processes."""
import subprocess
import threading
import time

import grpc
import pytest
from yandex.cloud.mdb.redis.v1 import backup_pb2 as rd_b
from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from mdb_harness import sharded_cluster, start_server, wait_operation, wait_running
from redis_harness import fill

WRITER = [("authorization", "Bearer writer-token-1")]



def wait_op(server, op, timeout=300):
    return wait_operation(server, op, timeout=timeout)


def backup(server, cluster_id):
    op = server.client(rd_csg.ClusterServiceStub).Backup(
        rd_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
    meta = rd_cs.BackupClusterMetadata()
    assert op.metadata.Unpack(meta) and meta.cluster_id == cluster_id
    return wait_op(server, op)


def restore(server, backup_id, target):
    op = server.client(rd_csg.ClusterServiceStub).Restore(
        rd_cs.RestoreClusterRequest(backup_id=backup_id, name=target, environment=1, folder_id="f1",
                                    config_spec=rd_cs.ConfigSpec(version="7.0")), metadata=WRITER)
    return wait_op(server, op)


def only_backup(server, cluster_id):
    lst = server.client(rd_csg.ClusterServiceStub).ListBackups(
        rd_cs.ListClusterBackupsRequest(cluster_id=cluster_id), metadata=WRITER)
    assert len(lst.backups) == 1, lst
    return lst.backups[0]


def test_standalone_backup_and_restore_are_exact(workdir, redis_factory):
    src, dst = redis_factory(), redis_factory()
    fill(src, 20000)
    server = start_server(workdir, """
  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}
  - {id: dst, folder_id: f1, engine: redis, hosts: ["%s"]}
""" % (src.address, dst.address))
    try:
        digest = src.digest()
        before = time.time()
        op = backup(server, "src")
        assert op.WhichOneof("result") == "response", op.error
        b = only_backup(server, "src")
        assert list(b.source_shard_names) == ["src"] and b.type == rd_b.Backup.MANUAL
        assert before - 1 <= b.started_at.seconds <= b.created_at.seconds <= time.time() + 1
        got = server.client(rd_bsg.BackupServiceStub).Get(rd_bs.GetBackupRequest(backup_id=b.id), metadata=WRITER)
        assert got == b
        op = restore(server, b.id, "dst")
        assert op.WhichOneof("result") == "response", op.error
        assert dst.digest() == digest
        assert dst.cli("DBSIZE") == src.cli("DBSIZE")
        assert 3000 < int(dst.cli("TTL", "k:str:5")) <= 3605  # TTLs survive
        assert dst.cli("ROLE").splitlines()[0] == "master"  # detached after the restore
        # A restore never overwrites data: the target is not empty any more.
        op = restore(server, b.id, "dst")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        assert "restore only into empty servers" in op.error.message
    finally:
        server.stop()


def test_primary_replica_backup_comes_from_the_replica_with_writes_running(workdir, redis_factory):
    primary = redis_factory()
    replica = redis_factory("--replicaof", "127.0.0.1", str(primary.port))
    dst = redis_factory()
    fill(primary, 20000)
    def offset(r):
        return [l for l in r.cli("INFO", "replication").splitlines() if l.startswith("master_repl_offset:")][0]
    for _ in range(200):  # the replica has caught up with everything written so far
        info = replica.cli("INFO", "replication")
        if "master_link_status:up" in info and offset(replica) == offset(primary):
            break
        time.sleep(0.05)
    server = start_server(workdir, """
  - {id: pr, folder_id: f1, engine: redis, hosts: ["%s", "%s"]}
  - {id: dst, folder_id: f1, engine: redis, hosts: ["%s"]}
""" % (primary.address, replica.address, dst.address))
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            primary.cli("SET", "during:%d" % i, "x" * 100)
            i += 1
    t = threading.Thread(target=writer)
    try:
        full_syncs_primary = primary.cli("INFO", "stats").count("sync_full:1")
        t.start()
        op = backup(server, "pr")
        stop.set()
        t.join()
        assert op.WhichOneof("result") == "response", op.error
        assert "sync_full:1" in replica.cli("INFO", "stats")  # the replica served the snapshot
        assert primary.cli("INFO", "stats").count("sync_full:1") == full_syncs_primary
        b = only_backup(server, "pr")
        op = restore(server, b.id, "dst")
        assert op.WhichOneof("result") == "response", op.error
        # Everything written before the backup is there, equal; writes during it may be.
        for key in ["k:str:0", "k:str:19999", "k:hash:100", "k:zset:990"]:
            assert dst.raw("DUMP", key) == primary.raw("DUMP", key), key
        base = int(dst.cli("DBSIZE"))
        assert base >= 20000 + 2000 * 4 + 200
    finally:
        stop.set()
        server.stop()


def start_big_backup(workdir, redis_factory, keys):
    """A Redis shard with `keys` keys of 1000 bytes (big enough that its backup takes a while), an
    mdb-backupd declaring it as cluster 'src', and a MANUAL backup of it just started."""
    src = redis_factory()
    src.cli("DEBUG", "POPULATE", str(keys), "big", "1000")
    server = start_server(workdir, '  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}\n' % src.address)
    op = server.client(rd_csg.ClusterServiceStub).Backup(
        rd_cs.BackupClusterRequest(cluster_id="src"), metadata=WRITER)
    return src, server, op


def test_shard_that_dies_mid_backup_fails_it_and_leaves_nothing(workdir, redis_factory):
    src, server, op = start_big_backup(workdir, redis_factory, 300000)
    try:
        wait_running(server, op)
        src.proc.kill()
        op = wait_op(server, op)
        assert op.WhichOneof("result") == "error"
        assert "src" in op.error.message, op.error.message
        lst = server.client(rd_csg.ClusterServiceStub).ListBackups(
            rd_cs.ListClusterBackupsRequest(cluster_id="src"), metadata=WRITER)
        assert len(lst.backups) == 0
    finally:
        server.stop()


def test_unreachable_cluster_fails_with_a_clear_error(workdir):
    server = start_server(workdir, '  - {id: gone, folder_id: f1, engine: redis, hosts: ["127.0.0.1:1"]}\n')
    try:
        op = backup(server, "gone")
        assert op.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert "shard 'gone': no reachable master or replica" in op.error.message
    finally:
        server.stop()


def make_cluster(redis_factory, n=3):
    nodes = [redis_factory("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
             for _ in range(n)]
    r = subprocess.run(["redis-cli", "--cluster", "create", *[x.address for x in nodes],
                        "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for _ in range(100):
        if all("cluster_state:ok" in x.cli("CLUSTER", "INFO") for x in nodes):
            break
        time.sleep(0.1)
    return nodes


def ccli(node, *args):
    r = subprocess.run(["redis-cli", "-c", "-p", str(node.port), *map(str, args)], capture_output=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


# Every value encoding the restore must carry over: small and large (listpack vs hashtable,
# quicklist, skiplist, intset), TTLs, streams with a consumer group and pending entries.
TYPED = [
    ("SET", "s:plain", "hello"), ("SET", "s:int", "12345"), ("SET", "s:big", "x" * 5000),
    ("SET", "s:ttl", "soon", "EX", "7200"),
    ("RPUSH", "l:small", "a", "b", "c"), ("RPUSH", "l:big", *[str(i) * 20 for i in range(3000)]),
    ("SADD", "set:ints", *range(100)), ("SADD", "set:big", *["m%d" % i for i in range(1000)]),
    ("SADD", "set:small", "a", "b"),
    ("HSET", "h:small", "f", "v"), ("HSET", "h:big", *sum((["f%d" % i, "v" * 80] for i in range(800)), [])),
    ("ZADD", "z:small", 1, "a", 2.5, "b"), ("ZADD", "z:big", *sum(([i * 0.5, "m%d" % i] for i in range(500)), [])),
    ("XADD", "x:stream", "1-1", "f", "v"), ("XADD", "x:stream", "1-2", "f", "w"),
    ("XGROUP", "CREATE", "x:stream", "g", "0"), ("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "x:stream", ">"),
]


def test_redis_cluster_backup_and_key_by_key_restore(workdir, redis_factory):
    nodes = make_cluster(redis_factory)
    targets = make_cluster(redis_factory)
    for cmd in TYPED:
        ccli(nodes[0], *cmd)
    for i in range(300):  # plus plain keys spread over every slot range
        ccli(nodes[0], "SET", "key%d" % i, i)
    keys_per_node = [int(n.cli("DBSIZE")) for n in nodes]
    assert all(k > 0 for k in keys_per_node) and sum(keys_per_node) == 300 + 14
    server = start_server(workdir, sharded_cluster("rc", [n.address for n in nodes]) +
                          sharded_cluster("rc2", [x.address for x in targets]))
    stop = threading.Event()

    def writer():  # writes during the backup, to other keys
        i = 0
        while not stop.is_set():
            ccli(nodes[0], "SET", "during:%d" % i, i)
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    try:
        op = backup(server, "rc")
        stop.set()
        t.join()
        assert op.WhichOneof("result") == "response", op.error
        b = only_backup(server, "rc")
        assert list(b.source_shard_names) == ["shard1", "shard2", "shard3"]
        op = restore(server, b.id, "rc2")
        assert op.WhichOneof("result") == "response", op.error
        restored = sum(int(x.cli("DBSIZE")) for x in targets)
        assert restored >= sum(keys_per_node)  # plus whichever writes made it into the snapshot
        for key in [c[1] if c[0] != "XGROUP" and c[0] != "XREADGROUP" else "x:stream" for c in TYPED] + ["key0", "key299"]:
            # DEBUG DIGEST-VALUE: equal contents whatever the internal order of hash tables.
            assert ccli(targets[0], "DEBUG", "DIGEST-VALUE", key) == ccli(nodes[0], "DEBUG", "DIGEST-VALUE", key), key
            assert ccli(targets[0], "TYPE", key) == ccli(nodes[0], "TYPE", key), key
            assert ccli(targets[0], "OBJECT", "ENCODING", key) == ccli(nodes[0], "OBJECT", "ENCODING", key), key
        assert 7000 < int(ccli(targets[0], "TTL", "s:ttl")) <= 7200
        assert b"c1" in ccli(targets[0], "XINFO", "CONSUMERS", "x:stream", "g")
        # A slot in migration: the snapshot would not be consistent, so the backup is refused.
        ids = [n.cli("CLUSTER", "MYID") for n in nodes]
        slot = nodes[0].cli("CLUSTER", "SLOTS").splitlines()[0]
        nodes[0].cli("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[1])
        op = backup(server, "rc")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op
        assert "slots are being migrated" in op.error.message
    finally:
        stop.set()
        t.join()
        server.stop()


def test_automated_daily_backup_with_retention(workdir, redis_factory):
    """The window passed a minute ago and the cluster has no backup for it: the scheduler catches
    up at start with an AUTOMATED backup, then retention removes the expired AUTOMATED backups and
    keeps the MANUAL one."""
    import datetime
    src = redis_factory()
    fill(src, 1000)
    window = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=11)).strftime("%H:%M")
    d = workdir / "sched"
    d.mkdir()
    from mdb_harness import Server
    s = Server(d)
    text = s.config.read_text().replace("automated_backups: false", "automated_backups: true")
    s.config.write_text(text[:text.index("clusters:")] + "clusters:\n" +
                        '  - {id: daily, folder_id: f1, engine: redis, retention_days: 7, '
                        'backup_window_start: "%s", hosts: ["%s"]}\n' % (window, src.address))
    old = "2026-01-01T00:00:00Z"
    s.import_records([
        {"id": "old-auto-1", "engine": "REDIS", "folderId": "f1", "clusterId": "daily", "createdAt": old,
         "startedAt": old, "type": "AUTOMATED"},
        {"id": "old-auto-2", "engine": "REDIS", "folderId": "f1", "clusterId": "daily",
         "createdAt": "2026-01-02T00:00:00Z", "startedAt": "2026-01-02T00:00:00Z", "type": "AUTOMATED"},
        {"id": "old-manual", "engine": "REDIS", "folderId": "f1", "clusterId": "daily", "createdAt": old,
         "startedAt": old, "type": "MANUAL"},
    ])
    s.start()
    try:
        cl = s.client(rd_csg.ClusterServiceStub)
        deadline = time.time() + 60
        ids = []
        while time.time() < deadline:
            lst = cl.ListBackups(rd_cs.ListClusterBackupsRequest(cluster_id="daily"), metadata=WRITER)
            ids = [(b.id, b.type) for b in lst.backups]
            if len(ids) == 2 and "old-auto-1" not in dict(ids):
                break
            time.sleep(0.2)
        types = dict(ids)
        assert types.get("old-manual") == rd_b.Backup.MANUAL, ids
        new = [i for i, t in ids if i != "old-manual"]
        assert len(new) == 1 and types[new[0]] == rd_b.Backup.AUTOMATED, ids
        assert "automated backup of 'daily' started" in s.read_log()
    finally:
        s.stop()


def test_kill_9_during_a_backup_then_restart(workdir, redis_factory):
    """The service dies mid-operation: after restart the operation is done with a clear error,
    no backup is listed, and the partial data is collected."""
    import signal
    import subprocess
    src, server, op = start_big_backup(workdir, redis_factory, 300000)
    wait_running(server, op)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    server.log = open(server.workdir / "server.log", "a+")
    server.start()
    try:
        done = server.client(op_sg.OperationServiceStub).Get(
            op_s.GetOperationRequest(operation_id=op.id), metadata=WRITER)
        assert done.done and done.error.code == grpc.StatusCode.ABORTED.value[0], done
        assert "restarted while this operation was running" in done.error.message
        lst = server.client(rd_csg.ClusterServiceStub).ListBackups(
            rd_cs.ListClusterBackupsRequest(cluster_id="src"), metadata=WRITER)
        assert len(lst.backups) == 0
        from mdb_harness import CLI
        deadline = time.time() + 30
        while time.time() < deadline:
            stats = subprocess.run([str(CLI), "repo", "--repo", str(server.workdir / "repository"), "stats"],
                                   capture_output=True, text=True).stdout
            if " 0 packs" in stats:
                break
            time.sleep(0.2)
        assert " 0 packs" in stats, stats
    finally:
        server.stop()


def test_progress_is_visible_while_a_backup_runs(workdir, redis_factory):
    import requests
    src, server, op = start_big_backup(workdir, redis_factory, 400000)
    try:
        seen = []
        h = {"Authorization": "Bearer writer-token-1"}
        for _ in range(600):
            body = requests.get(server.rest + "/operations/" + op.id, headers=h).json()
            if body.get("done"):
                break
            seen.append(int(body["metadata"].get("bytesDone", "0")))
            time.sleep(0.01)
        assert body.get("done") and "response" in body, body
        assert any(b > 0 for b in seen), seen  # progress was reported while it ran
        assert seen == sorted(seen)              # and never went backwards
    finally:
        server.stop()


def test_cancel_stops_a_running_backup_and_removes_its_data(workdir, redis_factory):
    import requests
    from mdb_harness import CLI
    src, server, op = start_big_backup(workdir, redis_factory, 400000)
    try:
        h = {"Authorization": "Bearer writer-token-1"}
        for _ in range(500):  # until the backup is really streaming
            body = requests.get(server.rest + "/operations/" + op.id, headers=h).json()
            if int(body["metadata"].get("bytesDone", "0")) > 0 or body.get("done"):
                break
            time.sleep(0.01)
        assert not body.get("done"), "the backup finished before it could be cancelled"
        cancelled = server.client(op_sg.OperationServiceStub).Cancel(
            op_s.CancelOperationRequest(operation_id=op.id), metadata=WRITER)
        assert cancelled.id == op.id
        done = wait_op(server, op)
        assert done.error.code == grpc.StatusCode.CANCELLED.value[0], done.error
        lst = server.client(rd_csg.ClusterServiceStub).ListBackups(
            rd_cs.ListClusterBackupsRequest(cluster_id="src"), metadata=WRITER)
        assert len(lst.backups) == 0
        stats = subprocess.run([str(CLI), "repo", "--repo", str(server.workdir / "repository"), "stats"],
                               capture_output=True, text=True).stdout
        assert " 0 packs" in stats, stats  # the partial data was collected
    finally:
        server.stop()


def test_backup_and_restore_through_an_s3_repository(workdir, redis_factory):
    """The same service with its repository on S3 (versitygw in CI) and encrypted."""
    import os
    import uuid
    endpoint = os.environ.get("MDB_S3_ENDPOINT")
    if not endpoint:
        assert os.environ.get("MDB_S3_REQUIRED") != "1", "MDB_S3_REQUIRED=1 but no MDB_S3_ENDPOINT"
        import pytest
        pytest.skip("no S3 server (set MDB_S3_ENDPOINT)")
    src, dst = redis_factory(), redis_factory()
    fill(src, 5000)
    key = workdir / "repo.key"
    key.write_bytes(os.urandom(32))
    server = start_server(workdir, """
  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}
  - {id: dst, folder_id: f1, engine: redis, hosts: ["%s"]}
""" % (src.address, dst.address), server_extra="""  repository: "s3://%s/svc-%s?endpoint=%s&region=us-east-1&path_style=true"
  repository_key_file: %s
""" % (os.environ.get("MDB_S3_BUCKET", "mdb-test"), uuid.uuid4().hex[:8], endpoint, key))
    try:
        op = backup(server, "src")
        assert op.WhichOneof("result") == "response", op.error
        op = restore(server, only_backup(server, "src").id, "dst")
        assert op.WhichOneof("result") == "response", op.error
        assert dst.digest() == src.digest()
        assert not (server.workdir / "repository").exists()  # nothing went to the local disk
    finally:
        server.stop()
