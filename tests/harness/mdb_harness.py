"""The mdb-backupd harness of the live tests: a config with tokens and clusters, records to import,
a Server that starts the real binary on 127.0.0.1 and stops it; a Worker (a load thread whose
failure fails the test). Proxy (a TCP forwarder that can stall a peer) is proxy_harness's, and
imported from here too."""
import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import yandexcloud

from proxy_harness import Proxy, proxy_fixture  # noqa: F401 (the tests import them from here)

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
     # What only OpenSearch shows: its Backup type's fields, as its driver records them (all
     # 120 indices here, to see the API cut the list to the contract's 100).
     "engineFields": {"@type": "type.googleapis.com/yandex.cloud.mdb.opensearch.v1.Backup",
                      "indices": ["logs-%03d" % i for i in range(120)], "indicesTotal": "120",
                      "opensearchVersion": "2.19.1"},
     "size": "5000", "addedSize": "400", "logicalSize": "20000", "restoreSize": "21000"},
]


class Server:
    def __init__(self, workdir, extra_tokens="", server_extra="", scheme="http", catalog=None):
        """`server_extra` adds lines to the config's server section (e.g. its tls block);
        `scheme` is the REST listener's ("https" where the server has TLS); `catalog` replaces the
        SQLite file beside the config (a postgresql:// URI)."""
        self.workdir = pathlib.Path(workdir)
        self.config = self.workdir / "config.yaml"
        self.catalog = catalog or self.workdir / "catalog.db"
        self.scheme = scheme
        config = CONFIG % {"extra_tokens": extra_tokens}
        if catalog:
            config = config.replace("  catalog: catalog.db\n", "  catalog: \"%s\"\n" % catalog, 1)
        self.config.write_text(config.replace("  automated_backups: false\n",
                                              "  automated_backups: false\n" + server_extra, 1))
        self.log = open(self.workdir / "server.log", "w+")
        self.proc = None

    def import_records(self, records):
        lines = "".join(json.dumps(r) + "\n" for r in records)
        subprocess.run([str(CLI), "catalog", "import", "--catalog", str(self.catalog), "-"],
                       input=lines.encode(), check=True, capture_output=True)

    def start(self, *args):
        """`args` are added to mdb-backupd's command line (e.g. --log-format json)."""
        if self.log.closed:  # started again after stop(): the log goes on
            self.log = open(self.workdir / "server.log", "a+")
        self.proc = subprocess.Popen([str(SERVER), "--config", str(self.config), *args],
                                     stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"grpc=(\S+) rest=(\S+)", line)
        assert m, "mdb-backupd did not start: %r; log: %s" % (line, self.read_log())
        self.grpc, self.rest = m.group(1), self.scheme + "://" + m.group(2)

    def read_log(self):
        if not self.log.closed:  # a stopped server's log is closed, and complete
            self.log.flush()
        return (self.workdir / "server.log").read_text()

    RELOAD_OUTCOMES = ("mdb-backupd: configuration reloaded from", "mdb-backupd: reload failed")

    def _reload_lines(self):
        return [l for l in self.read_log().splitlines() if l.startswith(self.RELOAD_OUTCOMES)]

    def reload(self, timeout=120):
        """Sends SIGHUP and waits until the server logs the outcome (it does so after the new
        configuration is in effect, or refused); returns that log line."""
        before = len(self._reload_lines())
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            lines = self._reload_lines()
            if len(lines) > before:
                return lines[before]
            assert self.proc.poll() is None, "mdb-backupd exited on SIGHUP: %s" % self.read_log()
            time.sleep(0.05)
        raise AssertionError("mdb-backupd logged no reload outcome within %d s of SIGHUP" % timeout)

    def run_until_exit(self, timeout=120):
        """Starts the server where a test expects it to refuse to start; returns (exit code,
        stderr). A server that starts listening instead fails the test at once (and is stopped)."""
        import selectors
        err = self.workdir / "refused.log"
        with open(err, "w") as stderr:
            proc = subprocess.Popen([str(SERVER), "--config", str(self.config)],
                                    stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            with selectors.DefaultSelector() as sel:  # its first line, or the end of its output
                sel.register(proc.stdout, selectors.EVENT_READ)
                assert sel.select(timeout), "mdb-backupd neither started nor exited within %d s" % timeout
            line = proc.stdout.readline()
            assert "listening" not in line, "mdb-backupd started: %s" % line
            code = proc.wait(timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        return code, err.read_text()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # never leave a server behind; the test still fails below
                self.proc.wait()
                raise AssertionError("mdb-backupd did not stop within 120 s of SIGTERM")
        self.log.close()

    def client(self, stub):
        sdk = yandexcloud.SDK(iam_token="t1.unused")  # makes no network call
        return sdk.client(stub, endpoint=self.grpc, insecure=True)


@contextlib.contextmanager
def running_server(records=RECORDS, **server_args):
    """A started Server in a temporary directory of its own, over `records`; stopped after."""
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, **server_args)
        s.import_records(records)
        s.start()
        try:
            yield s
        finally:
            s.stop()


def port_in_use(port):
    """Whether something on this machine already listens on 127.0.0.1:port (another test run)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port(counter, span=1):
    """The next port of `counter` (a one-element list) where nothing listens, nor at +10000 (the
    Redis Cluster bus) when span asks for it."""
    while True:
        port = counter[0]
        counter[0] += 1
        if not any(port_in_use(p) for p in ([port, port + 10000] if span > 1 else [port])):
            return port


def write_key(path):
    """A new repository key file: 32 random bytes, readable by its owner only (as required)."""
    path = pathlib.Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32))
    return path


def md(token=READER):
    return [("authorization", "Bearer " + token)]


def wait_operation(server, op, token="writer-token-1", timeout=600):
    """Polls OperationService.Get until `op` (an Operation, or its id) is done; returns the final
    Operation. The timeout only guards against a hang."""
    from yandex.cloud.operation import operation_service_pb2 as op_s, operation_service_pb2_grpc as op_sg
    ops = server.client(op_sg.OperationServiceStub)
    op_id = op if isinstance(op, str) else op.id
    deadline = time.time() + timeout
    while time.time() < deadline:
        op = ops.Get(op_s.GetOperationRequest(operation_id=op_id), metadata=md(token))
        if op.done:
            return op
        time.sleep(0.05)
    raise AssertionError("operation %s not done after %d s" % (op_id, timeout))


def sharded_cluster(cluster_id, addresses, engine="redis", names=None):
    """A cluster declaration (config YAML) with one shard per address, named shard1, shard2...
    unless `names` are given."""
    names = names or ["shard%d" % (i + 1) for i in range(len(addresses))]
    shards = "".join('      - {name: %s, hosts: ["%s"]}\n' % (n, a) for n, a in zip(names, addresses))
    return "  - id: %s\n    folder_id: f1\n    engine: %s\n    shards:\n%s" % (cluster_id, engine, shards)


def restore_target(cluster_id, dirs, names, engine="greenplum"):
    """A restore target (declared as one: never backed up, no journal archived from it), one shard
    per data directory."""
    shards = "".join('      - {name: %s, hosts: [{address: "127.0.0.1:1", data_dir: "%s"}]}\n'
                     % (name, d) for name, d in zip(names, dirs))
    return ("  - id: %s\n    folder_id: f1\n    engine: %s\n    restore_target: true\n    shards:\n%s"
            % (cluster_id, engine, shards))


def many_redis_clusters(server, n, extra_token=None):
    """Declares n Redis clusters c0000.. of folder f1 on unreachable hosts in `server`'s config (the
    benchmarks' fleet), and `extra_token` (a YAML flow mapping) beside the others."""
    text = server.config.read_text()
    if extra_token:
        text = text.replace("clusters:", "  - %s\nclusters:" % extra_token, 1)
    clusters = "".join('  - {id: c%04d, folder_id: f1, engine: redis, hosts: ["127.0.0.1:1"]}\n' % i
                       for i in range(n))
    server.config.write_text(text[:text.index("clusters:")] + "clusters:\n" + clusters)


def start_server(workdir, clusters_yaml, name="mdb", server_extra="", catalog=None, start=True):
    """An mdb-backupd declaring `clusters_yaml`; `server_extra` adds lines to its server section;
    `catalog` as Server's. Not started when `start` is false."""
    d = workdir / name
    d.mkdir()
    s = Server(d, catalog=catalog)
    text = s.config.read_text().replace("  automated_backups: false\n",
                                        "  automated_backups: false\n" + server_extra)
    s.config.write_text(text[:text.index("clusters:")] + "clusters:\n" + clusters_yaml)
    if start:
        s.start()
    return s


def operation_json(server, op, token="writer-token-1"):
    """The operation as REST returns it (the proto3 JSON mapping, with bytesDone/bytesTotal)."""
    import requests
    r = requests.get(server.rest + "/operations/" + op.id, headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200, r.text
    return r.json()


def bytes_done(body):
    return int(body.get("metadata", {}).get("bytesDone", "0"))


def wait_running(server, op, token="writer-token-1", timeout=300):
    """Waits until operation `op` reports bytes done (it is copying data). Returns the bytes done.
    On its own this does not keep the operation running: tests that break something mid-copy stall
    the peer first (Proxy), so that the operation cannot end before the break."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = operation_json(server, op, token)
        assert not body.get("done"), "operation %s ended before it was seen running: %s" % (op.id, body)
        if bytes_done(body) > 0:
            return bytes_done(body)
        time.sleep(0.01)
    raise AssertionError("operation %s reported no progress within %d s" % (op.id, timeout))


class Worker:
    """Calls step(i) for i = 0, 1, ... on a thread until stop() or until step returns False. An
    exception in step ends the thread and is raised again by wait_steps() and stop(), so a load
    generator that fails fails the test that started it (instead of a silent dead thread)."""

    def __init__(self, step, name="worker"):
        self._step = step
        self._stop = threading.Event()
        self._error = None
        self._raised = False
        self.steps = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        try:
            while not self._stop.is_set():
                if self._step(self.steps) is False:
                    return
                self.steps += 1
        except BaseException as e:  # re-raised on the test's thread
            self._error = e

    def _reraise(self):
        if self._error is not None and not self._raised:
            self._raised = True
            raise AssertionError("%s failed after %d steps" % (self._thread.name, self.steps)) from self._error

    def wait_steps(self, n, timeout=300):
        """Waits until at least n steps are done; returns the count."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self._reraise()
            if self.steps >= n:
                return self.steps
            assert self._thread.is_alive(), "%s ended after %d steps, fewer than %d" % (
                self._thread.name, self.steps, n)
            time.sleep(0.01)
        raise AssertionError("%s made %d of %d steps in %d s" % (self._thread.name, self.steps, n, timeout))

    def stop(self, timeout=300):
        """Stops the thread and returns how many steps it made; raises its exception if it had one."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "%s did not stop within %d s" % (self._thread.name, timeout)
        self._reraise()
        return self.steps


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


def drill_leftovers(work_dir):
    """What restore drills left under `work_dir` (server.drills.work_dir): its entries, and the
    processes working in it (every drill server runs with its working directory there; their
    command lines are no guide: redis-server rewrites its own)."""
    work_dir = str(pathlib.Path(work_dir).resolve())
    procs = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if cwd == work_dir or cwd.startswith(work_dir + "/"):
            procs.append("%s %s" % (pid, cwd))
    return sorted(os.listdir(work_dir)) + procs


def damage_largest_pack(server):
    """Flips one byte in the middle of the largest pack of `server`'s (posix) repository: data a
    restore reads must then fail its chunk check."""
    packs = [p for p in (server.workdir / "repository" / "packs").rglob("*") if p.is_file()]
    pack = max(packs, key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0x40
    pack.write_bytes(bytes(data))


def drills_dir(workdir):
    """A server.drills.work_dir inside the test's `workdir` (removed with it) that the drill user
    (nobody, when tests run as root) can pass through: both 0711."""
    workdir = pathlib.Path(workdir)
    workdir.chmod(0o711)
    d = workdir / "drills"
    d.mkdir(mode=0o711)
    d.chmod(0o711)
    return d
