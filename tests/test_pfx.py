"""The quick PKCS#12 reader (xfer.pfx): the same answer as cryptography's, or none at all.

Every bundle is read by both; where the quick reader answers, key, leaf and chain must equal
cryptography's, and it must answer for the shapes current tools write (cryptography's
BestAvailableEncryption and OpenSSL 3's ``pkcs12 -export``, the real tool, not our writer).
Anything it must not vouch for (a wrong password, a changed byte, an RSA key whose numbers do
not fit together, legacy encryption) it hands to the full reader, whose errors stay the same.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from xfer import pfx
from xfer.errors import IdentityFormatError, IdentityPasswordError
from xfer.identity import Identity
from xfer.testing.pki import TestPKI

QUICK = ["client_p12", "client_leaf_only_p12", "client_expired_p12", "client_untrusted_p12", "partner_p12"]
FULL_READER_ONLY = ["client_legacy_p12", "client_rc2_p12", "client_no_password_p12"]


def _same(quick: pfx.Bundle, full: pkcs12.PKCS12KeyAndCertificates) -> None:
    assert full.key is not None and full.cert is not None
    assert quick.key == full.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = serialization.Encoding.DER
    assert quick.certificate == full.cert.certificate.public_bytes(der)
    assert list(quick.chain) == [c.certificate.public_bytes(der) for c in full.additional_certs]


@pytest.mark.parametrize("bundle", QUICK)
def test_reads_what_current_tools_write_exactly_as_cryptography_does(pki: TestPKI, bundle: str) -> None:
    data = getattr(pki, bundle).read_bytes()
    quick = pfx.read(data, pki.password.encode())
    assert quick is not None
    _same(quick, pkcs12.load_pkcs12(data, pki.password.encode()))


@pytest.mark.parametrize("bundle", FULL_READER_ONLY)
def test_legacy_and_passwordless_bundles_go_to_the_full_reader(pki: TestPKI, bundle: str) -> None:
    path = getattr(pki, bundle)
    assert path is not None, "openssl pkcs12 -legacy must be available to make the RC2 bundle"
    password = None if bundle == "client_no_password_p12" else pki.password.encode()
    assert pfx.read(path.read_bytes(), password) is None
    assert Identity.load(path, password).common_name == "xfer-client"


def _openssl_export(pki: TestPKI, out: Path, *extra: str) -> bytes:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl tool makes the bundles of the real-tool cases"
    subprocess.run(
        [openssl, "pkcs12", "-export", "-in", str(pki.client_cert), "-inkey", str(pki.client_key),
         "-passout", "env:PFX_PASSWORD", "-out", str(out), *extra],
        check=True, env={"PFX_PASSWORD": pki.password, "PATH": "/usr/bin:/bin"},
    )
    return out.read_bytes()


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param((), id="openssl-defaults"),
        pytest.param(("-macalg", "sha512", "-iter", "1000", "-certpbe", "AES-128-CBC"), id="sha512-mac-aes128"),
        pytest.param(("-keypbe", "NONE", "-certpbe", "NONE"), id="plain-bags-with-mac"),
    ],
)
def test_reads_bundles_from_the_openssl_tool(pki: TestPKI, tmp_path: Path, extra: tuple[str, ...]) -> None:
    data = _openssl_export(pki, tmp_path / "tool.p12", *extra)
    quick = pfx.read(data, pki.password.encode())
    assert quick is not None
    _same(quick, pkcs12.load_pkcs12(data, pki.password.encode()))
    assert x509.load_der_x509_certificate(quick.certificate).subject.rfc4514_string().startswith("CN=xfer-client")


def test_identity_load_takes_the_quick_path(pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("the full reader was used for a modern bundle")

    monkeypatch.setattr(pkcs12, "load_pkcs12", refuse)
    identity = Identity.load(pki.client_p12, pki.password)
    assert identity.common_name == "xfer-client"
    assert len(identity.chain) == 1


def test_a_wrong_password_is_still_named_by_the_full_reader(pki: TestPKI) -> None:
    assert pfx.read(pki.client_p12.read_bytes(), b"not the password") is None
    with pytest.raises(IdentityPasswordError, match="the password is wrong"):
        Identity.load(pki.client_p12, "not the password")


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_a_changed_byte_is_never_vouched_for(pki: TestPKI, tmp_path: Path, where: float) -> None:
    data = bytearray(pki.client_p12.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    assert pfx.read(bytes(data), pki.password.encode()) is None
    damaged = tmp_path / "damaged.p12"
    damaged.write_bytes(bytes(data))
    with pytest.raises((IdentityPasswordError, IdentityFormatError)):
        Identity.load(damaged, pki.password)


_CA_KEY = ec.generate_private_key(ec.SECP256R1())


def _bundle(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: str) -> bytes:
    import datetime as dt

    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "pfx-test")])
    issuer = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "pfx-test CA")])
    now = dt.datetime.now(dt.timezone.utc)
    # Signed by a CA key of its own: a deliberately broken key under test must never sign
    # (an RSA-CRT signature with a wrong coefficient fails, or comes out wrong, at random).
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(_CA_KEY, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        b"pfx-test", key, cert, None, serialization.BestAvailableEncryption(password.encode())
    )


def test_an_rsa_key_whose_numbers_do_not_fit_is_not_vouched_for() -> None:
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = good.private_numbers()
    # A wrong CRT coefficient: the fault that makes an RSA-CRT signature give away a prime.
    broken = rsa.RSAPrivateNumbers(
        n.p, n.q, n.d, n.dmp1, n.dmq1, (n.iqmp + 1) % n.p, n.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    assert pfx.read(_bundle(good, "pw"), b"pw") is not None
    assert pfx.read(_bundle(broken, "pw"), b"pw") is None


def test_an_ec_key_is_read_too() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    data = _bundle(key, "pw")
    quick = pfx.read(data, b"pw")
    assert quick is not None
    _same(quick, pkcs12.load_pkcs12(data, b"pw"))


@pytest.mark.parametrize("data", [b"", b"\x30", b"\x30\x80\x00\x00", b"\x30\x84\xff\xff\xff\xff", b"\x04\x00"])
def test_garbage_is_handed_on_not_raised(data: bytes) -> None:
    assert pfx.read(data, b"pw") is None


def test_the_mac_guards_what_no_other_check_would_see(pki: TestPKI, tmp_path: Path) -> None:
    # Plain (unencrypted) certificate bags: a changed bit in a certificate's signature parses
    # as well as the original, so only the bundle's MAC can tell.
    data = bytearray(_openssl_export(pki, tmp_path / "plain.p12", "-keypbe", "NONE", "-certpbe", "NONE"))
    leaf = x509.load_pem_x509_certificate(pki.client_cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    end = bytes(data).index(leaf) + len(leaf)
    data[end - 1] ^= 0x01
    assert pfx.read(bytes(data), pki.password.encode()) is None


def test_an_iteration_count_past_the_bound_goes_to_the_full_reader(
    pki: TestPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MAC's KDF runs in Python here, and its count sits outside the MAC: anyone can set it
    to 2^40 on any bundle.  Past MAX_MAC_ROUNDS the full reader (in C) decides."""
    data = pki.client_p12.read_bytes()  # 2,048 MAC rounds
    assert pfx.read(data, pki.password.encode()) is not None
    monkeypatch.setattr(pfx, "MAX_MAC_ROUNDS", 1000)
    assert pfx.read(data, pki.password.encode()) is None


@pytest.mark.parametrize(
    "der", [b"\x04\x81\x05hello", b"\x04\x82\x00\x05hello"], ids=["long-form-for-short", "leading-zero"]
)
def test_a_length_not_in_its_shortest_form_is_not_der(der: bytes) -> None:
    with pytest.raises(pfx._Unsupported):
        pfx._items(der)


@pytest.mark.parametrize(("content", "value"), [(b"\x05", 5), (b"\x00\x80", 128), (b"\xff\x7f", -129)])
def test_integers_in_their_shortest_form(content: bytes, value: int) -> None:
    assert pfx._integer(content) == value


@pytest.mark.parametrize("content", [b"", b"\x00\x05", b"\xff\x80"])
def test_an_integer_not_in_its_shortest_form_is_not_der(content: bytes) -> None:
    with pytest.raises(pfx._Unsupported):
        pfx._integer(content)


def test_an_unreduced_crt_coefficient_is_not_vouched_for() -> None:
    """iqmp + p passes iqmp*q % p == 1 but is no CRT coefficient: OpenSSL refuses it and every
    signature with it fails; the full reader says so at load time."""
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = good.private_numbers()
    unreduced = rsa.RSAPrivateNumbers(
        n.p, n.q, n.d, n.dmp1, n.dmq1, n.iqmp + n.p, n.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    assert pfx.read(_bundle(unreduced, "pw"), b"pw") is None


def test_an_rsa_pss_certificate_goes_to_the_full_reader(pki: TestPKI, tmp_path: Path) -> None:
    """OpenSSL tells an RSA-PSS key from a plain RSA one; cryptography's == does not."""
    openssl = shutil.which("openssl")
    assert openssl
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run([openssl, "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", tmp_path / "k.pem"])
    run([openssl, "req", "-x509", "-new", "-key", tmp_path / "k.pem", "-subj", "/CN=pss", "-days", "2",
         "-out", tmp_path / "c.pem"])
    run([openssl, "pkcs12", "-export", "-in", tmp_path / "c.pem", "-inkey", tmp_path / "k.pem",
         "-passout", "pass:pw", "-out", tmp_path / "pss.p12"])
    assert pfx.read((tmp_path / "pss.p12").read_bytes(), b"pw") is None


def test_a_password_with_a_nul_is_a_clear_password_error(pki: TestPKI) -> None:
    """cryptography's reader panics (PanicException, a BaseException) on such a password."""
    with pytest.raises(IdentityPasswordError, match="NUL"):
        Identity.load(pki.client_p12, "wrong\0password")


@pytest.mark.parametrize("prf", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_pbkdf2_is_the_standard_one_for_every_prf_pbes2_names(prf: str) -> None:
    """PBKDF2 runs in cryptography's OpenSSL (faster than hashlib's here); same function."""
    import hashlib

    assert pfx._pbkdf2(prf, b"pw", b"salt", 7, 24) == hashlib.pbkdf2_hmac(prf, b"pw", b"salt", 7, 24)
