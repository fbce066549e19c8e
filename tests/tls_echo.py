"""A tiny threaded TLS echo server that requires client certificates (tests of tls.py only)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from xfer.testing.pki import TestPKI


class EchoServer:
    """Accepts TLS connections, echoes one message, counts handshakes."""

    def __init__(
        self,
        pki: TestPKI,
        *,
        tls_version: ssl.TLSVersion | None = None,
        cert: Path | None = None,
        key: Path | None = None,
    ) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert or pki.server_cert, key or pki.server_key)
        self.context.load_verify_locations(pki.root_ca)
        self.context.verify_mode = ssl.CERT_REQUIRED
        if tls_version is not None:
            self.context.minimum_version = self.context.maximum_version = tls_version
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object | type[BaseException] | TracebackType | None) -> None:
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes += 1
                data = tls.recv(1024)
                tls.sendall(b"echo:" + data)
        except (OSError, ssl.SSLError):
            conn.close()


def echo(context: ssl.SSLContext, port: int, host: str = "127.0.0.1", message: bytes = b"hello") -> bytes:
    """Client side: connect, write, read the echo."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(message)
            return tls.recv(1024)


@contextmanager
def openssl_server(cert: Path, key: Path, *, chain: Path, client_ca: Path) -> Iterator[int]:
    """``openssl s_server`` that asks for a client certificate issued by ``client_ca`` (and names it)."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is required"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(key),
         "-cert_chain", str(chain), "-Verify", "1", "-CAfile", str(client_ca), "-verify_return_error",
         "-www", "-quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "openssl s_server did not start"
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
