"""The first application exchange on the probed TLS connection, and the FTP clear-text preamble.

Under TLS 1.3 a server judges our certificate after the handshake: only an answer to a
first request proves it was accepted.  HTTP family: one ``GET`` of the base path (read
at most :data:`BODY_LIMIT` bytes; nothing is ever POSTed, so nothing reaches an AS2
inbox).  FTPS: the greeting (implicit) and ``FEAT``.
"""

# S321 flags every ftplib name as "FTP is insecure"; here it is only ftplib's exception type (the
# dialogue is clear text only up to AUTH TLS, as the adapter's).
# ruff: noqa: S321

from __future__ import annotations

import contextlib
import ftplib
import http.client
import io
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ..adapters.ftps.connection import EXTRA_PRELIMINARY, REPLY_DEADLINE, DeadlineStream, FTPSConnection
from ..adapters.ftps.replies import reply_code
from ..log import logger

__all__ = ["BODY_LIMIT", "Exchange", "FTPDialogue", "http_exchange"]

# The probe's own exchange shows under -v like the adapters' (the same loggers; FTP's is the adapter's).
_http_log = logger("xfer.http")

#: Bytes of the answer body read: enough for nginx's certificate error page.
BODY_LIMIT = 8192


@dataclass
class Exchange:
    """What the server answered to the first request."""

    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    replies: list[str] = field(default_factory=list)  # FTP: greeting (implicit) and FEAT, as received
    feat: str | None = None  # FTP: the answer to FEAT

    def http_error(self, *, server: str, url: str, context: ssl.SSLContext) -> Any:
        """The xfer error an HTTP answer means (nginx's 400 for a certificate), or None on success."""
        if self.status is None or self.status < 400:
            return None
        import requests
        from requests.structures import CaseInsensitiveDict

        from ..http_errors import map_http_error

        response = requests.Response()
        response.status_code = self.status
        response.reason = self.reason
        response.headers = CaseInsensitiveDict(self.headers)
        response._content = self.body
        response._content_consumed = True  # type: ignore[attr-defined]  # the body is all here: readable
        response.url = url
        return map_http_error(response, server=server, context=context)


def http_exchange(tls: ssl.SSLSocket, host: str, port: int, path: str) -> Exchange:
    """``GET path`` on the open TLS socket; the answer's status, headers and first bytes."""
    target = urllib.parse.quote(path or "/")
    authority = f"[{host}]" if ":" in host else host
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {authority}:{port}\r\nUser-Agent: xfer-doctor\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    )
    tls.sendall(request.encode("ascii"))
    # Read past interim answers (103 Early Hints...), as transfers do: the final answer is the
    # server's verdict (a 103 passed step 5 ahead of nginx's 400 for a missing certificate).
    from ..http_session import _FinalAnswer

    response = _FinalAnswer(tls, method="GET")
    # The whole answer within REPLY_DEADLINE timeouts, as an FTP reply: a server trickling a
    # field, an interim answer or a body byte every half second kept step 5 going for as long
    # as it went on (review W).  The head is all step 5 needs: a body cut by the deadline is kept.
    timeout = tls.gettimeout()
    stream = DeadlineStream(tls)
    stream.deadline = time.monotonic() + REPLY_DEADLINE * (timeout if timeout is not None else 30.0)
    response.fp.close()  # (the file http.client made on the socket, unread)
    response.fp = io.BufferedReader(stream)
    try:
        response.begin()
        body = _first_bytes(response)
    finally:
        response.close()
    _http_log.info("GET https://%s:%s%s -> %s %s (doctor's probe)", authority, port, target, response.status,
                   response.reason)
    return Exchange(status=response.status, reason=response.reason, headers=dict(response.getheaders()), body=body)


def _first_bytes(response: http.client.HTTPResponse) -> bytes:
    """Up to :data:`BODY_LIMIT` bytes of the body, what came of it if it is cut or the deadline
    passes (nginx's "No required SSL certificate was sent" page is what step 5 reads)."""
    parts: list[bytes] = []
    got = 0
    with contextlib.suppress(TimeoutError, http.client.IncompleteRead):
        while got < BODY_LIMIT:
            part = response.read1(BODY_LIMIT - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    return b"".join(parts)


class FTPDialogue(FTPSConnection):
    """The probe's FTP dialogue, read by the adapter's own control-connection reader.

    It runs on the socket the network step opened (clear text, then the TLS socket:
    :meth:`attach`), so each reply has the limits the adapter's have: complete within
    :data:`~xfer.adapters.ftps.connection.REPLY_DEADLINE` times the timeout, at most
    :data:`~xfer.adapters.ftps.connection.MAX_REPLY` characters.  The probe's own reader had
    neither: a greeting of endless ``220-`` lines kept doctor as long as the server went on,
    ``--timeout 3`` or not (review R, finding 6).  Every reply read stays in :attr:`replies`,
    also when one after it fails (the greeting that refused us must be shown, review R
    finding 2).  Nothing secret is ever sent on it: USER and PASS go through the adapter.
    """

    def __init__(self, sock: socket.socket, *, context: ssl.SSLContext, host: str) -> None:
        timeout = sock.gettimeout()
        super().__init__(context=context, implicit=False, timeout=timeout if timeout is not None else 30.0,
                         keepalive=0)
        self.host = host
        #: Every reply read, in order, as received (multi-line ones joined).
        self.replies: list[str] = []
        self.attach(sock)

    def attach(self, sock: socket.socket) -> None:
        """Talk on ``sock`` from now on (after ``AUTH TLS``: the TLS socket over the same connection)."""
        self.sock, self.af = sock, sock.family
        self.file = self._reader(sock)

    def getmultiline(self) -> str:
        reply = super().getmultiline()
        self.replies.append(reply)
        return reply

    def greeting(self) -> str:
        """The server's ``220``, after the ``1xx`` that may come first, as the adapter reads it.

        RFC 959: "120 Service ready in nnn minutes" may precede the 220; read as the greeting,
        the 220 answered AUTH TLS ("refused AUTH TLS (220 ...)", review R finding 3).  Any other
        greeting raises :class:`ftplib.Error` carrying it: a 4xx/5xx is the server's refusal.
        """
        reply = self.getresp()  # a 4xx/5xx raises error_temp/error_perm, a line without a code error_proto
        for _ in range(EXTRA_PRELIMINARY):
            if reply[:1] != "1":
                break
            reply = self.getresp()
        if reply_code(reply) != "220":
            raise ftplib.error_reply(reply)
        self.welcome = reply
        return reply

    def ask(self, command: str) -> str:
        """Send ``command`` and return its reply, whatever its code (FEAT: any answer proves acceptance)."""
        self.putcmd(command)
        return self.getmultiline()
