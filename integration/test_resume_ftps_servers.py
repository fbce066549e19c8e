"""Retries resume FTPS transfers against real daemons (vsftpd, proftpd, pure-ftpd), through the
fault proxy on 127.0.0.2 at the servers' own control and passive port numbers (issue 13)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.ftps import ExplicitFTPSAdapter, FTPSAdapter, ImplicitFTPSAdapter
from xfer.identity import Identity
from xfer.testing.contract import make_file, sha256_of
from xfer.testing.faults import Cut, FaultProxy
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

pytestmark = pytest.mark.integration

SIZE = 8 << 20
SERVERS = ["vsftpd-explicit", "vsftpd-implicit", "proftpd", "pureftpd"]
#: proftpd's default ``AllowStoreRestart off`` refuses both ``REST``+``STOR`` and ``APPE``
#: ("451 Append/Restart not permitted"): there a cut upload can only start over.
UPLOAD_RESUMES = {"vsftpd-explicit": True, "vsftpd-implicit": True, "proftpd": False, "pureftpd": True}


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server(request.param)


def _proxy(server: ServerInfo, direction: str) -> FaultProxy:
    first, last = server.extra["passive_ports"]
    passive = set(range(first, last + 1))
    cut: list[int] = []

    def plan(number: int, port: int) -> Cut | None:
        if port in passive and not cut:  # the first data connection that carries the file
            cut.append(number)
            return Cut(direction, after=SIZE // 2)  # type: ignore[arg-type]
        return None

    return FaultProxy((server.host, server.port), plan=plan, listen_host="127.0.0.2",
                      ports=[server.port, *sorted(passive)])


def _adapter(server: ServerInfo, pki: TestPKI, host: str = "127.0.0.2") -> FTPSAdapter:
    implicit = server.url.startswith("ftps://")
    cls = ImplicitFTPSAdapter if implicit else ExplicitFTPSAdapter
    context = create_ssl_context(Identity.load(pki.client_p12, pki.password), ca=pki.root_ca)
    settings = ConnectionSettings(scheme="ftps" if implicit else "ftpes", host=host, port=server.port,
                                  root="/", ssl_context=context, username=server.username,
                                  password=server.password, timeout=20, retry_wait=0.01)
    return cls(settings)


def test_cut_download_resumes(server: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    local = tmp_path / "src.bin"
    expected = make_file(local, SIZE, seed=21)
    name = f"/resume-get-{server.name}.bin"
    with _adapter(server, bed_pki, host=server.host) as direct:
        direct.put_file(local, name)
    with _proxy(server, "down") as proxy, _adapter(server, bed_pki) as remote:
        result = remote.get_file(name, tmp_path / "back.bin")
        remote.rm(name)
    assert sha256_of(tmp_path / "back.bin") == expected
    assert result.attempts == 2
    assert any(c.was_cut for c in proxy.connections)
    passive = range(server.extra["passive_ports"][0], server.extra["passive_ports"][1] + 1)
    assert sum(c.bytes_down for c in proxy.connections if c.port in passive) <= 1.3 * SIZE


def test_cut_upload_resumes(server: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    local = tmp_path / "src.bin"
    expected = make_file(local, SIZE, seed=22)
    name = f"/resume-put-{server.name}.bin"
    with _proxy(server, "up") as proxy, _adapter(server, bed_pki) as remote:
        result = remote.put_file(local, name)
        remote.get_file(name, tmp_path / "back.bin")
        names = [e.name for e in remote.ls("/")]
        remote.rm(name)
    assert sha256_of(tmp_path / "back.bin") == expected
    assert result.attempts == 2
    assert not [n for n in names if n.endswith(".xfer-part")]
    passive = range(server.extra["passive_ports"][0], server.extra["passive_ports"][1] + 1)
    # Every data connection counts: a refused APPE still opened one (empty), and the order in
    # which the proxy registered them is not the order of the commands.
    sent = sum(c.bytes_up for c in proxy.connections if c.port in passive)
    if UPLOAD_RESUMES[server.name]:
        assert sent <= 1.3 * SIZE  # the cut half and the rest, not the whole file again
    else:
        assert 1.4 * SIZE <= sent <= 1.7 * SIZE  # the cut half, then the whole file from byte 0
