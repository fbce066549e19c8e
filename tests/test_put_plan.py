"""What ``put -r`` plans from a local tree: names and order (issue 14: planned with strings, not a Path per file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xfer.batch import _path_order, _walk
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
    walked = list(_walk(folder))
    assert ["/".join(parts) for parts, _ in sorted(walked, key=_path_order)] == _reference(tree)
    assert "b/.f.1a2b3c4d.xfer-part" not in _reference(tree)  # (the working file is left out)
    for parts, path in walked:  # each path is the entry the parts name
        assert os.path.samefile(path, tree.joinpath(*parts))
