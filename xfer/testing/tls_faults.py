"""In-process TLS servers that reject client certificates the way other implementations do.

OpenSSL-based servers (nginx, Apache, vsftpd, the stdlib) reject a client certificate
with an alert xfer reads.  Others do not:

* :class:`SilentRejectServer`: Node.js ``requestCert`` + ``rejectUnauthorized`` under
  TLS 1.3.  The handshake completes for the client; the server then looks at the
  certificate and closes the socket without an alert (``end="fin"``, or ``"reset"`` when
  the client's first request is already unread in its buffer, or ``"close_notify"``).  ``ftp="implicit"`` does
  it before the FTP greeting, ``ftp="explicit"`` after ``220`` and ``AUTH TLS`` → ``234``.
* :class:`BadCertificateAlertServer`: Go's ``crypto/tls`` with ``RequireAnyClientCert``
  answers a missing certificate with ``bad_certificate`` (42), where OpenSSL says
  ``handshake_failure`` or ``certificate_required``.  TLS 1.2, so the alert is a
  plaintext record this server can write itself.

Both take connections on 127.0.0.1 in daemon threads and count them in ``connections``.

* :class:`OpenSSLServer`: ``openssl s_server`` with options the stdlib server cannot set
  (``-client_sigalgs``, a security level that loads a 1024-bit or SHA-1 certificate, a
  legacy-only cipher list), for the partners whose configuration xfer must word right.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ._accept import AcceptLoopServer
from ._serving import server_context
from .hostile_https import _reset

if TYPE_CHECKING:
    from typing_extensions import Self

    from .pki import TestPKI

__all__ = ["BadCertificateAlertServer", "OpenSSLServer", "SilentRejectServer"]

# A TLS 1.2 alert record: type 21, version 3.3, length 2, level fatal (2), bad_certificate (42).
_BAD_CERTIFICATE_ALERT = bytes([21, 3, 3, 0, 2, 2, 42])


class SilentRejectServer(AcceptLoopServer):
    """TLS 1.3 handshake (client certificate asked for), then a close without any alert."""

    def __init__(
        self,
        pki: TestPKI,
        *,
        end: Literal["fin", "reset", "close_notify"] = "fin",
        ftp: Literal["no", "implicit", "explicit"] = "no",
        tls_max: str = "1.3",
        client_ca: str | None = None,
    ) -> None:
        super().__init__()
        self.end = end
        self.ftp = ftp
        # CERT_OPTIONAL: the handshake succeeds whatever the client sends, as Node's does.
        self.ssl_context = server_context(
            pki, tls_min=tls_max, tls_max=tls_max, verify_mode=ssl.CERT_OPTIONAL, client_ca=client_ca
        )
        self.handshakes = 0

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def _connection(self, raw: socket.socket) -> None:
        if self.ftp == "explicit":
            raw.sendall(b"220 silent FTPS\r\n")
            reader = raw.makefile("rb")
            line = reader.readline(1024)
            if not line.upper().startswith(b"AUTH TLS"):
                raw.sendall(b"530 TLS first\r\n")
                return
            raw.sendall(b"234 go ahead\r\n")
        tls = self.ssl_context.wrap_socket(raw, server_side=True)
        with self._lock:
            self.handshakes += 1
        if self.end == "reset":
            _reset(tls)
            return
        # Take the client's first bytes (HTTP request, FTP USER) so the close is a FIN and
        # not a reset, answer nothing, then FIN: no close_notify, no alert.
        tls.settimeout(0.3)
        with contextlib.suppress(OSError):
            while tls.recv(65536):
                pass
        with contextlib.suppress(OSError, ValueError):
            if self.end == "close_notify":
                tls.unwrap()  # a proper TLS close, and still not a word of application data
            else:
                tls.shutdown(socket.SHUT_RDWR)
        tls.close()


class BadCertificateAlertServer(AcceptLoopServer):
    """TLS 1.2 server that requires a client certificate and, without one, says ``bad_certificate``."""

    def __init__(self, pki: TestPKI) -> None:
        super().__init__()
        self.ssl_context = server_context(pki, tls_max="1.2", verify_mode=ssl.CERT_REQUIRED)
        self.alerts_sent = 0

    def _connection(self, raw: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ssl_context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                if not data:
                    return
                incoming.write(data)
                continue
            except ssl.SSLError:
                # OpenSSL refused the missing certificate with its own alert; replace it with
                # the one Go sends.  Before our ChangeCipherSpec, TLS 1.2 alerts are plaintext.
                outgoing.read()
                # Counted before it goes out: the client may act on it (and a test read the
                # count) before this thread runs again.
                with self._lock:
                    self.alerts_sent += 1
                raw.sendall(_BAD_CERTIFICATE_ALERT)
                return
            raw.sendall(outgoing.read())
            return


class OpenSSLServer:
    """``openssl s_server -www`` on 127.0.0.1 (a free port), for as long as the ``with`` block runs.

    ``cert`` and ``key`` are PEM files (``cert`` may hold the chain after the leaf); ``options``
    are more ``s_server`` arguments.  ``available()`` says whether an ``openssl`` binary exists.
    """

    def __init__(self, cert: str | os.PathLike[str], key: str | os.PathLike[str], *options: str) -> None:
        self.arguments: Sequence[str] = (
            "s_server", "-accept", "127.0.0.1:0", "-cert", str(cert), "-key", str(key), "-www", *options)
        self.host = "127.0.0.1"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> Self:
        process = subprocess.Popen(["openssl", *self.arguments], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._process = process
        assert process.stdout is not None
        said = b""
        for line in process.stdout:  # "ACCEPT 127.0.0.1:PORT" once it listens
            said += line
            found = re.match(rb"ACCEPT 127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                # Its later output must neither fill the pipe (a stalled server) nor meet a closed
                # one (SIGPIPE): a thread reads it to the end.
                threading.Thread(target=process.stdout.read, daemon=True).start()
                return self
        self.__exit__(None, None, None)
        raise RuntimeError(f"openssl s_server did not start: {said.decode(errors='replace')}")

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
