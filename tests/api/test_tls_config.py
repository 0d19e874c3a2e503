"""TLS configuration refused before serving: a listener without TLS on a non-loopback address is
refused by --check and at start unless `allow_plaintext: true` (then it starts and warns); TLS on
0.0.0.0 needs no such flag; --check names a missing certificate, key or client CA file, an
unparsable certificate and a key that is not the certificate's, and start refuses them the same
way. (The TLS listeners themselves: test_tls.py.)"""
import time

import pytest

from mdb_harness import Server
from tls_pki import _install, check, make_tls_server, peer_cert, pki  # noqa: F401 (pki: a fixture)


def listen_on(server, grpc_host, rest_host):
    """Rewrites the server's config to listen on these hosts (ports chosen by the system)."""
    text = server.config.read_text()
    text = text.replace("grpc_listen: 127.0.0.1:0", "grpc_listen: %s:0" % grpc_host)
    server.config.write_text(text.replace("rest_listen: 127.0.0.1:0", "rest_listen: %s:0" % rest_host))


def plaintext_warnings(text):
    return [l for l in text.splitlines() if "plaintext" in l.lower()]


def about_plaintext(message, config):
    """Whether a refusal speaks of plaintext or TLS (the config's own path aside)."""
    message = message.replace(str(config), "").lower()
    return "plaintext" in message or "tls" in message


def wait_plaintext_warning(server, timeout=30):
    """Polls the server's log for its plaintext warning; the deadline only guards a hang."""
    deadline = time.time() + timeout
    while not plaintext_warnings(server.read_log()):
        assert time.time() < deadline, "no plaintext warning in %d s: %s" % (timeout, server.read_log())
        time.sleep(0.05)


@pytest.mark.parametrize("grpc_host,rest_host", [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0")])
def test_plaintext_on_a_non_loopback_address_is_refused_unless_allowed(workdir, grpc_host, rest_host):
    server = Server(workdir)
    listen_on(server, grpc_host, rest_host)
    r = check(server.config)
    assert r.returncode != 0 and r.stdout == "", r.stdout + r.stderr
    assert about_plaintext(r.stderr, server.config), r.stderr
    code, err = server.run_until_exit()
    assert code != 0 and about_plaintext(err, server.config), err
    # allow_plaintext: true accepts it; the server starts and warns.
    server.config.write_text(server.config.read_text().replace(
        "  automated_backups: false\n", "  automated_backups: false\n  allow_plaintext: true\n"))
    r = check(server.config)
    assert r.returncode == 0, r.stderr
    server.start()
    try:
        wait_plaintext_warning(server)
    finally:
        server.stop()


def test_tls_on_a_non_loopback_address_needs_no_allow_plaintext(workdir, pki):
    server = make_tls_server(workdir, pki)
    listen_on(server, "0.0.0.0", "0.0.0.0")
    r = check(server.config)
    assert r.returncode == 0, r.stderr
    server.start()
    try:
        port = server.grpc.rsplit(":", 1)[1]
        assert peer_cert("127.0.0.1:" + port, "h2", pki) == pki.server.der
        assert not plaintext_warnings(server.read_log()), server.read_log()
    finally:
        server.stop()


BROKEN_FILES = [
    # (what is wrong, tls block, the files of which the message must name one)
    ("missing key", "cert_file: server.pem\n    key_file: absent.key", ("absent.key",)),
    ("missing certificate", "cert_file: absent.pem\n    key_file: server.key", ("absent.pem",)),
    ("missing client CA", "cert_file: server.pem\n    key_file: server.key\n    client_ca_file: absent-ca.pem",
     ("absent-ca.pem",)),
    ("unparsable certificate", "cert_file: garbage.pem\n    key_file: server.key", ("garbage.pem",)),
    ("key of another certificate", "cert_file: server.pem\n    key_file: other.key", ("other.key", "server.pem")),
]


def test_check_and_start_name_a_missing_or_wrong_certificate_or_key_file(workdir, pki):
    server = make_tls_server(workdir, pki)
    _install(workdir / "garbage.pem", b"this is not PEM\n")
    pki.client.write(workdir, "other")  # other.key: a valid key, but not server.pem's
    good = server.config.read_text()
    r = check(server.config)
    assert r.returncode == 0, r.stderr  # the valid TLS config: what follows fails for its file
    for what, block, names in BROKEN_FILES:
        server.config.write_text(good.replace("cert_file: server.pem\n    key_file: server.key", block))
        r = check(server.config)
        assert r.returncode != 0 and r.stdout == "", (what, r.stdout)
        assert any(n in r.stderr for n in names), (what, r.stderr)
        if what in ("missing key", "key of another certificate"):
            code, err = server.run_until_exit()
            assert code != 0 and any(n in err for n in names), (what, err)
    server.log.close()
