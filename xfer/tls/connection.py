"""The TLS connection classes: pin check after the handshake, facts per connection, visible cuts.

Contexts from :func:`xfer.tls.create_ssl_context` make every connection an
:class:`XferSSLSocket` (or, for TLS inside an ``https://`` proxy tunnel, an :class:`XferSSLObject`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..log import logger
from .records import HandshakeFacts

if TYPE_CHECKING:
    from .context import XferSSLContext

__all__ = ["PinMismatchError", "XferConnection", "XferSSLObject", "XferSSLSocket", "with_reason"]

_log = logger("xfer.tls")


class PinMismatchError(ssl.SSLCertVerificationError):
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
            raise PinMismatchError(pin, actual)



class XferConnection:
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
    #: Application bytes the peer's TCP stack took from us.
    _sent_bytes = 0

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
            closed = with_reason(
                ssl.SSLZeroReturnError(ssl.SSL_ERROR_ZERO_RETURN, "TLS connection closed right after the handshake"),
                None,
            )
            raise self._mark(closed)
        return count

    def _silent_close_applies(self) -> bool:
        facts = getattr(self, "handshake_facts", None)
        return (facts is not None and facts.certificate_requested and not self._resuming and not self._app_bytes
                and self._sent_bytes <= _SILENT_REJECTION_MAX_SENT)

    def _tag(self, exc: BaseException) -> BaseException:
        """Let the failure carry this connection's handshake facts and its byte counts (sent,
        received: see :func:`xfer.tls.translate.bytes_moved`) to the error translator."""
        facts = getattr(self, "handshake_facts", None)
        with contextlib.suppress(AttributeError):
            if facts is not None:
                exc.xfer_handshake_facts = facts  # type: ignore[attr-defined]
            exc.xfer_bytes_moved = (self._sent_bytes, self._app_bytes)  # type: ignore[attr-defined]
        return exc

    def _mark(self, exc: BaseException) -> BaseException:
        """Tag a failure with the facts; a close (not an alert) may also be a silent rejection."""
        self._tag(exc)
        if isinstance(exc, _CLOSED) and self._silent_close_applies():
            with contextlib.suppress(AttributeError):
                exc.xfer_closed_after_handshake = True  # type: ignore[union-attr]
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
        facts = getattr(self, "handshake_facts", None)
        if facts is not None:
            facts.handshake_done = True
        context._handshake_over(self)
        try:
            _after_handshake(self, context)  # type: ignore[arg-type]
        except BaseException as exc:
            self._tag(exc)
            raise
        if _log.isEnabledFor(logging.INFO):
            _log.info("%s", _summary(self, context))  # type: ignore[arg-type]


def _summary(conn: ssl.SSLSocket | ssl.SSLObject, context: XferSSLContext) -> str:
    """One line per connection for ``-v``: version, cipher, resumed, which certificate we sent."""
    cipher = conn.cipher()
    facts = getattr(conn, "handshake_facts", None)
    identity = getattr(context, "identity", None)
    if facts is None or not facts.certificate_requested:
        sent = "not asked for a client certificate"
    elif identity is None:
        sent = "asked for a client certificate, none sent"
    elif facts.client_certificate_sent is False:
        # OpenSSL held ours back: its key fits none of the signature algorithms the server allows.
        sent = (f"asked for a client certificate, none sent: the key of {identity.subject} fits none of the "
                f"signature algorithms the server allows ({', '.join(facts.client_signature_algorithms) or '?'})")
    else:
        sent = f"client certificate sent: {identity.subject} ({identity.fingerprint})"
    return (
        f"TLS with {conn.server_hostname}: {conn.version()}, {cipher[0] if cipher else '?'}, "
        f"session {'resumed' if conn.session_reused else 'new'}; {sent}"
    )


#: A silent rejection closes the connection as soon as the handshake is over: before it, we can
#: have sent a request and the start of a body, not more than what the socket buffers took in
#: that moment.  A connection that ends after more than this was cut mid-upload (a network
#: failure, retried), not refused.  A refusal of a large PUT then reads as a dropped connection.
_SILENT_REJECTION_MAX_SENT = 64 * 1024

# The failures a server's close (with or without a reset) shows up as on a read or a write.
_CLOSED = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


def with_reason(exc: ssl.SSLError, reason: str | None) -> ssl.SSLError:
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


class XferSSLObject(XferConnection, ssl.SSLObject):
    """The memory-BIO twin of :class:`XferSSLSocket`: pin check, facts, visible cuts."""

    context: XferSSLContext

    def do_handshake(self) -> None:
        self._handshake(self.context, super().do_handshake)

    def read(self, size: int = 1024, buffer: Any = None) -> Any:
        try:
            data = super().read(size, buffer)
        except ssl.SSLEOFError as exc:
            ragged = with_reason(
                _RaggedEOF(f"{exc.strerror or exc} (the TLS stream ended without close_notify)"), exc.reason
            )
            raise self._mark(ragged) from exc
        except OSError as exc:  # a close, a reset, or a TLS 1.3 alert about our certificate
            self._mark(exc)
            raise
        self._counted(data if isinstance(data, int) else len(data))
        return data

    def write(self, data: Any) -> int:
        try:
            count: int = super().write(data)
        except OSError as exc:
            self._tag(exc)
            raise
        self._sent_bytes += count
        return count


class XferSSLSocket(XferConnection, ssl.SSLSocket):
    """SSLSocket that checks the pin after the handshake and recovers hidden TLS 1.3 alerts."""

    context: XferSSLContext

    def do_handshake(self, block: bool = False) -> None:
        self._handshake(self.context, functools.partial(super().do_handshake, block))

    def send(self, data: Any, flags: int = 0) -> int:
        # sendall sends through here: what the peer took is counted exactly.
        count = super().send(data, flags)
        self._sent_bytes += count
        return count

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
            self._mark(exc)
            raise

    # A byte of application data read while looking for an alert; served first to readers.
    _pushback = b""

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if self._pushback:
            data, self._pushback = self._pushback, b""
            return self._served(data)
        try:
            data = super().recv(buflen, flags)
        except OSError as exc:  # a close, a reset, or a TLS 1.3 alert about our certificate
            self._mark(exc)
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
        except OSError as exc:  # a close, a reset, or a TLS 1.3 alert about our certificate
            self._mark(exc)
            raise
        return self._counted(count)

    #: A failure met by :meth:`fill` after it had read something: raised by its next call.
    _deferred: BaseException | None = None

    def fill(self, view: memoryview) -> int:
        """Read application data into ``view`` until it is full or the stream ends; return the count.

        The bulk read of a download.  ``makefile().readinto`` costs five Python calls per TLS
        record (SocketIO, :meth:`recv_into`, SSLSocket twice) and Apache sends 8 KiB records:
        131,072 of them per GiB.  This is one loop turn per record on the OpenSSL object itself
        (a 1 GiB WebDAV get from Apache in the bench: 2.7 -> 1.6 s of client CPU).

        Less than ``len(view)`` means the stream ended, or failed: the caller asks again until
        0, the clean end (close_notify).  A failure (a cut: ragged EOFs are never suppressed)
        is tagged as :meth:`recv_into` tags it; if it comes after some bytes were read, those
        are returned first and the failure is raised by the next call, so that no byte the
        peer sent is lost, and no cut is taken for an end.  That next call must be to ``fill``:
        :meth:`recv_into` knows nothing of a failure held back.
        """
        if self._deferred is not None:
            failure, self._deferred = self._deferred, None
            raise failure
        sslobj = self._sslobj  # type: ignore[attr-defined]  # ssl.SSLSocket's OpenSSL object
        if sslobj is None:
            raise ValueError("Read on closed or unwrapped SSL socket.")  # as SSLSocket.read says it
        filled = served = 0
        if self._pushback:
            data, self._pushback = self._pushback, b""
            filled = served = len(data)
            view[:filled] = self._served(data)  # counted there
        wanted = len(view)
        try:
            while filled < wanted:
                count = sslobj.read(wanted - filled, view[filled:])
                if not count:
                    break
                filled += count
        except OSError as exc:  # a close, a reset, or a TLS 1.3 alert about our certificate
            self._app_bytes += filled - served
            self._mark(exc)
            if not filled:
                raise
            self._deferred = exc
        else:
            self._counted(filled - served)
        return filled

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
