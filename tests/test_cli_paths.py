"""User paths and server paths: what the CLI prints is the path the user typed, under the profile's root.

A profile's URL path is its root (``ftpes://host/inbox``); ``partner:/inbox/x`` then names
the server file ``/inbox/inbox/x``.  Adapters return user paths; the CLI once converted them
again, so a path that itself began with the root's name lost it (``/inbox/x`` shown as ``/x``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run, save_ftps_profile
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[FTPSServer]:
    with FTPSServer(pki, root=tmp_path / "served") as srv:
        (srv.root / "inbox" / "inbox").mkdir(parents=True)
        yield srv


@pytest.fixture
def profile(server: FTPSServer, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A profile rooted at the server folder /inbox."""
    return save_ftps_profile(server, pki, tmp_path / "profiles", monkeypatch, root="inbox")


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_put_and_get_show_the_user_path_under_a_rooted_profile(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path, json_output: bool
) -> None:
    local = tmp_path / "x"
    local.write_bytes(b"12345")
    flags = ["--json"] if json_output else []

    code, out, err = run(capsys, "put", str(local), f"{profile}:/inbox/x", *flags)
    assert code == 0, err
    assert (server.root / "inbox" / "inbox" / "x").read_bytes() == b"12345"
    if json_output:
        assert [r["remote"] for r in json.loads(out)] == ["/inbox/x"]
    else:
        assert f"put {local} -> {profile}:/inbox/x " in out + err

    back = tmp_path / "back"
    back.mkdir()
    code, out, err = run(capsys, "get", f"{profile}:/inbox/x", f"{back}/", *flags)
    assert code == 0, err
    assert (back / "x").read_bytes() == b"12345"
    if json_output:
        assert [r["remote"] for r in json.loads(out)] == ["/inbox/x"]
    else:
        assert f"get {profile}:/inbox/x -> {back / 'x'} " in out + err
