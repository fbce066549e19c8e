"""A cut SFTP upload continues the temporary file only if what it holds is the file's beginning (issue 13).

The server's size of the kept part says how much arrived, not that it is right: where the
server has ``check-file``, its hash of that range is compared with the local file's first
bytes before anything is appended, and a part that differs is started over from 0 (the retry
log says so, as for a download's part).  A server that hashes only whole files cannot prove
the part: it is continued, and the final hash check still refuses a bad result (exit 7, nothing
installed).  The fake keeps a corrupted part: a byte of it is flipped between the tries.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest

import xfer
import xfer.retry
from tests.helpers import flip_a_byte_of_the_part
from xfer.errors import IntegrityError
from xfer.testing.faults import Cut
from xfer.testing.pytest_plugin import FaultyServer
from xfer.testing.sftp_server import CheckFileServer

SIZE = 8 << 20
RATIO = 1.3


class _WholeFilesOnly(CheckFileServer):
    """Hashes whole files; a range is SSH_FX_OP_UNSUPPORTED (which must not turn check-file off)."""

    def check_file(self, fd: int, path: str, requested: str, start: int, length: int) -> tuple[str, bytes]:
        if start or length:
            self.asked.append((path, requested, start, length))
            raise asyncssh.SFTPOpUnsupported("ranges are not hashed here")
        return super().check_file(fd, path, requested, start, length)


def _put_cut_once(
    server: FaultyServer, source: Path, *, sha256: bool = True
) -> tuple[xfer.TransferResult, list[int]]:
    with server.through({0: Cut("up", after=SIZE // 2)}) as (proxy, profile):
        with xfer.connect(profile, retries=3, retry_wait=0.01, sha256=sha256) as remote:
            result = remote.put_file(source, "/in/big.bin")
    assert proxy.connections[0].was_cut
    return result, [c.bytes_up for c in proxy.connections]


@pytest.mark.parametrize("kind", [CheckFileServer, _WholeFilesOnly])
def test_a_proven_part_is_continued(
    xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, kind: type[CheckFileServer],
) -> None:
    server = xfer_faulty("sftp", sftp_class=kind)
    data = random.Random(1).randbytes(SIZE)
    (tmp_path / "big.bin").write_bytes(data)
    result, sent = _put_cut_once(server, tmp_path / "big.bin")
    assert result.attempts == 2 and result.verified == "sha256"
    assert (server.endpoint.root / "in" / "big.bin").read_bytes() == data
    assert sum(sent) <= RATIO * SIZE, f"{sent} B through the proxy: restarted?"
    ranges = [(start, length) for _, _, start, length in server.endpoint.server.check_file_asked if length]
    assert len(ranges) == 1 and ranges[0][0] == 0 and 0 < ranges[0][1] < SIZE  # the kept part, asked once


@pytest.mark.parametrize("sha256", [True, False], ids=["sha256-shown", "sha256-not-shown"])
def test_a_kept_part_that_differs_is_started_over(
    xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, sha256: bool,
) -> None:
    """The kept part is hashed (in the server's algorithm) from the file, whatever the upload computes."""
    server = xfer_faulty("sftp", sftp_class=CheckFileServer)
    root = server.endpoint.root
    data = random.Random(2).randbytes(SIZE)
    (tmp_path / "big.bin").write_bytes(data)
    monkeypatch.setattr(xfer.retry, "_sleep", flip_a_byte_of_the_part(root))
    with caplog.at_level(logging.WARNING, logger="xfer.retry"):
        result, sent = _put_cut_once(server, tmp_path / "big.bin", sha256=sha256)
    assert result.attempts == 2 and result.verified == "sha256"
    assert result.sha256 == hashlib.sha256(data).hexdigest()  # the server compares SHA-256: computed
    assert (root / "in" / "big.bin").read_bytes() == data
    assert sent[-1] > SIZE  # all of it again
    assert any("differ from the file" in r.getMessage() and "starting over from 0" in r.getMessage()
               for r in caplog.records), caplog.text
    assert sorted(p.name for p in root.rglob(".*")) == []


def test_an_unproven_bad_part_fails_the_final_check(
    xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No range hash: the part is continued as today, and the whole-file hash refuses the result."""
    server = xfer_faulty("sftp", sftp_class=_WholeFilesOnly)
    root = server.endpoint.root
    (root / "in").mkdir()
    (root / "in" / "big.bin").write_bytes(b"yesterday's version")
    data = random.Random(3).randbytes(SIZE)
    (tmp_path / "big.bin").write_bytes(data)
    monkeypatch.setattr(xfer.retry, "_sleep", flip_a_byte_of_the_part(root))
    with pytest.raises(IntegrityError, match="SHA-256 check") as caught:
        _put_cut_once(server, tmp_path / "big.bin")
    assert caught.value.exit_code == 7
    assert (root / "in" / "big.bin").read_bytes() == b"yesterday's version"
    assert sorted(p.name for p in root.rglob(".*")) == []
