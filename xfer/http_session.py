"""The one guarded ``requests.Session`` every HTTP-based adapter uses (HTTPS, WebDAV, AS2).

Why a guarded session and not ``requests.Session()`` plus ``verify=``/``cert=``:

* urllib3 mutates the context it is handed on every new connection.  Given a CA
  path (requests' certifi default, ``REQUESTS_CA_BUNDLE``) it loads it *into our
  context*; given ``cert=`` it replaces our identity for every user of the context;
  given ``verify=False`` it switches our context to ``CERT_NONE``.  So the mounted
  :class:`GuardedHTTPAdapter` passes only our context, strips every TLS pool key,
  overrides ``cert_verify``, and the session refuses ``cert=``/``verify=False``.
* ``trust_env`` is off (no ``REQUESTS_CA_BUNDLE``, no ``~/.netrc`` credentials);
  ``HTTPS_PROXY``/``NO_PROXY`` are read explicitly so proxies still work, through
  ``CONNECT`` with the client certificate presented to the origin inside the tunnel.
* Every request, including each redirect hop, must go to the one allowed origin
  (scheme, host, port): the identity is never presented to another host and
  nothing ever goes out as ``http://``.
* Connections are pooled: many operations on one target reuse one TLS connection.

Public API::

    session = create_session(ctx, server="host:443", allowed_origin="https://host:443")
    with session.translating():              # requests/urllib3/ssl errors -> xfer errors
        response = session.get(session.url_for("/inbox/a.txt"), stream=True)
        session.check(response, path="/inbox/a.txt")   # status -> xfer error
    drain_error_body(response)               # a failed response's connection back to the pool
    map_http_error(response_or_exception, server=..., context=...)   # the mapping itself
    MultipartBody(...)                       # streamed multipart/form-data upload body
"""

from __future__ import annotations

import contextlib
import http.client
import secrets
import ssl
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import requests
import requests.adapters
import requests.exceptions
import urllib3.exceptions
from requests.utils import get_environ_proxies

from .errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    ErrorFields,
    InsecureSchemeRefused,
    RemoteError,
    RemoteExists,
    RemoteLocked,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerError,
    UnsupportedOperation,
    UsageError,
    XferError,
)
from .tls import find_cause, translate_error
from .transfer import UPLOAD_BLOCK, FileBody
from .types import ProgressCallback

__all__ = [
    "DEFAULT_POOL_SIZE",
    "GuardedHTTPAdapter",
    "MultipartBody",
    "XferSession",
    "create_session",
    "drain_error_body",
    "map_http_error",
    "origin_of",
    "skip_large_body",
    "stream_ended_early",
]

#: Connections kept per host: enough for a few parallel transfers, one is reused serially.
DEFAULT_POOL_SIZE = 4
#: An error body is read (so the connection can be reused) only up to this size.
_ERROR_BODY_LIMIT = 64 * 1024
_USER_AGENT = "xfer/0.1"


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url`` in a canonical form (lower case, explicit port)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"invalid port in URL {url!r}") from None
    if port is None:
        port = {"https": 443, "http": 80}.get(scheme, 0)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


class GuardedHTTPAdapter(requests.adapters.HTTPAdapter):
    """An ``HTTPAdapter`` that only ever connects with *our* context, unmodified by requests.

    The context goes into the pool manager *and* into every proxy manager (HTTPS_PROXY
    tunnels), so the identity is presented to the origin inside the CONNECT tunnel.
    ``blocksize`` is urllib3's socket write size for file-like bodies (8 KiB in
    http.client costs 35-50 % more CPU than >= 16 KiB records).
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        blocksize: int = UPLOAD_BLOCK,
        pool_maxsize: int = DEFAULT_POOL_SIZE,
    ) -> None:
        # Set before super().__init__, which calls init_poolmanager.
        self.ssl_context = ssl_context
        self.blocksize = blocksize
        super().__init__(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0)

    def _tls_kwargs(self) -> dict[str, Any]:
        # cert_reqs is spelled out because urllib3 writes it into the context's verify_mode.
        return {"ssl_context": self.ssl_context, "cert_reqs": "CERT_REQUIRED", "blocksize": self.blocksize}

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs, **self._tls_kwargs())

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.update(self._tls_kwargs())
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[Any, Any]:
        # requests would add ca_certs / cert_file / key_file here, and urllib3 would load
        # them into our context.  Only the host part of the key is kept.
        _refuse_tls_overrides(verify, cert)
        host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
        return host_params, {"cert_reqs": "CERT_REQUIRED"}

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # The stock method points the pool at certifi / REQUESTS_CA_BUNDLE (loaded into
        # our context on connect) and at cert= files.  Trust lives in the context only.
        _refuse_tls_overrides(verify, cert)


def _refuse_tls_overrides(verify: Any, cert: Any) -> None:
    if verify not in (True, None):
        raise UsageError(
            f"verify={verify!r} is refused on an xfer session",
            hint="server trust comes from the TLS context: create_ssl_context(identity, ca=..., pin=...)",
        )
    if cert is not None:
        raise UsageError(
            "cert= is refused on an xfer session: it would replace the identity of every user "
            "of the shared TLS context",
            hint="the client identity comes from create_ssl_context(identity, ...)",
        )


class XferSession(requests.Session):
    """A ``requests.Session`` bound to one origin and one TLS context.  Use :func:`create_session`."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        server: str,
        allowed_origin: str,
        blocksize: int = UPLOAD_BLOCK,
        timeout: float | tuple[float, float] | None = 30.0,
        pool_maxsize: int = DEFAULT_POOL_SIZE,
        proxies_from_env: bool = True,
    ) -> None:
        super().__init__()
        origin = origin_of(allowed_origin)
        if not origin.startswith("https://"):
            raise InsecureSchemeRefused(
                f"{allowed_origin} is not https://; xfer never sends anything in clear text",
                hint="use https://",
            )
        self.ssl_context = ssl_context
        self.server = server
        self.allowed_origin = origin
        self.timeout = timeout
        self.proxies_from_env = proxies_from_env
        # No REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, no ~/.netrc; proxies are read below instead.
        self.trust_env = False
        self.headers["User-Agent"] = _USER_AGENT
        self.adapters.clear()
        self.mount(
            "https://", GuardedHTTPAdapter(ssl_context, blocksize=blocksize, pool_maxsize=pool_maxsize)
        )

    # -- the guards ------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        # requests.Session sets verify=True / cert=None in __init__; anything else is refused.
        if name in ("verify", "cert"):
            _refuse_tls_overrides(value if name == "verify" else True, value if name == "cert" else None)
        super().__setattr__(name, value)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """As ``requests.Session.request``; ``timeout=None`` (or none given) means the session's."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        _refuse_tls_overrides(verify, cert)
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        merged = dict(settings["proxies"] or {})
        if self.proxies_from_env and url:
            text = url.decode() if isinstance(url, bytes) else url
            no_proxy = (proxies or {}).get("no_proxy")
            for key, value in get_environ_proxies(text, no_proxy=no_proxy).items():
                merged.setdefault(key, value)
        return {**settings, "proxies": merged, "verify": True, "cert": None}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send, but only to the allowed origin (this also covers every redirect hop)."""
        self._check_origin(request.url or "", redirected=False)
        _refuse_tls_overrides(kwargs.get("verify", True), kwargs.get("cert"))
        return super().send(request, **kwargs)

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            try:
                self._check_origin(urllib.parse.urljoin(resp.url, target), redirected=True)
            except XferError:
                drain_error_body(resp)  # the connection stays reusable
                raise
        return target

    def resolve_redirects(
        self,
        resp: requests.Response,
        req: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool = True,
        cert: Any = None,
        proxies: Any = None,
        yield_requests: bool = False,
        **adapter_kwargs: Any,
    ) -> Iterator[requests.Response]:
        hops = super().resolve_redirects(
            resp, req, stream, timeout, verify, cert, proxies, yield_requests, **adapter_kwargs
        )
        if not yield_requests:
            yield from hops
            return
        # allow_redirects=False: requests only *prepares* the next hop (response.next);
        # a foreign target must not fail the call, the caller sees the 3xx response.
        with contextlib.suppress(XferError):
            yield from hops

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        # Same origin only (checked above), so credentials may stay; requests' own
        # rule would also strip them on a scheme/port change, which cannot happen here.
        return

    def _check_origin(self, url: str, *, redirected: bool) -> None:
        origin = origin_of(url)
        if origin == self.allowed_origin:
            return
        what = "redirected to" if redirected else "asked to send a request to"
        error: type[XferError] = InsecureSchemeRefused if origin.startswith("http://") else RemoteError
        raise error(
            f"{self.server} {what} {url}; xfer only talks to {self.allowed_origin} "
            "and never presents the client certificate to another host",
            hint="use the final URL directly if you trust it",
        )

    # -- helpers for adapters ------------------------------------------------------

    def url_for(self, path: str, *, folder: bool = False) -> str:
        """The URL of an absolute server path, percent-encoded; ``folder`` adds the ``/``."""
        if folder and not path.endswith("/"):
            path += "/"
        return self.allowed_origin.removesuffix(":443") + urllib.parse.quote(path, safe="/")

    def check(self, response: requests.Response, *, path: str | None = None) -> requests.Response:
        """Return ``response`` if it is a success (2xx); else raise the mapped xfer error.

        A failed response's (small) body is read so its connection goes back to the pool.
        """
        if response.status_code < 300:
            return response
        drain_error_body(response)
        raise map_http_error(response, server=self.server, path=path, context=self.ssl_context)

    @contextlib.contextmanager
    def translating(self) -> Iterator[None]:
        """Translate requests/urllib3/ssl/network failures inside the block into xfer errors."""
        try:
            yield
        except XferError:
            raise
        except (
            requests.exceptions.RequestException,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
        ) as exc:
            raise map_http_error(exc, server=self.server, context=self.ssl_context) from exc

    def tls_version(self, response: requests.Response) -> str | None:
        """The TLS version of the connection a (still open) streamed response came on."""
        connection = getattr(response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        version = getattr(sock, "version", None)
        return version() if callable(version) else None


def create_session(
    ssl_context: ssl.SSLContext,
    *,
    server: str,
    allowed_origin: str | None = None,
    blocksize: int = UPLOAD_BLOCK,
    timeout: float | tuple[float, float] | None = 30.0,
    pool_maxsize: int = DEFAULT_POOL_SIZE,
    proxies_from_env: bool = True,
) -> XferSession:
    """A pooled, guarded session that talks only to ``allowed_origin`` with ``ssl_context``.

    ``server`` is ``host:port`` as users know it (for messages); ``allowed_origin``
    defaults to ``https://`` + ``server``.  Give each protocol family its own context
    (``tls.create_ssl_context``): urllib3 sets ALPN on the context it uses.
    ``timeout`` is the default for every request; ``HTTPS_PROXY``/``NO_PROXY`` are
    honoured unless ``proxies_from_env`` is false.
    """
    return XferSession(
        ssl_context,
        server=server,
        allowed_origin=allowed_origin or f"https://{server}",
        blocksize=blocksize,
        timeout=timeout,
        pool_maxsize=pool_maxsize,
        proxies_from_env=proxies_from_env,
    )


# -- status and exception mapping ------------------------------------------------

# nginx `ssl_verify_client on` never fails the handshake: it answers HTTP 400 with these.
_NGINX_NO_CERT = "no required ssl certificate was sent"
_NGINX_CERT_ERROR = "the ssl certificate error"
_NGINX_CERT_EXPIRED = "the ssl certificate has expired"  # not in nginx 1.22; cheap to recognise


def drain_error_body(response: requests.Response) -> None:
    """Read a small error body so the connection goes back to the pool; close a large one.

    Small is a ``Content-Length`` up to 64 KiB; a body of unknown
    length (chunked) could be anything, so its connection is given up instead.
    """
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= _ERROR_BODY_LIMIT:
        with contextlib.suppress(Exception):
            _ = response.content
    else:
        response.close()


#: Methods whose answer is only a status for xfer: their bodies are never needed whole.
_STATUS_ONLY = frozenset({"PUT", "POST", "DELETE"})


def skip_large_body(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """A session response hook: leave a large or unbounded answer body unread (connection closed).

    Acts on requests whose answer is only a status (PUT, POST, DELETE).  requests reads a
    non-streamed body whole before returning; a server answering with an endless or huge
    body would fill memory.  A body up to 64 KiB by ``Content-Length`` is read as usual
    (error messages quote it, the connection goes back to the pool).  The hook runs before
    requests reads the body, so it can mark the body as read, and empty, first.
    """
    method = response.request.method if response.request is not None else None
    if method not in _STATUS_ONLY or response.status_code in (204, 304) or response.status_code < 200:
        return response  # no body by definition (nginx answers an overwriting PUT 204, no length)
    if response.status_code == 207 and kwargs.get("stream"):
        # A WebDAV Multi-Status report, streamed: its reader parses it under max_listing.
        return response
    length = response.headers.get("Content-Length", "")
    if not (length.isdigit() and int(length) <= _ERROR_BODY_LIMIT):
        # Close first, while requests still sees the body as unread: that closes the connection
        # (with unread bytes it must never go back to the pool).  Then mark it read, and empty.
        response.close()
        response._content = b""
        response._content_consumed = True  # type: ignore[attr-defined]
    return response


def _body_text(response: requests.Response) -> str:
    consumed = getattr(response, "_content_consumed", False)
    if not consumed:
        return ""
    with contextlib.suppress(Exception):
        return (response.content or b"")[:_ERROR_BODY_LIMIT].decode("utf-8", "replace")
    return ""


def map_http_error(
    failure: requests.Response | BaseException,
    *,
    server: str,
    path: str | None = None,
    context: ssl.SSLContext | None = None,
) -> XferError:
    """The xfer error for a failed HTTP response or a requests/urllib3/ssl exception.

    Responses: 401/403 -> :class:`RemotePermissionDenied`, 404/410 -> :class:`RemoteNotFound`,
    413/507 -> :class:`RemoteStorageFull`, nginx's 400 client-certificate pages ->
    :class:`ClientCertificateRequired` / :class:`ClientCertificateRejected` (the same
    errors a TLS-level rejection gives), 5xx -> :class:`ServerError` with status and reason.
    Exceptions go through :func:`xfer.tls.translate_error` (needs ``context``), then the
    HTTP-specific cases (proxy, cut stream, bad URL).
    """
    if isinstance(failure, BaseException):
        return _map_exception(failure, server=server, context=context)
    return _map_response(failure, server=server, path=path, context=context)


def _map_response(
    response: requests.Response, *, server: str, path: str | None, context: ssl.SSLContext | None
) -> XferError:
    status = response.status_code
    reason = response.reason or http.client.responses.get(status, "")
    what = path or urllib.parse.unquote(urllib.parse.urlsplit(response.url or "").path) or "/"
    said = f"{status} {reason}".strip()
    facts: ErrorFields = {"server": server, "path": what, "status": status}
    body = _body_text(response).lower()
    identity = getattr(context, "identity", None)
    if status == 400 and _NGINX_NO_CERT in body:
        return ClientCertificateRequired(
            f"{server} requires a client certificate and none was presented (HTTP {said})",
            hint="pass --identity FILE.p12 (or identity = in the profile)",
            **facts,
        )
    if status == 400 and (_NGINX_CERT_ERROR in body or _NGINX_CERT_EXPIRED in body):
        who = f"client certificate {identity.common_name!r}" if identity else "client certificate"
        return ClientCertificateRejected(
            f"{server} rejected our {who} (HTTP {said}: the server could not verify it; "
            "it may be expired, revoked, or issued by a CA the server does not trust)",
            hint="check the identity with `xfer identity show`, and that the partner trusts its issuer",
            **facts,
        )
    if status in (401, 403):
        login = " (login required)" if status == 401 else ""
        return RemotePermissionDenied(
            f"{server}: permission denied for {what}{login} ({said})",
            hint="check that this certificate / account may access this path",
            **facts,
        )
    if status in (404, 410):
        return RemoteNotFound(f"{server}: {what} does not exist ({said})", **facts)
    if status in (413, 507):
        return RemoteStorageFull(
            f"{server}: {what} is too large for the server ({said})"
            if status == 413
            else f"{server}: no space left on the server for {what} ({said})",
            hint="ask the partner to raise the upload limit (nginx: client_max_body_size)"
            if status == 413
            else "ask the partner to free space or raise the quota",
            **facts,
        )
    if status == 409:
        return RemoteError(
            f"{server}: conflict on {what} ({said}): a parent folder may be missing, or the path is a folder",
            **facts,
        )
    if status == 412:
        return RemoteExists(f"{server}: {what} already exists or changed ({said})", **facts)
    if status == 423:
        return RemoteLocked(f"{server}: {what} is locked ({said})", **facts)
    if status in (405, 501):
        return UnsupportedOperation(
            f"{server}: the server does not allow {response.request.method if response.request else 'this'}"
            f" on {what} ({said})",
            hint="if the server speaks WebDAV, use davs://",
            **facts,
        )
    if 300 <= status < 400:
        location = response.headers.get("Location", "?")
        return RemoteError(f"{server}: {what} answered {said} to {location}, which xfer did not follow", **facts)
    if status >= 500:
        return ServerError(f"{server}: server error on {what}: HTTP {said}", **facts)
    return RemoteError(f"{server}: {what}: HTTP {said}", **facts)


def _map_exception(exc: BaseException, *, server: str, context: ssl.SSLContext | None) -> XferError:
    found = find_cause(exc, XferError)
    if isinstance(found, XferError):
        return found
    proxy = find_cause(exc, (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError))
    if proxy is not None and find_cause(exc, ssl.SSLError) is None:
        return ConnectError(
            f"the proxy refused or failed the tunnel to {server}: {_innermost(proxy)}",
            hint="check HTTPS_PROXY / NO_PROXY",
        )
    if context is not None:
        translated = translate_error(exc, context=context, server=server)
        if translated is not None:
            return translated
    if find_cause(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError)) is not None:
        return ConnectTimeout(f"{server} stopped answering (read timeout)")
    cut = find_cause(
        exc,
        (
            urllib3.exceptions.ProtocolError,
            http.client.IncompleteRead,
            requests.exceptions.ChunkedEncodingError,
        ),
    )
    if cut is not None:
        return ConnectionDropped(
            f"the connection to {server} broke in the middle of a transfer ({_innermost(cut)})",
            hint="run the command again",
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return UsageError(f"invalid URL for {server}: {exc}")
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return RemoteError(f"{server} redirected too many times")
    return ConnectError(f"{server}: {_innermost(exc)}")


def stream_ended_early(exc: BaseException) -> bool:
    """True if ``exc`` says a response body ended before its proven end.

    An end is proven by ``Content-Length``, the last chunk, or TLS close_notify.  A FIN
    without close_notify (``ssl.SSLEOFError``: the context never suppresses ragged EOFs),
    or an EOF inside the announced length or a chunk, is a truncation: the bytes received
    are not the whole body.  A reset or a timeout is not this: that is a broken connection.
    """
    return find_cause(exc, (ssl.SSLEOFError, http.client.IncompleteRead)) is not None


def _innermost(exc: BaseException) -> str:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or getattr(exc, "reason", None) or (exc.args[0] if exc.args else None)
        if not isinstance(nxt, BaseException):
            break
        exc = nxt
    return str(exc) or type(exc).__name__


# -- streamed multipart/form-data body -------------------------------------------------


def _quote_form_value(value: str) -> str:
    # What browsers do (HTML living standard): escape ", CR, LF as %22 %0D %0A, keep UTF-8.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    """A ``multipart/form-data`` upload of one file, streamed with a known length.

    Iterating yields the part header, the file in blocks (one reused buffer) and
    the closing boundary; ``len()`` is exact, so requests sends Content-Length and
    memory stays flat.  Progress counts file bytes only.  Written here instead of
    depending on requests-toolbelt: about 40 lines, and it reuses :class:`FileBody`'s
    reused-buffer loop.
    """

    def __init__(
        self,
        handle: BinaryIO,
        size: int,
        *,
        field: str,
        filename: str,
        content_type: str = "application/octet-stream",
        fields: Mapping[str, str] | None = None,
        blocksize: int = UPLOAD_BLOCK,
        callback: ProgressCallback | None = None,
    ) -> None:
        self.boundary = "xfer-" + secrets.token_hex(16)
        head = b""
        for name, value in (fields or {}).items():
            head += (
                f"--{self.boundary}\r\nContent-Disposition: form-data; "
                f'name="{_quote_form_value(name)}"\r\n\r\n{value}\r\n'
            ).encode()
        head += (
            f"--{self.boundary}\r\nContent-Disposition: form-data; "
            f'name="{_quote_form_value(field)}"; filename="{_quote_form_value(filename)}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._head = head
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._file = FileBody(handle, size, blocksize=blocksize, callback=callback)

    @property
    def content_type(self) -> str:
        """The request's ``Content-Type`` header value (carries the boundary)."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def sent(self) -> int:
        """File bytes read so far."""
        return self._file.sent

    def __len__(self) -> int:
        return len(self._head) + len(self._file) + len(self._tail)

    def __iter__(self) -> Iterator[bytes | memoryview]:
        yield self._head
        yield from self._file
        yield self._tail
