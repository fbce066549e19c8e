"""PKCS#12 client identities: load, inspect, and decide whether one may be used.

An :class:`Identity` holds the private key, the leaf certificate and the
chain in memory.  The key is never written anywhere by this module; the TLS
factory (``tls.py``) hands it to OpenSSL without a disk-backed file.

It holds them as DER, and a connection reads only DER-level facts (validity, extended key
usage: :func:`xfer.pfx.certificate_facts`) and hands the DER to OpenSSL.  The
``cryptography`` objects (:attr:`Identity.key`, :attr:`Identity.certificate`,
:attr:`Identity.chain`) are made on first use, by ``identity show``, doctor, AS2 and
messages: importing ``cryptography.x509`` and its key loaders took a third of a connecting
command's start-up (issue 14).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, SupportsIndex, cast

from . import pfx
from .errors import (
    ConfigError,
    IdentityExpired,
    IdentityFileError,
    IdentityFormatError,
    IdentityKeyMissing,
    IdentityPasswordError,
)

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "MIN_RSA_BITS",
    "Identity",
    "IdentityInfo",
    "certificate_weakness",
    "days_left",
    "fingerprint_sha256",
    "key_description",
    "load_certificate",
    "time_left",
]

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    PrivateKey = (
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | dsa.DSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey
    )

#: An identity that expires within this many days produces a warning.
EXPIRY_WARNING_DAYS = 30

_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
_ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0"


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    """``sha256:`` + lowercase hex of the DER certificate, the form ``--pin`` takes."""
    from cryptography.hazmat.primitives import serialization

    return _fingerprint(certificate.public_bytes(serialization.Encoding.DER))


def _fingerprint(der: bytes) -> str:
    return "sha256:" + hashlib.sha256(der).hexdigest()


#: The smallest RSA key whose signature counts (NIST SP 800-131A: 1024-bit keys are disallowed).
MIN_RSA_BITS = 2048


def certificate_weakness(certificate: x509.Certificate, *, now: dt.datetime | None = None) -> str | None:
    """Why ``certificate``'s key can no longer be trusted today, as words after its name ("expired
    on ...", "has a 1024-bit RSA key ..."); None if it can.  A signature it verifies proves
    nothing then; what is encrypted to it may not be readable for its owner either."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if now > certificate.not_valid_after_utc:
        return f"expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if now < certificate.not_valid_before_utc:
        return f"is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"has a {key.key_size}-bit RSA key (at least {MIN_RSA_BITS} bits are needed)"
    return None


def load_certificate(path: str | os.PathLike[str]) -> x509.Certificate:
    """The first certificate of a PEM (or DER) file (an AS2 partner's); :class:`ConfigError` if unusable."""
    from cryptography import x509

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the AS2 partner certificate {path}: {exc.strerror or exc}") from exc
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise ConfigError(
            f"{path} is not a PEM or DER certificate", hint="export the partner's certificate as PEM"
        ) from exc


def key_description(certificate: x509.Certificate) -> tuple[str, int | None]:
    """(key type, size in bits) of a certificate's public key: ``("RSA", 2048)``, ``("EC secp256r1", 256)``."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        public = certificate.public_key()
    except (UnsupportedAlgorithm, ValueError):  # GOST, SM2: not a key cryptography reads (finding L3)
        return "unknown", None
    key_size = getattr(public, "key_size", None)
    if isinstance(public, ec.EllipticCurvePublicKey):
        key_type = f"EC {public.curve.name}"
    else:
        key_type = type(public).__name__.replace("PublicKey", "").lstrip("_") or "unknown"
    return key_type, key_size if isinstance(key_size, int) else None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def days_left(not_after: dt.datetime, *, now: dt.datetime | None = None) -> int:
    """Whole days from ``now`` until ``not_after``, negative once it has passed: the one count
    every report uses.

    Counted toward zero: ``timedelta.days`` floors, so a certificate that expired two days
    and a minute ago was "-3 days left" on one line and "2 days ago" on the next.
    """
    return int((not_after - (now or _utc_now())) / dt.timedelta(days=1))


def time_left(not_after: dt.datetime, *, now: dt.datetime | None = None) -> str:
    """``"N days left"``, or once ``not_after`` has passed ``"expired N days ago"``."""
    now = now or _utc_now()
    days = days_left(not_after, now=now)
    if not_after >= now:
        return f"{days} day{'' if days == 1 else 's'} left"
    if days == 0:
        return "expired less than a day ago"
    return f"expired {-days} day{'' if days == -1 else 's'} ago"


@dataclass(frozen=True)
class IdentityInfo:
    """What ``xfer identity show`` prints: everything a user checks on a certificate."""

    source: str
    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    days_left: int
    key_type: str
    key_size: int | None
    key_usage: list[str]
    extended_key_usage: list[str]
    client_auth: bool
    fingerprint_sha256: str
    chain: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO 8601)."""
        data = dict(self.__dict__)
        data["not_before"] = self.not_before.isoformat()
        data["not_after"] = self.not_after.isoformat()
        return data


@dataclass(frozen=True, repr=False)
class Identity:
    """A client identity: private key, leaf certificate and the chain that came with it, as DER.

    ``key_der`` is the decrypted PKCS#8 key: it lives in memory only, and leaves it only
    encrypted (:meth:`encrypted_key_pem`).  Build one with :meth:`load` or :meth:`from_bytes`.
    """

    key_der: bytes
    certificate_der: bytes
    chain_der: tuple[bytes, ...] = ()
    source: str = "<memory>"

    def __post_init__(self) -> None:
        # A public class: a wrong argument fails here, not at the first handshake.
        if not isinstance(self.key_der, bytes) or not isinstance(self.certificate_der, bytes) or not all(
            isinstance(der, bytes) for der in self.chain_der
        ):
            raise TypeError("Identity holds DER bytes (key_der, certificate_der, chain_der); read a .p12 with "
                            "Identity.load() or Identity.from_bytes()")

    def __repr__(self) -> str:
        # Never show key material; the subject and source are enough to tell identities apart.
        return f"Identity({self.subject!r}, source={self.source!r})"

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # The key would travel in the clear (cryptography's key objects refused pickling; plain
        # bytes would not).  Workers load their own identity from the file and a password reference.
        raise TypeError("an Identity holds a decrypted private key and is not pickled; pass the .p12 path "
                        "and a password reference instead")

    def __copy__(self) -> Identity:
        return self  # immutable: copy and deepcopy (which would go through __reduce_ex__) share it

    def __deepcopy__(self, memo: dict[int, Any]) -> Identity:
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str], password: str | bytes | None = None) -> Identity:
        """Read a PKCS#12 file.  Raises an :class:`~xfer.errors.IdentityError` subclass."""
        file = Path(path).expanduser()
        try:
            data = file.read_bytes()
        except FileNotFoundError as exc:
            raise IdentityFileError(
                f"identity file {file} does not exist",
                hint="check the identity path given to xfer (identity=...) or in the profile",
                cli_hint="check the path given with --identity or in the profile",
            ) from exc
        except IsADirectoryError as exc:
            raise IdentityFileError(f"identity path {file} is a folder, not a .p12 file") from exc
        except OSError as exc:
            raise IdentityFileError(
                f"cannot read identity file {file}: {exc.strerror or exc}"
            ) from exc
        return cls.from_bytes(data, password, source=str(file))

    @classmethod
    def from_bytes(
        cls, data: bytes, password: str | bytes | None = None, *, source: str = "<memory>"
    ) -> Identity:
        """Parse PKCS#12 bytes (modern PBES2/AES and legacy RC2/3DES bundles alike).

        The common modern bundle goes through :mod:`xfer.pfx` (no RSA primality re-test,
        a tenth of a connecting command, and no ``cryptography.x509`` import); anything else,
        and every failure, through cryptography's reader, which also tells a wrong password
        from a damaged file.
        """
        secret = password.encode() if isinstance(password, str) else password
        if secret and b"\0" in secret:
            # OpenSSL reads a password as a C string; cryptography's reader panics (a
            # BaseException, past every handler) on one with a NUL in it.
            raise IdentityPasswordError(
                f"cannot open {source}: the password contains a NUL character",
                hint="check the secret the password is read from (a binary file?)",
            )
        quick = pfx.read(data, secret)
        if quick is not None:
            return cls(key_der=quick.key, certificate_der=quick.certificate,
                       chain_der=pfx.issuer_path(quick.certificate, quick.chain), source=source)
        return cls._full_read(data, secret, source)

    @classmethod
    def _full_read(cls, data: bytes, secret: bytes | None, source: str) -> Identity:
        """cryptography's PKCS#12 reader: every shape it knows, and the words for every failure."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
        from cryptography.hazmat.primitives.serialization import pkcs12

        try:
            bundle = pkcs12.load_pkcs12(data, secret or None)
        except ValueError as exc:
            legacy = _legacy_password(secret)
            retried: pkcs12.PKCS12KeyAndCertificates | None = None
            with contextlib.suppress(ValueError):
                retried = pkcs12.load_pkcs12(data, legacy) if legacy is not None else None
            if retried is None:
                raise _classify_load_failure(data, secret, source) from exc
            bundle = retried
        except Exception as exc:  # the Rust parser raises other types on truncated input
            raise IdentityFormatError(
                f"{source} is damaged or not a PKCS#12 file ({type(exc).__name__})",
                hint="export the identity again as .p12/.pfx",
            ) from exc
        # The key first: without one, cryptography also reports no certificate (a certificate is
        # "the" certificate only when it matches a key), and "no certificate" sent users after
        # the wrong half.
        if bundle.key is None:
            count = (bundle.cert is not None) + len(bundle.additional_certs)
            held = f"{count} certificate{'s' if count != 1 else ''} but" if count else "neither a certificate nor"
            raise IdentityKeyMissing(
                f"{source} holds {held} no private key",
                hint="export the identity again including the private key "
                "(openssl pkcs12 -export -in cert.pem -inkey key.pem)",
            )
        if bundle.cert is None:
            raise IdentityKeyMissing(
                f"{source} holds no certificate for the private key",
                hint="export the identity again with its certificate (openssl pkcs12 -export -in cert.pem)",
            )
        keys = _key_entries(data)
        if len(keys) > 1:
            # cryptography takes the first key and says nothing; which one is ours is the user's call.
            raise IdentityFormatError(
                f"{source} holds {len(keys)} private keys ({', '.join(map(_shown_alias, keys))}): xfer cannot tell "
                "which identity to use",
                hint="copy the one you need into its own file: keytool -importkeystore -srckeystore FILE.p12 "
                "-srcstoretype PKCS12 -srcalias ALIAS -destkeystore ALIAS.p12 -deststoretype PKCS12",
            )
        key = bundle.key
        key_types = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey, ed25519.Ed25519PrivateKey,
                     ed448.Ed448PrivateKey)
        if not isinstance(key, key_types):
            raise IdentityFormatError(f"{source} holds an unsupported key type")
        der = serialization.Encoding.DER
        leaf = bundle.cert.certificate.public_bytes(der)
        others = {c.certificate.public_bytes(der): c.certificate for c in bundle.additional_certs}
        path = pfx.issuer_path(leaf, list(others))
        identity = cls(
            key_der=pfx.key_for_certificate(
                key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), leaf),
            certificate_der=leaf,
            chain_der=path,
            source=source,
        )
        # The objects are at hand: keep them (cached_property's slots) rather than parse them again.
        vars(identity).update(key=key, certificate=bundle.cert.certificate, chain=tuple(others[d] for d in path))
        return identity

    # -- cryptography's objects, made on first use -------------------------------------

    @cached_property
    def key(self) -> PrivateKey:
        """The private key as a cryptography object (AS2 signs and decrypts with it)."""
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        # Checked when it was read (xfer.pfx's consistency checks, or the full reader's).
        return cast("PrivateKey", load_der_private_key(self.key_der, None, unsafe_skip_rsa_key_validation=True))

    @cached_property
    def certificate(self) -> x509.Certificate:
        """The leaf certificate as a cryptography object (:class:`IdentityFormatError` if cryptography
        refuses what OpenSSL and :mod:`xfer.pfx` took, e.g. a PrintableString CN with ``_``)."""
        return self._parsed(self.certificate_der, "its certificate")

    @cached_property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The other certificates of the bundle, in file order (errors as :attr:`certificate`)."""
        return tuple(self._parsed(der, "a certificate of its chain") for der in self.chain_der)

    def _parsed(self, der: bytes, what: str) -> x509.Certificate:
        from cryptography import x509

        try:
            return x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise IdentityFormatError(
                f"{self.source}: {what} breaks the X.509 encoding rules, so xfer cannot show or use "
                f"its details ({exc})",
                hint="connecting still works where OpenSSL takes it; ask the issuer for a certificate "
                "encoded to the standard",
            ) from exc

    @cached_property
    def _facts(self) -> pfx.CertificateFacts | None:
        """Validity and EKU read from the DER; None for a shape only cryptography reads."""
        return pfx.certificate_facts(self.certificate_der)

    # -- facts -------------------------------------------------------------

    @property
    def subject(self) -> str:
        """The leaf's subject (RFC 4514); its fingerprint if the certificate cannot be read in detail.
        Never raises: messages about a failure name the certificate with it."""
        try:
            return self.certificate.subject.rfc4514_string()
        except IdentityFormatError:
            return f"the certificate {self.fingerprint}"

    @property
    def common_name(self) -> str:
        """The leaf's CN (else its subject); never raises, as :attr:`subject`."""
        from cryptography.x509.oid import NameOID

        try:
            names = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        except IdentityFormatError:
            return self.subject
        return str(names[0].value) if names else self.subject

    @property
    def issuer(self) -> str:
        """The leaf's issuer (RFC 4514), or ``?`` if the certificate cannot be read in detail."""
        try:
            return self.certificate.issuer.rfc4514_string()
        except IdentityFormatError:
            return "?"

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.certificate_der)

    @property
    def not_after(self) -> dt.datetime:
        return self._facts.not_after if self._facts else self.certificate.not_valid_after_utc

    @property
    def not_before(self) -> dt.datetime:
        return self._facts.not_before if self._facts else self.certificate.not_valid_before_utc

    def has_client_auth(self) -> bool:
        """True if the certificate may be used for TLS client authentication."""
        if self._facts:
            usage = self._facts.extended_key_usage
            # No EKU extension means no restriction (RFC 5280 4.2.1.12).
            return usage is None or _CLIENT_AUTH in usage or _ANY_EXTENDED_KEY_USAGE in usage
        from cryptography import x509
        from cryptography.x509.oid import ExtendedKeyUsageOID

        try:
            eku = self.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            return True  # no EKU extension means no restriction (RFC 5280 4.2.1.12)
        return ExtendedKeyUsageOID.CLIENT_AUTH in eku.value or (
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku.value
        )

    def check_usable(self, *, now: dt.datetime | None = None) -> list[str]:
        """Refuse an expired or not-yet-valid identity; return warnings for a usable one.

        Warnings: expiry within :data:`EXPIRY_WARNING_DAYS` days, no clientAuth EKU.
        """
        now = now or _utc_now()
        if now > self.not_after:
            raise IdentityExpired(
                f"client certificate {self.common_name!r} in {self.source} expired on "
                f"{self.not_after:%Y-%m-%d %H:%M} UTC",
                hint="ask the partner or your CA for a renewed identity",
            )
        if now < self.not_before:
            raise IdentityExpired(
                f"client certificate {self.common_name!r} in {self.source} is not valid before "
                f"{self.not_before:%Y-%m-%d %H:%M} UTC",
                hint="check the system clock",
            )
        warnings = []
        left = days_left(self.not_after, now=now)
        if left < EXPIRY_WARNING_DAYS:
            warnings.append(
                f"client certificate {self.common_name!r} expires in {left} days "
                f"({self.not_after:%Y-%m-%d}); renew it soon"
            )
        if not self.has_client_auth():
            warnings.append(
                f"client certificate {self.common_name!r} lacks the clientAuth extended key "
                "usage; strict servers will reject it"
            )
        return warnings

    def inspect(self, *, now: dt.datetime | None = None) -> IdentityInfo:
        """Everything ``xfer identity show`` reports (does not raise for expiry)."""
        now = now or _utc_now()
        cert = self.certificate
        try:
            warnings = self.check_usable(now=now)
        except IdentityExpired as exc:
            warnings = [exc.message]
        key_type, key_size = key_description(cert)
        return IdentityInfo(
            source=self.source,
            subject=self.subject,
            issuer=cert.issuer.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            not_before=self.not_before,
            not_after=self.not_after,
            days_left=days_left(self.not_after, now=now),
            key_type=key_type,
            key_size=key_size,
            key_usage=_key_usage(cert),
            extended_key_usage=_extended_key_usage(cert),
            client_auth=self.has_client_auth(),
            fingerprint_sha256=self.fingerprint,
            chain=[c.subject.rfc4514_string() for c in self.chain],
            warnings=warnings,
        )

    # -- serialisation (used by tls.py and the AS2 signer) -------------------

    def certificate_chain_pem(self) -> bytes:
        """Leaf first, then the chain, as PEM: what OpenSSL's ``load_cert_chain`` wants."""
        return b"".join(_pem("CERTIFICATE", der) for der in (self.certificate_der, *self.chain_der))

    def encrypted_key_pem(self, password: bytes, *, rounds: int = 2048) -> bytes:
        """The private key as PKCS#8 PEM encrypted under ``password`` (PBES2 with ``rounds`` of
        PBKDF2-HMAC-SHA256, AES-256-CBC).  Keep the rounds for any password a person chose;
        the TLS hand-over passes 1 for its 256 random bits used once."""
        return _pem("ENCRYPTED PRIVATE KEY", pfx.encrypt_private_key(self.key_der, password, rounds))


def _pem(label: str, der: bytes) -> bytes:
    """RFC 7468 text: base64 in lines of 64 characters between the BEGIN and END lines."""
    text = base64.b64encode(der)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""])


#: How the first word of an OpenSSH public key or certificate line starts (ssh-ed25519, ecdsa-sha2-nistp256,
#: sk-ssh-ed25519@openssh.com, ...); its base64 blob then starts "AAAA" (the length of the key type).
_SSH_PUBLIC_KEY_TYPES = (b"ssh-", b"ecdsa-sha2-", b"sk-ssh-", b"sk-ecdsa-")


def _ssh_key_error(data: bytes, source: str) -> IdentityFormatError | None:
    """The error for an OpenSSH key or certificate given where a PKCS#12 identity goes, else None.

    The README makes an SSH key the identity of an SFTP profile, so a user may well hand one to
    ``identity show`` or to an HTTPS profile: converting it to PKCS#12 is not the advice.
    """
    head = data.lstrip()[:128]
    words = head.split(b" ", 2)
    public = len(words) > 1 and words[0].startswith(_SSH_PUBLIC_KEY_TYPES) and words[1].startswith(b"AAAA")
    if head.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
        what, key = "an OpenSSH private key", source
    elif public and words[0].endswith(b"-cert-v01@openssh.com"):
        what, key = "an OpenSSH certificate", None
    elif public:
        what, key = "an OpenSSH public key", source.removesuffix(".pub")
    else:
        return None
    use = "an SSH key is an identity for sftp:// profiles; HTTPS, FTPS, WebDAV and AS2 need a .p12/.pfx"
    return IdentityFormatError(
        f"{source} is {what}, not PKCS#12",
        hint=use,
        # identity show reads an SSH user certificate, not the key: point at the one beside it.
        cli_hint=use if key is None else f"{use}; to see the key's certificate: xfer identity show {key}-cert.pub",
    )


def _classify_load_failure(data: bytes, secret: bytes | None, source: str) -> Exception:
    """Tell a wrong password from a damaged file: both arrive as ValueError."""
    # A DER PKCS#12 PFX starts with a SEQUENCE tag; anything else is not a bundle at all.
    if not data.startswith(b"\x30"):
        ssh = _ssh_key_error(data, source)
        if ssh is not None:
            return ssh
        if data.lstrip().startswith(b"-----BEGIN"):
            return IdentityFormatError(
                f"{source} is a PEM file, not PKCS#12",
                hint="convert it: openssl pkcs12 -export -in cert.pem -inkey key.pem -out id.p12",
            )
        if _is_base64_der(data):
            # A bundle pasted from a mail, a secret store or a CI variable: the file is fine, encoded
            # once more (review TLS-ID, finding L2).
            return IdentityFormatError(
                f"{source} is a PKCS#12 file written as base64 text, not the binary file",
                hint=f"decode it: base64 -d {source} > identity.p12 (then use identity.p12)",
            )
        return IdentityFormatError(
            f"{source} is not a PKCS#12 (.p12/.pfx) file",
            hint="export the identity again as .p12/.pfx",
        )
    try:
        from asn1crypto import pkcs12 as asn1_pkcs12

        pfx = asn1_pkcs12.Pfx.load(data)
        pfx["auth_safe"]["content"].native  # noqa: B018 - forces a full parse
        has_mac = pfx["mac_data"].native is not None
    except Exception:
        return IdentityFormatError(
            f"{source} is damaged or not a PKCS#12 file",
            hint="export the identity again as .p12/.pfx",
        )
    # Without a MAC nothing proves a password wrong or missing; encrypted contents, opened with
    # none, still say one is needed (openssl pkcs12 -export -nomac makes such files).
    if has_mac or secret or _holds_encrypted_parts(pfx):
        # An empty one was given (a file: whose first line is empty): "no password was given"
        # with a hint to pass one sent the user looking for a flag they had typed (review M-10).
        what = ("no password was given" if secret is None else
                "the password given is empty (a file: reference reads the file's first line)" if not secret
                else "the password is wrong")
        if secret == b"":
            empty = "put the password on the first line of the file the reference names, or give another reference"
            return IdentityPasswordError(f"cannot open {source}: {what}", hint=empty)
        return IdentityPasswordError(
            f"cannot open {source}: {what}",
            hint="give the identity's password: identity_password=xfer.Secret(...) or a reference "
            "(env:VAR, file:PATH, keyring) in the profile",
            cli_hint="pass --identity-password env:VAR, file:PATH, keyring or prompt",
        )
    return IdentityFormatError(f"{source} cannot be decoded (damaged or unsupported cipher)")


def _legacy_password(secret: bytes | None) -> bytes | None:
    """The password as OpenSSL before 1.1.0 encoded a non-ASCII one, None for an ASCII one.

    PKCS#12 passwords are BMPStrings (UTF-16BE).  OpenSSL 1.0.x widened each byte of the UTF-8
    password to 16 bits instead, and files it wrote with "pässwörd" open only that way (OpenSSL 3's
    own tool retries so; review TLS-ID, finding L1).  Each byte read as Latin-1 and written as
    UTF-8 makes cryptography derive that same BMPString.
    """
    if not secret or secret.isascii():
        return None
    return secret.decode("latin-1").encode("utf-8")


def _shown_alias(alias: str) -> str:
    """A keystore alias as a one-line message shows it: as it is, or quoted with its control
    characters (a line break, an escape sequence) escaped as Python writes them (review of the TLS
    fixes, finding L4)."""
    return alias if alias.isprintable() else repr(alias)


def _key_entries(data: bytes) -> list[str]:
    """The friendly names (keystore aliases) of the key bags a PKCS#12 file shows unencrypted, in
    file order (``(no name)`` for a bag without one).  Keys inside encrypted contents are not seen."""
    from asn1crypto import pkcs12 as asn1_pkcs12

    names: list[str] = []
    try:
        for info in asn1_pkcs12.Pfx.load(data).authenticated_safe:
            if info["content_type"].native != "data":
                continue
            for bag in asn1_pkcs12.SafeContents.load(info["content"].native):
                if bag["bag_id"].native not in ("key_bag", "pkcs8_shrouded_key_bag"):
                    continue
                found = [attribute["values"].native for attribute in bag["bag_attributes"]
                         if attribute["type"].native == "friendly_name"]
                names.append(str(found[0][0]) if found and found[0] else "(no name)")
    except Exception:  # the reader that opened it decides; this only counts what it can see
        return names
    return names


def _is_base64_der(data: bytes) -> bool:
    """Whether ``data`` is base64 text (any line breaks) of something that starts as DER does."""
    text = b"".join(data.split())
    try:
        head = base64.b64decode(text[:64], validate=True)
    except ValueError:
        return False
    return head.startswith(b"\x30") and len(text) % 4 == 0 and not text.rstrip(b"=").strip(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _holds_encrypted_parts(pfx: Any) -> bool:
    """Whether an asn1crypto ``Pfx`` holds password-encrypted contents or keys."""
    from asn1crypto import pkcs12 as asn1_pkcs12

    try:
        for info in pfx.authenticated_safe:
            kind = info["content_type"].native
            if kind in ("encrypted_data", "enveloped_data"):
                return True
            if kind == "data":
                bags = asn1_pkcs12.SafeContents.load(info["content"].native)
                if any(bag["bag_id"].native == "pkcs8_shrouded_key_bag" for bag in bags):
                    return True
    except Exception:  # damaged past what the caller parsed: no evidence either way
        return False
    return False


def _key_usage(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    ]
    used = [n for n in names if getattr(ku, n)]
    if ku.key_agreement:
        used += [n for n in ("encipher_only", "decipher_only") if getattr(ku, n)]
    return used


def _extended_key_usage(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [getattr(oid, "_name", None) or oid.dotted_string for oid in eku]
