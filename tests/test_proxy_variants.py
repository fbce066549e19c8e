"""Proxies as real ones behave, and proxy settings as users write them (review S, session 21).

A proxy that says no (403, a login wanted: 407), one that never answers, one that ends its
answer's lines in LF alone, an https:// proxy whose certificate is not trusted; HTTPS_PROXY and
https_proxy set to different proxies, NO_PROXY with a port or a network; a password in a URL
that urlsplit cannot parse.  Each test fails on the code before review S's fixes.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

import xfer
from xfer.errors import (
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    ExitCode,
    IdentityError,
    ProxyDenied,
    ProxyRefused,
    TLSError,
    UsageError,
)
from xfer.net import choose_proxy, open_tcp, parse_proxy
from xfer.testing.endpoints import serve
from xfer.testing.pki import TestPKI
from xfer.testing.proxy import ConnectProxy, SOCKSProxy

_ENVIRONMENT = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def _read_head(connection: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def _answering(answer: bytes, seen: list[bytes]) -> Callable[[socket.socket], None]:
    def handler(connection: socket.socket) -> None:
        with connection:
            seen.append(_read_head(connection))
            connection.sendall(answer)

    return handler


@pytest.mark.parametrize("url", ["http://alice:s3cr#t@proxy.corp:3128", "http://alice:s3cr/t@proxy.corp:3128",
                                 "http://alice:s3cr?t@proxy.corp:3128", "http://alice:s3cr3t@proxy.corp:abc"])
def test_a_password_the_url_parser_misreads_is_never_echoed(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_proxy(url)
    assert "s3cr" not in caught.value.message + (caught.value.hint or "")
    assert "credentials" in caught.value.message


@pytest.mark.parametrize("url", ["socks5h://[::1", "http://[::1:3128", "http://proxy.corp:99999"])
def test_a_malformed_proxy_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError):
        parse_proxy(url)


def test_a_proxy_without_a_scheme_is_an_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """curl and requests take ``HTTPS_PROXY=proxy.corp:3128`` as http://."""
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp:3128")
    chosen = choose_proxy(None, "partner.example", environment=("HTTPS_PROXY",))
    assert chosen is not None and chosen.url == "http://proxy.corp:3128"


def test_the_lower_case_variable_wins_and_the_transfer_takes_the_proxy_xfer_chose(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https_proxy before HTTPS_PROXY (curl's and requests' order), and requests never reads them again."""
    with serve("https", pki, root=tmp_path / "served") as endpoint, ConnectProxy() as upper, ConnectProxy() as lower:
        monkeypatch.setenv("HTTPS_PROXY", upper.url)
        monkeypatch.setenv("https_proxy", lower.url)
        chosen = choose_proxy(None, "127.0.0.1", environment=("HTTPS_PROXY",))  # what doctor and errors name
        with xfer.connect(endpoint.profile, retries=0) as remote:
            remote.ls("/")
    assert chosen is not None and chosen.url == lower.url
    assert lower.tunnels and not upper.tunnels


@pytest.mark.parametrize("exempt", ["{address}", "127.0.0.0/8", "127.0.0.1/32"])
@pytest.mark.parametrize("protocol", ["https", "ftpes"])
def test_no_proxy_with_a_port_or_a_network_is_one_decision(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exempt: str, protocol: str
) -> None:
    """The SOCKS proxy in ALL_PROXY is not used for a host NO_PROXY names by address:port or by
    network (requests, deciding again, failed "Missing dependencies for SOCKS support")."""
    with serve(protocol, pki, root=tmp_path / "served") as endpoint, SOCKSProxy() as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", exempt.format(address=endpoint.address))
        with xfer.connect(endpoint.profile, retries=0) as remote:
            remote.ls("/")
    assert proxy.tunnels == []


@pytest.mark.parametrize("protocol", ["https", "ftpes"])
@pytest.mark.parametrize(("answer", "wording"), [
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "refused the tunnel"),
    (b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n"
     b"Content-Length: 0\r\n\r\n", "requires a login"),
])
def test_a_proxy_that_says_no_is_asked_once_and_named(
    pki: TestPKI, tmp_path: Path, retry_waits: list[float], scripted_proxy: Callable[..., str],
    protocol: str, answer: bytes, wording: str,
) -> None:
    seen: list[bytes] = []
    url = scripted_proxy(_answering(answer, seen))
    with serve(protocol, pki, root=tmp_path / "served") as endpoint, pytest.raises(ProxyDenied) as caught:
        with xfer.connect(endpoint.profile, proxy=url) as remote:
            remote.ls("/")
    assert len(seen) == 1 and retry_waits == []
    assert wording in caught.value.message and url in caught.value.message
    assert caught.value.exit_code == ExitCode.CONNECT


@pytest.mark.parametrize("protocol", ["https", "ftpes"])
def test_a_proxy_that_cannot_reach_the_server_is_tried_again(
    pki: TestPKI, tmp_path: Path, retry_waits: list[float], scripted_proxy: Callable[..., str], protocol: str
) -> None:
    seen: list[bytes] = []
    url = scripted_proxy(_answering(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", seen))
    with serve(protocol, pki, root=tmp_path / "served") as endpoint, pytest.raises(ProxyRefused) as caught:
        with xfer.connect(endpoint.profile, proxy=url, retries=1) as remote:
            remote.ls("/")
    assert not isinstance(caught.value, ProxyDenied)
    assert len(seen) == 2 and len(retry_waits) == 1


@pytest.mark.parametrize(("protocol", "kind"), [("https", "http"), ("sftp", "http"), ("sftp", "socks5h")])
def test_a_silent_proxy_is_named_not_the_server(
    pki: TestPKI, tmp_path: Path, scripted_proxy: Callable[..., str], protocol: str, kind: str
) -> None:
    held: list[socket.socket] = []

    def silent(connection: socket.socket) -> None:
        held.append(connection)
        connection.recv(4096)

    url = scripted_proxy(silent).replace("http://", f"{kind}://")
    with serve(protocol, pki, root=tmp_path / "served") as endpoint, pytest.raises(ConnectTimeout) as caught:
        with xfer.connect(endpoint.profile, proxy=url, timeout=1, retries=0) as remote:
            remote.ls("/")
    assert f"the proxy {url}" in caught.value.message, caught.value.message
    for connection in held:
        connection.close()


def test_an_untrusted_https_proxy_is_named_not_the_server(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An https:// proxy is checked against the system's CAs: its failure is not the partner's certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.untrusted_ca))
    with serve("https", pki, root=tmp_path / "served") as endpoint, ConnectProxy(pki=pki) as proxy:
        with pytest.raises(TLSError) as caught, xfer.connect(endpoint.profile, proxy=proxy.url, retries=0) as remote:
            remote.ls("/")
    assert f"the proxy {proxy.url}" in caught.value.message and "SSL_CERT_FILE" in (caught.value.hint or "")
    assert proxy.tunnels == []


def test_a_connect_answer_in_bare_lf_lines_opens_the_tunnel(
    pki: TestPKI, tmp_path: Path, scripted_proxy: Callable[..., str]
) -> None:
    """``HTTP/1.0 200 Connection established\\n\\n`` (http.client takes it; FTPS and SFTP waited for CRLF)."""

    def tunnel(connection: socket.socket) -> None:
        target = _read_head(connection).split(b" ")[1].decode()
        host, _, port = target.rpartition(":")
        with connection, socket.create_connection((host, int(port))) as upstream:
            connection.sendall(b"HTTP/1.0 200 Connection established\n\n")
            while True:
                ready, _, _ = select.select([connection, upstream], [], [], 10)
                if not ready:
                    return
                for side in ready:
                    try:
                        data = side.recv(65536)
                        if data:
                            (upstream if side is connection else connection).sendall(data)
                    except ConnectionError:  # a side that closed with a reset (the client's QUIT, then close)
                        return
                    if not data:
                        return

    url = scripted_proxy(tunnel)
    with serve("ftpes", pki, root=tmp_path / "served") as endpoint:
        (endpoint.root / "a.txt").write_bytes(b"a")
        with xfer.connect(endpoint.profile, proxy=url, timeout=3, retries=0) as remote:
            assert [entry.name for entry in remote.ls("/")] == ["a.txt"]


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "x." * 130 + "com"])
def test_a_name_socks5h_cannot_carry_is_a_connect_error(host: str) -> None:
    with SOCKSProxy() as proxy, pytest.raises(ConnectError, match="not a host name the SOCKS proxy"):
        open_tcp(host, 443, 3, proxy=parse_proxy(proxy.url))


def test_doctor_goes_through_an_https_proxy(pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transfers go through an https:// proxy (TLS inside TLS, urllib3's); doctor failed at step 1
    with "cannot carry this connection: use an http:// or socks5:// proxy for FTPS and SFTP"."""
    from xfer.doctor import diagnose

    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_ca))  # the system store trusts the proxy
    with serve("https", pki, root=tmp_path / "served") as endpoint, ConnectProxy(pki=pki) as proxy:
        report = diagnose(endpoint.profile, {"proxy": proxy.url})
    steps = {step.key: step for step in report.steps}
    assert report.failed is None and report.exit_code == 0, [(s.key, s.status, s.lines) for s in report.steps]
    assert steps["network"].facts["proxy"] == proxy.url and steps["protocol"].status == "ok"
    assert steps["tls"].status == "skip" and "inside the https:// proxy's TLS" in steps["tls"].lines[0]
    assert len(proxy.tunnels) >= 2  # the doctor's own, then the protocol step's


def test_doctor_names_an_untrusted_https_proxy(pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xfer.doctor import diagnose

    monkeypatch.setenv("SSL_CERT_FILE", str(pki.untrusted_ca))
    with serve("https", pki, root=tmp_path / "served") as endpoint, ConnectProxy(pki=pki) as proxy:
        report = diagnose(endpoint.profile, {"proxy": proxy.url})
    assert report.failed is not None and report.failed.key == "network"
    assert report.failed.error is not None and f"the proxy {proxy.url}" in report.failed.error.message
    assert report.exit_code == ExitCode.TLS


@pytest.mark.parametrize("protocol", ["ftpes", "ftps", "sftp"])
def test_doctor_refuses_an_https_proxy_for_ftps_and_sftp_at_step_1(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """Step 1 passed (a tunnel through the proxy's TLS), steps 2-5 said "the protocol step below makes
    that connection", and step 6 failed with "an https:// proxy cannot carry this connection"."""
    from xfer.doctor import diagnose

    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_ca))  # the system store trusts the proxy
    with serve(protocol, pki, root=tmp_path / "served") as endpoint, ConnectProxy(pki=pki) as proxy:
        report = diagnose(endpoint.profile, {"proxy": proxy.url})
    failed = report.failed
    assert failed is not None and failed.key == "network", [(s.key, s.status, s.lines) for s in report.steps]
    assert isinstance(failed.error, UsageError) and "cannot carry this connection" in failed.error.message
    assert report.exit_code == ExitCode.USAGE and proxy.tunnels == []


def _tls_proxy(scripted_proxy: Callable[..., str], handler: Callable[[socket.socket], None]) -> str:
    return scripted_proxy(handler).replace("http://", "https://")


def test_doctor_names_an_https_proxy_that_drops_its_handshake(
    pki: TestPKI, tmp_path: Path, scripted_proxy: Callable[..., str]
) -> None:
    """A proxy that reads the ClientHello and closes (restarting, overloaded) was "the TLS connection to the
    proxy failed" with the hint about trusted CAs, exit 4: nothing about trust was ever checked."""
    from xfer.doctor import diagnose

    def drop(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)

    url = _tls_proxy(scripted_proxy, drop)
    with serve("https", pki, root=tmp_path / "served") as endpoint:
        report = diagnose(endpoint.profile, {"proxy": url})
    failed = report.failed
    assert failed is not None and failed.key == "network" and failed.error is not None
    assert isinstance(failed.error, ConnectionDropped)
    assert f"the proxy {url} closed the connection during its TLS handshake" in failed.error.message
    assert "SSL_CERT_FILE" not in f"{failed.error.hint} {failed.fix}"
    assert report.exit_code == ExitCode.CONNECT


def test_doctor_names_an_https_proxy_that_never_answers_its_handshake(
    pki: TestPKI, tmp_path: Path, scripted_proxy: Callable[..., str]
) -> None:
    from xfer.doctor import diagnose

    held: list[socket.socket] = []
    url = _tls_proxy(scripted_proxy, held.append)
    with serve("https", pki, root=tmp_path / "served") as endpoint:
        report = diagnose(endpoint.profile, {"proxy": url, "timeout": 1})
    for connection in held:
        connection.close()
    failed = report.failed
    assert failed is not None and failed.key == "network" and failed.error is not None
    assert isinstance(failed.error, ConnectTimeout) and f"the proxy {url}" in failed.error.message
    assert "SSL_CERT_FILE" not in f"{failed.error.hint} {failed.fix}"
    assert report.exit_code == ExitCode.CONNECT


@pytest.mark.parametrize("problem", ["wrong-password", "expired"])
def test_doctor_through_an_https_proxy_fails_step_4_for_our_identity(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    """Step 4 was skipped ("not looked at") and step 6 failed with "cannot open client.p12: the password is
    wrong" (or the server's rejection of an expired certificate): the identity is step 4's, as on a direct path."""
    from xfer.doctor import diagnose

    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_ca))  # the system store trusts the proxy
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the password")
    wrong.chmod(0o600)
    changes = ({"identity_password": f"file:{wrong}"} if problem == "wrong-password"
               else {"identity": str(pki.client_expired_p12)})
    with serve("https", pki, root=tmp_path / "served") as endpoint, ConnectProxy(pki=pki) as proxy:
        report = diagnose(endpoint.profile, {"proxy": proxy.url, **changes})
    failed = report.failed
    assert failed is not None and failed.key == "identity" and failed.number == 4, [
        (s.key, s.status, s.lines) for s in report.steps]
    assert isinstance(failed.error, IdentityError)
    assert [s.key for s in report.steps][-1] == "identity" and report.exit_code == failed.error.exit_code


def test_doctor_through_an_https_proxy_warns_of_our_expiring_certificate(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--warn-days 30`` and a certificate with 10 days left: exit 0 and nothing listed through the proxy
    (exit 9 on a direct connection), as the list was made only after a probe the proxy path skips."""
    from xfer.doctor import diagnose

    monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_ca))  # the system store trusts the proxy
    with serve("https", pki, root=tmp_path / "served") as endpoint, ConnectProxy(pki=pki) as proxy:
        report = diagnose(endpoint.profile, {"proxy": proxy.url, "identity": str(pki.client_expiring_p12)},
                          warn_days=30)
    assert report.failed is None and report.exit_code == ExitCode.EXPIRING
    assert [line.split(" expires")[0] for line in report.expiring] == [
        "your certificate CN=xfer-client-expiring,O=xfer test PKI"]
