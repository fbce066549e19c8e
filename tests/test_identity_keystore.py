"""Review TLS-ID, finding M2: a keystore holds more than one identity's chain.

Only the leaf's issuer path is sent as our chain (another identity's certificate, a trusted
partner CA, an old root are not); a file with several private keys is refused, naming them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from xfer.errors import IdentityFormatError
from xfer.identity import Identity

from .test_tls_partner_config import _issue

_DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def keystore_parts() -> dict[str, Any]:
    """A root, an intermediate, our leaf under it; a partner's CA and another identity unrelated to it."""
    root_key, int_key, leaf_key, other_key = (rsa.generate_private_key(65537, 2048) for _ in range(4))
    root = _issue("Our Root", root_key, None, ca=True)
    intermediate = _issue("Our Issuing CA", int_key, ("Our Root", root_key), ca=True)
    leaf = _issue("us", leaf_key, ("Our Issuing CA", int_key), ca=False)
    partner_ca = _issue("Partner CA", other_key, None, ca=True)
    other = _issue("someone else", other_key, ("Partner CA", other_key), ca=False)
    return {"root": root, "int": intermediate, "leaf": leaf, "leaf_key": leaf_key, "partner_ca": partner_ca,
            "other": other, "other_key": other_key}


@pytest.mark.parametrize("legacy", [False, True], ids=["quick-reader", "full-reader"])
def test_only_the_leafs_issuer_path_is_sent(keystore_parts: dict[str, Any], legacy: bool) -> None:
    p = keystore_parts
    encryption: serialization.KeySerializationEncryption
    if legacy:
        encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
                      .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
                      .build(b"pw"))
    else:
        encryption = serialization.BestAvailableEncryption(b"pw")
    # File order: the unrelated ones first, the root before the intermediate.
    data = pkcs12.serialize_key_and_certificates(
        b"us", p["leaf_key"], p["leaf"], [p["partner_ca"], p["other"], p["root"], p["int"]], encryption)
    identity = Identity.from_bytes(data, "pw")
    assert identity.chain_der == (p["int"].public_bytes(_DER), p["root"].public_bytes(_DER))
    assert [c.subject.rfc4514_string() for c in identity.chain] == ["CN=Our Issuing CA", "CN=Our Root"]
    assert b"Partner CA" not in identity.certificate_chain_pem() and len(
        identity.certificate_chain_pem().split(b"-----BEGIN CERTIFICATE-----")) == 4


def test_a_self_signed_leaf_sends_no_unrelated_root(keystore_parts: dict[str, Any]) -> None:
    p = keystore_parts
    data = pkcs12.serialize_key_and_certificates(b"someone", p["other_key"], p["other"], [p["root"]],
                                                 serialization.BestAvailableEncryption(b"pw"))
    assert Identity.from_bytes(data, "pw").chain_der == ()


def _keystore(tmp_path: Path, *entries: tuple[str, Any, Any, list[Any]]) -> None:
    """tmp_path/ks.p12 (password "secret") with one key entry per (alias, key, certificate, chain), by keytool."""
    for index, (alias, key, cert, chain) in enumerate(entries):
        source = tmp_path / f"entry-{index}.p12"
        source.write_bytes(pkcs12.serialize_key_and_certificates(
            alias.encode(), key, cert, chain, serialization.BestAvailableEncryption(b"secret")))
        subprocess.run(["keytool", "-importkeystore", "-srckeystore", str(source), "-srcstoretype", "PKCS12",
                        "-srcstorepass", "secret", "-destkeystore", str(tmp_path / "ks.p12"), "-deststoretype",
                        "PKCS12", "-deststorepass", "secret", "-noprompt"], check=True, capture_output=True)


def test_a_keystore_with_two_keys_is_refused_naming_them(keystore_parts: dict[str, Any], tmp_path: Path) -> None:
    p = keystore_parts
    _keystore(tmp_path, ("first-one", p["leaf_key"], p["leaf"], [p["int"], p["root"]]),
              ("second-one", p["other_key"], p["other"], []))
    with pytest.raises(IdentityFormatError) as caught:
        Identity.load(tmp_path / "ks.p12", "secret")
    assert "holds 2 private keys (first-one, second-one)" in str(caught.value)
    assert caught.value.hint is not None and "-srcalias" in caught.value.hint


def test_aliases_with_control_characters_stay_on_one_line(keystore_parts: dict[str, Any], tmp_path: Path) -> None:
    """Review of the TLS fixes, finding L4: an alias with a line break or an escape sequence was printed
    as it is, breaking the one-line message (and a terminal's colours)."""
    p = keystore_parts
    _keystore(tmp_path, ("first\nline\x1b[31m", p["leaf_key"], p["leaf"], []),
              ("second", p["other_key"], p["other"], []))
    with pytest.raises(IdentityFormatError) as caught:
        Identity.load(tmp_path / "ks.p12", "secret")
    message = str(caught.value)
    assert "holds 2 private keys ('first\\nline\\x1b[31m', second)" in message, message
    assert message.isprintable()
