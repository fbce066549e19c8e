"""An in-process WebDAV server over TLS that requires client certificates (wsgidav on cheroot).

For xfer's tests, ``xfer demo`` and users' own tests::

    with WebDAVServer(pki, root=folder, tls_max="1.3") as srv:
        srv.url          # davs://127.0.0.1:PORT/
        srv.root         # the folder it serves
        srv.handshakes   # completed TLS handshakes, counted server-side (connection reuse shows here)
        srv.requests     # every request as the server saw it (method, path, headers)
        with srv.adapter(context) as remote: ...   # an xfer WebDAVAdapter on this server

It behaves like a strict production server: TLS 1.2+ only, a client certificate
issued under the PKI's root is mandatory (the handshake fails without one, like
Apache ``SSLVerifyClient require``), locks are real (``LOCK`` gives ``423`` to
others).  For error tests, ``statuses`` answers chosen paths with a fixed status
(``{"/full.bin": 507}``) and ``forbidden`` path prefixes answer ``403``, the way a
quota or an ACL on a real server would.

Other legal (or hostile) server behaviours, each an option:

* ``mount="/dav/"`` serves the folder under ``/dav/`` only, as Apache's ``Alias /dav/ …``
  does: ``/dav`` without the slash (and everything outside) is not the share (``403``).
* ``collection_slash=True`` refuses (``403``) a request that names an existing folder
  without the trailing ``/`` (RFC 4918 §5.2 makes the slash the collection's URL).
* ``content_range="ignore"`` stores a PUT with ``Content-Range`` as if the header were not
  there: each piece replaces the whole file (servers that do not know the header and skip
  it).  The default, ``"refuse"``, is wsgidav's own ``400`` (RFC 9110 §14.5's advice).
  ``content_range="take"`` writes the piece at its place in the file, as Apache mod_dav does.
* ``max_body=N``: a ``PUT`` whose ``Content-Length`` is over ``N`` bytes is answered ``413``,
  as Apache's ``LimitRequestBody`` (or nginx's ``client_max_body_size``) answers it.
* ``repr_digest=True`` states the SHA-256 of a file in ``Repr-Digest`` (RFC 9530) on its
  ``GET`` and ``HEAD`` answers, as servers with digest support do (an upload's check and
  ``xfer sync --checksum`` read it); wsgidav alone states no hash.
* ``late_cut_puts=True``: a ``PUT`` whose body is cut off is stored as far as it came, but
  only once the server has answered its next request, as a server still finishing an aborted
  upload (a worker thread behind on a busy machine) does when the client's clean-up
  ``DELETE`` comes in first.  The body is read whole into memory: small test files only.
* ``intercept`` sees every request first and may answer it with a :class:`Reply` of its
  own (a body streamed from an iterable, a redirect, a ``207`` listing strangers...);
  ``None`` lets the real server answer.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import gzip
import hashlib
import io
import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.client import responses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav.wsgidav_app import WsgiDAVApp

from ._serving import InProcessServer, RecordingServer, ServerState, peer_common_name, server_context

if TYPE_CHECKING:
    from ..adapters.webdav import WebDAVAdapter
    from .pki import TestPKI

__all__ = ["RecordedRequest", "Reply", "WebDAVServer"]

# A status answer reads at most this much of a request body to keep the connection usable.
_DRAIN_LIMIT = 1 << 20

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (for assertions on what the client sent)."""

    method: str
    path: str  # percent-decoded, as the server resolved it
    headers: Mapping[str, str]  # HTTP header names in their usual spelling ("Content-Length")
    client_cn: str | None = None  # common name of the client certificate the TLS layer accepted


@dataclass(frozen=True)
class Reply:
    """An answer chosen by an ``intercept`` hook; ``body`` chunks are streamed as they are produced.

    Without a ``Content-Length`` header an iterable body goes out chunked (HTTP/1.1).
    """

    status: int
    body: bytes | Iterable[bytes] = b""
    headers: Mapping[str, str] = field(default_factory=dict)


#: ``intercept(request)``: a :class:`Reply` to answer instead of the server, or None.
Intercept = Callable[[RecordedRequest], "Reply | None"]


class _CountingSSLAdapter(BuiltinSSLAdapter):
    """cheroot's stdlib TLS adapter with our context, counting handshakes as they finish."""

    def __init__(self, context: ssl.SSLContext, state: ServerState[RecordedRequest]) -> None:
        # The base constructor insists on loading files; everything it would set up is
        # replaced by the finished context, so it is skipped on purpose.
        self._state = state
        self.certificate = self.private_key = self.certificate_chain = None
        self.ciphers = None
        self.private_key_password = None
        self._server_env: dict[str, Any] = {}
        self.context = context

    def wrap(self, sock: Any) -> tuple[Any, dict[str, Any]]:
        with self._state.handshake():
            wrapped, environ = super().wrap(sock)  # type: ignore[no-untyped-call]
        return wrapped, environ

    # cheroot's stub says get_environ(self); at run time wrap() passes the socket.
    def get_environ(self, sock: Any) -> dict[str, Any]:  # type: ignore[override]
        environ: dict[str, Any] = {"HTTPS": "on", "wsgi.url_scheme": "https"}
        common_name = peer_common_name(sock.getpeercert())
        if common_name is not None:
            environ["SSL_CLIENT_S_DN_CN"] = common_name
        return environ


class _Server(wsgi.Server):
    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        # Clients that fail the handshake or hang up are what the tests are about; cheroot
        # would print each one to stderr.
        return


class WebDAVServer(RecordingServer[RecordedRequest], InProcessServer):
    """wsgidav on cheroot with mandatory client certificates, in a daemon thread; a context manager.

    ``root`` is the folder served at ``/`` (created if missing).  ``cert``/``key``
    default to the PKI's server certificate (valid for 127.0.0.1 and localhost),
    ``client_ca`` to the PKI root.  ``tls_min``/``tls_max`` take ``"1.2"``/``"1.3"``.
    ``statuses`` maps a path to an HTTP status answered for every method;
    ``forbidden`` path prefixes answer ``403``.  ``mount``, ``collection_slash``,
    ``content_range`` and ``intercept``: see the module docstring.  ``mutable_times``: a
    PROPPATCH may set a resource's getlastmodified (by default it is protected, as on Apache).
    ``gzip_multistatus``: a ``207`` answer goes gzipped to a client that accepts gzip, as Apache's
    ``mod_deflate`` sends XML where it is set up for it.
    """

    def __init__(
        self,
        pki: TestPKI,
        *,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        cert: str | os.PathLike[str] | None = None,
        key: str | os.PathLike[str] | None = None,
        client_ca: str | os.PathLike[str] | None = None,
        tls_min: str = "1.2",
        tls_max: str | None = None,
        statuses: Mapping[str, int] | None = None,
        forbidden: Iterable[str] = (),
        mount: str = "/",
        collection_slash: bool = False,
        intercept: Intercept | None = None,
        content_range: str = "refuse",
        max_body: int | None = None,
        repr_digest: bool = False,
        mutable_times: bool = False,
        late_cut_puts: bool = False,
        gzip_multistatus: bool = False,
        put_status: int | None = None,
    ) -> None:
        if not (mount.startswith("/") and mount.endswith("/")):
            raise ValueError(f"mount must start and end with '/', not {mount!r}")
        if content_range not in ("refuse", "ignore", "take"):
            raise ValueError(f"content_range must be 'refuse', 'ignore' or 'take', not {content_range!r}")
        self.content_range = content_range
        self.max_body = max_body
        self.repr_digest = repr_digest
        self.mutable_times = mutable_times
        self.late_cut_puts = late_cut_puts
        self.gzip_multistatus = gzip_multistatus
        #: The status of a PUT stored whole, where not 201/204 (202: stored at once, said "Accepted").
        self.put_status = put_status
        #: Cut PUT bodies not yet written (``late_cut_puts``): the file, what arrived of it.
        self._late: list[tuple[Path, bytes]] = []
        self._late_lock = threading.Lock()
        self.mount = mount
        self.collection_slash = collection_slash
        self.intercept = intercept
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.statuses = dict(statuses or {})
        self.forbidden = tuple(forbidden)
        self._state: ServerState[RecordedRequest] = ServerState()
        # The handshake itself fails without a trusted client certificate (Apache: SSLVerifyClient require).
        self.ssl_context = server_context(pki, cert=cert, key=key, client_ca=client_ca, tls_min=tls_min,
                                          tls_max=tls_max, verify_mode=ssl.CERT_REQUIRED)
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def _make_app(self) -> WSGIApp:
        config = {
            "host": self.host,
            "port": self._requested_port,
            "provider_mapping": {self.mount.rstrip("/") or "/": str(self.root)},
            # The client certificate is the authentication; no HTTP login on top.
            "simple_dc": {"user_mapping": {"*": True}},
            "http_authenticator": {"domain_controller": None, "accept_basic": True, "accept_digest": False},
            "lock_storage": True,
            "property_manager": True,
            "verbose": 0,
            # Library mode: do not configure logging for the host application (xfer demo prints).
            "logging": {"enable": False},
            "dir_browser": {"enable": False},
            # RFC 4918 protects getlastmodified (Apache and nginx refuse a PROPPATCH of it); wsgidav
            # lets it be set where configured, for clients that keep times (rsync-like).
            "mutable_live_props": ["{DAV:}getlastmodified"] if self.mutable_times else [],
        }
        dav = WsgiDAVApp(config)
        logging.getLogger("wsgidav").addHandler(logging.NullHandler())
        return self._wrap(dav)

    def _wrap(self, app: WSGIApp) -> WSGIApp:
        """Record each request; answer configured statuses and forbidden prefixes before wsgidav."""

        def recorder(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            # PEP 3333: PATH_INFO arrives percent-decoded, as UTF-8 bytes spelled in latin-1.
            path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
            headers = {
                name[5:].replace("_", "-").title(): str(value)
                for name, value in environ.items()
                if name.startswith("HTTP_")
            }
            if environ.get("CONTENT_LENGTH"):
                headers["Content-Length"] = environ["CONTENT_LENGTH"]
            request = RecordedRequest(environ["REQUEST_METHOD"], path, headers, environ.get("SSL_CLIENT_S_DN_CN"))
            self._state.record(request)
            if self.intercept is not None:
                reply = self.intercept(request)
                if reply is not None:
                    _drain(environ)
                    reply_headers = [("Content-Type", "application/xml; charset=utf-8"), *reply.headers.items()]
                    start_response(f"{reply.status} {responses.get(reply.status, 'Other')}", reply_headers)
                    return [reply.body] if isinstance(reply.body, bytes) else reply.body
            status = self.statuses.get(path.rstrip("/") or "/") or self.statuses.get(path)
            if status is None and any(path.startswith(prefix) for prefix in self.forbidden):
                status = 403
            if status is None and not path.startswith(self.mount):
                status = 403  # outside the share: Apache's DocumentRoot (with no /dav in it) refuses
            if (status is None and self.max_body is not None and environ["REQUEST_METHOD"] == "PUT"
                    and int(environ.get("CONTENT_LENGTH") or 0) > self.max_body):
                status = 413
            if (
                status is None
                and self.collection_slash
                and not path.endswith("/")
                and (self.root / path[len(self.mount) :]).is_dir()
            ):
                status = 403
            if self.content_range == "ignore" and environ["REQUEST_METHOD"] == "PUT":
                # The piece is stored as the whole file, as a server that never looks at the header does.
                environ.pop("HTTP_CONTENT_RANGE", None)
            if (status is None and self.content_range == "take" and environ["REQUEST_METHOD"] == "PUT"
                    and environ.get("HTTP_CONTENT_RANGE")):
                return self._put_piece(path, environ, start_response)
            if status is not None:
                _drain(environ)
                body = f"{status} {responses.get(status, '')}\n".encode()
                start_response(
                    f"{status} {responses.get(status, 'Error')}",
                    [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                )
                return [body]
            if self.repr_digest and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
                start_response = self._with_digest(path, start_response)
            if self.late_cut_puts:
                return self._late_if_cut(path, environ, start_response, app)
            if self.gzip_multistatus and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
                return _gzipped_multistatus(app, environ, start_response)
            if self.put_status is not None and environ["REQUEST_METHOD"] == "PUT":
                start_response = _stored_as(self.put_status, start_response)
            return app(environ, start_response)

        return recorder

    def _put_piece(self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """``content_range="take"``: the body written at its place in the file (created if missing)."""
        first = int(environ["HTTP_CONTENT_RANGE"].split()[1].split("-")[0])
        expected = int(environ.get("CONTENT_LENGTH") or 0)
        body = _read_up_to(environ["wsgi.input"], expected)
        local = self.root / path[len(self.mount):]
        existed = local.exists()
        if len(body) < expected:  # cut: Apache writes nothing of a piece it did not get whole
            start_response("400 Bad Request", [("Content-Length", "0")])
            return []
        with open(local, "r+b" if existed else "w+b") as handle:
            handle.seek(first)
            handle.write(body)
        start_response("204 No Content" if existed else "201 Created", [("Content-Length", "0")])
        return []

    def _late_if_cut(
        self, path: str, environ: dict[str, Any], start_response: Callable[..., Any], app: WSGIApp,
    ) -> Iterator[bytes]:
        """``late_cut_puts``: hold a cut PUT's body back; write what was held once this request is answered.

        A generator, as wsgidav's answer is: the request is only carried out as its answer is read.
        """
        with self._late_lock:
            due, self._late = self._late, []
        try:
            if environ["REQUEST_METHOD"] == "PUT" and environ.get("CONTENT_LENGTH"):  # (a chunked one goes on)
                expected = int(environ["CONTENT_LENGTH"])
                body = _read_up_to(environ["wsgi.input"], expected)
                if len(body) < expected:
                    with self._late_lock:
                        self._late.append((self.root / path[len(self.mount):], body))
                    start_response("400 Bad Request", [("Content-Length", "0")])
                    return
                environ["wsgi.input"] = io.BytesIO(body)
            yield from app(environ, start_response)
        finally:
            for local, held in due:
                with contextlib.suppress(OSError):  # (its folder may be gone by now)
                    local.write_bytes(held)

    def _with_digest(self, path: str, start_response: Callable[..., Any]) -> Callable[..., Any]:
        """``start_response`` adding ``Repr-Digest`` to a 200 answer for the file at ``path`` (read whole: tests)."""
        local = self.root / path[len(self.mount):]

        def adding(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            if status.startswith("200") and local.is_file():
                value = base64.b64encode(hashlib.sha256(local.read_bytes()).digest()).decode()
                headers = [*headers, ("Repr-Digest", f"sha-256=:{value}:")]
            return start_response(status, headers, *args)

        return adding

    # -- public API -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        port: int = self._server.bind_addr[1]
        return port

    @property
    def server(self) -> str:
        """``host:port``, as xfer names servers in messages."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``davs://127.0.0.1:PORT/`` (the ``mount`` path), an xfer URL of the served folder."""
        return f"davs://{self.host}:{self.port}{self.mount}"

    @property
    def https_url(self) -> str:
        """``https://127.0.0.1:PORT`` (no trailing slash), for clients that speak plain HTTPS."""
        return f"https://{self.host}:{self.port}"

    def adapter(
        self,
        context: ssl.SSLContext,
        *,
        timeout: float = 10.0,
        root: str | None = None,
        max_listing: int | None = None,
        **options: Any,
    ) -> WebDAVAdapter:
        """An open xfer adapter on this server; ``options`` are the ``[webdav]`` profile options.

        ``root`` defaults to ``mount`` (the profile URL's path); ``max_listing`` in bytes.
        """
        from ..adapters.base import ConnectionSettings
        from ..adapters.webdav import WebDAVAdapter

        settings = ConnectionSettings(
            scheme="davs", host=self.host, port=self.port, root=self.mount if root is None else root,
            ssl_context=context, timeout=timeout, options=options,
        )
        if max_listing is not None:
            settings = dataclasses.replace(settings, max_listing=max_listing)
        return WebDAVAdapter(settings)

    def start(self) -> WebDAVServer:
        """Bind, then serve in a daemon thread.  Returns self (the port is known on return)."""
        if self._server is not None:
            return self
        server = _Server((self.host, self._requested_port), self._make_app(), numthreads=8,
                         server_name="xfer-test-webdav")
        server.ssl_adapter = _CountingSSLAdapter(self.ssl_context, self._state)
        server.prepare()  # binds now, so .port is valid before the thread runs
        self._server = server
        self._thread = threading.Thread(target=server.serve, name=f"xfer-webdav-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every connection (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        with contextlib.suppress(Exception):
            server.stop()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "stopped"
        return f"WebDAVServer({state}, root={str(self.root)!r})"


def _read_up_to(stream: Any, length: int) -> bytes:
    """Up to ``length`` bytes of a request body: fewer if the connection ends first."""
    pieces: list[bytes] = []
    while length > 0:
        try:
            chunk = stream.read(min(length, 65536))
        except OSError:  # the connection broke: what came is what there is
            break
        if not chunk:
            break
        pieces.append(chunk)
        length -= len(chunk)
    return b"".join(pieces)


def _drain(environ: Mapping[str, Any]) -> None:
    """Read a small request body so the connection stays usable after an early answer."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > _DRAIN_LIMIT:
        return  # cheroot closes the connection rather than read a large unread body
    stream = environ["wsgi.input"]
    while length > 0:
        chunk = stream.read(min(length, 65536))
        if not chunk:
            break
        length -= len(chunk)


def _gzipped_multistatus(app: WSGIApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """``app``'s answer, a ``207`` gzipped (``Content-Encoding: gzip``, its length the compressed one)."""
    answered: dict[str, Any] = {}

    def hold(status: str, headers: list[tuple[str, str]], *args: Any) -> Callable[[bytes], None]:
        answered["status"], answered["headers"] = status, headers
        return lambda data: None

    body = b"".join(app(environ, hold))
    status, headers = answered["status"], answered["headers"]
    if status.startswith("207"):
        body = gzip.compress(body)
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        headers += [("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]


def _stored_as(status: int, start_response: Callable[..., Any]) -> Callable[..., Any]:
    """``start_response`` with a stored PUT's 201/204 said as ``status`` (``put_status``)."""

    def answer(said: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
        if said[:3] in ("201", "204"):
            said = f"{status} {responses.get(status, 'Other')}"
        return start_response(said, headers, *rest)

    return answer
