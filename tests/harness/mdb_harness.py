"""The mdb-backupd harness of the live tests: a config with tokens and clusters, records to import,
and a Server that starts the real binary on 127.0.0.1 and stops it."""
import json
import os
import pathlib
import re
import signal
import subprocess
import tempfile
import time

import yandexcloud

BUILD = pathlib.Path(os.environ.get("MDB_BUILD", pathlib.Path(__file__).parents[2] / "build"))
SERVER = BUILD / "src/server/mdb-backupd"
CLI = BUILD / "src/cli/mdb-backup"

READER = "reader-token-1"  # reads f1 and f2
WRITER = "writer-token-1"  # reads and writes f1
OTHER = "other-token-01"   # reads f2 only

CONFIG = """
server:
  grpc_listen: 127.0.0.1:0
  rest_listen: 127.0.0.1:0
  catalog: catalog.db
  worker_threads: 2
  automated_backups: false
tokens:
  - {token: reader-token-1, subject: reader, read: [f1, f2]}
  - {token: writer-token-1, subject: writer, read: [f1], write: [f1]}
  - {token: other-token-01, subject: other, read: [f2]}
%(extra_tokens)s
clusters:
  - id: gp1
    folder_id: f1
    engine: greenplum
    shards:
      - {name: coordinator, hosts: ["127.0.0.1:1"]}
      - {name: seg0, hosts: ["127.0.0.1:2"]}
  - {id: mg1, folder_id: f1, engine: mongodb, shards: [{name: rs01, hosts: ["127.0.0.1:1"]}, {name: rs02, hosts: ["127.0.0.1:2"]}]}
  - {id: rd1, folder_id: f1, engine: redis, hosts: ["127.0.0.1:1"]}
  - {id: os1, folder_id: f1, engine: opensearch, hosts: ["127.0.0.1:1"]}
  - {id: rd2, folder_id: f2, engine: redis, hosts: ["127.0.0.1:6380"]}
  - {id: walk, folder_id: fwalk, engine: redis, hosts: ["127.0.0.1:6381"]}
"""

# The records every engine's API must return exactly (what later engines will measure).
RECORDS = [
    {"id": "gp-base", "engine": "GREENPLUM", "folderId": "f1", "clusterId": "gp1",
     "startedAt": "2026-11-20T01:00:00Z", "createdAt": "2026-11-20T01:10:00.250Z",
     "type": "AUTOMATED", "method": "BASE", "size": "1610612736", "journalSize": "33554432"},
    {"id": "gp-incr", "engine": "GREENPLUM", "folderId": "f1", "clusterId": "gp1",
     "startedAt": "2026-11-21T01:00:00Z", "createdAt": "2026-11-21T01:02:00.000000001Z",
     "type": "MANUAL", "method": "INCREMENTAL", "parentId": "gp-base", "size": "9007199254740993",
     "journalSize": "1"},
    {"id": "mg-1", "engine": "MONGODB", "folderId": "f1", "clusterId": "mg1",
     "startedAt": "2026-11-20T02:00:00Z", "createdAt": "2026-11-20T02:05:00Z", "type": "MANUAL",
     "sourceShardNames": ["rs01", "rs02"], "size": "123456", "journalSize": "789"},
    {"id": "rd-1", "engine": "REDIS", "folderId": "f1", "clusterId": "rd1",
     "startedAt": "2026-11-20T03:00:00Z", "createdAt": "2026-11-20T03:00:09Z",
     "type": "AUTOMATED", "sourceShardNames": ["rd1"]},
    {"id": "rd-2", "engine": "REDIS", "folderId": "f1", "clusterId": "rd1",
     "startedAt": "2026-11-21T03:00:00Z", "createdAt": "2026-11-21T03:00:09Z",
     "type": "MANUAL", "sourceShardNames": ["rd1"]},
    {"id": "rd-f2", "engine": "REDIS", "folderId": "f2", "clusterId": "rd2",
     "startedAt": "2026-11-21T03:00:00Z", "createdAt": "2026-11-21T03:00:09Z",
     "type": "MANUAL", "sourceShardNames": ["rd2"]},
    {"id": "os-1", "engine": "OPENSEARCH", "folderId": "f1", "clusterId": "os1",
     "startedAt": "2026-11-20T04:00:00Z", "createdAt": "2026-11-20T04:01:00Z",
     "indices": ["logs-%03d" % i for i in range(120)], "opensearchVersion": "2.19.1",
     "size": "5000", "addedSize": "400", "logicalSize": "20000", "restoreSize": "21000"},
]


class Server:
    def __init__(self, workdir, extra_tokens=""):
        self.workdir = pathlib.Path(workdir)
        self.config = self.workdir / "config.yaml"
        self.catalog = self.workdir / "catalog.db"
        self.config.write_text(CONFIG % {"extra_tokens": extra_tokens})
        self.log = open(self.workdir / "server.log", "w+")
        self.proc = None

    def import_records(self, records):
        lines = "".join(json.dumps(r) + "\n" for r in records)
        subprocess.run([str(CLI), "catalog", "import", "--catalog", str(self.catalog), "-"],
                       input=lines.encode(), check=True, capture_output=True)

    def start(self):
        self.proc = subprocess.Popen([str(SERVER), "--config", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"grpc=(\S+) rest=(\S+)", line)
        assert m, "mdb-backupd did not start: %r; log: %s" % (line, self.read_log())
        self.grpc, self.rest = m.group(1), "http://" + m.group(2)

    def read_log(self):
        self.log.flush()
        return (self.workdir / "server.log").read_text()

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # never leave a server behind; the test still fails below
                self.proc.wait()
                raise AssertionError("mdb-backupd did not stop within 20 s of SIGTERM")
        self.log.close()

    def client(self, stub):
        sdk = yandexcloud.SDK(iam_token="t1.unused")  # makes no network call
        return sdk.client(stub, endpoint=self.grpc, insecure=True)


def md(token=READER):
    return [("authorization", "Bearer " + token)]


def wait_operation(server, op, token="writer-token-1", timeout=300):
    """Polls OperationService.Get until `op` is done; returns the final Operation."""
    from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg
    ops = server.client(op_sg.OperationServiceStub)
    deadline = time.time() + timeout
    while time.time() < deadline:
        op = ops.Get(op_s.GetOperationRequest(operation_id=op.id), metadata=md(token))
        if op.done:
            return op
        time.sleep(0.1)
    raise AssertionError("operation %s not done after %d s" % (op.id, timeout))


def sharded_cluster(cluster_id, addresses, engine="redis", names=None):
    """A cluster declaration (config YAML) with one shard per address, named shard1, shard2...
    unless `names` are given."""
    names = names or ["shard%d" % (i + 1) for i in range(len(addresses))]
    shards = "".join('      - {name: %s, hosts: ["%s"]}\n' % (n, a) for n, a in zip(names, addresses))
    return "  - id: %s\n    folder_id: f1\n    engine: %s\n    shards:\n%s" % (cluster_id, engine, shards)


def start_server(workdir, clusters_yaml, name="mdb", server_extra=""):
    """An mdb-backupd declaring `clusters_yaml`; `server_extra` adds lines to its server section."""
    d = workdir / name
    d.mkdir()
    s = Server(d)
    text = s.config.read_text().replace("  automated_backups: false\n",
                                        "  automated_backups: false\n" + server_extra)
    s.config.write_text(text[:text.index("clusters:")] + "clusters:\n" + clusters_yaml)
    s.start()
    return s


def wait_running(server, op, token="writer-token-1", timeout=60):
    """Waits until operation `op` reports bytes done (it is copying data), so that a test can
    break something mid-copy without racing the operation's start or end."""
    import requests
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = requests.get(server.rest + "/operations/" + op.id,
                            headers={"Authorization": "Bearer " + token}).json()
        assert not body.get("done"), "operation %s ended before it was seen running: %s" % (op.id, body)
        if int(body.get("metadata", {}).get("bytesDone", "0")) > 0:
            return
        time.sleep(0.01)
    raise AssertionError("operation %s reported no progress within %d s" % (op.id, timeout))


def factory_fixture(cls):
    """A pytest fixture that makes `cls(workdir, ...)` servers on demand and stops them all after
    the test."""
    import pytest

    @pytest.fixture
    def fixture(workdir):
        started = []

        def make(*args, **kw):
            server = cls(workdir, *args, **kw)
            started.append(server)
            return server
        yield make
        for server in started:
            server.stop()
    return fixture
