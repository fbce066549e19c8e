"""In-process proxies for tests: HTTP ``CONNECT``, plain (``http://``) or TLS-fronted (``https://``), and SOCKS5.

Through an ``https://`` proxy urllib3 runs the TLS to the origin *inside* the TLS to
the proxy (``SSLContext.wrap_bio``, an :class:`ssl.SSLObject`), a code path of its
own; this proxy lets tests drive both kinds::

    with ConnectProxy() as proxy:                       # http://127.0.0.1:PORT
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    with ConnectProxy(pki=pki) as proxy:                # https://127.0.0.1:PORT (PKI server cert)
        ...
    proxy.tunnels            # ["127.0.0.1:4443", ...]: one per CONNECT
    proxy.saw_plaintext_http # True if anything but CONNECT + ciphertext went through

It listens on 127.0.0.1 (or another loopback ``host``), tunnels only to loopback addresses,
runs each tunnel in a daemon thread, and refuses (``503``) more than ``max_tunnels`` at once.  When the
origin ends its side, the proxy ends the client's side the same way (a FIN, after a
close_notify of its own TLS for the ``https://`` kind): what the origin did to its TLS
stream, the client sees.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
from typing import TYPE_CHECKING

from ._accept import AcceptLoopServer
from ._serving import server_context

if TYPE_CHECKING:
    from .pki import TestPKI

__all__ = ["ConnectProxy", "SOCKSProxy"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_MAX_HEAD = 16 * 1024


class ConnectProxy(AcceptLoopServer):
    """A small threaded ``CONNECT`` proxy; with ``pki`` its clients talk TLS to it first."""

    def __init__(self, *, pki: TestPKI | None = None, max_tunnels: int = 8, idle_timeout: float = 10.0,
                 host: str = "127.0.0.1") -> None:
        # host: another loopback address (127.0.0.2) tells the proxy's address from the server's.
        super().__init__(max_connections=max_tunnels, host=host)
        self.tls_context: ssl.SSLContext | None = (
            server_context(pki, verify_mode=ssl.CERT_NONE) if pki is not None else None
        )
        self.tunnels: list[str] = []
        self.refused: list[str] = []
        self.saw_plaintext_http = False
        self.idle_timeout = idle_timeout

    @property
    def url(self) -> str:
        """The proxy URL to put in ``HTTPS_PROXY``."""
        scheme = "https" if self.tls_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def _refuse(self, raw: socket.socket) -> None:
        with contextlib.suppress(OSError):
            raw.sendall(b"HTTP/1.1 503 Too many tunnels\r\nContent-Length: 0\r\n\r\n")
        raw.close()

    def _connection(self, raw: socket.socket) -> None:
        raw.settimeout(self.idle_timeout)
        client = raw
        if self.tls_context is not None:
            client = self._track(self.tls_context.wrap_socket(raw, server_side=True))
        target = self._read_connect(client)
        if target is None:
            return
        host, _, port = target.rpartition(":")
        if host not in _LOOPBACK or not port.isdigit():
            # A test proxy never becomes an open relay to the outside world.
            self.refused.append(target)
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), self.idle_timeout)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with self._track(upstream):
            with self._lock:
                self.tunnels.append(target)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(client, upstream)

    def _read_connect(self, client: socket.socket) -> str | None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) > _MAX_HEAD:
                return None
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, _ = [*line.split(" ", 2), "", ""][:3]
        if method != "CONNECT":
            self.saw_plaintext_http = True
            client.sendall(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
            return None
        return target

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy both ways until the origin is done; pass its end on to the client."""
        while True:
            # SSLSocket may hold decrypted bytes select() cannot see.
            pending = isinstance(client, ssl.SSLSocket) and client.pending() > 0
            ready = [client] if pending else select.select([client, upstream], [], [], self.idle_timeout)[0]
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if sock is upstream and not data:
                    self._end_client(client)
                    return
                if not data:
                    # The client is done sending: tell the origin, keep relaying its answer.
                    with contextlib.suppress(OSError):
                        upstream.shutdown(socket.SHUT_WR)
                    self._relay_rest(upstream, client)
                    return
                if sock is client and data.startswith((b"GET ", b"PUT ", b"POST ", b"HTTP/1.")):
                    self.saw_plaintext_http = True
                (upstream if sock is client else client).sendall(data)

    def _relay_rest(self, upstream: socket.socket, client: socket.socket) -> None:
        while data := upstream.recv(65536):
            client.sendall(data)
        self._end_client(client)

    @staticmethod
    def _end_client(client: socket.socket) -> None:
        if isinstance(client, ssl.SSLSocket):
            # The proxy's own TLS ends properly; whatever the origin did stays inside.
            with contextlib.suppress(OSError, ValueError):
                client.settimeout(1.0)
                client.unwrap().shutdown(socket.SHUT_WR)
            return
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)


class SOCKSProxy(ConnectProxy):
    """A small threaded SOCKS5 proxy (RFC 1928, no authentication, ``CONNECT`` only).

    ``url`` is ``socks5h://`` (names resolved here) unless ``remote_dns=False``.  Tunnels go
    to loopback only; ``tunnels`` lists each as the client named it (``localhost:21``),
    ``refused`` what was turned away (reply 2, "not allowed by ruleset").
    """

    def __init__(self, *, remote_dns: bool = True, max_tunnels: int = 8, idle_timeout: float = 10.0) -> None:
        super().__init__(max_tunnels=max_tunnels, idle_timeout=idle_timeout)
        self.remote_dns = remote_dns

    @property
    def url(self) -> str:
        return f"{'socks5h' if self.remote_dns else 'socks5'}://127.0.0.1:{self.port}"

    def _refuse(self, raw: socket.socket) -> None:
        raw.close()

    def _connection(self, raw: socket.socket) -> None:
        raw.settimeout(self.idle_timeout)
        version, count = self._exactly(raw, 2)
        methods = self._exactly(raw, count)
        if version != 5 or 0 not in methods:
            raw.sendall(b"\x05\xff")  # no acceptable method
            return
        raw.sendall(b"\x05\x00")
        _version, command, _reserved, kind = self._exactly(raw, 4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, self._exactly(raw, 4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, self._exactly(raw, 16))
        else:
            host = self._exactly(raw, self._exactly(raw, 1)[0]).decode("idna")
        port = int.from_bytes(self._exactly(raw, 2), "big")
        target = f"{host}:{port}"
        if command != 1 or host not in _LOOPBACK:
            self.refused.append(target)
            raw.sendall(self._reply(2 if command == 1 else 7))
            return
        try:
            upstream = socket.create_connection((host, port), self.idle_timeout)
        except OSError:
            raw.sendall(self._reply(5))  # connection refused
            return
        with self._track(upstream):
            with self._lock:
                self.tunnels.append(target)
            raw.sendall(self._reply(0))
            self._pipe(raw, upstream)

    @staticmethod
    def _reply(code: int) -> bytes:
        return bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0])

    @staticmethod
    def _exactly(sock: socket.socket, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionResetError("the client left during the SOCKS exchange")
            data += chunk
        return data
