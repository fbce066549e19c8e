"""Step 1: name resolution and TCP connect (every address tried, how long each took)."""

from __future__ import annotations

import socket
import ssl
import time

from ..errors import ConnectError, XferError
from ..net import Proxy, connect_tunnel, open_tcp, proxy_tls_failed, reach_proxy
from ..tls import translate_error
from .report import Step

__all__ = ["connect_step"]


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


def connect_step(
    host: str, port: int, *, timeout: float, context: ssl.SSLContext, proxy: Proxy | None = None,
    tls_proxy: bool = False,
) -> tuple[Step, socket.socket | None]:
    """Resolve ``host`` and connect to the first address that answers; the socket stays open.

    Through a ``proxy`` the tunnel is the connection (the proxy resolves or connects for us).
    ``tls_proxy``: the protocol can nest its TLS in an ``https://`` proxy's (the HTTP family,
    through urllib3); for any other an ``https://`` proxy is :func:`~xfer.net.open_tcp`'s
    usage error, as a transfer would meet it.
    """
    server = f"{host}:{port}"
    step = Step("network", "Name resolution and TCP connect")
    start = time.monotonic()
    if proxy is not None:
        step.facts = {"host": host, "port": port, "proxy": proxy.url}
        try:
            if proxy.kind == "https" and tls_proxy:
                sock = _through_tls_proxy(host, port, timeout, proxy)
            else:
                sock = open_tcp(host, port, timeout, proxy=proxy)
        except XferError as exc:
            return step.fail(exc), None
        step.facts["connect_ms"] = _ms(start)
        step.lines.append(f"tunnel to {server} through the proxy {proxy} in {step.facts['connect_ms']} ms")
        return step, sock
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        error = translate_error(exc, context=context, server=server) or ConnectError(f"cannot resolve {host}")
        step.facts = {"host": host, "port": port, "addresses": []}
        return step.fail(error), None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    step.facts = {"host": host, "port": port, "addresses": addresses, "resolve_ms": _ms(start), "tried": []}
    step.lines.append(f"{host} resolves to {', '.join(addresses)} ({step.facts['resolve_ms']} ms)")
    last: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        began = time.monotonic()
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            last = exc
            step.facts["tried"].append(
                {"address": str(address[0]), "ms": _ms(began), "error": exc.strerror or str(exc)})
            step.lines.append(f"{address[0]}: {exc.strerror or exc}")
            continue
        step.facts["tried"].append({"address": str(address[0]), "ms": _ms(began), "error": None})
        step.facts["connected_to"] = str(address[0])
        step.facts["connect_ms"] = _ms(began)
        step.lines.append(f"connected to {address[0]} port {port} in {step.facts['connect_ms']} ms")
        return step, sock
    assert last is not None
    error = translate_error(last, context=context, server=server) or ConnectError(f"cannot connect to {server}")
    return step.fail(error), None


def _through_tls_proxy(host: str, port: int, timeout: float, proxy: Proxy) -> socket.socket:
    """A tunnel to ``host:port`` through an ``https://`` proxy: TLS to the proxy, checked against
    this machine's trusted CAs (as urllib3 checks it for a transfer), then ``CONNECT`` inside it.

    The socket is the proxy's TLS connection: the partner's TLS would run inside it, which the
    doctor's probe cannot do (the caller skips those steps; the protocol step goes through it).
    """
    raw = reach_proxy(proxy, timeout)
    try:
        sock = ssl.create_default_context().wrap_socket(raw, server_hostname=proxy.host)
    except (ssl.SSLError, OSError) as exc:
        raw.close()
        raise proxy_tls_failed(exc, str(proxy), origin=proxy.origin, timeout=timeout) from exc
    try:
        connect_tunnel(sock, proxy, host, port)
    except BaseException:
        sock.close()
        raise
    return sock
