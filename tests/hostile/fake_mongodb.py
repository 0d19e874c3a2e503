"""A fake MongoDB server speaking just enough of the wire protocol for libmongoc (the legacy
OP_QUERY handshake, then OP_MSG commands) to connect and back up one database `db1` with one
collection `c1`; `misbehave` maps a command name to a function that answers that command instead
(and misbehaves there). Replies are built from raw BSON pieces so that a hostile one can hold bytes
no encoder would produce (a document nested 100,000 levels deep, a length that lies)."""
import struct

import bson
from bson import Int64

from hostile_lib import FakeServer, recv_exact

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013

HELLO = {"helloOk": True, "ismaster": True, "isWritablePrimary": True,
         "maxBsonObjectSize": 16777216, "maxMessageSizeBytes": 48000000,
         "maxWriteBatchSize": 100000, "minWireVersion": 0, "maxWireVersion": 17,
         "readOnly": False, "connectionId": 1, "ok": 1.0}


# --- raw BSON pieces: an element is bytes, a document is int32 length + elements + NUL.

def document(*elements):
    body = b"".join(elements)
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def e_doc(key, raw):
    return b"\x03" + key.encode() + b"\0" + raw


def e_int32(key, value):
    return b"\x10" + key.encode() + b"\0" + struct.pack("<i", value)


def e_int64(key, value):
    return b"\x12" + key.encode() + b"\0" + struct.pack("<q", value)


def e_double(key, value):
    return b"\x01" + key.encode() + b"\0" + struct.pack("<d", value)


def e_str(key, value):
    v = value.encode() + b"\0"
    return b"\x02" + key.encode() + b"\0" + struct.pack("<i", len(v)) + v


def nested(depth):
    """{"a": {"a": ... {} ...}} `depth` levels deep, built iteratively (bson.encode recurses)."""
    sizes = [5]
    for _ in range(depth):
        sizes.append(sizes[-1] + 8)  # int32 length + type + "a\0" + child + NUL
    head = b"".join(struct.pack("<i", sizes[k]) + b"\x03a\0" for k in range(depth, 0, -1))
    out = head + b"\x05\0\0\0\0" + b"\0" * depth
    assert len(out) == sizes[depth]
    return out


def cursor_reply(ns, cursor_id, docs, first=True):
    """{cursor: {id, ns, firstBatch|nextBatch: docs}, ok: 1} with `docs` as raw bytes."""
    return cursor_reply_of(ns, cursor_id, [e_doc(str(i), d) for i, d in enumerate(docs)], first)


def cursor_reply_of(ns, cursor_id, elements, first=True):
    """The same with the batch array's raw elements (documents or not)."""
    batch = b"\x04" + (b"firstBatch" if first else b"nextBatch") + b"\0" + document(*elements)
    return document(e_doc("cursor", document(e_int64("id", cursor_id), e_str("ns", ns), batch)),
                    e_double("ok", 1.0))


def op_msg(response_to, body, declared=None):
    """An OP_MSG reply holding one body section; `declared` overrides the header's length."""
    payload = struct.pack("<I", 0) + b"\0" + body
    length = 16 + len(payload) if declared is None else declared
    return struct.pack("<iiii", length, 0, response_to, OP_MSG) + payload


def op_reply(response_to, body):
    payload = struct.pack("<iqii", 0, 0, 0, 1) + body
    return struct.pack("<iiii", 16 + len(payload), 0, response_to, OP_REPLY) + payload


class Request:
    def __init__(self, request_id, opcode, cmd):
        self.id, self.opcode, self.cmd = request_id, opcode, cmd
        self.name = next(iter(cmd))
        self.db = cmd.get("$db", "admin")


def read_request(c):
    length, request_id, _, opcode = struct.unpack("<iiii", recv_exact(c, 16))
    body = recv_exact(c, length - 16)
    if opcode == OP_QUERY:  # flags, full collection name, skip, limit, query
        end = body.index(b"\0", 4)
        (size,) = struct.unpack("<i", body[end + 9:end + 13])
        cmd = bson.decode(body[end + 9:end + 9 + size])
        cmd.setdefault("$db", body[4:end].decode().split(".")[0])
        return Request(request_id, opcode, cmd)
    assert opcode == OP_MSG, "unexpected opcode %d" % opcode
    (flags,) = struct.unpack("<I", body[:4])
    pos, end, cmd = 4, len(body) - (4 if flags & 1 else 0), None
    while pos < end:  # sections: kind 0 is the command, kind 1 a document sequence (skipped)
        kind = body[pos]
        (size,) = struct.unpack("<i", body[pos + 1:pos + 5])
        if kind == 0:
            cmd = bson.decode(body[pos + 1:pos + 1 + size])
        pos += 1 + size
    return Request(request_id, opcode, cmd)


class FakeMongo:
    """Serves db1.c1 holding `docs` (raw BSON); `misbehave[name](fake, server, conn, request)`
    answers command `name` instead and returns True to keep the connection, False to close it.
    `hello` overrides fields of the handshake's reply, `hello_extra` (raw elements) adds to it."""

    def __init__(self, misbehave=None, docs=None, hello=None, hello_extra=b""):
        self.misbehave = misbehave or {}
        self.docs = docs if docs is not None else [
            bson.encode({"_id": i, "payload": "x" * 200}) for i in range(20)]
        self.hello = dict(HELLO, **(hello or {}))
        self.hello_extra = hello_extra
        self.commands = []  # names of the commands received, in order
        self.server = FakeServer(self._handle)
        self.address = self.server.address

    @property
    def sent(self):
        return self.server.sent

    def reply(self, server, c, request, body):
        wrap = op_reply if request.opcode == OP_QUERY else op_msg
        server.send(c, wrap(request.id, body))

    def _handle(self, server, c):
        while not server.stopping:
            request = read_request(c)
            self.commands.append(request.name)
            if request.name in self.misbehave:
                if not self.misbehave[request.name](self, server, c, request):
                    return
                continue
            self.reply(server, c, request, self.answer(request))

    def answer(self, request):
        name, db = request.name, request.db
        if name in ("isMaster", "ismaster", "hello"):
            return document(bson.encode(self.hello)[4:-1], self.hello_extra)
        if name == "buildInfo":
            return bson.encode({"version": "6.0.0", "versionArray": [6, 0, 0, 0], "ok": 1.0})
        if name == "listDatabases":
            return bson.encode({"databases": [{"name": "admin", "sizeOnDisk": 1, "empty": False},
                                              {"name": "db1", "sizeOnDisk": 1, "empty": False}],
                                "totalSize": 2, "ok": 1.0})
        if name == "listCollections":
            infos = [] if db != "db1" else [bson.encode(
                {"name": "c1", "type": "collection", "options": {}, "info": {"readOnly": False}})]
            return cursor_reply(db + ".$cmd.listCollections", 0, infos)
        if name == "listIndexes":
            spec = bson.encode({"v": 2, "key": {"_id": 1}, "name": "_id_"})
            return cursor_reply("%s.%s" % (db, request.cmd[name]), 0, [spec])
        if name == "find":
            return cursor_reply("%s.%s" % (db, request.cmd[name]), 0, self.docs)
        if name == "killCursors":
            return bson.encode({"cursorsKilled": request.cmd.get("cursors", []), "ok": 1.0})
        if name in ("ping", "endSessions"):
            return bson.encode({"ok": 1.0})
        return bson.encode({"ok": 0.0, "errmsg": "no such command: '%s'" % name, "code": 59,
                            "codeName": "CommandNotFound"})

    def close(self):
        self.server.close()
