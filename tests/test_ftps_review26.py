"""Review 26 of the FTPS adapter: the high findings, each against the fake or the pyftpdlib server.

1. An upload onto a folder's name, on a server whose RNTO replaces what is at the target.
2. A download's size read from a file name the 150 echoes.
3. ``rm -r`` through a link to a folder below the top folder (MLSD follows links).
4. A resumed upload joining the part of one version of the local file to the rest of another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pyftpdlib.handlers import TLS_FTPHandler

from tests.helpers import one_error, run, save_ftps_profile
from tests.test_retry_ftps import DATA, SIZE, data_cut, ftps, proxied, with_control  # noqa: F401 - ftps: a fixture
from xfer.adapters.ftps.replies import size_in_150
from xfer.errors import ExitCode, RemoteIsFolder, TransferCut
from xfer.testing.endpoints import Endpoint
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

ContextFactory = Callable[..., XferSSLContext]


def _cli_flags(pki: TestPKI, srv: FakeFTPSServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("XFER_T_FTP_PW", srv.password)
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca), "--username", srv.user, "--password", "env:XFER_T_FTP_PW", "--retries", "0"]


# -- 1: an upload never replaces a folder -----------------------------------------------------------


@pytest.fixture
def folder_named_d(tmp_path: Path) -> Path:
    """The server's /out/local/d: a folder of 3 files."""
    root = tmp_path / "srv"
    (root / "out" / "local" / "d").mkdir(parents=True)
    for number in range(3):
        (root / "out" / "local" / "d" / f"{number}.edi").write_bytes(b"%d" % number)
    return root


def test_put_r_of_a_file_named_like_a_remote_folder_keeps_the_folder(
    pki: TestPKI, folder_named_d: Path, tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """local/d is a file, /out/local/d a folder.  The server's RNTO replaces whatever is at the
    target: before, ``put -r`` renamed the upload over the folder (its 3 files gone), exit 0."""
    local = tmp_path / "local"
    local.mkdir()
    (local / "d").write_bytes(b"payload")
    with FakeFTPSServer(pki, root=folder_named_d, rnto_replaces=True) as srv:
        code, _, err = run(capsys, "put", "-r", str(local), f"{srv.url}out", *_cli_flags(pki, srv, monkeypatch))
    assert code == ExitCode.REMOTE
    assert "/out/local/d is a folder; the upload was not stored" in one_error(err)
    assert sorted(p.name for p in (folder_named_d / "out" / "local" / "d").iterdir()) == ["0.edi", "1.edi", "2.edi"]
    assert sorted(p.name for p in (folder_named_d / "out" / "local").iterdir()) == ["d"]  # no part left
    assert not [c for c in srv.commands if c.startswith("RNTO")]


@pytest.mark.parametrize("how", ["put_file", "open_write"])
@pytest.mark.parametrize("mlst", [True, False], ids=["MLST", "CWD"])
def test_an_upload_onto_a_folder_is_refused_where_rnto_would_replace_it(
    pki: TestPKI, folder_named_d: Path, client_context: ContextFactory, tmp_path: Path, how: str, mlst: bool,
) -> None:
    (tmp_path / "f.edi").write_bytes(b"payload")
    with FakeFTPSServer(pki, root=folder_named_d, rnto_replaces=True, mlst=mlst) as srv:
        with srv.adapter(client_context()) as remote:
            with pytest.raises(RemoteIsFolder, match=r"/out/local/d is a folder; the upload was not stored"):
                if how == "put_file":
                    remote.put_file(tmp_path / "f.edi", "/out/local/d")
                else:
                    with remote.open_write("/out/local/d") as writer:
                        writer.write(b"payload")
    assert len(list((folder_named_d / "out" / "local" / "d").iterdir())) == 3
    assert sorted(p.name for p in (folder_named_d / "out" / "local").iterdir()) == ["d"]


# -- 2: the size in a 150 is the server's, never the file name's -----------------------------------

#: FileZilla Server 0.9's 150: the name, quoted, and no size of its own.
NAME_ECHOED = '150 Opening data channel for file download from server of "/invoice (5 bytes).edi"'


def test_a_size_in_an_echoed_name_does_not_make_a_cut_download_whole(
    pki: TestPKI, tmp_path: Path, client_context: ContextFactory
) -> None:
    """1000 bytes, the stream cut after 5 (no close_notify), no SIZE, no MLST: only the 150's size
    could have told.  Before, the name's "(5 bytes)" was read as the size, and the 5 bytes saved."""
    root = tmp_path / "srv"
    root.mkdir()
    (root / "invoice (5 bytes).edi").write_bytes(b"0123456789" * 100)
    with FakeFTPSServer(pki, root=root, size=False, mlst=False, cut_after=5, preliminary_reply=NAME_ECHOED) as srv:
        with srv.adapter(client_context(), retries=0) as remote, pytest.raises(TransferCut):
            remote.get_file("/invoice (5 bytes).edi", tmp_path / "out.edi")
    assert not (tmp_path / "out.edi").exists()


@pytest.mark.parametrize("reply", [
    NAME_ECHOED,
    '150 Opening BINARY mode data connection for "invoice (5 bytes).edi" (1000 bytes).',
    "150 Opening BINARY mode data connection for invoice (5 bytes).edi (1000 bytes)",
], ids=["filezilla", "quoted-and-sized", "vsftpd"])
def test_a_whole_download_of_such_a_name_succeeds(
    pki: TestPKI, tmp_path: Path, client_context: ContextFactory, reply: str
) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    (root / "invoice (5 bytes).edi").write_bytes(b"0123456789" * 100)
    with FakeFTPSServer(pki, root=root, size=False, mlst=False, preliminary_reply=reply) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            result = remote.get_file("/invoice (5 bytes).edi", tmp_path / "out.edi")
    assert result.size == 1000
    assert (tmp_path / "out.edi").read_bytes() == b"0123456789" * 100


@pytest.mark.parametrize(("reply", "size"), [
    ("150 Opening BINARY mode data connection for x.edi (1000 bytes).", 1000),
    ("150 Opening BINARY mode data connection for x.edi (1000 bytes)", 1000),
    ("150 Opening BINARY mode data connection for x (5 bytes).edi (1000 bytes).", 1000),
    (NAME_ECHOED, None),
    ('150 Opening data connection for "x (5 bytes)"', None),
    ('150 Opening data connection for "x (5 bytes)', None),
    ("150 Opening data connection for x (5 bytes).edi", None),
    ("150 Here comes the data.", None),
    ("125 Data connection already open (5 bytes)", None),
])
def test_size_in_150_reads_only_a_final_size_outside_quotes(reply: str, size: int | None) -> None:
    assert size_in_150(reply) == size


# -- 3: rm -r removes a link inside the tree as a link ----------------------------------------------


class _ListOnly(TLS_FTPHandler):  # type: ignore[misc]
    """vsftpd's way: LIST only (no MLSD/MLST), so links are "l" lines."""

    proto_cmds: ClassVar[dict[str, Any]] = {
        k: v for k, v in TLS_FTPHandler.proto_cmds.items() if k not in ("MLSD", "MLST")
    }


class _ListOnlyAtTheTop(TLS_FTPHandler):  # type: ignore[misc]
    """LIST refused everywhere but in ``/``: below it, links cannot be told from folders."""

    def ftp_LIST(self, path: str) -> Any:
        if self.fs.cwd != "/":
            self.respond("550 Permission denied.")
            return None
        return super().ftp_LIST(path)


def _linked_tree(root: Path) -> None:
    """/important/{db,ledger}, and /in/sub/lnk, a link to /important, deep inside /in."""
    (root / "important").mkdir()
    (root / "important" / "db").write_text("db")
    (root / "important" / "ledger").write_text("ledger")
    (root / "in" / "sub").mkdir(parents=True)
    (root / "in" / "a.edi").write_text("a")
    (root / "in" / "sub" / "b.edi").write_text("b")
    (root / "in" / "sub" / "lnk").symlink_to(root / "important")


@pytest.mark.parametrize("handler", [TLS_FTPHandler, _ListOnly], ids=["MLSD", "LIST"])
def test_rm_r_removes_a_nested_link_to_a_folder_and_not_its_files(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    handler: type[Any],
) -> None:
    """pyftpdlib's MLSD lists /in/sub/lnk as type=dir: before, the walk went through it and deleted
    /important/db and /important/ledger."""
    with FTPSServer(pki, root=tmp_path / "served", handler_class=handler) as srv:
        _linked_tree(srv.root)
        profile = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        code, _, err = run(capsys, "rm", "-r", f"{profile}:/in")
        assert code == 0, err
        assert not os.path.lexists(srv.root / "in")
        assert sorted(p.name for p in (srv.root / "important").iterdir()) == ["db", "ledger"]


def test_rm_r_removes_nothing_where_a_nested_link_cannot_be_told(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The top folder's own check passes (/ can be listed); /in's LIST is refused: nothing goes."""
    with FTPSServer(pki, root=tmp_path / "served", handler_class=_ListOnlyAtTheTop) as srv:
        _linked_tree(srv.root)
        profile = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        code, _, err = run(capsys, "rm", "-r", f"{profile}:/in")
        assert code == ExitCode.REMOTE
        assert "cannot tell whether /in/sub is a folder or a link to one" in one_error(err)
        assert sorted(p.name for p in (srv.root / "important").iterdir()) == ["db", "ledger"]
        assert (srv.root / "in" / "a.edi").exists() and (srv.root / "in" / "sub" / "b.edi").exists()


# -- 4: a resumed upload continues only the same local file -----------------------------------------


def test_a_file_rewritten_at_the_same_size_between_tries_is_sent_again_from_0(
    ftps: tuple[Endpoint, list[int]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first try is cut halfway; before the second the file is rewritten, same size, another
    time.  pyftpdlib has no HASH to prove the part: before, the second try continued it, and the
    server got half of the old file and half of the new (the result reporting the new one's SHA-256)."""
    endpoint, _ = ftps
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    os.utime(source, (1_700_000_000, 1_700_000_000))
    changed = hashlib.sha256(b"other").digest() * (SIZE // 32)
    caplog.set_level(logging.INFO, logger="xfer.retry")

    def rewrite(seconds: float) -> None:
        source.write_bytes(changed)
        os.utime(source, (1_700_000_100, 1_700_000_100))

    with proxied(ftps, with_control(data_cut("up", SIZE // 2), ftps)) as (_proxy, remote):
        remote.retry_policy = dataclasses.replace(remote.retry_policy, sleep=rewrite)
        result = remote.put_file(source, "/big.bin")
    assert (endpoint.root / "big.bin").read_bytes() == changed
    assert result.attempts == 2 and result.sha256 == hashlib.sha256(changed).hexdigest()
    assert not any(line.startswith(("REST ", "APPE ")) for line in endpoint.server.commands)
    assert any("the local file changed since the earlier try" in r.getMessage() for r in caplog.records)
    assert [p.name for p in endpoint.root.iterdir()] == ["big.bin"]


def test_an_unchanged_file_still_continues_the_part(ftps: tuple[Endpoint, list[int]], tmp_path: Path) -> None:
    endpoint, _ = ftps
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    with proxied(ftps, with_control(data_cut("up", SIZE // 2), ftps)) as (_proxy, remote):
        result = remote.put_file(source, "/big.bin")
    assert (endpoint.root / "big.bin").read_bytes() == DATA
    assert result.attempts == 2
    assert any(line.startswith("REST ") for line in endpoint.server.commands)


@pytest.mark.parametrize("how", ["put_file", "open_write"])
def test_an_upload_to_a_drop_box_that_will_not_say_what_is_there_is_still_installed(
    pki: TestPKI, tmp_path: Path, client_context: ContextFactory, how: str
) -> None:
    """Review H (session 26): the look before the rename (is the target a folder?) failed on a
    write-only drop box refusing SIZE, MDTM, LIST and CWD, and the complete upload was deleted:
    every put there failed.  A look the server refuses leaves the rename as before it."""
    root = tmp_path / "srv"
    (root / "drop").mkdir(parents=True)
    source = tmp_path / "f.edi"
    source.write_bytes(b"payload")
    denied = "550 Permission denied."
    replies = {"SIZE /drop/f.edi": denied, "MDTM /drop/f.edi": denied, "LIST /drop": denied,
               "CWD /drop/f.edi": denied}
    with FakeFTPSServer(pki, root=root, mlst=False, replies=replies) as srv, \
            srv.adapter(client_context()) as remote:
        if how == "put_file":
            remote.put_file(source, "/drop/f.edi")
        else:
            with remote.open_write("/drop/f.edi") as writer:
                writer.write(b"payload")
    assert sorted(path.name for path in (root / "drop").iterdir()) == ["f.edi"]
    assert (root / "drop" / "f.edi").read_bytes() == b"payload"
