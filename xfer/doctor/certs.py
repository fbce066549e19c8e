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

from .. import pfx
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


def _name_key(name: x509.Name) -> Any:
    """What two names that are the same share (xfer.pfx.name_key, the rule the identity's chain is
    built by); the DER itself for a name that reader cannot read."""
    der = name.public_bytes()
    return pfx.name_key(der) or der


def issued_by_one_of(
    certs: Sequence[x509.Certificate], accepted_ders: Sequence[bytes]
) -> tuple[x509.Certificate, x509.Name] | None:
    """Where the issuer path of ``certs[0]`` (our leaf) meets a CA a server named as acceptable:
    (the certificate whose issuer, or whose own name, matched; the name), or None.

    The path is followed by issuer links from the leaf through the other ``certs``: a
    certificate that is merely in the file (a keystore's trusted partner CA beside a
    self-signed leaf) is on no path and reaches nothing (review TLS-ID, finding M3).  Every
    certificate with the issuer's name is followed, nearest first: of a cross-signed
    intermediate (one name, one certificate from the old root and one from the new), the first
    alone hid the path to the root the server accepts (review of the TLS fixes, finding M5).
    Names are linked as the identity's chain is built (:func:`xfer.pfx.name_key`, RFC 5280 §7.1)
    and compared with the server's as X.500 names (asn1crypto normalises case and spacing too).
    A certificate with the issuer's name links only if its key may have signed the child
    (:func:`_may_have_signed`): a renewed CA of the same name with a new key does not (third
    review of the TLS fixes, finding M-C).
    """
    if not certs:
        return None
    accepted = [_asn1_name(der) for der in accepted_ders]
    accepted_keys = {pfx.name_key(der) for der in accepted_ders} - {None}

    def is_accepted(name: x509.Name) -> bool:
        return pfx.name_key(name.public_bytes()) in accepted_keys or _asn1_name(name.public_bytes()) in accepted

    leaf, others = certs[0], list(certs[1:])
    if is_accepted(leaf.issuer):  # the leaf's own subject is not a CA name
        return leaf, leaf.issuer
    seen: list[x509.Certificate] = []
    todo = [leaf]
    while todo:
        current = todo.pop(0)
        if _name_key(current.issuer) == _name_key(current.subject):
            continue  # self-issued: the path ends here
        for cert in others:
            if cert in seen or _name_key(cert.subject) != _name_key(current.issuer):
                continue
            if not _may_have_signed(cert, current):
                continue  # a renewed CA of that name, with another key
            seen.append(cert)
            # A CA sent along may itself be the one named, or its issuer may be.
            for name in (cert.subject, cert.issuer):
                if is_accepted(name):
                    return cert, name
            todo.append(cert)
    return None


def _may_have_signed(issuer: x509.Certificate, child: x509.Certificate) -> bool:
    """Whether ``issuer``'s key may have signed ``child`` (whose issuer has ``issuer``'s name).

    A renewed CA keeps its name and gets a new key: linked by name alone, the old CA's leaf
    "reached" the root that only the new CA chains to, though ``openssl verify`` fails there
    (review of the TLS fixes, third review, finding M-C).  The child's signature is checked with
    the candidate's public key; where it cannot be checked (a key or signature algorithm
    cryptography does not read), the key identifiers decide where both are present; otherwise
    the name link stands.  A cross-certificate carries the same key, so it still links.
    """
    verdict = _signature_verifies(issuer, child)
    if verdict is not None:
        return verdict
    try:
        aki = child.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except Exception:  # absent, or an extension cryptography cannot read
        return True
    return aki is None or aki == ski


def _signature_verifies(issuer: x509.Certificate, child: x509.Certificate) -> bool | None:
    """Whether ``child``'s signature verifies with ``issuer``'s public key; None if that cannot be told."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

    try:
        key = issuer.public_key()
        signature, signed = child.signature, child.tbs_certificate_bytes
        digest = child.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey):
            scheme = child.signature_algorithm_parameters
            if not isinstance(scheme, padding.PKCS1v15 | padding.PSS):
                return False  # signed by a key of another type
            if digest is None:
                return None
            key.verify(signature, signed, scheme, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(child.signature_algorithm_parameters, ec.ECDSA):
                return False  # signed by a key of another type
            if digest is None:
                return None
            key.verify(signature, signed, ec.ECDSA(digest))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, signed)
        elif isinstance(key, dsa.DSAPublicKey):
            if digest is None:
                return None
            key.verify(signature, signed, digest)
        else:
            return None
    except InvalidSignature:
        return False
    except Exception:  # an algorithm not read, a key of another type than the signature's
        return None
    return True


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
