"""Certificates in words and facts: who, issued by whom, for which names, until when, which key.

Also the two questions the TLS step asks of the server's chain beyond the handshake:
would the system trust store alone accept it (the "works in the browser" confusion), and
is a certificate's issuer among the names a server's CertificateRequest listed.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import warnings
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from ..identity import days_left, fingerprint_sha256, key_description

__all__ = ["describe", "issued_by_one_of", "load_der", "system_store_verdict", "utc_now"]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def load_der(ders: Sequence[bytes]) -> list[x509.Certificate]:
    """Certificates from DER blobs; an unreadable one is left out."""
    certs = []
    for der in ders:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return certs


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in ext]


def describe(cert: x509.Certificate, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The facts of one certificate, under the keys the README documents."""
    now = now or utc_now()
    key_type, key_size = key_description(cert)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "sans": _sans(cert),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "days_left": days_left(cert.not_valid_after_utc, now=now),
        "sha256": fingerprint_sha256(cert),
        "key_type": key_type,
        "key_size": key_size,
    }


def _asn1_name(der: bytes) -> Any:
    from asn1crypto.x509 import Name

    return Name.load(der)


def issued_by_one_of(
    certs: Sequence[x509.Certificate], accepted_ders: Sequence[bytes]
) -> tuple[x509.Certificate, x509.Name] | None:
    """Where the issuer path of ``certs[0]`` (our leaf) meets a CA a server named as acceptable:
    (the certificate whose issuer, or whose own name, matched; the name), or None.

    The path is followed by issuer links from the leaf through the other ``certs``: a
    certificate that is merely in the file (a keystore's trusted partner CA beside a
    self-signed leaf) is on no path and reaches nothing (review TLS-ID, finding M3).  Names
    are compared as X.500 names (asn1crypto normalises case and spacing as RFC 5280 says).
    """
    if not certs:
        return None
    accepted = [_asn1_name(der) for der in accepted_ders]
    others = list(certs[1:])
    current: x509.Certificate | None = certs[0]
    first = True
    while current is not None:
        # The leaf's own subject is not a CA name; a CA sent along may itself be the one named.
        for name in (current.issuer,) if first else (current.subject, current.issuer):
            if _asn1_name(name.public_bytes()) in accepted:
                return current, name
        if current.issuer == current.subject:
            return None
        first = False
        current = next((cert for cert in others if cert.subject == current.issuer), None)
        if current is not None:
            others.remove(current)
    return None


@functools.cache
def _system_roots() -> tuple[bytes, ...]:
    """The system store's certificates, read through the one TLS factory (no identity, no --ca)."""
    from ..tls import create_ssl_context

    return tuple(create_ssl_context(None).get_ca_certs(binary_form=True))


def system_store_verdict(chain: Sequence[x509.Certificate], host: str) -> tuple[bool | None, str]:
    """Would the system trust store alone accept this server chain for ``host``? (answer, why)."""
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    if not chain:
        return None, "no server certificate was seen"
    with warnings.catch_warnings():
        # Some system roots predate RFC 5280's positive serials; cryptography warns about each.
        warnings.simplefilter("ignore")
        roots = load_der(_system_roots())
    if not roots:
        return None, "the system trust store is empty or unreadable"
    name: x509.GeneralName
    try:
        name = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        name = x509.DNSName(host)
    try:
        verifier = PolicyBuilder().store(Store(roots)).build_server_verifier(name)
        verifier.verify(chain[0], list(chain[1:]))
    except VerificationError as exc:
        return False, str(exc)
    except ValueError as exc:  # a certificate the verifier cannot parse policy-wise
        return False, str(exc)
    return True, "trusted"
