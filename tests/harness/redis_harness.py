"""Redis servers for the live tests: real redis-server processes (Debian's) on 127.0.0.1."""
import os
import pathlib
import shutil
import subprocess
import time

from mdb_harness import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
# Below the kernel's ephemeral range (32768+) even with the cluster bus port (+10000), so that no
# outgoing connection can hold a port a test server needs.
_next_port = [int(os.environ.get("MDB_REDIS_BASE_PORT", "21379"))]


class Redis:
    def __init__(self, workdir, *extra):
        self.port = free_port(_next_port, span=2)
        self.dir = pathlib.Path(workdir) / ("redis-%d" % self.port)
        self.dir.mkdir()
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
             "--repl-diskless-sync-delay", "0", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, "redis-server on port %d exited at start" % self.port
            if subprocess.run([REDIS_CLI, "-p", str(self.port), "PING"], capture_output=True).stdout.strip() == b"PONG":
                # Ours, not a server of another test run that took the port meanwhile.
                assert self.info("server")["process_id"] == str(self.proc.pid), "port %d is taken" % self.port
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server on port %d did not answer within 60 s" % self.port)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def cli(self, *args, check=True):
        r = subprocess.run([REDIS_CLI, "-p", str(self.port), *map(str, args)], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(r.stderr)
        return r.stdout.strip()

    def raw(self, *args):
        """A command's reply as bytes (DUMP payloads are binary)."""
        return subprocess.run([REDIS_CLI, "-p", str(self.port), *map(str, args)],
                              capture_output=True, check=True).stdout

    def pipe(self, commands):
        """Loads many commands fast through redis-cli --pipe (RESP on stdin)."""
        def enc(cmd):
            out = "*%d\r\n" % len(cmd)
            for a in cmd:
                a = str(a)
                out += "$%d\r\n%s\r\n" % (len(a.encode()), a)
            return out
        data = "".join(enc(c) for c in commands).encode()
        r = subprocess.run([REDIS_CLI, "-p", str(self.port), "--pipe"], input=data, capture_output=True)
        assert r.returncode == 0, r.stderr

    def digest(self):
        return self.cli("DEBUG", "DIGEST")

    def info(self, section):
        """INFO `section` as a dict of strings."""
        return dict(line.split(":", 1) for line in self.cli("INFO", section).splitlines()
                    if ":" in line and not line.startswith("#"))

    def rdb_size(self):
        """The size of the snapshot this server streams to a new replica now (what a backup reads),
        fetched the same way: redis-cli --rdb does a full sync."""
        path = self.dir / "measure.rdb"
        r = subprocess.run([REDIS_CLI, "-p", str(self.port), "--rdb", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        size = path.stat().st_size
        path.unlink()
        return size

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def fill(r, n, prefix="k"):
    """Every Redis type, with and without TTLs."""
    cmds = []
    for i in range(n):
        cmds.append(["SET", "%s:str:%d" % (prefix, i), "value-%d" % i * 3])
        if i % 5 == 0:
            cmds.append(["EXPIRE", "%s:str:%d" % (prefix, i), 3600 + i])
        if i % 10 == 0:
            cmds.append(["HSET", "%s:hash:%d" % (prefix, i), "a", i, "b", "x" * (i % 100)])
            cmds.append(["RPUSH", "%s:list:%d" % (prefix, i), *range(i % 50 + 1)])
            cmds.append(["SADD", "%s:set:%d" % (prefix, i), *["m%d" % j for j in range(i % 30 + 1)]])
            cmds.append(["ZADD", "%s:zset:%d" % (prefix, i), *sum(([j, "z%d" % j] for j in range(i % 20 + 1)), [])])
        if i % 100 == 0:
            cmds.append(["XADD", "%s:stream:%d" % (prefix, i), "*", "f", i])
    r.pipe(cmds)
