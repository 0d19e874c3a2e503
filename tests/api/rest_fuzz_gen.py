"""The REST fuzz's request generator (tests/api/test_rest_fuzz.py runs it and checks the answers):
well-formed requests of every route of the four engines and of operations, mutated at the JSON
and parameter level here and at the protocol level by rest_fuzz_protocol."""
import base64
import json
from urllib.parse import quote

from mdb_harness import OTHER, READER, RECORDS, WRITER
from rest_fuzz_protocol import BODY_LIMIT, PROTOCOL_MUTATIONS, PROTOCOL_WEIGHTS, Message, Request

ENGINES = ["greenplum", "mongodb", "redis", "opensearch"]
CLUSTERS = {"greenplum": "gp1", "mongodb": "mg1", "redis": "rd1", "opensearch": "os1"}
OTHER_CLUSTERS = ["rd2", "walk", "missing", "gp1", "mg1", "rd1", "os1"]
BACKUPS = {e: [r["id"] for r in RECORDS if r["engine"] == e.upper()] for e in ENGINES}
# Backups the fuzzer may delete (a DELETE never names one of RECORDS, which the final Get reads).
FODDER = {e: ["fz-%s-%d" % (e, i) for i in range(6)] for e in ENGINES}
FODDER_RECORDS = [{"id": b, "engine": e.upper(), "folderId": "f1", "clusterId": CLUSTERS[e],
                   "startedAt": "2026-10-01T00:00:%02dZ" % i, "createdAt": "2026-10-01T00:01:%02dZ" % i,
                   "type": "MANUAL"} for e in ENGINES for i, b in enumerate(FODDER[e])]



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
