"""A bounded black-box fuzz of the REST front door: a real mdb-backupd (its own temporary
directory, the RECORDS of every engine imported) takes, for MDB_REST_FUZZ_SECONDS (default 60),
raw-socket HTTP/1.1 traffic generated from a seeded RNG (the seed is printed; MDB_REST_FUZZ_SEED
replays it): every route of the four engines and of operations with mutated path parameters,
query strings and page tokens (real ones from a List with pageSize=1, truncated and bit-flipped),
odd verbs and versions, Authorization/Content-Length/Transfer-Encoding/Expect/Connection
variants, control characters, header folding, many and long headers near the 16 KiB limit,
mutated JSON bodies for the POST routes (wrong types, deep nesting, huge numbers, unknown fields,
invalid UTF-8, enums, malformed timestamps) and random bytes, one to six requests pipelined on a
keep-alive connection. Connections come from 127.0.0.2..127.0.0.254 (all of 127/8 is loopback on
Linux), so the per-address throttle of wrong tokens does not turn the run into 429s.

What it proves, for every exchange: the server answers with a well-formed HTTP/1.1 response
(status line, headers, a body of exactly Content-Length, none after HEAD) or closes the
connection, and closes without an answer only where the request was malformed or truncated; no
status is 5xx other than 503 (and 501 for the cluster-managing methods it does not serve); every body is JSON and every error is a google.rpc.Status (integer
`code` matching the HTTP status, string `message` under 4 KiB). Over the run: most requests reach
the handlers (outcome classes are counted and printed), the process stays alive with VmRSS
sampled under 300 MB, answers valid Gets and a List afterwards exactly as before the run, and its
log has no sanitizer, abort or crash line. Every body is UTF-8 (RFC 8259): a first run found
error messages echoing overlong UTF-8 from the request raw into the JSON (now shown escaped).

What it does not prove: it sees only what a client sees, so it finds crashes, hangs, 500s and
malformed answers, not memory errors that do not crash (the parsers run under libFuzzer with
sanitizers in scripts/fuzz.sh). Replays with the same seed generate the same connections per
thread; the server's answers (throttle, operation timing) may differ from run to run."""
import collections
import dataclasses
import json
import os
import random
import re
import socket
import tempfile
import threading
import time
import traceback
from urllib.parse import urlparse

import pytest

from mdb_harness import READER, RECORDS, WRITER, Server
from rest_fuzz_gen import CLUSTERS, ENGINES, FODDER_RECORDS, Generator

SECONDS = float(os.environ.get("MDB_REST_FUZZ_SECONDS", "60"))
THREADS = 4
RSS_LIMIT_KB = 300 * 1024
MESSAGE_LIMIT = 4096
READ_TIMEOUT = 30  # a hang guard: the client half-closes, so the server never waits for bytes

# Lines that mean the process crashed or a sanitizer fired, whatever else the log says.
FATAL_LOG = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer|"
                       r"runtime error:|terminate called|Assertion .* failed|Segmentation fault|"
                       r"SIGSEGV|SIGABRT|SIGBUS|Aborted|stack-overflow|Check failed|\*\*\* ")

# HTTP status -> the google.rpc.Code values its error body may carry (api/status_map.cc).
CODES_FOR_STATUS = {400: {3, 9, 11}, 401: {16}, 403: {7}, 404: {5}, 405: {12}, 409: {6, 10},
                    413: {8}, 429: {8}, 431: {3}, 499: {1}, 501: {12}, 503: {14}}


# ---------------------------------------------------------------------------------------------
# The server under test and what the fuzzer learns from it before the run.

@dataclasses.dataclass
class World:
    server: Server
    host: str
    port: int
    page_tokens: dict    # list target (without pageToken) -> a real next_page_token
    operations: list     # real operation ids
    baseline: dict       # GET target -> its JSON answer before the run


def http_json(addr, verb, target, token=READER, body=b""):
    """One well-formed exchange on a new connection: (status, parsed JSON body)."""
    host, port = addr
    s = socket.create_connection((host, port), timeout=READ_TIMEOUT)
    try:
        s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (verb.encode(), target.encode(), token.encode(),
                                                     len(body), body))
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    finally:
        s.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


# Answers compared before and after the run (none of their backups is ever a DELETE's target).
BASELINE = ["/managed-greenplum/v1/backups/gp-incr", "/managed-redis/v1/backups/rd-1",
            "/managed-opensearch/v1/backups/os-1", "/managed-mongodb/v1/backups/mg-1",
            "/managed-redis/v1/backups?folderId=f1&pageSize=2"]


def list_targets():
    """Every List target of every engine, folder-wide and per cluster."""
    out = []
    for e in ENGINES:
        out.append("/managed-%s/v1/backups?folderId=f1&pageSize=1" % e)
        out.append("/managed-%s/v1/clusters/%s/backups?pageSize=1" % (e, CLUSTERS[e]))
    return out


@pytest.fixture(scope="module")
def world():
    with tempfile.TemporaryDirectory() as d:
        server = Server(d)  # its config has automated_backups: false
        server.import_records(RECORDS + FODDER_RECORDS)
        server.start()
        try:
            u = urlparse(server.rest)
            addr = (u.hostname, u.port)
            tokens = {}
            for target in list_targets():
                status, body = http_json(addr, "GET", target)
                assert status == 200 and body.get("nextPageToken"), (target, body)
                tokens[target] = body["nextPageToken"]
            ops = []
            for e in ENGINES:  # one real operation per engine (they fail: the hosts are fake)
                status, body = http_json(addr, "POST", "/managed-%s/v1/clusters/%s:backup" % (
                    e, CLUSTERS[e]), token=WRITER)
                assert status == 200, body
                ops.append(body["id"])
            baseline = {}
            for target in BASELINE:
                status, baseline[target] = http_json(addr, "GET", target)
                assert status == 200, baseline[target]
            assert baseline[BASELINE[0]]["size"] == "9007199254740993", baseline
            yield World(server, addr[0], addr[1], tokens, ops, baseline)
        finally:
            server.stop()


# ---------------------------------------------------------------------------------------------
# Exchanging a connection's requests and checking the answers.

def exchange(world, source, data):
    """Sends data from `source`, half-closes, reads until the server closes.
    Returns (reply bytes, how the read ended, send error or None); raises ConnectionRefusedError."""
    s = socket.socket()
    try:
        s.bind((source, 0))
        s.settimeout(10)
        s.connect((world.host, world.port))
        s.settimeout(READ_TIMEOUT)
        send_error = None
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)  # the server sees the end: it never waits for more bytes
        except OSError as e:
            send_error = e.__class__.__name__
        reply, ended = b"", "eof"
        try:
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                reply += chunk
        except socket.timeout:
            ended = "timeout"
        except ConnectionResetError:
            ended = "reset"
        return reply, ended, send_error
    finally:
        s.close()


@dataclasses.dataclass
class Response:
    status: int
    headers: dict   # lower-case name -> [values]
    body: bytes
    close: bool
    head: bool      # the answer to a HEAD (no body)


STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) [^\r\n]*\r\n")
HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+): ?([^\r\n]*)\Z")


def parse_replies(buf, requests):
    """The responses in buf, in order; raises AssertionError at the first malformed byte.
    Response i answers request i while every request before it was well formed; past a malformed
    one the pairing is unknown, and where a HEAD may be answered, what follows the headers tells
    whether a body was sent."""
    out, pos, aligned = [], 0, True
    expects = any(b"\nexpect:" in r.data.lower() for r in requests)
    while pos < len(buf):
        m = STATUS_LINE.match(buf, pos)
        assert m, "no status line at byte %d: %r" % (pos, buf[pos:pos + 80])
        status = int(m.group(1))
        end = buf.find(b"\r\n\r\n", m.start())
        assert end >= 0, "the headers of a %d answer are cut short: %r" % (status, buf[pos:pos + 300])
        headers = collections.defaultdict(list)
        for line in buf[m.end():end].split(b"\r\n"):
            if not line:
                continue
            h = HEADER_LINE.match(line)
            assert h, "malformed header line %r in a %d answer" % (line, status)
            headers[h.group(1).lower().decode()].append(h.group(2).strip())
        pos = end + 4
        if status == 100:
            assert expects, "100 Continue to requests without Expect"
            out.append(None)  # counted, not checked (no body, no JSON)
            continue
        assert 200 <= status, "an interim %d answer" % status
        assert "transfer-encoding" not in headers, "Transfer-Encoding in an answer: %r" % headers
        lengths = headers.get("content-length", [])
        assert len(lengths) == 1 and lengths[0].isdigit(), "Content-Length %r in a %d answer" % (lengths, status)
        i = sum(1 for r in out if r is not None)
        if aligned and i < len(requests):
            head = requests[i].head
        else:  # past a malformed request the pairing is unknown: any HEAD left may be this one
            head = None if any(r.head is not False for r in requests[i:]) else False
        if head is None:  # a HEAD the server may not have recognised: what follows tells
            head = pos == len(buf) or buf.startswith(b"HTTP/1.1 ", pos)
        length = 0 if head else int(lengths[0])
        assert pos + length <= len(buf), "a %d answer with Content-Length %d has %d body bytes" % (
            status, length, len(buf) - pos)
        close = any(v.lower() == b"close" for v in headers.get("connection", []))
        out.append(Response(status, dict(headers), buf[pos:pos + length], close, head))
        pos += length
        if i >= len(requests) or not requests[i].well_formed:
            aligned = False
        if close:
            assert pos == len(buf), "%d bytes after an answer with Connection: close" % (len(buf) - pos)
    return out


def final(responses):
    return [r for r in responses if r is not None]


def check_response(resp):
    """Raises AssertionError unless resp keeps the invariants; returns its source class."""
    s = resp.status
    # 501 only for the contract's cluster-managing methods, which this service does not serve.
    assert s < 500 or s == 503 or (s == 501 and (resp.head or b"is not served" in resp.body)), \
        "status %d" % s
    ctype = resp.headers.get("content-type", [b""])[0]
    assert ctype == b"application/json", "Content-Type %r" % ctype
    if resp.head:
        return "head"
    try:
        text = resp.body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError("a %d body is not UTF-8 (%s): %r" % (s, e, resp.body[:300]))
    try:
        body = json.loads(text)
    except ValueError as e:
        raise AssertionError("a %d body is not JSON (%s): %r" % (s, e, resp.body[:300]))
    assert isinstance(body, dict), "a %d body is not a JSON object: %r" % (s, resp.body[:300])
    if s < 400:
        return "handler"
    code, message = body.get("code"), body.get("message")
    assert isinstance(code, int) and not isinstance(code, bool), "a %d body with code %r" % (s, code)
    assert code in CODES_FOR_STATUS.get(s, ()), "a %d body with code %d" % (s, code)
    assert isinstance(message, str), "a %d body with message %r" % (s, message)
    assert len(message.encode()) < MESSAGE_LIMIT, "a %d message of %d bytes" % (s, len(message.encode()))
    assert isinstance(body.get("details", []), list), body
    if message.startswith("malformed HTTP request") or s in (413, 431):
        return "refused-by-listener"
    if s == 401:
        return "unauthenticated"
    if s == 429:
        return "throttled"
    return "handler"


def check_connection(requests, reply, ended, send_error):
    """Checks one connection; returns (per-response classes, statuses, unanswered classes).
    Raises AssertionError for a broken invariant."""
    assert ended != "timeout", "no answer and no close within %d s of the client's end" % READ_TIMEOUT
    parsed = parse_replies(reply, requests)
    responses = final(parsed)
    classes = [check_response(resp) for resp in responses]
    statuses = [resp.status for resp in responses] + [100] * (len(parsed) - len(responses))
    unanswered = []
    answered_close = bool(responses) and responses[-1].close
    for i in range(len(responses), len(requests)):
        if answered_close:
            unanswered.append("after-a-close-answer")
        elif not all(r.well_formed for r in requests[:i + 1]):
            unanswered.append("closed-on-malformed")
        elif ended == "reset" or send_error:
            # Never seen for well-formed traffic; kept apart so that it shows.
            raise AssertionError("connection reset (%s, %s) before answering well-formed request %d"
                                 % (ended, send_error, i + 1))
        else:
            raise AssertionError("closed without answering well-formed request %d of %d" % (i + 1, len(requests)))
    return classes, statuses, unanswered


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = self.requests = self.responses = 0
        self.classes = collections.Counter()
        self.statuses = collections.Counter()
        self.labels = collections.Counter()
        self.violations = []   # (message, source, request bytes, reply bytes)
        self.errors = []       # the fuzzer's own exceptions
        self.crash = None

    def add(self, requests, classes, statuses, unanswered):
        with self.lock:
            self.connections += 1
            self.requests += len(requests)
            self.responses += sum(1 for s in statuses if s != 100)
            self.classes.update(classes)
            self.classes.update(unanswered)
            self.statuses.update(statuses)
            for r in requests:
                self.labels.update(r.labels)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def log_summary(lines):
    """How many lines the run added to the server log, and the commonest kinds (ids and numbers
    blanked)."""
    kinds = collections.Counter(re.sub(r"'[^']*'|[0-9a-z]{20}|\d+", "_", l)[:90] for l in lines)
    return "%d lines; %s" % (len(lines), "; ".join("%dx %r" % (n, k) for k, n in kinds.most_common(4)))


def save_case(out_dir, name, data):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_rest_front_door_fuzz(world, capsys):
    seed = int(os.environ.get("MDB_REST_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))
    out_dir = os.environ.get("MDB_REST_FUZZ_OUT") or os.path.join(tempfile.gettempdir(), "mdb-rest-fuzz-%d" % seed)
    with capsys.disabled():
        print("\nREST fuzz: seed %d (MDB_REST_FUZZ_SEED=%d replays it), %g s, %d threads"
              % (seed, seed, SECONDS, THREADS))
    proc = world.server.proc
    log_before = len(world.server.read_log().splitlines())
    tally = Tally()
    stop = threading.Event()
    max_rss = [rss_kb(proc.pid)]
    recent = {}  # thread -> the last connections it sent (for a crash report)

    def sample_rss():
        while not stop.wait(0.2):
            try:
                max_rss[0] = max(max_rss[0], rss_kb(proc.pid))
            except OSError:
                return

    def fuzz(n):
        rng = random.Random("%d/%d" % (seed, n))
        gen = Generator(rng, world)
        last = recent.setdefault(n, collections.deque(maxlen=8))
        deadline = time.monotonic() + SECONDS
        try:
            while time.monotonic() < deadline and not stop.is_set():
                source, requests = gen.connection()
                data = b"".join(r.data for r in requests)
                last.append(data)
                try:
                    reply, ended, send_error = exchange(world, source, data)
                except ConnectionRefusedError:
                    if proc.poll() is not None:
                        tally.crash = "mdb-backupd exited with %s" % proc.returncode
                        stop.set()
                        return
                    raise
                try:
                    classes, statuses, unanswered = check_connection(requests, reply, ended, send_error)
                    tally.add(requests, classes, statuses, unanswered)
                except AssertionError as e:
                    with tally.lock:
                        tally.violations.append((str(e), source, data, reply))
                if proc.poll() is not None:
                    tally.crash = "mdb-backupd exited with %s" % proc.returncode
                    stop.set()
        except Exception:
            tally.errors.append(traceback.format_exc())
            stop.set()

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    started = time.monotonic()
    threads = [threading.Thread(target=fuzz, args=(i,), name="fuzz-%d" % i) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 10 * READ_TIMEOUT)
        assert not t.is_alive(), "a fuzz thread hung"
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()

    # The summary, whatever the verdict.
    reached = tally.classes["handler"] + tally.classes["head"]
    lines = ["REST fuzz summary: seed %d, %.1f s, %d connections, %d requests, %d answers, %.0f requests/s"
             % (seed, elapsed, tally.connections, tally.requests, tally.responses, tally.requests / elapsed),
             "  outcome classes: %s" % dict(tally.classes.most_common()),
             "  statuses: %s" % dict(sorted(tally.statuses.items())),
             "  answered by the handlers: %.1f%% of requests" % (100.0 * reached / max(1, tally.requests)),
             "  max VmRSS: %.1f MB" % (max_rss[0] / 1024),
             "  mutations: %s" % ", ".join("%s=%d" % kv for kv in tally.labels.most_common()),
             "  server log: %s" % log_summary(world.server.read_log().splitlines()[log_before:]),
             "  violations: %d" % len(tally.violations)]
    for i, (msg, source, data, reply) in enumerate(tally.violations[:10]):
        path = save_case(out_dir, "violation-%d.http" % i, data)
        lines.append("  - %s\n    from %s, request %r%s\n    saved as %s\n    reply %r" % (
            msg, source, data[:600], "..." if len(data) > 600 else "", path, reply[:400]))
    with capsys.disabled():
        print("\n".join(lines))

    assert not tally.errors, "the fuzzer itself failed:\n" + "\n".join(tally.errors)
    if tally.crash or proc.poll() is not None:
        paths = [save_case(out_dir, "last-%d-%d.http" % (n, i), data)
                 for n, q in recent.items() for i, data in enumerate(q)]
        raise AssertionError("%s; the last %d connections of the threads are saved in %s; log tail:\n%s" % (
            tally.crash or "mdb-backupd exited", len(paths), out_dir, world.server.read_log()[-3000:]))
    assert not tally.violations, "%d exchanges broke an invariant (first: %s); seed %d" % (
        len(tally.violations), tally.violations[0][0], seed)
    assert tally.requests >= 10 * SECONDS, "only %d requests in %.0f s" % (tally.requests, elapsed)
    assert reached > tally.requests / 2, "most requests were not answered by the handlers: %s" % tally.classes
    assert max_rss[0] < RSS_LIMIT_KB, "VmRSS reached %.0f MB" % (max_rss[0] / 1024)

    # Alive, and the same answers as before the run.
    for target in BASELINE:
        status, body = http_json((world.host, world.port), "GET", target)
        # (the list's next_page_token depends on how many fodder backups are left)
        body.pop("nextPageToken", None)
        world.baseline[target].pop("nextPageToken", None)
        assert status == 200 and body == world.baseline[target], (target, status, body)
    fatal = [l for l in world.server.read_log().splitlines() if FATAL_LOG.search(l)]
    assert not fatal, "the server log has crash lines:\n" + "\n".join(fatal[:20])
