"""PKCS#12 identities: every bundle shape loads or fails with its own message."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.helpers import one_error, run
from xfer.errors import (
    IdentityExpired,
    IdentityFileError,
    IdentityFormatError,
    IdentityKeyMissing,
    IdentityPasswordError,
)
from xfer.identity import Identity
from xfer.testing.pki import TestPKI


@pytest.mark.parametrize("bundle", ["client_p12", "client_legacy_p12", "client_rc2_p12"])
def test_loads_modern_and_legacy_bundles(pki: TestPKI, bundle: str) -> None:
    path = getattr(pki, bundle)
    assert path is not None, "openssl pkcs12 -legacy must be available to make the RC2 bundle"
    identity = Identity.load(path, pki.password)
    assert identity.common_name == "xfer-client"
    assert [c.subject.rfc4514_string() for c in identity.chain] == ["CN=xfer test intermediate CA,O=xfer test PKI"]


def test_rc2_bundle_really_is_rc2(pki: TestPKI) -> None:
    from asn1crypto import cms
    from asn1crypto import pkcs12 as asn1_pkcs12

    assert pki.client_rc2_p12 is not None
    pfx = asn1_pkcs12.Pfx.load(pki.client_rc2_p12.read_bytes())
    safes = asn1_pkcs12.AuthenticatedSafe.load(pfx["auth_safe"]["content"].native)
    algorithms = {
        info["content"]["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].native
        for info in safes
        if isinstance(info["content"], cms.EncryptedData)
    }
    assert "pkcs12_sha1_rc2_40" in algorithms


def test_no_password_bundle(pki: TestPKI) -> None:
    assert Identity.load(pki.client_no_password_p12).common_name == "xfer-client"


def test_wrong_password(pki: TestPKI) -> None:
    with pytest.raises(IdentityPasswordError, match="the password is wrong"):
        Identity.load(pki.client_p12, "wrong")


def test_missing_password(pki: TestPKI) -> None:
    with pytest.raises(IdentityPasswordError, match="no password was given"):
        Identity.load(pki.client_p12)


def test_corrupt_bundle(pki: TestPKI) -> None:
    with pytest.raises(IdentityFormatError, match="damaged or not a PKCS#12"):
        Identity.load(pki.corrupt_p12, pki.password)


def test_pem_file_is_not_pkcs12(pki: TestPKI) -> None:
    with pytest.raises(IdentityFormatError, match="PEM file, not PKCS#12") as caught:
        Identity.load(pki.client_cert, pki.password)
    assert caught.value.hint and "openssl pkcs12 -export" in caught.value.hint


def test_random_bytes(tmp_path: Path) -> None:
    junk = tmp_path / "junk.p12"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(IdentityFormatError, match="not a PKCS#12"):
        Identity.load(junk, "x")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IdentityFileError, match="does not exist") as caught:
        Identity.load(tmp_path / "nope.p12", "x")
    assert isinstance(caught.value, OSError)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(IdentityFileError, match="is a folder"):
        Identity.load(tmp_path, "x")


def test_bundle_without_key(pki: TestPKI, tmp_path: Path) -> None:
    cert = x509.load_pem_x509_certificates(pki.client_cert.read_bytes())[0]
    data = pkcs12.serialize_key_and_certificates(
        None, None, None, [cert], serialization.BestAvailableEncryption(pki.password.encode())
    )
    path = tmp_path / "certs-only.p12"
    path.write_bytes(data)
    with pytest.raises(IdentityKeyMissing, match=r"no certificate for the private key|no private key"):
        Identity.load(path, pki.password)


def test_inspect(pki: TestPKI) -> None:
    info = Identity.load(pki.client_p12, pki.password).inspect()
    assert info.subject == "CN=xfer-client,O=xfer test PKI"
    assert info.issuer == "CN=xfer test intermediate CA,O=xfer test PKI"
    assert info.key_type == "RSA" and info.key_size == 2048
    assert info.client_auth and info.extended_key_usage == ["clientAuth"]
    assert "digital_signature" in info.key_usage
    assert info.fingerprint_sha256.startswith("sha256:") and len(info.fingerprint_sha256) == 71
    assert 360 <= info.days_left <= 365
    assert info.chain == ["CN=xfer test intermediate CA,O=xfer test PKI"]
    assert info.warnings == []
    assert info.to_dict()["not_after"].startswith(str(info.not_after.year))


def test_expired_refused_with_date(pki: TestPKI) -> None:
    identity = Identity.load(pki.client_expired_p12, pki.password)
    with pytest.raises(IdentityExpired, match=r"expired on \d{4}-\d{2}-\d{2}"):
        identity.check_usable()
    assert identity.inspect().warnings[0].startswith("client certificate 'xfer-client-expired'")


def test_not_yet_valid(pki: TestPKI) -> None:
    identity = Identity.load(pki.client_p12, pki.password)
    with pytest.raises(IdentityExpired, match="not valid before"):
        identity.check_usable(now=identity.not_before - dt.timedelta(days=1))


def test_expiring_soon_warns(pki: TestPKI) -> None:
    warnings = Identity.load(pki.client_expiring_p12, pki.password).check_usable()
    assert len(warnings) == 1
    assert re.search(r"expires in (9|10) days", warnings[0])


def test_missing_client_auth_warns(pki: TestPKI) -> None:
    warnings = Identity.load(pki.client_no_eku_p12, pki.password).check_usable()
    assert any("lacks the clientAuth" in w for w in warnings)


# -- library callers get library wording; the command line shows its flags (issue 12 leftover) --


def test_missing_file_hint_speaks_python_and_the_cli_names_the_flag(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.p12"
    with pytest.raises(IdentityFileError) as caught:
        Identity.load(missing, pki.password)
    assert caught.value.hint and "--" not in caught.value.hint and "identity=" in caught.value.hint
    code, _, err = run(capsys, "identity", "show", str(missing), "--identity-password", f"file:{pki.password_file}")
    assert code == 4
    one_error(err, f"identity file {missing} does not exist")
    assert "hint: check the path given with --identity or in the profile" in err


def test_password_hint_speaks_python_and_the_cli_names_the_flag(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(IdentityPasswordError) as caught:
        Identity.load(pki.client_p12, "wrong")
    assert caught.value.hint and "--" not in caught.value.hint and "identity_password" in caught.value.hint
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("wrong\n")
    code, _, err = run(capsys, "identity", "show", str(pki.client_p12), "--identity-password", f"file:{wrong}")
    assert code == 4
    one_error(err, "the password is wrong")
    assert "hint: pass --identity-password env:VAR, file:PATH, keyring or prompt" in err
