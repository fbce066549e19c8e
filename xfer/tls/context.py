"""The one place an ``ssl.SSLContext`` is built: secure defaults, trust, and our identity.

Every adapter receives a context from :func:`create_ssl_context`; none of them calls
``load_cert_chain``, sets ``verify_mode`` or builds a context of its own.  The
context carries what the error translator needs (the identity, the trust source,
the pin); what each handshake learned lives on its connection.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, IdentityFormatError
from .connection import XferConnection, XferSSLObject, XferSSLSocket
from .records import HandshakeFacts, on_handshake_message

if TYPE_CHECKING:
    from cryptography import x509

    from ..identity import Identity

__all__ = ["SYSTEM_TRUST", "TLS_VERSIONS", "XferSSLContext", "create_ssl_context", "normalize_pin"]

#: ``trust_source`` of a context that trusts the system store (no ``ca`` given).
SYSTEM_TRUST = "the system trust store"

#: Names accepted for ``tls_min`` / ``tls_max``.
TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class XferSSLContext(ssl.SSLContext):
    """An SSLContext that remembers what it was built from, for error messages.

    What a handshake learns is recorded on its connection (:class:`HandshakeFacts`), not here:
    one context serves parallel connections.
    """

    identity: Identity | None
    trust_source: str
    pin: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        # Connections whose SSL object exists and whose handshake is not over yet.
        self._handshaking: weakref.WeakSet[Any] = weakref.WeakSet()
        self._handshaking_lock = threading.Lock()

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        # A TCP FIN without close_notify is a cut, not an end of file: ssl's default
        # (suppress_ragged_eofs=True) would let a truncated body read as complete.  With it off
        # the cut surfaces as ssl.SSLEOFError, and each reader decides whether a length proves
        # the data complete anyway.
        kwargs["suppress_ragged_eofs"] = False
        return super().wrap_socket(*args, **kwargs)

    # The TLS inside an https:// proxy tunnel (urllib3) comes through wrap_bio: same facts, same pin.

    def _wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        # ssl's private hook that makes the OpenSSL object for a connection (``owner``);
        # OpenSSL copies the context's message callback into it at that moment.
        return self._new_connection(super()._wrap_socket, args, kwargs)  # type: ignore[misc]

    def _wrap_bio(self, *args: Any, **kwargs: Any) -> Any:
        return self._new_connection(super()._wrap_bio, args, kwargs)  # type: ignore[misc]

    def _new_connection(self, make: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        owner = kwargs.get("owner")
        if not isinstance(owner, XferConnection):
            return make(*args, **kwargs)
        owner.handshake_facts = HandshakeFacts()
        with self._handshaking_lock:
            if not self._handshaking:
                _listen(self, on_handshake_message)
            self._handshaking.add(owner)
        try:
            return make(*args, **kwargs)
        except BaseException:
            self._handshake_over(owner)
            raise

    @contextlib.contextmanager
    def listening(self, conn: XferConnection) -> Iterator[None]:
        """Keep recording ``conn``'s handshake messages inside the block, after its handshake.

        A TLS 1.3 server may ask for our certificate only once it has seen a request
        (post-handshake authentication); ``xfer doctor`` listens through its first exchange.
        """
        with self._handshaking_lock:
            if not self._handshaking:
                _listen(self, on_handshake_message)
            self._handshaking.add(conn)
        try:
            yield
        finally:
            self._handshake_over(conn)

    def _handshake_over(self, conn: object) -> None:
        """``conn``'s handshake ended (done or failed): stop listening once no handshake is left.

        The message callback costs a Python call per TLS record (~25 % CPU on bulk reads), so
        it is on only while some connection of this context is handshaking.
        """
        with self._handshaking_lock:
            self._handshaking.discard(conn)
            if not self._handshaking:
                _listen(self, None)


def normalize_pin(pin: str) -> str:
    """Accept ``sha256:HEX``, plain hex, or colon-separated hex; return ``sha256:hex``."""
    value = pin.strip()
    if value.lower().startswith("sha256:"):
        value = value[7:]
    elif value.lower().startswith("sha256/"):
        raise ConfigError(
            "base64 public-key pins (sha256/...) are not supported",
            hint="give the certificate's SHA-256 fingerprint as sha256:HEX",
        )
    hexdigits = value.replace(":", "").lower()
    if len(hexdigits) != 64 or any(c not in "0123456789abcdef" for c in hexdigits):
        raise ConfigError(
            f"pin {pin!r} is not a SHA-256 fingerprint",
            hint="use sha256: followed by 64 hex digits (xfer shows it in TLS errors)",
        )
    return "sha256:" + hexdigits


def create_ssl_context(
    identity: Identity | None,
    *,
    ca: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    pin: str | None = None,
    minimum_version: str = "1.2",
    maximum_version: str | None = None,
) -> XferSSLContext:
    """Build a fresh client context: secure defaults, our identity, and the trust we were given.

    ``identity`` is presented to servers that ask for a client certificate.  ``ca``
    replaces the system trust store with the given PEM file(s); ``None`` uses the
    system store.  ``pin`` (``sha256:HEX``) is checked after every handshake, on top
    of normal verification.  Call once per protocol family: libraries such as urllib3
    modify the context they are given.
    """
    ctx = XferSSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # TLS 1.0/1.1 are broken and banned by RFC 8996.
    ctx.minimum_version = _version(minimum_version, "tls_min")
    if maximum_version is not None:
        ctx.maximum_version = _version(maximum_version, "tls_max")
    if ctx.maximum_version != ssl.TLSVersion.MAXIMUM_SUPPORTED and (
        ctx.maximum_version < ctx.minimum_version
    ):
        raise ConfigError(f"tls_max {maximum_version} is lower than tls_min {minimum_version}")
    # Verify the server, always: PROTOCOL_TLS_CLIENT sets both, we state them for the reader.
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    # TLS 1.3 servers may ask for the client certificate after the handshake
    # (Apache with per-location SSLVerifyClient does); without this they cannot.
    ctx.post_handshake_auth = True
    # No TLS compression (CRIME); OpenSSL 3 already disables it, say so explicitly.
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.sslsocket_class = XferSSLSocket
    ctx.sslobject_class = XferSSLObject
    ctx.identity = identity
    ctx.pin = normalize_pin(pin) if pin else None
    ctx.trust_source = _load_trust(ctx, ca)
    if identity is not None:
        _load_identity(ctx, identity)
    return ctx


def _version(name: str, option: str) -> ssl.TLSVersion:
    try:
        return TLS_VERSIONS[name]
    except KeyError:
        raise ConfigError(
            f"{option} must be one of {', '.join(TLS_VERSIONS)}, not {name!r}",
            hint="TLS 1.0 and 1.1 are not offered: RFC 8996 deprecates them",
        ) from None


def _load_trust(
    ctx: ssl.SSLContext,
    ca: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
) -> str:
    if ca is None:
        # urllib3 loads default certs only into contexts it creates itself; ours must.
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return SYSTEM_TRUST
    files = [ca] if isinstance(ca, str | os.PathLike) else list(ca)
    # The user named these certificates as the anchors they trust: a chain that reaches one of them
    # is verified, whether or not it is a self-signed root (OpenSSL otherwise insists on climbing to
    # a root, and a partner's issuing CA given alone fails with "unable to get issuer certificate").
    # curl does the same for --cacert (and Python 3.13's default context for every store).  Only for
    # CAs given here: the system store keeps its roots-only rule.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    for file in files:
        path = Path(file).expanduser()
        try:
            ctx.load_verify_locations(cafile=str(path))
        except FileNotFoundError as exc:
            raise ConfigError(f"CA file {path} does not exist") from exc
        except ssl.SSLError as exc:
            raise ConfigError(
                f"CA file {path} holds no PEM certificate",
                hint="--ca takes PEM certificates (-----BEGIN CERTIFICATE-----)",
            ) from exc
        except OSError as exc:
            raise ConfigError(f"cannot read CA file {path}: {exc.strerror or exc}") from exc
    return ", ".join(str(Path(f).expanduser()) for f in files)


#: OpenSSL's reasons for refusing an identity by its security level (a key too small, an MD5 or
#: SHA-1 signature): a new key is needed, not another export.
_TOO_WEAK = frozenset({"EE_KEY_TOO_SMALL", "CA_KEY_TOO_SMALL", "CA_MD_TOO_WEAK"})


def _load_identity(ctx: ssl.SSLContext, identity: Identity) -> None:
    # The stdlib can only load a key from a path.  We re-encrypt the key under a
    # random one-time password and hand OpenSSL a path that is not a disk file.
    password = secrets.token_hex(32).encode()
    chain_pem = identity.certificate_chain_pem()
    # One PBKDF2 round: the password is 256 random bits, used once; stretching adds nothing to
    # that, and each round would be paid twice (here and in OpenSSL).
    key_pem = identity.encrypted_key_pem(password, rounds=1)
    with _memory_path(chain_pem, "chain") as chain_path, _memory_path(key_pem, "key") as key_path:
        try:
            ctx.load_cert_chain(chain_path, key_path, password=password)
        except ssl.SSLError as exc:
            # The identity was read from DER (xfer.pfx) and OpenSSL parses it again: a certificate
            # it cannot use, or a key that is not the certificate's ("key values mismatch").
            if exc.reason in _TOO_WEAK:
                raise _too_weak(identity, exc.reason) from exc
            raise IdentityFormatError(
                f"OpenSSL cannot use the identity in {identity.source}: {exc.reason or exc}",
                hint="export the identity again as .p12/.pfx",
            ) from exc


def _too_weak(identity: Identity, reason: str) -> IdentityFormatError:
    """OpenSSL's security level refused a certificate of the identity: say which, and what helps.

    Only a weak leaf needs a new key (or a new signature from its CA); a weak CA certificate
    carried along (an old 1024-bit root, a SHA-1 intermediate) goes away by exporting the
    identity without it (review TLS-ID, finding M4).
    """
    said = f"OpenSSL refuses the identity in {identity.source}"
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        found = _weakest(identity)
    except (IdentityFormatError, UnsupportedAlgorithm, ValueError):
        found = None
    if found is None:
        return IdentityFormatError(
            f"{said}: one of its certificates is too weak for OpenSSL's security level ({reason})",
            hint="see which with: openssl pkcs12 -in FILE.p12 -nokeys -info; a weak CA certificate can be left "
            "out of a new export, a weak leaf needs a new certificate",
        )
    subject, weakness, is_leaf, is_key = found
    level = "too weak for OpenSSL's security level"
    if is_leaf and is_key:
        return IdentityFormatError(
            f"{said}: its certificate {subject} {weakness}, {level}",
            hint="the identity needs a new key (RSA of at least 2048 bits or EC) and certificate; exporting it "
            "again does not help",
        )
    if is_leaf:
        return IdentityFormatError(
            f"{said}: its certificate {subject} {weakness}, {level}",
            hint="ask the issuing CA for the certificate signed again with SHA-256 (the key can stay); exporting "
            "it again does not help",
        )
    return IdentityFormatError(
        f"{said}: it carries the CA certificate {subject}, which {weakness}, {level}",
        hint="export the identity again without that certificate (openssl pkcs12 -export -in cert.pem -inkey "
        "key.pem -certfile with the other CA certificates only); if the server needs it to reach a CA it trusts, "
        "ask the partner about a current chain",
    )


def _weakest(identity: Identity) -> tuple[str, str, bool, bool] | None:
    """(subject, what is weak, is it the leaf, is it the key) of the first certificate of the identity
    (leaf first) that OpenSSL's default security level refuses, None if none is seen.

    A certificate whose key or signature algorithm cryptography does not know (GOST, SM2: it raises
    UnsupportedAlgorithm) cannot be judged here and is passed over, not taken for the weak one
    (review of the TLS fixes, finding L3)."""
    from cryptography.exceptions import UnsupportedAlgorithm

    for index, cert in enumerate((identity.certificate, *identity.chain)):
        try:
            weakness = _weakness(cert)
        except UnsupportedAlgorithm:
            continue
        if weakness is not None:
            return cert.subject.rfc4514_string(), weakness[0], index == 0, weakness[1]
    return None


def _weakness(cert: x509.Certificate) -> tuple[str, bool] | None:
    """(what is weak, is it the key) of one certificate, None if OpenSSL's default level accepts it."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey | dsa.DSAPublicKey) and public.key_size < 2048:
        kind = "RSA" if isinstance(public, rsa.RSAPublicKey) else "DSA"
        return f"has a {public.key_size}-bit {kind} key", True
    if isinstance(public, ec.EllipticCurvePublicKey) and public.key_size < 224:
        return f"has a {public.key_size}-bit EC key", True
    digest = cert.signature_hash_algorithm
    # OpenSSL does not judge a self-signed certificate's own signature: nothing depends on it.
    if digest is not None and digest.name in ("md5", "sha1") and cert.issuer != cert.subject:
        return f"is signed with {digest.name.upper().replace('SHA1', 'SHA-1')}", False
    return None


@contextlib.contextmanager
def _memory_path(data: bytes, label: str) -> Iterator[str]:
    """A path OpenSSL can open that is backed by memory, not by a file on disk."""
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        fd = os.memfd_create(f"xfer-{label}", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            # Each open of /proc/self/fd/N starts a new file description at offset 0.
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
    elif sys.platform != "win32" and Path("/dev/fd").is_dir() and len(data) < 16384:
        # macOS/BSD: a pipe read through /dev/fd; small enough to fit its buffer at once.
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, data)
            os.close(write_end)
            write_end = -1
            yield f"/dev/fd/{read_end}"
        finally:
            os.close(read_end)
            if write_end != -1:
                os.close(write_end)
    else:
        # Elsewhere: an owner-only temp file that only ever holds *encrypted* key material.
        handle, path = tempfile.mkstemp(prefix="xfer-", suffix=".pem")
        try:
            os.write(handle, data)
            os.close(handle)
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _listen(ctx: ssl.SSLContext, callback: Callable[..., None] | None) -> None:
    """Install or remove the handshake-message callback (private CPython API: if it goes
    away we lose only the hints it gathers)."""
    with contextlib.suppress(AttributeError, TypeError):
        ctx._msg_callback = callback  # type: ignore[attr-defined]

