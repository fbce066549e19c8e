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

The mapping itself is :func:`xfer.http_errors.map_http_error`; the streamed multipart body
is :class:`xfer.multipart.MultipartBody`.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import logging
import re
import ssl
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests
import requests.adapters
import requests.exceptions
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.hooks import dispatch_hook
from requests.structures import CaseInsensitiveDict
from requests.utils import requote_uri

from .errors import (
    InsecureSchemeRefused,
    RemoteError,
    UsageError,
    XferError,
)
from .http_errors import closes_connection, declared_length, map_http_error, small_body
from .http_lean import (
    LEAN_METHODS,
    PIPELINED_METHODS,
    Answers,
    Fields,
    answer_tls_version,
    body_too_long,
    exchange,
    lean_body,
)
from .log import logger, masked_headers
from .net import Proxy, choose_proxy, open_tcp, tunnel_broken
from .protocols.spec import WEB_PROXY_ENVIRONMENT
from .transfer import UPLOAD_BLOCK
from .urls import quote_path

__all__ = [
    "DEFAULT_POOL_SIZE",
    "GuardedHTTPAdapter",
    "XferSession",
    "create_session",
    "drain_error_body",
    "origin_of",
    "skip_large_body",
]

#: ``-v``: method, URL, status and time of every request; ``-vv``: headers, credentials masked.
_log = logger("xfer.http")

#: Connections kept per host: enough for a few parallel transfers, one is reused serially.
DEFAULT_POOL_SIZE = 4
_USER_AGENT = "xfer/0.1"

#: Keyword arguments a request may have and still be prepared by ``XferSession._prepare_plain``.
_PLAIN_KWARGS = frozenset({"data", "headers", "params", "timeout", "allow_redirects", "stream", "verify", "cert",
                           "auth"})
#: Combinations of headers whose merge :meth:`XferSession._plain_headers` keeps (a transfer uses a few).
_MERGED_HEADERS_KEPT = 32
#: A URL's path and query in the form requests would send them: ASCII, percent-encoded, no fragment.
#: Upper-case escapes only (requests upper-cases the hex digits), and no empty query (requests drops a trailing "?").
_PLAIN_URL = re.compile(r"(?:[A-Za-z0-9\-._~:/?@!$&'()*+,;=]|%[0-9A-F]{2})*(?<!\?)")
_DOT_SEGMENT = re.compile(r"/\.\.?(?:[/?]|$)")
#: A session's hooks as requests sets them up: none.
_NO_HOOKS: dict[str, list[Any]] = {"response": []}
#: What ``XferSession.send`` is given by requests (and by the plain path) for one request.
_DELIVER_KWARGS = frozenset({"timeout", "allow_redirects", "stream", "verify", "cert", "proxies"})


def if_match(etag: object) -> str | None:
    """The ``If-Match`` value that pins the version an ETag names (RFC 9110 13.1.1); None where there
    is nothing to pin with.  Only a strong ETag: ``If-Match`` compares strongly, so a weak one
    (Apache's, within a second of a write) never matches.  An unquoted ``getetag`` (wsgidav's)
    is quoted, as the header needs it."""
    if not isinstance(etag, str) or not etag.strip('"') or etag.startswith("W/"):
        return None
    return etag if etag.startswith('"') else f'"{etag}"'


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
        socks: Proxy | None = None,
    ) -> None:
        # Set before super().__init__, which calls init_poolmanager.
        self.ssl_context = ssl_context
        self.blocksize = blocksize
        self.socks = socks
        #: ``scheme://authority`` -> the pool key requests derives from it (see get_connection_with_tls_context).
        self._pool_keys: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        super().__init__(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0)

    def _tls_kwargs(self) -> dict[str, Any]:
        # cert_reqs is spelled out because urllib3 writes it into the context's verify_mode.
        return {"ssl_context": self.ssl_context, "cert_reqs": "CERT_REQUIRED", "blocksize": self.blocksize}

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs, **self._tls_kwargs())
        pool = _HTTPS_POOL
        if self.socks is not None:
            # urllib3 opens the TCP connection in HTTPSConnection._new_conn; a pool class of
            # this adapter's own opens it through the SOCKS proxy.  The TLS handshake, with our
            # context, then runs inside the tunnel exactly as on a direct connection.
            pool = _pool_class(type("SOCKSHTTPSConnection", (_SOCKSHTTPSConnection,), {"xfer_proxy": self.socks}))
        self.poolmanager.pool_classes_by_scheme = {"https": pool}

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> urllib3.connectionpool.ConnectionPool:
        """requests' method, with the pool key of each origin worked out once when no proxy is used.

        Working it out parses the URL twice per request (~6 % of a small PUT's CPU, issue 14);
        it depends only on the URL's scheme and authority.
        """
        url = request.url or ""
        end = url.find("/", url.find("//") + 2) if not proxies else -1
        if end < 0:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        _refuse_tls_overrides(verify, cert)
        key = self._pool_keys.get(url[:end])
        if key is None:
            connection = super().get_connection_with_tls_context(request, verify, proxies, cert)
            self._pool_keys[url[:end]] = self.build_connection_pool_key_attributes(request, verify, cert)
            return connection
        host_params, pool_kwargs = key
        pool: urllib3.connectionpool.ConnectionPool = self.poolmanager.connection_from_host(
            **host_params, pool_kwargs=pool_kwargs
        )
        return pool

    def close(self) -> None:
        """Close every pooled connection now.  urllib3 2's ``PoolManager.clear`` only forgets its
        pools (their connections close when garbage-collected), so a closed session's connections
        would stay open, and usable by whoever still holds a pool."""
        pools = self.poolmanager.pools
        for key in list(pools.keys()):
            pool = pools.get(key)
            if pool is not None:
                pool.close()
        super().close()

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.update(self._tls_kwargs())
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # The origin's connection, inside the proxy's CONNECT tunnel, reads its answers as any other.
        manager.pool_classes_by_scheme = {"https": _HTTPS_POOL}
        return manager

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


#: More interim answers than this before a final one: the server is taken to be broken.
MAX_INTERIM_ANSWERS = 1000
#: The most field lines an interim answer may have (http.client's own limit for a final answer).
_MAX_INTERIM_FIELDS = 100


class _FinalAnswer(http.client.HTTPResponse):
    """http.client's answer, read past every interim (1xx) answer to the final one.

    Why: Python's http.client skips only ``100 Continue``.  A ``102 Processing`` or a ``103
    Early Hints`` (RFC 9110 §15.2: a client must parse any number of them before the final
    answer) became the answer itself, with no body: a PUT the server went on to refuse with
    507, or a DELETE it failed with 500, was reported done.  ``101 Switching Protocols`` ends
    the exchange (xfer never asks for one, and :meth:`XferSession.check` refuses it).
    """

    def begin(self) -> None:
        """Read the final answer's head; a ``Content-Length`` list of one repeated value is that value.

        Why: http.client takes ``Content-Length: 5, 5`` (or two such fields joined) as no length
        and reads the body until the connection closes: on a kept-alive connection, a whole read
        timeout, then "the connection broke".  RFC 9110 §8.6 lets a recipient take such a list as
        its one value.  Different values (RFC 9112 §6.3: the framing cannot be trusted) are
        refused by urllib3 as it builds its answer, before a body is read.
        """
        super().begin()
        if self.length is None and not self.chunked:
            self.length = declared_length(", ".join(self.headers.get_all("Content-Length") or ()) or None)
            if self.length is not None:
                self.will_close = self._check_close()  # type: ignore[attr-defined]

    def _read_status(self) -> tuple[str, int, str]:
        for _ in range(MAX_INTERIM_ANSWERS):
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            self._skip_fields()
        raise http.client.HTTPException(f"more than {MAX_INTERIM_ANSWERS} interim (1xx) answers and no final one")

    def _skip_fields(self) -> None:
        """Read an interim answer's field lines, up to the empty line that ends them."""
        for _ in range(_MAX_INTERIM_FIELDS + 1):
            line = self.fp.readline(http.client._MAXLINE + 1)  # type: ignore[attr-defined]
            if len(line) > http.client._MAXLINE:  # type: ignore[attr-defined]
                raise http.client.LineTooLong("header line")
            if line in (b"\r\n", b"\n", b""):
                return
        raise http.client.HTTPException(f"an interim answer with more than {_MAX_INTERIM_FIELDS} fields")


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    """urllib3's HTTPS connection, its answers read by :class:`_FinalAnswer`."""

    response_class = _FinalAnswer

    def _tunnel(self) -> None:
        """urllib3's ``CONNECT`` through an HTTP proxy; a proxy silent past the timeout is named.

        urllib3 reports it as a read timeout of the server's, which nothing was sent to yet.
        """
        try:
            super()._tunnel()
        except (TimeoutError, ConnectionResetError) as exc:  # (RemoteDisconnected is one)
            # Worded as FTPS and SFTP word it (xfer.net): the server was never reached.
            proxy = self.proxy
            where = f"{proxy.scheme}://{proxy.netloc}" if proxy is not None else "(the proxy)"
            raise tunnel_broken(where, f"{self._tunnel_host}:{self._tunnel_port}", exc,
                                hint="check the proxy option, or HTTPS_PROXY / NO_PROXY") from exc


def _pool_class(connection: type[_HTTPSConnection]) -> type[urllib3.connectionpool.HTTPSConnectionPool]:
    """A pool of connections of class ``connection`` (urllib3 picks a manager's pool class by the URL's scheme)."""
    return type(f"{connection.__name__}Pool", (urllib3.connectionpool.HTTPSConnectionPool,),
                {"ConnectionCls": connection})


#: The pool of plain connections, made once (proxy_manager_for runs on every proxied request).
_HTTPS_POOL = _pool_class(_HTTPSConnection)


class _SOCKSHTTPSConnection(_HTTPSConnection):
    """urllib3's HTTPS connection, its TCP connection opened through ``xfer_proxy`` (SOCKS5)."""

    xfer_proxy: Proxy

    def _new_conn(self) -> Any:
        # Errors are xfer's own (ConnectError, ProxyRefused); map_http_error finds them in the chain.
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        sock = open_tcp(self._dns_host, self.port, timeout, proxy=self.xfer_proxy, source_address=self.source_address)
        for option in self.socket_options or ():
            sock.setsockopt(*option)
        return sock


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
        proxy: str | None = None,
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
        # No REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, no ~/.netrc; proxies are read below instead.
        self.trust_env = False
        self.headers["User-Agent"] = _USER_AGENT
        # The proxy option wins over the environment (HTTPS_PROXY, ALL_PROXY, NO_PROXY), decided
        # once by choose_proxy and handed to requests: requests reading the environment again
        # took https_proxy over HTTPS_PROXY and read NO_PROXY its own way, so doctor and the
        # errors named one proxy while the traffic went through another (review S).  An
        # http(s):// proxy is urllib3's (CONNECT); SOCKS is ours (GuardedHTTPAdapter).
        host = urllib.parse.urlsplit(origin).hostname or ""
        chosen = choose_proxy(proxy, host, environment=WEB_PROXY_ENVIRONMENT if proxies_from_env else ())
        #: The proxy every connection goes through (None: direct), as messages may show it.
        self.proxy = chosen
        if chosen is not None and not chosen.socks:
            self.proxies = {"https": chosen.url}
        #: Send small HEAD/PUT/DELETE requests by :mod:`xfer.http_lean` on open pooled connections;
        #: for sessions whose status-only answers are read under skip_large_body's rule (HTTPTransfer).
        self.lean_requests = False
        #: Whether lean requests may be pipelined (:meth:`pipelined`); off once a server did not answer one.
        self.pipelining = True
        #: Writes in a row cut by a reset after their first answer (:meth:`pipelined`).
        self._cut_short = 0
        self._lean_pool: urllib3.connectionpool.HTTPSConnectionPool | None = None
        #: The merged, validated headers of plain requests (:meth:`_plain_headers`), by the session's
        #: and the request's fields.
        self._merged_headers: dict[tuple[Any, ...], dict[str, tuple[str, str]]] = {}
        #: Answers read that way (what tests look at to know the path was taken).
        self.lean_answers = 0
        #: Every URL of this origin starts with this (what url_for builds).
        self._url_prefix = origin.removesuffix(":443") + "/"
        self.adapters.clear()
        self.mount("https://", GuardedHTTPAdapter(
            ssl_context, blocksize=blocksize, pool_maxsize=pool_maxsize,
            socks=chosen if chosen is not None and chosen.socks else None,
        ))

    def close(self) -> None:
        self._lean_pool = None
        super().close()

    # -- the guards ------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        # requests.Session sets verify=True / cert=None in __init__; anything else is refused.
        if name in ("verify", "cert"):
            _refuse_tls_overrides(value if name == "verify" else True, value if name == "cert" else None)
        super().__setattr__(name, value)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """As ``requests.Session.request``; ``timeout=None`` (or none given) means the session's.

        A plain request to our origin (the adapters' every request) is prepared by
        :meth:`_prepare_plain`, which gives the same :class:`~requests.PreparedRequest` as
        requests' own preparation at a fraction of its cost; anything else goes the long way.
        """
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if not args and isinstance(method, str) and isinstance(url, str) and self._plain(url, kwargs):
            stream = kwargs.get("stream")
            return self.send(
                self._prepare_plain(method, url, kwargs.get("data"), kwargs.get("headers")),
                timeout=kwargs["timeout"],
                allow_redirects=kwargs.get("allow_redirects", True),
                stream=self.stream if stream is None else stream,
                verify=True,
                cert=None,
                proxies={},
            )
        return super().request(method, url, *args, **kwargs)

    def _plain(self, url: str, kwargs: dict[str, Any]) -> bool:
        """Whether requests' preparation of this request would add nothing :meth:`_prepare_plain` does not.

        requests spends ~0.4 ms on each request (issue 14: half of a small file's PUT +
        HEAD) merging session settings through generic mappings, re-parsing and re-quoting
        the URL, and walking cookie jars, for what is here always the same answer: our
        origin, a URL ``url_for`` already quoted, no cookies, no proxy, no parameters.
        Only such requests qualify; the checks are exactly the conditions under which
        requests' answer is the one :meth:`_prepare_plain` builds.
        """
        return (
            kwargs.keys() <= _PLAIN_KWARGS
            and not kwargs.get("params")  # (requests' get() passes params=None)
            and kwargs.get("auth") is None
            and kwargs.get("cert") is None
            and kwargs.get("verify") in (None, True)
            and url.startswith(self._url_prefix)
            and _PLAIN_URL.fullmatch(url, len(self._url_prefix)) is not None
            # urllib3's parse removes dot segments and requote_uri decodes %XX of unreserved
            # characters: URLs those would change go the long way.
            and _DOT_SEGMENT.search(url) is None
            and ("%" not in url or requote_uri(url) == url)
            and not self.proxies
            and not self.params
            and not self.cookies
        )

    def _prepare_plain(self, method: str, url: str, data: Any, headers: Any) -> requests.PreparedRequest:
        """What ``prepare_request`` gives for a request :meth:`_plain` accepted, built directly.

        Same steps, same order, requests' own code for the body, headers and auth; skipped
        are only the steps whose result is known: the URL is already in requests' form, the
        cookie jar is empty (so is the merged one), the session has no parameters.
        """
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        prepared.url = url
        prepared.headers = self._plain_headers(headers)
        prepared._cookies = RequestsCookieJar()  # type: ignore[attr-defined]
        prepared.prepare_body(data or {}, None, None)
        if self.auth is not None:
            prepared.prepare_auth(self.auth, url)
        if self.hooks != _NO_HOOKS:  # else prepare_hooks adds nothing to __init__'s default_hooks()
            prepared.prepare_hooks(self.hooks)
        return prepared

    def _plain_headers(self, headers: Mapping[str, Any] | None) -> Fields:
        """The session's headers with ``headers`` over them, as ``prepare_headers`` gives them: merged
        and validated once per combination (an upload's requests repeat a few), copied per request.

        A CaseInsensitiveDict's store maps each lower-case name to ``(name, value)``: copied as it
        is, not through MutableMapping.update (~10 us a request, with the validation).
        """
        current = self.headers
        session_fields = (tuple(current._store.values()) if isinstance(current, CaseInsensitiveDict)  # type: ignore[attr-defined]
                          else tuple(current.items()))
        key = (session_fields, tuple(headers.items()) if headers else ())
        try:
            store = self._merged_headers.get(key)
        except TypeError:  # a value that cannot be hashed: prepare_headers below says what is wrong
            store = None
        if store is None:
            merged = CaseInsensitiveDict(self.headers)
            if headers:
                merged.update(headers)
            validated = requests.PreparedRequest()
            validated.prepare_headers({name: value for name, value in merged.items() if value is not None})
            store = dict(validated.headers._store)  # type: ignore[attr-defined]  # (copied faster than an OrderedDict)
            if len(self._merged_headers) >= _MERGED_HEADERS_KEPT:
                self._merged_headers.clear()
            self._merged_headers[key] = store  # (validated: its values are str or bytes, hashable)
        return Fields.of_store(store.copy())

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        _refuse_tls_overrides(verify, cert)
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {**settings, "verify": True, "cert": None}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send, but only to the allowed origin (this also covers every redirect hop)."""
        if not (request.url or "").startswith(self._url_prefix):  # else it is ours (url_for's form)
            self._check_origin(request.url or "", redirected=False)
        _refuse_tls_overrides(kwargs.get("verify", True), kwargs.get("cert"))
        if not _log.isEnabledFor(logging.INFO):
            return self._deliver(request, kwargs)
        start = time.monotonic()
        _log_request(request)
        try:
            response = self._deliver(request, kwargs)
        except Exception as exc:
            _log_failure(request, start, exc)
            raise
        _log_answer(request, response, start)
        return response

    def _deliver(self, request: requests.PreparedRequest, kwargs: dict[str, Any]) -> requests.Response:
        """``requests.Session.send``; for a request that follows no redirect and uses no proxy, its
        steps without the two whose outcome the answer's headers already give (issue 14, ~10 %
        of a small PUT's CPU): reading cookies from an answer without ``Set-Cookie``, and
        preparing the next hop (``response.next``) of an answer that is no redirect.
        """
        if kwargs.keys() != _DELIVER_KWARGS or kwargs["allow_redirects"] or kwargs["proxies"]:
            return super().send(request, **kwargs)
        sent = {key: value for key, value in kwargs.items() if key != "allow_redirects"}
        adapter = self.get_adapter(url=request.url or "")
        start = time.perf_counter()
        lean = self._lean(adapter, [request], sent)
        answer = None if lean is None else lean[0]
        response = adapter.send(request, **sent) if answer is None else answer  # (a Response is falsy unless ok)
        return self._answered(request, response, sent, start)

    def _answered(
        self, request: requests.PreparedRequest, response: requests.Response, sent: dict[str, Any], start: float
    ) -> requests.Response:
        """What requests does with an answer it did not follow (a redirect's next hop is only prepared)."""
        response.elapsed = datetime.timedelta(seconds=time.perf_counter() - start)
        if not sent["stream"]:
            # Its body is read below (or by a hook): the connection then goes back to the pool,
            # and with it what :meth:`tls_version` would ask (an upload's result reports it).
            response.xfer_tls_version = _connection_tls_version(response)  # type: ignore[attr-defined]
        if request.hooks.get("response"):  # (dispatch_hook returns the answer as it is without one)
            hooked: requests.Response = dispatch_hook(  # type: ignore[no-untyped-call]
                "response", request.hooks, response, **sent
            )
            response = hooked
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            extract_cookies_to_jar(self.cookies, request, response.raw)  # type: ignore[no-untyped-call]
        if response.is_redirect:
            hop = next(self.resolve_redirects(response, request, yield_requests=True, **sent), None)
            response._next = hop  # type: ignore[attr-defined]  # what response.next returns
        if not sent["stream"]:
            _ = response.content
        return response

    def pipelined(
        self, calls: Sequence[tuple[str, str, Any, Mapping[str, str] | None]]
    ) -> Answers | None:
        """Plain requests ``(method, url, data, headers)`` sent in one write on an open pooled
        connection (HTTP/1.1 pipelining: :func:`xfer.http_lean.exchange`), each answer then
        handled as :meth:`request` handles it (no redirect followed).  A ``GET``'s (``PROPFIND``'s)
        body is read whole up to :data:`~xfer.http_lean.PIPELINED_GET_LIMIT`; a longer one is left unread
        (the answer's content empty).

        None: they do not qualify, or no connection is open; the caller sends them one by one.
        :attr:`~xfer.http_lean.Answers.ended_early` says whether they can be out of step with the
        requests.  An answer that is None did not come (the connection closed after an earlier one, or an
        earlier answer set a cookie the later request went without): send that request again.
        """
        kwargs: dict[str, Any] = {"timeout": self.timeout, "allow_redirects": False}
        if not calls or not self.pipelining or not all(method in PIPELINED_METHODS and self._plain(url, kwargs)
                                          for method, url, _, _ in calls):
            return None
        prepared = [self._prepare_plain(method, url, data, headers) for method, url, data, headers in calls]
        sent: dict[str, Any] = {"timeout": self.timeout, "stream": False, "verify": True, "cert": None, "proxies": {}}
        adapter = self.get_adapter(url=prepared[0].url or "")
        start, started = time.perf_counter(), time.monotonic()
        try:
            answers = self._lean(adapter, prepared, sent, methods=PIPELINED_METHODS)
        except Exception as exc:
            _log_request(prepared[0])
            _log_failure(prepared[0], started, exc)
            raise
        if answers is None:
            return None  # nothing sent: the caller's requests log themselves
        results = Answers()
        results.ended_early = answers.ended_early
        for request, answer in zip(prepared, answers, strict=True):
            _log_request(request)
            if answer is None or (results and results[-1] is None):
                results.append(None)
                continue
            response = self._answered(request, answer, sent, start)
            _log_answer(request, response, started)
            results.append(response)
            if "set-cookie" in response.headers or "set-cookie2" in response.headers:
                # The requests after it went without the cookie: to be sent again.
                results += [None] * (len(prepared) - len(results))
                break
            missing = len(results) < len(answers) and answers[len(results)] is None
            if missing and not closes_connection(response.headers) and not body_too_long(response):
                # A later answer went missing on a connection that stayed open: a server that
                # does not take pipelined requests (it cost a read timeout), or whose answer
                # could not be followed (unframed, HTTP/1.0).  Either way: not again.  (An answer
                # whose body was only too long to read here says nothing of the server.)  Not at
                # once when the connection broke while the requests were written (Answers.cut:
                # a keep-alive limit's reset), but a second such write that only its first
                # request got through is a server that closes on what follows an answer.
                if not answers.cut:
                    self.pipelining = False
                elif len(results) == 1:
                    self._cut_short += 1
                    if self._cut_short == 2:
                        self.pipelining = False
        if len(results) > 1 and results[1] is not None:
            self._cut_short = 0  # (in a row)
        return results

    def _lean(
        self, adapter: requests.adapters.BaseAdapter, requests_: list[requests.PreparedRequest], sent: dict[str, Any],
        *, methods: frozenset[str] = LEAN_METHODS,
    ) -> Answers | None:
        """The answers by :func:`xfer.http_lean.exchange` if the requests qualify (``methods``) and a
        pooled connection is open (see that module), else None (the caller sends them the long way)."""
        if (
            not self.lean_requests
            or sent["stream"]
            or not isinstance(adapter, GuardedHTTPAdapter)
            or adapter.socks is not None
            or not all(request.method in methods and lean_body(request) for request in requests_)
        ):
            return None
        pool = self._lean_pool
        if pool is None or pool.pool is None:  # first use, or closed with the session's pools
            found = adapter.get_connection_with_tls_context(requests_[0], True, {}, None)
            if not isinstance(found, urllib3.connectionpool.HTTPSConnectionPool) or found.proxy is not None:
                return None
            # Every request of the session goes to its one origin, so to this pool: looking it up
            # again costs urllib3 a pool-key normalisation per request.
            pool = self._lean_pool = found
        timeout = sent["timeout"]
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if not isinstance(read_timeout, int | float | None):
            return None  # a urllib3 Timeout object: left to urllib3
        answers = exchange(pool, requests_, read_timeout=read_timeout, adapter=adapter)
        if answers is not None:
            self.lean_answers += sum(answer is not None for answer in answers)
        return answers

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
        try:
            origin = origin_of(url)
        except UsageError:
            if not redirected:
                raise
            origin = "?"  # the server's Location, malformed (a bad port): nobody's origin, not a usage error
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
        return self.allowed_origin.removesuffix(":443") + quote_path(path)

    def check(self, response: requests.Response, *, path: str | None = None) -> requests.Response:
        """Return ``response`` if it is a success (2xx); else raise the mapped xfer error.

        A failed response's (small) body is read so its connection goes back to the pool.
        """
        if 200 <= response.status_code < 300:
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
            raise map_http_error(exc, server=self.server, context=self.ssl_context, proxy=self.proxy) from exc

    def tls_version(self, response: requests.Response) -> str | None:
        """The TLS version of the connection a (still open) streamed response, or one read by
        :mod:`xfer.http_lean`, came on."""
        lean = answer_tls_version(response)
        if lean is not None:
            return lean
        noted: str | None = getattr(response, "xfer_tls_version", None)
        return noted if noted is not None else _connection_tls_version(response)


def _connection_tls_version(response: requests.Response) -> str | None:
    """The TLS version of the connection ``response`` is still on (None once it went back to the pool)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        # An answer with "Connection: close": http.client let go of the connection's socket as
        # soon as it read the head; the answer's own reader still holds it until the body is read.
        reader = getattr(getattr(response.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    version = getattr(sock, "version", None)
    return version() if callable(version) else None


def _log_request(request: requests.PreparedRequest) -> None:
    """``-vv``: a request's headers (credentials masked)."""
    if _log.isEnabledFor(logging.DEBUG):  # masking every header costs more than a small file's PUT
        _log.debug("%s %s request headers: %s", request.method, request.url, masked_headers(request.headers))


def _log_failure(request: requests.PreparedRequest, start: float, exc: BaseException) -> None:
    """``-v``: a request that got no answer."""
    _log.info("%s %s failed after %.0f ms: %s", request.method, request.url,
              (time.monotonic() - start) * 1000, type(exc).__name__)


def _log_answer(request: requests.PreparedRequest, response: requests.Response, start: float) -> None:
    """``-v``: method, URL, status and time; ``-vv``: the answer's headers (credentials masked)."""
    _log.info("%s %s -> %s %s (%.0f ms)", request.method, request.url, response.status_code,
              response.reason, (time.monotonic() - start) * 1000)
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug("%s %s response headers: %s", request.method, request.url, masked_headers(response.headers))


def create_session(
    ssl_context: ssl.SSLContext,
    *,
    server: str,
    allowed_origin: str | None = None,
    blocksize: int = UPLOAD_BLOCK,
    timeout: float | tuple[float, float] | None = 30.0,
    pool_maxsize: int = DEFAULT_POOL_SIZE,
    proxies_from_env: bool = True,
    proxy: str | None = None,
) -> XferSession:
    """A pooled, guarded session that talks only to ``allowed_origin`` with ``ssl_context``.

    ``server`` is ``host:port`` as users know it (for messages); ``allowed_origin``
    defaults to ``https://`` + ``server``.  Give each protocol family its own context
    (``tls.create_ssl_context``): urllib3 sets ALPN on the context it uses.
    ``timeout`` is the default for every request.  ``proxy`` (a URL or ``"direct"``, see
    :mod:`xfer.net`) wins; else ``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` are honoured
    unless ``proxies_from_env`` is false.
    """
    return XferSession(
        ssl_context,
        server=server,
        allowed_origin=allowed_origin or f"https://{server}",
        blocksize=blocksize,
        timeout=timeout,
        pool_maxsize=pool_maxsize,
        proxies_from_env=proxies_from_env,
        proxy=proxy,
    )


# -- answer bodies ------------------------------------------------------------------


def drain_error_body(response: requests.Response) -> None:
    """Read a small error body so the connection goes back to the pool; close a large one.

    Small is a ``Content-Length`` up to 64 KiB; a body of unknown
    length (chunked) could be anything, so its connection is given up instead.
    """
    if small_body(response.headers):
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
    if method not in _STATUS_ONLY or response.status_code in (204, 304):
        return response  # no body by definition (nginx answers an overwriting PUT 204, no length)
    if response.status_code == 207 and kwargs.get("stream"):
        # A WebDAV Multi-Status report, streamed: its reader parses it under max_listing.
        return response
    if not small_body(response.headers):
        # Close first, while requests still sees the body as unread: that closes the connection
        # (with unread bytes it must never go back to the pool).  Then mark it read, and empty.
        response.close()
        response._content = b""
        response._content_consumed = True  # type: ignore[attr-defined]
    return response
