"""One probing handshake, for ``xfer profile test``."""

from __future__ import annotations

import socket
import ssl
from typing import Any

from ..errors import TLSError, XferError
from .translate import translate_error

__all__ = ["probe_handshake"]


def probe_handshake(context: ssl.SSLContext, host: str, port: int, *, timeout: float = 10.0) -> dict[str, Any]:
    """One TLS handshake with ``context`` and a read probe: what ``profile test`` reports.

    Reading after the handshake surfaces a TLS 1.3 client-certificate rejection,
    which arrives only after the client believes the handshake is done.
    """
    server = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.settimeout(0.5)
                try:
                    tls.recv(1)
                except TimeoutError:
                    pass  # nothing to read and no alert: the server accepted us
                peer = tls.getpeercert() or {}
                return {
                    "tls_version": tls.version(),
                    "cipher": (tls.cipher() or ("?",))[0],
                    "server_certificate": _subject_text(peer),
                    "client_certificate_presented": getattr(context, "identity", None) is not None,
                }
    except XferError:
        raise
    except (OSError, ssl.SSLError) as exc:
        raise (translate_error(exc, context=context, server=server) or TLSError(f"{server}: {exc}")) from exc


def _subject_text(peer: dict[str, Any]) -> str:
    parts = []
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            parts.append(f"{key}={value}")
    return ", ".join(parts)
