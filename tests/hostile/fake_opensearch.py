"""A fake OpenSearch node for hostile-source tests: raw HTTP/1.1 over hostile_lib.FakeServer, so
every byte of a reply is ours. It answers the backup's requests the way a real node does (GET /,
the snapshot repository, a snapshot taken at once, its status, the snapshot list) until the
request of step `at`, which gets the hostile reply `kind` instead; the connection is closed after
it. A snapshot "taken" by the fake writes two small files into `repository_path`, the directory
the service copies, as a node sharing that filesystem would."""
import json
import os
import threading

from hostile_lib import FakeServer, recv_exact, stream_until_closed

# The order in which the backup makes its requests (opensearch_backup.cc).
STEPS = ("root", "repository", "register", "snapshot", "status", "list", "delete")

# What a node sends and a client must not buffer whole: far above the service's 64 MiB reply cap,
# low enough that a client that does buffer it shows up as memory (hostile_lib.RSS_CEILING_KB)
# before the machine suffers.
STREAM_BUDGET = 300 << 20
_CHUNK = 64 << 10
_MAX_REQUEST_HEAD = 64 << 10


def _head(status, reason, headers):
    lines = ["HTTP/1.1 %d %s" % (status, reason)] + ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _json_reply(status, body):
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found"}[status]
    return _head(status, reason, [("content-type", "application/json; charset=UTF-8"),
                                  ("content-length", len(data))]) + data


def _chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


# The hostile replies. Each writes to the connection and returns; the connection is closed then.
def deep_nesting(server, c):
    """A well-formed JSON reply nested 1,000,000 levels deep (1 MB of '[' then ']')."""
    body = b"[" * 1000000 + b"]" * 1000000
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("content-length", len(body))]) + body)


def deep_nesting_chunked(server, c):
    """Objects nested 1,000,000 deep ({"a":{"a":...), sent in chunks and left unclosed."""
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("transfer-encoding", "chunked")]))
    for _ in range(1000):
        server.send(c, _chunk(b'{"a":' * 1000))
    server.send(c, b"0\r\n\r\n")


def _wide(server, c, item):
    """A well-formed JSON array of `item`s just under the service's 64 MiB reply cap."""
    n = ((60 << 20) - 2) // (len(item) + 1)
    body = b"[" + b",".join([item] * n) + b"]"
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("content-length", len(body))]) + body)


def wide_arrays(server, c):
    """60 MiB of empty arrays: 20 million values, each a heap-allocated container once parsed."""
    _wide(server, c, b"[]")


def wide_objects(server, c):
    """60 MiB of empty objects."""
    _wide(server, c, b"{}")


def wide_numbers(server, c):
    """60 MiB of zeros: 30 million numbers."""
    _wide(server, c, b"0")


def huge_content_length(server, c):
    """Declares 5,000,000,000 bytes, sends a few and closes."""
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("content-length", 5000000000)]) + b'{"version": {"number": ')


def huge_chunk(server, c):
    """A chunked body whose first chunk declares 0x7fffffffffffffff bytes, a few sent, closed."""
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("transfer-encoding", "chunked")]) +
                b"7fffffffffffffff\r\n" + b'{"version": {"number": ')


def chunk_size_overflow(server, c):
    """A chunk size of 2^72 - 1: more digits than any 64-bit count holds."""
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("transfer-encoding", "chunked")]) +
                b"ffffffffffffffffff\r\n" + b"{}")


def truncated(server, c):
    """Content-Length 1000, 10 bytes of it, closed."""
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("content-length", 1000)]) + b'{"version"')


def endless_chunks(server, c):
    """A chunked body that never ends: 64 KiB chunks of JSON whitespace until the client hangs up
    (or the budget runs out)."""
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("transfer-encoding", "chunked")]) + _chunk(b"["))
    stream_until_closed(server, c, _chunk(b" " * _CHUNK), STREAM_BUDGET)


def endless_huge_chunk(server, c):
    """One chunk declaring 0x7fffffffffffffff bytes, streamed until the client hangs up."""
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("transfer-encoding", "chunked")]) + b"7fffffffffffffff\r\n[")
    stream_until_closed(server, c, b" " * _CHUNK, STREAM_BUDGET)


def endless_body_no_length(server, c):
    """No length at all (the body ends when the connection does), and it does not end."""
    server.send(c, _head(200, "OK", [("content-type", "application/json"),
                                     ("connection", "close")]) + b"[")
    stream_until_closed(server, c, b" " * _CHUNK, STREAM_BUDGET)


def endless_header_line(server, c):
    """A status line, then one header line that never ends."""
    server.send(c, b"HTTP/1.1 200 OK\r\nx-endless: ")
    stream_until_closed(server, c, b"a" * _CHUNK, STREAM_BUDGET)


def endless_headers(server, c):
    """A status line, then short header lines forever."""
    server.send(c, b"HTTP/1.1 200 OK\r\n")
    stream_until_closed(server, c, b"x-more: aaaaaaaaaaaaaaaa\r\n" * 2048, STREAM_BUDGET)


def not_json(server, c):
    """A 200 whose body is not JSON at all."""
    body = b"<html><body>It works!</body></html>"
    server.send(c, _head(200, "OK", [("content-type", "text/html"),
                                     ("content-length", len(body))]) + body)


def not_http(server, c):
    """Something else listening there: a Redis reply, not HTTP."""
    server.send(c, b"-ERR unknown command 'GET', with args beginning with: '/'\r\n")


KINDS = {f.__name__: f for f in (
    deep_nesting, deep_nesting_chunked, wide_arrays, wide_objects, wide_numbers, huge_content_length, huge_chunk, chunk_size_overflow,
    truncated, endless_chunks, endless_huge_chunk, endless_body_no_length, endless_header_line,
    endless_headers, not_json, not_http)}


class FakeOpenSearch:
    """Serves the backup's requests as a node would, and `kind` (a name in KINDS, or None for
    none) at step `at` (one of STEPS). `steps` lists the steps requested, in order;
    `hostile_sent` is set once the hostile reply went out."""

    def __init__(self, repository_path, kind=None, at="root", repository="mdb-backup"):
        assert at in STEPS and (kind is None or kind in KINDS), (kind, at)
        self.repository_path = str(repository_path)
        os.makedirs(self.repository_path, exist_ok=True)
        self.kind, self.at, self.repository = kind, at, repository
        self.steps = []
        self.registered = False
        self.snapshots = []
        self.hostile_sent = threading.Event()
        self.lock = threading.Lock()
        self.server = FakeServer(self._handle)
        self.address = self.server.address

    @property
    def sent(self):
        return self.server.sent

    def close(self):
        self.server.close()

    def _step(self, method, path):
        repo = "/_snapshot/" + self.repository
        if path == "/":
            return "root"
        if path == repo:
            return "repository" if method == "GET" else "register"
        if path == repo + "/_all":
            return "list"
        if path.startswith(repo + "/") and path.endswith("/_status"):
            return "status"
        if path.startswith(repo + "/"):
            return "snapshot" if method == "PUT" else "delete"
        return "other"

    def _handle(self, server, c):
        buf = b""
        while not server.stopping:
            while b"\r\n\r\n" not in buf:
                data = c.recv(65536)
                if not data:
                    return
                buf += data
                assert len(buf) < _MAX_REQUEST_HEAD, buf[:200]
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in
                       (l.split(":", 1) for l in lines[1:] if ":" in l)}
            if headers.get("expect", "").lower() == "100-continue":
                server.send(c, b"HTTP/1.1 100 Continue\r\n\r\n")
            n = int(headers.get("content-length", "0"))
            if len(buf) < n:
                buf += recv_exact(c, n - len(buf))
            body, buf = buf[:n], buf[n:]
            path = target.split("?", 1)[0]
            step = self._step(method, path)
            with self.lock:
                self.steps.append(step)
            if self.kind is not None and step == self.at:
                self.hostile_sent.set()
                KINDS[self.kind](server, c)
                return
            server.send(c, self._normal(method, path, body))

    def _normal(self, method, path, body):
        """What OpenSearch 2.19 answers (only the fields the service reads, and a few more)."""
        step = self._step(method, path)
        if step == "root":
            return _json_reply(200, {
                "name": "fake-node", "cluster_name": "fake", "cluster_uuid": "fake-uuid",
                "version": {"distribution": "opensearch", "number": "2.19.0"},
                "tagline": "The OpenSearch Project: https://opensearch.org/"})
        if step == "repository":
            if not self.registered:
                return _json_reply(404, {"error": {
                    "type": "repository_missing_exception",
                    "reason": "[%s] missing" % self.repository}, "status": 404})
            return _json_reply(200, {self.repository: {
                "type": "fs", "settings": {"location": self.repository_path, "compress": "false"}}})
        if step == "register":
            self.registered = True
            return _json_reply(200, {"acknowledged": True})
        name = path.split("/")[3] if step in ("snapshot", "status", "delete") else None
        if step == "snapshot":
            self.snapshots.append(name)
            uuid = "U%08d" % len(self.snapshots)
            # What a node sharing the directory would have written.
            with open(os.path.join(self.repository_path, "index-%d" % (len(self.snapshots) - 1)),
                      "w") as f:
                f.write('{"snapshots": [{"name": "%s", "uuid": "%s"}]}' % (name, uuid))
            with open(os.path.join(self.repository_path, "snap-%s.dat" % uuid), "wb") as f:
                f.write(os.urandom(4096))
            return _json_reply(200, {"snapshot": {
                "snapshot": name, "uuid": uuid, "version": "2.19.0", "indices": ["books"],
                "include_global_state": True, "state": "SUCCESS",
                "start_time_in_millis": 1760000000000, "end_time_in_millis": 1760000001000,
                "failures": [], "shards": {"total": 1, "failed": 0, "successful": 1}}})
        if step == "status":
            return _json_reply(200, {"snapshots": [{
                "snapshot": name, "repository": self.repository, "state": "SUCCESS",
                "stats": {"total": {"file_count": 2, "size_in_bytes": 4200},
                          "incremental": {"file_count": 2, "size_in_bytes": 4200}}}]})
        if step == "list":
            return _json_reply(200, {"snapshots": [
                {"snapshot": s, "state": "SUCCESS"} for s in self.snapshots]})
        if step == "delete":
            return _json_reply(200, {"acknowledged": True})
        return _json_reply(404, {"error": {"type": "unexpected", "reason": path}, "status": 404})
