"""Messages that sent users after the wrong fix (second review): a .p12 without its key, a .p12
without a MAC opened without a password, a self-signed client certificate the server does not
trust, a --ca that is a folder."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.helpers import one_error, run
from xfer.errors import ConfigError, IdentityFormatError, IdentityKeyMissing, IdentityPasswordError
from xfer.identity import Identity
from xfer.profiles import Profile
from xfer.testing.endpoints import serve
from xfer.testing.pki import TestPKI


def test_a_bundle_of_certificates_only_says_the_key_is_missing(pki: TestPKI, tmp_path: Path) -> None:
    cert = x509.load_pem_x509_certificates(pki.client_cert.read_bytes())[0]
    path = tmp_path / "certonly.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        None, None, None, [cert], serialization.BestAvailableEncryption(pki.password.encode())))
    with pytest.raises(IdentityKeyMissing) as caught:
        Identity.load(path, pki.password)
    assert caught.value.message == f"{path} holds 1 certificate but no private key"
    assert caught.value.hint and "including the private key" in caught.value.hint


def test_a_bundle_without_mac_opened_without_password_asks_for_one(pki: TestPKI, tmp_path: Path) -> None:
    """`openssl pkcs12 -export -nomac`: no MAC to check a password against, but the key is encrypted."""
    path = tmp_path / "nomac.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-nomac", "-in", str(pki.client_cert), "-inkey",
                    str(pki.client_key), "-passout", f"pass:{pki.password}", "-out", str(path)],
                   check=True, capture_output=True)
    with pytest.raises(IdentityPasswordError, match="no password was given"):
        Identity.load(path)
    with pytest.raises(IdentityPasswordError, match="the password is wrong"):
        Identity.load(path, "not-it")
    assert Identity.load(path, pki.password).common_name == pki.client_common_name


def _self_signed_p12(folder: Path, password: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-made")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = folder / "self.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"self", key, cert, None, serialization.BestAvailableEncryption(password.encode())))
    return path


def test_a_self_signed_client_certificate_is_not_told_to_add_an_intermediate(
    pki: TestPKI, tmp_path: Path, config: Path, tls_version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    identity = _self_signed_p12(tmp_path, pki.password)
    with serve("https", pki, root=tmp_path / "root", tls_max=tls_version) as endpoint:
        code, _out, err = run(capsys, "ls", endpoint.url, "--identity", str(identity), "--identity-password",
                              f"file:{pki.password_file}", "--ca", str(pki.root_ca), "--retries", "0")
    assert code == 4
    one_error(err, "does not trust the issuer of our client certificate 'self-made'")
    assert "hint: the certificate is self-signed: the partner must trust this certificate itself" in err
    assert "intermediate" not in err


def test_a_ca_folder_is_named_as_a_folder(
    pki: TestPKI, tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "cadir"
    folder.mkdir()
    code, _out, err = run(capsys, "ls", "https://127.0.0.1:1/", "--ca", str(folder), "--retries", "0")
    assert code == 3
    one_error(err, f"--ca {folder} is a folder, not a file")
    assert "hint: give one PEM file of CA certificates" in err
    profile = Profile.from_mapping("p1", {"url": "https://h/", "ca": str(folder)})
    with pytest.raises(ConfigError, match=r"profile 'p1': ca .* is a folder, not a file") as caught:
        profile.check_files()
    assert caught.value.hint and "PEM file" in caught.value.hint


def test_an_empty_password_from_a_file_is_named_as_given(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, config: Path,
) -> None:
    """Review M-10: a ``file:`` reference whose first line is empty said "no password was given",
    with the hint to pass --identity-password, which the user had passed."""
    empty = tmp_path / "password.txt"
    empty.write_text("\nthe password on the second line\n")
    empty.chmod(0o600)
    code, _, err = run(capsys, "identity", "show", str(pki.client_p12), "--identity-password", f"file:{empty}")
    assert code == 4, err
    line = one_error(err, "the password given is empty")
    assert "no password was given" not in line and "--identity-password" not in err
    assert "first line of the file" in err


def test_a_number_where_a_string_goes_says_to_quote_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review M-10: ``tls_min = 1.2`` is a TOML float; "must be a str, not float" gave no way out."""
    (tmp_path / "partner.toml").write_text('url = "https://127.0.0.1:1/"\ntls_min = 1.2\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path))
    from xfer.profiles import load_profile

    with pytest.raises(ConfigError, match=r'tls_min must be a str, not float \(write it in quotes: "1.2"\)'):
        load_profile("partner")


def test_a_number_given_as_a_password_is_never_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Security review, session 26: ``password = 31415.9265`` came back in the quote hint."""
    (tmp_path / "partner.toml").write_text('url = "ftpes://127.0.0.1:1/"\npassword = 31415.9265\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path))
    from xfer.profiles import load_profile

    with pytest.raises(ConfigError) as caught:
        load_profile("partner")
    assert "31415" not in str(caught.value) and "must be a str, not float (a secret reference" in str(caught.value)


@pytest.mark.parametrize("wrap", [76, 0], ids=["lines", "one-line"])
def test_a_base64_text_bundle_says_decode_it(pki: TestPKI, tmp_path: Path, wrap: int) -> None:
    """Review TLS-ID, finding L2: `base64 id.p12 > id.txt` (a secret store's, a CI variable's form) read
    "not a PKCS#12 file ... export again"."""
    text = base64.b64encode(pki.client_p12.read_bytes()).decode()
    path = tmp_path / "id-b64.p12"
    path.write_text((textwrap.fill(text, wrap) if wrap else text) + "\n")
    with pytest.raises(IdentityFormatError) as caught:
        Identity.load(path, pki.password)
    assert caught.value.message == f"{path} is a PKCS#12 file written as base64 text, not the binary file"
    assert caught.value.hint and f"base64 -d {path}" in caught.value.hint and "export" not in caught.value.hint
    # Other text is still "not a PKCS#12 file".
    other = tmp_path / "notes.txt"
    other.write_text("my identity password is in the vault\n")
    with pytest.raises(IdentityFormatError, match="is not a PKCS#12"):
        Identity.load(other, pki.password)


def test_a_non_ascii_password_in_openssl_1_0_encoding_opens(pki: TestPKI, tmp_path: Path) -> None:
    """Review TLS-ID, finding L1: OpenSSL 1.0.x widened each UTF-8 byte of the password to 16 bits;
    its files with "pässwörd" read "the password is wrong"."""
    identity = Identity.load(pki.client_p12, pki.password)
    legacy = "pässwörd".encode().decode("latin-1").encode()  # the BMPString OpenSSL 1.0.x derived
    path = tmp_path / "old-openssl.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"client", identity.key, identity.certificate, list(identity.chain),
        serialization.BestAvailableEncryption(legacy)))
    assert Identity.load(path, "pässwörd").fingerprint == identity.fingerprint
    with pytest.raises(IdentityPasswordError, match="the password is wrong"):
        Identity.load(path, "pässwört")
