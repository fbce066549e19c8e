"""SFTP uploads that keep the local file's time (``preserve_times``; ``xfer sync`` up): the time is
set on the temporary file, in flight with the size check, before the rename.

A sync used to set each file's time with a request of its own after the upload (and after its
group's): over a WAN, one round trip per file, one file after another on each connection, and a
moment in which the file stood under its name with the server's time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import asyncssh
import pytest

import xfer
from tests.test_sftp import profile_of
from xfer.sync import sync
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys, create_ssh_keys
from xfer.transfer import PART_SUFFIX

#: A time no upload would give a file by itself (whole seconds: SFTP version 3 keeps no fraction).
THEN = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)


class _TimesSeen(asyncssh.SFTPServer):
    """Records the path of every SETSTAT (what ``utime`` sends) on the server's class-wide list."""

    set: ClassVar[list[str]] = []

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        type(self).set.append(os.path.basename(path.decode()))
        super().setstat(path, attrs)


class _NoTimes(asyncssh.SFTPServer):
    """Refuses to set any attribute, as a server with a restricted SETSTAT does."""

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        raise asyncssh.SFTPPermissionDenied("setstat not allowed here")


class _IgnoresTimes(asyncssh.SFTPServer):
    """Answers SETSTAT with success and changes nothing, as a server mapping times away does."""

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        return None


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def seen(tmp_path: Path, ssh_keys: SSHTestKeys) -> Iterator[tuple[SFTPServer, list[str]]]:
    _TimesSeen.set = []
    with SFTPServer(ssh_keys, root=tmp_path / "srv", sftp_class=_TimesSeen) as srv:
        yield srv, _TimesSeen.set


def _files(folder: Path, count: int) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for number in range(count):
        data = f"file {number}\n".encode() * (number + 1)
        (folder / f"f{number:02d}.txt").write_bytes(data)
        stamp = THEN.timestamp() + number
        os.utime(folder / f"f{number:02d}.txt", (stamp, stamp))
        files[f"f{number:02d}.txt"] = data
    return files


def test_put_file_gives_the_local_time_before_the_rename(
    seen: tuple[SFTPServer, list[str]], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    srv, setstats = seen
    _files(tmp_path / "out", 1)
    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        kept = remote.put_file(tmp_path / "out" / "f00.txt", "/kept.txt", preserve_times=True)
        plain = remote.put_file(tmp_path / "out" / "f00.txt", "/plain.txt")
    assert kept.modified == THEN
    assert os.stat(srv.root / "kept.txt").st_mtime == THEN.timestamp()
    assert setstats == [kept.temp_name]  # on the temporary name, and only there
    assert plain.modified is None
    assert os.stat(srv.root / "plain.txt").st_mtime > THEN.timestamp() + 86400
    assert kept.to_dict()["modified"] == "2021-03-04T05:06:07+00:00"
    assert plain.to_dict()["modified"] is None


def test_files_that_go_together_each_get_their_time(
    seen: tuple[SFTPServer, list[str]], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    srv, setstats = seen
    files = _files(tmp_path / "out", 12)
    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        results = remote.put_together([(tmp_path / "out" / name, f"/{name}", None) for name in files],
                                      preserve_times=True)
    for number, (name, data) in enumerate(files.items()):
        result = results[number]
        assert result is not None and result.details.get("pipelined")
        assert result.modified == THEN + dt.timedelta(seconds=number)
        assert (srv.root / name).read_bytes() == data
        assert os.stat(srv.root / name).st_mtime == THEN.timestamp() + number
    assert len(setstats) == 12 and all(name.endswith(PART_SUFFIX) for name in setstats)


@pytest.mark.parametrize("parallel", [1, 3])
def test_sync_up_sets_no_time_apart(
    seen: tuple[SFTPServer, list[str]], ssh_keys: SSHTestKeys, tmp_path: Path, parallel: int,
) -> None:
    """Every file's time arrives with it (on its temporary name); the second run finds both sides equal."""
    srv, setstats = seen
    files = _files(tmp_path / "outbox", 30)
    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        remote.mkdir("/in")
        first = sync(remote, "/in", tmp_path / "outbox", upload=True, parallel=parallel)
        again = sync(remote, "/in", tmp_path / "outbox", upload=True, parallel=parallel)
    assert sorted(first.done) == sorted(files)
    assert all(result.modified is not None for result in first.done.values())
    for number, name in enumerate(files):
        assert os.stat(srv.root / "in" / name).st_mtime == THEN.timestamp() + number
    assert len(setstats) == 30 and all(name.endswith(PART_SUFFIX) for name in setstats)
    assert again.done == {} and len(again.plan.skips) == 30


def test_a_server_that_refuses_times_still_takes_the_file(
    ssh_keys: SSHTestKeys, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """The upload is whole either way: ``modified`` says the time was not given, and a sync then
    asks apart (set_modified), which says, once a file, that it could not."""
    files = _files(tmp_path / "outbox", 3)
    with SFTPServer(ssh_keys, root=tmp_path / "srv", sftp_class=_NoTimes) as srv, \
            xfer.connect(profile_of(srv, ssh_keys)) as remote:
        result = remote.put_file(tmp_path / "outbox" / "f00.txt", "/alone.txt", preserve_times=True)
        remote.mkdir("/in")
        with caplog.at_level(logging.WARNING, logger="xfer"):
            synced = sync(remote, "/in", tmp_path / "outbox", upload=True)
    assert result.modified is None
    assert (srv.root / "alone.txt").read_bytes() == files["f00.txt"]
    assert sorted(synced.done) == sorted(files)
    assert all((srv.root / "in" / name).read_bytes() == data for name, data in files.items())
    refused = [r.getMessage() for r in caplog.records if "could not set the time" in r.getMessage()]
    assert len(refused) == 3, refused
    assert not [p for p in (srv.root / "in").iterdir() if p.name.endswith(PART_SUFFIX)]


def test_the_time_reported_is_the_one_the_server_shows(ssh_keys: SSHTestKeys, tmp_path: Path) -> None:
    """``modified`` is read back from the look that checks the size: whole seconds in SFTP version 3,
    and None from a server that says yes to SETSTAT and keeps its own time."""
    source = tmp_path / "f.txt"
    source.write_bytes(b"x" * 100)
    os.utime(source, (THEN.timestamp() + 0.75,) * 2)
    with SFTPServer(ssh_keys, root=tmp_path / "srv") as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        kept = remote.put_file(source, "/kept.txt", preserve_times=True)
    assert kept.modified == THEN
    with SFTPServer(ssh_keys, root=tmp_path / "srv2", sftp_class=_IgnoresTimes) as srv, \
            xfer.connect(profile_of(srv, ssh_keys)) as remote:
        ignored = remote.put_file(source, "/ignored.txt", preserve_times=True)
    assert ignored.modified is None
    assert (srv.root / "ignored.txt").read_bytes() == b"x" * 100


def test_a_time_sftp_cannot_carry_leaves_the_upload_whole(
    seen: tuple[SFTPServer, list[str]], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """A local time before 1970 does not fit SFTP's unsigned seconds: the file goes up without it
    (once this raised OverflowError out of the upload and of sync's set_modified)."""
    srv, setstats = seen
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    for name in ("old.txt", "older.txt"):
        (outbox / name).write_bytes(name.encode())
        os.utime(outbox / name, (-86400.5, -86400.5))
    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        alone = remote.put_file(outbox / "old.txt", "/alone.txt", preserve_times=True)
        remote.mkdir("/in")
        synced = sync(remote, "/in", outbox, upload=True)
    assert alone.modified is None and (srv.root / "alone.txt").read_bytes() == b"old.txt"
    assert sorted(synced.done) == ["old.txt", "older.txt"] and synced.failed == []
    assert (srv.root / "in" / "older.txt").read_bytes() == b"older.txt"
    assert setstats == []  # never sent
