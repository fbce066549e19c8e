"""Review TLS-ID, finding M4: a certificate of our identity too weak for OpenSSL's security level.

Only a weak leaf needs a new key; a weak CA certificate the .p12 carries is named, and leaving
it out of a new export is the fix.  ``xfer doctor`` runs its network and TLS steps first and
fails step 4 with that line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from xfer.doctor import FAIL, diagnose
from xfer.errors import ExitCode, IdentityFormatError
from xfer.identity import Identity, key_description
from xfer.profiles import Profile
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

from .test_tls_partner_config import _issue


def _bundle(*, leaf_bits: int, ca_bits: int) -> bytes:
    root_key = rsa.generate_private_key(65537, 2048)
    ca_key = rsa.generate_private_key(65537, ca_bits)
    leaf_key = rsa.generate_private_key(65537, leaf_bits)
    root = _issue("Our Root", root_key, None, ca=True)
    ca = _issue("Our Old Issuing CA", ca_key, ("Our Root", root_key), ca=True)
    leaf = _issue("us", leaf_key, ("Our Old Issuing CA", ca_key), ca=False)
    return pkcs12.serialize_key_and_certificates(b"us", leaf_key, leaf, [ca, root],
                                                 serialization.BestAvailableEncryption(b"pw"))


def test_a_weak_ca_certificate_in_the_file_is_named_and_left_out_is_the_fix() -> None:
    identity = Identity.from_bytes(_bundle(leaf_bits=2048, ca_bits=1024), "pw", source="id.p12")
    with pytest.raises(IdentityFormatError) as caught:
        create_ssl_context(identity)
    assert str(caught.value) == ("OpenSSL refuses the identity in id.p12: it carries the CA certificate "
                                 "CN=Our Old Issuing CA, which has a 1024-bit RSA key, too weak for OpenSSL's "
                                 "security level")
    assert caught.value.hint is not None and "without that certificate" in caught.value.hint
    assert "new key" not in caught.value.hint


def test_a_weak_leaf_key_needs_a_new_key() -> None:
    identity = Identity.from_bytes(_bundle(leaf_bits=1024, ca_bits=2048), "pw", source="id.p12")
    with pytest.raises(IdentityFormatError) as caught:
        create_ssl_context(identity)
    assert "its certificate CN=us has a 1024-bit RSA key" in str(caught.value)
    assert caught.value.hint is not None and "new key" in caught.value.hint


def test_doctor_runs_the_network_and_tls_steps_before_failing_step_4(pki: TestPKI, tmp_path: Path) -> None:
    p12 = tmp_path / "weak-chain.p12"
    p12.write_bytes(_bundle(leaf_bits=2048, ca_bits=1024))
    secret = tmp_path / "pw.txt"
    secret.write_text("pw")
    secret.chmod(0o600)
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        report = diagnose(Profile.from_mapping("partner", {
            "url": f"https://{srv.host}:{srv.port}/", "identity": str(p12), "identity_password": f"file:{secret}",
            "ca": str(pki.root_ca), "timeout": 3}))
    statuses = {step.key: step.status for step in report.steps}
    assert statuses["network"] != FAIL and statuses["tls"] != FAIL, statuses
    failed = report.failed
    assert failed is not None and failed.key == "identity", statuses
    assert isinstance(failed.error, IdentityFormatError) and "CN=Our Old Issuing CA" in str(failed.error)
    assert report.exit_code == ExitCode.TLS


def _sm2_public_key_info() -> bytes:
    """An SM2 SubjectPublicKeyInfo (OpenSSL knows the algorithm, cryptography does not)."""
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], check=True, capture_output=True).stdout
    return subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=key, check=True,
                          capture_output=True).stdout


def test_a_certificate_cryptography_cannot_read_the_key_of_is_not_an_internal_error() -> None:
    """Review of the TLS fixes, finding L3: an SM2 (or GOST) CA certificate before the weak one made
    cert.public_key() raise UnsupportedAlgorithm while the refusal was worded: an internal error."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    root_key = rsa.generate_private_key(65537, 1024)
    ca_key, leaf_key = rsa.generate_private_key(65537, 2048), rsa.generate_private_key(65537, 2048)
    root = _issue("Our Old Root", root_key, None, ca=True)
    ca = asn1_x509.Certificate.load(_issue("Our SM2 CA", ca_key, ("Our Old Root", root_key), ca=True)
                                    .public_bytes(serialization.Encoding.DER))
    ca["tbs_certificate"]["subject_public_key_info"] = asn1_keys.PublicKeyInfo.load(_sm2_public_key_info())
    tbs = ca["tbs_certificate"].dump(force=True)
    ca["signature_value"] = root_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    sm2_ca = x509.load_der_x509_certificate(ca.dump(force=True))
    leaf = _issue("us", leaf_key, ("Our SM2 CA", ca_key), ca=False)  # signed by the CA's RSA key: never checked
    data = pkcs12.serialize_key_and_certificates(b"us", leaf_key, leaf, [sm2_ca, root],
                                                 serialization.BestAvailableEncryption(b"pw"))
    identity = Identity.from_bytes(data, "pw", source="id.p12")
    with pytest.raises(IdentityFormatError) as caught:
        create_ssl_context(identity)
    assert str(caught.value) == ("OpenSSL refuses the identity in id.p12: it carries the CA certificate "
                                 "CN=Our Old Root, which has a 1024-bit RSA key, too weak for OpenSSL's "
                                 "security level")
    assert key_description(sm2_ca) == ("unknown", None)  # doctor describes it too
