"""A Redis server that answers the backup's commands with broken or hostile replies: arrays nested
two million deep, a bulk string declaring 3 GB, an array declaring a billion elements, a line
that never ends, a snapshot cut off, a snapshot that never ends. Each fails that backup with a
message naming the shard and host; the service stays up, bounded, and backs up another cluster.
A master that only keeps the replication link alive holds the backup for the cluster's
stall_timeout_seconds."""
import time

import grpc
import pytest

from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg

from hostile_lib import (WRITER, FakeServer, backup, check_fake, check_stalled, declare, recv_exact,
                         stream_until_closed)
from mdb_harness import start_server, wait_operation

ROLE_MASTER = b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"


def read_command(c):
    """One RESP command (an array of bulk strings), as the service sends them."""
    line = b""
    while not line.endswith(b"\r\n"):
        line += recv_exact(c, 1)
    args = []
    for _ in range(int(line[1:-2])):
        header = b""
        while not header.endswith(b"\r\n"):
            header += recv_exact(c, 1)
        args.append(recv_exact(c, int(header[1:-2]) + 2)[:-2].decode())
    return args


def fake_redis(misbehave):
    """A Redis master whose reply to the first command `misbehave(server, conn, args)` takes
    (returns True for) is the misbehaviour; the rest are answered as Redis 7 would."""
    def handle(server, c):
        while True:
            args = read_command(c)
            if misbehave(server, c, args):
                return
            name = args[0].upper()
            if name == "ROLE":
                c.sendall(ROLE_MASTER)
            elif name == "INFO":
                body = b"# Cluster\r\ncluster_enabled:0\r\n"
                c.sendall(b"$%d\r\n%s\r\n" % (len(body), body))
            elif name == "PSYNC":
                c.sendall(b"+FULLRESYNC " + b"a" * 40 + b" 0\r\n")
                c.sendall(b"$%d\r\nREDIS0011" % (1 << 20))  # and then it is cut off
                return
            else:
                c.sendall(b"+OK\r\n")
    return FakeServer(handle)


def on(command, reply, then_stream=None, budget=200 << 20):
    def misbehave(server, c, args):
        if args[0].upper() != command:
            return False
        server.send(c, reply)
        if then_stream:
            stream_until_closed(server, c, then_stream, budget)
        return True
    return misbehave


@pytest.mark.parametrize("kind,misbehave,code,parts", [
    ("arrays nested two million deep", on("INFO", b"*1\r\n" * 2_000_000),
     grpc.StatusCode.DATA_LOSS, ["reply refused", "nesting depth"]),
    ("a bulk string declaring 3 GB", on("INFO", b"$3000000000\r\nabc"),
     grpc.StatusCode.DATA_LOSS, ["reply refused", "bulk"]),
    ("an array declaring a billion elements", on("INFO", b"*1000000000\r\n:1\r\n"),
     grpc.StatusCode.DATA_LOSS, ["reply refused", "elements"]),
    ("a line that never ends", on("INFO", b"+", then_stream=b"a" * 65536, budget=64 << 20),
     grpc.StatusCode.DATA_LOSS, ["reply refused", "line"]),
    ("a ROLE reply nested two million deep", on("ROLE", b"*1\r\n" * 2_000_000),
     grpc.StatusCode.UNAVAILABLE, ["no reachable master or replica", "reply refused"]),
    ("a snapshot cut off", lambda s, c, a: False,
     grpc.StatusCode.UNAVAILABLE, ["closed the stream mid-snapshot"]),
    ("a snapshot that never ends",
     on("PSYNC", b"+FULLRESYNC " + b"a" * 40 + b" 0\r\n$EOF:" + b"m" * 40 + b"\r\nREDIS0011",
        then_stream=bytes(range(256)) * 256),
     grpc.StatusCode.UNAVAILABLE, ["closed the stream mid-snapshot"]),
])
def test_a_hostile_redis_fails_its_backup_and_nothing_else(workdir, kind, misbehave, code, parts):
    check_fake(workdir, "redis", fake_redis(misbehave), code, parts + ["shard"], kind)


def keep_alive_only(server, c, args):
    """After FULLRESYNC, only the newlines a master sends while its BGSAVE runs, for good."""
    if args[0].upper() != "PSYNC":
        return False
    server.send(c, b"+FULLRESYNC " + b"a" * 40 + b" 0\r\n")
    while not server.stopping:
        server.send(c, b"\n")
        time.sleep(0.2)
    return True


def test_a_master_that_only_keeps_the_link_alive_holds_the_backup_for_its_stall_timeout(workdir):
    fake = fake_redis(keep_alive_only)
    try:
        # FULLRESYNC's line (56 bytes), then at least a second of keep-alives.
        check_stalled(workdir, "redis", fake, 56 + 5, "keep-alives")
    finally:
        fake.close()


def test_an_error_text_that_is_no_utf8_and_forges_log_lines_is_kept_harmless(workdir):
    """A master whose error reply carries bytes that are not UTF-8, a newline with a forged log
    line after it, and terminal escapes. The operation's record stays readable (protobuf refuses
    a string field that is not UTF-8: the operation, and its cluster's listing of operations,
    were unreadable for good), the bytes are shown as \\xNN, and the log has no forged line."""
    forged = b"mdb-backupd: operation forged (Create backup) done"
    fake = fake_redis(on("INFO", b"-ERR \xff\xfe boom\n" + forged + b"\x1b]0;t\x07\x9b\r\n"))
    server = start_server(workdir, declare("redis", "bad", fake.address))
    try:
        done = wait_operation(server, backup(server, "redis", "bad"), timeout=60)
        assert done.HasField("error"), "the backup of a hostile source succeeded"
        assert "\\xFF\\xFE boom\n" + forged.decode() in done.error.message, done.error.message
        listed = server.client(rd_csg.ClusterServiceStub).ListOperations(
            rd_cs.ListClusterOperationsRequest(cluster_id="bad"), metadata=WRITER)
        assert [op.id for op in listed.operations] == [done.id], listed
        lines = server.read_log().splitlines()
        assert not [l for l in lines if l.startswith(forged.decode())], lines
        assert not [l for l in lines if "\x1b" in l or "\x07" in l], lines
        assert [l for l in lines if "\\xFF\\xFE boom " + forged.decode() in l], lines
    finally:
        server.stop()
        fake.close()
