"""The sources of many downloads removed together over HTTPS (``--remove-source-files``, issue 14):
every ``HEAD`` pipelined first, then the ``DELETE``\\ s of the files shown with their sizes, each sent
once.  Against the in-process server, and its variants: one that closes a connection after N
requests (nginx's ``keepalive_requests``), one whose connection breaks after a removal was carried
out, one that sets a cookie (nothing goes pipelined), a folder that answers ``403`` to a ``HEAD``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.together_helpers import ContextFactory
from tests.together_helpers import https_adapter as _adapter
from xfer.errors import ConnectionDropped, IntegrityError, RemoteNotFound, UnsupportedOperation
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import WebDAVServer


def _sources(root: Path, count: int) -> list[tuple[str, int]]:
    (root / "out").mkdir(parents=True)
    for number in range(count):
        (root / "out" / f"f{number:02d}.txt").write_bytes(b"x" * (number + 1))
    return [(f"/out/f{number:02d}.txt", number + 1) for number in range(count)]


def _asked(srv: HTTPSServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in srv.requests if r.method in ("HEAD", "DELETE")]


def test_every_look_goes_before_the_removals_and_each_file_is_proven(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    files = _sources(tmp_path / "srv", 40)
    (tmp_path / "srv" / "out" / "f03.txt").write_bytes(b"changed since the download")
    (tmp_path / "srv" / "out" / "f05.txt").unlink()
    (tmp_path / "srv" / "out" / "f07.txt").unlink()
    (tmp_path / "srv" / "out" / "f07.txt").mkdir()  # a folder where the file was
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv.host, srv.port, client_context()) as remote:
        failures = remote.remove_sources(files)
        asked, handshakes = _asked(srv), srv.handshakes
    assert isinstance(failures[3], IntegrityError) and str(failures[3]).startswith(
        "kept the source /out/f03.txt: the server shows 26 bytes, 4 were written")
    assert isinstance(failures[5], RemoteNotFound)
    assert isinstance(failures[7], IntegrityError) and "the server shows no file" in str(failures[7])
    assert [place for place, failure in enumerate(failures) if failure is not None] == [3, 5, 7]
    assert sorted(p.name for p in (tmp_path / "srv" / "out").iterdir()) == ["f03.txt", "f07.txt"]
    methods = [method for method, _ in asked]
    assert methods == ["HEAD"] * 40 + ["DELETE"] * 37  # the looks, then the removals: not file by file
    deleted = Counter(path for method, path in asked if method == "DELETE")
    assert set(deleted.values()) == {1}
    assert handshakes == 1


@pytest.mark.parametrize("keepalive", [1, 7])
def test_requests_behind_a_closing_answer_go_again_and_none_twice(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, keepalive: int,
) -> None:
    """nginx answers a connection's Nth request with ``Connection: close`` and reads nothing after it:
    those requests go again, on a new connection (opened by one of them alone), still together where
    a connection takes more than one; every source is removed, each ``DELETE`` sent once."""
    files = _sources(tmp_path / "srv", 30)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", keepalive_requests=keepalive) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        failures = remote.remove_sources(files)
        asked = _asked(srv)
    assert failures == [None] * 30
    assert not list((tmp_path / "srv" / "out").iterdir())
    assert Counter(path for method, path in asked if method == "DELETE") == Counter(path for path, _ in files)
    if keepalive > 1:  # every look before any removal: none went the default way, file by file
        assert [method for method, _ in asked] == ["HEAD"] * 30 + ["DELETE"] * 30


def test_a_removal_whose_answer_is_lost_is_looked_at_never_sent_again(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """The connection breaks after the server removed ``f04``, its answer lost with those of the
    ``DELETE``\\ s behind it (not carried out).  Each is then only looked at: ``f04`` is gone, so
    removed; the others are still there, so kept and said, with no second ``DELETE``."""
    files = _sources(tmp_path / "srv", 10)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", drop_after_delete=["/out/f04.txt"]) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        failures = remote.remove_sources(files)
        asked = _asked(srv)
    assert failures[:5] == [None] * 5
    for failure, (path, _) in zip(failures[5:], files[5:], strict=True):
        assert isinstance(failure, ConnectionDropped)
        assert str(failure).endswith(f"the connection broke while removing {path}, which is still there: kept")
    assert sorted(p.name for p in (tmp_path / "srv" / "out").iterdir()) == [f"f{n:02d}.txt" for n in range(5, 10)]
    # (The server records an answered request: f04's DELETE, dropped, is not among them; a second
    # one would be.)
    assert [path for method, path in asked if method == "DELETE"] == [path for path, _ in files[:4]]


def test_a_server_that_sets_cookies_gets_one_file_after_another(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """Pipelined requests would go without the cookie: each file is looked at, then removed."""
    files = _sources(tmp_path / "srv", 5)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", set_cookie="route=a") as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        remote.info("/out")  # the first answer sets the cookie
        failures = remote.remove_sources(files)
        asked = _asked(srv)
    assert failures == [None] * 5
    assert [method for method, _ in asked[-10:]] == ["HEAD", "DELETE"] * 5


def test_a_file_whose_look_is_refused_goes_alone_and_says_why(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """A ``403`` to a ``HEAD`` (a write-only drop folder) says nothing certain: that file goes the
    default way (``info``, which then asks the folder's listing, refused too): kept and said; the
    others are removed together."""
    files = _sources(tmp_path / "srv", 6)
    (tmp_path / "srv" / "locked").mkdir()
    (tmp_path / "srv" / "locked" / "a.txt").write_bytes(b"abc")
    with (
        HTTPSServer(pki, root=tmp_path / "srv", forbidden=["/locked/"]) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        failures = remote.remove_sources([*files[:3], ("/locked/a.txt", 3), *files[3:]])
    assert isinstance(failures[3], UnsupportedOperation) and "offers no listing of /locked" in str(failures[3])
    assert failures[:3] == failures[4:] == [None] * 3
    assert (tmp_path / "srv" / "locked" / "a.txt").exists()
    assert not list((tmp_path / "srv" / "out").iterdir())


def test_webdav_looks_at_every_file_then_removes_only_files(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """WebDAV's look is a ``PROPFIND`` (Depth 0), pipelined: a collection under a file's name (whose
    ``DELETE`` would take everything in it) is shown as no file and kept, with what is in it."""
    files = _sources(tmp_path / "srv", 30)
    (tmp_path / "srv" / "out" / "f02.txt").write_bytes(b"changed")
    (tmp_path / "srv" / "out" / "f04.txt").unlink()
    (tmp_path / "srv" / "out" / "f04.txt").mkdir()
    (tmp_path / "srv" / "out" / "f04.txt" / "inside.bin").write_bytes(b"x" * 5)
    (tmp_path / "srv" / "out" / "f06.txt").unlink()
    with WebDAVServer(pki, root=tmp_path / "srv") as srv, srv.adapter(client_context()) as remote:
        failures = remote.remove_sources(files)
        asked = [(r.method, r.path) for r in srv.requests if r.method in ("PROPFIND", "DELETE")]
    assert isinstance(failures[2], IntegrityError) and "the server shows 7 bytes, 3 were written" in str(failures[2])
    assert isinstance(failures[4], IntegrityError) and "the server shows no file" in str(failures[4])
    assert isinstance(failures[6], RemoteNotFound)
    assert [place for place, failure in enumerate(failures) if failure is not None] == [2, 4, 6]
    assert sorted(p.name for p in (tmp_path / "srv" / "out").iterdir()) == ["f02.txt", "f04.txt"]
    assert (tmp_path / "srv" / "out" / "f04.txt" / "inside.bin").exists()
    methods = [method for method, _ in asked]
    # The looks together, then the removals; then f06 alone (a slash-less 404 may be a collection's
    # name: its own look asks again with the slash).
    assert methods[:30] == ["PROPFIND"] * 30 and methods[30:57] == ["DELETE"] * 27
    assert set(methods[57:]) == {"PROPFIND"}
    assert Counter(path for method, path in asked if method == "DELETE") == Counter(
        path for place, (path, _) in enumerate(files) if place not in (2, 4, 6))
