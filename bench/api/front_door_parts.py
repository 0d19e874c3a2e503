"""bench/api/front_door.py's three measurements: (a) Gets while hostile connections are held, (b)
unauthenticated POSTs of huge declared bodies, (c) TLS against plaintext."""
import multiprocessing
import os
import re
import selectors
import shutil
import socket
import ssl
import statistics
import subprocess
import threading
import time

from front_door_server import GET_PATH, HEADER_DEADLINE_S, PER_CLIENT_CAP, POST_PATH, Getter, Server, summary


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
