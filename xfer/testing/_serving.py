"""What the in-process servers share: their TLS context, handshake bookkeeping and thread lifecycle.

Private to :mod:`xfer.testing`; each server module keeps its own public class and options.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from socketserver import BaseServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

    from .pki import TestPKI

__all__ = ["InProcessServer", "RecordingServer", "ServerState", "ThreadedSocketServer", "peer_common_name",
           "server_context"]

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

R = TypeVar("R")


def server_context(
    pki: TestPKI,
    *,
    cert: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    client_ca: str | os.PathLike[str] | None = None,
    tls_min: str = "1.2",
    tls_max: str | None = None,
    verify_mode: ssl.VerifyMode = ssl.CERT_REQUIRED,
) -> ssl.SSLContext:
    """The stdlib server context: the PKI's server certificate, clients checked against its root."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[tls_min]  # TLS 1.0/1.1 are banned by RFC 8996
    if tls_max is not None:
        ctx.maximum_version = TLS_VERSIONS[tls_max]
    ctx.load_cert_chain(str(cert or pki.server_cert), str(key or pki.server_key))
    ctx.load_verify_locations(cafile=str(client_ca or pki.root_ca))
    ctx.verify_mode = verify_mode
    return ctx


def peer_common_name(peer: Mapping[str, Any] | None) -> str | None:
    """The commonName of a certificate as ``SSLSocket.getpeercert()`` returns it (None without one)."""
    names = [value for rdn in (peer or {}).get("subject", ()) for name, value in rdn if name == "commonName"]
    return str(names[-1]) if names else None


@dataclass
class ServerState(Generic[R]):
    """Handshake counts and recorded requests, updated from the server's worker threads."""

    handshakes: int = 0
    failed_handshakes: int = 0
    requests: list[R] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def handshake(self) -> Iterator[None]:
        """Count the TLS handshake run in the block as completed, or as failed if it raises."""
        try:
            yield
        except Exception:
            with self.lock:
                self.failed_handshakes += 1
            raise
        with self.lock:
            self.handshakes += 1

    def record(self, request: R) -> None:
        with self.lock:
            self.requests.append(request)


class InProcessServer:
    """The context manager on top of a server's ``start()`` and idempotent ``stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ThreadedSocketServer(InProcessServer):
    """A :mod:`socketserver` server (``_httpd``) running ``serve_forever`` in a daemon thread."""

    _httpd: BaseServer
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._httpd.server_close()


class RecordingServer(Generic[R]):
    """The read side of a :class:`ServerState`: what tests assert on."""

    _state: ServerState[R]

    @property
    def handshakes(self) -> int:
        """Completed TLS handshakes so far: one per TLS connection the clients opened."""
        return self._state.handshakes

    @property
    def failed_handshakes(self) -> int:
        """Handshakes that failed (no certificate, untrusted certificate, client hung up)."""
        return self._state.failed_handshakes

    @property
    def requests(self) -> list[R]:
        """Every request handled so far, in order."""
        with self._state.lock:
            return list(self._state.requests)
