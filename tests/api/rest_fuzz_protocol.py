"""The REST fuzz's protocol mutations (tests/api/test_rest_fuzz.py): a request as a Message of
verb, target, headers and body, and the ways one is bent at the HTTP/1.1 level (verbs, versions,
request lines, Authorization, Content-Length, chunked bodies, Expect, Connection, header junk,
many and long headers)."""
import dataclasses

from mdb_harness import READER

HEADER_LIMIT = 16 << 10
BODY_LIMIT = 4 << 20


@dataclasses.dataclass
class Request:
    data: bytes
    well_formed: bool  # valid HTTP/1.1 framing: the server must answer it
    head: object       # True: a HEAD the server must recognise (no body in its answer);
                       # None: a HEAD it may not recognise (a 431 before its start line is read)
    labels: list


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
