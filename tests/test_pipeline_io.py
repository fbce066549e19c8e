"""The worker thread beside a download (xfer/pipeline_io.py) and the sinks that use it.

Downloads past INLINE_DOWNLOAD hash and store on a worker: the contracts of the one-thread
code must hold all the same.  A failure on the worker
(disk full, EIO, a broken pipe) reaches the caller as the same exception, nothing is left under
the final name, a kept part holds every byte counted, Ctrl-C in the caller's thread still cleans
up, and no thread outlives the transfer.
"""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xfer.errors import LocalDiskFull, LocalError, TransferCut
from xfer.pipeline_io import WRITEBACK_STEP, WriteBehind
from xfer.retry import RetryPolicy, current_attempt
from xfer.streams import StreamSink
from xfer.transfer import INLINE_DOWNLOAD, AtomicDownload

#: Past the inline part: the worker is on.
BIG = INLINE_DOWNLOAD + 3 * 256 * 1024 + 123


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    """The test's transfer leaves as many threads as it found (joined, not abandoned)."""
    before = threading.active_count()
    yield
    assert threading.active_count() == before, [t.name for t in threading.enumerate()]


def _blocks(data: bytes, size: int = 100_000) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield view[start:start + size]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "out.bin")


class _FailingAfter(io.FileIO):
    """A part file whose writes fail with ``error`` once ``limit`` bytes are in (ENOSPC, EIO)."""

    limit = 0
    error = errno.ENOSPC

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.limit:
            raise OSError(self.error, os.strerror(self.error))
        return super().write(data)


def _fail_part_writes(monkeypatch: pytest.MonkeyPatch, limit: int, error: int) -> None:
    class Failing(_FailingAfter):
        pass

    Failing.limit, Failing.error = limit, error
    monkeypatch.setattr(os, "fdopen", lambda fd, mode, **_: Failing(fd, "r+"))


# -- the primitives ---------------------------------------------------------------------------------


def test_write_behind_stores_every_byte_in_order(no_thread_left: None) -> None:
    data = os.urandom(3_000_001)
    stored = bytearray()
    writes = WriteBehind(stored.extend, name="t", depth=3, size=65536)
    for block in _blocks(data, 70_001):
        writes.write(block)
    writes.close(keep=True)
    assert bytes(stored) == data


def test_a_store_error_is_raised_in_the_caller_and_storing_stops(no_thread_left: None) -> None:
    calls: list[int] = []
    failure = LocalError("cannot write x: Input/output error")

    def store(view: memoryview) -> None:
        calls.append(len(view))
        if len(calls) == 2:
            raise failure

    writes = WriteBehind(store, name="t", depth=2, size=1024)
    with pytest.raises(LocalError) as caught:
        for _ in range(100):
            writes.write(b"x" * 1024)
    assert caught.value is failure
    with pytest.raises(LocalError):
        writes.flush()
    writes.close(keep=False)
    assert len(calls) == 2


def test_closing_without_keeping_drops_the_queue_and_never_raises(no_thread_left: None) -> None:
    release = threading.Event()
    stored: list[int] = []

    def store(view: memoryview) -> None:
        release.wait(5)
        stored.append(len(view))

    writes = WriteBehind(store, name="t", depth=4, size=10)
    for _ in range(4):
        writes.write(b"0123456789")
    release.set()
    writes.close(keep=False)
    assert len(stored) <= 1  # the one in hand, at most


# -- downloads: AtomicDownload and StreamSink ---------------------------------------------------------


def test_a_big_download_is_whole_hashed_and_reported(tmp_path: Path, no_thread_left: None) -> None:
    data = os.urandom(BIG)
    seen: list[int] = []
    with AtomicDownload(tmp_path / "out.bin", expected_size=BIG, callback=lambda d, t: seen.append(d)) as out:
        for block in _blocks(data):
            out.write(block)
        assert out.hash.hexdigest() == hashlib.sha256(data).hexdigest()  # inside: before the rename
    assert (tmp_path / "out.bin").read_bytes() == data
    assert out.sha256 == hashlib.sha256(data).hexdigest()
    assert seen[-1] == BIG and seen == sorted(seen)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(("sha256", "also", "worker"), [(True, None, True), (False, "md5", True), (False, None, False)])
def test_a_worker_stores_a_long_download_only_where_there_is_a_hash_to_overlap(
    tmp_path: Path, no_thread_left: None, sha256: bool, also: str | None, worker: bool,
) -> None:
    """Without a hash, a worker only adds a copy and the GIL's back and forth: the caller stores."""
    data = os.urandom(BIG)
    with AtomicDownload(tmp_path / "out.bin", expected_size=BIG, sha256=sha256, also=also) as out:
        for block in _blocks(data):
            out.write(block)
        names = [t.name for t in threading.enumerate()]
    assert ("xfer-write-behind" in names) is worker
    assert (tmp_path / "out.bin").read_bytes() == data
    assert out.sha256 == (hashlib.sha256(data).hexdigest() if sha256 else None)


@pytest.mark.parametrize("sha256", [True, False], ids=["worker", "inline"])
@pytest.mark.parametrize(("error", "kind", "words"), [
    (errno.ENOSPC, LocalDiskFull, "disk full while writing"),
    (errno.EIO, LocalError, "cannot write .*out.bin: Input/output error"),
])
def test_a_failing_disk_on_the_worker_is_the_callers_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: None, error: int, kind: type[LocalError],
    words: str, sha256: bool,
) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"the old file")
    _fail_part_writes(monkeypatch, INLINE_DOWNLOAD + 512 * 1024, error)
    with pytest.raises(kind, match=words):
        with AtomicDownload(target, expected_size=BIG, sha256=sha256) as out:
            for block in _blocks(os.urandom(BIG)):
                out.write(block)
    assert target.read_bytes() == b"the old file"
    assert _leftovers(tmp_path) == []


def test_a_disk_full_at_the_last_block_is_raised_by_the_end_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: None,
) -> None:
    """The worker may fail after the caller handed on its last block: the exit raises it, saves nothing."""
    target = tmp_path / "out.bin"
    _fail_part_writes(monkeypatch, BIG - 10, errno.ENOSPC)
    with pytest.raises(LocalDiskFull):
        with AtomicDownload(target, expected_size=BIG) as out:
            out.write(os.urandom(BIG))
    assert not target.exists() and _leftovers(tmp_path) == []


def test_ctrl_c_in_the_caller_during_a_big_download(tmp_path: Path, no_thread_left: None) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(KeyboardInterrupt):
        with AtomicDownload(target) as out:
            for block in _blocks(os.urandom(BIG)):
                out.write(block)
            raise KeyboardInterrupt
    assert not target.exists() and _leftovers(tmp_path) == []


def test_a_part_kept_for_the_next_try_holds_every_byte_counted(tmp_path: Path, no_thread_left: None) -> None:
    """A cut after the worker took over: the queued blocks reach the part before it is kept,
    so the next try continues from ``written``, and the whole file hashes right."""
    target = tmp_path / "out.bin"
    data = os.urandom(3 * BIG)
    cut_at = 2 * BIG + 77
    offsets: list[int] = []

    def operation() -> str | None:
        with AtomicDownload(target, expected_size=len(data)) as out:
            out.facts = {"source": "x", "size": len(data)}
            assert current_attempt() is not None
            start, _ = out.resumable({"source": "x", "size": len(data)}, ("size",), unknown="")
            offsets.append(start)
            out.begin(start)
            if start == 0:
                for block in _blocks(data[:cut_at]):
                    out.write(block)
                assert out.written == cut_at
                raise TransferCut("the connection was cut")
            for block in _blocks(data[start:]):
                out.write(block)
        return out.sha256

    sha256, tries = RetryPolicy(retries=1, sleep=lambda seconds: None).run(operation)
    assert tries == 2 and offsets == [0, cut_at]
    assert target.read_bytes() == data and sha256 == hashlib.sha256(data).hexdigest()


def test_a_broken_pipe_on_the_worker_stops_a_stream_download(no_thread_left: None) -> None:
    class Pipe(io.BytesIO):
        def write(self, data: Any) -> int:
            if self.tell() > INLINE_DOWNLOAD:
                raise BrokenPipeError(errno.EPIPE, "Broken pipe")
            return super().write(data)

    with pytest.raises(LocalError, match="reading end of the pipe was closed"):
        with StreamSink(Pipe(), expected_size=BIG) as out:
            for block in _blocks(os.urandom(BIG)):
                out.write(block)


def test_a_big_stream_download_is_whole_and_hashed(no_thread_left: None) -> None:
    data = os.urandom(BIG)
    stream = io.BytesIO()
    with StreamSink(stream, expected_size=BIG) as out:
        for block in _blocks(data):
            out.write(block)
    assert stream.getvalue() == data and out.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("sha256", [True, False], ids=["worker", "inline"])
def test_a_long_download_asks_for_writeback_of_each_stored_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: None, sha256: bool,
) -> None:
    """Whoever stores the blocks (the worker of a hashed download, else the caller) asks the kernel
    to write back what it stored, range after range, never past what is in the file: the fsync
    before the rename then finds little left to write."""
    import xfer.transfer

    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(xfer.transfer, "start_writeback", lambda fd, start, length: asked.append((start, length)))
    data = os.urandom(3 * WRITEBACK_STEP + 4321)
    with AtomicDownload(tmp_path / "out.bin", expected_size=len(data), sha256=sha256) as out:
        for block in _blocks(data, 256 * 1024):
            out.write(block)
    assert (tmp_path / "out.bin").read_bytes() == data
    assert asked, "no writeback was asked for"
    assert asked[0][0] == 0  # the inline first MiB is in the file too
    for (start, length), (following, _) in itertools.pairwise(asked):
        assert start + length == following
    assert all(length >= WRITEBACK_STEP for _, length in asked)
    assert asked[-1][0] + asked[-1][1] <= len(data)


# -- found in review: interruptions and errors met while draining -------------------------------


def test_ctrl_c_while_a_cut_download_drains_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: None
) -> None:
    """A cut, then Ctrl-C while the exit drains the pool to a slow disk (NFS, a USB stick):
    the Ctrl-C ends the run; it was swallowed and the retry loop started another try."""
    import signal
    import time

    slow = threading.Event()

    class SlowPart(io.FileIO):
        def write(self, data: Any) -> int:
            if slow.is_set() and self.tell() >= INLINE_DOWNLOAD:
                time.sleep(0.3)
            return super().write(data)

    monkeypatch.setattr(os, "fdopen", lambda fd, mode, **_: SlowPart(fd, "r+"))
    tries: list[int] = []

    def operation() -> None:
        tries.append(1)
        slow.set()
        with AtomicDownload(tmp_path / "out.bin", expected_size=2 * BIG) as out:
            out.facts = {"source": "x", "size": 2 * BIG}
            out.begin(0)
            out.write(os.urandom(BIG))
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()  # during the drain below
            raise TransferCut("the connection was cut")

    with pytest.raises(KeyboardInterrupt):
        RetryPolicy(retries=1, sleep=lambda seconds: None).run(operation)
    assert len(tries) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_disk_full_found_while_draining_a_cut_download_is_not_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_thread_left: None
) -> None:
    """The disk fills on a block already handed to the worker, then the connection is cut: the
    user must read "disk full" (not retried), not the cut (retried into the same full disk)."""
    _fail_part_writes(monkeypatch, INLINE_DOWNLOAD + 256 * 1024, errno.ENOSPC)
    with pytest.raises(LocalDiskFull) as raised, AtomicDownload(tmp_path / "out.bin", expected_size=2 * BIG) as out:
        out.write(os.urandom(INLINE_DOWNLOAD + 1024 * 1024))
        raise TransferCut("the connection was cut")
    assert "disk full" in raised.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_stream_download_writes_as_it_arrives(no_thread_left: None) -> None:
    """Standard output gets each block before write() returns (README: "as it arrives"): a worker
    held up to its pool back from a slow reader, for no gain on a pipe."""
    stream = io.BytesIO()
    with StreamSink(stream, expected_size=BIG) as out:
        for block in _blocks(os.urandom(BIG)):
            out.write(block)
            assert stream.tell() == out.written
