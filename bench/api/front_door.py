#!/usr/bin/env python3
"""bench/api/front_door.py: the REST listener of mdb-backupd under hostile load (issue #12).

A benchmark, not a test: it prints numbers and checks only that answers are what they should be.

  (a) The p50/p99 of an authenticated REST Get of one backup over a kept-alive connection,
      unloaded, then while 64 slow-header clients (one header line a second, never finishing) and
      64 idle connections (nothing sent) are held open. The server closes both kinds at its header
      deadline (10 s), so a separate load process re-opens each one as soon as it is closed; the
      first opens are staggered over the deadline so that closes and re-opens go on all through
      the measured window. Those connections come from 127.0.0.2..127.0.0.9 (the server takes at
      most 64 connections per client address); the valid Gets come from 127.0.0.1.
  (b) 16 concurrent unauthenticated POSTs declaring a 200 MB body, streamed from a generator:
      they are answered 401 after the headers, the body unread. The server's VmRSS is sampled
      every 10 ms, and its VmHWM read before and after (on a fresh server).
  (c) If the server takes `server.tls: {cert_file, key_file}` (a throwaway CA and certificate
      made with the openssl CLI, SAN IP:127.0.0.1): REST Get p50 over a reused TLS connection
      against plaintext, in alternating blocks against two servers running side by side.
      Skipped, with a note, when the server refuses that configuration.

Only the Python standard library. Usage:
  ~/.cache/mdb-backup/venv/bin/python bench/api/front_door.py [--calls 2000] [--skip-tls] ...
"""
import argparse
import datetime
import http.client
import math
import multiprocessing
import os
import pathlib
import re
import selectors
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
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


# ---------------------------------------------------------------------------------------------
# (a) The hostile load: its own process, so that its work never holds the GIL of the measuring one.

def hostile_main(host, port, n_slow, n_idle, sources, stagger_s, ctrl):
    """Holds n_slow slow-header and n_idle idle connections open, re-opening each one as soon as
    the server closes it. Commands on `ctrl`: "count" -> (slow, idle) open now; "start" begins
    sampling the open counts every 10 ms; "stop" -> the samples' stats; "quit" closes all."""
    sel = selectors.DefaultSelector()
    sel.register(ctrl, selectors.EVENT_READ, None)
    slots = []
    for i in range(n_slow + n_idle):
        kind = "slow" if i < n_slow else "idle"
        slots.append({"kind": kind, "src": sources[i % len(sources)], "sock": None,
                      "due": time.monotonic() + stagger_s * i / max(1, n_slow + n_idle),
                      "opened": 0.0, "line": 0})
    open_now = {"slow": 0, "idle": 0}
    lifetimes = []      # seconds from our connect to the server's close, per closed connection
    early_closes = 0    # closed within 1 s of the connect (refused at accept: a cap reached)
    connect_errors = 0
    opened_total = 0
    sampling = None
    next_sample = 0.0

    def open_slot(s, now):
        nonlocal connect_errors, opened_total
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((s["src"], 0))
            sock.settimeout(2)
            sock.connect((host, port))
            if s["kind"] == "slow":
                sock.sendall(b"GET " + GET_PATH.encode() + b" HTTP/1.1\r\nHost: bench\r\n")
            sock.setblocking(False)
        except OSError:
            sock.close()
            connect_errors += 1
            s["due"] = now + 0.1
            return
        s["sock"], s["opened"], s["line"], s["due"] = sock, now, 0, now + 1.0
        sel.register(sock, selectors.EVENT_READ, s)
        open_now[s["kind"]] += 1
        opened_total += 1

    def close_slot(s, now):
        nonlocal early_closes
        sel.unregister(s["sock"])
        s["sock"].close()
        s["sock"] = None
        open_now[s["kind"]] -= 1
        life = now - s["opened"]
        lifetimes.append(life)
        if life < 1.0:
            early_closes += 1
            s["due"] = now + 0.05  # do not spin against a cap
        else:
            s["due"] = now         # re-open at once

    running = True
    while running:
        now = time.monotonic()
        for s in slots:
            if s["due"] is None or s["due"] > now:
                continue
            if s["sock"] is None:
                open_slot(s, now)
            elif s["kind"] == "slow":  # the next header line, a second after the last
                try:
                    s["sock"].send(b"X-Slow-%d: y\r\n" % s["line"])
                except BlockingIOError:
                    pass
                except OSError:
                    close_slot(s, now)
                    continue
                s["line"] += 1
                s["due"] += 1.0
            else:
                s["due"] = None  # idle: nothing to send, ever
        if sampling is not None and now >= next_sample:
            sampling["slow"].append(open_now["slow"])
            sampling["idle"].append(open_now["idle"])
            next_sample = now + 0.01
        dues = [s["due"] for s in slots if s["due"] is not None]
        wait = min(dues) - time.monotonic() if dues else 0.05
        if sampling is not None:
            wait = min(wait, next_sample - time.monotonic())
        for key, _ in sel.select(max(0.0, min(wait, 0.05))):
            s = key.data
            if s is None:  # a command
                cmd = ctrl.recv()
                if cmd == "count":
                    ctrl.send(dict(open_now))
                elif cmd == "start":
                    sampling = {"slow": [], "idle": []}
                    next_sample = time.monotonic()
                    base = (len(lifetimes), early_closes, connect_errors, opened_total)
                elif cmd == "stop":
                    sl, il = sampling["slow"] or [0], sampling["idle"] or [0]
                    closed = lifetimes[base[0]:]
                    ctrl.send({"samples": len(sampling["slow"]),
                               "slow_min": min(sl), "slow_avg": statistics.fmean(sl),
                               "idle_min": min(il), "idle_avg": statistics.fmean(il),
                               "closed": len(closed),
                               "closed_life_median": statistics.median(closed) if closed else None,
                               "early_closes": early_closes - base[1],
                               "connect_errors": connect_errors - base[2],
                               "opened": opened_total - base[3],
                               "all_lifetimes_median":
                                   statistics.median(lifetimes) if lifetimes else None})
                    sampling = None
                elif cmd == "quit":
                    running = False
                continue
            try:
                data = s["sock"].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the server closed it (header deadline), or a reply then close
                close_slot(s, time.monotonic())
    for s in slots:
        if s["sock"] is not None:
            s["sock"].close()
    ctrl.send("bye")


def part_a(args, build, work):
    srv = Server(build, work / "a")
    err = srv.start()
    if err:
        raise SystemExit("mdb-backupd did not start: %s" % err)
    proc = None
    try:
        g = Getter(srv.host, srv.port)
        g.run(args.warmup)
        unloaded = summary(g.run(args.calls))
        g.close()

        sources = args.sources
        per_source = -(-(args.slow + args.idle) // len(sources))
        if per_source > PER_CLIENT_CAP:
            print("note: %d hostile connections per source address exceed the server's cap of %d"
                  % (per_source, PER_CLIENT_CAP))
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=hostile_main, daemon=True,
                           args=(srv.host, srv.port, args.slow, args.idle, sources,
                                 HEADER_DEADLINE_S, theirs))
        proc.start()
        # Every slot opened once (staggered over the deadline), then half a second of churn.
        time.sleep(HEADER_DEADLINE_S + 0.5)
        ours.send("count")
        held_before = ours.recv()

        g = Getter(srv.host, srv.port)
        g.run(args.warmup)
        ours.send("start")
        t0 = time.monotonic()
        lat = g.run(args.calls)
        while time.monotonic() - t0 < args.min_window:  # optionally over more of the churn
            lat += g.run(100)
        loaded = summary(lat)
        window = time.monotonic() - t0
        ours.send("stop")
        held = ours.recv()
        loaded_reconnects = g.reconnects
        g.close()

        ours.send("quit")
        ours.recv()
        proc.join(10)
        proc = None

        time.sleep(0.5)
        g = Getter(srv.host, srv.port)
        g.run(args.warmup)
        after = summary(g.run(args.calls))
        g.close()
        return {"unloaded": unloaded, "loaded": loaded, "after": after, "held": held,
                "held_before": held_before, "window_s": window, "sources": sources,
                "reconnects": loaded_reconnects}
    finally:
        if proc is not None:
            proc.kill()
            proc.join()
        srv.stop()


# ---------------------------------------------------------------------------------------------
# (b) Unauthenticated 200 MB bodies

def body(total, chunk=64 << 10):
    """The body of a POST: `total` bytes of a JSON-looking object, produced as it is sent."""
    spaces = b" " * chunk
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        yield (b"{" + spaces[1:n]) if sent == 0 else spaces[:n]
        sent += n


def unauthenticated_post(host, port, total, barrier, out):
    t0 = None
    sent = 0
    status = None
    outcome = "closed"
    s = socket.create_connection((host, port), timeout=30)
    try:
        barrier.wait()
        t0 = time.monotonic()
        s.sendall(b"POST " + POST_PATH.encode() + b" HTTP/1.1\r\nHost: bench\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % total)
        try:
            for chunk in body(total):
                s.sendall(chunk)
                sent += len(chunk)
        except OSError as e:
            outcome = type(e).__name__
        reply = b""
        try:
            while len(reply) < 64:
                c = s.recv(4096)
                if not c:
                    break
                reply += c
        except OSError as e:
            outcome = type(e).__name__
        m = re.match(rb"HTTP/1\.1 (\d+)", reply)
        status = int(m.group(1)) if m else None
    finally:
        s.close()
        out.append({"sent": sent, "status": status, "outcome": outcome,
                    "seconds": time.monotonic() - (t0 or time.monotonic())})


def part_b(args, build, work):
    srv = Server(build, work / "b")
    err = srv.start()
    if err:
        raise SystemExit("mdb-backupd did not start: %s" % err)
    try:
        g = Getter(srv.host, srv.port)
        g.run(args.warmup)
        g.close()
        warm = []
        unauthenticated_post(srv.host, srv.port, 1 << 20, threading.Barrier(1), warm)
        time.sleep(0.5)
        rss_before, hwm_before = srv.status_kb("VmRSS"), srv.status_kb("VmHWM")

        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    samples.append(srv.status_kb("VmRSS"))
                except (OSError, RuntimeError):
                    break
                time.sleep(0.01)
        sampler = threading.Thread(target=sample)
        sampler.start()
        results = []
        t0 = time.monotonic()
        for _ in range(args.post_rounds):
            barrier = threading.Barrier(args.posts)
            threads = [threading.Thread(target=unauthenticated_post,
                                        args=(srv.host, srv.port, args.post_mb * 1000 * 1000,
                                              barrier, results))
                       for _ in range(args.posts)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        elapsed = time.monotonic() - t0
        time.sleep(0.1)
        stop.set()
        sampler.join()
        hwm_after, rss_after = srv.status_kb("VmHWM"), srv.status_kb("VmRSS")
        g = Getter(srv.host, srv.port)
        get_after = g.one() is not None
        g.close()
        return {"rss_before": rss_before, "hwm_before": hwm_before, "hwm_after": hwm_after,
                "rss_after": rss_after, "rss_peak_sampled": max(samples + [rss_before]),
                "samples": len(samples), "results": results, "elapsed": elapsed,
                "get_after": get_after}
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------
# (c) TLS

def make_certs(d):
    """A throwaway CA and a server certificate for IP 127.0.0.1 signed by it (EC P-256)."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*cmd):
        subprocess.run(["openssl", *cmd], cwd=d, check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=mdb-backup bench CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    os.chmod(d / "server.key", 0o600)
    return d / "ca.crt", d / "server.crt", d / "server.key"


def part_c(args, build, work):
    if shutil.which("openssl") is None:
        return {"skipped": "no openssl CLI"}
    ca, crt, key = make_certs(work / "certs")
    tls_srv = Server(build, work / "c-tls", tls=(crt, key))
    err = tls_srv.start()
    if err:
        return {"skipped": "the server refused the tls config: %s" % err}
    plain_srv = Server(build, work / "c-plain")
    try:
        err = plain_srv.start()
        if err:
            raise SystemExit("mdb-backupd did not start: %s" % err)
        ctx = ssl.create_default_context(cafile=str(ca))
        t0 = time.perf_counter()
        try:
            tg = Getter(tls_srv.host, tls_srv.port, context=ctx)  # connect + handshake
        except (ssl.SSLError, OSError) as e:
            return {"skipped": "the server started with the tls config but the TLS handshake on "
                               "its REST port failed: %s" % e}
        handshake_ms = (time.perf_counter() - t0) * 1000
        version, cipher = tg.conn.sock.version(), tg.conn.sock.cipher()[0]
        pg = Getter(plain_srv.host, plain_srv.port)
        tg.run(args.warmup)
        pg.run(args.warmup)
        blocks = 4
        plain, tls = [], []
        for i in range(blocks):  # alternating blocks: drift of the machine hits both alike
            n = args.calls // blocks + (1 if i < args.calls % blocks else 0)
            plain += pg.run(n)
            tls += tg.run(n)
        tg.close()
        pg.close()
        return {"plain": summary(plain), "tls": summary(tls), "handshake_ms": handshake_ms,
                "version": version, "cipher": cipher}
    finally:
        plain_srv.stop()
        tls_srv.stop()


# ---------------------------------------------------------------------------------------------

def mb(kb):
    return kb / 1024.0


def mark(ok):
    return "✓" if ok else "✗"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000, help="timed Gets per measurement")
    ap.add_argument("--warmup", type=int, default=100, help="untimed Gets on each new connection")
    ap.add_argument("--min-window", type=float, default=0.0,
                    help="(a): go on with loaded Gets until this many seconds have passed (the "
                         "hostile connections are closed and re-opened ~13 times a second)")
    ap.add_argument("--slow", type=int, default=64, help="slow-header connections held in (a)")
    ap.add_argument("--idle", type=int, default=64, help="idle connections held in (a)")
    ap.add_argument("--sources", default=",".join("127.0.0.%d" % i for i in range(2, 10)),
                    help="source addresses of the hostile connections (comma-separated)")
    ap.add_argument("--posts", type=int, default=16, help="concurrent unauthenticated POSTs in (b)")
    ap.add_argument("--post-mb", type=int, default=200, help="declared body of each POST, MB")
    ap.add_argument("--post-rounds", type=int, default=1, help="rounds of --posts POSTs in (b)")
    ap.add_argument("--parts", default="abc", help="which parts to run (subset of 'abc')")
    ap.add_argument("--skip-tls", action="store_true", help="same as leaving 'c' out of --parts")
    ap.add_argument("--build", default=os.environ.get("MDB_BUILD", str(ROOT / "build")))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    args = ap.parse_args()
    args.sources = [s for s in args.sources.split(",") if s]
    if args.skip_tls:
        args.parts = args.parts.replace("c", "")

    build = pathlib.Path(args.build)
    for exe in ("src/server/mdb-backupd", "src/cli/mdb-backup"):
        if not (build / exe).exists():
            raise SystemExit("missing %s (build first)" % (build / exe))

    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    binary_time = datetime.datetime.fromtimestamp(
        (build / "src/server/mdb-backupd").stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    py = sys.executable.replace(str(pathlib.Path.home()), "~")
    script = os.path.relpath(os.path.abspath(__file__), os.getcwd())
    command = " ".join([py, shlex.quote(script), *map(shlex.quote, sys.argv[1:])])

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-front-door."))
    a = b = c = None
    try:
        if "a" in args.parts:
            print("(a) %d Gets unloaded, then with %d slow-header + %d idle connections held "
                  "(warm-up %.1f s)..." % (args.calls, args.slow, args.idle,
                                           HEADER_DEADLINE_S + 0.5), flush=True)
            a = part_a(args, build, work)
        if "b" in args.parts:
            print("(b) %d x %d concurrent unauthenticated %d MB POSTs..."
                  % (args.post_rounds, args.posts, args.post_mb), flush=True)
            b = part_b(args, build, work)
        if "c" in args.parts:
            print("(c) REST Get over TLS vs plaintext...", flush=True)
            c = part_c(args, build, work)
    finally:
        if args.keep:
            print("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)

    # -- the report, ready for BENCHMARKS.md --
    out = []
    out.append("## bench/api/front_door.py: the REST listener under hostile load (issue #12)")
    out.append("")
    out.append("Command (after `scripts/build.sh`):")
    out.append("")
    out.append("```sh")
    out.append(command)
    out.append("```")
    out.append("")
    out.append("Run of %s (commit %s%s; mdb-backupd built %s; %d cores):"
               % (datetime.date.today().isoformat(), commit, dirty, binary_time,
                  os.cpu_count() or 0))
    if a:
        u, l, af, h = a["unloaded"], a["loaded"], a["after"], a["held"]
        ratio = l["p50"] / u["p50"]
        out.append("")
        out.append("| (a) REST GET %s, keep-alive, %d calls | p50 µs | p99 µs | p50 vs unloaded "
                   "| target |" % (GET_PATH.replace(BACKUP_ID, "{id}"), args.calls))
        out.append("|---|---|---|---|---|")
        out.append("| unloaded | %.0f | %.0f | 1.00 | |" % (u["p50"], u["p99"]))
        out.append("| with %d slow-header + %d idle connections held%s | %.0f | %.0f | **%.2f** "
                   "| <= 2.0 %s |" % (args.slow, args.idle,
                                      "" if l["n"] == args.calls else " (%d calls)" % l["n"],
                                      l["p50"], l["p99"], ratio,
                                      mark(ratio <= 2.0)))
        out.append("| unloaded again, after | %.0f | %.0f | %.2f | |"
                   % (af["p50"], af["p99"], af["p50"] / u["p50"]))
        out.append("")
        out.append("Held during the loaded window (%.2f s, %d samples every 10 ms): slow-header "
                   "min %d / avg %.1f of %d, idle min %d / avg %.1f of %d; %d closed by the server "
                   "and re-opened in the window (median life %s), %d refused at accept, "
                   "%d failed connects; sources %s..%s; median life of every closed hostile "
                   "connection %s. Before the window: %d slow + %d idle open."
                   % (a["window_s"], h["samples"], h["slow_min"], h["slow_avg"], args.slow,
                      h["idle_min"], h["idle_avg"], args.idle, h["closed"],
                      "%.1f s" % h["closed_life_median"] if h["closed_life_median"] else "-",
                      h["early_closes"], h["connect_errors"], a["sources"][0], a["sources"][-1],
                      "%.1f s" % h["all_lifetimes_median"] if h["all_lifetimes_median"] else "-",
                      a["held_before"]["slow"], a["held_before"]["idle"]))
        if a["reconnects"]:
            out.append("The measuring connection was re-opened %d times during the loaded run."
                       % a["reconnects"])
    if b:
        rs = b["results"]
        rise_hwm = mb(b["hwm_after"] - b["hwm_before"])
        rise_rss = mb(b["rss_peak_sampled"] - b["rss_before"])
        n401 = sum(1 for r in rs if r["status"] == 401)
        sent = sorted(r["sent"] for r in rs)
        out.append("")
        out.append("| (b) %d x %d concurrent unauthenticated POSTs, Content-Length %d MB "
                   "| before | peak | rise | target |" % (args.post_rounds, args.posts,
                                                        args.post_mb))
        out.append("|---|---|---|---|---|")
        out.append("| VmHWM, MiB | %.1f | %.1f | **%.1f** | < 32 %s |"
                   % (mb(b["hwm_before"]), mb(b["hwm_after"]), rise_hwm, mark(rise_hwm < 32)))
        out.append("| VmRSS sampled every 10 ms, MiB (%d samples) | %.1f | %.1f | **%.1f** "
                   "| < 32 %s |" % (b["samples"], mb(b["rss_before"]), mb(b["rss_peak_sampled"]),
                                    rise_rss, mark(rise_rss < 32)))
        out.append("")
        outcomes = {}
        for r in rs:
            outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        out.append("%d POSTs in %.2f s: %d of them read a 401 (a client can lose the answer to "
                   "the reset of a connection closed with its body unread); how the clients' "
                   "sends ended: %s; body bytes out before the close (mostly kernel buffers): "
                   "min %.1f / median %.1f / max %.1f MB of %d; VmRSS after %.1f MiB; a valid Get "
                   "afterwards: %s."
                   % (len(rs), b["elapsed"], n401,
                      ", ".join("%s %d" % kv for kv in sorted(outcomes.items())),
                      sent[0] / 1e6, statistics.median(sent) / 1e6, sent[-1] / 1e6, args.post_mb,
                      mb(b["rss_after"]), "200" if b["get_after"] else "failed"))
    if c:
        out.append("")
        if "skipped" in c:
            out.append("(c) TLS: skipped: %s." % c["skipped"])
        else:
            p, t = c["plain"], c["tls"]
            ratio = t["p50"] / p["p50"]
            out.append("| (c) REST Get, kept-alive, %d calls each in 4 alternating blocks "
                       "| p50 µs | p99 µs | p50 vs plaintext | target |" % args.calls)
            out.append("|---|---|---|---|---|")
            out.append("| plaintext | %.0f | %.0f | 1.00 | |" % (p["p50"], p["p99"]))
            out.append("| TLS (%s, %s; one handshake, %.1f ms) | %.0f | %.0f | **%.2f** "
                       "| <= 1.3 %s |" % (c["version"], c["cipher"], c["handshake_ms"], t["p50"],
                                          t["p99"], ratio, mark(ratio <= 1.3)))
    print()
    print("\n".join(out))


if __name__ == "__main__":
    main()
