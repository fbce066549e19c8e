"""The ``proxy`` option against the bed's daemons: every FTP server's control and data connections,
nginx and Apache, through an HTTP CONNECT proxy and a SOCKS5 proxy (issue 15, proxies).

Real servers matter here: vsftpd demands that each data connection resume the control
connection's TLS session, and the session must survive the detour through the tunnel.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import xfer
from integration.bed import ServerInfo
from xfer.testing.contract import make_file, sha256_of
from xfer.testing.pki import TestPKI
from xfer.testing.proxy import ConnectProxy, SOCKSProxy

pytestmark = pytest.mark.integration

SERVERS = ["vsftpd-explicit", "vsftpd-implicit", "proftpd", "pureftpd", "nginx", "apache"]


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["connect", "socks5h"])
def proxy(request: pytest.FixtureRequest) -> Iterator[ConnectProxy]:
    with ConnectProxy() if request.param == "connect" else SOCKSProxy() as running:
        yield running


@pytest.mark.parametrize("name", SERVERS)
def test_round_trip_through_the_proxy(
    name: str, proxy: ConnectProxy, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = bed_server(name)
    url = info.extra.get("webdav_url", info.url) if name == "nginx" else info.url
    options: dict[str, Any] = {}
    if info.username:
        monkeypatch.setenv("XFER_T_PROXY_PW", info.password or "")
        options = {"username": info.username, "password": "env:XFER_T_PROXY_PW"}
    source = tmp_path / "up.bin"
    digest = make_file(source, 2_000_000)
    remote_name = f"/proxy-{uuid.uuid4().hex[:8]}.bin"
    with xfer.connect(url, identity=str(bed_pki.client_p12), identity_password=f"file:{bed_pki.password_file}",
                      ca=str(bed_pki.root_ca), proxy=proxy.url, **options) as remote:
        remote.put_file(source, remote_name)
        remote.get_file(remote_name, tmp_path / "back.bin")
        remote.rm(remote_name)
    assert sha256_of(tmp_path / "back.bin") == digest
    ports = {target.rsplit(":", 1)[1] for target in proxy.tunnels}
    assert str(info.port) in ports
    if info.url.startswith("ftp"):
        assert len(ports) >= 2, f"the data connections did not go through the proxy: {proxy.tunnels}"


def test_sftp_through_the_proxy(
    proxy: ConnectProxy, bed_server: Callable[[str], ServerInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenSSH's sshd through the tunnel: its host certificate checked against the real host name
    (known_hosts @cert-authority), the user certificate accepted, the file round trip whole."""
    from xfer.profiles import Profile

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # never the user's ~/.ssh
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    info = bed_server("sshd")
    profile = Profile.from_mapping("sshd", {
        "url": info.url, "timeout": 15.0, "identity": info.extra["client_key"],
        "identity_password": f"file:{info.extra['passphrase_file']}",
        "sftp": {"known_hosts": info.extra["known_hosts_ca"]}, "proxy": proxy.url,
    })
    source = tmp_path / "up.bin"
    digest = make_file(source, 2_000_000)
    remote_name = f"/in/proxy-{uuid.uuid4().hex[:8]}.bin"
    with xfer.connect(profile) as remote:
        facts = remote.connection_facts()
        assert facts["host_key_trusted_by"] == "known_hosts @cert-authority"
        assert facts["auth"] == "certificate"
        remote.put_file(source, remote_name)
        remote.get_file(remote_name, tmp_path / "back.bin")
        remote.rm(remote_name)
    assert sha256_of(tmp_path / "back.bin") == digest
    assert {target.rsplit(":", 1)[1] for target in proxy.tunnels} == {str(info.port)}
