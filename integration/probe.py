"""TLS probes the launcher uses to decide "ready" and to fill the status table.

Deliberately stdlib ``ssl`` with PEM files, not xfer's own TLS factory: the bed must be provably
sound even while xfer's code is broken.  A probe completes the handshake *and* one application
exchange, because under TLS 1.3 a rejected client certificate only shows up on the first read.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["ProbeResult", "probe"]

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one connection attempt.  ``accepted`` means the server let the client in."""

    accepted: bool
    tls_version: str | None  # as negotiated, e.g. "TLSv1.3"
    detail: str  # status line / FTP reply, or the error


def _context(ca: Path, cert: Path | None, key: Path | None, version: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = _VERSIONS[version]
    return ctx


class _Lines(Protocol):
    def readline(self) -> bytes: ...


def _read_reply(f: _Lines) -> str:
    """Read one (possibly multi-line) FTP reply from a file object."""
    line = f.readline().decode("latin-1")
    if len(line) >= 4 and line[3] == "-":
        code = line[:3]
        while True:
            more = f.readline().decode("latin-1")
            if not more or (more.startswith(code) and more[3:4] == " "):
                line = more or line
                break
    return line.strip()


def probe(
    kind: str,
    host: str,
    port: int,
    *,
    ca: Path,
    cert: Path | None = None,
    key: Path | None = None,
    version: str | None = None,
    timeout: float = 5.0,
) -> ProbeResult:
    """Connect like a client and report whether the server accepted us.

    ``kind`` is ``https`` (GET /, any status but 400 counts as accepted: nginx answers 400 to a
    missing or bad client certificate), ``ftp-explicit`` (AUTH TLS, then USER must get 331) or
    ``ftp-implicit`` (TLS first, then the 220 greeting).  ``version`` pins "1.2" or "1.3".
    """
    ctx = _context(ca, cert, key, version)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            if kind == "https":
                with ctx.wrap_socket(raw, server_hostname=host) as tls:
                    tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                    status = tls.makefile("rb").readline().decode("latin-1").strip()
                    accepted = status.startswith("HTTP/") and status.split()[1] != "400"
                    return ProbeResult(accepted, tls.version(), status or "empty reply")
            if kind == "ftp-explicit":
                plain = raw.makefile("rb")
                greeting = _read_reply(plain)
                if not greeting.startswith("220"):
                    return ProbeResult(False, None, f"greeting: {greeting}")
                raw.sendall(b"AUTH TLS\r\n")
                reply = _read_reply(plain)
                if not reply.startswith("234"):
                    return ProbeResult(False, None, f"AUTH TLS: {reply}")
                with ctx.wrap_socket(raw, server_hostname=host) as tls:
                    tls.sendall(b"USER probe\r\n")
                    reply = _read_reply(tls.makefile("rb"))
                    return ProbeResult(reply.startswith("331"), tls.version(), reply or "empty reply")
            if kind == "ftp-implicit":
                with ctx.wrap_socket(raw, server_hostname=host) as tls:
                    greeting = _read_reply(tls.makefile("rb"))
                    if greeting.startswith("220"):
                        tls.sendall(b"USER probe\r\n")
                        reply = _read_reply(tls.makefile("rb"))
                        return ProbeResult(reply.startswith("331"), tls.version(), reply or "empty reply")
                    return ProbeResult(False, tls.version(), greeting or "empty greeting")
            raise ValueError(f"unknown probe kind {kind!r}")
    except (OSError, ssl.SSLError, IndexError) as exc:
        return ProbeResult(False, None, f"{type(exc).__name__}: {exc}")
