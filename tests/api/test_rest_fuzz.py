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
import base64
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
from urllib.parse import quote, urlparse

import pytest

from mdb_harness import OTHER, READER, RECORDS, WRITER, Server

SECONDS = float(os.environ.get("MDB_REST_FUZZ_SECONDS", "60"))
THREADS = 4
RSS_LIMIT_KB = 300 * 1024
MESSAGE_LIMIT = 4096
HEADER_LIMIT = 16 << 10
BODY_LIMIT = 4 << 20
READ_TIMEOUT = 30  # a hang guard: the client half-closes, so the server never waits for bytes

ENGINES = ["greenplum", "mongodb", "redis", "opensearch"]
CLUSTERS = {"greenplum": "gp1", "mongodb": "mg1", "redis": "rd1", "opensearch": "os1"}
OTHER_CLUSTERS = ["rd2", "walk", "missing", "gp1", "mg1", "rd1", "os1"]
BACKUPS = {e: [r["id"] for r in RECORDS if r["engine"] == e.upper()] for e in ENGINES}
# Backups the fuzzer may delete (a DELETE never names one of RECORDS, which the final Get reads).
FODDER = {e: ["fz-%s-%d" % (e, i) for i in range(6)] for e in ENGINES}
FODDER_RECORDS = [{"id": b, "engine": e.upper(), "folderId": "f1", "clusterId": CLUSTERS[e],
                   "startedAt": "2026-10-01T00:00:%02dZ" % i, "createdAt": "2026-10-01T00:01:%02dZ" % i,
                   "type": "MANUAL"} for e in ENGINES for i, b in enumerate(FODDER[e])]

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
# Generating requests.

class Raw(bytes):
    """A JSON token written as is (1e400, NaN, a bad escape)."""


def dump(v):
    """JSON text of v; bytes are string contents written unescaped (invalid UTF-8, controls)."""
    if isinstance(v, Raw):
        return bytes(v)
    if isinstance(v, bytes):
        return b'"' + v + b'"'
    if isinstance(v, dict):
        return b"{" + b",".join(dump(k) + b":" + dump(x) for k, x in v.items()) + b"}"
    if isinstance(v, list):
        return b"[" + b",".join(dump(x) for x in v) + b"]"
    return json.dumps(v, ensure_ascii=False).encode()


def nested(depth, kind):
    if kind == "array":
        return Raw(b"[" * depth + b"]" * depth)
    if kind == "object":
        return Raw(b'{"a":' * depth + b"1" + b"}" * depth)
    return Raw(b'{"a":[' * depth + b"]}" * depth)  # alternating


TIMESTAMPS = ["2026-11-21T02:00:00Z", "9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z",
              "10000-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "2026-13-45T25:61:61Z",
              "2026-11-21T01:02:00+25:00", "2026-11-21T01:02:00-23:59", "2026-11-21",
              "1970-01-01T00:00:00.0000000001Z", "-2026-01-01T00:00:00Z", "2026-11-21T01:02:00",
              "2026-11-21T01:02:00.Z", "2026-02-30T00:00:00Z", "", "now", 1795000000, -1, 2 ** 63]
ENUMS = ["PRODUCTION", "PRESTABLE", "ENVIRONMENT_UNSPECIFIED", "production", "", 0, 1, 2, 3, 99,
         -1, 2 ** 31, 2 ** 31 - 1, -2 ** 31 - 1, 1.5, "1", "99", True, None]


def weird_value(rng):
    return rng.choice([
        None, True, False, 0, -1, 1.5, 2 ** 63, 2 ** 64, -2 ** 63 - 1, 2 ** 53 + 1,
        Raw(b"1e400"), Raw(b"-1e400"), Raw(b"-0"), Raw(b"NaN"), Raw(b"Infinity"), Raw(b"0x10"),
        Raw(b"01"), Raw(b"1."), Raw(b".5"), Raw(b"9" * 400), Raw(b"1e-400"), Raw(b"tru"),
        "", "x" * rng.choice([63, 64, 257, 5000, 70000]), "\u0000", "é\u2028日本", "\U0001f600",
        b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x01\x02\n\t", b"\\", b"\\x", b"\\u12",
        Raw(b'"\\ud800"'), Raw(b'"\\udc00\\ud800"'), Raw(b'"\\u0000"'), Raw(b'"\\uZZZZ"'),
        [], {}, [1, "a", None], {"a": 1}, {"seconds": 1, "nanos": -1},
        {"seconds": 253402300800, "nanos": 1000000000}, "9223372036854775808", "-9223372036854775809",
        "123", " 1", "1e3", rng.choice(TIMESTAMPS), rng.choice(ENUMS),
    ])


def restore_body(engine):
    """A restore request the server takes (the target is a declared cluster of folder f1)."""
    body = {"backupId": BACKUPS[engine][0], "name": CLUSTERS[engine], "folderId": "f1",
            "environment": "PRODUCTION", "description": "fuzz", "labels": {"a": "b"}}
    if engine == "greenplum":
        body.update(networkId="net1", time="2026-11-21T02:00:00Z", segmentHostCount="2",
                    segmentInHost=1, restoreOnly=["db/schema/table"],
                    masterResources={"resourcePresetId": "s2", "diskSize": "1024"})
    elif engine == "mongodb":
        body.update(configSpec={"version": "6.0"}, hostSpecs=[{"zoneId": "a", "shardName": "rs01"}])
    elif engine == "redis":
        body.update(configSpec={"version": "7.2"}, hostSpecs=[{"zoneId": "a", "replicaPriority": 5}],
                    tlsEnabled=True, persistenceMode="ON")
    else:
        body.update(configSpec={"version": "2.19"}, networkId="net1")
    return body


def json_nodes(v, path=()):
    """(path, value) for every node under v (dicts and lists, not Raw)."""
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from json_nodes(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from json_nodes(x, path + (i,))


def json_set(root, path, value):
    if not path:
        return value
    node = root
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return root


def mutate_json(rng, body, engine):
    """A restore body mutated in 1..3 ways, as bytes; sometimes only the bytes are damaged."""
    labels = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.choice(["replace", "replace", "unknown", "nest", "enum", "time", "drop",
                         "labels", "long", "duplicate", "bytes", "random"])
        labels.append("json-" + op)
        if op == "replace":
            path, _ = rng.choice(list(json_nodes(body)))
            body = json_set(body, path, weird_value(rng))
        elif op == "unknown":
            objects = [(p, n) for p, n in json_nodes(body) if isinstance(n, dict)]
            _, obj = rng.choice(objects) if objects else ((), {})
            obj[rng.choice(["unknownField", "x" * 300, "", "@type", "__proto__", "backup_id",
                            "config_spec", "Name"])] = weird_value(rng)
        elif op == "nest":
            depth = rng.choice([50, 99, 100, 101, 1000, 10000, 100000])
            kind = rng.choice(["array", "object", "mixed"])
            where = rng.choice(["unknownField", "configSpec", "labels", "hostSpecs", "name"])
            if isinstance(body, dict):
                body[where] = nested(depth, kind)
            else:
                body = nested(depth, kind)
        elif op == "enum" and isinstance(body, dict):
            body[rng.choice(["environment", "persistenceMode"])] = rng.choice(ENUMS)
        elif op == "time" and isinstance(body, dict):
            if engine == "mongodb":
                body["recoveryTargetSpec"] = {"timestamp": rng.choice(TIMESTAMPS)}
            else:
                body["time"] = rng.choice(TIMESTAMPS + [{"seconds": -1}, {"nanos": 2 ** 31}])
        elif op == "drop" and isinstance(body, dict) and body:
            body.pop(rng.choice(list(body)))
        elif op == "labels" and isinstance(body, dict):
            n = rng.choice([64, 65, 1000])
            body["labels"] = {("k%d" % i if rng.random() < 0.9 else "K-%d" % i): "v" for i in range(n)}
        elif op == "long" and isinstance(body, dict):
            body[rng.choice(["name", "description", "backupId", "folderId"])] = \
                "n" * rng.choice([63, 64, 256, 257, 100000])
        elif op == "duplicate":
            text = dump(body)
            if text.startswith(b"{") and len(text) > 2:
                body = Raw(b'{"backupId":"x","name":"y",' + text[1:])
        elif op == "bytes":
            return damage(rng, dump(body)), labels
        elif op == "random":
            return rng.randbytes(rng.choice([0, 1, 2, 16, 300, 5000])), labels
    return dump(body), labels


def damage(rng, data):
    kind = rng.choice(["truncate", "flip", "insert", "bom", "trailing", "whitespace", "comment"])
    if kind == "truncate" and data:
        return data[:rng.randrange(len(data))]
    if kind == "flip" and data:
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "insert":
        i = rng.randint(0, len(data))
        return data[:i] + rng.randbytes(rng.randint(1, 8)) + data[i:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "trailing":
        return data + rng.choice([b"}", b"{}", b"\x00", b" garbage", b",", b"]"])
    if kind == "whitespace":
        return b" \t\r\n" * rng.randint(1, 100) + data
    return b"// c\n" + data


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


PARAM_SPECIALS = [b"", b"..", b".", b"../..", b"%2e%2e", b"%2F", b"a/b", b"%2Fetc%2Fpasswd",
                  b"%00", b"a%00b", b"%", b"%4", b"%zz", b"%%", b"%0", b"%ff", b"%c3%28",
                  b"%c0%af", b"%ed%a0%80", b"%e6%97%a5", "é日本".encode(), b"\xff", b"\xc3\x28",
                  b"\xc0\xaf", b"\xed\xa0\x80", b"?", b"?a=b", b"#x", b";x=1", b":backup",
                  b":cancel", b"%3Abackup", b"+", b"*", b"~", b"'", b"\"", b"{backup_id}",
                  b"%7Bbackup_id%7D", b"\\", b"%5C"]
# Bytes that make a request line malformed (any request carrying one need not be answered).
LINE_BREAKERS = [b"\x00", b" ", b"\t", b"\x01", b"\x7f", b"\r", b"\n", b"\x1b"]


@dataclasses.dataclass
class Request:
    data: bytes
    well_formed: bool  # valid HTTP/1.1 framing: the server must answer it
    head: object       # True: a HEAD the server must recognise (no body in its answer);
                       # None: a HEAD it may not recognise (a 431 before its start line is read)
    labels: list


class Generator:
    """Connections of fuzzed requests from one seeded RNG."""

    def __init__(self, rng, world):
        self.rng = rng
        self.world = world
        self.tokens = list(world.page_tokens.values())

    # -- one connection: the source address and 1..6 requests sent in one go
    def connection(self):
        r = self.rng
        source = "127.0.0.%d" % r.randint(2, 254)
        if r.random() < 0.002:  # rare: one request with a body at the limit (deep nesting)
            return source, [self.big_body()]
        n = r.choice([1] * 11 + [2, 2, 3, 3, 4, 6])
        return source, [self.request(pipelined=n > 1) for _ in range(n)]

    def big_body(self):
        e = self.rng.choice(ENGINES)
        size = self.rng.choice([BODY_LIMIT // 2, BODY_LIMIT])
        body = self.rng.choice([b"[" * size, (b'{"a":' * (size // 5))[:size],
                                b'{"name":"' + b"n" * (size - 11) + b'"}'])
        data = (b"POST /managed-%s/v1/clusters:restore HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
                b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
                (e.encode(), WRITER.encode(), len(body))) + body
        return Request(data, True, False, ["big-body"])

    # -- values of path parameters
    def param(self, values, mutate=0.35, others=(b"gp-base", b"rd-1", b"os-1", b"mg-1", b"rd-f2", b"missing")):
        r = self.rng
        v = r.choice(values).encode()
        if r.random() >= mutate:
            return quote(v, safe="").encode(), True, None
        kind = r.choice(["special", "special", "long", "escape-all", "suffix", "breaker", "other"])
        if kind == "special":
            return r.choice(PARAM_SPECIALS), True, "param-special"
        if kind == "long":
            return b"a" * r.choice([50, 51, 63, 64, 101, 1000, 8000, 15000, 17000]), True, "param-long"
        if kind == "escape-all":
            return b"".join(b"%%%02X" % c for c in v), True, "param-escaped"
        if kind == "suffix":
            return v + r.choice(PARAM_SPECIALS), True, "param-suffix"
        if kind == "breaker":
            i = r.randint(0, len(v))
            return v[:i] + r.choice(LINE_BREAKERS) + v[i:], False, "param-ctl"
        return r.choice(others), True, "param-other"

    def page_token(self):
        r = self.rng
        t = r.choice(self.tokens)
        kind = r.choice(["real", "real", "truncate", "bitflip", "charflip", "random", "extend",
                         "padded", "std-alphabet", "empty", "long"])
        if kind == "real":
            return t
        if kind == "truncate":
            return t[:r.randrange(len(t))]
        if kind == "bitflip":
            raw = bytearray(b64url_decode(t))
            raw[r.randrange(len(raw))] ^= 1 << r.randrange(8)
            return b64url_encode(bytes(raw))
        if kind == "charflip":
            i = r.randrange(len(t))
            return t[:i] + r.choice("ABCabc0189-_") + t[i + 1:]
        if kind == "random":
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            return "".join(r.choice(alphabet) for _ in range(r.choice([1, 38, 39, 40, 100, 101])))
        if kind == "extend":
            return t + r.choice(["A", "AA", "==", "x" * 80])
        if kind == "padded":
            return t + "=" * (-len(t) % 4)
        if kind == "std-alphabet":
            return t.replace("-", "+").replace("_", "/")
        if kind == "empty":
            return ""
        return "t" * r.choice([100, 101, 5000])

    # -- query strings
    def query(self, base, mutate=0.35):
        """base: [(name, value)] of a valid query; returns (query bytes, well formed, label)."""
        r = self.rng
        pairs = [(quote(k, safe="").encode(), quote(v, safe="").encode()) for k, v in base]
        label, ok = None, True
        if r.random() < mutate:
            kind = r.choice(["unknown", "repeat", "drop", "empty", "page-size", "page-size",
                             "page-token", "page-token", "bad-escape", "proto-name", "plus",
                             "long", "raw-bytes", "breaker", "dotted"])
            label = "query-" + kind
            if kind == "unknown":
                pairs.append((r.choice([b"foo", b"page_sizes", b"", b"a" * 300, b"backupId",
                                        b"name", b"environment", b"labels", b"time",
                                        b"configSpec", b"filter", b"%ff"]),
                              quote(str(weird_value(r))[:200], safe="").encode()))
            elif kind == "repeat" and pairs:
                k, v = r.choice(pairs)
                pairs.append((k, r.choice([v, b"", b"f2", b"other"])))
            elif kind == "drop":
                pairs = []
            elif kind == "empty":
                return r.choice([b"?", b"?&", b"?&&", b"?=", b"?folderId", b"?=f1", b"?&folderId=f1&",
                                 b"?folderId=&pageSize="]), True, label
            elif kind == "page-size":
                pairs.append((r.choice([b"pageSize", b"page_size"]), r.choice([
                    b"1", b"0", b"1000", b"1001", b"-1", b"-9223372036854775808",
                    b"9223372036854775807", b"9223372036854775808", b"18446744073709551616",
                    b"2147483648", b"1e3", b"1.5", b"0x10", b"abc", b"", b"+5", b"%205",
                    b"5%20", b"00001", b"%ff", b"1" * 100])))
            elif kind == "page-token":
                pairs.append((r.choice([b"pageToken", b"page_token"]),
                              quote(self.page_token(), safe="").encode()))
            elif kind == "bad-escape":
                pairs.append(r.choice([(b"folderId", b"%"), (b"folderId", b"%4"), (b"%zz", b"1"),
                                       (b"folderId", b"f1%"), (b"pageToken", b"%g0")]))
            elif kind == "proto-name":
                pairs = [(k.replace(b"Id", b"_id").replace(b"Size", b"_size")
                          .replace(b"Token", b"_token"), v) for k, v in pairs]
            elif kind == "plus":
                pairs = [(k, v + b"+" + v) for k, v in pairs] or [(b"folderId", b"f+1")]
            elif kind == "long":
                pairs.append((b"folderId", b"f" * r.choice([50, 51, 5000, 15000])))
            elif kind == "raw-bytes":
                pairs.append((b"folderId", r.choice([b"\xff", "é".encode(), b"\xc3\x28", b"f1\x80"])))
            elif kind == "breaker":
                pairs.append((b"folderId", b"f1" + r.choice(LINE_BREAKERS)))
                ok = False
            elif kind == "dotted":
                pairs.append((r.choice([b"configSpec.version", b"recoveryTargetSpec.timestamp",
                                        b"a.b.c", b"labels.a", b"time.seconds", b"folderId.x",
                                        b"." * 50, b"configSpec." * 200]),
                              r.choice([b"1", b"7.2", b"-1", b"x"])))
        if not pairs:
            return b"", ok, label
        return b"?" + b"&".join(k + b"=" + v for k, v in pairs), ok, label

    # -- one request
    def request(self, pipelined=False):
        r = self.rng
        e = r.choice(ENGINES)
        route = r.choices(["get", "list", "list-cluster", "operation", "cancel", "backup",
                           "restore", "delete"], weights=[22, 22, 16, 10, 2, 3, 8, 3])[0]
        labels = [route]
        ok = True
        token = READER
        verb, body, query_base = "GET", b"", []
        if route == "get":
            param, pok, pl = self.param(BACKUPS[e] + BACKUPS[r.choice(ENGINES)])
            path = b"/managed-%s/v1/backups/%s" % (e.encode(), param)
        elif route == "list":
            param, pok, pl = b"", True, None
            path = b"/managed-%s/v1/backups" % e.encode()
            query_base = [("folderId", r.choice(["f1", "f1", "f2"]))]
        elif route == "list-cluster":
            param, pok, pl = self.param([CLUSTERS[e]] * 4 + OTHER_CLUSTERS)
            path = b"/managed-%s/v1/clusters/%s/backups" % (e.encode(), param)
        elif route in ("operation", "cancel"):
            param, pok, pl = self.param(self.world.operations)
            path = b"/operations/%s%s" % (param, b":cancel" if route == "cancel" else b"")
            token = r.choice([READER, WRITER])
        elif route == "backup":
            param, pok, pl = self.param([CLUSTERS[e]] + OTHER_CLUSTERS, mutate=0.5)
            path = b"/managed-%s/v1/clusters/%s:backup" % (e.encode(), param)
            verb, token = "POST", r.choice([WRITER, READER, OTHER, OTHER])
        elif route == "restore":
            param, pok, pl = b"", True, None
            path = b"/managed-%s/v1/clusters:restore" % e.encode()
            verb, token = "POST", r.choice([WRITER, WRITER, READER, OTHER])
            if r.random() < 0.85:
                body, jl = mutate_json(r, restore_body(e), e)
                labels += jl
            else:
                body = dump(restore_body(e))
        else:  # delete: fodder, never one of RECORDS
            param, pok, pl = self.param(FODDER[e], mutate=0.5,
                                        others=[b"missing", b"fz-%s-0" % r.choice(ENGINES).encode()])
            verb, token = "DELETE", r.choice([WRITER, READER, OTHER])
            if e == "opensearch" and r.random() < 0.5:
                path = b"/managed-opensearch/v1/clusters/%s/backups/%s" % (
                    r.choice([b"os1", b"rd1", b"missing"]), param)
            else:
                path = b"/managed-%s/v1/backups/%s" % (e.encode(), param)
        if pl:
            labels.append(pl)
        ok = ok and pok
        if route in ("list", "list-cluster") and r.random() < 0.5:
            query_base.append(("pageSize", r.choice(["1", "2", "100"])))
        if route in ("list", "list-cluster") and r.random() < 0.3:
            query_base.append(("pageToken", r.choice(self.tokens)))
        q, qok, ql = self.query(query_base)
        if ql:
            labels.append(ql)
        ok = ok and qok

        m = Message(verb.encode(), path + q, token, body, ok, labels)
        # Fewer protocol mutations in a pipeline: one that closes the connection leaves the
        # requests behind it unanswered.
        for _ in range(r.choices([0, 1, 2, 3], weights=[70, 22, 6, 2] if pipelined else [45, 33, 15, 7])[0]):
            mutation = r.choices(PROTOCOL_MUTATIONS, weights=[w for _, w in PROTOCOL_WEIGHTS])[0]
            mutation(m, r)
        return m.build(r)


class Message:
    """A request being assembled: its request line, headers and body, and how it is framed."""

    def __init__(self, verb, target, token, body, ok, labels):
        self.verb, self.target, self.version = verb, target, b"HTTP/1.1"
        self.sp1 = self.sp2 = b" "
        self.prefix = b""       # bytes before the request line
        self.eol = b"\r\n"
        self.line_ok = ok       # the request line is valid
        self.ok = ok            # the whole request is
        self.headers = [b"Host: mdb.test"]
        if token is not None:
            self.headers.append(b"Authorization: Bearer " + token.encode())
        if body:
            self.headers.append(b"Content-Type: application/json")
        self.body = body
        self.framing = "length"  # length | chunked | raw (headers and body set by a mutation)
        self.labels = labels

    def bad_line(self, label):
        self.line_ok = self.ok = False
        self.labels.append(label)

    def bad(self, label):
        self.ok = False
        self.labels.append(label)

    def build(self, rng):
        headers = list(self.headers)
        body = self.body
        if self.framing == "length" and (body or self.verb == b"POST" or rng.random() < 0.2):
            headers.append(b"Content-Length: %d" % len(body))
        elif self.framing == "chunked":
            headers.append(b"Transfer-Encoding: chunked")
            body = chunked(rng, body)
        rng.shuffle(headers)
        line = self.verb + self.sp1 + self.target + self.sp2 + self.version
        head_bytes = self.prefix + line + self.eol + b"".join(h + self.eol for h in headers) + self.eol
        head = False
        if self.verb == b"HEAD":
            head = True if self.ok and len(head_bytes) < HEADER_LIMIT - 512 else None
        return Request(head_bytes + body, self.ok, head, self.labels)


def chunked(rng, body, last=b"0\r\n\r\n"):
    out, i = b"", 0
    while i < len(body):
        n = rng.randint(1, max(1, len(body) - i))
        ext = rng.choice([b"", b"", b";a=b", b";x"])
        out += b"%x%s\r\n%s\r\n" % (n, ext, body[i:i + n])
        i += n
    if rng.random() < 0.2:
        return out + b"0\r\nX-Trailer: t\r\n\r\n"
    return out + last


# -- protocol mutations: each changes a Message in place, marking what it breaks

def mut_verb(m, r):
    kind = r.choice(["lower", "other", "other", "unknown", "huge", "invalid"])
    if kind == "lower":
        m.verb = m.verb.lower()
    elif kind == "other":  # HEAD only where the request line stays valid (see Request.head)
        m.verb = r.choice([b"PUT", b"PATCH", b"OPTIONS", b"TRACE", b"GET", b"POST", b"DELETE"] +
                          [b"HEAD"] * m.line_ok)
    elif kind == "unknown":
        m.verb = r.choice([b"FOO", b"M-SEARCH", b"BREW", b"PROPFIND", b"X", b"GET_", b"1"])
    elif kind == "huge":
        m.verb = b"A" * r.choice([100, 1000, 8000, 15000, 17000])
    else:
        m.verb = r.choice([b"", b"G\x00ET", b"GET\t", "ΓET".encode(), b"(GET)", b"GE@T", b"\xffGET"])
        return m.bad_line("verb-invalid")
    m.labels.append("verb-" + kind)


def mut_version(m, r):
    if m.verb == b"HEAD":
        return  # whether a HEAD is recognised must stay known: its answer has no body
    if r.random() < 0.4:
        m.version = b"HTTP/1.0"
        if r.random() < 0.5:
            m.headers.append(b"Connection: keep-alive")
        m.labels.append("version-1.0")
        return
    m.version = r.choice([b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2", b"HTTP/9.9", b"HTTP/1", b"http/1.1",
                          b"HTTP/11.1", b"HTTX/1.1", b"HTTP/1.1 ", b"", b"\xff", b"HTTP/1.1\x00"])
    m.bad_line("version-odd")


def mut_line(m, r):
    kind = r.choice(["double-space", "tab", "leading-crlf", "bare-lf", "no-version",
                     "absolute", "asterisk", "fragment", "empty-target"])
    if kind == "absolute":
        m.target = b"http://mdb.test" + m.target
        m.labels.append("target-absolute")
    elif kind == "asterisk":
        m.target = b"*"
        m.labels.append("target-asterisk")
    elif kind == "fragment":
        m.target += b"#frag"
        m.labels.append("target-fragment")
    elif m.verb == b"HEAD":
        return
    elif kind == "double-space":
        m.sp1 = b"  "
        m.bad_line("line-double-space")
    elif kind == "tab":
        m.sp2 = b"\t"
        m.bad_line("line-tab")
    elif kind == "leading-crlf":
        m.prefix = b"\r\n" * r.randint(1, 3)
        m.bad_line("line-leading-crlf")
    elif kind == "bare-lf":
        m.eol = b"\n"
        m.bad_line("line-bare-lf")
    elif kind == "no-version":
        m.sp2 = m.version = b""
        m.bad_line("line-no-version")
    else:
        m.target = b""
        m.bad_line("line-empty-target")


AUTH_VALID = [lambda t: b"Bearer " + t, lambda t: b"bearer " + t, lambda t: b"BEARER " + t,
              lambda t: b"Bearer    " + t + b"   ", lambda t: b"Bearer " + t + b"\t"]
AUTH_REFUSED = [  # answered 401 without counting as a guess
    lambda t: None, lambda t: b"", lambda t: b"Basic dXNlcjpwYXNz", lambda t: b"Bearer",
    lambda t: b"Token " + t, lambda t: t, lambda t: b"Bearer" + t, lambda t: b"Negotiate " + b"A" * 4000]
AUTH_WRONG = [  # a wrong token: counts against the source address (throttled after a burst)
    lambda t: b"Bearer " + t + b"junk", lambda t: b"Bearer " + t[:-1], lambda t: b"Bearer  ",
    lambda t: b"Bearer " + t + b" " + t, lambda t: b"Bearer " + t + b"\xff",
    lambda t: b"Bearer " + b"x" * 4000, lambda t: b"Bearer " + "токен".encode(),
    lambda t: b"Bearer " + t.upper()]


def mut_auth(m, r):
    current = [h for h in m.headers if h.startswith(b"Authorization: Bearer ")]
    token = current[0][len(b"Authorization: Bearer "):] if current else READER.encode()
    m.headers = [h for h in m.headers if not h.startswith(b"Authorization:")]
    kind = r.choices(["valid", "refused", "wrong", "control", "long", "duplicate"],
                     weights=[25, 25, 20, 8, 4, 18])[0]
    if kind == "control":  # refused by the parser (a NUL once cut a token short)
        m.headers.append(b"Authorization: Bearer " + token + r.choice([b"\x00junk", b"\x01", b"\x7f", b"\x00"]))
        return m.bad("auth-control")
    if kind == "long":
        value = b"Bearer " + b"y" * r.choice([HEADER_LIMIT - 200, HEADER_LIMIT, HEADER_LIMIT + 100])
    elif kind == "duplicate":
        first, second = r.choice(AUTH_VALID)(token), r.choice(AUTH_WRONG + AUTH_VALID)(token)
        if r.random() < 0.5:
            first, second = second, first
        m.headers += [b"Authorization: " + first, b"Authorization: " + second]
        return m.labels.append("auth-duplicate")
    else:
        value = r.choice({"valid": AUTH_VALID, "refused": AUTH_REFUSED, "wrong": AUTH_WRONG}[kind])(token)
    if value is not None:
        m.headers.append(b"Authorization: " + value)
    m.labels.append("auth-" + kind)


def mut_length(m, r):
    if m.framing != "length":
        return  # framed already (chunked, or by another length mutation)
    n = len(m.body)
    kind = r.choice(["missing", "zero", "negative", "huge", "overflow", "more", "less",
                     "dup-same", "dup-diff", "junk"])
    m.framing = "raw"
    if kind == "huge":  # declared past the limit: refused (413) before a byte of it is read
        m.headers.append(b"Content-Length: %d" % r.choice([BODY_LIMIT + 1, 1 << 40, (1 << 62) + 7]))
        m.body = m.body[:1000]
        m.labels.append("length-huge")
        return
    if kind == "missing" and not m.body:
        m.labels.append("length-missing")
        return
    value = {"missing": None, "zero": b"0", "negative": b"-%d" % max(n, 1), "more": b"%d" % (n + r.randint(1, 5000)),
             "less": b"%d" % max(n - r.randint(1, 10), 0), "overflow": b"9" * r.choice([20, 40]),
             "dup-same": b"%d" % n, "dup-diff": b"%d" % n,
             "junk": r.choice([b"abc", b"", b"+%d" % n, b"0x%x" % n, b"%d,%d" % (n, n), b"%d 1" % n, b"1e3"])}[kind]
    if value is not None:
        m.headers.append(b"Content-Length: " + value)
    if kind == "dup-same":
        m.headers.append(b"Content-Length: " + value)
    elif kind == "dup-diff":
        m.headers.append(b"Content-Length: %d" % (n + 1))
    if kind == "zero" and not m.body:
        return m.labels.append("length-zero")
    # The rest desynchronises or truncates the request (the body is read as the next request, or
    # the server waits for bytes the client never sends): no answer is owed.
    m.bad("length-" + kind)


def mut_chunked(m, r):
    kind = r.choice(["valid", "valid", "bad-hex", "no-crlf", "no-last", "size-overflow",
                     "size-past-data", "huge-size", "te-list", "te-and-length", "te-case"])
    if m.framing != "length":
        return
    if kind == "valid":
        m.framing = "chunked"
        return m.labels.append("chunked")
    m.framing = "raw"
    body = m.body or b"{}"
    te = b"Transfer-Encoding: chunked"
    if kind == "bad-hex":
        data = b"zz\r\n" + body + b"\r\n0\r\n\r\n"
    elif kind == "no-crlf":
        data = b"%x\r\n%s0\r\n\r\n" % (len(body), body)
    elif kind == "no-last":
        data = b"%x\r\n%s\r\n" % (len(body), body)
    elif kind == "size-overflow":
        data = b"f" * r.choice([16, 17, 40]) + b"\r\n" + body + b"\r\n0\r\n\r\n"
    elif kind == "size-past-data":
        data = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) + 100, body)
    elif kind == "huge-size":
        data = b"%x\r\n%s" % (BODY_LIMIT + 1, body[:100])
    elif kind == "te-list":
        te = r.choice([b"Transfer-Encoding: gzip, chunked", b"Transfer-Encoding: chunked, gzip",
                       b"Transfer-Encoding: identity", b"Transfer-Encoding: chunked, chunked"])
        data = chunked(r, body)
    elif kind == "te-and-length":
        m.headers.append(b"Content-Length: %d" % len(body))
        data = chunked(r, body)
    else:
        te = r.choice([b"Transfer-Encoding: Chunked", b"Transfer-Encoding:  chunked ", b"Transfer-encoding: CHUNKED"])
        data = chunked(r, body)
    m.headers.append(te)
    m.body = data
    m.bad("chunked-" + kind)


def mut_expect(m, r):
    m.headers.append(b"Expect: " + r.choice([b"100-continue", b"100-continue", b"100-Continue", b"200-ok", b""]))
    m.labels.append("expect")


def mut_connection(m, r):
    m.headers.append(b"Connection: " + r.choice([b"keep-alive", b"close", b"Keep-Alive, Upgrade",
                                                 b"close, keep-alive", b"garbage", b"Upgrade"]))
    if r.random() < 0.2:
        m.headers.append(b"Upgrade: h2c")
    m.labels.append("connection")


def mut_header_junk(m, r):
    kind = r.choice(["fold", "nul-value", "cr-value", "lf-value", "nul-name", "space-name",
                     "no-colon", "empty-name", "space-before-colon", "obs-text", "odd-name",
                     "empty-value", "utf8-name"])
    line = {"fold": b"X-Fold: a\r\n b", "nul-value": b"X-V: a\x00b", "cr-value": b"X-V: a\rb",
            "lf-value": b"X-V: a\nb", "nul-name": b"X-\x00V: a", "space-name": b"X V: a",
            "no-colon": b"X-No-Colon", "empty-name": b": a", "space-before-colon": b"X-V : a",
            "obs-text": b"X-V: caf\xe9 \xff", "odd-name": b"X-!#$%&'*+.^_`|~: a",
            "empty-value": b"X-Empty:", "utf8-name": "X-Ñ: a".encode()}[kind]
    m.headers.insert(r.randint(0, len(m.headers)), line)
    if kind in ("odd-name", "empty-value"):
        return m.labels.append("header-" + kind)
    m.bad("header-" + kind)


def mut_many_headers(m, r):
    n = r.choice([20, 100, 500, 1500, 3000])
    m.headers += [b"X-H%d: v" % i for i in range(n)]
    m.labels.append("many-headers")


def mut_long_header(m, r):
    """Pads the head to just inside or just past the 16 KiB header limit."""
    current = len(m.verb) + len(m.target) + 20 + sum(len(h) + 2 for h in m.headers)
    pad = max(0, HEADER_LIMIT - current - 12 + r.randint(-48, 48))
    m.headers.append(b"X-Pad: " + b"p" * pad)
    m.labels.append("long-header")


def mut_body_on_get(m, r):
    if m.framing == "length" and not m.body:
        m.body = r.choice([b"{}", b'{"backupId":"rd-1"}', r.randbytes(100)])
        m.labels.append("body-without-a-body-rule" if m.verb != b"POST" else "body-on-post")


PROTOCOL_WEIGHTS = [(mut_verb, 8), (mut_version, 5), (mut_line, 4), (mut_auth, 9), (mut_length, 6),
                    (mut_chunked, 6), (mut_expect, 4), (mut_connection, 4), (mut_header_junk, 6),
                    (mut_many_headers, 2), (mut_long_header, 3), (mut_body_on_get, 3)]
PROTOCOL_MUTATIONS = [f for f, _ in PROTOCOL_WEIGHTS]


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
