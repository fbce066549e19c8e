"""``rm -r`` on the bed's three FTP daemons, where what it relies on differs from server to server:
a dot-named link to a folder (vsftpd and pure-ftpd list no dot names, so the link is looked for
with ``LIST -a``) is removed as a link, never walked into; and a folder under a parent whose name
has a space is listed from inside that parent (pure-ftpd splits a ``LIST`` argument at spaces).
The in-process variants: tests/test_ftps_listing_variants.py."""

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


@pytest.fixture(params=["vsftpd-explicit", "proftpd", "pureftpd"])
def tree(request: pytest.FixtureRequest, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI,
         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str, list[str]]]:
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("XFER_PROFILE_PATH", raising=False)
    info = bed_server(request.param)
    folder = info.root / f"rm-{uuid.uuid4().hex[:8]}"
    (folder / "real").mkdir(parents=True)
    (folder / "real" / "inner.txt").write_text("inner")
    (folder / "my dir" / "sub").mkdir(parents=True)
    (folder / "my dir" / "sub" / "a.txt").write_text("a")
    os.symlink("../real", folder / "my dir" / ".lnk")  # (relative: the chroot'ed session resolves it)
    give_to_server(folder, info)
    flags = login_flags(info, bed_pki, monkeypatch)
    try:
        yield folder, f"{info.url.rstrip('/')}/{folder.name}", flags
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_rm_r_of_a_dot_named_link_removes_the_link_and_a_folder_under_a_spaced_name_goes(
    capsys: pytest.CaptureFixture[str], tree: tuple[Path, str, list[str]]
) -> None:
    folder, url, flags = tree
    code = main(["rm", "-r", f"{url}/my dir/.lnk", *flags])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert not os.path.lexists(folder / "my dir" / ".lnk")
    assert (folder / "real" / "inner.txt").read_text() == "inner"
    code = main(["rm", "-r", f"{url}/my dir/sub", *flags])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert not (folder / "my dir" / "sub").exists()
