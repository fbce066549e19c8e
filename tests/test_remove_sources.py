"""``Adapter.remove_sources``' default, one file after another (FTPS; HTTPS and WebDAV where requests
cannot be pipelined): the sources of proven downloads removed (``--remove-source-files``), each kept
one said, a failure of the connection ending the call with every file after it kept (SFTP's own:
tests/test_sftp_remove_sources.py; HTTP's pipelined one: tests/test_http_remove_sources.py).  Then
:func:`~xfer.sync.remove_downloaded_together`'s look at the local copies first.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import unicodedata
from pathlib import Path
from typing import Any

import pytest

import xfer
from xfer.errors import (
    AuthenticationFailed,
    ConnectionDropped,
    FilesFailed,
    IntegrityError,
    RemoteNotFound,
    ServerError,
    XferError,
)
from xfer.sync import remove_downloaded_together, sync
from xfer.testing.endpoints import Endpoint
from xfer.types import SourceVersion


def _sources(endpoint: Endpoint, count: int) -> list[tuple[str, int]]:
    for number in range(count):
        (endpoint.root / f"f{number}.txt").write_bytes(b"x" * (number + 1))
    return [(f"/f{number}.txt", number + 1) for number in range(count)]


def test_each_source_is_proven_and_removed_or_said(xfer_ftps_server: Endpoint) -> None:
    files = _sources(xfer_ftps_server, 4)
    (xfer_ftps_server.root / "f1.txt").write_bytes(b"changed since the download")
    with xfer.connect(xfer_ftps_server.profile) as remote:
        failures = remote.remove_sources([*files, ("/gone.txt", 3)])
    assert [failure is None for failure in failures] == [True, False, True, True, False]
    assert isinstance(failures[1], IntegrityError) and "kept the source /f1.txt" in str(failures[1])
    assert isinstance(failures[4], RemoteNotFound)
    assert sorted(p.name for p in xfer_ftps_server.root.iterdir()) == ["f1.txt"]


@pytest.mark.parametrize("failure", [ConnectionDropped("the connection broke"), AuthenticationFailed("login refused"),
                                     ServerError("451 try again later", reply_code=451)],
                         ids=["dropped", "login", "server-busy"])
def test_a_failure_not_about_one_file_keeps_it_and_every_one_after(
    xfer_ftps_server: Endpoint, monkeypatch: pytest.MonkeyPatch, failure: XferError,
) -> None:
    """Said for each file it kept, not raised (what was removed before it is known); no further
    file is asked about (a refused login is not tried again for each, nor is a busy server: a
    transient failure is the server's, not the file's)."""
    files = _sources(xfer_ftps_server, 4)
    asked: list[str] = []
    with xfer.connect(xfer_ftps_server.profile) as remote:
        real = remote.info

        def info(path: str, **options: Any) -> Any:
            asked.append(path)
            if path == "/f1.txt":
                raise failure
            return real(path, **options)

        monkeypatch.setattr(remote, "info", info)
        failures = remote.remove_sources(files)
    assert failures == [None, failure, failure, failure]
    assert asked == ["/f0.txt", "/f1.txt"]
    assert sorted(p.name for p in xfer_ftps_server.root.iterdir()) == ["f1.txt", "f2.txt", "f3.txt"]


def _downloaded(endpoint: Endpoint, local: Path, count: int) -> list[tuple[str, Path, int, int | None]]:
    """``count`` remote files and their local copies, as a finished download leaves them."""
    local.mkdir(exist_ok=True)
    files: list[tuple[str, Path, int, int | None]] = []
    for remote, size in _sources(endpoint, count):
        copy = local / remote.lstrip("/")
        copy.write_bytes(b"x" * size)
        files.append((remote, copy, size, size))
    return files


def test_two_downloads_in_one_local_file_keep_both_sources(xfer_https_server: Endpoint, tmp_path: Path) -> None:
    """``A.txt`` and ``a.txt`` on a case-insensitive disk are one file: only the last download is in
    it, so neither source is removed.  (A hard link stands in for the disk here.)"""
    files = _downloaded(xfer_https_server, tmp_path / "inbox", 3)
    shared = tmp_path / "inbox" / "f0.txt"
    files[1] = ("/f0-again.txt", tmp_path / "inbox" / "F0.txt", 1, 1)
    (xfer_https_server.root / "f0-again.txt").write_bytes(b"x")
    os.link(shared, files[1][1])
    with xfer.connect(xfer_https_server.profile) as remote:
        failures = remove_downloaded_together(remote, files)
    assert failures[2] is None
    for failure, remote_path in zip(failures[:2], ("/f0.txt", "/f0-again.txt"), strict=True):
        assert isinstance(failure, IntegrityError)
        assert str(failure).startswith(f"kept the source {remote_path}: 2 downloads landed in one local file")
    assert sorted(p.name for p in xfer_https_server.root.iterdir()) == ["f0-again.txt", "f0.txt", "f1.txt"]


def test_each_copys_folder_is_on_disk_before_its_source_is_removed(
    xfer_https_server: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The folders are fsynced (each once, then those above them) before the server is asked: after
    a crash the copies' names are there.  A folder whose fsync fails keeps its files' sources; one whose file system
    cannot fsync a folder (EINVAL) gives what it can."""
    kept = _downloaded(xfer_https_server, tmp_path / "kept", 2)
    removed = [(path, tmp_path / "removed" / Path(path).name, size, listed)
               for path, size, listed in [("/sub/a.txt", 1, 1), ("/sub/b.txt", 2, 2)]]
    (xfer_https_server.root / "sub").mkdir()
    (tmp_path / "removed").mkdir()
    for path, copy, size, _ in removed:
        (xfer_https_server.root / path.lstrip("/")).write_bytes(b"y" * size)
        copy.write_bytes(b"y" * size)
    unsupported = [("/c.txt", tmp_path / "fuse" / "c.txt", 3, 3)]
    (xfer_https_server.root / "c.txt").write_bytes(b"zzz")
    (tmp_path / "fuse").mkdir()
    unsupported[0][1].write_bytes(b"zzz")
    events: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        folder = Path(os.readlink(f"/proc/self/fd/{descriptor}")).name
        events.append(f"fsync {folder}")
        if folder == "kept":
            raise OSError(errno.EIO, "Input/output error")
        if folder == "fuse":
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    with xfer.connect(xfer_https_server.profile) as remote:
        real_remove = remote.remove_sources

        def remove_sources(sources: Any) -> Any:
            events.append(f"remove {[path for path, *_ in sources]}")
            return real_remove(sources)

        monkeypatch.setattr(remote, "remove_sources", remove_sources)
        failures = remove_downloaded_together(remote, [*kept, *removed, *unsupported])
    assert sorted(events[:3]) == ["fsync fuse", "fsync kept", "fsync removed"]
    # Then the folders above them, once each (a folder the download made is a new name there).
    assert f"fsync {tmp_path.name}" in events[3:-1] and len(set(events[3:-1])) == len(events[3:-1])
    assert events[-1] == "remove ['/sub/a.txt', '/sub/b.txt', '/c.txt']"
    assert failures[2:] == [None, None, None]
    for failure, (remote_path, *_) in zip(failures[:2], kept, strict=True):
        assert isinstance(failure, IntegrityError)
        assert str(failure).startswith(f"kept the source {remote_path}: cannot write {tmp_path / 'kept'}: ")
    assert sorted(p.name for p in xfer_https_server.root.iterdir()) == ["f0.txt", "f1.txt", "sub"]
    assert not list((xfer_https_server.root / "sub").iterdir())


def test_a_copy_kept_for_its_listed_size_still_counts_as_sharing(
    xfer_https_server: Endpoint, tmp_path: Path,
) -> None:
    """``A.txt`` (listed at 12 bytes, downloaded at 10: it changed meanwhile) and ``a.txt`` landed in
    one local file, ``A.txt``'s download last: ``a.txt``'s source must stay too, its bytes are nowhere."""
    (xfer_https_server.root / "A.txt").write_bytes(b"A" * 10)
    (xfer_https_server.root / "a.txt").write_bytes(b"a" * 10)
    upper = tmp_path / "A.txt"
    upper.write_bytes(b"A" * 10)
    os.link(upper, tmp_path / "a.txt")  # (a hard link stands in for a case-insensitive disk)
    with xfer.connect(xfer_https_server.profile) as remote:
        failures = remove_downloaded_together(remote, [("/A.txt", upper, 10, 12),
                                                       ("/a.txt", tmp_path / "a.txt", 10, 10)])
    assert all(isinstance(failure, IntegrityError) for failure in failures)
    assert "2 downloads landed in one local file" in str(failures[1])
    assert sorted(p.name for p in xfer_https_server.root.iterdir()) == ["A.txt", "a.txt"]


def test_file_numbers_of_zero_identify_nothing(
    xfer_https_server: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file system whose files all have number 0 (some Windows volumes) is not one file."""
    files = _downloaded(xfer_https_server, tmp_path / "inbox", 3)
    real_stat = Path.stat

    def stat(self: Path, *args: Any, **kwargs: Any) -> os.stat_result:
        found = real_stat(self, *args, **kwargs)
        if self.parent.name != "inbox":
            return found
        return os.stat_result((found.st_mode, 0, found.st_dev, found.st_nlink, found.st_uid, found.st_gid,
                               found.st_size, int(found.st_atime), int(found.st_mtime), int(found.st_ctime)))

    with xfer.connect(xfer_https_server.profile) as remote:
        monkeypatch.setattr(Path, "stat", stat)
        assert remove_downloaded_together(remote, files) == [None] * 3


def _one_name(path: object) -> str:
    """A path as a case- and form-insensitive disk (macOS) sees it."""
    return unicodedata.normalize("NFC", str(path)).casefold()


@pytest.mark.parametrize("twins", [("A.bin", "a.bin"), ("caf\u00e9.bin", "cafe\u0301.bin")], ids=["case", "form"])
@pytest.mark.parametrize("case_insensitive", [True, False])
def test_sync_keeps_both_sources_of_names_one_local_file_holds(
    xfer_webdav_server: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case_insensitive: bool,
    twins: tuple[str, str],
) -> None:
    """Remote ``A.bin`` and ``a.bin`` (or ``café`` composed and decomposed) in a sync down with source
    removal: on a case-insensitive disk (emulated where xfer asks whether two local names are one
    file) they are one local file, whatever groups they went in: neither source goes.  On a
    case-sensitive disk both go, and each result says so."""
    outbox = xfer_webdav_server.root / "outbox"
    outbox.mkdir()
    for name in twins:
        (outbox / name).write_bytes(name.encode() * 10_000)  # (too large to go together: a group of its own)
    (outbox / "other.txt").write_bytes(b"o")
    if case_insensitive:
        monkeypatch.setattr(os.path, "samefile", lambda one, two: _one_name(one) == _one_name(two))
    with xfer.connect(xfer_webdav_server.profile) as remote:
        result = sync(remote, "/outbox", tmp_path / "inbox", upload=False, remove_source=True)
    if case_insensitive:
        assert isinstance(result.error, FilesFailed) and "differs from it only in case" in str(result.error)
        assert all(isinstance(failure, IntegrityError) for failure in result.error.failures)
        assert not set(twins) & set(result.sources_removed)
        assert set(twins) <= {p.name for p in outbox.iterdir()}
    else:
        assert result.error is None and sorted(result.sources_removed) == sorted([*twins, "other.txt"])
        assert not list(outbox.iterdir())
        assert all(outcome.source_removed is True for outcome in result.done.values())


def test_sync_up_results_say_which_sources_went(xfer_webdav_server: Endpoint, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    for number in range(3):
        (outbox / f"f{number}.txt").write_bytes(b"z" * (number + 1))
    with xfer.connect(xfer_webdav_server.profile) as remote:
        result = sync(remote, "/in", outbox, upload=True, remove_source=True)
        plain = sync(remote, "/in", outbox, upload=False)
    assert result.error is None and [o.source_removed for o in result.done.values()] == [True] * 3
    assert [o.source_removed for o in plain.done.values()] == [None] * 3


@pytest.mark.parametrize(("then", "now", "changed"), [
    ('W/"3e8-5f1e"', '"3e8-5f1e"', False),   # Apache: weak within the second it was written, strong after
    ('"3e8-5f1e"', "3e8-5f1e", False),       # quoted on one side only (wsgidav's getetag)
    ('W/"3e8-5f1e"', 'W/"3e8-6000"', True),
])
def test_a_version_is_the_same_by_its_opaque_etag(then: str, now: str, changed: bool) -> None:
    """Review N, finding 2: a weak ETag on the GET and the strong one on the later look kept an
    unchanged source for ever ("changed ... W/"x" -> "x"")."""
    assert (SourceVersion(etag=then).changed(now, None) is not None) is changed


def test_a_version_time_is_compared_to_the_whole_second() -> None:
    """Review N, finding 7: a GET's Last-Modified has whole seconds, a PROPFIND's ISO time may have
    a fraction: the same second is the same version, another second is not."""
    then = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert SourceVersion(modified=then).changed(None, then.replace(microsecond=250_000)) is None
    assert SourceVersion(modified=then).changed(None, then.replace(second=1)) is not None
