"""WebDAV against server dialects the bed lacks (review Q, session 21).

Each test scripts one answer a real server (or what stands in front of it) gives, on the
in-process wsgidav server of :mod:`xfer.testing.webdav_server`; the helpers are those of
``tests/test_webdav_hostile.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import tracemalloc
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import one_error, run
from tests.test_webdav_hostile import _member, _multistatus, _propfind_answer, _tls, server_with
from xfer.adapters._dav_xml import UnsafeXML, parse_multistatus
from xfer.errors import ExitCode, RemoteError, RemoteIsFolder
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import RecordedRequest, Reply, WebDAVServer
from xfer.tls import XferSSLContext
from xfer.transfer import is_temporary

__all__ = ["server_with"]  # a fixture, imported to be found here

ContextFactory = Callable[..., XferSSLContext]
ServerWith = Callable[..., WebDAVServer]


def _files(folder: Path, *names: str) -> Path:
    """``folder`` created, holding one byte under each of ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")
    return folder


def _local_after_sync_delete(
    capsys: pytest.CaptureFixture[str], srv: WebDAVServer, pki: TestPKI, local: Path
) -> tuple[int, str, list[str]]:
    """``sync davs://…/in LOCAL --delete --force``: its exit code, stderr, and what is left in ``local``."""
    code, _, err = run(capsys, "sync", f"{srv.url}in", str(local), "--delete", "--force", *_tls(pki))
    return code, err, sorted(p.name for p in local.iterdir())


# -- finding 1: a listing without the folder's own entry never decides a removal ----------------------


def test_rm_of_a_folder_whose_answer_names_only_a_child_of_its_name_removes_nothing(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, config: Path
) -> None:
    """Was: ``ls /data`` showed a file ``data``, ``rm /data`` sent DELETE /data, exit 0, folder gone."""
    srv = server_with(_propfind_answer("/data", _multistatus(_member("/data/data")), depth="1"))
    _files(srv.root / "data", "data")
    code, _, err = run(capsys, "ls", f"{srv.url}data", *_tls(pki))
    assert code == ExitCode.REMOTE
    one_error(err, "does not describe /data")
    code, _, err = run(capsys, "rm", f"{srv.url}data", *_tls(pki))
    assert code == ExitCode.REMOTE
    one_error(err, "does not describe /data")
    assert (srv.root / "data" / "data").read_bytes() == b"x"
    assert not [r for r in srv.requests if r.method == "DELETE"]


def test_behind_a_path_rewriting_proxy_lists_and_removals_work(
    server_with: ServerWith, client_context: ContextFactory
) -> None:
    """Hrefs under another prefix (``/backend/in/``).  Review Q's fix refused every removal there
    (review V); the renamed entry is now told by its path ending as ours, never a member of ours."""
    srv: WebDAVServer
    srv = server_with(lambda request: _behind_a_proxy(request, srv, "/backend"))
    _files(srv.root / "in", "a.txt", "in", "old.txt")
    with srv.adapter(client_context()) as remote:
        assert sorted(e.name for e in remote.ls("/in")) == ["a.txt", "in", "old.txt"]
        remote.rm("/in/old.txt")
        with pytest.raises(RemoteIsFolder):
            remote.rm("/in")
    assert sorted(p.name for p in (srv.root / "in").iterdir()) == ["a.txt", "in"]
    with srv.adapter(client_context()) as remote:  # a new connection: nothing learned yet
        remote.rm("/in", recursive=True)
    assert not (srv.root / "in").exists()


def test_a_root_answer_without_its_own_entry_drives_nothing(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, tmp_path: Path, config: Path
) -> None:
    """``PROPFIND /`` answered with one folder, ``/docs/``, and not the root: ``/docs`` was taken for
    the root, ``ls`` printed nothing, and ``sync --delete`` removed every local file (review V)."""
    srv = server_with(lambda request: Reply(207, _multistatus(_member("/docs/", collection=True)))
                      if request.method == "PROPFIND" and request.path == "/" else None)
    _files(srv.root / "docs", "a.txt")
    local = _files(tmp_path / "local", "keep.txt")
    _files(local / "docs", "a.txt")
    code, _, err = run(capsys, "sync", srv.url, str(local), "--delete", "--force", *_tls(pki))
    assert code == ExitCode.REMOTE and "does not describe /" in err, err
    assert (local / "keep.txt").exists() and (local / "docs" / "a.txt").exists()


def test_a_folder_named_like_the_proxys_prefix_is_listed_once_the_rewrite_is_known(
    server_with: ServerWith, client_context: ContextFactory
) -> None:
    """Behind a proxy publishing the backend's /dav/ as /, our folder /dav comes back as /dav/dav/,
    which is under /dav/: told from a member by the rewrite an earlier answer showed."""
    srv: WebDAVServer
    srv = server_with(lambda request: _behind_a_proxy(request, srv, "/dav"))
    _files(srv.root / "dav", "a.txt")
    _files(srv.root / "in", "b.txt")
    with srv.adapter(client_context()) as remote:
        assert [e.name for e in remote.ls("/in")] == ["b.txt"]
        assert [e.name for e in remote.ls("/dav")] == ["a.txt"]


def _behind_a_proxy(request: RecordedRequest, srv: WebDAVServer, prefix: str, *, strip: bool = False
                    ) -> Reply | None:
    """Every PROPFIND answered as a backend mounted at ``prefix`` names things; ``strip``: as a
    backend whose root the proxy publishes at ``prefix`` names them (``/dav/x`` as ``/x``)."""
    path = request.path.rstrip("/") or "/"
    local = srv.root / path.lstrip("/")
    if request.method != "PROPFIND" or not local.exists():
        return None

    def member(where: Path, relative: str) -> str:
        folder = where.is_dir()
        href = (relative.removeprefix(prefix) or "/") if strip else prefix + relative
        return _member(href + ("/" if folder and href != "/" else ""), collection=folder,
                       size=None if folder else where.stat().st_size)

    items = [member(local, "" if path == "/" else path)]
    if request.headers.get("Depth") == "1" and local.is_dir():
        items += [member(child, f"{path.rstrip('/')}/{child.name}") for child in sorted(local.iterdir())]
    return Reply(207, _multistatus(*items))


# -- findings 2 and 3: a listing the server says is incomplete drives nothing ------------------------


def test_members_listed_with_a_failure_make_the_listing_an_error(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, tmp_path: Path, config: Path
) -> None:
    """Was: ``ls`` showed only a.txt (exit 0), and ``sync --delete`` removed the local b.txt and c.txt.

    b.txt comes with a response-level 403 (listed, not described: see the next test), c.txt with a
    propstat of 500; a member whose every property is "404 Not Found" is gone, and is left out as before.
    """
    srv = server_with(_propfind_answer("/in", _multistatus(
        _member("/in/", collection=True), _member("/in/a.txt"),
        "<D:response><D:href>/in/b.txt</D:href><D:status>HTTP/1.1 403 Forbidden</D:status></D:response>",
        _member("/in/c.txt", status="500 Internal Server Error"),
    ), depth="1"))
    _files(srv.root / "in", "a.txt", "b.txt", "c.txt")
    local = _files(tmp_path / "local", "a.txt", "b.txt", "c.txt")
    code, _, err = run(capsys, "ls", f"{srv.url}in", *_tls(pki), "--retries", "0")  # (a 500 is tried again)
    assert code == ExitCode.REMOTE
    one_error(err, "cannot list /in", "c.txt", "HTTP 500", "incomplete")
    code, err, left = _local_after_sync_delete(capsys, srv, pki, local)
    assert code == ExitCode.REMOTE, err
    assert left == ["a.txt", "b.txt", "c.txt"]


_SABRE_UNREADABLE = ("<D:response><D:href>/in/secret.txt</D:href><D:propstat><D:prop><D:resourcetype/>"
                     "<D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/></D:prop>"
                     "<D:status>HTTP/1.1 403 Forbidden</D:status></D:propstat></D:response>")


def test_a_member_the_server_will_not_describe_is_listed_and_passed_over(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, tmp_path: Path, config: Path,
    client_context: ContextFactory,
) -> None:
    """sabre/dav's ACL plugin (Nextcloud) lists what the user may not read with every property refused.
    Review Q's fix made that a failed listing: nothing of the folder could be fetched (review V).  It is
    listed as neither file nor folder, passed over with a word, and its local copy is never deleted."""
    srv = server_with(_propfind_answer("/in", _multistatus(
        _member("/in/", collection=True), _member("/in/a.txt"), _SABRE_UNREADABLE), depth="1"))
    _files(srv.root / "in", "a.txt", "secret.txt")
    with srv.adapter(client_context()) as remote:
        assert {(e.name, e.type) for e in remote.ls("/in")} == {("a.txt", "file"), ("secret.txt", "other")}
    code, _, err = run(capsys, "get", "-r", f"{srv.url}in", str(tmp_path / "down"), *_tls(pki))
    assert code == ExitCode.OK, err
    assert sorted(p.name for p in (tmp_path / "down").iterdir()) == ["a.txt"]
    assert "skipped /in/secret.txt: the server lists it but does not describe it to us (HTTP 403)" in err
    local = _files(tmp_path / "local", "a.txt", "secret.txt", "old.txt")
    code, err, left = _local_after_sync_delete(capsys, srv, pki, local)
    assert code == ExitCode.OK, err
    assert left == ["a.txt", "secret.txt"]


def test_a_member_failing_with_500_alone_is_no_missing_file(
    server_with: ServerWith, client_context: ContextFactory
) -> None:
    srv = server_with(_propfind_answer("/in", _multistatus(
        _member("/in/", collection=True), _member("/in/gone.txt", status="404 Not Found"),
        _member("/in/c.txt", status="500 Internal Server Error"),
    ), depth="1"))
    _files(srv.root / "in", "c.txt")
    with srv.adapter(client_context()) as remote, pytest.raises(RemoteError, match=r"c\.txt .*HTTP 500"):
        remote.ls("/in")
    gone = _multistatus(_member("/in/", collection=True), _member("/in/gone.txt", status="404 Not Found"))
    srv.intercept = _propfind_answer("/in", gone, depth="1")
    with srv.adapter(client_context()) as remote:
        assert remote.ls("/in") == []


def test_a_listing_cut_short_with_507_is_no_listing(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, tmp_path: Path, config: Path
) -> None:
    """RFC 5323/6578's truncation signal: the folder repeated with 507 after its 200 entry.
    Was: taken as complete, and ``sync --delete`` removed the local b.txt and c.txt."""
    srv = server_with(_propfind_answer("/in", _multistatus(
        _member("/in/", collection=True), _member("/in/a.txt"),
        "<D:response><D:href>/in/</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status></D:response>",
    ), depth="1"))
    _files(srv.root / "in", "a.txt", "b.txt", "c.txt")
    local = _files(tmp_path / "local", "a.txt", "b.txt", "c.txt")
    code, _, err = run(capsys, "ls", f"{srv.url}in", *_tls(pki))
    assert code == ExitCode.REMOTE
    one_error(err, "cut its listing of /in short", "507", "incomplete")
    code, err, left = _local_after_sync_delete(capsys, srv, pki, local)
    assert code == ExitCode.REMOTE, err
    assert left == ["a.txt", "b.txt", "c.txt"]


# -- findings 4 and 5: 202 Accepted is not done, for every verb ----------------------------------------


@pytest.mark.parametrize("files", [1, 3], ids=["alone", "pipelined"])
def test_remove_source_files_answered_202_removes_nothing(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, tmp_path: Path, config: Path,
    files: int,
) -> None:
    """Was (3 files, their DELETEs pipelined): "removed 3 of 3", ``source_removed: true``, exit 0,
    while the server still had them; one file alone already said "not done"."""
    srv = server_with(lambda request: Reply(202) if request.method == "DELETE" else None)
    names = [f"f{index}.txt" for index in range(files)]
    _files(srv.root / "out", *names)
    code, out, err = run(capsys, "get", f"{srv.url}out/*", f"{tmp_path / 'down'}/", "--remove-source-files",
                         "--json", *_tls(pki))
    assert code == ExitCode.REMOTE, err
    assert "not done (202 Accepted" in err
    assert [r.get("source_removed") for r in json.loads(out)] == [False] * files
    assert sorted(p.name for p in (srv.root / "out").iterdir()) == names


@pytest.mark.parametrize("verb", ["mv", "copy", "mkdir", "rmdir"])
def test_a_verb_answered_202_is_not_done(
    server_with: ServerWith, client_context: ContextFactory, verb: str
) -> None:
    """Was: MOVE, COPY and MKCOL answered 202 Accepted were reported done, nothing having happened."""
    method = {"mv": "MOVE", "copy": "COPY", "mkdir": "MKCOL", "rmdir": "DELETE"}[verb]
    srv = server_with(lambda request: Reply(202) if request.method == method else None)
    _files(srv.root, "a.txt")
    (srv.root / "empty").mkdir()
    with srv.adapter(client_context()) as remote, \
            pytest.raises(RemoteError, match=r"not done \(202 Accepted") as caught:
        if verb == "mv":
            remote.mv("/a.txt", "/b.txt")
        elif verb == "copy":
            remote.copy("/a.txt", "/b.txt")
        elif verb == "mkdir":
            remote.mkdir("/new")
        else:
            remote.rmdir("/empty")
    assert caught.value.exit_code == ExitCode.REMOTE
    assert sorted(p.name for p in srv.root.iterdir()) == ["a.txt", "empty"]


def test_mv_answered_202_from_the_cli(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, config: Path
) -> None:
    srv = server_with(lambda request: Reply(202) if request.method == "MOVE" else None)
    _files(srv.root, "a.txt")
    code, _, err = run(capsys, "mv", f"{srv.url}a.txt", "/b.txt", *_tls(pki))
    assert code == ExitCode.REMOTE
    one_error(err, "the move of /a.txt is not done (202 Accepted")


# -- finding 6: a stock Apache refuses every name starting ".ht" ------------------------------------------


def _stock_apache(request: RecordedRequest) -> Reply | None:
    """``<FilesMatch "^\\.ht"> Require all denied``: any request naming such a file is refused."""
    names = [posixpath.basename(request.path.rstrip("/"))]
    if "Destination" in request.headers:
        names.append(posixpath.basename(urllib.parse.urlsplit(request.headers["Destination"]).path))
    if any(name.startswith(".ht") for name in names):
        return Reply(403, b"Forbidden", {"Content-Length": "9"})
    return None


@pytest.mark.parametrize("name", ["http.log", "htaccess-notes.txt", "HTML.txt"])
def test_names_starting_with_ht_upload_where_dot_ht_is_refused(
    server_with: ServerWith, client_context: ContextFactory, tmp_path: Path, name: str
) -> None:
    """Was: every upload of a file whose name starts with "ht" failed with 403 (exit 6) on a stock
    Apache: its temporary name ``.http.log.RANDOM.xfer-part`` starts with ".ht"."""
    srv = server_with(_stock_apache)
    (srv.root / "in").mkdir()
    (tmp_path / "src").write_bytes(b"notes")
    with srv.adapter(client_context()) as remote:
        result = remote.put_file(tmp_path / "src", f"/in/{name}")
        with remote.open_write(f"/in/streamed-{name}") as stream:
            stream.write(b"streamed")
    assert (srv.root / "in" / name).read_bytes() == b"notes"
    assert (srv.root / "in" / f"streamed-{name}").read_bytes() == b"streamed"
    assert result.temp_name is not None and is_temporary(result.temp_name)
    assert result.temp_name.startswith(f".-{name}.")
    temporary = {posixpath.basename(r.path) for r in srv.requests if r.method == "PUT"}
    assert len(temporary) == 2 and all(is_temporary(n) and not n.startswith(".ht") for n in temporary), temporary


def test_a_refused_put_names_the_users_path_not_the_temporary_one(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, tmp_path: Path, config: Path
) -> None:
    """Was: "permission denied for /in/.report.csv.1a2b3c4d.xfer-part (403 Forbidden)"."""
    srv = server_with(lambda request: Reply(403, b"no", {"Content-Length": "2"}) if request.method == "PUT" else None)
    (srv.root / "in").mkdir()
    (tmp_path / "report.csv").write_bytes(b"1,2\n")
    code, _, err = run(capsys, "put", str(tmp_path / "report.csv"), f"{srv.url}in/report.csv", *_tls(pki))
    assert code == ExitCode.REMOTE
    line = one_error(err, "permission denied for /in/report.csv (403 Forbidden)")
    assert "xfer-part" not in line
    assert list((srv.root / "in").iterdir()) == []


# -- finding 7: an HTTP date without a zone is GMT ---------------------------------------------------------


def _dated_member(href: str, *, size: int, modified: str) -> str:
    """``_member``'s file, with a ``getlastmodified``."""
    return _member(href, size=size).replace(
        "</D:prop>", f"<D:getlastmodified>{modified}</D:getlastmodified></D:prop>")


def test_an_asctime_last_modified_is_the_same_time_as_the_propfinds(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, tmp_path: Path, config: Path
) -> None:
    """Was: exit 7, "it changed on the server since it was downloaded (modified 2024-01-12T10:00:00 ->
    2024-01-12T10:00:00+00:00)": the GET's asctime date (RFC 9110 5.6.7, GMT) was read naive."""

    def intercept(request: RecordedRequest) -> Reply | None:
        if request.method == "GET" and request.path == "/out/f.txt":
            return Reply(200, b"data", {"Content-Length": "4", "Last-Modified": "Fri Jan 12 10:00:00 2024"})
        if request.method == "PROPFIND" and request.path == "/out/f.txt":
            return Reply(207, _multistatus(_dated_member("/out/f.txt", size=4,
                                                         modified="Fri, 12 Jan 2024 10:00:00 GMT")))
        return None

    srv = server_with(intercept)
    _files(srv.root / "out", "f.txt")
    code, _, err = run(capsys, "get", f"{srv.url}out/f.txt", str(tmp_path / "f.txt"), "--remove-source-files",
                       *_tls(pki))
    assert code == ExitCode.OK, err
    assert (tmp_path / "f.txt").read_bytes() == b"data"
    assert not (srv.root / "out" / "f.txt").exists()


@pytest.mark.parametrize("stamp", ["Fri Jan 12 10:00:00 2024", "Fri, 12 Jan 2024 10:00:00 -0000"])
def test_a_getlastmodified_without_a_zone_is_utc(
    server_with: ServerWith, client_context: ContextFactory, stamp: str
) -> None:
    """Was naive: sync's ``.timestamp()`` then shifted it by the local offset from UTC."""
    srv = server_with(_propfind_answer("/f.txt", _multistatus(_dated_member("/f.txt", size=1, modified=stamp))))
    _files(srv.root, "f.txt")
    with srv.adapter(client_context()) as remote:
        modified = remote.info("/f.txt").modified
    assert modified is not None and modified.tzinfo is not None
    assert modified == dt.datetime(2024, 1, 12, 10, tzinfo=dt.timezone.utc)


# -- finding 8: what a PROPFIND answer holds beyond what xfer reads costs no memory -----------------------


def _padded(where: str, megabytes: int) -> Iterator[bytes]:
    """A multistatus with ``megabytes`` of ``<x/>`` under the root, or inside one ``<D:prop>``."""
    yield b'<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">'
    if where == "prop":
        yield b"<D:response><D:href>/a</D:href><D:propstat><D:prop>"
    block = b"<x/>" * 16384
    for _ in range(megabytes * 2**20 // len(block)):
        yield block
    if where == "prop":
        yield b"</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
    yield b"</D:multistatus>"


def _peak(parse: Callable[[], object]) -> tuple[object, int]:
    """What ``parse`` returned (or the UnsafeXML it raised), and the most memory it held at once."""
    tracemalloc.start()
    try:
        outcome: object = parse()
    except UnsafeXML as refused:
        outcome = refused
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


@pytest.mark.parametrize("where", ["root", "prop"])
def test_a_multistatus_padded_with_elements_stays_small(where: str) -> None:
    """Was: every element that was not a ``<D:response>`` stayed in the tree: 60 MiB of ``<x/>``
    cost 1.3 GB (here 8 MiB, some 160 MiB)."""
    outcome, peak = _peak(lambda: parse_multistatus(_padded(where, 8), request_url="https://h/in/",
                                                    limit=64 * 2**20))
    assert isinstance(outcome, UnsafeXML) and "more than 10000 elements" in str(outcome)
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_responses_padded_with_properties_not_asked_for_are_read_and_dropped() -> None:
    """Each response with some 2,000 elements xfer does not read (a property not asked for, nested),
    and ahead of its ``<D:propstat>`` an element holding another that says "collection": read as
    the files they are, in little memory."""
    hidden = ("<x:extension xmlns:x=\"urn:x\"><D:propstat><D:prop><D:resourcetype><D:collection/>"
              "</D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></x:extension>")
    padding = "<D:lockdiscovery>" + "<x><y/></x>" * 1000 + "</D:lockdiscovery>"

    def body() -> Iterator[bytes]:
        yield b'<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">'
        for number in range(40):
            member = _member(f"/in/f{number}.txt", size=number)
            yield member.replace("<D:propstat>", hidden + "<D:propstat>", 1).replace(
                "</D:prop>", padding + "</D:prop>").encode()
        yield b"</D:multistatus>"

    outcome, peak = _peak(lambda: parse_multistatus(body(), request_url="https://h/in/"))
    assert isinstance(outcome, list) and len(outcome) == 40
    assert all(not r.is_collection and r.size == n and r.status == 200 for n, r in enumerate(outcome))
    assert peak < 4 * 2**20, f"{peak / 2**20:.1f} MiB"


def test_a_multistatus_nested_too_deep_is_refused() -> None:
    deep = b'<D:multistatus xmlns:D="DAV:">' + b"<x>" * 100_000 + b"</x>" * 100_000 + b"</D:multistatus>"
    with pytest.raises(UnsafeXML, match="nest deeper than 64"):
        parse_multistatus(deep, request_url="https://h/")


def test_the_root_behind_a_prefixing_proxy_is_found_at_depth_0(
    capsys: pytest.CaptureFixture[str], server_with: ServerWith, pki: TestPKI, tmp_path: Path, config: Path,
    client_context: ContextFactory,
) -> None:
    """Review V's rule for the root (members under it) refused every Depth 0 answer and an empty root
    behind a proxy: info("/"), get -r and sync of the server's root exited 6 (review X)."""
    srv: WebDAVServer
    srv = server_with(lambda request: _behind_a_proxy(request, srv, "/backend"))
    (srv.root / "x.txt").write_bytes(b"x")
    with srv.adapter(client_context()) as remote:
        assert remote.info("/").is_dir
    code, _, err = run(capsys, "get", "-r", srv.url, str(tmp_path / "down"), *_tls(pki))
    assert code == ExitCode.OK, err
    assert (tmp_path / "down" / "x.txt").read_bytes() == b"x"


@pytest.mark.parametrize("learned", [False, True], ids=["fresh", "rewrite-known"])
def test_behind_a_stripping_proxy_a_member_named_like_the_folder_is_not_the_folder(
    server_with: ServerWith, client_context: ContextFactory, learned: bool
) -> None:
    """The proxy publishes the backend's / as /dav/: our /dav/dav is the backend's /dav, which holds
    a file dav.  rm /dav/dav took that member (named /dav/dav by the backend) for the folder, a file,
    and removed the folder with keep.txt in it (review X)."""
    srv: WebDAVServer
    srv = server_with(lambda request: _behind_a_proxy(request, srv, "/dav", strip=True))
    _files(srv.root / "dav" / "in", "x.txt")
    _files(srv.root / "dav" / "dav", "dav", "keep.txt")
    with srv.adapter(client_context()) as remote:
        if learned:
            assert [e.name for e in remote.ls("/dav/in")] == ["x.txt"]
        assert sorted(e.name for e in remote.ls("/dav/dav")) == ["dav", "keep.txt"]
        with pytest.raises(RemoteIsFolder):
            remote.rm("/dav/dav")
    assert (srv.root / "dav" / "dav" / "keep.txt").exists()


def test_a_refused_member_whose_name_is_not_utf8_is_passed_over_as_any_such_name(
    server_with: ServerWith, client_context: ContextFactory
) -> None:
    refused = ("<D:response><D:href>/in/%FF.txt</D:href><D:status>HTTP/1.1 403 Forbidden</D:status>"
               "</D:response>")
    srv = server_with(_propfind_answer("/in", _multistatus(
        _member("/in/", collection=True), _member("/in/a.txt"), refused), depth="1"))
    _files(srv.root / "in", "a.txt")
    with srv.adapter(client_context()) as remote:
        assert [(e.name, e.type) for e in remote.ls("/in")] == [("a.txt", "file"), ("\udcff.txt", "other")]



def test_a_lone_member_behind_a_prefixing_proxy_never_decides_a_removal(
    server_with: ServerWith, client_context: ContextFactory
) -> None:
    """/in answered with /backend/in/in/ alone: its own entry left out behind a proxy adding /backend,
    or a proxy whose prefix is /backend/in.  rm /in took the member for the folder and removed the
    folder, and remembered the prefix /backend/in for every later call (review Y)."""

    def answer(request: RecordedRequest) -> Reply | None:
        if request.method == "PROPFIND" and request.path.rstrip("/") == "/in":
            return Reply(207, _multistatus(_member("/backend/in/in/", collection=True)))
        return None

    srv = server_with(answer)
    _files(srv.root / "in", "a.txt")
    _files(srv.root / "in" / "in", "deep.txt")
    with srv.adapter(client_context()) as remote:
        with pytest.raises(RemoteError, match="does not describe /in; nothing was removed"):
            remote.rm("/in")
        assert remote._rewrite is None
    assert (srv.root / "in" / "a.txt").exists()


def test_the_roots_answer_teaches_no_rewrite(server_with: ServerWith, client_context: ContextFactory) -> None:
    """info("/") answered with one collection /backend/ remembered ("", ""), a rewrite mapping every
    path to itself, which then skipped the check for a member named like our path: behind a proxy
    stripping /dav, rm /dav/dav removed the folder holding keep.txt (review Y)."""
    srv: WebDAVServer

    def answer(request: RecordedRequest) -> Reply | None:
        if request.method == "PROPFIND" and request.path == "/" and request.headers.get("Depth") == "0":
            return Reply(207, _multistatus(_member("/backend/", collection=True)))
        return _behind_a_proxy(request, srv, "/dav", strip=True)

    srv = server_with(answer)
    _files(srv.root / "dav" / "dav", "dav", "keep.txt")
    with srv.adapter(client_context()) as remote:
        assert remote.info("/").is_dir
        with pytest.raises(RemoteIsFolder):
            remote.rm("/dav/dav")
    assert (srv.root / "dav" / "dav" / "keep.txt").exists()


@pytest.mark.parametrize(("temp", "digest", "done"), [(True, False, True), (False, True, True), (False, False, False)],
                         ids=["temp-name", "in-place-hashed", "in-place-sized"])
def test_a_put_stored_at_once_and_answered_202(
    pki: TestPKI, tmp_path: Path, temp: bool, digest: bool, done: bool
) -> None:
    """202 to a PUT that was stored: with a temporary name the MOVE of that fresh name proves it
    (found in review: refused before the MOVE, naming the part); in place, only the server's hash
    of its copy does (a size is also the size of the file there before)."""
    from xfer.errors import RemoteNotDone
    from xfer.identity import Identity
    from xfer.tls import create_ssl_context

    context = create_ssl_context(Identity.load(pki.client_p12, pki.password), ca=pki.root_ca)
    (tmp_path / "f.bin").write_bytes(b"x" * 5000)
    with WebDAVServer(pki, root=tmp_path / "dav", put_status=202, repr_digest=digest) as srv, \
            srv.adapter(context, upload_temp_name=temp) as remote:
        if done:
            assert remote.put_file(tmp_path / "f.bin", "/f.bin").size == 5000
            with remote.open_write("/s.bin") as writer:
                writer.write(b"y" * 3000)
            assert (tmp_path / "dav" / "s.bin").read_bytes() == b"y" * 3000
        else:
            with pytest.raises(RemoteNotDone):
                remote.put_file(tmp_path / "f.bin", "/f.bin")
    assert (tmp_path / "dav" / "f.bin").read_bytes() == b"x" * 5000  # (stored either way: it said 202)
