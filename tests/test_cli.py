"""The CLI contract: exit codes, one-line errors, no tracebacks, fast help, secrets never echoed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import one_error, run
from xfer.errors import ExitCode
from xfer.testing.pki import TestPKI

pytestmark = pytest.mark.usefixtures("config")


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from xfer.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('requests', 'urllib3', 'cryptography', "
        "'webdav3', 'pyftpdlib', 'asn1crypto') or m.startswith('xfer.adapters.')]\n"
        "print(heavy)\n"
    )
    # 60 columns: narrower than the stored pages, so Typer builds every command to render the help.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "COLUMNS": "60"})
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_python_dash_m(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "xfer", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("xfer ")


def test_identity_show(capsys: pytest.CaptureFixture[str], pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XFER_T_PW", pki.password)
    code, out, _ = run(capsys, "identity", "show", str(pki.client_p12), "--identity-password", "env:XFER_T_PW")
    assert code == 0
    assert "subject             CN=xfer-client,O=xfer test PKI" in out
    assert "client auth         yes" in out
    code, out, _ = run(capsys, "identity", "show", str(pki.client_p12), "--identity-password",
                       f"file:{pki.password_file}", "--json")
    data = json.loads(out)
    assert code == 0 and data["client_auth"] is True and data["chain"]


def test_identity_show_warns_on_expiring(
    capsys: pytest.CaptureFixture[str], pki: TestPKI
) -> None:
    code, _, err = run(capsys, "identity", "show", str(pki.client_expiring_p12), "--identity-password",
                       f"file:{pki.password_file}")
    assert code == 0 and "xfer: warning: client certificate 'xfer-client-expiring' expires in" in err


@pytest.mark.parametrize(
    ("bundle", "password", "needle"),
    [
        ("client_p12", "wrong", "the password is wrong"),
        ("corrupt_p12", None, "damaged or not a PKCS#12 file"),
        ("client_cert", None, "is a PEM file, not PKCS#12"),
    ],
)
def test_identity_errors_exit_4(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, bundle: str, password: str | None, needle: str
) -> None:
    args = ["identity", "show", str(getattr(pki, bundle))]
    if password:
        (tmp_path / "pw").write_text(password)
        (tmp_path / "pw").chmod(0o600)
        args += ["--identity-password", f"file:{tmp_path / 'pw'}"]
    code, _, err = run(capsys, *args)
    assert code == ExitCode.TLS
    one_error(err, needle)


def test_missing_identity_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "identity", "show", str(tmp_path / "nope.p12"))
    assert code == ExitCode.TLS
    one_error(err, "does not exist")


def test_literal_secret_refused_not_echoed(capsys: pytest.CaptureFixture[str], pki: TestPKI) -> None:
    code, out, err = run(capsys, "identity", "show", str(pki.client_p12), "--identity-password", "Sup3rSecret")
    assert code == ExitCode.CONFIG
    one_error(err, "must be a secret reference")
    assert "Sup3rSecret" not in err + out


def test_clear_text_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    code, _, err = run(capsys, "put", str(tmp_path / "f"), "ftp://127.0.0.1/in/")
    assert code == ExitCode.TLS
    one_error(err, "clear text")


def test_missing_local_file_before_connecting(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "put", str(tmp_path / "missing.txt"), "ftpes://192.0.2.1/in/")
    assert code == ExitCode.ERROR
    one_error(err, "missing.txt does not exist")


def test_expired_identity_refused_before_connecting(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("x")
    code, _, err = run(capsys, "put", str(tmp_path / "f"), "ftpes://192.0.2.1/in/", "--identity",
                       str(pki.client_expired_p12), "--identity-password", f"file:{pki.password_file}")
    assert code == ExitCode.TLS
    one_error(err, "expired on 20")


def test_unknown_profile_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ls", "nobody:/")
    assert code == ExitCode.CONFIG
    one_error(err, "no profile named 'nobody'")


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "put")
    assert code == ExitCode.USAGE and "put needs a local source and a remote destination" in err
    code, _, err = run(capsys, "mv", "partner:/x")
    assert code == ExitCode.USAGE and "Missing argument" in err


def test_traceback_only_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ls", "nobody:/")
    assert code == ExitCode.CONFIG and "Traceback" not in err
    code, _, err = run(capsys, "ls", "nobody:/", "--traceback")
    assert code == ExitCode.CONFIG and "Traceback" in err and "no profile named" in err


def test_ctrl_c_exit_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import xfer.client

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(xfer.client, "connect", interrupted)
    code, _, err = run(capsys, "ls", "https://127.0.0.1/")
    assert code == ExitCode.INTERRUPTED and "xfer: interrupted" in err


def test_profile_lifecycle(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, config: Path
) -> None:
    code, _, err = run(capsys, "profile", "add", "acme", "ftpes://127.0.0.1:2121/inbox", "--identity",
                       str(pki.client_p12), "--identity-password", "keyring", "--username", "acme",
                       "--password", "env:ACME_PW", "--no-ftps-upload-temp-name")
    assert code == 0, err
    path = config / "profiles" / "acme.toml"
    assert oct(path.stat().st_mode)[-3:] == "600"
    code, out, _ = run(capsys, "profile", "list", "--json")
    assert [row["name"] for row in json.loads(out)] == ["acme"]
    code, out, _ = run(capsys, "profile", "show", "acme", "--json")
    shown = json.loads(out)
    assert shown["password"] == "env:ACME_PW" and shown["identity_password"] == "keyring"
    assert shown["ftps"] == {"upload_temp_name": False}
    code, out, _ = run(capsys, "profile", "show", "acme")
    assert "upload_temp_name = false" in out and "epsv = true   # default" in out
    code, _, err = run(capsys, "profile", "add", "acme", "ftpes://h/")
    assert code == ExitCode.CONFIG and "already exists" in err
    code, _, _ = run(capsys, "profile", "rm", "acme")
    assert code == 0 and not path.exists()


def test_profile_add_refuses_missing_identity(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "profile", "add", "acme", "ftpes://h/", "--identity", str(tmp_path / "no.p12"))
    assert code == ExitCode.CONFIG
    one_error(err, "identity file", "does not exist")


def test_profile_add_refuses_literal_password(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(capsys, "profile", "add", "acme", "ftpes://h/", "--password", "hunter2")
    # Typed on the command line: a usage error, as for every command (review M-8; it was 3).
    assert code == ExitCode.USAGE and "hunter2" not in out + err
    assert not (config / "profiles" / "acme.toml").exists()


@pytest.mark.parametrize("flags", [["--timeout", "-1"], ["--tls-min", "1.1"], ["--retries", "-2"]])
def test_profile_add_calls_a_bad_typed_value_a_usage_error(
    capsys: pytest.CaptureFixture[str], config: Path, flags: list[str],
) -> None:
    """Review M-8: the README says a bad value typed on the command line is a usage error (2);
    ``ls --timeout -1`` gave 2 and ``profile add ... --timeout -1`` 3.  Nothing is saved."""
    code, _, err = run(capsys, "profile", "add", "acme", "ftpes://h/", *flags)
    assert code == ExitCode.USAGE, err
    one_error(err)
    assert not (config / "profiles" / "acme.toml").exists()


@pytest.mark.parametrize("json_output", [False, True])
def test_profile_list_with_a_profile_it_cannot_read_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_output: bool,
) -> None:
    """Review M-10: with every profile broken, ``profile list`` printed warnings, an empty table,
    and exited 0.  The readable ones are still listed; the exit code says one was not."""
    (tmp_path / "good.toml").write_text('url = "https://127.0.0.1:1/"\n')
    (tmp_path / "bad.toml").write_text("url = 1\n")
    monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path))
    code, out, err = run(capsys, "profile", "list", *(["--json"] if json_output else []))
    assert code == ExitCode.CONFIG, err
    assert "1 of 2 profile(s) could not be read" in err
    if json_output:
        assert {row["name"]: "error" in row for row in json.loads(out)} == {"good": False, "bad": True}
    else:
        assert "good" in out and "bad.toml: url must be a str" in err
