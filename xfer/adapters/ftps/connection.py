"""The FTPS control connection: :class:`ftplib.FTP_TLS` with the fixes FTPS needs in the real world.

TLS session reuse on every data connection (the reason most Python FTP clients fail),
passive mode to the control connection's peer only, the data handshake beside the wait
for the ``150``, replies read within :data:`MAX_REPLY` characters with the password taken
out, TCP keepalives on the control socket.  The package docstring says why each matters.
Failures surface as ftplib/ssl/OS exceptions; the adapter translates them.
"""

# S321 flags every ftplib call as "FTP is insecure".  Here ftplib only ever runs
# over TLS (the adapter refuses clear text before a byte of data or password moves).
# ruff: noqa: S321

from __future__ import annotations

import contextlib
import ftplib
import io
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ...errors import ConnectionDropped, ConnectTimeout, InsecureSchemeRefused, ServerError, TransferCut, XferError
from ...log import logger, masked_command
from ...net import Proxy, open_tcp
from ...numbers import server_status
from ...tls import bytes_moved
from .replies import reply_code, says_storage_full, size_in_150

if TYPE_CHECKING:
    from .listing import ListClock

__all__ = [
    "MAX_REPLY",
    "QUIT_TIMEOUT",
    "REDACTED",
    "REPLY_DEADLINE",
    "DataConnection",
    "DataReader",
    "FTPSConnection",
    "breaks_session",
    "end_of_data",
    "explained",
]

#: How long ``close()`` waits for the answer to QUIT: a dead server must not hang us.
QUIT_TIMEOUT = 3.0

#: What a secret in a server's reply is replaced with.
REDACTED = "********"

#: Characters of one control-connection reply (all its lines) read before giving up on it.
MAX_REPLY = 1 << 20

#: One reply, all its lines, must arrive within this many times the control connection's timeout.
#: The timeout alone bounds each read: a server trickling a line a second (or a byte) kept xfer
#: waiting for hours, while ``--timeout`` promised seconds (review L, finding 2).  Twice, not once:
#: a first line that comes late may still be followed by a long (FEAT, HELP) reply.
REPLY_DEADLINE = 2.0

#: Seconds (at most; never more than the timeout) a transfer command answered with a 2xx and no 1xx
#: is given for the 1xx to follow.  Nothing in that time, and the data connection closed without
#: TLS: the 2xx was the final reply of an empty transfer (review L, finding 5).
EARLY_REPLY_WAIT = 1.0
#: How often, within :data:`EARLY_REPLY_WAIT`, the data connection is asked whether it closed.
_EARLY_REPLY_STEP = 0.05

#: Seconds an upload waits for the server's close_notify after ours (see :func:`end_of_data`).
CLOSE_NOTIFY_WAIT = 3.0

#: Further preliminary replies (150, then 125) skipped while a transfer's final reply is awaited.
EXTRA_PRELIMINARY = 3

#: Commands whose data connection carries data *to* us: only these may end empty.
_RECEIVING = frozenset({"RETR", "LIST", "MLSD", "NLST"})

#: ``-v``: every command (PASS masked) and reply (secrets already taken out), with timings.
_log = logger("xfer.ftp")


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

    def closed_without_tls(self) -> bool:
        """Whether the server closed the data connection before any TLS (the handshake hit EOF)."""
        if self._started:
            self._thread.join(0.1)
        return not self._thread.is_alive() and self.error is not None and closed_before_tls(self.error)

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


def closed_before_tls(exc: BaseException) -> bool:
    """Whether a data connection's TLS handshake failed because the server closed it (EOF, reset):
    no TLS began, so no byte of data can have come over it."""
    return isinstance(exc, ssl.SSLEOFError | ConnectionResetError | ConnectionAbortedError | BrokenPipeError) or (
        isinstance(exc, ssl.SSLError) and exc.reason == "UNEXPECTED_EOF_WHILE_READING")


@dataclass(frozen=True)
class DataConnection:
    """One TLS data connection: which command, whether the session was resumed, which TLS."""

    command: str
    resumed: bool
    tls_version: str | None


class DataTally(NamedTuple):
    """The totals of :class:`DataConnections` at one moment (what a transfer counts from)."""

    opened: int
    resumed: int
    versions: dict[str, int]


class DataConnections:
    """The TLS data connections of one adapter: running totals, and the last few in full.

    A record of every connection was kept for the whole session: a list that grew by one
    entry per file (100,000 files: tens of MB).  The totals answer a transfer's report
    (:meth:`since` a :meth:`tally` taken at its start); :attr:`recent` answers doctor and tests.
    """

    #: How many connections are kept in full.
    RECENT = 32

    def __init__(self) -> None:
        self.opened = 0
        self.resumed = 0
        self._versions: Counter[str] = Counter()
        self.recent: deque[DataConnection] = deque(maxlen=self.RECENT)

    def add(self, connection: DataConnection) -> None:
        self.opened += 1
        self.resumed += connection.resumed
        if connection.tls_version:
            self._versions[connection.tls_version] += 1
        self.recent.append(connection)

    def tally(self) -> DataTally:
        return DataTally(self.opened, self.resumed, dict(self._versions))

    def since(self, start: DataTally) -> dict[str, Any]:
        """The report keys of the connections opened after ``start``."""
        return {
            "data_connections": self.opened - start.opened,
            "data_sessions_resumed": self.resumed - start.resumed,
            "data_tls_versions": sorted(v for v, n in self._versions.items() if n > start.versions.get(v, 0)),
        }


class DataReader:
    """Reads a TLS data connection and remembers how it ended.

    With ``suppress_ragged_eofs`` off (see :mod:`xfer.tls`), a stream cut by a TCP FIN
    without close_notify raises :class:`ssl.SSLEOFError`; here that reads as the end,
    with :attr:`ragged` set, so the caller can decide whether a known length proves
    the data complete (:meth:`finish`).
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

    def fill(self, view: memoryview) -> int:
        """Read into ``view``: all of it, or less where the stream ends; 0 at the end.

        On one of our TLS sockets one call to its
        :meth:`~xfer.tls.connection.XferSSLSocket.fill` (one Python call per TLS record, bytes
        before a failure handed over first and the failure raised by the next call); else
        ``recv_into`` in a loop.  Callers read until 0, so a cut after the last bytes is seen:
        ``ragged`` for an EOF without close_notify, raised for anything else.
        """
        if self.ragged:
            return 0
        fill = getattr(self._conn, "fill", None)
        try:
            if fill is not None:
                count: int = fill(view)
            else:
                count = 0
                while count < len(view) and (got := self._conn.recv_into(view[count:])):
                    count += got
        except ssl.SSLEOFError:
            self.ragged = True
            return 0
        self.received += count
        return count

    def finish(
        self, ftp: FTPSConnection, expected: int | None, *, server: str, what: str, consequence: str,
        empty_ok: bool = False,
    ) -> str:
        """After the stream ended: read the transfer's final reply (returned), or refuse a cut stream.

        A stream that ended without TLS close_notify (a TCP FIN, forged or from a cut
        connection) is complete only if a length the server gave on the control
        connection (SIZE, MLST, the 150's "(n bytes)") says so.  Otherwise it is an
        :class:`IntegrityError` naming ``server`` and ``what`` (then ``consequence``),
        whatever the final reply says; a failure reply (426...) is the better reason
        and is raised instead.

        A transfer the server ended with no data connection to speak of (:attr:`~FTPSConnection.ended_empty`)
        is an empty one if ``empty_ok`` (a listing: the server's word on the control connection,
        which no one on the path can forge) or a size of 0 proves it; else a :class:`ServerError`
        naming ``what``, not retried: such a server does it every time.

        A 426 after the stream ended ("Transfer aborted; 344064 bytes transmitted") says the
        stream is not whole: a :class:`TransferCut` (exit 7 when no try is left, retried
        before), as a body cut short is on HTTPS, not a failed data connection (exit 5, with
        a hint about passive ports for a connection that had carried the bytes: review A).
        """
        if ftp.ended_empty is not None and not self.received:
            return self._empty(ftp, expected, server=server, what=what, consequence=consequence, empty_ok=empty_ok)
        if not self.ragged or (expected is not None and self.received == expected):
            try:
                return ftp.voidresp()
            except ftplib.error_temp as exc:
                reply = str(exc)
                if reply_code(reply) != "426" or says_storage_full(reply):
                    raise
                raise TransferCut(
                    f"{server}: {what} was cut after {self.received} bytes (server said: {reply.strip()}); "
                    f"{consequence}",
                    hint="the connection was cut; run the command again",
                ) from exc
            except TimeoutError as exc:
                # Silence, not a hang-up: the connection is still open (review L, finding 11).
                raise ConnectTimeout(
                    f"{server} did not confirm {what} in time ({self.received} bytes had arrived); "
                    f"{consequence}",
                    hint="the server may be slow to confirm large files: raise --timeout; if it "
                    "repeats, see the server's log",
                ) from exc
            except (OSError, EOFError) as exc:
                # Not "the connection broke after N bytes", counted on the control connection:
                # the data came whole, and the server went away without its word on it.
                raise ConnectionDropped(
                    f"{server} closed the control connection before it confirmed {what} ({self.received} "
                    f"bytes had arrived); {consequence}",
                    hint="run the command again; if it repeats, see the server's log",
                ) from exc
        # error_reply: not a failure code but no 2xx either.  pure-ftpd answers a data connection
        # cut on our side with a second "150 0.011 seconds (measured here)...": the cut is the reason.
        with contextlib.suppress(OSError, EOFError, ftplib.error_reply):
            ftp.voidresp(preliminary=False)
        raise TransferCut(
            f"{server}: {what} ended after {self.received} bytes without TLS "
            f"close_notify, and no size proves it complete; {consequence}",
            hint="the connection was cut (or the cut was forged); run the command again",
        )


    def _empty(
        self, ftp: FTPSConnection, expected: int | None, *, server: str, what: str, consequence: str, empty_ok: bool
    ) -> str:
        """:meth:`finish` for a transfer the server ended without data over TLS."""
        reply = ftp.voidresp()
        if empty_ok or expected == 0:
            return reply
        known = "no size proves it empty" if expected is None else f"the server gave its size as {expected} bytes"
        raise ServerError(
            f"{server}: {what} came without any data: the server closed the data connection without TLS "
            f"and said {reply.strip()!r}, and {known}; {consequence}",
            hint="the server ends empty transfers without TLS; if the file is not empty, see the server's log",
            server=server, reply_code=server_status(reply_code(reply)),
        )


class DeadlineStream(io.RawIOBase):
    """A socket as a raw stream whose reads end at :attr:`deadline` (one per reply).

    Beneath the text file ftplib reads replies from (:meth:`FTPSConnection.getline`), and
    beneath doctor's HTTP probe: each read waits for the socket's timeout, or what is left
    until the deadline if that is less, so a server that trickles its answer cannot keep a
    reader past it.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        #: ``time.monotonic()`` by which the reply being read must be complete; None: no limit.
        self.deadline: float | None = None
        #: Bytes read so far (to tell a wait that timed out on nothing from one cut mid-reply).
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        deadline = self.deadline
        if deadline is None:
            count = self._sock.recv_into(buffer)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the server's reply did not end in time")
            timeout = self._sock.gettimeout()
            self._sock.settimeout(left if timeout is None else min(timeout, left))
            try:
                count = self._sock.recv_into(buffer)
            finally:
                self._sock.settimeout(timeout)
        self.received += count
        return count


#: How the control connection decodes and encodes text.  Servers without ``UTF8`` in FEAT often
#: speak Latin-1 or a Windows code page (a German "226 Übertragung abgeschlossen.", a name
#: "Müller.txt"): bytes that are not UTF-8 become lone surrogates, never an error, and go back
#: unchanged in the commands that name them (as the data connection's listings decode them:
#: :func:`.listing.listing_lines`).  Output escapes them (:func:`xfer.cli.common.printable`).
CONTROL_ERRORS = "surrogateescape"


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

    #: Data connections resume the control connection's TLS session.  Only ``xfer doctor``
    #: turns this off, for one probe: does the server *demand* reuse?
    reuse_session = True

    def __init__(
        self,
        *,
        context: ssl.SSLContext,
        implicit: bool,
        timeout: float,
        epsv: bool = True,
        keepalive: float = 60.0,
        proxy: Proxy | None = None,
    ) -> None:
        super().__init__(context=context, timeout=timeout)
        self.implicit = implicit
        #: Control and every data connection go through it (:func:`xfer.net.open_tcp`).
        self.proxy = proxy
        self.use_epsv = epsv
        self.keepalive = keepalive
        self.data_connections = DataConnections()
        #: Strings never to be shown: taken out of every reply (see :meth:`getmultiline`).
        self.secrets: tuple[str, ...] = ()
        #: True from a transfer's 1xx until its final reply (226/426...) has been read.
        #: While True, the next reply on the control connection belongs to the transfer,
        #: not to whatever command comes next: a session abandoned in that state must be
        #: closed, never reused.
        self.transfer_pending = False
        #: True from a ``REST`` the server took (350) until a transfer command used it: the next
        #: RETR or STOR would start at its offset, a read from byte 0 included.  A session left so
        #: (its data connection failed to open, its transfer command refused) is reset with
        #: ``REST 0`` (:meth:`forget_restart`) or dropped, never reused as it is.
        self.restart_pending = False
        #: The control connection's TLS session, read once: see :meth:`_data_session`.
        self._control_session: ssl.SSLSession | None = None
        #: Data connections that resumed that session, and when this connection was made: a
        #: refusal of reuse after some did means the session expired (the adapter reconnects).
        self.resumed_data = 0
        self.opened_at = time.monotonic()
        #: The clock this connection's LIST times are printed in, once learned (one MDTM: see
        #: ``FTPSAdapter._list_clock``); None until then.  Here, not on the adapter: a new
        #: connection may reach another machine behind the same name.
        self.list_clock: ListClock | None = None
        #: The final reply of a transfer that ended with no data over TLS (see :meth:`ntransfercmd`),
        #: read already; :meth:`voidresp` returns it.  None otherwise.
        self.ended_empty: str | None = None
        #: Beneath :attr:`file` once connected: where :meth:`_read_reply` sets each reply's deadline.
        self._stream: DeadlineStream | None = None

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
        raw = open_tcp(host, port, self.timeout, proxy=self.proxy, source_address=source_address)
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
        self.file = self._reader(sock)
        self.welcome = self.getresp()
        # RFC 959: "120 Service ready in nnn minutes" may come first, then the 220.  Read as the
        # greeting, the 220 answered AUTH TLS: "refused AUTH TLS (220 ...)" (review L, finding 4).
        for _ in range(EXTRA_PRELIMINARY):
            if self.welcome[:1] != "1":
                break
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
        self.file = self._reader(self.sock)
        return resp

    def _reader(self, sock: socket.socket) -> io.TextIOWrapper:
        """The text file replies are read from: ``sock.makefile("r")``, over a :class:`DeadlineStream`
        so that :meth:`_read_reply` can give each reply a deadline."""
        self._stream = DeadlineStream(sock)
        # newline=None, as makefile's: "\r\n" and a lone "\n" both end a line.
        return io.TextIOWrapper(io.BufferedReader(self._stream), encoding=self.encoding, errors=CONTROL_ERRORS)

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
        Through a proxy our socket's peer is the proxy: the peer is then the host the
        control connection was opened to, reached through the same proxy.
        """
        peer = self.host if self.proxy is not None else self._control().getpeername()[0]
        if self.use_epsv:
            try:
                resp = self.sendcmd("EPSV")
            except ftplib.error_perm as exc:
                # 500/502/504: EPSV unknown; 501/522: the server dislikes it for this address
                # family; 550 "EPSV not allowed" (review L, finding 8): a refusal of EPSV, not of
                # the transfer.  PASV may still work, and we remember.  Not after a 530.
                if reply_code(str(exc)) == "530":
                    raise
                self.use_epsv = False
            else:
                try:
                    _host, port = ftplib.parse229(resp, self._control().getpeername())
                except ftplib.error_proto as exc:
                    raise _unreadable_passive("EPSV", resp) from exc
                return peer, port
        resp = self.sendcmd("PASV")
        try:
            _ignored_host, port = ftplib.parse227(resp)
        except ftplib.error_proto as exc:
            raise _unreadable_passive("PASV", resp) from exc
        return peer, port

    def _open_data(self) -> socket.socket:
        """The data connection's TCP connection, to the passive port the server named.

        One the EPSV port cannot be reached on is tried once more by PASV (NAT devices that
        rewrite PASV replies but not EPSV ones); a failure is said to be the data connection's:
        it read "HOST:PORT refused the connection", the control port, which works (review L).
        """
        host, port = self.makepasv()
        try:
            return open_tcp(host, port, self.timeout, proxy=self.proxy, source_address=self.source_address)
        except OSError as exc:
            if isinstance(exc, XferError) or not self.use_epsv:
                failure: OSError = exc
            else:
                self.use_epsv = False
                host, port = self.makepasv()
                try:
                    return open_tcp(host, port, self.timeout, proxy=self.proxy, source_address=self.source_address)
                except OSError as again:
                    if isinstance(again, XferError):
                        raise
                    failure = again
            if isinstance(failure, XferError):
                raise
            raise ConnectionDropped(
                f"the data connection to {host} (passive mode, port {port}) could not be opened: "
                f"{failure.strerror or type(failure).__name__}",
                hint="a firewall may block the server's passive-mode ports; ask the partner which to open",
            ) from failure

    def _data_session(self) -> ssl.SSLSession | None:
        """The session every data connection resumes: the control connection's, read once.

        Once, because reading ``SSLSocket.session`` copies the session, and on CPython 3.11 with
        OpenSSL 3 that copy (about 7 KB with the server's certificates) is never freed: measured,
        5,000 reads kept 33 MB.  Read per data connection, a 100,000-file ``get -r`` held 0.7 GB.
        By the first data connection the control connection has read the login replies, so a
        TLS 1.3 server's tickets are in it.  Not read again when a data connection does not
        resume: the control session does not change, and each read would leak once more.
        """
        if self._control_session is None:
            assert isinstance(self.sock, ssl.SSLSocket)  # checked by the caller
            self._control_session = self.sock.session
        return self._control_session

    def restart_at(self, offset: int) -> None:
        """``REST offset``: the next transfer command starts at ``offset`` (raises the refusal)."""
        self.sendcmd(f"REST {offset}")
        self.restart_pending = True

    def forget_restart(self) -> None:
        """``REST 0`` if a restart offset taken by the server may still be waiting for a transfer
        command (RFC 959 leaves open whether a refused command uses it up)."""
        if self.restart_pending:
            self.sendcmd("REST 0")
            self.restart_pending = False

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

        ``rest`` is in the signature only because ftplib's is: a caller asking for it gets
        ``NotImplementedError``.  xfer resumes (:mod:`xfer.retry`) by sending ``REST`` itself
        first, where it can tell a refused REST from a refused transfer.
        From the server's 1xx on, :attr:`transfer_pending` is True until the final
        reply is read (:meth:`voidresp` or :meth:`explain_failure`).
        """
        if rest is not None:
            raise NotImplementedError("xfer does not resume transfers (REST)")
        if not isinstance(self.sock, ssl.SSLSocket):
            raise InsecureSchemeRefused("refusing a data connection on a clear-text control connection")
        raw = self._open_data()
        session = self._data_session() if self.reuse_session else None
        handshake = _DataHandshake(self.context, raw, server_hostname=self.host, session=session)
        try:
            self.putcmd(cmd)
            handshake.start()
            receiving = cmd.split(" ", 1)[0].upper() in _RECEIVING
            try:
                resp = self.getresp()
                # As in ftplib: some servers send a stray 2xx *before* the 1xx, which RFC 959
                # does not allow (only 1xx or an error may answer a transfer command).  It is
                # skipped, and the next reply must be the 1xx.  Unless nothing follows and the data
                # connection was closed without TLS: then it was the final reply of an empty
                # transfer (a listing of an empty folder), which waited the whole timeout before.
                if resp[0] == "2":
                    following = self._after_early_reply(handshake) if receiving else self.getresp()
                    if following is None:
                        handshake.abort()
                        self.restart_pending = False  # the command was carried out: it used the offset
                        return self._no_data(resp), None
                    resp = following
                if resp[0] != "1":
                    raise ftplib.error_reply(resp)
                self.restart_pending = False  # the transfer started: it used the offset
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
                # reason: fetch it and raise it, chained to the TLS failure.  A 2xx after a
                # data connection closed before TLS began is an empty transfer (some servers
                # send an empty listing or file so): the caller decides whether empty is whole.
                final = self.explain_failure(exc, empty=receiving and closed_before_tls(exc))
                if final is None:
                    raise
                return self._no_data(final), None
        except BaseException:
            handshake.abort()
            raise
        resumed = bool(conn.session_reused)
        self.resumed_data += resumed
        self.data_connections.add(
            DataConnection(command=cmd.split(" ", 1)[0], resumed=resumed, tls_version=conn.version())
        )
        size = size_in_150(resp)
        return conn, size

    def _after_early_reply(self, handshake: _DataHandshake) -> str | None:
        """The reply after a transfer command's 2xx, or None when there is none: nothing came
        within :data:`EARLY_REPLY_WAIT` and the data connection was closed without TLS."""
        stream, sock = self._stream, self.sock
        if stream is None or sock is None:
            return self.getresp()
        timeout = sock.gettimeout()
        before = stream.received
        # In short steps, each also asking whether the data connection closed before TLS: a server
        # that sends only the final reply for an empty transfer cost the whole wait per empty file
        # or folder (10 s for 10 empty files: review N, finding 8).
        deadline = time.monotonic() + (EARLY_REPLY_WAIT if timeout is None else min(timeout, EARLY_REPLY_WAIT))
        try:
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(min(left, _EARLY_REPLY_STEP))
                try:
                    return self.getresp()
                except TimeoutError:
                    if stream.received != before:
                        raise  # part of a reply came, and was lost: the dialogue is out of step
                    if handshake.closed_without_tls():
                        return None
        finally:
            sock.settimeout(timeout)
        return self.getresp()  # the data connection is still being set up: wait as for any reply

    def _no_data(self, final: str) -> socket.socket:
        """A data connection that ends at once, for a transfer that ended with ``final`` and no data.

        The final reply has been read: it waits in :attr:`ended_empty` for :meth:`voidresp`, and
        :attr:`transfer_pending` makes a session abandoned before then be dropped, not reused.
        """
        self.ended_empty = final
        self.transfer_pending = True
        ours, theirs = socket.socketpair()
        theirs.close()
        return ours

    _sent_at = 0.0

    def putline(self, line: str) -> None:
        """Send one command line; ``-v`` shows it with the password masked.

        ftplib's own, but encoded with :data:`CONTROL_ERRORS`: a name a listing or a reply gave
        (undecodable bytes as lone surrogates) goes back to the server as the bytes it sent.
        """
        if "\r" in line or "\n" in line:
            raise ValueError("an illegal newline character should not be contained")
        if _log.isEnabledFor(logging.INFO):
            _log.info("%s > %s", self.host, masked_command(line))
            self._sent_at = time.monotonic()
        sys.audit("ftplib.sendcmd", self, line)
        self._control().sendall(f"{line}\r\n".encode(self.encoding, CONTROL_ERRORS))

    def getmultiline(self) -> str:
        """One reply, multi-line ones joined; at most :data:`MAX_REPLY` characters; no secrets.

        ftplib's own loop reads continuation lines until the closing line comes, with
        no limit: a server that never sends it would fill the memory.

        Some servers echo the command they refuse (``530 ... PASS s3cret``), and every
        reply text can reach an error message, a hint, a log or a chained exception.
        So the :attr:`secrets` are taken out here, as the reply is read, before anything
        can quote it.
        """
        reply = self._redact(self._read_reply())
        if _log.isEnabledFor(logging.INFO):
            took = f" ({(time.monotonic() - self._sent_at) * 1000:.0f} ms)" if self._sent_at else ""
            _log.info("%s < %s%s", self.host, reply.replace("\n", "\n    "), took)
            self._sent_at = 0.0
        return reply

    def _redact(self, reply: str) -> str:
        for secret in self.secrets:
            # In any case, and trimmed as a server may echo it: "530 ... PASS ECHOS3CRET",
            # "530 badpassEchoS3cret" (security review, session 26).  A short one (under six
            # characters) only as a token of its own, so that it does not garble every word.
            for shown in {secret, secret.strip()} - {""}:
                pattern = re.escape(shown) if len(shown) >= 6 else rf"(?<![A-Za-z0-9]){re.escape(shown)}(?![A-Za-z0-9])"
                reply = re.sub(pattern, REDACTED, reply, flags=re.IGNORECASE)
        return reply

    def _read_reply(self) -> str:
        stream = self._stream
        if stream is None or self.sock is None:
            return self._read_lines()  # (a test's file: no socket to limit)
        timeout = self.sock.gettimeout()
        # The socket's timeout now, not ``self.timeout``: a HASH reply is given more time (adapter).
        stream.deadline = time.monotonic() + REPLY_DEADLINE * (timeout if timeout is not None else self.timeout or 30.0)
        try:
            return self._read_lines()
        finally:
            stream.deadline = None

    def _read_lines(self) -> str:
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

    def explain_failure(self, cause: BaseException, *, empty: bool = False) -> str | None:
        """After a data connection broke, raise the server's reply that says why, if any.

        Servers close the data connection first and explain on the control connection
        (426 "No space left on device", 522 "session reuse required"...).  That reply
        is what the user needs; it is raised chained to ``cause``.  Returns None if none came.
        With ``empty`` (the connection closed before TLS began), a 2xx is returned: the
        server ended the transfer with nothing to send.
        """
        try:
            self._control().settimeout(min(self.timeout or 5.0, 5.0))
            resp = self.getresp()
        except ftplib.Error as reply:
            self.transfer_pending = False
            raise reply from cause
        except (OSError, EOFError):
            return None
        finally:
            with contextlib.suppress(OSError):
                self._control().settimeout(self.timeout)
        self.transfer_pending = False
        if resp[:1] == "2" and empty:
            return resp
        if resp[:1] == "2":
            # "226 Transfer complete" for a stream that broke on our side: the server took the
            # cut for the end (an upload it now holds in part).  A cut connection, to retry.
            moved = bytes_moved(cause)
            sent, received = moved if moved is not None else (0, 0)
            after = f" after {sent} bytes had been sent" if sent else \
                f" after {received} bytes had arrived" if received else ""
            raise ConnectionDropped(
                f"the data connection to {self.host} broke{after} ({type(cause).__name__}) although the server "
                f"answered {resp.strip()!r}"
            ) from cause
        raise ftplib.error_reply(resp) from cause

    def voidresp(self, *, preliminary: bool = True) -> str:
        """Read a reply, which must be 2xx (ftplib's), and note that no transfer is pending.

        Only a reply actually read clears :attr:`transfer_pending`: after a timeout or
        an interruption the transfer's final reply may still be on its way.  While one is
        pending, a further 1xx (150, then 125: RFC 959 allows more than one) is skipped, a few
        at most, unless ``preliminary`` is off; it was read as the final reply, a refusal
        (review L, finding 7).  The final reply of an empty transfer, read already
        (:attr:`ended_empty`), is returned at once.
        """
        if self.ended_empty is not None:
            resp, self.ended_empty = self.ended_empty, None
            self.transfer_pending = False
            return resp
        skipped = 0
        try:
            resp = self.getresp()
            while preliminary and self.transfer_pending and resp[:1] == "1" and skipped < EXTRA_PRELIMINARY:
                skipped += 1
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


def _unreadable_passive(command: str, resp: str) -> ftplib.Error:
    """A passive-mode reply with no port xfer can read (RFC 2428 puts EPSV's in parentheses): a
    protocol error, worded without the reply's code in front (it read "refused listing ... 229")."""
    return ftplib.error_proto(f"the server's {command} reply names no port xfer can read: {resp.strip()[:200]!r}")


def breaks_session(exc: BaseException) -> bool:
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


def end_of_data(conn: socket.socket) -> bool:
    """The end of an upload's data: TLS close_notify tells the server the file is complete, not cut.

    True if the server answered with its own close_notify: it sends that only after reading
    ours, which follows the last byte, so it has read them all.  False if it closed without
    one (some servers do; so does one that stopped reading half-way): then only a size or hash
    check proves the upload (:meth:`~.adapter.FTPSAdapter._confirmed`).
    """
    if not isinstance(conn, ssl.SSLSocket):
        return False
    # Nagle off now, not before: with it, the close_notify waited for the ACK of the last
    # data, which the server delays by up to 40 ms (per file!).  Switching it off also sends
    # anything Nagle holds.  During the data, Nagle packs records into full segments.
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # A server that neither answers nor closes (it waits for our TCP FIN) held each upload for the
    # whole timeout (review L, finding 10): a few seconds are enough for an answer that follows
    # the last byte read; without it, SIZE proves the upload as for any server without one.
    with contextlib.suppress(OSError):
        timeout = conn.gettimeout()
        conn.settimeout(CLOSE_NOTIFY_WAIT if timeout is None else min(timeout, CLOSE_NOTIFY_WAIT))
    try:
        conn.unwrap()
    except (ssl.SSLError, OSError):
        return False
    return True


@contextlib.contextmanager
def explained(ftp: FTPSConnection) -> Iterator[None]:
    """Around a data transfer: a broken data connection is reported with the server's reason."""
    try:
        yield
    except (ssl.SSLError, OSError) as exc:
        if isinstance(exc, XferError):
            raise
        ftp.explain_failure(exc)
        raise
