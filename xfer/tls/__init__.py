"""TLS for every protocol: one context factory, per-connection handshake facts, errors in words.

* :mod:`~xfer.tls.context`: :func:`create_ssl_context` builds every ``ssl.SSLContext``
  (secure defaults, trust, the identity through a memory file);
* :mod:`~xfer.tls.connection`: the socket / memory-BIO connection classes it hands out
  (pin check, silent-close detection, facts carried by failures);
* :mod:`~xfer.tls.records`: handshake-record parsing (server certificate, CertificateRequest CAs);
* :mod:`~xfer.tls.translate`: TLS and network failures to :mod:`xfer.errors`;
* :mod:`~xfer.tls.probe`: the handshake probe behind ``profile test``.
"""

from __future__ import annotations

from .connection import XferSSLObject, XferSSLSocket
from .context import SYSTEM_TRUST, TLS_VERSIONS, XferSSLContext, create_ssl_context, normalize_pin
from .probe import probe_handshake
from .records import HandshakeFacts
from .translate import (
    bytes_moved,
    closed_after_handshake,
    find_cause,
    handshake_facts,
    translate_error,
    unknown_ca_hint,
)

__all__ = [
    "SYSTEM_TRUST",
    "TLS_VERSIONS",
    "HandshakeFacts",
    "XferSSLContext",
    "XferSSLObject",
    "XferSSLSocket",
    "bytes_moved",
    "closed_after_handshake",
    "create_ssl_context",
    "find_cause",
    "handshake_facts",
    "normalize_pin",
    "probe_handshake",
    "translate_error",
    "unknown_ca_hint",
]
