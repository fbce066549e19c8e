"""The sources of many downloads removed together over HTTPS (``--remove-source-files``, issue 14):
every ``HEAD`` pipelined first, then the ``DELETE``\\ s of the files shown with their sizes, each sent
once.  Against the in-process server, and its variants: one that closes a connection after N
requests (nginx's ``keepalive_requests``), one whose connection breaks after a removal was carried
out, one that sets a cookie (nothing goes pipelined), a folder that answers ``403`` to a ``HEAD``.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.together_helpers import ContextFactory
from tests.together_helpers import https_adapter as _adapter
from xfer.adapters import http_removal
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import ConnectionDropped, IntegrityError, RemoteError, RemoteNotFound, UnsupportedOperation, UsageError
from xfer.http_session import XferSession
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import RecordedRequest as DAVRequest
from xfer.testing.webdav_server import Reply as DAVReply
from xfer.testing.webdav_server import WebDAVServer
from xfer.types import ListedPath, Source


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


def _listed_backslash_names(root: Path, count: int) -> list[tuple[str, int]]:
    """Names with a backslash, as a listing gives them (:class:`ListedPath`: xfer sends what it was shown)."""
    (root / "out").mkdir(parents=True)
    for number in range(count):
        (root / "out" / f"Q3\\f{number:02d}.txt").write_bytes(b"x" * (number + 1))
    return [(ListedPath(f"/out/Q3\\f{number:02d}.txt"), number + 1) for number in range(count)]


@pytest.mark.parametrize("keepalive", [1, None])
def test_listed_names_keep_their_kind_alone_and_when_looked_at_again(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, keepalive: int | None,
) -> None:
    """A file that goes the default way (one request a connection: every one does) and one whose
    ``DELETE``'s answer was lost are asked about by the path as listed, not a plain string that
    xfer would refuse to send."""
    files = _listed_backslash_names(tmp_path / "srv", 6)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", keepalive_requests=keepalive,
                    drop_after_delete=["/out/Q3\\f02.txt"] if keepalive is None else ()) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        failures = remote.remove_sources(files)
    if keepalive is None:  # f02 is gone (removed before the break); the rest of its write is still there
        assert failures[:3] == [None] * 3
        assert all(isinstance(failure, ConnectionDropped) for failure in failures[3:])
        assert sorted(p.name for p in (tmp_path / "srv" / "out").iterdir()) == [
            f"Q3\\f{n:02d}.txt" for n in range(3, 6)]
    else:
        assert failures == [None] * 6
        assert not list((tmp_path / "srv" / "out").iterdir())


def test_a_path_that_cannot_be_asked_about_is_said_for_that_file(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """A name xfer will not send (a backslash the caller typed) and the connection's root: refused
    for those files, as the default refuses them; the others are removed; nothing is raised."""
    files = _sources(tmp_path / "srv", 3)
    (tmp_path / "srv" / "out" / "daily.csv").write_bytes(b"abc")
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        with _adapter(srv.host, srv.port, client_context()) as remote:
            failures = remote.remove_sources([files[0], ("/out/a\\b.txt", 1), *files[1:]])
        assert isinstance(failures[1], UsageError) and failures[0] is failures[2] is failures[3] is None
        settings = ConnectionSettings(scheme="https", host=srv.host, port=srv.port, root="/out/daily.csv",
                                      ssl_context=client_context(), timeout=10)
        with HTTPSAdapter(settings) as remote:  # a connection whose root is one file
            failures = remote.remove_sources([("/", 3), ("/", 3)])
    assert all(isinstance(failure, UsageError) and "root" in str(failure) for failure in failures)
    assert (tmp_path / "srv" / "out" / "daily.csv").read_bytes() == b"abc"


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many requests each pipelined write carried."""
    counts: list[int] = []
    real = XferSession.pipelined

    def counting(session: XferSession, calls: Any) -> Any:
        counts.append(len(calls))
        return real(session, calls)

    monkeypatch.setattr(XferSession, "pipelined", counting)
    return counts


def test_a_server_closing_after_two_requests_is_not_sent_everything_again_each_time(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, written: list[int],
) -> None:
    """After a connection the server closed early, a write carries at most twice what it answered
    (at least 8): 300 files do not cost tens of thousands of requests written."""
    files = _sources(tmp_path / "srv", 60)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", keepalive_requests=2) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        failures = remote.remove_sources(files)
    assert failures == [None] * 60
    assert sum(written) < 10 * 2 * 60, f"{sum(written)} requests written for 120"


def test_webdav_looks_are_not_compressed(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    """A server that gzips its XML (Apache's mod_deflate) where the client accepts it: the pipelined
    looks ask for none, so each is read (one ``PROPFIND`` a file, the removals together)."""
    files = _sources(tmp_path / "srv", 8)
    with WebDAVServer(pki, root=tmp_path / "srv", gzip_multistatus=True) as srv, \
            srv.adapter(client_context()) as remote:
        failures = remote.remove_sources(files)
        methods = [r.method for r in srv.requests if r.method in ("PROPFIND", "DELETE")]
    assert failures == [None] * 8
    assert methods == ["PROPFIND"] * 8 + ["DELETE"] * 8


def test_webdav_a_multistatus_answer_to_a_removal_is_looked_at_again(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """``207`` to a ``DELETE``: something in it failed (a lock); the file is looked at, still there,
    kept and said; no second ``DELETE``."""
    files = _sources(tmp_path / "srv", 4)
    locked = (b'<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/out/f01.txt</D:href>'
              b"<D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>")

    def intercept(request: DAVRequest) -> DAVReply | None:
        if request.method == "DELETE" and request.path == "/out/f01.txt":
            return DAVReply(207, locked, {"Content-Length": str(len(locked))})
        return None

    with WebDAVServer(pki, root=tmp_path / "srv", intercept=intercept) as srv, \
            srv.adapter(client_context()) as remote:
        failures = remote.remove_sources(files)
        deletes = [r.path for r in srv.requests if r.method == "DELETE"]
    assert failures[0] is failures[2] is failures[3] is None
    assert isinstance(failures[1], RemoteError) and str(failures[1]).endswith(
        "answered the removal of /out/f01.txt with 207 Multi-Status, which is still there: kept")
    assert (tmp_path / "srv" / "out" / "f01.txt").exists() and deletes.count("/out/f01.txt") == 1


def test_a_write_never_carries_more_than_the_bound(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: list[int],
) -> None:
    """After an early close a write carries twice what the connection answered, but never more than
    :data:`REQUESTS_AT_ONCE`: what one broken connection leaves undecided stays bounded."""
    monkeypatch.setattr(http_removal, "REQUESTS_AT_ONCE", 10)
    files = _sources(tmp_path / "srv", 40)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", keepalive_requests=8) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        failures = remote.remove_sources(files)
    assert failures == [None] * 40 and max(written) <= 10


def _replaced_before_the_removals(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """``victim`` is written anew, the same size, after the looks and before the ``DELETE``\\ s go:
    a partner putting the next day's file under the name."""
    real = http_removal._send_together

    def sending(session: XferSession, calls: Any) -> Any:
        if calls and calls[0][0] == "DELETE":
            victim.write_bytes(b"N" * victim.stat().st_size)
            os.utime(victim, ns=(victim.stat().st_mtime_ns + 10**9,) * 2)  # (a later time, as a new write has)
        return real(session, calls)

    monkeypatch.setattr(http_removal, "_send_together", sending)


@pytest.mark.parametrize("conditional", [True, False], ids=["if-match-honoured", "if-match-ignored"])
def test_a_file_put_anew_after_its_look_is_kept_where_the_server_can_tell(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    conditional: bool,
) -> None:
    """Each ``DELETE`` carries ``If-Match`` with the ETag its ``HEAD`` saw: a server that honours it
    refuses to remove the new file (412), which is kept and said.  A server that ignores it removes
    it, as any unconditional removal would: the window is the batch's."""
    files = _sources(tmp_path / "srv", 6)
    victim = tmp_path / "srv" / "out" / "f02.txt"
    _replaced_before_the_removals(monkeypatch, victim)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", conditional_delete=conditional) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        failures = remote.remove_sources(files)
        deletes = [r for r in srv.requests if r.method == "DELETE"]
    assert all(r.headers.get("If-Match", "").startswith('"') for r in deletes)
    if conditional:
        assert isinstance(failures[2], IntegrityError) and str(failures[2]) == (
            "kept the source /out/f02.txt: it changed on the server after it was looked at")
        assert [p.name for p in (tmp_path / "srv" / "out").iterdir()] == ["f02.txt"]
        assert victim.read_bytes() == b"NNN"
    else:
        assert failures == [None] * 6 and not victim.exists()
    assert [failure for place, failure in enumerate(failures) if place != 2] == [None] * 5


def test_each_delete_is_conditional_on_the_etag_its_download_got(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``If-Match`` carries the ETag of the download's ``GET``, not the one a later ``HEAD`` saw: the
    whole time since the download is covered (review K, finding 1).  A file put anew between the
    ``HEAD`` and the ``DELETE`` is refused by the server and kept."""
    files = _sources(tmp_path / "srv", 4)
    victim = tmp_path / "srv" / "out" / "f02.txt"
    _replaced_before_the_removals(monkeypatch, victim)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", conditional_delete=True) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        got = [remote.get_file(path, tmp_path / posixpath.basename(path)) for path, _ in files]
        failures = remote.remove_sources([Source(r.remote, r.size, r.source_version) for r in got])
        deletes = {r.path: r.headers.get("If-Match") for r in srv.requests if r.method == "DELETE"}
    assert {path: deletes[path] for path, _ in files} == {
        r.remote: r.source_version.etag for r in got if r.source_version is not None}
    assert isinstance(failures[2], IntegrityError) and str(failures[2]) == (
        "kept the source /out/f02.txt: it changed on the server after it was downloaded")
    assert [failure for place, failure in enumerate(failures) if place != 2] == [None] * 3
    assert victim.read_bytes() == b"NNN"


def test_webdav_removes_only_the_file_its_look_saw(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """wsgidav honours ``If-Match`` with the ``getetag`` its ``PROPFIND`` gave."""
    files = _sources(tmp_path / "srv", 6)
    victim = tmp_path / "srv" / "out" / "f02.txt"
    _replaced_before_the_removals(monkeypatch, victim)
    with WebDAVServer(pki, root=tmp_path / "srv") as srv, srv.adapter(client_context()) as remote:
        failures = remote.remove_sources(files)
    assert isinstance(failures[2], IntegrityError)
    assert "changed on the server after it was looked at" in str(failures[2])
    assert [failure for place, failure in enumerate(failures) if place != 2] == [None] * 5
    assert victim.read_bytes() == b"NNN"


def test_a_server_refusing_its_own_etags_still_gets_its_files_removed(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """A server whose ``If-Match`` never matches the ETags it gives (412 to every conditioned
    ``DELETE``): each file is looked at again, shows the same ETag, and goes the default way."""
    files = _sources(tmp_path / "srv", 4)

    def refusing(request: DAVRequest) -> DAVReply | None:
        if request.method == "DELETE" and "If-Match" in request.headers:
            return DAVReply(412, b"", {"Content-Length": "0"})
        return None

    with WebDAVServer(pki, root=tmp_path / "srv", intercept=refusing) as srv, \
            srv.adapter(client_context()) as remote:
        failures = remote.remove_sources(files)
        conditioned = [r for r in srv.requests if r.method == "DELETE" and "If-Match" in r.headers]
    assert failures == [None] * 4 and len(conditioned) == 4
    assert not list((tmp_path / "srv" / "out").iterdir())


def test_webdav_a_multistatus_saying_not_found_is_that_files_answer(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """Some servers answer a ``PROPFIND`` of a missing file ``207`` with the ``404`` inside: that file
    is said missing from the pipelined look, with no request of its own; the others go."""
    files = _sources(tmp_path / "srv", 3)
    missing = (b'<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/out/f01.txt</D:href>'
               b"<D:status>HTTP/1.1 404 Not Found</D:status></D:response></D:multistatus>")

    def inside(request: DAVRequest) -> DAVReply | None:
        if request.method == "PROPFIND" and request.path == "/out/f01.txt":
            return DAVReply(207, missing, {"Content-Length": str(len(missing))})
        return None

    with WebDAVServer(pki, root=tmp_path / "srv", intercept=inside) as srv, srv.adapter(client_context()) as remote:
        failures = remote.remove_sources(files)
        asked = [(r.method, r.path) for r in srv.requests if r.path == "/out/f01.txt"]
    assert isinstance(failures[1], RemoteNotFound) and failures[0] is None and failures[2] is None
    assert asked == [("PROPFIND", "/out/f01.txt")]
    assert [p.name for p in (tmp_path / "srv" / "out").iterdir()] == ["f01.txt"]
