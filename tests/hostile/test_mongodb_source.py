"""A MongoDB server (fake_mongodb: the wire protocol libmongoc speaks) that answers the backup's
commands with broken or hostile replies: a document nested 100,000 levels deep, messages and
sections declaring 2 GB, a first section that is not the body, cursor batches whose documents are
cut, overrun the batch or are not documents, a reply cut off mid-batch, a getMore that never ends.
Each fails that backup with a message naming the shard and host (DATA_LOSS for a reply that is
malformed, UNAVAILABLE for a connection that ends); the service stays up, bounded, and backs up
another cluster. With libmongoc 1.23 alone, four of these replies crashed the process, two ended
a cursor early in silence (a backup that succeeded without the documents after the bad one) and
the deep document was stored: the service now reads every reply whole and checks it before
libmongoc parses any of it (ReplyGuard in src/engine/mongodb/mongo_conn.cc)."""
import struct

import bson
import grpc
import pytest

from fake_mongodb import (OP_MSG, FakeMongo, cursor_reply, cursor_reply_of, e_doc, e_int32,
                          nested, op_msg)
from hostile_lib import backup, check_fake, stream_until_closed
from mdb_harness import sharded_cluster, start_server, wait_operation

GOOD = [bson.encode({"_id": i, "payload": "x" * 200}) for i in range(20)]
DEEP = nested(100000)


def answer(body):
    """Answers the command with the OP_MSG body `body(request)` (raw) and keeps the connection."""
    def misbehave(fake, server, c, request):
        server.send(c, op_msg(request.id, body(request)))
        return True
    return misbehave


def send_and_close(data, then_stream=None, budget=256 << 20):
    """Sends the raw bytes `data(request)`, then `then_stream` again and again until the service
    stops reading or `budget` bytes went out (if given), then closes the connection."""
    def misbehave(fake, server, c, request):
        server.send(c, data(request))
        if then_stream:
            stream_until_closed(server, c, then_stream, budget)
        return False
    return misbehave


def batch_of(docs, cursor_id=0):
    return answer(lambda r: cursor_reply("db1.c1", cursor_id, docs))


def header(length, request):
    return struct.pack("<iiii", length, 0, request.id, OP_MSG)


def first_section_a_sequence(request):
    payload = struct.pack("<I", 0) + b"\x01" + struct.pack("<i", 4 + 2 + 5) + b"d\0" + bson.encode({})
    return header(16 + len(payload), request) + payload


def getmore_cut_mid_document(fake, server, c, request):
    reply = op_msg(request.id, cursor_reply("db1.c1", 42, GOOD, first=False))
    server.send(c, reply[:len(reply) - 300])  # inside the last document
    return False


def endless_getmore():
    """Every getMore brings 2,000 more documents (the same ones) and the cursor goes on; after
    256 MB the connection closes."""
    batch = cursor_reply("db1.c1", 42, [bson.encode({"_id": i, "p": "y" * 1000}) for i in range(2000)],
                         first=False)
    sent = [0]

    def misbehave(fake, server, c, request):
        server.send(c, op_msg(request.id, batch))
        sent[0] += len(batch)
        return sent[0] < 256 << 20
    return misbehave


# (kind, FakeMongo arguments, code, message parts): the shard's name and the host are expected too.
KINDS = [
    ("a document nested 100,000 levels deep in a cursor batch",
     dict(misbehave={"find": batch_of(GOOD[:3] + [DEEP])}),
     grpc.StatusCode.DATA_LOSS, ["reading collection 'db1.c1'", "reply refused", "nested deeper"]),
    ("a hello reply nested 100,000 levels deep",
     dict(hello_extra=e_doc("deep", DEEP)),
     grpc.StatusCode.UNAVAILABLE, ["no reachable MongoDB server", "reply refused", "nested deeper"]),
    ("a message header declaring 2 GB",
     dict(misbehave={"listDatabases": send_and_close(lambda r: header(0x7fffff00, r) + b"\0" * 64)}),
     grpc.StatusCode.DATA_LOSS, ["'listDatabases'", "reply refused", "declaring 2147483392 bytes"]),
    ("a 2 GB message streamed after a hello announcing 2 GB messages",
     dict(misbehave={"listDatabases": send_and_close(lambda r: header(0x7fffffff, r),
                                                     then_stream=b"\0" * (1 << 20))},
          hello={"maxMessageSizeBytes": 0x7fffffff}),
     grpc.StatusCode.DATA_LOSS, ["'listDatabases'", "reply refused", "declaring 2147483647 bytes"]),
    ("a body document declaring more bytes than its message",
     dict(misbehave={"listDatabases": answer(
         lambda r: struct.pack("<i", 0x7fffff00) + bson.encode({"ok": 1.0})[4:])}),
     grpc.StatusCode.DATA_LOSS, ["'listDatabases'", "reply refused", "declaring 2147483392 bytes"]),
    ("a reply whose first section is a document sequence",
     dict(misbehave={"listDatabases": send_and_close(first_section_a_sequence)}),
     grpc.StatusCode.DATA_LOSS, ["'listDatabases'", "reply refused", "section 1 is of kind 1"]),
    ("a cursor batch document without its final NUL",
     dict(misbehave={"find": batch_of(GOOD[:3] + [b"\x05\0\0\0\x01"] + GOOD[3:])}),
     grpc.StatusCode.DATA_LOSS, ["reading collection 'db1.c1'", "reply refused", "last byte"]),
    ("a cursor batch document declaring more bytes than the batch holds",
     dict(misbehave={"find": batch_of(GOOD[:3] + [struct.pack("<i", 0x7fffff00) + GOOD[3][4:]] +
                                      GOOD[4:])}),
     grpc.StatusCode.DATA_LOSS, ["reading collection 'db1.c1'", "reply refused", "malformed"]),
    ("a cursor batch holding a number among its documents",
     dict(misbehave={"find": answer(lambda r: cursor_reply_of(
         "db1.c1", 0, [e_doc("0", GOOD[0]), e_int32("1", 7), e_doc("2", GOOD[1])]))}),
     grpc.StatusCode.DATA_LOSS, ["reading collection 'db1.c1'", "reply refused", "other than a document"]),
    ("a getMore reply cut off inside a document, then the connection closed",
     dict(misbehave={"find": batch_of(GOOD, cursor_id=42), "getMore": getmore_cut_mid_document}),
     grpc.StatusCode.UNAVAILABLE, ["reading collection 'db1.c1'", "getMore"]),
    ("a listIndexes naming 2,000 indexes (MongoDB allows 64)",
     dict(misbehave={"listIndexes": answer(lambda r: cursor_reply("db1.c1", 0, [
         bson.encode({"v": 2, "key": {"k%d" % i: 1}, "name": "i%d" % i}) for i in range(2000)]))}),
     grpc.StatusCode.DATA_LOSS, ["listIndexes of collection 'db1.c1'", "more than 1000 indexes"]),
    ("a cursor whose getMore never ends (256 MB, then the connection closes)",
     dict(misbehave={"find": batch_of(GOOD, cursor_id=42), "getMore": endless_getmore()}),
     grpc.StatusCode.UNAVAILABLE, ["reading collection 'db1.c1'", "getMore"]),
]


@pytest.mark.parametrize("kind,fake_args,code,parts", KINDS, ids=[k[0] for k in KINDS])
def test_a_hostile_mongodb_fails_its_backup_and_nothing_else(workdir, kind, fake_args, code, parts):
    check_fake(workdir, "mongodb", FakeMongo(**fake_args), code, parts + ["shard1"], kind)


def test_the_fake_is_a_mongodb_the_service_backs_up(workdir):
    """The control: the same fake, answering everything well, is backed up (so the failures above
    come from the hostile replies, not from a fake libmongoc cannot talk to)."""
    fake = FakeMongo()
    try:
        server = start_server(workdir, sharded_cluster("ok", [fake.address], engine="mongodb",
                                                       names=["shard1"]))
        try:
            done = wait_operation(server, backup(server, "mongodb", "ok"), timeout=120)
            assert not done.HasField("error"), done.error
            assert "find" in fake.commands, fake.commands
        finally:
            server.stop()
    finally:
        fake.close()
