"""The CLI refuses what would hurt: removing a root, escaping folders, echoing secrets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run, save_ftps_profile
from xfer.adapters.base import Adapter, Capability, ConnectionSettings, Entry
from xfer.client import get as get_files
from xfer.errors import ExitCode, RemoteError
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[FTPSServer]:
    with FTPSServer(pki, root=tmp_path / "served") as srv:
        yield srv


@pytest.fixture
def profile(server: FTPSServer, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    save_ftps_profile(server, pki, tmp_path / "profiles", monkeypatch, name="box", root="box")
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    (server.root / "box" / "tree").mkdir(parents=True)
    (server.root / "box" / "tree" / "keep.txt").write_text("keep")
    return "box"


@pytest.mark.parametrize("spelling", ["/", "/.", "/./", "/tree/..", "tree/../"])
def test_rm_never_removes_the_connection_root(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, spelling: str
) -> None:
    code, _, err = run(capsys, "rm", "-r", f"{profile}:{spelling}")
    assert code == ExitCode.USAGE
    if spelling == "/":
        assert "refusing to remove the root of the connection (/box)" in err
    else:  # '.' and '..' are not resolved on the command line (review T, session 26)
        assert "without '.' or '..' in its path" in err
    assert (server.root / "box" / "tree" / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize(("command", "spelling"), [
    ("rm", "/gone/.."), ("rm", "/tree/."), ("get", "/gone/.."), ("mv", "/gone/.."), ("ls", "/tree/..")])
def test_dot_and_dot_dot_are_never_resolved_on_the_command_line(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path, command: str, spelling: str
) -> None:
    """Review T (session 26): ``rm -r NAME:/in/nothere/..`` removed /in, exit 0; ``get -r NAME:/in/sub/..``
    wrote into the local folder's parent; ``mv NAME:/c/nothere/.. NAME:/dst/`` moved /c."""
    (server.root / "box" / "dst").mkdir()
    argv = {"rm": ["rm", "-r", f"{profile}:{spelling}"], "ls": ["ls", f"{profile}:{spelling}"],
            "get": ["get", "-r", f"{profile}:{spelling}", str(tmp_path / "dl") + "/"],
            "mv": ["mv", f"{profile}:{spelling}", f"{profile}:/dst/"]}[command]
    code, _, err = run(capsys, *argv)
    assert code == ExitCode.USAGE, err
    assert "without '.' or '..' in its path" in err
    assert (server.root / "box" / "tree" / "keep.txt").read_text() == "keep"
    assert not (tmp_path / "dl").exists() and list((server.root / "box" / "dst").iterdir()) == []


def test_mv_bare_name_renames_in_place(capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer) -> None:
    code, _, err = run(capsys, "mv", f"{profile}:/tree/keep.txt", "kept.txt")
    assert code == 0, err
    assert (server.root / "box" / "tree" / "kept.txt").read_text() == "keep"


def test_mv_between_servers_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mv", "davs://127.0.0.1:34649/a.txt", "davs://127.0.0.1:3464/b.txt")
    assert code == ExitCode.USAGE and "mv works within one server" in err


def test_get_folder_without_r(
    capsys: pytest.CaptureFixture[str], profile: str, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "get", f"{profile}:/tree", str(tmp_path / "out"))
    assert code == ExitCode.REMOTE  # issue 11 item 4: a folder named where a file is wanted
    assert "/tree is a folder" in err and "hint: use -r" in err
    assert not (tmp_path / "out").exists()


def test_get_several_into_a_file(capsys: pytest.CaptureFixture[str], profile: str, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    source = f"{profile}:/tree/keep.txt"
    code, _, err = run(capsys, "get", source, source, str(tmp_path / "file.txt"))
    assert code == ExitCode.USAGE and "must be a folder" in err


def test_relative_identity_is_relative_to_the_current_folder(
    capsys: pytest.CaptureFixture[str], profile: str, pki: TestPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(pki.client_p12.parent)
    code, out, err = run(capsys, "ls", f"{profile}:/tree", "--identity", pki.client_p12.name, "--identity-password",
                         f"file:{pki.password_file.name}")
    assert code == 0, err
    assert "keep.txt" in out


@pytest.mark.parametrize("value", ["0", "nan", "inf", "-1"])
def test_timeout_must_be_finite_and_positive(capsys: pytest.CaptureFixture[str], profile: str, value: str) -> None:
    code, _, err = run(capsys, "ls", f"{profile}:/", "--timeout", value)
    assert code == ExitCode.USAGE  # a value typed on the command line (review A, defect 8)
    assert "--timeout must be a finite number of seconds above 0" in err


def test_profile_rm_cannot_escape(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    (tmp_path / "config" / "profiles").mkdir(parents=True)
    victim = tmp_path / "config" / "victim.toml"
    victim.write_text('url = "ftpes://h/"\n')
    code, _, _ = run(capsys, "profile", "rm", "../victim")
    assert code == ExitCode.CONFIG and victim.exists()


def test_password_in_url_never_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("ftpx://u:S3CRET-PW@127.0.0.1/", "ftpes://u:S3CRET-PW@127.0.0.1/"):
        code, out, err = run(capsys, "ls", url)
        assert code == ExitCode.USAGE and "S3CRET-PW" not in out + err


def test_unexpected_errors_show_no_library_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import xfer.client

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("https://user:token-123@internal.example/ leaked")

    monkeypatch.setattr(xfer.client, "connect", broken)
    code, _, err = run(capsys, "ls", "https://127.0.0.1/")
    assert code == ExitCode.ERROR
    assert "token-123" not in err and "unexpected internal error (ValueError)" in err


def test_profile_add_stores_absolute_paths(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(pki.folder)
    code, _, err = run(capsys, "profile", "add", "rel", "ftpes://h/", "--identity", "client.p12",
                       "--identity-password", "file:password.txt")
    assert code == 0, err
    text = (tmp_path / "config" / "profiles" / "rel.toml").read_text()
    assert f'identity = "{pki.client_p12}"' in text
    assert f'identity_password = "file:{pki.password_file}"' in text


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ls", "x:/", "--timeout", "soon")
    assert code == ExitCode.USAGE
    assert err.splitlines()[0].startswith("xfer: error: Invalid value for '--timeout'")
    assert err.splitlines()[1] == "hint: see `xfer ls --help`"


class _HostileListing(Adapter):
    """An adapter whose server lists a name that climbs out of the folder."""

    schemes = ("test",)
    capabilities = frozenset({Capability.LS, Capability.GET})

    def _ls(self, path: str) -> list[Entry]:
        if path == "/out":
            return [Entry(name="../../escaped.txt", path="/escaped.txt", type="file", size=1)]
        return [Entry(name="out", path="/out", type="directory")]


def test_recursive_get_refuses_names_with_paths(tmp_path: Path) -> None:
    settings = ConnectionSettings(scheme="test", host="h", port=1, root="/", ssl_context=create_ssl_context(None))
    with _HostileListing(settings) as remote, pytest.raises(RemoteError, match="not a plain file name"):
        get_files(remote, ["/out"], tmp_path / "dl", recursive=True)
    assert not (tmp_path / "escaped.txt").exists() and not os.path.exists(tmp_path.parent / "escaped.txt")


def test_flag_errors_name_the_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "ls", "https://127.0.0.1:1/", "--identity", str(tmp_path / "nope.p12"))
    assert code == ExitCode.TLS
    assert err.startswith(f"xfer: error: identity file {tmp_path / 'nope.p12'} does not exist")
    code, _, err = run(capsys, "ls", "https://127.0.0.1:1/", "--identity", str(tmp_path / "x.p12"),
                       "--identity-password", "hunter2")
    assert code == ExitCode.USAGE
    assert err.startswith("xfer: error: command line: --identity-password must be a secret reference")
    assert "hunter2" not in err


def test_put_r_of_dot_dot_goes_under_the_folders_own_name(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review T (session 26): ``put -r .. NAME:/up/`` from proj/sub joined ".." to the destination and
    wrote proj's files into the destination's parent, over the partner's own report.csv."""
    (server.root / "box" / "up").mkdir()
    (server.root / "box" / "report.csv").write_text("partner's own")
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    (tmp_path / "proj" / "report.csv").write_text("mine")
    (tmp_path / "proj" / "sub" / "k").write_text("k")
    monkeypatch.chdir(tmp_path / "proj" / "sub")
    code, _, err = run(capsys, "put", "-r", "..", f"{profile}:/up/")
    assert code == 0, err
    assert (server.root / "box" / "report.csv").read_text() == "partner's own"
    assert (server.root / "box" / "up" / "proj" / "report.csv").read_text() == "mine"
    assert (server.root / "box" / "up" / "proj" / "sub" / "k").read_text() == "k"
