"""Ctrl-C (or SIGTERM, which the console script turns into one) in the middle of a batch of files:
what moved before it is still reported and, with ``--remove-source-files``, its sources removed;
the run still ends as an interruption (``xfer: interrupted``, exit 130).  Before: exit 130 with
nothing else, every source kept, so the next run of an outbox drain sent the moved files again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tomli_w

import xfer
from xfer.adapters.webdav import WebDAVAdapter
from xfer.errors import BatchInterrupted, ExitCode
from xfer.testing.endpoints import Endpoint

from .helpers import run

NAMES = [f"f{number}.txt" for number in range(5)]


@pytest.fixture
def profile(xfer_webdav_server: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Endpoint:
    """The WebDAV server under the profile name ``dav``."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "dav.toml").write_text(tomli_w.dumps(xfer_webdav_server.profile.to_toml()))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    return xfer_webdav_server


def _interrupting(monkeypatch: pytest.MonkeyPatch, method: str, after: int) -> None:
    """``WebDAVAdapter.<method>`` moves ``after`` files, then the next call is Ctrl-C."""
    real = getattr(WebDAVAdapter, method)
    calls: list[int] = []

    def moving(self: WebDAVAdapter, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > after:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(WebDAVAdapter, method, moving)


def _outbox(tmp_path: Path) -> Path:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    for name in NAMES:
        (outbox / name).write_text(name)
    return outbox


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_put_interrupted_reports_and_removes_what_moved(
    profile: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    parallel: str,
) -> None:
    outbox = _outbox(tmp_path)
    _interrupting(monkeypatch, "put_file", after=2)
    code, out, err = run(capsys, "put", "-r", "-P", parallel, "--remove-source-files", "--json", str(outbox),
                         "dav:/in/")
    assert code == ExitCode.INTERRUPTED, err
    assert err.splitlines()[-1] == "xfer: interrupted" and "error" not in err
    moved = {Path(result["local"]).name: result["source_removed"] for result in json.loads(out)}
    # One by one: the first two.  Over two connections, the third call comes once one of the first
    # two is done; the other may be stopped by the interrupt before its end (its part removed).
    assert len(moved) == 2 if parallel == "1" else len(moved) >= 1
    assert all(moved.values())
    on_server = sorted(path.name for path in (profile.root / "in" / "outbox").iterdir())
    assert sorted(moved) == on_server
    assert sorted(path.name for path in outbox.iterdir()) == sorted(set(NAMES) - set(moved))  # those went
    assert f"removed {len(moved)} of {len(moved)} source file(s) after verifying their copies" in err


def test_get_interrupted_lists_what_arrived_and_removes_its_sources(
    profile: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    (profile.root / "out").mkdir()
    for name in NAMES:
        (profile.root / "out" / name).write_text(name)
    # Each file alone (not in a pipelined group), so that the third GET is the one interrupted.
    monkeypatch.setattr(WebDAVAdapter, "moves_together", lambda self, *, upload: False)
    _interrupting(monkeypatch, "get_file", after=3)
    inbox = tmp_path / "inbox"
    code, _out, err = run(capsys, "get", "-r", "--remove-source-files", "dav:/out/", str(inbox))
    assert code == ExitCode.INTERRUPTED, err
    arrived = sorted(path.name for path in inbox.rglob("*") if path.is_file())
    assert arrived == NAMES[:3]
    assert sorted(path.name for path in (profile.root / "out").iterdir()) == NAMES[3:]
    said = [line for line in err.splitlines() if line.startswith("get ")]
    assert len(said) == 3 and all(f"/out/{name} -> " in line for name, line in zip(NAMES[:3], said, strict=True))
    assert "removed 3 of 3 remote source file(s) after verifying their copies" in err
    assert err.splitlines()[-1] == "xfer: interrupted"


def test_the_library_gets_what_moved_on_the_interrupt(
    profile: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Still a KeyboardInterrupt (an ``except XferError`` does not swallow Ctrl-C), with the results."""
    outbox = _outbox(tmp_path)
    _interrupting(monkeypatch, "put_file", after=2)
    with xfer.connect("dav") as remote, pytest.raises(KeyboardInterrupt) as raised:
        xfer.client.put(remote, [outbox], "/in/", recursive=True)
    assert isinstance(raised.value, BatchInterrupted)
    assert [Path(result.local).name for result in raised.value.results] == NAMES[:2]
    assert raised.value.failures == []


def test_an_interrupt_before_anything_moved_is_the_plain_one(
    profile: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    outbox = _outbox(tmp_path)
    _interrupting(monkeypatch, "put_file", after=0)
    with xfer.connect("dav") as remote, pytest.raises(KeyboardInterrupt) as raised:
        xfer.client.put(remote, [outbox], "/in/", recursive=True)
    assert type(raised.value) is KeyboardInterrupt


def test_an_interrupt_an_adapter_worded_still_reports_and_removes_what_moved(
    xfer_ftps_server: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review O, finding 1: FTPS turns Ctrl-C during an upload's rename into ``Interrupted`` (an
    XferError that says where the upload may be); the batch raised it bare, so the files that had
    moved were neither reported nor had their sources removed.  Now it is a BatchInterrupted too,
    and its words come as a warning."""
    from xfer.adapters.ftps import install

    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "ftp.toml").write_text(tomli_w.dumps(xfer_ftps_server.profile.to_toml()))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    real = install.rename_over
    calls: list[int] = []

    def renaming(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(install, "rename_over", renaming)
    outbox = _outbox(tmp_path)
    code, _out, err = run(capsys, "put", "-r", "--remove-source-files", str(outbox), "ftp:/in/")
    assert code == ExitCode.INTERRUPTED, err
    assert err.splitlines()[-1] == "xfer: interrupted"
    assert "interrupted while renaming the uploaded temporary file" in err  # where the third may be
    assert "removed 2 of 2 source file(s) after verifying their copies" in err
    assert sorted(path.name for path in outbox.iterdir()) == NAMES[2:]
