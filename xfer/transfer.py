"""Moving bytes: streaming upload bodies, the atomic download writer, local-file errors.

Memory stays flat whatever the file size: uploads read into one reused buffer,
downloads are written as they arrive.  Past its first MiB, a download's blocks are hashed
and written by a worker thread while the caller's thread reads the network, through a small
pool of buffers (:mod:`xfer.pipeline_io`).  A download lives under a temporary name
beside the target and becomes the target only when it is complete, size-checked
and durable (fsynced; a group of small files by one ``syncfs``: :class:`DownloadGroup`);
any failure (or Ctrl-C) removes it and leaves the old file alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import hashlib
import io
import itertools
import json
import os
import posixpath
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, ClassVar, TypeVar

from .buffers import aligned_buffer
from .errors import IntegrityError, Interrupted, LocalDiskFull, LocalError, LocalFileNotFound
from .landing import sync_together
from .log import logger
from .pipeline_io import WRITEBACK_STEP, WriteBehind, start_writeback
from .retry import current_attempt
from .throttle import TokenBucket
from .types import ProgressCallback
from .verify import ServerHash, StreamHash

__all__ = [
    "DOWNLOAD_BLOCK",
    "NAME_MAX",
    "UPLOAD_BLOCK",
    "AtomicDownload",
    "DownloadAccounting",
    "DownloadGroup",
    "FileBody",
    "PartialDownloads",
    "SentFile",
    "hidden_beside",
    "is_temporary",
    "local_error",
    "local_errors",
    "note_temporary",
    "open_for_upload",
    "reporting_partials_to",
    "sha256_file",
]

#: Upload read size.  OpenSSL writes one 16 KiB record per write at most; larger
#: blocks mostly save Python iterations (measured: 8 KiB -> 256 KiB cut CPU ~40 %).
UPLOAD_BLOCK = 256 * 1024
#: Download read size.  Large recv(n) allocates n per 16 KiB record; 64 KiB is the sweet spot.
DOWNLOAD_BLOCK = 64 * 1024
#: Bytes of a download stored in the caller's thread before a worker takes over (see
#: :mod:`xfer.pipeline_io`), and before its pages are written back early: a thread costs ~0.1 ms
#: to start and join, and pays off only once the network and the disk have enough to overlap.
#: Many small files never start one.
INLINE_DOWNLOAD = 1 << 20


_retry_log = logger("xfer.retry")

#: What names a download's part file and its sidecar (``.NAME.xfer-part``, ``.NAME.xfer-resume``).
PART_SUFFIX = ".xfer-part"
SIDECAR_SUFFIX = ".xfer-resume"
#: The copy an install moves aside while it replaces a file (FTPS, SFTP): ``.NAME.RANDOM.xfer-old``.
OLD_SUFFIX = ".xfer-old"


#: The names xfer gives its working files (RANDOM: 8 hex digits, ``secrets.token_hex(4)``): upload
#: and download parts ``.NAME.RANDOM.xfer-part``, a ``--resume`` part ``.NAME.xfer-part`` and its
#: sidecar ``.NAME.xfer-resume`` (written as ``.NAME.xfer-resume.RANDOM`` first), a copy an
#: install moves aside ``.NAME.RANDOM.xfer-old``.
_WORKING_NAME = re.compile(
    r"\..+?(?:\.[0-9a-f]{8}\.xfer-(?:part|old)|\.xfer-part|\.xfer-resume(?:\.[0-9a-f]{8})?)", re.DOTALL
)


#: The longest file name most file systems take, in bytes (NAME_MAX: ext4, XFS, APFS, ZFS).
NAME_MAX = 255


def hidden_beside(remote: str, suffix: str = "xfer-part") -> str:
    """``.NAME.RANDOM.SUFFIX`` beside the remote path ``remote`` (an upload's temporary file, an
    old version moved aside), NAME cut short, at a whole character, when the whole would pass
    :data:`NAME_MAX` bytes: a name the server takes must not fail for the 20 bytes xfer adds
    (it did, as "permission denied" over FTPS and a retried HTTP 500 over WebDAV)."""
    folder, name = posixpath.split(remote)
    token = secrets.token_hex(4)
    room = NAME_MAX - len(f"..{token}.{suffix}".encode())
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) > room:
        cut = raw[:room].decode("utf-8", "surrogateescape")
        # A character cut in two is left out whole; the bytes of a name that was not UTF-8 stay
        # the bytes they were (decoding with "ignore" dropped them all: review O, the nits).
        name = cut[: len(cut) - _cut_tail(raw[:room])]
    return posixpath.join(folder, f".{name}.{token}.{suffix}")


def _cut_tail(raw: bytes) -> int:
    """How many bytes at the end of ``raw`` begin a UTF-8 character that does not end there."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte < 0x80:
            return 0  # ASCII: nothing cut
        if byte >= 0xC0:  # the lead byte: its sequence needs this many bytes
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if back < needed else 0
    return 0  # continuation bytes only: not a UTF-8 character that was cut


def is_temporary(name: str) -> bool:
    """xfer's own working files, as xfer names them (:data:`_WORKING_NAME`): part files
    (``.NAME[.RANDOM].xfer-part``), resume sidecars (``.NAME.xfer-resume``) and copies moved aside
    (``.NAME.RANDOM.xfer-old``).  A tree copy (``put -r``, ``get -r``) or a sync never sends,
    fetches, compares or deletes them: a sidecar deleted by a sync down would orphan its part,
    and neither is the partner's business.  A user's file merely ending so (``.notes.xfer-old``,
    ``.xfer-part``) is not one of them."""
    return name.startswith(".") and _WORKING_NAME.fullmatch(name) is not None


def note_temporary(count: int, folder: str | os.PathLike[str]) -> None:
    """One INFO line for the ``count`` working files a walk of ``folder`` left out (none: no line),
    so that a file not sent is never left out without a word."""
    if count:
        logger("xfer").info(
            "left out %d of xfer's own working files under %s (.NAME.RANDOM.xfer-part, .NAME.xfer-resume, ...)",
            count, os.fspath(folder),
        )

#: The verb of each action ``local_error`` is given, for "cannot VERB PATH".
_VERBS = {"reading": "read", "writing": "write", "creating": "create"}


def local_error(exc: OSError, path: str | os.PathLike[str], action: str) -> LocalError:
    """A clear message for a local file failure (missing, denied, disk full, name too long...).

    ``action`` is ``"reading"``, ``"writing"`` or ``"creating"`` (a folder).  The message
    names ``path``; when creating folders, the one the operating system names (a parent
    that is a file, say).  A download's temporary name is never shown: ``path`` is the target.
    The error carries the operating system's ``errno`` (what :func:`xfer.retry.own_failure`
    reads: a read-only file system fails every file, not this one).
    """
    error = _local_error(exc, path, action)
    error.errno = exc.errno  # (set while it is built; OSError's own field)
    return error


def _local_error(exc: OSError, path: str | os.PathLike[str], action: str) -> LocalError:
    named = exc.filename if action == "creating" and isinstance(exc.filename, str) else None
    where = named or os.fspath(path)
    verb = _VERBS.get(action, action)
    if exc.errno == errno.ENAMETOOLONG:
        return LocalError(
            f"cannot {verb} {where}: the local name is too long",
            hint="choose a shorter name or a folder nearer the root (most file systems allow 255 bytes "
            "per name)",
        )
    if isinstance(exc, FileNotFoundError):
        if action == "creating":  # a folder could not be made: something above it is missing
            return LocalFileNotFound(f"cannot create {where}: a folder above it does not exist")
        return LocalFileNotFound(f"local file {where} does not exist")
    if isinstance(exc, FileExistsError | NotADirectoryError) and action == "creating":
        return LocalError(
            f"cannot create the folder {where}: a file is in the way",
            hint="move or rename that file, or download somewhere else",
        )
    if isinstance(exc, IsADirectoryError):
        return LocalError(f"{where} is a folder", hint="use -r to transfer folders")
    if isinstance(exc, PermissionError):
        return LocalError(f"permission denied {action} {where}")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return LocalDiskFull(
            f"disk full while {action} {where}; the partial download was removed",
            hint="free some space and run the command again",
        )
    return LocalError(f"cannot {verb} {where}: {exc.strerror or exc}")


@contextmanager
def local_errors(path: str | os.PathLike[str], action: str) -> Iterator[None]:
    """Turn an :class:`OSError` of local file-system work into a :class:`LocalError`.

    Inside a transfer a raw OSError would be taken for a network failure (sockets raise
    OSError too) or reach the CLI as an internal error; a local problem is exit 1 with
    the local path.
    """
    try:
        yield
    except LocalError:
        raise
    except OSError as exc:
        raise local_error(exc, path, action) from exc


def open_for_upload(path: str | os.PathLike[str]) -> tuple[BinaryIO, int]:
    """Open a local file for reading; return it and its size, or a clear LocalError.

    Only a regular file: an upload states its size first, is read again from its start by a
    retry, and must not wait for ever.  A named pipe (``<(command)``) has no size, cannot be
    read twice, and its ``open`` blocks until a writer comes; it is opened without waiting
    (``O_NONBLOCK``), seen to be a pipe, and refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise local_error(exc, path, "reading") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):  # (os.open reads a folder where open() said EISDIR)
            raise local_error(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), path, "reading")
        if not stat.S_ISREG(info.st_mode):
            raise LocalError(
                f"{os.fsdecode(path)} is not a regular file (a pipe, a socket or a device): an upload needs "
                "a file whose size is known and that can be read again",
                hint="to upload what a command writes, pipe it: COMMAND | xfer put - REMOTE",
                path=os.fsdecode(path),
            )
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
        # Named by its path, not its descriptor's number: messages about the file name it.
        handle.raw.name = os.fspath(path)  # type: ignore[attr-defined]  # (FileIO's name is writable)
    except LocalError:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        raise local_error(exc, path, "reading") from exc
    return handle, info.st_size


class PartialDownloads:
    """The temp files of one batch's downloads in progress, so that the batch abandoning a
    stuck worker thread (Ctrl-C while it waits on a dead server) can still remove its partial
    file.  One per batch, never one per process: a batch that stops removes its own workers'
    parts, not those of another thread's download (review C: a stopped batch removed every
    other download's part, and those then failed as "does not exist")."""

    def __init__(self) -> None:
        self._paths: set[Path] = set()
        self._lock = threading.Lock()

    def add(self, path: Path) -> None:
        with self._lock:
            self._paths.add(path)

    def discard(self, path: Path) -> None:
        with self._lock:
            self._paths.discard(path)

    def remove_all(self) -> list[Path]:
        """Remove every temp file still registered; return what was removed."""
        with self._lock:
            paths = list(self._paths)
            self._paths.clear()
        removed = []
        for path in paths:
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                pass
        return removed


_R = TypeVar("_R")

#: Numbers the downloads' parts in the order they were opened (itertools.count: atomic under the GIL).
_OPENED = itertools.count(1)

#: The registry the downloads of this thread report to (a batch's worker sets it); None: none.
_PARTIALS: contextvars.ContextVar[PartialDownloads | None] = contextvars.ContextVar("xfer_partials", default=None)


@contextmanager
def reporting_partials_to(registry: PartialDownloads) -> Iterator[None]:
    """Downloads started in this thread within the block register their temp files with ``registry``."""
    token = _PARTIALS.set(registry)
    try:
        yield
    finally:
        _PARTIALS.reset(token)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a local file, read in blocks (memory stays flat).

    Used where a file's content must be proven after the fact: an AS2 resend carries
    the same content as the receipt recorded, a demo or contract round trip came back intact.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class SentFile:
    """The local file an upload sends, as it was when sending began: hashed again, in the
    algorithm a server chose, only where the server's hash is to be compared with it.

    That happens when the SHA-256 was not wanted (the CLI without ``--json``) and the server
    names its hash only once the bytes are sent: an HTTP PUT's answer (or the HEAD after it),
    an SFTP server whose check-file algorithm was not known in advance; and when a resumed
    upload proves the part a cut try left (:meth:`holds_prefix`).  If the file changed since
    sending began (size, time, inode), that is what the error says, not a server mismatch.
    """

    path: str
    stat: os.stat_result = field(repr=False)

    @classmethod
    def of(cls, path: str | os.PathLike[str], handle: BinaryIO) -> SentFile:
        """The file of ``handle`` (opened for the upload, before anything was sent)."""
        return cls(os.fspath(path), os.fstat(handle.fileno()))

    @property
    def version(self) -> tuple[int, int, int, int]:
        """What changes when the file is rewritten or replaced (at the same size too): a part a cut
        try left on a server is continued only by a try that opened the same version."""
        return _version(self.stat)

    def hash(self, algorithm: str, length: int | None = None) -> StreamHash:
        """``algorithm`` (``sha256``, ``md5``, ``crc32``) of the file (its first ``length`` bytes),
        read again; an :class:`IntegrityError` if it is not the file that was sent any more."""
        stream = StreamHash(algorithm, sha256=False)
        with local_errors(self.path, "reading"), open(self.path, "rb") as handle:
            if _version(os.fstat(handle.fileno())) != _version(self.stat):
                raise IntegrityError(
                    f"local file {self.path} changed while or after it was uploaded: the server's "
                    f"{algorithm} of its copy cannot be compared with what was sent",
                    hint="do not modify files while xfer uploads them; run the command again",
                )
            left = self.stat.st_size if length is None else length
            while left > 0 and (block := handle.read(min(UPLOAD_BLOCK, left))):
                stream.update(block)
                left -= len(block)
        return stream

    def holds_prefix(self, theirs: ServerHash | None, length: int, *, server: str) -> bool:
        """Whether the part a cut try left on ``server`` (``length`` bytes, of which the server
        stated ``theirs``) is the file's first bytes.  No hash (none offered, or refused): the
        part is trusted as its size says (the final check, by hash where there is one, still
        sees a bad part).  A part that differs is logged: the caller starts over from 0.
        """
        if theirs is None or self.hash(theirs.algorithm, length).hexdigest(theirs.algorithm) == theirs.value:
            return True
        _retry_log.warning("%s: the %d bytes an earlier try left on %s differ from the file (%s check); "
                           "starting over from 0", os.path.basename(self.path), length, server, theirs.algorithm)
        return False


def _version(info: os.stat_result) -> tuple[int, int, int, int]:
    """What changes when a file is rewritten or replaced."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


_UMASK_LOCK = threading.Lock()
#: Where Linux states a process's umask (a test points it elsewhere, as on other systems).
PROC_STATUS = "/proc/self/status"


def _umask() -> int:
    """The process's umask now, read for each finished download.

    Not read once and kept: a program may tighten its umask (``os.umask(0o077)``) before a
    download of something secret, and a kept 022 would save that file readable by all
    (review C).  Linux states it in ``/proc/self/status`` (since 4.7), read without changing
    anything.  Elsewhere it can only be read by setting it and setting it straight back, under
    a lock: two downloads finishing at once in parallel workers could otherwise each read the
    other's temporary 0o077, and the second would then set that back for good.
    """
    try:
        # os.open and one read: a file object cost three more system calls per downloaded file
        # (fstat, a terminal check, a seek), a tenth of a small file's (issue 14).  The file
        # is about 1.5 KB; its Umask line is within the first 4 KiB on every kernel since 4.7.
        status_fd = os.open(PROC_STATUS, os.O_RDONLY | os.O_CLOEXEC)
        try:
            status = os.read(status_fd, 4096)
        finally:
            os.close(status_fd)
        start = status.index(b"\nUmask:") + len(b"\nUmask:")
        return int(status[start:status.index(b"\n", start)], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
        return mask


class FileBody:
    """An upload body: iterable over one reused buffer, with a length and progress.

    requests sends an iterable with ``__len__`` with a Content-Length header (not
    chunked); the FTPS adapter writes each chunk to the data connection.  Each chunk
    is a memoryview of the same buffer, valid until the next iteration — the
    consumer has sent it by then, and progress is reported after that.  ``name``
    (the local path) is named if the file shrinks under the upload.

    Each block is hashed as it is read (:attr:`hash`: SHA-256 unless ``sha256`` is False, plus
    ``also``, the one extra hash the server will be asked for; see :class:`StreamHash`) and,
    with a ``throttle``, paid for before it is handed on.

    A body that ends the upload (``last``; a ranged upload's earlier pieces do not) looks once
    more when it is sent: a file that holds more now past the bytes sent (a log being appended
    to, a ``/proc`` file whose stated size is 0) is said in a warning, and :attr:`grew` is set.
    The copy is then the file's first bytes, whole and proven as such, not the file: a warning,
    not a failure, because that prefix is what a copy of a growing file can be (the next run
    sends the file again, grown), and the upload is in place by the time it is known.
    ``--remove-source-files`` keeps such a source (it changed).
    """

    def __init__(
        self,
        handle: BinaryIO,
        size: int,
        *,
        blocksize: int = UPLOAD_BLOCK,
        callback: ProgressCallback | None = None,
        name: str | None = None,
        also: str | None = None,
        throttle: TokenBucket | None = None,
        hash: StreamHash | None = None,
        sha256: bool = True,
        last: bool = True,
    ) -> None:
        self._handle = handle
        self._name = name
        self._size = size
        self._blocksize = blocksize
        self._callback = callback
        self.sent = 0
        # ``hash``: one running hash over several bodies (the pieces of a ranged upload).
        self._hash = hash if hash is not None else StreamHash(also, sha256=sha256)
        self._throttle = throttle
        #: Whether the file held more than the body's bytes once they were read (see above).
        self.grew = False
        self._last = last
        #: Where in the file the body's bytes start (known once iterated; a resumed upload's offset).
        self._start: int | None = None

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[memoryview]:
        # No larger than the file: a block-sized buffer for a small file costs more to allocate
        # (zeroed, and past 128 KiB an mmap faulted in and unmapped) than the file costs to
        # send (issue 14).  On a 64-byte line: the kernel's copy of the file into it then costs
        # a third (xfer/buffers.py).
        view = aligned_buffer(min(self._blocksize, self._size))
        with contextlib.suppress(OSError, AttributeError, io.UnsupportedOperation):
            self._start = self._handle.tell()
        while self.sent < self._size:
            try:
                count = self._handle.readinto(view)  # type: ignore[attr-defined]  # typeshed's BinaryIO lacks it
            except OSError as exc:
                # Raised inside the HTTP library's send loop, which would report it as a
                # broken connection; a LocalError keeps the blame where it belongs.
                raise local_error(exc, getattr(self._handle, "name", "the local file"), "reading") from exc
            if not count:
                named = f"local file {self._name}" if self._name else "local file"
                raise IntegrityError(
                    f"{named} shrank while uploading ({self.sent} of {self._size} bytes read)",
                    hint="do not modify files while xfer uploads them",
                )
            count = min(count, self._size - self.sent)
            self._hash.update(view[:count])
            if self._throttle is not None:
                self._throttle.take(count)
            self.sent += count
            yield view[:count]
            if self._callback is not None:
                self._callback(self.sent, self._size)
        if self._callback is not None and self._size == 0:
            self._callback(0, 0)
        self.look_past_the_end()

    def look_past_the_end(self) -> None:
        """Set :attr:`grew` and warn if the file holds more than was sent (see the class).  Done at
        the end of iteration; a sender that sends an empty file without iterating calls it.

        Past the bytes *sent*, at their place in the file (a read fills whole blocks, so the
        handle may already be past them: review O, finding 7), and against the file as it is
        now, however it was when the body was made (O, 8)."""
        if not self._last:
            return
        try:
            fd = self._handle.fileno()
            if self._start is None:
                self._start = self._handle.tell()
            end = self._start + self.sent
            if os.fstat(fd).st_size <= end and not os.pread(fd, 1, end):  # (pread: /proc states size 0)
                return
        except (OSError, AttributeError, io.UnsupportedOperation):
            return  # (what was sent is whole; this look is only to say more)
        self.grew = True
        path = self._name or getattr(self._handle, "name", None)
        named = f"local file {os.fsdecode(path)}" if isinstance(path, str | bytes) else "the local file"
        logger("xfer").warning(
            "%s grew while it was sent: the copy has its first %d bytes, not what was added since", named, end)

    def skip(self, offset: int) -> None:
        """Start the body at byte ``offset`` of the file (a resumed upload): those bytes are
        read once into :attr:`hash`, so that it still covers the whole file, and not sent
        (unless the hash computes nothing: then they are skipped unread)."""
        if self._hash.idle:
            self._handle.seek(offset)
            return
        self._handle.seek(0)
        left = offset
        while left:
            try:
                block = self._handle.read(min(left, self._blocksize))
            except OSError as exc:
                raise local_error(exc, getattr(self._handle, "name", "the local file"), "reading") from exc
            if not block:
                named = f"local file {self._name}" if self._name else "local file"
                raise IntegrityError(f"{named} shrank while uploading",
                                     hint="do not modify files while xfer uploads them")
            self._hash.update(block)
            left -= len(block)

    @property
    def hash(self) -> StreamHash:
        """The hashes of the bytes read so far (all of the file once iteration has ended)."""
        return self._hash

    @property
    def sha256(self) -> str | None:
        """SHA-256 (hex) of the bytes read so far; None if it is not computed."""
        return self._hash.hexdigest()


@dataclass(frozen=True)
class KeptPart:
    """A part file kept after a failed try (or run), and what the remote file was then."""

    path: Path
    #: ``source`` (the remote path or URL), ``size``, ``etag``, ``last_modified``, ``mdtm``: as the adapter knew them.
    facts: dict[str, Any]


class DownloadAccounting:
    """What every download sink does with a block once it is stored: hash it, pay the throttle,
    count it, report progress.  :class:`AtomicDownload` (a file) and
    :class:`xfer.streams.StreamSink` (standard output) differ only in where the block goes.
    """

    _hash: StreamHash
    _throttle: TokenBucket | None
    #: The worker storing blocks, from the first block past INLINE_DOWNLOAD on (None: not started).
    _writes: WriteBehind | None = None
    #: Past INLINE_DOWNLOAD: a long download, whose pages are written back as it goes (never reset).
    _long = False
    #: Whether a long download stores on a worker at all (see :class:`xfer.streams.StreamSink`).
    write_behind: ClassVar[bool] = True
    _callback: ProgressCallback | None
    written: int
    expected_size: int | None
    started: float
    #: Bytes of the file an earlier try kept (0: none), and what the server said of it then.
    offset: int
    previous: dict[str, Any]

    def resumable(self, facts: dict[str, Any], required: tuple[str, ...], *, unknown: str) -> tuple[int, str]:
        """Where a download can go on from the kept part, by what the server says of the file
        now (``facts``, the same keys as :attr:`facts` then); and why not, when that is 0.

        Only if every fact equals what the part was of, none of ``required`` (``size`` among
        them) is missing (else ``unknown`` is the reason), and the part is shorter than the
        file.  A part as long as the file is fetched again: the try that wrote it ended before
        the end was proven, and only a transfer that proves its end counts.
        """
        kept = self.offset
        if not kept:
            return 0, ""
        if any(facts[key] is None for key in required):
            return 0, unknown
        if any(self.previous.get(key) != value for key, value in facts.items()) or kept > facts["size"]:
            return 0, "the file changed on the server since the part was saved"
        if kept == facts["size"]:
            return 0, "the part kept earlier already holds every byte; fetching it again to prove it"
        return kept, ""

    def _accept(self, data: bytes | bytearray | memoryview) -> None:
        """Take one block of the download: it is hashed and stored (:meth:`_store`) in order, on a
        worker thread once a hashed download is past :data:`INLINE_DOWNLOAD`; the caller pays the
        throttle, counts it and reports progress, and goes back to the network."""
        if not self._long and self.written + len(data) > INLINE_DOWNLOAD:
            # Set before any worker starts and never changed: _store reads it on the worker.
            self._long = True
            # A worker only where there is a hash to overlap with the network.  Without one it
            # costs more than it saves: the blocks are copied into its pool, and the GIL goes
            # back and forth at every TLS record (256 MiB, library, median of 5 at load ~3.5:
            # HTTPS nginx CPU 0.54 s with it, 0.43-0.47 s inline; FTPS vsftpd 0.51 / 0.42 s;
            # wall no worse inline).
            if self.write_behind and not self._hash.idle:
                self._writes = WriteBehind(self._hash_and_store, name="xfer-write-behind")
        if self._writes is not None:
            self._writes.write(data)  # raises what storing an earlier block raised
        else:
            self._hash_and_store(data)
        if self._throttle is not None:
            self._throttle.take(len(data))
        self.written += len(data)
        if self._callback is not None:
            self._callback(self.written, self.expected_size)

    def _hash_and_store(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self._store(data)

    def _store(self, data: bytes | bytearray | memoryview) -> None:
        """Put ``data`` where the download goes; an OSError becomes a LocalError.  Runs on the
        worker thread: it touches nothing the caller's thread changes meanwhile."""
        raise NotImplementedError

    def _end_writes(self, failure: BaseException | None) -> BaseException | None:
        """Stop the worker, if one was started: what it holds is stored first, unless ``failure``
        is an interruption (Ctrl-C: no time is spent on a download being given up).  Returns the
        error storing ended on (the caller raises it, or discards the download), else None."""
        writes, self._writes = self._writes, None
        if writes is None:
            return None
        if failure is not None and not isinstance(failure, Exception):
            writes.close(keep=False)
            return None
        try:
            writes.close(keep=True)
        except Exception as error:  # an interruption (Ctrl-C) while draining goes on as itself
            return error
        return None

    @property
    def hash(self) -> StreamHash:
        """The hashes of the bytes written so far (waits until the worker stored them; raises
        what storing them raised)."""
        if self._writes is not None:
            self._writes.flush()
        return self._hash

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


#: What a final name may hold that a download must not replace, by its ``stat`` type.
_NOT_REPLACED = {
    stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device", stat.S_IFBLK: "a device",
}


def _refuse_unreplaceable(target: Path) -> None:
    """Refuse a final name that holds something other than a regular file (or nothing).

    The finished download is renamed over its name, which replaces whatever is there: as root,
    ``xfer get … /dev/null`` made /dev/null a regular 0644 file for the whole machine, and a
    named pipe's reader waited for ever (review M-1, J-1).  A link is not replaced either, nor
    written through: ``/dev/stdout`` is one, and ``sync`` leaves a link at a destination name
    alone too ("not written").  Writing into a device or pipe is what ``get SOURCE -`` is for.
    """
    try:
        # One lstat says all (a new name: the usual case, one system call per file): a folder,
        # or a link to one, is "a folder"; another link, a pipe or a device is not replaced.
        file_type = stat.S_IFMT(os.lstat(target).st_mode)
    except FileNotFoundError:
        return
    if file_type == stat.S_IFDIR or (file_type == stat.S_IFLNK and target.is_dir()):
        raise LocalError(f"{target} is a folder", hint="give a file name or a folder ending in /")
    kind = _NOT_REPLACED.get(file_type)
    if kind is not None:
        raise LocalError(
            f"{target} is {kind}, not a regular file: a download is saved beside it and renamed over it, "
            "which would replace it; nothing was downloaded",
            hint=f"to write into it, use -: xfer get SOURCE - > {target}; to replace it, remove it first",
        )


def _running_as_root() -> bool:
    """Whether this process may give a file to another owner (POSIX root; never on Windows)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


class AtomicDownload(DownloadAccounting):
    """Write a download beside ``target`` under a temp name; rename only when complete.

    Use as a context manager::

        with AtomicDownload(target, expected_size=n, callback=cb) as out:
            for chunk in stream:
                out.write(chunk)

    On a clean exit the size is checked against ``expected_size`` (if given), the
    file is fsynced and renamed over ``target``.  On any exception, including
    KeyboardInterrupt, the temp file is removed and ``target`` is left untouched.

    Every byte written is hashed on the way (:attr:`hash`; :attr:`sha256` after the rename):
    an adapter compares it with the server's hash *inside* the ``with`` block, so a
    mismatch raises before the rename and nothing is saved.  ``also`` adds the one
    extra hash (``md5``/``crc32``) the server will be asked for; ``sha256=False`` leaves out
    SHA-256 unless the server compares it (:attr:`sha256` is then None); ``throttle`` is paid
    for each block written.

    Resume (under a retried operation, :func:`xfer.retry.current_attempt`): a try that fails
    keeps its part file for the next try, with :attr:`facts` (what the remote file was: the
    adapter sets them before writing).  The next try's writer finds it: :attr:`offset` bytes
    are there, :attr:`previous` says what they are of.  The adapter asks the server for the
    rest only if it is unchanged, then calls :meth:`begin` with where the data it receives
    starts (``0``: over from the start; :meth:`start_over` says why).  With ``resume`` on
    (``xfer get --resume``) the part has a fixed name (``.NAME.xfer-part``) and a JSON
    sidecar (``.NAME.xfer-resume``, 0600), so a later run continues it.  The retry loop
    removes a kept part once no try will use it, unless ``resume`` keeps it for a later run.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        expected_size: int | None = None,
        callback: ProgressCallback | None = None,
        also: str | None = None,
        throttle: TokenBucket | None = None,
        sha256: bool = True,
        landing: DownloadGroup | None = None,
    ) -> None:
        self.target = Path(target)
        #: The group whose :meth:`DownloadGroup.land` fsyncs and names this download (None: it does that itself).
        self._landing = landing
        self.expected_size = expected_size
        self.written = 0
        self._callback = callback
        # The result's sha256 unless nobody reads it; resuming code feeds a kept part's bytes in here first.
        self._sha256 = sha256
        self._hash = StreamHash(also, sha256=sha256)
        self._throttle = throttle
        self._handle: BinaryIO | None = None
        #: Whether the part was created empty by this download and nothing was written to it yet.
        self._fresh = False
        # The temp name must stay a legal name: keep it within 255 bytes (NAME_MAX), counted as the
        # file system gets them (a name that was not UTF-8 on the server holds lone surrogates).
        stem = self.target.name
        while len(os.fsencode(f".{stem}.12345678.xfer-part")) > 255:
            stem = stem[:-1]
        self.temp = self.target.with_name(f".{stem}.{secrets.token_hex(4)}{PART_SUFFIX}")
        #: The batch this download is part of, told of the temp file while it is ours.
        self._partials = _PARTIALS.get()
        self.started = 0.0
        #: When its part was opened, in the order of the process's downloads (see DownloadGroup.land).
        self.opened = 0
        self.sha256: str | None = None
        # -- resume: a part left by an earlier try or run --
        self._attempt = current_attempt()
        self._key = f"part:{self.target.absolute()}" if self._attempt is not None else ""  # (a getcwd per file less)
        self._sidecar: Path | None = None
        kept: KeptPart | None = None
        if self._attempt is not None:
            kept = self._attempt.state.get(self._key)
            if self._attempt.resume:
                self.temp = self.target.with_name(f".{stem}{PART_SUFFIX}")
                self._sidecar = self.target.with_name(f".{stem}{SIDECAR_SUFFIX}")
                kept = kept or _read_sidecar(self._sidecar, self.temp)
            if kept is not None:
                self.temp = kept.path
        #: What the remote file was when the kept part was written ({} if nothing is kept).
        self.previous: dict[str, Any] = dict(kept.facts) if kept is not None else {}
        #: Bytes of the kept part that a ranged request may continue from (0: nothing kept).
        self.offset = _size_of(self.temp) if kept is not None else 0
        #: What the remote file is now, as the adapter knows it: saved with a kept part.
        self.facts: dict[str, Any] = {}
        self._begun = False

    def __enter__(self) -> AtomicDownload:
        # lstat raises for a name that is too long (ENAMETOOLONG) or under a file (ENOTDIR):
        # inside an adapter a raw OSError would look like a broken connection.
        with local_errors(self.target, "writing"):
            _refuse_unreplaceable(self.target)
            if self.offset or self._sidecar is not None:
                # A kept part (O_NOFOLLOW: never write through a link planted under its name),
                # locked so that two runs never write one part.
                fd = os.open(self.temp, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                if not _kept_file_is_ours(os.fstat(fd)):
                    # Its name is known in advance: in a folder others may write, someone may
                    # have put it there to have their bytes continued, or to own the result.
                    os.close(fd)
                    raise LocalError(
                        f"refusing to continue {self.temp}: it is not a file of this user's own",
                        hint="remove it (and its .xfer-resume file), then run the command again")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    raise LocalError(f"another xfer is downloading to {self.target}",
                                     hint="wait for it to finish") from None
            else:
                fd = os.open(self.temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        # Unbuffered: every write is a whole block already, and a buffered file cost a terminal
        # check and eight seeks per small file of a batch (strace; issue 14).
        self._handle = os.fdopen(fd, "r+b", buffering=0)
        self.opened = next(_OPENED)
        self._fresh = not (self.offset or self._sidecar is not None)
        self._register()
        self.started = time.monotonic()
        if self._callback is not None:
            try:
                self._callback(0, self.expected_size)
            except BaseException as exc:
                # (A batch stopping raises from the progress callback.)  With is not entered yet,
                # so its exit would not run: the part would stay, its file open.
                self.__exit__(type(exc), exc, exc.__traceback__)
                raise
        return self

    def hash_also(self, algorithm: str | None) -> None:
        """Compute ``algorithm`` (the server's hash, known once it answered) besides SHA-256 (if that is wanted).

        Only before :meth:`begin`: the kept bytes and everything after must pass through the same hashes.
        """
        if self._begun:
            raise RuntimeError("hash_also after the first byte")
        self._hash = StreamHash(algorithm, sha256=self._sha256)

    def begin(self, offset: int) -> None:
        """The data that follows starts at byte ``offset`` of the file: keep that much of the part.

        The kept bytes are read back once into the running hash, so :attr:`sha256` covers
        the whole file.  ``0`` starts from the beginning (the part is emptied).
        """
        assert self._handle is not None, "use AtomicDownload as a context manager"
        if offset > self.offset:
            raise ValueError(f"cannot continue at {offset}: only {self.offset} bytes are kept")
        if offset or not self._fresh:  # (a part created empty, with nothing written yet, has nothing to drop)
            self._keep_only(self._handle, offset)
        self._fresh = False
        self._begun = True
        self.written = offset
        # Where the worker's writes start, and how far it asked the kernel to write them back.
        self._stored = self._written_back = offset
        if offset and self._callback is not None:
            self._callback(self.written, self.expected_size)

    def _keep_only(self, handle: BinaryIO, offset: int) -> None:
        """Cut the part to its first ``offset`` bytes, read once into the running hash, and go on writing there."""
        try:
            handle.seek(0)
            if offset and not self._hash.idle:
                left = offset
                while left:
                    block = handle.read(min(left, DOWNLOAD_BLOCK))
                    if not block:
                        raise IntegrityError(f"the part of {self.target.name} kept for resuming shrank",
                                             hint="run the command again")
                    self._hash.update(block)
                    left -= len(block)
            handle.truncate(offset)
            handle.seek(offset)
        except OSError as exc:
            raise local_error(exc, self.target, "writing") from exc

    def start_over(self, reason: str) -> None:
        """The kept part cannot be continued (``reason``: the remote changed...): start from byte 0, and say so."""
        if self.offset:
            _retry_log.warning("%s: %s; starting over from 0", self.target.name, reason)
        self.begin(0)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert self._handle is not None, "use AtomicDownload as a context manager"
        if not self._begun:
            self.begin(0)
        self._accept(data)

    def _store(self, data: bytes | bytearray | memoryview) -> None:
        assert self._handle is not None
        try:
            done = self._handle.write(data)
            if done != len(data):  # an unbuffered write may take part of a block (a signal, a nearly full disk)
                rest = memoryview(data)[done:]
                while rest:
                    done = self._handle.write(rest)
                    if not done:  # (not seen on a regular file: the kernel reports a full disk as an error)
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    rest = rest[done:]
            self._stored += len(data)
            if self._long and self._stored - self._written_back >= WRITEBACK_STEP:
                # A long download: the final fsync finds little left to write.
                self._handle.flush()
                start_writeback(self._handle.fileno(), self._written_back, self._stored - self._written_back)
                self._written_back = self._stored
        except OSError as exc:
            raise local_error(exc, self.target, "writing") from exc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self._begun and self._handle is not None:
            self.begin(0)  # nothing was written: an empty file, not what a kept part held
        # Before anything below looks at the part (or removes it), the worker is done with it.
        try:
            unstored = self._end_writes(exc)
        except BaseException:  # interrupted while draining: the part goes, the interruption on
            handle, self._handle = self._handle, None
            self._unregister()
            self._discard(handle)
            raise
        handle, self._handle = self._handle, None
        self._unregister()
        if exc_type is not None:
            if unstored is not None or not self._keep(handle, exc):
                self._discard(handle)
            if isinstance(unstored, LocalError):
                # Storing failed too (a full disk): that is what the user must fix, and a retry
                # of the transfer's own error would only fill the disk again.
                raise unstored
            return
        try:
            assert handle is not None
            if unstored is not None:
                raise unstored
            if self.expected_size is not None and self.written < self.expected_size:
                raise IntegrityError(
                    f"download of {self.target.name} is incomplete: got {self.written} of "
                    f"{self.expected_size} bytes; nothing was saved",
                    hint="run the command again; the connection may have been cut",
                )
            if self.expected_size is not None and self.written > self.expected_size:
                # More than the size the server gave: "incomplete ... may have been cut" sent the
                # user after the network (review L, finding 18).
                raise IntegrityError(
                    f"download of {self.target.name} is longer than the server said: got {self.written} "
                    f"bytes, {self.expected_size} expected; nothing was saved",
                    hint="the file may have changed on the server while it was sent; run the command again",
                )
            try:
                handle.flush()
                # The temp file was created 0600 so nobody reads a partial download.  The finished
                # file keeps the permissions of the file it replaces (curl -o writes into that file
                # and keeps them: a 0600 file must not become readable by all), else it gets the
                # mode any new file would get (umask).  Never set-id bits.
                self._take_after_replaced(handle.fileno())
            except OSError as error:
                raise local_error(error, self.target, "writing") from error
        except BaseException:
            self._discard(handle)
            raise
        self.sha256 = self._hash.hexdigest()
        if self._landing is not None:
            self._register()  # still a part until the group names it: a stop removes it
            self._landing.hold(self, handle)
            return
        self._land(handle, durable=False)

    def _land(self, handle: BinaryIO, *, durable: bool) -> None:
        """Give the complete download its name, fsynced first unless ``durable`` already (a
        :class:`DownloadGroup` made it so)."""
        try:
            try:
                if not durable:
                    # fsync before rename: after a crash the name must not point at missing data.
                    os.fsync(handle.fileno())
                handle.close()
                os.replace(self.temp, self.target)
            except OSError as error:
                raise local_error(error, self.target, "writing") from error
        except BaseException:
            self._drop(handle)
            raise
        self._unregister()
        self._forget_part()

    def _drop(self, handle: BinaryIO) -> None:
        """A held download that will not get its name: its part removed."""
        self._unregister()
        self._discard(handle)

    def _take_after_replaced(self, fd: int) -> None:
        """Give the finished part the permission bits of the regular file at the target (not
        through a link), else the umask's; and, run as root, that file's owner and group.

        Root's download over a file owned by ``nobody`` (a cron job filling a service's inbox)
        left it ``root:root``, unreadable to its owner at ``0640`` (review J, finding 11): as
        ``cp`` and ``curl -o``, which write into the file, it keeps them.  Owner first: a
        ``chown`` may clear mode bits, and the mode is set after it.
        """
        try:
            info = os.lstat(self.target)
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            os.fchmod(fd, 0o666 & ~_umask())
            return
        if _running_as_root() and (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.fchown(fd, info.st_uid, info.st_gid)
            except OSError:
                # Best effort, as cp -p: root in a user namespace (EINVAL for an unmapped owner),
                # on root_squash NFS or CIFS (EPERM) may not give files away.  The download stands
                # (review O, finding 5).
                pass
        os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o777)

    def _keep(self, handle: BinaryIO | None, exc: BaseException | None) -> bool:
        """After a failed try: keep the part for the next try (or run) if it can be continued.

        Kept only under a retried operation, with the remote's facts known and bytes to keep;
        never after a local error or an interruption (nothing a retry does).  The retry loop
        decides whether a next try comes, and removes the part when none will use it.
        """
        attempt = self._attempt
        if (attempt is None or handle is None or isinstance(exc, LocalError | Interrupted)
                or not isinstance(exc, Exception)):
            return False
        if self._begun:
            if not self.facts or self.written == 0:
                return False
            kept = KeptPart(self.temp, dict(self.facts))
        elif self.offset:
            kept = KeptPart(self.temp, self.previous)  # failed before any data: the part is as it was
        else:
            return False
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()  # also releases the lock: the part is between tries
        except OSError:
            return False
        attempt.state[self._key] = kept
        if self._sidecar is not None:
            _write_sidecar(self._sidecar, kept)
        # Still ours until the retry loop is done with it: a Ctrl-C between tries (or a batch
        # abandoning a worker that waits to retry) removes it like a part being written.
        self._register()
        attempt.on_give_up(self._remove_part, resumable=True)
        attempt.on_give_up(self._unregister)
        return True

    def _register(self) -> None:
        if self._partials is not None:
            self._partials.add(self.temp)

    def _unregister(self) -> None:
        if self._partials is not None:
            self._partials.discard(self.temp)

    def _remove_part(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.temp)
        self._forget_part()

    def _forget_part(self) -> None:
        if self._attempt is not None:
            self._attempt.state.pop(self._key, None)
        if self._sidecar is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._sidecar)

    def _discard(self, handle: BinaryIO | None) -> None:
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass  # closing a file on a full disk can fail again; the unlink below matters
        try:
            os.unlink(self.temp)
        except OSError:
            # Best effort while another error is on its way out: a leftover hidden temp file
            # is the lesser harm than replacing that error with this one.
            pass
        self._forget_part()


class DownloadGroup:
    """Finished downloads of one group, held under their temporary names until :meth:`land`
    makes them durable together and names them.

    Why: an fsync per small file is most of the time a group of small downloads takes; one
    ``syncfs`` covers the group (:func:`xfer.landing.sync_together`, which says when that is
    safe; otherwise each file is fsynced as a download alone is).  A download given the group
    (``AtomicDownload(..., landing=group)``) does every check as usual, then waits here instead
    of fsyncing and renaming: its name does not exist until :meth:`land`, so its result must
    not be reported before.  Leaving the ``with`` block by an exception removes every download
    still held.
    """

    def __init__(self) -> None:
        self._held: list[tuple[AtomicDownload, BinaryIO]] = []
        self._named: set[AtomicDownload] = set()

    def __enter__(self) -> DownloadGroup:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._drop_held()

    def hold(self, download: AtomicDownload, handle: BinaryIO) -> None:
        """``download`` is complete and checked; ``handle`` is its open part."""
        self._held.append((download, handle))

    def named(self, download: AtomicDownload) -> bool:
        """Whether :meth:`land` gave ``download`` its name (if not, its part is gone: it goes alone)."""
        return download in self._named

    def land_and_tell(self, done: Iterable[tuple[int, AtomicDownload, _R]], tell: Callable[[int, _R], None]) -> None:
        """:meth:`land`, then ``tell`` of each of ``done`` (a place, its download, its result) that got
        its name: only now is the file there to report.  Also when a stop interrupts the landing:
        the files named before it are told."""
        try:
            self.land()
        finally:
            for place, download, result in done:
                if self.named(download):
                    tell(place, result)

    def land(self) -> None:
        """Make every held download durable and give it its name (:meth:`named` says which got it).

        One that cannot be named (a folder in its way, a full disk) has its part removed and its
        name untouched.  A stop (Ctrl-C) anywhere in here, also during the ``syncfs``, removes the
        parts not named yet, and is raised.
        """
        try:
            # Each file system's syncfs on the descriptor opened first: it reports a write-back
            # failure of that file system since that descriptor was opened, so of every file held.
            first_opened = sorted(self._held, key=lambda one: one[0].opened)
            durable = sync_together([handle.fileno() for _, handle in first_opened])
            while self._held:
                download, handle = self._held[0]
                try:
                    download._land(handle, durable=durable)
                except LocalError:
                    pass  # its part is removed: alone, it says what is wrong
                else:
                    self._named.add(download)
                finally:
                    del self._held[0]
        finally:
            self._drop_held()

    def _drop_held(self) -> None:
        held, self._held = self._held, []
        for download, handle in held:
            download._drop(handle)


def _size_of(path: Path) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return 0


def _kept_file_is_ours(facts: os.stat_result) -> bool:
    """Whether a kept part or sidecar (found by its fixed name) is one xfer may trust: a regular
    file of this user's, with no other name (a hard link elsewhere would see the download)."""
    return stat.S_ISREG(facts.st_mode) and facts.st_uid == os.geteuid() and facts.st_nlink == 1


def _read_sidecar(sidecar: Path, part: Path) -> KeptPart | None:
    """The part a previous run kept (``--resume``), if its sidecar is there, readable and ours."""
    try:
        fd = os.open(sidecar, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not _kept_file_is_ours(os.fstat(handle.fileno())):
                logger("xfer").warning("ignored %s: it is not a file of this user's own", sidecar)
                return None
            facts = json.loads(handle.read(64 * 1024))
    except (OSError, ValueError):
        return None
    if not isinstance(facts, dict) or not _size_of(part):
        return None
    return KeptPart(part, facts)


def _write_sidecar(sidecar: Path, kept: KeptPart) -> None:
    """What the kept part is of, for the next ``--resume`` run (0600, replaced atomically)."""
    temp = sidecar.with_name(f"{sidecar.name}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({**kept.facts, "part": kept.path.name}, handle)
        os.replace(temp, sidecar)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
