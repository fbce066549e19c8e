"""Issue 11 item 13: a TLS 1.3 server that completes the handshake, then closes without an alert.

Node.js (``requestCert`` + ``rejectUnauthorized``) and others reject a client certificate
that way.  The client's handshake succeeded; its first read meets an EOF (or a reset).
That is exit 4 with "closed the connection right after the TLS handshake", for HTTPS
and for the FTPS control connection (implicit: before the greeting; explicit: after
``AUTH TLS``), never "the connection was dropped" (exit 5).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest
from asn1crypto.x509 import Name

from xfer.adapters.base import Adapter, ConnectionSettings
from xfer.adapters.ftps import ExplicitFTPSAdapter, ImplicitFTPSAdapter
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConnectionDropped,
    ExitCode,
    IntegrityError,
)
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.tls_faults import SilentRejectServer
from xfer.tls import HandshakeFacts, XferSSLContext, probe_handshake, translate_error
from xfer.tls.connection import with_reason

from .helpers import one_error, run

ContextFactory = Callable[..., XferSSLContext]
CLOSED = "closed the connection right after the TLS handshake"


def _adapter(kind: str, srv: SilentRejectServer | ScriptedHTTPSServer, ctx: XferSSLContext) -> Adapter:
    cls = {"https": HTTPSAdapter, "ftps": ImplicitFTPSAdapter, "ftpes": ExplicitFTPSAdapter}[kind]
    # One try: what one connection's close says (the CLI test below shows the retry).
    settings = ConnectionSettings(scheme=kind, host=srv.host, port=srv.port, root="/", ssl_context=ctx, timeout=5,
                                  username="u", password="p", retries=0)
    return cls(settings)


def _first_operation(kind: str, srv: SilentRejectServer, ctx: XferSSLContext, tmp_path: Path) -> None:
    with _adapter(kind, srv, ctx) as remote:
        remote.get_file("/f", tmp_path / "f")


@pytest.mark.parametrize("end", ["fin", "reset", "close_notify"])
@pytest.mark.parametrize("kind", ["https", "ftps", "ftpes"])
def test_rejection_of_our_certificate(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, kind: str,
    end: Literal["fin", "reset", "close_notify"],
) -> None:
    ftp = {"https": "no", "ftps": "implicit", "ftpes": "explicit"}[kind]
    with SilentRejectServer(pki, end=end, ftp=ftp) as srv:  # type: ignore[arg-type]
        with pytest.raises(ClientCertificateRejected) as caught:
            _first_operation(kind, srv, client_context(), tmp_path)
        assert srv.handshakes >= 1, "the handshake itself must have succeeded"
    message = str(caught.value)
    assert message.startswith(f"{srv.server} {CLOSED}: it most likely rejected our client certificate")
    assert "'xfer-client'" in message
    assert caught.value.exit_code == ExitCode.TLS
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("kind", ["https", "ftps", "ftpes"])
def test_no_identity_is_certificate_required(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, kind: str
) -> None:
    ftp = {"https": "no", "ftps": "implicit", "ftpes": "explicit"}[kind]
    with SilentRejectServer(pki, ftp=ftp) as srv:  # type: ignore[arg-type]
        with pytest.raises(ClientCertificateRequired) as caught:
            _first_operation(kind, srv, client_context(None), tmp_path)
    assert f"{CLOSED}: it most likely requires a client certificate and none was presented" in str(caught.value)
    assert caught.value.hint and "--identity" in caught.value.hint


def test_cli_exit_4_one_line(pki: TestPKI, tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SilentRejectServer(pki) as srv:
        identity = ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}"]
        code, _, err = run(capsys, "get", f"{srv.url}/f", str(tmp_path / "f"), "--ca", str(pki.root_ca), *identity,
                           "--retries", "0")
    assert code == ExitCode.TLS, err
    one_error(err, CLOSED, "rejected our client certificate")


def test_a_silent_close_is_tried_once_more_then_blamed_on_the_certificate(
    pki: TestPKI, tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cut right after the handshake looks the same: one more try (not all of them) tells."""
    with SilentRejectServer(pki) as srv:
        identity = ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}"]
        code, _, err = run(capsys, "get", f"{srv.url}/f", str(tmp_path / "f"), "--ca", str(pki.root_ca), *identity,
                           "--retries", "5", "--retry-wait", "0.01")
        assert srv.handshakes == 2
    assert code == ExitCode.TLS, err
    lines = err.splitlines()
    assert lines[0].startswith("xfer: retry 1/5 in ") and "one more try tells" in lines[0]
    assert lines[1].startswith(f"xfer: error: {srv.server} {CLOSED}")


def test_profile_test_probe_sees_it(pki: TestPKI, client_context: ContextFactory) -> None:
    # The probe reads first; a quiet close used to look like "no alert: accepted".
    with SilentRejectServer(pki) as srv, pytest.raises(ClientCertificateRejected, match=CLOSED):
        probe_handshake(client_context(), srv.host, srv.port)


def test_a_cut_after_the_first_byte_is_not_blamed_on_the_certificate(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Only a close *before any application byte* means rejection; later it is a cut."""
    with ScriptedHTTPSServer(pki, {"/f": Reply(body=b"x" * 5000, length=False, end="fin")}, tls_max="1.3") as srv:
        with pytest.raises(IntegrityError), _adapter("https", srv, client_context()) as remote:
            remote.get_file("/f", tmp_path / "f")


def test_server_that_asked_for_no_certificate_is_a_dropped_connection(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A quiet close is blamed on our certificate only if the server asked for one."""
    with SilentRejectServer(pki) as srv:
        srv.ssl_context.verify_mode = ssl.CERT_NONE
        with pytest.raises(ConnectionDropped):
            _first_operation("https", srv, client_context(), tmp_path)


def test_the_message_names_the_cas_the_server_accepts(pki: TestPKI, client_context: ContextFactory) -> None:
    """When the handshake carried the server's CertificateRequest CA names, the message lists them."""
    ctx = client_context()
    closed = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    closed.xfer_closed_after_handshake = True  # type: ignore[attr-defined]
    # What the connection's handshake recorded travels with its failure.
    partner_ca = Name.build({"organization_name": "Partner", "common_name": "Partner Client CA"}).dump()
    closed.xfer_handshake_facts = HandshakeFacts(  # type: ignore[attr-defined]
        acceptable_client_ca_ders=[partner_ca], certificate_requested=True
    )
    error = translate_error(ConnectionError(closed), context=ctx, server="h:443")
    assert isinstance(error, ClientCertificateRejected)
    assert str(error) == (f"h:443 {CLOSED}: it most likely rejected our client certificate 'xfer-client'; "
                          "the server accepts certificates issued by: "
                          "Common Name: Partner Client CA, Organization: Partner")


def test_a_ca_name_that_does_not_decode_is_listed_not_dropped() -> None:
    """One malformed name in the server's CertificateRequest must not empty the list: doctor
    would then say "none named" (any CA accepted), which the server never said."""
    good = Name.build({"common_name": "Partner Issuing CA"}).dump()
    facts = HandshakeFacts(acceptable_client_ca_ders=[b"\x30\x03\x02\x01", good], certificate_requested=True)
    names = facts.acceptable_client_cas
    assert len(names) == 2
    assert "does not decode" in names[0] and "4 bytes" in names[0]
    assert "Partner Issuing CA" in names[1]


@pytest.mark.parametrize(("sent", "received"), [(1_000_000, 0), (2_000, 150)])
def test_a_close_after_data_went_through_is_a_broken_connection(
    client_context: ContextFactory, sent: int, received: int
) -> None:
    """Megabytes sent (an upload cut mid-body), or anything received: the connection broke, and
    our certificate is not the suspect (that close would have come right after the handshake)."""
    closed = with_reason(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), None)
    closed.xfer_bytes_moved = (sent, received)  # type: ignore[attr-defined]  # what XferConnection tags
    error = translate_error(ConnectionError(closed), context=client_context(), server="h:443")
    assert isinstance(error, ConnectionDropped) and error.exit_code == ExitCode.CONNECT
    after = f"{sent} bytes had been sent" if sent > 64 * 1024 else f"{received} bytes had arrived"
    assert str(error) == f"the connection to h:443 broke after {after}"
    assert "certificate" not in f"{error} {error.hint}"


def test_a_close_with_almost_nothing_sent_still_names_the_certificate(client_context: ContextFactory) -> None:
    """A request and the start of a body, nothing answered: a refusal remains possible (exit 5, retried)."""
    closed = with_reason(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), None)
    closed.xfer_bytes_moved = (2_000, 0)  # type: ignore[attr-defined]
    error = translate_error(ConnectionError(closed), context=client_context(), server="h:443")
    assert isinstance(error, ConnectionDropped)
    assert str(error) == "h:443 closed the TLS connection unexpectedly (it may have rejected our client certificate)"
    unknown = translate_error(ConnectionError(closed), context=client_context(None), server="h:443")
    assert unknown is not None and "certificate" not in f"{unknown} {unknown.hint}"
