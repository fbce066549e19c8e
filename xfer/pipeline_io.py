"""Overlapping the disk and the hash with the network: one worker thread and a small pool of buffers.

A download moves every block through three steps that each release the GIL: the TLS socket
(``SSL_read``), SHA-256 (hashlib, for blocks over 2 KiB) and the local file.  Done one after
another in one thread they add up (a 512 MiB HTTPS GET from nginx, cProfile: SSL reads
0.44 s, SHA-256 0.30 s, file writes 0.17 s, final fsync 0.17 s).  :class:`WriteBehind` puts
the hash and the writes on a second core: the network thread copies each block into a free
buffer of the pool and goes back to reading; the worker hashes and stores it.  A copy, not
buffers lent to the reader: 256 KiB is copied in ~14 us (512 MiB: 0.03 s measured), and the
adapters' read loops stay as they are.  :func:`start_writeback` has the kernel write the
file as it grows, so the fsync before the rename finds little left.

Measured (bench/, 512 MiB, median of 3, client and servers at SCHED_FIFO so that the other
load of a shared 2-core machine does not decide; xfer CLI): HTTPS nginx get 1.71 -> 1.52 s
(curl 0.88-0.91 s), FTPS vsftpd get 1.84 -> 1.49 s (lftp 0.97-1.16 s); WebDAV Apache get
no gain (2.30 -> 2.36 s, median of 6 alternating runs: Apache, sending 8 KiB records, is the
bottleneck, as curl's 2.7 s shows) and ``get URL - >/dev/null`` none (1.30 -> 1.31 s).
The cost is client CPU: HTTPS get 1.48 -> 1.82 s (GIL hand-overs between the two threads:
the reader takes the GIL back after each 16 KiB record).  On a machine with no idle core the
thread gains nothing: the early writeback alone (in the caller's thread) then did as well.

A download that hashes nothing (the CLI without ``--json``, from a server that compares no
hash: see :class:`~xfer.verify.StreamHash`) has only the disk write left to overlap, and then the
worker costs more than it saves (the copy into the pool, the GIL at every record): the caller
stores such a download itself, with the same early writeback.

Uploads were tried the other way round (a worker reading and hashing the file ahead of the
sender) and dropped: nginx, Apache and vsftpd take a body slower than one thread reads,
hashes and sends it, so nothing was gained, for more CPU.

Memory stays flat: ``depth`` buffers of ``size`` bytes, whatever the file size.  Contracts
(tests in ``tests/test_pipeline_io.py``):

* blocks are stored in order, exactly once;
* an exception raised by the worker's ``store`` (an ``OSError`` turned into
  :class:`~xfer.errors.LocalError` by the step itself) is raised again in the caller's thread,
  at its next call, as the same object: the caller's exit code does not change;
* the caller's exceptions (a cut connection, Ctrl-C) stay the caller's: :meth:`WriteBehind.close`
  stops the worker and joins it, so no thread outlives the download.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TypeVar, cast

from .buffers import aligned_buffer

__all__ = ["PIPE_BLOCK", "PIPE_DEPTH", "WRITEBACK_STEP", "WriteBehind", "start_writeback"]

#: Bytes per buffer: what the adapters read at a time (one disk write, one hash update per buffer).
PIPE_BLOCK = 256 * 1024
#: Buffers in the pool.  Two would do for perfect alternation; a few more absorb the jitter of
#: a shared machine (a slow disk write, a burst of TLS records).  6 x 256 KiB = 1.5 MiB.
PIPE_DEPTH = 6
#: Bytes of a download between two requests to write its pages back (see :func:`start_writeback`).
WRITEBACK_STEP = 8 << 20


_Item = TypeVar("_Item")


class _Stopped(Exception):
    """The caller closed the pipe: the worker ends without an error of its own."""


class _Pool:
    """Buffers passed between two threads: free ones to fill, filled ones (with their length) in order.

    The worker fails it (the error is kept and raised in the caller's thread at its next wait);
    the caller stops it (the worker's next wait raises :class:`_Stopped`).  Every wait is a
    :class:`threading.Condition` wait, which Ctrl-C interrupts in the main thread.
    """

    def __init__(self, depth: int, size: int) -> None:
        self.size = size
        self._depth = depth
        # Wake the other side once half the pool is ready for it, not at every buffer: each
        # wake-up is a futex call and a context switch (measured per 512 MiB: ~8,000 context
        # switches waking at every buffer, ~3,700 by halves).  Never a deadlock: a side waits
        # only when its own deque is empty, which makes the other side's at least a batch long
        # (each side holds one buffer at most), or at the end marker, an error, a stop or
        # wait_idle, which all wake everyone.
        self._batch = max(1, depth // 2)
        self._cond = threading.Condition()
        # On a 64-byte line like the adapters' read buffers (xfer/buffers.py): a block copied from
        # one into the other at offsets that are multiples of 64 (whole reads into a fresh pool
        # buffer) never lands 1-31 bytes ahead of its source, where the copy runs ~9x slower.
        self._free: deque[memoryview] = deque(aligned_buffer(size) for _ in range(depth))
        self._filled: deque[tuple[memoryview, int] | None] = deque()  # None: the end
        self._error: BaseException | None = None
        self._stopped = False

    def take_free(self) -> memoryview:
        """A free buffer; waits while all are in use."""
        return self._take(self._free)

    def give_back(self, buffer: memoryview) -> None:
        with self._cond:
            self._free.append(buffer)
            if len(self._free) >= self._batch:
                self._cond.notify_all()

    def put_filled(self, buffer: memoryview | None, count: int = 0) -> None:
        """Hand on ``count`` bytes of ``buffer``; None marks the end."""
        with self._cond:
            self._filled.append(None if buffer is None else (buffer, count))
            if buffer is None or len(self._filled) >= self._batch:
                self._cond.notify_all()

    def take_filled(self) -> tuple[memoryview, int] | None:
        """The next filled buffer in order (None: the end); waits while there is none."""
        return self._take(self._filled)

    def _take(self, queue: deque[_Item]) -> _Item:
        """The first of ``queue``, waiting while it is empty; raises a failure or a stop first."""
        with self._cond:
            while not queue:
                self._check()
                self._cond.wait()
            self._check()
            return queue.popleft()

    def wait_idle(self) -> None:
        """Wait until every filled buffer was taken and given back.  Only for a caller that
        holds no buffer: then one neither free nor filled is in the worker's hands."""
        with self._cond:
            self._cond.notify_all()  # a worker asleep on fewer than a batch of filled buffers
            while len(self._free) < self._depth:
                self._check()
                self._cond.wait()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            self._error = error
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._stopped:
            raise _Stopped


class WriteBehind:
    """Blocks written by the caller, stored in order by a worker thread (``store``, e.g. hash + write).

    :meth:`write` copies the data into the pool (filling one buffer before handing it on, so the
    worker sees whole buffers) and returns at once unless every buffer is waiting to be stored.
    :meth:`flush` waits until everything written so far is stored; :meth:`close` ends the worker
    (``keep=True``: after storing what is queued; ``False``: dropping it).  A failure of ``store``
    is raised by the next :meth:`write`, :meth:`flush` or :meth:`close` (``keep=True``); after it
    ``store`` is never called again.
    """

    def __init__(self, store: Callable[[memoryview], None], *, name: str,
                 depth: int = PIPE_DEPTH, size: int = PIPE_BLOCK) -> None:
        self._store = store
        self._pool = _Pool(depth, size)
        self._current: memoryview | None = None
        self._filled = 0
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        size = self._pool.size
        while view.nbytes:
            if self._current is None:
                self._current = self._pool.take_free()
                self._filled = 0
            count = min(view.nbytes, size - self._filled)
            self._current[self._filled:self._filled + count] = view[:count]
            self._filled += count
            view = view[count:]
            if self._filled == size:
                self._hand_on()

    def flush(self) -> None:
        """Wait until every byte written is stored; raise the worker's error if it failed."""
        self._hand_on()
        self._pool.wait_idle()

    def close(self, *, keep: bool) -> None:
        """End the worker and join it.  ``keep``: store what is queued first (raising as
        :meth:`flush`); else drop it, and never raise.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        if keep:
            try:
                self.flush()
            except Exception:
                self._pool.put_filled(None)
                self._thread.join()
                raise
            except BaseException:
                # Ctrl-C while draining: the drain is given up like any dropped download, at
                # once (no unbounded join), and the interruption goes on.
                self._drop()
                raise
            self._pool.put_filled(None)
            self._thread.join()
            return
        self._drop()

    def _drop(self) -> None:
        self._pool.stop()
        # Dropping: the worker is at most one store() from its end.  A store blocked for good (a
        # pipe nobody reads) is not waited for: the thread is a daemon, and the caller's error goes on.
        self._thread.join(timeout=5)

    def _hand_on(self) -> None:
        if self._current is not None and self._filled:
            self._pool.put_filled(self._current, self._filled)
            self._current = None

    def _work(self) -> None:
        pool = self._pool
        try:
            while (item := pool.take_filled()) is not None:
                buffer, count = item
                self._store(buffer[:count])
                pool.give_back(buffer)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the caller's thread, raised there
            pool.fail(exc)


#: SYNC_FILE_RANGE_WRITE: start writing the dirty pages of the range, wait for nothing.
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, start: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes of ``fd`` from ``start`` to disk; return at once.

    A download is fsynced before its rename (after a crash the name must not point at missing
    data).  Left to the kernel, 512 MiB of dirty pages wait for that fsync: 0.16-0.25 s at the
    end, measured here.  Started on each completed range as the download goes, by the worker
    that wrote it, the final fsync found ~0.01-0.07 s left.  ``sync_file_range`` (Linux) keeps
    the pages cached, unlike ``posix_fadvise(DONTNEED)``, which evicts what was written back and
    would make the user's next read of the file go to the disk.  Elsewhere (or if the call
    fails) this does nothing: the final fsync writes everything, as before.  Never raises.
    """
    sync_file_range = _find_sync_file_range()
    if sync_file_range is not None:
        sync_file_range(fd, start, length, _SYNC_FILE_RANGE_WRITE)  # a failure is no harm: ignored


@functools.cache
def _find_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # here: only downloads long enough to use it pay for the import

        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", function)
