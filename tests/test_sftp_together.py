"""Small files moved together over SFTP (issue 14): every file's requests in flight at once.

``get -r`` and ``put -r`` of many small files send each group's requests (stat, open, read or
writes, close, rename) together on the one SFTP session (:meth:`SFTPAdapter.get_together`,
:meth:`SFTPAdapter.put_together`) instead of one file's round trips after another's.  Each file
is proven and saved (or renamed into place) as one moved alone; one that fails is left to the
transfer alone, which says what is wrong; a stop ends the group's other files with nothing half
written.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

import xfer
from tests.test_sftp import profile_of
from tests.together_helpers import count_durable_calls, make_tree
from xfer import batch
from xfer.adapters.sftp.adapter import SFTPAdapter
from xfer.errors import FilesFailed, Interrupted, RemoteIsFolder, RemoteNotFound
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys, create_ssh_keys
from xfer.transfer import PART_SUFFIX
from xfer.types import ProgressCallback


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def served(tmp_path: Path, ssh_keys: SSHTestKeys) -> Iterator[tuple[SFTPServer, dict[str, bytes]]]:
    files = make_tree(tmp_path / "srv" / "tree", [0, 1, 4096, 70_000, *[(n * 997) % 9000 for n in range(75)]])
    with SFTPServer(ssh_keys, root=tmp_path / "srv") as srv:
        yield srv, files


def _leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.rglob("*") if path.name.endswith(PART_SUFFIX)]


@pytest.mark.parametrize("parallel", [1, 3])
def test_small_sftp_downloads_go_together_and_each_is_proven(
    served: tuple[SFTPServer, dict[str, bytes]], ssh_keys: SSHTestKeys, tmp_path: Path, parallel: int
) -> None:
    srv, files = served
    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        results = remote.get(["/tree"], tmp_path / "out", recursive=True, parallel=parallel)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert all(r.verified in ("size", "sha256") and r.protocol == "sftp" for r in results)
    together = [r for r in results if r.details.get("pipelined")]
    # All but the one over 64 KiB; with several workers, a worker's group may also hold a single
    # small file (before the large one, or the last of the queue): a group of one goes alone.
    assert len(together) == len(files) - 1 if parallel == 1 else len(together) >= len(files) - 1 - parallel
    assert all(r.size <= 64 * 1024 and r.details.get("cipher") for r in together)
    assert not _leftovers(tmp_path / "out")


def test_a_file_that_cannot_be_fetched_is_left_to_the_download_alone(
    served: tuple[SFTPServer, dict[str, bytes]], ssh_keys: SSHTestKeys, tmp_path: Path
) -> None:
    """A missing file and a folder in a group: None for each (the download alone says what is
    wrong); the others are saved."""
    srv, files = served
    (tmp_path / "out").mkdir()
    asked = ["/tree/f005.bin", "/tree/gone.bin", "/tree", "/tree/f006.bin"]
    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        assert isinstance(remote, SFTPAdapter)
        results = remote.get_together([(path, tmp_path / "out" / f"{n}.bin", None) for n, path in enumerate(asked)])
        with pytest.raises(RemoteNotFound):
            remote.get_file("/tree/gone.bin", tmp_path / "out" / "1.bin")
    assert [r is not None for r in results] == [True, False, False, True]
    assert (tmp_path / "out" / "0.bin").read_bytes() == files["f005.bin"]
    assert (tmp_path / "out" / "3.bin").read_bytes() == files["f006.bin"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.bin", "3.bin"]


def test_a_group_is_reported_only_once_named_and_made_durable_at_once(
    served: tuple[SFTPServer, dict[str, bytes]], ssh_keys: SSHTestKeys, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The group's files wait under their temporary names for one durability call for all of them
    (:class:`xfer.transfer.DownloadGroup`); each is reported only once it has its name."""
    srv, files = served
    names = sorted(name for name, data in files.items() if len(data) < 64 * 1024)[:20]
    asked = count_durable_calls(monkeypatch)
    there: list[bool] = []

    def landed(place: int, result: Any) -> None:
        there.append(Path(result.local).read_bytes() == files[Path(result.local).name])

    (tmp_path / "out").mkdir()
    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        assert isinstance(remote, SFTPAdapter)
        results = remote.get_together([(f"/tree/{name}", tmp_path / "out" / name, None) for name in names],
                                      landed=landed)
    assert all(result is not None for result in results)
    assert asked == [20] and there == [True] * 20
    assert not _leftovers(tmp_path / "out")


def test_a_stop_ends_the_groups_other_files_with_nothing_half_written(
    served: tuple[SFTPServer, dict[str, bytes]], ssh_keys: SSHTestKeys, tmp_path: Path
) -> None:
    """The batch stops (another transfer failed, or Ctrl-C) while a group is in flight: the stop is
    raised, the other files are cancelled, not finished behind the caller's back, and no part
    file is left."""
    srv, files = served
    (tmp_path / "out").mkdir()
    names = sorted(files)[:32]

    def progress(name: str) -> ProgressCallback:
        def report(done: int, total: int | None) -> None:
            if name == names[10] and done:
                raise Interrupted("stopped because another transfer of the batch failed")
        return report

    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        assert isinstance(remote, SFTPAdapter)
        with pytest.raises(Interrupted):
            remote.get_together([(f"/tree/{name}", tmp_path / "out" / name, progress(name)) for name in names])
        landed = sorted(p.name for p in (tmp_path / "out").iterdir())
        time.sleep(0.3)  # nothing more arrives once the call has returned
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == landed
    assert names[10] not in landed and not _leftovers(tmp_path / "out")
    for name in landed:
        assert (tmp_path / "out" / name).read_bytes() == files[name]


@pytest.mark.parametrize("parallel", [1, 3])
def test_small_sftp_uploads_go_together_each_checked_and_renamed(
    ssh_keys: SSHTestKeys, tmp_path: Path, parallel: int
) -> None:
    files = make_tree(tmp_path / "tree", [0, 1, 4096, 70_000, *[(n * 997) % 9000 for n in range(75)]])
    with SFTPServer(ssh_keys, root=tmp_path / "srv") as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        results = remote.put([tmp_path / "tree"], "/in/", recursive=True, parallel=parallel)
    landed = tmp_path / "srv" / "in" / "tree"
    assert {p.name: p.read_bytes() for p in landed.iterdir()} == files  # and no temporary name left
    assert all(r.size_verified and r.temp_name and r.protocol == "sftp" for r in results)
    together = [r for r in results if r.details.get("pipelined")]
    # (As for downloads: a worker's group of one small file goes alone.)
    assert len(together) == len(files) - 1 if parallel == 1 else len(together) >= len(files) - 1 - parallel


def test_a_folder_in_the_way_of_one_upload_is_said_alone(ssh_keys: SSHTestKeys, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "tree", [100] * 10)
    (tmp_path / "srv" / "in" / "tree" / "f004.bin").mkdir(parents=True)
    with (
        SFTPServer(ssh_keys, root=tmp_path / "srv") as srv,
        xfer.connect(profile_of(srv, ssh_keys)) as remote,
        pytest.raises(FilesFailed) as failure,
    ):
        remote.put([tmp_path / "tree"], "/in/", recursive=True)
    [alone] = failure.value.failures
    assert isinstance(alone, RemoteIsFolder) and "f004.bin" in str(alone)
    landed = tmp_path / "srv" / "in" / "tree"
    assert (landed / "f004.bin").is_dir()
    for path in landed.iterdir():  # every other file arrived whole
        assert path.name == "f004.bin" or path.read_bytes() == files[path.name]
    assert len(list(landed.iterdir())) == 10 and len(failure.value.results) == 9


def test_a_stop_ends_the_groups_other_uploads_with_nothing_half_written(
    ssh_keys: SSHTestKeys, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "tree", [3000] * 32)
    names = sorted(files)

    def progress(name: str) -> ProgressCallback:
        def report(done: int, total: int | None) -> None:
            if name == names[10] and done:
                raise Interrupted("stopped because another transfer of the batch failed")
        return report

    (tmp_path / "srv" / "in").mkdir(parents=True)
    with SFTPServer(ssh_keys, root=tmp_path / "srv") as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        assert isinstance(remote, SFTPAdapter)
        with pytest.raises(Interrupted):
            remote.put_together([(tmp_path / "tree" / name, f"/in/{name}", progress(name)) for name in names])
        landed = sorted(p.name for p in (tmp_path / "srv" / "in").iterdir())
        time.sleep(0.3)  # nothing more arrives once the call has returned
        assert sorted(p.name for p in (tmp_path / "srv" / "in").iterdir()) == landed
    assert names[10] not in landed and not _leftovers(tmp_path / "srv")
    for name in landed:
        assert (tmp_path / "srv" / "in" / name).read_bytes() == files[name]


def test_a_connection_cut_in_a_group_of_uploads_leaves_no_temporary_file(
    ssh_keys: SSHTestKeys, tmp_path: Path
) -> None:
    """The connection breaks while a group's uploads are written: their temporary files could not
    be removed on it, and no retried try will continue them (the files go again alone, each to a
    name of its own).  They are removed on the new connection; every file lands whole."""
    files = make_tree(tmp_path / "tree", [3000] * 32)
    names = sorted(files)
    remotes: list[SFTPAdapter] = []

    def callbacks(local: str, remote: str, size: int | None) -> ProgressCallback:
        def report(done: int, total: int | None) -> None:
            if local.endswith(names[20]) and done and remotes:
                session = remotes.pop()._ssh  # once
                assert session is not None and session.conn is not None
                session.conn.abort()
        return report

    (tmp_path / "srv" / "in").mkdir(parents=True)
    with (
        SFTPServer(ssh_keys, root=tmp_path / "srv") as srv,
        xfer.connect(profile_of(srv, ssh_keys, retries=2)) as remote,
    ):
        assert isinstance(remote, SFTPAdapter)
        remotes.append(remote)
        remote.put([tmp_path / "tree"], "/in/", recursive=True, callbacks=callbacks)
    assert not remotes  # the cut happened
    landed = tmp_path / "srv" / "in" / "tree"
    assert {p.name: p.read_bytes() for p in landed.iterdir()} == files


def test_a_stop_during_a_replacing_rename_never_leaves_a_name_empty(
    ssh_keys: SSHTestKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose rename never replaces: the old file is moved aside, the new one renamed in,
    the old removed.  A stop (Ctrl-C, cancelling the group) between the two renames must not leave
    the name with neither file, nor the old one aside."""
    files = make_tree(tmp_path / "tree", [3000] * 4)
    names = sorted(files)
    (tmp_path / "srv" / "in").mkdir(parents=True)
    for name in names:
        (tmp_path / "srv" / "in" / name).write_bytes(b"the old file")
    plain_rename = asyncssh.SFTPClient.rename

    async def no_posix_rename(self: asyncssh.SFTPClient, *args: Any, **kwargs: Any) -> None:
        raise asyncssh.SFTPOpUnsupported("no posix-rename@openssh.com here")

    async def rename(self: asyncssh.SFTPClient, old: str, new: str, *args: Any, **kwargs: Any) -> None:
        await plain_rename(self, old, new, *args, **kwargs)
        if new.endswith(".xfer-old") and old.endswith(names[1]):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)  # Ctrl-C, now
            await asyncio.sleep(0.5)

    monkeypatch.setattr(asyncssh.SFTPClient, "posix_rename", no_posix_rename)
    monkeypatch.setattr(asyncssh.SFTPClient, "rename", rename)
    told: dict[int, Any] = {}
    with SFTPServer(ssh_keys, root=tmp_path / "srv") as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        assert isinstance(remote, SFTPAdapter)
        with pytest.raises(KeyboardInterrupt):
            remote.put_together([(tmp_path / "tree" / name, f"/in/{name}", None) for name in names],
                                landed=told.__setitem__)
    landed = {p.name: p.read_bytes() for p in (tmp_path / "srv" / "in").iterdir()}
    assert sorted(landed) == names, sorted(landed)  # nothing aside, no temporary file, no name left empty
    assert landed[names[1]] == files[names[1]]  # its renames were finished
    assert all(landed[name] in (b"the old file", files[name]) for name in names)
    # Every new file in place was told of, the one whose renames finished under the stop too.
    assert sorted(names[place] for place in told) == sorted(name for name in names if landed[name] == files[name])
    assert 1 in told


def test_no_grouped_sftp_downloads_with_resume(
    served: tuple[SFTPServer, dict[str, bytes]], ssh_keys: SSHTestKeys, tmp_path: Path
) -> None:
    srv, files = served
    with xfer.connect(profile_of(srv, ssh_keys, resume=True)) as remote:
        results = remote.get(["/tree"], tmp_path / "out", recursive=True)
    assert len(results) == len(files) and not any(r.details.get("pipelined") for r in results)


def test_a_groups_cpu_counts_whichever_thread_did_the_work() -> None:
    """SFTP's requests run on the session's event-loop thread, not the worker's: timed on the
    worker's own clock, every group looked like waiting, and ``-P 4`` opened three more
    connections to a local server where one is faster (1.5 s against 1.0 s for 1,000 x 4 KiB)."""

    def burn() -> None:
        until = time.thread_time() + 0.05
        while time.thread_time() < until:
            pass

    before = batch.cpu_time()
    worker = threading.Thread(target=burn)
    worker.start()
    worker.join()
    assert batch.cpu_time() - before >= 0.045


def _stopping_at(name: str, real: Any, others: int) -> Any:
    """A stand-in for ``SFTPAdapter._download`` or ``_upload`` whose transfer of ``name`` stops
    the group (as Ctrl-C does) once the ``others`` have ended (their files proven and in place);
    the others go on as ever."""
    ended = 0

    async def transfer(self: SFTPAdapter, sftp: Any, what: Any, *args: Any) -> Any:
        nonlocal ended
        if (what if isinstance(what, str) else what.remote).endswith(name):
            deadline = time.monotonic() + 10
            while ended < others and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            raise Interrupted("interrupted")
        outcome = await real(self, sftp, what, *args)
        ended += 1
        return outcome

    return transfer


def test_downloads_stopped_midway_tell_of_every_file_saved(
    served: tuple[SFTPServer, dict[str, bytes]], ssh_keys: SSHTestKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, files = served
    names = sorted(files)[4:36]  # 32 small files
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(SFTPAdapter, "_download", _stopping_at(names[10], SFTPAdapter._download, 31))
    told: dict[int, Any] = {}
    with xfer.connect(profile_of(srv, ssh_keys)) as remote:
        assert isinstance(remote, SFTPAdapter)
        with pytest.raises(Interrupted):
            remote.get_together([(f"/tree/{n}", tmp_path / "out" / n, None) for n in names], landed=told.__setitem__)
    saved = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert sorted(names[place] for place in told) == sorted(saved) and len(saved) == 31
    assert all(saved[name] == files[name] for name in saved)
    assert all(Path(told[place].local).name == names[place] for place in told)


def test_uploads_stopped_midway_tell_of_every_file_in_place_by_its_place_in_the_group(
    ssh_keys: SSHTestKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files that cannot be opened are no upload: the others' places still count them."""
    files = make_tree(tmp_path / "tree", [(n * 997) % 9000 + 1 for n in range(20)])
    names = sorted(files)
    entries: list[tuple[Path, str, Any]] = [(tmp_path / "tree" / n, f"/in/{n}", None) for n in names]
    entries[0:0] = [(tmp_path / "missing-0", "/in/missing-0", None)]
    entries[7:7] = [(tmp_path / "missing-7", "/in/missing-7", None)]
    (tmp_path / "srv" / "in").mkdir(parents=True)
    monkeypatch.setattr(SFTPAdapter, "_upload", _stopping_at(names[3], SFTPAdapter._upload, 19))
    told: dict[int, Any] = {}
    with SFTPServer(ssh_keys, root=tmp_path / "srv") as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        assert isinstance(remote, SFTPAdapter)
        with pytest.raises(Interrupted):
            remote.put_together(entries, landed=told.__setitem__)
    in_place = {path.name: path.read_bytes() for path in (tmp_path / "srv" / "in").iterdir()}
    assert len(in_place) == 19 and all(in_place[name] == files[name] for name in in_place)
    assert sorted(entries[place][1] for place in told) == sorted(f"/in/{name}" for name in in_place)
    assert all(told[place].remote == entries[place][1] for place in told)
