"""What ``put -r`` and ``sync`` see of a local tree (:func:`xfer.batch.local_tree`): names and order (issue 14:
planned with strings, not a Path per file), and what is passed over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xfer.batch import _path_order, local_tree
from xfer.transfer import is_temporary


def _reference(folder: Path) -> list[str]:
    """The order and names the planning had with a Path per entry: Paths sorted, then made relative."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        found += [Path(dirpath) / name for name in dirnames]
        found += [Path(dirpath) / name for name in filenames if not is_temporary(name)]
    return [child.relative_to(folder).as_posix() for child in sorted(found)]


@pytest.mark.parametrize("spelling", ["{}", "{}/", "./{}"])
def test_a_tree_is_walked_in_path_order_with_its_relative_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    # "a-b/x" sorts before "a/b" as a string ("-" < "/"), after it part by part: Path order is kept.
    tree = tmp_path / "tree"
    for name in ["a/b", "a-b/x", "a/c/d", "a.b", "z", "B", "a/c/.hidden", "é/ü", "b/.f.1a2b3c4d.xfer-part", "b/g"]:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(b"x")
    (tree / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    folder = spelling.format("tree")
    walked = list(local_tree(folder))
    assert ["/".join(parts) for parts, _, _ in sorted(walked, key=_path_order)] == _reference(tree)
    assert "b/.f.1a2b3c4d.xfer-part" not in _reference(tree)  # (the working file is left out)
    for parts, path, info in walked:  # each path is the entry the parts name, with its stat
        assert os.path.samefile(path, tree.joinpath(*parts))
        assert os.path.samestat(info, os.stat(path))


def test_links_to_folders_links_to_nothing_and_pipes_are_passed_over_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "ok").write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "hidden").write_bytes(b"y")
    (tree / "linked").symlink_to(tmp_path / "elsewhere")
    (tree / "sub" / "dangling").symlink_to(tmp_path / "unmounted")
    (tree / "sub" / "to-file").symlink_to(tree / "sub" / "ok")  # a link to a file is its file
    os.mkfifo(tree / "pipe")
    passed_over: list[str] = []
    with caplog.at_level("WARNING", logger="xfer.batch"):
        walked = sorted("/".join(parts) for parts, _, _ in local_tree(str(tree), passed_over))
    assert walked == ["sub", "sub/ok", "sub/to-file"]
    assert sorted(passed_over) == ["linked", "pipe", "sub/dangling"]
    assert caplog.text.count("skipped ") == 3


@pytest.mark.parametrize(
    ("name", "posix", "windows"),
    [("a.txt", True, True), ("C:evil.txt", True, False), ("report.csv:hidden", True, False), ("CON", True, False),
     ("nul.txt", True, False), ("COM1.log", True, False), ("name.", True, False), ("name ", True, False),
     ("back\\slash", True, False), ("Con1", True, True), ("..", False, False), ("a/b", False, False)],
)
def test_a_listed_name_is_one_plain_local_name_on_each_system(name: str, posix: bool, windows: bool) -> None:
    """A server's name becomes a local path part only if this system reads it as one plain file name:
    on Windows ``C:evil.txt`` is a path on drive C:, ``CON`` the console (the review's suspicion)."""
    from xfer.batch import _safe_name

    assert _safe_name(name, windows=False) is posix
    assert _safe_name(name, windows=True) is windows
