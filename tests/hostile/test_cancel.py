"""Cancel reaches an operation blocked on a source that accepts connections but never answers: for
Redis, Greenplum (PostgreSQL protocol), OpenSearch (HTTP) and MongoDB the backup ends CANCELLED
naming the step it was in, long before any network timeout (10 to 600 s) would have ended it, and
the service keeps serving. (MongoDB's client library cannot be interrupted mid-call: the
connection is probed with 1 s timeouts between which the cancel is seen.) Nobody has to cancel
it: a backup that gets no data for the cluster's `stall_timeout_seconds` ends DEADLINE_EXCEEDED
by itself, naming the step too."""
import socket
import time

import grpc
import pytest
from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg

from hostile_lib import WRITER, FakeServer, backup, declare
from mdb_harness import start_server, wait_operation


class SilentServer(FakeServer):
    """Accepts TCP connections, reads whatever comes, never answers."""

    def __init__(self):
        self.connections = 0
        self.received = 0
        super().__init__(self._swallow)

    def _swallow(self, server, c):
        self.connections += 1
        c.settimeout(0.2)
        while not self.stopping:
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            self.received += len(data)


STEPS = [
    ("redis", "cancelled while waiting for redis"),
    ("greenplum", "cancelled while connecting to postgres"),
    ("opensearch", "cancelled during GET / at opensearch"),
    ("mongodb", "cancelled while connecting to mongodb"),
]


def still_serves(server, engine, op):
    """The service, and the cluster, take the next backup (cancelled at once)."""
    again = backup(server, engine, "c1")
    assert again.id and again.id != op.id
    server.client(op_sg.OperationServiceStub).Cancel(
        op_s.CancelOperationRequest(operation_id=again.id), metadata=WRITER)
    wait_operation(server, again, timeout=20)


def wait_blocked(silent, engine):
    """Until the source has the connection (and the first request) and says nothing."""
    deadline = time.time() + 60
    while not silent.connections or (engine in ("redis", "opensearch") and silent.received == 0):
        assert time.time() < deadline, "the backup never reached the silent source"
        time.sleep(0.05)


@pytest.mark.parametrize("engine,step", STEPS)
def test_cancel_ends_a_backup_blocked_on_a_silent_source(workdir, engine, step):
    silent = SilentServer()
    try:
        server = start_server(workdir, declare(engine, "c1", silent.address))
        try:
            op = backup(server, engine, "c1")
            wait_blocked(silent, engine)
            time.sleep(0.5)  # well inside the wait: nothing would end it but a timeout
            server.client(op_sg.OperationServiceStub).Cancel(
                op_s.CancelOperationRequest(operation_id=op.id), metadata=WRITER)
            # A hang guard, far below the 30-600 s network timeouts that ended such waits before.
            done = wait_operation(server, op, timeout=20)
            assert done.error.code == grpc.StatusCode.CANCELLED.value[0], done.error
            assert step in done.error.message, done.error.message
            still_serves(server, engine, op)
        finally:
            server.stop()
    finally:
        silent.close()


@pytest.mark.parametrize("engine,step", STEPS)
def test_a_backup_that_gets_no_data_ends_by_itself(workdir, engine, step):
    """The silent source holds the backup only for the cluster's stall_timeout_seconds (1 s here,
    one heartbeat a second): it ends DEADLINE_EXCEEDED, saying why and the step it was stopped in
    (a network timeout would end it with another code and message), and the service keeps
    serving."""
    silent = SilentServer()
    try:
        decl = declare(engine, "c1", silent.address, "stall_timeout_seconds: 1")
        server = start_server(workdir, decl, server_extra="  lease_seconds: 3\n")
        try:
            op = backup(server, engine, "c1")
            wait_blocked(silent, engine)
            done = wait_operation(server, op, timeout=20)
            assert done.error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], done.error
            message = done.error.message
            assert message.startswith("the backup read no data from cluster 'c1' (its databases, "
                                      "or the repository storing it) for "), message
            assert "the cluster's stall_timeout_seconds is 1: raise it if the source is only slow" \
                in message, message
            assert "It reported: " + step in message, message
            still_serves(server, engine, op)
        finally:
            server.stop()
    finally:
        silent.close()
