"""Retries: which failures are worth another try, how long to wait, and the loop that tries again.

One policy for every protocol and verb.  :func:`is_transient` classifies by error class and
structured fields (never by message text); :class:`RetryPolicy` waits with exponential
backoff and full jitter (a server's ``Retry-After`` wins) and runs an operation up to
``retries + 1`` times, calling ``reopen`` between tries so a dead connection is replaced.

An operation can see which try it is through :func:`current_attempt` and keep state from one
try to the next in :attr:`Attempt.state` (the part file of a download, the temporary name of
an FTPS upload, the AS2 Message-ID).  What a try leaves behind for the next one is removed by
the callbacks it registers with :meth:`Attempt.on_give_up` once no further try will use it.

Each retry is logged on the ``xfer.retry`` logger (level WARNING), which the CLI prints as
``xfer: retry 2/3 in 4.1 s: connection dropped after 61 MB``.
"""

from __future__ import annotations

import contextvars
import errno
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from .errors import (
    ConfigError,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    DeliveryUnknown,
    ErrorFields,
    IdentityError,
    IntegrityError,
    Interrupted,
    LocalDiskFull,
    LocalError,
    ProxyDenied,
    RemoteError,
    RemoteIsFolder,
    RemoteLocked,
    RemoteNotDone,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerError,
    TLSError,
    TransferCut,
    UnsupportedOperation,
    UsageError,
    XferError,
)
from .log import logger

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_WAIT",
    "MAX_RETRY_AFTER",
    "MAX_WAIT",
    "NOTHING_SAVED",
    "PART_KEPT",
    "TRANSIENT_FTP_REPLIES",
    "TRANSIENT_HTTP_STATUSES",
    "Attempt",
    "RetryPolicy",
    "current_attempt",
    "is_cut",
    "is_transient",
    "nothing_sent",
    "own_failure",
]

_log = logger("xfer.retry")

#: How download failures end their message when they removed the partial file (see ``get_stream``).
NOTHING_SAVED = "nothing was saved"
#: What that becomes when ``resume`` kept the part (and its sidecar) for a later run.
PART_KEPT = "the part is kept; run the same command with --resume to go on"

DEFAULT_RETRIES = 3
DEFAULT_RETRY_WAIT = 1.0
#: No backoff wait is longer than this (seconds).
MAX_WAIT = 60.0
#: A server's ``Retry-After`` is honoured up to this (seconds); longer is a maintenance window,
#: not a busy moment, and the try fails with the server's answer instead.
MAX_RETRY_AFTER = 600.0

#: FTP replies that say "not now" rather than "no": service closing, data connection
#: failed or aborted, file busy, local error in processing.
TRANSIENT_FTP_REPLIES = frozenset({421, 425, 426, 450, 451})
#: HTTP statuses that say "not now": request timeout, too many requests, gateway troubles, unavailable.
TRANSIENT_HTTP_STATUSES = frozenset({408, 429, 502, 503, 504})

#: Errors no retry can fix, whatever their fields say: trust, identity, usage, local side,
#: the user's own interruption, refusals and absences.
_PERMANENT: tuple[type[BaseException], ...] = (
    TLSError, IdentityError, UsageError, ConfigError, LocalError, Interrupted, UnsupportedOperation,
    RemoteNotFound, RemotePermissionDenied, RemoteStorageFull, ProxyDenied, DeliveryUnknown,
)

T = TypeVar("T")


def _sleep(seconds: float) -> None:
    """The wait between tries (a test suite may replace it: ``monkeypatch.setattr(xfer.retry, "_sleep", ...)``)."""
    time.sleep(seconds)


#: A refusal that is about one file, not the connection or the account.
_FILE_REFUSALS = (RemoteNotFound, RemotePermissionDenied, RemoteIsFolder, RemoteLocked, RemoteNotDone, ServerError,
                  UsageError, IntegrityError, LocalError, DeliveryUnknown)


#: Local failures every later file meets too: a read-only or full file system, no file handles left.
_WHOLE_FILE_SYSTEM = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EMFILE, errno.ENFILE})


def own_failure(exc: XferError) -> bool:
    """Whether a failure of one file is that file's own, so that the next file may still go (a
    batch goes on without it; :meth:`Adapter.remove_sources`, ``--remove-source-files``): the
    server refused that file (gone, denied, a folder, locked, its own error), a path xfer will
    not send, a copy not proven, a local file that cannot be written or removed.  Not what the
    next file would meet too: the connection, a refused login, a full local disk, and any
    transient failure (HTTP 503, FTP 421/450/451: the server is busy or down; another try of the
    whole call, later, is what helps)."""
    if exc.status in (401, 407):  # HTTP's refused login (for the server or the proxy): every file meets it
        return False
    if isinstance(exc, RemoteStorageFull):
        return exc.status == 413  # this one file is over the server's size limit; a full store is not
    if isinstance(exc, LocalError) and exc.errno in _WHOLE_FILE_SYSTEM:
        return False
    return isinstance(exc, _FILE_REFUSALS) and not isinstance(exc, LocalDiskFull) and not is_transient(exc)


#: HTTP answers that say the request was not processed: a second copy of a form POST is no second
#: submission (408 Request Timeout: the server gave up waiting for it; 429: refused for its rate).
_NOT_PROCESSED = frozenset({408, 429})


def is_transient(exc: BaseException, *, idempotent: bool = True, repeatable: bool = True) -> bool:
    """Whether another try of the operation that raised ``exc`` may succeed.

    Transient: the network (connect refused or timed out, a connection reset or cut mid-transfer,
    a TLS stream ended without close_notify: :class:`~xfer.errors.ConnectError`,
    :class:`~xfer.errors.TransferCut`), FTP replies 421/425/426/450/451, HTTP 408/429/502/503/504,
    and HTTP 500 for an ``idempotent`` request.  Never: certificate and trust failures, identity,
    authentication and permission refusals, not found, a full server, usage and local errors,
    integrity errors other than a cut stream, and anything that is not an xfer error.

    A request that is not ``repeatable`` (a form POST: each copy the server takes is a submission;
    an AS2 message is, its Message-ID makes a second copy a known duplicate) is tried again only
    when it cannot have reached the server (:func:`nothing_sent`: the connection or its handshake failed before a byte
    of the request went out).  After a cut, or an answer from a gateway (502/504: the backend may
    have taken it), a second copy could be a second submission.  Only 408 and 429 say the server
    did not process it (RFC 9110 15.5.9, RFC 6585 4): those go again (review N, finding 3).
    """
    if not isinstance(exc, XferError) or isinstance(exc, _PERMANENT):
        return False
    if not repeatable:
        return nothing_sent(exc) or not_processed(exc)
    if isinstance(exc, ConnectError | TransferCut):
        return True
    if isinstance(exc, RemoteError):
        if exc.reply_code in TRANSIENT_FTP_REPLIES or exc.status in TRANSIENT_HTTP_STATUSES:
            return True
        return idempotent and exc.status == 500
    return False


def not_processed(exc: BaseException) -> bool:
    """Whether the server answered that it did not process the request (:data:`_NOT_PROCESSED`)."""
    return isinstance(exc, RemoteError) and exc.status in _NOT_PROCESSED


def nothing_sent(exc: BaseException) -> bool:
    """Whether the operation that raised ``exc`` cannot have sent the server a byte of its request:
    the connection could not be made (refused, unreachable, a name that does not resolve, a proxy
    that would not open the tunnel, a connect timeout), or it broke before any application byte
    went out on it (in or right after the TLS handshake: xfer's TLS connections count what they
    sent, see :func:`xfer.tls.translate.bytes_moved`)."""
    if not isinstance(exc, ConnectError):
        return False
    moved = _bytes_moved(exc)
    if moved is not None:
        return moved[0] == 0
    # No TLS connection carried the request: only a failure to connect at all says nothing went.
    return not isinstance(exc, ConnectionDropped)


def _bytes_moved(exc: BaseException) -> tuple[int, int] | None:
    # (As _closed_after_handshake: only where xfer's TLS code was loaded can a connection have counted.)
    if "xfer.tls" not in sys.modules:
        return None
    from .tls.translate import bytes_moved

    return bytes_moved(exc)


@dataclass
class Attempt:
    """One try of a retried operation, as the operation sees it (:func:`current_attempt`)."""

    number: int
    retries: int
    #: Whether a download's part file is kept when the last try fails (``resume``).
    resume: bool
    #: What one try leaves for the next: free for the operation, shared by all its tries.
    state: dict[str, Any]
    _cleanups: list[tuple[Callable[[], None], bool]] = field(default_factory=list, repr=False)
    _final: bool = False

    def stop_retrying(self) -> None:
        """The failure on its way out must not be retried, whatever its class (see :meth:`RetryPolicy.run`)."""
        self._final = True

    def on_give_up(self, cleanup: Callable[[], None], *, resumable: bool = False) -> None:
        """Run ``cleanup`` once no further try follows (the operation failed for good).

        ``resumable``: what it removes can be continued by a later run (a download's part
        file), so with ``resume`` on and a transient last failure it is kept instead.
        """
        self._cleanups.append((cleanup, resumable))


_CURRENT: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("xfer_attempt", default=None)


def current_attempt() -> Attempt | None:
    """The try of a retried operation running in this thread, or None outside any."""
    return _CURRENT.get()


@contextmanager
def _running(attempt: Attempt) -> Iterator[None]:
    token = _CURRENT.set(attempt)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to try again.

    ``retries``: tries after the first; ``wait``: the base delay (seconds).  The delay before
    retry *n* is uniformly random in ``[0, min(MAX_WAIT, wait * 2**(n-1))]`` ("full jitter":
    many clients cut at once do not come back at once), or the server's ``Retry-After``.
    ``sleep`` (default :func:`time.sleep`, looked up when used) and ``random`` are injectable for tests.
    """

    retries: int = DEFAULT_RETRIES
    wait: float = DEFAULT_RETRY_WAIT
    resume: bool = False
    cap: float = MAX_WAIT
    sleep: Callable[[float], None] | None = None
    random: Callable[[], float] = random.random

    def delay(self, retry: int, exc: BaseException | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first) after ``exc``."""
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            return min(float(asked), MAX_RETRY_AFTER)
        ceiling = min(self.cap, self.wait * 2 ** (retry - 1))
        return float(self.random() * ceiling)

    def pause(self, retry: int) -> None:
        """Wait as before retry number ``retry``: for a step that asks again by itself (a busy reply)."""
        (self.sleep or _sleep)(self.delay(retry))

    def run(
        self,
        operation: Callable[[], T],
        *,
        reopen: Callable[[], None] | None = None,
        idempotent: bool = True,
        repeatable: bool = True,
        progress: Callable[[], int | None] | None = None,
    ) -> tuple[T, int]:
        """Run ``operation`` until it succeeds, fails for good, or the retries are used up.

        Returns its result and the number of tries.  ``reopen`` runs before each retry (drop
        the broken connection).  ``progress`` says how many bytes the failed try had moved,
        for the log line.  ``idempotent`` and ``repeatable``: see :func:`is_transient`; the failure
        of a try that is not ``repeatable`` says it was not sent again.  The error that ends the
        loop is raised with its ``attempt`` field set once more than one try was made.
        """
        state: dict[str, Any] = {}
        cleanups: list[tuple[Callable[[], None], bool]] = []  # shared by the tries, like state
        number = 1
        closed_once = False
        #: Every try so far ended in a cut connection (what the final error then says).
        every_cut = True
        #: An earlier try's connection carried application bytes past the handshake: the server
        #: took our certificate, so a close right after a later handshake is a cut, not a refusal.
        accepted = False
        while True:
            attempt = Attempt(number, self.retries, self.resume, state, cleanups)
            try:
                with _running(attempt):
                    return operation(), number
            except BaseException as caught:
                exc = caught
                if accepted and isinstance(caught, XferError) and _closed_after_handshake(caught):
                    exc = _dropped_not_refused(caught)
                accepted = accepted or _got_past_handshake(caught)
                # A server that closes right after the handshake may be refusing our certificate
                # without a word (TLS 1.3), or the network cut the connection just then: the two
                # look the same.  One more try tells them apart; twice in a row is a refusal.
                # (Not for a request that is not idempotent and went out: it may have been taken.)
                ambiguous = not closed_once and isinstance(exc, Exception) and _closed_after_handshake(exc) \
                    and (repeatable or nothing_sent(exc))
                every_cut = every_cut and is_cut(exc)
                closed_once = closed_once or ambiguous
                retry = isinstance(exc, Exception) and number <= self.retries and not attempt._final \
                    and (ambiguous or is_transient(exc, idempotent=idempotent, repeatable=repeatable))
                # (A close right after the handshake, on the request's fresh connection, may be a
                # refusal of our certificate as well as a lost answer: said as it is, plus this.)
                if not retry and not repeatable and isinstance(exc, XferError) and not nothing_sent(exc) \
                        and not not_processed(exc) and (is_transient(exc) or _closed_after_handshake(exc)):
                    said = _not_sent_again(exc)
                    _give_up(attempt, keep=False)
                    raise (_numbered(said, number, every_cut=every_cut, part=None) if number > 1 else said) from exc
                if not retry:
                    # Keep what the tries left only for a later run to continue (--resume),
                    # and only when this failure is one a later run can get past.
                    keep = self.resume and isinstance(exc, Exception) and is_transient(exc, idempotent=idempotent)
                    part = _give_up(attempt, keep=keep)
                    if number > 1 and isinstance(exc, XferError) and exc.attempt is None:
                        raise _numbered(exc, number, every_cut=every_cut, part=part) from exc
                    if part == "kept" and isinstance(exc, XferError):
                        said = _part_kept(exc)
                        if said is not exc:
                            raise said from exc
                    if exc is not caught:
                        raise exc from caught
                    raise
                wait = self.delay(number, exc)
                reason = ("the server closed the connection right after the TLS handshake (a cut, or a refusal "
                          "of our certificate: one more try tells)") if ambiguous else \
                    describe(exc, progress() if progress else None)
                _log.warning("retry %d/%d in %.1f s: %s", number, self.retries, wait, reason)
            try:
                if reopen is not None:
                    reopen()
                (self.sleep or _sleep)(wait)
            except BaseException:
                _give_up(attempt, keep=False)
                raise
            number += 1


def _got_past_handshake(exc: BaseException) -> bool:
    """Whether the failed try's TLS connection moved application bytes past what a server refusing
    our certificate lets through (see ``XferConnection``): it had taken the certificate."""
    if "xfer.tls" not in sys.modules:
        return False
    from .tls.translate import accepted_us

    return accepted_us(exc)


def _dropped_not_refused(exc: XferError) -> ConnectionDropped:
    """A close right after the handshake, once an earlier try of the same operation showed that the
    server takes our certificate: the network's (or the server's) cut, retried as one (review S:
    a proxy cutting every connection was reported as a certificate refusal, exit 4, not retried)."""
    dropped = ConnectionDropped(
        f"{exc.server or 'the server'} closed the connection right after the TLS handshake; it had "
        "taken our certificate on an earlier try, so the connection was cut",
        hint="run the command again; if it keeps failing, check the network path (a proxy or firewall)",
        server=exc.server, path=exc.path,
    )
    # What the connection moved (nothing_sent: a request that is not repeatable goes again only
    # if none of it went out) is read through the chain (review R).
    dropped.__cause__ = exc
    return dropped


def _closed_after_handshake(exc: BaseException) -> bool:
    # Only xfer's TLS connections (xfer.tls) mark an error so: where that code was never loaded
    # (SFTP, or a local error before any connection), nothing is marked, and nothing is imported
    # to find that out.  (Imported here: ``xfer --help`` stays without TLS code.)
    if "xfer.tls" not in sys.modules:
        return False
    from .tls.translate import closed_after_handshake

    return closed_after_handshake(exc)


def _give_up(attempt: Attempt, *, keep: bool) -> Literal["kept", "removed"] | None:
    """Remove what the tries left; with ``keep``, not what a later run can continue.

    Returns what became of a part a later run could continue (a download's): ``"kept"``,
    ``"removed"``, or None when the tries left none (an upload, a stream, no byte arrived).
    """
    part: Literal["kept", "removed"] | None = None
    for cleanup, resumable in attempt._cleanups:
        if resumable:
            part = "kept" if keep else "removed"
        if keep and resumable:
            continue
        try:
            cleanup()
        except Exception:  # noqa: S112 - best effort while the real error is on its way out
            continue
    return part


def _not_sent_again(exc: XferError) -> XferError:
    """``exc`` of a request that is not idempotent (a form POST), which may have reached the server:
    saying so, and that it was not sent again (a second copy could be a second submission)."""
    try:
        return exc.copy_with(
            f"{exc.message}; the upload may or may not have reached the server, and it was not sent again "
            "(a form POST is not idempotent)",
            hint="check on the server whether it arrived before sending it again",
        )
    except TypeError:
        return exc


def _part_kept(exc: XferError) -> XferError:
    """``exc`` saying its part was kept where it says nothing was saved (the download paths word it
    before the retry loop decides), or ``exc`` itself."""
    if NOTHING_SAVED not in exc.message:
        return exc
    try:
        return exc.copy_with(exc.message.replace(NOTHING_SAVED, PART_KEPT))
    except TypeError:
        return exc


def is_cut(exc: BaseException) -> bool:
    """Whether ``exc`` is a connection or stream the network (or a vanished peer) cut, rather than
    a server's refusal: an FTP 421 (closing, too many connections), 425 (no data connection) or
    an HTTP status is the server's word, not a cut; 426 is the server reporting a cut data connection."""
    if isinstance(exc, TransferCut):
        return True
    if isinstance(exc, DeliveryUnknown):
        return False  # a look's verdict after an earlier cut, not a cut itself
    return isinstance(exc, ConnectionDropped) and exc.reply_code in (None, 426) and exc.status is None


def _numbered(
    exc: XferError, number: int, *, every_cut: bool = False, part: Literal["kept", "removed"] | None = None
) -> XferError:
    """``exc`` with ``attempt=number`` (the error as it was if its class cannot be rebuilt).

    A stream cut on the last try ends as :class:`~xfer.errors.ConnectionDropped` (exit 5): with
    one try the cut is an integrity error (what arrived is not the whole file, exit 7); after
    several, the connection is what keeps failing, and that is what the exit code says.
    ``every_cut``: each try ended in a cut (a stream or a connection, either way), which the
    message then says, whether the data went up or down.  ``part``: what became of the
    download's part (see :func:`_give_up`), which the message and hint then say.
    """
    if part == "kept":
        exc = _part_kept(exc)
    cut = f" (the connection was cut on each of {number} tries)" if every_cut else \
        f" (on the last of {number} tries)"
    if isinstance(exc, TransferCut):
        facts = cast(ErrorFields, exc.fields())
        facts["attempt"] = number
        return ConnectionDropped(
            f"{exc.message}{cut}",
            hint="check the network path to the server and " + {
                None: "run it again",
                "removed": "run it again with --resume to keep what arrives for the next try",
                "kept": "run the same command again: --resume goes on from the part",
            }[part],
            **facts,
        )
    try:
        if isinstance(exc, ConnectionDropped):
            return exc.copy_with(f"{exc.message}{cut}", attempt=number)
        return exc.copy_with(attempt=number)
    except TypeError:
        return exc


def describe(exc: BaseException, moved: int | None) -> str:
    """A few words for a retry line: what went wrong, and how far the try got."""
    if isinstance(exc, ConnectTimeout):
        what = "timed out"
    elif isinstance(exc, ConnectionDropped | TransferCut):
        what = "connection dropped"
    elif isinstance(exc, ConnectError):
        what = "could not connect"
    elif isinstance(exc, XferError) and exc.status is not None:
        what = f"HTTP {exc.status}"
    elif isinstance(exc, XferError) and exc.reply_code is not None:
        what = f"FTP {exc.reply_code}"
    else:
        what = type(exc).__name__
    if moved:
        what += f" after {_size(moved)}"
    return what


def _size(count: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= scale:
            return f"{count / scale:.0f} {unit}" if count >= 10 * scale else f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
