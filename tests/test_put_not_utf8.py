"""A local file whose name is not UTF-8 (its bytes surrogate-escaped) over HTTPS and WebDAV, whose
paths travel in URLs: ``put -r`` and ``sync`` pass over it with a warning naming it, as they do a
named pipe, and send the rest; ``put`` of it fails alone, in one error line.  Before, ``quote()``
in ``url_for`` raised UnicodeEncodeError: "unexpected internal error", exit 1, nothing sent.
FTPS and SFTP send the name's bytes as they are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomli_w

from xfer.errors import ExitCode
from xfer.testing.endpoints import Endpoint

from .helpers import one_error, run

BAD = os.fsdecode(b"bad\xff\xfe.txt")  # the name as Python reads it from the disk: 'bad\udcff\udcfe.txt'
SHOWN = "bad\\udcff\\udcfe.txt"  # as xfer prints it


@pytest.fixture(params=["https", "davs", "sftp"])
def endpoint(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Endpoint:
    served: Endpoint = request.getfixturevalue(
        {"https": "xfer_https_server", "davs": "xfer_webdav_server", "sftp": "xfer_sftp_server"}[request.param])
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    return served


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``nu/``: good.txt, a file and a folder (with a file) whose names are not UTF-8."""
    folder = tmp_path / "nu"
    folder.mkdir()
    (folder / "good.txt").write_text("ok")
    (folder / BAD).write_bytes(b"latin")
    (folder / os.fsdecode(b"dir\xff")).mkdir()
    (folder / os.fsdecode(b"dir\xff") / "x.txt").write_text("x")
    return folder


def _stored(root: Path) -> dict[bytes, bytes]:
    return {os.fsencode(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize("command", ["put", "sync"])
def test_a_tree_goes_without_the_names_a_url_cannot_carry(
    endpoint: Endpoint, tree: Path, capsys: pytest.CaptureFixture[str], command: str,
) -> None:
    args = ["put", "-r", str(tree), "pp:/"] if command == "put" else ["sync", str(tree), "pp:/nu"]
    code, _out, err = run(capsys, *args)
    assert code == 0, err
    if endpoint.protocol == "sftp":  # the bytes are the name
        assert _stored(endpoint.root / "nu") == {b"good.txt": b"ok", b"bad\xff\xfe.txt": b"latin",
                                                 b"dir\xff/x.txt": b"x"}
        assert "warning" not in err
        return
    assert _stored(endpoint.root / "nu") == {b"good.txt": b"ok"}
    warnings = [line for line in err.splitlines() if line.startswith("xfer: warning: ")]
    why = "its name is not UTF-8 and cannot be put in a URL"
    assert sorted(warnings) == [f"xfer: warning: skipped {tree}/{SHOWN}: {why}",
                                f"xfer: warning: skipped {tree}/dir\\udcff: {why}"]
    assert "internal error" not in err


def test_put_of_such_a_file_is_its_own_failure(
    endpoint: Endpoint, tree: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    if endpoint.protocol == "sftp":  # the bytes are the name: it goes like any other file
        code, _out, err = run(capsys, "put", str(tree / BAD), "pp:/")
        assert code == 0, err
        assert _stored(endpoint.root) == {b"bad\xff\xfe.txt": b"latin"}
        return
    code, _out, err = run(capsys, "put", str(tree / BAD), "pp:/")
    assert code == ExitCode.USAGE
    one_error(err, f"cannot put {tree}/{SHOWN}: its name is not UTF-8 and cannot be put in a URL")
    code, _out, err = run(capsys, "put", str(tree / BAD), str(tree / "good.txt"), "pp:/in/")
    assert code == ExitCode.USAGE
    assert err.startswith(f"put {tree}/good.txt -> pp:/in/good.txt")  # the other file went
    one_error(err.split("\n", 1)[1], f"cannot put {tree}/{SHOWN}: its name is not UTF-8", "1 file(s) were moved")
    assert _stored(endpoint.root / "in") == {b"good.txt": b"ok"}


def test_a_top_folder_or_a_remote_path_that_is_not_utf8_is_one_error_line(
    endpoint: Endpoint, tree: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Review O, finding 9: ``put -r`` of a folder whose own name is not UTF-8 reached ``quote`` and
    ended as "unexpected internal error", and such a remote path blamed the local file.  One line,
    exit 2, naming the name; SFTP takes the bytes."""
    top = tree / os.fsdecode(b"dir\xff")
    code, _out, err = run(capsys, "put", "-r", str(top), "pp:/q/")
    if endpoint.protocol == "sftp":
        assert code == 0, err
        assert _stored(endpoint.root / "q") == {b"dir\xff/x.txt": b"x"}
        return
    assert code == ExitCode.USAGE, err
    one_error(err, "dir\\udcff", "not UTF-8 and cannot be put in a URL")
    remote = "pp:/" + os.fsdecode(b"d\xff") + "/x.txt"
    code, _out, err = run(capsys, "get", remote, str(tree / "x.txt"))
    assert code == ExitCode.USAGE, err
    one_error(err, "/d\\udcff/x.txt", "the name is not UTF-8")
