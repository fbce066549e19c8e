"""Pipelined SFTP reads and writes: many requests in flight, each block handled in file order.

asyncssh's own parallel ``read(n)``/``write(data)`` hand back nothing until all of ``n`` is
done, and reassemble a read in a fresh buffer.  Here every request is one SFTP READ or WRITE
of one block (the file is opened with ``block_size=0``, so asyncssh sends exactly the request
asked for), up to ``depth`` of them outstanding, and each block is delivered (downloads) or
counted as stored (uploads) in order as soon as it and those before it are done.  That keeps
the connection busy while the disk works, and it is what resuming needs: after a cut, every
byte before :attr:`Progress.done` is on disk (ours, or the server's), so the next try goes on
from there instead of from the last multi-megabyte chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import asyncssh

__all__ = [
    "DEFAULT_BLOCK", "DEFAULT_DEPTH", "WRITE_DEPTH", "AnsweredClient", "BlockWriter", "LongAnswer", "NoReply",
    "Progress", "answered", "block_sizes", "closing", "read_blocks", "write_blocks",
]

_T = TypeVar("_T")

#: Largest block asked for in one request: OpenSSH's sftp-server answers up to 255 KiB
#: (``limits@openssh.com``); a server without that extension gets asyncssh's safe 16 KiB.
DEFAULT_BLOCK = 256 * 1024
#: Requests in flight.  With 255 KiB blocks, 64 keep ~16 MiB moving: enough for a long fat
#: link (the SSH channel window, not this, is then the limit).
DEFAULT_DEPTH = 64
#: Write requests in flight.  What is on the wire is bounded by the SSH channel window (2 MiB,
#: 8 blocks); each write queued beyond it is held in memory, copied into its SFTP packet and the
#: channel's buffer: at 64, a put peaked at 94 MiB RSS.  16 keeps the window full.
WRITE_DEPTH = 16


@contextlib.asynccontextmanager
async def closing(
    handle: asyncssh.SFTPClientFile, seconds: float | None = None
) -> AsyncIterator[asyncssh.SFTPClientFile]:
    """Close ``handle`` after the block, its answer awaited for at most ``seconds`` (:func:`answered`);
    after a failure, without waiting for the answer.

    The server answers requests in order: behind a read it stalls on (or on a dead
    connection) the close would hang, and whatever it raised then would hide the failure
    itself (a Ctrl-C would turn into "connection lost", which a download keeps its part for).
    """
    try:
        yield handle
    except BaseException:
        closing = asyncio.ensure_future(handle.close())
        closing.add_done_callback(_ignore)
        raise
    await answered(handle.close(), seconds)


def _ignore(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not report it


class NoReply(OSError):
    """The server did not answer the oldest request in flight within ``seconds``.

    SSH keepalives find a dead connection, not a live one whose SFTP server has stopped
    answering (an sftp-server stuck on a hung NFS mount): without a bound on each reply a
    transfer would wait for ever.  (Not a TimeoutError: that is also what waiting for the
    session's loop raises, :meth:`~.session.SSHSession.run`.)
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(errno.ETIMEDOUT, f"no reply within {seconds:g} s")
        self.seconds = seconds

    def __str__(self) -> str:
        return str(self.strerror)


class LongAnswer(asyncssh.SFTPBadMessage):
    """A READ answered with more bytes than it asked for, which the protocol forbids (the server
    returns at most the length asked, draft-ietf-secsh-filexfer-02 §6.4).  Taken as is, the
    surplus would stand in for the first bytes of the next block; nothing tells which are right."""

    def __init__(self, offset: int, asked: int, got: int) -> None:
        super().__init__(f"a read of {asked} bytes at offset {offset} was answered with {got}")


async def answered(request: Awaitable[_T], seconds: float | None) -> _T:
    """``request``'s answer, waiting at most ``seconds`` (None: as long as it takes).

    ``asyncio.timeout``, not ``wait_for``: no task per request (measured per call: 6 against
    19 µs; a thousand small files make several thousand requests).
    """
    if seconds is None:
        return await request
    try:
        async with asyncio.timeout(seconds):
            return await request
    except TimeoutError:
        raise NoReply(seconds) from None


class AnsweredClient:
    """An SFTP client each of whose requests is answered within ``seconds``, else :class:`NoReply`:
    what the adapter's work is given (:meth:`~.adapter.SFTPAdapter._run`), so that a stuck server
    fails a stat, an open, a rename or a listing as it fails a transfer's reads and writes.

    Its coroutine methods (``stat``, ``remove``, ``rename``...) are bounded as a whole, ``open``
    too (asyncssh's is also an async context manager: use :func:`closing` around it), and each
    entry of ``scandir`` (a long listing is many replies).  Anything else is the client's own.
    """

    def __init__(self, sftp: asyncssh.SFTPClient, seconds: float) -> None:
        self._sftp = sftp
        self._seconds = seconds

    # The same session as the client it wraps, for what is kept per session (CheckFile.of).
    def __eq__(self, other: object) -> bool:
        return self._sftp == (other._sftp if isinstance(other, AnsweredClient) else other)

    def __hash__(self) -> int:
        return hash(self._sftp)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._sftp, name)
        if not inspect.iscoroutinefunction(value):
            return value
        seconds = self._seconds

        async def bounded(*args: Any, **kwargs: Any) -> Any:
            return await answered(value(*args, **kwargs), seconds)

        return bounded

    async def open(self, *args: Any, **kwargs: Any) -> asyncssh.SFTPClientFile:
        handle: asyncssh.SFTPClientFile = await answered(self._sftp.open(*args, **kwargs), self._seconds)
        return handle

    async def scandir(self, *args: Any, **kwargs: Any) -> AsyncIterator[asyncssh.SFTPName]:
        entries = self._sftp.scandir(*args, **kwargs).__aiter__()
        while True:
            try:
                entry: asyncssh.SFTPName = await answered(entries.__anext__(), self._seconds)
            except StopAsyncIteration:
                return
            yield entry


@dataclass
class Progress:
    """How far a pipelined transfer got: :attr:`done` bytes from its start offset, in order."""

    done: int = 0


def block_sizes(sftp: asyncssh.SFTPClient) -> tuple[int, int]:
    """The read and write block sizes for this server: its limits, at most :data:`DEFAULT_BLOCK`."""
    limits = sftp.limits
    return (min(int(limits.max_read_len) or DEFAULT_BLOCK, DEFAULT_BLOCK),
            min(int(limits.max_write_len) or DEFAULT_BLOCK, DEFAULT_BLOCK))


async def read_blocks(
    handle: asyncssh.SFTPClientFile,
    start: int,
    deliver: Callable[[bytes], None],
    *,
    block: int,
    depth: int = DEFAULT_DEPTH,
    progress: Progress | None = None,
    size: int | None = None,
    stop: int | None = None,
    reply_timeout: float | None = None,
) -> int:
    """Read ``handle`` from ``start`` to its end, or to offset ``stop`` (not included); ``deliver``
    each block in order.  Returns the bytes read.  :class:`NoReply` if an answer takes longer
    than ``reply_timeout`` seconds, :class:`LongAnswer` if one is longer than asked.

    ``handle`` must be opened with ``block_size=0`` (one request per read).  A short answer
    that is not the end asks for the rest of that block before anything after it is delivered.
    ``size``: the file's length as the server stated it; no read is asked past one block
    beyond it (that one sees the end).  A 1 KiB file costs two reads, not ``depth``; a file
    that grew meanwhile is read short, and the caller's length check says so.
    """
    moved = progress or Progress()
    pending: deque[tuple[int, int, asyncio.Future[bytes]]] = deque()
    following = start

    def ask(offset: int, size: int, *, first: bool = False) -> None:
        reading = cast("Coroutine[Any, Any, bytes]", handle.read(size, offset))  # opened without an encoding
        entry = (offset, size, asyncio.ensure_future(reading))
        if first:
            pending.appendleft(entry)
        else:
            pending.append(entry)

    limit = None if size is None else max(size, start) + block
    if stop is not None:
        limit = stop if limit is None else min(limit, stop)

    def more() -> bool:
        return limit is None or following < limit

    def ask_next() -> None:
        nonlocal following
        step = block if stop is None else min(block, stop - following)
        ask(following, step)
        following += step

    try:
        for _ in range(depth):
            if not more():
                break
            ask_next()
        while pending:
            offset, size, request = pending.popleft()
            data: bytes = await answered(request, reply_timeout)
            if not data:
                break  # the end of the file (asyncssh answers EOF with b"")
            if len(data) > size:
                raise LongAnswer(offset, size, len(data))
            deliver(data)
            moved.done += len(data)
            if len(data) < size:
                ask(offset + len(data), size - len(data), first=True)
            elif more():
                ask_next()
    finally:
        for _, _, request in pending:
            request.cancel()
    return moved.done


class BlockWriter:
    """Write requests in flight on one open file, answered in order; for an upload whose bytes
    come in pieces (:meth:`push` each time, :meth:`drain` at the end).

    Each block is copied (a :class:`~xfer.transfer.FileBody` reuses its buffer) and sent as
    one request; at most ``depth`` wait for their answer.  :attr:`Progress.done` counts the
    bytes whose request, and every one before it, the server confirmed.
    """

    def __init__(self, handle: asyncssh.SFTPClientFile, start: int, *, depth: int = WRITE_DEPTH,
                 progress: Progress | None = None, reply_timeout: float | None = None) -> None:
        self._handle = handle
        self._depth = depth
        self._reply_timeout = reply_timeout  # each answer, as read_blocks
        self.offset = start
        self.progress = progress or Progress()
        self._pending: deque[tuple[int, asyncio.Future[int]]] = deque()

    async def push(self, blocks: Iterable[bytes | bytearray | memoryview]) -> None:
        """Send ``blocks`` after what was sent before; wait only while ``depth`` requests are unanswered."""
        try:
            for chunk in blocks:
                data = bytes(chunk)
                self._pending.append((len(data), asyncio.ensure_future(self._handle.write(data, self.offset))))
                self.offset += len(data)
                while len(self._pending) >= self._depth:
                    await self._oldest()
        except BaseException:
            self.cancel()
            raise

    async def drain(self) -> None:
        """Wait until the server confirmed every request."""
        try:
            while self._pending:
                await self._oldest()
        except BaseException:
            self.cancel()
            raise

    def cancel(self) -> None:
        """Give up the requests still unanswered."""
        pending, self._pending = self._pending, deque()
        for _, request in pending:
            request.cancel()

    async def _oldest(self) -> None:
        size, request = self._pending[0]
        await answered(request, self._reply_timeout)
        self._pending.popleft()
        self.progress.done += size


async def write_blocks(
    handle: asyncssh.SFTPClientFile,
    start: int,
    blocks: Iterable[bytes | bytearray | memoryview],
    *,
    depth: int = WRITE_DEPTH,
    progress: Progress | None = None,
    reply_timeout: float | None = None,
) -> int:
    """Write ``blocks`` one after another into ``handle`` from ``start`` (see :class:`BlockWriter`).
    Returns the bytes written."""
    writer = BlockWriter(handle, start, depth=depth, progress=progress, reply_timeout=reply_timeout)
    await writer.push(blocks)
    await writer.drain()
    return writer.progress.done
