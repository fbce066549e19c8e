"""Links on vsftpd (LIST only): a linked file is downloaded by get -r and globs, ``rm -r`` removes the
link and never goes through it (the in-process variants, LIST and MLSD: tests/test_ftps_links.py).

vsftpd shows a link as ``lrwxrwxrwx ... name -> target``; the chroot'ed session resolves relative
links inside its root, so the links here are relative.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from integration.server_cli import give_to_server, login_flags
from xfer.cli import main
from xfer.testing.pki import TestPKI

pytestmark = [pytest.mark.integration]


@pytest.fixture
def linked(bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str, list[str]]]:
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("XFER_PROFILE_PATH", raising=False)
    info = bed_server("vsftpd-explicit")
    folder = info.root / f"links-{uuid.uuid4().hex[:8]}"
    (folder / "out").mkdir(parents=True)
    (folder / "real").mkdir()
    (folder / "real" / "inner.txt").write_text("inner")
    (folder / "out" / "a.csv").write_text("a")
    os.symlink("../real/inner.txt", folder / "out" / "linked.csv")
    os.symlink("../real", folder / "out" / "folder-link")
    os.symlink("../nowhere.csv", folder / "out" / "dangling.csv")
    give_to_server(folder, info)
    flags = login_flags(info, bed_pki, monkeypatch)
    try:
        yield folder, f"{info.url.rstrip('/')}/{folder.name}", flags
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_linked_files_and_folders_are_downloaded_and_a_dangling_link_is_named(
    capsys: pytest.CaptureFixture[str], linked: tuple[Path, str, list[str]], tmp_path: Path
) -> None:
    _, url, flags = linked
    code = main(["get", "-r", f"{url}/out", str(tmp_path / "tree") + "/", *flags])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert _files(tmp_path / "tree") == {
        "out/a.csv": "a", "out/linked.csv": "inner", "out/folder-link/inner.txt": "inner"}
    assert "skipped" in err and "dangling.csv" in err
    code = main(["get", f"{url}/out/*.csv", str(tmp_path / "glob") + "/", *flags])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert _files(tmp_path / "glob") == {"a.csv": "a", "linked.csv": "inner"}


def test_rm_r_removes_links_and_not_what_they_point_to(
    capsys: pytest.CaptureFixture[str], linked: tuple[Path, str, list[str]]
) -> None:
    folder, url, flags = linked
    code = main(["rm", "-r", f"{url}/out", *flags])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert not os.path.lexists(folder / "out")
    assert (folder / "real" / "inner.txt").read_text() == "inner"
