"""What every hostile-source test checks, whatever the engine: a backup of a cluster whose source
misbehaves (a fake server on 127.0.0.1) fails with the expected code and a message naming the
problem and the host, the service stays up and bounded in memory, and a backup of another cluster
(a real Redis) started meanwhile finishes."""
import socket
import threading
import time

import grpc
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg
from yandex.cloud.mdb.mongodb.v1 import cluster_service_pb2 as mg_cs, cluster_service_pb2_grpc as mg_csg
from yandex.cloud.mdb.opensearch.v1 import cluster_service_pb2 as os_cs, cluster_service_pb2_grpc as os_csg
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg

from mdb_harness import sharded_cluster, start_server, wait_operation
from redis_harness import Redis, fill

WRITER = [("authorization", "Bearer writer-token-1")]
# Far above what the service needs for a small backup (about 60 MB), far below what any of the
# hostile replies would cost if it were buffered (they declare or send hundreds of MB to GB).
RSS_CEILING_KB = 400 * 1024


def backup(server, engine, cluster_id):
    if engine == "redis":
        return server.client(rd_csg.ClusterServiceStub).Backup(
            rd_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
    if engine == "greenplum":
        return server.client(gp_csg.ClusterServiceStub).Backup(
            gp_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
    if engine == "mongodb":
        return server.client(mg_csg.ClusterServiceStub).Backup(
            mg_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
    return server.client(os_csg.ClusterServiceStub).Backup(
        os_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)


def peak_rss_kb(server):
    for line in open("/proc/%d/status" % server.proc.pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM for mdb-backupd")


def declare(engine, cluster_id, address, setting=None):
    """Cluster `cluster_id` of `engine` on `address`, with `setting` ("key: value") in its entry."""
    if engine in ("greenplum", "mongodb"):
        decl = sharded_cluster(cluster_id, [address], engine=engine, names=["shard1"])
        head = "  - id: %s\n" % cluster_id
        return decl.replace(head, head + "    %s\n" % setting) if setting else decl
    return "  - {id: %s, folder_id: f1, engine: %s, hosts: [\"%s\"]%s}\n" % (
        cluster_id, engine, address, ", " + setting if setting else "")


def check_stalled(workdir, engine, fake, min_sent, what):
    """Backs up cluster c1 at `fake`, a source that keeps the connection busy but sends no data,
    with a stall_timeout_seconds of 2 and a heartbeat a second: the backup ends DEADLINE_EXCEEDED,
    saying so and what the driver was doing, after the fake sent at least `min_sent` bytes of
    `what` (without the watch it would hang until cancelled)."""
    server = start_server(workdir, declare(engine, "c1", fake.address, "stall_timeout_seconds: 2"),
                          server_extra="  lease_seconds: 3\n")
    try:
        op = backup(server, engine, "c1")
        done = wait_operation(server, op, timeout=60)
        assert done.error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], done.error
        assert done.error.message.startswith("the backup read no data from cluster 'c1'"), \
            done.error.message
        assert "It reported: " in done.error.message, done.error.message
        assert fake.sent >= min_sent, "the fake never got to its %s: %d bytes" % (what, fake.sent)
    finally:
        server.stop()


def check_hostile_backup(workdir, engine, fake_address, code, message_parts, timeout=120,
                         declaration=None):
    """Backs up a cluster "bad" at `fake_address` (a misbehaving `engine` source; `declaration`
    replaces its config lines when the engine needs host options) next to a real Redis cluster;
    asserts the fake's backup ends with `code` and a message holding every part of
    `message_parts`, the other cluster's backup succeeds, and the service stays up and bounded.
    Returns the failed operation's message."""
    good = Redis(workdir)
    try:
        fill(good, 200)
        server = start_server(workdir, (declaration or declare(engine, "bad", fake_address)) +
                              declare("redis", "good", good.address))
        try:
            bad_op = backup(server, engine, "bad")
            good_op = backup(server, "redis", "good")
            bad = wait_operation(server, bad_op, timeout=timeout)
            assert bad.HasField("error"), "the backup of a hostile source succeeded"
            assert bad.error.code == code.value[0], (bad.error, server.read_log()[-3000:])
            for part in message_parts:
                assert part in bad.error.message, bad.error.message
            done = wait_operation(server, good_op, timeout=timeout)
            assert not done.HasField("error"), done.error
            assert server.proc.poll() is None, "mdb-backupd died: %s" % server.read_log()[-3000:]
            assert peak_rss_kb(server) < RSS_CEILING_KB, peak_rss_kb(server)
            # Still serving: a second backup of the good cluster is accepted and finishes.
            again = wait_operation(server, backup(server, "redis", "good"), timeout=timeout)
            assert not again.HasField("error"), again.error
            return bad.error.message
        finally:
            server.stop()
    finally:
        good.stop()


def check_fake(workdir, engine, fake, code, message_parts, label):
    """check_hostile_backup against `fake` (anything with .address, .sent and .close()), with its
    address among the message parts; closes it."""
    try:
        message = check_hostile_backup(workdir, engine, fake.address, code,
                                       message_parts + [fake.address])
        print(label, "->", message, "(%d bytes sent)" % fake.sent)
        return message
    finally:
        fake.close()


class FakeServer:
    """A TCP server on 127.0.0.1 that runs `handler(conn)` on a thread per connection; what the
    handler does is the misbehaviour. Connections are closed when the handler returns."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stopping = False
        self.sent = 0  # bytes the handlers report having sent
        self.threads = []
        self.accept_thread = threading.Thread(target=self._accept, daemon=True)
        self.accept_thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c):
        try:
            c.settimeout(30)
            self.handler(self, c)
        except OSError:
            pass  # the service hung up: that is what it should do with most of these replies
        finally:
            c.close()

    def send(self, c, data):
        c.sendall(data)
        self.sent += len(data)

    def close(self):
        self.stopping = True
        self.accept_thread.join()
        self.sock.close()
        for t in self.threads:
            t.join(timeout=35)


def recv_exact(c, n):
    out = b""
    while len(out) < n:
        chunk = c.recv(n - len(out))
        if not chunk:
            raise OSError("peer closed")
        out += chunk
    return out


def stream_until_closed(server, c, chunk, budget):
    """Sends `chunk` again and again until the peer stops reading or `budget` bytes went out."""
    sent = 0
    while sent < budget and not server.stopping:
        server.send(c, chunk)
        sent += len(chunk)
    return sent
