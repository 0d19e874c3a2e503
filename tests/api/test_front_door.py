"""The REST listener against clients that try to hold or bloat it without a token (issue #12):
slow-header and idle connections do not delay anyone else and are closed at the header deadline,
unauthenticated bodies are refused before they are read (memory stays flat), bodies past the
limit are answered 413, a NUL in a header is refused rather than cutting the token short, and one
client address cannot take every connection."""
import re
import socket
import threading
import time
from urllib.parse import urlparse

import requests

from mdb_harness import READER, WRITER

LIST = "/managed-redis/v1/backups?folderId=f1"


def address(server):
    u = urlparse(server.rest)
    return u.hostname, u.port


def rss_kb(server, field="VmRSS"):
    for line in open("/proc/%d/status" % server.proc.pid):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError("no %s" % field)


def raw(server, data, read=True):
    """Sends `data` on a new connection and returns the status line's code (None if closed)."""
    s = socket.create_connection(address(server), timeout=30)
    try:
        s.sendall(data)
        if not read:
            return None
        reply = b""
        while b"\r\n" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        m = re.match(rb"HTTP/1\.1 (\d+)", reply)
        return int(m.group(1)) if m else None
    finally:
        s.close()


def valid_get(server):
    return requests.get(server.rest + LIST, headers={"Authorization": "Bearer " + READER}, timeout=20)


def test_slow_and_idle_clients_hold_nothing_and_are_closed_at_the_header_deadline(server):
    stop = threading.Event()
    slow, idle = [], []
    for _ in range(48):  # within the per-address cap (64) with room for the valid requests
        s = socket.create_connection(address(server))
        s.sendall(b"GET " + LIST.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    for _ in range(8):
        idle.append(socket.create_connection(address(server)))

    def trickle():  # one header line a second, as a slowloris client does
        n = 0
        while not stop.is_set():
            for s in slow:
                try:
                    s.sendall(b"X-Slow-%d: y\r\n" % n)
                except OSError:
                    pass
            n += 1
            stop.wait(1)
    t = threading.Thread(target=trickle)
    t.start()
    try:
        time.sleep(1.5)
        # The old thread-per-connection server (8 threads) never answered while these were open.
        for _ in range(5):
            r = valid_get(server)
            assert r.status_code == 200, r.text
        # The header deadline (10 s) closes both kinds; a hang guard far above it.
        deadline = time.time() + 60
        for s in slow + idle:
            s.settimeout(max(1, deadline - time.time()))
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            assert time.time() < deadline, "a slow client was not closed at the header deadline"
    finally:
        stop.set()
        t.join()
        for s in slow + idle:
            s.close()
    assert valid_get(server).status_code == 200


def test_unauthenticated_bodies_are_refused_before_they_are_read(server):
    before = rss_kb(server)
    codes = []

    def post():
        s = socket.create_connection(address(server), timeout=30)
        try:
            s.sendall(b"POST /managed-redis/v1/clusters/c1:backup HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n")
            chunk = b"{" + b" " * 65535
            sent = 0
            try:
                while sent < 200_000_000:  # the body, until the server stops taking it
                    s.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            reply = b""
            try:
                while True:
                    c = s.recv(4096)
                    if not c:
                        break
                    reply += c
            except OSError:
                pass
            codes.append((sent, reply[:12]))
        finally:
            s.close()
    threads = [threading.Thread(target=post) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each was answered 401 (when the client read its answer before the server hung up) and none
    # was taken whole: the server stopped reading after the headers.
    assert all(sent < 200_000_000 for sent, _ in codes), codes
    assert any(reply.startswith(b"HTTP/1.1 401") for _, reply in codes), codes
    grown = rss_kb(server) - before
    assert grown < 32 * 1024, "RSS grew by %d KiB for 16 x 200 MB unauthenticated bodies" % grown
    assert valid_get(server).status_code == 200


def test_a_body_past_the_limit_is_answered_413(server):
    r = requests.post(server.rest + "/managed-redis/v1/clusters/c1:backup",
                      headers={"Authorization": "Bearer " + WRITER, "Content-Type": "application/json"},
                      data=b"{" + b" " * (5 << 20) + b"}", timeout=30)
    assert r.status_code == 413, r.text
    assert "larger than" in r.json()["message"]


def test_a_nul_in_the_authorization_header_is_refused_not_cut_short(server):
    get = b"GET " + LIST.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    # The token followed by a NUL and junk: once accepted as its prefix.
    assert raw(server, get + READER.encode() + b"\x00junk\r\n\r\n") == 400
    assert raw(server, get + READER.encode() + b"\x01\r\n\r\n") == 400
    assert raw(server, get + READER.encode() + b"\r\n\r\n") == 200


def test_two_authorization_headers_are_refused(server):
    # Which of the two a proxy and this server would each read is anyone's guess: neither counts.
    get = b"GET " + LIST.encode() + b" HTTP/1.1\r\nHost: x\r\n"
    assert raw(server, get + b"Authorization: Bearer nope-nope-1\r\nAuthorization: Bearer " +
               READER.encode() + b"\r\n\r\n") == 400
    assert raw(server, get + b"Authorization: Bearer " + READER.encode() +
               b"\r\nAuthorization: Bearer " + READER.encode() + b"\r\n\r\n") == 400


def test_one_client_address_cannot_take_every_connection(server):
    held = [socket.create_connection(address(server)) for _ in range(64)]
    try:
        extra = socket.create_connection(address(server))
        extra.settimeout(20)
        extra.sendall(b"GET " + LIST.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            got = extra.recv(4096)
        except ConnectionResetError:
            got = b""
        assert got == b"", "the 65th connection of one address was served: %r" % got[:40]
        extra.close()
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)  # the server sees the closes
    assert valid_get(server).status_code == 200


def test_a_second_server_on_the_same_catalog_exits_naming_the_first(server):
    # Once both ran: the second marked the first one's running operations ABORTED at start and
    # shared its ports (SO_REUSEPORT), and clients saw the two processes' answers in turn.
    code, err = server.run_until_exit(timeout=60)
    assert code != 0
    assert "another mdb-backupd (pid %d)" % server.proc.pid in err, err
    assert server.proc.poll() is None
    assert valid_get(server).status_code == 200


def test_a_catalog_rebuild_beside_the_running_server_is_refused(server):
    # Its rows written back would race the server's deletes.
    import subprocess
    from mdb_harness import CLI
    r = subprocess.run([str(CLI), "catalog", "rebuild", "--catalog", str(server.catalog),
                        "--repo", str(server.workdir / "repository")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "another mdb-backupd (pid %d)" % server.proc.pid in r.stderr, r.stderr


def test_headers_up_to_the_limit_are_served_and_past_it_are_431(server):
    get = b"GET " + LIST.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + READER.encode()
    assert raw(server, get + b"\r\nX-Pad: " + b"p" * (12 << 10) + b"\r\n\r\n") == 200
    assert raw(server, get + b"\r\nX-Pad: " + b"p" * (20 << 10) + b"\r\n\r\n") == 431


def test_an_unauthenticated_expect_100_continue_gets_401_and_never_100(server):
    code = raw(server, b"POST /managed-redis/v1/clusters/c1:backup HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
    assert code == 401


def test_head_answers_carry_no_body_on_a_kept_alive_connection(server):
    s = socket.create_connection(address(server), timeout=20)
    try:
        auth = b"Authorization: Bearer " + READER.encode() + b"\r\n"
        s.sendall(b"HEAD " + LIST.encode() + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n" +
                  b"GET " + LIST.encode() + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
        reply = b""
        while reply.count(b"HTTP/1.1 ") < 2 or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            assert chunk, reply
            reply += chunk
        # The second status line comes right after the first answer's headers: no body between.
        first_end = reply.index(b"\r\n\r\n") + 4
        assert reply[first_end:].startswith(b"HTTP/1.1 200"), reply[:400]
    finally:
        s.close()
