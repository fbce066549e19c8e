"""FTPS against hostile or unusual servers: nothing outside the folder is touched, nothing the
user had is lost, and the control connection stays in step after any failure.

Regression tests for review findings: names from listings that climb out of the folder,
uploads that deleted the old file when a rename or a STOR was refused, a transfer's
final reply read as the answer to the next command, and error messages naming "/".
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import TLS_FTPHandler

from xfer.adapters.ftps import FTPSConnection, install
from xfer.adapters.ftps.connection import DataReader
from xfer.adapters.ftps.listing import (
    is_safe_name,
    listing_lines,
    parse_list_line,
    parse_mlsd_line,
    parse_mlst_line,
)
from xfer.errors import (
    ConnectionDropped,
    ExitCode,
    Interrupted,
    ListingTooLarge,
    LocalError,
    RemoteError,
    RemotePermissionDenied,
    ServerError,
    XferError,
)
from xfer.testing.contract import make_file, sha256_of
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

ContextFactory = Callable[..., XferSSLContext]

#: pyftpdlib's permissions without "f" (rename).
NO_RENAME = "elradmwMT"


@pytest.fixture
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ftps-root")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _changes(server: FTPSServer) -> list[str]:
    """The commands that can change something on the server, in order."""
    return [c for c in server.commands if c.split(" ", 1)[0] in ("STOR", "DELE", "RNFR", "RNTO", "RMD", "MKD")]


# -- finding 1: names in listings --------------------------------------------------------------


class _NoMLSHandler(TLS_FTPHandler):  # type: ignore[misc]
    """vsftpd-like: LIST only."""

    proto_cmds: ClassVar[dict[str, Any]] = {
        k: v for k, v in TLS_FTPHandler.proto_cmds.items() if k not in ("MLSD", "MLST", "EPSV")
    }


class _HostileFS(AbstractedFS):  # type: ignore[misc]
    """Adds entries that no honest server lists to every listing of a folder named ``out``."""

    LIST_LINES: ClassVar[list[str]] = [
        "-rw-r--r--   1 u g 2 Jan 01 2024 ../keep.txt",
        "-rw-r--r--   1 u g 2 Jan 01 2024 ../../etc/passwd",
        "-rw-r--r--   1 u g 2 Jan 01 2024 sub/inner.txt",
        "drwxr-xr-x   2 u g 0 Jan 01 2024 .",
        "drwxr-xr-x   2 u g 0 Jan 01 2024 ..",
        "01-01-24  12:00PM                    2 ../keep.txt",
    ]
    MLSD_LINES: ClassVar[list[str]] = [
        "type=file;size=2; ../keep.txt",
        "type=file;size=2; /keep.txt",
        "type=file;size=2; sub/inner.txt",
        "type=dir; .",
        "type=dir; ..",
        "type=file;size=2; nul\x00.txt",
    ]

    def format_list(self, basedir: str, listing: list[str], ignore_err: bool = True) -> Iterator[bytes]:
        yield from super().format_list(basedir, listing, ignore_err)
        if basedir.rstrip("/").endswith("out"):
            for line in self.LIST_LINES:
                yield f"{line}\r\n".encode()

    def format_mlsx(self, basedir: str, listing: list[str], perms: str, facts: str,
                    ignore_err: bool = True) -> Iterator[bytes]:
        yield from super().format_mlsx(basedir, listing, perms, facts, ignore_err)
        if basedir.rstrip("/").endswith("out"):
            for line in self.MLSD_LINES:
                yield f"{line}\r\n".encode()


@pytest.fixture(params=["mlsd", "list"])
def hostile(request: pytest.FixtureRequest, pki: TestPKI, server_root: Path) -> Iterator[FTPSServer]:
    (server_root / "out").mkdir()
    (server_root / "out" / "a.txt").write_bytes(b"a\n")
    (server_root / "keep.txt").write_bytes(b"keep\n")
    handler = _NoMLSHandler if request.param == "list" else TLS_FTPHandler
    with FTPSServer(pki, root=server_root, handler_class=handler,
                    handler_attrs={"abstracted_fs": _HostileFS}) as srv:
        yield srv


def test_listing_drops_names_that_leave_the_folder(hostile: FTPSServer, client_context: ContextFactory) -> None:
    with hostile.adapter(client_context()) as remote:
        entries = remote.ls("/out")
    assert [(e.name, e.path) for e in entries] == [("a.txt", "/out/a.txt")]


def test_recursive_rm_stays_inside_the_folder(
    hostile: FTPSServer, client_context: ContextFactory, server_root: Path
) -> None:
    with hostile.adapter(client_context()) as remote:
        remote.rm("/out", recursive=True)
    assert _names(server_root) == ["keep.txt"]
    # Only the one real entry (rm asks what /out is first, instead of trying DELE on it).
    assert [c for c in _changes(hostile) if c.startswith("DELE")] == ["DELE /out/a.txt"]


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/abs", "nul\x00", "cr\rlf", "lf\nx"])
def test_unsafe_names(name: str) -> None:
    assert not is_safe_name(name)
    assert parse_list_line(f"-rw-r--r--   1 u g 2 Jan 01 2024 {name}", "/out") is None
    assert parse_list_line(f"01-01-24  12:00PM                    2 {name}", "/out") is None
    assert parse_mlsd_line(f"type=file;size=2; {name}", "/out") is None
    assert parse_mlsd_line(f"type=dir; {name}", "/out") is None


@pytest.mark.parametrize(
    "name", ["a.txt", "..a", "a..", ".hidden", "with space", "ümlaut", "x -> y", "Q3\\report.csv", "..\\x", "\\"]
)
def test_safe_names(name: str) -> None:
    """A backslash is an ordinary character in a server path (legal on POSIX servers);
    whether the name can be written locally is the client's decision, not the parser's."""
    assert is_safe_name(name)
    entry = parse_mlsd_line(f"type=file;size=2; {name}", "/out")
    assert entry is not None and (entry.name, entry.path) == (name, f"/out/{name}")
    if " -> " not in name:  # in a LIST line, " -> " is a link's target
        for line in (f"-rw-r--r--   1 u g 2 Jan 01 2024 {name}", f"01-01-24  12:00PM                    2 {name}"):
            entry = parse_list_line(line, "/out")
            assert entry is not None and (entry.name, entry.path) == (name, f"/out/{name}")


@pytest.mark.parametrize("handler", [TLS_FTPHandler, _NoMLSHandler], ids=["mlsd", "list"])
def test_backslash_names_are_listed(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, handler: type[Any]
) -> None:
    """Review finding: ``Q3\\report.csv`` (legal on a POSIX server) was silently left out."""
    (server_root / "out").mkdir()
    (server_root / "out" / "ok.txt").write_bytes(b"1")
    (server_root / "out" / "Q3\\report.csv").write_bytes(b"22")
    with FTPSServer(pki, root=server_root, handler_class=handler) as srv, srv.adapter(client_context()) as remote:
        entries = remote.ls("/out")
    assert sorted((e.name, e.path, e.size) for e in entries) == [
        ("Q3\\report.csv", "/out/Q3\\report.csv", 2), ("ok.txt", "/out/ok.txt", 1)
    ]


def test_mlst_keeps_the_requested_path() -> None:
    """MLST echoes a path (any path): the entry describes what we asked about, nothing else."""
    entry = parse_mlst_line(" type=file;size=5; /somewhere/else.txt", "/in/report.csv")
    assert entry is not None and (entry.name, entry.path, entry.size) == ("report.csv", "/in/report.csv", 5)
    assert parse_mlsd_line("type=file;size=5; /in/report.csv", "/in") is None


# -- findings 2, 3, 5: uploads never lose the file that was there --------------------------------


def _lines(data: bytes, limit: int) -> list[str]:
    """``data`` sent in one go, then the end (a plain socket pair: no TLS needed to read lines)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(data)
        theirs.shutdown(socket.SHUT_WR)
        return list(listing_lines(DataReader(ours), encoding="utf-8", limit=limit, server="srv", folder="/in"))


def test_listing_lines_split_on_either_line_end_and_keep_an_unended_last_line() -> None:
    data = b"a\r\nb\n" + b"x" * 70_000 + b"\r\nlast"  # one line longer than a read
    assert _lines(data, limit=1 << 20) == ["a", "b", "x" * 70_000, "last"]


def test_listing_lines_stop_beyond_the_limit() -> None:
    with pytest.raises(ListingTooLarge, match="srv: the listing of /in is larger than"):
        _lines(b"name\n" * 1000, limit=4000)


def test_refused_rename_keeps_the_old_file_and_the_upload(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")
    with FTPSServer(pki, root=server_root, permissions=NO_RENAME) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemotePermissionDenied) as failure:
            remote.put_file(tmp_path / "up", "/keep.txt")
        assert not any(c.startswith("DELE") for c in srv.commands)
    temp = [n for n in _names(server_root) if n.endswith(".xfer-part")]
    assert (server_root / "keep.txt").read_bytes() == b"OLD\n"
    assert len(temp) == 1 and (server_root / temp[0]).read_bytes() == b"NEW\n"
    message = str(failure.value)
    assert "renaming" in message and "/keep.txt" in message and f"/{temp[0]}" in message
    assert failure.value.hint and f"/{temp[0]}" in failure.value.hint


class _IISRenameHandler(TLS_FTPHandler):  # type: ignore[misc]
    """IIS-like: RNTO never replaces an existing file (Windows MoveFile semantics)."""

    refuse_temp: ClassVar[bool] = False
    _rnfr: str | None  # pyftpdlib's: the RNFR path waiting for its RNTO

    def ftp_RNTO(self, path: str) -> None:
        if self._rnfr and self.refuse_temp and self._rnfr.endswith(".xfer-part"):
            self._rnfr = None
            self.respond("550 Access is denied.")
            return
        if self._rnfr and os.path.exists(path):
            self._rnfr = None
            self.respond("550 Cannot create a file when that file already exists.")
            return
        super().ftp_RNTO(path)


def test_rename_over_an_existing_file_on_an_iis_like_server(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")
    with FTPSServer(pki, root=server_root, handler_class=_IISRenameHandler) as srv:
        with srv.adapter(client_context()) as remote:
            remote.put_file(tmp_path / "up", "/keep.txt")
        renames = [c for c in _changes(srv) if c.startswith(("RNTO", "DELE"))]
    assert _names(server_root) == ["keep.txt"]
    assert (server_root / "keep.txt").read_bytes() == b"NEW\n"
    # The old file is moved aside, never deleted before the new one is in place.
    assert renames[0] == "RNTO /keep.txt" and renames[1].endswith(".xfer-old")
    assert renames[2] == "RNTO /keep.txt" and renames[3].startswith("DELE /.keep.txt.")
    assert renames[3].endswith(".xfer-old")


def test_iis_like_old_version_that_cannot_be_deleted_is_reported(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")
    no_delete = "elrafmwMT"
    with FTPSServer(pki, root=server_root, handler_class=_IISRenameHandler, permissions=no_delete) as srv:
        with srv.adapter(client_context()) as remote:
            result = remote.put_file(tmp_path / "up", "/keep.txt")
    left = result.details["previous_version_left_at"]
    assert (server_root / "keep.txt").read_bytes() == b"NEW\n"
    assert (server_root / left.lstrip("/")).read_bytes() == b"OLD\n"


def test_iis_like_rename_failure_restores_the_old_file(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")

    class Handler(_IISRenameHandler):
        # Refuses the temp -> keep.txt rename even once keep.txt has been moved aside.
        refuse_temp = True

    with FTPSServer(pki, root=server_root, handler_class=Handler) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemoteError, match="renaming"):
            remote.put_file(tmp_path / "up", "/keep.txt")
    assert (server_root / "keep.txt").read_bytes() == b"OLD\n"
    left = _names(server_root)
    assert len(left) == 2 and left[0].endswith(".xfer-part")  # the upload is kept for the user


class _InUseHandler(_IISRenameHandler):
    """IIS-like, and once the old file is aside the upload cannot take its name: the server
    answers ``busy`` (a virus scanner or the pick-up process holding the name), or cuts
    the connection (``busy = None``).  ``refuse_restore``: the old file cannot go back either."""

    busy: ClassVar[str | None] = "450 The process cannot access the file because it is being used by another process."
    refuse_restore: ClassVar[bool] = False

    def ftp_RNTO(self, path: str) -> None:
        rnfr = self._rnfr or ""
        if rnfr.endswith(".xfer-part") and not os.path.exists(path):
            self._rnfr = None
            if self.busy is None:
                self.close()
            else:
                self.respond(self.busy)
            return
        if rnfr.endswith(".xfer-old") and self.refuse_restore:
            self._rnfr = None
            self.respond("550 Access is denied.")
            return
        super().ftp_RNTO(path)


def _leftovers(folder: Path) -> tuple[str, str]:
    """The (only) upload temp file and aside copy in ``folder``, "" where there is none."""
    names = _names(folder)
    temps = [n for n in names if n.endswith(".xfer-part")]
    asides = [n for n in names if n.endswith(".xfer-old")]
    assert len(temps) <= 1 and len(asides) <= 1, names
    return (temps[0] if temps else "", asides[0] if asides else "")


def test_iis_like_busy_rename_restores_the_old_file(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review finding: a 450 on the second rename was not caught, so keep.txt stayed aside
    (hidden), and the 450 "cannot access ... in use" was reported as permission denied."""
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")
    with FTPSServer(pki, root=server_root, handler_class=_InUseHandler) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(ServerError, match="450 The process cannot access") as failure:
            remote.put_file(tmp_path / "up", "/keep.txt")
        remote.ls("/")  # the session is still usable
    assert not isinstance(failure.value, RemotePermissionDenied)
    assert (server_root / "keep.txt").read_bytes() == b"OLD\n"
    temp, aside = _leftovers(server_root)
    assert aside == "" and (server_root / temp).read_bytes() == b"NEW\n"
    hint = failure.value.hint or ""
    assert "temporary; try again" in hint and f"/{temp}" in hint


def test_iis_like_busy_rename_and_refused_restore_name_both_files(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")

    class Handler(_InUseHandler):
        refuse_restore = True

    with FTPSServer(pki, root=server_root, handler_class=Handler) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(ServerError) as failure:
            remote.put_file(tmp_path / "up", "/keep.txt")
    temp, aside = _leftovers(server_root)
    assert not (server_root / "keep.txt").exists()
    assert (server_root / aside).read_bytes() == b"OLD\n" and (server_root / temp).read_bytes() == b"NEW\n"
    message, hint = str(failure.value), failure.value.hint or ""
    assert "450" in message and f"/{aside}" in message and "550 Access is denied" in message
    assert f"/{temp}" in hint and f"/{aside}" in hint and "by hand" in hint


def test_iis_like_rename_cut_off_restores_on_a_fresh_session(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")

    class Handler(_InUseHandler):
        busy = None

    with FTPSServer(pki, root=server_root, handler_class=Handler) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(XferError) as failure:
            remote.put_file(tmp_path / "up", "/keep.txt")
        logins = sum(1 for c in srv.commands if c.startswith("USER"))
        assert "keep.txt" in [e.name for e in remote.ls("/")]  # and the adapter works on
    assert logins == 2  # the restore ran on a second session
    assert (server_root / "keep.txt").read_bytes() == b"OLD\n"
    temp, aside = _leftovers(server_root)
    assert aside == "" and f"/{temp}" in (failure.value.hint or "")


@pytest.mark.parametrize("rnto_sent", [False, True], ids=["before-rnto", "after-rnto"])
def test_iis_like_rename_interrupted(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, rnto_sent: bool,
) -> None:
    """Ctrl-C while the upload is being renamed into place, the old file aside: the old file
    is put back (or, if the rename went through, the upload stays), and what is left is named."""
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")
    real_rename = install.rename

    def rename(ftp: FTPSConnection, source: str, destination: str) -> None:
        if source.endswith(".xfer-part") and not (server_root / destination.lstrip("/")).exists():
            ftp.sendcmd(f"RNFR {source}")
            if rnto_sent:
                ftp.putcmd(f"RNTO {destination}")
            raise KeyboardInterrupt
        real_rename(ftp, source, destination)

    monkeypatch.setattr(install, "rename", rename)
    failure: BaseException | None = None
    with FTPSServer(pki, root=server_root, handler_class=_IISRenameHandler) as srv:
        with srv.adapter(client_context()) as remote:
            try:
                remote.put_file(tmp_path / "up", "/keep.txt")
            except BaseException as exc:  # a bare KeyboardInterrupt escaping would end the test run
                failure = exc
    assert isinstance(failure, Interrupted), repr(failure)
    temp, aside = _leftovers(server_root)
    hint = failure.hint or ""
    if rnto_sent:  # the server renamed: the upload is in place, the old version is named
        assert (server_root / "keep.txt").read_bytes() == b"NEW\n"
        assert temp == "" and (server_root / aside).read_bytes() == b"OLD\n" and f"/{aside}" in hint
    else:
        assert (server_root / "keep.txt").read_bytes() == b"OLD\n"
        assert aside == "" and (server_root / temp).read_bytes() == b"NEW\n" and f"/{temp}" in hint


def test_iis_like_450_exists_moves_the_old_file_aside(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review finding: a 450 "already exists" (ftplib's error_temp) skipped the fallback."""
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")

    class Handler(TLS_FTPHandler):  # type: ignore[misc]
        _rnfr: str | None

        def ftp_RNTO(self, path: str) -> None:
            if self._rnfr and os.path.exists(path):
                self._rnfr = None
                self.respond("450 Cannot create a file when that file already exists.")
                return
            super().ftp_RNTO(path)

    with FTPSServer(pki, root=server_root, handler_class=Handler) as srv, srv.adapter(client_context()) as remote:
        remote.put_file(tmp_path / "up", "/keep.txt")
    assert _names(server_root) == ["keep.txt"]
    assert (server_root / "keep.txt").read_bytes() == b"NEW\n"


def test_refused_stor_without_temp_name_deletes_nothing(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (server_root / "keep.txt").write_bytes(b"OLD\n")
    (tmp_path / "up").write_bytes(b"NEW\n")
    with FTPSServer(pki, root=server_root, permissions="elrd") as srv:
        with srv.adapter(client_context(), upload_temp_name=False) as remote:
            with pytest.raises(RemotePermissionDenied, match=r"while uploading /keep\.txt"):
                remote.put_file(tmp_path / "up", "/keep.txt")
        assert not any(c.startswith("DELE") for c in srv.commands)
    assert (server_root / "keep.txt").read_bytes() == b"OLD\n"


def test_refused_stor_with_temp_name_names_the_file(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (server_root / "inbox").mkdir()
    (tmp_path / "up").write_bytes(b"NEW\n")
    with FTPSServer(pki, root=server_root, permissions="elr") as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemotePermissionDenied, match=r"while uploading /inbox/new\.txt \(as /inbox/\.new\.txt\."):
            remote.put_file(tmp_path / "up", "/inbox/new.txt")
        assert not any(c.startswith("DELE") for c in srv.commands)


# -- finding 4: the control connection stays in step ---------------------------------------------


def _raise_after(limit: int, exc: BaseException) -> Callable[[int, int | None], None]:
    def callback(done: int, total: int | None) -> None:
        if done > limit:
            raise exc

    return callback


@pytest.mark.parametrize("exc", [LocalError("simulated disk full"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_session_in_step_after_a_failed_download(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path, exc: BaseException
) -> None:
    make_file(server_root / "big.bin", 8 << 20)
    (server_root / "small.txt").write_bytes(b"small\n")
    with FTPSServer(pki, root=server_root) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(type(exc)):
            remote.get_file("/big.bin", tmp_path / "big.bin", callback=_raise_after(300_000, exc))
        assert [e.name for e in remote.ls("/")] == ["big.bin", "small.txt"]
        assert remote.info("/small.txt").size == 6
        remote.get_file("/small.txt", tmp_path / "small.txt")
    assert (tmp_path / "small.txt").read_bytes() == b"small\n"
    assert not (tmp_path / "big.bin").exists()


@pytest.mark.parametrize("temp_name", [True, False], ids=["temp-name", "direct"])
@pytest.mark.parametrize("exc", [LocalError("simulated read error"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_session_in_step_after_a_failed_upload(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path,
    exc: BaseException, temp_name: bool,
) -> None:
    make_file(tmp_path / "big.bin", 8 << 20)
    (tmp_path / "small.txt").write_bytes(b"small\n")
    with FTPSServer(pki, root=server_root) as srv:
        with srv.adapter(client_context(), upload_temp_name=temp_name) as remote:
            with pytest.raises(type(exc)):
                remote.put_file(tmp_path / "big.bin", "/big.bin", callback=_raise_after(600_000, exc))
            remote.put_file(tmp_path / "small.txt", "/small.txt")
            assert [e.name for e in remote.ls("/")] == ["small.txt"]
    assert _names(server_root) == ["small.txt"]


def test_rest_is_not_pretended(pki: TestPKI, server_root: Path, client_context: ContextFactory) -> None:
    with FTPSServer(pki, root=server_root) as srv, srv.adapter(client_context()) as remote:
        assert remote._ftp is not None
        with pytest.raises(NotImplementedError, match="REST"):
            remote._ftp.ntransfercmd("RETR /x", rest=10)
    assert not any(c.startswith(("REST", "RETR")) for c in srv.commands)


def test_connection_is_reused_after_a_refusal(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A refused command (no transfer pending) keeps the session: dropping is only for real trouble."""
    with FTPSServer(pki, root=server_root) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemoteError):
            remote.get_file("/missing", tmp_path / "x")
        remote.ls("/")
    assert sum(1 for c in srv.commands if c.startswith("USER")) == 1


# -- vsftpd's clear-text "500 OOPS" inside a TLS session ----------------------------------------


class _OopsHandler(TLS_FTPHandler):  # type: ignore[misc]
    """vsftpd after a server-side failure: '500 OOPS' in clear text on the TLS connection."""

    def ftp_PASS(self, line: str) -> None:
        raw = self.socket._socket  # under the TLS layer, as vsftpd's forked helper writes
        raw.send(b"500 OOPS: vsftpd: refusing to run with writable root inside chroot()\r\n")
        self.close()


def test_clear_text_oops_is_explained(pki: TestPKI, server_root: Path, client_context: ContextFactory) -> None:
    with FTPSServer(pki, root=server_root, handler_class=_OopsHandler) as srv:
        with pytest.raises(ServerError, match="broke off the TLS session") as failure:
            srv.adapter(client_context())
    assert failure.value.hint and "server log" in failure.value.hint


class _OopsOnceHandler(TLS_FTPHandler):  # type: ignore[misc]
    """vsftpd whose session process dies during the first download: '500 OOPS' in clear text in
    place of the RETR's reply, the connection closed; every later session works."""

    died: ClassVar[list[str]] = []

    def ftp_RETR(self, file: str) -> None:
        if not self.died:
            self.died.append(file)
            self.socket._socket.send(b"500 OOPS: priv_sock_get_cmd\r\n")
            self.close()
            return
        super().ftp_RETR(file)


@pytest.mark.parametrize("retries", [0, 2])
def test_clear_text_oops_after_login_is_a_dropped_connection_tried_again(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path, retries: int,
) -> None:
    """Once logged in, the OOPS is a session that died, not the server's setup: the connection is
    gone (exit 5, not 6), and a retry on a new one gets the file."""
    _OopsOnceHandler.died.clear()
    (server_root / "a.bin").write_bytes(b"x" * 5000)
    with FTPSServer(pki, root=server_root, handler_class=_OopsOnceHandler) as srv, \
            srv.adapter(client_context(), retries=retries) as remote:
        if retries:
            remote.get_file("/a.bin", tmp_path / "a.bin")
            assert (tmp_path / "a.bin").read_bytes() == b"x" * 5000
            return
        with pytest.raises(ConnectionDropped, match="broke off the TLS session while downloading") as failure:
            remote.get_file("/a.bin", tmp_path / "a.bin")
    assert failure.value.exit_code == ExitCode.CONNECT and failure.value.hint and "server log" in failure.value.hint
    assert not (tmp_path / "a.bin").exists()


def test_large_download_after_recovery_is_intact(
    pki: TestPKI, server_root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    expected = make_file(server_root / "big.bin", 4 << 20)
    with FTPSServer(pki, root=server_root) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(LocalError):
            remote.get_file("/big.bin", tmp_path / "big.bin", callback=_raise_after(100_000, LocalError("x")))
        remote.get_file("/big.bin", tmp_path / "big.bin")
    assert sha256_of(tmp_path / "big.bin") == expected


def test_recursive_rm_never_deletes_by_a_backslash_name(
    pki: TestPKI, server_root: Path, client_context: ContextFactory
) -> None:
    """A Windows server would read ``..\\keep.txt`` as a path out of the folder."""
    (server_root / "tree").mkdir()
    (server_root / "tree" / "..\\keep.txt").write_bytes(b"1")
    (server_root / "keep.txt").write_bytes(b"precious")
    with FTPSServer(pki, root=server_root) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemoteError, match="holds a backslash"):
            remote.rm("/tree", recursive=True)
        assert not [c for c in srv.commands if c.startswith("DELE /tree/")]
    assert (server_root / "keep.txt").read_bytes() == b"precious"
