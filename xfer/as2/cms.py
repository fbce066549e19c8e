"""The CMS (RFC 5652) layers AS2 needs, on ``cryptography`` primitives and ``asn1crypto`` structures.

cryptography alone cannot do what AS2 partners expect: it refuses SHA-1 signatures, cannot
verify a CMS signature, has no 3DES or AES-192 envelopes and no CompressedData.  So the
structures are built here with asn1crypto and the cryptography is done by cryptography.

* :func:`sign` — SignedData, detached (the AS2 case) or attached, SHA-1/SHA-2, RSA PKCS#1 v1.5
  (or ECDSA for EC keys), signed attributes content-type, signing-time, message-digest and
  SMIMECapabilities.
* :func:`verify` — checks a detached or attached SignedData against one expected certificate.
* :func:`encrypt` / :func:`decrypt` — EnvelopedData, RSA PKCS#1 v1.5 key transport, AES-CBC
  (128/192/256) or 3DES-CBC content encryption.
* :func:`compress` / :func:`decompress` — CompressedData (RFC 3274, zlib).

Every integrity failure raises :class:`~xfer.errors.IntegrityError` with a message that says
which check failed; an unusable option raises :class:`~xfer.errors.ConfigError`.

Memory: the builders for layers that carry the payload (:func:`encrypt`, :func:`compress`)
write the DER around the big octet string themselves, so the result is assembled with one
join instead of asn1crypto's copy per nesting level: peak is about input + 2 × output.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import os
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes

from ..errors import ConfigError, IntegrityError

__all__ = [
    "CIPHERS",
    "DIGESTS",
    "MAX_DECOMPRESSED_SIZE",
    "Decrypted",
    "SignatureMismatch",
    "Verified",
    "cipher_name",
    "compress",
    "decompress",
    "decrypt",
    "digest_name",
    "encrypt",
    "new_hash",
    "sign",
    "signed_by",
    "signer_matches",
    "verify",
]

BytesLike = bytes | bytearray | memoryview
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Digest names xfer uses internally (hashlib spelling) → cryptography hash class.
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

DigestName = Literal["sha1", "sha256", "sha384", "sha512"]
CipherName = Literal["3des", "aes128-cbc", "aes192-cbc", "aes256-cbc"]


@dataclass(frozen=True)
class _CipherSpec:
    oid_name: str  # asn1crypto's name for the content-encryption algorithm OID
    key_size: int
    block_size: int


#: Content ciphers for EnvelopedData: xfer's option value → algorithm details.
CIPHERS: dict[CipherName, _CipherSpec] = {
    "3des": _CipherSpec("tripledes_3key", 24, 8),
    "aes128-cbc": _CipherSpec("aes128_cbc", 16, 16),
    "aes192-cbc": _CipherSpec("aes192_cbc", 24, 16),
    "aes256-cbc": _CipherSpec("aes256_cbc", 32, 16),
}
_CIPHER_BY_OID: dict[str, CipherName] = {spec.oid_name: name for name, spec in CIPHERS.items()}

#: A decompressed payload larger than this is refused: a few KiB of zlib can expand to
#: gigabytes, and the receiver holds the result in memory.
MAX_DECOMPRESSED_SIZE = 1024 * 1024 * 1024

# Large payloads are fed to the cipher, hash and zlib in slices of this size so that no
# intermediate copy of the whole input is made.
_CHUNK = 1024 * 1024


def digest_name(name: str) -> DigestName:
    """Normalise a digest spelling (``sha-256``, ``SHA256``, ``sha1``...) to xfer's name.

    Raises :class:`ConfigError` for anything else (MD5 included: it is broken).
    """
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in DIGESTS:
        raise ConfigError(
            f"unsupported digest algorithm {name!r}",
            hint="use one of sha1, sha256, sha384, sha512",
        )
    return key  # type: ignore[return-value]  # membership checked above


def cipher_name(name: str) -> CipherName:
    """Normalise a content-cipher spelling (``aes256``, ``AES-256-CBC``, ``des3``...)."""
    key = name.strip().lower().replace("_", "-")
    aliases = {
        "3des": "3des", "des3": "3des", "3des-cbc": "3des", "des-ede3-cbc": "3des",
        "tripledes": "3des", "des-ede3": "3des",
        "aes128": "aes128-cbc", "aes-128-cbc": "aes128-cbc", "aes-128": "aes128-cbc",
        "aes192": "aes192-cbc", "aes-192-cbc": "aes192-cbc", "aes-192": "aes192-cbc",
        "aes256": "aes256-cbc", "aes-256-cbc": "aes256-cbc", "aes-256": "aes256-cbc",
    }
    resolved = aliases.get(key, key)
    if resolved not in CIPHERS:
        raise ConfigError(
            f"unsupported encryption algorithm {name!r}",
            hint="use one of aes256-cbc, aes192-cbc, aes128-cbc, 3des",
        )
    return resolved


def new_hash(name: str) -> hashes.Hash:
    """A fresh incremental hash for a digest name in any accepted spelling."""
    return hashes.Hash(DIGESTS[digest_name(name)]())


def _digest(name: str, data: BytesLike) -> bytes:
    hasher = new_hash(name)
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        hasher.update(view[start : start + _CHUNK])
    return hasher.finalize()


# --------------------------------------------------------------------------- DER helpers


def _header(tag: int, length: int) -> bytes:
    """Identifier and definite-length octets of one DER element."""
    if length < 0x80:
        return bytes((tag, length))
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big")


def _wrap(tag: int, parts: list[bytes]) -> list[bytes]:
    """Prefix ``parts`` with a header: building the tree as a list keeps the payload uncopied."""
    return [_header(tag, sum(len(p) for p in parts)), *parts]


_SEQUENCE = 0x30
_OCTET_STRING = 0x04
_CONTEXT_0_CONSTRUCTED = 0xA0
_CONTEXT_0_PRIMITIVE = 0x80


def _asn1_cert(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _describe(certificate: x509.Certificate) -> str:
    return f"{certificate.subject.rfc4514_string()} (serial {certificate.serial_number:x})"


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _partner_data(what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a reader of partner data: a malformed structure is an :class:`IntegrityError`.

    asn1crypto parses lazily, so a structural error (a missing field, a wrong type) surfaces
    as ValueError, TypeError or KeyError at the first access, anywhere below the load; it is
    the partner's damaged data, never our bug to report as an internal error.
    """

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(function)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return function(*args, **kwargs)
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise IntegrityError(f"the {what} is not valid CMS/DER data ({exc})") from exc

        return wrapper

    return decorate


def _load_content_info(data: BytesLike, expected: str, what: str) -> cms.ContentInfo:
    try:
        info = cms.ContentInfo.load(bytes(data))
        content_type = info["content_type"].native
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"the {what} is not valid CMS/DER data ({exc})") from exc
    if content_type != expected:
        raise IntegrityError(f"the {what} is CMS {content_type}, expected {expected}")
    return info


# --------------------------------------------------------------------------- signing


def _signature_algorithm(key: SigningKey, digest: DigestName) -> algos.SignedDigestAlgorithm:
    if isinstance(key, rsa.RSAPrivateKey):
        # rsaEncryption (not sha256WithRSA) is what OpenSSL and every AS2 product write here.
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15", "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"})


def _raw_sign(key: SigningKey, data: bytes, digest: DigestName) -> bytes:
    algorithm = DIGESTS[digest]()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), algorithm)
    return key.sign(data, ec.ECDSA(algorithm))


def _smime_capabilities() -> cms.CMSAttribute:
    # Tells the partner which ciphers we can decrypt (e.g. for encrypted MDNs), strongest first.
    caps = [{"capability_id": CIPHERS[name].oid_name} for name in ("aes256-cbc", "aes192-cbc", "aes128-cbc")]
    caps.append({"capability_id": "tripledes_3key"})
    return cms.CMSAttribute({"type": "smime_capabilities", "values": [caps]})


def sign(
    content: BytesLike,
    key: object,
    certificate: x509.Certificate,
    *,
    digest: str = "sha256",
    chain: Sequence[x509.Certificate] = (),
    detached: bool = True,
    capabilities: bool = True,
    signing_time: dt.datetime | None = None,
) -> bytes:
    """Sign ``content``; return the DER ContentInfo holding the SignedData.

    ``key`` must be an RSA (PKCS#1 v1.5) or EC private key matching ``certificate``.  With
    ``detached`` (the AS2 case) the content is not embedded.  The signer is identified by
    issuer and serial number; ``certificate`` and ``chain`` are embedded for the receiver.
    """
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(
            f"cannot sign with a {type(key).__name__}: AS2 signing needs an RSA or EC key",
            hint="use an identity whose key is RSA",
        )
    algorithm = digest_name(digest)
    message_digest = _digest(algorithm, content)
    when = (signing_time or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": when})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [message_digest]}),
    ]
    if capabilities:
        attributes.append(_smime_capabilities())
    # DER requires a SET OF sorted by encoding; verifiers (OpenSSL) re-encode before checking,
    # so an unsorted set would verify here and fail there.
    encoded = sorted(attr.dump() for attr in attributes)
    signed_attrs_set = b"".join(_wrap(0x31, encoded))
    signature = _raw_sign(key, signed_attrs_set, algorithm)

    cert = _asn1_cert(certificate)
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": cert.issuer, "serial_number": cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
            "signed_attrs": cms.CMSAttributes.load(signed_attrs_set),
            "signature_algorithm": _signature_algorithm(key, algorithm),
            "signature": signature,
        }
    )
    encap: dict[str, object] = {"content_type": "data"}
    if not detached:
        encap["content"] = bytes(content)
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": algorithm})],
            "encap_content_info": encap,
            "certificates": [cert, *(_asn1_cert(c) for c in chain)],
            "signer_infos": [signer_info],
        }
    )
    result: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    return result


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verified:
    """A signature that verified: which digest it used, when it claims it was made, the content."""

    digest_algorithm: DigestName
    content: bytes | None  # the embedded content of an attached signature, else None
    signing_time: dt.datetime | None


def _key_identifier(certificate: x509.Certificate) -> bytes:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def signer_matches(sid: cms.SignerIdentifier | cms.RecipientIdentifier, certificate: x509.Certificate) -> bool:
    """Whether a signer (or recipient) identifier (issuer+serial or key id) names ``certificate``."""
    if sid.name == "issuer_and_serial_number":
        cert = _asn1_cert(certificate)
        chosen = sid.chosen
        return bool(chosen["serial_number"].native == cert.serial_number and chosen["issuer"] == cert.issuer)
    return hmac.compare_digest(sid.chosen.native, _key_identifier(certificate))


def _describe_sid(sid: cms.SignerIdentifier, embedded: Iterable[x509.Certificate]) -> str:
    for candidate in embedded:
        if signer_matches(sid, candidate):
            return _describe(candidate)
    if sid.name == "issuer_and_serial_number":
        chosen = sid.chosen
        serial = chosen["serial_number"].native
        return f"a certificate from {chosen['issuer'].human_friendly} (serial {serial:x})"
    return f"a certificate with key id {sid.chosen.native.hex()}"


def _embedded_certificates(signed_data: cms.SignedData) -> list[x509.Certificate]:
    found = []
    for choice in signed_data["certificates"] or []:
        if choice.name == "certificate":
            try:
                found.append(x509.load_der_x509_certificate(choice.chosen.dump()))
            except ValueError:
                continue  # an unparsable extra certificate does not matter: we never trust it
    return found


def _check_signature(
    certificate: x509.Certificate,
    signature: bytes,
    data: bytes,
    digest: DigestName,
    signature_algorithm: algos.SignedDigestAlgorithm,
) -> None:
    public_key = certificate.public_key()
    name = signature_algorithm["algorithm"].native
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            if name == "rsassa_pss":
                params = signature_algorithm["parameters"]
                try:
                    hashed = digest_name(params["hash_algorithm"]["algorithm"].native)
                    masked = digest_name(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
                except ConfigError as exc:  # the partner's signature, not our configuration
                    raise IntegrityError(f"the RSASSA-PSS signature uses an unsupported digest: {exc}") from exc
                if hashed != digest:
                    # The digest the signer names is what policy checks (no SHA-1); PSS's own hash
                    # is what signs: SHA-1 there passed as sha256 (review, session 26, M2).  The
                    # mask's hash may differ (RFC 4055 only recommends the same; MGF1 with SHA-1 is
                    # the ASN.1 default, and older Java's).
                    raise IntegrityError(
                        f"the RSASSA-PSS signature hashes with {hashed}, not the {digest} its signer names")
                pss_hash, mgf_hash = DIGESTS[hashed](), DIGESTS[masked]()
                pad: padding.AsymmetricPadding = padding.PSS(padding.MGF1(mgf_hash), params["salt_length"].native)
                public_key.verify(signature, data, pad, pss_hash)
            else:
                public_key.verify(signature, data, padding.PKCS1v15(), DIGESTS[digest]())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(DIGESTS[digest]()))
        else:
            raise IntegrityError(
                f"cannot verify a signature with the {type(public_key).__name__} of {_describe(certificate)}"
            )
    except InvalidSignature as exc:
        raise SignatureMismatch(
            f"the CMS signature does not verify with {_describe(certificate)}: "
            "the signature was altered or made with a different key"
        ) from exc


class SignatureMismatch(IntegrityError):
    """A signature that could be checked and does not match: the content's digest differs from the
    signed one, or the signature value does not verify with the signer's key (a forgery or damage).

    Every other failure of :func:`verify` (an unreadable structure, a digest or key type xfer
    cannot check, another signer) says the signature could not be checked, not that it is false.
    """


@_partner_data("signature")
def signed_by(signature: BytesLike, certificate: x509.Certificate) -> bool:
    """Whether ``certificate`` is named as a signer of a SignedData (nothing is verified yet).

    Lets a receiver tell "signed by someone else" (authentication-failed) from "signature or
    content damaged" (integrity-check-failed) before calling :func:`verify`.
    """
    info = _load_content_info(signature, "signed_data", "signature")
    return any(signer_matches(s["sid"], certificate) for s in info["content"]["signer_infos"])


@_partner_data("signature")
def verify(
    signature: BytesLike,
    certificate: x509.Certificate,
    *,
    content: BytesLike | None = None,
) -> Verified:
    """Verify a CMS SignedData against the one certificate we expect to have signed it.

    ``content`` is required for a detached signature and, when given for an attached one,
    must equal the embedded content.  Certificates embedded in the signature are used only to
    name the signer in an error; trust comes solely from ``certificate`` (the partner's, from
    the profile), so no chain building is done.  Raises :class:`IntegrityError` when the
    signer is someone else, the content was altered, or the signature does not verify.
    """
    info = _load_content_info(signature, "signed_data", "signature")
    signed_data: cms.SignedData = info["content"]
    signer_infos = list(signed_data["signer_infos"])
    if not signer_infos:
        raise IntegrityError("the CMS signature holds no signer")
    signer = next((s for s in signer_infos if signer_matches(s["sid"], certificate)), None)
    if signer is None:
        embedded = _embedded_certificates(signed_data)
        others = ", ".join(_describe_sid(s["sid"], embedded) for s in signer_infos)
        raise IntegrityError(
            f"the message was signed by {others}, not by the expected certificate {_describe(certificate)}",
            hint="check that the partner certificate in the profile is the one the partner signs with",
        )

    encap = signed_data["encap_content_info"]
    embedded_content = encap["content"].native if encap["content"] else None
    if embedded_content is not None and not isinstance(embedded_content, bytes):
        raise IntegrityError("the signature embeds content of an unexpected type")
    if content is None:
        if embedded_content is None:
            raise IntegrityError("the signature is detached but no signed content was given")
        data: BytesLike = embedded_content
    else:
        if embedded_content is not None and embedded_content != bytes(content):
            raise SignatureMismatch("the content embedded in the signature differs from the content received")
        data = content

    try:
        algorithm = digest_name(signer["digest_algorithm"]["algorithm"].native)
    except ConfigError as exc:
        raise IntegrityError(f"the signature uses an unsupported digest: {exc}") from exc
    actual_digest = _digest(algorithm, data)
    signed_attrs = signer["signed_attrs"]
    signing_time = None
    if signed_attrs:
        found = {attr["type"].native: attr["values"] for attr in signed_attrs}
        if "message_digest" not in found:
            raise IntegrityError("the signature has signed attributes but no message-digest")
        claimed = found["message_digest"][0].native
        if not hmac.compare_digest(claimed, actual_digest):
            raise SignatureMismatch(
                f"the signed content was altered: its {algorithm} digest does not match the signature"
            )
        if "content_type" in found and found["content_type"][0].native != encap["content_type"].native:
            raise SignatureMismatch("the signed content-type attribute does not match the content")
        if "signing_time" in found:
            signing_time = found["signing_time"][0].native
        # RFC 5652 §5.4: the signature covers the attributes' DER as an explicit SET OF (tag
        # 0x31), not the [0] IMPLICIT form they are stored in; keep the received bytes.
        to_verify = b"\x31" + signed_attrs.dump()[1:]
    else:
        to_verify = bytes(data)
    _check_signature(certificate, signer["signature"].native, to_verify, algorithm, signer["signature_algorithm"])
    return Verified(
        digest_algorithm=algorithm,
        content=embedded_content if content is None else None,
        signing_time=signing_time,
    )


# --------------------------------------------------------------------------- encryption


def _cipher(name: str, key: bytes) -> CipherAlgorithm:
    return TripleDES(key) if name == "3des" else algorithms.AES(key)


def _issuer_and_serial(certificate: x509.Certificate) -> cms.IssuerAndSerialNumber:
    cert = _asn1_cert(certificate)
    return cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number})


def encrypt(content: BytesLike, recipient: x509.Certificate, *, cipher: str = "aes256-cbc") -> bytes:
    """Encrypt ``content`` to ``recipient``'s RSA key; return the DER ContentInfo (EnvelopedData).

    A fresh content key and IV are drawn from ``os.urandom`` for every call; the key is
    wrapped with RSA PKCS#1 v1.5, the only key transport AS2 partners universally accept.
    """
    name = cipher_name(cipher)
    spec = CIPHERS[name]
    public_key = recipient.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ConfigError(
            f"cannot encrypt to {_describe(recipient)}: its key is not RSA",
            hint="AS2 encryption needs the partner's RSA certificate",
        )
    content_key = os.urandom(spec.key_size)
    iv = os.urandom(spec.block_size)
    recipient_info = cms.RecipientInfo(
        {
            "ktri": cms.KeyTransRecipientInfo(
                {
                    "version": "v0",
                    "rid": cms.RecipientIdentifier({"issuer_and_serial_number": _issuer_and_serial(recipient)}),
                    "key_encryption_algorithm": cms.KeyEncryptionAlgorithm(
                        {"algorithm": "rsaes_pkcs1v15", "parameters": core.Null()}
                    ),
                    "encrypted_key": public_key.encrypt(content_key, padding.PKCS1v15()),
                }
            )
        }
    )

    view = memoryview(content)
    encryptor = Cipher(_cipher(name, content_key), modes.CBC(iv)).encryptor()
    full = len(view) - len(view) % spec.block_size
    ciphertext = [encryptor.update(view[start : min(start + _CHUNK, full)]) for start in range(0, full, _CHUNK)]
    pad = spec.block_size - len(view) % spec.block_size  # PKCS#7: always 1..block_size bytes
    ciphertext.append(encryptor.update(bytes(view[full:]) + bytes((pad,)) * pad))
    ciphertext.append(encryptor.finalize())
    del view

    algorithm = algos.EncryptionAlgorithm({"algorithm": spec.oid_name, "parameters": core.OctetString(iv)})
    encrypted_content_info = _wrap(
        _SEQUENCE,
        [cms.ContentType("data").dump(), algorithm.dump(), *_wrap(_CONTEXT_0_PRIMITIVE, ciphertext)],
    )
    enveloped = _wrap(
        _SEQUENCE,
        [core.Integer(0).dump(), cms.RecipientInfos([recipient_info]).dump(), *encrypted_content_info],
    )
    parts = _wrap(_SEQUENCE, [cms.ContentType("enveloped_data").dump(), *_wrap(_CONTEXT_0_CONSTRUCTED, enveloped)])
    ciphertext.clear()
    return b"".join(parts)


@dataclass(frozen=True)
class Decrypted:
    """Decrypted content and the content cipher the sender chose."""

    content: bytes
    cipher: CipherName


@_partner_data("encrypted message")
def decrypt(data: BytesLike, key: object, certificate: x509.Certificate | None = None) -> Decrypted:
    """Decrypt a DER EnvelopedData with our RSA ``key``.

    With ``certificate`` only the recipient entry for that certificate is tried (and its
    absence is reported clearly); without it every key-transport entry is tried.
    Raises :class:`IntegrityError` when the data is not for us or cannot be decrypted.
    """
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"cannot decrypt with a {type(key).__name__}: AS2 decryption needs an RSA key")
    info = _load_content_info(data, "enveloped_data", "encrypted message")
    enveloped: cms.EnvelopedData = info["content"]
    candidates = []
    for recipient_info in enveloped["recipient_infos"]:
        if recipient_info.name != "ktri":
            continue
        ktri = recipient_info.chosen
        rid = ktri["rid"]
        if certificate is not None and not signer_matches(rid, certificate):
            continue
        candidates.append(ktri)
    if not candidates:
        target = _describe(certificate) if certificate is not None else "an RSA key"
        raise IntegrityError(
            f"the message is not encrypted for {target}",
            hint="the partner may be encrypting with an old certificate of ours",
        )

    content_key = None
    for ktri in candidates:
        try:
            content_key = key.decrypt(ktri["encrypted_key"].native, padding.PKCS1v15())
            break
        except ValueError:
            continue
    if content_key is None:
        raise IntegrityError("cannot decrypt the content key: the message was encrypted for another key")

    eci = enveloped["encrypted_content_info"]
    oid_name = eci["content_encryption_algorithm"]["algorithm"].native
    name = _CIPHER_BY_OID.get(oid_name)
    if name is None:
        raise IntegrityError(f"the message is encrypted with an unsupported cipher ({oid_name})")
    spec = CIPHERS[name]
    if len(content_key) != spec.key_size:
        raise IntegrityError("cannot decrypt: the content key has the wrong size for the cipher")
    iv = eci["content_encryption_algorithm"]["parameters"].native
    ciphertext = eci["encrypted_content"].native
    if not isinstance(iv, bytes) or len(iv) != spec.block_size:
        raise IntegrityError("cannot decrypt: the cipher's IV is missing or malformed")
    if not ciphertext or len(ciphertext) % spec.block_size:
        raise IntegrityError("cannot decrypt: the encrypted content is truncated")
    decryptor = Cipher(_cipher(name, content_key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(ciphertext) + decryptor.finalize()
    pad = plain[-1]
    # A wrong key almost always yields invalid padding: report it as a decryption failure.
    if not 1 <= pad <= spec.block_size or plain[-pad:] != bytes((pad,)) * pad:
        raise IntegrityError("cannot decrypt: wrong key or damaged data (invalid padding)")
    return Decrypted(content=plain[:-pad], cipher=name)


# --------------------------------------------------------------------------- compression


def compress(content: BytesLike, *, level: int = 6) -> bytes:
    """Wrap ``content`` in a DER CompressedData (RFC 3274, zlib); return the ContentInfo."""
    view = memoryview(content)
    compressor = zlib.compressobj(level)
    chunks = [compressor.compress(view[start : start + _CHUNK]) for start in range(0, len(view), _CHUNK)]
    chunks.append(compressor.flush())
    del view
    algorithm = cms.CompressionAlgorithm({"algorithm": "zlib"})
    encap = _wrap(
        _SEQUENCE,
        [cms.ContentType("data").dump(), *_wrap(_CONTEXT_0_CONSTRUCTED, _wrap(_OCTET_STRING, chunks))],
    )
    compressed = _wrap(_SEQUENCE, [core.Integer(0).dump(), algorithm.dump(), *encap])
    parts = _wrap(_SEQUENCE, [cms.ContentType("compressed_data").dump(), *_wrap(_CONTEXT_0_CONSTRUCTED, compressed)])
    chunks.clear()
    return b"".join(parts)


@_partner_data("compressed message")
def decompress(data: BytesLike, *, max_size: int = MAX_DECOMPRESSED_SIZE) -> bytes:
    """Unwrap a DER CompressedData; refuse output larger than ``max_size`` (a zip bomb)."""
    info = _load_content_info(data, "compressed_data", "compressed message")
    compressed: cms.CompressedData = info["content"]
    algorithm = compressed["compression_algorithm"]["algorithm"].native
    if algorithm != "zlib":
        raise IntegrityError(f"the message is compressed with an unsupported algorithm ({algorithm})")
    packed = compressed["encap_content_info"]["content"].native
    if not isinstance(packed, bytes):
        raise IntegrityError("the compressed message holds no content")
    decompressor = zlib.decompressobj()
    try:
        result = decompressor.decompress(packed, max_size + 1)
    except zlib.error as exc:
        raise IntegrityError(f"cannot decompress the message: {exc}") from exc
    if len(result) > max_size:
        raise IntegrityError(f"the compressed message expands beyond {max_size} bytes; refused")
    if not decompressor.eof:
        raise IntegrityError("cannot decompress the message: the zlib stream is truncated")
    return result
