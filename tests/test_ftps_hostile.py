"""FTPS against server behaviours the bed's daemons do not show, as fakes (:mod:`xfer.testing.ftps_fake`).

Regression tests for issue 11: the data-channel handshake order (item 11), streams cut
without close_notify (item 2), endless listings (item 6), a password echoed in replies
(item 8), SIZE on folders (item 12), and their siblings.
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import os
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pyftpdlib.handlers import TLS_FTPHandler

from tests.helpers import one_error, run
from xfer import client
from xfer.adapters.ftps import FTPSAdapter
from xfer.adapters.ftps.connection import MAX_REPLY, FTPSConnection
from xfer.adapters.tree import MAX_TREE_DEPTH
from xfer.errors import (
    AuthenticationFailed,
    ConnectionDropped,
    ExitCode,
    IntegrityError,
    ListingTooLarge,
    RemoteError,
    RemoteExists,
    RemoteIsFolder,
    RemoteNotFound,
    RemotePermissionDenied,
    UsageError,
)
from xfer.testing.ftps_fake import DataOrder, FakeFTPSServer
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .ftps_fixtures import implicit  # noqa: F401 - a fixture, used by name

ContextFactory = Callable[..., XferSSLContext]


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fake-root")
    (folder / "in").mkdir()
    (folder / "in" / "a.edi").write_bytes(b"A" * 70_000)
    (folder / "in" / "b.edi").write_bytes(b"B" * 3)
    return folder


# -- item 11: the data connection's handshake before or after the 150 ---------------------------


@pytest.mark.parametrize("order", ["handshake-first", "reply-first"])
def test_data_channel_handshake_in_either_order(
    pki: TestPKI, root: Path, client_context: ContextFactory, tls_version: str, implicit: bool,
    order: DataOrder, tmp_path: Path,
) -> None:
    """A server that withholds the 150 until the data handshake is done (Node.js ftp-srv) used to
    deadlock until its 425; vsftpd's order (150 first) must keep working.  Listing, download
    and upload, each data connection resuming the control session."""
    context = client_context(tls_max=tls_version)
    server = FakeFTPSServer(pki, root=root, implicit=implicit, tls_max=tls_version, data_order=order, handshake_wait=3)
    with server as srv:
        remote = srv.adapter(context)
        with remote:
            _exercise(remote, root, tmp_path)
    first = ["handshake", "150"] if order == "handshake-first" else ["150", "handshake"]
    assert [d.events for d in server.data_connections] == [first] * 3
    assert all(d.resumed for d in server.data_connections)
    assert all(d.tls_version == f"TLSv{tls_version}" for d in remote.data_connections.recent)


def _exercise(remote: FTPSAdapter, root: Path, tmp_path: Path) -> None:
    """Listing, download and upload: one data connection each."""
    assert [e.name for e in remote.ls("/in")] == ["a.edi", "b.edi"]
    remote.get_file("/in/a.edi", tmp_path / "a.edi")
    assert (tmp_path / "a.edi").read_bytes() == b"A" * 70_000
    result = remote.put_file(tmp_path / "a.edi", "/in/c.edi")
    assert (root / "in" / "c.edi").read_bytes() == b"A" * 70_000
    assert result.details["data_sessions_resumed"] == 1


# -- item 2: a data stream cut without close_notify -----------------------------------------------


def _no_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "xfer-part" in p.name]


@pytest.mark.parametrize("size", [False, True], ids=["no-SIZE", "SIZE"])
def test_download_cut_without_close_notify_is_an_integrity_error(
    pki: TestPKI, root: Path, client_context: ContextFactory, tls_version: str, tmp_path: Path, size: bool
) -> None:
    """The server cuts RETR after 30000 of 70000 bytes (FIN, no close_notify) and says 226.
    Without SIZE the half file used to replace the good local one, exit 0."""
    target = tmp_path / "a.edi"
    target.write_bytes(b"old and good")
    with FakeFTPSServer(pki, root=root, tls_max=tls_version, size=size, cut_after=30_000) as srv:
        # One try: what a cut does (with retries the download resumes with REST and completes).
        remote = srv.adapter(client_context(tls_max=tls_version), retries=0)
        with remote:
            with pytest.raises(IntegrityError) as failure:
                remote.get_file("/in/a.edi", target)
            assert failure.value.exit_code == ExitCode.INTEGRITY
            assert "30000" in str(failure.value)
            # The session is in step: the next operation gets its own answer.
            assert remote.info("/in/b.edi").size == 3
    assert target.read_bytes() == b"old and good"
    assert _no_leftovers(tmp_path) == []


def test_download_without_close_notify_is_complete_when_its_size_proves_it(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A server that never sends close_notify on data connections still works where SIZE (or
    MLST) says how long the file is and every byte arrived."""
    for size in (True, False):  # SIZE, or MLST's size fact
        with FakeFTPSServer(pki, root=root, size=size, cut_after=70_000) as srv:
            remote = srv.adapter(client_context())
            with remote:
                remote.get_file("/in/a.edi", tmp_path / "a.edi")
        assert (tmp_path / "a.edi").read_bytes() == b"A" * 70_000
        (tmp_path / "a.edi").unlink()


def test_download_without_close_notify_and_no_size_is_not_proven(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """All bytes arrived, but nothing says so: without SIZE and MLST the FIN could be a cut."""
    with FakeFTPSServer(pki, root=root, size=False, mlst=False, cut_after=70_000) as srv:
        remote = srv.adapter(client_context(), retries=0)
        with remote, pytest.raises(IntegrityError):
            remote.get_file("/in/a.edi", tmp_path / "a.edi")
    assert not (tmp_path / "a.edi").exists()
    assert _no_leftovers(tmp_path) == []


@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST"])
def test_listing_cut_without_close_notify_is_an_integrity_error(
    pki: TestPKI, root: Path, client_context: ContextFactory, tls_version: str, tmp_path: Path, mlst: bool
) -> None:
    """get -r fetched 4 of 10 files, exit 0, when the listing was cut; now nothing is fetched."""
    for number in range(10):
        (root / "in" / f"f{number}.edi").write_bytes(b"x")
    with FakeFTPSServer(pki, root=root, tls_max=tls_version, mlst=mlst, cut_after=150) as srv:
        remote = srv.adapter(client_context(tls_max=tls_version), retries=0)
        with remote:
            with pytest.raises(IntegrityError, match="listing of /in"):
                remote.ls("/in")
            with pytest.raises(IntegrityError):
                client.get(remote, ["/in"], tmp_path / "down", recursive=True)
    assert not (tmp_path / "down").exists() or list((tmp_path / "down").rglob("*.edi")) == []


# -- item 6: listings are read with a cap -------------------------------------------------------------


@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST"])
def test_endless_listing_stops_at_max_listing(
    pki: TestPKI, root: Path, client_context: ContextFactory, mlst: bool
) -> None:
    """A listing that never ends used to be read whole into memory (1.3-1.9 GB for 200 MB)."""
    cap = 2 * 2**20
    with FakeFTPSServer(pki, root=root, mlst=mlst, endless_listing=True) as srv:
        remote = srv.adapter(client_context(), max_listing=cap)
        with remote:
            tracemalloc.start()
            try:
                with pytest.raises(ListingTooLarge) as failure:
                    remote.ls("/in")
                _current, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert failure.value.exit_code == ExitCode.REMOTE
            assert "--max-listing" in (failure.value.hint or "")
            assert "2 MiB" in str(failure.value)
            # Parsed as it arrives: the peak is the entries of 2 MiB of lines, not a copy of
            # everything the server sent.
            assert peak < 40 * 2**20, peak
            assert remote.info("/in/a.edi").size == 70_000  # the session is usable again
    assert srv.endless_sent < 8 * cap


# -- item 8: a server that echoes the password ---------------------------------------------------

SECRET = "Very-Secret-Pw-9"


def _everything_shown(error: BaseException) -> str:
    """Message, hint, and the whole chained traceback (what --traceback prints)."""
    hint = getattr(error, "hint", None) or ""
    return f"{error}\n{hint}\n" + "".join(traceback.format_exception(error))


def test_password_echoed_in_a_refused_login_is_never_shown(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    with FakeFTPSServer(pki, root=root, echo_password=True) as srv:
        with pytest.raises(AuthenticationFailed) as failure:
            srv.adapter(client_context(), password=SECRET)
        assert f"PASS {SECRET}" in srv.commands  # it was sent, and echoed back
    shown = _everything_shown(failure.value)
    assert SECRET not in shown
    assert "PASS ********" in shown


def test_password_echoed_in_any_reply_is_never_shown(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    with FakeFTPSServer(pki, root=root, echo_password=True, password=SECRET) as srv:
        remote = srv.adapter(client_context())
        with remote:
            with pytest.raises(RemoteError) as failure:
                remote.get_file("/in/missing.edi", tmp_path / "x")
            with pytest.raises(RemoteError) as refused:
                remote.rmdir("/in")
    for error in (failure.value, refused.value):
        assert SECRET not in _everything_shown(error)
        assert "********" in str(error)


def test_password_never_printed_by_the_cli(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeFTPSServer(pki, root=root, echo_password=True) as srv:
        monkeypatch.setenv("XFER_T_FTP_PW", SECRET)
        code, out, err = run(capsys, "ls", srv.url, "--identity", str(pki.client_p12),
                             "--identity-password", f"file:{pki.password_file}", "--ca", str(pki.root_ca),
                             "--username", srv.user, "--password", "env:XFER_T_FTP_PW")
    assert code == ExitCode.REMOTE
    assert "530" in err
    assert SECRET not in out + err


# -- item 12: SIZE on a folder -----------------------------------------------------------------------


def test_size_on_a_folder_does_not_make_it_a_file(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """No MLST, and SIZE /in answers 213 4096: the folder was listed as a file, rm -r sent DELE,
    put -r said "exists and is not a folder"."""
    (root / "in" / "sub").mkdir()
    (root / "in" / "sub" / "c.edi").write_bytes(b"c")
    with FakeFTPSServer(pki, root=root, mlst=False, size_on_folders=True) as srv:
        remote = srv.adapter(client_context())
        with remote:
            assert remote.info("/in").type == "directory"
            assert remote.info("/in/a.edi").type == "file"
            assert remote.info("/in/a.edi").size == 70_000
            assert sorted(e.name for e in remote.ls("/in")) == ["a.edi", "b.edi", "sub"]
            client.get(remote, ["/in"], f"{tmp_path / 'down'}/", recursive=True)
            assert (tmp_path / "down" / "in" / "sub" / "c.edi").read_bytes() == b"c"
            (tmp_path / "up").mkdir()
            (tmp_path / "up" / "d.edi").write_bytes(b"d")
            client.put(remote, [tmp_path / "up"], "/in/sub", recursive=True)
            assert (root / "in" / "sub" / "up" / "d.edi").read_bytes() == b"d"
            remote.rm("/in", recursive=True)
    assert not (root / "in").exists()
    assert not [c for c in srv.commands if c in ("DELE /in", "DELE /in/sub")]


# -- item 4: get of a folder ---------------------------------------------------------------------------


@pytest.mark.parametrize("mlst", [True, False], ids=["MLST", "SIZE-on-folders"])
def test_get_of_a_folder_says_it_is_a_folder(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path, mlst: bool
) -> None:
    target = tmp_path / "in"
    target.write_bytes(b"keep")
    with FakeFTPSServer(pki, root=root, mlst=mlst, size_on_folders=not mlst) as srv:
        remote = srv.adapter(client_context())
        with remote, pytest.raises(RemoteIsFolder) as failure:
            remote.get_file("/in", target)
    assert str(failure.value) == f"{srv.host}:{srv.port}: /in is a folder"
    # The library names its parameter; the CLI its flag.
    assert (failure.value.hint, failure.value.cli_hint) == ("pass recursive=True to download folders",
                                                            "use -r to copy a folder")
    assert failure.value.exit_code == ExitCode.REMOTE
    assert target.read_bytes() == b"keep"
    assert _no_leftovers(tmp_path) == []


# -- item 16: put into folders that do not exist yet ------------------------------------------------


@pytest.mark.parametrize("temp_name", [True, False])
def test_put_creates_missing_parent_folders(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path, temp_name: bool
) -> None:
    """vsftpd's "553 Could not create file." for a missing folder gave a hint about bad characters."""
    (tmp_path / "f.edi").write_bytes(b"payload")
    with FakeFTPSServer(pki, root=root) as srv:
        remote = srv.adapter(client_context(), upload_temp_name=temp_name)
        with remote:
            remote.put_file(tmp_path / "f.edi", "/new/deeper/f.edi")
            remote.put_file(tmp_path / "f.edi", "/in/x/f.edi")
    assert (root / "new" / "deeper" / "f.edi").read_bytes() == b"payload"
    assert (root / "in" / "x" / "f.edi").read_bytes() == b"payload"
    assert [c for c in srv.commands if c.startswith("MKD")] == ["MKD /new", "MKD /new/deeper", "MKD /in/x"]


@pytest.mark.parametrize("mlst", [True, False], ids=["mlst", "cwd-size"])
def test_mkdir_parents_looks_at_the_parent_only_when_it_exists(
    pki: TestPKI, root: Path, client_context: ContextFactory, mlst: bool
) -> None:
    """``put -r`` makes each folder after its parent: one look at the parent, not one at every
    level from the root (7 commands per new folder one level down without MLST, now 5)."""
    (root / "top" / "mid").mkdir(parents=True)
    with FakeFTPSServer(pki, root=root, mlst=mlst) as srv:
        with srv.adapter(client_context()) as remote:
            first = len(srv.commands)
            remote.mkdir("/top/mid/new", parents=True)
            asked = srv.commands[first:]
            remote.mkdir("/fresh/a/b", parents=True)  # parent missing: every level, as before
    assert (root / "top" / "mid" / "new").is_dir() and (root / "fresh" / "a" / "b").is_dir()
    assert not [c for c in asked if c.endswith(" /top")], asked  # the level above the parent: not asked
    assert [c for c in asked if c.startswith("MKD")] == ["MKD /top/mid/new"]
    assert [c for c in srv.commands if c.startswith("MKD")][1:] == ["MKD /fresh", "MKD /fresh/a", "MKD /fresh/a/b"]


def test_put_under_a_file_is_refused_clearly(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    (tmp_path / "f.edi").write_bytes(b"payload")
    with FakeFTPSServer(pki, root=root) as srv:
        remote = srv.adapter(client_context())
        with remote, pytest.raises(RemoteExists, match=r"/in/a\.edi is a file, not a folder"):
            remote.put_file(tmp_path / "f.edi", "/in/a.edi/f.edi")
    assert (root / "in" / "a.edi").read_bytes() == b"A" * 70_000


# -- item 23: backslash paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "args"),
    [("put_file", ("LOCAL", "\\dir\\")), ("mkdir", ("\\dir\\",)), ("rm", ("\\in\\a.edi",)),
     ("rmdir", ("\\in",)), ("mv", ("/in/a.edi", "\\in\\b2.edi"))],
)
def test_backslash_paths_change_nothing(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path, verb: str, args: tuple[str, ...]
) -> None:
    """``p:\\dir\\`` created a file literally named ``\\dir\\``."""
    (tmp_path / "f.edi").write_bytes(b"payload")
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    with FakeFTPSServer(pki, root=root) as srv:
        remote = srv.adapter(client_context())
        with remote, pytest.raises(UsageError, match="backslash") as failure:
            getattr(remote, verb)(*(str(tmp_path / "f.edi") if a == "LOCAL" else a for a in args))
    assert failure.value.hint is not None and "/" in failure.value.hint
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before
    assert not [c for c in srv.commands if c.split(" ")[0] in ("STOR", "MKD", "DELE", "RMD", "RNFR", "RNTO")]


def test_backslash_path_is_refused_with_a_hint_at_slashes(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """A Windows habit (``\\in\\``) is refused before the server is asked, naming the path to write.

    (It used to reach the server and come back as not-found with a hint; every protocol now
    refuses it the same way, see ``xfer.urls.check_remote_path``.)
    """
    with FakeFTPSServer(pki, root=root) as srv:
        remote = srv.adapter(client_context())
        with remote, pytest.raises(UsageError) as failure:
            remote.ls("\\in\\")
        assert not [c for c in srv.commands if c.split(" ")[0] in ("LIST", "MLSD", "MLST", "CWD", "SIZE")]
    assert failure.value.hint == "write /in/"


# -- item 1: mv never replaces a folder --------------------------------------------------------------------


@pytest.fixture
def batch(root: Path) -> Path:
    """The issue's scene: /invoice.edi and /batch holding 9 files."""
    (root / "invoice.edi").write_bytes(b"UNB+UNOA:1+X'")
    (root / "batch").mkdir()
    for number in range(9):
        (root / "batch" / f"{number}.edi").write_bytes(b"%d" % number)
    return root


def test_mv_primitive_never_renames_onto_a_folder(
    pki: TestPKI, batch: Path, client_context: ContextFactory
) -> None:
    """On a server whose RNTO deletes what is at the target, a file replaced a folder of 9 files."""
    with FakeFTPSServer(pki, root=batch, rnto_replaces=True) as srv:
        remote = srv.adapter(client_context())
        with remote:
            with pytest.raises(RemoteIsFolder, match="/batch is a folder"):
                remote._mv("/invoice.edi", "/batch")
            with pytest.raises(RemoteIsFolder):
                remote._mv("/in", "/batch")
            with pytest.raises(RemoteExists, match="a folder never replaces a file"):
                remote._mv("/batch", "/invoice.edi")
    assert len(list((batch / "batch").iterdir())) == 9
    assert (batch / "invoice.edi").read_bytes() == b"UNB+UNOA:1+X'"
    assert not [c for c in srv.commands if c.startswith(("RNFR", "RNTO"))]


@pytest.mark.parametrize("destination", ["/batch", "/batch/"])
def test_mv_onto_a_folder_through_the_api_keeps_the_folder(
    pki: TestPKI, batch: Path, client_context: ContextFactory, destination: str
) -> None:
    """Through the public verb: the file goes into the folder (generic rule in Adapter.mv), or is
    refused; either way the 9 files stay."""
    with FakeFTPSServer(pki, root=batch, rnto_replaces=True) as srv:
        remote = srv.adapter(client_context())
        with remote:
            with contextlib.suppress(RemoteIsFolder):
                remote.mv("/invoice.edi", destination)
    assert len([p for p in (batch / "batch").iterdir() if p.name != "invoice.edi"]) == 9
    assert (batch / "batch").is_dir()


def test_mv_onto_an_existing_file_replaces_it(pki: TestPKI, batch: Path, client_context: ContextFactory) -> None:
    with FakeFTPSServer(pki, root=batch) as srv:
        remote = srv.adapter(client_context())
        with remote:
            remote.mv("/invoice.edi", "/batch/0.edi")
    assert (batch / "batch" / "0.edi").read_bytes() == b"UNB+UNOA:1+X'"
    assert not (batch / "invoice.edi").exists()


# -- item 21: a refusal inside rm -r names the entry ----------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "kind"),
    [("550 No such file or directory.", RemoteNotFound), ("550 Permission denied.", RemotePermissionDenied),
     ("450 File busy.", RemoteError)],
)
def test_failed_dele_inside_rm_r_names_the_entry(
    pki: TestPKI, root: Path, client_context: ContextFactory, reply: str, kind: type[RemoteError]
) -> None:
    """"/in does not exist" was said about the folder being removed, for a DELE of one file in it."""
    (root / "in" / "sub").mkdir()
    (root / "in" / "sub" / "c.edi").write_bytes(b"c")
    with FakeFTPSServer(pki, root=root, replies={"DELE /in/sub/c.edi": reply}) as srv:
        remote = srv.adapter(client_context())
        with remote, pytest.raises(kind) as failure:
            remote.rm("/in", recursive=True)
    assert "/in/sub/c.edi" in str(failure.value)
    assert "/in does not exist" not in str(failure.value)


def test_failed_rmd_inside_rm_r_names_the_folder(pki: TestPKI, root: Path, client_context: ContextFactory) -> None:
    (root / "in" / "sub").mkdir()
    with FakeFTPSServer(pki, root=root, replies={"RMD /in/sub": "550 Permission denied."}) as srv:
        remote = srv.adapter(client_context())
        with remote, pytest.raises(RemotePermissionDenied, match="/in/sub"):
            remote.rm("/in", recursive=True)


# -- siblings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [True, False], ids=["SIZE", "MLST-size"])
def test_upload_to_a_server_that_does_not_answer_close_notify(
    pki: TestPKI, root: Path, client_context: ContextFactory, tls_version: str, tmp_path: Path, size: bool
) -> None:
    """Our close_notify went out and every byte arrived; the server closing without its own
    close_notify is no failure (the upload was reported failed and removed).  The size check
    still proves it, by SIZE or, without SIZE, by MLST."""
    (tmp_path / "f.edi").write_bytes(b"x" * 100_000)
    with FakeFTPSServer(pki, root=root, tls_max=tls_version, size=size, answer_close_notify=False) as srv:
        remote = srv.adapter(client_context(tls_max=tls_version))
        with remote:
            result = remote.put_file(tmp_path / "f.edi", "/in/f.edi")
    assert (root / "in" / "f.edi").read_bytes() == b"x" * 100_000
    assert result.size_verified is True


def test_cut_download_from_the_cli_exits_7_and_keeps_the_old_file(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's scene: RETR cut, then 226, no SIZE: the half file replaced the old one, exit 0."""
    target = tmp_path / "a.edi"
    target.write_bytes(b"old and good")
    with FakeFTPSServer(pki, root=root, size=False, mlst=False, cut_after=30_000) as srv:
        monkeypatch.setenv("XFER_T_FTP_PW", srv.password)
        code, _, err = run(capsys, "get", f"{srv.url}in/a.edi", str(target), "--identity", str(pki.client_p12),
                           "--identity-password", f"file:{pki.password_file}", "--ca", str(pki.root_ca),
                           "--username", srv.user, "--password", "env:XFER_T_FTP_PW", "--retries", "0")
    assert code == ExitCode.INTEGRITY
    assert "without TLS close_notify" in one_error(err)
    assert target.read_bytes() == b"old and good"
    assert _no_leftovers(tmp_path) == []


def test_put_tolerates_a_parent_created_meanwhile(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Item 16: between our look and our MKD another client (or a parallel upload) made the folder."""
    (root / "race").mkdir()
    (tmp_path / "f.edi").write_bytes(b"payload")
    with FakeFTPSServer(pki, root=root, replies_once={"MLST /race": "550 No such file or directory."}) as srv:
        remote = srv.adapter(client_context())
        with remote:
            remote.put_file(tmp_path / "f.edi", "/race/x/f.edi")
    assert (root / "race" / "x" / "f.edi").read_bytes() == b"payload"
    assert [c for c in srv.commands if c.startswith("MKD")] == ["MKD /race", "MKD /race/x"]


def test_a_reply_that_never_ends_is_cut_off(client_context: ContextFactory) -> None:
    """ftplib reads continuation lines until the closing one, with no limit."""
    ftp = FTPSConnection(context=client_context(), implicit=False, timeout=5)
    # More continuation lines than any reply may hold, and never the closing "211 " line.
    ftp.file = io.StringIO("211-still more features\r\n" * (MAX_REPLY // 20))
    with pytest.raises(ftplib.error_proto, match="longer than"):
        ftp.getresp()


@pytest.mark.parametrize(
    ("reply", "shown"),
    [("530 Login incorrect: PASS ab", "530 Login incorrect: PASS ********"),
     ("530 'ab' refused", "530 '********' refused"),
     ("550 tab abc.", "550 tab abc.")],
)
def test_secrets_are_taken_out_of_replies_as_tokens(client_context: ContextFactory, reply: str, shown: str) -> None:
    """A short password is replaced where it is set off, never inside another word."""
    ftp = FTPSConnection(context=client_context(), implicit=False, timeout=5)
    ftp.secrets = ("ab",)
    ftp.file = io.StringIO(reply + "\r\n")
    try:
        got = ftp.getresp()
    except ftplib.Error as refused:
        got = str(refused)
    assert got == shown


@pytest.mark.parametrize(
    "reply",
    ["530 Login incorrect: PASS ECHOS3CRET", "530 badpassEchoS3cret", "530 'Spaced S3cret' refused",
     "530 Login incorrect: PASS echos3cret."],
)
def test_a_password_is_taken_out_of_a_reply_in_any_case_and_trimmed(client_context: ContextFactory, reply: str) -> None:
    """Security review, session 26: upper-cased, glued to a word, or trimmed, the echo reached
    the -v trace and the login error."""
    ftp = FTPSConnection(context=client_context(), implicit=False, timeout=5)
    ftp.secrets = ("EchoS3cret", " Spaced S3cret ")
    ftp.file = io.StringIO(reply + "\r\n")
    try:
        got = ftp.getresp()
    except ftplib.Error as refused:
        got = str(refused)
    assert "s3cret" not in got.lower() and "********" in got


@pytest.mark.parametrize("mdtm", [True, False])
def test_info_without_mlst_and_size(
    pki: TestPKI, root: Path, client_context: ContextFactory, mdtm: bool
) -> None:
    """Without MLST and SIZE a file is known by MDTM, and without MDTM by its parent's listing;
    a missing one is still missing."""
    replies = {} if mdtm else {f"MDTM {p}": "502 Command not implemented." for p in ("/in/a.edi", "/in/nope")}
    with FakeFTPSServer(pki, root=root, mlst=False, size=False, replies=replies) as srv:
        remote = srv.adapter(client_context())
        with remote:
            entry = remote.info("/in/a.edi")
            assert (entry.type, entry.size) == ("file", None if mdtm else 70_000)
            assert remote.info("/in").type == "directory"
            assert not remote.exists("/in/nope")


def test_rm_r_stops_at_the_depth_limit(pki: TestPKI, root: Path, client_context: ContextFactory) -> None:
    """An endless tree (a link loop, a listing with a/ in every folder) ended in a RecursionError;
    now the walk is iterative and stops before anything is removed."""
    deep = root.joinpath("in", *["a"] * (MAX_TREE_DEPTH + 2))
    deep.mkdir(parents=True)
    with FakeFTPSServer(pki, root=root) as srv:
        remote = srv.adapter(client_context())
        with remote, pytest.raises(RemoteError, match=r"nested more than 64 folders deep.*removed nothing"):
            remote.rm("/in", recursive=True)
    assert deep.is_dir()
    assert sorted(p.name for p in (root / "in").iterdir()) == ["a", "a.edi", "b.edi"]
    assert not [c for c in srv.commands if c.startswith(("RMD", "DELE"))]


def test_a_server_refusing_every_try_is_not_reported_as_cut(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """421 on each try is the server limiting connections, a word it said: the final error gives the
    number of tries without calling the connection cut (a 421 is a ConnectionDropped, exit 5)."""
    (root / "in").mkdir(exist_ok=True)
    with FakeFTPSServer(pki, root=root, replies={"MLSD /in": "421 Too many connections (8) from this IP"}) as srv:
        remote = srv.adapter(client_context(), retries=2)
        with remote, pytest.raises(ConnectionDropped) as caught:
            remote.ls("/in")
    message = str(caught.value)
    assert "421 Too many connections" in message and message.endswith("(on the last of 3 tries)"), message
    assert "cut" not in message


# -- servers that speak Latin-1, ignore REST, or store part of an upload (session 17's review) -----

#: A Latin-1 server's "Grüße": bytes 0xFC 0xDF, which are not UTF-8 (lone surrogates stand for them).
LATIN1_WORDS = " (Gr\udcfc\udcdfe)"
LATIN1_NAME = os.fsdecode(b"M\xfcller.edi")


def _cli_flags(pki: TestPKI, srv: FakeFTPSServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("XFER_T_FTP_PW", srv.password)
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca), "--username", srv.user, "--password", "env:XFER_T_FTP_PW", "--retries", "0"]


def test_replies_that_are_not_utf8_are_read(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every reply (greeting, 150, 226, 550...) ends in Latin-1 words.  Before: the greeting was a
    UnicodeDecodeError (exit 6, a Python repr), and so was the 226 after every byte had arrived."""
    (tmp_path / "up.edi").write_bytes(b"up" * 1000)
    with FakeFTPSServer(pki, root=root, reply_suffix=LATIN1_WORDS) as srv:
        flags = _cli_flags(pki, srv, monkeypatch)
        assert run(capsys, "get", f"{srv.url}in/a.edi", str(tmp_path / "a.edi"), *flags)[0] == 0
        assert run(capsys, "put", str(tmp_path / "up.edi"), f"{srv.url}in/up.edi", *flags)[0] == 0
        code, out, _ = run(capsys, "ls", f"{srv.url}in", *flags)
        assert code == 0 and "up.edi" in out
        code, _, err = run(capsys, "get", f"{srv.url}in/nope.edi", str(tmp_path / "nope.edi"), *flags)
    assert (tmp_path / "a.edi").read_bytes() == b"A" * 70_000
    assert (root / "in" / "up.edi").read_bytes() == b"up" * 1000
    assert code == ExitCode.REMOTE
    assert "does not exist" in one_error(err)


def test_names_that_are_not_utf8_are_listed_fetched_read_and_removed(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, client_context: ContextFactory,
) -> None:
    """A name a listing gave goes back to the server as the bytes it sent.  Before: get -r was an
    internal error, read_range and info failed to encode the command, and rm -r stopped half-way."""
    (root / "in" / LATIN1_NAME).write_bytes(b"L" * 10)
    with FakeFTPSServer(pki, root=root) as srv:
        with srv.adapter(client_context()) as remote:
            assert remote.info(f"/in/{LATIN1_NAME}").size == 10
            assert remote.read_range(f"/in/{LATIN1_NAME}", 2, 3) == b"LLL"
        flags = _cli_flags(pki, srv, monkeypatch)
        code, _, err = run(capsys, "get", "-r", f"{srv.url}in", f"{tmp_path}/", *flags)
        assert code == 0, err
        assert (tmp_path / "in" / LATIN1_NAME).read_bytes() == b"L" * 10  # the same bytes, locally
        code, _, err = run(capsys, "rm", "-r", f"{srv.url}in", *flags)
    assert code == 0, err
    assert not (root / "in").exists()


@pytest.mark.parametrize(("start", "length"), [(69_000, None), (69_000, 5_000), (10, 100_000), (1_000, 100)])
def test_a_ranged_read_from_a_server_that_ignores_rest_is_refused(
    pki: TestPKI, root: Path, client_context: ContextFactory, start: int, length: int | None
) -> None:
    """REST answered 350, then the file from byte 0: more bytes than the file holds from ``start``
    (a read to the end), or, from the middle, the right count of the wrong bytes: before the first
    such read the server is asked for the file's last byte alone, and sends more (found in review:
    fsspec's seek/read and Dask's blocks got the file's first bytes)."""
    (root / "in" / "a.edi").write_bytes(bytes(range(256)) * 273 + bytes(112))  # its middle unlike its start
    with FakeFTPSServer(pki, root=root, rest_ignored=True) as srv:
        remote = srv.adapter(client_context(), retries=0)
        refused = r"did not restart where REST asked|from its first byte after REST"
        with remote, pytest.raises(IntegrityError, match=refused):
            remote.read_range("/in/a.edi", start, length)


@pytest.mark.parametrize("kwargs", [
    {"replies": {"SIZE /in/a.edi": "213 69000"}},  # the file grew between SIZE and RETR
    {"replies": {"SIZE /in/a.edi": "213 70010"}},  # it shrank: nothing comes
    {"silent_after_data": True, "timeout": 2},  # no final reply after the byte
    {"size_refused": {"/in/a.edi"}},  # SIZE refused (a 32-bit SIZE of a larger file)
    {"replies": {"SIZE /in/a.edi": "213 4096"}, "zeros": True},  # SIZE clamped, the file all zeros
], ids=["grown", "shrunk", "silent", "size-refused", "size-clamped"])
def test_a_rest_probe_that_cannot_tell_refuses_nothing(
    pki: TestPKI, root: Path, client_context: ContextFactory, kwargs: dict[str, Any]
) -> None:
    """The probe's file changing size, a server silent after a transfer, a SIZE refused: no verdict,
    and the reads go on (found in review: a grown file condemned the adapter's every later read; a
    silent server failed every read from the middle)."""
    timeout = kwargs.pop("timeout", 10)
    data = bytes(70_000) if kwargs.pop("zeros", False) else bytes(range(256)) * 273 + bytes(112)  # 70,000 bytes
    (root / "in" / "a.edi").write_bytes(data)
    (root / "in" / "c.edi").write_bytes(b"C" * 50_000)
    with FakeFTPSServer(pki, root=root, **kwargs) as srv, \
            srv.adapter(client_context(), retries=0, timeout=timeout) as remote:
        assert remote.read_range("/in/a.edi", 1_000, 100) == data[1_000:1_100]
        assert remote.read_range("/in/c.edi", 1_000, 100) == b"C" * 100


def test_a_server_without_size_is_probed_a_few_times_at_most(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    data = (root / "in" / "a.edi").read_bytes()
    with FakeFTPSServer(pki, root=root, size=False) as srv, srv.adapter(client_context(), retries=0) as remote:
        for start in range(1_000, 1_010):
            assert remote.read_range("/in/a.edi", start, 10) == data[start:start + 10]
        assert len([c for c in srv.commands if c.startswith("SIZE")]) <= 3 + 10  # probes, then one per read


def test_a_continued_upload_whose_rest_cannot_be_reset_still_tries_appe(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """REST 10 taken, the STOR after it refused (proftpd's AllowStoreRestart off), REST 0 refused
    too: APPE is tried, as before the reset existed (found in review: the refusal ended the upload).
    This server has no APPE either: with the offset still waiting no STOR from 0 is sent (it would
    write at byte 10); the refusal goes to _run, which drops the session."""
    (root / "in" / "t.part").write_bytes(b"x" * 10)
    replies = {"STOR /in/t.part": "451 Append/Restart not permitted, try again", "REST 0": "501 Bad parameter"}
    with FakeFTPSServer(pki, root=root, replies=replies) as srv, srv.adapter(client_context(), retries=0) as remote:
        ftp = remote._session()
        ftp.restart_at(10)
        with pytest.raises(ftplib.error_perm, match="APPE"):
            remote._continue_upload(ftp, "/in/t.part", 10, "STOR")
        assert ftp.restart_pending
        assert [c for c in srv.commands if c.startswith(("REST", "STOR", "APPE"))] == [
            "REST 10", "STOR /in/t.part", "REST 0", "APPE /in/t.part"]


def test_reads_cut_short_stay_in_step_with_a_second_preliminary_reply(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """150 then 125 before the data: a read closed early took the 125 for its final reply, and the
    426 after it answered the next command (found in review: "answered SIZE with 426")."""
    data = bytes(range(256)) * 273 + bytes(112)
    (root / "in" / "a.edi").write_bytes(data)
    with FakeFTPSServer(pki, root=root, extra_preliminary="125 Transfer starting.") as srv, \
            srv.adapter(client_context(), retries=0, timeout=3) as remote:
        assert remote.read_range("/in/a.edi", 1_000, 100) == data[1_000:1_100]
        assert remote.read_range("/in/a.edi", 0, 10) == data[:10]
        assert remote.read_range("/in/a.edi", 69_990, None) == data[69_990:]


def test_a_small_file_from_a_server_that_ignores_rest_is_refused_from_its_middle(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """A file within the probe's window: the server's whole file, then its end, after REST size-1."""
    (root / "in" / "s.bin").write_bytes(bytes(range(256)) * 40)
    with FakeFTPSServer(pki, root=root, rest_ignored=True) as srv, srv.adapter(client_context(), retries=0) as remote:
        with pytest.raises(IntegrityError, match="from its first byte after REST"):
            remote.read_range("/in/s.bin", 300, 10)


@pytest.mark.parametrize(("ignored", "size", "expected"), [
    (True, None, "refused"),  # it sends from 0: zeros where the pattern is
    (False, None, "read"),  # it honours REST: the last byte alone
], ids=["rest-ignored", "rest-honoured"])
def test_a_file_that_starts_with_one_value_is_probed_where_it_changes(
    pki: TestPKI, root: Path, client_context: ContextFactory, ignored: bool, size: str | None, expected: str
) -> None:
    """Zero padding before the data: the bytes after REST size-1 look like the file's start either
    way; REST at the first other byte tells (found in review: such a file let a server that ignores
    REST return its zeros for a range of the data)."""
    data = bytes(73_536) + bytes(range(256)) * 200
    (root / "in" / "z.img").write_bytes(data)
    replies = {"SIZE /in/z.img": size} if size else {}
    with FakeFTPSServer(pki, root=root, rest_ignored=ignored, replies=replies) as srv, \
            srv.adapter(client_context(), retries=0) as remote:
        if expected == "read":
            assert remote.read_range("/in/z.img", 100_000, 100) == data[100_000:100_100]
        else:
            with pytest.raises(IntegrityError, match="from its first byte after REST"):
                remote.read_range("/in/z.img", 100_000, 100)


def test_a_large_file_of_one_value_from_a_server_that_ignores_rest_is_refused(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """Every read refused, not the first three only (found in review: each refusal used up one of
    the adapter's three probes, and the fourth read returned the file's zeros as the range)."""
    (root / "in" / "z.img").write_bytes(bytes(1_200_000) + bytes(range(1, 256)) * 400)
    with FakeFTPSServer(pki, root=root, rest_ignored=True) as srv, srv.adapter(client_context(), retries=0) as remote:
        for _ in range(5):
            with pytest.raises(IntegrityError, match="cannot be told"):
                remote.read_range("/in/z.img", 1_200_000, 100)


def test_a_server_that_honours_rest_is_asked_once_per_adapter(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    data = (root / "in" / "a.edi").read_bytes()
    with FakeFTPSServer(pki, root=root) as srv, srv.adapter(client_context(), retries=0) as remote:
        assert remote.read_range("/in/a.edi", 1_000, 100) == data[1_000:1_100]
        assert remote.read_range("/in/a.edi", 5, 10) == data[5:15]
        assert remote.read_range("/in/a.edi", 0, 10) == data[:10]
        restarts = [c for c in srv.commands if c.startswith("REST ")]
        assert restarts == [f"REST {len(data) - 1}", "REST 1000", "REST 5"]


@pytest.mark.parametrize("server", ["pyftpdlib", "fake"])
def test_a_rest_whose_transfer_never_started_does_not_shift_the_next_read(
    pki: TestPKI, root: Path, client_context: ContextFactory, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    """``REST 40000`` taken (350), then the data connection could not be opened: the session kept
    the offset, and the next read from byte 0 on it (fsspec's first block, ``cat_file(p, 0, n)``)
    came from byte 40000, the right length, no error (found in review).  Now such a session is
    dropped; and one whose transfer command was refused after a REST is reset with ``REST 0``."""
    import xfer.adapters.ftps.connection as connection
    from xfer.net import open_tcp as real

    data = bytes(range(256)) * 400
    (root / "in" / "r.bin").write_bytes(data)
    failures = [0]

    def refused_twice(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if failures[0] < 2 and port != srv.port:  # a data port: EPSV's, then PASV's
            failures[0] += 1
            raise ConnectionRefusedError(111, "Connection refused")
        return real(host, port, *args, **kwargs)

    made = FTPSServer(pki, root=root) if server == "pyftpdlib" else FakeFTPSServer(pki, root=root)
    with made as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            monkeypatch.setattr(connection, "open_tcp", refused_twice)
            with pytest.raises(ConnectionDropped):
                remote.read_range("/in/r.bin", 40_000, 100)
            assert remote.read_range("/in/r.bin", 0, 16) == data[:16]
            # REST taken, RETR refused (past the end, pyftpdlib's 554; a missing file): the next
            # read from 0 on the same session starts at 0.
            assert remote.read_range("/in/r.bin", len(data) + 5, 10) == b""
            assert remote.read_range("/in/r.bin", 0, 16) == data[:16]


@pytest.mark.parametrize(("size", "stored", "shown"), [
    (False, 30_000, "did not confirm the end of the upload"),  # no SIZE, no MLST: nothing can show it
    (False, None, "did not confirm the end of the upload"),  # whole, but nothing proves it
    (True, 30_000, "stored 30000 bytes"),  # SIZE shows the truncation
], ids=["truncated-unprovable", "whole-unprovable", "truncated-sized"])
def test_an_upload_the_server_did_not_confirm_needs_a_size_to_succeed(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, size: bool, stored: int | None, shown: str,
) -> None:
    """The server closes the data connection without answering our close_notify and says 226.
    Before: without SIZE or MLST a truncated upload was installed and exit 0."""
    (tmp_path / "up.edi").write_bytes(b"u" * 100_000)
    with FakeFTPSServer(pki, root=root, size=size, mlst=size, answer_close_notify=False, store_only=stored) as srv:
        code, _, err = run(capsys, "put", str(tmp_path / "up.edi"), f"{srv.url}in/up.edi",
                           *_cli_flags(pki, srv, monkeypatch))
    assert code == ExitCode.INTEGRITY
    assert shown in one_error(err)
    assert sorted(p.name for p in (root / "in").iterdir()) == ["a.edi", "b.edi"]  # nothing installed


def test_a_name_that_is_both_a_file_and_a_folder_is_refused_before_anything_is_made(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file and a folder of one name (here two sources; a listing naming both is the same plan).
    Before: exit 1 half-way ("... is a folder / give a file name"), empty local folders left."""
    (root / "other" / "ok").mkdir(parents=True)
    (root / "other" / "ok" / "z.edi").write_bytes(b"z")
    (root / "in" / "ok").write_bytes(b"file")
    with FakeFTPSServer(pki, root=root) as srv:
        dest = tmp_path / "dest"
        dest.mkdir()
        code, _, err = run(capsys, "get", "-r", f"{srv.url}in/ok", f"{srv.url}other/ok", f"{dest}/",
                           *_cli_flags(pki, srv, monkeypatch))
    assert code == ExitCode.USAGE
    one_error(err, "would be both a file and a folder")
    assert list(dest.iterdir()) == []


def test_a_control_connection_closed_before_the_final_reply_is_said_so(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The data came whole, then the server hung up instead of its 226.  Before: "the connection
    broke after 356 bytes had arrived", counted on the control connection.  Nothing is saved."""
    target = tmp_path / "a.edi"
    target.write_bytes(b"old")
    with FakeFTPSServer(pki, root=root, hang_up_after_data=True) as srv:
        code, _, err = run(capsys, "get", f"{srv.url}in/a.edi", str(target), *_cli_flags(pki, srv, monkeypatch))
    assert code == ExitCode.CONNECT
    one_error(err, "closed the control connection before it confirmed the download of /in/a.edi",
              "(70000 bytes had arrived)")
    assert target.read_bytes() == b"old"
    assert _no_leftovers(tmp_path) == []


@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST"])
def test_a_folder_listed_as_a_file_is_said_so_under_get_r(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, mlst: bool,
) -> None:
    """The listing calls folder ``in/sub`` a file; its RETR is refused.  ``-r`` was given, so the
    hint "use -r to copy a folder" (before) was wrong: the error names the listing instead."""
    (root / "in" / "sub").mkdir()
    (root / "in" / "sub" / "c.edi").write_bytes(b"c")
    with FakeFTPSServer(pki, root=root, mlst=mlst, listed_as_file=["sub"]) as srv:
        code, _, err = run(capsys, "get", "-r", f"{srv.url}in", str(tmp_path / "down"),
                           *_cli_flags(pki, srv, monkeypatch))
    assert code == ExitCode.REMOTE
    [line] = [line for line in err.splitlines() if line.startswith("xfer: error: ")]  # (the others arrived)
    assert "/in/sub is a folder, though the server listed it as a file" in line and "use -r" not in line
    assert sorted(p.name for p in (tmp_path / "down").iterdir()) == ["a.edi", "b.edi"]


@pytest.mark.parametrize("how", ["put_file", "open_write"])
def test_an_upload_onto_a_folder_is_said_so_and_leaves_nothing(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path, how: str
) -> None:
    """The target is a folder; the server refuses the RNTO.  Before: a PermissionError naming the
    rename, and the complete upload left as a hidden part file beside the folder."""
    (tmp_path / "f.edi").write_bytes(b"payload")
    (root / "in" / "d").mkdir()
    with FakeFTPSServer(pki, root=root) as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemoteIsFolder, match=r"/in/d is a folder; the upload was not stored"):
            if how == "put_file":
                remote.put_file(tmp_path / "f.edi", "/in/d")
            else:
                with remote.open_write("/in/d") as writer:
                    writer.write(b"payload")
    assert sorted(p.name for p in (root / "in").iterdir()) == ["a.edi", "b.edi", "d"]
    assert list((root / "in" / "d").iterdir()) == []


@pytest.mark.parametrize("to", ["file", "stdout"])
def test_a_download_the_server_aborts_with_426_is_a_cut_exit_7(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], to: str
) -> None:
    """The stream ended cleanly, then "426 Transfer aborted; N bytes transmitted.": the server's own
    word that it is not whole.  A truncation (exit 7), as a body cut short is on HTTPS, not a data
    connection that failed to open (exit 5, with a hint about passive ports: review A)."""
    from .helpers import save_ftps_profile

    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "big.bin").write_bytes(b"a line of text\n" * 20_000)  # (stdout is captured as text)
    with FakeFTPSServer(pki, root=tmp_path / "srv", abort_after=100_000, size=False) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        target = "-" if to == "stdout" else str(tmp_path / "big.bin")
        code, _, err = run(capsys, "get", f"{name}:/big.bin", target, "--retries", "0")
    assert code == 7, err
    one_error(err, "was cut after 100000 bytes (server said: 426 Transfer aborted")
    assert "passive" not in err
    if to == "stdout":
        assert "standard output is incomplete" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profiles", "srv"]


def test_mv_into_a_missing_folder_names_the_folder(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """RNTO's "550 No such file" names the destination, which is absent by nature: the reason is
    its folder, said as WebDAV's 409 is (review A).  The source stays where it was."""
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "a.txt").write_bytes(b"a")
    with FakeFTPSServer(pki, root=tmp_path / "srv") as srv, srv.adapter(client_context()) as remote:
        with pytest.raises(RemoteNotFound, match="the folder /archive does not exist") as caught:
            remote.mv("/a.txt", "/archive/a.txt")
        assert caught.value.hint is not None and "xfer mkdir" in caught.value.hint
    assert (tmp_path / "srv" / "a.txt").read_bytes() == b"a"


class _ListOnly(TLS_FTPHandler):  # type: ignore[misc]  # (pyftpdlib has no type hints)
    """pyftpdlib without MLSD/MLST, as vsftpd: LIST shows a link as ``l... name -> target``."""

    proto_cmds: ClassVar[dict[str, Any]] = {
        name: spec for name, spec in TLS_FTPHandler.proto_cmds.items() if name not in ("MLSD", "MLST")}


@pytest.mark.parametrize("handler", [_ListOnly, TLS_FTPHandler], ids=["LIST", "MLSD"])
@pytest.mark.parametrize("target", ["/out/folder-link", "/out/folder-*"])
def test_rm_r_of_a_link_to_a_folder_removes_the_link_not_the_target(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    handler: type[TLS_FTPHandler], target: str,
) -> None:
    """Review I: CWD and MLST follow the link, so rm -r walked into it and deleted the target's
    files (then failed on RMD of the link, exit 6, "0 of 1 removed").  rm -r removes a link."""
    from .helpers import save_ftps_profile

    with FTPSServer(pki, root=tmp_path / "served", handler_class=handler) as srv:
        (srv.root / "out").mkdir()
        (srv.root / "real").mkdir()
        (srv.root / "real" / "inner.txt").write_text("inner")
        (srv.root / "out" / "folder-link").symlink_to(srv.root / "real")
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        code, _, err = run(capsys, "rm", "-r", f"{name}:{target}")
        assert code == 0, err
        assert (srv.root / "real" / "inner.txt").read_text() == "inner"
        assert not os.path.lexists(srv.root / "out" / "folder-link")


def test_a_kept_part_is_not_continued_without_mdtm(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server with SIZE but no MDTM: the file was replaced by another of the same size after the
    first run was cut.  Before: ``REST 30000`` and the rest of the new file joined to the old part,
    exit 0, ``"verified": "size"``.  Now the download starts over from 0 and says why."""
    target = tmp_path / "a.edi"
    with FakeFTPSServer(pki, root=root, mdtm=False, cut_after=30_000) as srv:
        flags = _cli_flags(pki, srv, monkeypatch)
        code, _, err = run(capsys, "get", f"{srv.url}in/a.edi", str(target), "--resume", *flags)
        assert code == ExitCode.INTEGRITY, err
        assert (tmp_path / ".a.edi.xfer-part").stat().st_size == 30_000
        (root / "in" / "a.edi").write_bytes(b"Z" * 70_000)  # another file, the same size
        srv.cut_after = None
        before = len(srv.commands)
        code, _, err = run(capsys, "get", f"{srv.url}in/a.edi", str(target), "--resume", *flags)
        sent = srv.commands[before:]
    assert code == 0, err
    assert target.read_bytes() == b"Z" * 70_000
    assert "modification time (MDTM), so the part kept earlier cannot be checked" in err
    assert not any(line.startswith("REST") for line in sent)
    assert _no_leftovers(tmp_path) == []


@contextlib.contextmanager
def _part_then_rest_ignored(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[FakeFTPSServer, list[str], Path]]:
    """A ``get --resume`` of /in/a.edi cut after 30,000 bytes (the part kept); then the server
    answers ``350`` to REST and sends from byte 0: (server, CLI flags, local target)."""
    target = tmp_path / "a.edi"
    with FakeFTPSServer(pki, root=root, cut_after=30_000) as srv:
        flags = _cli_flags(pki, srv, monkeypatch)
        code, _, err = run(capsys, "get", f"{srv.url}in/a.edi", str(target), "--resume", *flags)
        assert code == ExitCode.INTEGRITY, err
        srv.cut_after = None
        srv.rest_ignored = True
        yield srv, flags, target


def test_a_server_that_ignores_rest_on_a_continued_download_gets_asked_for_the_whole_file(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review K-6: ``REST`` answered ``350``, then the RETR sent from byte 0.  The whole file was
    read onto the part, then "incomplete: got 100000 of 70000 bytes ... the connection may have
    been cut", exit 7, no retry.  Now the surplus is noticed as it comes, the part is dropped,
    and the next try asks for the whole file (no REST)."""
    data = (root / "in" / "a.edi").read_bytes()
    with _part_then_rest_ignored(capsys, pki, root, tmp_path, monkeypatch) as (srv, flags, target):
        before = len(srv.commands)
        code, _, err = run(capsys, "get", f"{srv.url}in/a.edi", str(target), "--resume", *flags, "--retries", "1")
        sent = [line.split()[0] for line in srv.commands[before:]]
    assert code == 0, err
    assert target.read_bytes() == data
    assert "xfer: retry 1/1" in err
    assert sent.count("RETR") == 2 and sent.count("REST") == 1
    assert _no_leftovers(tmp_path) == []


def test_a_server_that_ignores_rest_leaves_no_part_for_the_next_run_to_trip_on(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review N, finding 5: with ``--retries 0`` the part went back to its kept bytes, and every
    later ``--resume`` run sent REST, got the whole file and failed the same way (exit 7), until
    the part was removed by hand.  The part is dropped now: the next run gets the file."""
    data = (root / "in" / "a.edi").read_bytes()
    with _part_then_rest_ignored(capsys, pki, root, tmp_path, monkeypatch) as (srv, flags, target):
        code, _, err = run(capsys, "get", f"{srv.url}in/a.edi", str(target), "--resume", *flags)
        assert code == ExitCode.INTEGRITY and "the part kept earlier was dropped" in err, err
        assert _no_leftovers(tmp_path) == []
        code, _, err = run(capsys, "get", f"{srv.url}in/a.edi", str(target), "--resume", *flags)
    assert code == 0, err
    assert target.read_bytes() == data


def test_a_server_that_ignores_rest_before_stor_gets_the_whole_file_on_the_next_try(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review K-7: the first STOR stored short; the server then took ``REST 40000`` and wrote the
    continued STOR from byte 0.  Every try resumed again (stored 60000, 40000, 60000...) and the
    run ended with exit 5, "the data connection was cut ... on each of 4 tries".  Nothing wrong
    was installed, but the file never arrived.  Now the second try's part shows REST ignored, and
    the third sends the whole file."""
    source = tmp_path / "f.bin"
    source.write_bytes(os.urandom(100_000))
    with FakeFTPSServer(pki, root=root, store_only=40_000, rest_ignored=True) as srv:
        recorded = srv.record

        def record(line: str) -> None:  # only the first STOR is stored short
            recorded(line)
            if line.startswith("SIZE"):
                srv.store_only = None

        monkeypatch.setattr(srv, "record", record)
        flags = _cli_flags(pki, srv, monkeypatch)
        code, _, err = run(capsys, "put", str(source), f"{srv.url}in/f.bin", *flags, "--retries", "3")
        sent = [line.split()[0] for line in srv.commands if line.split()[0] in ("REST", "STOR", "APPE")]
    assert code == 0, err
    assert (root / "in" / "f.bin").read_bytes() == source.read_bytes()
    assert sent == ["STOR", "REST", "STOR", "STOR"]
