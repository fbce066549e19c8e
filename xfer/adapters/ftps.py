"""FTPS: explicit (``ftpes://``, AUTH TLS on port 21) and implicit (``ftps://``, port 990).

This is where Python FTP clients usually fail.  Stock :class:`ftplib.FTP_TLS` opens
every data connection with a *fresh* TLS session (CPython #63699), and vsftpd
(``require_ssl_reuse=YES``, its default), proftpd and FileZilla Server refuse that
with ``522``/``425``: they demand proof that the data connection comes from the
same client as the control connection.  :class:`FTPSConnection` wraps each data
socket with the control connection's session, and records whether the server
really resumed it, so ``--json`` can show it.

Security rules this module keeps, whatever the server says:

* TLS before anything else: implicit wraps the socket before the greeting is
  read; explicit sends ``AUTH TLS`` first and stops (no ``USER``, no password)
  if the server refuses.  ``PBSZ 0`` + ``PROT P`` always; refused -> stop.
  ``CCC`` (back to clear text) is never sent.
* Passive mode only, EPSV first, PASV as fallback, and the address in a PASV
  reply is ignored: the data connection goes to the control connection's peer,
  so a hostile or misconfigured server cannot point it elsewhere.  Active mode
  (PORT) would need the server to connect to us through firewalls and NAT; it is
  not offered.

What a server sends is checked, not trusted:

* The data connection's TLS handshake starts right after the transfer command,
  beside the wait for the ``150``: servers take it before or after that reply
  (RFC 4217 allows both), and waiting for the ``150`` first deadlocks with the
  ones that take it before.
* A data stream that ends without TLS close_notify is complete only if a length
  from the control connection (SIZE, MLST) proves it; otherwise it is an
  integrity error (exit 7), for files and listings alike.
* Listings are parsed as they arrive and read up to ``max_listing`` bytes; a
  reply on the control connection up to :data:`MAX_REPLY` characters.
* Only MLST's type fact or a successful CWD says "folder" (never SIZE), and
  nothing is renamed onto a folder, created or removed by a path with a backslash.
* The password is taken out of every reply as it is read: a server that echoes
  ``PASS ...`` cannot get it printed.

Keepalive: during a long transfer the FTP dialogue is idle.  Sending ``NOOP``
then is unsafe (vsftpd does not read the control connection until the transfer
ends, so replies arrive out of order and desynchronise the session), so the
control socket instead gets TCP keepalives every ``keepalive`` seconds, which
keep NAT and firewall state alive without touching the dialogue.  Between
operations, a control connection idle longer than ``keepalive`` is checked with
``NOOP`` and reopened if the server has dropped it.
"""

# S321 flags every ftplib call as "FTP is insecure".  Here ftplib only ever runs
# over TLS (the adapter refuses clear text before a byte of data or password moves).
# ruff: noqa: S321

from __future__ import annotations

import contextlib
import ftplib
import posixpath
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..errors import (
    ConnectionDropped,
    InsecureSchemeRefused,
    IntegrityError,
    Interrupted,
    ListingTooLarge,
    RemoteError,
    RemoteExists,
    RemoteIsFolder,
    RemoteNotFound,
    RemotePermissionDenied,
    ServerError,
    TLSError,
    UsageError,
    XferError,
    folder_needs_recursive,
)
from ..tls import translate_error
from ..transfer import UPLOAD_BLOCK, AtomicDownload, local_error, open_for_upload
from ._ftp_listing import parse_list_line, parse_mdtm, parse_mlsd_line, parse_mlst_line
from ._ftp_replies import (
    NOT_UNDERSTOOD,
    is_ambiguous_550,
    login_error,
    reply_code,
    reply_error,
    says_exists,
)
from .base import Adapter, Capability, ConnectionSettings, Entry, EntryType, ProgressCallback, TransferResult

__all__ = [
    "DataConnection",
    "ExplicitFTPSAdapter",
    "FTPSAdapter",
    "FTPSConnection",
    "ImplicitFTPSAdapter",
]

#: Bytes read from a TLS data connection before one write to disk.  Each ``recv_into``
#: returns at most one 16 KiB TLS record; filling a reused 256 KiB buffer first means one
#: disk write and one progress call per 16 records, and no allocation per record.
DOWNLOAD_FILL = 256 * 1024

#: Folders ``rm -r`` goes down before it stops: real trees are rarely 20 deep; a server
#: that lists a folder inside every folder is stopped long before anything runs out.
MAX_TREE_DEPTH = 64

#: Bytes read from a listing's data connection at a time.
LISTING_READ = 64 * 1024

#: How long ``close()`` waits for the answer to QUIT: a dead server must not hang us.
QUIT_TIMEOUT = 3.0

#: How long a fresh session may take to put an upload's displaced old version back after
#: the first session broke: the user is waiting (maybe after Ctrl-C), so not the full timeout.
RECOVERY_TIMEOUT = 10.0

#: What a secret in a server's reply is replaced with.
REDACTED = "********"

#: Characters of one control-connection reply (all its lines) read before giving up on it.
MAX_REPLY = 1 << 20

_T = TypeVar("_T")


class _DataHandshake:
    """The TLS handshake of one data connection, run in a thread beside the control dialogue.

    See :meth:`FTPSConnection.ntransfercmd` for why.  The handshake resumes the control
    connection's ``session`` (vsftpd and proftpd refuse a data connection that does not)
    and checks the server's certificate and host name like the control connection.
    """

    def __init__(
        self, context: ssl.SSLContext, raw: socket.socket, *, server_hostname: str, session: ssl.SSLSession | None
    ) -> None:
        self._context = context
        self._raw = raw
        # A second handle on the same TCP connection: wrap_socket takes over (and on
        # failure closes) ``raw``'s descriptor in the other thread, so ``abort`` shuts
        # the connection down through this one, which stays valid until ``_release``.
        self._handle: socket.socket | None = raw.dup()
        self._server_hostname = server_hostname
        self._session = session
        self.conn: ssl.SSLSocket | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="xfer-ftps-data-tls", daemon=True)
        self._started = False

    def start(self) -> None:
        self._started = True
        self._thread.start()

    def _run(self) -> None:
        try:
            self.conn = self._context.wrap_socket(
                self._raw, server_hostname=self._server_hostname, session=self._session
            )
        except BaseException as exc:  # handed to the waiting thread, which raises it
            self.error = exc

    def wait(self, timeout: float) -> ssl.SSLSocket:
        """The TLS data socket once the handshake is done; raises what the handshake raised."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.abort()
            raise TimeoutError("the TLS handshake of the data connection did not finish")
        self._release()
        if self.error is not None:
            raise self.error
        assert self.conn is not None
        return self.conn

    def abort(self) -> None:
        """Stop the handshake (the server refused the command, or we give up), close everything.

        Idempotent.  Shutting the TCP connection down wakes the thread at once.
        """
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.shutdown(socket.SHUT_RDWR)
        if self._started:
            self._thread.join(5.0)
        self._release()
        for sock in (self.conn, self._raw):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    def _release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()


@dataclass(frozen=True)
class DataConnection:
    """One TLS data connection: which command, whether the session was resumed, which TLS."""

    command: str
    resumed: bool
    tls_version: str | None


class _DataReader:
    """Reads a TLS data connection and remembers how it ended.

    With ``suppress_ragged_eofs`` off (see :mod:`xfer.tls`), a stream cut by a TCP FIN
    without close_notify raises :class:`ssl.SSLEOFError`; here that reads as the end,
    with :attr:`ragged` set, so the caller can decide whether a known length proves
    the data complete (:meth:`FTPSAdapter._finish`).
    """

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self.received = 0
        self.ragged = False

    def read_into(self, view: memoryview) -> int:
        """Like ``recv_into``; 0 at the end, clean or not."""
        if self.ragged:
            return 0
        try:
            count = self._conn.recv_into(view)
        except ssl.SSLEOFError:
            self.ragged = True
            return 0
        self.received += count
        return count


class FTPSConnection(ftplib.FTP_TLS):
    """:class:`ftplib.FTP_TLS` with the fixes FTPS needs in the real world.

    * ``implicit=True``: the socket is wrapped in TLS before the greeting is read.
    * every data connection resumes the control connection's TLS session and is
      checked against the server's host name (``server_hostname``);
    * passive only: EPSV, then PASV; the host in a PASV reply is never used.

    Failures surface as ftplib/ssl/OS exceptions; :class:`FTPSAdapter` translates them.
    """

    # ftplib's own switch for "do not trust the PASV host"; we never read it, but a
    # subclass of ours must not flip it back on by accident.
    trust_server_pasv_ipv4_address = False

    def __init__(
        self,
        *,
        context: ssl.SSLContext,
        implicit: bool,
        timeout: float,
        epsv: bool = True,
        keepalive: float = 60.0,
    ) -> None:
        super().__init__(context=context, timeout=timeout)
        self.implicit = implicit
        self.use_epsv = epsv
        self.keepalive = keepalive
        self.data_connections: list[DataConnection] = []
        #: Strings never to be shown: taken out of every reply (see :meth:`getmultiline`).
        self.secrets: tuple[str, ...] = ()
        #: True from a transfer's 1xx until its final reply (226/426...) has been read.
        #: While True, the next reply on the control connection belongs to the transfer,
        #: not to whatever command comes next: a session abandoned in that state must be
        #: closed, never reused.
        self.transfer_pending = False

    # -- control connection --------------------------------------------------------

    def connect(
        self,
        host: str = "",
        port: int = 0,
        timeout: float = -999,
        source_address: tuple[str, int] | None = None,
    ) -> str:
        """Open the control connection; with ``implicit``, TLS comes before the greeting."""
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((host, port), self.timeout, source_address=source_address)
        self._set_keepalive(raw)
        sock: socket.socket = raw
        if self.implicit:
            try:
                sock = self.context.wrap_socket(raw, server_hostname=host)
            except BaseException:
                raw.close()
                raise
        self.af = sock.family
        self.sock = sock
        self.file = sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def _set_keepalive(self, sock: socket.socket) -> None:
        """TCP keepalives on the control socket: NAT state survives long, silent transfers."""
        if self.keepalive <= 0:
            return
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            idle = max(1, int(self.keepalive))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, idle)

    def start_tls(self) -> str:
        """Explicit FTPS: ``AUTH TLS`` and the handshake.  Any refusal raises ftplib.Error."""
        resp = self.sendcmd("AUTH TLS")
        # RFC 4217: only 234 means "go ahead with TLS"; 334 would ask for ADAT (GSSAPI).
        if reply_code(resp) != "234":
            raise ftplib.error_reply(resp)
        self.sock = self.context.wrap_socket(self._control(), server_hostname=self.host)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        return resp

    def auth(self) -> str:
        """``AUTH TLS`` and the handshake, via :meth:`start_tls` (so only a 234 is accepted).

        ftplib's ``login()`` calls this when the control connection is not TLS yet.  The
        adapter runs :meth:`start_tls` itself before ``login()``, so normally it is never
        reached; if it is, it secures the connection before USER/PASS exactly as
        :meth:`start_tls` does.  On a connection that is already TLS it refuses, as ftplib does.
        """
        if isinstance(self.sock, ssl.SSLSocket):
            raise ValueError("already using TLS")
        return self.start_tls()

    def ccc(self) -> str:
        """Refused: CCC would switch the control connection back to clear text."""
        raise InsecureSchemeRefused("CCC (clear command channel) is never sent by xfer")

    @property
    def tls_version(self) -> str | None:
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    @property
    def cipher(self) -> str | None:
        if isinstance(self.sock, ssl.SSLSocket):
            found = self.sock.cipher()
            return found[0] if found else None
        return None

    # -- data connections --------------------------------------------------------------

    def makepasv(self) -> tuple[str, int]:
        """Passive address: always the control connection's peer, with the server's port.

        EPSV (RFC 2428) carries only a port.  PASV carries an address too, which we
        ignore: servers behind NAT often announce a private address, and a hostile
        one could aim our data connection (with our TLS session) at a third party.
        """
        peer = self._control().getpeername()[0]
        if self.use_epsv:
            try:
                resp = self.sendcmd("EPSV")
            except ftplib.error_perm as exc:
                # 500/502/504: EPSV unknown; 501/522: the server dislikes it for this
                # address family.  Either way PASV may still work, and we remember.
                if reply_code(str(exc)) not in (*NOT_UNDERSTOOD, "501", "522"):
                    raise
                self.use_epsv = False
            else:
                _host, port = ftplib.parse229(resp, self._control().getpeername())
                return peer, port
        resp = self.sendcmd("PASV")
        _ignored_host, port = ftplib.parse227(resp)
        return peer, port

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        """Open a TLS data connection for ``cmd``, resuming the control session.

        RFC 4217 lets a server take the data connection's TLS handshake before or after
        its ``150``: vsftpd and proftpd send ``150`` first; a widely used Node.js server
        withholds it until the client's handshake is done.  ftplib waits for the ``150``
        before starting the handshake, which deadlocks with the second kind until the
        server gives up (``425``).  So the handshake runs in its own thread, started
        right after the command is sent, while this thread reads the reply: every order
        works.  Not before the command: vsftpd accepts the data connection only once it
        has the command, and a server refusing the command (``550``) never handshakes.

        ``rest`` is in the signature only because ftplib's is: xfer never resumes a
        transfer (REST), and a caller asking for it gets ``NotImplementedError``.
        From the server's 1xx on, :attr:`transfer_pending` is True until the final
        reply is read (:meth:`voidresp` or :meth:`explain_failure`).
        """
        if rest is not None:
            raise NotImplementedError("xfer does not resume transfers (REST)")
        if not isinstance(self.sock, ssl.SSLSocket):
            raise InsecureSchemeRefused("refusing a data connection on a clear-text control connection")
        host, port = self.makepasv()
        raw = socket.create_connection((host, port), self.timeout, source_address=self.source_address)
        handshake = _DataHandshake(self.context, raw, server_hostname=self.host, session=self.sock.session)
        try:
            self.putcmd(cmd)
            handshake.start()
            try:
                resp = self.getresp()
                # As in ftplib: some servers send a stray 2xx *before* the 1xx, which RFC 959
                # does not allow (only 1xx or an error may answer a transfer command).  It is
                # skipped, and the next reply must be the 1xx.
                if resp[0] == "2":
                    resp = self.getresp()
                if resp[0] != "1":
                    raise ftplib.error_reply(resp)
            except ftplib.Error as refused:
                # The server refused the command: it will never take the handshake.  A
                # handshake that had already failed is part of the story; one that fails
                # because it is aborted here is not.
                failed = handshake.error
                handshake.abort()
                if failed is not None:
                    raise refused from failed
                raise
            self.transfer_pending = True
            try:
                conn = handshake.wait(max(self.timeout or 0.0, 1.0) * 2)
            except (ssl.SSLError, OSError) as exc:
                # vsftpd/proftpd close the data connection and *explain on the control
                # connection* (522 "session reuse required").  That reply is the real
                # reason: fetch it and raise it, chained to the TLS failure.
                self.explain_failure(exc)
                raise
        except BaseException:
            handshake.abort()
            raise
        self.data_connections.append(
            DataConnection(
                command=cmd.split(" ", 1)[0], resumed=bool(conn.session_reused), tls_version=conn.version()
            )
        )
        size = ftplib.parse150(resp) if resp.startswith("150") else None
        return conn, size

    def getmultiline(self) -> str:
        """One reply, multi-line ones joined; at most :data:`MAX_REPLY` characters; no secrets.

        ftplib's own loop reads continuation lines until the closing line comes, with
        no limit: a server that never sends it would fill the memory.

        Some servers echo the command they refuse (``530 ... PASS s3cret``), and every
        reply text can reach an error message, a hint, a log or a chained exception.
        So the :attr:`secrets` are taken out here, as the reply is read, before anything
        can quote it.
        """
        return self._redact(self._read_reply())

    def _redact(self, reply: str) -> str:
        for secret in self.secrets:
            # As a token only (not inside a longer word), so that a short password does
            # not garble the reply; an echo is always set off by spaces or punctuation.
            reply = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", REDACTED, reply)
        return reply

    def _read_reply(self) -> str:
        line = self.getline()
        if line[3:4] != "-":
            return line
        code = line[:3]
        lines = [line]
        size = len(line)
        while True:
            nextline = self.getline()
            size += len(nextline) + 1
            if size > MAX_REPLY:
                # No code in front: the dialogue is out of step now, and must be dropped.
                raise ftplib.error_proto(f"a {code} reply longer than {MAX_REPLY} characters")
            lines.append(nextline)
            if nextline[:3] == code and nextline[3:4] != "-":
                return "\n".join(lines)

    def explain_failure(self, cause: BaseException) -> None:
        """After a data connection broke, raise the server's reply that says why, if any.

        Servers close the data connection first and explain on the control connection
        (426 "No space left on device", 522 "session reuse required"...).  That reply
        is what the user needs; it is raised chained to ``cause``.  Returns if none came.
        """
        try:
            self._control().settimeout(min(self.timeout or 5.0, 5.0))
            resp = self.getresp()
        except ftplib.Error as reply:
            self.transfer_pending = False
            raise reply from cause
        except (OSError, EOFError):
            return
        finally:
            with contextlib.suppress(OSError):
                self._control().settimeout(self.timeout)
        self.transfer_pending = False
        raise ftplib.error_reply(resp) from cause

    def voidresp(self) -> str:
        """Read a reply, which must be 2xx (ftplib's), and note that no transfer is pending.

        Only a reply actually read clears :attr:`transfer_pending`: after a timeout or
        an interruption the transfer's final reply may still be on its way.
        """
        try:
            resp = self.getresp()
        except ftplib.Error:
            self.transfer_pending = False
            raise
        self.transfer_pending = False
        if resp[:1] != "2":
            raise ftplib.error_reply(resp)
        return resp

    def _control(self) -> socket.socket:
        if self.sock is None:
            raise ConnectionDropped(f"the control connection to {self.host} is closed")
        return self.sock

    def settimeout(self, seconds: float) -> None:
        """Set the control connection's timeout (QUIT and cleanup use a short one)."""
        if self.sock is not None:
            self.sock.settimeout(seconds)

    def quit_quietly(self) -> None:
        """QUIT, waiting at most :data:`QUIT_TIMEOUT` for the answer, then close.  Never raises."""
        try:
            if self.sock is not None:
                self.sock.settimeout(QUIT_TIMEOUT)
                self.sendcmd("QUIT")
        except Exception:  # noqa: S110 - the session ends either way; closing is what matters
            pass
        finally:
            with contextlib.suppress(Exception):
                self.close()


class FTPSAdapter(Adapter):
    """FTPS adapter (see the module docstring).  Use :class:`ExplicitFTPSAdapter` or
    :class:`ImplicitFTPSAdapter`; the registry maps ``ftpes://`` and ``ftps://`` to them.

    Options (``settings.options``, the profile's ``[ftps]`` table):

    ``epsv`` (bool, True)
        try EPSV before PASV.
    ``upload_temp_name`` (bool, True)
        upload as ``.NAME.RANDOM.xfer-part`` in the target folder, then RNFR/RNTO,
        so pick-up processes never see half a file.
    ``keepalive`` (float, 60.0)
        seconds: TCP keepalive interval of the control connection, and the idle time
        after which the connection is checked with NOOP before it is reused (0 = off).

    The control connection opens in the constructor (so a bad certificate or
    password fails at ``connect()``), is reused for every operation, and is reopened
    once if the server dropped it between operations.
    """

    implicit: ClassVar[bool] = False
    capabilities = frozenset(Capability)

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        options = settings.options
        self._epsv = bool(options.get("epsv", True))
        self._upload_temp_name = bool(options.get("upload_temp_name", True))
        self._keepalive = float(options.get("keepalive", 60.0))
        self._ftp: FTPSConnection | None = None
        self._features: frozenset[str] = frozenset()
        self._last_used = 0.0
        #: Every data connection of this session, in order (for reports and tests).
        self.data_connections: list[DataConnection] = []
        self._session()

    # -- lifecycle ---------------------------------------------------------------------

    def _close(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            ftp.quit_quietly()

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
            ftp.login(user, password or "")
        except ftplib.Error as exc:
            raise login_error(str(exc), server=self.settings.server, username=user) from exc

    def _protect(self, ftp: FTPSConnection) -> None:
        try:
            ftp.voidcmd("PBSZ 0")
            ftp.voidcmd("PROT P")
        except ftplib.Error as exc:
            raise InsecureSchemeRefused(
                f"{self.settings.server} refused to encrypt data connections (PROT P: "
                f"{str(exc).strip()}); xfer never transfers files in clear text",
                hint="ask the partner to allow PROT P (TLS on the data connection)",
            ) from exc

    @staticmethod
    def _feat(ftp: FTPSConnection) -> frozenset[str]:
        try:
            resp = ftp.sendcmd("FEAT")
        except ftplib.Error:
            return frozenset()
        features = set()
        for line in resp.splitlines()[1:-1]:
            words = line.strip().split(" ", 1)
            if words and words[0]:
                features.add(words[0].upper())
        return frozenset(features)

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
            # which is how vsftpd reports its own failures ("500 OOPS: ...").
            return ServerError(
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
            if ftp.transfer_pending or _breaks_session(exc):
                self._drop()
            if isinstance(exc, XferError):
                shown = self._shown(exc, path=path)
                if shown is exc:
                    raise
                raise shown from exc
            if not isinstance(exc, ftplib.Error | OSError | EOFError | ValueError):
                raise
            error = self._translate(exc, action, path)
            if isinstance(exc, ftplib.Error):
                error = self._refine(error, exc, action, path, probe or path)
            raise self._shown(error, path=path) from exc
        self._last_used = time.monotonic()
        return result

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
        if probe is None or not is_ambiguous_550(str(exc)) or ftp is None:
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
        """Facts about ``path``, or None if nothing is there.  Changes nothing on the server.

        MLST where the server has it.  Otherwise CWD for folders (never SIZE: see below),
        then SIZE for files, then MDTM for a file's time if ``modified`` (or to learn
        whether the file exists, without SIZE), and without either the parent's listing.  CWD moves the
        session's working directory; no command of ours depends on it (every path sent
        is absolute), and it is moved back to ``/`` at once so that the session never
        sits inside a folder that ``rm -r`` is about to remove (some servers refuse to
        remove the current directory).
        """
        name = posixpath.basename(path)
        if path == "/":
            return Entry(name="", path="/", type="directory")
        if "MLST" in self._features:
            return self._mlst_or_none(ftp, path)
        # Only MLST's type fact or a successful CWD says "folder": some servers answer
        # SIZE on a folder with the directory inode's size (213 4096), which made a folder
        # look like a file (listed as one, DELE'd by rm -r).  So CWD first, SIZE after.
        try:
            ftp.sendcmd(f"CWD {path}")
        except ftplib.error_perm:
            pass
        else:
            with contextlib.suppress(ftplib.error_perm):
                ftp.sendcmd("CWD /")
            return Entry(name=name, path=path, type="directory")
        try:
            size = self._size(ftp, path)
        except ftplib.error_perm:
            return None  # SIZE answers for files; not a folder, not a file: nothing there
        stamp = None
        if modified or size is None:
            try:
                stamp = parse_mdtm(ftp.sendcmd(f"MDTM {path}"))
            except ftplib.error_perm as exc:
                if size is None and reply_code(str(exc)) in NOT_UNDERSTOOD:
                    # Neither SIZE nor MDTM: only the parent's listing can tell.
                    return self._listed(ftp, path)
                if size is None:
                    return None  # no SIZE, and MDTM says there is no such file
        return Entry(name=name, path=path, type="file", size=size, modified=stamp)

    def _listed(self, ftp: FTPSConnection, path: str) -> Entry | None:
        """``path``'s entry in its parent's listing, or None (the last resort of :meth:`_stat`)."""
        parent, name = posixpath.split(path)
        for entry in self._list_entries(ftp, parent or "/"):
            if entry.name == name:
                return entry
        return None

    @staticmethod
    def _mlst_or_none(ftp: FTPSConnection, path: str) -> Entry | None:
        """MLST ``path``: its entry, or None if the server says there is none."""
        try:
            resp = ftp.sendcmd(f"MLST {path}")
        except ftplib.error_perm as exc:
            if reply_code(str(exc)) in NOT_UNDERSTOOD:
                raise
            return None
        for line in resp.splitlines()[1:]:
            if line.startswith(" "):
                entry = parse_mlst_line(line, path)
                if entry is not None:
                    return entry
        return None

    def _size(self, ftp: FTPSConnection, path: str) -> int | None:
        """The server's size of ``path``, or None if it cannot tell (no SIZE support)."""
        try:
            return int(ftp.sendcmd(f"SIZE {path}").split()[-1])
        except ftplib.error_perm as exc:
            if reply_code(str(exc)) in NOT_UNDERSTOOD:
                return None
            raise
        except ValueError:
            return None

    # -- listing ---------------------------------------------------------------------------------

    def _list_entries(self, ftp: FTPSConnection, folder: str) -> list[Entry]:
        """The entries of ``folder``: MLSD if the server has it, else LIST, parsed.

        The parsers drop ``.``, ``..`` and every name that is not one plain path
        component, so each entry returned lies directly inside ``folder``: a hostile
        listing cannot steer ``rm -r`` (or a recursive get) anywhere else.

        Lines are parsed as they arrive, and the listing is read only up to
        ``max_listing`` bytes (:class:`ListingTooLarge` beyond): a server cannot make
        xfer hold an endless listing.  A listing that ends without TLS close_notify
        has no length to prove it complete, so it is an :class:`IntegrityError`: a
        silently short listing would make ``get -r`` fetch part of a folder, exit 0.
        """
        mlsd = "MLST" in self._features
        parse = parse_mlsd_line if mlsd else parse_list_line
        conn, _size = ftp.ntransfercmd(f"{'MLSD' if mlsd else 'LIST'} {folder}")
        reader = _DataReader(conn)
        entries: list[Entry] = []
        with conn, _explained(ftp):
            for line in self._listing_lines(reader, folder, ftp.encoding):
                entry = parse(line, folder)
                if entry is not None:
                    entries.append(entry)
        self._finish(ftp, reader, None, f"the listing of {folder}", "it may be incomplete; nothing was done with it")
        return entries

    def _listing_lines(self, reader: _DataReader, folder: str, encoding: str) -> Iterator[str]:
        """The lines of a listing as they arrive, ``\r\n`` or ``\n`` ended; at most ``max_listing`` bytes."""
        limit = self.settings.max_listing
        buffer = bytearray(LISTING_READ)
        view = memoryview(buffer)
        pending = bytearray()
        while count := reader.read_into(view):
            if reader.received > limit:
                mib = f"{limit / 2**20:g}"
                raise ListingTooLarge(
                    f"{self.settings.server}: the listing of {folder} is larger than {mib} MiB; "
                    "xfer stopped reading it",
                    hint=f"if the folder really is that large, raise --max-listing (now {mib} MiB)",
                )
            pending += view[:count]
            start = 0
            while (end := pending.find(b"\n", start)) >= 0:
                yield pending[start:end].decode(encoding, "surrogateescape").rstrip("\r")
                start = end + 1
            del pending[:start]
        if pending:
            yield pending.decode(encoding, "surrogateescape").rstrip("\r")

    def _finish(
        self, ftp: FTPSConnection, reader: _DataReader, expected: int | None, what: str, consequence: str
    ) -> None:
        """After a data stream ended: read the transfer's final reply, or refuse a cut stream.

        A stream that ended without TLS close_notify (a TCP FIN, forged or from a cut
        connection) is complete only if a length the server gave on the control
        connection (SIZE, MLST, the 150's "(n bytes)") says so.  Otherwise it is an
        :class:`IntegrityError`, whatever the final reply says; a failure reply
        (426...) is the better reason and is raised instead.
        """
        if not reader.ragged or (expected is not None and reader.received == expected):
            ftp.voidresp()
            return
        with contextlib.suppress(OSError, EOFError):
            ftp.voidresp()
        raise IntegrityError(
            f"{self.settings.server}: {what} ended after {reader.received} bytes without TLS "
            f"close_notify, and no size proves it complete; {consequence}",
            hint="the connection was cut (or the cut was forged); run the command again",
        )

    def _ls(self, path: str) -> list[Entry]:
        def work(ftp: FTPSConnection) -> list[Entry]:
            if "MLST" in self._features:
                try:
                    return self._list_entries(ftp, path)
                except ftplib.error_perm:
                    # MLSD lists folders only; for a file, answer with its own entry.
                    entry = self._mlst_or_none(ftp, path)
                    if entry is not None and entry.type != "directory":
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
            return self._list_entries(ftp, path)

        return self._run("listing", path, work)

    def _info(self, path: str) -> Entry:
        def work(ftp: FTPSConnection) -> Entry:
            entry = self._stat(ftp, path)
            if entry is None:
                raise RemoteNotFound(
                    f"{self.settings.server}: {path} does not exist", server=self.settings.server, path=path
                )
            return entry

        return self._run("reading information about", path, work)

    # -- transfers -----------------------------------------------------------------------------

    def _details(self, first_data: int) -> dict[str, Any]:
        mine = self.data_connections[first_data:]
        ftp = self._ftp
        return {
            "cipher": ftp.cipher if ftp else None,
            "data_connections": len(mine),
            "data_sessions_resumed": sum(1 for d in mine if d.resumed),
            "data_tls_versions": sorted({d.tls_version for d in mine if d.tls_version}),
        }

    def _get_file(self, remote: str, local: str, callback: ProgressCallback | None) -> TransferResult:
        first = len(self.data_connections)

        def work(ftp: FTPSConnection) -> TransferResult:
            try:
                # SIZE, or MLST's size fact: a length the server vouches for on the control connection.
                expected = self._stored_size(ftp, remote)
            except ftplib.error_perm as exc:
                self._refuse_folder(ftp, remote, exc)
                raise
            with AtomicDownload(local, expected_size=expected, callback=callback) as out:
                try:
                    conn, announced = ftp.ntransfercmd(f"RETR {remote}")
                except ftplib.error_perm as exc:
                    self._refuse_folder(ftp, remote, exc)
                    raise
                if out.expected_size is None and announced is not None:
                    out.expected_size = announced
                buffer = bytearray(DOWNLOAD_FILL)
                view = memoryview(buffer)
                reader = _DataReader(conn)
                with conn, _explained(ftp):
                    while True:
                        filled = 0
                        # Fill the reused buffer record by record (<= 16 KiB each): no
                        # allocation per read, one disk write per buffer.
                        while filled < DOWNLOAD_FILL:
                            count = reader.read_into(view[filled:])
                            if not count:
                                break
                            filled += count
                        if filled:
                            out.write(view[:filled])
                        if filled < DOWNLOAD_FILL:
                            break
                # 226 only after the server has sent everything; a 426 here (or a cut
                # stream) aborts the download and AtomicDownload removes the partial file.
                self._finish(ftp, reader, out.expected_size, f"the download of {remote}",
                             "the file may be truncated; nothing was saved")  # fmt: skip
            return TransferResult(
                direction="get", local=local, remote=self.user_path(remote), size=out.written,
                elapsed=out.elapsed, sha256=out.sha256, details=self._details(first),
                protocol=self.settings.scheme, tls_version=ftp.tls_version,
            )

        return self._run("downloading", remote, work)

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

    def _put_file(self, local: str, remote: str, callback: ProgressCallback | None) -> TransferResult:
        self._refuse_backslash(remote, "upload to")
        handle, size = open_for_upload(local)
        first = len(self.data_connections)
        folder, name = posixpath.split(remote)
        temp = (
            posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.xfer-part")
            if self._upload_temp_name
            else None
        )
        target = temp or remote
        started = time.monotonic()
        verified = False
        #: The server took the STOR and the data connection is open: ``target`` now
        #: holds (part of) our upload, and only then is removing it on failure ours to do.
        accepted = False

        def send(ftp: FTPSConnection) -> None:
            nonlocal verified, accepted
            try:
                conn, _ = ftp.ntransfercmd(f"STOR {target}")
            except ftplib.error_perm:
                # vsftpd says "553 Could not create file." when the folder is missing: create
                # the missing folders and try once more (put into new folders, like HTTPS
                # and WebDAV).  If the folder exists, the refusal is about something else.
                if not self._make_parents(ftp, folder):
                    raise
                conn, _ = ftp.ntransfercmd(f"STOR {target}")
            accepted = True
            buffer = bytearray(UPLOAD_BLOCK)
            view = memoryview(buffer)
            sent = 0
            with conn, _explained(ftp):
                while sent < size:
                    try:
                        count = handle.readinto(buffer)  # type: ignore[attr-defined]
                    except OSError as exc:
                        raise local_error(exc, local, "reading") from exc
                    if not count:
                        raise IntegrityError(
                            f"local file {local} shrank while uploading ({sent} of {size} bytes read)",
                            hint="do not modify files while xfer uploads them",
                        )
                    count = min(count, size - sent)
                    conn.sendall(view[:count])
                    sent += count
                    if callback is not None:
                        callback(sent, size)
                # close_notify tells the server the file is complete rather than cut.
                if isinstance(conn, ssl.SSLSocket):
                    try:
                        conn.unwrap()
                    except (ssl.SSLError, OSError):
                        # unwrap also waits for the server's close_notify, and some servers
                        # close without one.  Every byte was sent; whether the server has
                        # them all is for its final reply and the size check below to say.
                        pass
            ftp.voidresp()
            if callback is not None and size == 0:
                callback(0, 0)
            stored = self._stored_size(ftp, target)
            if stored is not None:
                if stored != size:
                    raise IntegrityError(
                        f"{self.settings.server} stored {stored} bytes of {remote}, we sent {size}; "
                        "the upload was removed",
                        hint="run the command again; check the server's disk space",
                    )
                verified = True

        try:
            with handle:
                self._run("uploading", remote if temp is None else f"{remote} (as {temp})", send, probe=folder)
        except BaseException:
            # A refused STOR created nothing, and (without a temp name) the file already
            # there is untouched: nothing to remove.  Once the STOR was accepted, ``target``
            # holds our partial upload: with a temp name that is all it is; without one the
            # STOR has already overwritten the old file, so the partial file is all that is
            # left and removing it keeps pick-up processes from taking half a file.
            if accepted:
                self._cleanup(target)
            raise
        details = self._details(first)
        if temp is not None:
            left = self._install(temp, remote)
            if left is not None:
                details["previous_version_left_at"] = self.user_path(left)
        return TransferResult(
            direction="put", local=local, remote=self.user_path(remote), size=size,
            elapsed=time.monotonic() - started, details=details, protocol=self.settings.scheme,
            tls_version=self._ftp.tls_version if self._ftp else None, size_verified=verified,
            temp_name=posixpath.basename(temp) if temp is not None else None,
        )

    def _stored_size(self, ftp: FTPSConnection, path: str) -> int | None:
        """The size the server reports for an upload: SIZE, else MLST's size fact, else None."""
        size = self._size(ftp, path)
        if size is None and "MLST" in self._features:
            entry = self._mlst_or_none(ftp, path)
            size = entry.size if entry is not None and entry.type == "file" else None
        return size

    def _install(self, temp: str, remote: str) -> str | None:
        """Rename the complete upload ``temp`` to ``remote``.  On failure ``temp`` is kept
        (it is the user's data) and the error names it.  Returns what :meth:`_rename_over`
        could not delete."""
        try:
            return self._run(
                f"renaming the uploaded temporary file {temp} to", remote,
                lambda ftp: self._rename_over(ftp, temp, remote), probe=posixpath.dirname(remote),
            )
        except XferError as exc:
            if temp not in (exc.hint or ""):
                kept = (
                    f"the upload is complete on the server as {temp}: rename it to {remote} "
                    "by hand, or run the command again (and remove the temporary file)"
                )
                raise exc.copy_with(hint=f"{exc.hint}; {kept}" if exc.hint else kept) from exc
            raise
        except KeyboardInterrupt as exc:
            # Between RNFR and RNTO, or waiting for RNTO's answer: whether the rename
            # happened is unknown, so the message says where the upload may be.
            raise Interrupted(
                f"{self.settings.server}: interrupted while renaming the uploaded temporary "
                f"file {temp} to {remote}",
                hint=f"the upload is complete on the server, as {remote} or as {temp}: "
                f"if {temp} is still there, rename it to {remote} by hand",
            ) from exc

    def _rename_over(self, ftp: FTPSConnection, source: str, destination: str) -> str | None:
        """RNFR/RNTO ``source`` to ``destination``, replacing the file there.

        Most servers replace in one step.  Some (IIS, like Windows' MoveFile) refuse
        because the target exists; then the old file is renamed aside, ``source`` is
        renamed into place, and only then is the old file deleted.  If that second
        rename fails in any way (refused, 4xx or 5xx, connection lost, interrupted), the
        old file is renamed back (see :meth:`_put_back`).  Neither file is ever deleted
        while it is the only copy of its content.  Returns the aside name if deleting
        it failed (the upload succeeded; the old version is left over), else None.
        """
        try:
            _rename(ftp, source, destination)
            return None
        except (ftplib.error_perm, ftplib.error_temp) as exc:
            # IIS says "exists" with a 550; a 450 saying so is read the same way.
            if not says_exists(str(exc)) or self._kind(ftp, destination) != "file":
                raise
        folder, name = posixpath.split(destination)
        aside = posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.xfer-old")
        moved = False
        try:
            _rename(ftp, destination, aside)
            moved = True
            _rename(ftp, source, destination)
        except BaseException as exc:
            if not moved and not _breaks_session(exc):
                raise  # the server refused to move the old version: nothing has moved
            error = self._put_back(ftp, exc, source, destination, aside)
            if error is None:  # the upload is in place after all; only the old version is left
                return aside
            if error is exc:
                raise
            raise error from exc
        try:
            ftp.voidcmd(f"DELE {aside}")
        except (ftplib.error_perm, ftplib.error_temp):
            return aside
        except Exception as exc:
            # The upload is in place; only deleting the old version is in doubt.
            if _breaks_session(exc):
                self._drop()
            return aside
        except KeyboardInterrupt as exc:
            self._drop()
            raise Interrupted(
                f"{self.settings.server}: interrupted after the upload was renamed to {destination}",
                hint=f"the upload is complete; the previous version may be left as {aside}: "
                "remove it by hand",
            ) from exc
        return None

    def _put_back(
        self, ftp: FTPSConnection, exc: BaseException, source: str, destination: str, aside: str
    ) -> BaseException | None:
        """After moving the old ``destination`` to ``aside``, installing ``source`` failed with
        ``exc``: put the old version back, best effort, and return what to raise.

        After a reply (a 4xx or 5xx), the dialogue is in step and the server has renamed
        nothing more: ``aside`` goes back at once.  After a lost connection or an
        interruption, the state is unknown: a fresh session (short timeout) looks first,
        and ``aside`` goes back only where nothing is at ``destination`` (never over a file).

        Returns ``exc`` itself if the old version is back and only ``source`` is left (the
        caller raises it, and the adapter names ``source``); None if the upload turned out
        to be in place (only ``aside`` is left, as after a failed DELE); otherwise an
        error naming every file left over.
        """
        server = self.settings.server
        action = f"renaming the uploaded temporary file {source} to"
        problem: BaseException | None = None
        installed = False
        try:
            if not _breaks_session(exc):
                _rename(ftp, aside, destination)
            else:
                self._drop()
                fresh = self._open(timeout=min(self.settings.timeout, RECOVERY_TIMEOUT))
                try:
                    if self._kind(fresh, aside) is not None:
                        if self._kind(fresh, destination) is None:
                            _rename(fresh, aside, destination)
                        elif self._kind(fresh, source) is None:
                            installed = True
                        else:
                            raise RemoteError(f"{destination} exists, but is not the upload")
                finally:
                    fresh.quit_quietly()
        except BaseException as failed:
            # Best effort: even a second Ctrl-C only ends the attempt; the report still
            # names what is left where.
            problem = failed
            if _breaks_session(failed):
                self._drop()
        interrupted = isinstance(exc, KeyboardInterrupt)
        if problem is None and installed:
            if interrupted:
                return Interrupted(
                    f"{server}: interrupted after the upload was renamed to {destination}",
                    hint=f"the upload is complete; the previous version is left as {aside}: "
                    "remove it by hand",
                )
            return None
        if problem is None:
            if interrupted:
                return Interrupted(
                    f"{server}: interrupted while {action} {destination}; {destination} is "
                    "the previous version again",
                    hint=f"the upload is complete on the server as {source}: rename it to "
                    f"{destination} by hand, or run the command again (and remove {source})",
                )
            return exc
        if interrupted:
            error: XferError = Interrupted(f"{server}: interrupted while {action} {destination}")
        elif isinstance(exc, Exception):
            error = self._translate(exc, action, destination)
        else:
            return exc
        why = str(problem).strip() or type(problem).__name__
        if isinstance(problem, KeyboardInterrupt):
            why = "interrupted"
        recover = (
            f"{destination} may be missing: the previous version is {aside} and the complete "
            f"upload is {source}; rename one of them to {destination} by hand"
        )
        return error.copy_with(
            f"{error.message}; putting the previous version back from {aside} failed too ({why})",
            hint=f"{recover}; {error.hint}" if error.hint else recover,
        )

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
            if self._kind(ftp, path) == "directory":
                return
            if not parents:
                ftp.voidcmd(f"MKD {path}")
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
            try:
                ftp.voidcmd(f"MKD {current}")
            except ftplib.error_perm as exc:
                if self._kind(ftp, current) != "directory":
                    raise self._translate(exc, "creating the folder", current) from exc

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
            if not recursive:
                raise folder_needs_recursive(f"{self.settings.server}: {path} is a folder")
            self._remove_tree(ftp, path)

        self._run("removing", path, work)

    def _remove_tree(self, ftp: FTPSConnection, top: str) -> None:
        """Remove ``top`` and everything in it: the whole tree is listed first, then removed.

        Listing first means that whatever stops the walk (a cut or oversized listing, a
        name with a backslash, a tree deeper than :data:`MAX_TREE_DEPTH`: a link loop, or
        a hostile server listing ``a/`` in every folder) stops it before anything is
        deleted.  The walk is iterative.  A failure names the entry that failed, not ``top``.
        """
        folders: list[str] = []  # each folder before the folders inside it
        files: list[str] = []
        pending: list[tuple[str, int]] = [(top, 0)]
        while pending:
            folder, depth = pending.pop()
            if depth > MAX_TREE_DEPTH:
                raise RemoteError(
                    f"{self.settings.server}: {top} is nested more than {MAX_TREE_DEPTH} folders deep "
                    f"(at {folder}); rm -r removed nothing",
                    hint="the server may list a folder inside itself (a link loop); remove it by hand",
                )
            folders.append(folder)
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
                if entry.type == "directory":
                    pending.append((entry.path, depth + 1))
                else:
                    files.append(entry.path)
        for path in files:
            self._step(ftp, f"DELE {path}", "removing", path)
        for folder in reversed(folders):
            self._step(ftp, f"RMD {folder}", "removing the folder", folder)

    def _step(self, ftp: FTPSConnection, command: str, action: str, path: str) -> None:
        """One command inside a larger operation; a refusal names ``path``, the entry it was about."""
        try:
            ftp.voidcmd(command)
        except (ftplib.error_perm, ftplib.error_temp) as exc:
            raise self._refine(self._translate(exc, action, path), exc, action, path, path) from exc

    def _rmdir(self, path: str) -> None:
        self._refuse_backslash(path, "remove")
        self._run("removing the folder", path, lambda ftp: ftp.voidcmd(f"RMD {path}"))

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
                ftp.sendcmd(f"RNFR {source}")
            except ftplib.error_perm as exc:
                raise self._refine(self._translate(exc, "renaming", source), exc, "renaming", source, source) from exc
            ftp.voidcmd(f"RNTO {destination}")

        self._run("renaming to", destination, work)

    # -- ranged reads (added for the fsspec filesystem) --------------------------------------

    def _read_range(self, path: str, start: int, length: int | None) -> bytes:
        """``REST start`` + ``RETR``; once ``length`` bytes are in, the data connection is closed.

        Every read opens its own data connection (a seek is a new ``REST``).  Closing it
        early makes the server end the transfer with 426 (aborted) or, if it had already
        sent everything, 226; either reply is read, so the dialogue stays in step.  ``ABOR``
        is not sent: it needs Telnet urgent data, which a TLS control connection cannot carry.
        """

        def work(ftp: FTPSConnection) -> bytes:
            if start:
                try:
                    ftp.sendcmd(f"REST {start}")
                except ftplib.error_perm:
                    size = self._size(ftp, path)
                    if size is not None and start >= size:
                        return b""  # past the end: nothing to read (some servers refuse such a REST)
                    raise
            conn, announced = ftp.ntransfercmd(f"RETR {path}")
            reader = _DataReader(conn)
            body = bytearray()
            complete = False
            with conn, _explained(ftp):
                while length is None or len(body) < length:
                    want = DOWNLOAD_FILL if length is None else min(DOWNLOAD_FILL, length - len(body))
                    chunk = bytearray(want)
                    count = reader.read_into(memoryview(chunk))
                    if not count:
                        complete = True
                        break
                    body += chunk[:count]
            if complete:
                # A stream that ended early must be proven complete, as for whole downloads.
                expected = announced - start if announced is not None else None
                self._finish(ftp, reader, expected, f"reading {path}", "the bytes read were discarded")
            else:
                try:
                    ftp.getresp()  # 226: everything had been sent already
                except ftplib.error_temp:
                    pass  # 426/451: the transfer was cut short, as intended
                finally:
                    ftp.transfer_pending = False
            return bytes(body)

        return self._run("reading", path, work)


class ExplicitFTPSAdapter(FTPSAdapter):
    """``ftpes://``: plain TCP, then ``AUTH TLS`` before anything else (RFC 4217)."""

    schemes = ("ftpes",)
    default_port = 21
    implicit = False


class ImplicitFTPSAdapter(FTPSAdapter):
    """``ftps://``: TLS from the first byte (port 990), like HTTPS."""

    schemes = ("ftps",)
    default_port = 990
    implicit = True


def _rename(ftp: FTPSConnection, source: str, destination: str) -> None:
    ftp.sendcmd(f"RNFR {source}")
    ftp.voidcmd(f"RNTO {destination}")


def _breaks_session(exc: BaseException) -> bool:
    """Whether the control connection is in an unknown state after ``exc``.

    Reply errors (a 550, a 452) leave the dialogue in step, and so do xfer's own
    errors; a reply with no code or a 421, a network, TLS or EOF error, or an
    interruption (Ctrl-C may land between a command and its reply) do not.
    """
    if isinstance(exc, XferError):
        return False
    if isinstance(exc, ftplib.Error):
        code = reply_code(str(exc))
        return not code or code == "421"
    return isinstance(exc, OSError | EOFError | ValueError) or not isinstance(exc, Exception)


@contextlib.contextmanager
def _explained(ftp: FTPSConnection) -> Iterator[None]:
    """Around a data transfer: a broken data connection is reported with the server's reason."""
    try:
        yield
    except (ssl.SSLError, OSError) as exc:
        if isinstance(exc, XferError):
            raise
        ftp.explain_failure(exc)
        raise
