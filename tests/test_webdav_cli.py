"""``xfer put/get/ls/mkdir/rm/mv`` with ``davs://`` URLs: exit codes, output, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import one_error, run
from xfer.errors import ExitCode
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import WebDAVServer

pytestmark = pytest.mark.usefixtures("config")


@pytest.fixture
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDAVServer]:
    with WebDAVServer(pki, root=tmp_path_factory.mktemp("dav-cli"), statuses={"/full/x.bin": 507}) as srv:
        yield srv


def _tls(pki: TestPKI, which: str = "client_p12") -> list[str]:
    return ["--identity", str(getattr(pki, which)), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca)]


def test_every_verb(capsys: pytest.CaptureFixture[str], server: WebDAVServer, pki: TestPKI, tmp_path: Path) -> None:
    base = server.url.rstrip("/")
    tls = _tls(pki)
    source = tmp_path / "a file #1.txt"
    source.write_text("payload")
    assert run(capsys, "mkdir", f"{base}/in box/sub", *tls)[0] == 0
    code, out, err = run(capsys, "put", str(source), f"{base}/in box/", *tls, "--quiet")
    assert (code, out) == (0, ""), err
    assert (server.root / "in box" / "a file #1.txt").read_text() == "payload"
    code, out, _ = run(capsys, "ls", f"{base}/in box", *tls, "--json")
    assert code == 0
    listing = {e["name"]: e for e in json.loads(out)}
    assert listing["a file #1.txt"]["size"] == 7 and listing["sub"]["type"] == "directory"
    code, out, _ = run(capsys, "ls", f"{base}/in box", *tls)
    assert code == 0 and "a file #1.txt" in out and "sub/" in out
    # In a URL "#" starts a fragment: users write %23 (and %25 for "%"), as with curl.
    code, _, err = run(capsys, "mv", f"{base}/in%20box/a file %231.txt", "/in box/renamed 100%.txt", *tls)
    assert code == 0, err
    assert (server.root / "in box" / "renamed 100%.txt").exists()
    code, _, err = run(capsys, "get", f"{base}/in box/renamed 100%25.txt", str(tmp_path / "back.txt"), *tls)
    assert code == 0, err
    assert (tmp_path / "back.txt").read_text() == "payload"
    code, _, err = run(capsys, "rm", f"{base}/in box", *tls)
    assert code == ExitCode.REMOTE
    one_error(err, "is a folder with 2 entries")
    assert "hint: remove it with everything in it: xfer rm -r" in err
    assert run(capsys, "rm", "-r", f"{base}/in box", *tls)[0] == 0
    assert list(server.root.iterdir()) == []


def test_errors_exit_codes(capsys: pytest.CaptureFixture[str], server: WebDAVServer, pki: TestPKI,
                           tmp_path: Path) -> None:
    base = server.url.rstrip("/")
    tls = _tls(pki)
    (tmp_path / "f").write_text("x")
    code, _, err = run(capsys, "get", f"{base}/missing.txt", str(tmp_path / "out"), *tls)
    assert code == ExitCode.REMOTE
    one_error(err, "/missing.txt does not exist (404")
    assert not (tmp_path / "out").exists()
    code, _, err = run(capsys, "put", str(tmp_path / "f"), f"{base}/full/x.bin", *tls)
    assert code == ExitCode.REMOTE
    one_error(err, "no space left on the server")
    # A missing destination folder is created (once), like rclone does.
    code, _, err = run(capsys, "put", str(tmp_path / "f"), f"{base}/no/such/folder/f", *tls)
    assert code == 0, err
    assert (server.root / "no" / "such" / "folder" / "f").read_text() == "x"
    code, _, err = run(capsys, "ls", base + "/", *_tls(pki, "client_untrusted_p12"))
    assert code == ExitCode.TLS
    one_error(err, server.server, "does not trust the issuer")
    code, _, err = run(capsys, "ls", base + "/", "--ca", str(pki.root_ca))
    assert code == ExitCode.TLS
    one_error(err, "requires a client certificate")
    code, _, err = run(capsys, "ls", base + "/", *_tls(pki)[:4], "--ca", str(pki.untrusted_ca))
    assert code == ExitCode.TLS
    one_error(err, "we do not trust the server's certificate")
    code, _, err = run(capsys, "put", str(tmp_path / "nope"), f"{base}/x", *tls)
    assert code == ExitCode.ERROR
    one_error(err, "nope does not exist")
    code, _, err = run(capsys, "ls", f"dav://{server.server}/")
    assert code == ExitCode.TLS
    one_error(err, "clear text")
