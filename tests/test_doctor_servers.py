"""doctor against servers and failures the bed lacks (review R, session 21)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from xfer.doctor import FAIL, SKIP, Report, diagnose
from xfer.doctor.handshake import Probe
from xfer.doctor.identity import identity_step
from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConnectionDropped,
    ConnectTimeout,
    ExitCode,
    HostnameMismatch,
    IdentityError,
    PinMismatch,
    RemotePermissionDenied,
    ServerCertificateUntrusted,
)
from xfer.identity import Identity
from xfer.profiles import Profile
from xfer.testing._serving import server_context
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.tls_faults import SilentRejectServer
from xfer.tls import HandshakeFacts

#: Steps 2-5, which a connection that never reached TLS skips.
TLS_KEYS = ["tls", "client_certificate_request", "identity", "acceptance"]


def profile(pki: TestPKI, url: str, **changes: Any) -> Profile:
    """The PKI's good identity and root CA for ``url``, with ``changes`` (None removes a key)."""
    data: dict[str, Any] = {"url": url, "identity": str(pki.client_p12),
                            "identity_password": f"file:{pki.password_file}", "ca": str(pki.root_ca), "timeout": 3,
                            **changes}
    return Profile.from_mapping("partner", {key: value for key, value in data.items() if value is not None})


def ftp_login(tmp_path: Path) -> dict[str, Any]:
    """The fake FTPS server's user, its password from a file (as a profile names it)."""
    secret = tmp_path / "ftp-password.txt"
    secret.write_text("xfer-ftp-password")
    secret.chmod(0o600)
    return {"username": "xfer", "password": f"file:{secret}"}


def wrong_password(tmp_path: Path) -> str:
    """A reference to a password file holding the wrong identity password."""
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the password")
    wrong.chmod(0o600)
    return f"file:{wrong}"


def steps(report: Report) -> dict[str, Any]:
    return {step.key: step for step in report.steps}


@contextlib.contextmanager
def raw_server(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP listener on 127.0.0.1 running ``handler(connection)`` per connection; yields its port.

    For what no fake does: a server that never speaks TLS, an endless greeting, a close at once.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                accepted.append(conn)
                threading.Thread(target=run, args=(conn,), daemon=True).start()

    def run(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            handler(conn)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for conn in accepted:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


# -- finding 1: an HTTPS server that refuses everything -------------------------------------------------

#: nginx ``ssl_verify_client optional`` with ``return 403`` for a client it did not verify.
FORBIDDEN = {"/": Reply(status=403, reason="Forbidden", body=b"<h1>403 Forbidden</h1>\n")}


def test_403_to_everything_without_a_certificate_fails_and_says_configure_identity(pki: TestPKI) -> None:
    """It was "every step passed", exit 0, while put/get exited 6 and ls 8."""
    with ScriptedHTTPSServer(pki, FORBIDDEN) as srv:
        report = diagnose(profile(pki, srv.url + "/", identity=None, identity_password=None))
    failed = report.failed
    assert failed is not None and failed.key == "protocol" and failed.number == 6
    assert isinstance(failed.error, RemotePermissionDenied) and "403" in failed.error.message
    assert failed.fix is not None and "asked for a client certificate; configure --identity" in failed.fix
    assert steps(report)["client_certificate_request"].facts["requested"] is True
    assert report.exit_code == ExitCode.REMOTE


def test_403_to_everything_with_our_certificate_says_it_was_sent(pki: TestPKI) -> None:
    with ScriptedHTTPSServer(pki, FORBIDDEN) as srv:
        report = diagnose(profile(pki, srv.url + "/"))
    failed = report.failed
    assert failed is not None and failed.key == "protocol"
    assert any("although we sent our client certificate" in verdict for verdict in failed.verdicts)
    assert report.exit_code == ExitCode.REMOTE


#: A server asking for HTTP Basic credentials on every path (a wrong password, or none sent).
LOGIN_WANTED = {"/": Reply(status=401, reason="Unauthorized", headers={"WWW-Authenticate": 'Basic realm="files"'},
                           body=b"<h1>401 Unauthorized</h1>\n")}


@pytest.mark.parametrize(("login", "identity", "verdict"), [
    (True, True, "it did not take the user name 'xfer' and its password"),
    (True, False, "it did not take the user name 'xfer' and its password"),
    (False, True, "none is configured: set --username and --password"),
], ids=["wrong-login-with-identity", "wrong-login-without-identity", "no-login"])
def test_401_to_everything_is_about_the_login(
    pki: TestPKI, tmp_path: Path, login: bool, identity: bool, verdict: str
) -> None:
    """It said "ask the partner to register [your certificate]" (with an identity) or "configure --identity
    FILE.p12" (without): a 401 asks for the user name and password."""
    changes = {**(ftp_login(tmp_path) if login else {}),
               **({} if identity else {"identity": None, "identity_password": None})}
    with ScriptedHTTPSServer(pki, LOGIN_WANTED) as srv:
        report = diagnose(profile(pki, srv.url + "/", **changes))
    failed = report.failed
    assert failed is not None and failed.key == "protocol" and failed.error is not None
    assert isinstance(failed.error, RemotePermissionDenied) and "401" in failed.error.message
    said = f"{' '.join(failed.verdicts)} {failed.fix}"
    assert "register" not in said and "--identity" not in said and "client certificate" not in said, said
    assert any("401, asking for a login (Basic)" in text and verdict in text for text in failed.verdicts), said
    assert report.exit_code == ExitCode.REMOTE


# -- finding 2: a refusal in the FTP greeting ------------------------------------------------------


def test_implicit_ftps_greeting_refusal_is_a_verdict_on_our_certificate(pki: TestPKI, tmp_path: Path) -> None:
    """``530 Client certificate not accepted.`` right after the handshake: the 530 is shown, and it is
    about our certificate (it was "the connection broke after 38 bytes", exit 5, the 530 nowhere)."""
    with FakeFTPSServer(pki, root=tmp_path / "root", implicit=True,
                        greeting_wait="530 Client certificate not accepted.") as srv:
        report = diagnose(profile(pki, srv.url, **ftp_login(tmp_path)))
    failed = report.failed
    assert failed is not None and failed.key == "acceptance" and failed.number == 5
    assert isinstance(failed.error, ClientCertificateRejected)
    assert "530 Client certificate not accepted." in failed.error.message
    assert "xfer-client" in failed.error.message
    assert failed.fix is not None and "registered" in failed.fix
    assert failed.facts["first_answer"] == "FTP 530 Client certificate not accepted."
    assert report.exit_code == ExitCode.TLS


def test_explicit_ftps_busy_greeting_is_not_a_tls_failure(pki: TestPKI, tmp_path: Path) -> None:
    """``421 Too many users`` before any TLS: the FTP dialogue failed (step 6), steps 2-5 never ran."""
    with FakeFTPSServer(pki, root=tmp_path / "root", greeting_wait="421 Too many users, try again later.") as srv:
        report = diagnose(profile(pki, srv.url, **ftp_login(tmp_path)))
    found = steps(report)
    assert [found[key].status for key in TLS_KEYS] == [SKIP] * 4
    failed = report.failed
    assert failed is not None and failed.key == "protocol" and failed.number == 6
    assert isinstance(failed.error, ConnectionDropped)
    assert "421 Too many users, try again later." in failed.error.message
    assert failed.facts["banner"] == "421 Too many users, try again later."
    assert report.exit_code == ExitCode.CONNECT


def test_explicit_ftps_close_before_the_greeting_is_a_dropped_connection(pki: TestPKI) -> None:
    """A close before any byte (tcpwrappers, a full server): no TLS was attempted, so not a TLS error."""
    with raw_server(lambda conn: None) as port:
        report = diagnose(profile(pki, f"ftpes://127.0.0.1:{port}/"))
    failed = report.failed
    assert failed is not None and failed.key == "protocol"
    assert isinstance(failed.error, ConnectionDropped)
    assert "closed the connection before its greeting" in failed.error.message
    assert report.exit_code == ExitCode.CONNECT


# -- finding 3: RFC 959's "120 Service ready in N minutes" before the 220 ----------------------------


@pytest.mark.parametrize("implicit", [False, True], ids=["ftpes", "ftps"])
def test_a_preliminary_120_before_the_greeting_is_skipped(pki: TestPKI, tmp_path: Path, implicit: bool) -> None:
    """The 220 after a 120 is the greeting, not the answer to AUTH TLS (was: "refused AUTH TLS (220 ...)"),
    and FEAT's answer is FEAT's (implicit: the FEAT facts were the 220's)."""
    with FakeFTPSServer(pki, root=tmp_path / "root", implicit=implicit,
                        greeting_wait="120 Service ready in 1 minutes.") as srv:
        report = diagnose(profile(pki, srv.url, **ftp_login(tmp_path)))
    assert report.failed is None, [(s.key, s.error and s.error.message) for s in report.steps]
    protocol = steps(report)["protocol"]
    assert protocol.facts["banner"] == "220 xfer fake FTPS server ready."
    assert protocol.facts["feature_flags"]["MLST"] is True
    assert protocol.facts["auth_tls"].startswith("234" if not implicit else "implicit TLS")


# -- finding 4: an identity that does not open ------------------------------------------------------


def test_a_wrong_identity_password_does_not_hide_a_handshake_timeout(pki: TestPKI, tmp_path: Path) -> None:
    """The TLS step is step 2 whatever the identity: a server that never answers the handshake is the
    report's failure (exit 5), not "did not ask for a client certificate" (no TLS happened) and exit 4."""
    with raw_server(lambda conn: time.sleep(5)) as port:
        report = diagnose(profile(pki, f"https://127.0.0.1:{port}/", identity_password=wrong_password(tmp_path),
                                  timeout=1))
    assert [(s.number, s.key, s.status) for s in report.steps] == [(1, "network", "ok"), (2, "tls", FAIL)]
    assert isinstance(report.failed.error if report.failed else None, ConnectTimeout)
    assert report.exit_code == ExitCode.CONNECT


@pytest.mark.parametrize("fault", ["untrusted", "pin"])
def test_a_wrong_identity_password_does_not_hide_our_verdict_on_the_server(
    pki: TestPKI, tmp_path: Path, fault: str
) -> None:
    """A wrong --ca (or pin) and a wrong identity password: step 2 was "skip", "not judged: the server asked
    for the client certificate that did not open (... we do not trust the server's certificate ...)", and
    step 4 failed.  We refuse the server's certificate before it judges ours: step 2 fails, exit 4."""
    changes = {"ca": str(pki.untrusted_ca)} if fault == "untrusted" else {"pin": "sha256:" + "ab" * 32}
    with ScriptedHTTPSServer(pki, {"/": Reply()}) as srv:
        report = diagnose(profile(pki, srv.url + "/", identity_password=wrong_password(tmp_path), **changes))
    assert steps(report)["tls"].status == FAIL
    failed = report.failed
    assert failed is not None and failed.key == "tls" and failed.number == 2
    assert isinstance(failed.error, ServerCertificateUntrusted if fault == "untrusted" else PinMismatch)
    assert report.exit_code == ExitCode.TLS


def alert_dropped(upstream: int) -> Callable[[socket.socket], None]:
    """A relay to ``upstream`` that closes the connection where the server sent a TLS alert (a server
    that hangs up on a handshake without the client certificate it asked for, instead of saying why)."""

    def forward(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)

    def relay(conn: socket.socket) -> None:
        with socket.create_connection(("127.0.0.1", upstream)) as server, server.makefile("rb") as records:
            threading.Thread(target=forward, args=(conn, server), daemon=True).start()
            # Record by record (type, version, length); an alert (type 21) is not passed on: hang up.
            while len(head := records.read(5)) == 5 and head[0] != 21:
                conn.sendall(head + records.read(int.from_bytes(head[3:5], "big")))
            conn.shutdown(socket.SHUT_RDWR)  # a FIN now (a close alone waits for the thread's recv)

    return relay


def test_a_close_after_the_certificate_request_is_still_left_to_the_identity_that_did_not_open(
    pki: TestPKI, tmp_path: Path
) -> None:
    """The other side of the test above: a close after the server asked for the certificate that did not
    open may be no more than its absence; step 2 is not judged and step 4 fails."""
    with ScriptedHTTPSServer(pki, {"/": Reply()}, tls_max="1.2") as srv:
        srv.ssl_context.verify_mode = ssl.CERT_REQUIRED
        with raw_server(alert_dropped(srv.port)) as port:
            report = diagnose(profile(pki, f"https://127.0.0.1:{port}/", identity_password=wrong_password(tmp_path)))
    found = steps(report)
    assert found["tls"].status == SKIP and "not judged" in found["tls"].lines[-1], found["tls"].lines
    assert "closed the TLS connection" in found["tls"].lines[-1]
    failed = report.failed
    assert failed is not None and failed.key == "identity"
    assert isinstance(failed.error, IdentityError) and report.exit_code == ExitCode.TLS


# -- finding 6: a reply that never ends ---------------------------------------------------------------


def test_an_endless_greeting_is_bounded_by_the_timeout(pki: TestPKI) -> None:
    """``220-`` every half second, each line well within the timeout: the whole greeting is bounded
    (it took as long as the server went on, then "TLS handshake failed")."""

    def trickle(conn: socket.socket) -> None:
        for _ in range(60):
            conn.sendall(b"220-Welcome, please wait\r\n")
            time.sleep(0.5)

    began = time.monotonic()
    with raw_server(trickle) as port:
        report = diagnose(profile(pki, f"ftpes://127.0.0.1:{port}/", timeout=1))
    assert time.monotonic() - began < 10
    failed = report.failed
    assert failed is not None and failed.key == "protocol"
    assert isinstance(failed.error, ConnectTimeout)
    assert "did not complete its greeting in time" in failed.error.message
    assert report.exit_code == ExitCode.CONNECT


def test_an_endless_feat_reply_is_bounded_by_the_timeout(pki: TestPKI, tmp_path: Path) -> None:
    """The same after the handshake (implicit FTPS, FEAT answered ``211-`` forever)."""
    began = time.monotonic()
    with FakeFTPSServer(pki, root=tmp_path / "root", implicit=True, trickled={"FEAT": 0.3}) as srv:
        report = diagnose(profile(pki, srv.url, timeout=1, **ftp_login(tmp_path)))
    assert time.monotonic() - began < 10
    failed = report.failed
    assert failed is not None and failed.key == "acceptance"
    assert isinstance(failed.error, ConnectTimeout)


# -- finding 5: a close after a handshake that asked for no certificate -------------------------------


def test_a_close_after_a_handshake_that_asked_for_no_certificate_does_not_blame_ours(pki: TestPKI) -> None:
    """Step 3 says the server did not ask; the close was "it may have rejected our client certificate",
    fix "check that the server accepts your certificate"."""
    with SilentRejectServer(pki) as srv:
        srv.ssl_context.verify_mode = ssl.CERT_NONE
        report = diagnose(profile(pki, srv.url + "/"))
    assert steps(report)["client_certificate_request"].facts["requested"] is False
    failed = report.failed
    assert failed is not None and failed.key == "acceptance" and failed.error is not None
    assert isinstance(failed.error, ConnectionDropped)
    assert "certificate" not in f"{failed.error.message} {failed.fix}"


# -- finding 7: a server that does not send its intermediate -----------------------------------------


def test_a_server_that_does_not_send_its_intermediate_is_told_so(pki: TestPKI, tmp_path: Path) -> None:
    """--ca holds the right root; the server sends its leaf alone.  It was "its issuer is not among the
    CAs we trust" and "the CA given with --ca ... did not issue this certificate": false."""
    pem = pki.server_cert.read_text()
    leaf_only = tmp_path / "server-leaf-only.pem"
    leaf_only.write_text(pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----\n")])
    with ScriptedHTTPSServer(pki, {"/": Reply()}) as srv:
        srv.ssl_context.load_cert_chain(leaf_only, pki.server_key)
        report = diagnose(profile(pki, srv.url + "/"))
    failed = report.failed
    assert failed is not None and failed.key == "tls" and failed.error is not None
    said = f"{' '.join(failed.verdicts)} {failed.error.message} {failed.fix}"
    assert "did not issue this certificate" not in said
    assert "issued by CN=xfer test intermediate CA,O=xfer test PKI, which the server did not send" in said
    assert failed.fix is not None and "full chain" in failed.fix and "--ca" in failed.fix
    assert any("an intermediate CA the server should send" in verdict for verdict in failed.verdicts)


def single_tier_server(folder: Path) -> tuple[Path, Path, Path]:
    """A partner's single-tier PKI: its root CA issues the server certificate (for 127.0.0.1) directly,
    and the server rightly sends that certificate alone.  Returns the root, the leaf and its key (PEM)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Partner Root CA")])

    def issued(subject: x509.Name, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(root_name).public_key(public)
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=30)))

    root = (issued(root_name, root_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256()))
    leaf = (issued(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(root_key, hashes.SHA256()))
    paths = folder / "partner-root.pem", folder / "partner-server.pem", folder / "partner-server.key"
    paths[0].write_bytes(root.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_a_single_tier_partner_without_its_root_in_ca_is_told_to_add_it(pki: TestPKI, tmp_path: Path) -> None:
    """The partner's root CA issued the server certificate directly; --ca names another CA.  It was
    "the server did not send the intermediate CA CN=Partner Root CA ... ask the partner to serve the
    full chain": the partner has nothing to fix, the root belongs in --ca."""
    _root, leaf, key = single_tier_server(tmp_path)
    with ScriptedHTTPSServer(pki, {"/": Reply()}) as srv:
        srv.ssl_context.load_cert_chain(leaf, key)
        report = diagnose(profile(pki, srv.url + "/"))
    failed = report.failed
    assert failed is not None and failed.key == "tls" and failed.error is not None
    assert "the intermediate CA CN=Partner Root CA" not in failed.error.message
    assert "issued by CN=Partner Root CA, which the server did not send" in failed.error.message
    assert failed.fix is not None
    assert failed.fix.startswith("if CN=Partner Root CA is the partner's root CA, add it to the file given with --ca")
    assert report.exit_code == ExitCode.TLS


def test_a_host_name_mismatch_with_the_right_ca_says_nothing_of_a_missing_intermediate(
    pki: TestPKI, tmp_path: Path
) -> None:
    """--ca holds the single-tier root, the URL names localhost (the certificate is for 127.0.0.1): step 2
    fails on the host name alone.  It added "sent its certificate alone, without the intermediate CA"."""
    root, leaf, key = single_tier_server(tmp_path)
    with ScriptedHTTPSServer(pki, {"/": Reply()}) as srv:
        srv.ssl_context.load_cert_chain(leaf, key)
        report = diagnose(profile(pki, f"https://localhost:{srv.port}/", ca=str(root)))
    failed = report.failed
    assert failed is not None and failed.key == "tls"
    assert isinstance(failed.error, HostnameMismatch)
    assert not any("alone" in verdict or "intermediate" in verdict for verdict in failed.verdicts), failed.verdicts


# -- finding 8: an identity without the clientAuth extended key usage --------------------------------


def test_a_rejected_identity_without_client_auth_fails_the_identity_step(pki: TestPKI) -> None:
    """It was identity ✓ (a verdict only) and acceptance ✗ with "check with the partner that this
    certificate is registered"."""
    with ScriptedHTTPSServer(pki, {"/": Reply()}) as srv:
        report = diagnose(profile(pki, srv.url + "/", identity=str(pki.client_no_eku_p12)))
    failed = report.failed
    assert failed is not None and failed.key == "identity" and failed.number == 4
    assert isinstance(failed.error, ClientCertificateRejected)
    assert failed.fix is not None and "clientAuth extended key usage" in failed.fix
    assert steps(report)["identity"].facts["client_auth"] is False


# -- finding 9: --tls-max below what the server speaks -----------------------------------------------


def test_tls_max_below_the_servers_minimum_says_raise_tls_max(pki: TestPKI) -> None:
    """It was "xfer offers TLS 1.2 and 1.3" and "the server may only speak TLS 1.0/1.1": both false."""
    with ScriptedHTTPSServer(pki, {"/": Reply()}) as srv:
        srv.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_3
        report = diagnose(profile(pki, srv.url + "/", tls_max="1.2"))
    failed = report.failed
    assert failed is not None and failed.key == "tls" and failed.error is not None
    assert "xfer offered TLS 1.2 (--tls-max 1.2)" in failed.error.message
    assert failed.fix is not None and "raise --tls-max" in failed.fix and "1.0/1.1" not in failed.fix


# -- finding 10: smaller wordings ------------------------------------------------------------------


def not_yet_valid_identity(pki: TestPKI, folder: Path) -> Path:
    """A self-issued client identity valid from two days on, under the PKI's password."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xfer-future")])
    start = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    password = pki.password_file.read_text().strip().encode()
    path = folder / "future.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"future", key, cert, None,
                                                           BestAvailableEncryption(password)))
    return path


def test_a_rejected_identity_that_is_not_valid_yet_points_at_the_clock(pki: TestPKI, tmp_path: Path) -> None:
    """The server's rejection kept its "check with the partner" hint; the dates are the cause."""
    with ScriptedHTTPSServer(pki, {"/": Reply()}) as srv:
        report = diagnose(profile(pki, srv.url + "/", identity=str(not_yet_valid_identity(pki, tmp_path))))
    failed = report.failed
    assert failed is not None and failed.key == "identity"
    assert isinstance(failed.error, ClientCertificateRejected)
    assert any("is not valid before" in verdict for verdict in failed.verdicts)
    assert failed.fix is not None and "clock" in failed.fix and "partner" not in failed.fix


def test_a_refused_pbsz_is_named_as_pbsz(pki: TestPKI, tmp_path: Path) -> None:
    """It read "(PROT P: 500 ...)" although PROT P was never sent."""
    with FakeFTPSServer(pki, root=tmp_path / "root", replies={"PBSZ 0": "500 PBSZ not understood."}) as srv:
        report = diagnose(profile(pki, srv.url, **ftp_login(tmp_path)))
    failed = report.failed
    assert failed is not None and failed.key == "protocol" and failed.error is not None
    assert "(PBSZ 0: 500 PBSZ not understood.)" in failed.error.message
    assert "PROT P:" not in failed.error.message


def test_an_accepted_root_is_named_as_the_ca_the_chain_reaches(pki: TestPKI, identity: Identity) -> None:
    """A server naming only the root: it was "your issuer CN=xfer test intermediate CA is among the CAs the
    server accepts (through CN=xfer test intermediate CA, sent along)", though the intermediate was not."""
    from cryptography import x509

    root = x509.load_pem_x509_certificate(pki.root_ca.read_bytes())
    found = Probe(facts=HandshakeFacts(certificate_requested=True,
                                       acceptable_client_ca_ders=[root.subject.public_bytes()]))
    step = identity_step(identity, found, warn_days=None)
    assert step.status == "ok" and step.facts["issuer_accepted"] is True
    assert step.verdicts == [f"your chain reaches {root.subject.rfc4514_string()}, which is among the CAs the "
                             "server accepts (through CN=xfer test intermediate CA,O=xfer test PKI, sent along)"]


def test_ssh_on_an_https_port_is_not_told_about_ftps_alone(pki: TestPKI) -> None:
    """The hint was "ftps:// is implicit TLS (port 990)", to someone who typed https:// at an SSH port."""

    def ssh(conn: socket.socket) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        time.sleep(1)

    with raw_server(ssh) as port:
        report = diagnose(profile(pki, f"https://127.0.0.1:{port}/"))
    failed = report.failed
    assert failed is not None and failed.key == "tls" and failed.fix is not None
    assert failed.fix.startswith("wrong port or scheme? something other than TLS answered")
    assert "SSH" in failed.fix


# -- an HTTP date without a zone (found fixing review Q, finding 7) --------------------------------------


def test_a_date_in_asctime_form_is_read_as_gmt(pki: TestPKI) -> None:
    """``Date: Sun Nov  6 08:49:37 1994`` (RFC 9110 5.6.7: recipients must take it; it is GMT):
    the clock step subtracted a naive time from an aware one, "unexpected internal error"."""
    stamp = "Sun Nov  6 08:49:37 1994"
    with ScriptedHTTPSServer(pki, {"/": Reply(headers={"Date": stamp}, body=b"[]")}) as srv:
        report = diagnose(profile(pki, srv.url + "/"))
    clock = steps(report)["clock"]
    assert clock.facts["server_date"] == "1994-11-06T08:49:37+00:00"
    assert clock.facts["skew_seconds"] > 30 * 365 * 86400
    assert any("the clocks differ" in verdict for verdict in clock.verdicts)


# -- review U, finding 7: an interim answer before the final one ---------------------------------------


@pytest.mark.parametrize(("identity", "fails"), [(True, "acceptance"), (False, "identity")])
def test_an_early_hints_answer_is_not_taken_for_the_servers_verdict(pki: TestPKI, identity: bool, fails: str) -> None:
    """``103`` then nginx's ``400 No required SSL certificate was sent``: step 5 passed with "answered ...
    (HTTP 103 Interim): it accepted the connection without a client certificate"."""
    page = b"<title>400 No required SSL certificate was sent</title>"
    changes = {} if identity else {"identity": None, "identity_password": None}
    with ScriptedHTTPSServer(pki, {"/": Reply(status=400, interim=(103,), body=page)}) as srv:
        report = diagnose(profile(pki, srv.url + "/", **changes))
    failed = report.failed
    assert failed is not None and failed.key == fails, [(s.key, s.status, s.lines) for s in report.steps]
    assert isinstance(failed.error, ClientCertificateRequired) and "400" in failed.error.message
    assert "HTTP 103" not in " ".join(line for step in report.steps for line in [*step.lines, *step.verdicts])


# -- review W: the HTTP probe against answers that are not HTTP, or never end ----------------------------


def _tls_answering(pki: TestPKI, answer: Callable[[ssl.SSLSocket], None]) -> Callable[[socket.socket], None]:
    context = server_context(pki, verify_mode=ssl.CERT_OPTIONAL)

    def handler(conn: socket.socket) -> None:
        tls = context.wrap_socket(conn, server_side=True)
        tls.recv(65536)
        answer(tls)

    return handler


@pytest.mark.parametrize("answer", [
    b"HELLO\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X%d: y\r\n" % n for n in range(150)) + b"\r\n",
], ids=["garbage", "huge-field", "many-fields"])
def test_an_answer_that_is_not_http_fails_step_5_not_doctor(pki: TestPKI, answer: bytes) -> None:
    """Was "unexpected internal error (BadStatusLine)", exit 1, and an empty --json."""

    def send(tls: ssl.SSLSocket) -> None:
        tls.sendall(answer)
        time.sleep(0.2)

    with raw_server(_tls_answering(pki, send)) as port:
        report = diagnose(profile(pki, f"https://127.0.0.1:{port}/"))
    failed = report.failed
    assert failed is not None and failed.key == "acceptance" and failed.error is not None
    assert "did not answer as an HTTP server" in failed.error.message
    assert report.exit_code == ExitCode.REMOTE


@pytest.mark.parametrize("kind", ["fields", "interim", "body"])
def test_a_trickled_answer_is_bounded_by_the_timeout(pki: TestPKI, kind: str) -> None:
    """A field, a 103 or a body byte every half second kept step 5 going for 20 s with --timeout 1."""
    first = {"fields": b"HTTP/1.1 200 OK\r\n", "interim": b"",
             "body": b"HTTP/1.1 200 OK\r\nContent-Length: 8192\r\n\r\n"}[kind]
    each = {"fields": b"X-Wait: 1\r\n", "interim": b"HTTP/1.1 103 Early Hints\r\n\r\n", "body": b"x"}[kind]

    answered: list[int] = []

    def trickle(tls: ssl.SSLSocket) -> None:
        answered.append(1)
        if len(answered) > 1:  # step 6's own connections (a slow body is no failure of a transfer's)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]")
            return
        tls.sendall(first)
        for _ in range(40):
            tls.sendall(each)
            time.sleep(0.5)

    began = time.monotonic()
    with raw_server(_tls_answering(pki, trickle)) as port:
        report = diagnose(profile(pki, f"https://127.0.0.1:{port}/", timeout=1))
    assert time.monotonic() - began < 6
    if kind == "body":  # the head came: step 5 has its verdict, the cut body is no failure
        assert steps(report)["acceptance"].status == "ok"
    else:
        failed = report.failed
        assert failed is not None and failed.key == "acceptance" and failed.error is not None
        assert "did not complete its answer in time" in failed.error.message


@pytest.mark.parametrize(("changes", "required", "key"), [
    ({"identity": "no_eku"}, False, "identity"),
    ({"identity": None, "identity_password": None}, True, "identity"),
    ({"ca": "untrusted"}, False, "tls"),
], ids=["no-client-auth", "no-identity-required", "wrong-ca"])
def test_through_an_https_proxy_a_certificate_failure_is_its_steps_not_the_protocols(
    pki: TestPKI, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], required: bool, key: str
) -> None:
    """Through an https:// proxy every TLS failure inside it was step 6's (review W), and a
    certificate without clientAuth got the partner's "registered" hint review R had removed."""
    from xfer.testing.proxy import ConnectProxy

    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_ca))  # (the system store trusts the proxy)
    named = {"no_eku": str(pki.client_no_eku_p12), "untrusted": str(pki.untrusted_ca)}
    changes = {name: named.get(value, value) if isinstance(value, str) else value for name, value in changes.items()}
    with ScriptedHTTPSServer(pki, {"/": Reply()}) as srv, ConnectProxy(pki=pki) as proxy:
        if required:
            srv.ssl_context.verify_mode = ssl.CERT_REQUIRED
        report = diagnose(profile(pki, srv.url + "/", proxy=proxy.url, **changes))
    failed = report.failed
    assert failed is not None and failed.key == key, (failed.key if failed else None)
    if changes.get("identity"):
        assert failed.fix is not None and "clientAuth" in failed.fix
    assert report.exit_code == ExitCode.TLS


@pytest.mark.parametrize(("status", "said"), [(401, "--username"), (403, "configure --identity")])
def test_a_refused_propfind_after_an_open_options_gets_its_verdict(pki: TestPKI, status: int, said: str) -> None:
    """IIS, and Apache's <LimitExcept OPTIONS>, answer OPTIONS without a login: the verdicts keyed
    on OPTIONS being refused too never came, and the fix spoke of a certificate never sent (review W)."""
    refused = Reply(status=status, headers={"WWW-Authenticate": 'Basic realm="files"'} if status == 401 else {},
                    body=b"no")
    replies = {"OPTIONS /": Reply(headers={"DAV": "1,2", "Allow": "OPTIONS, GET, PROPFIND"}), "/": refused,
               "PROPFIND /": refused}
    with ScriptedHTTPSServer(pki, replies) as srv:
        report = diagnose(profile(pki, f"davs://127.0.0.1:{srv.port}/", identity=None, identity_password=None))
    failed = report.failed
    assert failed is not None and failed.key == "protocol" and report.exit_code == ExitCode.REMOTE
    told = f"{' '.join(failed.verdicts)} {failed.fix}"
    assert said in told and "PROPFIND /" in told, told


def test_a_page_cut_by_the_deadline_is_still_read(pki: TestPKI) -> None:
    """nginx's 400 "No required SSL certificate was sent", its connection left open with no length:
    the body that came was dropped at the deadline, and with it the certificate verdict (review X)."""

    def page(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\r\n"
                    b"<html><head><title>400 No required SSL certificate was sent</title></head>")
        time.sleep(6)

    with raw_server(_tls_answering(pki, page)) as port:
        report = diagnose(profile(pki, f"https://127.0.0.1:{port}/", identity=None, identity_password=None, timeout=1))
    failed = report.failed
    assert failed is not None and failed.error is not None
    assert "requires a client certificate" in f"{failed.error.message} {' '.join(failed.verdicts)}"
