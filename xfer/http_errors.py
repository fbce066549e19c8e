"""HTTP failures to xfer errors: status codes, nginx's client-certificate pages, exceptions.

Used by the guarded session (:mod:`xfer.http_session`) and by the adapters that read
status codes of their own (WebDAV's 207 answers).  TLS and network failures go through
:func:`xfer.tls.translate_error` first.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import re
import ssl
import urllib.parse
from collections.abc import Mapping

import requests
import requests.exceptions
import urllib3.exceptions

from .errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    ErrorFields,
    ProxyRefused,
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
from .net import Proxy, proxy_tls_failed, tunnel_broken, tunnel_refused
from .numbers import server_http_date, server_int
from .tls import find_cause, translate_error

__all__ = [
    "ERROR_BODY_LIMIT", "closes_connection", "declared_length", "map_http_error", "media_type", "retry_after",
    "small_body", "stream_ended_early",
]

#: An error body is read (so the connection can be reused, and its text quoted) only up to this size.
ERROR_BODY_LIMIT = 64 * 1024


def declared_length(value: str | None) -> int | None:
    """A ``Content-Length`` value as a number of bytes; None if it is not one (absent, signed,
    not ASCII digits: :func:`~xfer.numbers.server_int`, or a list of different values).

    A list of one repeated value ("3, 3", or two fields that requests joined so) is that value,
    as RFC 9110 §8.6 allows: a proxy that merges two copies of the field sends it so.
    """
    if value is not None and "," in value:
        values = {part.strip() for part in value.split(",")}
        if len(values) != 1:
            return None
        value = values.pop()
    return server_int(value)


def media_type(headers: Mapping[str, str]) -> str:
    """An answer's media type, lower case, without parameters (``application/json``); "" if none."""
    return headers.get("Content-Type", "").split(";")[0].strip().lower()


def small_body(headers: Mapping[str, str]) -> bool:
    """Whether an answer's body may be read whole: a ``Content-Length`` of at most
    :data:`ERROR_BODY_LIMIT`.  A larger one, or one of unknown length (chunked, until the close),
    is left unread and its connection given up: a server's answer must not fill memory."""
    length = declared_length(headers.get("Content-Length"))
    return length is not None and length <= ERROR_BODY_LIMIT


def closes_connection(headers: Mapping[str, str]) -> bool:
    """Whether an answer closes its connection (``Connection: close``): nothing may follow it."""
    return "close" in {token.strip().lower() for token in headers.get("Connection", "").split(",")}

# nginx `ssl_verify_client on` never fails the handshake: it answers HTTP 400 with these.
_NGINX_NO_CERT = "no required ssl certificate was sent"
_NGINX_CERT_ERROR = "the ssl certificate error"
_NGINX_CERT_EXPIRED = "the ssl certificate has expired"  # not in nginx 1.22; cheap to recognise


def _body_text(response: requests.Response) -> str:
    consumed = getattr(response, "_content_consumed", False)
    if not consumed:
        return ""
    with contextlib.suppress(Exception):
        return (response.content or b"")[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    return ""


def map_http_error(
    failure: requests.Response | BaseException,
    *,
    server: str,
    path: str | None = None,
    context: ssl.SSLContext | None = None,
    proxy: Proxy | None = None,
) -> XferError:
    """The xfer error for a failed HTTP response or a requests/urllib3/ssl exception.

    Responses: 401/403 -> :class:`RemotePermissionDenied`, 404/410 -> :class:`RemoteNotFound`,
    413/507 -> :class:`RemoteStorageFull`, nginx's 400 client-certificate pages ->
    :class:`ClientCertificateRequired` / :class:`ClientCertificateRejected` (the same
    errors a TLS-level rejection gives), 5xx -> :class:`ServerError` with status and reason.
    Exceptions go through :func:`xfer.tls.translate_error` (needs ``context``), then the
    HTTP-specific cases (proxy, cut stream, bad URL); ``proxy``, the session's, names it when
    the failure is the proxy's.
    """
    if isinstance(failure, BaseException):
        return _map_exception(failure, server=server, context=context, proxy=proxy)
    return _map_response(failure, server=server, path=path, context=context)


def _map_response(
    response: requests.Response, *, server: str, path: str | None, context: ssl.SSLContext | None
) -> XferError:
    status = response.status_code
    reason = response.reason or http.client.responses.get(status, "")
    what = path or urllib.parse.unquote(urllib.parse.urlsplit(response.url or "").path) or "/"
    said = f"{status} {reason}".strip()
    facts: ErrorFields = {"server": server, "path": what, "status": status}
    wait = retry_after(response.headers.get("Retry-After"))
    if wait is not None:
        facts["retry_after"] = wait
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


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    seconds = server_int(text)
    if seconds is not None:
        return float(seconds)
    when = server_http_date(text)
    if when is None:
        return None
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _map_exception(
    exc: BaseException, *, server: str, context: ssl.SSLContext | None, proxy: Proxy | None = None
) -> XferError:
    found = find_cause(exc, XferError)
    if isinstance(found, XferError):
        return found
    failed = find_cause(exc, (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError))
    if failed is not None:
        # urllib3 wraps in ProxyError only what failed before the tunnel stood: nothing of it
        # reached the server, and the server's name and CA do not belong in its message.
        return _proxy_failure(failed, server=server, proxy=proxy)
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


#: Where a proxy of the HTTP family may have been set.
_PROXY_SOURCES = "the proxy option, or HTTPS_PROXY / NO_PROXY"
_PROXY_HINT = f"check {_PROXY_SOURCES}"
#: How http.client words a CONNECT the proxy refused: "Tunnel connection failed: 403 Forbidden".
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})\b ?(.*)")


def _proxy_failure(failed: BaseException, *, server: str, proxy: Proxy | None) -> XferError:
    """The error for a failure on the way through the proxy: reaching it, its TLS, or its answer
    to ``CONNECT`` (refused, or none in time)."""
    unreachable = _unreachable_proxy(failed)
    if unreachable is not None:
        return unreachable
    where = str(proxy) if proxy is not None else "(the proxy)"
    broken_tls = find_cause(failed, ssl.SSLError)
    if broken_tls is not None or find_cause(failed, ConnectionResetError) is not None:
        # The https:// proxy's own handshake (the tunnel's CONNECT failures are xfer's already:
        # _HTTPSConnection._tunnel), worded as doctor words it.
        cause = broken_tls or find_cause(failed, ConnectionResetError)
        assert isinstance(cause, OSError)
        return proxy_tls_failed(cause, where, origin=proxy.origin if proxy is not None else _PROXY_SOURCES)
    refused = _TUNNEL_REFUSED.search(_innermost(failed))
    if refused is not None:
        status = int(refused.group(1))
        return tunnel_refused(where, server, status, f"{status} {refused.group(2)}".strip())
    if find_cause(failed, TimeoutError) is not None:
        return tunnel_broken(where, server, TimeoutError(), hint=_PROXY_HINT)
    return ProxyRefused(f"the proxy {where} failed the tunnel to {server}: {_innermost(failed)}", hint=_PROXY_HINT)


def _unreachable_proxy(exc: BaseException) -> ConnectError | None:
    """The error for a proxy that could not be reached at all, None if it was reached.

    urllib3 wraps both in ``ProxyError``: a TCP connection to the proxy that failed
    (``NewConnectionError``, or ``ConnectTimeoutError``) and a ``CONNECT`` the proxy
    answered with a refusal.  Only the second is the proxy refusing the tunnel; the first
    is worded as FTPS and SFTP word it (:func:`xfer.net.open_tcp`).  With a proxy, every
    TCP connection goes to the proxy, so the failed connection's address is the proxy's.
    """
    failed = find_cause(exc, urllib3.exceptions.ConnectTimeoutError)
    if failed is None:
        return None
    conn = failed.conn if isinstance(failed, urllib3.exceptions.NewConnectionError) else (
        failed.args[0] if failed.args else None)
    host, port = getattr(conn, "host", None), getattr(conn, "port", None)
    scheme = getattr(getattr(conn, "proxy", None), "scheme", None) or "http"
    # Built from its parts: the proxy URL itself may carry credentials (HTTPS_PROXY=http://u:p@...).
    where = f"{scheme}://{f'[{host}]' if host and ':' in host else host}:{port}" if host else "(unknown)"
    hint = _PROXY_HINT
    if not isinstance(failed, urllib3.exceptions.NewConnectionError):
        return ConnectTimeout(f"the proxy {where} did not answer in time", hint=hint)
    cause = find_cause(failed, OSError)
    why = (cause.strerror if isinstance(cause, OSError) else None) or _innermost(failed)
    return ConnectError(f"cannot reach the proxy {where}: {why}", hint=hint)


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
