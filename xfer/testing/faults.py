"""A fault-injecting TCP proxy: cut, reset or stall connections at a chosen byte, and count bytes.

Put it between xfer and a server to prove what happens when the network fails mid-transfer::

    from xfer.testing.faults import Cut, FaultProxy

    plan = {0: Cut("down", after=1_000_000)}          # first connection: cut after 1 MB to the client
    with FaultProxy(("127.0.0.1", server_port), plan=plan) as proxy:
        ...connect xfer to proxy.address...
    proxy.connections[0].bytes_down                   # what actually went through

A plan maps the connection's number (0, 1, 2... in accept order, across every port of the proxy)
to a :class:`Cut`, or is a callable ``plan(number, port) -> Cut | None``.  Connections without a
cut are forwarded untouched.

FTP needs more than one port: the data connection goes to the control connection's peer address
at the port the server announced.  :class:`FaultProxy` can listen on several ports of another
loopback address (``127.0.0.2``) with the *same* numbers as the server's control and passive
ports, so the announced ports lead back through the proxy.  (The server certificate must then
name ``127.0.0.2``; :func:`xfer.testing.pki.create_pki` includes it.)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ConnectionRecord", "Cut", "FaultProxy", "Plan", "free_ports", "in_front_of", "listen_at"]

Direction = Literal["up", "down"]
How = Literal["fin", "rst", "stall"]

_BUFFER = 64 * 1024


@dataclass(frozen=True)
class Cut:
    """Break one connection once ``after`` bytes went ``direction`` (up: to the server).

    ``how``: ``"fin"`` closes both sides cleanly at the TCP level (a TLS peer sees EOF without
    close_notify), ``"rst"`` resets them, ``"stall"`` stops forwarding in both directions for
    ``stall`` seconds and then closes with a FIN (a peer with no timeout hangs that long).
    """

    direction: Direction
    after: int
    how: How = "fin"
    stall: float = 30.0


Plan = Mapping[int, Cut] | Callable[[int, int], Cut | None]


@dataclass
class ConnectionRecord:
    """What one proxied connection carried."""

    number: int
    port: int
    bytes_up: int = 0
    bytes_down: int = 0
    cut: Cut | None = None
    #: True once the planned cut happened (False if the connection ended first).
    was_cut: bool = False
    closed: threading.Event = field(default_factory=threading.Event, repr=False)


class FaultProxy:
    """Threads that forward TCP connections to ``upstream``, breaking them per ``plan``.

    ``ports``: listen on these port numbers (each forwarded to the same number upstream, for
    FTP); by default one free port forwarded to ``upstream``'s port.  ``listeners``: sockets
    already listening at those numbers (:func:`listen_at`), which the proxy accepts on but
    leaves open when it closes, so the next proxy in front of the same server can take them
    over (a number given up and bound again can be taken in between, by another test).
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        plan: Plan | None = None,
        listen_host: str = "127.0.0.1",
        ports: Iterable[int] | None = None,
        listeners: Mapping[int, socket.socket] | None = None,
    ) -> None:
        self.upstream_host, self.upstream_port = upstream
        self.listen_host = listen_host
        self._plan: Plan = plan if plan is not None else {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self.connections: list[ConnectionRecord] = []
        self._listeners: dict[int, tuple[socket.socket, int]] = {}  # listen port -> (socket, upstream port)
        self._borrowed = dict(listeners or {})
        if ports is None:
            sock = self._listen(0)
            self._listeners[sock.getsockname()[1]] = (sock, self.upstream_port)
        else:
            for port in ports:
                borrowed = self._borrowed.get(port)
                self._listeners[port] = (borrowed if borrowed is not None else self._listen(port), port)

    # -- lifecycle -------------------------------------------------------------

    def _listen(self, port: int) -> socket.socket:
        return listen_at(self.listen_host, port)

    def start(self) -> Self:
        for port, (sock, upstream_port) in self._listeners.items():
            self._spawn(self._accept_loop, sock, port, upstream_port)
        return self

    def close(self) -> None:
        """Stop accepting, break every open connection and wait for the threads.  Idempotent."""
        self._stop.set()
        for sock, _ in self._listeners.values():
            if sock not in self._borrowed.values():
                sock.close()
        with self._lock:
            for sock in list(self._open):
                _close(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect (the first listening port)."""
        return self.listen_host, next(iter(self._listeners))

    @property
    def port(self) -> int:
        return self.address[1]

    def bytes_total(self) -> int:
        """All bytes carried in both directions over every connection so far."""
        with self._lock:
            return sum(c.bytes_up + c.bytes_down for c in self.connections)

    # -- forwarding ------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="xfer-fault-proxy")
        self._threads.append(thread)
        thread.start()

    def _cut_for(self, number: int, port: int) -> Cut | None:
        if callable(self._plan):
            return self._plan(number, port)
        return self._plan.get(number)

    def _accept_loop(self, listener: socket.socket, port: int, upstream_port: int) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection((self.upstream_host, upstream_port), timeout=10)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            # A relay passes each piece on as it arrives: with Nagle, a small piece behind an
            # unacknowledged one waits for the delayed ACK (40 ms), a delay the endpoints did
            # not choose.  SSH's many small round trips took 0.6 s to connect through it.
            for end in (client, server):
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                record = ConnectionRecord(number=len(self.connections), port=port)
                self.connections.append(record)
                self._open.update((client, server))
            record.cut = self._cut_for(record.number, port)
            pair = _Pair(self, record, client, server)
            self._spawn(pair.pump, "up")
            self._spawn(pair.pump, "down")

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(socks)


class _Pair:
    """The two sockets of one proxied connection and the cut that applies to it."""

    def __init__(self, proxy: FaultProxy, record: ConnectionRecord, client: socket.socket, server: socket.socket):
        self.proxy = proxy
        self.record = record
        self.client = client
        self.server = server
        self._lock = threading.Lock()
        self._ended = 0
        self._halted = threading.Event()

    def pump(self, direction: Direction) -> None:
        source, sink = (self.client, self.server) if direction == "up" else (self.server, self.client)
        cut = self.record.cut if self.record.cut and self.record.cut.direction == direction else None
        try:
            while not self._halted.is_set():
                data = source.recv(_BUFFER)
                if self._halted.is_set():
                    return  # a stalled or broken connection forwards nothing more, either way
                if not data:
                    # A clean end from one side is passed on as a half-close, as TCP would.
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    break
                done = self._count(direction, 0)
                if cut is not None and done + len(data) >= cut.after:
                    head = data[: max(cut.after - done, 0)]
                    if head:
                        sink.sendall(head)
                        self._count(direction, len(head))
                    self._break(cut)
                    return
                sink.sendall(data)
                self._count(direction, len(data))
        except OSError:
            pass
        self._end()

    def _count(self, direction: Direction, added: int) -> int:
        with self._lock:
            if direction == "up":
                self.record.bytes_up += added
                return self.record.bytes_up
            self.record.bytes_down += added
            return self.record.bytes_down

    def _break(self, cut: Cut) -> None:
        self.record.was_cut = True
        self._halted.set()
        if cut.how == "stall":
            deadline = time.monotonic() + cut.stall
            while time.monotonic() < deadline and not self.proxy._stop.is_set():
                time.sleep(0.05)
        for sock in (self.client, self.server):
            if cut.how == "rst":
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.  SHUT_RD
                # sends nothing but wakes the other pump's blocked recv(), which would otherwise
                # keep the socket alive past close(); SHUT_WR would send the FIN we do not want.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
                    sock.close()
            else:
                _close(sock)
        self._finish()

    def _end(self) -> None:
        with self._lock:
            self._ended += 1
            both = self._ended == 2
        if both:
            _close(self.client)
            _close(self.server)
            self._finish()

    def _finish(self) -> None:
        self.proxy._forget(self.client, self.server)
        self.record.closed.set()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def listen_at(host: str, port: int) -> socket.socket:
    """A socket listening at ``host``:``port`` (0: a free one), as :class:`FaultProxy` accepts on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    # Accept loops poll so close() can stop them without a connection arriving (a listener handed on
    # to the next proxy is not closed: close() waits for the loop to see the stop, every poll).
    sock.settimeout(0.05)
    return sock


#: Where :func:`in_front_of` listens: another loopback address, so the server's own port numbers are free there.
PROXY_HOST = "127.0.0.2"


def free_ports(count: int) -> list[int]:
    """``count`` port numbers free now on 127.0.0.1 and on :data:`PROXY_HOST` (for an FTP
    server's passive ports, which :func:`in_front_of` listens at on the other address)."""
    sockets: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            first = socket.socket()
            sockets.append(first)
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            mirror = socket.socket()
            sockets.append(mirror)
            try:
                mirror.bind((PROXY_HOST, port))
            except OSError:
                continue  # taken on the proxy's address: keep it held, try another
            ports.append(port)
        return ports
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def in_front_of(
    url: str,
    plan: Plan | None = None,
    *,
    passive_ports: Iterable[int] = (),
    listeners: Mapping[int, socket.socket] | None = None,
) -> Iterator[tuple[FaultProxy, str]]:
    """A :class:`FaultProxy` in front of the server of ``url``, and the URL that goes through it.

    The proxy listens on ``127.0.0.2`` at the server's own port, and for FTP at each of its
    ``passive_ports`` (the server must use exactly these: the data connection goes to the
    control connection's address at the port the server announces).  The server's certificate
    must name ``127.0.0.2`` (:func:`xfer.testing.pki.create_pki`'s does).  ``listeners``: those
    port numbers already bound there (:func:`listen_at`), kept open after the block::

        with in_front_of(endpoint.url, {0: Cut("down", after=100_000)}) as (proxy, url):
            xfer.connect(url, ...).get_file("/big.bin", "big.bin")
    """
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if port is None:
        raise ValueError(f"{url}: name the port (the proxy listens at the same number)")
    with FaultProxy((host, port), plan=plan, listen_host=PROXY_HOST, ports=[port, *passive_ports],
                    listeners=listeners) as proxy:
        user = f"{parts.username}@" if parts.username else ""  # sftp://USER@host: the login name stays
        yield proxy, urllib.parse.urlunsplit(parts._replace(netloc=f"{user}{PROXY_HOST}:{port}"))
