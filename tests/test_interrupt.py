"""Ctrl-C in the middle of a real download: exit 130, one line, nothing half-written."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.testing.pki import TestPKI


class StallingServer:
    """HTTPS (client certificate required) that promises 100 MB, sends 1 MB, then waits.

    Serves any number of connections, each in its own thread.
    """

    def __init__(self, pki: TestPKI) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.server_cert, pki.server_key)
        self.context.load_verify_locations(pki.root_ca)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._stall, args=(conn,), daemon=True).start()

    def _stall(self, conn: socket.socket) -> None:
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += tls.recv(4096)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n" + b"x" * (1 << 20))
                self.stop.wait(30)
        except OSError:
            pass


@pytest.fixture
def server(pki: TestPKI) -> Iterator[StallingServer]:
    srv = StallingServer(pki)
    thread = threading.Thread(target=srv.serve, daemon=True)
    thread.start()
    yield srv
    srv.stop.set()
    srv.listener.close()


def test_ctrl_c_mid_download(server: StallingServer, pki: TestPKI, tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("yesterday's report")
    argv = [sys.executable, "-m", "xfer", "get", f"https://127.0.0.1:{server.port}/report.csv", str(target),
            "--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        deadline = time.monotonic() + 20
        while not [p for p in tmp_path.iterdir() if p.name.endswith(".xfer-part")]:
            assert time.monotonic() < deadline, "the download never started"
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        time.sleep(0.2)  # the first megabyte is on disk under the temporary name
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert [line for line in err.splitlines() if line.strip()] == ["xfer: interrupted"]
    assert "Traceback" not in err and out == ""
    assert target.read_text() == "yesterday's report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_sigint_exit_code_is_130_not_a_crash_when_idle(pki: TestPKI, tmp_path: Path) -> None:
    """Ctrl-C while waiting for a server that never answers the TLS handshake."""
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never speaks
    try:
        port = listener.getsockname()[1]
        argv = [sys.executable, "-m", "xfer", "ls", f"https://127.0.0.1:{port}/", "--identity",
                str(pki.client_p12), "--identity-password", f"file:{pki.password_file}"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"}) as process:
            conn = None
            listener.settimeout(20)
            conn, _ = listener.accept()
            time.sleep(0.3)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=20)
            conn.close()
    finally:
        listener.close()
    assert process.returncode == 130, err
    assert "xfer: interrupted" in err and "Traceback" not in err


def test_ctrl_c_with_parallel_downloads_stuck_on_a_silent_server(
    server: StallingServer, pki: TestPKI, tmp_path: Path
) -> None:
    """Workers blocked in recv get a short grace, then their partial files are removed."""
    down = tmp_path / "down"
    down.mkdir()
    base = f"https://127.0.0.1:{server.port}"
    argv = [sys.executable, "-m", "xfer", "get", "-P", "2", f"{base}/a.csv", f"{base}/b.csv", str(down),
            "--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca), "--timeout", "60"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        deadline = time.monotonic() + 20
        while len([p for p in down.iterdir() if p.name.endswith(".xfer-part")]) < 2:
            assert time.monotonic() < deadline, "both downloads should have started"
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        time.sleep(0.2)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert time.monotonic() - interrupted < 15, "must not wait for the 60 s socket timeout"
    assert "xfer: interrupted" in err and "Traceback" not in err
    assert list(down.iterdir()) == []


def _stalls_after_one_mib() -> Iterator[bytes]:
    yield b"z" * (1 << 20)
    time.sleep(60)


def test_sigterm_during_sync_still_reports_what_moved(pki: TestPKI, tmp_path: Path) -> None:
    """cron and systemd stop jobs with SIGTERM.  Before: exit 130 with nothing on stdout, though
    files had moved (and, with --remove-source-files, their sources had gone)."""
    from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer

    listing = (b'[{"name":"a.txt","type":"file","size":5,"mtime":"Mon, 01 Jan 2024 00:00:00 GMT"},'
               b'{"name":"z.bin","type":"file","size":100000000,"mtime":"Mon, 01 Jan 2024 00:00:00 GMT"}]')
    replies = {
        "HEAD /s": Reply(status=301, headers={"Location": "/s/"}),
        "/s/": Reply(headers={"Content-Type": "application/json"}, body=listing),
        "/s/a.txt": Reply(body=b"hello"),
        "/s/z.bin": Reply(body=_stalls_after_one_mib, announce=100_000_000),
    }
    inbox = tmp_path / "inbox"
    with ScriptedHTTPSServer(pki, replies) as srv:
        argv = [sys.executable, "-m", "xfer", "sync", f"{srv.url}/s", str(inbox), "--json", "--ca", str(pki.root_ca),
                "--retries", "0"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
            deadline = time.monotonic() + 20
            while not (inbox.is_dir() and (inbox / "a.txt").exists()
                       and [p for p in inbox.iterdir() if p.name.endswith(".xfer-part")]):
                assert time.monotonic() < deadline, "the sync never reached z.bin"
                assert process.poll() is None, process.communicate()
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    import json

    result = json.loads(out)
    statuses = {action["path"]: action["status"] for action in result["actions"]}
    assert statuses["a.txt"] == "done" and statuses["z.bin"] != "done"
    assert result["transferred"] == 1 and "interrupted" in result["error"]
    assert sorted(p.name for p in inbox.iterdir()) == ["a.txt"]
