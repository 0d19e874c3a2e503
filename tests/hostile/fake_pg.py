"""A fake PostgreSQL server (protocol 3.0, as libpq speaks it) that answers the service's backup
commands until the one `misbehave` chooses, and then misbehaves there."""
import struct

from hostile_lib import FakeServer, recv_exact


def msg(kind, payload=b""):
    return kind + struct.pack("!i", len(payload) + 4) + payload


def row_description(*names):
    fields = b"".join(n.encode() + b"\0" + struct.pack("!ihihih", 0, 0, 25, -1, -1, 0) for n in names)
    return msg(b"T", struct.pack("!h", len(names)) + fields)


def data_row(*values):
    cols = b"".join(struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v for v in values)
    return msg(b"D", struct.pack("!h", len(values)) + cols)


def complete(tag):
    return msg(b"C", tag + b"\0")


READY = msg(b"Z", b"I")


def error(text):
    return msg(b"E", b"SERROR\0C42000\0M" + text + b"\0\0")


def tar_header(name, size):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000600\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % 0
    h[156:157] = b"0"
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def read_startup(c):
    """Answers SSL and GSS encryption requests with 'N', then the startup packet with AuthOk."""
    while True:
        (length,) = struct.unpack("!i", recv_exact(c, 4))
        body = recv_exact(c, length - 4)
        code = struct.unpack("!i", body[:4])[0]
        if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
            c.sendall(b"N")
            continue
        break
    params = (msg(b"S", b"server_version\x0015.0\0") + msg(b"S", b"integer_datetimes\0on\0") +
              msg(b"S", b"client_encoding\0UTF8\0"))
    c.sendall(msg(b"R", struct.pack("!i", 0)) + params + msg(b"K", struct.pack("!ii", 4242, 1)) + READY)


def read_query(c):
    kind = recv_exact(c, 1)
    (length,) = struct.unpack("!i", recv_exact(c, 4))
    body = recv_exact(c, length - 4)
    if kind != b"Q":
        raise OSError("client sent %r" % kind)
    return body.rstrip(b"\0").decode()


def pg_handler(misbehave):
    """`misbehave(server, conn, query)` returns True when it took over the reply to `query`."""
    def handle(server, c):
        read_startup(c)
        while True:
            q = read_query(c)
            if misbehave(server, c, q):
                return
            if q == "IDENTIFY_SYSTEM":
                c.sendall(row_description("systemid", "timeline", "xlogpos", "dbname") +
                          data_row(b"7312345678901234567", b"1", b"0/3000060", None) +
                          complete(b"IDENTIFY_SYSTEM") + READY)
            elif q == "SHOW wal_segment_size":
                c.sendall(row_description("wal_segment_size") + data_row(b"16MB") +
                          complete(b"SHOW") + READY)
            elif q.startswith("CREATE_REPLICATION_SLOT"):  # a backup makes its slot first
                c.sendall(row_description("slot_name", "consistent_point", "snapshot_name",
                                          "output_plugin") +
                          data_row(b"mdb_backup", b"0/3000028", None, None) +
                          complete(b"CREATE_REPLICATION_SLOT") + READY)
            elif q.startswith("BASE_BACKUP"):
                c.sendall(row_description("recptr", "tli") + data_row(b"0/3000028", b"1") +
                          complete(b"SELECT") +
                          row_description("spcoid", "spclocation", "size") +
                          data_row(None, None, None) + complete(b"SELECT") +
                          msg(b"H", struct.pack("!bh", 0, 0)) +
                          msg(b"d", b"nbase.tar\0\0"))
                base_backup_copy(server, c)
                return
            else:  # anything else (the WAL archiver's other commands): refused
                c.sendall(error(b"not supported by this fake") + READY)
    return handle


def base_backup_copy(server, c):
    server.copy(server, c)


class FakePostgres(FakeServer):
    """`misbehave(server, conn, query)` may take over any reply; `copy(server, conn)` sends the
    BASE_BACKUP archive data after the 'n' message of base.tar."""

    def __init__(self, misbehave=lambda s, c, q: False, copy=None):
        self.copy = copy or (lambda s, c: None)
        super().__init__(pg_handler(misbehave))
