"""End-to-end verification and --limit-rate against the bed's real daemons (issue 13).

proftpd runs with mod_digest (integration/servers/proftpd/proftpd.conf.tmpl): its FEAT announces
HASH and XSHA256, so every put and get there reports ``verified: "sha256"``; the upload is hashed
under its temporary name, before the rename.  vsftpd, pure-ftpd, nginx and Apache offer no hash
of a stored file: they report ``"size"``.  pyas2's signed MDN carries a matching SHA-2 MIC for a
signed message: ``"sha256"``.  The lying-server cases are in tests/test_verify.py.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from integration.test_as2_pyas2 import Connect, connect, data_dir, pyas2  # noqa: F401 - fixtures used by name
from integration.test_ftps_servers import _adapter, _context
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.adapters.webdav import WebDAVAdapter
from xfer.identity import Identity
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def _payload(tmp_path: Path, size: int = 3 * MIB + 17) -> tuple[Path, str]:
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("proftpd", "sha256"), ("vsftpd-explicit", "size"), ("vsftpd-implicit", "size"), ("pureftpd", "size")],
)
def test_ftps_servers_report_their_strongest_check(
    name: str, expected: str, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path
) -> None:
    server = bed_server(name)
    local, digest = _payload(tmp_path)
    with _adapter(server, _context(bed_pki)) as remote:
        put = remote.put_file(local, "/verify-payload.bin")
        assert (put.verified, put.sha256, put.size_verified) == (expected, digest, True)
        got = remote.get_file("/verify-payload.bin", tmp_path / "back.bin")
        assert (got.verified, got.sha256) == (expected, digest)
        assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).hexdigest() == digest
        if name == "proftpd":
            # mod_digest's FEAT names HASH (SHA-1 by default): xfer selects SHA-256 with OPTS HASH.
            command = remote._hash_command
            assert command is not None and (command.command, command.algorithm) == ("HASH", "sha256")
        remote.rm("/verify-payload.bin")


def _https_settings(server: ServerInfo, pki: TestPKI, scheme: str) -> ConnectionSettings:
    context = create_ssl_context(Identity.load(pki.client_p12, pki.password), ca=pki.root_ca)
    return ConnectionSettings(scheme=scheme, host=server.host, port=server.port, root="/", ssl_context=context,
                              username=server.username, password=server.password, timeout=30,
                              limit_rate=None)


@pytest.mark.parametrize("name", ["nginx", "apache"])
def test_http_servers_report_size(
    name: str, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path
) -> None:
    server = bed_server(name)
    local, digest = _payload(tmp_path)
    cls = WebDAVAdapter if server.url.startswith("davs://") else HTTPSAdapter
    with cls(_https_settings(server, bed_pki, "davs" if cls is WebDAVAdapter else "https")) as remote:
        put = remote.put_file(local, "/verify-payload.bin")
        assert (put.verified, put.sha256) == ("size", digest)
        got = remote.get_file("/verify-payload.bin", tmp_path / "back.bin")
        assert (got.verified, got.sha256) == ("size", digest)
        remote.rm("/verify-payload.bin")


def test_limit_rate_50_mib_at_5m_takes_10_seconds(
    bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path
) -> None:
    """The issue's figure: 50 MiB at 5M/s is 10 s ± 10 %, a download from proftpd."""
    server = bed_server("proftpd")
    local, digest = _payload(tmp_path, 50 * MIB)
    with _adapter(server, _context(bed_pki)) as remote:
        remote.put_file(local, "/rate-payload.bin")
    implicit = server.url.startswith("ftps://")
    settings = ConnectionSettings(
        scheme="ftps" if implicit else "ftpes", host=server.host, port=server.port, root="/",
        ssl_context=_context(bed_pki), username=server.username, password=server.password, timeout=30,
        limit_rate=5 * MIB,
    )
    from xfer.adapters.ftps import ExplicitFTPSAdapter, ImplicitFTPSAdapter

    with (ImplicitFTPSAdapter if implicit else ExplicitFTPSAdapter)(settings) as limited:
        started = time.monotonic()
        result = limited.get_file("/rate-payload.bin", tmp_path / "back.bin")
        elapsed = time.monotonic() - started
        limited.rm("/rate-payload.bin")
    print(f"50 MiB at 5M/s: {elapsed:.2f} s (transfer {result.elapsed:.2f} s)")
    assert result.sha256 == digest
    assert result.elapsed == pytest.approx(10.0, rel=0.10)


@pytest.mark.parametrize(("sign", "expected"), [("sha256", "sha256"), ("sha512", "sha256"), ("none", "none")])
def test_as2_pyas2_mic_is_the_check(
    connect: Connect, pyas2: ServerInfo, tmp_path: Path, sign: str, expected: str  # noqa: F811 - the imported fixtures
) -> None:
    """pyas2's signed MDN carries the MIC of what it received (signed messages only): that is the check."""
    local = tmp_path / f"verify-{sign}-{os.urandom(4).hex()}.edi"
    local.write_bytes(os.urandom(5000))
    with connect(sign=sign) as remote:
        result = remote.put_file(local, "/")
    assert (result.verified, result.sha256) == (expected, hashlib.sha256(local.read_bytes()).hexdigest())
