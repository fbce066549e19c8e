"""Review TLS-ID: what ``xfer doctor`` says about partner configurations the stdlib server cannot make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from xfer.doctor import diagnose
from xfer.doctor.certs import issued_by_one_of
from xfer.errors import ClientCertificateRejected
from xfer.profiles import Profile
from xfer.testing.pki import TestPKI
from xfer.testing.tls_faults import OpenSSLServer

from .test_tls_partner_config import _SIGALGS, _identity, _issue


def _profile(url: str, **settings: Any) -> Profile:
    return Profile.from_mapping("partner", {"url": url, "timeout": 3, **settings})


def test_doctor_names_the_signature_algorithms_our_key_type_is_not_among(pki: TestPKI, tmp_path: Path) -> None:
    """It passed step 4 and failed later with "none was presented: pass --identity" (finding H2)."""
    identity, client_ca = _identity(tmp_path, "ed25519")
    data = pkcs12.serialize_key_and_certificates(b"client", identity.key, identity.certificate,
                                                 list(identity.chain), serialization.BestAvailableEncryption(b"pw"))
    p12 = tmp_path / "ed25519.p12"
    p12.write_bytes(data)
    secret = tmp_path / "pw.txt"
    secret.write_text("pw")
    secret.chmod(0o600)
    with OpenSSLServer(pki.server_cert, pki.server_key, "-tls1_3", "-Verify", "2", "-verify_return_error",
                       "-CAfile", str(client_ca), "-client_sigalgs", _SIGALGS) as server:
        report = diagnose(_profile(f"https://{server.server}/", identity=str(p12), identity_password=f"file:{secret}",
                                   ca=str(pki.ca_bundle)))
    failed = report.failed
    assert failed is not None and failed.key == "identity", [(s.key, s.status) for s in report.steps]
    assert isinstance(failed.error, ClientCertificateRejected)
    assert any("rsa_pss_rsae_sha256" in verdict and "Ed25519" in verdict for verdict in failed.verdicts)
    assert failed.fix is not None and "--identity" not in failed.fix


def test_a_ca_merely_in_the_file_is_not_reached_by_a_self_signed_leaf() -> None:
    """Finding M3: "your chain reaches CN=Test Root CA (through CN=Test Root CA, sent along)" was said
    of a self-signed keytool leaf whose keystore also held that root as a trusted entry."""
    root_key, leaf_key, int_key = (rsa.generate_private_key(65537, 2048) for _ in range(3))
    root = _issue("Partner Root", root_key, None, ca=True)
    leaf = _issue("javaclient", leaf_key, None, ca=False)
    named = [root.subject.public_bytes()]
    assert issued_by_one_of([leaf, root], named) is None
    # A real path still reaches it, through the intermediate that is sent along.
    intermediate = _issue("Our Issuing CA", int_key, ("Partner Root", root_key), ca=True)
    ours = _issue("us", leaf_key, ("Our Issuing CA", int_key), ca=False)
    assert issued_by_one_of([ours, root, intermediate], named) == (intermediate, root.subject)


@pytest.mark.parametrize("order", ["old-first", "new-first"])
def test_every_cross_signed_intermediate_is_followed(order: str) -> None:
    """Review of the TLS fixes, finding M5: of [leaf, I from Old Root, I from New Root] only the first I
    was followed, and a server accepting only New Root read "not among the CAs the server accepts"."""
    old_key, new_key, int_key, leaf_key = (rsa.generate_private_key(65537, 2048) for _ in range(4))
    old, new = _issue("Old Root", old_key, None, ca=True), _issue("New Root", new_key, None, ca=True)
    by_old = _issue("Issuing CA", int_key, ("Old Root", old_key), ca=True)
    by_new = _issue("Issuing CA", int_key, ("New Root", new_key), ca=True)
    leaf = _issue("us", leaf_key, ("Issuing CA", int_key), ca=False)
    chain = [by_old, by_new] if order == "old-first" else [by_new, by_old]
    assert issued_by_one_of([leaf, *chain], [new.subject.public_bytes()]) == (by_new, new.subject)
    assert issued_by_one_of([leaf, *chain], [old.subject.public_bytes()]) == (by_old, old.subject)
    assert issued_by_one_of([leaf, *chain], [_issue("Elsewhere", old_key, None, ca=True).subject.public_bytes()]) \
        is None


def test_the_path_links_names_as_the_identitys_chain_does() -> None:
    """An issuer as PrintableString in other case links to a subject as UTF8String (finding H3's rule)."""
    root_key, int_key, leaf_key = (rsa.generate_private_key(65537, 2048) for _ in range(3))
    root = _issue("Root CA", root_key, None, ca=True)
    upper = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ISSUING CA", _type=_ASN1Type.PrintableString)])
    intermediate = _issue("Issuing CA", int_key, ("Root CA", root_key), ca=True)
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "us")]))
            .issuer_name(upper).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(intermediate.not_valid_before_utc).not_valid_after(intermediate.not_valid_after_utc)
            .sign(int_key, hashes.SHA256()))
    assert issued_by_one_of([leaf, intermediate], [root.subject.public_bytes()]) == (intermediate, root.subject)


@pytest.mark.parametrize("order", ["old-first", "new-first"])
def test_a_renewed_ca_of_the_same_name_does_not_link_our_leaf(order: str) -> None:
    """Third review of the TLS fixes, finding M-C: [leaf signed by the old-key "Issuing CA", that CA from
    Old Root, a renewed "Issuing CA" (new key) from New Root] against a server accepting only New Root
    read "your chain reaches CN=New Root", though openssl verify fails there: names alone linked."""
    old_key, new_key, old_int_key, new_int_key, leaf_key = (rsa.generate_private_key(65537, 2048) for _ in range(5))
    old, new = _issue("Old Root", old_key, None, ca=True), _issue("New Root", new_key, None, ca=True)
    i_old = _issue("Issuing CA", old_int_key, ("Old Root", old_key), ca=True)
    i_new = _issue("Issuing CA", new_int_key, ("New Root", new_key), ca=True)
    leaf = _issue("us", leaf_key, ("Issuing CA", old_int_key), ca=False)
    chain = [i_old, i_new] if order == "old-first" else [i_new, i_old]
    assert issued_by_one_of([leaf, *chain], [new.subject.public_bytes()]) is None
    assert issued_by_one_of([leaf, *chain], [old.subject.public_bytes()]) == (i_old, old.subject)


def test_a_renewed_ca_with_a_key_of_another_type_does_not_link_our_leaf() -> None:
    """M-C with the renewed CA's key an EC one: the RSA signature on our leaf is not its."""
    from cryptography.hazmat.primitives.asymmetric import ec

    old_key, new_key, old_int_key, leaf_key = (rsa.generate_private_key(65537, 2048) for _ in range(4))
    old, new = _issue("Old Root", old_key, None, ca=True), _issue("New Root", new_key, None, ca=True)
    i_old = _issue("Issuing CA", old_int_key, ("Old Root", old_key), ca=True)
    new_int_key = ec.generate_private_key(ec.SECP256R1())
    i_new = (x509.CertificateBuilder().subject_name(i_old.subject).issuer_name(new.subject)
             .public_key(new_int_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(i_old.not_valid_before_utc).not_valid_after(i_old.not_valid_after_utc)
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(new_key, hashes.SHA256()))
    leaf = _issue("us", leaf_key, ("Issuing CA", old_int_key), ca=False)
    assert issued_by_one_of([leaf, i_new, i_old], [new.subject.public_bytes()]) is None
    assert issued_by_one_of([leaf, i_new, i_old], [old.subject.public_bytes()]) == (i_old, old.subject)
