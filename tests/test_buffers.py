"""Cache-line-aligned bulk buffers (issue 14, xfer/buffers.py).

On the bench machine a copy landing 1-31 bytes ahead of its source (modulo 4 KiB) ran about
nine times slower, and a fresh ``bytearray`` of 128 KiB or more starts 16 bytes past a page:
a file read into it from the page cache is that case.  These tests pin where the bulk copies
land: the upload's read buffer (the kernel's copy of the file), and on a download both the
read buffer and the write-behind pool, whose copy between them stays clear of that case only
while both start on a 64-byte line.  Timings are the bench's business; alignment is a fact
that does not flake.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from xfer.adapters.http_transfer import _read_known_length
from xfer.buffers import ALIGNED_FROM, aligned_buffer
from xfer.pipeline_io import PIPE_BLOCK, WriteBehind
from xfer.testing import TestPKI, serve
from xfer.transfer import UPLOAD_BLOCK


def _address(view: Any) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def _on_a_line(view: Any) -> bool:
    """Whether ``view`` starts on a 64-byte line (read-only data is not a buffer of ours)."""
    return not memoryview(view).readonly and _address(view) % 64 == 0


@pytest.mark.parametrize("size", [ALIGNED_FROM, UPLOAD_BLOCK, 3 * 1024 * 1024 + 17])
def test_a_bulk_buffer_starts_on_a_line_and_is_zeroed_and_writable(size: int) -> None:
    views = [aligned_buffer(size) for _ in range(8)]  # wherever the allocator puts each one
    for view in views:
        assert view.nbytes == size and not view.readonly and view.format == "B" and view.contiguous
        assert _on_a_line(view)
        assert not any(view[:4096]) and not any(view[-4096:])
    part = views[0][100:200]  # a slice shares the buffer's memory
    part[:] = b"x" * 100
    assert bytes(views[0][100:103]) == b"xxx"


@pytest.mark.parametrize("size", [0, 1, 4096, ALIGNED_FROM - 1])
def test_a_small_buffer_is_a_plain_bytearray(size: int) -> None:
    """Nothing to gain for a small file: its copy costs little wherever it lands."""
    view = aligned_buffer(size)
    assert view.nbytes == size and isinstance(view.obj, bytearray) and len(view.obj) == size  # no slack


#: Where the bulk copies of one transfer land, in a process of its own as the CLI runs one: there the
#: first buffer of 128 KiB or more is the one glibc maps 16 bytes past a page (later ones come from
#: a heap whose offsets vary, so an in-process test would pass on the old code by luck).
#: Prints, as JSON, whether each readinto buffer of an upload (``put FILE SIZE``) or each block of
#: at least ALIGNED_FROM bytes handed to a download's file (``get PROFILE PATH TARGET``, once
#: with SHA-256, once without) started on a 64-byte line.
_CHILD = r"""
import ctypes, io, json, sys
from xfer.buffers import ALIGNED_FROM
from xfer.transfer import AtomicDownload, FileBody

def on_a_line(data):
    view = memoryview(data)
    return not view.readonly and ctypes.addressof(ctypes.c_char.from_buffer(view)) % 64 == 0

seen = []
if sys.argv[1] == "put":
    class Recording(io.FileIO):
        def readinto(self, buffer):
            seen.append(on_a_line(buffer))
            return super().readinto(buffer)

    with Recording(sys.argv[2], "r") as handle:
        sent = b"".join(bytes(block) for block in FileBody(handle, int(sys.argv[3])))
    assert sent == open(sys.argv[2], "rb").read()
else:
    import xfer
    write = AtomicDownload.write

    def noting(self, data):
        sizes[-1].append(memoryview(data).nbytes)
        if memoryview(data).nbytes >= ALIGNED_FROM:  # a short last block: wherever it lands
            seen.append(on_a_line(data))
        write(self, data)

    AtomicDownload.write = noting
    sizes = []
    for sha256 in (True, False):
        sizes.append([])
        with xfer.connect(sys.argv[2], sha256=sha256) as remote:
            remote.get(sys.argv[3], sys.argv[4] + str(sha256))
    print(json.dumps(sizes))
print(json.dumps(seen))
"""


def _child(*args: str, env: dict[str, str] | None = None) -> list[Any]:
    """The child's printed lines, each read as JSON."""
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_an_upload_reads_its_file_into_a_buffer_on_a_line(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * UPLOAD_BLOCK + 5))
    assert _child("put", str(source), str(source.stat().st_size)) == [[True] * 4]


def test_the_write_behind_pool_starts_on_lines() -> None:
    stored: list[tuple[bool, bytes]] = []
    pipe = WriteBehind(lambda view: stored.append((_on_a_line(view), bytes(view))), name="test-pool")
    data = os.urandom(3 * PIPE_BLOCK + 9)
    pipe.write(data)
    pipe.close(keep=True)
    assert b"".join(block for _, block in stored) == data
    assert [aligned for aligned, _ in stored] == [True] * 4


@pytest.mark.parametrize("protocol", ["https", "ftpes"])
def test_a_download_reads_into_a_buffer_on_a_line(protocol: str, pki: TestPKI, tmp_path: Path) -> None:
    """With and without a hash (the write-behind worker on and off): the read buffer, which the
    worker's pool (test above) is copied from, starts on a line like the pool, and the file takes
    whole blocks (over HTTP too, where the start of the body comes with the head), so that the
    copies into the pool and the file stay at offsets that are multiples of a block."""
    data = os.urandom(4 * 1024 * 1024 + 3)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    with serve(protocol, pki, root=tmp_path / "srv") as endpoint:
        (endpoint.root / "big.bin").write_bytes(data)
        (profiles / "bed.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
        sizes, seen = _child("get", "bed", "/big.bin", str(tmp_path / "big-"),
                             env={"XFER_PROFILE_PATH": str(profiles)})
    for sha256 in (True, False):
        assert (tmp_path / f"big-{sha256}").read_bytes() == data
    assert len(seen) >= 2 * 16 and all(seen), seen
    block = 256 * 1024  # both protocols' read buffer
    for written in sizes:
        assert sum(written) == len(data) and set(written[:-1]) == {block}, written


def test_without_ctypes_a_bulk_buffer_is_a_plain_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python built without ctypes still transfers: only where the buffer lands is left to chance."""
    monkeypatch.setitem(sys.modules, "ctypes", None)  # import ctypes now raises ImportError
    view = aligned_buffer(UPLOAD_BLOCK)
    assert view.nbytes == UPLOAD_BLOCK and isinstance(view.obj, bytearray) and len(view.obj) == UPLOAD_BLOCK


class _Socket:
    """A TLS socket's ``fill`` that hands out ``chunks`` (then an end, or ``failure``)."""

    def __init__(self, chunks: list[bytes], failure: Exception | None) -> None:
        self._chunks, self._failure = chunks, failure

    def fill(self, view: memoryview) -> int:
        if not self._chunks:
            if self._failure is not None:
                raise self._failure
            return 0
        chunk = self._chunks.pop(0)
        count = min(len(chunk), view.nbytes)
        view[:count] = chunk[:count]
        if count < len(chunk):
            self._chunks.insert(0, chunk[count:])
        return count


class _Raw(io.BytesIO):
    _sock: _Socket


@pytest.mark.parametrize("failure", [None, ConnectionResetError("cut")], ids=["short-end", "cut"])
def test_an_http_body_reaches_the_file_in_whole_blocks_and_whole(failure: Exception | None) -> None:
    """http.client holds the start of the body (read with the head): it starts the first block,
    and every write but the last is a whole block.  A body that ends short, or is cut, still
    hands over every byte received before the end or the failure."""
    block = 256 * 1024
    held = b"h" * 5000
    received = [bytes([n]) * 16384 for n in range(40)]  # 655,360 bytes from the socket
    raw = _Raw(held)
    raw._sock = _Socket(list(received), failure)
    response = types.SimpleNamespace(fp=io.BufferedReader(raw), length=10**7)  # announced: more than comes
    writes: list[bytes] = []
    out = types.SimpleNamespace(write=lambda data: writes.append(bytes(data)))
    if failure is None:
        _read_known_length(response, aligned_buffer(block), out)  # type: ignore[arg-type]
    else:
        with pytest.raises(ConnectionResetError):
            _read_known_length(response, aligned_buffer(block), out)  # type: ignore[arg-type]
    assert b"".join(writes) == held + b"".join(received)
    assert [len(w) for w in writes[:-1]] == [block] * (len(writes) - 1)
    assert response.length == 10**7 - len(held) - 16384 * 40
