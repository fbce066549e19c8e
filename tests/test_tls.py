"""The TLS factory: secure defaults, identities without key files, and failures in words."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConfigError,
    ConnectError,
    HostnameMismatch,
    PinMismatch,
    ServerCertificateUntrusted,
    TLSVersionMismatch,
)
from xfer.identity import Identity, fingerprint_sha256
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext, create_ssl_context, normalize_pin, translate_error

from .tls_echo import EchoServer, echo, openssl_server

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def _fails(context: ssl.SSLContext, port: int, host: str = "127.0.0.1") -> Exception:
    """Connect, expect failure, return the translated xfer error."""
    with pytest.raises((ssl.SSLError, OSError)) as caught:
        echo(context, port, host)
    translated = translate_error(caught.value, context=context, server=f"{host}:{port}")
    assert translated is not None, f"untranslated: {caught.value!r}"
    return translated


class TestDefaults:
    def test_secure_defaults(self, identity: Identity) -> None:
        ctx = create_ssl_context(identity)
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.check_hostname
        assert ctx.post_handshake_auth
        assert ctx.cert_store_stats()["x509_ca"] > 0, "the system trust store must be loaded"

    def test_ca_replaces_system_store(self, pki: TestPKI) -> None:
        ctx = create_ssl_context(None, ca=pki.root_ca)
        assert ctx.cert_store_stats()["x509_ca"] == 1

    def test_fresh_context_each_call(self, identity: Identity) -> None:
        assert create_ssl_context(identity) is not create_ssl_context(identity)

    def test_tls_1_1_cannot_be_asked_for(self) -> None:
        with pytest.raises(ConfigError, match="tls_min must be one of"):
            create_ssl_context(None, minimum_version="1.1")

    def test_max_below_min_refused(self) -> None:
        with pytest.raises(ConfigError, match="lower than"):
            create_ssl_context(None, minimum_version="1.3", maximum_version="1.2")

    def test_missing_and_bad_ca_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="does not exist"):
            create_ssl_context(None, ca=tmp_path / "nope.pem")
        bad = tmp_path / "bad.pem"
        bad.write_text("not a certificate")
        with pytest.raises(ConfigError, match="no PEM certificate"):
            create_ssl_context(None, ca=bad)

    @pytest.mark.parametrize(
        "pin",
        ["sha256:" + "AB" * 32, "ab" * 32, ":".join(["ab"] * 32)],
    )
    def test_pin_spellings(self, pin: str) -> None:
        assert normalize_pin(pin) == "sha256:" + "ab" * 32

    def test_bad_pin(self) -> None:
        with pytest.raises(ConfigError, match="not a SHA-256 fingerprint"):
            normalize_pin("sha256:1234")

    def test_repr_hides_key(self, identity: Identity) -> None:
        assert "PRIVATE" not in repr(identity) and "xfer-client" in repr(identity)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
class TestClientCertificates:
    """Against a server that requires client certificates, under TLS 1.2 and 1.3."""

    def test_good_identity_accepted(
        self, pki: TestPKI, client_context: Callable[..., XferSSLContext], version: str
    ) -> None:
        with EchoServer(pki, tls_version=VERSIONS[version]) as server:
            assert echo(client_context("client_p12"), server.port) == b"echo:hello"

    def test_legacy_bundle_accepted(
        self, pki: TestPKI, client_context: Callable[..., XferSSLContext], version: str
    ) -> None:
        with EchoServer(pki, tls_version=VERSIONS[version]) as server:
            assert echo(client_context("client_legacy_p12"), server.port) == b"echo:hello"

    def test_no_identity(self, pki: TestPKI, client_context: Callable[..., XferSSLContext], version: str) -> None:
        with EchoServer(pki, tls_version=VERSIONS[version]) as server:
            error = _fails(client_context(None), server.port)
        assert isinstance(error, ClientCertificateRequired)
        assert "requires a client certificate and none was presented" in str(error)

    def test_untrusted_identity(
        self, pki: TestPKI, client_context: Callable[..., XferSSLContext], version: str
    ) -> None:
        with EchoServer(pki, tls_version=VERSIONS[version]) as server:
            error = _fails(client_context("client_untrusted_p12"), server.port)
        assert isinstance(error, ClientCertificateRejected)
        assert "does not trust the issuer" in str(error) and "xfer untrusted CA" in str(error)
        assert error.hint and "trust your CA" in error.hint

    def test_expired_identity(
        self, pki: TestPKI, client_context: Callable[..., XferSSLContext], version: str
    ) -> None:
        with EchoServer(pki, tls_version=VERSIONS[version]) as server:
            error = _fails(client_context("client_expired_p12"), server.port)
        assert isinstance(error, ClientCertificateRejected)
        assert "expired" in str(error)

    def test_leaf_only_identity(
        self, pki: TestPKI, client_context: Callable[..., XferSSLContext], version: str
    ) -> None:
        with EchoServer(pki, tls_version=VERSIONS[version]) as server:
            error = _fails(client_context("client_leaf_only_p12"), server.port)
        assert isinstance(error, ClientCertificateRejected)
        assert error.hint and "no intermediate certificate" in error.hint


class TestServerVerification:
    @pytest.mark.parametrize("version", ["1.2", "1.3"])
    def test_untrusted_server_names_its_issuer(self, pki: TestPKI, identity: Identity, version: str) -> None:
        """Read from the failed handshake itself: no second, unverified connection."""
        with EchoServer(pki, tls_version=VERSIONS[version]) as server:
            error = _fails(create_ssl_context(identity, ca=pki.untrusted_ca), server.port)
            assert server.handshakes == 0
        assert isinstance(error, ServerCertificateUntrusted)
        assert "we do not trust the server's certificate" in str(error)
        assert "xfer test intermediate CA" in str(error)
        assert error.hint and "--ca" in error.hint

    def test_wrong_host(self, pki: TestPKI, identity: Identity) -> None:
        with EchoServer(pki, cert=pki.wrong_host_cert, key=pki.wrong_host_key) as server:
            error = _fails(create_ssl_context(identity, ca=pki.root_ca), server.port)
        assert isinstance(error, HostnameMismatch)
        assert "not valid for this host name" in str(error)

    def test_pin_mismatch_shows_both(self, pki: TestPKI, identity: Identity) -> None:
        wrong = "sha256:" + "0" * 64
        with EchoServer(pki) as server:
            error = _fails(create_ssl_context(identity, ca=pki.root_ca, pin=wrong), server.port)
        assert isinstance(error, PinMismatch)
        from cryptography import x509

        actual = fingerprint_sha256(x509.load_pem_x509_certificates(pki.server_cert.read_bytes())[0])
        assert actual in str(error) and wrong in str(error)

    def test_pin_match(self, pki: TestPKI, identity: Identity) -> None:
        from cryptography import x509

        pin = fingerprint_sha256(x509.load_pem_x509_certificates(pki.server_cert.read_bytes())[0])
        with EchoServer(pki) as server:
            assert echo(create_ssl_context(identity, ca=pki.root_ca, pin=pin), server.port) == b"echo:hello"

    def test_version_mismatch(self, pki: TestPKI, identity: Identity) -> None:
        with EchoServer(pki, tls_version=ssl.TLSVersion.TLSv1_3) as server:
            ctx = create_ssl_context(identity, ca=pki.root_ca, maximum_version="1.2")
            error = _fails(ctx, server.port)
        assert isinstance(error, TLSVersionMismatch)

    def test_refused_port(self, identity: Identity) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        error = _fails(create_ssl_context(identity), port)
        assert isinstance(error, ConnectError) and "refused the connection" in str(error)


@pytest.mark.skipif(sys.platform != "linux", reason="strace is Linux-only")
def test_private_key_never_touches_a_disk_file(pki: TestPKI, tmp_path: Path) -> None:
    """Context creation under strace: no file created, no regular file written."""
    strace = shutil.which("strace")
    assert strace, "strace is required (integration/setup.sh installs it)"
    script = tmp_path / "make_context.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from xfer.identity import Identity
            from xfer.tls import create_ssl_context
            identity = Identity.load({str(pki.client_p12)!r}, {pki.password!r})
            import os; os.write(2, b"START\\n")
            create_ssl_context(identity, ca={str(pki.root_ca)!r})
            os.write(2, b"END\\n")
            """
        )
    )
    log = tmp_path / "strace.log"
    subprocess.run(
        [strace, "-f", "-y", "-o", str(log), "-e", "trace=open,openat,creat,write,pwrite64,writev,memfd_create",
         sys.executable, str(script)],
        check=True,
        capture_output=True,
    )
    text = log.read_text()
    window = text[text.index('"START\\n"') : text.index('"END\\n"')]
    assert "memfd_create" in window, "the memfd path must be in use on Linux"
    created = [line for line in window.splitlines() if re.search(r"O_CREAT|creat\(", line)]
    assert not created, f"files created during context creation: {created}"
    disk_writes = [
        line
        for line in window.splitlines()
        if re.match(r"^\d+\s+(write|pwrite64|writev)\((\d+)<(/[^>]*)>", line)
        and not re.search(r"<(/dev/|/memfd:|/proc/)", line)
    ]
    assert not disk_writes, f"writes to disk files during context creation: {disk_writes}"
    memfd_writes = [line for line in window.splitlines() if re.search(r"write\(\d+</memfd:xfer-key", line)]
    assert memfd_writes and all("ENCRYPTED PRIVATE KEY" in line for line in memfd_writes), (
        "only an encrypted key may pass through the memfd"
    )


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_rejection_names_the_cas_the_server_accepts(pki: TestPKI, version: str) -> None:
    """The CertificateRequest's CA list (read during the handshake) is quoted in the error."""
    import socket

    with openssl_server(pki.server_cert, pki.server_key, chain=pki.intermediate_ca, client_ca=pki.root_ca) as port:
        identity = Identity.load(pki.client_untrusted_p12, pki.password)
        context = create_ssl_context(identity, ca=pki.root_ca, maximum_version=version)
        with pytest.raises((ssl.SSLError, OSError)) as caught:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    tls.recv(100)
        error = translate_error(caught.value, context=context, server=f"127.0.0.1:{port}")
    assert isinstance(error, ClientCertificateRejected)
    assert "the server accepts certificates issued by: Common Name: xfer test root CA" in str(error)
