"""PostgreSQL 15 servers for the live tests (Debian's), run as the postgres OS user on 127.0.0.1."""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

PGBIN = pathlib.Path("/usr/lib/postgresql/15/bin")
_next_port = [int(os.environ.get("MDB_PG_BASE_PORT", "25432"))]


def as_postgres(*args, **kw):
    cmd = [str(a) for a in args]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def listening(port):
    """Whether something already listens on 127.0.0.1:port (e.g. another test run's server)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def reserve_port():
    """The next port nobody listens on, for a server started now or later (Postgres(..., port=)):
    a config may name it first."""
    while True:
        port = _next_port[0]
        _next_port[0] += 1
        if not listening(port):
            return port


def postgres_dir(parent, name):
    """A directory the postgres user owns (tests run as root in CI)."""
    d = pathlib.Path(parent) / name
    d.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(d, "postgres", "postgres")
    return d


class Postgres:
    def __init__(self, parent, data_dir=None, port=None):
        self.port = port or reserve_port()
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="pg-%d-" % self.port, dir=parent))
        os.chmod(self.root, 0o777)
        if data_dir is None:
            data_dir = self.root / "data"
            r = as_postgres(PGBIN / "initdb", "-D", data_dir, "-A", "trust", "-U", "postgres")
            assert r.returncode == 0, r.stderr
        self.data = pathlib.Path(data_dir)
        self.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        r = as_postgres(PGBIN / "pg_ctl", "-D", self.data, "-w", "-t", "60", "-l", self.root / "log",
                        "-o", "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.port, self.root), "start")
        assert r.returncode == 0, r.stdout + r.stderr + (self.root / "log").read_text()

    def sql(self, query):
        r = subprocess.run([str(PGBIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-AtX", "-c", query], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def pgbench(self, *args):
        r = subprocess.run([str(PGBIN / "pgbench"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            *map(str, args), "postgres"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def stop(self):
        as_postgres(PGBIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")

    def wipe(self):
        """Stops the server and empties its data directory (kept, with its owner): a restore target
        at this server's address."""
        self.stop()
        for p in self.data.iterdir():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

    def reinit(self):
        """Another database system at the same address: a new initdb (a new system id), started."""
        self.stop()
        shutil.rmtree(self.data)
        r = as_postgres(PGBIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        assert r.returncode == 0, r.stderr
        self.start()

    def lsn(self):
        """The current WAL write position as a number."""
        hi, lo = self.sql("SELECT pg_current_wal_lsn()").split("/")
        return (int(hi, 16) << 32) | int(lo, 16)


class PgbenchLoad:
    """pgbench against `pg` in a background thread until stop(), in runs of `seconds` (-n: without the
    VACUUM and history TRUNCATE a run otherwise starts with, so pgbench_history only grows).
    `transactions` counts the committed ones; an error of the thread is raised by stop(), in the
    test."""

    def __init__(self, pg, clients=2, seconds=1):
        self.pg, self.args = pg, ("-n", "-c", clients, "-T", seconds)
        self.transactions = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                out = self.pg.pgbench(*self.args)
                m = re.search(r"number of transactions actually processed: (\d+)", out)
                assert m, out
                self.transactions += int(m.group(1))
        except BaseException as e:  # noqa: B036 (re-raised by stop())
            self.error = e

    def wait_started(self, timeout=120):
        """Until a first run has committed transactions (a hang guard); the thread's error if it
        failed."""
        deadline = time.time() + timeout
        while self.transactions == 0 and self.error is None:
            assert time.time() < deadline, "pgbench committed nothing within %d s" % timeout
            time.sleep(0.05)
        if self.error is not None:
            self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join()
        error, self.error = self.error, None  # raised once
        if error is not None:
            raise AssertionError("the pgbench load failed") from error
