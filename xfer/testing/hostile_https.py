"""An in-process HTTPS server whose answers are scripted byte by byte, for hostile-server tests.

The well-behaved :class:`~xfer.testing.https_server.HTTPSServer` always sends a
``Content-Length`` and ends connections properly.  Real servers (and things between
them and us) also end bodies by closing the connection, with or without TLS
close_notify, cut chunked bodies, answer ``206``/``204``/``202`` to a plain ``GET``,
or serve endless index pages.  Each :class:`Reply` says what to send and how the
connection ends::

    replies = {
        "/ragged": Reply(body=b"half", length=False, end="fin"),     # no length, FIN, no close_notify
        "/proper": Reply(body=b"whole", length=False),               # no length, close_notify
        "/chunks": Reply(body=[b"a" * 100], chunked=True, finished=False, end="fin"),
        "/dir/": Reply(body=lambda: itertools.repeat(b"<a href='x'>x</a>\\n"), chunked=True),
    }
    with ScriptedHTTPSServer(pki, replies) as srv:
        srv.url, srv.server, srv.sent   # bytes of body sent per path (to prove a reader stopped)
        srv.heads                       # each request's line and headers, as bytes received

A key ``"METHOD /path"`` answers only that method there (``"HEAD /f"``), before a key of the
path alone; ``"RANGE /path"`` answers a request there with a ``Range`` header, before both (a
server's answer to a resumed download); ``"METHOD *"`` answers that method on any other path
(names xfer makes up, such as a temporary upload name).  Unknown paths answer ``404``.  Client certificates are
asked for but not required.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ._accept import AcceptLoopServer
from ._serving import server_context

if TYPE_CHECKING:
    from .pki import TestPKI

__all__ = ["Reply", "ScriptedHTTPSServer"]

End = Literal["close_notify", "fin", "reset", "keep-alive", "idle-close"]
Body = bytes | Iterable[bytes] | Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``body`` is bytes, a list of blocks, or a callable returning a fresh iterator (for an
    endless body).  ``length``: send ``Content-Length`` (of ``announce`` if given, else the
    real size).  ``chunked``: chunked encoding; ``finished=False`` leaves out the last
    chunk.  ``end``: ``close_notify`` (a proper TLS close), ``fin`` (TCP FIN, no
    close_notify: a cut), ``reset`` (RST), ``keep-alive``, or ``idle-close``
    (announced as keep-alive, then closed properly: a server's idle timeout).  ``interim``: statuses of
    interim answers sent first (``100`` Continue, ``103`` Early Hints), as some servers do.
    ``bare_lf``: the head's lines end in LF alone, which clients must accept (RFC 9112 2.2).
    ``lost``: no answer at all: the request is read whole, then the connection is reset (the
    server took it and its answer was lost, or a backend died while working on it).
    ``garble``: no answer either: the request is read whole, then bytes that are no TLS record
    of this connection go out, and a FIN: ``"record"`` an application-data record of random
    bytes (the client's TLS says ``bad_record_mac``), ``"plaintext"`` an HTTP answer in clear
    (``wrong_version_number``) -- what a broken load balancer or middlebox in front of a server
    that took the request does.
    """

    status: int = 200
    reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = b""
    length: bool = True
    announce: int | None = None
    chunked: bool = False
    finished: bool = True
    end: End = "close_notify"
    interim: tuple[int, ...] = ()
    bare_lf: bool = False
    lost: bool = False
    garble: Literal["", "record", "plaintext"] = ""

    def blocks(self) -> Iterator[bytes]:
        if isinstance(self.body, bytes):
            yield self.body
        elif callable(self.body):
            yield from self.body()
        else:
            yield from self.body


_NOT_HERE = Reply(status=404, body=b"not here\n")


class ScriptedHTTPSServer(AcceptLoopServer):
    """A threaded TLS server on 127.0.0.1 answering each path with its :class:`Reply`."""

    def __init__(
        self,
        pki: TestPKI,
        replies: Mapping[str, Reply],
        *,
        tls_max: str | None = None,
        max_connections: int = 8,
        pipelining: bool = True,
    ) -> None:
        super().__init__(max_connections=max_connections)
        self.replies = dict(replies)
        #: False: whatever arrived with a request beyond it is dropped unanswered, as servers
        #: that do not take pipelined requests do (the client waits for an answer in vain).
        self.pipelining = pipelining
        self.ssl_context = server_context(pki, tls_max=tls_max, verify_mode=ssl.CERT_OPTIONAL)
        self.requests: list[tuple[str, str]] = []
        self.heads: list[bytes] = []
        self.sent: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def _connection(self, raw: socket.socket) -> None:
        tls = self.ssl_context.wrap_socket(raw, server_side=True)
        self._track(tls)
        reader = tls.makefile("rb")
        while not self._stopping.is_set():
            line = reader.readline(8192)
            if not line:
                return
            method, path = [*line.decode("latin-1").split(" "), "", ""][:2]
            length = 0
            ranged = False
            head = line
            while (header := reader.readline(8192)) not in (b"\r\n", b"\n", b""):
                head += header
                name, _, value = header.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                ranged = ranged or name.strip().lower() == "range"
            if length:
                reader.read(length)
            with self._lock:
                self.requests.append((method, path))
                self.heads.append(head)
            where = path.split("?", 1)[0]
            reply = ((self.replies.get(f"RANGE {where}") if ranged else None) or self.replies.get(f"{method} {where}")
                     or self.replies.get(where) or self.replies.get(f"{method} *") or _NOT_HERE)
            if not self._answer(tls, method, path, reply):
                return
            if not self.pipelining:
                reader = tls.makefile("rb")  # a fresh reader: the old one's buffered bytes are gone

    def _answer(self, tls: ssl.SSLSocket, method: str, path: str, reply: Reply) -> bool:
        """Send ``reply``; True if the connection stays open for the next request."""
        if reply.lost:
            _reset(tls)
            return False
        if reply.garble:
            # Around the TLS layer, on the socket beneath it: an SSL object would encrypt it.
            forged = b"\x17\x03\x03\x00\x40" + os.urandom(64)
            with contextlib.suppress(OSError):
                os.write(tls.fileno(), forged if reply.garble == "record" else b"HTTP/1.1 200 OK\r\n\r\nnot TLS")
                tls.shutdown(socket.SHUT_RDWR)
            return False
        eol = "\n" if reply.bare_lf else "\r\n"
        for status in reply.interim:
            tls.sendall(f"HTTP/1.1 {status} Interim{eol}{eol}".encode("latin-1"))
        head = [f"HTTP/1.1 {reply.status} {reply.reason or 'Scripted'}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        blocks: Iterable[bytes] = [] if method == "HEAD" else reply.blocks()
        if reply.chunked:
            head.append("Transfer-Encoding: chunked")
        elif reply.length:
            size = reply.announce
            if size is None:
                materialised = list(reply.blocks())
                size = sum(len(b) for b in materialised)
                blocks = [] if method == "HEAD" else materialised
            head.append(f"Content-Length: {size}")
        if reply.end not in ("keep-alive", "idle-close"):
            head.append("Connection: close")
        tls.sendall((eol.join(head) + eol + eol).encode("latin-1"))
        sent = 0
        try:
            for block in blocks:
                if self._stopping.is_set():
                    break
                if not block and reply.chunked:
                    continue  # a zero-size chunk would be the last chunk
                tls.sendall(b"%x\r\n%s\r\n" % (len(block), block) if reply.chunked else block)
                sent += len(block)
                with self._lock:
                    self.sent[path] = sent
            if reply.chunked and reply.finished and method != "HEAD":
                tls.sendall(b"0\r\n\r\n")
        except OSError:
            return False  # the client stopped reading (as it must for an endless body)
        return self._end(tls, reply.end)

    @staticmethod
    def _end(tls: ssl.SSLSocket, end: End) -> bool:
        if end == "keep-alive":
            return True
        if end in ("close_notify", "idle-close"):
            with contextlib.suppress(OSError, ValueError):
                tls.settimeout(2)
                tls.unwrap()
        elif end == "fin":
            # A FIN with no close_notify: what a crashed server, or an attacker cutting the
            # TCP stream, looks like.  SSLSocket.shutdown() sends no TLS alert.
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)
        else:
            _reset(tls)
        return False


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
