"""A Greenplum segment (PostgreSQL protocol) that answers the backup's commands with broken or
hostile replies: rows missing their fields, endless rows, a message declaring 2 GB, a WAL position
that is SQL, an archive cut off, an archive that never ends. Each fails that backup with a message
naming the segment and host; the service stays up, bounded, and backs up another cluster. A
segment that sends progress messages and never a byte of data holds the backup for the cluster's
stall_timeout_seconds.
(The PostgreSQL protocol does not nest: there is no deep-nesting reply to send.)"""
import struct
import time

import grpc
import pytest

from fake_pg import FakePostgres, READY, complete, data_row, msg, row_description, tar_header
from hostile_lib import check_fake, check_stalled, stream_until_closed


def identify_with(*rows):
    def misbehave(server, c, q):
        if q != "IDENTIFY_SYSTEM":
            return False
        names = ["systemid", "timeline", "xlogpos", "dbname"][:len(rows[0]) if rows else 4]
        c.sendall(row_description(*names) + b"".join(data_row(*r) for r in rows) +
                  complete(b"IDENTIFY_SYSTEM") + READY)
        return False  # the connection goes on: the service is the one to give up
    return misbehave


def endless_rows(server, c, q):
    if q != "IDENTIFY_SYSTEM":
        return False
    c.sendall(row_description("systemid", "timeline", "xlogpos", "dbname"))
    stream_until_closed(server, c, data_row(b"1", b"1", b"0/1", None) * 1000, 200 << 20)
    return True


def huge_declared_length(server, c, q):
    if q != "IDENTIFY_SYSTEM":
        return False
    c.sendall(row_description("systemid", "timeline", "xlogpos", "dbname") +
              b"D" + struct.pack("!i", 0x7FFFFFF0) + b"\0\4")
    return True  # and hang up


def sql_in_the_end_position(server, c, q):
    if not q.startswith("BASE_BACKUP"):
        return False
    c.sendall(row_description("recptr", "tli") + data_row(b"0/3000028'); DROP TABLE x; --", b"1") +
              complete(b"SELECT") + READY)
    return True


def cut_archive(server, c):
    c.sendall(msg(b"d", b"d" + tar_header(b"base/1/1234", 100 << 10) + b"\0" * (10 << 10)))


def endless_archive(server, c):
    c.sendall(msg(b"d", b"d" + tar_header(b"base/1/1234", 8 << 30)))
    stream_until_closed(server, c, msg(b"d", b"d" + bytes(range(256)) * 256), 200 << 20)


@pytest.mark.parametrize("kind,fake,code,parts", [
    ("a row without its columns", dict(misbehave=identify_with([b"7312345678901234567"])),
     grpc.StatusCode.DATA_LOSS, ["IDENTIFY_SYSTEM", "expected field 2"]),
    ("a result without rows", dict(misbehave=identify_with()),
     grpc.StatusCode.DATA_LOSS, ["IDENTIFY_SYSTEM", "0 rows"]),
    ("a NULL system id", dict(misbehave=identify_with([None, b"1", b"0/1", None])),
     grpc.StatusCode.DATA_LOSS, ["IDENTIFY_SYSTEM", "NULL"]),
    ("a system id that is a path", dict(misbehave=identify_with([b"../../x", b"1", b"0/1", None])),
     grpc.StatusCode.DATA_LOSS, ["IDENTIFY_SYSTEM", "system id"]),
    ("endless rows", dict(misbehave=endless_rows),
     grpc.StatusCode.DATA_LOSS, ["more than 10000 rows"]),
    ("a message declaring 2 GB", dict(misbehave=huge_declared_length),
     grpc.StatusCode.UNAVAILABLE, ["IDENTIFY_SYSTEM"]),
    ("SQL where a WAL position belongs", dict(misbehave=sql_in_the_end_position),
     grpc.StatusCode.DATA_LOSS, ["BASE_BACKUP", "WAL position"]),
    ("an archive cut off", dict(copy=cut_archive), grpc.StatusCode.UNAVAILABLE, []),
    ("an endless archive", dict(copy=endless_archive), grpc.StatusCode.UNAVAILABLE, []),
])
def test_a_hostile_segment_fails_its_backup_and_nothing_else(workdir, kind, fake, code, parts):
    check_fake(workdir, "greenplum", FakePostgres(**fake), code, parts + ["shard1"], kind)


def archive_named(name):
    def misbehave(server, c, q):
        if not q.startswith("BASE_BACKUP"):
            return False
        c.sendall(row_description("recptr", "tli") + data_row(b"0/3000028", b"1") +
                  complete(b"SELECT") + row_description("spcoid", "spclocation", "size") +
                  data_row(None, None, None) + complete(b"SELECT") +
                  msg(b"H", struct.pack("!bh", 0, 0)) + msg(b"d", b"n" + name + b"\0\0"))
        return True
    return misbehave


def wide_rows(server, c, q):
    if q != "IDENTIFY_SYSTEM":
        return False
    c.sendall(row_description("systemid", "timeline", "xlogpos", "dbname"))
    stream_until_closed(server, c, data_row(b"1", b"1", b"0/1", b"x" * (4 << 20)), 200 << 20)
    return True


@pytest.mark.parametrize("kind,fake,code,parts", [
    ("an archive named with a path", dict(misbehave=archive_named(b"../../evil.tar")),
     grpc.StatusCode.DATA_LOSS, ["archive named '../../evil.tar'"]),
    ("rows of 4 MB each", dict(misbehave=wide_rows),
     grpc.StatusCode.DATA_LOSS, ["bytes of fields in one reply"]),
])
def test_names_and_sizes_from_a_segment_are_checked(workdir, kind, fake, code, parts):
    check_fake(workdir, "greenplum", FakePostgres(**fake), code, parts + ["shard1"], kind)


def progress_only(server, c):
    """Progress messages, as a server sends them while it reads files, and never a byte of data."""
    done = 0
    while not server.stopping:
        server.send(c, msg(b"d", b"p" + struct.pack("!q", done)))
        done += 8192
        time.sleep(0.2)


def test_a_segment_that_only_reports_progress_holds_the_backup_for_its_stall_timeout(workdir):
    fake = FakePostgres(copy=progress_only)
    try:
        check_stalled(workdir, "greenplum", fake, 5 * 13, "progress messages")  # 13 bytes each
    finally:
        fake.close()
