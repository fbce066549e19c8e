"""The accept loop under the raw-socket fakes (scripted HTTPS, TLS faults, the CONNECT proxy).

Private to :mod:`xfer.testing`.  These fakes need byte-level control that
:mod:`socketserver` gets in the way of (when a FIN or a close_notify goes out, what is
left unread), so they share this small loop instead.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING

from ._serving import InProcessServer

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AcceptLoopServer"]


class AcceptLoopServer(InProcessServer):
    """A listener on 127.0.0.1 (or another loopback ``host``); each connection runs
    :meth:`_connection` in a daemon thread.

    At most ``max_connections`` run at once (others get :meth:`_refuse`).  ``stop()``
    stops accepting and cuts every socket registered with :meth:`_track`.  Errors of
    the socket kind inside a connection end that connection only: clients that hang
    up are part of the tests.
    """

    def __init__(self, *, max_connections: int = 16, host: str = "127.0.0.1") -> None:
        self.host = host
        self.listener = socket.create_server((self.host, 0))
        self.port: int = self.listener.getsockname()[1]
        self.connections = 0
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def server(self) -> str:
        """``host:port``, as xfer names servers in messages."""
        return f"{self.host}:{self.port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and cut every open connection (idempotent)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            # shutdown() wakes the accept() blocked in the serving thread; close() alone does not.
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _track(self, sock: socket.socket) -> socket.socket:
        """Register a socket (accepted, wrapped or opened) for :meth:`stop` to cut."""
        with self._lock:
            self._open.add(sock)
        return sock

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            if not self._slots.acquire(timeout=5):
                self._refuse(raw)
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._run, args=(self._track(raw),), daemon=True).start()

    def _run(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(10)
            self._connection(raw)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._open.discard(raw)
            with contextlib.suppress(OSError):
                raw.close()
            self._slots.release()

    def _refuse(self, raw: socket.socket) -> None:
        """A connection beyond ``max_connections``: closed unanswered."""
        raw.close()

    def _connection(self, raw: socket.socket) -> None:
        raise NotImplementedError
