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
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..errors import (
    ConnectionDropped,
    InsecureSchemeRefused,
    IntegrityError,
    RemoteError,
    RemoteNotFound,
    RemotePermissionDenied,
    ServerError,
    TLSError,
    XferError,
)
from ..tls import translate_error
from ..transfer import UPLOAD_BLOCK, AtomicDownload, local_error, open_for_upload
from ._ftp_listing import parse_list_line, parse_mdtm, parse_mlsx_line
from ._ftp_replies import NOT_UNDERSTOOD, is_ambiguous_550, login_error, reply_code, reply_error
from .base import Adapter, Capability, ConnectionSettings, Entry, ProgressCallback, TransferResult

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

#: How long ``close()`` waits for the answer to QUIT: a dead server must not hang us.
QUIT_TIMEOUT = 3.0

_T = TypeVar("_T")


@dataclass(frozen=True)
class DataConnection:
    """One TLS data connection: which command, whether the session was resumed, which TLS."""

    command: str
    resumed: bool
    tls_version: str | None


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
        # ftplib's login() calls auth() when the socket is not TLS yet.  Our adapter
        # secures the connection before login, so reaching this is a bug: refuse
        # rather than let a code path ever send a password next to a clear-text AUTH.
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
        """Open a TLS data connection for ``cmd``, resuming the control session."""
        if not isinstance(self.sock, ssl.SSLSocket):
            raise InsecureSchemeRefused("refusing a data connection on a clear-text control connection")
        host, port = self.makepasv()
        raw = socket.create_connection((host, port), self.timeout, source_address=self.source_address)
        try:
            if rest is not None:
                self.sendcmd(f"REST {rest}")
            resp = self.sendcmd(cmd)
            # Some servers answer 2xx for an empty listing before the 1xx; RFC 959 allows it.
            if resp[0] == "2":
                resp = self.getresp()
            if resp[0] != "1":
                raise ftplib.error_reply(resp)
            try:
                conn = self.context.wrap_socket(raw, server_hostname=self.host, session=self.sock.session)
            except (ssl.SSLError, OSError) as exc:
                # vsftpd/proftpd close the data connection and *explain on the control
                # connection* (522 "session reuse required").  That reply is the real
                # reason: fetch it and raise it, chained to the TLS failure.
                self.explain_failure(exc)
                raise
        except BaseException:
            raw.close()
            raise
        self.data_connections.append(
            DataConnection(
                command=cmd.split(" ", 1)[0], resumed=bool(conn.session_reused), tls_version=conn.version()
            )
        )
        size = ftplib.parse150(resp) if resp.startswith("150") else None
        return conn, size

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
            raise reply from cause
        except (OSError, EOFError):
            return
        finally:
            with contextlib.suppress(OSError):
                self._control().settimeout(self.timeout)
        raise ftplib.error_reply(resp) from cause

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

    def _open(self) -> FTPSConnection:
        settings = self.settings
        ftp = FTPSConnection(
            context=settings.ssl_context,
            implicit=self.implicit,
            timeout=settings.timeout,
            epsv=self._epsv,
            keepalive=self._keepalive,
        )
        ftp.data_connections = self.data_connections
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
            with contextlib.suppress(Exception):
                ftp.close()
            if isinstance(exc, XferError | KeyboardInterrupt):
                raise
            raise self._translate(exc, "connecting") from exc
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

    def _translate(self, exc: BaseException, action: str, path: str | None = None) -> XferError:
        server = self.settings.server
        if isinstance(exc, XferError):
            return exc
        if isinstance(exc, ftplib.Error) and reply_code(str(exc)):
            return reply_error(str(exc), server=server, action=action, path=path)
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

    def _run(self, action: str, path: str | None, work: Callable[[FTPSConnection], _T]) -> _T:
        """Run one operation on the control connection and translate what it raises.

        A reply error leaves the session usable; anything else (TLS, network, EOF)
        means the control connection is in an unknown state, so it is dropped and
        the next operation opens a new one.
        """
        ftp = self._session()
        try:
            result = work(ftp)
        except XferError:
            raise
        except ftplib.Error as exc:
            if not reply_code(str(exc)) or reply_code(str(exc)) == "421":
                self._drop()
            raise self._refine(self._translate(exc, action, path), exc, path) from exc
        except (OSError, EOFError, ValueError) as exc:
            self._drop()
            raise self._translate(exc, action, path) from exc
        self._last_used = time.monotonic()
        return result

    def _refine(self, error: XferError, exc: ftplib.Error, path: str | None) -> XferError:
        """Turn an ambiguous 550 into not-found or permission-denied by asking the server."""
        if path is None or not is_ambiguous_550(str(exc)) or self._ftp is None:
            return error
        if self._exists(self._ftp, path):
            return RemotePermissionDenied(
                f"{self.settings.server}: permission denied on {path} (server said: {str(exc).strip()})"
            )
        return RemoteNotFound(f"{self.settings.server}: {path} does not exist")

    # -- probes (control connection only, never raise for "no") ---------------------------

    def _exists(self, ftp: FTPSConnection, path: str) -> bool:
        return self._kind(ftp, path) is not None

    def _kind(self, ftp: FTPSConnection, path: str) -> str | None:
        """"file", "directory" or None, using only commands that cannot change anything."""
        if path == "/":
            return "directory"
        if "MLST" in self._features:
            try:
                entry = self._mlst(ftp, path)
            except ftplib.error_perm:
                return None
            return entry.type if entry else None
        with contextlib.suppress(ftplib.error_perm):
            ftp.sendcmd(f"SIZE {path}")
            return "file"
        with contextlib.suppress(ftplib.error_perm):
            ftp.sendcmd(f"CWD {path}")
            return "directory"
        return None

    @staticmethod
    def _mlst(ftp: FTPSConnection, path: str) -> Entry | None:
        resp = ftp.sendcmd(f"MLST {path}")
        for line in resp.splitlines()[1:]:
            if line.startswith(" "):
                entry = parse_mlsx_line(line, posixpath.dirname(path))
                if entry is not None:
                    return Entry(name=posixpath.basename(path) or "/", path=path, type=entry.type,
                                 size=entry.size, modified=entry.modified, extra=entry.extra)
        return None

    # -- listing ---------------------------------------------------------------------------------

    def _read_lines(self, ftp: FTPSConnection, command: str) -> list[str]:
        conn, _size = ftp.ntransfercmd(command)
        lines: list[str] = []
        with conn, conn.makefile("r", encoding=ftp.encoding, errors="surrogateescape") as reader:
            for line in reader:
                lines.append(line.rstrip("\r\n"))
        ftp.voidresp()
        return lines

    def _ls(self, path: str) -> list[Entry]:
        def work(ftp: FTPSConnection) -> list[Entry]:
            if "MLST" in self._features:
                try:
                    lines = self._read_lines(ftp, f"MLSD {path}")
                except ftplib.error_perm as exc:
                    # MLSD lists folders only; for a file, answer with its own entry.
                    entry = self._mlst_or_none(ftp, path)
                    if entry is not None and entry.type != "directory":
                        return [entry]
                    raise exc
                return [e for e in (parse_mlsx_line(line, path) for line in lines) if e is not None]
            lines = self._read_lines(ftp, f"LIST {path}")
            entries = [e for e in (parse_list_line(line, path) for line in lines) if e is not None]
            kind = self._kind(ftp, path)
            if kind is None:
                # vsftpd answers LIST of a missing path with an empty, successful listing.
                raise RemoteNotFound(f"{self.settings.server}: {path} does not exist")
            if kind == "file":
                # LIST of a file lists that file, under its own (or its full) name.
                return [Entry(name=posixpath.basename(path), path=path, type="file",
                              size=entries[0].size if entries else None,
                              modified=entries[0].modified if entries else None)]
            return entries

        return self._run("listing", path, work)

    def _mlst_or_none(self, ftp: FTPSConnection, path: str) -> Entry | None:
        try:
            return self._mlst(ftp, path)
        except ftplib.error_perm:
            return None

    def _info(self, path: str) -> Entry:
        def work(ftp: FTPSConnection) -> Entry:
            if path == "/":
                return Entry(name="", path="/", type="directory")
            if "MLST" in self._features:
                try:
                    entry = self._mlst(ftp, path)
                except ftplib.error_perm as exc:
                    if reply_code(str(exc)) in NOT_UNDERSTOOD:
                        raise
                    raise RemoteNotFound(f"{self.settings.server}: {path} does not exist") from exc
                if entry is not None:
                    return entry
            # No MLST (vsftpd): SIZE answers for files, CWD for folders.
            try:
                size = int(ftp.sendcmd(f"SIZE {path}").split()[-1])
            except (ftplib.error_perm, ValueError):
                try:
                    ftp.sendcmd(f"CWD {path}")
                except ftplib.error_perm as exc:
                    raise RemoteNotFound(f"{self.settings.server}: {path} does not exist") from exc
                return Entry(name=posixpath.basename(path), path=path, type="directory")
            modified = None
            with contextlib.suppress(ftplib.error_perm, ftplib.error_reply):
                modified = parse_mdtm(ftp.sendcmd(f"MDTM {path}"))
            return Entry(name=posixpath.basename(path), path=path, type="file", size=size, modified=modified)

        return self._run("reading information about", path, work)

    # -- transfers -----------------------------------------------------------------------------

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

    def _details(self, first_data: int) -> dict[str, Any]:
        mine = self.data_connections[first_data:]
        ftp = self._ftp
        return {
            "protocol": self.settings.scheme,
            "tls_version": ftp.tls_version if ftp else None,
            "cipher": ftp.cipher if ftp else None,
            "data_connections": len(mine),
            "data_sessions_resumed": sum(1 for d in mine if d.resumed),
            "data_tls_versions": sorted({d.tls_version for d in mine if d.tls_version}),
        }

    def _get_file(self, remote: str, local: str, callback: ProgressCallback | None) -> TransferResult:
        first = len(self.data_connections)

        def work(ftp: FTPSConnection) -> TransferResult:
            expected = self._size(ftp, remote)
            with AtomicDownload(local, expected_size=expected, callback=callback) as out:
                conn, announced = ftp.ntransfercmd(f"RETR {remote}")
                if out.expected_size is None and announced is not None:
                    out.expected_size = announced
                buffer = bytearray(DOWNLOAD_FILL)
                view = memoryview(buffer)
                with conn, _explained(ftp):
                    while True:
                        filled = 0
                        # Fill the reused buffer record by record (<= 16 KiB each): no
                        # allocation per read, one disk write per buffer.
                        while filled < DOWNLOAD_FILL:
                            count = conn.recv_into(view[filled:])
                            if not count:
                                break
                            filled += count
                        if filled:
                            out.write(view[:filled])
                        if filled < DOWNLOAD_FILL:
                            break
                # 226 only after the server has sent everything; a 426 here aborts the
                # download and AtomicDownload removes the partial file.
                ftp.voidresp()
            return TransferResult(
                direction="get", local=local, remote=self.user_path(remote), size=out.written,
                elapsed=out.elapsed, sha256=out.sha256, details=self._details(first),
            )

        return self._run("downloading", remote, work)

    def _put_file(self, local: str, remote: str, callback: ProgressCallback | None) -> TransferResult:
        handle, size = open_for_upload(local)
        first = len(self.data_connections)
        folder, name = posixpath.split(remote)
        target = (
            posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.xfer-part")
            if self._upload_temp_name
            else remote
        )
        started = time.monotonic()
        verified = False

        def work(ftp: FTPSConnection) -> None:
            nonlocal verified
            conn, _ = ftp.ntransfercmd(f"STOR {target}")
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
                    conn.unwrap()
            ftp.voidresp()
            if callback is not None and size == 0:
                callback(0, 0)
            stored = self._size(ftp, target)
            if stored is not None:
                if stored != size:
                    raise IntegrityError(
                        f"{self.settings.server} stored {stored} bytes of {remote}, we sent {size}; "
                        "the upload was removed",
                        hint="run the command again; check the server's disk space",
                    )
                verified = True
            if target != remote:
                self._rename_over(ftp, target, remote)

        try:
            with handle:
                self._run("uploading", target if target == remote else folder, work)
        except BaseException:
            self._cleanup(target)
            raise
        details = self._details(first)
        details["size_verified"] = verified
        details["temp_name"] = self._upload_temp_name
        return TransferResult(
            direction="put", local=local, remote=self.user_path(remote), size=size,
            elapsed=time.monotonic() - started, details=details,
        )

    def _rename_over(self, ftp: FTPSConnection, source: str, destination: str) -> None:
        """RNFR/RNTO that replaces ``destination``; IIS-style servers refuse that, so retry once."""
        try:
            ftp.sendcmd(f"RNFR {source}")
            ftp.voidcmd(f"RNTO {destination}")
        except ftplib.error_perm:
            if self._kind(ftp, destination) != "file":
                raise
            ftp.voidcmd(f"DELE {destination}")
            ftp.sendcmd(f"RNFR {source}")
            ftp.voidcmd(f"RNTO {destination}")

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
        def work(ftp: FTPSConnection) -> None:
            if self._kind(ftp, path) == "directory":
                return
            if not parents:
                ftp.voidcmd(f"MKD {path}")
                return
            current = ""
            for part in [p for p in path.split("/") if p]:
                current = f"{current}/{part}"
                kind = self._kind(ftp, current)
                if kind == "directory":
                    continue
                if kind is not None:
                    raise RemoteError(f"{self.settings.server}: {current} exists and is not a folder")
                ftp.voidcmd(f"MKD {current}")

        self._run("creating the folder", path, work)

    def _rm(self, path: str, recursive: bool) -> None:
        def work(ftp: FTPSConnection) -> None:
            try:
                ftp.voidcmd(f"DELE {path}")
                return
            except ftplib.error_perm as exc:
                if self._kind(ftp, path) != "directory":
                    raise exc
                if not recursive:
                    raise RemoteError(
                        f"{self.settings.server}: {path} is a folder", hint="use recursive=True (-r)"
                    ) from exc
            self._remove_tree(ftp, path)

        self._run("removing", path, work)

    def _remove_tree(self, ftp: FTPSConnection, folder: str) -> None:
        if "MLST" in self._features:
            entries = [e for e in (parse_mlsx_line(x, folder) for x in self._read_lines(ftp, f"MLSD {folder}"))
                       if e is not None]
        else:
            entries = [e for e in (parse_list_line(x, folder) for x in self._read_lines(ftp, f"LIST {folder}"))
                       if e is not None]
        for entry in entries:
            if entry.type == "directory":
                self._remove_tree(ftp, entry.path)
            else:
                ftp.voidcmd(f"DELE {entry.path}")
        ftp.voidcmd(f"RMD {folder}")

    def _rmdir(self, path: str) -> None:
        self._run("removing the folder", path, lambda ftp: ftp.voidcmd(f"RMD {path}"))

    def _mv(self, source: str, destination: str) -> None:
        def work(ftp: FTPSConnection) -> None:
            try:
                ftp.sendcmd(f"RNFR {source}")
            except ftplib.error_perm as exc:
                raise self._refine(self._translate(exc, "renaming", source), exc, source) from exc
            ftp.voidcmd(f"RNTO {destination}")

        self._run("renaming to", destination, work)


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
