"""PostgreSQL 15 servers for the live tests (Debian's), run as the postgres OS user on 127.0.0.1."""
import os
import pathlib
import shutil
import subprocess
import tempfile

from mdb_harness import free_port

PGBIN = pathlib.Path("/usr/lib/postgresql/15/bin")
_next_port = [int(os.environ.get("MDB_PG_BASE_PORT", "25432"))]


def as_postgres(*args, **kw):
    cmd = [str(a) for a in args]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def reserve_port():
    """The next port nobody listens on, for a server started now or later (Postgres(..., port=)):
    a config may name it first."""
    return free_port(_next_port)


def postgres_dir(parent, name):
    """A directory the postgres user owns (tests run as root in CI)."""
    d = pathlib.Path(parent) / name
    d.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(d, "postgres", "postgres")
    return d


class Postgres:
    def __init__(self, parent, data_dir=None, port=None, server_options=""):
        """`server_options` are added to the postgres command line (e.g. -c config_file=...)."""
        self.server_options = server_options
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
                        "-o", "-p %d -k %s -c listen_addresses=127.0.0.1 %s" % (self.port, self.root, self.server_options),
                       "start")
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
