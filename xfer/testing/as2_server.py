"""An in-process AS2 receiver over mTLS, for tests, ``xfer demo`` and users' own tests.

A small WSGI app (:class:`AS2App`) runs :func:`xfer.as2.receiver.receive` on each POST —
decrypt, verify, decompress, compute the MIC, store the payload, answer with the MDN — and a
threaded stdlib HTTPS server (:class:`AS2Server`) serves it, requiring a client certificate::

    with AS2Server(pki, root=folder) as srv:
        srv.url        # https://127.0.0.1:PORT/as2  (POST AS2 messages here)
        srv.root       # received payloads land here under their file names
        srv.as2_id     # our AS2 name ("XFERPARTNER"); srv.partner_as2_id: the sender we accept
        srv.received   # every Received (disposition, MIC, ...) in order

The server's AS2 identity defaults to the PKI's partner identity (``pki.partner_p12``), and it
verifies signatures with the PKI's client certificate: exactly the pair a profile using
``pki.client_p12`` and ``partner_cert = pki.partner_cert`` expects.  Misbehaviour for negative
tests: ``fail_next(status)`` answers the next POST with an HTTP error, ``mdn_hook`` replaces the
MDN (forged MIC, wrong signer, ...), ``answer_pace`` trickles the answer's body one byte at a
time.  It holds each message in memory: not a production server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from cryptography import x509

from ..as2.receiver import Received, receive
from ..identity import Identity
from ._serving import ThreadedSocketServer, peer_common_name, server_context
from .pki import TestPKI

__all__ = ["AS2App", "AS2Server", "MdnHook"]

#: Given what the receiver did and the request headers, return (headers, body) to answer with.
MdnHook = Callable[[Received, Mapping[str, str]], tuple[dict[str, str], bytes]]

_MAX_BODY = 64 * 1024 * 1024  # default: a test receiver holds messages in memory; larger → 413
_STATUS_TEXT = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                413: "Payload Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable"}


def _first_certificate(path: str | os.PathLike[str]) -> x509.Certificate:
    return x509.load_pem_x509_certificates(Path(path).read_bytes())[0]


class AS2App:
    """The WSGI application: ``POST <path>`` receives one AS2 message; anything else is refused."""

    def __init__(
        self,
        *,
        root: str | os.PathLike[str],
        identity: Identity,
        partner_cert: x509.Certificate | None,
        as2_id: str = "XFERPARTNER",
        partner_as2_id: str | None = "XFERCLIENT",
        path: str = "/as2",
        require_signature: bool = False,
        require_encryption: bool = False,
        detect_duplicates: bool = True,
        mdn_hook: MdnHook | None = None,
        max_body: int = _MAX_BODY,
        answer_pace: float | None = None,
    ) -> None:
        self.root = Path(root)
        #: Seconds between the bytes of an answer's body (a partner trickling its receipt); None: at once.
        self.answer_pace = answer_pace
        self.max_body = max_body
        self.root.mkdir(parents=True, exist_ok=True)
        self.identity = identity
        self.partner_cert = partner_cert
        self.as2_id = as2_id
        self.partner_as2_id = partner_as2_id
        self.path = path
        self.require_signature = require_signature
        self.require_encryption = require_encryption
        self.mdn_hook = mdn_hook
        self.received: list[Received] = []
        self.statuses: list[int] = []  # HTTP status answered to each POST
        self._seen: set[str] | None = set() if detect_duplicates else None
        self._fail: list[int] = []
        self._lock = threading.Lock()

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` POSTs with HTTP ``status`` without processing them."""
        with self._lock:
            self._fail.extend([status] * count)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def answer(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Iterable[bytes]:
            out = [("Content-Length", str(len(body)))]
            out += [(k, v) for k, v in (headers or {}).items() if k.lower() != "content-length"]
            if not any(k.lower() == "content-type" for k, _ in out):
                out.append(("Content-Type", "text/plain"))
            start_response(f"{status} {_STATUS_TEXT.get(status, 'Status')}", out)
            if self.answer_pace is not None:
                return _paced(body, self.answer_pace)
            return [body]

        if environ.get("PATH_INFO") != self.path:
            return answer(404, b"not found\n")
        if environ.get("REQUEST_METHOD") != "POST":
            return answer(405, b"POST AS2 messages here\n", {"Allow": "POST"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.max_body:
            return answer(413, b"too large for the test receiver\n")
        body = environ["wsgi.input"].read(length) if length else b""
        with self._lock:
            failing = self._fail.pop(0) if self._fail else None
        if failing is not None:
            with self._lock:
                self.statuses.append(failing)
            return answer(failing, b"simulated failure\n")
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        with self._lock:  # duplicate detection and file names must not race
            result = receive(
                headers,
                body,
                our_identity=self.identity,
                partner_cert=self.partner_cert,
                our_as2_id=self.as2_id,
                partner_as2_id=self.partner_as2_id,
                require_signature=self.require_signature,
                require_encryption=self.require_encryption,
                seen_message_ids=self._seen,
            )
            if result.payload is not None:
                self._store(result)
            self.received.append(result)
            self.statuses.append(result.status_code)
        response_headers, response_body = result.response_headers, result.response_body
        if self.mdn_hook is not None:
            response_headers, response_body = self.mdn_hook(result, headers)
        if not response_body and result.status_code == 200:
            return answer(200, b"AS2 message received\n")
        return answer(result.status_code, response_body, response_headers)

    def _store(self, result: Received) -> None:
        assert result.payload is not None
        name = result.filename or (result.message_id or "message").strip("<>").replace("/", "_")
        target = self.root / name
        temp = target.with_name(f".{target.name}.part")
        temp.write_bytes(result.payload)
        os.replace(temp, target)


def _paced(body: bytes, pace: float) -> Iterator[bytes]:
    """``body`` one byte at a time, ``pace`` seconds apart (wsgiref sends each item at once)."""
    for index in range(len(body)):
        time.sleep(pace)
        yield body[index : index + 1]


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        # The handshake runs in the handler thread (not in accept), like a real server's workers.
        self.request.settimeout(10)
        self.request.do_handshake()
        server: _Server = self.server  # type: ignore[assignment]  # socketserver types it as BaseServer
        server.record_handshake(self.request)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    #: (TLS version, client certificate CN) of each completed handshake, for `xfer demo` and tests.
    handshakes: list[tuple[str | None, str | None]]

    def record_handshake(self, sock: ssl.SSLSocket) -> None:
        self.handshakes.append((sock.version(), peer_common_name(sock.getpeercert())))  # list.append is atomic

    allow_reuse_address = True
    ssl_context: ssl.SSLContext
    failed_handshakes = 0

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that fail the handshake (no certificate) are part of the tests, not server bugs.
        self.failed_handshakes += 1


class AS2Server(ThreadedSocketServer):
    """A threaded HTTPS server on 127.0.0.1 serving :class:`AS2App`; a context manager.

    ``identity`` is the receiver's AS2 identity (decrypts, signs MDNs; default: the PKI's
    partner), ``partner_cert`` verifies the sender (default: the PKI's client certificate).
    ``client_cert`` ``"required"`` fails the handshake without a certificate from the PKI's
    CA; ``"none"`` asks for none.  Other keywords go to :class:`AS2App`.
    """

    def __init__(
        self,
        pki: TestPKI,
        *,
        root: str | os.PathLike[str],
        as2_id: str = "XFERPARTNER",
        partner_as2_id: str | None = "XFERCLIENT",
        identity: Identity | None = None,
        partner_cert: x509.Certificate | str | os.PathLike[str] | None = None,
        client_cert: str = "required",
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/as2",
        **app_options: Any,
    ) -> None:
        if identity is None:
            identity = Identity.load(pki.partner_p12, pki.password)
        if partner_cert is None:
            partner_cert = _first_certificate(pki.client_cert)
        elif not isinstance(partner_cert, x509.Certificate):
            partner_cert = _first_certificate(partner_cert)
        self.app = AS2App(
            root=root, identity=identity, partner_cert=partner_cert, as2_id=as2_id,
            partner_as2_id=partner_as2_id, path=path, **app_options,
        )
        self.host = host
        self._httpd: _Server = _Server((host, port), _Handler)
        self._httpd.handshakes = []
        self._httpd.ssl_context = server_context(
            pki, verify_mode=ssl.CERT_REQUIRED if client_cert == "required" else ssl.CERT_NONE
        )
        self._httpd.set_app(self.app)
        self.port: int = self._httpd.server_address[1]

    # -- what tests read ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """The AS2 endpoint, ``https://127.0.0.1:PORT/as2``."""
        return f"https://{self.host}:{self.port}{self.app.path}"

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def root(self) -> Path:
        return self.app.root

    @property
    def as2_id(self) -> str:
        return self.app.as2_id

    @property
    def partner_as2_id(self) -> str | None:
        return self.app.partner_as2_id

    @property
    def received(self) -> list[Received]:
        return list(self.app.received)

    @property
    def failed_handshakes(self) -> int:
        return self._httpd.failed_handshakes

    @property
    def handshakes(self) -> list[tuple[str | None, str | None]]:
        """(TLS version, client certificate CN) of every completed TLS handshake, in order."""
        return list(self._httpd.handshakes)

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` messages with HTTP ``status`` (e.g. 503) without processing."""
        self.app.fail_next(status, count)

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self._httpd.socket.shutdown(socket.SHUT_RDWR)
        super()._close()
