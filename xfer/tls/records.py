"""Handshake-record parsing: what a server's handshake messages tell about it.

The message callback (:func:`on_handshake_message`) reads the server's Certificate and
CertificateRequest messages while a handshake runs and records them on that connection's
:class:`HandshakeFacts`; the error translator quotes them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HandshakeFacts", "on_handshake_message", "parse_certificate_request", "parse_leaf_certificate"]


@dataclass
class HandshakeFacts:
    """What one connection's handshake showed, kept on that connection (``handshake_facts``).

    Never on the shared context: ``-P N`` runs handshakes in parallel on one context, and
    each error must name its own server's facts.  Failures raised by a connection carry
    its record as ``xfer_handshake_facts``, which :func:`translate_error` reads.
    """

    #: DER of the server's leaf certificate, from its Certificate message.
    server_certificate: bytes | None = None
    #: The issuers the server's CertificateRequest named (``certificate_authorities``).
    acceptable_client_cas: list[str] = field(default_factory=list)
    #: The server sent a CertificateRequest: a close right after the handshake is about our certificate.
    certificate_requested: bool = False



def on_handshake_message(
    conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any, data: bytes
) -> None:
    """Record, on the connection being handshaken, what error messages need later.

    The server's leaf certificate (Certificate message): when *we* reject it, the stdlib
    no longer hands it out, and the message should still name its subject, issuer and
    fingerprint.  The CA names of the server's CertificateRequest: when the server
    rejects *our* certificate, they say which issuers it would have accepted.  ``conn`` is
    the ssl-level connection (our XferSSLSocket / XferSSLObject) the message belongs to.
    """
    if direction != "read":
        return
    facts = getattr(conn, "handshake_facts", None)
    if facts is None:
        return
    kind = getattr(msg_type, "name", "")
    with contextlib.suppress(Exception):
        if kind == "CERTIFICATE_REQUEST":
            facts.certificate_requested = True
            names = parse_certificate_request(data, version)
            if names:
                facts.acceptable_client_cas = names
        elif kind == "CERTIFICATE":
            facts.server_certificate = parse_leaf_certificate(data, version)


def parse_leaf_certificate(data: bytes, version: Any) -> bytes | None:
    """The first (leaf) certificate's DER from a Certificate handshake message."""
    body = data[4:]  # handshake header: type (1) + length (3)
    pos = 0
    if getattr(version, "name", "") == "TLSv1_3":
        pos = 1 + body[0]  # certificate_request_context
    pos += 3  # certificate_list length
    length = int.from_bytes(body[pos : pos + 3], "big")
    der = body[pos + 3 : pos + 3 + length]
    return der if len(der) == length and length else None


def parse_certificate_request(data: bytes, version: Any) -> list[str]:
    from asn1crypto.x509 import Name

    body = data[4:]  # handshake header: type (1) + length (3)
    if getattr(version, "name", "") == "TLSv1_3":
        ctx_len = body[0]
        pos = 1 + ctx_len
        ext_end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
        pos += 2
        dn_block = b""
        while pos < ext_end:
            ext_type = int.from_bytes(body[pos : pos + 2], "big")
            ext_len = int.from_bytes(body[pos + 2 : pos + 4], "big")
            if ext_type == 47:  # certificate_authorities
                dn_block = body[pos + 4 : pos + 4 + ext_len]
            pos += 4 + ext_len
    else:
        types_len = body[0]
        pos = 1 + types_len
        sig_len = int.from_bytes(body[pos : pos + 2], "big")
        dn_block = body[pos + 2 + sig_len :]
    if len(dn_block) < 2:
        return []
    total = int.from_bytes(dn_block[:2], "big")
    pos, end, names = 2, 2 + total, []
    while pos < end:
        length = int.from_bytes(dn_block[pos : pos + 2], "big")
        der = dn_block[pos + 2 : pos + 2 + length]
        names.append(Name.load(der).human_friendly)
        pos += 2 + length
    return names
