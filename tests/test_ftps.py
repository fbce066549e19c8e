"""FTPS against the in-process pyftpdlib server: the contract, session reuse, and the safety rules.

Every server here requires a client certificate and refuses data connections that
do not resume the control connection's TLS session (as vsftpd does by default).
"""

from __future__ import annotations

import ftplib
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pyftpdlib.handlers import TLS_FTPHandler

from xfer.adapters.base import Adapter
from xfer.adapters.ftps import FTPSAdapter
from xfer.errors import InsecureSchemeRefused, IntegrityError, UsageError
from xfer.testing.contract import AdapterContract, make_file, sha256_of
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext
from xfer.tls.connection import XferSSLSocket
from xfer.transfer import FileBody

from .ftps_fixtures import implicit, server, server_root  # noqa: F401 - fixtures, used by name

ContextFactory = Callable[..., XferSSLContext]


class TestPyftpdlibContract(AdapterContract):
    """The shared contract, explicit and implicit, TLS 1.2 and 1.3 (MLSD/MLST server)."""

    @pytest.fixture
    def remote(self, server: FTPSServer, client_context: ContextFactory, tls_version: str) -> Iterator[Adapter]:
        with server.adapter(client_context(tls_max=tls_version)) as adapter:
            yield adapter
        # Every data connection of the test resumed the control session.
        assert all(server.data_sessions), server.data_sessions


class _NoMLSHandler(TLS_FTPHandler):  # type: ignore[misc]
    """A vsftpd-like server: no MLSD/MLST, no EPSV, so xfer must parse LIST and use PASV."""

    proto_cmds: ClassVar[dict[str, Any]] = {
        k: v for k, v in TLS_FTPHandler.proto_cmds.items() if k not in ("MLSD", "MLST", "EPSV")
    }


class TestPyftpdlibListFallback(AdapterContract):
    """The contract again on a server without MLSD/MLST/EPSV: LIST parsing, SIZE/CWD info, PASV."""

    @pytest.fixture
    def remote(
        self, pki: TestPKI, server_root: Path, client_context: ContextFactory, tls_version: str
    ) -> Iterator[Adapter]:
        with FTPSServer(pki, root=server_root, tls_max=tls_version, handler_class=_NoMLSHandler) as srv:
            with srv.adapter(client_context(tls_max=tls_version)) as adapter:
                yield adapter
            assert not any(c.startswith(("MLSD", "MLST")) for c in srv.commands)
            if any(c.startswith(("LIST", "STOR", "RETR")) for c in srv.commands):
                assert "PASV" in srv.commands


def test_every_data_connection_resumes_the_session(
    server: FTPSServer, client_context: ContextFactory, tls_version: str, tmp_path: Path
) -> None:
    source = tmp_path / "a.bin"
    make_file(source, 300_000)
    with server.adapter(client_context(tls_max=tls_version)) as remote:
        put = remote.put_file(source, "/a.bin")
        remote.ls("/")
        got = remote.get_file("/a.bin", tmp_path / "b.bin")
        assert remote.tls_version == f"TLSv{tls_version}"
        assert remote.data_connections.opened == 3
    for result in (put, got):
        assert result.details["data_connections"] == 1
        assert result.details["data_sessions_resumed"] == 1
        assert result.tls_version == f"TLSv{tls_version}"
        assert result.details["data_tls_versions"] == [f"TLSv{tls_version}"]
    assert put.size_verified is True
    assert server.data_sessions == [True, True, True]


@pytest.mark.parametrize("how", ["put_file", "open_write"])
def test_close_notify_of_an_upload_goes_without_nagle_delay(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """TCP_NODELAY is on when an upload's close_notify is sent.  With Nagle, that small record
    waited for the ACK of the last data segment, which the server delays (40 ms on Linux):
    45 ms per file, 0.33x lftp on 300 small files against vsftpd.  (During the data Nagle
    stays on, as before: it packs 16 KiB records into full segments.)"""
    nodelay: list[int] = []
    original = ssl.SSLSocket.unwrap

    def recording(self: ssl.SSLSocket) -> socket.socket:
        nodelay.append(self.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return original(self)

    monkeypatch.setattr(ssl.SSLSocket, "unwrap", recording)
    (tmp_path / "f").write_bytes(b"small")
    with server.adapter(client_context()) as remote:
        if how == "put_file":
            remote.put_file(tmp_path / "f", "/f")
        else:
            with remote.open_write("/f") as writer:
                writer.write(b"small")
    assert (server.root / "f").read_bytes() == b"small"
    assert nodelay and all(nodelay), nodelay


@pytest.mark.parametrize("implicit", [False], ids=["explicit"])  # stock ftplib has no implicit FTPS
def test_stock_ftplib_is_refused_with_522_and_xfer_is_not(
    server: FTPSServer, client_context: ContextFactory, tls_version: str, implicit: bool
) -> None:
    """The regression guard for CPython #63699: ftplib.FTP_TLS does not resume the session."""
    ctx = client_context(tls_max=tls_version)
    stock = ftplib.FTP_TLS(context=ctx, timeout=10)
    stock.connect(server.host, server.port)
    stock.login(server.user, server.password)
    stock.prot_p()
    (server.root / "file.txt").write_bytes(b"x" * 100_000)
    received: list[bytes] = []
    with pytest.raises((ftplib.Error, ssl.SSLError, OSError, EOFError)) as failure:
        stock.retrbinary("RETR /file.txt", received.append)
    assert not received
    # The server explains on the control connection, exactly as vsftpd does; depending on
    # timing ftplib reads that reply itself or fails first on the torn-down TLS socket.
    reply = str(failure.value)
    if not reply.startswith("522"):
        try:
            reply = stock.getresp()
        except ftplib.error_perm as late:
            reply = str(late)
    assert reply == "522 SSL connection failed: session reuse required", (repr(failure.value), server.commands)
    stock.close()
    assert server.data_sessions == [False]

    with server.adapter(client_context(tls_max=tls_version)) as remote:
        assert [e.name for e in remote.ls("/")] == ["file.txt"]
    assert server.data_sessions == [False, True]


@pytest.mark.parametrize("how", ["option", "server"])
def test_pasv_address_is_ignored(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path, how: str
) -> None:
    """PASV names 192.0.2.1 (TEST-NET, unreachable): xfer connects to the control host anyway."""
    handler = _NoMLSHandler if how == "server" else TLS_FTPHandler
    options: dict[str, Any] = {"epsv": False} if how == "option" else {}
    with FTPSServer(pki, root=server_root, handler_class=handler,
                    handler_attrs={"masquerade_address": "192.0.2.1"}) as srv:
        (tmp_path / "f").write_bytes(b"data")
        with srv.adapter(client_context(), timeout=5, **options) as remote:
            remote.put_file(tmp_path / "f", "/f")
            remote.get_file("/f", tmp_path / "g")
        assert (tmp_path / "g").read_bytes() == b"data"
        assert "PASV" in srv.commands
        assert ("EPSV" in srv.commands) == (how == "server")  # tried once, then remembered


class _RefuseAuthHandler(TLS_FTPHandler):  # type: ignore[misc]
    """A server that will not switch to TLS (but would happily take a clear-text login)."""

    tls_control_required = False

    def ftp_AUTH(self, line: str) -> None:
        self.respond("502 AUTH not available here.")


class _RefuseProtHandler(TLS_FTPHandler):  # type: ignore[misc]
    def ftp_PROT(self, line: str) -> None:
        self.respond("534 PROT P refused by policy.")


def test_refused_auth_tls_sends_no_password(
    pki: TestPKI, server_root: Path, client_context: ContextFactory
) -> None:
    with FTPSServer(pki, root=server_root, handler_class=_RefuseAuthHandler) as srv:
        with pytest.raises(InsecureSchemeRefused, match=r"refused AUTH TLS.*before sending the user name"):
            srv.adapter(client_context())
        time.sleep(0.2)  # let the server thread log anything that might have arrived
        assert srv.commands == ["AUTH TLS"]
        assert not any(srv.password in c for c in srv.commands)


def test_refused_prot_p_stops_before_any_data(
    pki: TestPKI, server_root: Path, client_context: ContextFactory
) -> None:
    with FTPSServer(pki, root=server_root, handler_class=_RefuseProtHandler) as srv:
        with pytest.raises(InsecureSchemeRefused, match=r"PROT P.*never transfers files in clear text"):
            srv.adapter(client_context())
        time.sleep(0.2)
        assert srv.commands[-1] == "PROT P"
        assert not any(c.split()[0] in ("PASV", "EPSV", "LIST", "RETR", "STOR", "CCC") for c in srv.commands)


def test_anonymous_login_when_no_username(
    pki: TestPKI, server_root: Path, client_context: ContextFactory
) -> None:
    with FTPSServer(pki, root=server_root, user="anonymous", password="", permissions="elr") as srv:
        with srv.adapter(client_context(), username="", password="") as remote:
            assert remote.ls("/") == []
        assert "USER anonymous" in srv.commands


def test_ccc_is_never_sent(server: FTPSServer, client_context: ContextFactory) -> None:
    with server.adapter(client_context()) as remote:
        assert remote._ftp is not None
        with pytest.raises(InsecureSchemeRefused):
            remote._ftp.ccc()
    assert "CCC" not in server.commands


def test_one_control_connection_for_a_batch(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with server.adapter(client_context()) as remote:
        for i in range(5):
            remote.put_file(tmp_path / "f", f"/f{i}")
        remote.ls("/")
    assert sum(1 for c in server.commands if c.startswith("USER")) == 1


def test_idle_connection_is_checked_and_reopened(
    server: FTPSServer, client_context: ContextFactory
) -> None:
    with server.adapter(client_context(), keepalive=0.2) as remote:
        remote.ls("/")
        before = server.commands.count("NOOP")  # a slow CI machine may already have idled once
        time.sleep(0.3)
        remote.ls("/")  # idle longer than keepalive: checked with NOOP first
        assert server.commands.count("NOOP") == before + 1
        server.drop_connections()
        time.sleep(0.3)
        assert remote.ls("/") == []  # NOOP failed on the dead connection, so xfer logged in again
    assert sum(1 for c in server.commands if c.startswith("USER")) == 2


class _SilentQuitHandler(TLS_FTPHandler):  # type: ignore[misc]
    def ftp_QUIT(self, line: str) -> None:
        pass  # never answers: close() must not wait forever


def test_close_sends_quit_and_never_hangs(
    pki: TestPKI, server_root: Path, client_context: ContextFactory
) -> None:
    with FTPSServer(pki, root=server_root, handler_class=_SilentQuitHandler) as srv:
        remote = srv.adapter(client_context(), timeout=30)
        started = time.monotonic()
        remote.close()
        remote.close()
        assert time.monotonic() - started < 5
        assert srv.commands[-1] == "QUIT"
        with pytest.raises(UsageError):
            remote.ls("/")


def test_upload_uses_a_temporary_name_then_renames(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path, server_root: Path
) -> None:
    (tmp_path / "f").write_bytes(b"payload")
    with server.adapter(client_context()) as remote:
        remote.put_file(tmp_path / "f", "/inbox.edi")
    stor = [c for c in server.commands if c.startswith("STOR")]
    assert len(stor) == 1 and stor[0].endswith(".xfer-part") and "inbox.edi" in stor[0]
    assert "RNTO /inbox.edi" in server.commands
    assert sorted(p.name for p in server_root.iterdir()) == ["inbox.edi"]


def test_upload_temp_name_can_be_switched_off(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"payload")
    with server.adapter(client_context(), upload_temp_name=False) as remote:
        result = remote.put_file(tmp_path / "f", "/direct.txt")
    assert "STOR /direct.txt" in server.commands
    assert not any(c.startswith("RN") for c in server.commands)
    assert result.temp_name is None


def test_root_confines_paths(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path, server_root: Path
) -> None:
    (server_root / "inbox").mkdir()
    (tmp_path / "f").write_bytes(b"rooted")
    with server.adapter(client_context(), root="/inbox") as remote:
        result = remote.put_file(tmp_path / "f", "/../../escape.txt")
        assert result.remote == "/escape.txt"
        assert [e.path for e in remote.ls("/")] == ["/escape.txt"]
    assert (server_root / "inbox" / "escape.txt").read_bytes() == b"rooted"


def test_download_reads_into_a_reused_buffer(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path, server_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RETR fills one 256 KiB buffer at a time on the TLS socket (no allocation, no Python call
    stack per record), never a large recv(size)."""
    expected = make_file(server_root / "big.bin", 3 << 20)
    calls = {"fill": 0, "recv": 0}
    original_fill, original_recv = XferSSLSocket.fill, ssl.SSLSocket.recv

    def counting_fill(self: XferSSLSocket, view: memoryview) -> int:
        calls["fill"] += 1
        return original_fill(self, view)

    def counting_recv(self: ssl.SSLSocket, *args: Any, **kwargs: Any) -> bytes:
        calls["recv"] += 1
        return original_recv(self, *args, **kwargs)

    with server.adapter(client_context()) as remote:
        monkeypatch.setattr(XferSSLSocket, "fill", counting_fill)
        monkeypatch.setattr(ssl.SSLSocket, "recv", counting_recv)
        progress: list[int] = []
        remote.get_file("/big.bin", tmp_path / "big.bin", callback=lambda d, t: progress.append(d))
        monkeypatch.undo()
    assert sha256_of(tmp_path / "big.bin") == expected
    # 12 full buffers, then the short last one asked again (its clean end).
    assert 12 <= calls["fill"] <= 14
    assert calls["recv"] == 0
    assert progress[-1] == 3 << 20 and len(progress) < 40  # one callback per 256 KiB, not per record


@pytest.mark.parametrize(("start", "length"), [(0, None), (100_000, 2 << 20)])
def test_ranged_read_reuses_one_buffer(
    server: FTPSServer, client_context: ContextFactory, server_root: Path, monkeypatch: pytest.MonkeyPatch,
    start: int, length: int | None,
) -> None:
    """read_range (fsspec) read each 16 KiB record into a fresh zeroed 256 KiB buffer."""
    from xfer.adapters.ftps.connection import DataReader

    data = os.urandom(3 << 20)
    (server_root / "r.bin").write_bytes(data)
    buffers: list[object] = []  # kept alive, so that a fresh buffer cannot reuse a freed one's id
    original = DataReader.read_into

    def recording(self: DataReader, view: memoryview) -> int:
        buffers.append(view.obj)
        return original(self, view)

    with server.adapter(client_context()) as remote:
        remote.read_range("/r.bin", 1, 1)  # the first read from the middle asks whether REST is honoured first
        monkeypatch.setattr(DataReader, "read_into", recording)
        got = remote.read_range("/r.bin", start, length)
    assert got == data[start : None if length is None else start + length]
    assert len(buffers) > 100
    assert len({id(b) for b in buffers}) == 1


def test_upload_iterates_the_shared_file_body(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path, server_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """STOR sends the chunks of :class:`xfer.transfer.FileBody`, HTTP's upload body, not a copy of
    its loop: one reused 256 KiB buffer, one progress call per block."""
    expected = make_file(tmp_path / "up.bin", (600 << 10))
    chunks: list[int] = []
    original = FileBody.__iter__

    def counting(self: FileBody) -> Iterator[memoryview]:
        for chunk in original(self):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(FileBody, "__iter__", counting)
    progress: list[tuple[int, int | None]] = []
    with server.adapter(client_context()) as remote:
        remote.put_file(tmp_path / "up.bin", "/up.bin", callback=lambda d, t: progress.append((d, t)))
    assert sha256_of(server_root / "up.bin") == expected
    assert chunks == [256 << 10, 256 << 10, 88 << 10]
    assert progress == [(256 << 10, 600 << 10), (512 << 10, 600 << 10), (600 << 10, 600 << 10)]


def test_upload_of_a_file_that_shrinks_is_refused_and_removed(
    server: FTPSServer, client_context: ContextFactory, tmp_path: Path, server_root: Path
) -> None:
    """The local file is cut short while it is sent: an integrity error naming it, nothing left on
    the server (neither the partial temporary file nor the target)."""
    local = tmp_path / "shrinks.bin"
    make_file(local, 600 << 10)

    def truncate(done: int, total: int | None) -> None:
        os.truncate(local, done)

    with server.adapter(client_context()) as remote, pytest.raises(IntegrityError) as failure:
        remote.put_file(local, "/shrinks.bin", callback=truncate)
    assert f"local file {local} shrank while uploading (262144 of 614400 bytes read)" in failure.value.message
    assert list(server_root.iterdir()) == []


def test_adapter_is_registered() -> None:
    from xfer import registry

    explicit, implicit_cls = registry.adapter_class("ftpes"), registry.adapter_class("ftps")
    assert issubclass(explicit, FTPSAdapter) and issubclass(implicit_cls, FTPSAdapter)
    assert (explicit.implicit, implicit_cls.implicit) == (False, True)
    assert (registry.default_port("ftpes"), registry.default_port("ftps")) == (21, 990)
