"""A local file that grows while it is uploaded (a log being appended to; a ``/proc`` file, whose
stated size is 0): the copy is its first bytes, proven as such, and a warning says so.  Before,
it was reported as a plain verified success, though the copy was not the file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import xfer
from xfer.testing.endpoints import Endpoint
from xfer.transfer import FileBody, open_for_upload


@pytest.fixture(params=["https", "davs", "ftpes", "sftp"])
def endpoint(request: pytest.FixtureRequest) -> Endpoint:
    fixture = {"https": "xfer_https_server", "davs": "xfer_webdav_server", "ftpes": "xfer_ftps_server",
               "sftp": "xfer_sftp_server"}[request.param]
    served: Endpoint = request.getfixturevalue(fixture)
    return served


def test_a_file_appended_to_while_it_is_sent_is_said(
    endpoint: Endpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    log = tmp_path / "app.log"
    first = b"line\n" * 40_000  # 200 KB: several blocks
    log.write_bytes(first)

    def appending(done: int, total: int | None) -> None:
        if done == total:  # the last block is sent: the application writes on
            with log.open("ab") as more:
                more.write(b"later\n")

    with caplog.at_level(logging.WARNING, logger="xfer"), xfer.connect(endpoint.profile) as remote:
        result = remote.put_file(log, "/app.log", callback=appending)
    assert result.size == len(first) and (endpoint.root / "app.log").read_bytes() == first
    said = [record.getMessage() for record in caplog.records if "grew" in record.getMessage()]
    assert said == [f"local file {log} grew while it was sent: the copy has its first {len(first)} bytes, "
                    "not what was added since"]


def test_a_file_that_stays_is_not_said(endpoint: Endpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a.txt").write_bytes(b"x" * 1000)
    with caplog.at_level(logging.WARNING, logger="xfer"), xfer.connect(endpoint.profile) as remote:
        remote.put_file(tmp_path / "a.txt", "/a.txt")
    assert not [record for record in caplog.records if "grew" in record.getMessage()]


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="a /proc file system")
def test_a_proc_file_stated_as_empty_is_said(caplog: pytest.LogCaptureFixture) -> None:
    handle, size = open_for_upload("/proc/self/status")
    with handle, caplog.at_level(logging.WARNING, logger="xfer"):
        body = FileBody(handle, size)
        assert b"".join(bytes(block) for block in body) == b""
    assert size == 0 and body.grew
    assert [record.getMessage() for record in caplog.records] == [
        "local file /proc/self/status grew while it was sent: the copy has its first 0 bytes, "
        "not what was added since"]


def test_a_piece_before_the_end_does_not_look_further(tmp_path: Path) -> None:
    """A ranged upload's pieces: only the last one reaches the file's end."""
    (tmp_path / "f").write_bytes(b"x" * 100)
    handle, _size = open_for_upload(tmp_path / "f")
    with handle:
        piece = FileBody(handle, 60, last=False)
        assert len(b"".join(bytes(block) for block in piece)) == 60 and not piece.grew
        last = FileBody(handle, 40)
        assert len(b"".join(bytes(block) for block in last)) == 40 and not last.grew


@pytest.mark.parametrize("when", ["after the first block", "before the body was made"])
def test_growth_within_the_last_blocks_room_is_said_with_the_bytes_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, when: str,
) -> None:
    """Review O, findings 7 and 8: the last read fills a whole block, so a file grown by less than
    the block's spare room went unnoticed (the handle was already past the end), and one grown
    by more was said with the handle's place ("first 128 bytes" of a 100-byte copy).  Growth
    between the upload's measure and the body (an FTPS STOR's round trip) was never said."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    handle, size = open_for_upload(path)
    with handle:
        if when == "before the body was made":
            with path.open("ab") as log:
                log.write(b"y" * 10)
        body = FileBody(handle, size, blocksize=64)
        sent = b""
        for block in body:
            sent += bytes(block)
            if when == "after the first block" and len(sent) == 64:
                with path.open("ab") as log:
                    log.write(b"y" * 10)
    assert sent == b"x" * 100 and body.grew
    assert "grew while it was sent: the copy has its first 100 bytes" in caplog.text


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="a /proc file system")
def test_the_command_line_says_it_as_a_warning(
    xfer_webdav_server: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tomli_w

    from .helpers import run

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "dav.toml").write_text(tomli_w.dumps(xfer_webdav_server.profile.to_toml()))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path / "profiles"))
    code, _out, err = run(capsys, "put", "-q", "/proc/cpuinfo", "dav:/cpuinfo")
    assert code == 0, err
    assert err == ("xfer: warning: local file /proc/cpuinfo grew while it was sent: the copy has its first 0 bytes, "
                   "not what was added since\n")
