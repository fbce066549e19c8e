"""The SFTP adapter: the verbs over one SSH connection, and asyncssh's errors as xfer's.

Uploads go to ``.NAME.RANDOM.xfer-part`` beside the target, are checked by size, then
renamed into place with ``posix-rename@openssh.com`` (an atomic replace); a server without
that extension gets a plain rename, after the old file is moved aside (never deleted
while it is the only copy).  Reads and writes take offsets (:meth:`SFTPAdapter.read_range`,
:meth:`SFTPAdapter.write_range`), which is what resuming is built on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import os
import posixpath
import stat
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar, cast

import asyncssh

from ...errors import (
    ConnectionDropped,
    DeliveryUnknown,
    IntegrityError,
    Interrupted,
    RemoteError,
    RemoteExists,
    RemoteFolderNotEmpty,
    RemoteIsFolder,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerError,
    UnsupportedOperation,
    UsageError,
    XferError,
    folder_missing,
    folder_needs_recursive,
    listing_too_large,
    source_kept,
)
from ...log import logger
from ...protocols.sftp import SFTPOptions
from ...retry import Attempt, current_attempt
from ...streams import SinkFactory
from ...transfer import AtomicDownload, DownloadGroup, FileBody, SentFile, hidden_beside, open_for_upload
from ...verify import Check, HashName, ServerHash, StreamHash, conclude
from ..base import (
    Adapter,
    Capability,
    ConnectionSettings,
    Entry,
    EntryType,
    Landed,
    ProgressCallback,
    Source,
    SourceVersion,
    TransferResult,
    source_changed,
    sources,
)
from ..rename_sent import RenameSent, State, answered, delivery_unknown, sending, settle, unanswered
from ..tree import TreeWalk
from ..writer import RemoteWriter
from .checkfile import CheckFile
from .pipeline import (
    AnsweredClient,
    LongAnswer,
    NoReply,
    Progress,
    block_sizes,
    closing,
    read_blocks,
    write_blocks,
)
from .session import SSHSession, connect_error

__all__ = ["SFTPAdapter"]

_T = TypeVar("_T")
_I = TypeVar("_I")
_log = logger("xfer.sftp")
#: Where a try says it starts over (as a download's part does, xfer.transfer).
_retry_log = logger("xfer.retry")

_TYPES: dict[int, EntryType] = {
    asyncssh.FILEXFER_TYPE_REGULAR: "file",
    asyncssh.FILEXFER_TYPE_DIRECTORY: "directory",
    asyncssh.FILEXFER_TYPE_SYMLINK: "link",
}


def _kind(attrs: asyncssh.SFTPAttrs) -> EntryType:
    if attrs.permissions is not None:
        mode = attrs.permissions
        if stat.S_ISDIR(mode):
            return "directory"
        if stat.S_ISREG(mode):
            return "file"
        if stat.S_ISLNK(mode):
            return "link"
    return _TYPES.get(attrs.type, "other")


def _untyped(attrs: asyncssh.SFTPAttrs) -> bool:
    """Whether ``attrs`` say nothing of the kind of entry (a v3 READDIR name may carry no attributes)."""
    return attrs.permissions is None and attrs.type == asyncssh.FILEXFER_TYPE_UNKNOWN


async def _each_at_once(items: Sequence[_I], ask: Callable[[_I], Awaitable[_T]]) -> list[_T]:
    """``ask(item)`` of every item, in order, at most :data:`_REMOVING_AT_ONCE` in flight (a
    server's queue is not endless)."""
    answers: list[_T] = []
    for first in range(0, len(items), _REMOVING_AT_ONCE):
        answers += await asyncio.gather(*(ask(item) for item in items[first:first + _REMOVING_AT_ONCE]))
    return answers


def _entry(path: str, attrs: asyncssh.SFTPAttrs, *, link: bool = False) -> Entry:
    """``path`` as ``attrs`` describe it; ``link``: reached through a link (``extra["link"]``, the
    target left unsaid: asking READLINK for it would cost a round trip per link)."""
    import datetime as dt

    modified = dt.datetime.fromtimestamp(attrs.mtime, tz=dt.timezone.utc) if attrs.mtime is not None else None
    kind = _kind(attrs)
    return Entry(name=posixpath.basename(path), path=path, type=kind,
                 size=attrs.size if kind == "file" else None, modified=modified, extra={"link": ""} if link else {})


@dataclass(slots=True)
class _Upload:
    """One upload (:meth:`SFTPAdapter._upload`): what is sent, where it is written until it is
    complete (``temp``; None: the name itself), a part an earlier try left (``kept``), and, once
    sent, its body (with the hashes of what was sent) and what proved it."""

    local: str
    remote: str
    handle: BinaryIO
    size: int
    source: SentFile
    callback: ProgressCallback | None
    temp: str | None
    kept: str | None = None
    #: The modification time to give the file with the upload (``preserve_times``), from the
    #: open handle; once given, :attr:`modified_given` (None: not asked, or the server refused).
    modified: float | None = None
    modified_given: dt.datetime | None = None
    body: FileBody | None = None
    verified: Check = "none"
    size_verified: bool = False
    #: Its temporary file may still be on the server: the connection broke, with no retried try
    #: to continue it (a group's upload); whoever sent it removes it on a new connection.
    left: bool = False
    #: The old version the upload replaced, left over because the server would not remove it.
    previous_left: str | None = None
    #: The upload was found in place, moved there by an earlier try (or a group) whose rename's
    #: answer the connection lost (:meth:`SFTPAdapter._settled`): what that try had sent.
    settled: _Moved | None = None

    @property
    def target(self) -> str:
        return self.temp or self.remote


@dataclass(frozen=True, slots=True)
class _Stored:
    """What :meth:`SFTPAdapter._complete` found and did: what ``verified`` says, whether the size
    was compared (the server may not state one), the time the file holds (None: none asked,
    refused, or the server shows another), and the old version left over beside it."""

    verified: Check
    size_verified: bool
    modified: dt.datetime | None
    previous_left: str | None


@dataclass(frozen=True, slots=True)
class _Moved:
    """What an upload whose rename went out had proven (the memo of its
    :class:`~xfer.adapters.rename_sent.RenameSent`): if a later try finds the rename done, the
    upload ends with these, nothing sent again.  ``local``: the hashes of what was sent (the file
    in place is compared with them again); ``sha256``: the result's."""

    local: StreamHash
    sha256: str | None
    modified: dt.datetime | None
    #: The local file's version whose bytes the rename put in place (:attr:`SentFile.version`).
    version: tuple[int, int, int, int] | None = None


def _modified_of(handle: BinaryIO) -> float:
    """The modification time of the open local file (what ``preserve_times`` gives the remote one)."""
    return os.fstat(handle.fileno()).st_mtime


#: Sources looked at and removed at once by :meth:`SFTPAdapter.remove_sources` (a server's queue is
#: not endless; OpenSSH reads requests as it answers them).
_REMOVING_AT_ONCE = 64


def _time_fits(version: int, stamp: float) -> bool:
    """Whether SETSTAT can carry ``stamp``: unsigned seconds, 32 bits in SFTP version 3, 64 after."""
    return 0 <= stamp < 1 << (32 if version == 3 else 64)


def _time_held(attributes: asyncssh.SFTPAttrs, asked: float | None) -> dt.datetime | None:
    """The modification time ``attributes`` show, if it is ``asked`` as the server can keep it (whole
    seconds in version 3, nanoseconds after); None if it shows none, or another."""
    if asked is None or attributes.mtime is None:
        return None
    held = attributes.mtime + (attributes.mtime_ns or 0) / 1e9
    if not -0.001 < asked - held < 1:  # (a float's rounding of nanoseconds either way)
        return None
    return dt.datetime.fromtimestamp(held, dt.timezone.utc)


def _stop_taken_back() -> None:
    """The current task goes on after a cancellation it absorbed (Python 3.11 counts them)."""
    task = asyncio.current_task()
    if task is not None and sys.version_info >= (3, 11):
        task.uncancel()


def _mtime_of(mtime: object) -> dt.datetime | None:
    """A STAT's mtime (whole seconds) as a time: the version a download's source is removed by."""
    return dt.datetime.fromtimestamp(mtime, dt.timezone.utc) if isinstance(mtime, int) else None


def _resume_offset(out: AtomicDownload, facts: dict[str, Any]) -> tuple[int, str]:
    """Where a download goes on: the end of the part an earlier try (or run) kept if the remote
    file is unchanged (same path, size and modification time), else 0; and why not, for the warning."""
    return out.resumable(
        facts, ("size", "mtime"),
        unknown="the server does not tell the file's size and time, so the part kept earlier cannot be checked",
    )


class SFTPAdapter(Adapter):
    """SFTP over SSH (``sftp://``).  The connection opens in the constructor, so a refused
    host key or login fails at ``connect()``; it is reopened once if it dropped between operations.

    Options (the profile's ``[sftp]`` table and top-level ``identity``/``pin``, parsed into
    :class:`~xfer.protocols.sftp.SFTPOptions`): ``certificate``, ``known_hosts``, ``agent``,
    ``upload_temp_name``.
    """

    capabilities = frozenset(Capability)
    LISTS_DOTFILES = True  # READDIR shows every name

    #: Small files go several at a time (:meth:`get_together`, :meth:`put_together`), with HTTP's bounds.
    together_max_size = 64 * 1024
    together_files = 32
    together_bytes = 256 * 1024

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self._options = settings.options_as(SFTPOptions)
        #: Old versions this adapter renamed aside to replace them (where RENAME never replaces),
        #: by the name they belong under, not yet removed or put back: a cut between the two
        #: renames leaves one, which the next install of that name removes and a failure puts
        #: back (:meth:`_put_back`).  Kept here, not on one try: a group's upload that broke is
        #: sent again alone.
        self._asides: dict[str, list[str]] = {}
        #: The renames of a group's uploads (:meth:`put_together`) that went out with no answer
        #: before its connection broke (:mod:`~xfer.adapters.rename_sent`): the upload of that
        #: file alone, a retried operation of its own, settles them before it sends anything.
        #: Kept here for that reason (an adapter is one connection's, never shared).
        self._renames: dict[str, Any] = {}
        #: Names a rename went to with no answer, not settled since (a try's or a group's): the
        #: old version moved aside for one is never put back under it.  The rename may have been
        #: done and the upload taken by the partner: put back, the old version would be taken
        #: again, or taken by a later look for the upload (review R2, finding 1).
        self._unheard: set[str] = set()
        self._ssh: SSHSession | None = SSHSession(settings)

    # -- lifecycle ---------------------------------------------------------------------------

    def _close(self) -> None:
        ssh, self._ssh = self._ssh, None
        if ssh is not None:
            ssh.close()

    def _reopen(self) -> None:
        """Between tries: drop the connection (a cut may have left it half dead); the next verb opens one."""
        self._close()

    @property
    def session(self) -> SSHSession:
        """The open SSH session, reopened if the server dropped it since the last operation."""
        ssh = self._ssh
        if ssh is not None and (ssh.conn is None or ssh.conn.is_closed()):
            ssh.close()
            ssh = self._ssh = None
        if ssh is None:
            ssh = self._ssh = SSHSession(self.settings)
        return ssh

    def _details(self) -> dict[str, Any]:
        conn = self._ssh.conn if self._ssh is not None else None
        return {"cipher": conn.get_extra_info("send_cipher") if conn is not None else None}

    def connection_facts(self) -> dict[str, Any]:
        """The host key and how it was trusted, and how we logged in (``xfer profile test``)."""
        ssh = self.session
        facts: dict[str, Any] = {**self._details()}
        if ssh.host_key is not None:
            facts.update(host_key=ssh.host_key.fingerprint, host_key_trusted_by=ssh.host_key.trusted_by,
                         login=ssh.host_key.username, auth=ssh.host_key.auth)
        certificate = ssh.client_key.facts if ssh.client_key is not None else None
        if certificate is not None:
            facts.update(certificate_key_id=certificate.key_id, certificate_principals=list(certificate.principals),
                         certificate_valid_until=certificate.valid_before.isoformat()
                         if certificate.valid_before else None)
        return facts

    # -- the error boundary ------------------------------------------------------------------

    def _run(self, action: str, path: str, work: Callable[[asyncssh.SFTPClient], Awaitable[_T]]) -> _T:
        """Run ``work`` with the SFTP client on the session's loop; translate what it raises."""
        ssh = self.session

        async def call() -> _T:
            assert ssh.sftp is not None
            # Every request answered within the timeout (a stuck server fails, it does not hang):
            # the work sees the client's interface, each request bounded.
            return await work(cast("asyncssh.SFTPClient", AnsweredClient(ssh.sftp, self.settings.timeout)))

        try:
            return ssh.run(call())
        except XferError:
            raise
        except (asyncssh.Error, OSError, asyncssh.SFTPError) as exc:
            raise self._translate(exc, action, path) from exc

    def _translate(self, exc: BaseException, action: str, path: str) -> XferError:
        server = self.settings.server
        fields: dict[str, Any] = {"server": server, "path": path}
        said = f" (server said: {exc.reason})" if isinstance(exc, asyncssh.SFTPError) and exc.reason else ""
        if isinstance(exc, asyncssh.SFTPNoSuchFile | asyncssh.SFTPNoSuchPath):
            return RemoteNotFound(f"{server}: {path} does not exist", **fields)
        if isinstance(exc, asyncssh.SFTPPermissionDenied | asyncssh.SFTPWriteProtect):
            return RemotePermissionDenied(f"{server}: permission denied while {action} {path}{said}", **fields)
        if isinstance(exc, asyncssh.SFTPFileAlreadyExists):
            return RemoteExists(f"{server}: {path} already exists", **fields)
        if isinstance(exc, asyncssh.SFTPNoSpaceOnFilesystem | asyncssh.SFTPQuotaExceeded):
            return RemoteStorageFull(f"{server}: no space left while {action} {path}{said}", **fields)
        if isinstance(exc, asyncssh.SFTPDirNotEmpty):  # SFTP v5+ servers (asyncssh's own) name it
            return RemoteFolderNotEmpty.refused(said=said.strip(), **fields)
        if isinstance(exc, asyncssh.SFTPFileIsADirectory):
            return RemoteIsFolder(f"{server}: {path} is a folder", **fields)
        if isinstance(exc, asyncssh.SFTPOpUnsupported):
            return UnsupportedOperation(f"{server}: the SFTP server does not support {action}{said}", **fields)
        if isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
            return ConnectionDropped(f"{server}: the SSH connection was lost while {action} {path}", **fields)
        if isinstance(exc, asyncssh.ConnectionLost | ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            # The connection was up (this is an operation on it): a cut, to retry, not a failure to connect.
            why = exc.reason if isinstance(exc, asyncssh.Error) else exc.strerror or type(exc).__name__
            return ConnectionDropped(f"the connection to {server} broke while {action} {path} ({why})", **fields)
        if isinstance(exc, LongAnswer):  # (ours, not the server's words)
            return ServerError(f"{server}: {action} {path} failed: the server broke the SFTP protocol "
                               f"({exc.reason})", **fields)
        if isinstance(exc, asyncssh.SFTPError):
            return ServerError(f"{server}: {action} {path} failed{said}", **fields)
        if isinstance(exc, NoReply):
            # The connection is alive but its SFTP server is not: the next try opens a new one.
            return ConnectionDropped(
                f"{server} stopped answering while {action} {path} ({exc})",
                hint="the server's SFTP process may be stuck (a hung disk); run the command again, "
                "or raise the timeout option for a slow server", **fields)
        dropped = connect_error(exc, server)
        return dropped or RemoteError(f"{server}: {action} {path} failed: {exc!r}", **fields)

    # -- looking -----------------------------------------------------------------------------

    @staticmethod
    async def _stat(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPAttrs | None:
        """``path``'s attributes (links followed), or None if nothing is there."""
        try:
            return await sftp.stat(path)
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
            return None

    async def _listing(self, sftp: asyncssh.SFTPClient, folder: str, *, follow: bool) -> list[Entry]:
        """The direct children of ``folder``, read within ``max_listing`` bytes.

        With ``follow``, a link is shown as what it points to (as ``ls`` of a folder does);
        without, as a link (``rm -r`` must never go through one).  An entry listed without
        attributes (SFTP v3 allows a name with none) is looked up the same way before it is
        classified: its kind is not known, which is not "other".  One that is gone by then is
        left out.
        """
        limit, used = self.settings.max_listing, 0
        found: list[tuple[str, asyncssh.SFTPAttrs]] = []
        async for name in sftp.scandir(folder):
            filename = name.filename if isinstance(name.filename, str) else name.filename.decode("utf-8", "replace")
            used += len(filename) + len(name.longname or "") + 64
            if used > limit:
                raise listing_too_large(self.settings.server, folder, limit)
            if filename in (".", "..") or "/" in filename:
                continue
            found.append((posixpath.join(folder, filename), name.attrs))
        unsure = [(path, attrs) for path, attrs in found if _untyped(attrs) or (follow and _kind(attrs) == "link")]
        looked = dict(await _each_at_once(unsure, lambda one: self._look_up(sftp, *one, follow=follow)))
        entries: list[Entry] = []
        for path, attrs in found:
            shown = looked.get(path, attrs)
            if shown is not None:
                # A link shown as what it points to says so: xfer sync does not go through one.
                followed = shown is not attrs and _kind(attrs) == "link" and _kind(shown) != "link"
                entries.append(_entry(path, shown, link=followed))
        return entries

    async def _look_up(self, sftp: asyncssh.SFTPClient, path: str, listed: asyncssh.SFTPAttrs, *,
                       follow: bool) -> tuple[str, asyncssh.SFTPAttrs | None]:
        """``path``'s attributes for a listing: a link's target's with ``follow`` (the link's own if
        it points nowhere), else the entry's own (LSTAT); None if the entry is gone, or the listing's
        if the server will not say."""
        try:
            if follow:
                attrs = await self._stat(sftp, path)
                if attrs is not None:
                    return path, attrs
                if not _untyped(listed):
                    return path, listed  # a link that points nowhere: shown as the link
            return path, await sftp.lstat(path)
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
            return path, None
        except asyncssh.SFTPPermissionDenied:
            return path, listed

    def _ls(self, path: str) -> list[Entry]:
        async def work(sftp: asyncssh.SFTPClient) -> list[Entry]:
            attrs = await sftp.stat(path)
            if _kind(attrs) != "directory":
                return [_entry(path, attrs)]
            return await self._listing(sftp, path, follow=True)

        return self._run("listing", path, work)

    def _info(self, path: str) -> Entry:
        async def work(sftp: asyncssh.SFTPClient) -> Entry:
            return _entry(path, await sftp.stat(path))

        return self._run("reading information about", path, work)

    def is_link(self, path: str) -> bool | None:
        """LSTAT's answer (the listing follows links)."""
        target = self.remote_path(path)

        async def work(sftp: asyncssh.SFTPClient) -> bool:
            return _kind(await sftp.lstat(target)) == "link"

        return self._run("reading information about", target, work)

    def _checksum(self, path: str, size: int | None) -> ServerHash | None:
        """The server's ``check-file`` hash of ``path`` (``xfer sync --checksum``), as uploads are verified."""

        async def work(sftp: asyncssh.SFTPClient) -> ServerHash | None:
            return await CheckFile.of(sftp).ask(sftp, path, timeout=self.settings.timeout, size=size)

        return self._run("asking for the checksum of", path, work)

    # -- transfers ---------------------------------------------------------------------------

    def _get_file(
        self, remote: str, local: str, callback: ProgressCallback | None, *, sink: SinkFactory | None = None
    ) -> TransferResult:
        started = time.monotonic()
        # Made here, not on the session's loop: the writer finds the part an earlier try kept
        # through the retry loop's context (current_attempt), which that thread does not see.
        out = (sink or AtomicDownload)(local, callback=callback, throttle=self.settings.throttle,
                                       sha256=self.settings.sha256)
        verified = self._run("downloading", remote, lambda sftp: self._download(sftp, remote, out))
        return self._got(remote, local, out, started, verified)

    async def _download(self, sftp: asyncssh.SFTPClient, remote: str, out: AtomicDownload) -> Check:
        """``remote`` into ``out``, continuing a part an earlier try kept if the file is unchanged;
        how it was verified."""
        attrs = await sftp.stat(remote)
        if _kind(attrs) == "directory":
            raise RemoteIsFolder(
                f"{self.settings.server}: {remote} is a folder", hint="pass recursive=True to download folders",
                cli_hint="use -r to copy a folder", server=self.settings.server, path=remote,
            )
        # What the file is, so that a part kept after a cut is continued only if it is unchanged.
        facts = {"source": f"{self.settings.scheme}://{self.settings.server}{remote}", "size": attrs.size,
                 "mtime": attrs.mtime}
        start, restart = _resume_offset(out, facts)
        out.expected_size = attrs.size
        read_block, _ = block_sizes(sftp)
        # The server's hash, asked first: the one extra hash it names is computed on the way.
        offered = await CheckFile.of(sftp).ask(sftp, remote, timeout=self.settings.timeout, size=attrs.size)
        out.hash_also(offered.algorithm if offered is not None else None)
        with out:
            out.facts = facts
            async with closing(await sftp.open(remote, "rb", block_size=0), self.settings.timeout) as handle:
                if start:
                    out.begin(start)
                else:
                    out.start_over(restart)
                await read_blocks(handle, start, out.write, block=read_block, size=attrs.size,
                                  reply_timeout=self.settings.timeout)
            if attrs.size is not None and out.written > attrs.size:
                # read_blocks reads one block past the stated size to see the end: more there is
                # not a cut but a file longer than stated (growing, or a server that sizes lazily).
                raise IntegrityError(
                    f"{self.settings.server}: {remote} is longer than the {attrs.size} bytes the server "
                    f"stated (at least {out.written} were read); nothing was saved",
                    hint="the file may be growing while it is read: run the command again once it is "
                    "complete; if it repeats, the server misstates the file's size",
                    server=self.settings.server, path=remote,
                )
            # Before the rename: a mismatch leaves nothing under the local name.  (The sink
            # compares the length with the server's stat when it closes.)
            return self._conclude(sftp, offered, out.hash, what=f"the download of {remote}",
                                  size_checked=attrs.size is not None, consequence="nothing was saved",
                                  size=out.written)

    def _got(self, remote: str, local: str, out: AtomicDownload, started: float, verified: Check,
             **details: Any) -> TransferResult:
        return TransferResult(
            direction="get", local=local, remote=self.user_path(remote), size=out.written,
            elapsed=time.monotonic() - started, details={**self._details(), **details},
            protocol=self.settings.scheme, sha256=out.sha256, verified=verified,
            source_version=SourceVersion(modified=_mtime_of(out.facts.get("mtime"))),
        )

    def moves_together(self, *, upload: bool) -> bool:
        return self.settings.throttle is None and (upload or not self.settings.resume)

    def get_together(
        self, files: Sequence[tuple[str, str | os.PathLike[str], ProgressCallback | None]],
        *, landed: Landed | None = None, listed: Sequence[int | None] | None = None,
    ) -> list[TransferResult | None]:
        """Small files downloaded at once on the one SFTP session: every file's requests (stat,
        open, read, close) in flight together, as the protocol allows (each carries its own id),
        instead of one file's round trips after another's; a batch of them costs one hand-over to
        the session's loop, not one per request.

        Each file is downloaded and proven exactly as :meth:`_get_file` does it; one that fails
        (missing, a folder, refused, cut) is None: ``get_file`` then says what is wrong and retries.
        A failure of the connection itself leaves every file of the group to that.  Not with
        ``--limit-rate`` or ``--resume`` (as over HTTP).
        """
        self._require(Capability.GET)
        if not self.moves_together(upload=False):
            return [None] * len(files)
        started = time.monotonic()
        done: dict[int, TransferResult] = {}
        with DownloadGroup() as group:
            planned = [(self.remote_path(remote), os.fspath(local),
                        AtomicDownload(local, callback=callback, sha256=self.settings.sha256, landing=group))
                       for remote, local, callback in files]

            def fetch(remote: str, local: str, out: AtomicDownload) -> Callable[[asyncssh.SFTPClient],
                                                                                Awaitable[TransferResult]]:
                async def one(sftp: asyncssh.SFTPClient) -> TransferResult:
                    check = await self._download(sftp, remote, out)
                    return self._got(remote, local, out, started, check, pipelined=True)
                return one

            try:
                # (None: the connection failed; the files not done go alone: reconnect, retry, say.)
                self._at_once("downloading", [fetch(*one) for one in planned], done.__setitem__)
            finally:
                # Made durable together, then named (also the files done before a stop).  One that
                # could not be named stays None: alone, it says why.
                results: list[TransferResult | None] = [None] * len(files)

                def tell(place: int, result: TransferResult) -> None:
                    results[place] = result
                    if landed is not None:
                        landed(place, result)
                group.land_and_tell([(place, planned[place][2], done[place]) for place in sorted(done)], tell)
        return results

    def _at_once(
        self, action: str, works: list[Callable[[asyncssh.SFTPClient], Awaitable[_T]]],
        landed: Callable[[int, _T], None] | None,
    ) -> list[_T | None] | None:
        """Run ``works`` at once on the session's loop: per work its result, or None where it
        failed (the transfer alone then says why).  None for all if the connection itself failed.
        ``landed`` hears of each result as its work ends (on the loop's thread).

        A stop (:class:`~xfer.errors.Interrupted`: another transfer failed, or Ctrl-C) cancels the
        other works, and waits for them (each writer removes its part), before it is raised:
        nothing goes on behind the caller's back.
        """

        async def each(place: int, work: Callable[[asyncssh.SFTPClient], Awaitable[_T]],
                       sftp: asyncssh.SFTPClient) -> _T | None:
            try:
                result = await work(sftp)
            except Interrupted:
                raise
            except (XferError, asyncssh.Error, OSError):
                return None  # said by the transfer alone
            if landed is not None:
                landed(place, result)
            return result

        async def all_of(sftp: asyncssh.SFTPClient) -> list[_T | None]:
            tasks = [asyncio.ensure_future(each(place, work, sftp)) for place, work in enumerate(works)]
            try:
                return await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

        try:
            return self._run(action, "", all_of)
        except Interrupted:
            raise
        except XferError:
            return None

    def _put_file(
        self, local: str, remote: str, callback: ProgressCallback | None, *, preserve_times: bool = False,
    ) -> TransferResult:
        handle, size = open_for_upload(local)
        started = time.monotonic()
        # A try after a cut continues the temporary file the earlier try left, from its size.
        attempt = current_attempt()
        key = f"put:{remote}"
        kept: str | None = attempt.state.get(key) if attempt is not None else None
        upload = _Upload(local, remote, handle, size, SentFile.of(local, handle), callback,
                         temp=kept or self._temp_name(remote), kept=kept,
                         modified=_modified_of(handle) if preserve_times else None)
        with handle:
            try:
                self._run("uploading", remote, lambda sftp: self._upload(
                    sftp, upload, attempt, key, attempt.state if attempt is not None else None))
            except XferError as exc:
                told = self._put_back(remote, exc)
                if told is exc:
                    raise
                raise told from exc
        return self._sent(upload, started)

    async def _upload(self, sftp: asyncssh.SFTPClient, upload: _Upload, attempt: Attempt | None, key: str,
                      renames: State) -> None:
        """Send ``upload`` to its temporary name, check what the server stored, rename it into place.

        On a failure what the upload wrote is removed (the file this try opened, or the part an
        earlier try left; never a name it did not open), unless the connection is gone under a
        retried ``attempt``: the next try then continues it (``key`` names it in the try's state).

        A rename is noted in ``renames`` as it goes out (:mod:`~xfer.adapters.rename_sent`): the
        try's state, or for a group's upload the adapter's.  One an earlier try (or the group)
        sent and never heard back about is settled first, before anything is sent: done, the
        upload ends there; not done, it goes on; taken or replaced since, DeliveryUnknown.
        """
        if await self._settled(sftp, upload, renames):
            return
        await self._refuse_folder(sftp, upload.remote)
        confirmed = 0
        if attempt is not None:
            confirmed = attempt.state.get(f"{key}:confirmed", 0)
            if confirmed and attempt.state.get(f"{key}:local") != upload.source.version:
                # The part holds the file as the cut try read it, and the file opened now is
                # another version (rewritten meanwhile, perhaps at the same size): the two joined
                # would be neither, and only a server with check-file could see it.
                _retry_log.warning("%s: the local file changed since the earlier try; sending it again "
                                   "from 0", os.path.basename(upload.local))
                confirmed = 0
        offset = await self._upload_offset(sftp, upload.kept, upload.size, confirmed)
        target, size, callback = upload.target, upload.size, upload.callback
        # The bytes the server confirmed, each WRITE and every one before it (BlockWriter):
        # where a try after a cut may go on from, whatever the part's size says.
        written = Progress()
        # Whether this try opened ``target`` for writing.  Before that a failure has written
        # nothing: a refused open leaves the name as it was, and with upload_temp_name = false
        # that name is the existing file itself, which must not be removed for it.
        opened = False
        try:
            also = await self._hash_to_compute(sftp, target)
            _, write_block = block_sizes(sftp)

            def moved(done: int, total: int | None) -> None:
                if callback is not None:
                    callback(offset + done, size)

            if offset and not await self._prefix_holds(sftp, target, offset, upload.source):
                offset = 0
            body = upload.body = FileBody(upload.handle, size - offset, blocksize=write_block, callback=moved,
                                          name=upload.local, throttle=self.settings.throttle, also=also,
                                          sha256=self.settings.sha256)
            if offset:
                body.skip(offset)  # what the server has: into the hash, not sent again
            if offset:
                # Neither truncated nor created: the part is there and keeps what it holds.
                remote_file = await sftp.open(target, asyncssh.FXF_WRITE, encoding=None, block_size=0)
            else:
                upload.handle.seek(0)
                remote_file = await self._create(sftp, target, upload.remote)
            opened = True
            async with closing(remote_file, self.settings.timeout):
                await write_blocks(remote_file, offset, body, reply_timeout=self.settings.timeout,
                                   progress=written)
            stored = await self._complete(sftp, target, upload.remote, size, body.hash, upload.source,
                                          modified=upload.modified, renames=renames)
            upload.verified, upload.size_verified = stored.verified, stored.size_verified
            upload.modified_given, upload.previous_left = stored.modified, stored.previous_left
        except BaseException as exc:
            conn = self._ssh.conn if self._ssh is not None else None
            stuck = isinstance(exc, NoReply)
            if stuck and conn is not None:
                conn.abort()  # its SFTP server answers nothing more: the next try opens a new connection
            temp = upload.temp
            gone = stuck or conn is None or conn.is_closed()
            if attempt is not None and temp is not None and gone:
                # The connection is gone (a cut): the next try continues the part up to what
                # was confirmed; the retry loop removes it if none will.
                attempt.state[f"{key}:confirmed"] = offset + written.done
                attempt.state[f"{key}:local"] = upload.source.version
                if attempt.state.get(key) != temp:
                    attempt.state[key] = temp
                    attempt.on_give_up(lambda: self._remove_quietly(temp))
            elif temp is not None and gone:
                upload.left = True  # (a remove now could not reach the server)
            elif opened or upload.kept is not None:
                # What this upload wrote: the file it opened, or the part an earlier try left.
                await self._discard(sftp, target)
            raise

    def _sent(self, upload: _Upload, started: float, **details: Any) -> TransferResult:
        if upload.previous_left is not None:
            details["previous_version_left_at"] = self.user_path(upload.previous_left)
        sha256 = upload.body.sha256 if upload.body is not None else None
        if upload.settled is not None:
            # Moved into place by an earlier try, whose rename's answer the connection lost.
            details["rename_answer_lost"] = True
            sha256 = upload.settled.sha256
        return TransferResult(
            direction="put", local=upload.local, remote=self.user_path(upload.remote), size=upload.size,
            elapsed=time.monotonic() - started, details={**self._details(), **details},
            protocol=self.settings.scheme, size_verified=upload.size_verified,
            temp_name=posixpath.basename(upload.temp) if upload.temp is not None else None,
            sha256=sha256, verified=upload.verified, modified=upload.modified_given,
        )

    def put_together(
        self, files: Sequence[tuple[str | os.PathLike[str], str, ProgressCallback | None]],
        *, landed: Landed | None = None, preserve_times: bool = False,
    ) -> list[TransferResult | None]:
        """Small files uploaded at once on the one SFTP session, as :meth:`get_together` downloads
        them: every file's requests (open, writes, close, stat, setstat, rename) in flight together.

        Each file is sent, checked and renamed into place exactly as :meth:`_put_file` does it; one
        that fails (a folder in the way, refused, a size the server did not store) is None, its
        temporary file removed: ``put_file`` then says what is wrong and retries.
        """
        self._require(Capability.PUT)
        if not self.moves_together(upload=True):
            return [None] * len(files)
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            uploads: list[_Upload | None] = []
            for local, remote, callback in files:
                try:
                    handle, size = open_for_upload(local)
                except XferError:
                    uploads.append(None)  # said by the upload alone
                    continue
                stack.enter_context(handle)
                path, name = self.remote_path(remote), os.fspath(local)
                uploads.append(_Upload(name, path, handle, size, SentFile.of(name, handle), callback,
                                       temp=self._temp_name(path),
                                       modified=_modified_of(handle) if preserve_times else None))

            def send(upload: _Upload) -> Callable[[asyncssh.SFTPClient], Awaitable[TransferResult]]:
                async def one(sftp: asyncssh.SFTPClient) -> TransferResult:
                    await self._upload(sftp, upload, None, "", self._renames)
                    return self._sent(upload, started, pipelined=True)
                return one

            places = [place for place, upload in enumerate(uploads) if upload is not None]
            present = [upload for upload in uploads if upload is not None]  # (in the order of ``places``)
            if not present:
                return [None] * len(files)
            told = None if landed is None else (lambda position, result: landed(places[position], result))
            # (None for all: the connection failed; each file alone reconnects, retries, says.)
            sent = self._at_once("uploading", [send(upload) for upload in present], told) or [None] * len(present)
        # (Not one whose rename went out unanswered: it may be in place, or still under its
        # temporary name, which the upload alone then finds, settles and removes.)
        self._remove_left([upload.temp for upload in present if upload.left and upload.temp is not None
                           and not self._rename_unanswered(upload.remote, upload.temp)])
        results: list[TransferResult | None] = [None] * len(files)
        for place, result in zip(places, sent, strict=True):
            results[place] = result
        return results

    async def _complete(
        self, sftp: asyncssh.SFTPClient, target: str, remote: str, size: int, local: StreamHash,
        source: SentFile | None = None, *, modified: float | None = None, renames: State = None,
    ) -> _Stored:
        """An upload written to ``target`` (all requests answered, the file closed): check what the
        server stored (its size, and its hash where it answers check-file), give it the time
        ``modified`` (in flight with that look), then rename it to ``remote`` if it went to a
        temporary name.  A mismatch raises before the rename: nothing reaches the name (the
        caller removes ``target``).  A server that states no size (optional in SFTP v3) leaves
        the hash, if any, to prove the upload, else nothing (``verified: "none"``, as a
        download of such a file).

        The rename is noted in ``renames`` while its answer is awaited (:meth:`_settled`): a
        connection that breaks meanwhile leaves it there for the next try to settle."""
        sha256 = local.hexdigest()
        # The SETSTAT leaves first (a task sends its request when it starts): the STAT's answer
        # shows the time as the server keeps it (whole seconds in SFTP version 3).
        timed, attributes = await asyncio.gather(self._give_time(sftp, target, modified), sftp.stat(target))
        given = _time_held(attributes, modified) if timed else None
        stored = attributes.size
        if stored is not None and stored != size:
            raise IntegrityError(
                f"{self.settings.server} stored {stored} bytes of {remote}, we sent {size}; "
                "the upload was removed",
                hint="run the command again; check the server's disk space",
                server=self.settings.server, path=remote,
            )
        offered = await CheckFile.of(sftp).ask(sftp, target, timeout=self.settings.timeout, size=size)
        if offered is not None and source is not None and local.hexdigest(offered.algorithm) is None:
            # The server named its algorithm only now (check-file unnamed or named without one):
            # the file sent is hashed in it once more, off the event loop.
            local = await asyncio.get_running_loop().run_in_executor(None, source.hash, offered.algorithm)
        verified = self._conclude(sftp, offered, local, what=f"the upload of {remote}",
                                  size_checked=stored is not None, consequence="the upload was removed", size=size)
        if target == remote:
            return _Stored(verified, stored is not None, given, None)
        version = source.version if source is not None else None
        sending(renames, RenameSent(target, remote, size, _Moved(local, sha256, given, version)))
        try:
            left = await self._install(sftp, target, remote)
        except asyncssh.SFTPError as exc:
            if not isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
                answered(renames, remote)  # refused: not moved
                self._unheard.discard(remote)
            raise  # (a cut, a timeout, a stop: no answer, the note stays)
        answered(renames, remote)
        self._unheard.discard(remote)
        return _Stored(verified, stored is not None, given, left)

    def _rename_unanswered(self, remote: str, temp: str) -> bool:
        """Whether a group's rename of ``temp`` to ``remote`` went out and was never answered."""
        sent = unanswered(self._renames, remote)
        return sent is not None and sent.temp == temp

    async def _settled(self, sftp: asyncssh.SFTPClient, upload: _Upload, renames: State) -> bool:
        """Settle the rename to ``upload.remote`` an earlier try (``renames``), or a group this
        adapter sent (:attr:`_renames`), never heard back about, before anything is sent
        (:func:`~xfer.adapters.rename_sent.settle`, on what LSTAT shows of the two names).

        True: the rename was done and the file is in place at its size: ``upload`` is complete
        as that try left it, checked again by the server's hash where it has one.  False: none
        was sent, or the temporary file is still there, not moved: the upload goes on (a try's
        part as the resume decides; a group's is removed, the upload alone starts over).
        Otherwise :class:`~xfer.errors.DeliveryUnknown`, nothing sent again.  A look the
        connection breaks leaves it to settle on the next try.
        """
        for state in (renames, self._renames) if renames is not self._renames else (renames,):
            sent = unanswered(state, upload.remote)
            if sent is not None:
                break
        else:
            return False
        noted = cast("_Moved", sent.memo)
        if noted.version != upload.source.version or sent.size != upload.size:
            # Another version of the local file (rewritten since), or a group's note left by an
            # upload that never settled it, found by a later one of the same name on this
            # connection: not this upload's to settle (review R2, finding 2: reported in place,
            # nothing sent, its source removed).  The group's temporary file, if still there, goes.
            answered(state, upload.remote)
            if sent.temp != upload.temp:
                await self._discard(sftp, sent.temp)
            return False
        server, shown = self.settings.server, self.user_path(upload.remote)

        async def look(path: str) -> asyncssh.SFTPAttrs | None:
            try:
                return await sftp.lstat(path)
            except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
                return None

        temp, final = await asyncio.gather(look(sent.temp), look(sent.remote))

        def size_at(path: str) -> int | None:
            if path == sent.temp:  # (there, whatever it is, even of a size not stated)
                return None if temp is None else temp.size or 0
            return final.size if final is not None and _kind(final) == "file" else None

        try:
            done = settle(state, sent, size_at, server=server, shown=shown)
            self._unheard.discard(upload.remote)
        except DeliveryUnknown:
            self._unheard.discard(upload.remote)
            # The temporary file is gone, moved by that rename most likely: an old version a
            # replace moved aside for it is not put back under the name (it would be taken again).
            await self._drop_asides(sftp, sent.remote)
            raise
        if not done:
            if sent.temp != upload.temp:
                await self._discard(sftp, sent.temp)  # a group's, not continued: the upload alone starts over
            return False
        memo = cast("_Moved", sent.memo)
        try:
            offered = await CheckFile.of(sftp).ask(sftp, sent.remote, timeout=self.settings.timeout,
                                                   size=sent.size)
        except BaseException:
            sending(state, sent)  # (not settled after all: the next try looks again)
            self._unheard.add(upload.remote)  # (and nothing is put back under the name meanwhile: review R3)
            raise
        if offered is not None and memo.local.hexdigest(offered.algorithm) not in (None, offered.value):
            await self._drop_asides(sftp, sent.remote)
            raise delivery_unknown(f"holds other bytes of the same size (its {offered.algorithm} differs)",
                                   server=server, shown=shown)
        upload.verified = self._conclude(sftp, offered, memo.local, what=f"the upload of {sent.remote}",
                                         size_checked=True, consequence="it was not sent again", size=sent.size)
        upload.size_verified, upload.modified_given, upload.temp = True, memo.modified, sent.temp
        upload.previous_left = await self._drop_asides(sftp, sent.remote)
        upload.settled = memo
        _retry_log.warning("%s: the rename an earlier try sent before the connection broke was done: %s is "
                           "in place, not sent again", os.path.basename(upload.local), shown)
        if upload.callback is not None:
            upload.callback(upload.size, upload.size)
        return True

    async def _give_time(self, sftp: asyncssh.SFTPClient, target: str, modified: float | None) -> bool:
        """SETSTAT of ``target``'s modification time (and access time) to ``modified``; False if not
        asked, not expressible in this SFTP version, or refused: the file is whole either way, and
        the caller may set the time apart (and hear why not)."""
        if modified is None or not _time_fits(sftp.version, modified):
            return False
        try:
            await sftp.utime(target, (modified, modified))
        except (asyncssh.Error, OSError) as exc:
            _log.debug("%s: could not set the time of %s with the upload: %s", self.settings.server, target, exc)
            return False
        return True

    async def _hash_to_compute(self, sftp: asyncssh.SFTPClient, target: str) -> HashName | None:
        """The hash to compute besides SHA-256 (if that is computed) while uploading to ``target``:
        the one the server's check-file uses, as far as this session knows it (named in
        SSH_FXP_VERSION, or answered before).  Not asked for: while it is unknown, the server
        is asked for SHA-256 first after the upload, and a hash in an algorithm not computed
        on the way is computed then (``_complete``)."""
        state = CheckFile.of(sftp)
        return state.algorithm if state.offered is not False else None

    async def _prefix_holds(self, sftp: asyncssh.SFTPClient, target: str, offset: int, source: SentFile) -> bool:
        """Whether the first ``offset`` bytes of the part ``target`` that a cut try left are those of
        the local file, by the server's hash of that range (see :meth:`SentFile.holds_prefix`;
        a server without check-file, or refusing ranges, cannot prove it: the part is trusted).
        The local bytes are read off the event loop."""
        theirs = await CheckFile.of(sftp).ask(sftp, target, timeout=self.settings.timeout, size=offset,
                                              length=offset)
        holds = functools.partial(source.holds_prefix, theirs, offset, server=self.settings.server)
        return await asyncio.get_running_loop().run_in_executor(None, holds)

    def _conclude(self, sftp: asyncssh.SFTPClient, offered: ServerHash | None, local: StreamHash, *, what: str,
                  size_checked: bool, consequence: str, size: int) -> Check:
        if offered is not None and local.hexdigest(offered.algorithm) is None:
            # A server that named no algorithm answered in one this upload did not compute along.
            looked_for = f"the check-file extension, which answered in {offered.algorithm}, not computed here"
        elif offered is None and CheckFile.of(sftp).refused:
            looked_for = f"the check-file extension, which answered: {CheckFile.of(sftp).refused}"
        else:
            looked_for = "the check-file extension (OpenSSH has none)"
        return conclude(offered, local, server=self.settings.server, what=what, size_checked=size_checked,
                        required=self.settings.checksum, consequence=consequence, looked_for=looked_for,
                        size=size)

    def _temp_name(self, remote: str) -> str | None:
        """Where an upload to ``remote`` is written until it is complete: ``.NAME.RANDOM.xfer-part``
        beside it, or None (the name itself) with ``upload_temp_name = false``."""
        if not self._options.upload_temp_name:
            return None
        return hidden_beside(remote, "xfer-part")

    async def _refuse_folder(self, sftp: asyncssh.SFTPClient, remote: str) -> None:
        """An upload never replaces a folder."""
        existing = await self._stat(sftp, remote)
        if existing is not None and _kind(existing) == "directory":
            raise RemoteIsFolder(f"{self.settings.server}: {remote} is a folder; a file never replaces a folder",
                                 server=self.settings.server, path=remote)

    def _open_write(self, remote: str, callback: ProgressCallback | None) -> RemoteWriter:
        from .writer import SFTPWriter

        return SFTPWriter(self, remote, callback)

    async def _upload_offset(self, sftp: asyncssh.SFTPClient, kept: str | None, size: int, confirmed: int) -> int:
        """Where an upload into the part ``kept`` (left by a cut try) goes on: the end of what the
        cut try saw confirmed in order (``confirmed``), at most the part's size; or 0.

        Not the part's size alone: a server may carry out pipelined WRITEs in parallel
        (draft-ietf-secsh-filexfer-02 §6.1), so at a cut later blocks can be on disk while an
        earlier one never landed; the size then covers a hole.  A WRITE whose answer the cut
        lost is sent again.  A part that is gone, or longer than the file, starts over.
        """
        if kept is None or confirmed <= 0:
            return 0
        attrs = await self._stat(sftp, kept)
        if attrs is None or attrs.size is None or _kind(attrs) != "file" or attrs.size > size:
            return 0
        return min(int(attrs.size), confirmed)

    async def _create(self, sftp: asyncssh.SFTPClient, target: str, remote: str) -> asyncssh.SFTPClientFile:
        """Open ``target`` for writing from byte 0 (created or emptied), the upload to ``remote``;
        missing folders are made.

        Where ``target`` is a temporary name, a server that refuses it (dot files forbidden, a
        name too long once prefixed) is told apart from one that refuses the upload: the error
        names the temporary name and the option that does without one.
        """
        try:
            try:
                return await sftp.open(target, "wb", block_size=0)
            except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
                await self._make_folders(sftp, posixpath.dirname(remote))  # put into new folders, as elsewhere
                return await sftp.open(target, "wb", block_size=0)
        except asyncssh.SFTPError as exc:
            lost = asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection
            full = asyncssh.SFTPNoSpaceOnFilesystem | asyncssh.SFTPQuotaExceeded
            if target == remote or isinstance(exc, lost | full):
                raise
            error = self._translate(exc, "creating the temporary file", self.user_path(target))
            raise error.copy_with(
                f"{error.message}; the upload of {self.user_path(remote)} is written under that temporary "
                "name first",
                hint="if the server refuses names that start with a dot, or long ones, set upload_temp_name = "
                "false in the profile's [sftp] table (an interrupted upload may then leave a partial file "
                "under the real name)",
            ) from exc

    def _remove_left(self, temps: list[str]) -> None:
        """Remove the temporary files of uploads a broken connection cut off (on a new one); best effort:
        the uploads alone that follow write their own."""
        if not temps:
            return

        async def work(sftp: asyncssh.SFTPClient) -> None:
            for temp in temps:
                await self._discard(sftp, temp)

        with contextlib.suppress(XferError):
            self._run("removing", temps[0], work)

    def _remove_quietly(self, path: str) -> None:
        """Remove what a cut upload left (on a new connection); the caller ignores a failure."""

        async def work(sftp: asyncssh.SFTPClient) -> None:
            await sftp.remove(path)

        self._run("removing", path, work)

    @staticmethod
    async def _discard(sftp: asyncssh.SFTPClient, path: str) -> None:
        """Best effort: remove a partial upload (the connection may be gone, or its server stuck:
        ``sftp`` is :meth:`_run`'s, each answer bounded, a NoReply an OSError)."""
        with contextlib.suppress(asyncssh.Error, OSError):
            await sftp.remove(path)

    async def _install(self, sftp: asyncssh.SFTPClient, temp: str, remote: str) -> str | None:
        """Rename the complete upload ``temp`` over ``remote``: atomically where the server can.

        Returns the old version's name if it is left over beside ``remote`` (:meth:`_drop_asides`).
        """
        try:
            self._unheard.add(remote)  # (until answered: see _complete)
            await sftp.posix_rename(temp, remote)
            return await self._drop_asides(sftp, remote)
        except asyncssh.SFTPOpUnsupported:
            self._unheard.discard(remote)
        if await self._stat(sftp, remote) is None:
            self._unheard.add(remote)
            await sftp.rename(temp, remote)
            return await self._drop_asides(sftp, remote)
        # SFTPv3 rename never replaces: move the old file aside, put the new one in, then drop the
        # old.  Not to be cut half way by a stop (Ctrl-C, or a group's other files failing: the
        # task is cancelled, perhaps more than once): between the renames no file is under the
        # name.  Shielded, the steps finish first.
        steps = asyncio.ensure_future(self._replace(sftp, temp, remote))
        cancelled = False
        while True:
            try:
                left = await asyncio.shield(steps)
                break
            except asyncio.CancelledError:
                if steps.cancelled():
                    raise  # the steps themselves were cancelled (the loop is closing)
                cancelled = True
                if steps.done():  # they ended before this task woke: as they ended
                    left = steps.result()  # (raises their own failure, if any)
                    break
        if cancelled:
            # The new file is in place: the transfer is complete, as if the stop had come a
            # moment later, and it ends as one (a group tells of the file: it arrived).  The stop
            # goes on where it came from: a group raises it once its files have ended, Ctrl-C is
            # raised again by SSHSession.run.
            _stop_taken_back()
        return left

    async def _replace(self, sftp: asyncssh.SFTPClient, temp: str, remote: str) -> str | None:
        """:meth:`_install` on a server whose rename never replaces: the old file is renamed aside,
        the new one in, then the old removed (:meth:`_drop_asides`).  If the new one cannot go in,
        the old one is put back; if that fails too (the connection broke), it stays in
        :attr:`_asides` for :meth:`_put_back` or the next try."""
        aside = hidden_beside(remote, "xfer-old")
        # Noted before it is asked: a cut can lose the answer to a rename the server made.
        self._asides.setdefault(remote, []).append(aside)
        try:
            await sftp.rename(remote, aside)
        except asyncssh.SFTPError as exc:
            if not isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
                self._forget_aside(remote, aside)  # refused: nothing moved
            raise
        try:
            self._unheard.add(remote)  # (the upload's own rename goes out only now)
            await sftp.rename(temp, remote)
        except asyncssh.SFTPError as exc:
            # Refused: the new one is not in; the old one goes back.  Not when the answer was lost
            # (the connection broke): the rename may have been done (review R2, finding 1).
            if not isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
                with contextlib.suppress(asyncssh.Error, OSError):
                    await sftp.rename(aside, remote)
                    self._forget_aside(remote, aside)
            raise
        return await self._drop_asides(sftp, remote)

    def _forget_aside(self, remote: str, aside: str) -> None:
        left = [name for name in self._asides.get(remote, []) if name != aside]
        if left:
            self._asides[remote] = left
        else:
            self._asides.pop(remote, None)

    async def _drop_asides(self, sftp: asyncssh.SFTPClient, remote: str) -> str | None:
        """The new file is under ``remote``: remove the old versions moved aside for it (this
        replace's, and any a cut try left).  One the server will not remove (an account that may
        rename but not delete) does not fail the upload, which is in place: it is named in one
        warning, and returned (the latest)."""
        left: list[str] = []
        why = ""
        for aside in self._asides.pop(remote, []):
            try:
                await sftp.remove(aside)
            except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
                pass  # never made (a refused or cut rename), or removed already
            except (asyncssh.Error, OSError) as exc:
                left.append(aside)
                why = exc.reason if isinstance(exc, asyncssh.Error) else str(exc)
        if not left:
            return None
        _log.warning("%s: %s is in place, but the previous version is left as %s: the server did not "
                     "remove it (%s); remove it by hand", self.settings.server, self.user_path(remote),
                     ", ".join(self.user_path(aside) for aside in left), why)
        return left[-1]

    def _put_back(self, remote: str, failure: XferError) -> XferError:
        """After a failed install of ``remote``: each old version a replace moved aside
        (:attr:`_asides`) goes back under the name if nothing is there now, on a new connection
        if the old one broke.  Returns ``failure``, or a copy naming where the old version is if it
        could not be put back."""
        left = self._restore(remote)
        if not left:
            return failure
        shown, where = self.user_path(remote), ", ".join(self.user_path(aside) for aside in left)
        if remote in self._unheard:
            recover = (f"the previous version of {shown} is kept as {where}; the upload's rename went out "
                       f"unanswered, so {shown} may have been delivered (and taken): check with the partner "
                       "before renaming it back")
        else:
            recover = (f"the previous version of {shown} is kept as {where}: if {shown} is missing, "
                       f"rename it back by hand (a successful retry removes it)")
        return failure.copy_with(f"{failure.message}; the previous version is kept as {where}",
                                 hint=f"{recover}; {failure.hint}" if failure.hint else recover)

    def _restore(self, remote: str) -> list[str]:
        """Put each old version of ``remote`` still aside back under the name, if nothing is there
        now (one try, on a new connection if the old one broke); return the asides left."""
        if not self._asides.get(remote):
            return []
        if remote in self._unheard:
            return list(self._asides[remote])  # (the upload may be there, or taken: see _unheard)

        async def work(sftp: asyncssh.SFTPClient) -> None:
            for aside in list(self._asides.get(remote, [])):
                try:
                    await sftp.lstat(aside)
                except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
                    self._forget_aside(remote, aside)  # never made, or back already
                    continue
                if await self._stat(sftp, remote) is None:
                    await sftp.rename(aside, remote)
                    self._forget_aside(remote, aside)

        with contextlib.suppress(XferError):  # (what could not be put back is the caller's to name)
            self._run("putting back the previous version of", remote, work)
        return list(self._asides.get(remote, []))

    def close(self) -> None:
        """Release the connection, once every old version a replace left aside is settled.

        A group upload (:meth:`put_together`) cut between a file's two renames, whose retry
        failed too, left the old version under its ``.xfer-old`` name and the name empty, and
        only the file the batch reported was put back (review H).  Each is put back now where
        its name is still empty; one that cannot be (the server is gone) is named in a warning,
        so no copy is left under a name nobody was told.
        """
        if not self.closed:
            for remote in list(self._asides):
                left = self._restore(remote)
                if left:
                    shown = self.user_path(remote)
                    _log.warning("the previous version of %s is kept as %s: if %s is missing, rename it back "
                                 "by hand", shown, ", ".join(self.user_path(aside) for aside in left), shown)
        super().close()

    # -- offsets (what resuming builds on) ------------------------------------------------------

    def _read_range(self, path: str, start: int, length: int | None, version: str | None) -> bytes:
        # The download's pipeline, not asyncssh's own parallel read: each reply is bounded by
        # the timeout (a stuck sftp-server fails the read, as it fails a get).
        async def work(sftp: asyncssh.SFTPClient) -> bytes:
            read_block, _ = block_sizes(sftp)
            parts: list[bytes] = []
            async with closing(await sftp.open(path, "rb", block_size=0), self.settings.timeout) as handle:
                await read_blocks(handle, start, parts.append, block=read_block,
                                  stop=None if length is None else start + length,
                                  reply_timeout=self.settings.timeout)
            return b"".join(parts)

        return self._run("reading", path, work)

    def write_range(self, path: str, offset: int, data: bytes) -> None:
        """Write ``data`` into the remote file ``path`` at ``offset`` (created if missing, never truncated).

        For continuing an interrupted upload in place (its temp file): nothing before
        ``offset`` is sent again.
        """
        self._require(Capability.PUT)
        target = self.remote_path(path)

        async def work(sftp: asyncssh.SFTPClient) -> None:
            flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT
            _, write_block = block_sizes(sftp)
            view = memoryview(data)
            blocks = (view[at:at + write_block] for at in range(0, len(view), write_block))
            # Pipelined as an upload is, each reply bounded by the timeout (see _read_range).
            async with closing(await sftp.open(target, flags, encoding=None, block_size=0),
                               self.settings.timeout) as handle:
                await write_blocks(handle, offset, blocks, reply_timeout=self.settings.timeout)

        self._run("writing", target, work)

    # -- folders and names ---------------------------------------------------------------------

    async def _make_folders(self, sftp: asyncssh.SFTPClient, path: str) -> None:
        """Create each missing level of ``path``; a level made meanwhile is fine, a file in the way is not."""
        current = ""
        for part in [p for p in path.split("/") if p]:
            current = f"{current}/{part}"
            attrs = await self._stat(sftp, current)
            if attrs is not None:
                if _kind(attrs) != "directory":
                    raise RemoteExists(f"{self.settings.server}: {current} exists and is not a folder",
                                       server=self.settings.server, path=current)
                continue
            try:
                await sftp.mkdir(current)
            except asyncssh.SFTPError:
                made = await self._stat(sftp, current)
                if made is None or _kind(made) != "directory":
                    raise

    def _set_modified(self, path: str, modified: dt.datetime) -> None:
        """SETSTAT of the modification time (the access time set to the same)."""
        stamp = modified.timestamp()

        async def work(sftp: asyncssh.SFTPClient) -> None:
            if not _time_fits(sftp.version, stamp):
                raise UnsupportedOperation(
                    f"{self.settings.server}: SFTP version {sftp.version} cannot carry the time "
                    f"{modified.isoformat()} (before 1970, or past its last second)",
                    server=self.settings.server, path=path,
                )
            await sftp.utime(path, (stamp, stamp))

        self._run("setting the time of", path, work)

    def _mkdir(self, path: str, parents: bool) -> None:
        async def work(sftp: asyncssh.SFTPClient) -> None:
            attrs = await self._stat(sftp, path)
            if attrs is not None and _kind(attrs) == "directory":
                return
            if attrs is not None:
                raise RemoteExists(f"{self.settings.server}: {path} exists and is not a folder",
                                   server=self.settings.server, path=path)
            if parents:
                await self._make_folders(sftp, path)
            else:
                await sftp.mkdir(path)

        self._run("creating the folder", path, work)

    def _rm(self, path: str, recursive: bool) -> None:
        async def work(sftp: asyncssh.SFTPClient) -> None:
            attrs = await sftp.lstat(path)  # a link is removed, never followed
            if _kind(attrs) != "directory":
                await sftp.remove(path)
                return
            if not recursive:
                raise folder_needs_recursive(f"{self.settings.server}: {path} is a folder")
            await self._remove_tree(sftp, path)

        self._run("removing", path, work)

    def remove_sources(self, files: Sequence[tuple[str, int] | Source]) -> list[XferError | None]:
        """Every file's look (STAT, links followed as a download did) in flight at once, each REMOVE
        sent as soon as its look shows the size: two round trips for the lot, where one file after
        another took three each (``info``, then ``rm``'s LSTAT and REMOVE); at most
        :data:`_REMOVING_AT_ONCE` files at a time.  A file whose mtime is not the one the download's
        STAT gave (its version) is kept, as one of another size is.

        A try after a broken connection asks again about the files not yet decided.  A REMOVE is
        never sent twice: a file whose REMOVE went out before the break is only looked at (gone:
        removed; still there: kept, said so), since a file of that name and size may have been put
        there anew meanwhile.  If the tries run out, the undecided files get that failure.
        """
        self._require(Capability.RM)
        decided: dict[int, XferError | None] = {}
        asked: list[tuple[str, str, int, SourceVersion | None]] = []
        for place, (path, size, version) in enumerate(sources(files)):
            try:
                asked.append((path, self._not_root(path, "remove"), size, version))
            except UsageError as refused:  # the connection's root, a name xfer will not send: that file's own
                decided[place] = refused
                asked.append((path, "", size, version))
        removing: set[int] = set()
        server = self.settings.server

        async def one(sftp: asyncssh.SFTPClient, place: int, shown_as: str, path: str, size: int,
                      version: SourceVersion | None) -> None:
            action = "reading information about"
            try:
                try:
                    attributes = await sftp.stat(path)
                except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
                    if place not in removing:
                        raise
                    decided[place] = None  # removed by the earlier try, whose answer the break lost
                    return
                if place in removing:
                    decided[place] = ConnectionDropped(
                        f"{server}: the connection broke while removing {shown_as}, which is still there: kept",
                        hint="run the command again", server=server, path=shown_as)
                    return
                shown = attributes.size if _kind(attributes) == "file" else None
                if shown != size:
                    decided[place] = source_changed(shown_as, shown, size)
                    return
                changed = version.changed(None, _mtime_of(attributes.mtime)) if version is not None else None
                if changed is not None:
                    decided[place] = source_kept(shown_as, changed)
                    return
                action = "removing"
                removing.add(place)
                await sftp.remove(path)
            except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection):
                raise  # the connection's failure, not this file's: the whole call is tried again
            except asyncssh.SFTPError as exc:
                decided[place] = self._translate(exc, action, path)
                return
            decided[place] = None

        async def work(sftp: asyncssh.SFTPClient) -> None:
            room = asyncio.Semaphore(_REMOVING_AT_ONCE)

            async def bounded(place: int, shown_as: str, path: str, size: int,
                              version: SourceVersion | None) -> None:
                async with room:
                    await one(sftp, place, shown_as, path, size, version)

            outcomes = await asyncio.gather(
                *(bounded(place, *item) for place, item in enumerate(asked) if place not in decided),
                return_exceptions=True,  # (each ends before the first failure is raised: nothing runs on behind it)
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome

        if len(decided) < len(asked):
            try:
                self._retrying(lambda: self._run("removing the remote sources of", f"{len(asked)} downloads", work))
            except XferError as exc:
                for place, (shown_as, _path, _size, _version) in enumerate(asked):
                    if place in decided:
                        continue
                    decided[place] = exc if place not in removing else ConnectionDropped(
                        f"{server}: the connection broke while removing {shown_as}: it may have been removed",
                        hint="run the command again", server=server, path=shown_as)
        return [decided[place] for place in range(len(asked))]

    async def _remove_tree(self, sftp: asyncssh.SFTPClient, top: str) -> None:
        """List the whole tree first (links not followed), then remove files, then folders bottom-up
        (:class:`~xfer.adapters.tree.TreeWalk`)."""
        walk = TreeWalk(top, server=self.settings.server)
        while (folder := walk.next_folder()) is not None:
            # Each name once: a server whose listing repeats entries (a paging bug) would have
            # the second REMOVE of a file fail with "does not exist", half way through the tree.
            entries = await self._listing(sftp, folder, follow=False)
            walk.found(await self._own_kinds(sftp, {entry.path: entry for entry in entries}.values()))
        for path in walk.files:
            await self._step(sftp.remove(path), "removing", path)
        for folder in walk.folders_bottom_up():
            await self._step(sftp.rmdir(folder), "removing the folder", folder)

    async def _own_kinds(self, sftp: asyncssh.SFTPClient, entries: Iterable[Entry]) -> list[Entry]:
        """``entries`` of a tree to remove, each listed as a folder as its LSTAT shows it.

        A READDIR name's attributes are the server's to choose: some describe a link by what it
        points to (stat, not lstat), and ``rm -r`` would go through it and empty a folder outside
        the tree.  Only LSTAT says what the entry is: a link is then removed as a link.  An entry
        gone meanwhile is left out; any other failure to look is raised before anything is removed.
        """

        async def own(entry: Entry) -> Entry | None:
            if entry.type != "directory":
                return entry
            try:
                attrs = await sftp.lstat(entry.path)
            except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
                return None
            except asyncssh.SFTPError as exc:
                raise self._translate(exc, "reading information about", entry.path) from exc
            return _entry(entry.path, attrs)

        return [entry for entry in await _each_at_once(list(entries), own) if entry is not None]

    async def _step(self, work: Awaitable[None], action: str, path: str) -> None:
        """One step of a larger operation: a refusal names the entry it was about."""
        try:
            await work
        except asyncssh.SFTPError as exc:
            raise self._translate(exc, action, path) from exc

    def _rmdir(self, path: str) -> None:
        async def work(sftp: asyncssh.SFTPClient) -> None:
            try:
                await sftp.rmdir(path)
            except asyncssh.SFTPFailure as exc:
                # SFTP v3 has no code for ENOTEMPTY: OpenSSH sends FX_FAILURE ("Failure"), as for
                # other errnos it cannot name (EBUSY, EROFS); asyncssh's server, v3-downgraded,
                # keeps strerror ("Directory not empty").  A folder that still lists entries is
                # then the likely cause; the error says how sure it is.
                entries = await self._entry_count(sftp, path)
                if not entries:
                    raise
                sure = "not empty" in exc.reason.lower()
                raise RemoteFolderNotEmpty.refused(
                    said=f"(server said: {exc.reason})", entries=None if sure else entries,
                    server=self.settings.server, path=path) from exc

        self._run("removing the folder", path, work)

    async def _entry_count(self, sftp: asyncssh.SFTPClient, folder: str) -> int:
        """How many entries ``folder`` lists; 0 when it cannot be listed (the refusal stands)."""
        try:
            return len(await self._listing(sftp, folder, follow=False))
        except (asyncssh.Error, asyncssh.SFTPError, OSError, XferError):
            return 0

    @staticmethod
    async def _case_changed(sftp: asyncssh.SFTPClient, source: str, destination: str,
                            target: asyncssh.SFTPAttrs) -> bool:
        """Whether ``destination``, a name that differs from ``source`` only in case and is
        there, turned out to be ``source`` itself (a case-insensitive server) and a plain RENAME
        changed its case.  Moving it aside to replace it would move the source away (and then
        say it does not exist).  SFTP has no file ids: the two are taken for one file when
        every attribute agrees; where they are two files, a RENAME that never replaces (SFTP
        v3) is refused, and the caller replaces as for any other name."""
        if source == destination or source.casefold() != destination.casefold():
            return False
        attrs = await sftp.stat(source)  # (as ``target`` was looked at: links followed)
        fields = ("type", "permissions", "size", "uid", "gid", "mtime", "mtime_ns")
        if any(getattr(attrs, name) != getattr(target, name) for name in fields):
            return False
        try:
            await sftp.rename(source, destination)
        except asyncssh.SFTPError as exc:
            if isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
                raise
            return False  # two files after all (or a refusal the replacing path meets again)
        return True

    def _mv(self, source: str, destination: str) -> None:
        """Rename; an existing *file* at the destination is replaced (base.mv refused folders already)."""

        async def work(sftp: asyncssh.SFTPClient) -> None:
            target = await self._stat(sftp, destination)
            if target is not None and _kind(target) == "directory":
                raise RemoteIsFolder(f"{self.settings.server}: {destination} is a folder; xfer never replaces a folder",
                                     server=self.settings.server, path=destination)
            if target is None:
                try:
                    await sftp.rename(source, destination)
                except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath) as exc:
                    # SFTP has one code for a missing source and a missing destination folder;
                    # base.mv saw the source, so look at the folder before blaming either.
                    parent = posixpath.dirname(destination) or "/"
                    there = await self._stat(sftp, parent)
                    if there is None or _kind(there) != "directory":
                        server = self.settings.server
                        raise folder_missing(server, parent, f"renaming {source} to {destination}: "
                                             f"{exc.reason or 'no such file'}",
                                             server=server, path=destination) from exc
                    raise self._translate(exc, "renaming", source) from exc
                return
            if await self._case_changed(sftp, source, destination, target):
                return
            await self._install(sftp, source, destination)

        self._run("renaming to", destination, work)
