"""``sync`` moves its small files together where the protocol can (issue 14), as ``put -r`` and
``get -r`` do, and still settles each one as a file moved alone: recorded, its time stamped, its
source removed when asked, even when the group is stopped in the middle (Ctrl-C, or another
transfer failed).  Against the in-process servers: HTTPS and WebDAV pipeline, SFTP keeps many
requests in flight, FTPS moves one file at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import xfer
from xfer.batch import CallbackFactory
from xfer.errors import Interrupted
from xfer.sync import SyncResult, sync
from xfer.testing.endpoints import Endpoint
from xfer.testing.pki import TestPKI
from xfer.types import ProgressCallback

from .test_sync import make_tree, served_as_pp, tree

#: 40 small files: more than one group (32 files at most), every one small enough to go together.
FILES = {f"d/f{number:02d}.csv": b"row\n" * (number + 1) for number in range(40)}

#: How many files arrive before the stop in the tests that stop a sync midway.
_BEFORE_THE_STOP = 10


@pytest.fixture(params=["https", "davs", "sftp", "ftpes"])
def endpoint(
    request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Endpoint]:
    with served_as_pp(request.param, pki, tmp_path, monkeypatch) as served:
        yield served


def _files(root: Path) -> dict[str, bytes]:
    """The files of ``root`` under their final names (not a part file a stop left)."""
    return {name: data for name, data in tree(root).items() if name.endswith(".csv")}


def _grouped(result: SyncResult) -> int:
    return sum(bool(outcome.details.get("pipelined")) for outcome in result.done.values())


def test_small_files_sync_together_and_each_is_settled(endpoint: Endpoint, tmp_path: Path) -> None:
    """Each file moved together is recorded, stamped with its source's time (the third run
    transfers nothing) and, when asked, its source removed."""
    make_tree(tmp_path / "outbox", FILES)
    with xfer.connect("pp") as remote:
        up = sync(remote, "/in", tmp_path / "outbox", upload=True, remove_source=True)
        down = sync(remote, "/in", tmp_path / "inbox", upload=False)
        again = sync(remote, "/in", tmp_path / "inbox", upload=False)
    for result in (up, down, again):
        result.raise_for_error()
    assert tree(endpoint.root / "in") == FILES and tree(tmp_path / "inbox") == FILES
    assert sorted(up.done) == sorted(FILES) == sorted(down.done) and sorted(up.sources_removed) == sorted(FILES)
    assert tree(tmp_path / "outbox") == {}  # every source removed once its copy was proven
    assert not again.plan.transfers  # every downloaded file got the remote's time
    if endpoint.protocol in ("https", "sftp"):
        assert _grouped(up) >= 35 and _grouped(down) >= 35  # (a group's first file may go alone)
    elif endpoint.protocol == "davs":
        assert _grouped(up) == 0 and _grouped(down) >= 35  # WebDAV uploads go one by one
    else:
        assert _grouped(up) == _grouped(down) == 0  # FTP has no way to send them together


def _stopping_once_arrived(folder: Path, suffix: str = ".csv") -> tuple[list[int], CallbackFactory]:
    """A callback factory whose callbacks stop the sync (as Ctrl-C does) once
    :data:`_BEFORE_THE_STOP` files are under their final names in ``folder``; and a list that
    counts the stops."""
    stops: list[int] = []

    def arrived() -> int:
        return sum(1 for path in folder.rglob(f"*{suffix}") if path.is_file())

    def factory(_local: str, _remote: str, _size: int | None) -> ProgressCallback:
        def callback(_done: int, _total: int | None) -> None:
            if arrived() >= _BEFORE_THE_STOP:
                stops.append(1)
                raise Interrupted("interrupted")
        return callback

    return stops, factory


def test_a_download_sync_stopped_midway_records_every_file_that_arrived(endpoint: Endpoint, tmp_path: Path) -> None:
    """Every file under its final name is in ``done`` (with the remote's time); each source removed
    is of one of them, and every other source is still on the server: the stop removes nothing
    more (a group's sources go together once the group is done).  The next run fetches only what
    had not arrived and removes the sources of the rest.  (Before session 11, a stop inside a group
    lost the group's finished files: on the disk, unrecorded.)"""
    make_tree(endpoint.root / "in", FILES)
    inbox = tmp_path / "inbox"
    stops, factory = _stopping_once_arrived(inbox)
    with xfer.connect("pp") as remote:
        result = sync(remote, "/in", inbox, upload=False, remove_source=True, callbacks=factory)
    assert isinstance(result.error, Interrupted) and stops
    arrived = _files(inbox)
    assert len(arrived) >= _BEFORE_THE_STOP
    assert sorted(result.done) == sorted(arrived)
    assert set(result.sources_removed) <= set(result.done)
    assert all(arrived[name] == FILES[name] for name in arrived)
    served = _files(endpoint.root / "in")
    assert sorted(served) == sorted(set(FILES) - set(result.sources_removed))  # removed once proven, only then
    with xfer.connect("pp") as remote:
        again = sync(remote, "/in", inbox, upload=False, remove_source=True)
    again.raise_for_error()
    assert sorted(action.path for action in again.plan.transfers) == sorted(set(FILES) - set(arrived))
    assert _files(inbox) == FILES and _files(endpoint.root / "in") == {}


def test_an_upload_sync_stopped_midway_removes_only_proven_sources(endpoint: Endpoint, tmp_path: Path) -> None:
    """Every file in ``done`` is on the server, whole, and its source removed; every source not
    in ``done`` is still there, whatever reached the server before the stop.  (What it guards is
    the sources; that files which arrived in a stopped group are settled is the batch's tests'
    and the download test's: here the stop tends to fall between groups.)"""
    outbox = tmp_path / "outbox"
    make_tree(outbox, FILES)
    stops, factory = _stopping_once_arrived(endpoint.root / "in")
    with xfer.connect("pp") as remote:
        result = sync(remote, "/in", outbox, upload=True, remove_source=True, callbacks=factory)
    assert isinstance(result.error, Interrupted) and stops
    served = _files(endpoint.root / "in")
    assert set(result.done) <= set(served) and all(served[name] == FILES[name] for name in result.done)
    assert sorted(result.sources_removed) == sorted(result.done)
    assert sorted(_files(outbox)) == sorted(set(FILES) - set(result.done))
