"""Each bad input over FTPS -> the right exception, a message a user can act on, no partial file."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
from pyftpdlib.handlers import TLS_FTPHandler

from xfer.adapters.ftps.replies import is_ambiguous_550, reply_error
from xfer.errors import (
    AuthenticationFailed,
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConnectionDropped,
    HostnameMismatch,
    PinMismatch,
    RemoteFolderNotEmpty,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerCertificateUntrusted,
    ServerError,
    TLSError,
    XferError,
)
from xfer.identity import Identity
from xfer.retry import RetryPolicy
from xfer.testing.contract import make_file
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext, create_ssl_context

from .ftps_fixtures import implicit, server, server_root  # noqa: F401 - fixtures, used by name

ContextFactory = Callable[..., XferSSLContext]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- TLS and identity ----------------------------------------------------------------------


def test_no_identity(server: FTPSServer, client_context: ContextFactory, tls_version: str) -> None:
    with pytest.raises(ClientCertificateRequired, match="requires a client certificate and none was presented"):
        server.adapter(client_context(None, tls_max=tls_version))
    assert not any(c.startswith("PASS") for c in server.commands)


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("client_untrusted_p12", "does not trust the issuer"),
        ("client_leaf_only_p12", "does not trust the issuer"),
        ("client_expired_p12", "expired"),
    ],
)
def test_rejected_identity(
    server: FTPSServer, client_context: ContextFactory, tls_version: str, which: str, words: str
) -> None:
    with pytest.raises(ClientCertificateRejected, match=words) as failure:
        server.adapter(client_context(which, tls_max=tls_version))
    assert f"127.0.0.1:{server.port}" in str(failure.value)
    assert not any(c.startswith("PASS") for c in server.commands)


def test_untrusted_server_ca(server: FTPSServer, client_context: ContextFactory, pki: TestPKI) -> None:
    with pytest.raises(ServerCertificateUntrusted, match="we do not trust the server's certificate") as failure:
        server.adapter(client_context(ca=pki.untrusted_ca))
    assert failure.value.hint and "--ca" in failure.value.hint


def test_wrong_host(pki: TestPKI, server_root: Path, client_context: ContextFactory, implicit: bool) -> None:
    with FTPSServer(pki, root=server_root, implicit=implicit,
                    certificate=(pki.wrong_host_cert, pki.wrong_host_key)) as srv:
        with pytest.raises(HostnameMismatch, match="not valid for this host name"):
            srv.adapter(client_context())
        assert not any(c.startswith("PASS") for c in srv.commands)


def test_pin_mismatch(server: FTPSServer, pki: TestPKI, identity: Identity) -> None:
    ctx = create_ssl_context(identity, ca=pki.root_ca, pin="sha256:" + "00" * 32)
    with pytest.raises(PinMismatch, match="does not match the pinned sha256:0000"):
        server.adapter(ctx)
    assert not any(c.startswith("PASS") for c in server.commands)


# -- login and permissions ------------------------------------------------------------------


def test_wrong_password(server: FTPSServer, client_context: ContextFactory) -> None:
    with pytest.raises(AuthenticationFailed, match="refused the login of 'xfer' \\(wrong user name or password\\)"):
        server.adapter(client_context(), password="not-the-password")


class _CertUserHandler(TLS_FTPHandler):  # type: ignore[misc]
    """proftpd-style: TLS accepted the certificate, but it does not belong to this user."""

    def ftp_PASS(self, line: str) -> None:
        self.respond("530 Login denied: client certificate not mapped to this user.")


def test_certificate_refused_for_user(pki: TestPKI, server_root: Path, client_context: ContextFactory) -> None:
    with FTPSServer(pki, root=server_root, handler_class=_CertUserHandler) as srv:
        with pytest.raises(ClientCertificateRejected, match="because of the client certificate"):
            srv.adapter(client_context())


def test_permission_denied(pki: TestPKI, server_root: Path, client_context: ContextFactory,
                           tmp_path: Path) -> None:
    (server_root / "keep.txt").write_bytes(b"keep")
    (tmp_path / "f").write_bytes(b"x")
    with FTPSServer(pki, root=server_root, permissions="elr") as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemotePermissionDenied, match="permission denied"):
            remote.put_file(tmp_path / "f", "/new.txt")
        with pytest.raises(RemotePermissionDenied):
            remote.rm("/keep.txt")
        with pytest.raises(RemoteNotFound):
            remote.get_file("/missing.txt", tmp_path / "out")
        assert remote.ls("/")[0].name == "keep.txt"  # the session survived the refusals
    assert _files(server_root) == ["keep.txt"]
    assert _files(tmp_path) == ["f"]


def test_a_folder_we_may_not_list_is_permission_denied_not_missing(
    pki: TestPKI, server_root: Path, client_context: ContextFactory
) -> None:
    """MLSD and MLST both answered "550 Not enough privileges." (pyftpdlib, a folder without the
    list permission): the folder is there, we may not look.  Said "does not exist" before (review S)."""
    (server_root / "locked").mkdir()
    (server_root / "locked" / "in.txt").write_bytes(b"x")
    with FTPSServer(pki, root=server_root) as srv:
        srv._handler.authorizer.override_perm(srv.user, str(server_root / "locked"), "e", recursive=True)
        with srv.adapter(client_context()) as remote:
            with pytest.raises(RemotePermissionDenied, match="permission denied while listing /locked") as caught:
                remote.ls("/locked")
            with pytest.raises(RemoteNotFound, match="does not exist"):
                remote.ls("/nothere")
    assert caught.value.exit_code == 6 and "read access" in (caught.value.hint or "")


# -- full disk -------------------------------------------------------------------------------


@pytest.mark.parametrize("temp_name", [True, False], ids=["temp-name", "direct"])
def test_full_disk_on_a_real_filesystem(
    pki: TestPKI, tiny_disk: Path, client_context: ContextFactory, tmp_path: Path, temp_name: bool
) -> None:
    make_file(tmp_path / "big.bin", 5 << 20)
    with FTPSServer(pki, root=tiny_disk) as srv, srv.adapter(client_context(), upload_temp_name=temp_name) as remote:
        with pytest.raises(RemoteStorageFull, match="no space"):
            remote.put_file(tmp_path / "big.bin", "/big.bin")
    assert _files(tiny_disk) == []  # the partial upload was removed


class _QuotaHandler(TLS_FTPHandler):  # type: ignore[misc]
    def ftp_STOR(self, file: str, mode: str = "w") -> None:
        self.respond("552 Requested file action aborted. Exceeded storage allocation.")


def test_quota_reply_552(pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 1000)
    with FTPSServer(pki, root=server_root, handler_class=_QuotaHandler) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemoteStorageFull, match="552 Requested file action aborted") as failure:
            remote.put_file(tmp_path / "f", "/f")
    assert failure.value.exit_code == 6
    assert _files(server_root) == []


# -- the connection breaks mid-transfer --------------------------------------------------------


def _cut_once(server: FTPSServer) -> Callable[[int, int | None], None]:
    """A progress callback that cuts every connection once 1 MiB has moved."""
    fired: list[int] = []

    def cut(done: int, total: int | None) -> None:
        if done >= 1 << 20 and not fired:
            fired.append(done)
            server.drop_connections()

    return cut


def test_dropped_during_download(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path, server_root: Path
) -> None:
    make_file(server_root / "big.bin", 32 << 20)
    target = tmp_path / "big.bin"
    target.write_bytes(b"previous version")

    cut = _cut_once(server)

    with server.adapter(client_context()) as remote:
        remote.retry_policy = RetryPolicy(retries=0)  # one try: what a cut leaves (retries: test_retry_ftps.py)
        with pytest.raises((ConnectionDropped, TLSError)) as failure:
            remote.get_file("/big.bin", target, callback=cut)
        # The next operation opens a new control connection.
        assert [e.name for e in remote.ls("/")] == ["big.bin"]
    assert isinstance(failure.value, XferError) and failure.value.exit_code in (4, 5)
    assert target.read_bytes() == b"previous version"
    assert _files(tmp_path) == ["big.bin"]


def test_dropped_during_upload(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path, server_root: Path
) -> None:
    make_file(tmp_path / "big.bin", 32 << 20)

    cut = _cut_once(server)

    with server.adapter(client_context()) as remote:
        remote.retry_policy = RetryPolicy(retries=0)  # one try: what a cut leaves (retries: test_retry_ftps.py)
        with pytest.raises((ConnectionDropped, TLSError)) as failure:
            remote.put_file(tmp_path / "big.bin", "/big.bin", callback=cut)
    assert failure.value.exit_code in (4, 5)
    # Neither the target nor the temporary name is left on the server.
    assert _files(server_root) == []


# -- reply codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        # IIS, file in use: 4xx is transient, though the text says "access" (review finding).
        ("450 The process cannot access the file because it is being used by another process.", ServerError),
        ("450 Access denied while the file is locked, retry later", ServerError),
        ("451 Requested action aborted: local error in processing.", ServerError),
        ("550 The process cannot access the file.", RemotePermissionDenied),
        ("550 Access is denied.", RemotePermissionDenied),
        ("450 No such file or directory", RemoteNotFound),
        ("452 Insufficient storage space in system.", RemoteStorageFull),
        ("421 Service not available, closing control connection.", ConnectionDropped),
    ],
)
def test_reply_mapping(reply: str, kind: type[XferError]) -> None:
    error = reply_error(reply, server="host", action="renaming", path="/x")
    assert type(error) is kind
    if kind is ServerError:
        assert error.hint == "the server says this is temporary; try again"
        assert error.exit_code == RemotePermissionDenied.exit_code  # remote (6), but not "denied"


@pytest.mark.parametrize(
    "reply",
    [
        "550 Directory not empty.",  # pyftpdlib
        "550 /in/full: Directory not empty",  # proftpd quotes the path ("full" is no quota word here)
        "550 Can't remove directory: Directory not empty",  # pure-ftpd
    ],
)
def test_a_folder_not_empty_is_an_oserror_enotempty(reply: str) -> None:
    import errno

    from xfer.errors import RemoteFolderNotEmpty

    error = reply_error(reply, server="host", action="removing the folder", path="/in/full")
    assert isinstance(error, RemoteFolderNotEmpty) and isinstance(error, OSError)
    assert error.errno == errno.ENOTEMPTY and error.reply_code == 550 and error.path == "/in/full"
    assert not isinstance(error, PermissionError)


@pytest.mark.parametrize(
    ("reply", "path", "expected"),
    [
        ("550 /in/full.csv: No such file or directory", "/in/full.csv", "RemoteNotFound"),
        ("550 /in/space report.txt: No such file or directory", "/in/space report.txt", "RemoteNotFound"),
        ("550 /backup/storage: Directory not empty", "/backup/storage", "RemoteFolderNotEmpty"),
        ("550 /in/not empty: No such file or directory", "/in/not empty", "RemoteNotFound"),
        ("451 /x/full.txt: No space left on device", "/x/full.txt", "RemoteStorageFull"),
        ("550 Quota exceeded", "/in/a.txt", "RemoteStorageFull"),
        # A short name, or one that is a word, is no longer cut out of the reason (review finding).
        ("550 No space left on device", "/in/a", "RemoteStorageFull"),
        ("550 No space left on device", "/in/e", "RemoteStorageFull"),
        ("451 Insufficient storage space", "/in/s", "RemoteStorageFull"),
        ("550 Disk full", "/in/full", "RemoteStorageFull"),
        ("550 Directory not empty", "/empty", "RemoteFolderNotEmpty"),
        ("550 Directory not empty", "/t", "RemoteFolderNotEmpty"),
        ("550 Directory not empty", "/out/empty", "RemoteFolderNotEmpty"),
        ("550 /out/empty: Directory not empty", "/out/empty", "RemoteFolderNotEmpty"),
        # Every pattern reads the reason without the path, "denied" and "not found" too.
        ("550 /in/access.log: No space left on device", "/in/access.log", "RemoteStorageFull"),
        ("550 /in/denied-claims.csv: Disk quota exceeded", "/in/denied-claims.csv", "RemoteStorageFull"),
        ("550 /in/not-found.csv: Permission denied", "/in/not-found.csv", "RemotePermissionDenied"),
        ("550 /in/access.log: Is a directory", "/in/access.log", "RemoteError"),
        ('550 "/in/no such file": Permission denied', "/in/no such file", "RemotePermissionDenied"),
        ("550 access.log: No space left on device", "/in/access.log", "RemoteStorageFull"),
        ("550 /home/u/in/access.log: No space left on device", "/in/access.log", "RemoteStorageFull"),
        ('550 Cannot open "/in/access.log": no space', "/in/access.log", "RemoteStorageFull"),
        ("550 /: Permission denied", "/", "RemotePermissionDenied"),
        # A space in a folder of the path (the server's own absolute path too).
        ("451 /in/my dir/full.csv: Input/output error", "/in/my dir/full.csv", "ServerError"),
        ("550 /in/my dir/no space.csv: Operation not permitted", "/in/my dir/no space.csv", "RemoteError"),
        ("550 /home/u/my dir/full.csv: No such file or directory", "/my dir/full.csv", "RemoteNotFound"),
    ],
)
def test_a_quoted_path_is_not_read_as_the_reason(reply: str, path: str, expected: str) -> None:
    """proftpd quotes the path in its replies: a file called full.csv that does not exist is not a
    full disk (it was RemoteStorageFull, "free space on the server").  The path goes only where a
    server quotes it (leading ``PATH:``, ``"PATH"``), never as a bare substring: ``/in/a`` took the
    a's out of "No space left on device"."""
    assert type(reply_error(reply, server="host", action="downloading", path=path)).__name__ == expected


@pytest.mark.parametrize(
    ("reply", "path", "ambiguous"),
    [
        ("550 /in/access.log: Remove directory operation failed.", "/in/access.log", True),
        ("550 /in/not-found: Remove directory operation failed.", "/in/not-found", True),
        ("550 Remove directory operation failed.", "/out", True),
        ("550 /out: Permission denied", "/out", False),
        ("550 Directory not empty", "/t", False),
    ],
)
def test_an_ambiguous_550_is_read_without_the_path(reply: str, path: str, ambiguous: bool) -> None:
    assert is_ambiguous_550(reply, path) is ambiguous


#: vsftpd's one reply for every failed rmdir(2): ENOTEMPTY, and EACCES (a parent it may not write).
_VSFTPD_RMD = "550 Remove directory operation failed."


def test_a_reasonless_rmd_refusal_of_a_folder_with_entries_does_not_advise_rm_r(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """vsftpd refuses RMD of /out in the (unwritable) chroot root with the reply it gives for a full
    folder: still ENOTEMPTY for fsspec, but no "xfer rm -r" hint that would delete every file and
    then fail on the same refusal."""
    root = tmp_path / "root"
    (root / "out").mkdir(parents=True)
    (root / "out" / "keep.edi").write_bytes(b"k")
    (root / "out" / "also.edi").write_bytes(b"k")
    with FakeFTPSServer(pki, root=root, mlst=False, replies={"RMD /out": _VSFTPD_RMD}) as fake:
        remote = fake.adapter(client_context())
        with remote, pytest.raises(RemoteFolderNotEmpty) as caught:
            remote.rmdir("/out")
    error = caught.value
    assert error.errno == errno.ENOTEMPTY and error.filename == "/out" and error.reply_code == 550
    assert "refused; the folder holds 2 entries (it may also be protected)" in error.message
    assert error.hint is None or "rm -r" not in error.hint
    assert sorted(p.name for p in (root / "out").iterdir()) == ["also.edi", "keep.edi"]


def test_a_server_that_says_not_empty_keeps_the_rm_r_hint() -> None:
    error = reply_error("550 Directory not empty", server="host", action="removing the folder", path="/out")
    assert isinstance(error, RemoteFolderNotEmpty)
    assert error.message.startswith("host: folder /out is not empty") and error.filename == "/out"
    assert error.hint == "remove it with its contents: xfer rm -r"
