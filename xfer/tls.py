"""The one place an ``ssl.SSLContext`` is built, and where TLS failures get their words.

Every adapter receives a context from :func:`create_ssl_context`; none of them calls
``load_cert_chain``, sets ``verify_mode`` or builds a context of its own.  The
context carries what the error translator needs (the identity, the trust source,
the pin) so :func:`translate_error` can say *which* certificate failed *where*.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import secrets
import socket
import ssl
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConfigError,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    HostnameMismatch,
    PinMismatch,
    ServerCertificateUntrusted,
    TLSError,
    TLSVersionMismatch,
    XferError,
)

if TYPE_CHECKING:
    from .identity import Identity

__all__ = [
    "TLS_VERSIONS",
    "HandshakeFacts",
    "XferSSLContext",
    "create_ssl_context",
    "handshake_facts",
    "normalize_pin",
    "translate_error",
]

#: Names accepted for ``tls_min`` / ``tls_max``.
TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

# X509_V_ERR_* codes the translator distinguishes (openssl/x509_vfy.h).
_V_ERR_CERT_HAS_EXPIRED = 10
_V_ERR_CERT_NOT_YET_VALID = 9
_V_ERR_HOSTNAME_MISMATCH = 62
_V_ERR_IP_ADDRESS_MISMATCH = 64

_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21

# "the server's certificate ..." for a certificate outside its validity period.
_VALIDITY_WORDS = {
    _V_ERR_CERT_HAS_EXPIRED: "has expired",
    _V_ERR_CERT_NOT_YET_VALID: "is not valid yet",
}
# "we do not trust the server's certificate: ..." (OpenSSL's own text for other codes).
_UNTRUSTED_WORDS = {
    _V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: "it is self-signed",
    _V_ERR_SELF_SIGNED_CERT_IN_CHAIN: "its chain ends in a self-signed CA we do not trust",
    _V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its issuer is not among the CAs we trust",
    _V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its issuer is not among the CAs we trust",
}

# TLS alerts (by OpenSSL reason name) that mean "the server did not like our certificate".
_REJECTION_REASONS = {
    "SSLV3_ALERT_BAD_CERTIFICATE": "it rejected the certificate as bad",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "it says the certificate is revoked",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "it could not verify the certificate",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "it does not support this kind of certificate",
    "TLSV1_ALERT_ACCESS_DENIED": "it denied access to this certificate",
    "TLSV1_ALERT_DECRYPT_ERROR": "the certificate's signature check failed",
}

# Alerts that, when we presented no certificate at all, can only mean "send one".
_NO_IDENTITY_ALERTS = {
    *_REJECTION_REASONS,
    "SSLV3_ALERT_HANDSHAKE_FAILURE",
    "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED",
}


class _PinMismatchError(ssl.SSLCertVerificationError):
    """Raised inside the handshake so that every library treats it as a verification failure."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(
            1, f"server certificate fingerprint {actual} does not match the pin {expected}"
        )
        self.expected = expected
        self.actual = actual


def _after_handshake(conn: ssl.SSLSocket | ssl.SSLObject, context: XferSSLContext) -> None:
    """What every TLS connection does once its handshake is done, socket or memory-BIO alike.

    urllib3 runs the TLS *inside* an ``https://`` proxy's tunnel with ``wrap_bio`` (an
    :class:`ssl.SSLObject`), so anything that lived only in the socket class would be
    skipped there: the pin check above all.
    """
    pin = context.pin
    if pin is not None:
        der = conn.getpeercert(binary_form=True)
        actual = "sha256:" + hashlib.sha256(der or b"").hexdigest()
        if actual != pin:
            raise _PinMismatchError(pin, actual)


@dataclass
class HandshakeFacts:
    """What one connection's handshake showed, kept on that connection (``handshake_facts``).

    Never on the shared context: ``-P N`` runs handshakes in parallel on one context, and
    each error must name its own server's facts.  Failures raised by a connection carry
    its record as ``xfer_handshake_facts``, which :func:`translate_error` reads.
    """

    #: DER of the server's leaf certificate, from its Certificate message.
    server_certificate: bytes | None = None
    #: The issuers the server's CertificateRequest named (``certificate_authorities``).
    acceptable_client_cas: list[str] = field(default_factory=list)
    #: The server sent a CertificateRequest: a close right after the handshake is about our certificate.
    certificate_requested: bool = False


class _SilentClose:
    """Tells a close right after the handshake (a silent client-certificate rejection) from a cut.

    TLS 1.3 servers (Node.js ``rejectUnauthorized``) finish the handshake, look at our
    certificate, and close the socket: no alert, or one we never get to read.  What the
    client sees is an EOF or a reset on its first read.  Such a failure is marked (the
    ``xfer_closed_after_handshake`` attribute) when it happens before any application byte
    arrived, on a full handshake in which the server asked for a client certificate; the
    translator then blames the certificate.  Connections that asked to resume a session
    (FTPS data connections) are never marked: an empty listing there may legitimately end
    right after the handshake.
    """

    #: Set by XferSSLContext when the connection's SSL object is made, filled by the message callback.
    handshake_facts: HandshakeFacts
    #: The caller asked to resume a session (``session=``): not a first contact.
    _resuming = False
    _app_bytes = 0

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> Any:
        # ssl's constructors for both SSLSocket and SSLObject (wrap_socket / wrap_bio).
        conn = super()._create(*args, **kwargs)  # type: ignore[misc]
        conn._resuming = kwargs.get("session") is not None
        return conn

    def _counted(self, count: int) -> int:
        if count:
            self._app_bytes += count
        elif self._silent_close_applies():
            # A clean close_notify with nothing before it, on a connection that must say something.
            closed = _with_reason(
                ssl.SSLZeroReturnError(ssl.SSL_ERROR_ZERO_RETURN, "TLS connection closed right after the handshake"),
                None,
            )
            raise self._mark(closed)
        return count

    def _silent_close_applies(self) -> bool:
        facts = getattr(self, "handshake_facts", None)
        return facts is not None and facts.certificate_requested and not self._resuming and not self._app_bytes

    def _tag(self, exc: BaseException) -> BaseException:
        """Let the failure carry this connection's handshake facts to the error translator."""
        facts = getattr(self, "handshake_facts", None)
        if facts is not None:
            with contextlib.suppress(AttributeError):
                exc.xfer_handshake_facts = facts  # type: ignore[attr-defined]
        return exc

    def _mark(self, exc: BaseException) -> BaseException:
        self._tag(exc)
        if self._silent_close_applies():
            with contextlib.suppress(AttributeError):
                exc.xfer_closed_after_handshake = True  # type: ignore[attr-defined]
        return exc

    def _handshake(self, context: XferSSLContext, step: Callable[[], None]) -> None:
        """Run one handshake step; once the handshake is over, stop listening and check the pin."""
        try:
            step()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # still under way (memory BIO, non-blocking socket): called again later
        except BaseException as exc:
            context._handshake_over(self)
            self._tag(exc)
            raise
        context._handshake_over(self)
        try:
            _after_handshake(self, context)  # type: ignore[arg-type]
        except BaseException as exc:
            self._tag(exc)
            raise


# The failures a server's close (with or without a reset) shows up as on a read or a write.
_CLOSED = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


def _with_reason(exc: ssl.SSLError, reason: str | None) -> ssl.SSLError:
    """An SSLError made in Python lacks the ``reason``/``library`` that OpenSSL's carry; readers use them."""
    exc.reason = reason  # type: ignore[assignment]  # None, as OpenSSL leaves it
    exc.library = "SSL" if reason else None  # type: ignore[assignment]
    return exc


class _RaggedEOF(ssl.SSLEOFError):
    """A TLS stream that ended without close_notify, raised from an :class:`ssl.SSLObject`.

    urllib3's TLS-in-TLS transport (an ``https://`` proxy) turns an ``SSLEOFError`` whose
    errno is ``SSL_ERROR_EOF`` into a clean end of file, whatever ``suppress_ragged_eofs``
    the context asked for; this subclass carries no errno, so the cut stays a cut there too.
    """


class XferSSLObject(_SilentClose, ssl.SSLObject):
    """The memory-BIO twin of :class:`XferSSLSocket`: pin check, facts, visible cuts."""

    context: XferSSLContext

    def do_handshake(self) -> None:
        self._handshake(self.context, super().do_handshake)

    def read(self, size: int = 1024, buffer: Any = None) -> Any:
        try:
            data = super().read(size, buffer)
        except ssl.SSLEOFError as exc:
            ragged = _with_reason(
                _RaggedEOF(f"{exc.strerror or exc} (the TLS stream ended without close_notify)"), exc.reason
            )
            raise self._mark(ragged) from exc
        except _CLOSED as exc:
            self._mark(exc)
            raise
        except OSError as exc:
            self._tag(exc)  # a TLS 1.3 alert about our certificate arrives here
            raise
        self._counted(data if isinstance(data, int) else len(data))
        return data

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            self._tag(exc)
            raise


class XferSSLSocket(_SilentClose, ssl.SSLSocket):
    """SSLSocket that checks the pin after the handshake and recovers hidden TLS 1.3 alerts."""

    context: XferSSLContext

    def do_handshake(self, block: bool = False) -> None:
        self._handshake(self.context, functools.partial(super().do_handshake, block))

    def sendall(self, data: Any, flags: int = 0) -> None:
        try:
            super().sendall(data, flags)
        except (ssl.SSLEOFError, BrokenPipeError, ConnectionResetError) as exc:
            # With TLS 1.3 a server rejects a client certificate *after* our handshake
            # has finished, so our first write meets a closed socket.  The alert that
            # says why is still queued for reading: fetch it and raise that instead.
            alert = self._pending_alert()
            if alert is not None:
                raise self._tag(alert) from exc
            if self._pushback:
                # The server answered (an HTTP 413, say) and closed before reading all we
                # sent.  As a broken pipe, urllib3 goes on to read that answer.
                raise BrokenPipeError(errno.EPIPE, "the server closed the connection after answering") from exc
            self._mark(exc)
            raise
        except OSError as exc:
            self._tag(exc)
            raise

    # A byte of application data read while looking for an alert; served first to readers.
    _pushback = b""

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if self._pushback:
            data, self._pushback = self._pushback, b""
            return self._served(data)
        try:
            data = super().recv(buflen, flags)
        except _CLOSED as exc:
            self._mark(exc)
            raise
        except OSError as exc:
            self._tag(exc)  # a TLS 1.3 alert about our certificate arrives here
            raise
        self._counted(len(data))
        return data

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        if self._pushback:
            data, self._pushback = self._pushback, b""
            buffer[: len(data)] = self._served(data)
            return len(data)
        try:
            count = super().recv_into(buffer, nbytes, flags)
        except _CLOSED as exc:
            self._mark(exc)
            raise
        except OSError as exc:
            self._tag(exc)
            raise
        return self._counted(count)

    def _served(self, data: bytes) -> bytes:
        self._app_bytes += len(data)
        return data

    def _pending_alert(self) -> ssl.SSLError | None:
        timeout = self.gettimeout()
        try:
            self.settimeout(2.0)
            self._pushback = super().recv(1)
        except ssl.SSLError as alert:
            if isinstance(alert, ssl.SSLEOFError | ssl.SSLZeroReturnError):
                return None
            return alert
        except OSError:
            return None
        finally:
            # The caller (urllib3 reading a 413, say) must get its own timeout back.
            self.settimeout(timeout)
        return None


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
        if not isinstance(owner, _SilentClose):
            return make(*args, **kwargs)
        owner.handshake_facts = HandshakeFacts()
        with self._handshaking_lock:
            if not self._handshaking:
                _listen(self, _on_handshake_message)
            self._handshaking.add(owner)
        try:
            return make(*args, **kwargs)
        except BaseException:
            self._handshake_over(owner)
            raise

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
        return "the system trust store"
    files = [ca] if isinstance(ca, str | os.PathLike) else list(ca)
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


def _load_identity(ctx: ssl.SSLContext, identity: Identity) -> None:
    # The stdlib can only load a key from a path.  We re-encrypt the key under a
    # random one-time password and hand OpenSSL a path that is not a disk file.
    password = secrets.token_hex(32).encode()
    chain_pem = identity.certificate_chain_pem()
    key_pem = identity.encrypted_key_pem(password)
    with _memory_path(chain_pem, "chain") as chain_path, _memory_path(key_pem, "key") as key_path:
        ctx.load_cert_chain(chain_path, key_path, password=password)


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


def _on_handshake_message(
    conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any, data: bytes
) -> None:
    """Record, on the connection being handshaken, what error messages need later.

    The server's leaf certificate (Certificate message): when *we* reject it, the stdlib
    no longer hands it out, and the message should still name its subject, issuer and
    fingerprint.  The CA names of the server's CertificateRequest: when the server
    rejects *our* certificate, they say which issuers it would have accepted.  ``conn`` is
    the ssl-level connection (our XferSSLSocket / XferSSLObject) the message belongs to.
    """
    if direction != "read":
        return
    facts = getattr(conn, "handshake_facts", None)
    if facts is None:
        return
    kind = getattr(msg_type, "name", "")
    with contextlib.suppress(Exception):
        if kind == "CERTIFICATE_REQUEST":
            facts.certificate_requested = True
            names = _parse_certificate_request(data, version)
            if names:
                facts.acceptable_client_cas = names
        elif kind == "CERTIFICATE":
            facts.server_certificate = _parse_leaf_certificate(data, version)


def _parse_leaf_certificate(data: bytes, version: Any) -> bytes | None:
    """The first (leaf) certificate's DER from a Certificate handshake message."""
    body = data[4:]  # handshake header: type (1) + length (3)
    pos = 0
    if getattr(version, "name", "") == "TLSv1_3":
        pos = 1 + body[0]  # certificate_request_context
    pos += 3  # certificate_list length
    length = int.from_bytes(body[pos : pos + 3], "big")
    der = body[pos + 3 : pos + 3 + length]
    return der if len(der) == length and length else None


def _parse_certificate_request(data: bytes, version: Any) -> list[str]:
    from asn1crypto.x509 import Name

    body = data[4:]  # handshake header: type (1) + length (3)
    if getattr(version, "name", "") == "TLSv1_3":
        ctx_len = body[0]
        pos = 1 + ctx_len
        ext_end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
        pos += 2
        dn_block = b""
        while pos < ext_end:
            ext_type = int.from_bytes(body[pos : pos + 2], "big")
            ext_len = int.from_bytes(body[pos + 2 : pos + 4], "big")
            if ext_type == 47:  # certificate_authorities
                dn_block = body[pos + 4 : pos + 4 + ext_len]
            pos += 4 + ext_len
    else:
        types_len = body[0]
        pos = 1 + types_len
        sig_len = int.from_bytes(body[pos : pos + 2], "big")
        dn_block = body[pos + 2 + sig_len :]
    if len(dn_block) < 2:
        return []
    total = int.from_bytes(dn_block[:2], "big")
    pos, end, names = 2, 2 + total, []
    while pos < end:
        length = int.from_bytes(dn_block[pos : pos + 2], "big")
        der = dn_block[pos + 2 : pos + 2 + length]
        names.append(Name.load(der).human_friendly)
        pos += 2 + length
    return names


# -- failure translation -----------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (cause, context, ``reason``, exception args), breadth first."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        todo.extend(a for a in current.args if isinstance(a, BaseException))


def find_cause(
    exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> BaseException | None:
    """The first exception of ``kinds`` in ``exc``'s cause/context/args chain.

    requests wraps urllib3 which wraps ssl; the ssl error is what tells us what happened.
    """
    return next((current for current in _chain(exc) if isinstance(current, kinds)), None)


def closed_after_handshake(exc: BaseException) -> bool:
    """True if ``exc`` comes from a server that closed right after a handshake that asked for
    a client certificate, before sending any application byte (see ``_SilentClose``)."""
    return any(getattr(current, "xfer_closed_after_handshake", False) for current in _chain(exc))


def handshake_facts(exc: BaseException) -> HandshakeFacts:
    """The handshake facts of the connection that raised ``exc`` (empty if none is known)."""
    for current in _chain(exc):
        facts = getattr(current, "xfer_handshake_facts", None)
        if isinstance(facts, HandshakeFacts):
            return facts
    return HandshakeFacts()


def _silent_rejection(*, facts: HandshakeFacts, server: str, identity: Identity | None) -> XferError:
    closed = f"{server} closed the connection right after the TLS handshake"
    if identity is None:
        return ClientCertificateRequired(
            f"{closed}: it most likely requires a client certificate and none was presented",
            hint="pass --identity FILE.p12 (or identity = in the profile)",
        )
    return ClientCertificateRejected(
        f"{closed}: it most likely rejected our client certificate {identity.common_name!r}"
        f"{_accepted_cas(facts)}",
        hint="check with the partner that this certificate is registered for your account "
        "and that they trust its issuer",
    )


def translate_error(exc: BaseException, *, context: ssl.SSLContext, server: str) -> XferError | None:
    """Map a TLS or network failure to the xfer error a user can act on; None if neither.

    ``server`` is ``host:port`` as the user knows it (also the error's ``server`` field).
    ``context`` gives what the connection was built from (identity, trust, pin); what its
    handshake showed comes with ``exc`` from the failing connection (:func:`handshake_facts`).
    Adapters call this at their boundary and ``raise translated from exc``.
    """
    found = find_cause(exc, XferError)
    if isinstance(found, XferError):
        return found
    identity = getattr(context, "identity", None)
    if closed_after_handshake(exc):
        return _silent_rejection(facts=handshake_facts(exc), server=server, identity=identity)
    ssl_exc = find_cause(exc, ssl.SSLError)
    if isinstance(ssl_exc, ssl.SSLError):
        translated = _translate_ssl(
            ssl_exc, context=context, facts=handshake_facts(exc), server=server, identity=identity
        )
        return translated.copy_with(server=server)
    network = _translate_network(exc, server=server, identity=identity)
    return network.copy_with(server=server) if network is not None else None


def _translate_ssl(
    exc: ssl.SSLError, *, context: ssl.SSLContext, facts: HandshakeFacts, server: str, identity: Identity | None
) -> XferError:
    trust = getattr(context, "trust_source", "the system trust store")
    if isinstance(exc, _PinMismatchError):
        return PinMismatch(
            f"{server}: server certificate {exc.actual} does not match the pinned {exc.expected}",
            hint="if the partner renewed its certificate, check the new fingerprint with them and update --pin",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _refused_server_certificate(exc, facts=facts, server=server, trust=trust)
    reason = exc.reason or ""
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED" or (
        identity is None and reason in _NO_IDENTITY_ALERTS
    ):
        # Without an identity there is no certificate to reject: whatever alert the server
        # chose (Go's TLS says bad_certificate), it wanted one.
        return ClientCertificateRequired(
            f"{server} requires a client certificate and none was presented",
            hint="pass --identity FILE.p12 (or identity = in the profile)",
        )
    who = f"client certificate {identity.common_name!r}" if identity else "client certificate"
    if reason == "TLSV1_ALERT_UNKNOWN_CA":
        accepted = _accepted_cas(facts)
        missing = identity is not None and not identity.chain
        return ClientCertificateRejected(
            f"{server} does not trust the issuer of our {who} "
            f"(issued by {identity.certificate.issuer.rfc4514_string() if identity else '?'}){accepted}",
            hint=(
                "the .p12 holds no intermediate certificate: export it again with the full chain"
                if missing
                else "ask the partner to trust your CA, or use the identity they issued"
            ),
        )
    if reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        return ClientCertificateRejected(
            f"{server} rejected our {who}: the server says it has expired",
            hint="renew the identity (xfer identity show FILE.p12 shows its dates)",
        )
    if reason in _REJECTION_REASONS:
        return ClientCertificateRejected(
            f"{server} rejected our {who}: {_REJECTION_REASONS[reason]}{_accepted_cas(facts)}",
            hint="check with the partner that this certificate is registered for your account",
        )
    if reason == "SSLV3_ALERT_HANDSHAKE_FAILURE":
        return ClientCertificateRejected(
            f"{server} aborted the handshake after seeing our {who} "
            "(it rejects the certificate, or shares no cipher with us)",
            hint="check that the partner registered this certificate",
        )
    if reason in (
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
    ):
        return TLSVersionMismatch(
            f"{server}: no common TLS version or cipher ({reason.lower()}); xfer offers TLS 1.2 and 1.3",
            hint="the server may only speak TLS 1.0/1.1, which xfer refuses (RFC 8996)",
        )
    if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return TLSVersionMismatch(
            f"{server} did not answer with TLS ({reason.lower()})",
            hint="wrong port or scheme? ftps:// is implicit TLS (port 990), ftpes:// is explicit (port 21)",
        )
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return ConnectionDropped(
            f"{server} closed the TLS connection unexpectedly"
            + (" (it may have rejected our client certificate)" if identity else ""),
            hint="check that the server accepts your certificate; run again with --traceback for details",
        )
    return TLSError(f"{server}: TLS failed: {reason.lower() or exc}")


def _refused_server_certificate(
    exc: ssl.SSLCertVerificationError, *, facts: HandshakeFacts, server: str, trust: str
) -> XferError:
    """Our verification refused the server's certificate: say why in a sentence that reads."""
    code = exc.verify_code
    detail = exc.verify_message or exc.reason or "verification failed"
    described = _describe_server_certificate(facts)
    if code in (_V_ERR_HOSTNAME_MISMATCH, _V_ERR_IP_ADDRESS_MISMATCH):
        return HostnameMismatch(
            f"{server}: the server's certificate is not valid for this host name ({detail}){described}",
            hint="connect with the name the certificate was issued for; a mismatch can mean a wrong server",
        )
    if code in _VALIDITY_WORDS:
        return ServerCertificateUntrusted(
            f"{server}: the server's certificate {_VALIDITY_WORDS[code]}{described}",
            hint="tell the partner their server certificate needs renewing (or check this computer's clock)",
        )
    why = _UNTRUSTED_WORDS.get(code or 0, detail)
    return ServerCertificateUntrusted(
        f"{server}: we do not trust the server's certificate: {why}{described}; trusted: {trust}",
        hint="if this is the partner's CA, pass it with --ca partner-ca.pem (or ca = in the profile)",
    )


def _translate_network(exc: BaseException, *, server: str, identity: Identity | None) -> XferError | None:
    timeout = find_cause(exc, (TimeoutError, socket.timeout))
    if timeout is not None:
        return ConnectTimeout(
            f"{server} did not answer in time",
            hint="check the address and firewall, or raise the timeout (--timeout)",
        )
    gai = find_cause(exc, socket.gaierror)
    if gai is not None:
        return ConnectError(f"cannot resolve the host name of {server}", hint="check the URL's host name")
    refused = find_cause(exc, ConnectionRefusedError)
    if refused is not None:
        return ConnectError(f"{server} refused the connection", hint="check the host and port")
    dropped = find_cause(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError))
    if dropped is not None:
        return ConnectionDropped(f"the connection to {server} was dropped")
    oserr = find_cause(exc, OSError)
    if isinstance(oserr, OSError) and oserr.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return ConnectError(f"{server} is unreachable ({oserr.strerror})")
    return None


def _accepted_cas(facts: HandshakeFacts) -> str:
    names = facts.acceptable_client_cas
    if not names:
        return ""
    return "; the server accepts certificates issued by: " + " | ".join(names[:5])


def _describe_server_certificate(facts: HandshakeFacts) -> str:
    """Who the refused server certificate belongs to, as seen in the failed handshake."""
    der = facts.server_certificate
    if not der:
        return ""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return ""
    fingerprint = "sha256:" + hashlib.sha256(der).hexdigest()
    return (
        f"; it is {cert.subject.rfc4514_string()} issued by {cert.issuer.rfc4514_string()}, "
        f"fingerprint {fingerprint}"
    )


def probe_handshake(context: ssl.SSLContext, host: str, port: int, *, timeout: float = 10.0) -> dict[str, Any]:
    """One TLS handshake with ``context`` and a read probe: what ``profile test`` reports.

    Reading after the handshake surfaces a TLS 1.3 client-certificate rejection,
    which arrives only after the client believes the handshake is done.
    """
    server = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.settimeout(0.5)
                try:
                    tls.recv(1)
                except TimeoutError:
                    pass  # nothing to read and no alert: the server accepted us
                peer = tls.getpeercert() or {}
                return {
                    "tls_version": tls.version(),
                    "cipher": (tls.cipher() or ("?",))[0],
                    "server_certificate": _subject_text(peer),
                    "client_certificate_presented": getattr(context, "identity", None) is not None,
                }
    except XferError:
        raise
    except (OSError, ssl.SSLError) as exc:
        raise (translate_error(exc, context=context, server=server) or TLSError(f"{server}: {exc}")) from exc


def _subject_text(peer: dict[str, Any]) -> str:
    parts = []
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            parts.append(f"{key}={value}")
    return ", ".join(parts)
