"""The TLS tests' own PKI (a CA, server and client certificates made with `cryptography`; no key
is committed) and the TLS server and handshake helpers test_tls.py and test_tls_config.py share."""
import datetime
import ipaddress
import os
import pathlib
import socket
import ssl
import subprocess
import tempfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mdb_harness import RECORDS, SERVER, Server


# --- certificates ------------------------------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_usage(sign_certs):
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=sign_certs,
                         crl_sign=sign_certs, encipher_only=False, decipher_only=False)


def _builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _install(path, data, mode=0o644):
    """Writes `data` to `path` atomically (a new file renamed over the old one), as a deployment
    does; a watcher never reads a half-written file."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


class Issued:
    """A P-256 private key and its certificate."""

    def __init__(self, key, cert):
        self.key, self.cert = key, cert
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())

    @property
    def serial(self):
        return self.cert.serial_number

    def write(self, directory, stem):
        """Installs STEM.key (owner-only, as private keys are kept) and then STEM.pem in
        `directory`; returns their paths (certificate, key)."""
        key = _install(pathlib.Path(directory) / (stem + ".key"), self.key_pem, 0o600)
        return _install(pathlib.Path(directory) / (stem + ".pem"), self.pem), key


class Authority(Issued):
    """A self-signed CA that issues server certificates (SAN IP:127.0.0.1 and DNS:localhost) and
    client certificates."""

    def __init__(self, cn):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (_builder(_name(cn), _name(cn), key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_key_usage(True), critical=True)
                .sign(key, hashes.SHA256()))
        super().__init__(key, cert)

    def issue(self, cn, server=True):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (_builder(_name(cn), self.cert.subject, key.public_key())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(_key_usage(False), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        if server:
            builder = (builder
                       .add_extension(x509.SubjectAlternativeName([
                           x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                           critical=False)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                                            critical=False)
        return Issued(key, builder.sign(self.key, hashes.SHA256()))


class Pki:
    """The test's CA with a server and a client certificate, and a second CA nobody here trusts
    with a client certificate of its own; their files are in `dir`."""

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.ca = Authority("mdb-backup test CA")
        self.other_ca = Authority("untrusted CA")
        self.server = self.ca.issue("localhost")
        self.client = self.ca.issue("backup-client", server=False)
        self.stranger = self.other_ca.issue("stranger", server=False)
        self.ca_file = _install(self.dir / "ca.pem", self.ca.pem)
        self.other_ca_file = _install(self.dir / "other-ca.pem", self.other_ca.pem)
        self.client_files = self.client.write(self.dir, "client")
        self.stranger_files = self.stranger.write(self.dir, "stranger")


@pytest.fixture(scope="module")
def pki():
    with tempfile.TemporaryDirectory() as d:
        yield Pki(d)


# --- servers and clients -----------------------------------------------------------------------

def tls_section(client_ca=False):
    """The server section's tls block; relative paths, resolved against the config's directory."""
    return ("  tls:\n    cert_file: server.pem\n    key_file: server.key\n" +
            ("    client_ca_file: ca.pem\n" if client_ca else ""))


def make_tls_server(directory, pki, client_ca=False):
    """An mdb-backupd with TLS on both listeners over the harness's RECORDS (not started)."""
    directory = pathlib.Path(directory)
    pki.server.write(directory, "server")
    _install(directory / "ca.pem", pki.ca.pem)
    s = Server(directory, server_extra=tls_section(client_ca), scheme="https")
    s.import_records(RECORDS)
    return s


def peer_cert(address, alpn, pki, client_files=None):
    """The certificate (DER) that a new TLS handshake with `address` presents, verified against
    the test CA. gRPC's listener is reached with ALPN h2, as gRPC clients negotiate it."""
    ctx = ssl.create_default_context(cadata=pki.ca.pem.decode())
    ctx.set_alpn_protocols([alpn])
    if client_files:
        ctx.load_cert_chain(*map(str, client_files))
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            return s.getpeercert(binary_form=True)


def check(config):
    return subprocess.run([str(SERVER), "--config", str(config), "--check"], capture_output=True,
                          text=True, timeout=120)
