"""`xfer` commands over FTPS: the CLI contract (exit codes, one line, no partial files) end to end."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import one_error, run, save_ftps_profile
from xfer.errors import ExitCode
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[FTPSServer]:
    with FTPSServer(pki, root=tmp_path / "served") as srv:
        yield srv


@pytest.fixture
def profile(server: FTPSServer, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A saved profile for the server; its password comes from the environment."""
    return save_ftps_profile(server, pki, tmp_path / "profiles", monkeypatch)


def test_put_ls_get_mv_rm(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path
) -> None:
    local = tmp_path / "invoice.edi"
    local.write_bytes(b"ISA*00*" + b"x" * 5000)
    code, out, err = run(capsys, "put", str(local), f"{profile}:/inbox/", "--json")
    assert code == 0, err
    result = json.loads(out)[0]
    assert result["remote"] == "/inbox/invoice.edi" and result["size"] == 5007
    assert result["data_sessions_resumed"] == result["data_connections"] >= 1
    assert (server.root / "inbox" / "invoice.edi").read_bytes() == local.read_bytes()
    code, out, _ = run(capsys, "ls", f"{profile}:/inbox", "--json")
    assert [(e["name"], e["size"]) for e in json.loads(out)] == [("invoice.edi", 5007)]
    assert run(capsys, "mv", f"{profile}:/inbox/invoice.edi", "/inbox/done.edi")[0] == 0
    back = tmp_path / "back"
    back.mkdir()
    code, _, err = run(capsys, "get", f"{profile}:/inbox/done.edi", f"{back}/")
    assert code == 0, err
    assert (back / "done.edi").read_bytes() == local.read_bytes()
    assert run(capsys, "rm", f"{profile}:/inbox/done.edi")[0] == 0
    assert not (server.root / "inbox" / "done.edi").exists()


def test_recursive_put_and_get(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path
) -> None:
    tree = tmp_path / "batch"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    assert run(capsys, "put", "-r", str(tree), f"{profile}:/up/")[0] == 0
    assert (server.root / "up" / "batch" / "sub" / "b.txt").read_text() == "b"
    out_dir = tmp_path / "down"
    code, _, err = run(capsys, "get", "-r", f"{profile}:/up/batch", str(out_dir) + "/")
    assert code == 0, err
    assert (out_dir / "batch" / "sub" / "b.txt").read_text() == "b"
    assert (out_dir / "batch" / "a.txt").read_text() == "a"


@pytest.mark.skipif(os.sep == "\\" or os.altsep == "\\", reason="a backslash separates folders here")
def test_recursive_get_keeps_names_with_a_backslash(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path
) -> None:
    """Review finding: ``Q3\\report.csv`` (legal on a POSIX server) was silently skipped, exit 0."""
    (server.root / "out").mkdir(parents=True)
    (server.root / "out" / "ok.txt").write_text("1")
    (server.root / "out" / "Q3\\report.csv").write_text("22")
    code, _, err = run(capsys, "get", "-r", f"{profile}:/out", str(tmp_path / "down") + "/")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "down" / "out").iterdir()) == ["Q3\\report.csv", "ok.txt"]
    assert (tmp_path / "down" / "out" / "Q3\\report.csv").read_text() == "22"


def test_url_target_with_flags(
    capsys: pytest.CaptureFixture[str], server: FTPSServer, pki: TestPKI, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XFER_T_FTP_PW", server.password)
    code, _, err = run(capsys, "ls", server.url, "--identity", str(pki.client_p12), "--identity-password",
                         f"file:{pki.password_file}", "--ca", str(pki.root_ca), "--username", server.user,
                         "--password", "env:XFER_T_FTP_PW")
    assert code == 0, err


@pytest.mark.parametrize(
    ("override", "code", "needle"),
    [
        ({"XFER_T_FTP_PW": "wrong"}, ExitCode.REMOTE, "wrong user name or password"),
        ({"identity": "client_untrusted_p12"}, ExitCode.TLS, "does not trust the issuer"),
        ({"identity": "client_expired_p12"}, ExitCode.TLS, "expired on"),
        ({"ca": "untrusted_ca"}, ExitCode.TLS, "we do not trust the server's certificate"),
    ],
)
def test_bad_inputs(
    capsys: pytest.CaptureFixture[str], server: FTPSServer, pki: TestPKI, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, override: dict[str, str], code: int, needle: str,
) -> None:
    monkeypatch.setenv("XFER_T_FTP_PW", override.get("XFER_T_FTP_PW", server.password))
    identity = getattr(pki, override.get("identity", "client_p12"))
    ca = getattr(pki, override.get("ca", "root_ca"))
    target = tmp_path / "keep.txt"
    target.write_text("old")
    (server.root / "remote.txt").write_text("new")
    got, _, err = run(capsys, "get", server.url + "remote.txt", str(target), "--identity", str(identity),
                      "--identity-password", f"file:{pki.password_file}", "--ca", str(ca), "--username",
                      server.user, "--password", "env:XFER_T_FTP_PW")
    assert got == code
    assert needle in one_error(err)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if "xfer-part" in p.name] == []


def test_remote_missing(capsys: pytest.CaptureFixture[str], profile: str, tmp_path: Path) -> None:
    code, _, err = run(capsys, "get", f"{profile}:/nope.txt", str(tmp_path / "x"))
    assert code == ExitCode.REMOTE
    one_error(err)
    assert not (tmp_path / "x").exists()


def test_password_never_printed(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XFER_T_FTP_PW", "Very-Secret-Wrong-9")
    code, out, err = run(capsys, "ls", f"{profile}:/")
    assert code == ExitCode.REMOTE
    assert "Very-Secret-Wrong-9" not in out + err


@pytest.mark.parametrize("missing", ["/missing.csv", "/in/missing.csv", "/nowhere/x.csv"])
def test_ls_of_a_missing_path_says_it_does_not_exist(
    capsys: pytest.CaptureFixture[str], server: FTPSServer, profile: str, missing: str
) -> None:
    """pyftpdlib refuses MLSD of a file or of nothing alike ("501 No such directory"): MLST tells."""
    (server.root / "in").mkdir()
    code, _, err = run(capsys, "ls", f"{profile}:{missing}")
    assert code == ExitCode.REMOTE
    one_error(err, f"{missing} does not exist")
    assert "501" not in err
