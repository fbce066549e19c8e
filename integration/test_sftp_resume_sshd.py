"""Retries resume SFTP transfers against the bed's real OpenSSH sshd, through the fault proxy on
127.0.0.2 at sshd's own port (issue 18): a cut download continues its part file, a cut upload
continues its temporary remote file from the size sshd reports.  The host is trusted by its pin
(the bed's host certificate names 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import xfer
from integration.bed import ServerInfo
from xfer.adapters.base import Adapter
from xfer.errors import ConnectionDropped, ExitCode
from xfer.profiles import Profile
from xfer.testing.contract import make_file, sha256_of
from xfer.testing.faults import Cut, Direction, FaultProxy

pytestmark = pytest.mark.integration

SIZE = 32 << 20
PROXY_HOST = "127.0.0.2"


@pytest.fixture(scope="module")
def sshd(bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server("sshd")


def _connect(sshd: ServerInfo, host: str, **extra: Any) -> Adapter:
    table: dict[str, Any] = {
        "url": f"sftp://{sshd.username}@{host}:{sshd.port}/upload/", "timeout": 15.0,
        "identity": sshd.extra["client_key"], "identity_password": f"file:{sshd.extra['passphrase_file']}",
        "pin": sshd.extra["host_fingerprint"], **extra,
    }
    return xfer.connect(Profile.from_mapping("sshd-cut", table), retries=3, retry_wait=0.01)


def cut_once(sshd: ServerInfo, direction: Direction) -> FaultProxy:
    """A proxy in front of sshd that cuts the first connection halfway through the file."""
    return FaultProxy((sshd.host, sshd.port), plan={0: Cut(direction, after=SIZE // 2)},
                      listen_host=PROXY_HOST, ports=[sshd.port])


def test_cut_download_resumes(sshd: ServerInfo, tmp_path: Path) -> None:
    local = tmp_path / "src.bin"
    expected = make_file(local, SIZE, seed=31)
    with _connect(sshd, sshd.host) as direct:
        direct.put_file(local, "/resume-get.bin")
    try:
        with cut_once(sshd, "down") as proxy, _connect(sshd, PROXY_HOST) as remote:
            result = remote.get_file("/resume-get.bin", tmp_path / "back.bin")
    finally:
        with _connect(sshd, sshd.host) as direct:
            direct.rm("/resume-get.bin")
    assert sha256_of(tmp_path / "back.bin") == expected == result.sha256
    assert result.attempts == 2 and proxy.connections[0].was_cut
    assert sum(c.bytes_down for c in proxy.connections) <= 1.3 * SIZE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.bin", "src.bin"]


def test_cut_upload_resumes(sshd: ServerInfo, tmp_path: Path) -> None:
    local = tmp_path / "src.bin"
    expected = make_file(local, SIZE, seed=32)
    with cut_once(sshd, "up") as proxy, _connect(sshd, PROXY_HOST) as remote:
        result = remote.put_file(local, "/resume-put.bin")
    try:
        assert sha256_of(Path(sshd.root) / "resume-put.bin") == expected == result.sha256
        assert result.attempts == 2 and proxy.connections[0].was_cut
        assert sum(c.bytes_up for c in proxy.connections) <= 1.3 * SIZE
        assert [p.name for p in Path(sshd.root).iterdir() if p.name.startswith(".")] == []
    finally:
        with _connect(sshd, sshd.host) as direct:
            direct.rm("/resume-put.bin")


def test_upload_cut_on_every_try_is_one_line_per_try(
    sshd: ServerInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every connection cut 1 MB up: a broken connection (exit 5, 'cut on each of 2 tries'), not a
    failure to connect; and none of asyncio's "socket.send() raised exception." per dead write."""
    local = tmp_path / "src.bin"
    make_file(local, 4 << 20, seed=33)
    caplog.set_level(logging.DEBUG, logger="asyncio")
    caplog.set_level(logging.WARNING, logger="xfer.retry")
    every = FaultProxy((sshd.host, sshd.port), plan=lambda number, port: Cut("up", after=1_000_000),
                       listen_host=PROXY_HOST, ports=[sshd.port])
    with every, _connect(sshd, PROXY_HOST) as remote:
        remote.retry_policy = dataclasses.replace(remote.retry_policy, retries=1)
        with pytest.raises(ConnectionDropped) as caught:
            remote.put_file(local, "/cut-every-time.bin")
    message = str(caught.value)
    assert message.startswith(f"the connection to {PROXY_HOST}:{sshd.port} broke while uploading"), message
    assert message.endswith(" (the connection was cut on each of 2 tries)"), message
    assert caught.value.exit_code == ExitCode.CONNECT
    retries = [r.getMessage() for r in caplog.records if r.name == "xfer.retry"]
    assert len(retries) == 1 and retries[0].startswith("retry 1/1 in ") and "connection dropped" in retries[0]
    assert not [r for r in caplog.records if r.getMessage() == "socket.send() raised exception."]
    assert not (Path(sshd.root) / "cut-every-time.bin").exists()
    assert [p.name for p in Path(sshd.root).iterdir() if p.name.startswith(".")] == []
