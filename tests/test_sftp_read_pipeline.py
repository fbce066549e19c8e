"""SFTP download pipeline (xfer/adapters/sftp/pipeline.py): how many reads a file costs.

A stand-in for asyncssh's file records each READ (offset, size) and answers from bytes in
memory, as a server does: b"" at and past the end, short answers where asked.
"""

from __future__ import annotations

import asyncio

import pytest

from xfer.adapters.sftp.pipeline import read_blocks

BLOCK = 1000


class _File:
    def __init__(self, data: bytes, *, short: int | None = None) -> None:
        self.data = data
        self.asked: list[tuple[int, int]] = []
        self.short = short  # answer at most this many bytes per read (a server's own limit)

    async def read(self, size: int, offset: int) -> bytes:
        self.asked.append((offset, size))
        await asyncio.sleep(0)
        return self.data[offset : offset + min(size, self.short or size)]


def _read(handle: _File, *, start: int = 0, size: int | None) -> bytes:
    got: list[bytes] = []
    count = asyncio.run(read_blocks(handle, start, got.append, block=BLOCK, depth=64, size=size))  # type: ignore[arg-type]
    assert count == len(b"".join(got))
    return b"".join(got)


@pytest.mark.parametrize("length", [0, 1, 999, 1000, 1001, 5500])
def test_a_file_of_known_size_costs_its_blocks_and_two_more(length: int) -> None:
    """Was 64 reads in flight for any file: a 100,000-file get -r asked 63 needless reads a file.
    Now its blocks, the one past the end (which sees the end) and, for a last block cut short,
    the ask for its rest (which sees the end too: the order of delivery never depends on the size)."""
    data = bytes(range(256)) * (length // 256 + 1)
    handle = _File(data[:length])
    assert _read(handle, size=length) == data[:length]
    assert len(handle.asked) <= length // BLOCK + 3


def test_short_answers_are_asked_again_up_to_the_size() -> None:
    data = bytes(7000)
    handle = _File(data, short=300)
    assert _read(handle, size=len(data)) == data


def test_a_file_that_grew_is_read_short_and_the_caller_sees_it() -> None:
    handle = _File(bytes(10_000))
    assert len(_read(handle, size=3000)) < 10_000  # the sink's length check (3000) then refuses it


def test_unknown_size_reads_to_the_end() -> None:
    handle = _File(bytes(123_456))
    assert len(_read(handle, size=None)) == 123_456


def test_a_resumed_read_starts_at_its_offset() -> None:
    data = bytes(range(256)) * 20
    handle = _File(data)
    assert _read(handle, start=2000, size=len(data)) == data[2000:]
    assert all(offset >= 2000 for offset, _ in handle.asked)
