"""``xfer put -`` and ``xfer get … -``: stdin streamed to the part name, stdout with the exit code as proof.

The CLI runs as a child process (real pipes, real signals) against the in-process servers;
the refusals and the stdin read error run in this process.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.helpers import one_error, run
from tests.test_result_schema import _check as check_schema
from xfer.errors import ExitCode
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.pki import TestPKI

REPO = Path(__file__).resolve().parent.parent
BLOCK = bytes(range(256)) * 2048  # 512 KiB, every byte value

SCHEMES = ["ftpes", "davs", "https", "sftp"]


@pytest.fixture(params=SCHEMES)
def served(request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path) -> Iterator[Endpoint]:
    with serve(request.param, pki, root=tmp_path / "served", name="pp") as endpoint:
        yield endpoint


def use_profile(endpoint: Endpoint, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The endpoint's profile, saved in ``folder`` and on the profile path of this process and children."""
    folder.mkdir()
    (folder / f"{endpoint.profile.name}.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(folder / "config"))
    return folder


@pytest.fixture
def profiles(served: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The endpoint's profile as ``pp``."""
    return use_profile(served, tmp_path / "profiles", monkeypatch)


def xfer(*args: str, **popen: Any) -> subprocess.Popen[bytes]:
    """``python -m xfer ARGS`` from this checkout, with this process's environment."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "xfer", *args], env=env, **popen)


def hidden(folder: Path, name: str) -> list[Path]:
    """Files beside ``name`` whose name starts ``.NAME.``: xfer's part, or a server's receiving file."""
    return [p for p in folder.iterdir() if p.name.startswith(f".{name}.")] if folder.is_dir() else []


def wait_for(condition: Any, what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _started_stream(served: Endpoint, **popen: Any) -> tuple[subprocess.Popen[bytes], Path]:
    """``put - p:/in/x.csv`` with 1 MiB sent, once the server holds a growing hidden file."""
    proc = xfer("put", "-", "pp:/in/x.csv", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                **popen)
    assert proc.stdin is not None
    folder = served.root / "in"
    proc.stdin.write(BLOCK * 2)
    proc.stdin.flush()
    wait_for(lambda: any(p.stat().st_size >= 256 * 1024 for p in hidden(folder, "x.csv")),
             "the upload to reach the server before the end of stdin")
    return proc, folder


# -- put - --------------------------------------------------------------------------------------


def test_put_stdin_streams_under_the_part_name_then_renames(served: Endpoint, profiles: Path) -> None:
    proc, folder = _started_stream(served)
    assert proc.stdin is not None
    assert not (folder / "x.csv").exists(), "half the stream is visible under the name"
    if served.protocol != "https":  # plain HTTPS has no rename: the server's own receiving file
        assert all(p.name.endswith(".xfer-part") for p in hidden(folder, "x.csv"))
    out, err = proc.communicate(BLOCK * 3, timeout=60)  # the rest, then the end of stdin
    assert proc.returncode == 0, err.decode()
    assert (folder / "x.csv").read_bytes() == BLOCK * 5
    assert hidden(folder, "x.csv") == []
    assert b"put - -> pp:/in/x.csv" in err and out == b""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_put_stdin_interrupted_leaves_nothing(served: Endpoint, profiles: Path, signum: int) -> None:
    """Ctrl-C (SIGINT), or SIGTERM (a scheduler stopping the job), in the middle of the stream:
    exit 130, no file, no part."""
    proc, folder = _started_stream(served)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err.decode()
    # xfer removed its part before exiting; a plain HTTPS server drops its receiving file itself.
    wait_for(lambda: not hidden(folder, "x.csv"), "the partial upload to be removed")
    assert not (folder / "x.csv").exists()


def test_put_stdin_with_sigterm_ignored_by_its_parent_goes_on(served: Endpoint, profiles: Path) -> None:
    """SIGTERM ignored where xfer was started (SIG_IGN is inherited) stays ignored, as Python does
    for SIGINT: xfer turns it into an interrupt only where it would have ended the process."""
    proc, folder = _started_stream(served, preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(BLOCK, timeout=60)
    assert proc.returncode == 0, err.decode()
    assert (folder / "x.csv").read_bytes() == BLOCK * 3


class _BrokenStdin:
    """Standard input whose read fails after ``good`` bytes (a terminal hang-up, a reset socket)."""

    def __init__(self, good: int) -> None:
        self.buffer = self
        self._left = good

    def readinto(self, buffer: bytearray) -> int:
        if self._left <= 0:
            raise OSError(errno.EIO, "Input/output error")
        count = min(len(buffer), self._left)
        buffer[:count] = b"s" * count
        self._left -= count
        return count


def test_put_stdin_read_error_aborts(
    served: Endpoint, profiles: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (served.root / "in").mkdir()
    (served.root / "in" / "x.csv").write_bytes(b"previous version")
    monkeypatch.setattr(sys, "stdin", _BrokenStdin(3 * 1024 * 1024))
    code, out, err = run(capsys, "put", "-", "pp:/in/x.csv")
    assert code == ExitCode.ERROR and out == ""
    one_error(err, "standard input")
    folder = served.root / "in"
    wait_for(lambda: not hidden(folder, "x.csv"), "the partial upload to be removed")
    assert (folder / "x.csv").read_bytes() == b"previous version"


def test_put_stdin_refusals(
    served: Endpoint, profiles: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"data")))
    for args in (["put", "-", "pp:/in/"], ["put", "-r", "-", "pp:/in/x"], ["put", "-", "a.txt", "pp:/in/x"]):
        code, _, err = run(capsys, *args)
        assert code == ExitCode.USAGE, (args, err)
        one_error(err)
    if served.protocol != "https":  # plain HTTPS has no folders to be in the way
        (served.root / "folder").mkdir()
        code, _, err = run(capsys, "put", "-", "pp:/folder")
        assert code == ExitCode.REMOTE, err
        one_error(err, "is a folder")
        assert list((served.root / "folder").iterdir()) == []


def test_put_stdin_json_result(served: Endpoint, profiles: Path) -> None:
    proc = xfer("put", "-", "pp:/j.bin", "--json", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
    out, err = proc.communicate(BLOCK, timeout=60)
    assert proc.returncode == 0, err.decode()
    document = json.loads(out)
    check_schema(document, "transfer")  # the packaged JSON Schema of --json results
    result = document[0]
    assert result["local"] == "-" and result["remote"] == "/j.bin" and result["size"] == len(BLOCK)
    assert result["sha256"] == hashlib.sha256(BLOCK).hexdigest()
    assert result["protocol"] == served.protocol
    assert (result["temp_name"] is None) == (served.protocol == "https")


# -- get … - --------------------------------------------------------------------------------------


def test_get_stdout_writes_the_file_and_nothing_else(served: Endpoint, profiles: Path) -> None:
    (served.root / "out.bin").write_bytes(BLOCK * 3)
    proc = xfer("get", "pp:/out.bin", "-", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out == BLOCK * 3
    assert b"get pp:/out.bin -> -" in err
    assert not [p for p in Path.cwd().iterdir() if p.name.endswith(".xfer-part")]


def test_get_stdout_refusals(served: Endpoint, profiles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["get", "pp:/a", "-", "--json"], ["get", "-r", "pp:/a", "-"], ["get", "pp:/a", "pp:/b", "-"]):
        code, out, err = run(capsys, *args)
        assert code == ExitCode.USAGE, (args, err)
        one_error(err)
        assert out == ""


def test_get_stdout_into_a_closed_pipe(served: Endpoint, profiles: Path) -> None:
    """``xfer get p:/big - | head -c 10``: one clear line, exit 1, no second error from Python."""
    (served.root / "big.bin").write_bytes(BLOCK * 16)
    proc = xfer("get", "pp:/big.bin", "-", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert proc.returncode == ExitCode.ERROR, err
    one_error(err, "pipe was closed")
    assert "Exception ignored" not in err


# -- get … - from servers that cut the data: exit 7, although bytes already went out ----------------


def _save_profile(folder: Path, monkeypatch: pytest.MonkeyPatch, *, url: str, pki: TestPKI, **extra: Any) -> None:
    """Profile ``hh`` for a server of this test, on the profile path of this process and children."""
    folder.mkdir()
    (folder / "hh.toml").write_text(tomli_w.dumps({
        "url": url, "identity": str(pki.client_p12), "identity_password": f"file:{pki.password_file}",
        "ca": str(pki.root_ca), **extra,
    }))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(folder / "config"))


def _run_get(url_profile: str, path: str) -> tuple[int, bytes, str]:
    proc = xfer("get", f"{url_profile}:{path}", "-", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err.decode()


@pytest.mark.parametrize("sizes", [True, False], ids=["size-known", "no-size"])
def test_get_stdout_of_a_cut_ftps_stream_is_exit_7(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizes: bool
) -> None:
    """The FTPS data stream stops after 100 000 bytes with a TCP FIN (no close_notify) and the
    server still says 226: what went out is truncated, and the exit code says so."""
    root = tmp_path / "served"
    root.mkdir()
    (root / "big.bin").write_bytes(BLOCK)
    with FakeFTPSServer(pki, root=root, cut_after=100_000, size=sizes, mlst=sizes) as srv:
        _save_profile(tmp_path / "profiles", monkeypatch, url=srv.url, pki=pki, username=srv.user,
                      password="env:XFER_T_FTP_PW")
        monkeypatch.setenv("XFER_T_FTP_PW", srv.password)
        code, out, err = _run_get("hh", "/big.bin")
    assert code == ExitCode.INTEGRITY, err
    assert out == BLOCK[:100_000]  # already written: the exit code is the proof it is incomplete
    line = one_error(err, "standard output is incomplete")
    assert "nothing was saved" not in line


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=[BLOCK, BLOCK], chunked=True, finished=False, end="fin"),
        Reply(body=[BLOCK], announce=2 * len(BLOCK), end="fin"),
        Reply(body=[BLOCK], length=False, end="fin"),
    ],
    ids=["chunked-cut", "short-length", "no-length-no-close-notify"],
)
def test_get_stdout_of_a_cut_https_body_is_exit_7(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reply: Reply
) -> None:
    srv = ScriptedHTTPSServer(pki, {"/f.bin": reply}).start()
    try:
        _save_profile(tmp_path / "profiles", monkeypatch, url=f"{srv.url}/", pki=pki, https={"index": "none"})
        code, out, err = _run_get("hh", "/f.bin")
    finally:
        srv.stop()
    assert code == ExitCode.INTEGRITY, err
    assert 0 < len(out) <= 2 * len(BLOCK)
    line = one_error(err)
    assert "nothing was saved" not in line and ("standard output" in line or "truncated" in line), line


def test_put_stdin_to_a_server_refusing_chunked_uploads(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that wants the length up front (HTTP 411) is named as such: exit 8, nothing stored."""
    with serve("https", pki, root=tmp_path / "served", name="pp", chunked_put=False) as endpoint:
        use_profile(endpoint, tmp_path / "profiles", monkeypatch)
        proc = xfer("put", "-", "pp:/x.bin", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = proc.communicate(BLOCK * 4, timeout=60)
        assert proc.returncode == ExitCode.UNSUPPORTED, err.decode()
        one_error(err.decode(), "411")
        assert list(endpoint.root.iterdir()) == []


def test_put_stdin_to_as2_is_refused(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AS2 is no file-system target (a message is signed and encrypted whole): exit 8, nothing sent."""
    with serve("as2", pki, root=tmp_path / "served", name="pp") as endpoint:
        use_profile(endpoint, tmp_path / "profiles", monkeypatch)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"UNB+UNOC:3")))
        code, out, err = run(capsys, "put", "-", "pp:/order.edi")
        assert code == ExitCode.UNSUPPORTED and out == ""
        one_error(err, "AS2", "cannot take a stream")
        assert [p for p in endpoint.root.rglob("*") if p.is_file()] == []
