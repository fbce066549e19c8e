"""``xfer demo``: every row passes, the output is what it says, and nothing is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import WITHOUT_TESTING_EXTRA
from xfer.cli import main
from xfer.testing import demo
from xfer.testing.demo import PROTOCOLS, DemoProtocol

FTPS = {"ftpes", "ftps"}


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where xfer would keep AS2 receipts: the demo must not write there."""
    folder = tmp_path_factory.mktemp("data") / "xfer"
    monkeypatch.setenv("XFER_DATA_DIR", str(folder))
    return folder


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def test_demo_json_every_row_passes_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    code = main(["demo", "--json", "--workdir", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)

    assert code == 0, report
    assert report["passed"] is True
    rows = {row["profile"]: row for row in report["rows"]}
    assert list(rows) == [p.profile_name for p in PROTOCOLS]
    for scheme, row in ((p.scheme, rows[p.profile_name]) for p in PROTOCOLS):
        assert row["passed"], row["error"]
        assert row["error"] is None
        if scheme == "sftp":  # SSH: the principal the user certificate logged in as; no TLS
            assert row["client_certificate"] == "xfer" and row["tls_version"] is None
        else:
            assert row["client_certificate"] == "xfer-client"
            assert row["tls_version"] in ("TLSv1.2", "TLSv1.3")
        assert row["bytes"] == demo.DEFAULT_SIZE
        assert row["mb_per_s"] > 0
        if scheme == "as2":
            assert row["steps"] == ["put"]
            assert row["details"]["status"] == "confirmed" and row["details"]["mic_matched"]
            assert row["details"]["layers"] == "signed+encrypted+compressed"
        else:
            assert row["steps"] == ["put", "ls", "get", "rm"]
        if scheme in FTPS:
            assert row["data_channel_resumed"] is True
            assert row["data_connections"] == row["data_connections_resumed"] >= 3  # STOR, MLSD, RETR
        else:
            assert row["data_channel_resumed"] is None

    workdir = Path(report["workdir"])
    assert workdir.parent == tmp_path
    assert not workdir.exists()
    assert _leftovers(tmp_path) == []
    assert not data_dir.exists(), "AS2 receipts must stay inside the demo's folder"


def test_a_failing_row_is_reported_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = DemoProtocol("HTTPS broken", "https", server_options={"statuses": {f"/{demo.FILE_NAME}": 503}})
    monkeypatch.setattr(demo, "PROTOCOLS", (PROTOCOLS[0], broken, PROTOCOLS[1]))

    code = main(["demo", "--workdir", str(tmp_path)])
    captured = capsys.readouterr()

    assert code == 1
    lines = captured.out.splitlines()
    assert any(line.startswith("HTTPS ") and line.rstrip().endswith("ok") for line in lines)
    assert any(line.startswith("HTTPS broken") and "FAILED" in line for line in lines)
    [error] = [line for line in lines if line.startswith("HTTPS broken:")]
    assert "503" in error
    assert "1 of 3 protocols failed" in captured.err
    assert _leftovers(tmp_path) == []


def test_demo_as_a_subprocess(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "xfer", "demo", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    for protocol in PROTOCOLS:
        assert protocol.label in done.stdout
    assert "FAILED" not in done.stdout
    assert "Traceback" not in done.stderr
    assert _leftovers(tmp_path) == []


def test_keep_serves_until_interrupted_then_cleans_up(tmp_path: Path, data_dir: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "xfer", "demo", "--keep", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        export = None
        while export is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.strip().startswith("export XFER_PROFILE_PATH="):
                export = line.strip().split("=", 1)[1]
        assert export, "no export line before the servers were ready"
        profiles = Path(export)
        assert {p.stem for p in profiles.glob("*.toml")} == {p.profile_name for p in PROTOCOLS}

        # The printed profiles work from another process while the servers run.
        listing = subprocess.run(
            [sys.executable, "-m", "xfer", "ls", "demo-ftpes:/", "--json"],
            env={**os.environ, "XFER_PROFILE_PATH": export}, capture_output=True, text=True,
            timeout=60, check=False,
        )
        assert listing.returncode == 0, listing.stderr
        assert json.loads(listing.stdout) == []

        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 130), proc.stderr.read() if proc.stderr else ""
    assert not profiles.exists()
    assert _leftovers(tmp_path) == []
    assert not data_dir.exists()


#: Run `xfer demo` as `pip install xfer` (no `testing` extra) would: the extra's modules cannot be imported.
_WITHOUT_EXTRA = WITHOUT_TESTING_EXTRA + """
from xfer.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("json_output", [False, True], ids=["table", "json"])
def test_demo_without_the_testing_extra_names_it(tmp_path: Path, json_output: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent), "XFER_DATA_DIR": str(tmp_path / "data")}
    args = ["demo", "--workdir", str(tmp_path), *(["--json"] if json_output else [])]
    done = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRA, *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "ModuleNotFoundError" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("xfer: error:")]
    [error] = errors
    assert error.startswith("xfer: error: demo: 4 of 6 protocols need the 'testing' extra (")
    assert "pyftpdlib" in error and error.endswith(" not installed)")
    assert "hint: pip install 'xfer[testing]'" in done.stderr
    if json_output:
        rows = {row["protocol"]: row for row in json.loads(done.stdout)["rows"]}
        assert [name for name, row in rows.items() if row["passed"]] == ["HTTPS", "AS2"]
        assert rows["FTPS explicit"]["missing_module"] == "pyftpdlib"
        assert "pip install 'xfer[testing]'" in rows["WebDAVs"]["error"]
    else:
        assert "FTPS explicit: needs the testing extra (pyftpdlib is not installed): pip install 'xfer[testing]'" \
            in done.stdout
    assert list(tmp_path.glob("xfer-demo-*")) == []
