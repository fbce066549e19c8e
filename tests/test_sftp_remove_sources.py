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
from tests.helpers import one_error, run
from tests.test_sftp import profile_of
from xfer.errors import IntegrityError, RemoteNotFound
from xfer.profiles import Profile
from xfer.sync import remove_downloaded_together, sync
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys, create_ssh_keys


class _Seen(asyncssh.SFTPServer):
    """Records STAT and REMOVE in the order the server handles them; with ``break_at``, the
    connection is dropped (no answer) at the first REMOVE of that name."""

    asked: ClassVar[list[tuple[str, str]]] = []
    break_at: ClassVar[str | None] = None

    def stat(self, path: bytes) -> Any:
        type(self).asked.append(("stat", os.path.basename(path.decode())))
        return super().stat(path)

    def remove(self, path: bytes) -> None:
        name = os.path.basename(path.decode())
        if name == type(self).break_at:
            type(self).break_at = None
            self.connection.abort()
            raise asyncssh.SFTPConnectionLost("dropped")
        type(self).asked.append(("remove", name))
        super().remove(path)


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def served(tmp_path: Path, ssh_keys: SSHTestKeys) -> Iterator[SFTPServer]:
    _Seen.asked, _Seen.break_at = [], None
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


def test_a_connection_broken_midway_is_tried_again_for_the_rest(served: SFTPServer, ssh_keys: SSHTestKeys) -> None:
    _Seen.break_at = "f05.txt"
    with xfer.connect(profile_of(served, ssh_keys, retry_wait=0.01)) as remote:
        failures = remote.remove_sources([(f"/out/f{n:02d}.txt", n + 1) for n in range(20)])
    assert list((served.root / "out").iterdir()) == []
    # The second try asked only about the files the first had not decided (f05 among them).
    second = _Seen.asked[_Seen.asked.index(("stat", "f19.txt")) + 1:]
    assert ("stat", "f05.txt") in second and len([kind for kind, _ in second if kind == "stat"]) < 20
    assert failures == [None] * 20


def test_local_copies_are_checked_before_the_server_is_asked(
    served: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """A copy whose size is not the download's keeps its source without a word to the server."""
    local = tmp_path / "in"
    local.mkdir()
    for number in range(3):
        (local / f"f{number:02d}.txt").write_bytes(b"x" * (number + 1))
    (local / "f01.txt").write_bytes(b"truncated")
    with xfer.connect(profile_of(served, ssh_keys)) as remote:
        failures = remove_downloaded_together(
            remote, [(f"/out/f{n:02d}.txt", local / f"f{n:02d}.txt", n + 1, n + 1) for n in range(3)])
    assert failures[0] is None and failures[2] is None
    assert isinstance(failures[1], IntegrityError)
    assert (served.root / "out" / "f01.txt").exists() and not (served.root / "out" / "f00.txt").exists()
    assert ("stat", "f01.txt") not in _Seen.asked


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
    copy, victim = tmp_path / "got" / "f02.txt", served.root / "out" / "f02.txt"
    real = _Seen.stat

    def stat(self: _Seen, path: bytes) -> Any:
        if path.endswith(b"/f02.txt") and copy.exists():  # asked after the copy is in place
            victim.write_bytes(b"grown meanwhile")
        return real(self, path)

    monkeypatch.setattr(_Seen, "stat", stat)
    code, _out, err = run(capsys, "get", "-r", "--remove-source-files", "srv:/out/", str(tmp_path / "got"))
    assert code != 0
    assert "kept the source /out/f02.txt" in one_error(err)
    assert sorted(p.name for p in (served.root / "out").iterdir()) == ["f02.txt"]
    assert copy.read_bytes() == b"x" * 3


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
