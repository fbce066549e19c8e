"""The identity as DER (issue 14): what a connection reads without ``cryptography.x509``.

A connecting command reads our certificate's validity and extended key usage with
:func:`xfer.pfx.certificate_facts` and hands key and certificates to OpenSSL as DER/PEM it
writes itself.  Every fact must be the one ``cryptography.x509`` reads from the same bytes;
a certificate the DER reader does not vouch for falls back to ``cryptography.x509``.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from xfer import pfx
from xfer.errors import IdentityExpired, IdentityFormatError, IdentityKeyMissing
from xfer.identity import Identity
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

BUNDLES = ["client_p12", "client_expired_p12", "client_expiring_p12", "client_no_eku_p12", "client_untrusted_p12",
           "partner_p12", "server_p12"]
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _eku(cert: x509.Certificate) -> tuple[str, ...] | None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return tuple(oid.dotted_string for oid in usage)


def _agrees(der: bytes) -> None:
    facts = pfx.certificate_facts(der)
    assert facts is not None
    cert = x509.load_der_x509_certificate(der)
    assert facts.not_before == cert.not_valid_before_utc
    assert facts.not_after == cert.not_valid_after_utc
    assert facts.extended_key_usage == _eku(cert)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_facts_of_every_certificate_of_the_pki_are_cryptographys(pki: TestPKI, bundle: str) -> None:
    identity = Identity.load(getattr(pki, bundle), pki.password)
    for der in (identity.certificate_der, *identity.chain_der):
        _agrees(der)
    # And what the identity concludes from them.
    assert identity.not_after == identity.certificate.not_valid_after_utc
    assert identity.not_before == identity.certificate.not_valid_before_utc
    assert identity.fingerprint == "sha256:" + identity.certificate.fingerprint(hashes.SHA256()).hex()


def _certificate(
    not_before: dt.datetime, not_after: dt.datetime, usages: list[ObjectIdentifier] | None, *, critical: bool = False,
) -> bytes:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "der-facts"),
                      x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "xfer")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_KEY.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=critical)
    return builder.sign(_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


_UTC = dt.timezone.utc
_NOW = dt.datetime(2026, 11, 29, 1, 2, 3, tzinfo=_UTC)


@pytest.mark.parametrize(
    ("not_before", "not_after", "usages", "client_auth"),
    [
        pytest.param(_NOW, dt.datetime(2051, 1, 1, 0, 0, 59, tzinfo=_UTC), [ExtendedKeyUsageOID.CLIENT_AUTH], True,
                     id="generalized-time-after-2049"),
        pytest.param(dt.datetime(1950, 1, 1, tzinfo=_UTC), dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=_UTC),
                     None, True, id="utc-time-both-ends-no-eku"),
        pytest.param(dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=_UTC), dt.datetime(2000, 1, 1, tzinfo=_UTC),
                     [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE], True, id="utc-time-across-2000-any-eku"),
        pytest.param(_NOW, _NOW + dt.timedelta(days=1),
                     [ExtendedKeyUsageOID.SERVER_AUTH, ObjectIdentifier("1.3.6.1.4.1.311.20.2.2"),
                      ObjectIdentifier("2.999.1234567")], False, id="other-usages-long-arcs"),
        pytest.param(_NOW, _NOW + dt.timedelta(days=1),
                     [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], True, id="both-usages"),
    ],
)
def test_facts_of_certificates_with_every_time_form_and_usage(
    not_before: dt.datetime, not_after: dt.datetime, usages: list[ObjectIdentifier] | None, client_auth: bool,
) -> None:
    for critical in (False, True):
        der = _certificate(not_before, not_after, usages, critical=critical and usages is not None)
        _agrees(der)
        identity = Identity(key_der=b"", certificate_der=der)
        assert identity.has_client_auth() is client_auth


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda der: der[:-1], id="truncated"),
        pytest.param(lambda der: der + b"\x00", id="trailing-byte"),
        pytest.param(lambda der: der.replace(b"\x17\x0d", b"\x17\x0b", 1), id="time-without-seconds"),
        pytest.param(lambda der: b"\x31" + der[1:], id="not-a-sequence"),
    ],
)
def test_a_certificate_the_der_reader_cannot_vouch_for_is_handed_on(damage: Callable[[bytes], bytes]) -> None:
    der = _certificate(_NOW, _NOW + dt.timedelta(days=1), None)
    assert pfx.certificate_facts(der) is not None
    assert pfx.certificate_facts(damage(der)) is None


def _with_eku_twice(der: bytes) -> bytes:
    """``der`` with its extended key usage extension written twice (its signature no longer fits)."""
    tbs, algorithm, signature = pfx._items(pfx._one(der, 0x30))
    fields = pfx._items(tbs[1])
    extensions = pfx._items(pfx._one(pfx._expect(fields[-1], 0xA3), 0x30))
    extensions += [e for e in extensions if pfx._items(e[1])[0][1] == pfx._EXTENDED_KEY_USAGE]
    block = pfx._whole((0xA3, pfx._whole((0x30, b"".join(pfx._whole(e) for e in extensions)))))
    body = pfx._whole((0x30, b"".join(pfx._whole(f) for f in fields[:-1]) + block))
    return pfx._whole((0x30, body + pfx._whole(algorithm) + pfx._whole(signature)))


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        (0x17, b"491231235959Z", dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=_UTC)),
        (0x17, b"500101000000Z", dt.datetime(1950, 1, 1, tzinfo=_UTC)),
        (0x18, b"99991231235959Z", dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=_UTC)),
        (0x17, b"261329000000Z", None),  # month 13
        (0x17, b"260229000000Z", None),  # 2026 is no leap year
        (0x17, b"2611290102Z", None),  # no seconds (BER allows it, DER does not)
        (0x17, b"261129010203+0100", None),  # an offset instead of Z
        (0x18, b"20261129010203.5Z", None),  # fractional seconds
        (0x18, b"261129010203Z", None),  # GeneralizedTime with two year digits
        (0x17, "２６1129010203Z".encode(), None),  # digits, but not ASCII ones
    ],
)
def test_times_in_their_der_forms_only(tag: int, text: bytes, expected: dt.datetime | None) -> None:
    if expected is None:
        with pytest.raises((ValueError, pfx._Unsupported)):
            pfx._time((tag, text))
    else:
        assert pfx._time((tag, text)) == expected


def test_an_extension_written_twice_is_handed_on() -> None:
    der = _certificate(_NOW, _NOW + dt.timedelta(days=1), [ExtendedKeyUsageOID.SERVER_AUTH])
    assert pfx.certificate_facts(der) is not None
    twice = _with_eku_twice(der)
    assert pfx.certificate_facts(twice) is None
    with pytest.raises(x509.DuplicateExtension):
        x509.load_der_x509_certificate(twice).extensions  # noqa: B018 - cryptography refuses it too


@pytest.mark.parametrize("content", [b"", b"\x80\x01", b"\x2a\x86"], ids=["empty", "padded-arc", "unfinished-arc"])
def test_an_oid_not_in_der_is_not_read(content: bytes) -> None:
    with pytest.raises(pfx._Unsupported):
        pfx._dotted(content)


def test_an_identity_whose_certificate_is_handed_on_still_has_every_fact(
    pki: TestPKI, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """cryptography.x509 answers then: the same dates, the same refusal, the same warning."""
    monkeypatch.setattr(pfx, "certificate_facts", lambda der: None)
    identity = Identity.load(pki.client_p12, pki.password)
    assert identity.not_after == identity.certificate.not_valid_after_utc
    assert identity.check_usable() == []
    with pytest.raises(IdentityExpired, match="expired on"):
        Identity.load(pki.client_expired_p12, pki.password).check_usable()
    assert any("lacks the clientAuth" in w for w in Identity.load(pki.client_no_eku_p12, pki.password).check_usable())


def test_the_key_handed_to_openssl_opens_with_its_password_only(pki: TestPKI, tmp_path: Path) -> None:
    identity = Identity.load(pki.client_p12, pki.password)
    pem = identity.encrypted_key_pem(b"one-time")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert identity.key_der not in pem
    key = serialization.load_pem_private_key(pem, b"one-time")
    plain = serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    assert key.private_bytes(*plain) == identity.key_der == identity.key.private_bytes(*plain)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(pem, b"another")
    # The real tool reads it too (OpenSSL's PEM and PBES2 code, which load_cert_chain uses).
    openssl = shutil.which("openssl")
    assert openssl, "the openssl tool checks the key xfer writes for it"
    (tmp_path / "key.pem").write_bytes(pem)
    shown = subprocess.run([openssl, "pkey", "-in", str(tmp_path / "key.pem"), "-passin", "pass:one-time", "-pubout"],
                           check=True, capture_output=True)
    assert shown.stdout == identity.certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_chain_handed_to_openssl_is_the_bundles(pki: TestPKI) -> None:
    identity = Identity.load(pki.client_p12, pki.password)
    certificates = x509.load_pem_x509_certificates(identity.certificate_chain_pem())
    assert certificates == [identity.certificate, *identity.chain]


def test_a_key_that_is_not_the_certificates_is_refused_by_openssl_in_words(pki: TestPKI) -> None:
    """Second line behind pfx's check: OpenSSL compares key and certificate as it loads them."""
    good = Identity.load(pki.client_p12, pki.password)
    other = Identity.load(pki.partner_p12, pki.password)
    mixed = Identity(key_der=other.key_der, certificate_der=good.certificate_der, chain_der=good.chain_der,
                     source="mixed.p12")
    with pytest.raises(IdentityFormatError, match=r"OpenSSL cannot use the identity in mixed\.p12"):
        create_ssl_context(mixed, ca=pki.root_ca)


def test_a_key_with_no_certificate_of_its_own_is_refused(pki: TestPKI, tmp_path: Path) -> None:
    """The key's certificate missing, another one present: the quick reader hands it on, the full
    reader names what is missing."""
    key = ec.generate_private_key(ec.SECP256R1())
    unrelated = x509.load_pem_x509_certificates(pki.client_cert.read_bytes())[0]
    data = pkcs12.serialize_key_and_certificates(
        b"k", key, None, [unrelated], serialization.BestAvailableEncryption(b"pw")
    )
    assert pfx.read(data, b"pw") is None
    path = tmp_path / "no-own-cert.p12"
    path.write_bytes(data)
    with pytest.raises(IdentityKeyMissing):
        Identity.load(path, "pw")


def test_an_identity_is_never_pickled_with_its_key(pki: TestPKI) -> None:
    """Its key is plain bytes now (cryptography's key objects refused pickling by themselves)."""
    identity = Identity.load(pki.client_p12, pki.password)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(identity)
    assert copy.deepcopy(identity) is identity and copy.copy(identity) is identity
