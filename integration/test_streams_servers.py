"""``xfer put -`` / ``xfer get … -`` against the bed's real daemons, through the bed's own profiles.

nginx (HTTPS and WebDAV) and Apache take the chunked PUT; vsftpd (both modes), proftpd and
pure-ftpd the STOR to the part name.  The CLI runs as a child process with real pipes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.bed import Bed, ServerInfo
from xfer.errors import ExitCode

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
BLOCK = bytes(range(256)) * 2048  # 512 KiB

#: Bed profile -> the server behind it.
PROFILES = {
    "nginx-https": "nginx", "nginx-webdav": "nginx", "apache-webdav": "apache",
    "vsftpd-explicit": "vsftpd-explicit", "vsftpd-implicit": "vsftpd-implicit",
    "proftpd": "proftpd", "pureftpd": "pureftpd",
}


@pytest.fixture(params=list(PROFILES))
def target(
    request: pytest.FixtureRequest, bed: Bed, bed_server: Callable[[str], ServerInfo]
) -> Iterator[tuple[str, ServerInfo, str]]:
    """(profile, server, a fresh folder name under its root); the folder is removed afterwards."""
    server = bed_server(PROFILES[request.param])
    folder = f"streams-{uuid.uuid4().hex[:8]}"
    yield request.param, server, folder
    for path in sorted((server.root / folder).rglob("*"), reverse=True) if (server.root / folder).exists() else []:
        path.rmdir() if path.is_dir() else path.unlink()
    if (server.root / folder).exists():
        (server.root / folder).rmdir()


def xfer(bed: Bed, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "XFER_PROFILE_PATH": str(bed.profiles_dir)}
    return subprocess.Popen([sys.executable, "-m", "xfer", *args], env=env, **popen)


def hidden(folder: Path, name: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(f".{name}.")] if folder.is_dir() else []


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _start(bed: Bed, profile: str, server: ServerInfo, folder: str) -> subprocess.Popen[bytes]:
    """``put -`` with 4 MiB sent; once the bytes are on the server's disk where it shows them."""
    proc = xfer(bed, "put", "-", f"{profile}:/{folder}/x.bin", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(BLOCK * 8)
    proc.stdin.flush()
    where = server.root / folder
    if server.name == "nginx":
        # nginx keeps a PUT body in its own client_body_temp_path until the request is complete
        # (WebDAV too), so nothing shows beside the file meanwhile.
        time.sleep(0.5)
    elif server.name == "apache":
        # mod_dav_fs writes the body to its own ".davfs.tmp*" file beside the target as it arrives.
        wait_for(lambda: where.is_dir() and any(p.name.startswith(".davfs.tmp") and p.stat().st_size > 0
                                                for p in where.iterdir()),
                 "the body to reach Apache before the end of stdin")
    else:
        wait_for(lambda: any(p.name.endswith(".xfer-part") and p.stat().st_size > 0 for p in hidden(where, "x.bin")),
                 "the part to reach the server before the end of stdin")
    return proc


def test_put_stdin_then_get_stdout(bed: Bed, target: tuple[str, ServerInfo, str]) -> None:
    profile, server, folder = target
    proc = _start(bed, profile, server, folder)
    assert not (server.root / folder / "x.bin").exists(), "half the stream is visible under the name"
    _, err = proc.communicate(BLOCK * 4, timeout=120)
    assert proc.returncode == 0, err.decode()
    assert (server.root / folder / "x.bin").read_bytes() == BLOCK * 12
    assert hidden(server.root / folder, "x.bin") == []
    get = xfer(bed, "get", f"{profile}:/{folder}/x.bin", "-", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = get.communicate(timeout=120)
    assert get.returncode == 0, err.decode()
    assert out == BLOCK * 12


def test_put_stdin_interrupted_leaves_nothing(bed: Bed, target: tuple[str, ServerInfo, str]) -> None:
    profile, server, folder = target
    proc = _start(bed, profile, server, folder)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.INTERRUPTED, err.decode()
    where = server.root / folder
    wait_for(lambda: not hidden(where, "x.bin"), "the part to be removed")
    wait_for(lambda: not (where.is_dir() and [p for p in where.iterdir() if p.name.startswith(".davfs.tmp")]),
             "Apache to drop the cut request's body")
    assert not (where / "x.bin").exists()
