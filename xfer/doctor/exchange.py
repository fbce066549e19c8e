"""The first application exchange on the probed TLS connection, and the FTP clear-text preamble.

Under TLS 1.3 a server judges our certificate after the handshake: only an answer to a
first request proves it was accepted.  HTTP family: one ``GET`` of the base path (read
at most :data:`BODY_LIMIT` bytes; nothing is ever POSTed, so nothing reaches an AS2
inbox).  FTPS: the greeting (implicit) and ``FEAT``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ..log import logger, masked_command

__all__ = ["BODY_LIMIT", "Exchange", "ftp_command", "ftp_reply", "http_exchange"]

# The probe's own exchange shows under -v like the adapters' (same loggers, same masking).
_ftp_log = logger("xfer.ftp")
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
    replies: list[str] = field(default_factory=list)  # FTP: greeting and FEAT, as received

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
    response = http.client.HTTPResponse(tls, method="GET")
    try:
        response.begin()
        body = response.read(BODY_LIMIT)
    finally:
        response.close()
    _http_log.info("GET https://%s:%s%s -> %s %s (doctor's probe)", authority, port, target, response.status,
                   response.reason)
    return Exchange(status=response.status, reason=response.reason, headers=dict(response.getheaders()), body=body)


def ftp_reply(stream: Any) -> str:
    """One FTP reply (all lines of a multi-line one) from a binary file object."""
    line = stream.readline(8192).decode("utf-8", "replace").rstrip("\r\n")
    if not line:
        raise EOFError("the server closed the connection")
    lines = [line]
    try:
        return _read_rest(stream, lines)
    finally:
        _ftp_log.info("< %s", "\n    ".join(lines))


def _read_rest(stream: Any, lines: list[str]) -> str:
    line = lines[0]
    if line[3:4] == "-":
        code = line[:3]
        while True:
            nxt = stream.readline(8192).decode("utf-8", "replace").rstrip("\r\n")
            if not nxt:
                raise EOFError("the server closed the connection in a reply")
            lines.append(nxt)
            if nxt[:3] == code and nxt[3:4] != "-":
                break
    return "\n".join(lines)


def ftp_command(sock: socket.socket, stream: Any, command: str) -> str:
    """Send one command (never one carrying a secret: USER/PASS go through the adapter) and read its reply."""
    _ftp_log.info("> %s", masked_command(command))
    sock.sendall(command.encode("ascii") + b"\r\n")
    return ftp_reply(stream)
