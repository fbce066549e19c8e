"""The FTPS adapter against real daemons: vsftpd (explicit and implicit), proftpd, pure-ftpd.

One contract suite, every server, TLS 1.2 and 1.3; plus the proof that stock
``ftplib.FTP_TLS`` is refused by vsftpd (522, no session reuse) while xfer is not.
"""

from __future__ import annotations

import ftplib
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.ftps import ExplicitFTPSAdapter, FTPSAdapter, ImplicitFTPSAdapter
from xfer.errors import AuthenticationFailed, ClientCertificateRejected, ClientCertificateRequired, TLSError
from xfer.identity import Identity
from xfer.testing.contract import AdapterContract, make_file
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext, create_ssl_context

pytestmark = pytest.mark.integration

SERVERS = ["vsftpd-explicit", "vsftpd-implicit", "proftpd", "pureftpd"]
#: Servers that resume the control session on data connections (and, configured as in the bed,
#: refuse data connections that do not).  pure-ftpd resumes only sometimes and accepts a full
#: handshake, so for it the resumption count is reported, not asserted.
RESUMING = {"vsftpd-explicit", "vsftpd-implicit", "proftpd"}


def _context(pki: TestPKI, which: str | None = "client_p12", tls_max: str | None = None) -> XferSSLContext:
    identity = Identity.load(getattr(pki, which), pki.password) if which else None
    return create_ssl_context(identity, ca=pki.root_ca, maximum_version=tls_max)


def _adapter(server: ServerInfo, context: ssl.SSLContext, *, password: str | None = None) -> FTPSAdapter:
    implicit = server.url.startswith("ftps://")
    cls = ImplicitFTPSAdapter if implicit else ExplicitFTPSAdapter
    settings = ConnectionSettings(
        scheme="ftps" if implicit else "ftpes", host=server.host, port=server.port, root="/",
        ssl_context=context, username=server.username,
        password=server.password if password is None else password, timeout=20,
    )  # fmt: skip
    return cls(settings)


@pytest.fixture(params=SERVERS)
def ftp_server(request: pytest.FixtureRequest, bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server(request.param)


class TestRealFTPSServers(AdapterContract):
    """The contract on each real server; every data connection must have resumed the session."""

    @pytest.fixture
    def remote(self, ftp_server: ServerInfo, bed_pki: TestPKI, tls_version: str) -> Iterator[FTPSAdapter]:
        with _adapter(ftp_server, _context(bed_pki, tls_max=tls_version)) as adapter:
            yield adapter
            assert adapter.tls_version in (f"TLSv{tls_version}", None)
            resumed = [d.resumed for d in adapter.data_connections]
            if ftp_server.name in RESUMING:
                assert all(resumed), f"{ftp_server.name}: data sessions resumed {resumed}"


def test_put_reports_session_reuse_and_lands_on_disk(
    ftp_server: ServerInfo, bed_pki: TestPKI, tls_version: str, tmp_path: Path
) -> None:
    expected = make_file(tmp_path / "f.bin", 3 << 20)
    name = f"reuse-{ftp_server.name}-{tls_version}.bin"
    with _adapter(ftp_server, _context(bed_pki, tls_max=tls_version)) as remote:
        result = remote.put_file(tmp_path / "f.bin", f"/{name}")
        try:
            assert result.details["data_connections"] == 1
            if ftp_server.name in RESUMING:
                assert result.details["data_sessions_resumed"] == 1
            assert result.details["tls_version"] == f"TLSv{tls_version}"
            assert result.details["size_verified"] is True
            from xfer.testing.contract import sha256_of

            assert sha256_of(ftp_server.root / name) == expected
        finally:
            remote.rm(f"/{name}")


def test_stock_ftplib_fails_with_522_on_vsftpd_and_xfer_does_not(
    bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tls_version: str
) -> None:
    """CPython #63699 in one test: the same context, the same server, two clients."""
    vsftpd = bed_server("vsftpd-explicit")
    stock = ftplib.FTP_TLS(context=_context(bed_pki, tls_max=tls_version), timeout=20)
    stock.connect(vsftpd.host, vsftpd.port)
    stock.login(vsftpd.username or "", vsftpd.password or "")
    stock.prot_p()
    with pytest.raises((ftplib.Error, ssl.SSLError, OSError, EOFError)) as failure:
        stock.nlst("/")
    reply = str(failure.value)
    if not reply.startswith("522"):  # ftplib may fail on the torn-down socket before reading it
        try:
            reply = stock.getresp()
        except ftplib.Error as late:
            reply = str(late)
    stock.close()
    assert reply.startswith("522"), reply
    assert "session reuse required" in reply

    with _adapter(vsftpd, _context(bed_pki, tls_max=tls_version)) as remote:
        remote.ls("/")
        assert [d.resumed for d in remote.data_connections] == [True]


def test_no_client_certificate_is_refused(ftp_server: ServerInfo, bed_pki: TestPKI) -> None:
    with pytest.raises((ClientCertificateRequired, ClientCertificateRejected, TLSError)) as failure:
        _adapter(ftp_server, _context(bed_pki, None)).close()
    assert failure.value.exit_code == 4


def test_untrusted_client_certificate_is_refused(ftp_server: ServerInfo, bed_pki: TestPKI) -> None:
    with pytest.raises(TLSError) as failure:
        _adapter(ftp_server, _context(bed_pki, "client_untrusted_p12")).close()
    assert failure.value.exit_code == 4


def test_wrong_password(ftp_server: ServerInfo, bed_pki: TestPKI) -> None:
    with pytest.raises(AuthenticationFailed, match="refused the login"):
        _adapter(ftp_server, _context(bed_pki), password="wrong-password").close()
