"""Opening TCP connections: directly, or through a proxy (HTTP ``CONNECT`` or SOCKS5).

One function, :func:`open_tcp`, gives every protocol the same socket whatever carries it,
so TLS, certificate checks and pins run end to end *inside* the tunnel exactly as on a
direct connection: the proxy only ever sees ciphertext.  FTPS opens its control and each
data connection through it, SFTP its one SSH connection (host-key checks unchanged); the
HTTP family (HTTPS, WebDAV, AS2) uses it for SOCKS (``xfer.http_session``), while urllib3
speaks ``CONNECT`` itself.

Proxy URLs (the ``proxy`` option, or ``ALL_PROXY``/``HTTPS_PROXY`` from the environment):

* ``http://HOST:PORT`` — an HTTP proxy, tunnelling with ``CONNECT``;
* ``socks5://HOST:PORT`` — SOCKS5, the name resolved here; ``socks5h://`` — by the proxy
  (the only way when this machine cannot resolve partner names);
* ``https://HOST:PORT`` — an HTTP proxy reached over TLS: HTTP family only (urllib3
  nests the two TLS layers; FTPS's data connections cannot).

Credentials in a proxy URL are refused: a URL is shown in messages, logs and ``ps``.

Written here rather than taken from PySocks (what ``requests[socks]`` needs): SOCKS5
without authentication is a two-message exchange (RFC 1928), and the dependency would be
the only one of xfer's without a release in years.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import socket
import ssl
import struct
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Literal

from .errors import ConnectError, ConnectionDropped, ConnectTimeout, ProxyDenied, ProxyRefused, TLSError, UsageError
from .numbers import server_status

__all__ = [
    "DIRECT", "Proxy", "choose_proxy", "connect_tunnel", "open_tcp", "parse_proxy", "proxy_tls_failed", "reach_proxy",
    "tunnel_broken", "tunnel_refused",
]

ProxyKind = Literal["http", "https", "socks5", "socks5h"]
#: A proxy URL without a port: the scheme's own for HTTP proxies, as urllib3 and requests take it
#: (what HTTPS_PROXY=http://proxy.corp always meant for HTTPS here), SOCKS's for SOCKS.
_DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
#: ``proxy = "direct"``: connect directly, whatever the environment says.
DIRECT = "direct"
#: An HTTP proxy's answer to CONNECT is a status line and a few headers.
_MAX_CONNECT_HEAD = 16 * 1024

_SOCKS_REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by the proxy's rules",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused by the destination",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


#: Where a proxy came from when it was not an environment variable.
OPTION_ORIGIN = "the proxy option"


@dataclass(frozen=True)
class Proxy:
    """A parsed proxy URL (no credentials): ``kind``, ``host``, ``port``; ``origin`` says where
    it was set (the proxy option, or "the ALL_PROXY environment variable"), for messages."""

    kind: ProxyKind
    host: str
    port: int
    origin: str = field(default=OPTION_ORIGIN, compare=False)

    @property
    def url(self) -> str:
        return f"{self.kind}://{_target(self.host, self.port)}"

    @property
    def socks(self) -> bool:
        return self.kind in ("socks5", "socks5h")

    def __str__(self) -> str:
        return self.url


def parse_proxy(url: str, origin: str = OPTION_ORIGIN) -> Proxy | None:
    """The :class:`Proxy` of ``url``; None for ``"direct"``; :class:`UsageError` for anything unusable.

    A URL without a scheme (``proxy.corp:3128``) is an HTTP proxy, as curl and requests take it.
    """
    text = url.strip()
    if text.lower() == DIRECT:
        return None
    shown = _shown(text)
    if "@" in text:
        # A host never holds an "@": what comes before it is a user and password, whether or not
        # urlsplit can tell (a "#", "/" or "?" in the password ends its idea of the authority).
        raise UsageError(
            f"proxy {shown!r}: credentials in the proxy URL are not accepted",
            hint="xfer sends no proxy credentials (a URL shows in logs, process lists and profiles): remove "
            "the user:password@ part and use a proxy that admits this machine without a password",
        )
    if "://" not in text:
        text = f"http://{text}"
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        raise UsageError(f"proxy {shown!r}: not a URL with a valid port",
                         hint="write it as KIND://HOST:PORT") from None
    kind = parts.scheme.lower()
    if kind not in _DEFAULT_PORTS:
        raise UsageError(
            f"proxy {shown!r}: unsupported kind {kind}://",
            hint='use http://HOST:PORT, https://HOST:PORT, socks5://HOST:PORT, socks5h://HOST:PORT (or "direct")',
        )
    if not parts.hostname:
        raise UsageError(f"proxy {shown!r} names no host", hint="write it as KIND://HOST:PORT")
    return Proxy(kind, parts.hostname, port or _DEFAULT_PORTS[kind], origin)  # type: ignore[arg-type]


def _shown(url: str) -> str:
    """``url`` as a message may show it: whatever comes before its last ``@`` in the authority
    (a user and password, of any characters) as ``***``."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    if "@" not in rest:
        return url
    return f"{scheme}{separator}***@{rest.rpartition('@')[2]}"


def choose_proxy(option: str | None, host: str, *, environment: tuple[str, ...]) -> Proxy | None:
    """The proxy for a connection to ``host``: the ``proxy`` option if set, else the environment's.

    ``environment`` names the variables to read, first set wins; of each, the lower-case
    spelling first (``https_proxy`` before ``HTTPS_PROXY``), as curl and requests read them.
    ``NO_PROXY`` exempts hosts (:func:`_exempt`).  ``"direct"`` in either place means no proxy.
    This is the one decision: the HTTP session hands it to requests rather than letting it
    read the environment again.
    """
    if option:
        return parse_proxy(option)
    for name in environment:
        value = os.environ.get(name.lower()) or os.environ.get(name)
        if value:
            if _exempt(host):
                return None
            try:
                return parse_proxy(value, f"the {name} environment variable")
            except UsageError as exc:
                raise exc.copy_with(f"{name}: {exc.message}") from None
    return None


def _exempt(host: str) -> bool:
    """Whether ``NO_PROXY`` (``no_proxy`` first) names ``host``: ``*``, the name, a domain it is in
    (``example.com`` or ``.example.com``), the address, or a network holding it (``10.0.0.0/8``).

    A ``:port`` on an entry is ignored: the host is exempt on every port (curl's reading).
    """
    entries = (os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or "").split(",")
    host = host.lower().strip("[]")
    address = _address(host)
    for raw in entries:
        entry = raw.strip().lower()
        # A :port, after a name, an IPv4 address or a bracketed IPv6 one ([::1]:8443; a bare
        # IPv6 address has more than one colon and no port).
        if entry.count(":") == 1 or (entry.startswith("[") and "]:" in entry):
            entry = entry.rsplit(":", 1)[0]
        entry = entry.strip("[]")
        domain = entry.lstrip(".")
        if entry == "*" or (domain and (host == domain or host.endswith("." + domain))):
            return True
        if address is not None and "/" in entry:
            with contextlib.suppress(ValueError):
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
    return False


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def open_tcp(
    host: str,
    port: int,
    timeout: float | None,
    *,
    proxy: Proxy | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """A connected TCP socket to ``host:port``, through ``proxy`` if given.

    Failures are :class:`ConnectError` (:class:`ConnectTimeout` for a timeout): reaching
    the proxy and what the proxy answered are told apart, the latter as :class:`ProxyRefused`.
    """
    if proxy is None:
        return socket.create_connection((host, port), timeout, source_address=source_address)
    if proxy.kind == "https":
        direct = 'proxy = "direct" in the profile' + (
            "" if proxy.origin == OPTION_ORIGIN else f", or NO_PROXY={host} in the environment")
        raise UsageError(
            f"an https:// proxy ({proxy}, from {proxy.origin}) cannot carry this connection",
            hint=f"use an http:// or socks5:// proxy for FTPS and SFTP, or connect directly: {direct}",
        )
    sock = reach_proxy(proxy, timeout, source_address=source_address)
    try:
        if proxy.socks:
            _socks5(sock, proxy, host, port)
        else:
            connect_tunnel(sock, proxy, host, port)
    except BaseException:
        sock.close()
        raise
    return sock


def reach_proxy(proxy: Proxy, timeout: float | None, *, source_address: tuple[str, int] | None = None
                ) -> socket.socket:
    """A TCP connection to ``proxy`` itself; :class:`ConnectError` (:class:`ConnectTimeout`) naming it."""
    try:
        return socket.create_connection((proxy.host, proxy.port), timeout, source_address=source_address)
    except TimeoutError as exc:
        raise ConnectTimeout(f"the proxy {proxy} did not answer within {timeout:g} s",
                             hint=f"check {proxy.origin}") from exc
    except OSError as exc:
        raise ConnectError(f"cannot reach the proxy {proxy}: {exc.strerror or exc}",
                           hint=f"check {proxy.origin}") from exc


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_tunnel(sock: socket.socket, proxy: Proxy, host: str, port: int) -> None:
    """Ask the HTTP proxy at the other end of ``sock`` for a tunnel to ``host:port`` (``CONNECT``).

    Returns once the tunnel stands, not one byte past the proxy's answer read; raises
    :class:`ProxyRefused` (:class:`ProxyDenied` for a 4xx) or :class:`ConnectError`.
    """
    target = _target(host, port)
    _send(sock, proxy, f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("ascii"))
    # The server behind the tunnel may speak first (an FTP banner), and its bytes can follow
    # the proxy's answer in the same segment: read the answer a byte at a time so that not
    # one byte past its blank line is taken (a few hundred bytes, once per connection).
    head = bytearray()
    deadline = _deadline(sock)
    while not head.endswith((b"\r\n\r\n", b"\n\n")):  # (bare LF lines: RFC 9112 2.2 lets a recipient take them)
        if len(head) >= _MAX_CONNECT_HEAD:
            raise ProxyRefused(f"the proxy {proxy} sent an answer too long for a CONNECT reply")
        head += _recv_exactly(sock, 1, proxy, target, deadline)
    status_line = bytes(head).split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
    fields = status_line.split(" ", 2)
    status = server_status(fields[1]) if len(fields) >= 2 and fields[0].startswith("HTTP/") else None
    if status is None:
        raise ProxyRefused(f"the proxy {proxy} answered CONNECT with {status_line[:80]!r}, not HTTP")
    if not 200 <= status < 300:
        raise tunnel_refused(str(proxy), target, status, status_line[9:][:80])


def tunnel_refused(proxy: str, target: str, status: int, said: str) -> ProxyRefused:
    """The error for a ``CONNECT`` the proxy answered with ``status`` (``said``: its status and reason).

    A 4xx is the proxy's rule or its login (407): :class:`ProxyDenied`, not tried again; a 5xx
    (the proxy could not reach the server) may pass.
    """
    if status == 407:
        return ProxyDenied(
            f"the proxy {proxy} requires a login ({said}), which xfer does not send",
            hint="ask the proxy's administrator to admit this machine without a login, "
            'or connect directly (proxy = "direct")',
        )
    if 400 <= status < 500:
        return ProxyDenied(f"the proxy {proxy} refused the tunnel to {target}: {said}",
                           hint="ask the proxy's administrator to allow CONNECT to this host and port")
    return ProxyRefused(f"the proxy {proxy} could not open the tunnel to {target}: {said}",
                        hint="run the command again; if it persists, the proxy cannot reach this host and port")


def _socks5(sock: socket.socket, proxy: Proxy, host: str, port: int) -> None:
    target = _target(host, port)
    deadline = _deadline(sock)
    _send(sock, proxy, b"\x05\x01\x00")  # version 5, one method: no authentication
    version, method = _recv_exactly(sock, 2, proxy, target, deadline)
    if version != 5:
        raise ProxyRefused(f"{proxy} is not a SOCKS5 proxy")
    if method != 0:
        raise ProxyDenied(f"the SOCKS proxy {proxy} requires authentication, which xfer does not offer",
                          hint="use a proxy that admits this machine without a password")
    address = _socks_name(host, proxy) if proxy.kind == "socks5h" else _socks_address(host, port, proxy)
    _send(sock, proxy, b"\x05\x01\x00" + address + struct.pack("!H", port))
    version, reply, _reserved, kind = _recv_exactly(sock, 4, proxy, target, deadline)
    if reply != 0:
        # Its rules (2) and what it cannot do (7, 8) stay so; the network's troubles may pass.
        refused = ProxyDenied if reply in (2, 7, 8) else ProxyRefused
        raise refused(
            f"the SOCKS proxy {proxy} could not open a tunnel to {target}: "
            f"{_SOCKS_REPLIES.get(reply, f'reply code {reply}')}",
            hint="check the host and port, and that the proxy may reach them",
        )
    # The bound address that follows is of no use to us, but must be read off the stream.
    length = {1: 4, 4: 16}.get(kind)
    if length is None:
        length = _recv_exactly(sock, 1, proxy, target, deadline)[0]
    _recv_exactly(sock, length + 2, proxy, target, deadline)


def _socks_name(host: str, proxy: Proxy) -> bytes:
    """``host`` as SOCKS5 carries a name for the proxy to resolve: its type, length and bytes."""
    try:
        name = host.encode("idna")
    except UnicodeError:
        name = b""  # a label over 63 bytes, or characters no host name may have
    if not 0 < len(name) <= 255:
        raise ConnectError(f"{host[:80]!r} is not a host name the SOCKS proxy {proxy} can be asked for",
                           hint="check the host name")
    return b"\x03" + bytes([len(name)]) + name


def _socks_address(host: str, port: int, proxy: Proxy) -> bytes:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ConnectError(f"cannot resolve {host}: {exc.strerror}",
                               hint=f"use socks5h:// to let the proxy resolve names ({proxy.host})") from exc
        ip = ipaddress.ip_address(infos[0][4][0])
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


def _send(sock: socket.socket, proxy: Proxy, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError as exc:
        raise ConnectError(f"the connection to the proxy {proxy} broke: {exc.strerror or exc}") from exc


def _deadline(sock: socket.socket) -> float | None:
    """When a proxy's whole answer must have come: two of the socket's timeouts from now (as an FTP
    reply's), so that one trickling it a byte at a time cannot hold the connection as long as it
    goes on (review W); None without a timeout."""
    timeout = sock.gettimeout()
    return None if timeout is None else time.monotonic() + 2 * timeout


def _recv_exactly(sock: socket.socket, count: int, proxy: Proxy, target: str, deadline: float | None = None
                  ) -> bytes:
    data = bytearray()
    timeout = sock.gettimeout()
    try:
        while len(data) < count:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectTimeout(f"the proxy {proxy} did not complete its answer to the tunnel request "
                                         f"to {target} in time")
                sock.settimeout(left if timeout is None else min(timeout, left))
            try:
                chunk = sock.recv(count - len(data))
            except OSError as exc:
                raise tunnel_broken(str(proxy), target, exc) from exc
            if not chunk:
                raise tunnel_broken(str(proxy), target, None)
            data += chunk
    finally:
        if deadline is not None:
            sock.settimeout(timeout)
    return bytes(data)


def tunnel_broken(proxy: str, target: str, exc: OSError | None, *, hint: str | None = None) -> ConnectError:
    """The error for a tunnel request the proxy did not see through: no answer in time, a close
    (``exc`` None, or http.client's ``RemoteDisconnected``), or another failure of the connection.
    One wording for every protocol: urllib3's own ``CONNECT`` (xfer.http_session) comes here too."""
    if isinstance(exc, TimeoutError):
        return ConnectTimeout(f"the proxy {proxy} did not answer the tunnel request to {target}", hint=hint)
    if exc is None or isinstance(exc, http.client.RemoteDisconnected):
        return ProxyRefused(f"the proxy {proxy} closed the connection while opening a tunnel to {target}", hint=hint)
    return ConnectError(f"the connection to the proxy {proxy} broke while opening a tunnel to {target}: "
                        f"{exc.strerror or exc}", hint=hint)


def proxy_tls_failed(exc: OSError, proxy: str, *, origin: str, timeout: float | None = None) -> ConnectError | TLSError:
    """The error for a TLS handshake with an ``https://`` proxy that failed (``origin``: where the
    proxy was set, for the hint).  Only a failed certificate check is about trust; a proxy that
    closed, reset or stalled its handshake (a restart, a full accept queue) is a connection failure,
    which may pass; any other TLS failure is one of TLS (a proxy that does not speak it)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSError(
            f"the TLS connection to the proxy {proxy} failed: {exc.verify_message or exc.reason or exc}",
            hint="an https:// proxy's certificate is checked against this machine's trusted CAs "
            "(SSL_CERT_FILE), not the partner's --ca; or use an http:// proxy",
        )
    if isinstance(exc, TimeoutError):
        within = "" if timeout is None else f" within {timeout:g} s"
        return ConnectTimeout(f"the proxy {proxy} did not complete its TLS handshake{within}", hint=f"check {origin}")
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return TLSError(f"the TLS connection to the proxy {proxy} failed: {exc.reason or exc}",
                        hint=f"check that the proxy speaks TLS: a proxy without it is http:// ({origin})")
    # An EOF, or a reset (an OSError): the proxy dropped its handshake.
    said = "" if isinstance(exc, ssl.SSLError) else f": {exc.strerror or exc}"
    return ConnectionDropped(f"the proxy {proxy} closed the connection during its TLS handshake{said}",
                             hint=f"run the command again; if it persists, check {origin}")
