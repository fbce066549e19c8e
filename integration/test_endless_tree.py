"""A link loop on a real server shows an endless tree; ``get -r`` stops at ``--max-depth``, leaving nothing.

Issue 11, item 18, on the bed's daemons (the in-process fake is in tests/test_cli_local.py):
``loop/a -> .`` makes ``loop/a/a/a/...`` a folder at every level for servers that follow
links (the kernel's 40-link limit ends it eventually, past any sane depth limit).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from xfer.cli import main
from xfer.errors import ExitCode
from xfer.testing.pki import TestPKI

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated")]

#: Servers where ``a`` leads into a folder: nginx follows the link in its index page; vsftpd lists
#: it as a link (LIST), which xfer follows (CWD) as it does on SFTP, since a linked file passed
#: over without a word was a file missing from a get -r.  Apache does not show the link at all.
SERVERS = ["nginx", "vsftpd-explicit"]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("XFER_PROFILE_PATH", raising=False)


@pytest.fixture(params=SERVERS)
def looping(request: pytest.FixtureRequest, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    info = bed_server(request.param)
    folder = info.root / f"loop-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    (folder / "f.txt").write_text("x")
    os.symlink(".", folder / "a")
    url = info.url if not info.url.startswith("https://") else info.extra.get("webdav_url", info.url)
    flags = ["--identity", str(bed_pki.client_p12), "--identity-password", f"file:{bed_pki.password_file}",
             "--ca", str(bed_pki.root_ca)]
    if info.username:
        monkeypatch.setenv("XFER_T_BED_PW", info.password or "")
        flags += ["--username", info.username, "--password", "env:XFER_T_BED_PW"]
    try:
        yield f"{url.rstrip('/')}/{folder.name}", flags
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_link_loop_stops_at_the_depth_limit(capsys: pytest.CaptureFixture[str], looping: tuple[str, list[str]],
                                            tmp_path: Path) -> None:
    url, flags = looping
    code = main(["get", "-r", "--max-depth", "5", url, str(tmp_path / "out") + "/", *flags])
    _, err = capsys.readouterr()
    assert code == ExitCode.REMOTE, err
    assert "goes deeper than 5 folder levels" in err and "--max-depth" in err
    assert not (tmp_path / "out").exists()
