"""``sync --delete`` down never deletes a local file the server has but its listing does not show
as a file (review S): a name xfer cannot address, a dot name an index page or ``LIST`` hides, a
folder gone between its look and its listing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import one_error, run
from xfer.adapters.base import Adapter
from xfer.errors import ExitCode, RemoteNotFound, RemotePermissionDenied, UsageError
from xfer.retry import RetryPolicy
from xfer.sync import Compare, SyncResult, sync
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.https_server import HTTPSServer, IndexMode
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import RecordedRequest, Reply, WebDAVServer
from xfer.tls import XferSSLContext

from .test_sync import make_tree, tree
from .test_sync_index import index_adapter

ContextFactory = Callable[..., XferSSLContext]

FILES = {"a.txt": b"a", "b.txt": b"bb", "c.txt": b"ccc"}


def _member(href: str, size: int | None, *, collection: bool = False) -> str:
    kind = "<D:collection/>" if collection else ""
    length = "" if size is None else f"<D:getcontentlength>{size}</D:getcontentlength>"
    return (f"<D:response><D:href>{href}</D:href><D:propstat><D:prop><D:resourcetype>{kind}</D:resourcetype>"
            f"{length}"
            "<D:getlastmodified>Mon, 01 Jan 2024 00:00:00 GMT</D:getlastmodified></D:prop>"
            "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>")


def _latin1_member(request: RecordedRequest) -> Reply | None:
    """Apache mod_dav on a Latin-1 disk: ``/out`` holds ``caf%E9.txt`` beside FILES.  (wsgidav
    answers 500 on a folder holding such a name: its Depth-1 answer is written here.)"""
    if request.method == "PROPFIND" and request.path.rstrip("/") == "/out" and request.headers.get("Depth") == "1":
        members = [_member("/out/", 0, collection=True), *(_member(f"/out/{n}", len(d)) for n, d in FILES.items()),
                   _member("/out/caf%E9.txt", 6)]
        return Reply(207, ('<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">'
                           + "".join(members) + "</D:multistatus>").encode())
    return None


def test_a_webdav_name_not_utf8_keeps_its_local_copy(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Review S, finding 2: Apache mod_dav on a Latin-1 disk lists ``caf%E9.txt``.  Before: the adapter
    dropped it from the listing, so ``sync --delete`` down deleted the local ``caf\\xe9.txt`` the
    server still had.  Now it is listed as neither file nor folder, passed over with a word, and kept."""


    local = tmp_path / "inbox"
    make_tree(local, FILES)
    latin1 = os.path.join(os.fsencode(local), b"caf\xe9.txt")
    with open(latin1, "wb") as handle:
        handle.write(b"latin1")
    with WebDAVServer(pki, root=tmp_path / "dav", intercept=_latin1_member) as srv:
        make_tree(srv.root / "out", FILES)
        with srv.adapter(client_context()) as remote:
            assert [(e.name, e.type) for e in remote.ls("/out")][-1] == ("caf\udce9.txt", "other")
            result = sync(remote, "/out", local, upload=False, delete=True, force=True)
    assert result.error is None and result.deleted == []
    assert [(a.path, a.reason) for a in result.plan.kept] == [("caf\udce9.txt", "kept: the source has it, not listed")]
    assert os.path.exists(latin1)
    assert "skipped '/out/caf\\udce9.txt': its name is not UTF-8" in caplog.text


def _dotfiles_down(remote: Adapter, served: Path, local: Path) -> SyncResult:
    """``sync --delete`` down into ``local`` holding the dot files ``served`` has (one changed there
    since), one the server does not have, and plain files."""
    make_tree(served, {**FILES, ".settings.json": b"{}\n", ".conf/x.txt": b"x2\n"})
    make_tree(local, {**FILES, ".settings.json": b"{}\n", ".conf/x.txt": b"x1\n", ".gone": b"g"})
    later = time.time() - 60  # the server's .conf/x.txt is newer (and of the same size)
    os.utime(served / ".conf" / "x.txt", (later, later))
    return sync(remote, "/out", local, upload=False, delete=True)


@pytest.mark.parametrize("index", ["html", "json"])
def test_sync_delete_down_keeps_dotfiles_an_index_hides(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, index: IndexMode
) -> None:
    """Review S, finding 3: nginx's index leaves out names starting with ".".  Before: ``sync --delete``
    down took the local ``.settings.json`` and ``.conf/x.txt`` for "not in source" and deleted them while
    the server had them.  Now each is asked about (HEAD): found, it is compared as a listed file."""
    local = tmp_path / "inbox"
    with HTTPSServer(pki, root=tmp_path / "srv", index=index, hide_dotfiles=True) as srv:
        with index_adapter(srv, client_context(), index) as remote:
            result = _dotfiles_down(remote, tmp_path / "srv" / "out", local)
    assert result.error is None, result.error
    assert [a.path for a in result.plan.transfers] == [".conf/x.txt"]
    assert result.deleted == [".gone"]
    assert tree(local) == {**FILES, ".settings.json": b"{}\n", ".conf/x.txt": b"x2\n"}


def test_a_dry_run_removes_in_words_only_what_the_run_removes(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review of session 26's fixes, M1: the dry run named ``.settings.json`` (found by a look,
    not listed) among the sources it would remove; the run keeps it, a move takes what was listed."""
    local = tmp_path / "inbox"
    with HTTPSServer(pki, root=tmp_path / "srv", index="html", hide_dotfiles=True) as srv:
        make_tree(tmp_path / "srv" / "out", {"a.txt": b"a", ".settings.json": b"{}\n"})
        make_tree(local, {"a.txt": b"a", ".settings.json": b"{}\n"})
        with index_adapter(srv, client_context(), "html") as remote:
            planned = sync(remote, "/out", local, upload=False, delete=True, remove_source=True, dry_run=True)
            done = sync(remote, "/out", local, upload=False, delete=True, remove_source=True)
    assert planned.sources_to_remove == done.sources_removed == ["a.txt"]
    assert tree(tmp_path / "srv" / "out") == {".settings.json": b"{}\n"}


@pytest.mark.parametrize("denied", [False, True], ids=["missing", "deny_file"])
def test_sync_delete_down_keeps_dotfiles_list_hides(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture, denied: bool
) -> None:
    """Review S, finding 4: the same over FTP ``LIST`` (vsftpd without ``force_dot_files``, pure-ftpd
    without ``-D``), where the server has no MLSD: each is asked about (SIZE, MDTM).  vsftpd's
    words tell a missing file ("550 Could not get file size.": ``.gone`` goes) from its
    ``deny_file`` refusing one it has ("550 Permission denied.": kept, and said; review G,
    finding 2, where the refusal read as absence deleted the file).  Over LIST every such file
    was kept, ``.gone`` too, until the words were carried on the error (``RemoteNotFound.stated``)."""
    local = tmp_path / "inbox"
    replies = {"SIZE /out/.gone": "550 Permission denied.", "MDTM /out/.gone": "550 Permission denied."}
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, hide_dotfiles=True,
                        replies=replies if denied else None) as srv:
        with srv.adapter(client_context()) as remote:
            result = _dotfiles_down(remote, tmp_path / "srv" / "out", local)
            assert [e.name for e in remote.ls("/out")] == sorted(FILES)  # (hidden, as vsftpd does)
    assert result.error is None, result.error
    assert [a.path for a in result.plan.transfers] == [".conf/x.txt"]
    kept = {**FILES, ".settings.json": b"{}\n", ".conf/x.txt": b"x2\n"}
    if denied:
        assert result.deleted == []
        assert (".gone", "kept: the server's listing does not show it, and the server would not say whether it "
                "has it") in [(a.path, a.reason) for a in result.plan.kept]
        # (Said, not silent: review H.)
        assert "sync: .gone is not deleted: the server's listing does not show it" in caplog.text
        assert tree(local) == {**kept, ".gone": b"g"}
    else:
        assert result.deleted == [".gone"]
        assert tree(local) == kept


def test_a_source_folder_gone_before_its_listing_fails_the_sync(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review S, finding 5: /out is there when looked at (MLST), gone when listed (MLSD: 550, removed or
    renamed in between).  Before: an empty source, and ``--delete --force`` deleted every local file,
    exit 0.  Now the sync fails as for a missing remote, and nothing local is touched."""
    local = tmp_path / "inbox"
    make_tree(local, FILES)
    make_tree(tmp_path / "srv" / "out", FILES)
    with FakeFTPSServer(pki, root=tmp_path / "srv", replies={"MLSD /out": "550 No such file or directory."}) as srv:
        monkeypatch.setenv("XFER_T_FTP_PW", srv.password)
        code, _, err = run(capsys, "sync", f"{srv.url}out", str(local), "--delete", "--force", "--retries", "0",
                           "--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
                           "--ca", str(pki.root_ca), "--username", srv.user, "--password", "env:XFER_T_FTP_PW")
    assert code == ExitCode.REMOTE, err
    one_error(err, "/out")
    assert tree(local) == FILES


def test_https_info_not_found_after_a_refused_head_carries_the_heads_status(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """For every caller ``info`` is as before ("does not exist"), but it carries the HEAD's 403: the
    listing alone, which hides dot names, said "not there" (what sync reads, below)."""
    make_tree(tmp_path / "srv" / "out", {".settings.json": b"{}\n"})
    with HTTPSServer(pki, root=tmp_path / "srv", hide_dotfiles=True, forbidden=["/out/.settings.json"]) as srv:
        with index_adapter(srv, client_context(), "json") as remote, pytest.raises(RemoteNotFound) as lookup:
            remote.info("/out/.settings.json")
    assert lookup.value.status == 403


@pytest.mark.parametrize(("name", "denied"), [(".settings.json", "/out/.settings.json"),
                                              (".conf/x.txt", "/out/.conf/")])
def test_sync_delete_down_keeps_a_dotfile_the_server_refuses(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, name: str, denied: str
) -> None:
    """nginx's common ``location ~ /\\. { deny all; }``: a ``HEAD`` of the dot file is answered 403,
    and the index leaves it out (review S, left by the fix of finding 3); one level down, the
    folder's listing is refused too (review F, finding 1).  Neither is a "not there": before, the
    local copy was deleted, exit 0; it is kept now, and said."""
    local = tmp_path / "inbox"
    make_tree(tmp_path / "srv" / "out", {**FILES, name: b"x\n"})
    make_tree(local, {**FILES, name: b"x\n", ".gone": b"g"})
    with HTTPSServer(pki, root=tmp_path / "srv", hide_dotfiles=True, forbidden=[denied]) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", local, upload=False, delete=True)
    assert result.error is None, result.error
    assert result.deleted == [".gone"]
    assert (local / name).read_bytes() == b"x\n"
    assert name in [a.path for a in result.plan.kept]


def test_fsspec_fails_on_a_webdav_name_not_utf8_and_keeps_the_source_of_a_move(
    pki: TestPKI, tmp_path: Path
) -> None:
    """fsspec cannot name such a member in a request: a recursive get fails naming it, and a move
    (copy, then remove) fails before its remove.  Left out of the listing instead, the move's
    ``DELETE`` of the folder took the member with it, never copied (review G, finding 1)."""
    from tests.fsspec_helpers import filesystem
    from xfer.errors import UsageError
    from xfer.testing.endpoints import serve

    deletes: list[str] = []

    def recording(request: RecordedRequest) -> Reply | None:
        if request.method == "DELETE":
            deletes.append(request.path)
        return _latin1_member(request)

    with serve("davs", pki, root=tmp_path / "dav", intercept=recording) as endpoint:
        make_tree(endpoint.root / "out", FILES)
        (endpoint.root / "archive").mkdir()
        fs = filesystem(endpoint)
        with pytest.raises(UsageError, match="not UTF-8"):
            fs.get("/out/", str(tmp_path / "got") + "/", recursive=True)
        with pytest.raises(UsageError, match="not UTF-8"):
            fs.mv("/out", "/archive/", recursive=True)
    assert deletes == []
    assert tree(endpoint.root / "out") == FILES


def test_a_refused_look_at_a_file_the_listing_gave_no_size_is_a_refusal_not_an_internal_error(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A WebDAV listing without ``getcontentlength`` for a.txt, whose own PROPFIND is refused:
    the look for its size raised sync's private "cannot tell", "unexpected internal error", exit 1
    (review G, finding 3).  It is the server's refusal again, as before the dot-name look-ups."""

    def unsized(request: RecordedRequest) -> Reply | None:
        if request.method == "PROPFIND" and request.path.rstrip("/") == "/out" and request.headers.get("Depth") == "1":
            body = ('<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">'
                    + _member("/out/", 0, collection=True) + _member("/out/a.txt", None) + _member("/out/b.txt", 2)
                    + "</D:multistatus>")
            return Reply(207, body.encode())
        if request.method == "PROPFIND" and request.path.rstrip("/") == "/out/a.txt":
            return Reply(403, b"no\n", {"Content-Type": "text/plain"})
        return None

    local = tmp_path / "inbox"
    make_tree(local, {"a.txt": b"a", "b.txt": b"bb"})
    with WebDAVServer(pki, root=tmp_path / "dav", intercept=unsized) as srv:
        make_tree(srv.root / "out", {"a.txt": b"a", "b.txt": b"bb"})
        with srv.adapter(client_context()) as remote, pytest.raises(RemotePermissionDenied):
            sync(remote, "/out", local, upload=False)


def test_sync_delete_down_goes_on_past_a_local_dot_name_not_utf8(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A local ``.caf\\xe9`` cannot be put in a URL to ask the server about: the whole sync stopped,
    exit 2, "the name is not UTF-8" on a remote path (review H, finding 3).  It is kept, and the
    rest of the sync goes on."""
    local = tmp_path / "inbox"
    make_tree(tmp_path / "srv" / "out", {**FILES, "new.txt": b"new\n"})
    make_tree(local, {**FILES, ".gone": b"g"})
    latin1 = os.path.join(os.fsencode(local), b".caf\xe9")
    with open(latin1, "wb") as handle:
        handle.write(b"latin1")
    with HTTPSServer(pki, root=tmp_path / "srv", hide_dotfiles=True) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", local, upload=False, delete=True)
    assert result.error is None, result.error
    assert result.deleted == [".gone"]
    assert (local / "new.txt").read_bytes() == b"new\n"
    assert os.path.exists(latin1)


def test_local_files_kept_unanswered_are_named_up_to_ten_then_counted(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Over FTP ``LIST`` a local ``.git/`` is thousands of such files (here each refused, as vsftpd's
    ``deny_file`` does): a line each flooded the terminal.  Ten by name, then their number;
    ``--json`` (``kept``) still lists every one."""
    local = tmp_path / "inbox"
    make_tree(tmp_path / "srv" / "out", FILES)
    make_tree(local, {**FILES, **{f".git/objects/o{number:02d}": b"o" for number in range(12)}})
    denied = {f"SIZE /out/.git/objects/o{number:02d}": "550 Permission denied." for number in range(12)}
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, hide_dotfiles=True, replies=denied) as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", local, upload=False, delete=True)
    assert result.error is None and result.deleted == []
    assert len(result.plan.kept) == 12
    named = [line for line in caplog.messages if "is not deleted: the server's listing does not show it" in line]
    assert len(named) == 10
    assert "sync: 2 more local files are not deleted for the same reason" in caplog.text


def test_sync_delete_down_keeps_names_with_control_characters_an_ftp_listing_leaves_out(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review of 8ce053a, finding 4: pure-ftpd's LIST and MLSD leave out every name holding a
    control character, without a word; ``sync --delete`` down deleted the local copies of such
    files the server has.  Each is now asked about (MLST) and compared as if listed."""
    odd = {"tab\there.txt": b"tab", "bell\x07.txt": b"bell"}
    make_tree(tmp_path / "srv" / "out", {**FILES, **odd})
    make_tree(tmp_path / "inbox", {**FILES, **odd})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, skip_control_names=True) as srv:
        with srv.adapter(client_context()) as remote:
            assert [e.name for e in remote.ls("/out")] == sorted(FILES)  # (left out, as pure-ftpd does)
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None, result.error
    assert result.deleted == []
    assert tree(tmp_path / "inbox") == {**FILES, **odd}


# -- every deletion down is asked about first: a listing is the server's account, not proof -------


def test_sync_delete_down_keeps_files_an_index_ignores_and_deletes_the_gone(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Apache's default ``IndexIgnore`` leaves ``README*`` and ``HEADER*`` out of its index pages.
    Before, ``sync --delete`` down deleted the local ``README.txt`` and ``docs/HEADER.html`` while the
    server had them.  Now each file to delete is asked about (HEAD): found, it is compared as a
    listed file (``README.txt`` changed on the server: fetched, where keeping the stale copy
    with exit 0 was the review's finding 4) and said; one the server answers 404 for goes."""
    served = {**FILES, "README.txt": b"read me, version 2", "docs/HEADER.html": b"<h1>", "docs/d.txt": b"d"}
    make_tree(tmp_path / "srv" / "out", served)
    make_tree(tmp_path / "inbox", {**served, "README.txt": b"read me", "gone.txt": b"g", "docs/gone.txt": b"g2"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="html", index_ignore=["README*", "HEADER*"]) as srv:
        with index_adapter(srv, client_context(), "html") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None, result.error
    assert sorted(result.deleted) == ["docs/gone.txt", "gone.txt"]
    assert [a.path for a in result.plan.transfers] == ["README.txt"] and not result.plan.kept
    assert "docs/HEADER.html" in [a.path for a in result.plan.skips]
    assert tree(tmp_path / "inbox") == served
    assert "sync: README.txt is not deleted: the server has it, though its listing did not show it" in caplog.text


def test_sync_delete_down_keeps_what_a_silently_cut_ftp_listing_left_out(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """ProFTPD's ``ListOptions maxfiles`` ends a cut LIST with an ordinary "226 Transfer complete".
    Before, the local copies of the names after the cut were deleted; now SIZE finds them."""
    flat = {f"f{number}.txt": b"x" * number for number in range(1, 8)}
    make_tree(tmp_path / "srv" / "out", flat)
    make_tree(tmp_path / "inbox", {**flat, "gone.txt": b"g"})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_limit=5,
                        list_cut_reply="Transfer complete") as srv:
        with srv.adapter(client_context()) as remote:
            assert len(remote.ls("/out")) == 5
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, force=True)
    assert result.error is None, result.error
    assert result.deleted == ["gone.txt"]
    assert {"f6.txt", "f7.txt"} <= {a.path for a in result.plan.skips} and not result.plan.kept
    assert tree(tmp_path / "inbox") == flat


def test_sync_delete_down_asks_once_for_a_folder_the_listing_left_out(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A whole folder hidden (``IndexIgnore RCS``): one HEAD for the folder, not one per file in it;
    the server has it, so nothing in it is deleted."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "RCS/a,v": b"a", "RCS/b,v": b"b", "RCS/c,v": b"c"})
    make_tree(tmp_path / "inbox", {**FILES, "RCS/a,v": b"a", "RCS/b,v": b"b", "RCS/c,v": b"c"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", index_ignore=["RCS"]) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, force=True)
        heads = [r.path for r in srv.requests if r.method == "HEAD"]
    assert result.error is None and result.deleted == []
    assert sorted(a.path for a in result.plan.kept) == ["RCS/a,v", "RCS/b,v", "RCS/c,v"]
    assert heads.count("/out/RCS") == 1 and not any(path.startswith("/out/RCS/") for path in heads)


def test_sync_delete_down_keeps_a_file_whose_look_is_refused(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A HEAD refused for that name (403): the server would not say, so the local file stays."""
    make_tree(tmp_path / "srv" / "out", FILES)
    make_tree(tmp_path / "inbox", {**FILES, "private.txt": b"p", "gone.txt": b"g"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", statuses={"/out/private.txt": 403}) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None and result.deleted == ["gone.txt"]
    assert [(a.path, a.reason) for a in result.plan.kept] == [
        ("private.txt", "kept: the server's listing does not show it, and the server would not say whether it has it")]
    assert "sync: private.txt is not deleted: the server's listing does not show it" in caplog.text


def test_sync_delete_down_on_a_server_without_head_takes_the_listings_word(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A server that answers every HEAD 405 cannot be asked: the listing's word stands, as before
    anything was asked, and the looks cost one more listing of the folder, not one per file."""
    make_tree(tmp_path / "srv" / "out", FILES)
    gone = {f"gone{number}.txt": b"g" for number in range(5)}
    make_tree(tmp_path / "inbox", {**FILES, **gone})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", head_status=405) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, force=True)
        listings = [r.path for r in srv.requests if r.method == "GET" and r.path == "/out/"]
    assert result.error is None
    assert sorted(result.deleted) == sorted(gone)
    assert len(listings) == 2  # (the sync's own, and one for the five looks)
    assert tree(tmp_path / "inbox") == FILES


def test_the_looks_before_deleting_go_pipelined_over_https(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """300 local files to delete, 150 of them in a folder the server does not have: 152 HEADs
    (the folder once), pipelined on the one connection (a few round trips, where one after
    another at 50 ms was 8 s), each answered 404 and deleted; the file the server has (a name
    its index ignores) is kept."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "README": b"r"})
    gone = {f"old/gone{number:03d}.txt": b"g" for number in range(150)} | {
        f"gone{number:03d}.txt": b"g" for number in range(150)}
    make_tree(tmp_path / "inbox", {**FILES, "README": b"r", **gone})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", index_ignore=["README"]) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            alone: list[str] = []
            one_look = remote.info

            def counted(path: str) -> Any:
                alone.append(path)
                return one_look(path)

            remote.info = counted  # type: ignore[method-assign]
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, force=True)
        heads = [r.path for r in srv.requests if r.method == "HEAD"]
        connections = srv.handshakes
    assert alone == ["/out"]  # (the sync's look at its folder: the 152 others went together)
    assert result.error is None
    assert sorted(result.deleted) == sorted(gone)
    assert "README" in [a.path for a in result.plan.skips] and not result.plan.kept
    # One look for the folder the listing did not show (not one per file in it), one per file.
    assert sorted(set(heads)) == sorted(heads) and len(heads) == 1 + 1 + 150 + 1  # (/out, README, files, old)
    assert "/out/old" in heads and not any(path.startswith("/out/old/") for path in heads)
    assert connections == 1


@pytest.mark.parametrize("refusal", ["mlst", "size-and-mdtm"])
def test_sync_delete_down_keeps_a_file_an_ftp_server_refuses_to_look_at(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, refusal: str
) -> None:
    """Review of fe5f526, finding 1: FTP's "550 Permission denied." to MLST (or to SIZE and MDTM,
    then the parent's listing decided) read as "not there", and the local copy went.  Only
    "no such file" in words lets it go; ``gone.txt`` (550 "No such file") still goes."""
    make_tree(tmp_path / "srv" / "out", FILES)
    make_tree(tmp_path / "inbox", {**FILES, "secret.key": b"k", "gone.txt": b"g"})
    replies = ({"MLST /out/secret.key": "550 Permission denied."} if refusal == "mlst" else
               {"SIZE /out/secret.key": "550 Permission denied.", "MDTM /out/secret.key": "550 Permission denied."})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=refusal == "mlst", replies=replies) as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None, result.error
    assert result.deleted == ["gone.txt"]
    assert [a.path for a in result.plan.kept] == ["secret.key"]
    assert tree(tmp_path / "inbox") == {**FILES, "secret.key": b"k"}


def test_one_head_refused_as_a_method_keeps_that_file_only(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review of fe5f526, finding 2: one script answering its HEAD 405 made the listing's word
    stand for every later deletion (README.txt, which the server has, went).  A 405 counts as
    "the server cannot be asked" only where every look got one."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "README.txt": b"r", "legacy.php": b"<?php"})
    make_tree(tmp_path / "inbox", {**FILES, "README.txt": b"r", "legacy.php": b"<?php", "gone.txt": b"g"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", index_ignore=["README*", "*.php"],
                     statuses={"/out/legacy.php": 405}) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None, result.error
    assert result.deleted == ["gone.txt"]
    assert [a.path for a in result.plan.kept] == ["legacy.php"]
    assert (tmp_path / "inbox" / "README.txt").exists() and (tmp_path / "inbox" / "legacy.php").exists()


def test_a_look_answered_with_a_server_error_keeps_that_file_and_the_sync_goes_on(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review of fe5f526, finding 6: a 500 to one PROPFIND stopped the whole sync before
    anything moved.  A 500 may meet the next look too (:func:`xfer.retry.own_failure`): the
    files to delete are all kept this run, said, and the rest of the sync goes on."""
    def failing(request: RecordedRequest) -> Reply | None:
        return Reply(500, b"oops") if request.method == "PROPFIND" and request.path == "/out/odd.txt" else None

    with WebDAVServer(pki, root=tmp_path / "dav", intercept=failing) as srv:
        make_tree(srv.root / "out", {**FILES, "new.txt": b"n"})
        make_tree(tmp_path / "inbox", {**FILES, "odd.txt": b"o", "gone.txt": b"g"})
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None, result.error
    assert result.deleted == []
    assert sorted(a.path for a in result.plan.kept) == ["gone.txt", "odd.txt"]
    assert tree(tmp_path / "inbox") == {**FILES, "new.txt": b"n", "odd.txt": b"o", "gone.txt": b"g"}


def test_a_local_dot_file_where_the_server_has_a_dot_folder_is_kept(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review of fe5f526, finding 10: a hidden name the server has as a folder read as "not
    there" (a file was looked for), so the local file ``.cfg`` went; a plain name was kept."""
    make_tree(tmp_path / "srv" / "out", {**FILES, ".cfg/inner.txt": b"i"})
    make_tree(tmp_path / "inbox", {**FILES, ".cfg": b"local file"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", hide_dotfiles=True) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None, result.error
    assert result.deleted == []
    assert (tmp_path / "inbox" / ".cfg").read_bytes() == b"local file"


def test_a_plan_the_guards_refuse_asks_nothing(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review of fe5f526, finding 11: a wrong source folder had every local file looked up before
    the half-of-the-destination guard refused the plan."""
    make_tree(tmp_path / "srv" / "out", {"a.txt": b"a"})
    make_tree(tmp_path / "inbox", {f"f{number}.txt": b"x" for number in range(20)})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json") as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            with pytest.raises(UsageError, match="more than half"):
                sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
        heads = [r.path for r in srv.requests if r.method == "HEAD" and r.path != "/out"]
    assert heads == []


# -- review of 15ffd9e -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "once"), [("secret.key", "421 Timeout."), ("sec\\ret.key", None)],
                         ids=["retried", "backslash"])
def test_a_refused_look_stays_refused_through_a_retry_and_a_hint(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, name: str, once: str | None
) -> None:
    """Findings 1 and 2: a retry renumbers its error and a backslash adds a hint, each a copy of
    the error: "not stated" came out stated, and the local copy went."""
    make_tree(tmp_path / "srv" / "out", FILES)
    make_tree(tmp_path / "inbox", {**FILES, name: b"k", "gone.txt": b"g"})
    command = f"MLST /out/{name}"
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, replies={command: "550 Permission denied."},
                        replies_once={command: once} if once else None) as srv:
        with srv.adapter(client_context()) as remote:
            remote.retry_policy = RetryPolicy(retries=2, wait=0)
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
        asked = [line for line in srv.commands if line == command]
    assert result.error is None, result.error
    assert result.deleted == ["gone.txt"] and [a.path for a in result.plan.kept] == [name]
    assert len(asked) == (2 if once else 1)


@pytest.mark.parametrize("words", ["550 Unable to handle command", "550 Operation not permitted."])
def test_an_mlst_refusal_in_words_that_say_nothing_of_absence_keeps_the_file(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, words: str
) -> None:
    """Finding 3: ProFTPD's MLST refused by <Limit>, pyftpdlib's EPERM, for a file the (silently
    cut) listing left out: only words that say the name is not there let a local copy go; here
    SIZE, asked after, finds the file."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "secret.key": b"k"})
    make_tree(tmp_path / "inbox", {**FILES, "secret.key": b"k"})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, replies={"MLST /out/secret.key": words},
                        list_limit=3, list_cut_reply="Transfer complete") as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None and result.deleted == []
    assert (tmp_path / "inbox" / "secret.key").read_bytes() == b"k" and not result.plan.kept


def test_an_unlisted_folder_the_account_may_not_enter_keeps_its_files(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Finding 4: a folder the listing left out, CWD refused ("Permission denied"), then vsftpd's
    SIZE of a folder: "Could not get file size.", its words for a missing file too."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "zz-private/report.csv": b"r"})
    make_tree(tmp_path / "inbox", {**FILES, "zz-private/report.csv": b"r"})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_limit=3, list_cut_reply="Transfer complete",
                        replies={"CWD /out/zz-private": "550 Permission denied.",
                                 "SIZE /out/zz-private": "550 Could not get file size."}) as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, force=True)
    assert result.error is None and result.deleted == []
    assert tree(tmp_path / "inbox") == {**FILES, "zz-private/report.csv": b"r"}


def test_move_down_leaves_on_the_server_what_only_a_look_found(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Finding 6: with --delete, a file the index hides (found by its look) was removed on the
    server by --remove-source-files, without --delete not: a move takes what the listing shows."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "README.txt": b"r"})
    make_tree(tmp_path / "inbox", {"README.txt": b"r", "gone.txt": b"g"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", index_ignore=["README*"]) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, remove_source=True,
                          force=True)
    assert result.error is None, result.error
    assert sorted(result.sources_removed) == sorted(FILES)
    assert (tmp_path / "srv" / "out" / "README.txt").exists()
    assert tree(tmp_path / "inbox") == {**FILES, "README.txt": b"r"}


def test_a_checksum_sync_hashes_each_local_file_once_through_the_re_plan(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 7: the plan made again after the looks hashed every local file a second time."""
    import xfer.sync as sync_module

    make_tree(tmp_path / "srv" / "out", {**FILES, "README.txt": b"r"})
    make_tree(tmp_path / "inbox", {**FILES, "README.txt": b"r", "gone.txt": b"g"})
    hashed: list[str] = []
    real = sync_module._local_digest

    def counted(path: Path, algorithm: str) -> str | None:
        hashed.append(path.name)
        return real(path, algorithm)

    monkeypatch.setattr(sync_module, "_local_digest", counted)
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", index_ignore=["README*"],
                     digests=["repr-digest"]) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, force=True,
                          compare=Compare(mode="checksum"))
    assert result.error is None, result.error
    assert sorted(hashed) == sorted(set(hashed))


def test_a_single_look_refused_as_a_method_takes_the_listings_word(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Finding 8: one file to delete on a server without HEAD was kept, two or more deleted."""
    make_tree(tmp_path / "srv" / "out", FILES)
    make_tree(tmp_path / "inbox", {**FILES, "gone.txt": b"g"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", head_status=405) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None and result.deleted == ["gone.txt"]


# -- review of 6100fe2 -------------------------------------------------------------------------


def test_move_down_with_delete_leaves_a_hidden_dot_file_only_a_look_found(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Finding 2: a dot file the index hides, found by its look (only with --delete), was removed
    on the server by --remove-source-files; without --delete it stays."""
    make_tree(tmp_path / "srv" / "out", {**FILES, ".env": b"e"})
    make_tree(tmp_path / "inbox", {".env": b"e", "gone.txt": b"g"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", hide_dotfiles=True) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, remove_source=True,
                          force=True)
    assert result.error is None, result.error
    assert sorted(result.sources_removed) == sorted(FILES)
    assert (tmp_path / "srv" / "out" / ".env").exists()


@pytest.mark.parametrize("words", ["550 Couldn't open the file or directory",
                                   "550 Datei oder Verzeichnis nicht gefunden"])
def test_missing_file_words_of_filezilla_server_and_a_german_server_let_the_copy_go(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, words: str
) -> None:
    """Finding 3: FileZilla Server 1.x answers MLST of a missing file "Couldn't open the file or
    directory"; with only English "not found" words nothing was ever deleted there."""
    make_tree(tmp_path / "srv" / "out", FILES)
    make_tree(tmp_path / "inbox", {**FILES, "gone.txt": b"g"})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, replies={"MLST /out/gone.txt": words}) as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None and result.deleted == ["gone.txt"]


# -- review of 0fbb4d7 -------------------------------------------------------------------------


def test_proftpds_cannot_be_listed_is_read_with_its_size_answer(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Finding 1: ProFTPD answers MLST "'X' cannot be listed" for a file it cannot stat for any
    reason, and its MLSD leaves such a file out: read as "gone", a file the server has went.
    Its SIZE says which ("Permission denied": kept; missing: gone)."""
    make_tree(tmp_path / "srv" / "out", FILES)
    make_tree(tmp_path / "inbox", {**FILES, "private.pdf": b"p", "gone.txt": b"g"})
    replies = {"MLST /out/private.pdf": "550 '/out/private.pdf' cannot be listed",
               "SIZE /out/private.pdf": "550 /out/private.pdf: Permission denied",
               "MLST /out/gone.txt": "550 '/out/gone.txt' cannot be listed",
               "SIZE /out/gone.txt": "550 /out/gone.txt: No such file or directory"}
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, replies=replies) as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None and result.deleted == ["gone.txt"]
    assert [a.path for a in result.plan.kept] == ["private.pdf"]


def test_a_transient_open_failure_is_no_absence(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Finding 2: "Could not open the file: Too many open files" matched FileZilla's words."""
    make_tree(tmp_path / "srv" / "out", FILES)
    make_tree(tmp_path / "inbox", {**FILES, "busy.txt": b"b"})
    busy = "550 Could not open the file: Too many open files"
    replies = {"MLST /out/busy.txt": busy, "SIZE /out/busy.txt": busy}
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, replies=replies) as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
    assert result.error is None and result.deleted == []
    assert [(a.path, a.reason) for a in result.plan.kept] == [
        ("busy.txt", "kept: the server's listing does not show it, and the server would not say whether it has it")]


# -- review of d89f4bf -------------------------------------------------------------------------


def test_a_hidden_folder_whose_mlst_is_refused_in_neutral_words_keeps_its_files(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Finding 1: after a neutral MLST refusal, SIZE alone was asked, and vsftpd-like words for a
    folder ("Could not get file size.") read as absence: the folder's files went.  The path is
    now asked as on a server without MLST, CWD first: a folder."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "zdir/x.txt": b"x"})
    make_tree(tmp_path / "inbox", {**FILES, "zdir/x.txt": b"x"})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, list_limit=3, list_cut_reply="Transfer complete",
                        replies={"MLST /out/zdir": "550 Unable to handle command"}) as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, force=True)
    assert result.error is None and result.deleted == []
    assert tree(tmp_path / "inbox") == {**FILES, "zdir/x.txt": b"x"}


@pytest.mark.parametrize("size", [True, False], ids=["size", "no-size"])
def test_a_neutral_mlst_refusal_is_asked_with_cwd_size_and_mdtm(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, size: bool
) -> None:
    """Findings 2 and 3: with no SIZE (502) a refused path became a file of no size (a missing
    file fetched and failing on every run, mkdir refused as "not a folder"); a file SIZE found had
    no time (fetched again on every run).  CWD, SIZE and MDTM now decide, as without MLST: the
    found file is compared with its time (and, without SIZE, sent: no size is ever "the same"),
    and mkdir works.  The missing file goes where SIZE says "Could not get file size."; without
    SIZE, MDTM's "Could not get file modification time." is also said of a folder or any stat
    failure (review of f4bc8d5), so the file is kept."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "zz.key": b"k"})
    make_tree(tmp_path / "inbox", {**FILES, "zz.key": b"k", "gone.txt": b"g"})
    replies = {"MLST /out/gone.txt": "550 '/out/gone.txt' cannot be listed",
               "MLST /out/zz.key": "550 '/out/zz.key' cannot be listed",
               "MLST /out/new": "550 Unable to handle command"}
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, size=size, list_limit=3,
                        list_cut_reply="Transfer complete", replies=replies) as srv:
        with srv.adapter(client_context()) as remote:
            first = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
            again = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True)
            remote.mkdir("/out/new", parents=True)
    assert first.error is None and first.deleted == (["gone.txt"] if size else [])
    assert again.error is None and [a.path for a in again.plan.transfers] == ([] if size else ["zz.key"])
    assert (tmp_path / "srv" / "out" / "new").is_dir()


def test_without_size_a_hidden_folder_vsftpd_would_not_enter_keeps_its_files(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review of f4bc8d5: no SIZE, CWD "Failed to change directory." (vsftpd's word for a missing
    folder and a closed one alike), MDTM "Could not get file modification time." (said of a
    folder too): read as gone, the folder's files went."""
    make_tree(tmp_path / "srv" / "out", {**FILES, "zdir/x.txt": b"x"})
    make_tree(tmp_path / "inbox", {**FILES, "zdir/x.txt": b"x"})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, size=False, list_limit=3,
                        list_cut_reply="Transfer complete",
                        replies={"CWD /out/zdir": "550 Failed to change directory."}) as srv:
        with srv.adapter(client_context()) as remote:
            result = sync(remote, "/out", tmp_path / "inbox", upload=False, delete=True, force=True)
    assert result.error is None and result.deleted == []
    assert tree(tmp_path / "inbox") == {**FILES, "zdir/x.txt": b"x"}
