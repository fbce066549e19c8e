"""The fault-injecting proxy of xfer.testing: it forwards, counts, and breaks exactly where told."""

from __future__ import annotations

import errno
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import xfer
from xfer.errors import ConnectError, IntegrityError
from xfer.testing import pytest_plugin
from xfer.testing.endpoints import Endpoint
from xfer.testing.faults import PROXY_HOST, Cut, FaultProxy, free_ports, listen_at
from xfer.testing.pytest_plugin import FaultyServer

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Sender(socketserver.BaseRequestHandler):
    """Reads one line (a byte count), answers with that many payload bytes, echoes the rest."""

    def handle(self) -> None:
        line = b""
        while not line.endswith(b"\n"):
            chunk = self.request.recv(1)
            if not chunk:
                return
            line += chunk
        self.request.sendall(PAYLOAD[: int(line)])
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Sender)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _fetch(address: tuple[str, int], size: int, *, timeout: float = 5.0) -> bytes:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(f"{size}\n".encode())
        received = bytearray()
        while len(received) < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return bytes(received)


def test_forwards_untouched_and_counts(upstream: tuple[str, int]) -> None:
    with FaultProxy(upstream) as proxy:
        assert _fetch(proxy.address, len(PAYLOAD)) == PAYLOAD
        proxy.connections[0].closed.wait(5)
    record = proxy.connections[0]
    assert record.bytes_down == len(PAYLOAD)
    assert record.bytes_up == len(f"{len(PAYLOAD)}\n")
    assert not record.was_cut


def test_fin_cut_delivers_exactly_the_planned_bytes(upstream: tuple[str, int]) -> None:
    with FaultProxy(upstream, plan={0: Cut("down", after=300_001)}) as proxy:
        received = _fetch(proxy.address, len(PAYLOAD))
    assert received == PAYLOAD[:300_001]
    assert proxy.connections[0].was_cut


def test_rst_cut_resets(upstream: tuple[str, int]) -> None:
    with FaultProxy(upstream, plan={0: Cut("down", after=1000, how="rst")}) as proxy:
        with pytest.raises(ConnectionResetError):
            with socket.create_connection(proxy.address, timeout=5) as sock:
                sock.sendall(f"{len(PAYLOAD)}\n".encode())
                while sock.recv(65536):
                    pass


def test_stall_stops_forwarding(upstream: tuple[str, int]) -> None:
    with FaultProxy(upstream, plan={0: Cut("down", after=10, how="stall", stall=3)}) as proxy:
        with pytest.raises(TimeoutError):
            _fetch(proxy.address, len(PAYLOAD), timeout=0.5)


def test_plan_callable_and_later_connections_untouched(upstream: tuple[str, int]) -> None:
    seen: list[tuple[int, int]] = []

    def plan(number: int, port: int) -> Cut | None:
        seen.append((number, port))
        return Cut("down", after=10) if number == 0 else None

    with FaultProxy(upstream, plan=plan) as proxy:
        assert len(_fetch(proxy.address, 1000)) == 10
        assert _fetch(proxy.address, 1000) == PAYLOAD[:1000]
    assert seen == [(0, proxy.port), (1, proxy.port)]


def test_same_port_numbers_on_another_loopback_address(upstream: tuple[str, int]) -> None:
    """FTP's layout: listen on 127.0.0.2 at the upstream's own port number."""
    port = upstream[1]
    with FaultProxy(("127.0.0.1", 0), listen_host="127.0.0.2", ports=[port]) as proxy:
        assert proxy.address == ("127.0.0.2", port)
        assert _fetch(proxy.address, 5000) == PAYLOAD[:5000]


def _through(endpoint: Endpoint, proxy: FaultProxy) -> str:
    return endpoint.url.replace(endpoint.address, f"{proxy.listen_host}:{proxy.port}")


def test_https_download_cut_mid_body_fails_and_keeps_the_old_file(
    xfer_https_server: Endpoint, tmp_path: Path
) -> None:
    """The proxy against a real xfer transfer: a cut body is an error, never a short file."""
    (xfer_https_server.root / "big.bin").write_bytes(PAYLOAD * 4)
    target = tmp_path / "big.bin"
    target.write_bytes(b"old")
    host, port = xfer_https_server.address.rsplit(":", 1)
    with FaultProxy((host, int(port)), plan={0: Cut("down", after=1_500_000)}) as proxy:
        with pytest.raises((ConnectError, IntegrityError)):
            with xfer.connect(
                _through(xfer_https_server, proxy),
                identity=str(xfer_https_server.identity),
                identity_password=xfer_https_server.identity_password,
                ca=str(xfer_https_server.ca),
                retries=0,  # one try: what a cut does (retries resume it: tests/test_retry_http.py)
            ) as remote:
                remote.get_file("/big.bin", target)
    assert proxy.connections[0].was_cut
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]


def test_listeners_handed_on_stay_open_for_the_next_proxy(upstream: tuple[str, int]) -> None:
    """A FaultyServer's sockets on 127.0.0.2 outlive each scenario's proxy: no number is given
    up and bound again (another test's socket could take it in between: EADDRINUSE)."""
    port = upstream[1]
    listener = listen_at("127.0.0.2", port)
    with listener:
        for _ in range(2):
            with FaultProxy(upstream, listen_host="127.0.0.2", ports=[port], listeners={port: listener}) as proxy:
                assert _fetch(proxy.address, 3000) == PAYLOAD[:3000]
            assert listener.fileno() != -1


def test_free_ports_are_free_on_the_proxy_address_too() -> None:
    for port in free_ports(4):
        with listen_at("127.0.0.1", port), listen_at(PROXY_HOST, port):
            pass


def test_faulty_server_starts_another_server_when_a_port_is_taken_on_the_proxy_address(
    xfer_faulty: Callable[..., FaultyServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server picks its port on 127.0.0.1 only; when 127.0.0.2 has it taken, another server starts."""
    tried: list[int] = []

    def taken_once(host: str, port: int) -> socket.socket:
        tried.append(port)
        if len(tried) == 1:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        return listen_at(host, port)

    monkeypatch.setattr(pytest_plugin, "listen_at", taken_once)
    server = xfer_faulty("ftpes")
    assert len(tried) == 1 + 1 + len(server.passive_ports)  # the refused one, then control and passive
    (tmp_path / "a.txt").write_bytes(b"through the second server")
    with server.through() as (proxy, profile), xfer.connect(profile) as remote:
        remote.put_file(tmp_path / "a.txt", "/a.txt")
    assert (server.endpoint.root / "a.txt").read_bytes() == b"through the second server"
    assert proxy.connections
