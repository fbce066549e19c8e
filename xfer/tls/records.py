"""Handshake-record parsing: what a server's handshake messages tell about it.

The message callback (:func:`on_handshake_message`) reads the server's Certificate and
CertificateRequest messages while a handshake runs and records them on that connection's
:class:`HandshakeFacts`; the error translator quotes them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SIGNATURE_SCHEMES",
    "HandshakeFacts",
    "on_handshake_message",
    "parse_certificate_chain",
    "parse_certificate_request",
    "parse_certificate_request_fields",
    "parse_leaf_certificate",
]

#: TLS SignatureScheme code points (RFC 8446 §4.2.3) by name, for reports.
SIGNATURE_SCHEMES = {
    0x0401: "rsa_pkcs1_sha256", 0x0501: "rsa_pkcs1_sha384", 0x0601: "rsa_pkcs1_sha512",
    0x0403: "ecdsa_secp256r1_sha256", 0x0503: "ecdsa_secp384r1_sha384", 0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519", 0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256", 0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
    0x081A: "ecdsa_brainpoolP256r1tls13_sha256", 0x081B: "ecdsa_brainpoolP384r1tls13_sha384",
    0x081C: "ecdsa_brainpoolP512r1tls13_sha512", 0x0904: "mldsa44", 0x0905: "mldsa65", 0x0906: "mldsa87",
    0x0708: "sm2sig_sm3", 0x0201: "rsa_pkcs1_sha1", 0x0203: "ecdsa_sha1", 0x0303: "ecdsa_sha224", 0x0301: "rsa_sha224",
}


@dataclass
class HandshakeFacts:
    """What one connection's handshake showed, kept on that connection (``handshake_facts``).

    Never on the shared context: ``-P N`` runs handshakes in parallel on one context, and
    each error must name its own server's facts.  Failures raised by a connection carry
    its record as ``xfer_handshake_facts``, which :func:`translate_error` reads.
    """

    #: DER of the server's leaf certificate, from its Certificate message.
    server_certificate: bytes | None = None
    #: The server sent a CertificateRequest: a close right after the handshake is about our certificate.
    certificate_requested: bool = False
    #: DER of every certificate the server sent, leaf first (``xfer doctor`` shows the chain).
    server_chain: list[bytes] = field(default_factory=list)
    #: DER of each distinguished name in the CertificateRequest (compared with our issuer).
    acceptable_client_ca_ders: list[bytes] = field(default_factory=list)
    #: Signature algorithms the CertificateRequest allows, by name (or hex code point).
    client_signature_algorithms: list[str] = field(default_factory=list)
    #: The handshake finished; a CertificateRequest after this is TLS 1.3 post-handshake auth.
    handshake_done: bool = False
    #: The CertificateRequest came after the handshake (only seen while a caller listens on).
    requested_after_handshake: bool = False
    #: Something was read from the server while recording: the facts below are evidence, not defaults.
    heard_from_server: bool = False
    #: The server answered our ClientHello with a ServerHello: it found a TLS version and cipher it shares.
    server_hello_seen: bool = False
    #: Whether our Certificate message carried a certificate (None: we sent no Certificate message).
    #: OpenSSL sends an empty one when our key cannot make any signature the server allows.
    client_certificate_sent: bool | None = None

    @property
    def acceptable_client_cas(self) -> list[str]:
        """The issuers the server's CertificateRequest named (``certificate_authorities``), readable.

        Decoded when asked (an error message, ``xfer doctor``), not during every handshake:
        the X.509 name decoder costs a connecting command ~20 ms of start-up (issue 14).
        A name that does not decode is listed as such, so a list is never shorter than the
        server's (doctor would otherwise read "none named": any CA accepted).
        """
        return _human_names(self.acceptable_client_ca_ders)



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
    facts = getattr(conn, "handshake_facts", None)
    if facts is None:
        return
    kind = getattr(msg_type, "name", "")
    if direction != "read":
        if kind == "CERTIFICATE" and getattr(content_type, "name", "") == "HANDSHAKE":
            with contextlib.suppress(Exception):
                facts.client_certificate_sent = bool(parse_certificate_chain(data, version))
        return
    facts.heard_from_server = True
    with contextlib.suppress(Exception):
        if kind == "SERVER_HELLO" and getattr(content_type, "name", "") == "HANDSHAKE":
            facts.server_hello_seen = True
        elif kind == "CERTIFICATE_REQUEST":
            facts.certificate_requested = True
            facts.requested_after_handshake = facts.handshake_done
            ders, algorithms = parse_certificate_request_fields(data, version)
            if ders:
                facts.acceptable_client_ca_ders = ders
            if algorithms:
                facts.client_signature_algorithms = [
                    SIGNATURE_SCHEMES.get(code, f"0x{code:04x}") for code in algorithms
                ]
        elif kind == "CERTIFICATE" and not facts.handshake_done:
            facts.server_chain = parse_certificate_chain(data, version)
            facts.server_certificate = facts.server_chain[0] if facts.server_chain else None


def parse_certificate_chain(data: bytes, version: Any) -> list[bytes]:
    """Every certificate's DER from a Certificate handshake message, leaf first."""
    body = data[4:]  # handshake header: type (1) + length (3)
    tls13 = getattr(version, "name", "") == "TLSv1_3"
    pos = 1 + body[0] if tls13 else 0  # TLS 1.3: certificate_request_context
    end = pos + 3 + int.from_bytes(body[pos : pos + 3], "big")
    pos += 3
    chain = []
    while pos + 3 <= min(end, len(body)):
        length = int.from_bytes(body[pos : pos + 3], "big")
        der = body[pos + 3 : pos + 3 + length]
        if len(der) != length or not length:
            break
        chain.append(der)
        pos += 3 + length
        if tls13:  # per-certificate extensions
            pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    return chain


def parse_leaf_certificate(data: bytes, version: Any) -> bytes | None:
    """The first (leaf) certificate's DER from a Certificate handshake message."""
    chain = parse_certificate_chain(data, version)
    return chain[0] if chain else None


def parse_certificate_request_fields(data: bytes, version: Any) -> tuple[list[bytes], list[int]]:
    """(DER of each acceptable CA name, signature scheme code points) of a CertificateRequest."""
    body = data[4:]  # handshake header: type (1) + length (3)
    algorithms: list[int] = []
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
            elif ext_type == 13:  # signature_algorithms
                algorithms = _code_points(body[pos + 6 : pos + 4 + ext_len])
            pos += 4 + ext_len
    else:
        types_len = body[0]
        pos = 1 + types_len
        sig_len = int.from_bytes(body[pos : pos + 2], "big")
        algorithms = _code_points(body[pos + 2 : pos + 2 + sig_len])
        dn_block = body[pos + 2 + sig_len :]
    if len(dn_block) < 2:
        return [], algorithms
    total = int.from_bytes(dn_block[:2], "big")
    pos, end, ders = 2, 2 + total, []
    while pos < end:
        length = int.from_bytes(dn_block[pos : pos + 2], "big")
        ders.append(dn_block[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return ders, algorithms


def _code_points(block: bytes) -> list[int]:
    return [int.from_bytes(block[i : i + 2], "big") for i in range(0, len(block) - 1, 2)]


def _human_names(ders: list[bytes]) -> list[str]:
    from asn1crypto.x509 import Name

    names = []
    for der in ders:
        try:
            names.append(Name.load(der).human_friendly)
        except Exception:  # a server's malformed name must not break the message that quotes it
            names.append(f"(a name that does not decode: {len(der)} bytes of DER)")
    return names


def parse_certificate_request(data: bytes, version: Any) -> list[str]:
    """The acceptable CA names of a CertificateRequest, human-readable."""
    return _human_names(parse_certificate_request_fields(data, version)[0])
