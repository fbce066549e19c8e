"""``xfer sync`` against an HTTPS server listing folders by an nginx HTML index page: dates to the
minute in GMT, exact sizes (review D, finding 5)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.globs import Filters, Rule
from xfer.sync import SyncResult, sync
from xfer.testing.https_server import HTTPSServer, IndexMode
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .test_sync import make_tree, tree

ContextFactory = Callable[..., XferSSLContext]


def index_adapter(srv: HTTPSServer, context: XferSSLContext, index: IndexMode = "html") -> HTTPSAdapter:
    """An adapter reading ``srv``'s folders from its index pages in the ``index`` format."""
    settings = ConnectionSettings(scheme="https", host=srv.host, port=srv.port, root="/",
                                  ssl_context=context, timeout=10, options={"index": index})
    return HTTPSAdapter(settings)


@pytest.fixture
def served(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> Iterator[tuple[HTTPSServer, HTTPSAdapter]]:
    with HTTPSServer(pki, root=tmp_path / "srv", index="html") as srv:
        with index_adapter(srv, client_context(), "html") as remote:
            yield srv, remote


def actions(result: SyncResult) -> dict[str, tuple[str, str]]:
    return {a.path: (a.kind, a.reason) for a in result.plan.actions}


def test_sync_down_from_an_html_index_fetches_a_same_size_change(
    served: tuple[HTTPSServer, Any], tmp_path: Path
) -> None:
    """Before: the index's dates were not read, and a same-size change on the server was skipped as
    "same size (no time to compare)" for ever."""
    _, remote = served
    out = tmp_path / "srv" / "out"
    make_tree(out, {"a.txt": b"version-1\n", "b.txt": b"b" * 3000})
    local = tmp_path / "inbox"
    first = sync(remote, "/out", local, upload=False)
    assert first.error is None and first.transferred == 2
    again = sync(remote, "/out", local, upload=False)
    assert {kind for kind, _ in actions(again).values()} == {"skip"}, actions(again)

    later = time.time() + 300  # the partner replaces a.txt: same size, new content
    (out / "a.txt").write_bytes(b"version-2\n")
    os.utime(out / "a.txt", (later, later))
    third = sync(remote, "/out", local, upload=False)
    assert actions(third)["a.txt"] == ("transfer", "time differs")
    assert actions(third)["b.txt"][0] == "skip"
    assert tree(local) == {"a.txt": b"version-2\n", "b.txt": b"b" * 3000}


def test_sync_up_to_an_html_index_then_back_down_moves_nothing_again(
    served: tuple[HTTPSServer, Any], tmp_path: Path
) -> None:
    _, remote = served
    local = tmp_path / "outbox"
    make_tree(local, {"a.txt": b"one\n", "sub/b.txt": b"two\n"})
    assert sync(remote, "/in", local, upload=True).transferred == 2
    again = sync(remote, "/in", local, upload=True)
    assert {kind for kind, _ in actions(again).values()} == {"skip"}, actions(again)


@pytest.mark.parametrize("index", ["html", "json"])
def test_dotfiles_an_index_hides_are_looked_up_not_sent_again(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, index: IndexMode
) -> None:
    """Review D, finding 7: nginx's index leaves out names starting with "."; before, such a file was
    "new" and sent on every run."""
    local = tmp_path / "outbox"
    make_tree(local, {".settings.json": b"{}\n", "a.txt": b"a\n", ".conf/x.txt": b"x\n"})
    with HTTPSServer(pki, root=tmp_path / "srv", index=index, hide_dotfiles=True) as srv:
        with index_adapter(srv, client_context(), index) as remote:
            assert sync(remote, "/in", local, upload=True).transferred == 3
            again = sync(remote, "/in", local, upload=True)
            assert {kind for kind, _ in actions(again).values()} == {"skip"}, actions(again)
            (local / ".settings.json").write_bytes(b"{1}\n")  # a change is still sent
            changed = sync(remote, "/in", local, upload=True)
            assert [a.path for a in changed.plan.transfers] == [".settings.json"]
    assert tree(tmp_path / "srv" / "in")[".settings.json"] == b"{1}\n"


@pytest.mark.parametrize("upload", [True, False], ids=["up", "down"])
def test_rounded_index_sizes_are_looked_up_not_moved_again(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, upload: bool
) -> None:
    """nginx's ``autoindex_exact_size off`` (and Apache's page) print "3K": no size to compare.
    An unknown size is never "the same", so without a look every file moved on every run; each
    such file is now asked about once (HEAD), and a real change is still moved."""
    local = tmp_path / "local"
    served = tmp_path / "srv" / "f"
    files = {"a.bin": b"a" * 3000, "b.bin": b"b" * 5000}
    make_tree(local if upload else served, files)
    with HTTPSServer(pki, root=tmp_path / "srv", index="html", index_exact_size=False) as srv:
        with index_adapter(srv, client_context(), "html") as remote:
            assert sync(remote, "/f", local, upload=upload).transferred == 2
            again = sync(remote, "/f", local, upload=upload)
            assert {kind for kind, _ in actions(again).values()} == {"skip"}, actions(again)
            changed_side = local if upload else served
            (changed_side / "a.bin").write_bytes(b"A" * 3010)  # rounds to the same 3K
            changed = sync(remote, "/f", local, upload=upload)
            assert [a.path for a in changed.plan.transfers] == ["a.bin"], actions(changed)
    assert tree(local) == tree(served)


@pytest.mark.parametrize("localtime", [None, "America/New_York", "Asia/Kathmandu"], ids=["gmt", "west", "east"])
def test_an_index_in_the_servers_local_time_is_read_in_its_zone(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, localtime: str | None
) -> None:
    """nginx's ``autoindex_localtime on`` prints local time in the GMT layout.  Review E: read as
    GMT, every file was sent again on every sync up (west), or same-size edits were missed
    (east).  One file's HEAD (Last-Modified is GMT) tells the zone, once per connection."""
    local = tmp_path / "outbox"
    make_tree(local, {"a.txt": b"one\n", "b.txt": b"two\n"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="html", index_localtime=localtime) as srv:
        with index_adapter(srv, client_context(), "html") as remote:
            assert sync(remote, "/in", local, upload=True).transferred == 2
            again = sync(remote, "/in", local, upload=True)
            assert {kind for kind, _ in actions(again).values()} == {"skip"}, actions(again)
            assert {e.modified_zone_known for e in remote.ls("/in")} == {True}
            later = time.time() + 2 * 3600  # more than the hour one learned offset is good for
            (local / "a.txt").write_bytes(b"ONE\n")  # same size
            os.utime(local / "a.txt", (later, later))
            edited = sync(remote, "/in", local, upload=True)
            assert [a.path for a in edited.plan.transfers] == ["a.txt"], actions(edited)
    assert tree(tmp_path / "srv" / "in")["a.txt"] == b"ONE\n"


@pytest.mark.parametrize("mlst", [True, False], ids=["mlsd", "list"])
def test_new_dotfiles_are_asked_about_only_where_a_listing_may_hide_them(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, mlst: bool
) -> None:
    """Review E: every new dotfile cost one round trip before the first upload, on servers whose
    listings show every name (MLSD, SFTP, WebDAV) too, and under folders the listing showed are
    not there.  LIST may hide them: there a dotfile in a listed folder is still asked about."""
    from xfer.testing.ftps_fake import FakeFTPSServer

    local = tmp_path / "outbox"
    make_tree(local, {**{f"new/.d{n}": b"x" for n in range(20)}, ".top": b"t", "old/.seen": b"s", "old/a": b"a"})
    (tmp_path / "srv" / "in" / "old").mkdir(parents=True)
    (tmp_path / "srv" / "in" / "old" / "a").write_bytes(b"a")
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=mlst) as srv, srv.adapter(client_context()) as remote:
        before = len(srv.commands)
        result = sync(remote, "/in", local, upload=True, dry_run=True)
        asked = [c for c in srv.commands[before:] if c.split()[0] in ("MLST", "SIZE", "MDTM", "STAT")]
    assert len(result.plan.transfers) == 22
    looked_up = {c.split(" ", 1)[1] for c in asked}
    if mlst:
        assert not [c for c in asked if ".d" in c or ".top" in c or ".seen" in c], asked
    else:
        assert not [path for path in looked_up if "/new/" in path], asked  # /in/new is not there
        assert {"/in/.top", "/in/old/.seen"} <= looked_up


def test_the_zone_is_learned_from_another_file_when_the_first_heads_head_is_refused(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review H: one refused HEAD (403 on the first listed file) left every time of the connection in
    an unknown zone (14 h wide), and a same-size change two hours later was not fetched."""
    served = tmp_path / "srv" / "out"
    make_tree(served, {"a.txt": b"refused", "b.txt": b"version-1\n", "c.txt": b"c\n"})
    now = time.time()
    for name in ("a.txt", "b.txt", "c.txt"):
        os.utime(served / name, (now, now))
    local = tmp_path / "inbox"
    with HTTPSServer(pki, root=tmp_path / "srv", index="html", index_localtime="America/New_York",
                     statuses={"/out/a.txt": 403}) as srv:
        with index_adapter(srv, client_context(), "html") as remote:
            assert {e.name: e.modified_zone_known for e in remote.ls("/out")} == {"a.txt": True, "b.txt": True,
                                                                                  "c.txt": True}
            filters = Filters([Rule("a.txt", include=False)])
            assert sync(remote, "/out", local, upload=False, filters=filters).transferred == 2
            later = now + 2 * 3600
            (served / "b.txt").write_bytes(b"version-2\n")  # same size, two hours later
            os.utime(served / "b.txt", (later, later))
            again = sync(remote, "/out", local, upload=False, filters=filters)
            assert [a.path for a in again.plan.transfers] == ["b.txt"], actions(again)


def test_a_gmt_index_is_exact_to_the_minute(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review H: an offset of 0 (nginx's default GMT) was widened by a summer-time hour too, and a
    same-size change half an hour later was not fetched.  GMT has no summer time."""
    served = tmp_path / "srv" / "out"
    make_tree(served, {"b.txt": b"version-1\n"})
    now = time.time()
    os.utime(served / "b.txt", (now, now))
    local = tmp_path / "inbox"
    with HTTPSServer(pki, root=tmp_path / "srv", index="html") as srv:
        with index_adapter(srv, client_context(), "html") as remote:
            assert sync(remote, "/out", local, upload=False).transferred == 1
            later = now + 30 * 60
            (served / "b.txt").write_bytes(b"version-2\n")
            os.utime(served / "b.txt", (later, later))
            again = sync(remote, "/out", local, upload=False)
            assert [a.path for a in again.plan.transfers] == ["b.txt"], actions(again)
    assert (local / "b.txt").read_bytes() == b"version-2\n"
