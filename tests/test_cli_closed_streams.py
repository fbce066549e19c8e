"""Standard output or standard error closed (``>&-``, ``2>&-``): Python then has no ``sys.stdout`` /
``sys.stderr`` at all.  ``get … -`` without stdout is one error line (before: AttributeError, "a
bug in xfer"); without stderr, a transfer that succeeded still exits 0 (before: 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

from .test_streams import use_profile

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def served(pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    with serve("davs", pki, root=tmp_path / "served", name="pp") as endpoint:
        use_profile(endpoint, tmp_path / "profiles", monkeypatch)
        (endpoint.root / "small.txt").write_text("hello\n")
        yield endpoint


def _xfer(*args: str, closed: int) -> subprocess.CompletedProcess[str]:
    """``python -m xfer ARGS`` with file descriptor ``closed`` (1 or 2) closed, as a shell's ``N>&-``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = f"exec {sys.executable} -m xfer \"$@\" {closed}>&-"
    return subprocess.run(["sh", "-c", script, "sh", *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_get_to_a_closed_stdout_is_one_error_line(served: Endpoint) -> None:
    done = _xfer("get", "pp:/small.txt", "-", closed=1)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == "xfer: error: cannot write to standard output: it is closed"
    assert "internal error" not in done.stderr


def test_a_closed_stderr_does_not_fail_a_download(served: Endpoint, tmp_path: Path) -> None:
    done = _xfer("get", "pp:/small.txt", str(tmp_path / "copy.txt"), closed=2)
    assert done.returncode == 0, done.stdout
    assert (tmp_path / "copy.txt").read_text() == "hello\n"
