"""The FTPS adapter: the verbs (ls, get, put, mv, rm, mkdir...) over one control connection,
and the boundary where ftplib, ssl and socket exceptions become xfer errors.

The package docstring (:mod:`xfer.adapters.ftps`) lists the rules every verb keeps.
"""

# S321 flags every ftplib call as "FTP is insecure".  Here ftplib only ever runs
# over TLS (the adapter refuses clear text before a byte of data or password moves).

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ftplib
import posixpath
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from ...buffers import aligned_buffer
from ...errors import (
    ConnectionDropped,
    InsecureSchemeRefused,
    IntegrityError,
    ListingTooLarge,
    RemoteError,
    RemoteExists,
    RemoteFolderNotEmpty,
    RemoteIsFolder,
    RemoteNotFound,
    RemotePermissionDenied,
    ServerError,
    TLSError,
    TransferCut,
    UnsupportedOperation,
    UsageError,
    XferError,
    folder_missing,
    folder_needs_recursive,
)
from ...log import logger
from ...net import choose_proxy
from ...numbers import server_int, server_status
from ...protocols.ftps import SPEC as FTPS_SPEC
from ...protocols.ftps import FTPSOptions
from ...retry import Attempt, current_attempt, own_failure
from ...streams import SinkFactory
from ...tls import translate_error
from ...transfer import AtomicDownload, FileBody, SentFile, open_for_upload
from ...types import CONTROL_CHARACTER
from ...verify import (
    HASH_RATE,
    Check,
    FTPHashCommand,
    ServerHash,
    StreamHash,
    conclude,
    ftp_hash_command,
    ftp_hash_reply,
)
from ..base import (
    Adapter,
    Capability,
    ConnectionSettings,
    Entry,
    EntryType,
    ProgressCallback,
    RemoteWriter,
    SourceVersion,
    TransferResult,
)
from ..tree import TreeWalk
from . import install
from .connection import (
    EXTRA_PRELIMINARY,
    QUIT_TIMEOUT,
    DataConnections,
    DataReader,
    DataTally,
    FTPSConnection,
    breaks_session,
    end_of_data,
    explained,
)
from .listing import (
    ListClock,
    ListedLine,
    listing_lines,
    parse_mdtm,
    parse_mlst_line,
    read_list_line,
    read_mlsd_line,
)
from .replies import (
    NOT_UNDERSTOOD,
    expect_reply,
    is_ambiguous_550,
    listing_cut,
    listing_not_read,
    login_error,
    protocol_error,
    refuses_session_reuse,
    reply_code,
    reply_error,
    reply_text,
    says_denied,
    says_gone,
    says_no_files,
    says_not_found,
)

__all__ = ["ExplicitFTPSAdapter", "FTPSAdapter", "ImplicitFTPSAdapter"]

#: How much of a file the REST probe reads (:meth:`FTPSAdapter._honours_rest`): a server that
#: ignores REST sends a file up to this size whole, the start of a larger one.
_REST_PROBE_WINDOW = 64 * 1024
#: How far into a file the probe looks for a byte unlike the first, where its start is all one value.
_REST_PROBE_SEARCH = 1024 * 1024
#: Set in a transfer's retry state once the server showed it ignores ``REST`` (a continued RETR
#: brought more than the file's rest, a continued STOR wrote from byte 0): the next try moves
#: the whole file (:meth:`FTPSAdapter._more_than_the_rest`, :meth:`FTPSAdapter._stored`).
_REST_IGNORED = "ftps:rest-ignored"
#: In a retry's state: temporary names holding a complete upload that the final error names as the
#: user's (its rename failed); the clean-up of an earlier try's part there must leave them.
_KEPT_FOR_USER = "ftps:kept-for-user"

#: Bytes read from a TLS data connection before one write to disk.  Each ``recv_into``
#: returns at most one 16 KiB TLS record; filling a reused 256 KiB buffer first means one
#: disk write and one progress call per 16 records, and no allocation per record.
DOWNLOAD_FILL = 256 * 1024

#: ``SITE UTIME`` forms, in the order tried: ``SITE UTIME path atime mtime ctime UTC`` (proftpd's
#: mod_site_misc, pure-ftpd) and ``SITE UTIME YYYYMMDDhhmmss path`` (both too).
_UTIME_FORMS = ("five", "two")

_T = TypeVar("_T")
_log = logger(__name__)
#: Where a try says it starts over (as a download's part does, xfer.transfer).
_retry_log = logger("xfer.retry")


class FTPSAdapter(Adapter):
    """FTPS adapter (see the module docstring).  Use :class:`ExplicitFTPSAdapter` or
    :class:`ImplicitFTPSAdapter`; the registry maps ``ftpes://`` and ``ftps://`` to them.

    Options (``settings.options``, the profile's ``[ftps]`` table parsed into :class:`FTPSOptions`):

    ``epsv`` (bool, True)
        try EPSV before PASV.
    ``upload_temp_name`` (bool, True)
        upload as ``.NAME.RANDOM.xfer-part`` in the target folder, then RNFR/RNTO,
        so pick-up processes never see half a file.
    ``keepalive`` (float, 60.0)
        seconds: TCP keepalive interval of the control connection, and the idle time
        after which the connection is checked with NOOP before it is reused (0 = off).

    The control connection opens in the constructor (so a bad certificate or
    password fails at ``connect()``) and is reused for every operation.  After more than
    ``keepalive`` seconds idle it is checked with NOOP and reopened if the server dropped it;
    one the server drops sooner fails the next operation, which the retry policy runs again
    on a new connection (with ``retries`` 0, that failure is the answer).
    """

    implicit: ClassVar[bool] = False
    capabilities = frozenset(Capability)
    LISTS_CONTROL_NAMES = False  # pure-ftpd leaves them out, vsftpd prints "?" (see Adapter)

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        options = settings.options_as(FTPSOptions)
        self._epsv = options.epsv
        self._upload_temp_name = options.upload_temp_name
        self._keepalive = options.keepalive
        self._ftp: FTPSConnection | None = None
        self._features: frozenset[str] = frozenset()
        #: How to ask this server for a file's hash (FEAT's strongest), None if it cannot tell.
        self._hash_command: FTPHashCommand | None = None
        #: The ``SITE UTIME`` forms to try on this connection, the one that worked first (None: not yet
        #: asked; empty: it has none).  Only looked at where FEAT announces no MFMT.
        self._site_utime: list[str] | None = None
        #: Whether this server starts a RETR where REST asked (None: not asked yet, or not provable),
        #: and how many more files may be used to ask (a file without SIZE, or changing, cannot tell).
        self._rest_honoured: bool | None = None
        self._rest_probes_left = 3
        self._last_used = 0.0
        #: This adapter's data connections, over every control connection it opens.
        self.data_connections = DataConnections()
        self._session()

    # -- lifecycle ---------------------------------------------------------------------

    def _close(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            ftp.quit_quietly()

    def _reopen(self) -> None:
        # After a failure the control connection may be dead or out of step: the next
        # operation logs in afresh (``_session``).
        self._drop()

    @property
    def tls_version(self) -> str | None:
        """TLS version of the control connection (None before connecting)."""
        return self._ftp.tls_version if self._ftp else None

    def _session(self) -> FTPSConnection:
        """The open control connection: reused, checked after idling, reopened if dropped."""
        ftp = self._ftp
        if ftp is not None and self._keepalive > 0 and time.monotonic() - self._last_used > self._keepalive:
            try:
                ftp.voidcmd("NOOP")
            except (ftplib.Error, OSError, EOFError):
                self._drop()
                ftp = None
        if ftp is None:
            ftp = self._open()
            self._ftp = ftp
        self._last_used = time.monotonic()
        return ftp

    def _drop(self) -> None:
        """Forget a control connection that is broken (no QUIT: it would only time out)."""
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            with contextlib.suppress(Exception):
                ftp.close()

    def _open(self, *, timeout: float | None = None) -> FTPSConnection:
        settings = self.settings
        ftp = FTPSConnection(
            context=settings.ssl_context,
            implicit=self.implicit,
            timeout=settings.timeout if timeout is None else timeout,
            epsv=self._epsv,
            keepalive=self._keepalive,
            proxy=choose_proxy(settings.proxy, settings.host, environment=FTPS_SPEC.proxy_environment),
        )
        ftp.data_connections = self.data_connections
        if settings.password:
            ftp.secrets = (settings.password,)
        try:
            ftp.connect(settings.host, settings.port)
            if not self.implicit:
                self._start_tls(ftp)
            self._login(ftp)
            self._protect(ftp)
            self._features = self._feat(ftp)
            if "UTF8" in self._features:
                with contextlib.suppress(ftplib.Error):
                    ftp.sendcmd("OPTS UTF8 ON")
            ftp.voidcmd("TYPE I")
        except BaseException as exc:
            secured = isinstance(ftp.sock, ssl.SSLSocket)
            with contextlib.suppress(Exception):
                ftp.close()
            if isinstance(exc, XferError) or not isinstance(exc, Exception):
                raise
            raise self._translate(exc, "connecting", secured=secured) from exc
        return ftp

    def _start_tls(self, ftp: FTPSConnection) -> None:
        try:
            ftp.start_tls()
        except ftplib.Error as exc:
            raise InsecureSchemeRefused(
                f"{self.settings.server} refused AUTH TLS ({str(exc).strip()}); xfer stopped "
                "before sending the user name or password",
                hint="the server may only speak implicit FTPS: try ftps:// (port 990); "
                "xfer never logs in over clear text",
            ) from exc

    def _login(self, ftp: FTPSConnection) -> None:
        user = self.settings.username or "anonymous"
        # RFC 1635: anonymous logins give an e-mail-like password; none of ours to leak.
        password = self.settings.password if self.settings.username else "anonymous@"
        try:
            # ftplib's login() without its ACCT: it sent an empty account after a 332, and the
            # refusal read as a wrong password (review L, finding 16).
            reply = ftp.sendcmd(f"USER {user}")
            if reply_code(reply) == "331":
                reply = ftp.sendcmd(f"PASS {password or ''}")
            if reply_code(reply) == "332":
                raise UnsupportedOperation(
                    f"{self.settings.server} requires an account (ACCT) for the login of {user!r}, which xfer "
                    f"does not support (server said: {reply.strip()})",
                    hint="ask the partner for a login that needs no account",
                    server=self.settings.server, reply_code=332,
                )
            if reply[:1] != "2":
                raise login_error(reply, server=self.settings.server, username=user)
        except ftplib.Error as exc:
            raise login_error(str(exc), server=self.settings.server, username=user) from exc

    def _protect(self, ftp: FTPSConnection) -> None:
        # Each refusal names its own command: a refused "PBSZ 0" read as "(PROT P: 500 ...)".
        for command in ("PBSZ 0", "PROT P"):
            try:
                ftp.voidcmd(command)
            except ftplib.Error as exc:
                raise InsecureSchemeRefused(
                    f"{self.settings.server} refused to encrypt data connections ({command}: "
                    f"{str(exc).strip()}); xfer never transfers files in clear text",
                    hint="ask the partner to allow PBSZ 0 and PROT P (TLS on the data connection)",
                ) from exc

    def _feat(self, ftp: FTPSConnection) -> frozenset[str]:
        self._hash_command = None  # this connection's FEAT decides, not an earlier one's
        self._site_utime = None
        try:
            resp = ftp.sendcmd("FEAT")
        except ftplib.Error:
            return frozenset()
        features = set()
        for line in resp.splitlines()[1:-1]:
            words = line.strip().split(" ", 1)
            if words and words[0]:
                features.add(words[0].upper())
        self._hash_command = ftp_hash_command(resp.splitlines()[1:-1])
        return frozenset(features)

    # -- verification ----------------------------------------------------------------------

    def _server_hash(
        self, ftp: FTPSConnection, path: str, size: int | None, *, transient_raises: bool = True
    ) -> ServerHash | None:
        """The server's hash of ``path`` (``size`` bytes, None: unknown) by the strongest command
        FEAT announced; None if it has none for us.

        A refusal (a size limit, a file it will not hash: 5xx) is no hash, not a failed transfer;
        a broken connection is.  A temporary one (4xx: busy) is raised, so the retry policy asks
        again, unless ``transient_raises`` is off (an upload's check without ``--checksum``: the
        size check stands).  The server reads the whole file before it answers: the reply may
        take longer than ``timeout`` for a large one (allowed: 20 MiB/s of ``size``).
        """
        command = self._hash_command
        if command is None:
            return None
        try:
            if command.select is not None:
                ftp.voidcmd(command.select)
            ftp.settimeout(self.settings.timeout + (size or 0) / HASH_RATE)
            try:
                reply = ftp.sendcmd(f"{command.command} {path}")
            finally:
                ftp.settimeout(self.settings.timeout)
        except ftplib.error_temp:
            if transient_raises:
                raise
            return None
        except (ftplib.error_perm, ftplib.error_reply):
            return None
        return ftp_hash_reply(reply, command, size=size)

    def _checksum(self, path: str, size: int | None) -> ServerHash | None:
        """The server's hash of ``path`` (``xfer sync --checksum``), by the command uploads are verified with."""

        def work(ftp: FTPSConnection) -> ServerHash | None:
            if self._hash_command is None:
                return None
            known = size
            if known is None:
                try:
                    known = self._size(ftp, path)
                except ftplib.error_perm as exc:
                    if reply_code(str(exc)) == "550":
                        return None  # no size: a folder (fsspec asks for any path), or not readable
                    raise
            return self._server_hash(ftp, path, known)

        return self._run("asking for the checksum of", path, work)

    def _confirmed(self, remote: str, *, end: bool, checked: Check) -> None:
        """An upload is proven by the server's close_notify after ours (``end``: it read every
        byte), or by a size or hash check (``checked``); the 226 alone is not proof.

        A server that stops reading and answers 226 for what it has would otherwise be a
        success (the bytes it left unread sit in socket buffers; nothing fails on our side).
        """
        if end or checked != "none":
            return
        raise IntegrityError(
            f"{self.settings.server} did not confirm the end of the upload of {remote} (its data "
            "connection closed without TLS close_notify), and has no SIZE or MLST to show what it "
            "stored; the upload was removed",
            hint="ask the partner to enable SIZE (RFC 3659), or to end data connections with TLS close_notify",
        )

    def _verify(
        self, ftp: FTPSConnection, path: str, local: StreamHash, size: int, *, what: str, size_checked: bool,
        consequence: str,
    ) -> Check:
        """The end-to-end check of one transfer of ``size`` bytes (``path`` as named on the server now)."""
        command = self._hash_command
        # Without --checksum a busy server's refusal leaves the size check.  With it, the hash is
        # asked again here, a few times: raised, the 4xx would have the whole transfer done again.
        busy = 0
        while True:
            try:
                offered = self._server_hash(ftp, path, size, transient_raises=self.settings.checksum)
                break
            except ftplib.error_temp:
                busy += 1
                if busy > self.retry_policy.retries:
                    raise
                self.retry_policy.pause(busy)
        return conclude(
            offered, local, server=self.settings.server, what=what,
            size_checked=size_checked, required=self.settings.checksum, consequence=consequence, size=size,
            looked_for=f"{command.command} ({command.algorithm})" if command is not None
            else "HASH, XSHA256, XMD5 or XCRC in FEAT",
        )

    # -- error boundary -------------------------------------------------------------------

    def _translate(
        self, exc: BaseException, action: str, path: str | None = None, *, secured: bool = True
    ) -> XferError:
        """Map ``exc`` to an xfer error.  ``secured``: the control connection's TLS was up."""
        server = self.settings.server
        if isinstance(exc, XferError):
            return exc
        if isinstance(exc, ftplib.Error) and reply_code(str(exc)):
            return reply_error(str(exc), server=server, action=action, path=path)
        if secured and isinstance(exc, ssl.SSLError) and exc.reason == "WRONG_VERSION_NUMBER":
            # Not a wrong port: TLS was working.  Clear text arrived inside the session,
            # which is how vsftpd reports its own failures ("500 OOPS: ...").  While connecting
            # that is the server's setup (a writable chroot, say): a server error, said at once.
            # Later it is a session process that died (seen under load, in a parallel sync): the
            # connection is gone, and a retry on a new one may well succeed.
            kind = ServerError if action == "connecting" else ConnectionDropped
            return kind(
                f"{server} broke off the TLS session while {action} (it sent clear text inside it)",
                hint="vsftpd prints '500 OOPS' in clear text on server-side errors; see the server log",
            )
        translated = translate_error(exc, context=self.settings.ssl_context, server=server)
        if translated is not None:
            return translated
        if isinstance(exc, EOFError):
            return ConnectionDropped(f"{server} closed the control connection while {action}")
        if isinstance(exc, ftplib.Error):
            return ServerError(f"{server} sent an unexpected reply while {action}: {exc}")
        if isinstance(exc, ssl.SSLError):
            return TLSError(f"{server}: TLS failed while {action}: {exc}")
        if isinstance(exc, OSError):
            return ConnectionDropped(f"the connection to {server} failed while {action}: {exc}")
        return RemoteError(f"{server}: {action} failed: {exc!r}")

    def _run(
        self, action: str, path: str | None, work: Callable[[FTPSConnection], _T], *, probe: str | None = None
    ) -> _T:
        """Run one operation on the control connection and translate what it raises.

        A reply error leaves the session usable.  The control connection is dropped
        (the next operation opens a new one) when its state is unknown: after a TLS,
        network or EOF error, an interruption, or *any* failure while a transfer's final
        reply is still unread (a full local disk, a progress callback that raised...),
        since that 226/426 would otherwise answer the next command.

        ``probe`` is the path whose existence tells an ambiguous 550 apart (default ``path``).
        """
        ftp = self._session()
        try:
            result = work(ftp)
        except BaseException as exc:
            if ftp.transfer_pending or ftp.restart_pending or breaks_session(exc):
                self._drop()
            if isinstance(exc, XferError):
                shown = self._shown(exc, path=path)
                if shown is exc:
                    raise
                raise shown from exc
            if not isinstance(exc, ftplib.Error | OSError | EOFError | ValueError):
                raise
            if isinstance(exc, ftplib.Error) and refuses_session_reuse(str(exc)) and ftp.resumed_data:
                raise self._session_expired(ftp, exc, action, path) from exc
            error = self._translate(exc, action, path)
            if isinstance(exc, ftplib.Error):
                error = self._refine(error, exc, action, path, probe or path)
            raise self._shown(error, path=path) from exc
        if ftp.restart_pending:  # a REST that nothing used (a transfer command refused after it)
            try:
                ftp.forget_restart()
            except (ftplib.Error, OSError, EOFError):
                self._drop()
        self._last_used = time.monotonic()
        return result

    def _session_expired(
        self, ftp: FTPSConnection, exc: ftplib.Error, action: str, path: str | None
    ) -> ConnectionDropped:
        """A data connection refused for want of session reuse on a control connection whose
        data connections resumed its session before: the server no longer has that session (it
        left its cache: OpenSSL's default lifetime is two hours, some servers set minutes).  Not
        a TLS problem to give up on, but a connection grown too old: it is dropped, and the error
        is a transient one, so that the retry logs in afresh, with a new session, and goes on.
        """
        self._drop()
        minutes = (time.monotonic() - ftp.opened_at) / 60
        where = f" {path}" if path else ""
        return ConnectionDropped(
            f"{self.settings.server} stopped resuming the TLS session of a connection open for {minutes:.0f} min "
            f"(after {ftp.resumed_data} data connections) while {action}{where} (server said: {str(exc).strip()}); "
            "its session has expired",
            hint="xfer logs in again with a new session and goes on (--retries)",
            server=self.settings.server, path=path,
        )

    def _shown(self, error: XferError, *, path: str | None = None) -> XferError:
        """``error`` as shown: a path with a backslash that is not there gets a hint about ``/``.

        (Secrets need nothing here: :meth:`FTPSConnection.getmultiline` takes the password
        out of every reply as it is read, before any message quotes it.)
        """
        if isinstance(error, RemoteNotFound) and path and "\\" in path and not error.hint:
            return error.copy_with(hint="FTP paths separate folders with /, not \\")
        return error

    def _refine(
        self, error: XferError, exc: ftplib.Error, action: str, path: str | None, probe: str | None
    ) -> XferError:
        """Turn an ambiguous 550 into not-found or permission-denied by asking whether ``probe`` exists."""
        ftp = self._ftp
        if probe is None or not is_ambiguous_550(str(exc), path) or ftp is None:
            return error
        try:
            exists = self._exists(ftp, probe)
        except (ftplib.Error, OSError, EOFError):
            return error
        if exists:
            return RemotePermissionDenied(
                f"{self.settings.server}: permission denied while {action} {path or probe} "
                f"(server said: {str(exc).strip()})",
                server=error.server, path=path or probe, reply_code=error.reply_code,
            )
        return RemoteNotFound(f"{self.settings.server}: {probe} does not exist",
                              server=error.server, path=probe, reply_code=error.reply_code)

    def _refuse_backslash(self, path: str, action: str) -> None:
        """Refuse to change anything at a path holding a backslash.

        ``p:\\dir\\`` (Windows habit) reached the server as the one name ``\\dir\\``
        and created a file called that; a Windows server, on the other hand, reads a
        backslash as a separator, so the same path means different places on different
        servers.  Reading such a name is allowed (a POSIX server may list one, and
        ``get -r`` fetches it); creating, moving or removing by it is not.
        """
        if "\\" not in path:
            return
        raise UsageError(
            f"{self.settings.server}: refusing to {action} {path!r}: FTP paths separate folders "
            "with /, and a backslash means a separator to some servers and part of a name to others",
            hint=f"write the path with / (for example {path.replace(chr(92), '/')})",
        )

    # -- probes (control connection only, never raise for "no") ---------------------------

    def _exists(self, ftp: FTPSConnection, path: str) -> bool:
        return self._kind(ftp, path) is not None

    def _kind(self, ftp: FTPSConnection, path: str) -> EntryType | None:
        """What is at ``path`` ("file", "directory"; MLST may say "link", "other"), or None."""
        entry = self._stat(ftp, path, modified=False)
        return entry.type if entry else None

    def _stat(self, ftp: FTPSConnection, path: str, *, modified: bool = True) -> Entry | None:
        """Facts about ``path``, or None if nothing is there (see :meth:`_stat_answer`)."""
        return self._stat_answer(ftp, path, modified=modified)[0]

    def _stat_answer(self, ftp: FTPSConnection, path: str, *, modified: bool = True) -> tuple[Entry | None, bool]:
        """Facts about ``path``, or None if nothing is there; and whether a None is the server's
        own word about that name (:func:`says_gone`: MLST, SIZE or MDTM said "no such file", not
        "not a regular file", not "Permission denied"; and not after a CWD refused in words of
        refusal, where SIZE's "not found" may be a folder the account may not enter), never the
        parent's listing, the last resort.  Only such a word may let ``sync --delete`` down
        delete a local copy the listing did not show (reviews of fe5f526, finding 1, and of
        15ffd9e, findings 3 and 4).  Changes nothing on the server.

        MLST where the server has it.  Otherwise CWD for folders (never SIZE: see below),
        then SIZE for files, then MDTM for a file's time if ``modified`` (or to learn
        whether the file exists, without SIZE), and without either the parent's listing.  CWD moves the
        session's working directory; no command of ours depends on it (every path sent
        is absolute), and it is moved back to ``/`` at once so that the session never
        sits inside a folder that ``rm -r`` is about to remove (some servers refuse to
        remove the current directory).
        """
        if path == "/":
            return Entry(name="", path="/", type="directory"), True
        if "MLST" in self._features:
            entry, stated, denied = self._mlst_answer(ftp, path)
            if entry is not None or stated or denied:
                return entry, stated
            # Refused in words that say neither (ProFTPD's "cannot be listed", which it says of
            # any file it cannot stat; "Unable to handle command" under <Limit>): asked as a
            # server without MLST is, CWD first, so that a folder is never taken for a file nor
            # SIZE's "not a file" words for absence (reviews of 0fbb4d7, finding 1, and of
            # d89f4bf, findings 1-3).
        return self._stat_without_mlst(ftp, path, modified=modified)

    def _stat_without_mlst(self, ftp: FTPSConnection, path: str, *, modified: bool) -> tuple[Entry | None, bool]:
        """:meth:`_stat_answer` by CWD, SIZE, MDTM and, last, the parent's listing."""
        name = posixpath.basename(path)
        # Only MLST's type fact or a successful CWD says "folder": some servers answer
        # SIZE on a folder with the directory inode's size (213 4096), which made a folder
        # look like a file (listed as one, DELE'd by rm -r).  So CWD first, SIZE after.
        cwd_denied = False
        try:
            ftp.sendcmd(f"CWD {path}")
        except ftplib.error_perm as exc:
            cwd_denied = says_denied(str(exc), path)
        else:
            with contextlib.suppress(ftplib.error_perm):
                ftp.sendcmd("CWD /")
            return Entry(name=name, path=path, type="directory"), True
        size_refused = False
        try:
            size = self._size(ftp, path)
        except ftplib.error_perm as exc:
            if says_not_found(str(exc), path):
                # SIZE answers for files; not a folder, not a file: nothing there.
                return None, says_gone(str(exc), path) and not cwd_denied
            # Refused for this file, in words that do not say it is missing ("file too large for
            # SIZE", proftpd's <Limit SIZE>): no proof of absence.  MDTM or the listing decide.
            size, size_refused = None, True
        stamp = None
        if modified or size is None:
            try:
                stamp = parse_mdtm(expect_reply(ftp.sendcmd(f"MDTM {path}"), "213", "MDTM"))
            except ftplib.error_perm as exc:
                if size is None and (reply_code(str(exc)) in NOT_UNDERSTOOD
                                     or (size_refused and not says_not_found(str(exc), path))):
                    # Neither SIZE nor MDTM said: only the parent's listing can tell.
                    return self._listed(ftp, path), False
                if size is None:
                    return None, says_gone(str(exc), path) and not cwd_denied  # no size, and MDTM refused too
        return Entry(name=name, path=path, type="file", size=size, modified=stamp), True

    def _listed(self, ftp: FTPSConnection, path: str) -> Entry | None:
        """``path``'s entry in its parent's listing, or None (the last resort of :meth:`_stat`)."""
        parent, name = posixpath.split(path)
        try:
            entries = self._list_entries(ftp, parent or "/")
        except (ftplib.error_perm, ftplib.error_temp) as exc:
            # Only a listing refused as "no such folder" says the file is not there.  A 425/421,
            # a denial or an unread folder says nothing about it: a false "absent" removes things,
            # and a transient failure must stay one (review N, finding 1).
            if says_not_found(str(exc), parent or "/"):
                return None
            raise
        for entry in entries:
            if entry.name == name:
                return entry
        return None

    @staticmethod
    def _mlst_or_none(ftp: FTPSConnection, path: str) -> Entry | None:
        """MLST ``path``: its entry, or None if the server says there is none."""
        return FTPSAdapter._mlst_answer(ftp, path)[0]

    @staticmethod
    def _mlst_answer(ftp: FTPSConnection, path: str) -> tuple[Entry | None, bool, bool]:
        """MLST ``path``: its entry, or None on a refusal; whether that refusal says in words that
        there is no such file, and whether it refuses in words (``550 Permission denied``)."""
        try:
            resp = expect_reply(ftp.sendcmd(f"MLST {path}"), "250", "MLST")
        except ftplib.error_perm as exc:
            if reply_code(str(exc)) in NOT_UNDERSTOOD:
                raise
            return None, says_gone(str(exc), path), says_denied(str(exc), path)
        # RFC 3659: "250-", one fact line starting with a space, "250 End".  Some servers leave
        # the space out, or put the facts on a single "250 facts path" line: those were "absent",
        # and rm -r of such a folder sent DELE (review L, finding 13).
        lines = resp.splitlines()
        for line in lines[1:-1] if len(lines) > 1 else [resp[4:]]:
            entry = parse_mlst_line(line, path)
            if entry is not None:
                return entry, True, False
        # A 250 with no facts in it is no answer: never "absent" (a false "absent" removes things).
        raise protocol_error(f"the server's MLST reply about {path} holds no facts xfer can read: {resp[:200]!r}")

    def _size(self, ftp: FTPSConnection, path: str) -> int | None:
        """The server's size of ``path``, or None if it cannot tell (no SIZE support, or a 213
        with no non-negative number in it: ``213 -1`` is no size).  A refusal (550) is raised, for
        the caller to read; a reply other than 213 is a protocol error (:func:`expect_reply`)."""
        try:
            reply = expect_reply(ftp.sendcmd(f"SIZE {path}"), "213", "SIZE")
        except ftplib.error_perm as exc:
            if reply_code(str(exc)) in NOT_UNDERSTOOD:
                return None
            raise
        words = reply.split()
        return server_int(words[-1]) if len(words) > 1 else None

    # -- listing ---------------------------------------------------------------------------------

    def _list_entries(
        self, ftp: FTPSConnection, folder: str, *, mlsd: bool | None = None, here: str | None = None
    ) -> list[Entry]:
        """The entries of ``folder``: MLSD if the server has it (or ``mlsd`` says), else LIST, parsed.
        ``here``: the command to send instead, without a path (``LIST -a``), the session being in
        ``folder`` already (CWD): pure-ftpd splits a LIST argument at spaces and globs each part
        (``LIST /x/my dir`` lists nothing: "0 matches total", on the bed).

        The parsers drop ``.``, ``..`` and every name that is not one plain path
        component, so each entry returned lies directly inside ``folder``: a hostile
        listing cannot steer ``rm -r`` (or a recursive get) anywhere else.

        Lines are parsed as they arrive, and the listing is read only up to
        ``max_listing`` bytes (:class:`ListingTooLarge` beyond): a server cannot make
        xfer hold an endless listing.  A listing that ends without TLS close_notify
        has no length to prove it complete, so it is an :class:`IntegrityError`: a
        silently short listing would make ``get -r`` fetch part of a folder, exit 0.

        A listing refused with "No files found" is an empty one if the folder is there.

        A LIST line that is no entry xfer can read (nor "total 12") fails the listing with
        :class:`ServerError`: a name left out would be absent to ``sync --delete``, which then
        removed its copy (review D, finding 4).  LIST times are read on the connection's
        clock (:meth:`_list_clock`).
        """
        if mlsd is None:
            mlsd = "MLST" in self._features
        try:
            conn, _size = ftp.ntransfercmd(here or f"{'MLSD' if mlsd else 'LIST'} {folder}")
        except (ftplib.error_perm, ftplib.error_temp) as exc:
            # "450/550 No files found": proftpd and wu-ftpd's word for an empty folder, and others'
            # for no folder.  Read as missing, an existing empty folder failed ls and every
            # get -r over it (review L, finding 3); what is at the path decides.
            if says_no_files(str(exc)) and self._kind(ftp, folder) == "directory":
                return []
            raise
        reader = DataReader(conn)
        entries: list[Entry] = []
        listed: list[ListedLine] = []
        unreadable = 0
        first_unreadable = ""  # quoted in the error
        with conn, explained(ftp):
            settings = self.settings
            lines = listing_lines(
                reader, encoding=ftp.encoding, limit=settings.max_listing, server=settings.server, folder=folder
            )
            for line in lines:
                if mlsd:
                    read = read_mlsd_line(line, folder)
                    if read is not None and read.entry is not None:
                        entries.append(read.entry)
                    if read is not None:
                        continue
                    item = None  # an MLSD line that is no entry fails the listing as a LIST line does
                else:
                    item = read_list_line(line, folder)
                if item is None:
                    unreadable += 1
                    first_unreadable = first_unreadable or line
                elif item.entry is not None:
                    listed.append(item)
        reply = reader.finish(
            ftp, None, server=self.settings.server, what=f"the listing of {folder}",
            consequence="it may be incomplete; nothing was done with it", empty_ok=True,
        )
        if listing_not_read(reply):
            # vsftpd's "226 Transfer done (but failed to open directory).": a success code over
            # an empty listing.  Never an empty folder: sync --delete would empty the copy of it.
            raise RemotePermissionDenied(
                f"{self.settings.server}: permission denied while listing {folder}: the server could not "
                f"read the folder and sent an empty listing in its place (server said: {reply_text(reply)})",
                hint="ask the partner to give this account read access to the folder",
                server=self.settings.server, path=folder, reply_code=server_status(reply_code(reply)),
            )
        if listing_cut(reply):
            names = len(entries) + len(listed)
            raise ListingTooLarge(
                f"{self.settings.server}: the server cut its listing of {folder} short after {names} names "
                f"(server said: {reply_text(reply)}); nothing was done with it, since the names it left out "
                "would look absent",
                hint="ask the partner to raise the server's listing limit (pure-ftpd: -L / LimitRecursion, which "
                "also reports a folder of exactly that many names as cut), or keep fewer files in one folder",
                server=self.settings.server, path=folder,
            )
        if unreadable:
            raise ServerError(
                f"{self.settings.server}: {unreadable} line(s) of the listing of {folder} are no entry xfer can "
                f"read (the first: {first_unreadable[:200]!r}); nothing was done with the listing, since a "
                "name in them would look absent",
                hint="ask the partner to enable MLSD (RFC 3659), or report the line to xfer's maintainers",
                server=self.settings.server, path=folder,
            )
        if listed:
            clock = self._list_clock(ftp, listed)
            now = dt.datetime.now(dt.timezone.utc)
            entries = [entry for item in listed if (entry := clock.resolve(item, now=now)) is not None]
        return entries

    def _list_clock(self, ftp: FTPSConnection, listed: list[ListedLine]) -> ListClock:
        """The clock ``ftp``'s LIST times are printed in, learned once per connection.

        ``ls`` prints the server's local time in a zone it does not name (proftpd, pure-ftpd,
        IIS): read as UTC, a server west of UTC made every sync send everything again, one east
        of it hid same-size edits (review D, finding 3).  MDTM is UTC (RFC 3659): asked for one
        listed file with a time to the minute, it gives the offset (:meth:`ListClock.calibrated`).
        vsftpd with ``use_localtime=YES`` answers MDTM in local time too, which looks like UTC
        here: that server stays read as UTC (the README says so).  One round trip per connection at most, and only
        on a server without MLSD.  No MDTM (500/502), or no answer for that file: the zone
        stays unknown (``modified_zone_known=False``) for the connection.
        """
        if ftp.list_clock is not None:
            return ftp.list_clock
        candidate = next((item for item in listed if item.entry is not None and item.entry.type == "file"
                          and item.printed is not None and item.printed.zone is None
                          and item.printed.precision <= 60), None)
        if candidate is None or candidate.entry is None or candidate.printed is None:
            return ListClock()  # nothing to ask about yet: a later listing may have it
        try:
            stamp = parse_mdtm(expect_reply(ftp.sendcmd(f"MDTM {candidate.entry.path}"), "213", "MDTM"))
        except (ftplib.error_perm, ftplib.error_temp):  # not a reply out of step: that drops the session
            stamp = None
        ftp.list_clock = ListClock.calibrated(candidate.printed, stamp) if stamp is not None else ListClock()
        _log.debug("LIST times on %s: offset from UTC %s", self.settings.server, ftp.list_clock.offset)
        return ftp.list_clock

    def _ls(self, path: str) -> list[Entry]:
        def work(ftp: FTPSConnection) -> list[Entry]:
            if "MLST" in self._features:
                try:
                    return self._followed(ftp, self._list_entries(ftp, path))
                except ftplib.error_perm as exc:
                    # MLSD lists folders only; for a file, answer with its own entry.  A refusal
                    # of MLSD is worded as the server likes (pyftpdlib: "501 No such directory"
                    # for a file or nothing); MLST says which it was.
                    entry = self._mlst_or_none(ftp, path)
                    if entry is None:
                        code = reply_code(str(exc))
                        if says_denied(str(exc), path):
                            # "550 Not enough privileges" to MLSD and MLST: a folder there may be
                            # one we may not list, not nothing (review S: "does not exist").
                            raise RemotePermissionDenied(
                                f"{self.settings.server}: permission denied while listing {path} "
                                f"(server said: {reply_text(str(exc))})",
                                hint="ask the partner to give this account read access to the folder",
                                server=self.settings.server, path=path, reply_code=int(code) if code else None,
                            ) from exc
                        raise RemoteNotFound(
                            f"{self.settings.server}: {path} does not exist", server=self.settings.server,
                            path=path, reply_code=int(code) if code else None,
                        ) from exc
                    if entry.type != "directory":
                        return [entry]
                    raise
            # LIST says too little: vsftpd answers it for a missing path with an empty
            # listing, and for a file with a line named as the server likes.  Ask first.
            entry = self._stat(ftp, path)
            if entry is None:
                raise RemoteNotFound(
                    f"{self.settings.server}: {path} does not exist", server=self.settings.server, path=path
                )
            if entry.type != "directory":
                return [entry]
            return self._followed(ftp, self._list_entries(ftp, path))

        return self._run("listing", path, work)

    def _followed(self, ftp: FTPSConnection, entries: list[Entry]) -> list[Entry]:
        """``entries`` with each link shown as what it points to, as ``ls`` does on SFTP.

        LIST (vsftpd, pure-ftpd...) and some MLSDs (proftpd's ``OS.unix=slink``) say only
        "link": a ``get -r`` or a glob, which take files and folders, passed over a linked
        file without a word.  The server follows the link for CWD/SIZE/MDTM (or MLST).  A
        link to nothing stays a link.  ``rm -r`` lists without this (``_list_entries``): a
        link is removed, never gone through.  A followed link says so in its ``extra["link"]``
        (its target, if the listing gave one): ``xfer sync`` does not go through one.
        """
        return [_through_link(entry, self._stat(ftp, entry.path)) if entry.type == "link" else entry
                for entry in entries]

    def _info(self, path: str) -> Entry:
        def work(ftp: FTPSConnection) -> Entry:
            entry, stated = self._stat_answer(ftp, path)
            if entry is None:
                missing = RemoteNotFound(
                    f"{self.settings.server}: {path} does not exist", server=self.settings.server, path=path
                )
                missing.stated = stated
                raise missing
            return entry

        return self._run("reading information about", path, work)

    # -- transfers -----------------------------------------------------------------------------

    def _details(self, start: DataTally) -> dict[str, Any]:
        ftp = self._ftp
        return {"cipher": ftp.cipher if ftp else None, **self.data_connections.since(start)}

    def _get_file(
        self, remote: str, local: str, callback: ProgressCallback | None, *, sink: SinkFactory | None = None
    ) -> TransferResult:
        first = self.data_connections.tally()
        out = (sink or AtomicDownload)(local, callback=callback, throttle=self.settings.throttle,
                                       sha256=self.settings.sha256)

        def work(ftp: FTPSConnection) -> TransferResult:
            try:
                # SIZE, or MLST's size fact: a length the server vouches for on the control connection.
                expected = self._stored_size(ftp, remote)
            except ftplib.error_perm as exc:
                self._refuse_folder(ftp, remote, exc)
                raise
            # What the file is, so a part kept after a cut is continued only if it is unchanged.
            source = f"{self.settings.scheme}://{self.settings.server}{remote}"
            mdtm = self._mdtm(ftp, remote)
            facts = {"source": source, "size": expected, "mdtm": mdtm}
            offset, restart = self._resume_offset(ftp, out, facts)
            out.expected_size = expected  # before entering: the first progress report has the total
            out.hash_also(self._hash_command.algorithm if self._hash_command else None)
            with out:
                out.facts = facts
                try:
                    conn, announced = ftp.ntransfercmd(f"RETR {remote}")
                except ftplib.error_perm as exc:
                    self._refuse_folder(ftp, remote, exc)
                    raise
                if offset:
                    out.begin(offset)
                else:
                    out.start_over(restart)
                if out.expected_size is None and announced is not None and not offset:
                    out.expected_size = announced
                view = aligned_buffer(DOWNLOAD_FILL)  # see xfer/buffers.py
                reader = DataReader(conn)
                with conn, explained(ftp):
                    # Fill the reused buffer record by record (<= 16 KiB each): no allocation
                    # per read, one disk write per buffer.  Until 0: a short fill is the end,
                    # or bytes before a failure that the next call raises.
                    while filled := reader.fill(view):
                        if offset and out.expected_size is not None and out.written + filled > out.expected_size:
                            raise self._more_than_the_rest(out, offset, remote)
                        out.write(view[:filled])
                # 226 only after the server has sent everything; a 426 here (or a cut
                # stream) aborts the download and AtomicDownload removes the partial file.
                reader.finish(
                    ftp, None if out.expected_size is None else out.expected_size - offset,
                    server=self.settings.server, what=f"the download of {remote}",
                    consequence="the file may be truncated; nothing was saved",
                )
                # Before the rename: a mismatch leaves nothing under the local name.
                verified = self._verify(
                    ftp, remote, out.hash, out.written, what=f"the download of {remote}",
                    size_checked=out.expected_size is not None and out.written == out.expected_size,
                    consequence="nothing was saved",
                )
            return TransferResult(
                direction="get", local=local, remote=self.user_path(remote), size=out.written,
                elapsed=out.elapsed, sha256=out.sha256, details=self._details(first),
                protocol=self.settings.scheme, tls_version=ftp.tls_version, verified=verified,
                source_version=SourceVersion(modified=parse_mdtm(mdtm) if mdtm else None),
            )

        return self._run("downloading", remote, work)

    def _version_changed(self, path: str, entry: Entry, version: SourceVersion) -> str | None:
        """The download's MDTM against MDTM now: the time a listing shows may be LIST's (to the
        minute, in a zone guessed), which would call every file changed, or none."""
        if version.modified is None:
            return None
        remote = self.remote_path(path)
        said = self._run("reading information about", remote, lambda ftp: self._mdtm(ftp, remote))
        return version.changed(None, parse_mdtm(said) if said else None)

    def _mdtm(self, ftp: FTPSConnection, path: str) -> str | None:
        """The server's modification time of ``path`` as it says it (None without MDTM)."""
        if "MDTM" not in self._features:
            return None
        try:
            return expect_reply(ftp.sendcmd(f"MDTM {path}"), "213", "MDTM").split()[-1]
        except ftplib.error_perm:
            return None

    def _resume_offset(self, ftp: FTPSConnection, out: AtomicDownload, facts: dict[str, Any]) -> tuple[int, str]:
        """Where the RETR starts: the kept part's end if the file is unchanged (same size and MDTM)
        and ``REST`` is accepted (sent here, right before the RETR), else 0; and why not, for the
        warning.  Without MDTM a file replaced by another of the same size cannot be told from the
        part's (as SFTP needs its time too): the part is not continued onto what may be another file."""
        told = "size (SIZE)" if facts["size"] is None else "modification time (MDTM)"
        kept, why = out.resumable(
            facts, ("size", "mdtm"),
            unknown=f"the server does not tell the file's {told}, so the part kept earlier cannot be checked",
        )
        if not kept:
            return 0, why
        attempt = current_attempt()
        if attempt is not None and attempt.state.get(_REST_IGNORED):
            return 0, "the server sent the whole file after REST on the last try"
        try:
            ftp.restart_at(kept)
        except ftplib.error_perm:
            return 0, "the server does not continue downloads (REST refused)"
        return kept, ""

    def _more_than_the_rest(self, out: AtomicDownload, offset: int, remote: str) -> TransferCut:
        """A continued RETR brought more than the file's rest: the server answered ``350`` to
        ``REST`` and sent from byte 0 (or the file grew).  Read to the end, that was "incomplete:
        got 1300000 of 1000000 bytes ... the connection may have been cut", and no retry
        (review K-6).  Now the part is dropped: a server that ignores REST makes every continued
        try fail the same way, so the next try (or, without one, the next run: review N,
        finding 5) asks for the whole file."""
        out.begin(0)  # emptied: nothing is kept, here or for a later run
        attempt = current_attempt()
        if attempt is not None:
            attempt.state[_REST_IGNORED] = True
        return TransferCut(
            f"{self.settings.server} sent more than the rest of {remote} after REST {offset} (it ignores "
            "REST, or the file grew); the part kept earlier was dropped",
            hint="run the command again: the whole file is asked for", server=self.settings.server, path=remote,
        )

    def _refuse_folder(self, ftp: FTPSConnection, remote: str, exc: ftplib.Error) -> None:
        """After SIZE or RETR was refused: if ``remote`` is a folder, say so (not "does not exist").

        Servers refuse both on a folder with a 550 that often reads "not found" or "not a
        regular file"; only after the refusal is it worth asking what is there.
        """
        if self._kind(ftp, remote) == "directory":
            raise RemoteIsFolder(
                f"{self.settings.server}: {remote} is a folder", hint="pass recursive=True to download folders",
                cli_hint="use -r to copy a folder", server=self.settings.server, path=remote,
            ) from exc

    def _put_file(
        self, local: str, remote: str, callback: ProgressCallback | None, *, preserve_times: bool = False,
    ) -> TransferResult:
        self._refuse_backslash(remote, "upload to")
        handle, size = open_for_upload(local)
        source = SentFile.of(local, handle)
        first = self.data_connections.tally()
        folder = posixpath.dirname(remote)
        # A try after a cut continues the temporary file the earlier try left (see _resume_upload).
        attempt = current_attempt()
        key = f"put:{remote}"
        kept: str | None = attempt.state.get(key) if attempt is not None else None
        temp = kept or (install.temp_name(remote) if self._upload_temp_name else None)
        # The part holds the file as the cut try read it.  If the file opened now is another
        # version (rewritten meanwhile, perhaps at the same size), the two joined would be
        # neither, and only a server with HASH could see it (review 26, finding 4): the part is
        # written over from 0.  (It keeps its name: the retry loop removes it if no try installs it.)
        fresh = attempt is not None and kept is not None and attempt.state.get(f"{key}:local") != source.version
        if fresh:
            _retry_log.warning("%s: the local file changed since the earlier try; sending it again from 0",
                               posixpath.basename(local))
        target = temp or remote
        started = time.monotonic()
        verified = False
        checked: Check = "none"
        body: FileBody | None = None
        #: The server took the STOR and the data connection is open: ``target`` now
        #: holds (part of) our upload, and only then is removing it on failure ours to do.
        accepted = False

        def send(ftp: FTPSConnection) -> None:
            nonlocal verified, accepted, checked, body
            ignored = attempt is not None and bool(attempt.state.get(_REST_IGNORED))
            offset, command = (self._resume_upload(ftp, kept, size, source) if kept and not ignored and not fresh
                               else (0, "STOR"))
            if offset:
                conn, offset = self._continue_upload(ftp, target, offset, command)
            else:
                conn = self._store(ftp, target)
            accepted = True
            handle.seek(offset)

            def moved(done: int, total: int | None) -> None:
                if callback is not None:
                    callback(offset + done, size)

            with conn, explained(ftp):
                body = FileBody(
                    handle, size - offset, callback=moved, name=local, throttle=self.settings.throttle,
                    also=self._hash_command.algorithm if self._hash_command else None,
                    sha256=self.settings.sha256,
                )
                if offset:
                    body.skip(offset)  # the part the server has: into the hash, not sent again
                for chunk in body:
                    conn.sendall(chunk)
                confirmed = end_of_data(conn)
            verified = self._stored(ftp, target, remote, size, offset=offset)
            # On the name written, before any rename: a mismatch installs nothing (the
            # handler below removes ``target``).
            checked = self._verify(
                ftp, target, body.hash, size, what=f"the upload of {remote}", size_checked=verified,
                consequence="the upload was removed",
            )
            self._confirmed(remote, end=confirmed, checked=checked)

        try:
            with handle:
                self._run("uploading", remote if temp is None else f"{remote} (as {temp})", send, probe=folder)
        except BaseException:
            # A refused STOR created nothing, and (without a temp name) the file already
            # there is untouched: nothing to remove.  Once the STOR was accepted, ``target``
            # holds our partial upload: with a temp name that is all it is; without one the
            # STOR has already overwritten the old file, so the partial file is all that is
            # left and removing it keeps pick-up processes from taking half a file.
            if accepted and attempt is not None and temp is not None:
                # Under a retry: the next try continues the temporary file; the retry loop
                # removes it if none will.
                attempt.state[key] = temp
                attempt.state[f"{key}:local"] = source.version
                attempt.on_give_up(lambda: self._cleanup_part(attempt, target))
            elif accepted:
                self._cleanup(target)
            raise
        return self._installed(
            local, remote, temp, size=size, started=started, verified=verified, first=first,
            sha256=body.sha256 if body is not None else None, checked=checked,
        )

    def _store(self, ftp: FTPSConnection, target: str) -> socket.socket:
        """STOR ``target``: the open data connection; a missing folder is created first."""
        try:
            conn, _ = ftp.ntransfercmd(f"STOR {target}")
        except ftplib.error_perm:
            # vsftpd says "553 Could not create file." when the folder is missing: create
            # the missing folders and try once more (put into new folders, like HTTPS
            # and WebDAV).  If the folder exists, the refusal is about something else.
            if not self._make_parents(ftp, posixpath.dirname(target)):
                raise
            conn, _ = ftp.ntransfercmd(f"STOR {target}")
        return conn

    def _stored(self, ftp: FTPSConnection, target: str, remote: str, size: int, *, offset: int = 0) -> bool:
        """After the data connection of a STOR closed: the final reply, then the stored size
        against ``size`` (an IntegrityError if it differs).  True if the server confirmed it.

        ``offset``: where a continued upload's bytes went (``REST`` + ``STOR``, or ``APPE``).
        A part holding just the bytes sent after it shows a server that took ``REST`` and wrote
        from byte 0: that was blamed on a cut data connection on every try (review K-7); the
        next try in the run sends the whole file."""
        ftp.voidresp()
        stored = self._stored_size(ftp, target)
        if stored is None:
            return False
        if offset and stored == size - offset:
            attempt = current_attempt()
            if attempt is not None:
                attempt.state[_REST_IGNORED] = True
            raise TransferCut(
                f"{self.settings.server} stored {stored} bytes of {remote} after we continued it at byte "
                f"{offset}: it ignores REST before STOR and wrote our bytes from its start; the upload was "
                "not installed",
                hint="a retry in this run sends the whole file; run the command again",
            )
        if stored < size:
            # The server took a cut stream for the end (226): a resend can finish it.
            raise TransferCut(
                f"{self.settings.server} stored {stored} bytes of {remote}, we sent {size}: the data "
                "connection was cut; the upload was not installed",
                hint="run the command again",
            )
        if stored != size:
            raise IntegrityError(
                f"{self.settings.server} stored {stored} bytes of {remote}, we sent {size}; "
                "the upload was removed",
                hint="run the command again; check the server's disk space",
            )
        return True

    def _installed(
        self, local: str, remote: str, temp: str | None, *, size: int, started: float, verified: bool, first: DataTally,
        sha256: str | None, checked: Check,
    ) -> TransferResult:
        """Rename a complete, verified upload from ``temp`` into place (if any); its result."""
        attempt = current_attempt()
        details = self._details(first)
        tls_version = self._ftp.tls_version if self._ftp else None  # (a rename's lost answer drops it)
        if temp is not None:
            self._refuse_folder_in_the_way(remote, temp)
            looked: list[bool] = []
            try:
                left = install.install(self._install_site(), temp, remote, size, settled=lambda: looked.append(True))
            except Exception as exc:
                # Only the rename failed: the complete upload is kept and the error names what
                # is where (perhaps the old version moved aside).  Another try would change that
                # picture under the user's feet: the error is final, and the clean-up an earlier
                # try registered for this temporary name must not remove it (review U).
                if attempt is not None:
                    attempt.stop_retrying()
                    attempt.state.setdefault(_KEPT_FOR_USER, set()).add(temp)
                self._refuse_folder_target(remote, temp, exc)
                raise
            if left is not None:
                details["previous_version_left_at"] = self.user_path(left)
            if looked:
                details["rename_answer_lost"] = (
                    f"the connection broke before the server answered the rename; a fresh session found "
                    f"{self.user_path(temp)} gone and {self.user_path(remote)} holding the {size} bytes sent"
                )
        return TransferResult(
            direction="put", local=local, remote=self.user_path(remote), size=size,
            elapsed=time.monotonic() - started, details=details, protocol=self.settings.scheme,
            tls_version=tls_version, size_verified=verified,
            temp_name=posixpath.basename(temp) if temp is not None else None,
            sha256=sha256, verified=checked,
        )

    def _resume_upload(self, ftp: FTPSConnection, temp: str, size: int, source: SentFile) -> tuple[int, str]:
        """Where an upload into ``temp`` (left by a cut try) continues, and the command that continues it.

        ``SIZE`` of the part, then ``REST N`` + ``STOR``; a server that refuses REST before
        STOR gets ``APPE``.  A part that is missing or longer than the file starts over, and
        so does one whose hash (where the server hashes) is not that of the file's first bytes.
        """
        try:
            stored = self._size(ftp, temp)
        except ftplib.error_perm:
            stored = None
        if not stored or stored > size:
            return 0, "STOR"
        # The server's hash of the part (HASH, XSHA256...: the whole part is the range to prove).
        theirs = (self._server_hash(ftp, temp, stored, transient_raises=False)
                  if self._hash_command is not None else None)
        if not source.holds_prefix(theirs, stored, server=self.settings.server):
            return 0, "STOR"
        try:
            ftp.restart_at(stored)
        except ftplib.error_perm:
            return stored, "APPE"
        return stored, "STOR"

    def _continue_upload(self, ftp: FTPSConnection, target: str, offset: int, command: str) -> tuple[Any, int]:
        """The data connection that continues ``target`` at ``offset``, and that offset.

        Servers differ: proftpd takes ``REST`` and then refuses the ``STOR`` ("451 Append/Restart
        not permitted", ``AllowStoreRestart off``), others refuse ``REST`` before ``STOR`` but
        take ``APPE``.  Each refusal moves to the next way; the last is a plain ``STOR`` from 0.
        """
        if command == "STOR":
            try:
                conn, _ = ftp.ntransfercmd(f"STOR {target}")
                return conn, offset
            except ftplib.Error:
                pass  # REST was taken, the STOR after it was not: try APPE
        # A REST the refused STOR may have left: APPE needs none (pyftpdlib refuses APPE while
        # one waits), and the STOR from 0 below would write at its offset.
        with contextlib.suppress(ftplib.error_perm):
            ftp.forget_restart()  # (refused: APPE is tried all the same, as it was before the reset)
        try:
            conn, _ = ftp.ntransfercmd(f"APPE {target}")
            return conn, offset
        except ftplib.Error:
            if ftp.restart_pending:
                raise  # a STOR now would write at the offset: _run drops the session, a retry starts afresh
        conn, _ = ftp.ntransfercmd(f"STOR {target}")
        return conn, 0

    def _open_write(self, remote: str, callback: ProgressCallback | None) -> RemoteWriter:
        from .writer import FTPSWriter

        return FTPSWriter(self, remote, callback)

    def _stored_size(self, ftp: FTPSConnection, path: str) -> int | None:
        """The size the server reports for ``path``: SIZE, else MLST's size fact, else None.

        A SIZE refused in words that do not say the file is missing ("550 file too large for
        SIZE", proftpd's ``<Limit SIZE>``) leaves the size unknown, as on a server without SIZE:
        the RETR says whether the file is there, and close_notify proves the stream whole.  Before,
        that file could never be downloaded, and was reported as missing (review L, finding 1).
        """
        try:
            size = self._size(ftp, path)
        except ftplib.error_perm as exc:
            if says_not_found(str(exc), path):
                raise
            size = None
        if size is None and "MLST" in self._features:
            entry = self._mlst_or_none(ftp, path)
            size = entry.size if entry is not None and entry.type == "file" else None
        return size

    def _install_site(self) -> install.Site[FTPSConnection]:
        """This adapter as :mod:`.install` sees it."""
        return install.Site(
            server=self.settings.server,
            kind=self._kind,
            drop=self._drop,
            reopen=lambda: self._open(timeout=min(self.settings.timeout, install.RECOVERY_TIMEOUT)),
            translate=self._translate,
            run=lambda action, path, work: self._run(action, path, work, probe=posixpath.dirname(path)),
            size_at=self._size_at,
        )

    def _refuse_folder_in_the_way(self, remote: str, temp: str) -> None:
        """Before renaming the complete upload ``temp`` to ``remote``: if ``remote`` is a folder,
        remove the upload and say so.

        Some servers' RNTO replaces whatever is at the target, a folder and its files too (review 26,
        finding 1: ``put -r`` of a file named like a remote folder deleted the folder, exit 0); only
        asking first keeps the folder on every server.  That costs one look per upload (MLST, or
        CWD and SIZE): ``put_file`` and ``open_write`` do not know what the caller has listed.
        """
        try:
            kind = self._run("looking at", remote, lambda ftp: self._kind(ftp, remote),
                             probe=posixpath.dirname(remote))
        except XferError as exc:
            if own_failure(exc):
                # The server will not say (a drop box refusing SIZE, MDTM and LIST): the rename goes
                # as before this look, and a refused one still asks (_refuse_folder_target).
                # Removing the complete upload for it failed every put there (review H, session 26).
                _log.debug("%s: the server will not say what %s is (%s); renaming as before", self.settings.server,
                           remote, exc.message)
                return
            self._cleanup(temp)
            raise
        except Exception:
            self._cleanup(temp)
            raise
        if kind == "directory":
            self._cleanup(temp)
            raise self._folder_in_the_way(remote)

    def _folder_in_the_way(self, remote: str) -> RemoteIsFolder:
        """The error for an upload whose target is a folder (the upload has been removed)."""
        attempt = current_attempt()
        if attempt is not None:
            attempt.stop_retrying()  # another try finds the same folder
        return RemoteIsFolder(
            f"{self.settings.server}: {remote} is a folder; the upload was not stored",
            hint="name a file inside it (FOLDER/NAME)", server=self.settings.server, path=remote,
        )

    def _refuse_folder_target(self, remote: str, temp: str, exc: Exception) -> None:
        """After a refused rename: if ``remote`` is a folder, remove the upload and say so.

        Servers refuse RNTO onto a folder in their own words ("550 Is a directory", "File
        exists"); asked only after the refusal, so an upload costs no look beforehand.  The
        upload is removed: nothing can be installed under that name, and WebDAV and SFTP refuse
        the same write before a byte is sent.
        """
        if not isinstance(exc, RemoteError) or exc.reply_code is None:
            return  # no refusal: the session broke (what install() left where, the error says)
        try:
            in_the_way = self._kind(self._session(), remote) == "directory"
        except Exception:
            return  # the rename's own error says what happened
        if in_the_way:
            self._cleanup(temp)
            raise self._folder_in_the_way(remote) from exc

    def _cleanup_part(self, attempt: Attempt, path: str) -> None:
        """When the tries give up: remove the part a cut try left at ``path``, unless a later try
        completed the upload there and the final error names it as the user's (its rename failed)."""
        if path not in attempt.state.get(_KEPT_FOR_USER, ()):
            self._cleanup(path)

    def _size_at(self, ftp: FTPSConnection, path: str) -> int | None:
        """The size of the file at ``path``; None only where the server says nothing is there.  A look
        the server refuses, or that gives no size, raises (:attr:`.install.Site.size_at`)."""
        entry, stated = self._stat_answer(ftp, path, modified=False)
        if entry is None:
            if stated:
                return None
            raise RemoteError(f"{self.settings.server} does not say whether {path} is there",
                              server=self.settings.server, path=path)
        size = entry.size if entry.type == "file" else None
        if size is None and entry.type == "file":
            size = self._stored_size(ftp, path)
        if size is None:
            raise RemoteError(f"{self.settings.server} does not give the size of {path} (a {entry.type})",
                              server=self.settings.server, path=path)
        return size

    def _cleanup(self, path: str) -> None:
        """Best effort: remove a partial upload, on a fresh connection if the old one broke."""
        with contextlib.suppress(Exception):
            ftp = self._session()
            ftp.settimeout(QUIT_TIMEOUT)
            try:
                ftp.voidcmd(f"DELE {path}")
            finally:
                ftp.settimeout(self.settings.timeout)

    # -- folders and names ---------------------------------------------------------------------

    def _mkdir(self, path: str, parents: bool) -> None:
        self._refuse_backslash(path, "create")

        def work(ftp: FTPSConnection) -> None:
            kind = self._kind(ftp, path)
            if kind == "directory":
                return
            if not parents:
                ftp.voidcmd(f"MKD {path}")
                return
            # The usual case (put -r makes each folder after its parent): the parent is there,
            # and one look at it replaces a look at every level from the root.
            if kind is None and self._kind(ftp, posixpath.dirname(path)) == "directory":
                self._make_folder(ftp, path)
                return
            self._make_folders(ftp, path)

        self._run("creating the folder", path, work)

    def _make_folders(self, ftp: FTPSConnection, path: str) -> None:
        """MKD each missing level of ``path``.  A level that appears meanwhile (another
        client, a parallel upload of ours) is fine; a file in the way is not."""
        current = ""
        for part in [p for p in path.split("/") if p]:
            current = f"{current}/{part}"
            kind = self._kind(ftp, current)
            if kind == "directory":
                continue
            if kind is not None:
                raise RemoteExists(f"{self.settings.server}: {current} exists and is not a folder")
            self._make_folder(ftp, current)

    def _make_folder(self, ftp: FTPSConnection, path: str) -> None:
        """MKD ``path``, seen missing a moment ago; a folder made there meanwhile is fine."""
        try:
            ftp.voidcmd(f"MKD {path}")
        except ftplib.error_perm as exc:
            if self._kind(ftp, path) != "directory":
                raise self._translate(exc, "creating the folder", path) from exc

    def _make_parents(self, ftp: FTPSConnection, folder: str) -> bool:
        """Create ``folder`` for an upload if it is missing; False if it was there already."""
        kind = self._kind(ftp, folder)
        if kind == "directory":
            return False
        if kind is not None:
            raise RemoteExists(f"{self.settings.server}: {folder} is a file, not a folder to upload into")
        self._make_folders(ftp, folder)
        return True

    def _rm(self, path: str, recursive: bool) -> None:
        self._refuse_backslash(path, "remove")

        def work(ftp: FTPSConnection) -> None:
            # What is there is asked first, not inferred from a refused DELE: some servers
            # remove an (empty) folder on DELE, and without -r no folder may go.
            if self._kind(ftp, path) != "directory":
                ftp.voidcmd(f"DELE {path}")
                return
            link = self._listed_as_link(ftp, path)
            if link:
                # A link to a folder is removed as a link (as rm -r does), never walked into: CWD
                # and MLST follow it, and the tree removed would be its target's (review I).
                ftp.voidcmd(f"DELE {path}")
                return
            if not recursive:
                raise folder_needs_recursive(f"{self.settings.server}: {path} is a folder")
            if link is None:
                parent = posixpath.dirname(path.rstrip("/")) or "/"
                raise RemoteError(
                    f"{self.settings.server}: cannot tell whether {path} is a folder or a link to one: the listing "
                    f"of {parent} does not show it; nothing was removed (removing a link's folder would delete "
                    "the files of the folder it points to)",
                    hint="remove the folder's files by name with rm, or ask the partner to remove it",
                    server=self.settings.server, path=path,
                )
            self._remove_tree(ftp, path)

        self._run("removing", path, work)

    def is_link(self, path: str) -> bool | None:
        """What the parent's LIST says (MLSD and MLST follow links on pyftpdlib and pure-ftpd);
        None if it cannot tell (:meth:`_listed_as_link`)."""
        target = self.remote_path(path)
        return self._run("listing", target, lambda ftp: self._listed_as_link(ftp, target))

    def _listed_as_link(self, ftp: FTPSConnection, path: str) -> bool | None:
        """Whether ``path``'s folder lists it as a link; None if its listing cannot tell.

        LIST (``ls -l``'s ``l``), even where the server has MLSD: MLSD follows links on
        pyftpdlib and pure-ftpd (``type=dir``).  Sent from inside the folder, with no path (see
        :meth:`_list_entries`' ``here``), and again as ``LIST -a`` for a dot name plain LIST
        leaves out (vsftpd, pure-ftpd and ProFTPD show dot names so: measured on the bed).  A
        listing that fails (refused, cut short) or does not show the name (ProFTPD's
        ``ListOptions maxfiles`` cuts without a word) tells nothing: read as "no link", ``rm -r``
        walked into a link to a folder and deleted its target's files (review of 8ce053a,
        finding 1; of fe5f526, finding 3, for a dot-named link).
        """
        parent, name = posixpath.split(path.rstrip("/"))
        if not name:
            return False
        return self._listed_links(ftp, parent or "/", [name]).get(name)

    def _listed_links(self, ftp: FTPSConnection, folder: str, names: list[str]) -> dict[str, bool]:
        """Of ``names`` in ``folder``: which its LIST shows as links (True) and which not (False),
        each name the listing shows; a name missing from the result could not be told (see
        :meth:`_listed_as_link`).  One LIST, and a ``LIST -a`` if it leaves a dot name out."""
        try:
            ftp.sendcmd(f"CWD {folder}")
            try:
                listed = self._list_entries(ftp, folder, mlsd=False, here="LIST")
                if any(name.startswith(".") and not _named(listed, name) for name in names):
                    # Into the folder again: an empty LIST answered "No files found" is checked
                    # with CWD there and back, which left the session at / (review of 15ffd9e,
                    # finding 5: LIST -a listed / and a dot link's target was emptied).
                    ftp.sendcmd(f"CWD {folder}")
                    listed = self._list_entries(ftp, folder, mlsd=False, here="LIST -a")
            finally:
                with contextlib.suppress(ftplib.error_perm):
                    ftp.sendcmd("CWD /")
        except (ftplib.error_perm, XferError):
            return {}
        return {
            name: any(entry.type == "link" for entry in shown)
            for name in names if (shown := _named(listed, name))
        }

    def _remove_tree(self, ftp: FTPSConnection, top: str) -> None:
        """Remove ``top`` and everything in it: the whole tree is listed first, then removed
        (:class:`~xfer.adapters.tree.TreeWalk`: a cut or oversized listing, a name with a
        backslash or a tree deeper than its ``MAX_TREE_DEPTH`` stops it before anything is
        deleted).  A failure names the entry that failed, not ``top``.
        """
        walk = TreeWalk(top, server=self.settings.server)
        while (folder := walk.next_folder()) is not None:
            try:
                entries = self._list_entries(ftp, folder)
            except ftplib.error_perm as exc:
                raise self._refine(self._translate(exc, "listing", folder), exc, "listing", folder, folder) from exc
            for entry in entries:
                if "\\" in entry.name:
                    # Legal on a POSIX server, but a Windows server reads "..\\x" as a path that
                    # leaves the folder: never delete by such a name.
                    raise RemoteError(
                        f"{self.settings.server}: refusing to remove {entry.path!r}: its name holds a backslash",
                        hint="remove that file by hand (or rename it), then run rm -r again",
                    )
            walk.found(self._links_as_links(ftp, folder, entries))
        for path in walk.files:
            self._step(ftp, f"DELE {path}", "removing", path)
        for folder in walk.folders_bottom_up():
            self._step(ftp, f"RMD {folder}", "removing the folder", folder)

    def _links_as_links(self, ftp: FTPSConnection, folder: str, entries: list[Entry]) -> list[Entry]:
        """``folder``'s entries for ``rm -r``, each link to a folder marked as a link: removed as one,
        never walked into.

        MLSD follows links on pyftpdlib and pure-ftpd (``type=dir``): the walk went through a
        link below the top folder and deleted its target's files (review 26, finding 3).  So a
        folder MLSD shows is looked up in the folder's LIST (one per folder that has folders,
        :meth:`_listed_links`); one LIST does not show stops the removal before anything is deleted.
        A LIST listing already shows links as links.
        """
        folders = [entry.name for entry in entries if entry.type == "directory"]
        if not folders or "MLST" not in self._features:
            return entries
        links = self._listed_links(ftp, folder, folders)
        for name in folders:
            if name not in links:
                path = posixpath.join(folder, name)
                raise RemoteError(
                    f"{self.settings.server}: cannot tell whether {path} is a folder or a link to one: the listing "
                    f"of {folder} does not show it; nothing was removed (removing a link's folder would delete "
                    "the files of the folder it points to)",
                    hint="remove the folder's files by name with rm, or ask the partner to remove it",
                    server=self.settings.server, path=path,
                )
        return [dataclasses.replace(entry, type="link") if links.get(entry.name) else entry for entry in entries]

    def _step(self, ftp: FTPSConnection, command: str, action: str, path: str) -> None:
        """One command inside a larger operation; a refusal names ``path``, the entry it was about."""
        try:
            ftp.voidcmd(command)
        except (ftplib.error_perm, ftplib.error_temp) as exc:
            raise self._refine(self._translate(exc, action, path), exc, action, path, path) from exc

    def _rmdir(self, path: str) -> None:
        self._refuse_backslash(path, "remove")

        def remove(ftp: FTPSConnection) -> None:
            try:
                ftp.voidcmd(f"RMD {path}")
            except ftplib.error_perm as exc:
                # "550 Remove directory operation failed." (vsftpd) says nothing of why: a folder
                # that still lists entries is likely the ENOTEMPTY other servers name, but vsftpd
                # says the same for a parent it may not write (EACCES), so the error says so too.
                if is_ambiguous_550(str(exc), path):
                    entries = self._entry_count(ftp, path)
                    if entries:
                        raise RemoteFolderNotEmpty.refused(
                            said=f"(server said: {str(exc).strip()})", entries=entries,
                            server=self.settings.server, path=path, reply_code=550) from exc
                raise

        self._run("removing the folder", path, remove)

    def _entry_count(self, ftp: FTPSConnection, folder: str) -> int:
        """How many entries ``folder`` lists; 0 when it cannot be listed (the refusal stands)."""
        try:
            return len(self._list_entries(ftp, folder))
        except (ftplib.Error, OSError, EOFError, XferError):
            return 0

    def _mv(self, source: str, destination: str) -> None:
        """RNFR/RNTO, never onto a folder, and a folder never onto a file.

        POSIX ``rename`` (vsftpd, proftpd, pure-ftpd) replaces an *empty* folder and
        refuses the rest, but other servers delete whatever is at the target first.
        So the target is looked at before RNFR (nothing may come between RNFR and
        RNTO).  An existing *file* is replaced, as POSIX ``mv`` does.
        """
        server = self.settings.server
        self._refuse_backslash(source, "move")
        self._refuse_backslash(destination, "move to")

        def work(ftp: FTPSConnection) -> None:
            target = self._kind(ftp, destination)
            if target == "directory":
                raise RemoteIsFolder(
                    f"{server}: {destination} is a folder; xfer never replaces a folder",
                    hint=f"to move into it, name the target {destination.rstrip('/')}/",
                )
            if target is not None and self._kind(ftp, source) == "directory":
                raise RemoteExists(f"{server}: {destination} is a file; a folder never replaces a file")
            try:
                expect_reply(ftp.sendcmd(f"RNFR {source}"), "350", "RNFR")
            except ftplib.error_perm as exc:
                raise self._refine(self._translate(exc, "renaming", source), exc, "renaming", source, source) from exc
            try:
                ftp.voidcmd(f"RNTO {destination}")
            except ftplib.error_perm as exc:
                parent = posixpath.dirname(destination.rstrip("/")) or "/"
                if parent != "/" and self._kind(ftp, parent) is None:
                    # "550 ... No such file" names the destination, which is of course absent: the
                    # reason is its folder (review A; WebDAV words its 409 the same way).
                    raise folder_missing(server, parent, f"RNTO {destination}: {str(exc).strip()}",
                                         server=server, path=destination) from exc
                # The source is there (RNFR said so), and so is the destination's folder: never
                # "the destination does not exist", which is the point of a rename.  Not refined by
                # asking about the destination (that probe said just that: review L, finding 9).
                error = reply_error(str(exc), server=server, action=f"renaming {source} to", path=destination)
                if isinstance(error, RemoteNotFound) or type(error) is RemoteError:
                    error = RemoteError(
                        f"{server} refused renaming {source} to {destination} (server said: {str(exc).strip()})",
                        server=server, path=destination, reply_code=error.reply_code,
                    )
                raise error from exc

        self._run("renaming to", destination, work)

    # -- times -------------------------------------------------------------------------------

    @property
    def lists_dotfiles(self) -> bool:
        """MLSD shows every name (RFC 3659); LIST may not (vsftpd, pure-ftpd leave out dot names)."""
        return "MLST" in self._features

    @property
    def keeps_modified(self) -> bool:
        """Whether this connection can set a file's time: ``MFMT`` (draft-somers-ftp-mfxx) in FEAT,
        else ``SITE UTIME`` listed by ``SITE HELP`` (pure-ftpd, proftpd's mod_site_misc; asked once
        per connection, only where MFMT is missing).  vsftpd's ``MDTM time path`` is not used:
        other servers read it as a file name with a space."""
        if "MFMT" in self._features:
            return True
        return bool(self._run("asking for SITE commands", None, self._utime_forms))

    def _utime_forms(self, ftp: FTPSConnection) -> list[str]:
        """The ``SITE UTIME`` forms to try on this connection (empty: SITE HELP lists no UTIME)."""
        if self._site_utime is None:
            try:
                listed = ftp.sendcmd("SITE HELP")
            except ftplib.Error:
                listed = ""
            # One command a line (pure-ftpd, proftpd: " UTIME <sp> YYYYMMDDhhmm[ss] <sp> path"), or all
            # on one (vsftpd: "214 CHMOD UMASK HELP"); proftpd marks one it lacks "UTIME*".
            words = {word.upper() for line in listed.splitlines() for word in line.split()}
            # Both forms read the time as UTC: the five-argument one says so (proftpd, pure-ftpd),
            # and is tried first; the two-argument one (pure-ftpd, proftpd) is UTC on both.
            self._site_utime = list(_UTIME_FORMS) if "UTIME" in words else []
        return self._site_utime

    def _set_modified(self, path: str, modified: dt.datetime) -> None:
        self._refuse_backslash(path, "change the time of")
        if not self.keeps_modified:
            raise UnsupportedOperation(
                f"{self.settings.server} cannot set modification times (FEAT announces no MFMT, "
                "SITE HELP no UTIME)",
                hint="xfer sync then compares an uploaded file as unchanged while the server's copy is newer",
            )
        stamp = modified.strftime("%Y%m%d%H%M%S")
        if "MFMT" in self._features:
            self._run("setting the time of", path, lambda ftp: ftp.voidcmd(f"MFMT {stamp} {path}"))
            return
        self._run("setting the time of", path, lambda ftp: self._site_utime_of(ftp, path, stamp))

    def _site_utime_of(self, ftp: FTPSConnection, path: str, stamp: str) -> None:
        """``SITE UTIME`` in the first form this server takes, remembered for the connection.

        A reply saying the command is not understood in that form (500-504) tries the next; a
        refusal about the file (550) is raised.  No form taken: the connection has no SITE UTIME.
        """
        forms = self._utime_forms(ftp)
        if " ".join(path.split()) != path:
            # proftpd's mod_site_misc rebuilds the path from the whitespace-split arguments (one
            # space between words): "a  b.csv", a tab or a trailing space would set another file's time.
            _log.debug("SITE UTIME not sent for %r: the server would read the name with its spaces changed", path)
            raise UnsupportedOperation(
                f"{self.settings.server}: SITE UTIME cannot name {path} (runs of spaces, tabs or a space "
                "at the end are lost in its arguments)",
                hint="xfer sync then compares an uploaded file as unchanged while the server's copy is newer",
            )
        for form in list(forms):
            if form == "five" and " " in path:
                continue  # five arguments split on spaces: a name with one is misread
            line = f"SITE UTIME {path} {stamp} {stamp} {stamp} UTC" if form == "five" else f"SITE UTIME {stamp} {path}"
            try:
                ftp.voidcmd(line)
            except ftplib.error_perm as exc:
                if reply_code(str(exc)) not in ("500", "501", "502", "504"):
                    raise
                forms.remove(form)  # this server does not take that form: not asked again
                continue
            if forms[0] != form:
                forms.remove(form)
                forms.insert(0, form)
            return
        raise UnsupportedOperation(
            f"{self.settings.server} announces SITE UTIME but took neither of its forms for {path}",
            hint="xfer sync then compares an uploaded file as unchanged while the server's copy is newer",
        )

    # -- ranged reads (added for the fsspec filesystem) --------------------------------------

    def _read_range(self, path: str, start: int, length: int | None, version: str | None) -> bytes:
        """``REST start`` + ``RETR``; once ``length`` bytes are in, the data connection is closed.

        Every read opens its own data connection (a seek is a new ``REST``).  Closing it
        early makes the server end the transfer with 426 (aborted) or, if it had already
        sent everything, 226; either reply is read, so the dialogue stays in step.  ``ABOR``
        is not sent: it needs Telnet urgent data, which a TLS control connection cannot carry.

        A server that answers ``REST`` with 350 and then sends from byte 0 is caught where
        ``SIZE`` (asked after the read) shows more bytes came than the file holds from
        ``start``: every read to the end of the file (a Parquet footer).  A read from the middle
        brings the right count either way, so before the first one the server is asked for the
        file's last byte alone (:meth:`_honours_rest`), once per adapter.  Where that cannot tell
        (no SIZE, a SIZE refused, a file of one value, the probes used up), every read from the
        middle goes to the end and must bring what the file holds from ``start`` (its size from
        MLST or SIZE; none known: refused), never the file's first bytes (:meth:`_prove_start`).
        """

        def past_the_end(ftp: FTPSConnection) -> bool:
            size = self._size(ftp, path)
            return size is not None and start >= size

        if start and length is not None and self._rest_honoured is None and self._rest_probes_left:
            # On a session of its own: a probe whose end the server never confirmed drops it.  A
            # probe that refuses this read (it cannot tell, on this file) uses up no try: the next
            # read of it is refused again, never let through unchecked.
            self._rest_honoured = self._run("reading", path, lambda ftp: self._honours_rest(ftp, path))
            self._rest_probes_left -= 1

        # Where the probe has not shown that REST is honoured (no size to probe with, a SIZE
        # refused for this file, the probes used up), a read from the middle proves where it
        # started: it reads to the end, and the count must be what the file holds from ``start``.
        unproven = bool(start) and self._rest_honoured is not True

        def work(ftp: FTPSConnection) -> bytes:
            if start and self._rest_honoured is False:
                raise IntegrityError(
                    f"{self.settings.server} sends a file from its first byte after REST (asked for "
                    f"the last byte of {path} alone, it sent more): a read from byte {start} would "
                    "return the wrong bytes; nothing was read",
                    hint="the server accepts REST but ignores it; ranged reads (fsspec) need a "
                    "server that honours REST",
                )
            # Past the end there is nothing to read (b"", as HTTP's 416): some servers refuse
            # such a REST (vsftpd takes it), others the RETR after it (pyftpdlib: 554).
            try:
                if start:
                    ftp.restart_at(start)
                conn, announced = ftp.ntransfercmd(f"RETR {path}")
            except ftplib.error_perm:
                if start and past_the_end(ftp):
                    return b""
                raise
            reader = DataReader(conn)
            with conn, explained(ftp):
                body, complete = self._read_up_to(reader, None if unproven else length)
            if unproven:
                # Its count, checked against the file's size below, proves it complete; a server
                # silent after the transfer only costs the session, as after a cut read.
                self._end_cut_read(ftp)
                return bytes(body)
            if complete:
                # A stream that ended early must be proven complete, as for whole downloads.
                expected = announced - start if announced is not None else None
                reader.finish(
                    ftp, expected, server=self.settings.server, what=f"reading {path}",
                    consequence="the bytes read were discarded",
                )
            in_step = complete or self._end_cut_read(ftp)
            if start and in_step:
                # SIZE, not the 150's count: servers word that as the file's size or as what is
                # left of it.  (A session dropped after a cut read cannot be asked: unchecked; a
                # SIZE refused for a file just read - a 32-bit SIZE of a larger one - neither.)
                try:
                    size = self._size(ftp, path)
                except ftplib.error_perm:
                    size = None
                if size is not None and len(body) > max(size - start, 0):
                    raise IntegrityError(
                        f"{self.settings.server} sent {len(body)} bytes of {path} from byte {start} of "
                        f"{size}: it did not restart where REST asked; the bytes read were discarded",
                        hint="the server accepts REST but ignores it; ranged reads (fsspec) need a "
                        "server that honours REST",
                    )
            return bytes(body)

        data = self._run("reading", path, work)
        if not unproven:
            return data
        self._run("reading", path, lambda ftp: self._prove_start(ftp, path, start, len(data)))
        return data if length is None else data[:length]

    def _prove_start(self, ftp: FTPSConnection, path: str, start: int, count: int) -> None:
        """A read of ``path`` from ``start`` to its end brought ``count`` bytes: raise
        :class:`~xfer.errors.IntegrityError` unless that is what the file holds from ``start``
        (its size from MLST, else SIZE).  A file whose size the server does not give cannot
        prove it: refused too, never returned unchecked (it may be the file's first bytes)."""
        size: int | None = None
        with contextlib.suppress(ftplib.Error, XferError):
            entry = self._mlst_or_none(ftp, path)
            size = entry.size if entry is not None else None
        if size is None:
            with contextlib.suppress(ftplib.Error, XferError):
                size = self._size(ftp, path)
        hint = ("the server accepts REST but may ignore it; ranged reads (fsspec) from such a server need "
                "sizes (MLST or SIZE) to check them, or read the file whole (cat_file, get)")
        if size is None:
            raise IntegrityError(
                f"{self.settings.server} gives no size of {path}, and whether it honours REST is not "
                f"known: a read from byte {start} cannot be told from the file's first bytes; the bytes "
                "read were discarded",
                hint=hint,
            )
        if count != max(size - start, 0):
            raise IntegrityError(
                f"{self.settings.server} sent {count} bytes of {path} from byte {start} of {size}: it did "
                "not restart where REST asked (or the file changed meanwhile); the bytes read were discarded",
                hint=hint,
            )

    def _honours_rest(self, ftp: FTPSConnection, path: str) -> bool | None:
        """Whether the server starts a RETR where ``REST`` asked: ``REST size-1`` must bring the
        file's last byte alone.  A server that ignores it sends the file from its start: all
        ``size`` bytes then the end (a file up to :data:`_REST_PROBE_WINDOW`), or, of a larger
        one, its first bytes (compared with a read from 0, and only if they are not all one
        value).  Any other answer proves nothing (None): a SIZE that under-reports (a 32-bit
        one), a file written or shrunk meanwhile, no size, a file under two bytes, REST or RETR
        refused (the read itself then says so), nothing sent, a session that ended unconfirmed."""
        try:
            size = self._size(ftp, path)
        except (ftplib.Error, XferError):
            return None
        if size is None or size < 2:
            return None
        small = size <= _REST_PROBE_WINDOW
        tail = self._read_from(ftp, path, min(size, _REST_PROBE_WINDOW) + 1, at=size - 1)
        if not tail or not tail[0]:
            return None
        body, ended = tail
        if len(body) == 1:
            return True
        from_start = (len(body) == size and ended) if small else len(body) == _REST_PROBE_WINDOW + 1
        if not from_start:
            return None  # neither the last byte nor the file from its start: SIZE is wrong, or the file moved
        del body[_REST_PROBE_WINDOW:]
        try:
            if self._size(ftp, path) != size:
                return None
        except (ftplib.Error, XferError):
            return None
        if small:
            return False  # exactly the whole file, then its end
        uniform = body.count(body[0]) == len(body)
        from_zero = self._read_from(ftp, path, _REST_PROBE_SEARCH if uniform else _REST_PROBE_WINDOW)
        if from_zero is None:
            return None
        head, whole = from_zero
        if not uniform:
            return False if head == body else None
        # All one value (zero padding, a preallocated file): a tail looks like a head.  Where the
        # file first holds another byte, REST there tells: that byte, or the value again (from 0).
        other = next((at for at, byte in enumerate(head) if byte != body[0]), None)
        if other is None and whole:
            return None  # the whole file is one value: every range of it reads the same, right
        if other is None:
            raise IntegrityError(
                f"{self.settings.server} sent more than the last byte of {path} after REST, and its first "
                f"{len(head)} bytes are all one value: whether the server honours REST cannot be told; "
                "nothing was read",
                hint="read the file whole (cat_file, get); a server that honours REST and states true sizes "
                "(SIZE) lets reads start in the middle",
            )
        there = self._read_from(ftp, path, 1, at=other)
        if not there or not there[0]:
            return None
        return there[0][0] == head[other]

    def _read_from(self, ftp: FTPSConnection, path: str, limit: int, *, at: int = 0) -> tuple[bytearray, bool] | None:
        """Up to ``limit`` bytes of ``path`` from byte ``at`` (``REST`` first), and whether its stream
        ended; None where the server refused the REST or the RETR, or never confirmed the end of
        the transfer (the session is then dropped).  For the REST probe: a look, not a read (a
        data connection that cannot be opened is raised: the read would meet it too)."""
        try:
            if at:
                ftp.restart_at(at)
            conn, _ = ftp.ntransfercmd(f"RETR {path}")
        except ftplib.error_perm:
            return None
        reader = DataReader(conn)
        with conn, explained(ftp):
            body, ended = self._read_up_to(reader, limit)
        # The final reply (226, or 426 for the cut), as after any read cut short; silence drops the session.
        return (body, ended) if self._end_cut_read(ftp) else None

    @staticmethod
    def _read_up_to(reader: DataReader, length: int | None) -> tuple[bytearray, bool]:
        """Up to ``length`` bytes (None: all) from the data connection, and whether its stream ended.

        Through one reused buffer: a fresh zeroed 256 KiB buffer per 16 KiB record (as before)
        cost more CPU than decrypting the record.
        """
        body = bytearray()
        buffer = bytearray(DOWNLOAD_FILL if length is None else min(DOWNLOAD_FILL, length))
        view = memoryview(buffer)
        while length is None or len(body) < length:
            want = len(view) if length is None else min(len(view), length - len(body))
            count = reader.read_into(view[:want])
            if not count:
                return body, True
            body += view[:count]
        return body, False

    def _end_cut_read(self, ftp: FTPSConnection) -> bool:
        """After closing a RETR's data connection early: read the final reply (226 if everything
        had been sent, 426/451 for the cut), waiting briefly; True if it came.

        A server that sends none in that time (measured: pure-ftpd and proftpd, at times, after
        a read of part of a file) leaves the dialogue in an unknown state: the session is dropped
        (the next operation opens a new one), and the bytes read, which are all there, are kept.
        """
        try:
            ftp.settimeout(min(self.settings.timeout, QUIT_TIMEOUT))
            reply, skipped = ftp.getresp(), 0  # 226: everything had been sent already
            # A further 1xx after the 150 (RFC 959 allows more than one: "125 Transfer starting")
            # is not the final reply: taken for it, the 226/426 answered the next command.
            while reply[:1] == "1" and skipped < EXTRA_PRELIMINARY:
                reply, skipped = ftp.getresp(), skipped + 1
        except ftplib.error_temp:
            pass  # 426/451: the transfer was cut short, as intended
        except (OSError, EOFError, ftplib.Error):
            ftp.transfer_pending = False
            self._drop()
            return False
        ftp.transfer_pending = False
        ftp.settimeout(self.settings.timeout)
        return True


class ExplicitFTPSAdapter(FTPSAdapter):
    """``ftpes://``: plain TCP, then ``AUTH TLS`` before anything else (RFC 4217)."""

    implicit = False


class ImplicitFTPSAdapter(FTPSAdapter):
    """``ftps://``: TLS from the first byte (port 990), like HTTPS."""

    implicit = True


def _named(entries: list[Entry], name: str) -> list[Entry]:
    """The entries listed as ``name`` (with ``?`` for each control character, as vsftpd prints it)."""
    printed = CONTROL_CHARACTER.sub("?", name)
    return [entry for entry in entries if entry.name in (name, printed)]


def _through_link(link: Entry, target: Entry | None) -> Entry:
    """What ``link`` points to (``target``, as the server stated it) under the link's own name and
    path, marked ``extra["link"]``; the link itself when it points nowhere."""
    if target is None:
        return link
    return dataclasses.replace(target, name=link.name, path=link.path,
                               extra={**target.extra, "link": link.extra.get("target", "")})
