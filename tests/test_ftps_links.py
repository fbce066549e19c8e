"""Links on FTP servers that list with LIST (vsftpd, pure-ftpd) or MLSD: followed for get, never for rm.

``LIST`` shows a link as ``lrwxrwxrwx ... name -> target``: it says "link", not whether a file or a
folder is behind it.  ``get -r`` and globs take files and folders, so a linked file was passed over
without a word (exit 0, the file missing).  Now a listed link is shown as what it points to, as on
SFTP (the server follows it for CWD/SIZE/MDTM or MLST); a link to nothing is skipped with a warning;
``rm -r`` still removes a link and never goes through it.  Against the bed's vsftpd:
integration/test_ftps_links_vsftpd.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pyftpdlib.handlers import TLS_FTPHandler

from tests.helpers import run, save_ftps_profile
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI


class _ListOnly(TLS_FTPHandler):  # type: ignore[misc]
    """vsftpd's way: LIST only (no MLSD/MLST), so links are "l" lines."""

    proto_cmds: ClassVar[dict[str, Any]] = {
        k: v for k, v in TLS_FTPHandler.proto_cmds.items() if k not in ("MLSD", "MLST")
    }


def _tree(root: Path) -> None:
    (root / "out").mkdir()
    (root / "real").mkdir()
    (root / "real" / "inner.txt").write_text("inner")
    (root / "out" / "a.csv").write_text("a")
    (root / "out" / "linked.csv").symlink_to(root / "real" / "inner.txt")
    (root / "out" / "folder-link").symlink_to(root / "real")
    (root / "out" / "dangling.csv").symlink_to(root / "nowhere.csv")


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("handler", [_ListOnly, TLS_FTPHandler], ids=["LIST", "MLSD"])
def test_get_follows_links_to_files_and_folders_and_says_what_it_skipped(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    handler: type[Any],
) -> None:
    with FTPSServer(pki, root=tmp_path / "served", handler_class=handler) as srv:
        _tree(srv.root)
        profile = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        code, _, err = run(capsys, "get", "-r", f"{profile}:/out", str(tmp_path / "tree") + "/")
        assert code == 0, err
        assert _files(tmp_path / "tree") == {
            "out/a.csv": "a", "out/linked.csv": "inner", "out/folder-link/inner.txt": "inner"}
        if handler is _ListOnly:  # pyftpdlib's MLSD leaves a dangling link out of the listing itself
            assert "skipped /out/dangling.csv" in err
        code, _, err = run(capsys, "get", f"{profile}:/out/*.csv", str(tmp_path / "glob") + "/")
        assert code == 0, err
        assert _files(tmp_path / "glob") == {"a.csv": "a", "linked.csv": "inner"}


def test_rm_r_removes_a_link_and_never_goes_through_it(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FTPSServer(pki, root=tmp_path / "served", handler_class=_ListOnly) as srv:
        _tree(srv.root)
        profile = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        code, _, err = run(capsys, "rm", "-r", f"{profile}:/out")
        assert code == 0, err
        assert not os.path.lexists(srv.root / "out")
        assert (srv.root / "real" / "inner.txt").read_text() == "inner"
