"""Review TLS-ID: partner configurations whose failure xfer must blame on the right side.

Each runs ``openssl s_server`` with what the stdlib server cannot set (a security level that
serves a 1024-bit or SHA-1 certificate, a legacy-only cipher list, ``-client_sigalgs``) and
checks the one line xfer says about it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from xfer.errors import (
    ClientCertificateRejected,
    ConnectionDropped,
    ExitCode,
    ServerCertificateUntrusted,
    TLSVersionMismatch,
    XferError,
)
from xfer.identity import Identity
from xfer.testing.pki import TestPKI
from xfer.testing.tls_faults import OpenSSLServer
from xfer.tls import XferSSLContext, create_ssl_context, translate_error

_NOW = dt.datetime.now(dt.timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject: str, key: rsa.RSAPrivateKey, issuer: tuple[str, rsa.RSAPrivateKey] | None, *,
           ca: bool) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer[0] if issuer else subject))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - dt.timedelta(days=1)).not_valid_after(_NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(path: Path, *items: x509.Certificate | rsa.RSAPrivateKey) -> Path:
    path.write_bytes(b"".join(
        item.public_bytes(serialization.Encoding.PEM) if isinstance(item, x509.Certificate)
        else item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        for item in items))
    return path


def _handshake(server: OpenSSLServer, ctx: XferSSLContext) -> XferError:
    """Connect and handshake; the translated failure (the test fails if there is none)."""
    try:
        with socket.create_connection((server.host, server.port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=server.host) as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            tls.recv(1)
    except OSError as exc:
        translated = translate_error(exc, context=ctx, server=server.server)
        assert translated is not None, exc
        return translated
    raise AssertionError("the handshake succeeded")


# -- H3: a partner certificate too weak for OpenSSL's security level ---------------------------


def _weak_server(tmp_path: Path, case: str) -> tuple[Path, Path, Path, tuple[str, ...]]:
    """(server certificate, its key, root CA, more s_server options), with one weak element per ``case``."""
    root_key = rsa.generate_private_key(65537, 2048)
    root = _issue("Partner Root", root_key, None, ca=True)
    leaf_key = rsa.generate_private_key(65537, 1024 if case == "leaf-1024" else 2048)
    key = _write(tmp_path / "leaf.key", leaf_key)
    if case == "ca-1024":
        int_key = rsa.generate_private_key(65537, 1024)
        intermediate = _issue("Partner Old CA", int_key, ("Partner Root", root_key), ca=True)
        leaf = _issue("127.0.0.1", leaf_key, ("Partner Old CA", int_key), ca=False)
        sent = ("-cert_chain", str(_write(tmp_path / "int.pem", intermediate)))
        return _write(tmp_path / "leaf.pem", leaf), key, _write(tmp_path / "root.pem", root), sent
    if case == "sha1":
        # cryptography refuses to sign with SHA-1: OpenSSL's command line still does.
        root_key_path = _write(tmp_path / "root.key", root_key)
        root_path = _write(tmp_path / "root.pem", root)
        csr = tmp_path / "leaf.csr"
        ext = tmp_path / "ext.cnf"
        ext.write_text("subjectAltName=IP:127.0.0.1\n")
        subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj", "/CN=127.0.0.1", "-out", str(csr)],
                       check=True, capture_output=True)
        chain = tmp_path / "chain.pem"
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(root_path), "-CAkey",
                        str(root_key_path), "-CAcreateserial", "-sha1", "-days", "30", "-extfile", str(ext),
                        "-out", str(chain)], check=True, capture_output=True)
        return chain, key, root_path, ()
    leaf = _issue("127.0.0.1", leaf_key, ("Partner Root", root_key), ca=False)
    return _write(tmp_path / "leaf.pem", leaf), key, _write(tmp_path / "root.pem", root), ()


@pytest.mark.parametrize(("case", "words"), [
    ("leaf-1024", "its key is too small"),
    ("ca-1024", "the key of a CA certificate in its chain is too small"),
    ("sha1", "it, or a certificate in its chain, is signed with a weak digest (SHA-1 or MD5)"),
])
def test_weak_partner_certificate_is_the_partners_to_replace(tmp_path: Path, case: str, words: str) -> None:
    cert, key, root, options = _weak_server(tmp_path, case)
    with OpenSSLServer(cert, key, "-cipher", "DEFAULT:@SECLEVEL=0", *options) as server:
        error = _handshake(server, create_ssl_context(None, ca=root))
    assert isinstance(error, ServerCertificateUntrusted) and error.exit_code == ExitCode.TLS
    assert str(error).startswith(f"{server.server}: the server's certificate is too weak for OpenSSL's "
                                 f"security level: {words}"), str(error)
    assert "we do not trust" not in str(error)
    assert error.hint is not None and "partner must replace it" in error.hint and "--ca" in error.hint
    assert "did not issue" not in error.hint


# -- H1: a server that shares no cipher with us ------------------------------------------------


@pytest.mark.parametrize("which", [None, "client_p12"], ids=["no-identity", "identity"])
def test_no_shared_cipher_is_not_about_our_certificate(pki: TestPKI, which: str | None) -> None:
    """Older IIS and appliances: TLS 1.2 with CBC-SHA1 suites only, no client certificate asked."""
    identity = Identity.load(pki.client_p12, pki.password) if which else None
    ctx = create_ssl_context(identity, ca=pki.root_ca)
    with OpenSSLServer(pki.server_cert, pki.server_key, "-tls1_2",
                       "-cipher", "ECDHE-RSA-AES128-SHA:AES128-SHA") as server:
        error = _handshake(server, ctx)
    assert isinstance(error, TLSVersionMismatch) and error.exit_code == ExitCode.TLS, repr(error)
    message = str(error)
    assert message.startswith(f"{server.server}: no common TLS version or cipher"), message
    assert "client certificate" not in message
    assert error.hint is not None and "cipher suites" in error.hint and "--identity" not in error.hint


# -- H2: our key type is not among the signature algorithms the server allows -----------------

_SIGALGS = "rsa_pss_rsae_sha256:rsa_pkcs1_sha256:ecdsa_secp256r1_sha256"


def _identity(tmp_path: Path, kind: str) -> tuple[Identity, Path]:
    """(an identity with an ``kind`` key issued by a fresh CA, that CA's PEM)."""
    ca_key = rsa.generate_private_key(65537, 2048)
    ca = _issue("Client CA", ca_key, None, ca=True)
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey = (
        ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP384R1()))
    cert = (
        x509.CertificateBuilder().subject_name(_name(f"client-{kind}")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - dt.timedelta(days=1)).not_valid_after(_NOW + dt.timedelta(days=300))
        .sign(ca_key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(b"client", key, cert, [ca],
                                                 serialization.BestAvailableEncryption(b"pw"))
    return Identity.from_bytes(data, "pw", source=f"{kind}.p12"), _write(tmp_path / "client-ca.pem", ca)


# (Not P-384 on TLS 1.2: its ecdsa_secp256r1_sha256 is ECDSA with SHA-256 on any curve, so P-384 is sent.)
@pytest.mark.parametrize(("kind", "version"), [("ed25519", "-tls1_2"), ("ed25519", "-tls1_3"), ("p384", "-tls1_3")])
def test_key_type_the_server_does_not_allow(
    pki: TestPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str, version: str
) -> None:
    identity, client_ca = _identity(tmp_path, kind)
    ctx = create_ssl_context(identity, ca=pki.ca_bundle)  # s_server sends its leaf alone
    with OpenSSLServer(pki.server_cert, pki.server_key, version, "-Verify", "2", "-verify_return_error",
                       "-CAfile", str(client_ca), "-client_sigalgs", _SIGALGS) as server, \
            caplog.at_level(logging.INFO, logger="xfer.tls"):
        error = _handshake(server, ctx)
    message = str(error)
    assert isinstance(error, ClientCertificateRejected), repr(error)
    assert message.startswith(f"{server.server} asked for a client certificate, but the "), message
    assert "rsa_pss_rsae_sha256, rsa_pkcs1_sha256, ecdsa_secp256r1_sha256" in message
    assert ("Ed25519" if kind == "ed25519" else "secp384r1") in message
    assert "none was presented" not in message
    assert error.hint is not None and "--identity" not in error.hint
    assert "client certificate sent" not in caplog.text


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_a_cut_after_data_moved_is_not_about_the_key_type(pki: TestPKI, tmp_path: Path, version: str) -> None:
    """Review of the TLS fixes, finding M1: a server asking for a certificate optionally, with signature
    algorithms our Ed25519 key cannot make, gets an empty Certificate and the handshake succeeds; a cut
    after 200 kB went out read "the key can make none of the signatures" (exit 4, never retried)."""
    identity, client_ca = _identity(tmp_path, "ed25519")
    ctx = create_ssl_context(identity, ca=pki.ca_bundle)
    with OpenSSLServer(pki.server_cert, pki.server_key, version, "-verify", "1", "-CAfile", str(client_ca),
                       "-client_sigalgs", _SIGALGS) as server:
        try:
            with socket.create_connection((server.host, server.port), timeout=5) as raw, \
                    ctx.wrap_socket(raw, server_hostname=server.host) as tls:
                tls.sendall(b"x" * 200_000)
                server.__exit__(None, None, None)  # the server goes away mid-transfer
                tls.recv(10)
                raise AssertionError("the connection did not fail")
        except OSError as exc:
            error = translate_error(exc, context=ctx, server=server.server)
    assert isinstance(error, ConnectionDropped) and error.exit_code == ExitCode.CONNECT, repr(error)
    assert "signatures" not in str(error) and "200000 bytes had been sent" in str(error), str(error)


# -- a server refusing the host name we sent (or its absence) with handshake_failure ------------


@pytest.mark.parametrize("host", ["127.0.0.1", "unknown.example"])
def test_a_refused_host_name_is_named_beside_version_and_cipher(pki: TestPKI, host: str) -> None:
    """Review of the TLS fixes, finding M2: a CDN or virtual host refuses a ClientHello for a name it does
    not serve (or with none: an IP address sends no SNI) with handshake_failure before any ServerHello,
    and xfer said only "no common TLS version or cipher", sending the user after cipher suites."""
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(pki.server_cert, pki.server_key)

    def only_partner_example(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> int | None:
        return None if name == "partner.example" else ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE

    served.sni_callback = only_partner_example
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        connection, _ = listener.accept()
        with connection, contextlib.suppress(OSError):
            served.wrap_socket(connection, server_side=True)

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    ctx = create_ssl_context(None, ca=pki.root_ca)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(b"x")
            raise AssertionError("the handshake succeeded")
    except OSError as exc:
        error = translate_error(exc, context=ctx, server=f"{host}:{port}")
    finally:
        thread.join(5)
        listener.close()
    assert isinstance(error, TLSVersionMismatch) and error.exit_code == ExitCode.TLS, repr(error)
    assert str(error).startswith(f"{host}:{port}: no common TLS version or cipher, or it does not serve this "
                                 "host name"), str(error)
    assert error.hint is not None and "\n" not in error.hint
    if host == "127.0.0.1":
        assert error.hint.startswith("xfer connected by IP address (127.0.0.1) and so sent no host name (SNI)")
    else:
        assert "does not serve the host name 'unknown.example'" in error.hint
