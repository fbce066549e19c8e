"""Issue 11 items 14 and 22: TLS failures in sentences that are true and read well.

* Go's TLS answers a missing client certificate with ``bad_certificate``: without an
  identity that is "requires a client certificate and none was presented", never
  "rejected our no client certificate ... register this certificate".
* Refused server certificates: "has expired", "is not valid yet", "is self-signed",
  "is not valid for this host name", never "the server's certificate is certificate has expired".
* A bad ``--pin`` on a URL target names the flag, not the "url-target" stand-in profile.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ExitCode,
    HostnameMismatch,
    ServerCertificateUntrusted,
)
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.tls_faults import BadCertificateAlertServer
from xfer.tls import XferSSLContext, create_ssl_context, translate_error

from .helpers import one_error, run

ContextFactory = Callable[..., XferSSLContext]


def _get(srv: BadCertificateAlertServer | HTTPSServer, ctx: XferSSLContext, tmp_path: Path) -> None:
    settings = ConnectionSettings(scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=ctx, timeout=5)
    with HTTPSAdapter(settings) as remote:
        remote.get_file("/f", tmp_path / "f")


# -- item 14 -----------------------------------------------------------------------


def test_bad_certificate_alert_without_identity(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    with BadCertificateAlertServer(pki) as srv, pytest.raises(ClientCertificateRequired) as caught:
        _get(srv, client_context(None), tmp_path)
    assert srv.alerts_sent == 1, "the server must really have sent bad_certificate"
    assert str(caught.value) == f"{srv.server} requires a client certificate and none was presented"
    assert caught.value.hint and "--identity" in caught.value.hint and "register" not in caught.value.hint


def test_bad_certificate_alert_with_identity_is_a_rejection(pki: TestPKI) -> None:
    """With an identity, the same alert still means the server rejected it."""
    ctx = create_ssl_context(None, ca=pki.root_ca)
    alert = ssl.SSLError(1, "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate")
    alert.reason = "SSLV3_ALERT_BAD_CERTIFICATE"
    assert isinstance(translate_error(alert, context=ctx, server="h:1"), ClientCertificateRequired)
    from xfer.identity import Identity

    with_identity = create_ssl_context(Identity.load(pki.client_p12, pki.password), ca=pki.root_ca)
    rejected = translate_error(alert, context=with_identity, server="h:1")
    assert isinstance(rejected, ClientCertificateRejected)
    assert "rejected our client certificate 'xfer-client'" in str(rejected)


@pytest.mark.parametrize("reason", ["SSLV3_ALERT_CERTIFICATE_UNKNOWN", "TLSV1_ALERT_UNKNOWN_CA",
                                    "SSLV3_ALERT_CERTIFICATE_EXPIRED", "TLSV1_ALERT_ACCESS_DENIED"])
def test_no_identity_is_never_a_rejected_certificate(pki: TestPKI, reason: str) -> None:
    alert = ssl.SSLError(1, reason)
    alert.reason = reason
    error = translate_error(alert, context=create_ssl_context(None, ca=pki.root_ca), server="h:1")
    assert isinstance(error, ClientCertificateRequired)
    assert "no client certificate" not in str(error) and "our" not in str(error)


# -- item 22: server certificate sentences ---------------------------------------------------


def _self_signed(tmp_path: Path, *, days: tuple[int, int], name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed server certificate valid from/until ``days`` (relative to now)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0])).not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(name))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{days}.pem", tmp_path / f"{days}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize(
    ("days", "trusted", "words"),
    [
        ((-30, -1), True, "the server's certificate has expired"),
        ((10, 30), True, "the server's certificate is not valid yet"),
        ((-1, 30), False, "we do not trust the server's certificate: it is self-signed"),
    ],
    ids=["expired", "not-yet-valid", "self-signed"],
)
def test_refused_server_certificate_sentences(
    pki: TestPKI, tmp_path: Path, days: tuple[int, int], trusted: bool, words: str
) -> None:
    cert, key = _self_signed(tmp_path, days=days)
    ctx = create_ssl_context(None, ca=cert if trusted else pki.root_ca)
    with HTTPSServer(pki, root=tmp_path / "srv", cert=cert, key=key, client_cert="none") as srv:
        with pytest.raises(ServerCertificateUntrusted) as caught:
            _get(srv, ctx, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{srv.server}: {words}"), message
    assert "is certificate" not in message and "certificate is certificate" not in message
    assert "CN=127.0.0.1" in message  # which certificate: from the failed handshake itself


def test_hostname_mismatch_sentence(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", cert=pki.wrong_host_cert, key=pki.wrong_host_key) as srv:
        with pytest.raises(HostnameMismatch) as caught:
            _get(srv, client_context(), tmp_path)
    assert str(caught.value).startswith(f"{srv.server}: the server's certificate is not valid for this host name (")
    assert "CN=wrong.invalid" in str(caught.value)


def test_bad_pin_on_a_url_target_names_the_flag(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ls", "https://127.0.0.1:9/", "--pin", "sha256:00")
    assert code == ExitCode.USAGE
    line = one_error(err, "--pin", "is not a SHA-256 fingerprint")
    assert "url-target" not in err and "profile" not in line
