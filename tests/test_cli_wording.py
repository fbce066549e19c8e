"""Messages speak the caller's language, and typos get the same "did you mean" everywhere.

Issue 11, items 22-24: ``rm`` of a folder hinted "use recursive=True (-r)" to everyone;
``xfer.connect(identity_password="literal")`` answered with CLI wording; a backslash in a
remote path created a file named ``\\dir\\`` on FTPS; a profile name typo got no suggestion
while an unknown profile key did.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import xfer
from tests.helpers import one_error, run, save_ftps_profile
from xfer.errors import ConfigError, ExitCode, RemoteIsFolder, UsageError
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import WebDAVServer

pytestmark = pytest.mark.usefixtures("config")


def _tls(pki: TestPKI) -> dict[str, str]:
    return {"identity": str(pki.client_p12), "identity_password": f"file:{pki.password_file}", "ca": str(pki.root_ca)}


def _flags(options: dict[str, str]) -> list[str]:
    return [item for key, value in options.items() for item in ("--" + key.replace("_", "-"), value)]


@pytest.fixture(params=["ftpes", "davs"])
def served(request: pytest.FixtureRequest, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, str], Path]]:
    """(URL of the root, connection options, storage folder) of a server holding /box/keep.txt."""
    root = tmp_path_factory.mktemp("wording")
    (root / "box").mkdir()
    (root / "box" / "keep.txt").write_text("keep")
    options = _tls(pki)
    if request.param == "davs":
        with WebDAVServer(pki, root=root) as dav:
            yield dav.url, options, root
    else:
        with FTPSServer(pki, root=root) as ftps:
            monkeypatch.setenv("XFER_T_PW", ftps.password)
            yield f"ftpes://{ftps.user}@127.0.0.1:{ftps.port}/", {**options, "password": "env:XFER_T_PW"}, root


# -- rm of a folder: "-r" on the command line, recursive=True in Python ----------------------


def test_rm_folder_hint_speaks_cli(capsys: pytest.CaptureFixture[str],
                                   served: tuple[str, dict[str, str], Path]) -> None:
    url, options, root = served
    code, _, err = run(capsys, "rm", url + "box", *_flags(options))
    assert code == ExitCode.REMOTE
    one_error(err, "box")
    assert "hint: remove it with everything in it: xfer rm -r" in err
    assert "recursive=True" not in err
    assert (root / "box" / "keep.txt").exists()


def test_rm_folder_hint_speaks_python(served: tuple[str, dict[str, str], Path]) -> None:
    url, options, root = served
    overrides: dict[str, Any] = dict(options)  # connect's **overrides: option name -> value
    with xfer.connect(url, **overrides) as remote, pytest.raises(RemoteIsFolder) as caught:
        remote.rm("/box")
    assert caught.value.hint == "pass recursive=True to remove it with everything in it"
    assert caught.value.exit_code == ExitCode.REMOTE
    assert (root / "box" / "keep.txt").exists()


# -- library callers get parameter names, the CLI gets flags ----------------------------------


@pytest.mark.parametrize("option", ["identity_password", "password"])
def test_literal_secret_in_python_names_the_parameter(option: str) -> None:
    with pytest.raises(ConfigError) as caught:
        overrides: dict[str, Any] = {option: "hunter2"}
        xfer.connect("https://example.invalid/", **overrides)
    message, hint = caught.value.message, caught.value.hint or ""
    assert message == f"xfer.connect(): {option} must be a secret reference, not a literal value"
    assert "--" not in message and "command line" not in message and "hunter2" not in message
    assert "xfer.Secret(" in hint


def test_literal_secret_on_the_command_line_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ls", "https://example.invalid/", "--identity-password", "hunter2")
    assert code == ExitCode.USAGE  # the flag holds the mistake (review A, defect 8)
    one_error(err, "command line: --identity-password must be a secret reference")
    assert "hunter2" not in err and "xfer.Secret" not in err


def test_pin_on_a_url_target_names_the_flag_not_a_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ls", "https://example.invalid/", "--pin", "sha256:00")
    assert code == ExitCode.USAGE
    line = one_error(err, "command line: --pin 'sha256:00' is not a SHA-256 fingerprint")
    assert "url-target" not in line
    with pytest.raises(ConfigError, match=r"^xfer.connect\(\): pin 'sha256:00' is not"):
        xfer.connect("https://example.invalid/", pin="sha256:00")


def test_url_target_problems_name_the_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        xfer.connect("https://example.invalid/in/", ca=str(tmp_path / "missing.pem"))
    assert caught.value.message == f"xfer.connect(): ca file {tmp_path / 'missing.pem'} does not exist"
    code, _, err = run(capsys, "ls", "https://example.invalid/", "--password", "env:X")
    # The flag made it so: the command line, with what it was combined with (review A, defect 8).
    assert code == ExitCode.USAGE
    line = one_error(err, "command line: password is set but username is not (with URL https://example.invalid:443/)")
    assert "url-target" not in line


# -- backslashes in remote paths: refused the same way for every protocol ---------------------


@pytest.mark.parametrize(
    ("target", "suggestion"),
    [
        ("partner:\\in\\", "partner:/in/"),
        ("partner:/in\\sub\\x.txt", "partner:/in/sub/x.txt"),
        ("ftpes://h/in\\x.txt", "ftpes://h/in/x.txt"),
        ("davs://h/in%5Cx.txt", "davs://h/in/x.txt"),
        ("https://h/a\\b", "https://h/a/b"),
    ],
)
def test_backslash_in_a_remote_path_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str,
                                               suggestion: str) -> None:
    (tmp_path / "f.txt").write_text("x")
    for args in (["put", str(tmp_path / "f.txt"), target], ["get", target, str(tmp_path / "out")], ["ls", target],
                 ["rm", target], ["mkdir", target]):
        code, _, err = run(capsys, *args)
        assert code == ExitCode.USAGE, (args, err)
        one_error(err, "remote paths are separated by '/', not by a backslash")
        assert f"hint: write {suggestion}" in err
    assert not (tmp_path / "out").exists()


def test_backslash_in_mv_destination_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for destination in ("new\\name.txt", "/in\\x", "partner:/a\\b"):
        code, _, err = run(capsys, "mv", "partner:/x.txt", destination)
        assert code == ExitCode.USAGE, err
        one_error(err, "not by a backslash")


def test_ftps_server_never_sees_a_backslash_name(capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f.txt").write_text("x")
    with FTPSServer(pki, root=tmp_path / "srv") as srv:
        profile = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        for target in (f"{profile}:\\dir\\", f"{profile}:/in\\f.txt"):
            code, _, err = run(capsys, "put", str(tmp_path / "f.txt"), target)
            assert code == ExitCode.USAGE, err
            one_error(err, target, "not by a backslash")
        assert list((tmp_path / "srv").iterdir()) == []
        assert not any("\\" in command for command in srv.commands)


def test_parse_target_refuses_backslash_for_library_callers() -> None:
    from xfer.urls import parse_target

    with pytest.raises(UsageError, match="not by a backslash"):
        parse_target("partner:\\dir\\")
    assert parse_target("partner:/dir/").path == "/dir/"


# -- "did you mean" for profile names, as for keys --------------------------------------------


def _write(folder: Path, name: str, body: str = 'url = "https://example.invalid/"\n') -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text(body)


def test_profile_name_typo_gets_did_you_mean(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    _write(config / "profiles", "partner")
    code, _, err = run(capsys, "ls", "partnr:/")
    assert code == ExitCode.CONFIG
    one_error(err, "no profile named 'partnr'")
    assert "hint: did you mean 'partner'?" in err
    code, _, err = run(capsys, "profile", "rm", "partnr")
    assert code == ExitCode.CONFIG and "hint: did you mean 'partner'?" in err
    code, _, err = run(capsys, "ls", "zzzzzz:/")
    assert code == ExitCode.CONFIG and "did you mean" not in err and "xfer profile add" in err


def test_profile_key_typo_uses_the_same_helper(config: Path) -> None:
    from xfer.profiles import did_you_mean, load_profile

    _write(config / "profiles", "partner", 'url = "https://example.invalid/"\nidentiy = "x.p12"\n')
    with pytest.raises(ConfigError) as caught:
        load_profile("partner")
    assert caught.value.hint == did_you_mean("identiy", ["identity", "ca"]) == "did you mean 'identity'?"


# -- siblings: bad input that reached the funnel as an internal error, or was accepted ---------


def test_malformed_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("https://[::1", "https://user:hunter2@[::1/x"):
        code, _, err = run(capsys, "ls", url)
        assert code == ExitCode.USAGE, err
        one_error(err, "not a valid URL")
        assert "hunter2" not in err and "internal error" not in err


def test_max_listing_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("0", "-5"):
        code, _, err = run(capsys, "profile", "add", "partner", "https://example.invalid/", "--max-listing", value)
        assert code == ExitCode.USAGE, err  # typed on the command line (review M-8)
        one_error(err, "max_listing must be a whole number above 0")


# -- a bad value: exit 2 typed on the command line, exit 3 in a profile (review A, defects 7, 8) --


@pytest.mark.parametrize(("flag", "value", "key", "toml", "words"), [
    ("--timeout", "-1", "timeout", "-1.0", "timeout must be a finite number of seconds above 0"),
    ("--retries", "-1", "retries", "-1", "retries must be a whole number of 0 or more"),
    ("--limit-rate", "10X", "limit_rate", '"10X"', "limit_rate '10X' is not a rate"),
    ("--tls-min", "1.1", "tls_min", '"1.1"', "tls_min must be one of 1.2, 1.3, not '1.1'"),
    ("--pin", "sha256:zz", "pin", '"sha256:zz"', "pin 'sha256:zz' is not a SHA-256 fingerprint"),
    ("--proxy", "ftp://h:1", "proxy", '"ftp://h:1"', "proxy 'ftp://h:1': unsupported kind ftp://"),
    ("--password", "hunter2", "password", '"hunter2"', "password must be a secret reference"),
])
def test_a_bad_value_is_a_usage_error_on_the_command_line_and_a_config_error_in_a_profile(
    capsys: pytest.CaptureFixture[str], config: Path, flag: str, value: str, key: str, toml: str, words: str
) -> None:
    """The README: "2 usage · 3 config/profile".  Values Typer checks were exit 2 and values xfer
    checks exit 3, whichever the user had typed."""
    _write(config / "profiles", "partner")
    code, _, err = run(capsys, "ls", "partner:/", "--username", "u", flag, value)
    assert code == ExitCode.USAGE, err
    one_error(err, f"command line: {flag}{words.removeprefix(key)}")
    _write(config / "profiles", "partner", f'url = "https://example.invalid/"\nusername = "u"\n{key} = {toml}\n')
    code, _, err = run(capsys, "ls", "partner:/")
    assert code == ExitCode.CONFIG, err
    one_error(err, f"partner.toml: {words}")
    assert "hunter2" not in err


def test_a_tls_range_typed_on_the_command_line_is_not_blamed_on_the_profile(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """It said "<profile>.toml: tls_max 1.2 is lower than tls_min 1.3" for two flags."""
    _write(config / "profiles", "partner")
    code, _, err = run(capsys, "ls", "partner:/", "--tls-min", "1.3", "--tls-max", "1.2")
    assert code == ExitCode.USAGE, err
    line = one_error(err, "command line: --tls-max 1.2 is lower than --tls-min 1.3")
    assert "partner.toml" not in line
    _write(config / "profiles", "partner", 'url = "https://example.invalid/"\ntls_min = "1.3"\n')
    code, _, err = run(capsys, "ls", "partner:/", "--tls-max", "1.2")
    assert code == ExitCode.USAGE, err
    one_error(err, "command line: --tls-max 1.2 is lower than tls_min 1.3 in ", "partner.toml")
    _write(config / "profiles", "partner", 'url = "https://example.invalid/"\ntls_min = "1.3"\ntls_max = "1.2"\n')
    code, _, err = run(capsys, "ls", "partner:/")
    assert code == ExitCode.CONFIG, err
    one_error(err, "partner.toml: tls_max 1.2 is lower than tls_min 1.3")
