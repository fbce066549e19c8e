"""Issue 15, proxies: the ``proxy`` option carries every protocol, FTPS included, through an HTTP
CONNECT proxy or SOCKS5, with every TLS check intact inside the tunnel; the environment
(``ALL_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``) is honoured; what a proxy cannot carry is a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

import xfer
from tests.helpers import one_error, run
from xfer.adapters.sftp.session import SSHSession
from xfer.errors import ConnectError, PinMismatch, ProxyRefused, ServerCertificateUntrusted, UsageError
from xfer.net import choose_proxy, parse_proxy
from xfer.profiles import Profile
from xfer.testing.contract import make_file, sha256_of
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI
from xfer.testing.proxy import ConnectProxy, SOCKSProxy

PROTOCOLS = ["ftpes", "ftps", "https", "davs", "sftp"]
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=PROTOCOLS)
def endpoint(
    request: pytest.FixtureRequest, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    with serve(request.param, pki, root=tmp_path_factory.mktemp("root")) as running:
        yield running


@pytest.fixture(params=["connect", "socks5", "socks5h"])
def proxy(request: pytest.FixtureRequest) -> Iterator[ConnectProxy]:
    kind = request.param
    running = ConnectProxy() if kind == "connect" else SOCKSProxy(remote_dns=kind == "socks5h")
    with running:
        yield running


def _round_trip(endpoint: Endpoint, tmp_path: Path, **options: Any) -> None:
    source = tmp_path / "up.bin"
    digest = make_file(source, 300_000)
    with xfer.connect(endpoint.profile, **options) as remote:
        remote.put_file(source, "/via-proxy.bin")
        assert "via-proxy.bin" in [entry.name for entry in remote.ls("/")]
        remote.get_file("/via-proxy.bin", tmp_path / "back.bin")
    assert sha256_of(endpoint.root / "via-proxy.bin") == digest
    assert sha256_of(tmp_path / "back.bin") == digest


def _server_port(endpoint: Endpoint) -> int:
    return int(endpoint.address.rsplit(":", 1)[1])


def test_every_protocol_through_every_proxy_kind(endpoint: Endpoint, proxy: ConnectProxy, tmp_path: Path) -> None:
    _round_trip(endpoint, tmp_path, proxy=proxy.url)
    ports = {int(target.rsplit(":", 1)[1]) for target in proxy.tunnels}
    assert _server_port(endpoint) in ports
    if endpoint.protocol.startswith("ftp"):
        # Control and data connections alike: a data connection outside the tunnel would
        # fail behind a real proxy (and bypass it here).
        assert len(proxy.tunnels) >= 4 and len(ports) >= 2, proxy.tunnels
    assert not proxy.saw_plaintext_http


def test_all_proxy_from_the_environment(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SOCKSProxy() as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        _round_trip(endpoint, tmp_path)
        assert proxy.tunnels


def test_no_proxy_exempts_the_host(endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SOCKSProxy() as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        _round_trip(endpoint, tmp_path)
        assert proxy.tunnels == []


def test_direct_ignores_the_environment(endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = _closed_port()
    monkeypatch.setenv("ALL_PROXY", f"socks5h://127.0.0.1:{dead}")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{dead}")
    _round_trip(endpoint, tmp_path, proxy="direct")


def test_pin_is_checked_inside_the_tunnel(endpoint: Endpoint, proxy: ConnectProxy) -> None:
    # An SSH host key is pinned as ssh-keygen prints it (SHA256:BASE64 of 32 bytes).
    pin = "SHA256:" + "A" * 43 if endpoint.protocol == "sftp" else "sha256:" + "0" * 64
    with pytest.raises(PinMismatch):
        with xfer.connect(endpoint.profile, proxy=proxy.url, pin=pin) as remote:
            remote.ls("/")
    assert proxy.tunnels  # it went through the proxy and was refused there, end to end


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_unreachable_proxy_is_a_connect_error_naming_the_proxy(endpoint: Endpoint, kind: str) -> None:
    """Nothing listens at the proxy: not "the proxy refused the tunnel to <server>" (review A,
    defect 5: HTTPS and WebDAV said so for an http:// proxy), but the proxy's own address."""
    dead = _closed_port()
    with pytest.raises(ConnectError, match=f"cannot reach the proxy {kind}://127.0.0.1:{dead}: ") as caught:
        with xfer.connect(endpoint.profile, proxy=f"{kind}://127.0.0.1:{dead}", retries=0) as remote:
            remote.ls("/")
    assert "Connection refused" in str(caught.value)
    assert not isinstance(caught.value, ProxyRefused)
    assert caught.value.exit_code == 5


@pytest.mark.parametrize("kind", ["connect", "socks5h"])
def test_proxy_that_cannot_reach_the_server_says_so(pki: TestPKI, kind: str) -> None:
    dead = _closed_port()
    running = ConnectProxy() if kind == "connect" else SOCKSProxy()
    with running as proxy:
        with pytest.raises(ProxyRefused, match=f"127.0.0.1:{dead}") as caught:
            with xfer.connect(f"ftpes://127.0.0.1:{dead}/", proxy=proxy.url, ca=str(pki.root_ca)) as remote:
                remote.ls("/")
    assert "502" in caught.value.message or "refused by the destination" in caught.value.message


def test_https_proxy_cannot_carry_ftps(pki: TestPKI, tmp_path: Path) -> None:
    with serve("ftpes", pki, root=tmp_path) as endpoint:
        with pytest.raises(UsageError, match="cannot carry"):
            with xfer.connect(endpoint.profile, proxy="https://127.0.0.1:3128") as remote:
                remote.ls("/")


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ftp://127.0.0.1:21", "unsupported kind ftp://"),
        ("socks4://127.0.0.1:1080", "unsupported kind socks4://"),
        ("http://user:s3cret@127.0.0.1:3128", "credentials"),
        ("socks5://", "names no host"),
    ],
)
def test_bad_proxy_urls_are_usage_errors_without_the_password(url: str, match: str) -> None:
    with pytest.raises(UsageError, match=match) as caught:
        parse_proxy(url)
    assert "s3cret" not in str(caught.value) and "s3cret" not in (caught.value.hint or "")


def test_choose_proxy_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    ALL = ("ALL_PROXY",)  # what FTPS and SFTP read
    monkeypatch.setenv("ALL_PROXY", "socks5h://proxy.example:1080")
    assert str(choose_proxy(None, "partner.example", environment=ALL)) == "socks5h://proxy.example:1080"
    assert choose_proxy("direct", "partner.example", environment=ALL) is None
    assert str(choose_proxy("http://other:3128", "partner.example", environment=ALL)) == "http://other:3128"
    monkeypatch.setenv("NO_PROXY", ".example,10.0.0.1:21")
    assert choose_proxy(None, "partner.example", environment=ALL) is None
    assert choose_proxy(None, "10.0.0.1", environment=ALL) is None
    assert choose_proxy(None, "example.org", environment=ALL) is not None
    assert choose_proxy(None, "partner.example", environment=()) is None
    monkeypatch.setenv("ALL_PROXY", "gopher://x")
    monkeypatch.delenv("NO_PROXY")
    with pytest.raises(UsageError, match=r"^ALL_PROXY: "):
        choose_proxy(None, "partner.example", environment=ALL)


def test_cli_proxy_flag(pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve("ftpes", pki, root=tmp_path / "root") as endpoint, SOCKSProxy() as proxy:
        (endpoint.root / "hello.txt").write_text("hi")
        code, out, err = run(capsys, "ls", endpoint.url, "--proxy", proxy.url, "--identity",
                             str(endpoint.identity), "--identity-password", endpoint.identity_password,
                             "--ca", str(endpoint.ca), *_login(endpoint))
        assert code == 0, err
        assert "hello.txt" in out
        assert proxy.tunnels


def _login(endpoint: Endpoint) -> list[str]:
    username = endpoint.profile.get("username")
    password = endpoint.profile.get("password")
    return ["--username", username, "--password", password] if username else []


def test_doctor_goes_through_the_proxy(endpoint: Endpoint, proxy: ConnectProxy) -> None:
    from xfer.doctor import diagnose

    report = diagnose(endpoint.profile, {"proxy": proxy.url})
    network = report.steps[0]
    assert network.facts["proxy"] == proxy.url
    assert report.failed is None, [(s.key, s.status, s.lines) for s in report.steps]
    assert proxy.tunnels


@pytest.fixture
def sftp_profile(pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Endpoint, str]]:
    """The in-process SFTP server and a saved profile ``partner-sftp`` for it."""
    import tomli_w

    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # never the user's ~/.ssh
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with serve("sftp", pki, root=tmp_path / "root", name="partner-sftp") as endpoint:
        (folder / "partner-sftp.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
        (endpoint.root / "hello.txt").write_text("hi")
        yield endpoint, "partner-sftp"


@pytest.mark.parametrize("kind", ["connect", "socks5h"])
def test_cli_sftp_goes_through_the_proxy(
    sftp_profile: tuple[Endpoint, str], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`xfer ls sftp-profile:/ --proxy URL` went direct, silently (issue 15): now through the tunnel."""
    endpoint, name = sftp_profile
    with ConnectProxy() if kind == "connect" else SOCKSProxy() as proxy:
        code, out, err = run(capsys, "ls", f"{name}:/", "--proxy", proxy.url)
        assert code == 0, err
        assert "hello.txt" in out
        assert [int(target.rsplit(":", 1)[1]) for target in proxy.tunnels] == [_server_port(endpoint)]


def test_cli_sftp_dead_proxy_exits_5(sftp_profile: tuple[Endpoint, str], capsys: pytest.CaptureFixture[str]) -> None:
    _endpoint, name = sftp_profile
    dead = _closed_port()
    code, _out, err = run(capsys, "ls", f"{name}:/", "--proxy", f"http://127.0.0.1:{dead}", "--retries", "0")
    assert code == 5
    one_error(err, f"cannot reach the proxy http://127.0.0.1:{dead}")


def test_an_https_all_proxy_names_its_origin_and_the_way_out(
    sftp_profile: tuple[Endpoint, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ALL_PROXY=https://... (fine for the HTTP family) cannot carry SFTP: the error says the value came
    from the environment and how to go direct (proxy = "direct", NO_PROXY); with NO_PROXY it works."""
    endpoint, name = sftp_profile
    monkeypatch.setenv("ALL_PROXY", "https://127.0.0.1:9")
    code, _out, err = run(capsys, "ls", f"{name}:/", "--retries", "0")
    assert code == 2
    one_error(err, "https://127.0.0.1:9, from the ALL_PROXY environment variable")
    assert 'proxy = "direct" in the profile, or NO_PROXY=127.0.0.1 in the environment' in err
    code, _out, err = run(capsys, "ls", f"{name}:/", "--proxy", "https://127.0.0.1:9", "--retries", "0")
    assert code == 2
    one_error(err, "https://127.0.0.1:9, from the proxy option")
    assert "NO_PROXY" not in err
    monkeypatch.setenv("NO_PROXY", endpoint.server.host)
    code, out, err = run(capsys, "ls", f"{name}:/")
    assert code == 0 and "hello.txt" in out, err


def test_sftp_reads_all_proxy_not_https_proxy(
    sftp_profile: tuple[Endpoint, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As FTPS: ALL_PROXY (and NO_PROXY); HTTPS_PROXY is the HTTP family's.  `doctor` takes the same way."""
    from xfer.doctor import diagnose

    _endpoint, name = sftp_profile
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{_closed_port()}")
    with SOCKSProxy() as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        code, out, err = run(capsys, "ls", f"{name}:/")
        assert code == 0, err
        assert "hello.txt" in out and len(proxy.tunnels) == 1
        report = diagnose(name)
        assert report.failed is None, [(s.key, s.status, s.lines) for s in report.steps]
        assert report.steps[0].facts["proxy"] == proxy.url
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        tunnels = len(proxy.tunnels)
        code, out, err = run(capsys, "ls", f"{name}:/")
        assert code == 0, err
        assert len(proxy.tunnels) == tunnels


def test_sftp_untrusted_host_key_is_refused_through_the_proxy(pki: TestPKI, tmp_path: Path) -> None:
    """Host-key trust is checked against the real host name inside the tunnel; the refusal quotes
    the key, learnt by a second connection that takes the proxy too (never a direct one)."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with serve("sftp", pki, root=tmp_path / "root") as endpoint, ConnectProxy() as proxy:
        table = endpoint.profile.to_toml()
        table["sftp"] = {**table.get("sftp", {}), "known_hosts": str(empty)}
        with pytest.raises(ServerCertificateUntrusted, match="SHA256:") as caught:
            with xfer.connect(Profile.from_mapping("partner", table), proxy=proxy.url) as remote:
                remote.ls("/")
        assert "unknown SSH host key ssh-ed25519 SHA256:" in caught.value.message
        assert "a CA known_hosts does not trust" in caught.value.message
        assert len(proxy.tunnels) == 2, proxy.tunnels  # the refused connection and the key's probe


def test_sftp_known_hosts_line_for_the_proxy_address_does_not_vouch_for_the_server(
    pki: TestPKI, tmp_path: Path
) -> None:
    """Through a proxy asyncssh's peer address is the proxy's: a known_hosts line for the proxy's
    own address (127.0.0.2 here, the server on 127.0.0.1) must not trust the partner behind it.
    A line for the server's name does, and is reported as the source."""
    with serve("sftp", pki, root=tmp_path / "root", host_certificate=False) as endpoint, \
            ConnectProxy(host="127.0.0.2") as proxy:
        server = endpoint.server
        known_hosts = tmp_path / "known_hosts"
        table = endpoint.profile.to_toml()
        table["sftp"] = {**table.get("sftp", {}), "known_hosts": str(known_hosts)}
        profile = Profile.from_mapping("partner", table)
        known_hosts.write_text(server.keys.known_hosts_line("127.0.0.2", server.port))
        for route in ("direct", proxy.url):
            with pytest.raises(ServerCertificateUntrusted, match="unknown SSH host key"):
                with xfer.connect(profile, proxy=route) as remote:
                    remote.ls("/")
        assert proxy.tunnels, "the refused connection went through the proxy"
        known_hosts.write_text(server.keys.known_hosts_line(server.host, server.port))
        with xfer.connect(profile, proxy=proxy.url) as remote:
            remote.ls("/")
            assert remote.connection_facts()["host_key_trusted_by"] == "known_hosts"


def test_sftp_tunnel_cancelled_on_a_stalled_proxy_returns_and_closes_the_late_socket() -> None:
    """Ctrl-C while a proxy stalls the CONNECT: the SSH session's task is cancelled at once; the
    thread still blocked in the exchange is a daemon (interpreter exit does not wait for it, as it
    did for asyncio's default executor), and the socket it returns late is closed, not leaked."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    answer = threading.Event()

    def stall() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)
        conn.recv(4096)  # the CONNECT
        answer.wait(30)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

    threading.Thread(target=stall, daemon=True).start()
    session = SimpleNamespace(settings=SimpleNamespace(
        proxy=f"http://127.0.0.1:{listener.getsockname()[1]}", host="127.0.0.1", port=22, timeout=30.0,
        server="127.0.0.1:22"))
    before = set(threading.enumerate())

    async def cancel_while_stalled() -> None:
        task = asyncio.ensure_future(SSHSession._tunnel(cast(Any, session)))
        while not accepted:
            await asyncio.sleep(0.01)
        assert all(thread.daemon for thread in set(threading.enumerate()) - before)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with listener, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(cancel_while_stalled())
            answer.set()  # now open_tcp returns its socket, to a task that is gone
            accepted[0].settimeout(10)
            assert accepted[0].recv(1) == b"", "the late socket was closed (the proxy sees its FIN)"
        finally:
            loop.close()
            accepted[0].close()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.parametrize("kind", ["connect", "socks5h"])
def test_as2_through_the_proxy_option(pki: TestPKI, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AS2 send (mTLS, signed, encrypted, compressed, signed MDN) through an HTTP CONNECT
    and a SOCKS5h proxy: the message arrives whole, the tunnel leads to the AS2 server only."""
    monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path / "data"))  # the receipt store
    source = tmp_path / "invoice.edi"
    source.write_bytes(b"UNA:+.? 'UNB+UNOC:3+ME+YOU'\n" * 500)
    with serve("as2", pki, root=tmp_path / "inbox") as endpoint, (
        ConnectProxy() if kind == "connect" else SOCKSProxy()
    ) as proxy:
        with xfer.connect(endpoint.profile, proxy=proxy.url) as remote:
            result = remote.put_file(source, "/invoice.edi")
        received = endpoint.server.received
        assert [r.payload for r in received] == [source.read_bytes()]
        assert received[0].disposition == "processed"
        assert result.details.get("warning") is None
        assert {int(target.rsplit(":", 1)[1]) for target in proxy.tunnels} == {_server_port(endpoint)}
        assert not proxy.saw_plaintext_http
    assert list((tmp_path / "data").rglob("*.json"))  # the send's receipt, in the test's folder


# -- review U (session 21): the proxy changes of review S, read again --------------------------------


@pytest.mark.parametrize(("url", "port"), [("http://proxy.corp", 80), ("https://proxy.corp", 443),
                                           ("socks5h://proxy.corp", 1080), ("proxy.corp", 80)])
def test_a_proxy_without_a_port_takes_its_schemes(url: str, port: int) -> None:
    """As urllib3 and requests read it: HTTPS_PROXY=http://proxy.corp went to port 80 until xfer
    decided the proxy itself, which then gave it 8080 (and FTPS and SFTP always had)."""
    proxy = parse_proxy(url)
    assert proxy is not None and proxy.port == port


@pytest.mark.parametrize("entry", ["[::1]:8443", "[::1]", "::1", "::1/128", "localhost:21, [::1]:8443"])
def test_no_proxy_names_an_ipv6_address_with_or_without_a_port(
    monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5h://proxy.corp")
    monkeypatch.setenv("NO_PROXY", entry)
    assert choose_proxy(None, "::1", environment=("ALL_PROXY",)) is None
    assert choose_proxy(None, "::2", environment=("ALL_PROXY",)) is not None


def _closing_after_the_request(accepted: list[socket.socket]) -> Callable[[socket.socket], None]:
    """A proxy that reads what it is sent (a ClientHello, a CONNECT) and closes without a word."""

    def handler(connection: socket.socket) -> None:
        accepted.append(connection)
        with contextlib.suppress(OSError), connection:
            connection.recv(65536)

    return handler


def test_an_https_proxy_that_drops_its_own_handshake_is_tried_again(
    capsys: pytest.CaptureFixture[str], retry_waits: list[float], scripted_proxy: Callable[..., str]
) -> None:
    """A proxy closing in its TLS handshake (a restart, a full queue) is a dropped connection, tried
    again (exit 5), not a trust error about its certificate (exit 4, never retried)."""
    accepted: list[socket.socket] = []
    url = scripted_proxy(_closing_after_the_request(accepted)).replace("http://", "https://")
    code, _, err = run(capsys, "ls", "https://127.0.0.1:9/", "--proxy", url, "--retries", "2")
    assert code == 5, err
    assert "closed the connection during its TLS handshake" in err and "SSL_CERT_FILE" not in err
    assert len(accepted) == 3 and len(retry_waits) == 2


@pytest.mark.parametrize("protocol", ["https", "ftpes"])
def test_a_proxy_that_closes_on_connect_is_named_not_the_server(
    pki: TestPKI, tmp_path: Path, protocol: str, scripted_proxy: Callable[..., str]
) -> None:
    """HTTPS said "the connection to <server> was dropped" (FTPS named the proxy already)."""
    url = scripted_proxy(_closing_after_the_request([]))
    with serve(protocol, pki, root=tmp_path / "served") as endpoint, pytest.raises(ProxyRefused) as caught:
        with xfer.connect(endpoint.profile, proxy=url, retries=0) as remote:
            remote.ls("/")
    assert f"the proxy {url} closed the connection while opening a tunnel" in caught.value.message


@pytest.mark.parametrize("kind", ["http", "socks5h"])
def test_a_proxy_trickling_its_answer_is_bounded_by_the_timeout(pki: TestPKI, tmp_path: Path, kind: str) -> None:
    """One byte of the answer every half second held FTPS for as long as the proxy went on (review W),
    and each byte of a SOCKS reply had a whole timeout of its own (review X)."""
    listener = socket.create_server(("127.0.0.1", 0))
    answer = (b"HTTP/1.1 200 Connection established\r\nX-Padding: " + b"x" * 100 if kind == "http"
              else b"\x05\x00" + b"\x05\x00\x00\x03\x40" + b"x" * 66)

    def trickle() -> None:
        with contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                for byte in answer:
                    connection.sendall(bytes([byte]))
                    time.sleep(0.45)

    threading.Thread(target=trickle, daemon=True).start()
    began = time.monotonic()
    with listener, serve("ftpes", pki, root=tmp_path / "served") as endpoint, pytest.raises(ConnectError) as caught:
        with xfer.connect(endpoint.profile, proxy=f"{kind}://127.0.0.1:{listener.getsockname()[1]}", timeout=1,
                          retries=0) as remote:
            remote.ls("/")
    assert time.monotonic() - began < 3.5  # two timeouts, and the servers' start
    assert "tunnel request" in caught.value.message, caught.value.message
