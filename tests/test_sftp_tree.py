"""``rm -r``'s one walk (xfer/adapters/tree.py), used by SFTP and FTPS: the whole tree listed first,
files then folders bottom-up, links never gone through, a depth cap that stops before anything
is removed.  FTPS's own cases: tests/test_ftps_hostile.py (depth limit, backslash names)."""

from __future__ import annotations

from pathlib import Path

import pytest

import xfer
from xfer.adapters.tree import MAX_TREE_DEPTH, TreeWalk
from xfer.errors import RemoteError
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys, create_ssh_keys
from xfer.types import Entry, EntryType

TREE: dict[str, list[tuple[str, EntryType]]] = {
    "/t": [("a", "directory"), ("f1", "file"), ("link", "link")],
    "/t/a": [("b", "directory"), ("f2", "file")],
    "/t/a/b": [("f3", "file")],
}


def _entries(folder: str) -> list[Entry]:
    return [Entry(name=name, path=f"{folder}/{name}", type=kind, size=None, modified=None)
            for name, kind in TREE[folder]]


def test_walk_lists_everything_then_orders_files_and_folders_bottom_up() -> None:
    walk = TreeWalk("/t", server="srv")
    listed = []
    while (folder := walk.next_folder()) is not None:
        listed.append(folder)
        walk.found(_entries(folder))
    assert sorted(listed) == ["/t", "/t/a", "/t/a/b"]
    assert sorted(walk.files) == ["/t/a/b/f3", "/t/a/f2", "/t/f1", "/t/link"]  # the link is removed, not entered
    assert list(walk.folders_bottom_up()) == ["/t/a/b", "/t/a", "/t"]


def test_walk_stops_past_the_depth_cap() -> None:
    walk = TreeWalk("/loop", server="srv", max_depth=3)
    with pytest.raises(RemoteError, match=r"nested more than 3 folders deep.*removed nothing"):
        while (folder := walk.next_folder()) is not None:  # a server listing a/ in every folder
            walk.found([Entry(name="a", path=f"{folder}/a", type="directory", size=None, modified=None)])
    assert walk.files == []


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


def test_sftp_rm_r_stops_at_the_depth_limit_before_removing_anything(ssh_keys: SSHTestKeys, tmp_path: Path) -> None:
    root = tmp_path / "root"
    deep = root.joinpath("in", *["a"] * (MAX_TREE_DEPTH + 2))
    deep.mkdir(parents=True)
    (root / "in" / "keep.txt").write_text("kept")
    with SFTPServer(ssh_keys, root=root) as srv:
        with xfer.connect(srv.url, identity=str(ssh_keys.client_key), pin=ssh_keys.host_fingerprint(),
                          identity_password=f"file:{ssh_keys.passphrase_file}") as remote:
            with pytest.raises(RemoteError, match=r"nested more than 64 folders deep.*removed nothing"):
                remote.rm("/in", recursive=True)
    assert deep.is_dir() and (root / "in" / "keep.txt").read_text() == "kept"
