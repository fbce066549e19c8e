"""A small purpose-built FTPS server with the behaviours of servers the bed does not have.

pyftpdlib (:mod:`xfer.testing.ftps_server`) is one well-behaved implementation.  Real
servers differ in ways that are legal, or at least common, and that break clients::

    with FakeFTPSServer(pki, root=folder, data_order="handshake-first") as srv:
        with srv.adapter(context) as remote: ...

Switches (keyword arguments), each one behaviour seen in the field:

``data_order``
    ``"reply-first"`` (vsftpd, proftpd): the data connection is accepted only once the
    transfer command has arrived, the ``150`` is sent, and only then is the data
    connection's TLS handshake taken.  ``"handshake-first"`` (the popular Node.js
    ftp-srv): the ``150`` is withheld until the client has completed the data
    connection's handshake; after ``handshake_wait`` seconds without one: ``425``.
``mlst`` / ``size``
    whether MLST/MLSD and SIZE exist (``False``: ``502``, as vsftpd-like servers say).
``size_on_folders``
    ``SIZE dir`` answers ``213 4096`` (the directory inode's size), as some servers do.
``size_refused``
    server paths of files whose ``SIZE`` is refused with ``550 NAME: file too large for SIZE``
    (proftpd's ``<Limit SIZE>``, servers with a 32-bit SIZE); RETR, MDTM and MLST still work.
``cut_after``
    every download and listing stream stops after that many bytes with a TCP FIN and
    no TLS close_notify, and the server still says ``226`` (a truncation it did not
    notice, or one forged on the path).
``abort_after``
    every download sends that many bytes, closes the data connection cleanly (TLS
    close_notify) and then says ``426 Transfer aborted; N bytes transmitted.``: the server's
    own word that the stream is not whole (a server-side abort, or a cut it noticed).
``endless_listing``
    MLSD and LIST stream names until the client stops reading.
``echo_password``
    every error reply quotes the last ``PASS`` line (password included), as some
    servers echo the command they refuse.
``rnto_replaces``
    RNTO deletes whatever is at the target first, folders included (no POSIX
    ``rename`` rules): the client alone must keep a folder from being replaced.
``require_session_reuse``
    a data connection that does not resume the control session gets ``522`` (vsftpd).
``answer_close_notify``
    ``False``: at the end of an upload the server closes the data connection with a
    TCP FIN instead of answering the client's close_notify with its own.
``await_fin``
    at the end of an upload the server neither answers the client's close_notify nor closes
    the data connection: it waits for the client's TCP FIN (half a minute at most), then ``226``.
``replies``
    exact command lines answered with a fixed reply instead of being carried out
    (``{"DELE /in/b.edi": "550 Permission denied."}``): one refusal in the middle of a
    larger operation.
``reply_suffix``
    words appended to every reply (the server's own language); lone surrogates go out as
    the bytes they stand for (``" (Gr\\udcfc\\udcdfe)"``: a Latin-1 server's "Grüße", not
    UTF-8).  Names in the root that are not UTF-8 are listed and taken the same way.
``rest_ignored``
    ``REST`` is answered ``350`` and then forgotten: the next ``RETR`` sends from byte 0, the next
    ``STOR`` writes from byte 0.
``store_only``
    of an upload's data only that many bytes are stored; the server does not answer the
    client's close_notify (as with ``answer_close_notify=False``) and still says ``226``:
    a truncation only a size or hash check can show.
``hang_up_after_data``
    after a download's data (ended properly, close_notify and all) the server closes the
    control connection instead of sending its final reply.
``silent_after_data``
    after a download's data (ended properly) the server stays connected and says nothing: no
    final reply, no hang-up, until the client gives up.
``listed_as_file``
    names of folders that MLSD and LIST call files (``type=file``, a ``-`` mode), as servers
    do for a link to a folder or an entry they cannot stat: the listing is wrong, and RETR
    of the name is refused as a folder's.
``silent_after_cut``
    a download the client stops reading (a ranged read closing its data connection early)
    gets no final reply at all, neither ``426`` nor ``226`` (seen from pure-ftpd and proftpd
    at times): the client must not wait for one forever.
``drop_on``
    exact command lines at which the server hangs up without a reply (a connection lost,
    a server process killed, mid-dialogue).
``trickled``
    exact command lines answered with a reply that never ends: a continuation line
    (``250-still working``) every that many seconds, each well within any timeout, until the
    client hangs up (a minute at most).  Only a limit on the whole reply stops the wait.
``replies_once``
    the same, for the first time the line arrives only (a race: another client
    creates a folder between our look and our MKD); before ``replies`` for that line, which
    answers every later time.
``unlistable``
    folders (server paths) this server may enter but not read (``x`` without ``r``, or an
    SELinux label): LIST and MLSD of one send an empty listing and end with vsftpd's
    ``226 Transfer done (but failed to open directory).``, a success code for a failure.
    (The other legal answer, ``550``, is a ``replies`` entry for the ``LIST`` line.)
``empty_listing``
    the reply LIST and MLSD of an empty folder get instead of an empty listing: ``"450 No files
    found"`` or ``"550 No files found"``, the NLST habit of proftpd and wu-ftpd (None: an
    empty listing and ``226``).
``empty_transfer``
    how a listing of an empty folder and a download of an empty file end: ``"final-only"``, the
    data connection accepted and closed, and only a ``226`` (no ``150``); ``"no-tls"``, a
    ``150``, the data connection closed before any TLS, then ``226``.  None: TLS, no bytes,
    close_notify.
``preliminary_reply``
    the ``150`` of every transfer (default ``"150 Here comes the data."``): how a server words it,
    with the file's name or size in it.
``extra_preliminary``
    a second preliminary reply sent after every ``150`` (``"125 Transfer starting."``).
``mlst_shape``
    how an ``MLST`` reply carries its facts: ``"rfc"`` (``250-``, a fact line starting with a
    space, ``250 End``), ``"no-space"`` (the fact line without its leading space), or
    ``"one-line"`` (a single ``250 facts path``), as some servers answer.
``mlsd_no_facts``
    names MLSD lists with an empty fact set (``" NAME"``, which RFC 3659 allows).
``greeting_wait``
    a reply sent before the ``220`` greeting (``"120 Service ready in 1 minutes."``, RFC 959).
``account_required``
    ``PASS`` is answered ``332 Need account for login.``, and ``ACCT`` is refused.
``epsv``
    how ``EPSV`` is answered: ``"ok"``; ``"refused"`` (``550 EPSV not allowed``); ``"dead-port"``
    (``229`` naming a port nothing listens on, as behind a NAT that rewrites only PASV replies);
    ``"bare"`` (the ``|||port|`` without the parentheses RFC 2428 requires).  PASV always works.
``list_format``
    how LIST prints a time: ``"year"`` (``Nov 30  2026`` for every file), ``"ls"`` (as
    vsftpd and GNU ``ls``: ``Nov 30 11:07`` within the last 182 days of the server's clock and
    not in its future, else the year), ``"long-iso"`` (``2026-11-30 11:07``, ``ls
    --time-style=long-iso``), ``"dos"`` (IIS: ``11-30-26  11:07AM``).
``list_months``
    the twelve month words LIST prints (a localized server: ``("Jan", "Feb", "Mär", ...)``).
``list_zone``
    hours east of UTC of the clock LIST prints times in (proftpd, pure-ftpd and IIS print local
    time; ``-5``: five hours west), or a zone's name (``"Europe/Berlin"``: each file at that
    zone's offset on its own date, summer time and all).  MDTM, MLSD and MLST stay in UTC, as
    RFC 3659 says.
``hide_dotfiles``
    LIST leaves out names starting with ``.``, as vsftpd does without ``force_dot_files`` and
    pure-ftpd without ``-D``; MLSD shows them (RFC 3659), and every command still finds them.
``win32_names``
    every name loses its trailing dots and spaces, as Win32 paths drop them (IIS, any server on
    NTFS through them): ``STOR report.`` writes ``report``, and ``report`` is what LIST shows.
``list_limit``
    at most this many names in one listing (LIST and MLSD), ended as pure-ftpd ends a listing
    at its ``-L`` limit (10,000 by default; also a folder of exactly that many names):
    ``226 Output truncated to N matches``.
``skip_control_names``
    LIST and MLSD leave out every name holding a control character (below 0x20, DEL), without
    a word, as pure-ftpd does (ls.c, ``checkprintable``); every other command finds them.
``list_links``
    LIST shows a symbolic link as one (``lrwxrwxrwx ... name -> target``), as vsftpd, pure-ftpd
    and ProFTPD do; by default as what it points to (``ls -L``).
``list_control_as``
    LIST prints each control character of a name as this (vsftpd: ``"?"``).
``list_splits_paths``
    LIST takes its argument as pure-ftpd does: words split at spaces, each a path of its own
    (``LIST /my dir`` lists ``/my`` and ``dir``: nothing, "0 matches total").
``list_cut_reply``
    the words of that reply (``{limit}`` the limit): pure-ftpd's in another language, or
    ``"Transfer complete"`` as ProFTPD's ``ListOptions maxfiles`` cuts, without a word.
``mdtm``
    ``False``: no MDTM (``502``, not in FEAT).
``clock_ahead``
    seconds the server's clock runs ahead of the real one: a stored file gets its time, and
    LIST's "within the last half year" reckons with it.
``list_extra``
    lines every LIST sends before its entries ("total 12", or one no parser can read).
``site_utime``
    the ``SITE UTIME`` forms taken (there is never ``MFMT``): ``"five"``
    (``SITE UTIME path atime mtime ctime UTC``), ``"two"`` (``SITE UTIME YYYYMMDDhhmmss
    path``), both as pure-ftpd and proftpd's mod_site_misc, or one of them; ``SITE HELP``
    then lists ``UTIME``.  A form not taken gets ``501``; without any, ``SITE HELP`` answers
    as vsftpd (``214 CHMOD UMASK HELP``) and ``SITE UTIME`` is ``500``.

The server works on a real folder (``root``), one thread per client, blocking sockets.
What it saw is recorded: :attr:`FakeFTPSServer.commands`, and per data connection
:attr:`FakeFTPSServer.data_connections` (command, order of events, session resumed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import posixpath
import shutil
import socket
import socketserver
import ssl
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..types import CONTROL_CHARACTER
from ._ftps_endpoint import FTPSEndpoint
from ._serving import ThreadedSocketServer, server_context

if TYPE_CHECKING:
    from .pki import TestPKI

__all__ = ["DataRecord", "EmptyTransfer", "EpsvAnswer", "FakeFTPSServer", "MlstShape"]

DataOrder = Literal["reply-first", "handshake-first"]
ListFormat = Literal["year", "ls", "long-iso", "dos"]
EmptyTransfer = Literal["final-only", "no-tls"]
MlstShape = Literal["rfc", "no-space", "one-line"]
EpsvAnswer = Literal["ok", "refused", "dead-port", "bare"]

_C_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: What vsftpd (and GNU ls) call recent: printed with its time rather than its year.
_RECENT = dt.timedelta(days=182)

#: What one listing line of the endless listing looks like (MLSD); LIST gets an ls -l line.
_ENDLESS_BLOCK = 256


@dataclass
class DataRecord:
    """One data connection as the server saw it."""

    command: str
    #: In order: "150" (preliminary reply sent), "handshake" (data TLS up), "425", "522"...
    events: list[str] = field(default_factory=list)
    resumed: bool | None = None


class _Quit(Exception):
    """The client said QUIT or hung up."""


class FakeFTPSServer(FTPSEndpoint, ThreadedSocketServer):
    """See the module docstring.  A context manager; :meth:`adapter` opens an xfer adapter on it."""

    def __init__(
        self,
        pki: TestPKI,
        *,
        root: str | os.PathLike[str],
        implicit: bool = False,
        host: str = "127.0.0.1",
        tls_max: str | None = None,
        user: str = "xfer",
        password: str = "xfer-ftp-password",
        data_order: DataOrder = "reply-first",
        handshake_wait: float = 5.0,
        mlst: bool = True,
        size: bool = True,
        size_on_folders: bool = False,
        size_refused: Iterable[str] = (),
        cut_after: int | None = None,
        abort_after: int | None = None,
        endless_listing: bool = False,
        echo_password: bool = False,
        rnto_replaces: bool = False,
        require_session_reuse: bool = True,
        answer_close_notify: bool = True,
        await_fin: bool = False,
        replies: Mapping[str, str] | None = None,
        replies_once: Mapping[str, str] | None = None,
        trickled: Mapping[str, float] | None = None,
        drop_on: Iterable[str] = (),
        silent_after_cut: bool = False,
        site_utime: tuple[str, ...] = (),
        reply_suffix: str = "",
        rest_ignored: bool = False,
        store_only: int | None = None,
        hang_up_after_data: bool = False,
        silent_after_data: bool = False,
        listed_as_file: Iterable[str] = (),
        unlistable: Iterable[str] = (),
        empty_listing: str | None = None,
        empty_transfer: EmptyTransfer | None = None,
        mlst_shape: MlstShape = "rfc",
        greeting_wait: str | None = None,
        epsv: EpsvAnswer = "ok",
        account_required: bool = False,
        mlsd_no_facts: Iterable[str] = (),
        extra_preliminary: str | None = None,
        preliminary_reply: str = "150 Here comes the data.",
        list_format: ListFormat = "year",
        list_months: Sequence[str] = _C_MONTHS,
        list_zone: float | str = 0.0,
        hide_dotfiles: bool = False,
        win32_names: bool = False,
        list_limit: int | None = None,
        list_cut_reply: str = "Output truncated to {limit} matches",
        skip_control_names: bool = False,
        list_links: bool = False,
        list_control_as: str | None = None,
        list_splits_paths: bool = False,
        mdtm: bool = True,
        clock_ahead: float = 0.0,
        list_extra: Sequence[str] = (),
    ) -> None:
        self._endpoint(pki, root, implicit=implicit, host=host, user=user, password=password)
        self.data_order = data_order
        self.handshake_wait = handshake_wait
        self.mlst = mlst
        self.size = size
        self.size_on_folders = size_on_folders
        self.size_refused = frozenset(size_refused)
        self.cut_after = cut_after
        self.abort_after = abort_after
        self.endless_listing = endless_listing
        self.echo_password = echo_password
        self.rnto_replaces = rnto_replaces
        self.require_session_reuse = require_session_reuse
        self.answer_close_notify = answer_close_notify
        self.await_fin = await_fin
        self.replies = dict(replies or {})
        self.replies_once = dict(replies_once or {})
        self.trickled = dict(trickled or {})
        self.drop_on = frozenset(drop_on)
        self.silent_after_cut = silent_after_cut
        if set(site_utime) - {"five", "two"}:
            raise ValueError(f"site_utime takes 'five' and 'two', not {site_utime!r}")
        self.site_utime = site_utime
        self.reply_suffix = reply_suffix
        self.rest_ignored = rest_ignored
        self.store_only = store_only
        self.hang_up_after_data = hang_up_after_data
        self.silent_after_data = silent_after_data
        self.listed_as_file = frozenset(listed_as_file)
        self.empty_listing = empty_listing
        self.empty_transfer = empty_transfer
        self.mlst_shape = mlst_shape
        self.greeting_wait = greeting_wait
        self.epsv = epsv
        self.account_required = account_required
        self.mlsd_no_facts = frozenset(mlsd_no_facts)
        self.extra_preliminary = extra_preliminary
        self.preliminary_reply = preliminary_reply
        self.unlistable = frozenset("/" + "/".join(p for p in path.split("/") if p) for path in unlistable)
        if len(list_months) != 12:
            raise ValueError("list_months takes twelve month words")
        self.list_format = list_format
        self.list_months = tuple(list_months)
        self.list_zone: dt.tzinfo = (zoneinfo.ZoneInfo(list_zone) if isinstance(list_zone, str)
                                     else dt.timezone(dt.timedelta(hours=list_zone)))
        self.hide_dotfiles = hide_dotfiles
        self.win32_names = win32_names
        self.list_limit = list_limit
        self.list_cut_reply = list_cut_reply
        self.skip_control_names = skip_control_names
        self.list_links = list_links
        self.list_control_as = list_control_as
        self.list_splits_paths = list_splits_paths
        self.mdtm = mdtm
        self.clock_ahead = clock_ahead
        self.list_extra = tuple(list_extra)
        self.context = server_context(pki, tls_max=tls_max)
        #: Every command line received, in order (PASS included: this is a test server).
        self.commands: list[str] = []
        #: Every data connection, in order.
        self.data_connections: list[DataRecord] = []
        #: Bytes the endless listing sent before the client stopped reading.
        self.endless_sent = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                _Session(owner, self.request).run()

        tcp = socketserver.ThreadingTCPServer((host, 0), Handler)
        tcp.daemon_threads = True
        self._httpd = tcp
        self._port: int = tcp.socket.getsockname()[1]

    @property
    def port(self) -> int:
        return self._port

    def take_reply_once(self, line: str) -> str | None:
        with self._lock:
            return self.replies_once.pop(line, None)

    def record(self, line: str) -> None:
        with self._lock:
            self.commands.append(line)


class _Session:
    """One control connection."""

    def __init__(self, server: FakeFTPSServer, sock: socket.socket) -> None:
        self.server = server
        self.sock: socket.socket = sock
        self.reader = sock.makefile("rb")
        self.logged_in = False
        #: The working directory (CWD): a path that does not start with "/" is under it.
        self.cwd = "/"
        self.user = ""
        self.last_pass = ""
        self.protected = False
        self.listener: socket.socket | None = None
        self.rename_from: Path | None = None
        self.restart = 0  # REST offset for the next RETR
        sock.settimeout(30)

    # -- plumbing --------------------------------------------------------------------------

    def reply(self, text: str) -> None:
        if text[:1] in "45" and self.server.echo_password and self.last_pass:
            text = f"{text} (command was: PASS {self.last_pass})"
        text += self.server.reply_suffix
        self.sock.sendall(text.encode("utf-8", "surrogateescape") + b"\r\n")

    def run(self) -> None:
        try:
            if self.server.implicit:
                self.secure_control()
            if self.server.greeting_wait is not None:
                self.reply(self.server.greeting_wait)
            self.reply("220 xfer fake FTPS server ready.")
            while True:
                raw = self.reader.readline(4096)
                if not raw:
                    return
                line = raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
                self.server.record(line)
                if line in self.server.drop_on:
                    return  # the finally below closes the socket, no reply
                if line in self.server.trickled:
                    self.trickle(self.server.trickled[line])
                    return
                canned = self.server.take_reply_once(line) or self.server.replies.get(line)
                if canned is not None:
                    self.reply(canned)
                    continue
                verb, _, arg = line.partition(" ")
                try:
                    self.dispatch(verb.upper(), arg)
                except _Quit:
                    return
        except (OSError, ValueError):
            return
        finally:
            self.close_listener()
            with contextlib.suppress(OSError):
                self.sock.close()

    def trickle(self, every: float) -> None:
        """A reply that never ends (``trickled``): one continuation line every ``every`` seconds."""
        ends = time.monotonic() + 60
        while time.monotonic() < ends:
            self.sock.sendall(b"250-still working\r\n")
            time.sleep(every)

    def secure_control(self) -> None:
        self.sock = self.server.context.wrap_socket(self.sock, server_side=True)
        self.reader = self.sock.makefile("rb")

    def path(self, arg: str) -> Path:
        """The local path for a server path (relative: under the working directory); never
        outside the root."""
        if not arg.startswith("/"):
            arg = posixpath.join(self.cwd, arg)
        parts = [p for p in arg.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PermissionError(arg)
        if self.server.win32_names:
            parts = [part.rstrip(". ") or part for part in parts]
        return self.server.root.joinpath(*parts) if parts else self.server.root

    def dispatch(self, verb: str, arg: str) -> None:
        handler: Callable[[str], None] | None = getattr(self, f"cmd_{verb}", None)
        if verb not in ("AUTH", "USER", "PASS", "QUIT", "FEAT", "SYST", "NOOP", "PBSZ", "PROT") and not self.logged_in:
            self.reply("530 Please login with USER and PASS.")
            return
        if handler is None or (verb in ("MLSD", "MLST") and not self.server.mlst) or (
            verb == "SIZE" and not self.server.size
        ) or (verb == "MDTM" and not self.server.mdtm):
            self.reply(f"502 Command {verb} not implemented.")
            return
        try:
            handler(arg)
        except PermissionError:
            self.reply("550 Permission denied.")
        except FileNotFoundError:
            self.reply("550 No such file or directory.")
        except OSError as exc:
            self.reply(f"550 {exc.strerror or 'Failed'}.")

    # -- session ---------------------------------------------------------------------------

    def cmd_AUTH(self, arg: str) -> None:
        if arg.upper() != "TLS" or isinstance(self.sock, ssl.SSLSocket):
            self.reply("504 AUTH TLS only.")
            return
        self.reply("234 Proceed with negotiation.")
        self.secure_control()

    def cmd_USER(self, arg: str) -> None:
        self.user = arg
        self.reply("331 Please specify the password.")

    def cmd_PASS(self, arg: str) -> None:
        self.last_pass = arg
        if self.server.account_required:
            self.reply("332 Need account for login.")
        elif self.user == self.server.user and arg == self.server.password:
            self.logged_in = True
            self.reply("230 Login successful.")
        else:
            self.reply("530 Login incorrect.")

    def cmd_QUIT(self, arg: str) -> None:
        self.reply("221 Goodbye.")
        raise _Quit

    def cmd_FEAT(self, arg: str) -> None:
        features = ["PBSZ", "PROT", "UTF8", "EPSV", "PASV", *(["MDTM"] if self.server.mdtm else [])]
        if self.server.mlst:
            features.append("MLST type*;size*;modify*;")
        if self.server.size:
            features.append("SIZE")
        self.sock.sendall(("211-Features:\r\n" + "".join(f" {f}\r\n" for f in features) + "211 End\r\n").encode())

    def cmd_SYST(self, arg: str) -> None:
        self.reply("215 UNIX Type: L8")

    def cmd_NOOP(self, arg: str) -> None:
        self.reply("200 NOOP ok.")

    def cmd_PBSZ(self, arg: str) -> None:
        self.reply("200 PBSZ=0")

    def cmd_PROT(self, arg: str) -> None:
        self.protected = arg.upper() == "P"
        self.reply("200 PROT now Private." if self.protected else "536 Only PROT P.")

    def cmd_OPTS(self, arg: str) -> None:
        self.reply("200 Always in UTF8 mode.")

    def cmd_TYPE(self, arg: str) -> None:
        self.reply("200 Switching to Binary mode.")

    def cmd_PWD(self, arg: str) -> None:
        self.reply('257 "/" is the current directory')

    def cmd_CWD(self, arg: str) -> None:
        if self.path(arg).is_dir():
            self.cwd = posixpath.normpath(posixpath.join(self.cwd, arg))
            self.reply("250 Directory successfully changed.")
        else:
            self.reply("550 Failed to change directory.")

    # -- facts -----------------------------------------------------------------------------

    def cmd_SIZE(self, arg: str) -> None:
        target = self.path(arg)
        if arg in self.server.size_refused:
            self.reply(f"550 {target.name}: file too large for SIZE")
        elif target.is_dir() and self.server.size_on_folders:
            self.reply("213 4096")
        elif target.is_file():
            self.reply(f"213 {target.stat().st_size}")
        else:
            self.reply("550 Could not get file size.")

    def cmd_MDTM(self, arg: str) -> None:
        target = self.path(arg)
        if not target.is_file():
            self.reply("550 Could not get file modification time.")
            return
        self.reply(f"213 {_stamp(target)}")

    def cmd_SITE(self, arg: str) -> None:
        command, _, rest = arg.partition(" ")
        forms = self.server.site_utime
        if command.upper() == "HELP":
            if not forms:
                self.reply("214 CHMOD UMASK HELP")
                return
            self.sock.sendall(b"214-The following SITE commands are recognized\r\n CHMOD\r\n UTIME\r\n214 End\r\n")
            return
        if command.upper() != "UTIME" or not forms:
            self.reply(f"500 'SITE {command.upper()}' not understood")
            return
        five = rest.rsplit(" ", 4)
        if "five" in forms and len(five) == 5 and five[4] == "UTC" and five[1] == five[2] == five[3]:
            stamp, target = five[2], five[0]
        elif "two" in forms and len(rest.split(" ", 1)) == 2:
            stamp, target = rest.split(" ", 1)
        else:
            self.reply("501 Can't get a time stamp")
            return
        try:
            when = dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc).timestamp()
        except ValueError:
            self.reply("501 Can't get a time stamp")
            return
        path = self.path(target)
        if not path.is_file():
            raise FileNotFoundError(target)
        os.utime(path, (when, when))
        self.reply("200 SITE UTIME command successful")

    def cmd_MLST(self, arg: str) -> None:
        target = self.path(arg)
        if not target.exists():
            self.reply("550 No such file or directory.")
            return
        shape = self.server.mlst_shape
        if shape == "one-line":
            self.reply(f"250 {_facts(target)} {arg}")
            return
        self.reply(f"250-Listing {arg}\r\n{'' if shape == 'no-space' else ' '}{_facts(target)} {arg}\r\n250 End")

    # -- changes ---------------------------------------------------------------------------

    def cmd_MKD(self, arg: str) -> None:
        target = self.path(arg)
        if target.exists():
            self.reply("550 Create directory operation failed: File exists.")
            return
        target.mkdir()
        self.reply(f'257 "{arg}" created')

    def cmd_RMD(self, arg: str) -> None:
        self.path(arg).rmdir()
        self.reply("250 Remove directory operation successful.")

    def cmd_DELE(self, arg: str) -> None:
        target = self.path(arg)
        if target.is_dir() and not target.is_symlink():  # (a link is removed, as unlink(2) does)
            self.reply("550 Delete operation failed.")
            return
        target.unlink()
        self.reply("250 Delete operation successful.")

    def cmd_RNFR(self, arg: str) -> None:
        target = self.path(arg)
        if not target.exists():
            self.reply("550 RNFR command failed.")
            return
        self.rename_from = target
        self.reply("350 Ready for RNTO.")

    def cmd_RNTO(self, arg: str) -> None:
        source, self.rename_from = self.rename_from, None
        if source is None:
            self.reply("503 RNFR required first.")
            return
        target = self.path(arg)
        if self.server.rnto_replaces and target.exists():
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        os.rename(source, target)
        self.reply("250 Rename successful.")

    # -- data connections ------------------------------------------------------------------

    def close_listener(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()

    def open_listener(self) -> int:
        self.close_listener()
        listener = socket.create_server((self.server.host, 0))
        listener.settimeout(10)
        self.listener = listener
        port: int = listener.getsockname()[1]
        return port

    def cmd_EPSV(self, arg: str) -> None:
        how = self.server.epsv
        if how == "refused":
            self.reply("550 EPSV not allowed.")
        elif how == "dead-port":
            with socket.create_server((self.server.host, 0)) as closed:
                port = closed.getsockname()[1]  # closed at once: nothing listens there
            self.reply(f"229 Entering Extended Passive Mode (|||{port}|)")
        elif how == "bare":
            self.reply(f"229 Entering Extended Passive Mode |||{self.open_listener()}|")
        else:
            self.reply(f"229 Entering Extended Passive Mode (|||{self.open_listener()}|)")

    def cmd_PASV(self, arg: str) -> None:
        port = self.open_listener()
        self.reply(f"227 Entering Passive Mode (127,0,0,1,{port >> 8},{port & 0xFF}).")

    @contextlib.contextmanager
    def data(self, command: str) -> Iterator[ssl.SSLSocket | None]:
        """Accept the data connection and secure it, in this server's order.

        Yields the TLS data socket, or None if the transfer failed before it (the
        failure reply has been sent).  The final reply is the caller's.
        """
        record = DataRecord(command)
        with self.server._lock:
            self.server.data_connections.append(record)
        listener, self.listener = self.listener, None
        if listener is None or not self.protected:
            self.reply("425 Use EPSV or PASV first (and PROT P).")
            yield None
            return
        try:
            raw, _ = listener.accept()
        except OSError:
            self.reply("425 Failed to establish connection.")
            yield None
            return
        finally:
            listener.close()
        conn: ssl.SSLSocket | None = None
        try:
            if self.server.data_order == "reply-first":
                self.preliminary()
                record.events.append("150")
            raw.settimeout(self.server.handshake_wait if self.server.data_order == "handshake-first" else 10)
            try:
                conn = self.server.context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                # ftp-srv's words after its own wait for the client's handshake.
                record.events.append("425")
                self.reply("425 Unable to secure data connection.")
                yield None
                return
            record.events.append("handshake")
            record.resumed = conn.session_reused
            if self.server.require_session_reuse and not conn.session_reused:
                record.events.append("522")
                self.reply("522 SSL connection failed: session reuse required")
                yield None
                return
            conn.settimeout(10)
            if self.server.data_order == "handshake-first":
                self.preliminary()
                record.events.append("150")
            yield conn
        finally:
            with contextlib.suppress(OSError):
                (conn or raw).close()

    def preliminary(self) -> None:
        """The ``150`` of a transfer (``preliminary_reply``), and ``extra_preliminary`` after it."""
        self.reply(self.server.preliminary_reply)
        if self.server.extra_preliminary is not None:
            self.reply(self.server.extra_preliminary)

    def empty(self) -> bool:
        """An empty transfer the ``empty_transfer`` way (False: this server has none)."""
        how = self.server.empty_transfer
        listener, self.listener = self.listener, None
        if how is None or listener is None:
            self.listener = listener
            return False
        with listener:
            raw, _ = listener.accept()
        if how == "no-tls":
            self.reply("150 Opening data connection.")
        raw.close()
        self.reply("226 Transfer complete.")
        return True

    def send_stream(self, conn: ssl.SSLSocket, chunks: Iterator[bytes]) -> bool:
        """Send ``chunks``; honour ``cut_after``.  False if the client went away."""
        budget = self.server.cut_after
        try:
            for whole in chunks:
                chunk = whole if budget is None else whole[:budget]
                if budget is not None:
                    budget -= len(chunk)
                conn.sendall(chunk)
                if budget == 0:
                    break
        except OSError:
            return False
        if budget is not None:
            # A TCP FIN without close_notify: the TLS layer is dropped, not closed.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            return True
        with contextlib.suppress(OSError, ValueError):
            conn.unwrap()
        return True

    def cmd_REST(self, arg: str) -> None:
        self.restart = 0 if self.server.rest_ignored else int(arg)
        self.reply(f"350 Restart position accepted ({arg}).")

    def cmd_RETR(self, arg: str) -> None:
        target = self.path(arg)
        offset, self.restart = self.restart, 0
        if not target.is_file():
            self.reply("550 Failed to open file.")
            return
        if not target.stat().st_size and self.empty():
            return
        aborted: int | None = None
        with open(target, "rb") as handle, self.data("RETR") as conn:
            handle.seek(offset)
            if conn is None:
                return
            if self.server.abort_after is not None:
                aborted = len(sent := handle.read(self.server.abort_after))
                done = self.send_stream(conn, iter([sent]))
            else:
                done = self.send_stream(conn, iter(lambda: handle.read(65536), b""))
        if aborted is not None:
            self.reply(f"426 Transfer aborted; {aborted} bytes transmitted.")
            return
        if done and self.server.hang_up_after_data:
            raise _Quit
        if done and self.server.silent_after_data:
            return
        if not done and self.server.silent_after_cut:
            return
        self.reply("226 Transfer complete." if done else "426 Connection closed; transfer aborted.")

    def cmd_STOR(self, arg: str) -> None:
        target = self.path(arg)
        if not target.parent.is_dir():
            self.reply("553 Could not create file.")
            return
        if target.is_dir():
            self.reply("553 Could not create file.")
            return
        with open(target, "wb") as handle, self.data("STOR") as conn:
            if conn is None:
                return
            keep = self.server.store_only
            try:
                while chunk := conn.recv(65536):
                    handle.write(chunk if keep is None else chunk[: max(keep - handle.tell(), 0)])
            except OSError:
                self.reply("426 Failure reading network stream.")
                return
            with contextlib.suppress(OSError, ValueError):
                if self.server.await_fin:
                    with socket.socket(fileno=os.dup(conn.fileno())) as raw:
                        raw.settimeout(30)
                        raw.recv(1)  # b"" at the client's FIN
                elif self.server.answer_close_notify and keep is None:
                    conn.unwrap()
                else:
                    conn.shutdown(socket.SHUT_RDWR)
        if self.server.clock_ahead:
            now = time.time() + self.server.clock_ahead  # the time on the server's own clock
            os.utime(target, (now, now))
        self.reply("226 Transfer complete.")

    def listing(
        self, verb: str, arg: str, line: Callable[[Path, frozenset[str]], str], *, all_names: bool = False
    ) -> None:
        folder = self.path(arg)
        if not folder.is_dir():
            self.reply("550 Failed to list directory.")
            return
        if self.server.empty_listing is not None and not any(folder.iterdir()):
            self.reply(self.server.empty_listing)
            return
        if not any(folder.iterdir()) and self.empty():
            return
        unreadable = "/" + "/".join(p for p in arg.split("/") if p not in ("", ".")) in self.server.unlistable
        with self.data(verb) as conn:
            if conn is None:
                return
            if unreadable:
                # vsftpd (postlogin.c): the data connection carries nothing, the reply a success code.
                self.send_stream(conn, iter([b""]))
                self.reply("226 Transfer done (but failed to open directory).")
                return
            if self.server.endless_listing:
                done = self.send_stream(conn, self._endless(verb == "MLSD"))
            else:
                lines = [*self.server.list_extra] if verb == "LIST" else []
                hidden = verb == "LIST" and self.server.hide_dotfiles and not all_names
                skipped = self.server.skip_control_names
                lines += [line(p, self.server.listed_as_file) for p in sorted(folder.iterdir())
                          if not (hidden and p.name.startswith("."))
                          and not (skipped and CONTROL_CHARACTER.search(p.name))]
                limit = self.server.list_limit
                cut = limit is not None and len(lines) >= limit  # (pure-ftpd: matches >= max_ls_files)
                lines = lines[:limit] if cut else lines
                body = "".join(f"{text}\r\n" for text in lines)
                done = self.send_stream(conn, iter([body.encode("utf-8", "surrogateescape")]))
                if done and cut:
                    self.reply("226 " + self.server.list_cut_reply.format(limit=limit))
                    return
        self.reply("226 Directory send OK." if done else "426 Connection closed; transfer aborted.")

    def _endless(self, mlsd: bool) -> Iterator[bytes]:
        number = 0
        while True:
            lines = []
            for _ in range(_ENDLESS_BLOCK):
                number += 1
                name = f"file-{number:012d}.edi"
                lines.append(f"type=file;size=1; {name}\r\n" if mlsd
                             else f"-rw-r--r--    1 ftp ftp 1 Jan 01  2024 {name}\r\n")
            block = "".join(lines).encode()
            self.server.endless_sent += len(block)
            yield block

    def cmd_MLSD(self, arg: str) -> None:
        bare = self.server.mlsd_no_facts

        def line(path: Path, as_file: frozenset[str]) -> str:
            return f" {path.name}" if path.name in bare else _mlsd_line(path, as_file)

        self.listing("MLSD", arg, line)

    def cmd_LIST(self, arg: str) -> None:
        # ls options first, as vsftpd, pure-ftpd and ProFTPD take them: "-a" shows dot names too.
        options, _, rest = arg.partition(" ") if arg.startswith("-") else ("", "", arg)
        if self.server.list_splits_paths and " " in rest:
            with self.data("LIST") as conn:
                if conn is not None:
                    self.send_stream(conn, iter([b""]))
                    self.reply("226 0 matches total")
            return
        self.listing("LIST", rest, self.list_line, all_names="a" in options)

    def list_line(self, path: Path, as_file: frozenset[str] = frozenset()) -> str:
        """``path`` as this server's LIST prints it (``list_format``, ``list_months``, ``list_zone``,
        ``list_links``, ``list_control_as``)."""
        line = self._list_line(path, as_file)
        shown = self.server.list_control_as
        if shown is not None and not path.is_symlink():
            printed = CONTROL_CHARACTER.sub(lambda _: shown, path.name)
            line = line[: len(line) - len(path.name)] + printed
        return line

    def _list_line(self, path: Path, as_file: frozenset[str]) -> str:
        server = self.server
        if server.list_links and path.is_symlink():
            stamp = dt.datetime.fromtimestamp(path.lstat().st_mtime, dt.timezone.utc).strftime("%b %d  %Y")
            target = path.readlink()
            return f"lrwxrwxrwx    1 ftp      ftp      {len(str(target)):>8} {stamp} {path.name} -> {target}"
        if server.list_format == "year" and server.list_months == _C_MONTHS and server.list_zone is dt.timezone.utc:
            return _list_line(path, as_file)
        is_dir = path.is_dir() and path.name not in as_file
        size = 4096 if path.is_dir() else path.stat().st_size
        when = dt.datetime.fromtimestamp(path.stat().st_mtime, server.list_zone)
        if server.list_format == "dos":
            return f"{when:%m-%d-%y  %I:%M%p}       {'<DIR>         ' if is_dir else f'{size:>14}'} {path.name}"
        if server.list_format == "long-iso":
            stamp = f"{when:%Y-%m-%d %H:%M}"
        else:
            month = server.list_months[when.month - 1]
            now = dt.datetime.now(server.list_zone) + dt.timedelta(seconds=server.clock_ahead)
            recent = server.list_format == "ls" and dt.timedelta(0) <= now - when <= _RECENT
            stamp = f"{month} {when.day:2d} {when:%H:%M}" if recent else f"{month} {when.day:2d}  {when.year}"
        mode = "drwxr-xr-x" if is_dir else "-rw-r--r--"
        return f"{mode}    1 ftp      ftp      {size:>8} {stamp} {path.name}"


def _stamp(path: Path) -> str:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).strftime("%Y%m%d%H%M%S")


def _facts(path: Path, as_file: frozenset[str] = frozenset()) -> str:
    if path.is_dir() and path.name not in as_file:
        return f"type=dir;modify={_stamp(path)};"
    return f"type=file;size={path.stat().st_size};modify={_stamp(path)};"


def _mlsd_line(path: Path, as_file: frozenset[str] = frozenset()) -> str:
    return f"{_facts(path, as_file)} {path.name}"


def _list_line(path: Path, as_file: frozenset[str] = frozenset()) -> str:
    mode = "drwxr-xr-x" if path.is_dir() and path.name not in as_file else "-rw-r--r--"
    size = 4096 if path.is_dir() else path.stat().st_size
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).strftime("%b %d  %Y")
    return f"{mode}    1 ftp      ftp      {size:>8} {stamp} {path.name}"
