"""``mv`` reads its destination as POSIX ``mv`` does, and never destroys a folder (issue 11 item 1).

WebDAV (wsgidav in-process, and scripted races) and HTTPS (unsupported: exit 8, nothing sent).
FTPS's own ``_mv`` is tested with the FTPS adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import one_error, run
from xfer.adapters.webdav import WebDAVAdapter
from xfer.errors import ExitCode, RemoteExists, RemoteIsFolder, RemoteNotFound, UnsupportedOperation, UsageError
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import RecordedRequest, Reply, WebDAVServer
from xfer.tls import XferSSLContext

ContextFactory = Callable[..., XferSSLContext]


def _tls(pki: TestPKI) -> list[str]:
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca)]


def _tree(root: Path) -> dict[str, bytes | None]:
    """Everything under ``root``: file contents, None for folders."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


@pytest.fixture
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDAVServer]:
    """The issue's scene: /invoice.edi (14 bytes) and /batch holding 9 files."""
    with WebDAVServer(pki, root=tmp_path_factory.mktemp("mv")) as srv:
        (srv.root / "invoice.edi").write_bytes(b"UNB+UNOA:1+X'")
        (srv.root / "batch").mkdir()
        for i in range(9):
            (srv.root / "batch" / f"{i}.edi").write_bytes(b"%d" % i)
        yield srv


@pytest.fixture
def remote(server: WebDAVServer, client_context: ContextFactory) -> Iterator[WebDAVAdapter]:
    adapter = server.adapter(client_context())
    with adapter:
        yield adapter


def _moves(server: WebDAVServer) -> list[tuple[str, str, str]]:
    return [(r.path, r.headers["Destination"].split(server.server, 1)[1], r.headers["Overwrite"])
            for r in server.requests if r.method == "MOVE"]


@pytest.mark.parametrize("destination", ["/batch", "/batch/"])
def test_file_onto_an_existing_folder_moves_into_it(
    server: WebDAVServer, remote: WebDAVAdapter, destination: str
) -> None:
    remote.mv("/invoice.edi", destination)
    assert sorted(p.name for p in (server.root / "batch").iterdir()) == [*(f"{i}.edi" for i in range(9)),
                                                                         "invoice.edi"]
    assert (server.root / "batch" / "invoice.edi").read_bytes() == b"UNB+UNOA:1+X'"
    assert _moves(server) == [("/invoice.edi", "/batch/invoice.edi", "F")]


def test_the_issue_from_the_cli(
    capsys: pytest.CaptureFixture[str], server: WebDAVServer, pki: TestPKI, config: Path
) -> None:
    code, _, err = run(capsys, "mv", f"{server.url}invoice.edi", "/batch/", *_tls(pki))
    assert code == 0, err
    assert len(list((server.root / "batch").iterdir())) == 10
    assert (server.root / "batch" / "invoice.edi").exists() and not (server.root / "invoice.edi").exists()


def test_trailing_slash_needs_an_existing_folder_for_a_file(server: WebDAVServer, remote: WebDAVAdapter) -> None:
    before = _tree(server.root)
    with pytest.raises(RemoteNotFound, match="the folder /archive does not exist") as caught:
        remote.mv("/invoice.edi", "/archive/")
    assert caught.value.hint is not None and "trailing /" in caught.value.hint
    (server.root / "plain.txt").write_bytes(b"p")
    with pytest.raises(RemoteExists, match=r"/plain\.txt is a file, not a folder"):
        remote.mv("/invoice.edi", "/plain.txt/")
    (server.root / "plain.txt").unlink()
    assert _tree(server.root) == before and _moves(server) == []


def test_folder_to_a_new_name_with_slash_is_a_rename(server: WebDAVServer, remote: WebDAVAdapter) -> None:
    remote.mv("/batch", "/archive/")
    assert len(list((server.root / "archive").iterdir())) == 9 and not (server.root / "batch").exists()


def test_a_file_never_replaces_a_folder(server: WebDAVServer, remote: WebDAVAdapter) -> None:
    (server.root / "batch" / "invoice.edi").mkdir()  # the name inside the folder is taken by a folder
    (server.root / "batch" / "invoice.edi" / "keep").write_bytes(b"keep")
    before = _tree(server.root)
    with pytest.raises(RemoteIsFolder, match=r"/batch/invoice\.edi is a folder; a file never replaces a folder"):
        remote.mv("/invoice.edi", "/batch/")
    assert _tree(server.root) == before and _moves(server) == []


def test_a_folder_never_replaces_anything(server: WebDAVServer, remote: WebDAVAdapter) -> None:
    (server.root / "other").mkdir()
    (server.root / "other" / "batch").mkdir()
    (server.root / "other" / "batch" / "x").write_bytes(b"x")
    before = _tree(server.root)
    with pytest.raises(RemoteIsFolder, match="a folder never replaces a folder"):
        remote.mv("/batch", "/other")  # into /other, where /other/batch exists
    with pytest.raises(RemoteExists, match=r"/invoice\.edi is a file; a folder never replaces a file"):
        remote.mv("/batch", "/invoice.edi")
    assert _tree(server.root) == before and _moves(server) == []


def test_a_file_replaces_a_file_as_posix_mv_does(
    server: WebDAVServer, client_context: ContextFactory, remote: WebDAVAdapter
) -> None:
    (server.root / "old.edi").write_bytes(b"old")
    remote.mv("/invoice.edi", "/old.edi")
    assert (server.root / "old.edi").read_bytes() == b"UNB+UNOA:1+X'"
    # Overwrite: T only for the retry, after the destination was seen to be a file.
    assert _moves(server) == [("/invoice.edi", "/old.edi", "F"), ("/invoice.edi", "/old.edi", "T")]


def test_overwrite_false_keeps_the_existing_file(server: WebDAVServer, client_context: ContextFactory) -> None:
    (server.root / "old.edi").write_bytes(b"old")
    with server.adapter(client_context(), overwrite=False) as careful:
        with pytest.raises(RemoteExists, match="already exists and overwriting is off"):
            careful.mv("/invoice.edi", "/old.edi")
    assert (server.root / "old.edi").read_bytes() == b"old" and (server.root / "invoice.edi").exists()
    # Refused on a look, before any MOVE: a server may ignore Overwrite: F (review I).  The header
    # still guards a file that appears after the look (test_a_folder_that_appears_meanwhile...).
    assert _moves(server) == []


@pytest.mark.parametrize(
    ("source", "destination", "words"),
    [("/batch", "/batch/inner", "into itself"), ("/batch/0.edi", "/batch/", "onto itself"),
     ("/", "/x", "root of the connection")],
)
def test_impossible_moves_are_usage_errors(
    server: WebDAVServer, remote: WebDAVAdapter, source: str, destination: str, words: str
) -> None:
    before = _tree(server.root)
    with pytest.raises(UsageError, match=words):
        remote.mv(source, destination)
    assert _tree(server.root) == before


@pytest.mark.parametrize("refusal", ["412-wsgidav", "409-nginx", "301-apache"])
def test_a_folder_that_appears_meanwhile_is_not_replaced(
    pki: TestPKI, tmp_path: Path, client_context: ContextFactory, refusal: str
) -> None:
    """Between xfer's look and its MOVE a folder takes the name: Overwrite: F makes the server refuse.

    Servers refuse in their own words: 412 (RFC 4918, wsgidav), 409 (nginx), a 301 without
    Location (Apache: "Destination URI should end with /").  None of them is a missing parent.
    """

    hidden: list[str] = []

    def hide_target(request: RecordedRequest) -> Reply | None:
        # xfer's first look (both spellings: /late, then /late/) finds nothing; later ones see the folder.
        if request.method == "PROPFIND" and request.path.rstrip("/") == "/late" and len(hidden) < 2:
            hidden.append(request.path)
            return Reply(404, b"gone", {"Content-Length": "4"})
        if request.method == "MOVE" and request.headers["Destination"].endswith("/late"):
            if refusal == "409-nginx":
                return Reply(409, b"", {"Content-Length": "0"})
            if refusal == "301-apache":
                return Reply(301, b"Destination URI should end with /", {"Content-Length": "33"})
        return None

    with WebDAVServer(pki, root=tmp_path / "srv", intercept=hide_target) as srv:
        (srv.root / "f.txt").write_bytes(b"f")
        (srv.root / "late").mkdir()
        (srv.root / "late" / "precious").write_bytes(b"precious")
        with srv.adapter(client_context()) as remote, pytest.raises(RemoteIsFolder, match="/late is a folder"):
            remote.mv("/f.txt", "/late")
        assert (srv.root / "late" / "precious").read_bytes() == b"precious" and (srv.root / "f.txt").exists()
        assert {overwrite for *_, overwrite in _moves(srv)} == {"F"}


def test_copy_reads_the_destination_the_same_way(server: WebDAVServer, remote: WebDAVAdapter) -> None:
    remote.copy("/invoice.edi", "/batch")
    assert (server.root / "batch" / "invoice.edi").exists() and (server.root / "invoice.edi").exists()
    (server.root / "batch" / "sub" / "0.edi").mkdir(parents=True)  # a folder has the file's name there
    with pytest.raises(RemoteIsFolder, match="a file never replaces a folder"):
        remote.copy("/batch/0.edi", "/batch/sub/")
    assert (server.root / "batch" / "sub" / "0.edi").is_dir()


@pytest.mark.parametrize("temp_name", [True, False], ids=["temp-name", "direct"])
def test_put_never_replaces_a_folder(
    server: WebDAVServer, client_context: ContextFactory, tmp_path: Path, temp_name: bool
) -> None:
    (tmp_path / "f").write_bytes(b"new")
    before = _tree(server.root)
    with server.adapter(client_context(), upload_temp_name=temp_name) as remote:
        with pytest.raises(RemoteIsFolder, match="/batch is a folder"):
            remote.put_file(tmp_path / "f", "/batch")
    assert _tree(server.root) == before


# -- HTTPS: no mv at all ---------------------------------------------------------------------------------


def test_https_mv_is_unsupported(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, config: Path, client_context: ContextFactory
) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        (srv.root / "a.txt").write_bytes(b"a")
        (srv.root / "batch").mkdir()
        code, _, err = run(capsys, "mv", f"{srv.url}/a.txt", "/batch/", *_tls(pki))
        assert code == ExitCode.UNSUPPORTED
        one_error(err, "does not support mv")
        assert "davs://" in err
        from xfer.adapters.base import ConnectionSettings
        from xfer.adapters.https import HTTPSAdapter

        settings = ConnectionSettings(scheme="https", host="127.0.0.1", port=srv.port, root="/",
                                      ssl_context=client_context())
        with HTTPSAdapter(settings) as remote, pytest.raises(UnsupportedOperation):
            remote.mv("/a.txt", "/batch/")
        assert srv.handshakes == 0, "refused before connecting"
    assert (srv.root / "a.txt").exists() and list((srv.root / "batch").iterdir()) == []
