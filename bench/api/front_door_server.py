"""bench/api/front_door.py's server and client: mdb-backupd in a work directory with one Redis
backup and a token, and a kept-alive REST Get timed call by call."""
import http.client
import math
import pathlib
import re
import selectors
import signal
import statistics
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "bench-token-1"
BACKUP_ID = "rd-1"
GET_PATH = "/managed-redis/v1/backups/" + BACKUP_ID
POST_PATH = "/managed-redis/v1/clusters/rd1:backup"
HEADER_DEADLINE_S = 10.0  # HttpLimits::header_timeout
PER_CLIENT_CAP = 64       # HttpLimits::max_connections_per_client

CONFIG = """server:
  grpc_listen: 127.0.0.1:0
  rest_listen: 127.0.0.1:0
  catalog: {catalog}
  worker_threads: 2
  automated_backups: false
{tls}tokens:
  - {{token: {token}, subject: bench, read: [f1]}}
clusters:
  - {{id: rd1, folder_id: f1, engine: redis, hosts: ["127.0.0.1:1"]}}
"""

RECORD = ('{"id": "%s", "engine": "REDIS", "folderId": "f1", "clusterId": "rd1", '
          '"startedAt": "2026-11-20T03:00:00Z", "createdAt": "2026-11-20T03:00:09Z", '
          '"type": "AUTOMATED", "sourceShardNames": ["rd1"]}\n' % BACKUP_ID)


# ---------------------------------------------------------------------------------------------
# The server

class Server:
    """One mdb-backupd on its own directory (config, catalog with one record, log)."""

    def __init__(self, build, workdir, tls=None):
        self.build = pathlib.Path(build)
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "config.yaml"
        catalog = self.dir / "catalog.db"
        tls_block = ""
        if tls:
            tls_block = "  tls: {cert_file: %s, key_file: %s}\n" % tls
        self.config.write_text(CONFIG.format(catalog=catalog, tls=tls_block, token=TOKEN))
        subprocess.run([str(self.build / "src/cli/mdb-backup"), "catalog", "import",
                        "--catalog", str(catalog), "-"],
                       input=RECORD.encode(), check=True, capture_output=True)
        self.log_path = self.dir / "server.log"
        self.proc = None
        self.host = self.port = None

    def start(self, timeout=60):
        """Starts the server; returns None when it listens, else the reason it did not start."""
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([str(self.build / "src/server/mdb-backupd"),
                                      "--config", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=self.log)
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.stop()
                return "no 'listening' line within %d s" % timeout
        line = self.proc.stdout.readline().decode()
        m = re.search(r"grpc=(\S+) rest=(?:\w+://)?(\S+)", line)
        if not m:
            self.stop()
            log = self.log_path.read_text().strip().splitlines()
            return (log[-1] if log else line.strip()) or "exited with code %s" % self.proc.returncode
        self.host, port = m.group(2).rsplit(":", 1)
        self.port = int(port)
        return None

    def status_kb(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError("no %s in /proc/%d/status" % (field, self.proc.pid))

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                print("note: mdb-backupd (pid %d) did not stop within 60 s of SIGTERM; killed"
                      % self.proc.pid)
        self.proc.stdout.close()
        self.log.close()
        self.proc = None


# ---------------------------------------------------------------------------------------------
# Valid Gets

def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


class Getter:
    """Authenticated Gets of one backup over one kept-alive connection (plain or TLS)."""

    def __init__(self, host, port, context=None):
        self.host, self.port, self.context = host, port, context
        self.headers = {"Authorization": "Bearer " + TOKEN, "Accept": "application/json"}
        self.conn = None
        self.reconnects = 0
        self._connect()

    def _connect(self):
        if self.conn is not None:
            self.conn.close()
            self.reconnects += 1
        if self.context is not None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=30,
                                                    context=self.context)
        else:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.conn.connect()

    def one(self):
        """One Get; returns its latency in µs (the connect of a re-opened connection excluded)."""
        for attempt in (0, 1):
            t0 = time.perf_counter_ns()
            try:
                self.conn.request("GET", GET_PATH, headers=self.headers)
                r = self.conn.getresponse()
                body = r.read()
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                if attempt:
                    raise
                self._connect()  # the server closed the kept-alive connection (idle deadline)
                continue
            t1 = time.perf_counter_ns()
            if r.status != 200 or b'"' + BACKUP_ID.encode() + b'"' not in body:
                raise RuntimeError("Get answered %d: %r" % (r.status, body[:200]))
            if r.will_close:
                self._connect()
            return (t1 - t0) / 1000.0
        raise AssertionError("unreachable")

    def run(self, n):
        return [self.one() for _ in range(n)]

    def close(self):
        self.conn.close()


def summary(lat):
    s = sorted(lat)
    return {"n": len(s), "p50": percentile(s, 50), "p99": percentile(s, 99),
            "mean": statistics.fmean(s) if s else float("nan")}
