"""Review of the TLS fixes, finding H3: issuer links are followed by name as RFC 5280 §7.1 and
OpenSSL compare names, not by their DER.

A leaf whose issuer reads ``CN=Issuing CA`` as PrintableString and an intermediate whose subject is
the same name as UTF8String (or the name in other case or spacing) are linked for OpenSSL; compared
as DER the intermediate was dropped from the chain sent, and the server could not reach its CA.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from xfer import pfx
from xfer.identity import Identity

_DER = serialization.Encoding.DER
_NOW = dt.datetime.now(dt.timezone.utc)


def name(*rdns: tuple[str, _ASN1Type | None]) -> x509.Name:
    """A Name of common names, each with the string type given (None: cryptography's default)."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, _type=kind) if kind else
                      x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn, kind in rdns])


def cert(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
         signer: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(_NOW - dt.timedelta(days=1))
            .not_valid_after(_NOW + dt.timedelta(days=300))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256()))


def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def p12(leaf_key: ec.EllipticCurvePrivateKey, leaf: x509.Certificate, others: list[x509.Certificate],
        legacy: bool) -> bytes:
    encryption: serialization.KeySerializationEncryption
    if legacy:  # the full reader (cryptography's) takes 3DES files
        encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
                      .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
                      .build(b"pw"))
    else:
        encryption = serialization.BestAvailableEncryption(b"pw")
    return pkcs12.serialize_key_and_certificates(b"us", leaf_key, leaf, others, encryption)


@pytest.mark.parametrize("legacy", [False, True], ids=["quick-reader", "full-reader"])
@pytest.mark.parametrize(("issuer", "subject"), [
    (name(("Issuing CA", _ASN1Type.PrintableString)), name(("Issuing CA", _ASN1Type.UTF8String))),
    (name(("issuing ca", None)), name(("ISSUING CA", None))),
    (name(("  Issuing   CA ", _ASN1Type.UTF8String)), name(("Issuing CA", _ASN1Type.PrintableString))),
    (name(("Issuing CA", _ASN1Type.BMPString)), name(("issuing ca", _ASN1Type.UTF8String))),
], ids=["printable-vs-utf8", "case", "spacing", "bmp-vs-utf8"])
def test_the_intermediate_is_kept_when_the_names_differ_only_in_encoding(
        issuer: x509.Name, subject: x509.Name, legacy: bool) -> None:
    root_key, int_key, leaf_key = key(), key(), key()
    root = cert(name(("Root CA", None)), name(("Root CA", None)), root_key, root_key, ca=True)
    intermediate = cert(subject, root.subject, int_key, root_key, ca=True)
    leaf = cert(name(("client.example", None)), issuer, leaf_key, int_key, ca=False)
    identity = Identity.from_bytes(p12(leaf_key, leaf, [intermediate], legacy), "pw")
    assert identity.chain_der == (intermediate.public_bytes(_DER),)


@pytest.mark.parametrize("legacy", [False, True], ids=["quick-reader", "full-reader"])
def test_cross_signed_intermediates_and_both_roots_are_kept(legacy: bool) -> None:
    old_key, new_key, int_key, leaf_key, other_key = key(), key(), key(), key(), key()
    old = cert(name(("Old Root", None)), name(("Old Root", None)), old_key, old_key, ca=True)
    new = cert(name(("New Root", None)), name(("New Root", None)), new_key, new_key, ca=True)
    by_old = cert(name(("Issuing CA", None)), old.subject, int_key, old_key, ca=True)
    by_new = cert(name(("Issuing CA", _ASN1Type.PrintableString)), new.subject, int_key, new_key, ca=True)
    unrelated = cert(name(("Partner CA", None)), name(("Partner CA", None)), other_key, other_key, ca=True)
    leaf = cert(name(("us", None)), name(("issuing ca", None)), leaf_key, int_key, ca=False)
    identity = Identity.from_bytes(p12(leaf_key, leaf, [unrelated, by_old, by_new, old, new], legacy), "pw")
    assert set(identity.chain_der) == {c.public_bytes(_DER) for c in (by_old, by_new, old, new)}
    assert identity.chain_der[:2] == (by_old.public_bytes(_DER), by_new.public_bytes(_DER))


def test_name_key_keeps_what_tells_names_apart() -> None:
    def key_of(n: x509.Name) -> pfx.NameKey | None:
        return pfx.name_key(n.public_bytes())

    assert key_of(name(("A", None), ("B", None))) != key_of(name(("B", None), ("A", None)))  # RDN order counts
    assert key_of(name(("Issuing CA", None))) != key_of(name(("Issuing  CB", None)))
    org = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Issuing CA")])
    assert key_of(org) != key_of(name(("Issuing CA", None)))  # the attribute type counts
    # OpenSSL lowers ASCII capitals only (third review of the TLS fixes, finding L-B).
    assert key_of(name(("Ünïcode CA", _ASN1Type.UTF8String))) == key_of(name(("ÜNïCODE ca", _ASN1Type.BMPString)))
    assert key_of(name(("Ünïcode CA", _ASN1Type.UTF8String))) != key_of(name(("ÜNÏCODE ca", _ASN1Type.BMPString)))
    assert pfx.name_key(b"\x30\x03\x31\x01") is None



def test_a_self_signed_leaf_is_told_apart_by_the_same_rule() -> None:
    """Its issuer as PrintableString in capitals, its subject as UTF8String: self-issued for OpenSSL,
    so no intermediate can help and the hint must not ask for one."""
    from xfer.tls import unknown_ca_hint

    leaf_key = key()
    leaf = cert(name(("our client", _ASN1Type.UTF8String)), name(("OUR  CLIENT", _ASN1Type.PrintableString)),
                leaf_key, leaf_key, ca=False)
    identity = Identity.from_bytes(p12(leaf_key, leaf, [], legacy=False), "pw")
    assert pfx.self_issued(identity.certificate_der)
    assert unknown_ca_hint(identity).startswith("the certificate is self-signed"), unknown_ca_hint(identity)


# Third review of the TLS fixes, finding L-B: name_key folded all Unicode case, split on Unicode
# spacing and read NumericString as text, so it called names the same that OpenSSL keeps apart.
_OPENSSL_PAIRS = [
    (("Straße CA", None), ("STRASSE CA", None), False),
    (("Ärzte CA", None), ("ärzte ca", None), False),
    (("A\u00a0CA", None), ("A CA", None), False),
    (("A\x1fCA", None), ("A CA", None), False),
    (("123", _ASN1Type.NumericString), ("123", _ASN1Type.UTF8String), False),
    (("Ärzte CA", _ASN1Type.UTF8String), ("Ärzte ca", _ASN1Type.BMPString), True),
    (("Issuing CA", _ASN1Type.PrintableString), (" issuing \t ca ", _ASN1Type.UTF8String), True),
]


@pytest.mark.parametrize(("issuer", "subject", "same"), _OPENSSL_PAIRS,
                         ids=["sharp-s", "umlaut-case", "nbsp", "unit-separator", "numeric-vs-utf8", "bmp-ascii-case",
                              "printable-spacing"])
def test_name_key_calls_names_the_same_exactly_when_openssl_does(
        issuer: tuple[str, _ASN1Type | None], subject: tuple[str, _ASN1Type | None], same: bool,
        tmp_path: Path) -> None:
    root_key, int_key, leaf_key = key(), key(), key()
    root = cert(name(("Root CA", None)), name(("Root CA", None)), root_key, root_key, ca=True)
    intermediate = cert(name(subject), root.subject, int_key, root_key, ca=True)
    leaf = cert(name(("client.example", None)), name(issuer), leaf_key, int_key, ca=False)
    files = {}
    for label, certificate in (("root", root), ("int", intermediate), ("leaf", leaf)):
        files[label] = tmp_path / f"{label}.pem"
        files[label].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(files["root"]), "-untrusted", str(files["int"]),
                               str(files["leaf"])], capture_output=True, text=True, check=False)
    assert (verified.returncode == 0) is same, verified.stdout + verified.stderr
    assert (pfx.name_key(name(issuer).public_bytes()) == pfx.name_key(name(subject).public_bytes())) is same


def test_a_leaf_issued_by_a_ca_of_a_name_openssl_keeps_apart_is_not_self_signed() -> None:
    """A leaf "straße" issued by the CA "STRASSE": not self-issued for OpenSSL, so the hint must not say
    self-signed, and a server sending such a certificate alone is told its issuer is missing."""
    from xfer.tls import HandshakeFacts, unknown_ca_hint
    from xfer.tls.translate import unsent_issuer

    ca_key, leaf_key = key(), key()
    ca = cert(name(("STRASSE", None)), name(("STRASSE", None)), ca_key, ca_key, ca=True)
    leaf = cert(name(("straße", None)), ca.subject, leaf_key, ca_key, ca=False)
    assert pfx.self_issued(leaf.public_bytes(_DER)) is False
    identity = Identity.from_bytes(p12(leaf_key, leaf, [], legacy=False), "pw")
    assert not unknown_ca_hint(identity).startswith("the certificate is self-signed"), unknown_ca_hint(identity)
    assert unsent_issuer(HandshakeFacts(server_chain=[leaf.public_bytes(_DER)])) == "CN=STRASSE"
    # The digits of a NumericString and of a UTF8String are two names for OpenSSL (cryptography's == says one).
    digits = cert(name(("123", _ASN1Type.UTF8String)), name(("123", _ASN1Type.NumericString)), leaf_key, ca_key,
                  ca=False)
    assert unsent_issuer(HandshakeFacts(server_chain=[digits.public_bytes(_DER)])) == "CN=123"


@pytest.mark.parametrize("legacy", [False, True], ids=["quick-reader", "full-reader"])
def test_an_intermediate_linked_only_by_unicode_case_is_still_sent(legacy: bool) -> None:
    """An identity that worked keeps working: OpenSSL does not link "Ärzte CA" to "ärzte ca", a Java
    server (X500Principal) does; an extra certificate is harmless, a missing one is not."""
    root_key, int_key, leaf_key = key(), key(), key()
    root = cert(name(("Root CA", None)), name(("Root CA", None)), root_key, root_key, ca=True)
    intermediate = cert(name(("ärzte ca", None)), root.subject, int_key, root_key, ca=True)
    leaf = cert(name(("client.example", None)), name(("Ärzte CA", None)), leaf_key, int_key, ca=False)
    identity = Identity.from_bytes(p12(leaf_key, leaf, [intermediate], legacy), "pw")
    assert identity.chain_der == (intermediate.public_bytes(_DER),)
