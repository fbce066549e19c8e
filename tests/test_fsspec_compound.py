"""fsspec's compound calls (``du``, ``find``, ``get``...) ask the server about each path once.

fsspec builds them from many ``ls``/``info``/``isdir`` calls; within one compound call a path's
facts come from the listing that showed it (see ``xfer.filesystem._Told``).  Nothing is
remembered past the call, and the call's own writes are seen by it.  Counted at the adapter
(its ``ls`` and ``info``: one server round trip each, whatever the protocol).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.fsspec_helpers import filesystem, fs, put_server_side, served
from xfer.adapters.base import Adapter
from xfer.errors import UsageError
from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

__all__ = ["fs", "served"]  # fixtures: the module-scoped server (one per protocol), a filesystem on it

TREE = {f"d{d}/f{f}.csv": b"a,b\n" + b"1,2\n" * (d + f) for d in range(3) for f in range(3)}


@pytest.fixture
def tree(served: Endpoint, request: pytest.FixtureRequest) -> str:
    """Three folders of three files each, made server-side in a folder of this test's own."""
    name = f"/{request.node.name.replace('[', '-').replace(']', '')}"
    for relative, data in TREE.items():
        put_server_side(served, f"{name}/{relative}", data)
    return name


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often the adapters' ``ls`` and ``info`` were called, by method."""
    counts: Counter[str] = Counter()

    def counting(name: str) -> Callable[..., Any]:
        original = getattr(Adapter, name)

        def method(self: Adapter, *args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(self, *args, **kwargs)

        return method

    for name in ("ls", "info"):
        monkeypatch.setattr(Adapter, name, counting(name))
    return counts


def files_asked(served: Endpoint) -> int:
    """The files a call over :data:`TREE` still asks about one by one: none, but over plain HTTPS,
    whose index pages' sizes are not the files' (``listed_sizes_exact``), each by a HEAD."""
    return len(TREE) if served.protocol == "https" else 0


def test_du_lists_each_folder_once_and_asks_no_file(
    served: Endpoint, fs: XferFileSystem, tree: str, asked: Counter[str]
) -> None:
    assert fs.du(tree) == sum(len(data) for data in TREE.values())
    # The tree and its three folders, each listed once; no file asked about on its own.
    assert asked["ls"] == 4
    assert asked["info"] <= 1 + files_asked(served)  # the tree itself: its parent was not listed


def test_get_of_a_tree_asks_no_file_before_fetching_it(
    served: Endpoint, fs: XferFileSystem, tree: str, asked: Counter[str], tmp_path: Path
) -> None:
    fs.get(tree, str(tmp_path / "copy"), recursive=True)
    got = {str(p.relative_to(tmp_path / "copy")): p.read_bytes() for p in (tmp_path / "copy").rglob("*") if p.is_file()}
    assert got == TREE
    # Before: an ``isdir`` (one ``info``) per file, nine round trips more.
    assert asked["info"] <= 1 + files_asked(served)
    assert asked["ls"] <= 4


def test_nothing_is_remembered_past_the_call(served: Endpoint, fs: XferFileSystem, tree: str) -> None:
    """A partner's folder listed twice is asked twice: what arrived in between is seen."""
    assert f"{tree}/d0/new.csv" not in fs.find(tree)
    put_server_side(served, f"{tree}/d0/new.csv", b"x,y\n")
    assert f"{tree}/d0/new.csv" in fs.find(tree)
    assert fs.du(tree) == sum(len(data) for data in TREE.values()) + 4
    put_server_side(served, f"{tree}/d0/new.csv", b"x,y\n3,4\n")
    assert fs.info(f"{tree}/d0/new.csv")["size"] == 8


def test_a_call_sees_its_own_writes(fs: XferFileSystem, tree: str) -> None:
    """Inside one call (a write between two looks, as ``mv`` does with a copy, then removals), a
    written or removed path is asked about again, and the listings above it too."""
    with fs._one_call():
        assert f"{tree}/d0/f0.csv" in fs.ls(f"{tree}/d0", detail=False)
        fs.pipe_file(f"{tree}/d0/added.csv", b"new")
        assert f"{tree}/d0/added.csv" in fs.ls(f"{tree}/d0", detail=False)
        assert fs.info(f"{tree}/d0/added.csv")["size"] == 3
        fs.pipe_file(f"{tree}/d0/added.csv", b"longer")
        assert fs.info(f"{tree}/d0/added.csv")["size"] == 6
        fs.rm_file(f"{tree}/d0/f0.csv")
        assert not fs.exists(f"{tree}/d0/f0.csv")
        assert f"{tree}/d0/f0.csv" not in fs.find(tree)


def test_what_one_thread_was_told_is_not_another_threads(served: Endpoint, fs: XferFileSystem, tree: str) -> None:
    seen: list[list[str]] = []
    with fs._one_call():
        before = fs.ls(f"{tree}/d1", detail=False)
        put_server_side(served, f"{tree}/d1/late.csv", b"z")
        worker = threading.Thread(target=lambda: seen.append(fs.ls(f"{tree}/d1", detail=False)))
        worker.start()
        worker.join(30)
        assert fs.ls(f"{tree}/d1", detail=False) == before  # this call's own listing
    assert seen and f"{tree}/d1/late.csv" in seen[0]
    assert f"{tree}/d1/late.csv" in fs.ls(f"{tree}/d1", detail=False)


def test_a_remembered_size_never_bounds_a_read(served: Endpoint, fs: XferFileSystem, tree: str) -> None:
    """A file listed while a partner still writes it: what is read is what the server holds now."""
    grown = b"a,b\n" + b"9,9\n" * 50
    with fs._one_call():
        assert fs.info(f"{tree}/d0/f0.csv")["size"] == len(TREE["d0/f0.csv"])
        fs.ls(f"{tree}/d0")
        put_server_side(served, f"{tree}/d0/f0.csv", grown)
        assert fs.cat_file(f"{tree}/d0/f0.csv") == grown
        with fs.open(f"{tree}/d0/f0.csv", "rb") as handle:
            assert handle.read() == grown


def test_one_name_per_path(fs: XferFileSystem, tree: str) -> None:
    """``/d//a`` and ``/x/../d/a`` are ``/d/a`` to the server, and to what a call remembers."""
    with fs._one_call():
        fs.ls(f"{tree}/d2")
        fs.rm_file(f"{tree}/d2//f0.csv")
        assert not fs.exists(f"{tree}/d2/f0.csv")
        fs.rm_file(f"{tree}/d1/../d2/f1.csv")
        assert f"{tree}/d2/f1.csv" not in fs.ls(f"{tree}/d2", detail=False)


def test_dot_dot_in_a_pattern_is_part_of_the_pattern(fs: XferFileSystem, tree: str) -> None:
    """``/t/*/..`` matches nothing (no entry is named ".."), as in fsspec's own filesystems: it must
    not become ``/t``, which ``rm`` would remove whole."""
    assert fs.glob(f"{tree}/*/..") == []
    with pytest.raises(FileNotFoundError):
        fs.rm(f"{tree}/*/..", recursive=True)
    assert fs.du(tree) == sum(len(data) for data in TREE.values())


def test_transactions_leave_no_list_of_paths_behind(fs: XferFileSystem, tree: str) -> None:
    """fsspec collects a transaction's paths for caches that outlive calls; there are none here, and
    the list would grow for as long as the (cached) filesystem lives."""
    for number in range(3):
        with fs.transaction, fs.open(f"{tree}/d0/t{number}.csv", "wb") as handle:
            handle.write(b"t")
    assert fs.cat_file(f"{tree}/d0/t2.csv") == b"t"
    assert fs._invalidated_caches_in_transaction == []


def test_folders_moves_and_streams_inside_a_call(served: Endpoint, fs: XferFileSystem, tree: str) -> None:
    """Every other write a call may make is seen by its next look: a streamed file, a move, and (where
    the protocol has folders) a new and a removed folder."""
    with fs._one_call():
        fs.ls(f"{tree}/d0")
        with fs.open(f"{tree}/d0/streamed.csv", "wb") as handle:
            handle.write(b"s,t\n")
        assert fs.info(f"{tree}/d0/streamed.csv")["size"] == 4
        if served.protocol != "https":  # plain HTTPS has no folders and no rename
            fs.mv(f"{tree}/d0/streamed.csv", f"{tree}/d0/moved.csv")
            assert sorted(fs.ls(f"{tree}/d0", detail=False))[-2:] == [f"{tree}/d0/f2.csv", f"{tree}/d0/moved.csv"]
            fs.mkdir(f"{tree}/d0/sub")
            assert fs.isdir(f"{tree}/d0/sub")
            fs.rmdir(f"{tree}/d0/sub")
            assert not fs.exists(f"{tree}/d0/sub")


def test_a_failed_call_leaves_nothing_remembered(fs: XferFileSystem, tree: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fs.get(f"{tree}/missing", str(tmp_path / "x"), recursive=True)
    told = fs._told
    assert (told.depth, told.listings, told.facts) == (0, {}, {})


def test_an_index_pages_sizes_are_not_taken_for_the_files(pki: TestPKI, tmp_path: Path) -> None:
    """An HTTPS index generated before the files changed (its sizes 20 bytes short): ``du`` and a
    ``cat`` of a glob still say and read what the files hold (a HEAD each)."""
    with serve("https", pki, root=tmp_path / "srv", index_size_error=-20) as endpoint:
        data = {"/d/a.csv": b"0123456789" * 2, "/d/b.csv": b"x" * 30}
        for path, content in data.items():
            put_server_side(endpoint, path, content)
        fs = filesystem(endpoint)
        try:
            assert fs.du("/d") == 50
            assert fs.cat("/d/*.csv") == data
        finally:
            fs.close()


def test_sftp_calls_ask_no_file_either(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: Counter[str]
) -> None:
    """SFTP's directory reads carry each file's size (``listed_sizes_exact``): ``du`` and ``get -r``
    list each folder once and ask about no file, as over WebDAV and FTPS."""
    with serve("sftp", pki, root=tmp_path / "root") as endpoint:
        profiles = tmp_path / "profiles"
        profiles.mkdir()
        # The profile carries the server's known_hosts, which the bare storage options do not.
        (profiles / "partner.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(profiles))
        monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
        for relative, data in TREE.items():
            put_server_side(endpoint, f"/t/{relative}", data)
        fs = XferFileSystem("partner", skip_instance_cache=True)
        try:
            assert fs.du("/t") == sum(len(data) for data in TREE.values())
            fs.get("/t", str(tmp_path / "copy"), recursive=True)
        finally:
            fs.close()
    got = {p.relative_to(tmp_path / "copy").as_posix(): p.read_bytes() for p in (tmp_path / "copy").rglob("*")
           if p.is_file()}
    assert got == TREE
    assert asked["ls"] == 8  # four folders, once per call
    assert asked["info"] <= 2  # "/t" itself, once per call


def _keeping(served: Endpoint, expiry: float) -> XferFileSystem:
    from tests.fsspec_helpers import storage_options

    return XferFileSystem(skip_instance_cache=True, listings_expiry_time=expiry, **storage_options(served))


def test_a_dask_style_plan_is_answered_by_one_listing_when_asked_to_keep_it(
    served: Endpoint, tree: str, asked: Counter[str]
) -> None:
    """``listings_expiry_time`` keeps what a glob showed across calls: the ``isdir``/``info``/``ukey``
    Dask asks of every file it planned are answered without a round trip each."""
    fs = _keeping(served, 60)
    files = fs.glob(f"{tree}/d*/*.csv")
    assert len(files) == len(TREE)
    listed = asked["ls"]
    for _ in range(2):
        assert not any(fs.isdir(path) for path in files)
    assert [fs.info(path)["size"] for path in files] == [len(TREE[path[len(tree) + 1:]]) for path in files]
    assert all(fs.ukey(path) for path in files)
    assert asked["ls"] == listed
    # Plain HTTPS index pages do not state the files' sizes: each file's info asks once, then is kept.
    assert asked["info"] <= 1 + files_asked(served)


def test_kept_facts_expire_and_a_write_through_the_instance_forgets_them(served: Endpoint, tree: str) -> None:
    now = [1000.0]
    fs = _keeping(served, 30)
    fs._kept.clock = lambda: now[0]
    before = fs.ls(f"{tree}/d2", detail=False)
    put_server_side(served, f"{tree}/d2/late.csv", b"late")
    now[0] += 29
    assert fs.ls(f"{tree}/d2", detail=False) == before  # kept: the partner's new file not yet seen
    now[0] += 1
    assert f"{tree}/d2/late.csv" in fs.ls(f"{tree}/d2", detail=False)  # expired: asked again
    # Our own write is seen at once, from any thread, and so is our removal.
    fs.pipe_file(f"{tree}/d2/ours.csv", b"ours")
    assert fs.info(f"{tree}/d2/ours.csv")["size"] == 4
    seen: list[list[str]] = []
    worker = threading.Thread(target=lambda: seen.append(fs.ls(f"{tree}/d2", detail=False)))
    worker.start()
    worker.join(30)
    assert seen and f"{tree}/d2/ours.csv" in seen[0]
    fs.rm_file(f"{tree}/d2/ours.csv")
    assert not fs.exists(f"{tree}/d2/ours.csv")
    # A kept size never bounds a read.
    put_server_side(served, f"{tree}/d2/f0.csv", b"grown" * 10)
    assert fs.cat_file(f"{tree}/d2/f0.csv") == b"grown" * 10


@pytest.mark.parametrize("expiry", [0, -1, True, "60"])
def test_listings_expiry_time_is_a_positive_number_of_seconds(served: Endpoint, expiry: Any) -> None:
    with pytest.raises(UsageError, match="listings_expiry_time"):
        _keeping(served, expiry)


def test_an_answer_asked_before_our_own_write_is_not_kept(served: Endpoint, tree: str) -> None:
    """A listing in flight while this instance (another thread) writes there: its older answer
    must not stand for the expiry."""
    fs = _keeping(served, 60)
    listed = fs._listed

    def racing(target: str) -> Any:
        answer = listed(target)  # asked before the write below...
        fs.pipe_file(f"{tree}/d1/raced.csv", b"r")  # ...which forgets what it touches
        return answer
    fs._listed = racing  # type: ignore[method-assign]
    assert f"{tree}/d1/raced.csv" not in fs.ls(f"{tree}/d1", detail=False)
    fs._listed = listed  # type: ignore[method-assign]
    assert f"{tree}/d1/raced.csv" in fs.ls(f"{tree}/d1", detail=False)


def test_what_is_kept_is_shared_by_the_instances_fsspec_makes_per_thread(served: Endpoint, tree: str) -> None:
    """fsspec caches one instance per thread: a Dask task's write in a worker thread is seen by a
    glob in the main thread at once."""
    import fsspec

    from tests.fsspec_helpers import ensure_registered, storage_options

    ensure_registered()
    options = {**storage_options(served), "listings_expiry_time": 60}
    here = fsspec.filesystem("xfer", **options)
    assert f"{tree}/d2/f0.csv" in here.glob(f"{tree}/d2/*.csv")
    there: list[Any] = []

    def task() -> None:
        other = fsspec.filesystem("xfer", **options)
        there.append(other)
        other.pipe_file(f"{tree}/d2/part-0.csv", b"p")
        other.rm_file(f"{tree}/d2/f0.csv")
    worker = threading.Thread(target=task)
    worker.start()
    worker.join(30)
    assert there and there[0] is not here
    assert f"{tree}/d2/part-0.csv" in here.glob(f"{tree}/d2/*.csv")
    assert not here.exists(f"{tree}/d2/f0.csv")


def test_kept_paths_are_bounded(served: Endpoint, tree: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import xfer.filesystem as module

    monkeypatch.setattr(module, "_KEPT_PATHS", 5)
    fs = _keeping(served, 60)
    for folder in ("d0", "d1", "d2"):
        fs.ls(f"{tree}/{folder}")  # a listing and its 3 files each
        assert len(fs._kept.listings) + len(fs._kept.facts) <= 5
