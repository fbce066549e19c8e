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


# -- found in review of the DER identity ------------------------------------------------------------


def _tlv(tag: int, content: bytes) -> bytes:
    return pfx._whole((tag, content))


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _oid_tlv(dotted: str) -> bytes:
    return _tlv(0x06, pfx._oid(dotted))


def _p12(bags: list[bytes], password: bytes) -> bytes:
    """A PKCS#12 with plain bags in the order given and a SHA-256 MAC (no encryption: the order and
    the certificates' bytes are the test's, not a library's)."""
    import hashlib
    import hmac

    safe_contents = _seq(*bags)
    data_oid = "1.2.840.113549.1.7.1"
    authenticated = _seq(_seq(_oid_tlv(data_oid), _tlv(0xA0, _tlv(0x04, safe_contents))))
    salt, rounds = b"s" * 16, 2048
    mac_key = pfx._pkcs12_kdf("sha256", 64, password.decode().encode("utf-16-be") + b"\0\0", salt, 3, rounds, 32)
    digest = hmac.new(mac_key, authenticated, hashlib.sha256).digest()
    mac = _seq(_seq(_seq(_oid_tlv("2.16.840.1.101.3.4.2.1"), _tlv(0x05, b"")), _tlv(0x04, digest)),
               _tlv(0x04, salt), _tlv(0x02, pfx._der_integer(rounds)))
    return _seq(_tlv(0x02, b"\x03"), _seq(_oid_tlv(data_oid), _tlv(0xA0, _tlv(0x04, authenticated))), mac)


def _cert_bag(der: bytes) -> bytes:
    return _seq(_oid_tlv("1.2.840.113549.1.12.10.1.3"),
                _tlv(0xA0, _seq(_oid_tlv("1.2.840.113549.1.9.22.1"), _tlv(0xA0, _tlv(0x04, der)))))


def _key_bag(key: rsa.RSAPrivateKey) -> bytes:
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return _seq(_oid_tlv("1.2.840.113549.1.12.10.1.1"), _tlv(0xA0, pkcs8))


def _with_underscore_cn(der: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """``der`` with its subject replaced by CN=svc_account as a PrintableString (which may not hold
    ``_``): OpenSSL takes it, cryptography.x509 refuses it.  Re-signed with ``key``."""
    from cryptography.hazmat.primitives.asymmetric import padding

    tbs, algorithm, _ = pfx._items(pfx._one(der, 0x30))
    fields = pfx._items(tbs[1])
    fields[5] = (0x30, _tlv(0x31, _seq(_oid_tlv("2.5.4.3"), _tlv(0x13, b"svc_account"))))
    tbs_der = _tlv(0x30, b"".join(pfx._whole(f) for f in fields))
    signature = key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA256())
    return _tlv(0x30, tbs_der + pfx._whole(algorithm) + _tlv(0x03, b"\0" + signature))


def _odd_p12(folder: Path, days: tuple[int, int]) -> Path:
    """A .p12 (password ``pw``) whose certificate OpenSSL and xfer.pfx read and cryptography.x509
    refuses, valid from ``days[0]`` to ``days[1]`` days from now."""
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "placeholder")])
    built = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_KEY.public_key())
             .serial_number(7).not_valid_before(now + dt.timedelta(days=days[0]))
             .not_valid_after(now + dt.timedelta(days=days[1])).sign(_KEY, hashes.SHA256()))
    der = _with_underscore_cn(built.public_bytes(serialization.Encoding.DER), _KEY)
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(der)
    path = folder / "odd.p12"
    path.write_bytes(_p12([_cert_bag(der), _key_bag(_KEY)], b"pw"))
    return path


@pytest.mark.parametrize("days", [(-1, 365), (-400, -2)], ids=["valid", "expired"])
def test_a_certificate_cryptography_refuses_is_named_without_a_crash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, days: tuple[int, int]
) -> None:
    """OpenSSL and xfer.pfx take it; cryptography.x509 does not.  Connecting works, messages name
    it by fingerprint, an expired one is still refused as expired, and what needs cryptography's
    details (identity show, doctor, AS2) is a clear identity error, not an internal one (exit 1)."""
    from tests.helpers import one_error, run
    from xfer.errors import ExitCode

    path = _odd_p12(tmp_path, days)
    identity = Identity.load(path, "pw")
    assert "sha256:" in repr(identity) and identity.common_name == identity.subject
    assert identity.issuer == "?"
    with pytest.raises(IdentityFormatError, match=r"breaks the X\.509 encoding rules"):
        _ = identity.certificate
    if days[1] < 0:
        with pytest.raises(IdentityExpired):
            identity.check_usable()
    else:
        identity.check_usable()
        create_ssl_context(identity)  # OpenSSL takes it
    (tmp_path / "pw.txt").write_text("pw")
    code, _, err = run(capsys, "identity", "show", str(path), "--identity-password", f"file:{tmp_path / 'pw.txt'}")
    assert code == ExitCode.TLS
    one_error(err, "breaks the X.509 encoding rules")


def test_doctor_fails_its_identity_step_on_a_certificate_it_cannot_describe(tmp_path: Path) -> None:
    """doctor describes our certificate with cryptography's objects: one it cannot read is the
    step's failure, with the identity error's words and fix, not an internal error."""
    from xfer.doctor.handshake import Probe
    from xfer.doctor.identity import identity_step
    from xfer.doctor.report import FAIL

    identity = Identity.load(_odd_p12(tmp_path, (-1, 365)), "pw")
    step = identity_step(identity, Probe(), warn_days=None)
    assert step.status == FAIL and isinstance(step.error, IdentityFormatError)
    assert step.facts["sha256"] == identity.fingerprint and step.fix


def test_the_leaf_is_the_keys_certificate_whatever_the_bag_order(pki: TestPKI) -> None:
    """A CA certificate first, then the leaf, the key last: the leaf is the one whose public key
    is the key's (an RSA CA before the leaf must not be taken for it)."""
    ca = x509.load_pem_x509_certificate(pki.root_ca.read_bytes()).public_bytes(serialization.Encoding.DER)
    leaf_key = serialization.load_pem_private_key(pki.client_key.read_bytes(), None)
    assert isinstance(leaf_key, rsa.RSAPrivateKey)
    leaf = x509.load_pem_x509_certificates(pki.client_cert.read_bytes())[0].public_bytes(serialization.Encoding.DER)
    data = _p12([_cert_bag(ca), _cert_bag(leaf), _key_bag(leaf_key)], b"pw")
    bundle = pfx.read(data, b"pw")
    assert bundle is not None and bundle.certificate == leaf and bundle.chain == (ca,)
    # An RSA key with only another RSA key's certificate: no certificate of its own.
    assert pfx.read(_p12([_cert_bag(ca), _key_bag(leaf_key)], b"pw"), b"pw") is None
    with pytest.raises(IdentityKeyMissing):
        Identity.from_bytes(_p12([_cert_bag(ca), _key_bag(leaf_key)], b"pw"), "pw")


def test_no_repr_shows_the_decrypted_key(pki: TestPKI) -> None:
    bundle = pfx.read(pki.client_p12.read_bytes(), pki.password.encode())
    assert bundle is not None
    identity = Identity.load(pki.client_p12, pki.password)
    for text in (repr(bundle), str(bundle), repr(identity)):
        assert repr(bundle.key)[2:40] not in text and "key=" not in text


def _pbkdf2_rounds(pem: bytes) -> int:
    """The PBKDF2 iteration count of an encrypted PKCS#8 PEM, read by hand."""
    import base64

    body = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    algorithm, _ = pfx._items(pfx._one(body, 0x30))
    _, scheme = pfx._items(algorithm[1])
    kdf, _ = pfx._items(scheme[1])
    _, kdf_params = pfx._items(kdf[1])
    return pfx._integer(pfx._items(kdf_params[1])[1][1])


def test_a_key_exported_for_people_keeps_its_stretching(pki: TestPKI) -> None:
    """One PBKDF2 round is for the TLS hand-over's 256 random bits only; the public method keeps
    OpenSSL's 2,048 for a password a person chose."""
    identity = Identity.load(pki.client_p12, pki.password)
    exported = identity.encrypted_key_pem(b"a password")
    assert _pbkdf2_rounds(exported) == 2048
    assert serialization.load_pem_private_key(exported, b"a password") is not None
    assert _pbkdf2_rounds(identity.encrypted_key_pem(b"x" * 64, rounds=1)) == 1


def test_an_identity_is_built_from_der_bytes_only(pki: TestPKI) -> None:
    identity = Identity.load(pki.client_p12, pki.password)
    with pytest.raises(TypeError, match="DER bytes"):
        Identity(key_der=identity.key, certificate_der=identity.certificate_der)  # type: ignore[arg-type]


def test_a_key_too_weak_for_openssl_says_a_new_key_is_needed(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "weak")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(weak.public_key())
            .serial_number(9).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(weak, hashes.SHA256()))
    path = tmp_path / "weak.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"weak", weak, cert, None, serialization.BestAvailableEncryption(b"pw")))
    with pytest.raises(IdentityFormatError, match="too weak") as caught:
        create_ssl_context(Identity.load(path, "pw"))
    assert "exporting it again does not help" in (caught.value.hint or "")
