"""Progress bars appear for a person at a terminal, and never with --quiet, --json or no TTY."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from xfer.testing import create_pki, serve
from xfer.testing.endpoints import Endpoint


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    folder = tmp_path_factory.mktemp("progress")
    pki = create_pki(folder / "pki")
    with serve("https", pki, root=folder / "srv") as running:
        yield running


def _run(endpoint: Endpoint, tmp_path: Path, *flags: str, tty: bool) -> tuple[int, str, str]:
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "demo.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(3 << 20))
    env = {**os.environ, "XFER_PROFILE_PATH": str(profiles), "COLUMNS": "100", "TERM": "xterm"}
    argv = [sys.executable, "-m", "xfer", "put", str(source), "demo:/in/", *flags]
    if not tty:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=follower, env=env, text=True) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        out = process.stdout.read() if process.stdout else ""
        code = process.wait(timeout=60)
    os.close(leader)
    return code, out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal(endpoint: Endpoint, tmp_path: Path) -> None:
    code, _, err = _run(endpoint, tmp_path, tty=True)
    assert code == 0, err
    assert "payload.bin" in err and "3.1/3.1 MB" in err, err


@pytest.mark.parametrize("flag", ["--quiet", "--json"])
def test_no_progress_when_asked_or_machine_readable(endpoint: Endpoint, tmp_path: Path, flag: str) -> None:
    code, out, err = _run(endpoint, tmp_path, flag, tty=True)
    assert code == 0, err
    assert "MB/s" not in err and "3.1/3.1 MB" not in err
    if flag == "--json":
        assert out.lstrip().startswith("[")


def test_no_progress_without_a_terminal(endpoint: Endpoint, tmp_path: Path) -> None:
    code, _, err = _run(endpoint, tmp_path, tty=False)
    assert code == 0, err
    assert "3.1/3.1 MB" not in err
    assert err.startswith("put ") and err.count("\n") == 1, err
