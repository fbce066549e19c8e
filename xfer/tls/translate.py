"""TLS and network failures in words: which certificate failed, where, and what to do.

Adapters call :func:`translate_error` at their boundary.  What the failing connection's
handshake showed arrives with the exception (:func:`handshake_facts`), never from the
shared context.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    HostnameMismatch,
    PinMismatch,
    ServerCertificateUntrusted,
    TLSError,
    TLSVersionMismatch,
    XferError,
)
from .connection import _SILENT_REJECTION_MAX_SENT, PinMismatchError
from .context import SYSTEM_TRUST
from .records import HandshakeFacts

if TYPE_CHECKING:
    from ..identity import Identity

__all__ = [
    "bytes_moved",
    "closed_after_handshake",
    "find_cause",
    "handshake_facts",
    "identity_not_sent",
    "translate_error",
    "unknown_ca_hint",
    "unsent_issuer",
]

# X509_V_ERR_* codes the translator distinguishes (openssl/x509_vfy.h).
_V_ERR_CERT_HAS_EXPIRED = 10
_V_ERR_CERT_NOT_YET_VALID = 9
_V_ERR_HOSTNAME_MISMATCH = 62
_V_ERR_IP_ADDRESS_MISMATCH = 64

_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
_V_ERR_EE_KEY_TOO_SMALL = 66
_V_ERR_CA_KEY_TOO_SMALL = 67
_V_ERR_CA_MD_TOO_WEAK = 68

# "the server's certificate is too weak for OpenSSL's security level: ..." -- the partner's to
# replace: no CA we add makes OpenSSL accept a 1024-bit key or a SHA-1 signature.
_WEAK_WORDS = {
    _V_ERR_EE_KEY_TOO_SMALL: "its key is too small (an RSA key needs at least 2048 bits)",
    _V_ERR_CA_KEY_TOO_SMALL: "the key of a CA certificate in its chain is too small "
    "(an RSA key needs at least 2048 bits)",
    _V_ERR_CA_MD_TOO_WEAK: "it, or a certificate in its chain, is signed with a weak digest (SHA-1 or MD5)",
}

# "the server's certificate ..." for a certificate outside its validity period.
_VALIDITY_WORDS = {
    _V_ERR_CERT_HAS_EXPIRED: "has expired",
    _V_ERR_CERT_NOT_YET_VALID: "is not valid yet",
}
# "we do not trust the server's certificate: ..." (OpenSSL's own text for other codes).
_UNTRUSTED_WORDS = {
    _V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: "it is self-signed",
    _V_ERR_SELF_SIGNED_CERT_IN_CHAIN: "its chain ends in a self-signed CA we do not trust",
    _V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its issuer is not among the CAs we trust",
    _V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its issuer is not among the CAs we trust",
}

# TLS alerts (by OpenSSL reason name) that mean "the server did not like our certificate".
_REJECTION_REASONS = {
    "SSLV3_ALERT_BAD_CERTIFICATE": "it rejected the certificate as bad",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "it says the certificate is revoked",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "it could not verify the certificate",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "it does not support this kind of certificate",
    "TLSV1_ALERT_ACCESS_DENIED": "it denied access to this certificate",
    "TLSV1_ALERT_DECRYPT_ERROR": "the certificate's signature check failed",
}

# Alerts that, when we presented no certificate at all, can only mean "send one".
_NO_IDENTITY_ALERTS = {
    *_REJECTION_REASONS,
    "SSLV3_ALERT_HANDSHAKE_FAILURE",
    "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED",
}

# Alerts a server sends about the client certificate (or its absence), whenever they come.
_CERTIFICATE_ALERTS = {*_NO_IDENTITY_ALERTS, "TLSV13_ALERT_CERTIFICATE_REQUIRED"}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (cause, context, ``reason``, exception args), breadth first."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        todo.extend(a for a in current.args if isinstance(a, BaseException))


def find_cause(
    exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> BaseException | None:
    """The first exception of ``kinds`` in ``exc``'s cause/context/args chain.

    requests wraps urllib3 which wraps ssl; the ssl error is what tells us what happened.
    """
    return next((current for current in _chain(exc) if isinstance(current, kinds)), None)


def closed_after_handshake(exc: BaseException) -> bool:
    """True if ``exc`` comes from a server that closed right after a handshake that asked for
    a client certificate, before sending any application byte (see ``XferConnection``)."""
    return any(getattr(current, "xfer_closed_after_handshake", False) for current in _chain(exc))


def alert_received(exc: BaseException) -> str | None:
    """The TLS alert the peer sent that ended the connection behind ``exc`` (OpenSSL's reason, such
    as ``TLSV1_ALERT_INTERNAL_ERROR``), None if the failure was found here (a record that fails its
    MAC, bytes that are not TLS, a cut) or is not TLS's.  An alert says the peer's TLS layer
    refused: what came before it never reached the application behind it."""
    for current in _chain(exc):
        reason = getattr(current, "reason", None) if isinstance(current, ssl.SSLError) else None
        if isinstance(reason, str) and "_ALERT_" in reason:
            return reason
    return None


def bytes_moved(exc: BaseException) -> tuple[int, int] | None:
    """Application bytes (sent, received) on the TLS connection that raised ``exc``, None if unknown."""
    for current in _chain(exc):
        moved = getattr(current, "xfer_bytes_moved", None)
        if isinstance(moved, tuple):
            return moved
    return None


def accepted_us(exc: BaseException) -> bool:
    """Whether the TLS connection behind ``exc`` carried application bytes past what a server that
    refuses our certificate lets through: an answer, or more sent than a silent rejection takes
    in (``XferConnection``).  Such a server had taken the certificate."""
    return _past_rejection(bytes_moved(exc))


def _past_rejection(moved: tuple[int, int] | None) -> bool:
    """Whether ``moved`` (application bytes sent, received) is more than a silent rejection lets by."""
    return moved is not None and (moved[1] > 0 or moved[0] > _SILENT_REJECTION_MAX_SENT)


def _broken(server: str, moved: tuple[int, int] | None) -> ConnectionDropped | None:
    """A connection that failed in the middle of a transfer: after more was sent than a silent
    rejection lets through (see ``XferConnection``), or after the server had answered.  Such a
    failure is the network's (or the server's), never a verdict on our certificate."""
    if moved is None or not _past_rejection(moved):
        return None
    sent, received = moved
    after = f"{sent} bytes had been sent" if sent > _SILENT_REJECTION_MAX_SENT else f"{received} bytes had arrived"
    return ConnectionDropped(
        f"the connection to {server} broke after {after}",
        hint="run the command again; if it repeats, the server (or something between) cuts transfers",
    )


def handshake_facts(exc: BaseException) -> HandshakeFacts:
    """The handshake facts of the connection that raised ``exc`` (empty if none is known)."""
    for current in _chain(exc):
        facts = getattr(current, "xfer_handshake_facts", None)
        if isinstance(facts, HandshakeFacts):
            return facts
    return HandshakeFacts()


def identity_not_sent(facts: HandshakeFacts, *, server: str, identity: Identity | None) -> XferError | None:
    """The error for a server that asked for our certificate and got none although we have one.

    OpenSSL sends an empty Certificate message when our key cannot make any of the signatures
    the server's CertificateRequest allows (an Ed25519 or P-384 key where it lists RSA and P-256):
    "none was presented, pass --identity" was said to users who had (review TLS-ID, finding H2).
    None if the facts do not show this.
    """
    if identity is None or not facts.certificate_requested or facts.client_certificate_sent is not False:
        return None
    from ..identity import key_description

    try:
        key_type, key_size = key_description(identity.certificate)
    except XferError:
        key_type, key_size = "unknown", None
    key = f"{key_type}{f' {key_size}-bit' if key_size and key_type == 'RSA' else ''}"
    allowed = ", ".join(facts.client_signature_algorithms) or "not listed"
    return ClientCertificateRejected(
        f"{server} asked for a client certificate, but the {key} key of {identity.common_name!r} can make none "
        f"of the signatures it accepts ({allowed}), so none was sent",
        hint="use an identity whose key type the server accepts (one of the algorithms above), or ask the "
        f"partner to accept {key_type} signatures",
    )


def _silent_rejection(*, facts: HandshakeFacts, server: str, identity: Identity | None) -> XferError:
    not_sent = identity_not_sent(facts, server=server, identity=identity)
    if not_sent is not None:
        return not_sent
    closed = f"{server} closed the connection right after the TLS handshake"
    if identity is None:
        return ClientCertificateRequired(
            f"{closed}: it most likely requires a client certificate and none was presented",
            hint="pass --identity FILE.p12 (or identity = in the profile)",
        )
    return ClientCertificateRejected(
        f"{closed}: it most likely rejected our client certificate {identity.common_name!r}"
        f"{_accepted_cas(facts)}",
        hint="check with the partner that this certificate is registered for your account "
        "and that they trust its issuer",
    )


def translate_error(exc: BaseException, *, context: ssl.SSLContext, server: str) -> XferError | None:
    """Map a TLS or network failure to the xfer error a user can act on; None if neither.

    ``server`` is ``host:port`` as the user knows it (also the error's ``server`` field).
    ``context`` gives what the connection was built from (identity, trust, pin); what its
    handshake showed comes with ``exc`` from the failing connection (:func:`handshake_facts`).
    Adapters call this at their boundary and ``raise translated from exc``.
    """
    found = find_cause(exc, XferError)
    if isinstance(found, XferError):
        return found
    identity = getattr(context, "identity", None)
    if closed_after_handshake(exc):
        return _silent_rejection(facts=handshake_facts(exc), server=server, identity=identity)
    ssl_exc = find_cause(exc, ssl.SSLError)
    if isinstance(ssl_exc, ssl.SSLError):
        translated = _translate_ssl(
            ssl_exc, context=context, facts=handshake_facts(exc), server=server, identity=identity,
            moved=bytes_moved(exc),
        )
        return translated.copy_with(server=server)
    network = _translate_network(exc, server=server, identity=identity, moved=bytes_moved(exc))
    return network.copy_with(server=server) if network is not None else None


def _translate_ssl(
    exc: ssl.SSLError, *, context: ssl.SSLContext, facts: HandshakeFacts, server: str, identity: Identity | None,
    moved: tuple[int, int] | None = None,
) -> XferError:
    trust = getattr(context, "trust_source", SYSTEM_TRUST)
    if isinstance(exc, PinMismatchError):
        return PinMismatch(
            f"{server}: server certificate {exc.actual} does not match the pinned {exc.expected}",
            hint="if the partner renewed its certificate, check the new fingerprint with them and update --pin",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _refused_server_certificate(exc, facts=facts, server=server, trust=trust)
    reason = exc.reason or ""
    if reason == "SSLV3_ALERT_HANDSHAKE_FAILURE" and facts.heard_from_server and not facts.server_hello_seen:
        # Refused at our ClientHello: the server chose no version and cipher, sent no certificate and
        # asked for none of ours, so ours cannot be what it refused (review TLS-ID, finding H1).
        # Nor need it be the version or cipher: a server (a CDN, a virtual host) refuses a host
        # name it does not serve, or none at all, with this same alert (review of the TLS fixes,
        # finding M2).
        return _no_common_version(context, server=server, reason=reason, host_name=True)
    not_sent = identity_not_sent(facts, server=server, identity=identity)
    if not_sent is not None and (reason in _CERTIFICATE_ALERTS or _broken(server, moved) is None):
        # Only while the certificate can be what failed: an alert about it, or a failure before
        # application data moved.  A server that asks optionally gets our empty Certificate, the
        # handshake succeeds, data flows; a cut after that is the network's (review of the TLS
        # fixes, finding M1).
        return not_sent
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED" or (
        identity is None and reason in _NO_IDENTITY_ALERTS
    ):
        # Without an identity there is no certificate to reject: whatever alert the server
        # chose (Go's TLS says bad_certificate), it wanted one.
        return ClientCertificateRequired(
            f"{server} requires a client certificate and none was presented",
            hint="pass --identity FILE.p12 (or identity = in the profile)",
        )
    who = f"client certificate {identity.common_name!r}" if identity else "client certificate"
    if reason == "TLSV1_ALERT_UNKNOWN_CA":
        return ClientCertificateRejected(
            f"{server} does not trust the issuer of our {who} "
            f"(issued by {identity.issuer if identity else '?'}){_accepted_cas(facts)}",
            hint=unknown_ca_hint(identity),
        )
    if reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        return ClientCertificateRejected(
            f"{server} rejected our {who}: the server says it has expired",
            hint="renew the identity (xfer identity show FILE.p12 shows its dates)",
        )
    if reason in _REJECTION_REASONS:
        return ClientCertificateRejected(
            f"{server} rejected our {who}: {_REJECTION_REASONS[reason]}{_accepted_cas(facts)}",
            hint="check with the partner that this certificate is registered for your account",
        )
    if reason == "SSLV3_ALERT_HANDSHAKE_FAILURE":
        return ClientCertificateRejected(
            f"{server} aborted the handshake after seeing our {who} "
            "(it rejects the certificate, or shares no cipher with us)",
            hint="check that the partner registered this certificate",
        )
    if reason in (
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
    ):
        return _no_common_version(context, server=server, reason=reason)
    if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return TLSVersionMismatch(
            f"{server} did not answer with TLS ({reason.lower()})",
            # Not FTP alone: SSH or plain HTTP on an https:// port answer the same way, and were told
            # about port 990 (review R, finding 10).
            hint="wrong port or scheme? something other than TLS answered (plain HTTP, SSH, clear-text FTP); "
            "for FTP, ftps:// is implicit TLS (port 990) and ftpes:// explicit (port 21)",
        )
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        # Our certificate is a suspect only while (almost) nothing went through the connection.
        broken = _broken(server, moved)
        if broken is not None:
            return broken
        # Only a server that asked for our certificate can have closed over it.  Facts that show
        # no request clear it: "it may have rejected our client certificate" beside doctor's "the
        # server did not ask for one" (review R, finding 5).  Without facts (none came with the
        # failure) the suspicion stays.
        asked = facts.certificate_requested or not _facts_known(facts)
        if identity is None or not asked:
            return ConnectionDropped(f"{server} closed the TLS connection unexpectedly",
                                     hint="run again with --traceback for details")
        return ConnectionDropped(
            f"{server} closed the TLS connection unexpectedly (it may have rejected our client certificate)",
            hint="check that the server accepts your certificate; run again with --traceback for details",
        )
    return TLSError(f"{server}: TLS failed: {reason.lower() or exc}")


def _no_common_version(
    context: ssl.SSLContext, *, server: str, reason: str, host_name: bool = False
) -> TLSVersionMismatch:
    """No TLS version or cipher in common, worded from what this context offered.

    ``--tls-max 1.2`` against a TLS 1.3-only server read "xfer offers TLS 1.2 and 1.3" and "the
    server may only speak TLS 1.0/1.1": both false (review R, finding 9).  With ``host_name`` the
    refusal may also be of the host name we sent (SNI), or of its absence: said so, and the hint
    says which name went (none, for an IP address).
    """
    error = _no_common_version_or_cipher(context, server=server, reason=reason, host_name=host_name)
    if not host_name:
        return error
    host = server.rsplit(":", 1)[0].strip("[]") if server.count(":") else server
    try:
        ipaddress.ip_address(host)
    except ValueError:
        sni = (f"; or the server does not serve the host name {host!r} (a CDN or virtual host refuses names "
               "it does not know): check it is the name the partner gave")
        return error.copy_with(hint=f"{error.hint}{sni}")
    return error.copy_with(hint=f"xfer connected by IP address ({host}) and so sent no host name (SNI), which a "
                           "CDN or virtual host refuses: connect by the host name the partner gave; otherwise, "
                           f"{error.hint}")


def _no_common_version_or_cipher(
    context: ssl.SSLContext, *, server: str, reason: str, host_name: bool
) -> TLSVersionMismatch:
    low = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
    high = ssl.TLSVersion.TLSv1_3 if context.maximum_version == ssl.TLSVersion.MAXIMUM_SUPPORTED else min(
        context.maximum_version, ssl.TLSVersion.TLSv1_3)
    offered = [name for version, name in ((ssl.TLSVersion.TLSv1_2, "1.2"), (ssl.TLSVersion.TLSv1_3, "1.3"))
               if low <= version <= high]
    what = "no common TLS version or cipher, or it does not serve this host name" if host_name else (
        "no common TLS version or cipher")
    said = f"{server}: {what} ({reason.lower()}); xfer offered TLS {' and '.join(offered)}"
    if high < ssl.TLSVersion.TLSv1_3:
        return TLSVersionMismatch(
            said + " (--tls-max 1.2)",
            hint="the server may need TLS 1.3, which --tls-max 1.2 leaves out: raise --tls-max to 1.3 "
            "(tls_max = in the profile), or drop it",
        )
    if low > ssl.TLSVersion.TLSv1_2:
        return TLSVersionMismatch(
            said + " (--tls-min 1.3)",
            hint="the server may not speak TLS 1.3 (only 1.2, or older): lower --tls-min to 1.2 "
            "(tls_min = in the profile), or drop it",
        )
    return TLSVersionMismatch(
        said + " with ECDHE or DHE key exchange and AES or ChaCha20 cipher suites (none with SHA-1)",
        hint="the server may only speak TLS 1.0/1.1 (refused: RFC 8996) or offer only cipher suites xfer "
        "refuses (SHA-1, plain RSA key exchange, RC4, 3DES): ask the partner to enable TLS 1.2 with "
        "ECDHE-*-AES*-GCM suites, or TLS 1.3 (openssl s_client -connect HOST:PORT shows what it offers)",
    )


def _facts_known(facts: HandshakeFacts) -> bool:
    """Whether ``facts`` are a connection's record (the server's certificate was seen), not the empty default."""
    return facts.server_certificate is not None or facts.handshake_done


def _self_issued(certificate: bytes, otherwise: bool) -> bool:
    """Whether a DER certificate is self-issued as OpenSSL compares names (:func:`xfer.pfx.self_issued`);
    ``otherwise`` (names compared as cryptography reads them) where that reader cannot tell."""
    from .. import pfx  # here: pfx imports cryptography's ciphers, which a connection without an identity skips

    answer = pfx.self_issued(certificate)
    return otherwise if answer is None else answer


def unknown_ca_hint(identity: Identity | None) -> str:
    """What to do when a server does not trust the issuer of our certificate."""
    if identity is not None and _self_issued(identity.certificate_der, identity.issuer == identity.subject):
        # No intermediate can help a self-signed certificate: it is its own issuer.
        return ("the certificate is self-signed: the partner must trust this certificate itself (send them "
                "its PEM: openssl pkcs12 -in FILE.p12 -nokeys -clcerts), or use an identity they issued")
    if identity is not None and not identity.chain_der:
        return "the .p12 holds no intermediate certificate: export it again with the full chain"
    return "ask the partner to trust your CA, or use the identity they issued"


def _refused_server_certificate(
    exc: ssl.SSLCertVerificationError, *, facts: HandshakeFacts, server: str, trust: str
) -> XferError:
    """Our verification refused the server's certificate: say why in a sentence that reads."""
    code = exc.verify_code
    detail = exc.verify_message or exc.reason or "verification failed"
    described = _describe_server_certificate(facts)
    if code in (_V_ERR_HOSTNAME_MISMATCH, _V_ERR_IP_ADDRESS_MISMATCH):
        return HostnameMismatch(
            f"{server}: the server's certificate is not valid for this host name ({detail}){described}",
            hint="connect with the name the certificate was issued for; a mismatch can mean a wrong server",
        )
    if code in _VALIDITY_WORDS:
        return ServerCertificateUntrusted(
            f"{server}: the server's certificate {_VALIDITY_WORDS[code]}{described}",
            hint="tell the partner their server certificate needs renewing (or check this computer's clock)",
        )
    if code in _WEAK_WORDS:
        return ServerCertificateUntrusted(
            f"{server}: the server's certificate is too weak for OpenSSL's security level: "
            f"{_WEAK_WORDS[code]}{described}",
            hint="the partner must replace it (RSA of at least 2048 bits or EC, signed with SHA-256 or better); "
            "no CA file given with --ca changes this",
        )
    unsent = unsent_issuer(facts) if code in _NO_ISSUER else None
    if unsent is not None:
        # Not "our CA did not issue it": the server sent its certificate alone, and whether the
        # configured CA issued its issuer cannot be known without it (review R, finding 7).  Nor
        # is that issuer an intermediate for certain: a single-tier root CA issues server
        # certificates itself, and the fix is then ours (review U, finding 3).
        return ServerCertificateUntrusted(
            f"{server}: we do not trust the server's certificate: it was issued by {unsent}, which the server "
            f"did not send and which is not among the CAs we trust{described}; trusted: {trust}",
            hint=f"if {unsent} is the partner's root CA, add it to the file given with --ca (ca = in the "
            "profile); if it is an intermediate CA, ask the partner to serve the full chain (their "
            "certificate and that intermediate), or add it to the file given with --ca",
        )
    why = _UNTRUSTED_WORDS.get(code or 0, detail)
    return ServerCertificateUntrusted(
        f"{server}: we do not trust the server's certificate: {why}{described}; trusted: {trust}",
        hint="if this is the partner's CA, pass it with --ca partner-ca.pem (or ca = in the profile)"
        if trust == SYSTEM_TRUST
        else "the CA given with --ca (or ca = in the profile) did not issue this certificate: ask the "
        "partner for the CA that did (the issuer named above), and check that this is the right server",
    )


#: Verification codes that mean "the issuer of a certificate in the chain was not found".
_NO_ISSUER = (_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, _V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)


def unsent_issuer(facts: HandshakeFacts) -> str | None:
    """The issuer (RFC 4514) of a server certificate sent alone that is not self-issued, else None.

    A server that sends only its leaf leaves its issuer for the client to find.  Whether that
    issuer is a root CA (a single-tier CA issues server certificates itself: sending the leaf
    alone is right, and the root belongs in --ca) or an intermediate the server should have
    sent cannot be told from the leaf: messages name both.
    """
    if len(facts.server_chain) != 1:
        return None
    from cryptography import x509

    try:
        leaf = x509.load_der_x509_certificate(facts.server_chain[0])
    except ValueError:
        return None
    if _self_issued(facts.server_chain[0], leaf.issuer == leaf.subject):
        return None
    return leaf.issuer.rfc4514_string()


def _translate_network(
    exc: BaseException, *, server: str, identity: Identity | None, moved: tuple[int, int] | None = None
) -> XferError | None:
    timeout = find_cause(exc, (TimeoutError, socket.timeout))
    if timeout is not None:
        return ConnectTimeout(
            f"{server} did not answer in time",
            hint="check the address and firewall, or raise the timeout (--timeout)",
        )
    gai = find_cause(exc, socket.gaierror)
    if gai is not None:
        return ConnectError(f"cannot resolve the host name of {server}", hint="check the URL's host name")
    refused = find_cause(exc, ConnectionRefusedError)
    if refused is not None:
        return ConnectError(f"{server} refused the connection", hint="check the host and port")
    dropped = find_cause(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError))
    if dropped is not None:
        return _broken(server, moved) or ConnectionDropped(f"the connection to {server} was dropped")
    oserr = find_cause(exc, OSError)
    if isinstance(oserr, OSError) and oserr.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return ConnectError(f"{server} is unreachable ({oserr.strerror})")
    return None


def _accepted_cas(facts: HandshakeFacts) -> str:
    names = facts.acceptable_client_cas
    if not names:
        return ""
    return "; the server accepts certificates issued by: " + " | ".join(names[:5])


def _describe_server_certificate(facts: HandshakeFacts) -> str:
    """Who the refused server certificate belongs to, as seen in the failed handshake."""
    der = facts.server_certificate
    if not der:
        return ""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return ""
    fingerprint = "sha256:" + hashlib.sha256(der).hexdigest()
    return (
        f"; it is {cert.subject.rfc4514_string()} issued by {cert.issuer.rfc4514_string()}, "
        f"fingerprint {fingerprint}"
    )
