"""The FTPS adapter against real daemons: vsftpd (explicit and implicit), proftpd, pure-ftpd.

One contract suite, every server, TLS 1.2 and 1.3; plus the proof that stock
``ftplib.FTP_TLS`` is refused by vsftpd (522, no session reuse) while xfer is not.
"""

from __future__ import annotations

import contextlib
import ftplib
import os
import shutil
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.ftps import ExplicitFTPSAdapter, FTPSAdapter, ImplicitFTPSAdapter
from xfer.errors import (
    AuthenticationFailed,
    ClientCertificateRejected,
    ClientCertificateRequired,
    RemoteError,
    RemoteIsFolder,
    TLSError,
    UsageError,
)
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
    )
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
            resumed = [d.resumed for d in adapter.data_connections.recent]
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
            assert result.tls_version == f"TLSv{tls_version}"
            assert result.size_verified is True
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
        assert [d.resumed for d in remote.data_connections.recent] == [True]


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


# -- issue 11 on the real daemons ----------------------------------------------------------------------


def test_download_without_a_size_is_proven_by_close_notify(
    ftp_server: ServerInfo, bed_pki: TestPKI, tls_version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 2: with no length to check, a download is complete only if the data connection ended
    with close_notify.  Every daemon of the bed sends it (on RETR and on listings): with SIZE and
    MLST hidden from xfer, files and listings still come through."""
    name = f"no-size-{ftp_server.name}-{tls_version}.bin"
    expected = make_file(ftp_server.root / name, 1 << 20)
    with _adapter(ftp_server, _context(bed_pki, tls_max=tls_version)) as remote:
        monkeypatch.setattr(remote, "_stored_size", lambda ftp, path: None)
        try:
            remote.get_file(f"/{name}", tmp_path / name)
            assert name in [e.name for e in remote.ls("/")]
        finally:
            (ftp_server.root / name).unlink()
    from xfer.testing.contract import sha256_of

    assert sha256_of(tmp_path / name) == expected


def test_get_of_a_folder_says_it_is_a_folder(ftp_server: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    """Item 4: "does not exist (550 ...)" for a folder."""
    folder = ftp_server.root / f"get-folder-{ftp_server.name}"
    folder.mkdir()
    _give_to_ftp_user(folder, ftp_server)
    try:
        with _adapter(ftp_server, _context(bed_pki)) as remote, pytest.raises(RemoteIsFolder) as failure:
            remote.get_file(f"/{folder.name}", tmp_path / "x")
    finally:
        folder.rmdir()
    assert str(failure.value).endswith(f"/{folder.name} is a folder")
    assert failure.value.exit_code == 6
    assert not (tmp_path / "x").exists()


def test_put_creates_missing_parent_folders(ftp_server: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    """Item 16: vsftpd answered "553 Could not create file." and xfer hinted at bad characters."""
    top = f"parents-{ftp_server.name}"
    (tmp_path / "f.edi").write_bytes(b"payload")
    try:
        with _adapter(ftp_server, _context(bed_pki)) as remote:
            remote.put_file(tmp_path / "f.edi", f"/{top}/a/b/f.edi")
        assert (ftp_server.root / top / "a" / "b" / "f.edi").read_bytes() == b"payload"
    finally:
        shutil.rmtree(ftp_server.root / top, ignore_errors=True)


def test_failed_dele_inside_rm_r_names_the_entry(ftp_server: ServerInfo, bed_pki: TestPKI) -> None:
    """Item 21: a file the FTP user may not delete (its folder is root's, read-only)."""
    top = ftp_server.root / f"rm-{ftp_server.name}"
    locked = top / "locked"
    locked.mkdir(parents=True)
    (locked / "f.edi").write_bytes(b"x")
    _give_to_ftp_user(top, ftp_server)
    locked.chmod(0o555)  # stays root's: the server's user cannot delete inside it
    try:
        with _adapter(ftp_server, _context(bed_pki)) as remote, pytest.raises(RemoteError) as failure:
            remote.rm(f"/{top.name}", recursive=True)
        assert f"/{top.name}/locked/f.edi" in str(failure.value)
        assert (locked / "f.edi").exists()
    finally:
        locked.chmod(0o755)
        shutil.rmtree(top, ignore_errors=True)


def test_mv_never_replaces_a_folder(ftp_server: ServerInfo, bed_pki: TestPKI) -> None:
    """Item 1: the file goes into the folder (Adapter.mv) or is refused; the folder stays whole."""
    folder = ftp_server.root / f"batch-{ftp_server.name}"
    folder.mkdir()
    (folder / "0.edi").write_bytes(b"0")
    (ftp_server.root / f"invoice-{ftp_server.name}.edi").write_bytes(b"invoice")
    _give_to_ftp_user(folder, ftp_server)
    _give_to_ftp_user(ftp_server.root / f"invoice-{ftp_server.name}.edi", ftp_server)
    try:
        with _adapter(ftp_server, _context(bed_pki)) as remote:
            with pytest.raises(RemoteIsFolder):
                remote._mv(f"/invoice-{ftp_server.name}.edi", f"/{folder.name}")
            with contextlib.suppress(RemoteIsFolder):
                remote.mv(f"/invoice-{ftp_server.name}.edi", f"/{folder.name}/")
        assert folder.is_dir() and (folder / "0.edi").read_bytes() == b"0"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        (ftp_server.root / f"invoice-{ftp_server.name}.edi").unlink(missing_ok=True)


def test_backslash_path_creates_nothing(ftp_server: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    """Item 23: ``p:\\dir\\`` created a file literally named ``\\dir\\``."""
    (tmp_path / "f.edi").write_bytes(b"x")
    before = sorted(p.name for p in ftp_server.root.iterdir())
    with _adapter(ftp_server, _context(bed_pki)) as remote, pytest.raises(UsageError, match="backslash"):
        remote.put_file(tmp_path / "f.edi", "\\dir\\")
    assert sorted(p.name for p in ftp_server.root.iterdir()) == before


def _give_to_ftp_user(path: Path, server: ServerInfo) -> None:
    """Files made by the test (as root) belong to the user the daemon works as, like uploads."""
    owner = server.root.stat()
    os.chown(path, owner.st_uid, owner.st_gid)


def test_ls_of_a_missing_path_says_it_does_not_exist(ftp_server: ServerInfo, bed_pki: TestPKI) -> None:
    """The wording for a missing file or folder is the same on every daemon (exit 6)."""
    from xfer.errors import RemoteNotFound

    with _adapter(ftp_server, _context(bed_pki)) as remote:
        for missing in ("/missing-file.csv", "/missing-folder/x.csv"):
            with pytest.raises(RemoteNotFound) as failure:
                remote.ls(missing)
            assert str(failure.value).endswith(f"{missing} does not exist"), failure.value
            assert failure.value.exit_code == 6
