"""Real servers list hostile file names; ``xfer ls`` and ``get -r`` show them escaped, ``--json`` exact.

Issue 11, item 7, on the bed's daemons (the in-process fakes are in tests/test_cli_output.py):
a name holding ``ESC]0;...BEL`` (window title) or ``ESC]52`` (clipboard) is created in the
server's storage folder, as any other user of the server could, and must never reach the
terminal raw.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from xfer.cli import main
from xfer.testing.pki import TestPKI

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated")]

NAMES = {"\x1b]0;pwned\x07title.txt", "\x1b]52;c;ZXZpbA==\x07clip.txt", "bidi\u202etxt.exe"}
RAW = re.compile("[\x1b\x07\u202e]")
SERVERS = ["apache", "nginx", "vsftpd-explicit", "proftpd", "pureftpd"]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("XFER_PROFILE_PATH", raising=False)


@pytest.fixture(params=SERVERS)
def hostile(request: pytest.FixtureRequest, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str], set[str]]]:
    """(URL of a folder holding NAMES, connection flags, the names the server lists) on one real server."""
    info = bed_server(request.param)
    folder = f"esc-{uuid.uuid4().hex[:8]}"
    (info.root / folder).mkdir()
    for name in NAMES:
        (info.root / folder / name).write_text("data")
    shutil.chown(info.root / folder, user=info.root.owner(), group=info.root.group())
    url = info.url if not info.url.startswith("https://") else info.extra.get("webdav_url", info.url)
    flags = ["--identity", str(bed_pki.client_p12), "--identity-password", f"file:{bed_pki.password_file}",
             "--ca", str(bed_pki.root_ca)]
    if info.username:
        monkeypatch.setenv("XFER_T_BED_PW", info.password or "")
        flags += ["--username", info.username, "--password", "env:XFER_T_BED_PW"]
    # pure-ftpd leaves names with control characters out of its listings (its own defence);
    # the others list every name.
    listed = {n for n in NAMES if not any(ord(c) < 32 for c in n)} if request.param == "pureftpd" else NAMES
    try:
        yield f"{url.rstrip('/')}/{folder}/", flags, listed
    finally:
        shutil.rmtree(info.root / folder, ignore_errors=True)


def test_real_server_names_are_escaped(capsys: pytest.CaptureFixture[str],
                                       hostile: tuple[str, list[str], set[str]], tmp_path: Path) -> None:
    url, flags, listed = hostile
    code = main(["ls", url, *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert not RAW.search(out + err), repr(out + err)
    assert "bidi\\u202etxt.exe" in out
    assert ("\\x1b]0;pwned\\x07title.txt" in out) == ("\x1b]0;pwned\x07title.txt" in listed)
    code = main(["ls", url, *flags, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert {entry["name"] for entry in json.loads(out)} == listed
    code = main(["get", "-r", url, str(tmp_path) + "/", *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert not RAW.search(out + err), repr(out + err)
    [downloaded] = [p for p in tmp_path.iterdir() if p.name.startswith("esc-")]
    assert {p.name for p in downloaded.iterdir()} == listed
