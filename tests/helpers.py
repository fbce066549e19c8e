"""Helpers shared by the CLI tests: run ``xfer`` in-process, check its one-line errors, save profiles."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from xfer.cli import main
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``xfer ARGS`` in this process; return the exit code, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str, *needles: str) -> str:
    """Assert stderr is one ``xfer: error:`` line (plus hints/warnings), no traceback; return that line."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("xfer: error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith(("xfer: error: ", "hint: ", "xfer: warning: ")) for line in lines), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]


def save_ftps_profile(
    server: FTPSServer,
    pki: TestPKI,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    name: str = "partner",
    root: str = "",
) -> str:
    """Write a profile for an in-process FTPS server into ``folder`` and put it on the search path.

    The FTP password travels by reference (``env:XFER_T_FTP_PW``), as users would keep it.
    """
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(
        f'url = "{server.url}{root}"\nidentity = "{pki.client_p12}"\n'
        f'identity_password = "file:{pki.password_file}"\nca = "{pki.root_ca}"\n'
        f'username = "{server.user}"\npassword = "env:XFER_T_FTP_PW"\n'
    )
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_T_FTP_PW", server.password)
    return name


#: Python source to run first in a child process to act like `pip install xfer` without the
#: `testing` extra: its modules cannot be imported (whether or not they are installed here).
WITHOUT_TESTING_EXTRA = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pyftpdlib", "wsgidav", "cheroot", "asyncssh"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def flip_a_byte_of_the_part(root: Path) -> Callable[[float], None]:
    """A stand-in for xfer.retry's wait between two tries that flips byte 1000 of the one part file
    under ``root``: the part a cut upload left is then no longer a prefix of the file."""

    def flip(seconds: float) -> None:
        [part] = list(root.rglob("*.xfer-part"))
        with part.open("r+b") as handle:
            handle.seek(1000)
            byte = handle.read(1)
            handle.seek(1000)
            handle.write(bytes([byte[0] ^ 0xFF]))

    return flip


def rewrite_in_place(path: Path, data: bytes) -> None:
    """New content of the same size, and the old time back: only a hash can tell (``sync --checksum``)."""
    before = path.stat()
    assert len(data) == before.st_size
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
