"""Redis backups end to end: through the official SDK, against real redis-server processes.

Tests that break something while a backup runs (kill the shard, kill the service, cancel, a second
backup) put a Proxy in front of the source and stall it part-way through the snapshot: the backup
then provably cannot end before the break, however fast the machine."""
import hashlib
import os
import re
import signal
import subprocess
import time

import grpc
from yandex.cloud.mdb.redis.v1 import backup_pb2 as rd_b
from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from mdb_harness import (CLI, Server, Worker, bytes_done, operation_json, sharded_cluster, start_server,
                         wait_operation, wait_running, write_key)
from redis_harness import fill

WRITER = [("authorization", "Bearer writer-token-1")]
SYNC = b"+FULLRESYNC"  # the source's answer to PSYNC: the snapshot follows it


def wait_op(server, op):
    return wait_operation(server, op)


def start_backup(server, cluster_id):
    op = server.client(rd_csg.ClusterServiceStub).Backup(
        rd_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
    meta = rd_cs.BackupClusterMetadata()
    assert op.metadata.Unpack(meta) and meta.cluster_id == cluster_id
    return op


def backup(server, cluster_id):
    return wait_op(server, start_backup(server, cluster_id))


def restore(server, backup_id, target):
    op = server.client(rd_csg.ClusterServiceStub).Restore(
        rd_cs.RestoreClusterRequest(backup_id=backup_id, name=target, environment=1, folder_id="f1",
                                    config_spec=rd_cs.ConfigSpec(version="7.0")), metadata=WRITER)
    return wait_op(server, op)


def list_backups(server, cluster_id):
    return list(server.client(rd_csg.ClusterServiceStub).ListBackups(
        rd_cs.ListClusterBackupsRequest(cluster_id=cluster_id), metadata=WRITER).backups)


def only_backup(server, cluster_id):
    backups = list_backups(server, cluster_id)
    assert len(backups) == 1, backups
    return backups[0]


def repo_packs(server):
    """How many packs the server's (posix) repository holds, from `mdb-backup repo stats`."""
    r = subprocess.run([str(CLI), "repo", "--repo", str(server.workdir / "repository"), "stats"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = re.search(r" in (\d+) packs", r.stdout)
    assert m, r.stdout
    return int(m.group(1))


def start_src_dst(workdir, src, dst, **extra):
    """A server with two standalone clusters of folder f1: `src` and `dst`."""
    return start_server(workdir, """
  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}
  - {id: dst, folder_id: f1, engine: redis, hosts: ["%s"]}
""" % (src.address, dst.address), **extra)


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
        # TTLs survive to the millisecond: the same absolute expiry (DEBUG DIGEST only sees that
        # a key has one).
        for key in ["k:str:0", "k:str:5", "k:str:19995"]:
            assert int(src.cli("PEXPIRETIME", key)) > 0
            assert dst.cli("PEXPIRETIME", key) == src.cli("PEXPIRETIME", key), key
        assert dst.cli("ROLE").splitlines()[0] == "master"  # detached after the restore
        # A restore never overwrites data: the target is not empty any more.
        op = restore(server, b.id, "dst")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        assert "restore only into empty servers" in op.error.message
    finally:
        server.stop()


def wait_caught_up(primary, replica, timeout=120):
    """Waits until the replica's link is up and it has applied everything the primary wrote."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = replica.info("replication")
        if info.get("master_link_status") == "up" and \
                info["master_repl_offset"] == primary.info("replication")["master_repl_offset"]:
            return
        time.sleep(0.05)
    raise AssertionError("replica did not catch up within %d s: %s" % (timeout, replica.info("replication")))


def test_primary_replica_backup_comes_from_the_replica_with_writes_running(workdir, redis_factory, proxy_factory):
    """The replica serves the snapshot (the primary does no full sync), while a writer keeps
    writing to the primary during the backup. The restore holds everything written before, and of
    the writer's keys exactly a prefix, none written after the snapshot began: one point in time."""
    primary = redis_factory()
    replica = redis_factory("--replicaof", "127.0.0.1", str(primary.port))
    dst = redis_factory()
    fill(primary, 20000)
    wait_caught_up(primary, replica)
    proxy = proxy_factory(replica.address)
    server = start_server(workdir, """
  - {id: pr, folder_id: f1, engine: redis, hosts: ["%s", "%s"]}
  - {id: dst, folder_id: f1, engine: redis, hosts: ["%s"]}
""" % (primary.address, proxy.address, dst.address))

    def write(i):
        assert primary.cli("SET", "during:%d" % i, "x" * 100) == "OK"
    writer = Worker(write, "writer")
    try:
        syncs_primary = int(primary.info("stats")["sync_full"])
        syncs_replica = int(replica.info("stats")["sync_full"])
        writer.start()
        writer.wait_steps(10)
        proxy.stall_after(SYNC)
        op = start_backup(server, "pr")
        proxy.wait_stalled()  # the snapshot has begun and cannot reach the service yet
        after_snapshot = writer.steps  # these writes completed after the snapshot's fork
        writer.wait_steps(after_snapshot + 20)  # writes during the backup, provably
        assert not operation_json(server, op).get("done")
        proxy.release()
        op = wait_op(server, op)
        written = writer.stop()
        assert op.WhichOneof("result") == "response", op.error
        assert int(replica.info("stats")["sync_full"]) == syncs_replica + 1  # the replica served it
        assert int(primary.info("stats")["sync_full"]) == syncs_primary
        op = restore(server, only_backup(server, "pr").id, "dst")
        assert op.WhichOneof("result") == "response", op.error
        for key in ["k:str:0", "k:str:19999", "k:hash:100", "k:zset:990", "k:stream:19900"]:
            assert dst.raw("DUMP", key) == primary.raw("DUMP", key), key
        during = sorted(int(k.split(":")[1]) for k in dst.cli("KEYS", "during:*").split())
        assert during == list(range(len(during))), "the writer's keys are not a prefix"
        # Writes that started after the snapshot began are not in it: at most the one in flight.
        assert len(during) <= after_snapshot + 1 and after_snapshot + 20 <= written
        assert int(dst.cli("DBSIZE")) == 20000 + 2000 * 4 + 200 + len(during)
    finally:
        proxy.release()
        writer.stop()
        server.stop()


def start_big_backup(workdir, redis_factory, proxy_factory, keys=40000):
    """A Redis shard with `keys` keys of 1000 bytes (an uncompressed snapshot of ~40 MB: the
    service reports progress in steps of a few MB) behind a proxy, an mdb-backupd declaring it as
    cluster 'src', and a MANUAL backup of it that has received about half of the snapshot and is
    stalled there: it cannot end until proxy.release(). Returns (src, proxy, server, op)."""
    src = redis_factory("--rdbcompression", "no")
    src.cli("DEBUG", "POPULATE", str(keys), "big", "1000")
    rdb = src.rdb_size()
    assert rdb > keys * 1000, rdb  # half of it is far more than the replies before the snapshot
    proxy = proxy_factory(src.address)
    server = start_server(workdir, '  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}\n' % proxy.address)
    proxy.stall_after(SYNC, rdb // 2)
    op = start_backup(server, "src")
    proxy.wait_stalled()
    return src, proxy, server, op


def test_shard_that_dies_mid_backup_fails_it_and_leaves_nothing(workdir, redis_factory, proxy_factory):
    """The shard dies with half of its snapshot read: the backup fails naming the shard and host,
    no backup is listed and the uploaded half is collected."""
    src, proxy, server, op = start_big_backup(workdir, redis_factory, proxy_factory)
    try:
        wait_running(server, op)
        src.proc.kill()
        src.proc.wait()
        proxy.release()  # the service now reads the rest of what was sent, then the close
        op = wait_op(server, op)
        assert op.WhichOneof("result") == "error"
        assert "shard 'src'" in op.error.message and proxy.address in op.error.message, op.error.message
        assert list_backups(server, "src") == []
        assert repo_packs(server) == 0
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


def make_cluster(redis_factory, n=3, timeout=120):
    nodes = [redis_factory("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
             for _ in range(n)]
    r = subprocess.run(["redis-cli", "--cluster", "create", *[x.address for x in nodes],
                        "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    deadline = time.time() + timeout
    while not all("cluster_state:ok" in x.cli("CLUSTER", "INFO") for x in nodes):
        assert time.time() < deadline, "the cluster did not reach cluster_state:ok in %d s" % timeout
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


def test_redis_cluster_backup_and_key_by_key_restore(workdir, redis_factory, proxy_factory):
    """Three masters backed up while a writer adds other keys (the first shard is stalled until
    the writer has written during the backup), restored key by key into another cluster: every
    value, encoding and TTL equal; the writer's keys restored are real writes and nothing else
    appears. A slot in migration refuses the backup."""
    nodes = make_cluster(redis_factory)
    targets = make_cluster(redis_factory)
    for cmd in TYPED:
        ccli(nodes[0], *cmd)
    for i in range(300):  # plus plain keys spread over every slot range
        ccli(nodes[0], "SET", "key%d" % i, i)
    keys_per_node = [int(n.cli("DBSIZE")) for n in nodes]
    assert all(k > 0 for k in keys_per_node) and sum(keys_per_node) == 300 + 14
    proxy = proxy_factory(nodes[0].address)
    server = start_server(workdir, sharded_cluster("rc", [proxy.address] + [n.address for n in nodes[1:]]) +
                          sharded_cluster("rc2", [x.address for x in targets]))

    def write(i):
        assert ccli(nodes[0], "SET", "during:%d" % i, i) == b"OK\n"
    writer = Worker(write, "cluster writer")
    try:
        writer.start()
        proxy.stall_after(SYNC)
        op = start_backup(server, "rc")
        proxy.wait_stalled()
        writer.wait_steps(writer.steps + 20)
        assert not operation_json(server, op).get("done")
        proxy.release()
        op = wait_op(server, op)
        written = writer.stop()
        assert op.WhichOneof("result") == "response", op.error
        b = only_backup(server, "rc")
        assert list(b.source_shard_names) == ["shard1", "shard2", "shard3"]
        op = restore(server, b.id, "rc2")
        assert op.WhichOneof("result") == "response", op.error
        during = [int(k.split(b":")[1]) for x in targets for k in x.raw("KEYS", "during:*").split()]
        assert all(0 <= i < written for i in during), during
        assert sum(int(x.cli("DBSIZE")) for x in targets) == sum(keys_per_node) + len(during)
        for key in [c[1] if c[0] != "XGROUP" and c[0] != "XREADGROUP" else "x:stream" for c in TYPED] + ["key0", "key299"]:
            # DEBUG DIGEST-VALUE: equal contents whatever the internal order of hash tables.
            assert ccli(targets[0], "DEBUG", "DIGEST-VALUE", key) == ccli(nodes[0], "DEBUG", "DIGEST-VALUE", key), key
            assert ccli(targets[0], "TYPE", key) == ccli(nodes[0], "TYPE", key), key
            assert ccli(targets[0], "OBJECT", "ENCODING", key) == ccli(nodes[0], "OBJECT", "ENCODING", key), key
        assert int(ccli(nodes[0], "PEXPIRETIME", "s:ttl")) > 0
        assert ccli(targets[0], "PEXPIRETIME", "s:ttl") == ccli(nodes[0], "PEXPIRETIME", "s:ttl")
        assert b"c1" in ccli(targets[0], "XINFO", "CONSUMERS", "x:stream", "g")
        # A slot in migration: the snapshot would not be consistent, so the backup is refused.
        ids = [n.cli("CLUSTER", "MYID") for n in nodes]
        slot = nodes[0].cli("CLUSTER", "SLOTS").splitlines()[0]
        nodes[0].cli("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[1])
        op = backup(server, "rc")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op
        assert "slots are being migrated" in op.error.message
    finally:
        proxy.release()
        writer.stop()
        server.stop()


def test_kill_9_during_a_backup_then_restart(workdir, redis_factory, proxy_factory):
    """The service dies mid-operation: after restart the operation is done with a clear error,
    no backup is listed, and the partial data is collected."""
    src, proxy, server, op = start_big_backup(workdir, redis_factory, proxy_factory)
    wait_running(server, op)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    proxy.release()
    server.log = open(server.workdir / "server.log", "a+")
    server.start()
    try:
        done = server.client(op_sg.OperationServiceStub).Get(
            op_s.GetOperationRequest(operation_id=op.id), metadata=WRITER)
        assert done.done and done.error.code == grpc.StatusCode.ABORTED.value[0], done
        assert "restarted while this operation was running" in done.error.message
        assert list_backups(server, "src") == []
        deadline = time.time() + 300  # the GC of the partial data runs in the background
        while repo_packs(server) != 0:
            assert time.time() < deadline, "the partial data was not collected within 300 s"
            time.sleep(0.2)
    finally:
        server.stop()


def test_progress_is_visible_while_a_backup_runs(workdir, redis_factory, proxy_factory):
    """While the backup is stalled half-way it reports bytes done, not done; then it finishes, and
    the bytes done seen along the way never went backwards."""
    src, proxy, server, op = start_big_backup(workdir, redis_factory, proxy_factory)
    try:
        seen = [wait_running(server, op)]  # not done, bytes done > 0
        proxy.release()
        deadline = time.time() + 600
        while True:
            body = operation_json(server, op)
            if body.get("done"):
                break
            seen.append(bytes_done(body))
            assert time.time() < deadline, "the backup did not finish within 600 s"
            time.sleep(0.01)
        assert "response" in body, body
        assert seen[0] > 0 and seen == sorted(seen), seen
    finally:
        server.stop()


def test_cancel_stops_a_running_backup_and_removes_its_data(workdir, redis_factory, proxy_factory):
    src, proxy, server, op = start_big_backup(workdir, redis_factory, proxy_factory)
    try:
        wait_running(server, op)
        cancelled = server.client(op_sg.OperationServiceStub).Cancel(
            op_s.CancelOperationRequest(operation_id=op.id), metadata=WRITER)
        assert cancelled.id == op.id
        proxy.release()
        done = wait_op(server, op)
        assert done.error.code == grpc.StatusCode.CANCELLED.value[0], done.error
        assert list_backups(server, "src") == []
        assert repo_packs(server) == 0  # the partial data was collected
    finally:
        server.stop()


def test_a_second_backup_of_a_running_cluster_fails_with_failed_precondition(workdir, redis_factory, proxy_factory):
    """One backup per cluster at a time (README): while the first is stalled mid-snapshot, a
    second Backup of the same cluster fails with FAILED_PRECONDITION naming the cluster, and the
    first still completes; once it has, the next Backup runs."""
    src = redis_factory()
    fill(src, 2000)
    proxy = proxy_factory(src.address)
    server = start_server(workdir, '  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}\n' % proxy.address)
    try:
        proxy.stall_after(SYNC)
        first = start_backup(server, "src")
        proxy.wait_stalled()
        assert not operation_json(server, first).get("done")
        try:  # refused at once, or as an operation that fails: either is FAILED_PRECONDITION
            second = start_backup(server, "src")
        except grpc.RpcError as e:
            code, message = e.code().value[0], e.details()
        else:
            second = wait_op(server, second)
            code, message = second.error.code, second.error.message
        assert code == grpc.StatusCode.FAILED_PRECONDITION.value[0], (code, message)
        assert "'src'" in message, message
        assert not operation_json(server, first).get("done")  # the first was running all along
        proxy.release()
        first = wait_op(server, first)
        assert first.WhichOneof("result") == "response", first.error
        assert len(list_backups(server, "src")) == 1
        third = backup(server, "src")
        assert third.WhichOneof("result") == "response", third.error
        assert len(list_backups(server, "src")) == 2
    finally:
        proxy.release()
        server.stop()


def tree(path):
    """Every file under `path` with the SHA-256 of its contents."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_wrong_repository_key_is_refused_at_start_and_changes_nothing(workdir, redis_factory):
    """A service whose encrypted repository holds a backup, restarted with another key (and with
    none): it exits non-zero saying the key does not open the repository, and not one file of the
    repository changes. With the right key again, the backup restores exactly."""
    src, dst = redis_factory(), redis_factory()
    fill(src, 2000)
    right, wrong = write_key(workdir / "right.key"), write_key(workdir / "wrong.key")
    server = start_src_dst(workdir, src, dst, server_extra="  repository_key_file: %s\n" % right)
    try:
        op = backup(server, "src")
        assert op.WhichOneof("result") == "response", op.error
        backup_id = only_backup(server, "src").id
    finally:
        server.stop()
    repository = server.workdir / "repository"
    before = tree(repository)
    assert any(p.startswith("manifests/") for p in before), before
    config = server.config.read_text()
    for key_line, message in [("  repository_key_file: %s\n" % wrong, "the key does not open the repository"),
                              ("", "is encrypted: give its key file")]:
        server.config.write_text(config.replace("  repository_key_file: %s\n" % right, key_line))
        code, err = server.run_until_exit()
        assert code != 0 and message in err and str(repository) in err, (code, err)
        assert tree(repository) == before
    server.config.write_text(config)
    server.log = open(server.workdir / "server.log", "a+")
    server.start()
    try:
        op = restore(server, backup_id, "dst")
        assert op.WhichOneof("result") == "response", op.error
        assert dst.digest() == src.digest()
    finally:
        server.stop()


def test_backup_and_restore_through_an_s3_repository(workdir, redis_factory):
    """The same service with its repository on S3 (versitygw in CI) and encrypted."""
    import uuid
    endpoint = os.environ.get("MDB_S3_ENDPOINT")
    if not endpoint:
        assert os.environ.get("MDB_S3_REQUIRED") != "1", "MDB_S3_REQUIRED=1 but no MDB_S3_ENDPOINT"
        import pytest
        pytest.skip("no S3 server (set MDB_S3_ENDPOINT)")
    src, dst = redis_factory(), redis_factory()
    fill(src, 5000)
    key = write_key(workdir / "repo.key")
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
