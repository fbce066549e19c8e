"""Issue 13's cut run against the bed's real daemons: each transfer cut once, all byte-exact.

The in-process run (``tests/test_hundred_cuts.py``) does 100; here each real server gets eight
transfers (put and get alternating, 1 KiB to 16 MiB, a seeded random cut point), through
:func:`xfer.testing.faults.in_front_of` on 127.0.0.2 at the server's own port numbers (FTP's
passive range too).  The same checks: byte-identical, nothing hidden left on either side, a
resume rather than a restart for gets and FTPS puts.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import xfer
from integration.bed import ServerInfo
from tests.test_hundred_cuts import RATIO, Case, cut_once, hidden, problems
from xfer.errors import ConnectionDropped, ExitCode
from xfer.testing.faults import Cut, in_front_of
from xfer.testing.pki import TestPKI
from xfer.types import Capability

pytestmark = pytest.mark.integration

SERVERS = ["nginx", "apache", "vsftpd-explicit", "vsftpd-implicit", "proftpd", "pureftpd"]
#: proftpd's default ``AllowStoreRestart off`` refuses REST+STOR and APPE: a cut upload there
#: can only start over (integration/test_resume_ftps_servers.py shows both kinds).
UPLOADS_RESUME = {"vsftpd-explicit", "vsftpd-implicit", "pureftpd"}
TRANSFERS = 8


def cases(name: str) -> list[Case]:
    rng = random.Random(f"bed-cuts-{name}")
    result = []
    for number in range(TRANSFERS):
        size = int(2 ** rng.uniform(10, 24))
        result.append(Case(number, "put" if number % 2 else "get", size, rng.randint(1, size)))
    return result


def writable_folder(url: str, info: ServerInfo, folder: str, identity: dict[str, Any]) -> None:
    """``/folder`` on the server, made by the server's own user, as uploads are."""
    with xfer.connect(url, **identity) as direct:
        if Capability.MKDIR in direct.capabilities:
            direct.mkdir(f"/{folder}")
        else:  # plain HTTPS: a folder its worker may write into
            (info.root / folder).mkdir(exist_ok=True)
            (info.root / folder).chmod(0o777)


@pytest.mark.parametrize("name", SERVERS)
def test_every_cut_transfer_arrives_byte_exact(
    name: str, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = bed_server(name)
    url = info.extra.get("webdav_url", info.url) if name == "apache" else info.url
    passive: list[int] = []
    if "passive_ports" in info.extra:
        first, last = info.extra["passive_ports"]
        passive = list(range(first, last + 1))
    options: dict[str, Any] = {}
    if info.username:
        monkeypatch.setenv("XFER_T_CUT_PW", info.password or "")
        options = {"username": info.username, "password": "env:XFER_T_CUT_PW"}
    folder = f"cuts-{name}"
    identity = {"identity": str(bed_pki.client_p12), "identity_password": f"file:{bed_pki.password_file}",
                "ca": str(bed_pki.root_ca), **options}
    writable_folder(url, info, folder, identity)
    failures: list[str] = []
    for case in cases(name):
        data = random.Random(case.number).randbytes(case.size)
        file_name = f"f{case.number:02d}.bin"
        local, there = tmp_path / file_name, info.root / folder / file_name
        if case.direction == "get":
            there.write_bytes(data)
            there.chmod(0o644)
        else:
            local.write_bytes(data)
        with in_front_of(url, cut_once(case, passive), passive_ports=passive) as (proxy, proxied):
            with xfer.connect(proxied, retries=5, retry_wait=0.01, **identity) as remote:
                remote_path = f"/{folder}/{file_name}"
                if case.direction == "get":
                    result = remote.get_file(remote_path, local)
                else:
                    result = remote.put_file(local, remote_path)
        arrived = (local if case.direction == "get" else there).read_bytes()
        failures += problems(f"{name} {case.direction}", case, data, arrived, result, proxy,
                             bounded=case.direction == "get" or name in UPLOADS_RESUME)
        there.unlink()
        local.unlink()
    left = hidden(info.root / folder) + hidden(tmp_path)
    assert not left, f"part or temporary files left: {left}"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("name", "ranged"), [("apache", True), ("nginx", False)])
def test_webdav_upload_resumes_with_content_range_where_the_server_takes_it(
    name: str, ranged: bool, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path
) -> None:
    """Apache takes PUT with Content-Range: a cut upload goes on from the pieces it has
    (at most 1.3 times the file through the proxy).  nginx answers 501: one whole PUT, as before."""
    info = bed_server(name)
    url = info.extra.get("webdav_url", info.url)
    size = 40 << 20
    data = random.Random(40).randbytes(size)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    identity: dict[str, Any] = {"identity": str(bed_pki.client_p12),
                                "identity_password": f"file:{bed_pki.password_file}", "ca": str(bed_pki.root_ca)}
    cut = Case(0, "put", size, 25 << 20)
    with in_front_of(url, cut_once(cut, []) if ranged else None) as (proxy, proxied):
        with xfer.connect(proxied, retries=5, retry_wait=0.01, **identity) as remote:
            result = remote.put_file(local, "/ranged-put.bin")
            assert remote.http.ranged_puts is ranged  # type: ignore[attr-defined]
    there = info.root / "ranged-put.bin"
    assert there.read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    up = sum(c.bytes_up for c in proxy.connections)
    if ranged:
        assert proxy.connections[0].was_cut and result.attempts == 2
        assert up <= RATIO * size, f"{up} bytes up for {size}: restarted instead of continued"
        assert result.details["content_range_pieces"] == 3
    there.unlink()
    assert hidden(info.root) == []


@pytest.mark.parametrize("name", ["nginx", "apache", "vsftpd-explicit"])
def test_upload_cut_on_every_try_is_a_broken_connection(
    name: str, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real server behind a proxy that cuts every upload 1 MB in: exit 5, "cut on each of 2 tries",
    and not a word about our certificate (the server took it: the cut came megabytes later)."""
    info = bed_server(name)
    url = info.extra.get("webdav_url", info.url) if name == "apache" else info.url
    passive: list[int] = []
    options: dict[str, Any] = {}
    if "passive_ports" in info.extra:
        first, last = info.extra["passive_ports"]
        passive = list(range(first, last + 1))
    if info.username:
        monkeypatch.setenv("XFER_T_CUT_PW", info.password or "")
        options = {"username": info.username, "password": "env:XFER_T_CUT_PW"}
    control = int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    def plan(number: int, port: int) -> Cut | None:
        return None if passive and port == control else Cut("up", after=1_000_000)

    local = tmp_path / "cut-up.bin"
    local.write_bytes(random.Random(7).randbytes(4 << 20))
    identity = {"identity": str(bed_pki.client_p12), "identity_password": f"file:{bed_pki.password_file}",
                "ca": str(bed_pki.root_ca), **options}
    folder = f"cut-up-{name}"
    writable_folder(url, info, folder, identity)
    with in_front_of(url, plan, passive_ports=passive) as (_proxy, proxied):
        with xfer.connect(proxied, retries=1, retry_wait=0.01, **identity) as remote, \
                pytest.raises(ConnectionDropped) as caught:
            remote.put_file(local, f"/{folder}/cut-up.bin")
    message = str(caught.value)
    assert message.endswith(" (the connection was cut on each of 2 tries)"), message
    assert "certificate" not in f"{message} {caught.value.hint}", message
    assert caught.value.exit_code == ExitCode.CONNECT
    assert sorted(p.name for p in (info.root / folder).iterdir()) == []  # nothing installed, nothing left
