"""A backslash in a remote path a library caller typed is refused as on the command line.

``remote.put_file("a.txt", "in\\\\a.txt")`` is a Windows habit: FTPS would create a file named
``in\\a.txt``, HTTPS would send ``in%5Ca.txt``.  The CLI refuses such targets
(:func:`xfer.urls.check_remote_path`); the adapter verbs now do too, with the same words.
A backslash that is part of a *listed* name (legal on POSIX servers and disks) still works:
``Entry.path`` from ``ls`` and the names the multi-file put/get read from a folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xfer.client import get, put
from xfer.errors import UsageError
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

POSIX_ONLY = pytest.mark.skipif(os.sep == "\\" or os.altsep == "\\", reason="a backslash separates folders here")


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[FTPSServer]:
    with FTPSServer(pki, root=tmp_path / "served") as srv:
        (srv.root / "in").mkdir(parents=True)
        (srv.root / "in" / "a.txt").write_text("a")
        yield srv


VERBS: dict[str, Callable[..., object]] = {
    "ls": lambda remote, path, local: remote.ls(path),
    "info": lambda remote, path, local: remote.info(path),
    "exists": lambda remote, path, local: remote.exists(path),
    "get_file": lambda remote, path, local: remote.get_file(path, local / "out.txt"),
    "put_file": lambda remote, path, local: remote.put_file(local / "f.txt", path),
    "mkdir": lambda remote, path, local: remote.mkdir(path),
    "rm": lambda remote, path, local: remote.rm(path),
    "rmdir": lambda remote, path, local: remote.rmdir(path),
    "mv": lambda remote, path, local: remote.mv("/in/a.txt", path),
}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_refuses_a_typed_backslash_with_the_cli_words(
    verb: str, server: FTPSServer, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    (tmp_path / "f.txt").write_text("x")
    with server.adapter(client_context()) as remote:
        with pytest.raises(UsageError) as caught:
            VERBS[verb](remote, "in\\a.txt", tmp_path)
    assert caught.value.message == "in\\a.txt: remote paths are separated by '/', not by a backslash"
    assert caught.value.hint == "write in/a.txt"
    assert not [c for c in server.commands if c.split(" ", 1)[0] in ("STOR", "RETR", "DELE", "MKD", "RNFR", "RMD")]
    assert sorted(p.name for p in (server.root / "in").iterdir()) == ["a.txt"]
    assert not (tmp_path / "out.txt").exists()


def test_library_put_refuses_a_typed_backslash_destination(
    server: FTPSServer, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "g.txt").write_text("y")
    with server.adapter(client_context()) as remote, pytest.raises(UsageError, match="not by a backslash"):
        put(remote, [tmp_path / "f.txt", tmp_path / "g.txt"], "\\in\\")
    assert sorted(p.name for p in (server.root / "in").iterdir()) == ["a.txt"]


@POSIX_ONLY
def test_a_listed_name_with_a_backslash_stays_reachable(
    server: FTPSServer, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    (server.root / "in" / "Q3\\report.csv").write_text("22")
    with server.adapter(client_context()) as remote:
        [entry] = [e for e in remote.ls("/in") if e.name == "Q3\\report.csv"]
        assert entry.path == "/in/Q3\\report.csv"
        assert remote.info(entry.path).size == 2
        remote.get_file(entry.path, tmp_path / "q3.csv")
    assert (tmp_path / "q3.csv").read_text() == "22"


@POSIX_ONLY
def test_local_names_with_a_backslash_download_as_names_and_are_never_uploaded_over_ftps(
    server: FTPSServer, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    """FTP servers disagree on what a backslash is (a separator on Windows servers, a name
    character elsewhere), so no upload sends one; a listed name still downloads as a name."""
    single = tmp_path / "Q3\\report.csv"
    single.write_text("22")
    (server.root / "in" / "batch" / "sub\\dir").mkdir(parents=True)
    (server.root / "in" / "batch" / "sub\\dir" / "x\\y.txt").write_text("xy")
    with server.adapter(client_context()) as remote:
        with pytest.raises(UsageError, match="backslash"):
            put(remote, [single], "/in/")
        get(remote, ["/in/batch"], tmp_path / "down", recursive=True)
    assert not (server.root / "in" / "Q3\\report.csv").exists()
    assert (tmp_path / "down" / "sub\\dir" / "x\\y.txt").read_text() == "xy"
