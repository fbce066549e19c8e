"""A quick reader for the PKCS#12 bundle that current tools write (issue 14: start-up).

It answers in DER (the PKCS#8 key, the certificates) and reads the few certificate facts a
connection needs (:func:`certificate_facts`) itself: ``cryptography.x509`` and the key
loaders cost a third of a connecting command's start-up to import, and a connection only
hands the DER to OpenSSL.  Of ``cryptography`` only AES (``ciphers``) and PBKDF2 are
imported here for an RSA identity; an EC or EdDSA key also loads its key serialization.

Why not only ``cryptography``'s ``pkcs12.load_pkcs12``: it re-validates an RSA private key
as it loads it (OpenSSL's ``RSA_check_key``, primality tests of both primes), about 43 ms
of a 2048-bit key and most of a connecting command's identity load; curl and OpenSSL's own
tools do not.  The primality of the primes is a fact about how the key was made, not about
whether this copy is intact.  What a damaged or tampered copy would break is checked here
instead, at a few microseconds:

- the bundle's MAC (HMAC under the password, RFC 7292 §5 and B.2) covers every byte read;
- the RSA private numbers are consistent (n = p·q, e·d ≡ 1 modulo p−1 and q−1, the CRT
  values match; a faulty CRT value is what makes a signature leak the key);
- the key belongs to a certificate of the bundle (RSA: the modulus and exponent of the
  certificate; other keys: cryptography loads them, which checks an EC key's point, and
  their public key must be the certificate's).

The shape read here: a MAC'd PFX whose certificates sit in PBES2 (PBKDF2 + AES-CBC)
encrypted data or in plain data, with one PKCS#8 key bag (PBES2-shrouded or plain), DER
with definite lengths: OpenSSL 3's ``pkcs12 -export``, cryptography's, Java's keytool,
Windows' AES export.  For anything else :func:`read` answers ``None`` and the caller uses
the full reader, which also words every failure (wrong password, damaged file), so this
module never raises and never decides an error message.  Also handed on: iteration counts
past :data:`MAX_MAC_ROUNDS` (the MAC count lies outside the MAC), DER not in its shortest
form, RSA-PSS keys and certificates, multi-prime RSA keys, a certificate whose public key is
encoded otherwise than cryptography writes that key's (a compressed EC point).

Where it knowingly answers differently from the full reader (each only for a bundle whose
MAC is right, so made that way by whoever holds the password): an RSA "prime" that is
composite is not caught (its signatures then fail at the TLS handshake instead of at load);
bag attributes (friendly name, local key id) are not read, so wrongly typed ones pass; of a
certificate only its structure, validity and extended key usage are read here (OpenSSL parses
it whole in ``load_cert_chain``, and :mod:`xfer.tls` words a refusal there).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["Bundle", "CertificateFacts", "certificate_facts", "encrypt_private_key", "issuer_path",
           "key_for_certificate", "name_key", "read",
           "self_issued"]


@dataclass(frozen=True)
class Bundle:
    """What a PKCS#12 file holds, as DER: the key (PKCS#8, decrypted: memory only), its certificate,
    the other certificates in file order.  The key is never in a repr (a debugger's, a traceback
    with locals, a log line)."""

    key: bytes = field(repr=False)
    certificate: bytes = field(repr=False)
    chain: tuple[bytes, ...] = field(repr=False)


class CertificateFacts(NamedTuple):
    """What a connection checks on our certificate, read from its DER."""

    not_before: dt.datetime
    not_after: dt.datetime
    #: The extended key usages (OIDs, dotted); None without the extension (no restriction).
    extended_key_usage: tuple[str, ...] | None
    #: The SubjectPublicKeyInfo element, as (tag, content).
    public_key_info: tuple[int, bytes]


class _Unsupported(Exception):
    """Outside the shape this reader knows: the full reader takes over."""


def _oid(dotted: str) -> bytes:
    """The DER content octets of an object identifier, to compare with what is read."""
    first, second, *rest = (int(part) for part in dotted.split("."))
    out = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return bytes(out)


_DATA = _oid("1.2.840.113549.1.7.1")
_ENCRYPTED_DATA = _oid("1.2.840.113549.1.7.6")
_KEY_BAG = _oid("1.2.840.113549.1.12.10.1.1")
_SHROUDED_KEY_BAG = _oid("1.2.840.113549.1.12.10.1.2")
_CERT_BAG = _oid("1.2.840.113549.1.12.10.1.3")
_X509_CERTIFICATE = _oid("1.2.840.113549.1.9.22.1")
_PBES2 = _oid("1.2.840.113549.1.5.13")
_PBKDF2 = _oid("1.2.840.113549.1.5.12")
_RSA = _oid("1.2.840.113549.1.1.1")
_RSASSA_PSS = _oid("1.2.840.113549.1.1.10")
_EXTENDED_KEY_USAGE = _oid("2.5.29.37")
_HMAC_SHA256 = _oid("1.2.840.113549.2.9")
_AES_256_CBC = _oid("2.16.840.1.101.3.4.1.42")

#: MAC digests (DigestInfo algorithm) and PBKDF2 PRFs, by OID: hashlib name and PKCS#12 KDF block size.
_DIGESTS = {
    _oid("1.3.14.3.2.26"): ("sha1", 64),
    _oid("2.16.840.1.101.3.4.2.4"): ("sha224", 64),
    _oid("2.16.840.1.101.3.4.2.1"): ("sha256", 64),
    _oid("2.16.840.1.101.3.4.2.2"): ("sha384", 128),
    _oid("2.16.840.1.101.3.4.2.3"): ("sha512", 128),
}
_PRFS = {
    _oid("1.2.840.113549.2.7"): "sha1",
    _oid("1.2.840.113549.2.8"): "sha224",
    _oid("1.2.840.113549.2.9"): "sha256",
    _oid("1.2.840.113549.2.10"): "sha384",
    _oid("1.2.840.113549.2.11"): "sha512",
}
#: AES-CBC by OID: key length in bytes.
_AES_CBC = {
    _oid("2.16.840.1.101.3.4.1.2"): 16,
    _oid("2.16.840.1.101.3.4.1.22"): 24,
    _oid("2.16.840.1.101.3.4.1.42"): 32,
}

_SEQUENCE, _OCTET_STRING, _INTEGER, _OID, _NULL = 0x30, 0x04, 0x02, 0x06, 0x05
_BOOLEAN, _BIT_STRING, _UTC_TIME, _GENERALIZED_TIME = 0x01, 0x03, 0x17, 0x18
_EXPLICIT_0, _IMPLICIT_0_PRIMITIVE, _SET, _EXPLICIT_3 = 0xA0, 0x80, 0x31, 0xA3

#: Iteration counts read from the file are bounded: the MAC's KDF runs in Python here (about
#: 0.6 us a round), and a count outside the MAC can be set by anyone.  Beyond the bound the full
#: reader, in C, takes over (and refuses counts of 2^32 and more at once).  Writers use 2,048
#: (OpenSSL) to 10,000 (Java) MAC rounds; PBKDF2, in C either way, gets a bound cryptography has too.
MAX_MAC_ROUNDS = 10_000
MAX_PBKDF2_ROUNDS = (1 << 31) - 1


def read(data: bytes, password: bytes | None) -> Bundle | None:
    """The bundle in ``data`` opened with ``password``; None if this reader cannot vouch for it."""
    if not password:
        return None  # no password: OpenSSL tries two encodings of "none"; leave that to the full reader
    try:
        return _read(data, password)
    except Exception:  # _Unsupported, or anything a damaged file provokes: the full reader words it
        return None


def _read(data: bytes, password: bytes) -> Bundle:
    version, auth_safe, mac_data = _fields(_one(data, _SEQUENCE), 3)
    if _integer(_expect(version, _INTEGER)) != 3:
        raise _Unsupported("PFX version")
    content_type, content = _fields(_expect(auth_safe, _SEQUENCE), 2)
    if _expect(content_type, _OID) != _DATA:
        raise _Unsupported("public-key integrity mode")
    safe = _one(_expect(content, _EXPLICIT_0), _OCTET_STRING)
    _check_mac(_expect(mac_data, _SEQUENCE), safe, password)

    keys: list[bytes] = []
    certificates: list[bytes] = []
    for info in _items(_one(safe, _SEQUENCE)):
        for bag_id, value in _bags(_safe_contents(_expect(info, _SEQUENCE), password)):
            if bag_id == _CERT_BAG:
                certificates.append(_certificate(value))
            elif bag_id == _SHROUDED_KEY_BAG:  # EncryptedPrivateKeyInfo (RFC 5958): PBES2 under the password
                algorithm, encrypted = _fields(_expect(value, _SEQUENCE), 2)
                keys.append(_pbes2_decrypt(algorithm, _expect(encrypted, _OCTET_STRING), password))
            elif bag_id == _KEY_BAG:
                keys.append(_whole(value))
            else:
                raise _Unsupported("bag type")
    if len(keys) != 1:
        raise _Unsupported("not exactly one key")
    facts = [_certificate_facts(c) for c in certificates]
    if any(_public_key(f.public_key_info)[0] == _RSASSA_PSS for f in facts):
        raise _Unsupported("RSA-PSS certificate")  # OpenSSL tells its key type from plain RSA
    belongs = _key_check(keys[0])
    leaf = next((c for c, f in zip(certificates, facts, strict=True) if belongs(f.public_key_info)), None)
    if leaf is None:
        raise _Unsupported("no certificate for the key")
    return Bundle(keys[0], leaf, tuple(c for c in certificates if c is not leaf))


# -- the integrity checks -------------------------------------------------------------


def _check_mac(mac_data: bytes, signed: bytes, password: bytes) -> None:
    """The PFX MAC over the authenticated safe (RFC 7292 §5.1, key from the B.2 KDF, ID 3)."""
    digest_info, salt, *rest = _items(mac_data)
    if len(rest) > 1:
        raise _Unsupported("MacData fields")
    algorithm, expected = _fields(_expect(digest_info, _SEQUENCE), 2)
    name, block = _DIGESTS.get(_algorithm(algorithm)[0], ("", 0))
    if not name:
        raise _Unsupported("MAC digest")  # e.g. PBMAC1 (RFC 9579)
    iterations = _integer(_expect(rest[0], _INTEGER)) if rest else 1
    if not 1 <= iterations <= MAX_MAC_ROUNDS:
        raise _Unsupported("MAC iteration count")
    # B.1: the password as a BMPString with its two-byte terminator.
    bmp = password.decode("utf-8").encode("utf-16-be") + b"\0\0"
    size = hashlib.new(name).digest_size
    key = _pkcs12_kdf(name, block, bmp, _expect(salt, _OCTET_STRING), 3, iterations, size)
    if not hmac.compare_digest(hmac.new(key, signed, name).digest(), _expect(expected, _OCTET_STRING)):
        raise _Unsupported("MAC mismatch")  # a wrong password, usually: the full reader says which


def _pkcs12_kdf(name: str, block: int, password: bytes, salt: bytes, purpose: int, rounds: int, size: int) -> bytes:
    """RFC 7292 B.2 for outputs up to one digest long (all a MAC key needs)."""
    if size > hashlib.new(name).digest_size or rounds < 1:
        raise _Unsupported("KDF length")

    def stretch(value: bytes) -> bytes:
        """Copies of ``value`` filling whole ``block``s (the last copy cut short)."""
        length = block * math.ceil(len(value) / block)
        return (value * math.ceil(length / len(value)))[:length] if value else b""

    digest = getattr(hashlib, name)  # the named constructor: hashlib.new(name) costs twice as much a round
    out: bytes = digest(bytes([purpose]) * block + stretch(salt) + stretch(password)).digest()
    for _ in range(rounds - 1):
        out = digest(out).digest()
    return out[:size]


def _key_check(der: bytes) -> Callable[[tuple[int, bytes]], bool]:
    """Check the PKCS#8 key ``der``; answer the test "is this SubjectPublicKeyInfo the key's?"."""
    version, algorithm, private, *optional = _items(_one(der, _SEQUENCE))
    if _integer(_expect(version, _INTEGER)) not in (0, 1) or len(optional) > 2:
        raise _Unsupported("PrivateKeyInfo")
    oid, params = _algorithm(algorithm)
    if oid == _RSA and params is None:
        n, e = _check_rsa(_expect(private, _OCTET_STRING))

        def is_rsa_key(info: tuple[int, bytes]) -> bool:
            cert_oid, cert_params, bits = _public_key(info)
            if cert_oid != _RSA or cert_params is not None or bits[:1] != b"\0":
                return False
            modulus, exponent = _fields(_one(bits[1:], _SEQUENCE), 2)
            return (_integer(_expect(modulus, _INTEGER)), _integer(_expect(exponent, _INTEGER))) == (n, e)

        return is_rsa_key
    if oid == _RSASSA_PSS:
        raise _Unsupported("RSA-PSS key")
    # EC, EdDSA, DSA: cryptography's loader (imported only for them) checks the key (an EC
    # key's point against its scalar) and derives the public key to compare.
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_private_key

    key = load_der_private_key(der, None)
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey | dsa.DSAPrivateKey
    ):
        raise _Unsupported("key type")
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return lambda info: _whole(info) == public


def _public_key(info: tuple[int, bytes]) -> tuple[bytes, tuple[int, bytes] | None, bytes]:
    """(algorithm OID, its parameters, the BIT STRING's content) of a SubjectPublicKeyInfo."""
    algorithm, bits = _fields(_expect(info, _SEQUENCE), 2)
    return (*_algorithm(algorithm), _expect(bits, _BIT_STRING))


def _check_rsa(der: bytes) -> tuple[int, int]:
    """(n, e) of an RSAPrivateKey whose numbers fit together, as OpenSSL's check would prove
    them, without its primality tests."""
    version, *numbers = (_integer(_expect(item, _INTEGER)) for item in _items(_one(der, _SEQUENCE)))
    if version != 0 or len(numbers) != 8:
        raise _Unsupported("RSA key version")  # 1: multi-prime
    n, e, d, p, q, dmp1, dmq1, iqmp = numbers
    consistent = (
        p > 1 and q > 1 and p * q == n and 1 < d < n and e > 1 and e % 2 == 1
        and e * d % (p - 1) == 1 and e * d % (q - 1) == 1
        and dmp1 == d % (p - 1) and dmq1 == d % (q - 1)
        and 0 < iqmp < p and iqmp * q % p == 1
    )
    if not consistent:
        raise _Unsupported("inconsistent RSA key")
    return n, e


# -- PKCS#12 structures ---------------------------------------------------------------


def _safe_contents(info: bytes, password: bytes) -> bytes:
    """The SafeContents of one ContentInfo of the authenticated safe: plain, or PBES2-encrypted."""
    content_type, content = _fields(info, 2)
    explicit = _expect(content, _EXPLICIT_0)
    if _expect(content_type, _OID) == _DATA:
        return _one(explicit, _OCTET_STRING)
    if content_type[1] != _ENCRYPTED_DATA:
        raise _Unsupported("content type")
    _version, encrypted_info = _fields(_one(explicit, _SEQUENCE), 2)
    inner_type, algorithm, encrypted = _fields(_expect(encrypted_info, _SEQUENCE), 3)
    if _expect(inner_type, _OID) != _DATA:
        raise _Unsupported("encrypted content type")
    return _pbes2_decrypt(algorithm, _expect(encrypted, _IMPLICIT_0_PRIMITIVE), password)


def _pbes2_decrypt(algorithm: tuple[int, bytes], ciphertext: bytes, password: bytes) -> bytes:
    """PBES2 (RFC 8018 §6.2) with PBKDF2 and AES-CBC; anything else is for the full reader."""
    scheme, params = _algorithm(algorithm)
    if scheme != _PBES2 or params is None:
        raise _Unsupported("encryption scheme")  # e.g. the legacy 3DES/RC2 PBEs
    kdf, cipher = _fields(_expect(params, _SEQUENCE), 2)
    kdf_oid, kdf_params = _algorithm(kdf)
    cipher_oid, iv = _algorithm(cipher)
    key_size = _AES_CBC.get(cipher_oid, 0)
    if kdf_oid != _PBKDF2 or kdf_params is None or not key_size or iv is None:
        raise _Unsupported("KDF or cipher")
    salt, rounds, *optional = _items(_expect(kdf_params, _SEQUENCE))
    if len(optional) > 2:
        raise _Unsupported("PBKDF2 parameters")
    prf = "sha1"  # the DEFAULT of PBKDF2-params
    for item in optional:
        if item[0] == _INTEGER and _integer(item[1]) != key_size:
            raise _Unsupported("key length")
        elif item[0] == _SEQUENCE:
            prf = _PRFS.get(_algorithm(item)[0], "")
    if not prf:
        raise _Unsupported("PRF")
    count = _integer(_expect(rounds, _INTEGER))
    if not 1 <= count <= MAX_PBKDF2_ROUNDS:
        raise _Unsupported("PBKDF2 iteration count")
    key = _pbkdf2(prf, password, _expect(salt, _OCTET_STRING), count, key_size)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(_expect(iv, _OCTET_STRING))).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1] if padded else 0
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        raise _Unsupported("padding")
    return padded[:-pad]


def _pbkdf2(prf: str, password: bytes, salt: bytes, rounds: int, size: int) -> bytes:
    """PBKDF2-HMAC in cryptography's OpenSSL: twice as fast a round as hashlib's in the system
    OpenSSL 3.0 here, and writers use 10,000 to 600,000 rounds (20,000: about 4 ms against 8)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    return PBKDF2HMAC(getattr(hashes, prf.upper())(), size, salt, rounds).derive(password)


def _bags(safe_contents: bytes) -> Iterator[tuple[bytes, tuple[int, bytes]]]:
    """(bag id, bag value) of every SafeBag; attributes (friendly name, local key id) are not needed."""
    for bag in _items(_one(safe_contents, _SEQUENCE)):
        bag_id, value, *attributes = _items(_expect(bag, _SEQUENCE))
        if len(attributes) > 1 or (attributes and attributes[0][0] != _SET):
            raise _Unsupported("bag attributes")  # friendlyName/localKeyId are not read, but must be a SET
        yield _expect(bag_id, _OID), _only(_expect(value, _EXPLICIT_0))


def _certificate(value: tuple[int, bytes]) -> bytes:
    cert_id, cert_value = _fields(_expect(value, _SEQUENCE), 2)
    if _expect(cert_id, _OID) != _X509_CERTIFICATE:
        raise _Unsupported("certificate type")
    return _one(_expect(cert_value, _EXPLICIT_0), _OCTET_STRING)


# -- certificates ---------------------------------------------------------------------


def issuer_path(leaf: bytes, others: tuple[bytes, ...] | list[bytes]) -> tuple[bytes, ...]:
    """The certificates of ``others`` on ``leaf``'s issuer path, nearest issuer first.

    A keystore holds more than the identity's chain: another identity's certificate, the
    partner's CA as a trusted entry, an old root.  Sent as our chain they tell the server about
    unrelated certificates, and OpenSSL refuses the whole identity for a weak one among them
    (review TLS-ID, findings M2 and M4).  Issuer links are followed by name, compared as RFC 5280
    §7.1 and OpenSSL compare them (:func:`name_key`: an issuer written as PrintableString matches
    a subject written as UTF8String, and case and spacing do not count): compared as raw DER, a
    needed intermediate was dropped (review of the TLS fixes, finding H3).  When in doubt a
    certificate is kept (an extra CA is harmless, a missing one breaks): names are linked by a
    looser rule than OpenSSL's (all Unicode case and spacing, as Java's X500Principal folds them;
    every name OpenSSL links, this links too), while the path ends at a certificate self-issued by
    OpenSSL's rule (:func:`self_issued`); one whose names cannot be read is kept; a leaf whose
    names cannot be read keeps ``others`` as they are.  Several
    certificates with the issuer's name (a renewed CA, a cross-certificate) are all kept: links
    are by name, not by key, so a renewed CA whose key did not sign the child is sent too (an
    extra certificate the server passes over), never a needed one dropped.
    """
    names = {der: _issuer_and_subject(der, loose=True) for der in others}
    start = _issuer_and_subject(leaf, loose=True)
    if start is None:
        return tuple(others)
    path: list[bytes] = []
    todo = [(leaf, start)]
    while todo:
        current, (issuer, _) = todo.pop(0)
        if self_issued(current):
            continue  # self-issued: the path ends here
        for der, found in names.items():
            if found is not None and found[1] == issuer and der not in path and der != leaf:
                path.append(der)
                todo.append((der, found))
    unread = [der for der, found in names.items() if found is None and der != leaf and der not in path]
    return (*path, *unread)


#: A Name as :func:`name_key` answers it: per RDN (order kept), its attributes as (OID, value) sorted.
NameKey = tuple[tuple[tuple[bytes, bytes], ...], ...]

#: ASN.1 string types OpenSSL canonicalises in a Name (``ASN1_MASK_CANON``), and how each decodes to
#: text as ``ASN1_STRING_to_UTF8`` does: the one-byte types as Latin-1.  NumericString and
#: GeneralString are not among them: OpenSSL keeps those as they are (type and bytes).
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # TeletexString (T61)
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString: 16-bit units, a surrogate OpenSSL refuses (below)
}

#: String types OpenSSL keeps as they are, read as text only by the looser rule.
_LOOSE_ONLY = (0x12, 0x1B)  # NumericString, GeneralString

#: What OpenSSL's ``ossl_isspace`` calls space: ASCII only (U+00A0 and the like are text).
_ASCII_SPACE = " \t\n\v\f\r"
#: OpenSSL's ``ossl_tolower``: ASCII capitals only ("Ä" and "ß" stay as they are).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def name_key(der: bytes) -> NameKey | None:
    """A DER Name in the form two names that OpenSSL's issuer lookup calls the same share (its
    canonical encoding, ``x509_name_canon``; RFC 5280 §7.1's rule with ASCII case only): each value
    of a string type OpenSSL canonicalises decoded to text as OpenSSL decodes it, leading and
    trailing ASCII whitespace dropped, inner runs of it one space, ASCII capitals lowered (other
    letters, and U+00A0 and other non-ASCII spaces, compared as they are); values of other types
    (NumericString among them) and strings that do not decode as their DER, type included; the
    attributes of a multi-valued RDN in sorted order, the RDNs in theirs.  None if ``der`` is not a
    Name as read here."""
    try:
        return _name_key(_one(der, _SEQUENCE))
    except Exception:
        return None


def _name_key(content: bytes, loose: bool = False) -> NameKey:
    rdns = []
    for rdn in _items(content):
        attributes = []
        for attribute in _items(_expect(rdn, _SET)):
            oid, value = _fields(_expect(attribute, _SEQUENCE), 2)
            attributes.append((_expect(oid, _OID), _canonical_value(value, loose)))
        if not attributes:
            raise _Unsupported("empty RDN")
        rdns.append(tuple(sorted(attributes)))
    return tuple(rdns)


def _canonical_value(value: tuple[int, bytes], loose: bool = False) -> bytes:
    """An attribute value as compared: b"s" and its canonical text, or b"d" and its DER.

    ``loose``: every string type (NumericString too) as text, all Unicode spacing collapsed and all
    case folded (``str.casefold``), for :func:`issuer_path`'s "when in doubt, send it"."""
    codec = _STRING_CODECS.get(value[0]) or ("latin-1" if loose and value[0] in _LOOSE_ONLY else None)
    if codec is not None:
        try:
            text = _decode(value[1], codec)
        except (UnicodeDecodeError, ValueError):
            pass
        else:
            if loose:
                return b"s" + " ".join(text.split()).casefold().encode("utf-8")
            words = text.strip(_ASCII_SPACE)
            canonical = "".join(" " if ch in _ASCII_SPACE else ch for ch in words)
            while "  " in canonical:
                canonical = canonical.replace("  ", " ")
            return b"s" + canonical.translate(_ASCII_LOWER).encode("utf-8")
    return b"d" + _whole(value)


def _decode(data: bytes, codec: str) -> str:
    """A string value's text; ValueError for a BMPString OpenSSL does not read (odd length, surrogates)."""
    if codec == "utf-16-be" and (len(data) % 2 or any(0xD8 <= data[i] <= 0xDF for i in range(0, len(data), 2))):
        raise ValueError("not UCS-2")
    return data.decode(codec)


def self_issued(certificate: bytes) -> bool | None:
    """Whether a DER certificate's issuer is its subject, by :func:`name_key`'s rule (OpenSSL's);
    None if its names cannot be read.  Compared otherwise (cryptography's ``Name ==`` ignores the
    string type, RFC 4514 strings too), a NumericString issuer and a UTF8String subject of the same
    digits are one name, though OpenSSL keeps them apart."""
    names = _issuer_and_subject(certificate)
    return None if names is None else names[0] == names[1]


def _issuer_and_subject(der: bytes, loose: bool = False) -> tuple[NameKey, NameKey] | None:
    """(issuer, subject) Names of a certificate as :func:`name_key` compares them, None if they cannot be read."""
    try:
        tbs = _items(_one(der, _SEQUENCE))[0]
        fields = _items(_expect(tbs, _SEQUENCE))
        if fields and fields[0][0] == _EXPLICIT_0:
            fields.pop(0)
        issuer, subject = fields[2], fields[4]
        return _name_key(_expect(issuer, _SEQUENCE), loose), _name_key(_expect(subject, _SEQUENCE), loose)
    except Exception:  # not DER as this reader reads it
        return None


def certificate_facts(der: bytes) -> CertificateFacts | None:
    """Validity and extended key usage of a DER certificate; None if this reader cannot vouch
    for its shape (the caller then asks ``cryptography.x509``)."""
    try:
        return _certificate_facts(der)
    except Exception:
        return None


def _certificate_facts(der: bytes) -> CertificateFacts:
    """RFC 5280 §4.1, read strictly: every field in its place, the Names' shape, the times in
    their DER forms, each extension once."""
    tbs, signature_algorithm, signature = _fields(_one(der, _SEQUENCE), 3)
    _algorithm(signature_algorithm)
    _expect(signature, _BIT_STRING)
    fields = _items(_expect(tbs, _SEQUENCE))
    # v3 is the only version whose [0] is written (v1 is the DEFAULT; v2 certificates are unheard of)
    if fields and fields[0][0] == _EXPLICIT_0 and _integer(_one(fields.pop(0)[1], _INTEGER)) != 2:
        raise _Unsupported("certificate version")
    if len(fields) < 6:
        raise _Unsupported("TBSCertificate")
    serial, algorithm, issuer, validity, subject, public_key_info, *rest = fields
    _expect(serial, _INTEGER)
    _algorithm(algorithm)
    for name in (issuer, subject):
        _check_name(name)
    not_before, not_after = (_time(t) for t in _fields(_expect(validity, _SEQUENCE), 2))
    _public_key(public_key_info)
    extensions = [_expect(item, _EXPLICIT_3) for item in rest if item[0] == _EXPLICIT_3]
    if len(extensions) > 1 or any(item[0] not in (0x81, 0x82, _EXPLICIT_3) for item in rest):
        raise _Unsupported("TBSCertificate fields")
    seen: set[bytes] = set()
    usage: tuple[str, ...] | None = None
    for extension in _items(_one(extensions[0], _SEQUENCE)) if extensions else []:
        oid, *middle, value = _items(_expect(extension, _SEQUENCE))
        if _expect(oid, _OID) in seen or len(middle) > 1 or (middle and middle[0][0] != _BOOLEAN):
            raise _Unsupported("extension")
        seen.add(oid[1])
        if oid[1] == _EXTENDED_KEY_USAGE:
            usage = tuple(_dotted(_expect(item, _OID)) for item in _items(_one(_expect(value, _OCTET_STRING),
                                                                                _SEQUENCE)))
    return CertificateFacts(not_before, not_after, usage, public_key_info)


def _check_name(item: tuple[int, bytes]) -> None:
    """A Name: a SEQUENCE of non-empty SETs of (OID, value) pairs."""
    for rdn in _items(_expect(item, _SEQUENCE)):
        attributes = _items(_expect(rdn, _SET))
        if not attributes:
            raise _Unsupported("empty RDN")
        for attribute in attributes:
            _expect(_fields(_expect(attribute, _SEQUENCE), 2)[0], _OID)


def _time(item: tuple[int, bytes]) -> dt.datetime:
    """UTCTime ``YYMMDDHHMMSSZ`` (years 1950-2049) or GeneralizedTime ``YYYYMMDDHHMMSSZ``, as
    RFC 5280 §4.1.2.5 requires them; other spellings are left to cryptography."""
    tag, content = item
    text = content.decode("ascii")
    digits = {_UTC_TIME: 12, _GENERALIZED_TIME: 14}.get(tag, 0)
    if not digits or len(text) != digits + 1 or not text[:-1].isdigit() or not text.endswith("Z"):
        raise _Unsupported("time")
    if tag == _UTC_TIME:
        text = ("19" if int(text[:2]) >= 50 else "20") + text
    # Not strptime: its first call imports _strptime and compiles its patterns (~4 ms).
    century, year, month, day, hour, minute, second = (int(text[i : i + 2]) for i in range(0, 14, 2))
    # ValueError for a day or an hour that does not exist.
    return dt.datetime(century * 100 + year, month, day, hour, minute, second, tzinfo=dt.timezone.utc)


def _dotted(content: bytes) -> str:
    """An OBJECT IDENTIFIER's content octets in dotted form."""
    arcs, value = [], 0
    for index, octet in enumerate(content):
        if (value == 0 and octet == 0x80) or (octet & 0x80 and index == len(content) - 1):
            raise _Unsupported("OID")  # a padded or unfinished arc
        value = value << 7 | octet & 0x7F
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise _Unsupported("OID")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


# -- writing a key for OpenSSL ---------------------------------------------------------


def encrypt_private_key(der: bytes, password: bytes, rounds: int) -> bytes:
    """The PKCS#8 key ``der`` as an EncryptedPrivateKeyInfo (RFC 5958): PBES2 with
    PBKDF2-HMAC-SHA256 (``rounds``) and AES-256-CBC, what OpenSSL's key loaders read.

    ``rounds`` has no default: one is right only for a password of 256 random bits used once
    (the TLS context's hand-over, where each round would be paid twice, here and in OpenSSL);
    a password a person chose needs the stretching (OpenSSL's default is 2,048).
    """
    salt, iv = os.urandom(16), os.urandom(16)
    key = _pbkdf2("sha256", password, salt, rounds, 32)
    pad = 16 - len(der) % 16
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(der + bytes([pad]) * pad) + encryptor.finalize()
    prf = _sequence((_OID, _HMAC_SHA256), (_NULL, b""))
    kdf = _sequence((_OID, _PBKDF2), (_SEQUENCE, _sequence((_OCTET_STRING, salt), (_INTEGER, _der_integer(rounds)),
                                                             (_SEQUENCE, prf))))
    cipher = _sequence((_OID, _AES_256_CBC), (_OCTET_STRING, iv))
    scheme = _sequence((_OID, _PBES2), (_SEQUENCE, _sequence((_SEQUENCE, kdf), (_SEQUENCE, cipher))))
    return _whole((_SEQUENCE, _sequence((_SEQUENCE, scheme), (_OCTET_STRING, ciphertext))))


def key_for_certificate(key: bytes, certificate: bytes) -> bytes:
    """The PKCS#8 ``key`` labelled with its certificate's key algorithm where a re-serialisation lost it.

    cryptography reads an RSA-PSS key (id-RSASSA-PSS) as a plain RSA key and writes it back as
    rsaEncryption; OpenSSL then finds the key is not the certificate's (``NO_CERTIFICATE_ASSIGNED``:
    review TLS-ID, finding M1).  The RSAPrivateKey inside is the same; only the AlgorithmIdentifier
    (with the PSS parameters the certificate gives) goes back.  Any other key is returned unchanged.
    """
    try:
        algorithm, _params, _bits = _public_key(_certificate_facts(certificate).public_key_info)
        version, key_algorithm, private = _items(_one(key, _SEQUENCE))[:3]
        if algorithm != _RSASSA_PSS or _algorithm(key_algorithm)[0] != _RSA:
            return key
        spki = _items(_expect(_certificate_facts(certificate).public_key_info, _SEQUENCE))[0]
        return _whole((_SEQUENCE, _sequence(version, spki, private)))
    except Exception:  # not a shape read here: OpenSSL words what it cannot use
        return key


def _sequence(*items: tuple[int, bytes]) -> bytes:
    """The content of a SEQUENCE of ``items``."""
    return b"".join(_whole(item) for item in items)


def _der_integer(value: int) -> bytes:
    """A non-negative INTEGER's content in its shortest form."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def _algorithm(item: tuple[int, bytes]) -> tuple[bytes, tuple[int, bytes] | None]:
    """(OID, parameters or None) of an AlgorithmIdentifier; an explicit NULL counts as none."""
    oid, *params = _items(_expect(item, _SEQUENCE))
    if len(params) > 1:
        raise _Unsupported("algorithm identifier")
    parameter = params[0] if params and params[0][0] != _NULL else None
    return _expect(oid, _OID), parameter


# -- DER ------------------------------------------------------------------------------


def _items(data: bytes) -> list[tuple[int, bytes]]:
    """Every (tag, content) in ``data``, which must end exactly after the last one."""
    out, pos = [], 0
    while pos < len(data):
        tag, length_byte = data[pos], data[pos + 1]
        pos += 2
        if tag & 0x1F == 0x1F:
            raise _Unsupported("high tag number")
        if length_byte & 0x80:
            count = length_byte & 0x7F
            if not 1 <= count <= 4:
                raise _Unsupported("indefinite or huge length")  # BER: the full reader copes
            length = int.from_bytes(data[pos : pos + count], "big")
            if data[pos] == 0 or length < 0x80:
                raise _Unsupported("length not in its shortest form")  # DER, as cryptography expects
            pos += count
        else:
            length = length_byte
        if pos + length > len(data):
            raise _Unsupported("truncated")
        out.append((tag, data[pos : pos + length]))
        pos += length
    return out


def _fields(data: bytes, count: int) -> list[tuple[int, bytes]]:
    """The elements of a SEQUENCE's content, padded with (0, b"") up to ``count`` (missing OPTIONALs)."""
    items = _items(data)
    if len(items) > count:
        raise _Unsupported("unexpected fields")
    return items + [(0, b"")] * (count - len(items))


def _one(data: bytes, tag: int) -> bytes:
    """The content of the single element ``data`` holds, which must have ``tag``."""
    return _expect(_only(data), tag)


def _only(data: bytes) -> tuple[int, bytes]:
    items = _items(data)
    if len(items) != 1:
        raise _Unsupported("expected one element")
    return items[0]


def _whole(item: tuple[int, bytes]) -> bytes:
    """An element encoded again as DER (what a parser of its own type wants)."""
    tag, content = item
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def _expect(item: tuple[int, bytes], tag: int) -> bytes:
    if item[0] != tag:
        raise _Unsupported(f"tag {item[0]:#x} where {tag:#x} belongs")
    return item[1]


def _integer(content: bytes) -> int:
    """A DER INTEGER's value; one not in its shortest form (or empty) is not DER."""
    if not content or (len(content) > 1 and (content[0], content[1] & 0x80) in ((0x00, 0), (0xFF, 0x80))):
        raise _Unsupported("INTEGER not in its shortest form")
    return int.from_bytes(content, "big", signed=True)
