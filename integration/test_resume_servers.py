"""Retries resume downloads against real servers, through the fault proxy (issue 13).

nginx (https://) and Apache mod_dav (davs://) answer ``Range`` + ``If-Range`` with 206; a file
changed between the tries answers 200 (the whole new file).  vsftpd/proftpd/pure-ftpd are in
test_resume_ftps_servers.py when the bed has them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from xfer.adapters.base import Adapter, ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.adapters.webdav import WebDAVAdapter
from xfer.identity import Identity
from xfer.testing.contract import make_file, sha256_of
from xfer.testing.faults import Cut, FaultProxy
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

pytestmark = pytest.mark.integration

SIZE = 8 << 20


def _adapter(server: ServerInfo, pki: TestPKI, port: int) -> Adapter:
    ctx = create_ssl_context(Identity.load(pki.client_p12, pki.password), ca=pki.root_ca)
    scheme, cls = ("https", HTTPSAdapter) if server.name == "nginx" else ("davs", WebDAVAdapter)
    settings = ConnectionSettings(scheme=scheme, host="127.0.0.1", port=port, root="/", ssl_context=ctx,
                                  timeout=30, retry_wait=0.01)
    return cls(settings)


@pytest.fixture(params=["nginx", "apache"])
def server(request: pytest.FixtureRequest, bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server(request.param)


def _port(server: ServerInfo) -> int:
    if server.name == "apache":
        return int(server.url.rsplit(":", 1)[1].strip("/"))
    return server.port


def test_cut_download_resumes_with_range(server: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    name = f"resume-{server.name}.bin"
    expected = make_file(server.root / name, SIZE, seed=13)
    os.chmod(server.root / name, 0o644)
    # Apache gives a file changed within the last second only a weak ETag, and a Last-Modified
    # it will not match an If-Range against (RFC 9110: not a strong validator): it would
    # rightly answer 200.  A file written a while ago, as partners' files are.
    os.utime(server.root / name, (1_700_000_000, 1_700_000_000))
    with FaultProxy(("127.0.0.1", _port(server)), plan={0: Cut("down", after=SIZE // 2)}) as proxy:
        with _adapter(server, bed_pki, proxy.port) as remote:
            result = remote.get_file(f"/{name}", tmp_path / name)
    (server.root / name).unlink()
    assert sha256_of(tmp_path / name) == expected
    assert result.attempts == 2
    assert proxy.connections[0].was_cut
    assert sum(c.bytes_down for c in proxy.connections) <= 1.3 * SIZE
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_changed_between_tries_starts_over(server: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    name = f"resume-changed-{server.name}.bin"
    make_file(server.root / name, SIZE, seed=14)
    os.chmod(server.root / name, 0o644)
    with FaultProxy(("127.0.0.1", _port(server)), plan={0: Cut("down", after=SIZE // 2)}) as proxy:
        with _adapter(server, bed_pki, proxy.port) as remote:
            def replace(seconds: float) -> None:  # between the tries, the partner rewrites the file
                make_file(server.root / name, SIZE, seed=15)
                os.utime(server.root / name, (3_000_000, 3_000_000))

            remote.retry_policy = dataclasses.replace(remote.retry_policy, sleep=replace)
            result = remote.get_file(f"/{name}", tmp_path / name)
    expected = sha256_of(server.root / name)
    (server.root / name).unlink()
    assert sha256_of(tmp_path / name) == expected
    assert result.attempts == 2
