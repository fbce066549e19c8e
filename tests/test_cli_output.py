"""What the CLI prints for humans is safe for a terminal; ``--json`` keeps the exact text.

A hostile server chooses file names and reply texts.  Printed raw, ``ESC]52`` writes the
user's clipboard, ``ESC]0`` sets the window title and ``ESC[2K`` + CR rewrites the line
(a forged "xfer: ok").  These tests serve such names and replies from the in-process
servers and check every human channel: listings, result lines, errors, hints, warnings
and progress labels.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyftpdlib.handlers import TLS_FTPHandler

from tests.helpers import one_error, run
from xfer.cli.common import err_console, printable, progress, say, warn
from xfer.errors import ExitCode, RemoteError
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import WebDAVServer

pytestmark = pytest.mark.usefixtures("config")

CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07clip.txt"
TITLE = "\x1b]0;pwned\x07title.txt"
BIDI = "invoice\u202etxt.exe"
C1 = "csi\x9b2Jname.txt"
FORGED = "\x1b[2K\rxfer: ok"
#: What must never reach a terminal from a server: ESC, BEL, CR, C1 CSI, a bidi override.
RAW = re.compile("[\x1b\x07\r\x9b\u202e]")


def _tls(pki: TestPKI) -> list[str]:
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca)]


@pytest.fixture
def dav(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDAVServer]:
    root = tmp_path_factory.mktemp("hostile-dav")
    (root / "in").mkdir()
    for name in (CLIPBOARD, TITLE, BIDI, C1):
        (root / "in" / name).write_text("data")
    (root / "lines").mkdir()
    (root / "lines" / FORGED).write_text("data")  # a CR: listable, never downloadable
    with WebDAVServer(pki, root=root) as srv:
        yield srv


def test_printable_escapes_controls_only() -> None:
    assert printable("a\x1b]0;t\x07b") == "a\\x1b]0;t\\x07b"
    assert printable("\r\n\t\x00\x7f\x9b") == "\\x0d\\x0a\\x09\\x00\\x7f\\x9b"
    assert printable("x\u202ey\u2066z\u2028") == "x\\u202ey\\u2066z\\u2028"
    assert printable("Grüße, 請求書 C:\\data") == "Grüße, 請求書 C:\\data"
    # Text with a non-printable but harmless character still goes through the escaper whole.
    assert printable("a\u00a0b\x1bc") == "a\u00a0b\\x1bc"


def test_every_unsafe_character_is_one_isprintable_refuses() -> None:
    """printable() returns text that str.isprintable() accepts unchanged (start-up, issue 14):
    right only while no character of the unsafe class is printable."""
    import re

    from xfer.cli.common import UNSAFE_CHARACTERS

    everything_printable = "".join(c for c in map(chr, range(0x110000)) if c.isprintable())
    assert re.search(UNSAFE_CHARACTERS, everything_printable) is None
    assert all(not chr(c).isprintable() for c in (0x00, 0x1B, 0x7F, 0x9B, 0x061C, 0x2028, 0x202E, 0xD800))


def test_ftps_listing_names_are_escaped(capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    names = {CLIPBOARD, TITLE, BIDI}  # FTP itself cannot carry CR or LF in a name
    for name in names:
        (tmp_path / "srv" / "in").mkdir(parents=True, exist_ok=True)
        (tmp_path / "srv" / "in" / name).write_text("data")
    with FTPSServer(pki, root=tmp_path / "srv") as srv:
        monkeypatch.setenv("XFER_T_PW", srv.password)
        url = f"ftpes://{srv.user}@127.0.0.1:{srv.port}/in/"
        flags = [*_tls(pki), "--password", "env:XFER_T_PW"]
        code, out, err = run(capsys, "ls", url, *flags)
        assert code == 0, err
        assert not RAW.search(out), repr(out)
        assert all(printable(name) in out for name in names)
        code, out, err = run(capsys, "ls", url, *flags, "--json")
    assert code == 0, err
    assert {entry["name"] for entry in json.loads(out)} == names


def test_ls_escapes_names_and_json_keeps_them(capsys: pytest.CaptureFixture[str], dav: WebDAVServer,
                                              pki: TestPKI) -> None:
    base = dav.url.rstrip("/")
    for folder, names in (("in", {CLIPBOARD, TITLE, BIDI, C1}), ("lines", {FORGED})):
        code, out, err = run(capsys, "ls", f"{base}/{folder}/", *_tls(pki))
        assert code == 0, err
        assert not RAW.search(out), repr(out)
        for name in names:
            assert printable(name) in out
        code, out, err = run(capsys, "ls", f"{base}/{folder}/", *_tls(pki), "--json")
        assert code == 0, err
        assert {entry["name"] for entry in json.loads(out)} == names
    assert "\\x1b[2K\\x0dxfer: ok" in run(capsys, "ls", f"{base}/lines/", *_tls(pki))[1]


def test_get_result_lines_escape_names(capsys: pytest.CaptureFixture[str], dav: WebDAVServer, pki: TestPKI,
                                       tmp_path: Path) -> None:
    code, out, err = run(capsys, "get", "-r", f"{dav.url}in", str(tmp_path) + "/", *_tls(pki))
    assert code == 0, err
    assert not RAW.search(err), repr(err)
    assert printable(CLIPBOARD) in err and printable(TITLE) in err
    # The files themselves keep their exact names: only the display is escaped.
    assert {p.name for p in (tmp_path / "in").iterdir()} == {CLIPBOARD, TITLE, BIDI, C1}
    code, out, err = run(capsys, "get", "-r", f"{dav.url}in", str(tmp_path / "j") + "/", *_tls(pki), "--json")
    assert code == 0, err
    assert {Path(r["local"]).name for r in json.loads(out)} == {CLIPBOARD, TITLE, BIDI, C1}


def test_error_naming_a_hostile_path_is_escaped(capsys: pytest.CaptureFixture[str], dav: WebDAVServer,
                                                pki: TestPKI, tmp_path: Path) -> None:
    code, _, err = run(capsys, "get", f"{dav.url}%1B]0;pwned%07gone.txt", str(tmp_path / "x"), *_tls(pki))
    assert code == ExitCode.REMOTE
    assert not RAW.search(err), repr(err)
    one_error(err, "\\x1b]0;pwned\\x07gone.txt")


class _HostileReplyHandler(TLS_FTPHandler):  # type: ignore[misc]  # pyftpdlib is untyped
    """Answers every download with a 550 whose text carries terminal escapes."""

    def ftp_RETR(self, file: str) -> None:
        self.respond("550 \x1b]0;pwned\x07 no such file" + "\x1b[2K" + "\x9b2J")


def test_server_reply_text_in_errors_is_escaped(capsys: pytest.CaptureFixture[str], pki: TestPKI,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "f.txt").write_text("x")
    with FTPSServer(pki, root=tmp_path / "srv", handler_class=_HostileReplyHandler) as srv:
        monkeypatch.setenv("XFER_T_PW", srv.password)
        url = f"ftpes://{srv.user}@127.0.0.1:{srv.port}/f.txt"
        code, _, err = run(capsys, "get", url, str(tmp_path / "out"), *_tls(pki), "--password", "env:XFER_T_PW")
    assert code == ExitCode.REMOTE, err
    assert not RAW.search(err), repr(err)
    assert "\\x1b]0;pwned\\x07" in one_error(err)


def test_hints_and_warnings_are_escaped(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import xfer.cli.transfer

    def hostile(*args: Any, **kwargs: Any) -> None:
        raise RemoteError("refused \x1b]52;c;ZXZpbA==\x07", hint="ask \x1b[2K\rxfer: ok")

    monkeypatch.setattr(xfer.cli.transfer, "_open", hostile)
    code, _, err = run(capsys, "ls", "partner:/")
    assert code == ExitCode.REMOTE
    assert not RAW.search(err), repr(err)
    assert "hint: ask \\x1b[2K\\x0dxfer: ok" in err
    warn("server says \x1b]0;t\x07")
    assert capsys.readouterr().err == "xfer: warning: server says \\x1b]0;t\\x07\n"


def test_a_line_reads_the_same_with_and_without_a_progress_console(capsys: pytest.CaptureFixture[str]) -> None:
    """say() writes directly until a progress bar made rich's console (start-up, issue 14), then
    through it: the same text either way, rich's markup and emoji codes left as they are."""
    line = "put :smile:.txt [bold]x[/] \x1b[2K -> partner:/in/"
    err_console.cache_clear()
    say(line)
    direct = capsys.readouterr().err
    err_console()  # what progress(True) does first
    say(line)
    assert capsys.readouterr().err == direct == "put :smile:.txt [bold]x[/] \\x1b[2K -> partner:/in/\n"


def test_progress_label_is_escaped_and_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    # Read as markup, "[bold]" would vanish (and "[/]" would make rich raise).
    with progress(True) as factory:
        callback = factory("/tmp/x", f"/in/[bold]{TITLE}", 4)
        assert callback is not None
        callback(4, 4)
    err = capsys.readouterr().err
    assert not RAW.search(err), repr(err)
    assert "[bold]\\x1b]0;pwned\\x07title.txt" in err


# -- exit codes never change with --traceback (item 19) ------------------------------------


def test_traceback_keeps_the_exit_code(capsys: pytest.CaptureFixture[str], dav: WebDAVServer, pki: TestPKI,
                                       tmp_path: Path) -> None:
    code, _, err = run(capsys, "get", f"{dav.url}missing.txt", str(tmp_path / "x"), *_tls(pki), "--traceback")
    assert code == ExitCode.REMOTE
    assert "Traceback" in err and "RemoteNotFound" in err
    assert "xfer: error: " in err and "missing.txt does not exist" in err
    code, _, err = run(capsys, "--traceback", "ls", "nobody:/")
    assert code == ExitCode.CONFIG and "Traceback" in err and "no profile named" in err


def test_traceback_of_an_internal_error_exits_1(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import xfer.cli.transfer

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(xfer.cli.transfer, "_open", broken)
    code, _, err = run(capsys, "ls", "partner:/", "--traceback")
    assert code == ExitCode.ERROR
    assert "ZeroDivisionError: boom" in err and "unexpected internal error (ZeroDivisionError)" in err


def test_traceback_through_the_console_script(tmp_path: Path) -> None:
    """What a script sees: the process exit status, not just main()'s return value."""
    import subprocess
    import sys

    env = {**os.environ, "XFER_CONFIG_DIR": str(tmp_path), "XFER_PROFILE_PATH": ""}
    done = subprocess.run([sys.executable, "-m", "xfer", "ls", "nobody:/", "--traceback"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert "Traceback" in done.stderr


# -- put/get without a destination say so in user terms (item 22) ---------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["get", "partner:/x"], "get partner:/x: missing the local destination"),
        (["get", "./here"], "get to ./here: missing the remote source"),
        (["put", "file.txt"], "put file.txt: missing the remote destination"),
        (["put", "partner:/in/"], "put to partner:/in/: missing the local source"),
        (["get"], "get needs a remote source and a local destination"),
        (["put"], "put needs a local source and a remote destination"),
    ],
)
def test_missing_source_or_destination_in_user_terms(capsys: pytest.CaptureFixture[str], args: list[str],
                                                     needle: str) -> None:
    code, _, err = run(capsys, *args)
    assert code == ExitCode.USAGE
    line = one_error(err, needle)
    assert "argument" not in line.lower() and "sources" not in line
    assert "hint: e.g. xfer " in err


def test_secret_file_warning_goes_through_the_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """xfer.secrets warned with a bare print(); the CLI routes it through its escaped warn()."""
    secret = tmp_path / "pw\x1b]0;pwned\x07.txt"
    secret.write_text("not-the-password\n")
    secret.chmod(0o644)
    code, _, err = run(capsys, "ls", "https://127.0.0.1:9/", "--username", "u", "--password", f"file:{secret}",
                       "--timeout", "2")
    assert code == ExitCode.CONNECT, err
    assert not RAW.search(err), repr(err)
    assert "xfer: warning: secret file " in err and "pw\\x1b]0;pwned\\x07.txt is readable by other users" in err
    from xfer import secrets

    assert secrets.warn is not warn  # the program's own way of warning is back after the run (review C)


# -- results that cannot be written (review M-3) -----------------------------------------------


def _xfer_writing_to(stdout: str, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """``python -m xfer ARGS`` with stdout on ``stdout`` ("closed": no stdout at all)."""
    import subprocess
    import sys

    if stdout == "closed":
        done = subprocess.run([sys.executable, "-m", "xfer", *args], stdin=subprocess.DEVNULL,
                              stdout=None, stderr=subprocess.PIPE, text=True, env=env, check=False,
                              preexec_fn=lambda: os.close(1))
    else:
        with open(stdout, "w") as out:
            done = subprocess.run([sys.executable, "-m", "xfer", *args], stdout=out, stderr=subprocess.PIPE,
                                  text=True, env=env, check=False)
    return done.returncode, done.stderr


@pytest.mark.parametrize("json_output", [False, True])
@pytest.mark.parametrize("stdout", ["/dev/full", "closed"])
def test_a_result_stdout_cannot_take_is_one_error_line(
    dav: WebDAVServer, pki: TestPKI, tmp_path: Path, stdout: str, json_output: bool,
) -> None:
    """A listing into a full disk was "unexpected internal error (OSError) ... a bug in xfer";
    with no stdout at all (``>&-``) it printed nothing and exited 0: a script lost its listing."""
    env = {**os.environ, "XFER_CONFIG_DIR": str(tmp_path), "XFER_PROFILE_PATH": ""}
    args = ["ls", f"{dav.url}/in/", *_tls(pki), *(["--json"] if json_output else [])]
    code, err = _xfer_writing_to(stdout, args, env)
    assert code == ExitCode.ERROR, err
    line = one_error(err, "standard output")
    assert "bug" not in err and "Traceback" not in err, err
    assert ("No space left on device" in line) == (stdout == "/dev/full"), line


def test_profile_list_into_a_full_disk_and_through_a_pipe(tmp_path: Path) -> None:
    """``profile list`` into a full disk is one error line; piped, its values are never cut
    to 80 columns with "…" (a grep over the table would read the cut values)."""
    import subprocess
    import sys

    env = {**os.environ, "XFER_CONFIG_DIR": str(tmp_path), "XFER_PROFILE_PATH": ""}
    url = "https://partner-with-a-rather-long-host-name.example.com:8443/outbox/for/this/customer/"
    added = subprocess.run([sys.executable, "-m", "xfer", "profile", "add", "far", url], capture_output=True,
                           text=True, env=env, check=False)
    assert added.returncode == 0, added.stderr
    code, err = _xfer_writing_to("/dev/full", ["profile", "list"], env)
    assert code == ExitCode.ERROR and "No space left on device" in one_error(err, "standard output"), err
    piped = subprocess.run([sys.executable, "-m", "xfer", "profile", "list"], capture_output=True, text=True,
                           env=env, check=False)
    assert url in piped.stdout and "…" not in piped.stdout, piped.stdout


@pytest.mark.parametrize("protocol", ["https", "davs", "ftpes", "as2"])
def test_an_upload_reports_the_tls_version_it_went_on(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str,
) -> None:
    """Review M-7: ``tls_version`` was null for every HTTPS, WebDAV and AS2 upload (``get``
    reported it): the README promises the same keys on every protocol, and a script auditing
    TLS versions saw none.  Also for an upload from standard input (a chunked PUT)."""
    import io
    import sys

    import tomli_w

    from xfer.testing import serve

    with serve(protocol, pki, root=tmp_path / "served", name="pp") as served:
        folder = tmp_path / "profiles"
        folder.mkdir()
        (folder / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
        (served.root / "in").mkdir(exist_ok=True)
        (tmp_path / "up.txt").write_text("hello\n")
        monkeypatch.chdir(tmp_path)
        sources = ["up.txt"] + (["-"] if protocol in ("https", "davs") else [])
        for source in sources:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\n")))
            code, out, err = run(capsys, "put", source, "pp:/in/up.txt", "--json")
            assert code == 0, err
            (result,) = json.loads(out)
            assert result["tls_version"] in ("TLSv1.2", "TLSv1.3"), (source, result)
            assert result["local"] == source  # as typed (AS2 gave the absolute path: review M-10)
