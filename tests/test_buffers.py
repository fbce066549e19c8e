"""Page-aligned bulk buffers (issue 14, xfer/buffers.py).

A copy into a buffer 16 bytes past a 64-byte line ran three to ten times slower on the bench
machine than one into an aligned buffer, and a ``bytearray`` of 128 KiB or more is exactly
that.  These tests pin where the bulk copies land: the upload's read buffer (the kernel's
copy of the file), and on a download both the read buffer and the write-behind pool, whose
copy between them is fast only while the two are aligned alike.  Timings are the bench's
business; alignment is a fact that does not flake.
"""

from __future__ import annotations

import ctypes
import io
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import xfer
from xfer.buffers import ALIGNED_FROM, aligned_buffer
from xfer.pipeline_io import PIPE_BLOCK, WriteBehind
from xfer.testing import TestPKI, serve
from xfer.transfer import UPLOAD_BLOCK, AtomicDownload, FileBody


def _address(view: Any) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def _page_aligned(view: Any) -> bool:
    return _address(view) % mmap.PAGESIZE == 0


@pytest.mark.parametrize("size", [ALIGNED_FROM, UPLOAD_BLOCK, 3 * 1024 * 1024 + 17])
def test_a_bulk_buffer_starts_on_a_page_and_is_zeroed_and_writable(size: int) -> None:
    view = aligned_buffer(size)
    assert view.nbytes == size and not view.readonly and view.format == "B"
    assert _page_aligned(view)
    assert not any(view[:4096]) and not any(view[-4096:])
    part = view[100:200]  # a slice shares the buffer's memory (an mmap's slice would copy it)
    part[:] = b"x" * 100
    assert bytes(view[100:103]) == b"xxx"


@pytest.mark.parametrize("size", [0, 1, 4096, ALIGNED_FROM - 1])
def test_a_small_buffer_is_a_plain_bytearray(size: int) -> None:
    """No mapping of its own for a small file: it would cost more than its copy."""
    view = aligned_buffer(size)
    assert view.nbytes == size and isinstance(view.obj, bytearray)


class _Recording(io.FileIO):
    """A local file that notes where each ``readinto`` puts its bytes."""

    addresses: list[int]

    def readinto(self, buffer: Any) -> int:
        self.addresses.append(_address(buffer))
        return super().readinto(buffer)


def test_an_upload_reads_its_file_into_a_page_aligned_buffer(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(3 * UPLOAD_BLOCK + 5)
    source.write_bytes(data)
    with _Recording(source, "r") as handle:
        handle.addresses = []
        sent = b"".join(bytes(block) for block in FileBody(handle, len(data)))
    assert sent == data
    assert len(handle.addresses) == 4 and all(a % mmap.PAGESIZE == 0 for a in handle.addresses)


def test_the_write_behind_pool_is_page_aligned() -> None:
    stored: list[tuple[bool, bytes]] = []
    pipe = WriteBehind(lambda view: stored.append((_page_aligned(view), bytes(view))), name="test-pool")
    data = os.urandom(3 * PIPE_BLOCK + 9)
    pipe.write(data)
    pipe.close(keep=True)
    assert b"".join(block for _, block in stored) == data
    assert [aligned for aligned, _ in stored] == [True] * 4


@pytest.fixture
def download_blocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether each block a download hands to its file starts on a page."""
    seen: list[bool] = []
    write = AtomicDownload.write

    def noting(self: AtomicDownload, data: Any) -> None:
        view = memoryview(data)
        if view.nbytes >= ALIGNED_FROM:  # a short last block of the file: wherever it lands
            seen.append(_page_aligned(view))
        write(self, data)

    monkeypatch.setattr(AtomicDownload, "write", noting)
    yield seen


@pytest.mark.parametrize("protocol", ["https", "ftpes"])
def test_a_download_reads_into_a_page_aligned_buffer(protocol: str, pki: TestPKI, tmp_path: Path,
                                                     download_blocks: list[bool]) -> None:
    """The read buffer lines up with the write-behind pool (its copy into the pool runs between
    addresses aligned alike) whether or not a hash puts the worker on."""
    data = os.urandom(4 * 1024 * 1024 + 3)
    with serve(protocol, pki, root=tmp_path / "srv") as endpoint:
        (endpoint.root / "big.bin").write_bytes(data)
        for sha256 in (True, False):
            target = tmp_path / f"big-{sha256}.bin"
            with xfer.connect(endpoint.profile, sha256=sha256) as remote:
                remote.get("/big.bin", str(target))
            assert target.read_bytes() == data
    assert len(download_blocks) >= 2 * 16 and all(download_blocks)
