"""TLS on both listeners, with the CA and certificates of tls_pki.py (no key is committed):
- the official Python SDK (yandexcloud) reads backups over TLS its own way: root_certificates for
  the channel, iam_token sent as the Bearer token, service addresses from mdb-backupd's own
  ApiEndpointService (see `discovery`); REST over https (curl --cacert) answers the same JSON;
- nothing is served without TLS on a TLS server: a plaintext gRPC client, a gRPC client that does
  not trust the CA, curl without the CA, and plain HTTP to the https port are all refused;
- mutual TLS (client_ca_file): no client certificate, or one of another CA, is refused on both
  listeners; one the CA signed is served, through the SDK (private_key, certificate_chain) too;
- rotation: new files and SIGHUP, and the next REST handshake presents the new certificate at
  once while a keep-alive connection opened before still answers (on its old session); gRPC
  presents it within its file watcher's interval and an open gRPC connection keeps answering (a
  proxy counts one connection throughout);
- broken files on SIGHUP (an unparsable certificate, a key of another certificate) are refused
  ("reload failed", naming the file) and both listeners keep presenting the certificate in use,
  gRPC for two of its file watcher's intervals, without ever answering plaintext.
Configurations refused before serving (plaintext beyond loopback, missing or wrong files) are
test_tls_config.py's; the CA and certificates are made by tls_pki.py."""
import http.client
import json
import socket
import ssl
import subprocess
import tempfile
import time

import grpc
import pytest
import yandexcloud
# yandexcloud itself imports cryptography (its service-account JWTs), so it is always in the venv:
# no openssl CLI fallback is needed here (the Node test uses the CLI).
from cryptography import x509
from google.protobuf import json_format
from yandex.cloud.mdb.greenplum.v1 import backup_pb2 as gp_b
from yandex.cloud.mdb.greenplum.v1 import backup_service_pb2 as gp_bs, backup_service_pb2_grpc as gp_bsg
from yandex.cloud.mdb.redis.v1 import backup_pb2 as rd_b
from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg

from mdb_harness import CLI, READER, md, proxy_fixture
from tls_pki import _install, make_tls_server, peer_cert, pki  # noqa: F401 (pki: a fixture)

PATH = "/managed-redis/v1/backups/rd-1"
GET_RD1 = rd_bs.GetBackupRequest(backup_id="rd-1")

proxy_factory = proxy_fixture()


@pytest.fixture(scope="module")
def tls(pki):
    """A TLS server shared by the tests that only read."""
    with tempfile.TemporaryDirectory() as d:
        s = make_tls_server(d, pki)
        s.start()
        yield s
        s.stop()


@pytest.fixture(scope="module")
def mtls(pki):
    """A TLS server that requires client certificates signed by the test CA."""
    with tempfile.TemporaryDirectory() as d:
        s = make_tls_server(d, pki, client_ca=True)
        s.start()
        yield s
        s.stop()


@pytest.fixture
def tls_servers(workdir, pki):
    """Starts TLS servers of one test on demand (each in its own directory); stops them after."""
    started = []

    def make(client_ca=False):
        d = workdir / ("s%d" % len(started))
        d.mkdir()
        started.append(make_tls_server(d, pki, client_ca))
        started[-1].start()
        return started[-1]
    yield make
    for s in started:
        s.stop()


@pytest.fixture
def discovery():
    """make(server, **sdk_args) -> a yandexcloud.SDK pointed at `server` as users would point it:
    SDK(endpoint=HOST:PORT, root_certificates=PEM, iam_token=...).

    How the SDK takes root certificates: SDK(root_certificates=PEM bytes, private_key=...,
    certificate_chain=...) become grpc.ssl_channel_credentials(...) of every channel it makes
    (yandexcloud/_channels.py), composed with call credentials that send
    `authorization: Bearer <iam_token>`. Before its first TLS channel it lists the service
    addresses from yandex.cloud.endpoint.ApiEndpointService at `endpoint` (and needs "iam" among
    them): mdb-backupd serves that list, naming itself for every service."""
    def make(server, **sdk_args):
        return yandexcloud.SDK(endpoint=server.grpc, **sdk_args)
    return make


def secure_channel(address, roots, client=None):
    """A raw grpc-python TLS channel (for what the SDK cannot express: untrusted roots here)."""
    key, chain = (client.key_pem, client.pem) if client else (None, None)
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(roots, key, chain))


def refused_code(stub_call):
    """The status of a call that must fail; a hang is a failure too (the deadline)."""
    with pytest.raises(grpc.RpcError) as e:
        stub_call(timeout=30)
    return e.value.code()


def rest_address(server):
    return server.rest.split("://", 1)[1]


def serial_of(der):
    return x509.load_der_x509_certificate(der).serial_number


def curl(server, *args, path=PATH, token=READER):
    """curl on the server's https URL; returns (exit code, HTTP status or None, body, stderr)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "-H", "Authorization: Bearer " + token,
                        "-w", "\n%{http_code}", *map(str, args), server.rest + path],
                       capture_output=True, text=True, timeout=120)
    body, _, status = r.stdout.rpartition("\n")
    return r.returncode, int(status) if status.isdigit() and status != "000" else None, body, r.stderr


def rd1_fields_are_exact(b):
    assert b.id == "rd-1" and b.folder_id == "f1" and b.source_cluster_id == "rd1"
    assert list(b.source_shard_names) == ["rd1"] and b.type == rd_b.Backup.AUTOMATED
    assert b.created_at.ToJsonString() == "2026-11-20T03:00:09Z"
    assert b.started_at.ToJsonString() == "2026-11-20T03:00:00Z"


# --- the SDK and REST over TLS -----------------------------------------------------------------

def test_the_python_sdk_reads_backups_over_tls(tls, pki, discovery):
    """The SDK's own TLS channel (the test CA as root_certificates) and its own auth (iam_token
    as the Bearer token, which gRPC sends only over a secure channel): exact fields."""
    sdk = discovery(tls, root_certificates=pki.ca.pem, iam_token=READER)
    rd1_fields_are_exact(sdk.client(rd_bsg.BackupServiceStub).Get(GET_RD1, timeout=30))
    gp = sdk.client(gp_bsg.BackupServiceStub)
    b = gp.Get(gp_bs.GetBackupRequest(backup_id="gp-incr"), timeout=30)
    assert b.size == 9007199254740993 and b.journal_size == 1 and b.source_cluster_id == "gp1"
    assert b.method == gp_b.Backup.INCREMENTAL
    assert b.created_at.ToJsonString() == "2026-11-21T01:02:00.000000001Z"
    lst = gp.List(gp_bs.ListBackupsRequest(folder_id="f1"), timeout=30)
    assert [x.id for x in lst.backups] == ["gp-incr", "gp-base"]
    # The token comes from the SDK's credentials: without it the same channel is refused.
    bare = discovery(tls, root_certificates=pki.ca.pem, iam_token="not-a-declared-token")
    assert refused_code(lambda **kw: bare.client(rd_bsg.BackupServiceStub).Get(GET_RD1, **kw)) == \
        grpc.StatusCode.UNAUTHENTICATED


def test_plaintext_and_untrusting_grpc_clients_are_refused(tls, pki):
    """A plaintext client (the harness's insecure SDK channel) and TLS clients that trust another
    CA, or only the public roots gRPC ships, get UNAVAILABLE: no call is served."""
    plain = tls.client(rd_bsg.BackupServiceStub)
    assert refused_code(lambda **kw: plain.Get(GET_RD1, metadata=md(), **kw)) == grpc.StatusCode.UNAVAILABLE
    for roots in (pki.other_ca.pem, None):
        with secure_channel(tls.grpc, roots) as ch:
            stub = rd_bsg.BackupServiceStub(ch)
            assert refused_code(lambda **kw: stub.Get(GET_RD1, metadata=md(), **kw)) == \
                grpc.StatusCode.UNAVAILABLE, roots
    with secure_channel(tls.grpc, pki.ca.pem) as ch:  # the same client trusting the CA is served
        rd1_fields_are_exact(rd_bsg.BackupServiceStub(ch).Get(GET_RD1, metadata=md(), timeout=30))


def test_rest_over_https_answers_the_grpc_json_and_nothing_without_the_ca(tls, pki, discovery):
    code, status, body, err = curl(tls, "--cacert", pki.ca_file)
    assert code == 0 and status == 200, (code, status, body, err)
    sdk = discovery(tls, root_certificates=pki.ca.pem, iam_token=READER)
    assert json.loads(body) == json_format.MessageToDict(sdk.client(rd_bsg.BackupServiceStub).Get(GET_RD1, timeout=30))
    # curl's system CA store, and another CA: the certificate is not verified (curl exit 60).
    for args in [(), ("--cacert", pki.other_ca_file)]:
        code, status, body, err = curl(tls, *args)
        assert code == 60 and status is None and "rd-1" not in body, (args, code, err)
        assert "certificate" in err, err


def test_the_cli_speaks_https_with_a_ca_of_its_choice(tls, pki):
    def cli(*args):
        return subprocess.run([str(CLI), "--endpoint", tls.rest, "--token", READER, *map(str, args),
                               "--format", "json", "backup", "get", "--engine", "redis", "rd-1"],
                              capture_output=True, text=True, timeout=120)
    r = cli("--cacert", pki.ca_file)
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == "rd-1", r.stderr
    r = cli("--cacert", pki.other_ca_file)  # another CA: the server is not trusted
    assert r.returncode != 0 and "rd-1" not in r.stdout, r.stdout


def test_plain_http_to_the_https_port_gets_no_http_answer(tls):
    host, port = rest_address(tls).rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  READER.encode() + b"\r\n\r\n")
        reply = b""
        try:
            while len(reply) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    assert not reply.startswith(b"HTTP/") and b"rd-1" not in reply, reply[:200]


# --- mutual TLS --------------------------------------------------------------------------------

def test_mutual_tls_serves_only_clients_with_a_certificate_of_the_ca(mtls, pki, discovery):
    # gRPC: no client certificate, or one of another CA, is refused.
    for client in (None, pki.stranger):
        with secure_channel(mtls.grpc, pki.ca.pem, client) as ch:
            stub = rd_bsg.BackupServiceStub(ch)
            assert refused_code(lambda **kw: stub.Get(GET_RD1, metadata=md(), **kw)) == \
                grpc.StatusCode.UNAVAILABLE, client and client.cert.subject
    with secure_channel(mtls.grpc, pki.ca.pem, pki.client) as ch:
        rd1_fields_are_exact(rd_bsg.BackupServiceStub(ch).Get(GET_RD1, metadata=md(), timeout=30))
    # The SDK presents a client certificate through its private_key and certificate_chain.
    sdk = discovery(mtls, root_certificates=pki.ca.pem, private_key=pki.client.key_pem,
                    certificate_chain=pki.client.pem, iam_token=READER)
    rd1_fields_are_exact(sdk.client(rd_bsg.BackupServiceStub).Get(GET_RD1, timeout=30))
    # REST: the same three clients through curl; the refused ones get no HTTP answer at all.
    for args in [(), ("--cert", pki.stranger_files[0], "--key", pki.stranger_files[1])]:
        code, status, body, err = curl(mtls, "--cacert", pki.ca_file, *args)
        assert code != 0 and status is None and "rd-1" not in body, (args, code, status, body, err)
    code, status, body, err = curl(mtls, "--cacert", pki.ca_file, "--cert", pki.client_files[0],
                                   "--key", pki.client_files[1])
    assert code == 0 and status == 200 and json.loads(body)["id"] == "rd-1", (code, status, body, err)


def test_mutual_tls_sessions_resume(mtls, pki):
    """A client that resumes its TLS session (TLS 1.3 tickets; Node's and Go's session caches)
    is served on the resumed connection too: without a session id context OpenSSL refused it."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    ctx.load_cert_chain(str(pki.client_files[0]), str(pki.client_files[1]))
    host, port = rest_address(mtls).rsplit(":", 1)

    def get(session=None):
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname=host, session=session) as s:
                s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                           "Connection: close\r\n\r\n" % (PATH, READER)).encode())
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
                return reply, s.session, s.session_reused
    first, session, _ = get()
    assert first.startswith(b"HTTP/1.1 200"), first[:200]
    second, _, reused = get(session)
    assert reused, "the server did not resume the session"
    assert second.startswith(b"HTTP/1.1 200"), second[:200]


def test_failed_handshakes_are_counted_not_logged_each(tls, pki):
    """Plain HTTP and garbage to the TLS gRPC port: gRPC logs each failed handshake; one line a
    minute reaches the log, with the count."""
    before = tls.read_log().count("Handshake failed")
    host, port = tls.grpc.rsplit(":", 1)
    for _ in range(300):
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                s.recv(100)
            except OSError:
                pass
    # The server still serves TLS clients.
    with secure_channel(tls.grpc, pki.ca.pem) as ch:
        rd1_fields_are_exact(rd_bsg.BackupServiceStub(ch).Get(GET_RD1, metadata=md(), timeout=30))
    lines = tls.read_log().count("Handshake failed") - before
    assert lines <= 2, "%d log lines for 300 failed handshakes" % lines


# --- rotation ----------------------------------------------------------------------------------

def wait_grpc_cert(server, pki, want, timeout=30):
    """Polls new handshakes with the gRPC listener until one presents `want` (gRPC's file watcher
    re-reads within about 5 s); the deadline only guards against a hang."""
    deadline = time.time() + timeout
    while True:
        try:
            got = peer_cert(server.grpc, "h2", pki)
        except OSError as e:  # e.g. a watcher that read the new key with the old certificate
            raise AssertionError("gRPC refused a new handshake during the rotation: %s" % e) from e
        if got == want:
            return
        assert time.time() < deadline, "gRPC still presents serial %x, not %x, %d s after the files changed" % (
            serial_of(got), serial_of(want), timeout)
        time.sleep(0.2)


def test_new_certificates_apply_to_new_handshakes_and_open_connections_keep_working(tls_servers, pki,
                                                                                    proxy_factory):
    server = tls_servers()
    old, new = pki.server, pki.ca.issue("localhost")  # same CA, new key, new serial
    assert old.serial != new.serial
    assert peer_cert(rest_address(server), "http/1.1", pki) == old.der
    assert peer_cert(server.grpc, "h2", pki) == old.der
    auth = {"Authorization": "Bearer " + READER}
    # Connections opened before the rotation: gRPC through a counting proxy, and REST keep-alive
    # (last: its next request must come within the header deadline, 10 s, of its first answer).
    proxy = proxy_factory(server.grpc)
    channel = secure_channel(proxy.address, pki.ca.pem)
    stub = rd_bsg.BackupServiceStub(channel)
    host, port = rest_address(server).rsplit(":", 1)
    kept = http.client.HTTPSConnection(host, int(port), timeout=30,
                                       context=ssl.create_default_context(cadata=pki.ca.pem.decode()))
    try:
        rd1_fields_are_exact(stub.Get(GET_RD1, metadata=md(), timeout=30))
        assert proxy.connections == 1
        kept.request("GET", PATH, headers=auth)
        r = kept.getresponse()
        assert r.status == 200 and json.loads(r.read())["id"] == "rd-1"
        kept_sock = kept.sock
        assert kept_sock is not None, "the REST server closed a keep-alive connection after one answer"

        new.write(server.workdir, "server")
        outcome = server.reload()
        assert "configuration reloaded" in outcome, outcome
        # REST: the connection opened before still answers, on its old session; the very next
        # handshake has the new certificate.
        kept.request("GET", PATH, headers=auth)
        r = kept.getresponse()
        assert r.status == 200 and json.loads(r.read())["id"] == "rd-1"
        assert kept.sock is kept_sock and kept_sock.getpeercert(binary_form=True) == old.der
        assert serial_of(peer_cert(rest_address(server), "http/1.1", pki)) == new.serial
        # gRPC: new handshakes present it within its file watcher's interval; the open
        # connection keeps serving (still the proxy's one connection).
        wait_grpc_cert(server, pki, new.der)
        rd1_fields_are_exact(stub.Get(GET_RD1, metadata=md(), timeout=30))
        assert proxy.connections == 1, "the gRPC connection was dropped at the rotation"
    finally:
        kept.close()
        channel.close()


BROKEN = [
    # (what is wrong, the file replaced, its new content, what the reload failure must name)
    ("unparsable certificate", "server.pem",
     b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n", ("server.pem",)),
    ("key of another certificate", "server.key", None, ("server.key", "server.pem")),
]


@pytest.mark.parametrize("what,name,content,named", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_on_sighup_are_refused_and_the_certificate_in_use_stays(tls_servers, pki, what, name,
                                                                            content, named):
    server = tls_servers()
    _install(server.workdir / name, content if content is not None else pki.client.key_pem, 0o600)
    outcome = server.reload()
    assert outcome.startswith("mdb-backupd: reload failed"), outcome
    assert any(n in outcome for n in named), outcome
    assert peer_cert(rest_address(server), "http/1.1", pki) == pki.server.der
    code, status, body, err = curl(server, "--cacert", pki.ca_file)
    assert code == 0 and status == 200, (code, status, body, err)
    # gRPC re-reads its certificate files on a timer (about every 5 s): for two of its intervals
    # every new handshake still presents the certificate in use. What is proven is an absence,
    # so this watches for a fixed time. (gRPC's file watcher, given broken files, drops its TLS
    # context and fails every new handshake: the server must never let it read them.)
    begin = time.time()
    while time.time() < begin + 11:
        try:
            got = peer_cert(server.grpc, "h2", pki)
        except OSError as e:
            raise AssertionError("gRPC refused a new handshake %.1f s after the %s: %s" % (
                time.time() - begin, what, e)) from e
        assert got == pki.server.der, "gRPC presents serial %x" % serial_of(got)
        time.sleep(0.5)
    with secure_channel(server.grpc, pki.ca.pem) as ch:
        rd1_fields_are_exact(rd_bsg.BackupServiceStub(ch).Get(GET_RD1, metadata=md(), timeout=30))
    # Nor did the broken files open the gRPC listener to plaintext.
    plain = server.client(rd_bsg.BackupServiceStub)
    assert refused_code(lambda **kw: plain.Get(GET_RD1, metadata=md(), **kw)) == grpc.StatusCode.UNAVAILABLE
