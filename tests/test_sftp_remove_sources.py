"""``--remove-source-files`` of downloads over SFTP: the sources of many proven copies removed at once
(:meth:`SFTPAdapter.remove_sources`): every look in flight, then every removal.

One file after another this took three round trips a file (``info``; ``rm``'s LSTAT, REMOVE) on
the one connection after a ``get``: 1,000 files over a 50 ms link spent 150 s removing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import asyncssh
import pytest
import tomli_w

import xfer
from tests.helpers import run
from tests.test_sftp import profile_of
from xfer.errors import ConnectionDropped, FilesFailed, IntegrityError, RemoteNotFound, UsageError
from xfer.profiles import Profile
from xfer.sync import remove_downloaded_together, sync
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys, create_ssh_keys


class _Seen(asyncssh.SFTPServer):
    """Records STAT and REMOVE in the order the server handles them; with ``break_at``, the first
    REMOVE of that name is carried out, then the connection dropped before its answer (with
    ``put_back``, after a new file with those bytes took the name)."""

    asked: ClassVar[list[tuple[str, str]]] = []
    break_at: ClassVar[str | None] = None
    put_back: ClassVar[bytes | None] = None

    def stat(self, path: bytes) -> Any:
        type(self).asked.append(("stat", os.path.basename(path.decode())))
        return super().stat(path)

    def remove(self, path: bytes) -> None:
        name = os.path.basename(path.decode())
        type(self).asked.append(("remove", name))
        super().remove(path)
        if name == type(self).break_at:  # removed; the answer is lost with the connection
            type(self).break_at = None
            anew = type(self).put_back
            if anew is not None:  # and the partner puts a new file of that size there
                Path(self.map_path(path).decode()).write_bytes(anew)
            self.connection.abort()
            raise asyncssh.SFTPConnectionLost("dropped")


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def served(tmp_path: Path, ssh_keys: SSHTestKeys) -> Iterator[SFTPServer]:
    _Seen.asked, _Seen.break_at, _Seen.put_back = [], None, None
    with SFTPServer(ssh_keys, root=tmp_path / "srv", sftp_class=_Seen) as srv:
        (srv.root / "out").mkdir()
        for number in range(20):
            (srv.root / "out" / f"f{number:02d}.txt").write_bytes(b"x" * (number + 1))
        yield srv


def test_sources_are_looked_at_together_then_removed_together(
    served: SFTPServer, ssh_keys: SSHTestKeys,
) -> None:
    """Every STAT reaches the server before any REMOVE; a file that changed size since, or is gone, is
    kept (or said missing), the others removed."""
    (served.root / "out" / "f03.txt").write_bytes(b"changed since the download")
    (served.root / "out" / "f07.txt").unlink()
    with xfer.connect(profile_of(served, ssh_keys)) as remote:
        failures = remote.remove_sources([(f"/out/f{n:02d}.txt", n + 1) for n in range(20)])
    assert isinstance(failures[3], IntegrityError) and "kept the source /out/f03.txt" in str(failures[3])
    assert isinstance(failures[7], RemoteNotFound)
    assert [n for n, failure in enumerate(failures) if failure is not None] == [3, 7]
    assert sorted(p.name for p in (served.root / "out").iterdir()) == ["f03.txt"]
    kinds = [kind for kind, _ in _Seen.asked]
    assert kinds == ["stat"] * 20 + ["remove"] * 18


def test_a_path_that_cannot_be_removed_is_said_for_that_file(served: SFTPServer, ssh_keys: SSHTestKeys) -> None:
    """The connection's root is refused for that entry alone, as every adapter says it; nothing is
    raised, and the other files are removed."""
    with xfer.connect(profile_of(served, ssh_keys)) as remote:
        failures = remote.remove_sources([("/out/f00.txt", 1), ("/", 1), ("/out/f01.txt", 2)])
    assert failures[0] is None and failures[2] is None
    assert isinstance(failures[1], UsageError) and "root" in str(failures[1])
    assert not (served.root / "out" / "f00.txt").exists() and not (served.root / "out" / "f01.txt").exists()


def test_a_connection_broken_midway_is_tried_again_for_the_rest(served: SFTPServer, ssh_keys: SSHTestKeys) -> None:
    """f05 is removed, its answer lost with the connection: the next try finds it gone (removed).
    Every file is decided: removed and gone, or kept and there; none is REMOVEd twice."""
    _Seen.break_at = "f05.txt"
    with xfer.connect(profile_of(served, ssh_keys, retry_wait=0.01)) as remote:
        failures = remote.remove_sources([(f"/out/f{n:02d}.txt", n + 1) for n in range(20)])
    assert failures[5] is None
    there = {p.name for p in (served.root / "out").iterdir()}
    for number, failure in enumerate(failures):
        name = f"f{number:02d}.txt"
        assert (failure is None) == (name not in there), (name, failure)
        assert failure is None or "is still there: kept" in str(failure)
    removes = [name for kind, name in _Seen.asked if kind == "remove"]
    assert len(removes) == len(set(removes))


def test_a_removal_is_never_sent_twice(served: SFTPServer, ssh_keys: SSHTestKeys) -> None:
    """f05 is removed, its answer lost, and a new f05 of the same size is put there before the next
    try: it is kept (said so), never taken for the file that was downloaded."""
    _Seen.break_at, _Seen.put_back = "f05.txt", b"n" * 6
    with xfer.connect(profile_of(served, ssh_keys, retry_wait=0.01)) as remote:
        failures = remote.remove_sources([(f"/out/f{n:02d}.txt", n + 1) for n in range(20)])
    assert isinstance(failures[5], ConnectionDropped) and "f05.txt, which is still there: kept" in str(failures[5])
    assert (served.root / "out" / "f05.txt").read_bytes() == b"n" * 6
    assert [name for kind, name in _Seen.asked if kind == "remove"].count("f05.txt") == 1


def test_local_copies_are_checked_before_the_server_is_asked(
    served: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """A copy whose size is not the download's keeps its source without a word to the server."""
    local = tmp_path / "in"
    local.mkdir()
    for number in range(4):
        (local / f"f{number:02d}.txt").write_bytes(b"x" * (number + 1))
    (local / "f01.txt").write_bytes(b"truncated")
    (local / "f02.txt").unlink()  # taken away by whatever reads the inbox
    with xfer.connect(profile_of(served, ssh_keys)) as remote:
        failures = remove_downloaded_together(
            remote, [(f"/out/f{n:02d}.txt", local / f"f{n:02d}.txt", n + 1, n + 1) for n in range(4)])
    assert failures[0] is None and failures[3] is None
    assert isinstance(failures[1], IntegrityError)
    assert "the copy holds 9 bytes, the download wrote 2" in str(failures[1])
    assert isinstance(failures[2], IntegrityError) and "kept the source /out/f02.txt" in str(failures[2])
    assert sorted(p.name for p in (served.root / "out").iterdir())[:3] == ["f01.txt", "f02.txt", "f04.txt"]
    assert ("stat", "f01.txt") not in _Seen.asked and ("stat", "f02.txt") not in _Seen.asked


def test_get_and_sync_remove_their_sources_together(
    served: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``get --remove-source-files`` (all sources after the downloads) and a sync's files that were
    already there (skipped): each in one call, every source whose copy is proven removed."""
    profile = profile_of(served, ssh_keys)
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "srv.toml").write_text(profile_toml(profile))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    code, _out, err = run(capsys, "get", "-r", "--remove-source-files", "srv:/out/", str(tmp_path / "got"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "got").rglob("*.txt")) == [f"f{n:02d}.txt" for n in range(20)]
    assert list((served.root / "out").iterdir()) == []
    stats = [name for kind, name in _Seen.asked if kind == "stat"]
    removes = [name for kind, name in _Seen.asked if kind == "remove"]
    assert len(removes) == 20 and _Seen.asked.index(("remove", removes[0])) > _Seen.asked.index(("stat", stats[-1]))

    (served.root / "again").mkdir()
    for number in range(5):
        (served.root / "again" / f"g{number}.txt").write_bytes(b"y" * 10)
    with xfer.connect(profile) as remote:
        first = sync(remote, "/again", tmp_path / "synced", upload=False)
        for number in range(5):  # back on the server, unchanged: the next run skips them, then removes
            (served.root / "again" / f"g{number}.txt").write_bytes(b"y" * 10)
            os.utime(served.root / "again" / f"g{number}.txt",
                     (os.stat(tmp_path / "synced" / f"g{number}.txt").st_mtime,) * 2)
        moved = sync(remote, "/again", tmp_path / "synced", upload=False, remove_source=True)
    assert len(first.done) == 5 and moved.done == {}
    assert sorted(moved.sources_removed) == [f"g{n}.txt" for n in range(5)]
    assert list((served.root / "again").iterdir()) == []


def test_a_changed_source_fails_get_with_one_line(
    served: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A source that grew after its download (the partner wrote it again) is kept, and said so in
    one line; every other source is removed."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "srv.toml").write_text(profile_toml(profile_of(served, ssh_keys)))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    copy = tmp_path / "got" / "f02.txt"
    _grows_once_copied(monkeypatch, copy, served.root / "out" / "f02.txt")
    code, _out, err = run(capsys, "get", "-r", "--remove-source-files", "srv:/out/", str(tmp_path / "got"))
    assert code == 7
    errors = [line for line in err.splitlines() if line.startswith("xfer: error: ")]
    assert len(errors) == 1 and "kept the source /out/f02.txt" in errors[0] and "Traceback" not in err
    # What was removed is said all the same: each source is proven on its own.
    assert "removed 19 of 20 remote source file(s)" in err
    assert sorted(p.name for p in (served.root / "out").iterdir()) == ["f02.txt"]
    assert copy.read_bytes() == b"x" * 3


def _grows_once_copied(monkeypatch: pytest.MonkeyPatch, copy: Path, victim: Path) -> None:
    """The server's ``victim`` grows (the partner wrote it again) when it is looked at after its
    download's ``copy`` is in place: what the source removal's look then finds."""
    real = _Seen.stat

    def stat(self: _Seen, path: bytes) -> Any:
        if path.endswith(f"/{victim.name}".encode()) and copy.exists():
            victim.write_bytes(b"grown meanwhile")
        return real(self, path)

    monkeypatch.setattr(_Seen, "stat", stat)


def profile_toml(profile: Profile) -> str:
    return tomli_w.dumps(profile.to_toml())


def test_a_sync_down_removes_its_groups_sources_together(
    served: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """The files a group downloaded have their sources looked at, then removed, together once the
    group is settled (before: LSTAT, STAT and REMOVE a file, one file after another)."""
    with xfer.connect(profile_of(served, ssh_keys)) as remote:
        result = sync(remote, "/out", tmp_path / "in", upload=False, remove_source=True)
    result.raise_for_error()
    assert len(result.done) == 20 and sorted(result.sources_removed) == sorted(result.done)
    assert list((served.root / "out").iterdir()) == []
    assert [kind for kind, _ in _Seen.asked[-40:]] == ["stat"] * 20 + ["remove"] * 20


def test_giving_up_says_which_removals_may_have_happened(served: SFTPServer, ssh_keys: SSHTestKeys) -> None:
    """No retries: the connection breaks after f05's REMOVE was carried out.  Nothing is raised; each
    file is removed (None), kept (still there), or, if its REMOVE was on its way, said to be
    perhaps removed; none is reported removed that is still there."""
    _Seen.break_at = "f05.txt"
    with xfer.connect(profile_of(served, ssh_keys, retries=0)) as remote:
        failures = remote.remove_sources([(f"/out/f{n:02d}.txt", n + 1) for n in range(20)])
    assert failures[5] is not None and "f05.txt: it may have been removed" in str(failures[5])
    there = {p.name for p in (served.root / "out").iterdir()}
    for number, failure in enumerate(failures):
        name = f"f{number:02d}.txt"
        if failure is None:
            assert name not in there
        elif "may have been removed" not in str(failure):
            assert name in there, (name, failure)


def test_a_long_sync_down_removes_every_groups_sources_once(
    served: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """Three groups of files (32 a group) on one connection and on three: each group's sources go
    with it, each asked about once."""
    for number in range(20, 80):
        (served.root / "out" / f"f{number:02d}.txt").write_bytes(b"x" * (number + 1))
    for parallel in (1, 3):
        with xfer.connect(profile_of(served, ssh_keys)) as remote:
            result = sync(remote, "/out", tmp_path / f"in{parallel}", upload=False, remove_source=True,
                          parallel=parallel)
        result.raise_for_error()
        assert len(result.done) == 80 and sorted(result.sources_removed) == sorted(result.done)
        removes = [name for kind, name in _Seen.asked if kind == "remove"]
        assert len(removes) == len(set(removes)) == 80
        assert list((served.root / "out").iterdir()) == []
        for number in range(80):  # the same again for the next round
            (served.root / "out" / f"f{number:02d}.txt").write_bytes(b"x" * (number + 1))
        _Seen.asked.clear()


def test_a_source_changed_before_its_groups_removal_is_kept_and_not_counted(
    served: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _grows_once_copied(monkeypatch, tmp_path / "in" / "f02.txt", served.root / "out" / "f02.txt")
    with xfer.connect(profile_of(served, ssh_keys)) as remote:
        result = sync(remote, "/out", tmp_path / "in", upload=False, remove_source=True)
    assert isinstance(result.error, FilesFailed) and "kept the source /out/f02.txt" in str(result.error)
    assert [type(failure) for failure in result.error.failures] == [IntegrityError]
    assert "f02.txt" in result.done and "f02.txt" not in result.sources_removed
    assert sorted(result.sources_removed) == sorted(set(result.done) - {"f02.txt"})
    assert [p.name for p in (served.root / "out").iterdir()] == ["f02.txt"]
