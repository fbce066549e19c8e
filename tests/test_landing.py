"""A group of small downloads made durable together, then named (issue 14: an fsync per small
file was most of a ``get -r`` of many of them).

On this machine's real file system: a held download has no name until :meth:`DownloadGroup.land`;
one ``syncfs`` covers the group where :func:`xfer.landing.sync_together` allows it, else each
file is fsynced as a download alone is; a failure or a stop leaves no part and no name behind.
The kernel's calls are counted by wrapping the real ones (they still run).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xfer import landing
from xfer.transfer import PART_SUFFIX, AtomicDownload, DownloadGroup, PartialDownloads, reporting_partials_to


def _parts(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(PART_SUFFIX))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often fsync and syncfs ran (for real) during the test; the system's unwritten data
    taken as none, unless a test says otherwise (the suite's own 1 GiB files may be dirty)."""
    counted = {"fsync": 0, "syncfs": 0}
    real_fsync, real_syncfs = os.fsync, landing._syncfs()
    assert real_syncfs is not None and landing._syncfs_reports_errors(), "this machine's Linux has syncfs (>= 5.8)"

    def fsync(fd: int) -> None:
        counted["fsync"] += 1
        real_fsync(fd)

    def syncfs(fd: int) -> int:
        counted["syncfs"] += 1
        return int(real_syncfs(fd))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(landing, "_syncfs", lambda: syncfs)
    monkeypatch.setattr(landing, "_unwritten_bytes", lambda: 0)
    return counted


def _hold(group: DownloadGroup, folder: Path, count: int) -> list[AtomicDownload]:
    downloads = []
    for number in range(count):
        with AtomicDownload(folder / f"f{number}", expected_size=4, landing=group) as out:
            out.write(b"%04d" % number)
        downloads.append(out)
    return downloads


def test_a_group_is_named_only_when_it_lands_and_one_syncfs_makes_it_durable(
    tmp_path: Path, calls: dict[str, int]
) -> None:
    with DownloadGroup() as group:
        downloads = _hold(group, tmp_path, 5)
        # Checked and hashed, but not there yet: nothing may report it.
        assert not any((tmp_path / f"f{n}").exists() for n in range(5))
        assert len(_parts(tmp_path)) == 5
        assert all(d.sha256 for d in downloads)
        group.land()
    assert all(group.named(d) for d in downloads)
    assert [(tmp_path / f"f{n}").read_bytes() for n in range(5)] == [b"%04d" % n for n in range(5)]
    assert _parts(tmp_path) == []
    assert calls == {"fsync": 0, "syncfs": 1}


@pytest.mark.parametrize("why", ["much unwritten data", "syncfs fails", "a single file", "a FUSE mount"])
def test_otherwise_each_file_is_fsynced_as_alone(
    tmp_path: Path, calls: dict[str, int], monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    count = 1 if why == "a single file" else 4
    if why == "much unwritten data":
        # Someone else's gigabytes: syncfs would wait for all of them.
        monkeypatch.setattr(landing, "_unwritten_bytes", lambda: landing.DIRTY_LIMIT + 1)
    if why == "a FUSE mount":
        # syncfs returns 0 on FUSE without asking the daemon (sshfs, rclone mount): fsync asks it.
        monkeypatch.setattr(landing, "_file_system_type", lambda fd: 0x65735546)
    if why == "syncfs fails":
        def failing(fd: int) -> int:
            calls["syncfs"] += 1
            return -1
        monkeypatch.setattr(landing, "_syncfs", lambda: failing)
    with DownloadGroup() as group:
        downloads = _hold(group, tmp_path, count)
        group.land()
    assert all(group.named(d) for d in downloads)
    assert all((tmp_path / f"f{n}").read_bytes() == b"%04d" % n for n in range(count))
    assert calls["fsync"] == count
    assert calls["syncfs"] == (1 if why == "syncfs fails" else 0)


def test_a_download_that_cannot_be_named_fails_alone(tmp_path: Path, calls: dict[str, int]) -> None:
    """A folder made where one file was to land (after its checks): that file fails with a local
    error, its part removed; the others land."""
    with DownloadGroup() as group:
        downloads = _hold(group, tmp_path, 3)
        (tmp_path / "f1").mkdir()
        (tmp_path / "f1" / "keep").write_bytes(b"k")
        group.land()
    assert [group.named(d) for d in downloads] == [True, False, True]
    assert (tmp_path / "f0").read_bytes() == b"0000" and (tmp_path / "f2").read_bytes() == b"0002"
    assert (tmp_path / "f1" / "keep").read_bytes() == b"k"
    assert _parts(tmp_path) == []


@pytest.mark.parametrize("stop", ["before landing", "during the syncfs", "while naming"])
def test_a_stop_leaves_no_part_and_no_name(
    tmp_path: Path, calls: dict[str, int], monkeypatch: pytest.MonkeyPatch, stop: str
) -> None:
    partials = PartialDownloads()
    if stop == "during the syncfs":
        def interrupted(fd: int) -> int:
            raise KeyboardInterrupt  # (a signal arriving while the kernel works is raised as it returns)
        monkeypatch.setattr(landing, "_syncfs", lambda: interrupted)
    if stop == "while naming":
        monkeypatch.setattr(landing, "_unwritten_bytes", lambda: landing.DIRTY_LIMIT + 1)  # fsync each
        real: Callable[[int], Any] = os.fsync
        seen = []

        def interrupted_at_second(fd: int) -> None:
            seen.append(fd)
            if len(seen) == 2:
                raise KeyboardInterrupt
            real(fd)
        monkeypatch.setattr(os, "fsync", interrupted_at_second)
    with pytest.raises(KeyboardInterrupt), reporting_partials_to(partials), DownloadGroup() as group:
        _hold(group, tmp_path, 4)
        # Held parts stay the batch's: a stop anywhere may remove them.
        assert sorted(path.name for path in partials._paths) == _parts(tmp_path) and len(_parts(tmp_path)) == 4
        if stop == "before landing":
            raise KeyboardInterrupt
        group.land()
    assert not partials._paths
    names = sorted(path.name for path in tmp_path.iterdir())
    # While naming: the first file was named before the stop (and says so); no other name, no part.
    assert names == (["f0"] if stop == "while naming" else [])
    assert _parts(tmp_path) == []


def test_each_file_systems_syncfs_goes_to_the_descriptor_opened_first(
    tmp_path: Path, calls: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """syncfs reports the write-back failures since *its* descriptor was opened: the first
    opened, whatever order the downloads finished in (SFTP's group finishes out of order)."""
    asked: list[int] = []
    real = landing._syncfs()
    assert real is not None

    def syncfs(fd: int) -> int:
        asked.append(fd)
        return real(fd)
    monkeypatch.setattr(landing, "_syncfs", lambda: syncfs)
    with DownloadGroup() as group:
        outs = [AtomicDownload(tmp_path / f"f{n}", landing=group) for n in range(3)]
        for out in outs:
            out.__enter__()
        first = outs[0]._handle
        assert first is not None
        first_fd = first.fileno()
        for out in reversed(outs):  # finished last-opened first
            out.write(b"data")
            out.__exit__(None, None, None)
        group.land()
    assert asked == [first_fd]
    assert all((tmp_path / f"f{n}").read_bytes() == b"data" for n in range(3))
