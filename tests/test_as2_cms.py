"""xfer.as2.cms checked against an independent CMS implementation: the openssl 3 command line.

Every layer xfer builds is opened by ``openssl cms`` (verify, decrypt) or by asn1crypto + zlib
(compression: Debian's openssl is built without zlib), and xfer's verifier/decryptor is fed
what ``openssl cms -sign``/``-encrypt`` make.  The client certificate carries only the
clientAuth EKU, so ``openssl cms -verify`` runs with ``-purpose any``: the chain is still
checked against the test CA.
"""

from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from xfer.as2 import cms
from xfer.errors import ConfigError, IntegrityError
from xfer.identity import Identity
from xfer.testing.pki import TestPKI

PAYLOAD = b"ISA*00*          *00*          *ZZ*ACME\r\nbinary \x00\xff\r\n\n\r" * 50


@pytest.fixture(scope="module")
def partner(pki: TestPKI) -> Identity:
    return Identity.load(pki.partner_p12, pki.password)


def openssl(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], input=stdin, capture_output=True, check=False)


def openssl_verify(
    pki: TestPKI, signature: bytes, content: bytes, tmp_path: Path
) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "content").write_bytes(content)
    return openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
        "-content", tmp_path / "content", "-CAfile", pki.ca_bundle, "-purpose", "any",
        "-out", tmp_path / "verified",
    )


# ---------------------------------------------------------------- signatures xfer makes


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
def test_openssl_verifies_xfer_detached_signature(
    pki: TestPKI, identity: Identity, tmp_path: Path, digest: str
) -> None:
    signature = cms.sign(PAYLOAD, identity.key, identity.certificate, digest=digest, chain=identity.chain)
    result = openssl_verify(pki, signature, PAYLOAD, tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert b"Verification successful" in result.stderr
    assert (tmp_path / "verified").read_bytes() == PAYLOAD
    # openssl reports the digest xfer claims, and the signed attributes AS2 partners expect.
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", stdin=signature).stdout.decode()
    assert f"algorithm: {digest}" in printed.replace("sha-", "sha")
    for attribute in ("contentType", "signingTime", "messageDigest", "S/MIME Capabilities"):
        assert attribute in printed
    assert cms.verify(signature, identity.certificate, content=PAYLOAD).digest_algorithm == digest


def test_openssl_verifies_xfer_attached_signature(pki: TestPKI, identity: Identity, tmp_path: Path) -> None:
    signature = cms.sign(PAYLOAD, identity.key, identity.certificate, detached=False)
    (tmp_path / "sig.der").write_bytes(signature)
    result = openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
        "-CAfile", pki.ca_bundle, "-purpose", "any",
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == PAYLOAD
    assert cms.verify(signature, identity.certificate).content == PAYLOAD


# ---------------------------------------------------------------- signatures openssl makes


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("variant", ["detached", "attached", "keyid", "noattr"])
def test_xfer_verifies_openssl_signature(
    pki: TestPKI, identity: Identity, tmp_path: Path, digest: str, variant: str
) -> None:
    extra = {"detached": [], "attached": ["-nodetach"], "keyid": ["-keyid"], "noattr": ["-noattr"]}[variant]
    (tmp_path / "content").write_bytes(PAYLOAD)
    result = openssl(
        "cms", "-sign", "-binary", "-md", digest, "-signer", pki.client_cert, "-inkey", pki.client_key,
        "-in", tmp_path / "content", "-outform", "DER", *extra,
    )
    assert result.returncode == 0, result.stderr.decode()
    if variant == "attached":
        verified = cms.verify(result.stdout, identity.certificate)
        assert verified.content == PAYLOAD
    else:
        verified = cms.verify(result.stdout, identity.certificate, content=PAYLOAD)
    assert verified.digest_algorithm == digest
    assert cms.signed_by(result.stdout, identity.certificate)


def _openssl_signature(pki: TestPKI, tmp_path: Path) -> bytes:
    (tmp_path / "content").write_bytes(PAYLOAD)
    result = openssl(
        "cms", "-sign", "-binary", "-md", "sha256", "-signer", pki.client_cert, "-inkey", pki.client_key,
        "-in", tmp_path / "content", "-outform", "DER",
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def _tamper_signature_value(signature: bytes) -> bytes:
    info = asn1_cms.ContentInfo.load(signature)
    signer = info["content"]["signer_infos"][0]
    value = bytearray(signer["signature"].native)
    value[len(value) // 2] ^= 0x01
    signer["signature"] = bytes(value)
    result: bytes = info.dump(force=True)
    return result


@pytest.mark.parametrize("maker", ["xfer", "openssl"])
def test_tampered_signature_rejected(pki: TestPKI, identity: Identity, tmp_path: Path, maker: str) -> None:
    signature = (
        cms.sign(PAYLOAD, identity.key, identity.certificate) if maker == "xfer" else _openssl_signature(pki, tmp_path)
    )
    tampered = _tamper_signature_value(signature)
    with pytest.raises(IntegrityError, match=r"signature does not verify with .*xfer-client"):
        cms.verify(tampered, identity.certificate, content=PAYLOAD)
    assert openssl_verify(pki, tampered, PAYLOAD, tmp_path).returncode != 0  # openssl agrees


@pytest.mark.parametrize("maker", ["xfer", "openssl"])
def test_wrong_signer_certificate_rejected(
    pki: TestPKI, identity: Identity, partner: Identity, tmp_path: Path, maker: str
) -> None:
    signature = (
        cms.sign(PAYLOAD, identity.key, identity.certificate) if maker == "xfer" else _openssl_signature(pki, tmp_path)
    )
    with pytest.raises(
        IntegrityError, match=r"signed by CN=xfer-client.*not by the expected certificate .*xfer-as2-partner"
    ):
        cms.verify(signature, partner.certificate, content=PAYLOAD)
    assert not cms.signed_by(signature, partner.certificate)


@pytest.mark.parametrize("maker", ["xfer", "openssl"])
def test_altered_payload_rejected(pki: TestPKI, identity: Identity, tmp_path: Path, maker: str) -> None:
    signature = (
        cms.sign(PAYLOAD, identity.key, identity.certificate) if maker == "xfer" else _openssl_signature(pki, tmp_path)
    )
    altered = PAYLOAD.replace(b"ACME", b"ACMF", 1)
    with pytest.raises(IntegrityError, match="signed content was altered"):
        cms.verify(signature, identity.certificate, content=altered)
    assert openssl_verify(pki, signature, altered, tmp_path).returncode != 0


def test_signature_key_and_certificate_mismatch_rejected(identity: Identity, partner: Identity) -> None:
    # Our key, but the partner's certificate named as signer: the math must fail.
    signature = cms.sign(PAYLOAD, identity.key, partner.certificate)
    with pytest.raises(IntegrityError, match="does not verify"):
        cms.verify(signature, partner.certificate, content=PAYLOAD)


def test_detached_signature_needs_content(identity: Identity) -> None:
    signature = cms.sign(PAYLOAD, identity.key, identity.certificate)
    with pytest.raises(IntegrityError, match="detached"):
        cms.verify(signature, identity.certificate)


def test_garbage_is_not_a_signature(identity: Identity) -> None:
    with pytest.raises(IntegrityError, match="not valid CMS"):
        cms.verify(b"\x30\x03garbage", identity.certificate, content=PAYLOAD)
    with pytest.raises(IntegrityError, match="expected signed_data"):
        cms.verify(cms.compress(PAYLOAD), identity.certificate, content=PAYLOAD)


#: A ContentInfo holding a SignedData without its mandatory fields: it loads (asn1crypto parses
#: lazily) and fails at the first access deep inside verify.
HOLLOW_SIGNED_DATA = asn1_cms.ContentInfo(
    {"content_type": "signed_data", "content": asn1_cms.SignedData.load(bytes.fromhex("3003020101"))}
).dump()


def test_structurally_broken_cms_is_an_integrity_error(identity: Identity, partner: Identity) -> None:
    # The reviewer's case: a raw ValueError ("unexpected internal error", exit 1) came out of
    # verify; the partner's damaged data is an integrity failure.
    with pytest.raises(IntegrityError, match="the signature is not valid CMS/DER data"):
        cms.verify(HOLLOW_SIGNED_DATA, identity.certificate, content=PAYLOAD)
    with pytest.raises(IntegrityError, match="not valid CMS/DER data"):
        cms.signed_by(HOLLOW_SIGNED_DATA, identity.certificate)
    hollow_envelope = asn1_cms.ContentInfo(
        {"content_type": "enveloped_data", "content": asn1_cms.EnvelopedData.load(bytes.fromhex("3003020100"))}
    ).dump()
    with pytest.raises(IntegrityError, match="the encrypted message is not valid CMS/DER data"):
        cms.decrypt(hollow_envelope, partner.key, partner.certificate)


def test_pss_signature_with_an_unsupported_digest_is_an_integrity_error(identity: Identity) -> None:
    # A partner's receipt naming MD5 in its PSS parameters was a ConfigError (exit 3: "fix your
    # configuration") although nothing in ours is wrong.
    info = asn1_cms.ContentInfo.load(cms.sign(PAYLOAD, identity.key, identity.certificate))
    signer = info["content"]["signer_infos"][0]
    signer["signature_algorithm"] = {
        "algorithm": "rsassa_pss",
        "parameters": {"hash_algorithm": {"algorithm": "md5"},
                       "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "md5"}},
                       "salt_length": 16},
    }
    with pytest.raises(IntegrityError, match="RSASSA-PSS signature uses an unsupported digest"):
        cms.verify(info.dump(force=True), identity.certificate, content=PAYLOAD)


def _pss_signed(identity: Identity, digest: str, mask: str | None = None) -> bytes:
    """``PAYLOAD`` signed by ``identity``, its signer naming sha256 and its RSASSA-PSS signature
    made with ``digest`` over the signed attributes (MGF1 with ``mask``, by default the same)."""
    info = asn1_cms.ContentInfo.load(cms.sign(PAYLOAD, identity.key, identity.certificate))
    signer = info["content"]["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    hashers = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}
    mask = mask or digest
    attributes = b"\x31" + signer["signed_attrs"].dump()[1:]  # signed as a SET, not [0] IMPLICIT
    key = identity.key
    assert isinstance(key, rsa.RSAPrivateKey)
    signer["signature"] = key.sign(attributes, padding.PSS(padding.MGF1(hashers[mask]), 20), hashers[digest])
    signer["signature_algorithm"] = {
        "algorithm": "rsassa_pss",
        "parameters": {"hash_algorithm": {"algorithm": digest},
                       "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": mask}},
                       "salt_length": 20},
    }
    signed: bytes = info.dump(force=True)
    return signed


def test_a_pss_signature_must_hash_with_the_digest_its_signer_names(identity: Identity) -> None:
    # Review (session 26), M2: SHA-1 inside PSS passed the "no SHA-1 signatures" rule, which looks
    # at the signer's digestAlgorithm (sha256) only.
    for mask in ("sha256", "sha1"):  # MGF1 with SHA-1: the ASN.1 default, older Java's (review of the fix, M3)
        verified = cms.verify(_pss_signed(identity, "sha256", mask), identity.certificate, content=PAYLOAD)
        assert verified.digest_algorithm == "sha256"
    with pytest.raises(IntegrityError, match="hashes with sha1, not the sha256 its signer names"):
        cms.verify(_pss_signed(identity, "sha1"), identity.certificate, content=PAYLOAD)


# ---------------------------------------------------------------- encryption


@pytest.mark.parametrize("cipher", ["3des", "aes128-cbc", "aes192-cbc", "aes256-cbc"])
def test_openssl_decrypts_xfer_envelope(pki: TestPKI, partner: Identity, tmp_path: Path, cipher: str) -> None:
    envelope = cms.encrypt(PAYLOAD, partner.certificate, cipher=cipher)
    (tmp_path / "env.der").write_bytes(envelope)
    result = openssl(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", tmp_path / "env.der",
        "-recip", pki.partner_cert, "-inkey", pki.partner_key,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == PAYLOAD
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", stdin=envelope).stdout.decode()
    expected = {"3des": "des-ede3-cbc", "aes128-cbc": "aes-128-cbc", "aes192-cbc": "aes-192-cbc"}
    assert expected.get(cipher, "aes-256-cbc") in printed
    assert cms.decrypt(envelope, partner.key, partner.certificate) == cms.Decrypted(PAYLOAD, cipher)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flag", "cipher"),
    [("-des3", "3des"), ("-aes128", "aes128-cbc"), ("-aes192", "aes192-cbc"), ("-aes256", "aes256-cbc")],
)
def test_xfer_decrypts_openssl_envelope(
    pki: TestPKI, partner: Identity, tmp_path: Path, flag: str, cipher: str
) -> None:
    (tmp_path / "content").write_bytes(PAYLOAD)
    result = openssl(
        "cms", "-encrypt", "-binary", flag, "-in", tmp_path / "content", "-outform", "DER", pki.partner_cert
    )
    assert result.returncode == 0, result.stderr.decode()
    decrypted = cms.decrypt(result.stdout, partner.key, partner.certificate)
    assert decrypted.content == PAYLOAD
    assert decrypted.cipher == cipher


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1024 * 1024 + 3])
def test_encrypt_round_trip_sizes(partner: Identity, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    envelope = cms.encrypt(data, partner.certificate, cipher="aes256-cbc")
    assert cms.decrypt(envelope, partner.key).content == data


def test_envelope_for_someone_else_rejected(identity: Identity, partner: Identity) -> None:
    envelope = cms.encrypt(PAYLOAD, partner.certificate)
    with pytest.raises(IntegrityError, match="not encrypted for CN=xfer-client"):
        cms.decrypt(envelope, identity.key, identity.certificate)
    with pytest.raises(IntegrityError, match="cannot decrypt"):
        cms.decrypt(envelope, identity.key)  # no certificate: every recipient is tried


def test_each_envelope_has_fresh_keys(partner: Identity) -> None:
    assert cms.encrypt(PAYLOAD, partner.certificate) != cms.encrypt(PAYLOAD, partner.certificate)


# ---------------------------------------------------------------- compression


def test_compressed_data_decodes_independently() -> None:
    packed = cms.compress(PAYLOAD)
    info = asn1_cms.ContentInfo.load(packed)
    assert info["content_type"].dotted == "1.2.840.113549.1.9.16.1.9"  # id-ct-compressedData
    content = info["content"]
    assert content["version"].native == "v0"
    assert content["compression_algorithm"]["algorithm"].dotted == "1.2.840.113549.1.9.16.3.8"  # zlib
    assert content["encap_content_info"]["content_type"].native == "data"
    assert zlib.decompress(content["encap_content_info"]["content"].native) == PAYLOAD
    assert info.dump(force=True) == packed  # our hand-written DER is canonical DER
    assert cms.decompress(packed) == PAYLOAD


def test_decompression_bomb_refused() -> None:
    bomb = cms.compress(bytes(10 * 1024 * 1024))
    assert len(bomb) < 20_000
    with pytest.raises(IntegrityError, match="expands beyond"):
        cms.decompress(bomb, max_size=1024 * 1024)


def test_truncated_compressed_stream_rejected() -> None:
    info = asn1_cms.ContentInfo.load(cms.compress(PAYLOAD))
    encap = info["content"]["encap_content_info"]
    encap["content"] = zlib.compress(PAYLOAD)[:-6]
    with pytest.raises(IntegrityError, match="decompress"):
        cms.decompress(info.dump(force=True))


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("spelling", "name"), [("sha-1", "sha1"), ("SHA256", "sha256"), ("sha-384", "sha384"), ("sha_512", "sha512")]
)
def test_digest_spellings(spelling: str, name: str) -> None:
    assert cms.digest_name(spelling) == name


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("des3", "3des"), ("AES256", "aes256-cbc"), ("aes-192-cbc", "aes192-cbc"), ("aes128", "aes128-cbc")],
)
def test_cipher_spellings(spelling: str, name: str) -> None:
    assert cms.cipher_name(spelling) == name


def test_unknown_algorithms_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="md5"):
        cms.digest_name("md5")
    with pytest.raises(ConfigError, match="rc2"):
        cms.cipher_name("rc2-40")
