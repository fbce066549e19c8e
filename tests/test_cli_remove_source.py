"""``put``/``get --remove-source-files`` on the command line: each file's result says whether its
source went (``source_removed`` in ``--json``), every source is proven on its own, each one kept is
said (the first as the error, the others as warnings), and what was removed is counted."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import tomli_w

from xfer.errors import ExitCode
from xfer.testing.endpoints import Endpoint

from .helpers import run


@pytest.fixture
def profile(xfer_webdav_server: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Endpoint:
    """The WebDAV server under the profile name ``dav``."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "dav.toml").write_text(tomli_w.dumps(xfer_webdav_server.profile.to_toml()))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    return xfer_webdav_server


def test_get_json_says_which_sources_went(
    profile: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two copies cannot be proven (their local files changed before the removal): those sources
    stay, the first is the error, the second a warning, the other four are removed and counted."""
    (profile.root / "out").mkdir()
    for number in range(6):
        (profile.root / "out" / f"f{number}.txt").write_bytes(b"x" * (number + 1))
    inbox = tmp_path / "in"
    from xfer import sync as sync_module

    real = sync_module.remove_downloaded_together

    def meddled(adapter: object, files: list[tuple[str, Path, int, int | None]]) -> object:
        for _remote, local, _size, _listed in files:
            if local.name in ("f1.txt", "f4.txt"):  # whatever reads the inbox wrote to them meanwhile
                local.write_bytes(b"changed by the reader")
        return real(adapter, files)  # type: ignore[arg-type]

    monkeypatch.setattr(sync_module, "remove_downloaded_together", meddled)
    code, out, err = run(capsys, "get", "-r", "--remove-source-files", "--json", "dav:/out/", str(inbox))
    assert code == ExitCode.INTEGRITY, err
    results = {Path(result["remote"]).name: result["source_removed"] for result in json.loads(out)}
    assert results == {f"f{n}.txt": n not in (1, 4) for n in range(6)}
    assert sorted(p.name for p in (profile.root / "out").iterdir()) == ["f1.txt", "f4.txt"]
    lines = err.splitlines()
    assert [line for line in lines if line.startswith("xfer: warning: kept the source")] == [
        "xfer: warning: kept the source /out/f4.txt: the copy holds 21 bytes, the download wrote 5"]
    assert [line for line in lines if line.startswith("xfer: error: ")] == [
        "xfer: error: kept the source /out/f1.txt: the copy holds 21 bytes, the download wrote 2"]
    assert "removed 4 of 6 remote source file(s) after verifying their copies" in err


def test_get_json_without_removal_says_null(profile: Endpoint, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (profile.root / "a.txt").write_bytes(b"abc")
    code, out, err = run(capsys, "get", "--json", "dav:/a.txt", str(tmp_path / "a.txt"))
    assert code == 0, err
    assert [result["source_removed"] for result in json.loads(out)] == [None]
    assert (profile.root / "a.txt").exists()


def test_put_goes_on_past_a_source_that_cannot_be_removed(
    profile: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One local source cannot be removed (its folder is read-only to us, say): it stays, and is the
    error; every other source, before and after it, is removed, and each result says which."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    for number in range(4):
        (outbox / f"f{number}.txt").write_bytes(b"y" * (number + 1))
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name == "f1.txt":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        real_unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    code, out, err = run(capsys, "put", "-r", "--remove-source-files", "--json", str(outbox), "dav:/in/")
    assert code == ExitCode.ERROR, err  # a local failure
    results = {Path(result["local"]).name: result["source_removed"] for result in json.loads(out)}
    assert results == {"f0.txt": True, "f1.txt": False, "f2.txt": True, "f3.txt": True}
    assert sorted(p.name for p in outbox.iterdir()) == ["f1.txt"]
    assert sorted(p.name for p in (profile.root / "in" / "outbox").iterdir()) == [f"f{n}.txt" for n in range(4)]
    assert "removed 3 of 4 source file(s) after verifying their copies" in err
    assert [line for line in err.splitlines() if line.startswith("xfer: error: ")] == [
        f"xfer: error: permission denied removing {outbox / 'f1.txt'}"]
