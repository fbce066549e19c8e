"""SIGHUP (the terminal closed, the ssh session dropped) and SIGQUIT (Ctrl-\\) end the console
script as SIGTERM and Ctrl-C do: exit 130, one line, no part file here or on the server.  Before,
their default actions ended the process on the spot, leaving ``.NAME.XXXXXXXX.xfer-part`` files
under random names that no later run removes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.errors import ExitCode
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

from .test_streams import use_profile

REPO = Path(__file__).resolve().parent.parent
SIGNALS = [signal.SIGHUP, signal.SIGQUIT]


@pytest.fixture(params=["davs", "sftp"])
def served(request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    with serve(request.param, pki, root=tmp_path / "served", name="pp") as endpoint:
        use_profile(endpoint, tmp_path / "profiles", monkeypatch)
        yield endpoint


def _parts(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.name.endswith(".xfer-part")] if folder.is_dir() else []


def _signalled_once_started(args: list[str], folder: Path, signum: int) -> tuple[int, str]:
    """Run ``xfer ARGS`` (slowed by --limit-rate), send ``signum`` once its part file is in ``folder``.

    (Over SFTP under --limit-rate an interrupted upload is cleaned up only once the throttled body
    is drained, which the session waits 5 s for: 2 MiB at 1 MiB/s keeps well within it.)"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-m", "xfer", *args, "--limit-rate", "1M"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        deadline = time.monotonic() + 30
        while not _parts(folder):
            assert time.monotonic() < deadline, "the transfer never started"
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        time.sleep(0.3)
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    return process.returncode, err


@pytest.mark.parametrize("signum", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_hang_up_mid_download_leaves_no_part(served: Endpoint, tmp_path: Path, signum: signal.Signals) -> None:
    (served.root / "big.bin").write_bytes(os.urandom(2 << 20))
    down = tmp_path / "down"
    down.mkdir()
    code, err = _signalled_once_started(["get", "pp:/big.bin", str(down)], down, signum)
    assert code == ExitCode.INTERRUPTED, err
    assert [line for line in err.splitlines() if line.strip()] == ["xfer: interrupted"]
    assert list(down.iterdir()) == []


@pytest.mark.parametrize("signum", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_hang_up_mid_upload_leaves_nothing_on_the_server(served: Endpoint, tmp_path: Path,
                                                           signum: signal.Signals) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(2 << 20))
    code, err = _signalled_once_started(["put", str(source), "pp:/big.bin"], served.root, signum)
    assert code == ExitCode.INTERRUPTED, err
    assert [line for line in err.splitlines() if line.strip()] == ["xfer: interrupted"]
    deadline = time.monotonic() + 5
    while list(served.root.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(served.root.iterdir()) == []


def test_a_terminal_that_hangs_up_still_gets_the_moved_files_sources_removed(
    served: Endpoint, tmp_path: Path
) -> None:
    """Review O, finding 2: on a real terminal (a pty as the controlling tty, so the progress bar is
    drawn) a hang-up is SIGHUP and then EIO on every write: drawing the bar for the last time failed,
    so the sources of the files that had moved were not removed, and the exit code was 1."""
    import pty
    import select

    out = served.root / "out"
    out.mkdir()
    small = [f"a{number}" for number in range(3)]
    for name in small:
        (out / name).write_bytes(os.urandom(10_000))
    (out / "b").write_bytes(os.urandom(4 << 20))
    inbox = tmp_path / "in"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    pid, master = pty.fork()
    if pid == 0:  # the child: xfer on the terminal
        os.execve(sys.executable, [sys.executable, "-m", "xfer", "get", "-r", "-P", "1", "--remove-source-files",
                                   "--limit-rate", "1M", "pp:/out/", str(inbox)], env)
    deadline = time.monotonic() + 30
    screen = b""
    while not all((inbox / name).exists() for name in small) and time.monotonic() < deadline:
        if select.select([master], [], [], 0.05)[0]:
            with contextlib.suppress(OSError):
                screen += os.read(master, 65536)  # the terminal's screen: keep it drained
    assert time.monotonic() < deadline, (screen[-2000:], list(inbox.rglob("*")))
    time.sleep(0.3)
    os.close(master)  # the terminal goes away: SIGHUP, then EIO
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == ExitCode.INTERRUPTED
    assert sorted(path.name for path in out.iterdir()) == ["b"]  # the sources of what moved are gone
