"""HTTPS against servers that end bodies badly, answer odd statuses, serve folders and huge pages.

Issue 11, items 2 (truncation), 3 (non-200 answers), 4 (folders), 6 (listing size),
15 (put without a listing), 16 (missing parent folders) and their siblings (redirected
uploads and deletes).  Each hostile behaviour is a :class:`ScriptedHTTPSServer` reply;
the well-behaved variant of the same response proves the client still accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from xfer import client
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter, parse_html_index, parse_json_index
from xfer.errors import (
    ConnectionDropped,
    ExitCode,
    FilesFailed,
    IntegrityError,
    ListingTooLarge,
    RemoteError,
    RemoteIsFolder,
    RemoteNotDone,
    RemoteNotFound,
    UnsupportedOperation,
)
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .helpers import one_error, run

ContextFactory = Callable[..., XferSSLContext]
BODY = bytes(range(256)) * 400  # 100 KiB, more than one read block
OLD = b"the previous, good version\n"


def _adapter(srv: HTTPSServer | ScriptedHTTPSServer, ctx: XferSSLContext, *, max_listing: int = 64 << 20,
             **options: Any) -> HTTPSAdapter:
    # One try: these tests are about what one hostile answer does (tests/test_retry*.py: several).
    settings = ConnectionSettings(scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=ctx,
                                  timeout=10, options=options, max_listing=max_listing, retries=0)
    return HTTPSAdapter(settings)


@pytest.fixture
def scripted(pki: TestPKI) -> Iterator[Callable[..., ScriptedHTTPSServer]]:
    started: list[ScriptedHTTPSServer] = []

    def make(replies: dict[str, Reply], **kwargs: Any) -> ScriptedHTTPSServer:
        srv = ScriptedHTTPSServer(pki, replies, **kwargs).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def _get(srv: ScriptedHTTPSServer, ctx: XferSSLContext, path: str, target: Path) -> None:
    target.write_bytes(OLD)
    with _adapter(srv, ctx) as remote:
        remote.get_file(path, target)


def _untouched(target: Path) -> None:
    assert target.read_bytes() == OLD
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no temp file may stay behind"


# -- item 2: a body is complete only when its end is proven ------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=BODY, length=False, end="fin"),  # no length, FIN without close_notify
        Reply(body=[BODY, BODY], chunked=True, finished=False, end="fin"),  # chunked, cut mid-way
        Reply(body=[BODY, BODY], chunked=True, finished=False, end="close_notify"),  # last chunk missing
        Reply(body=BODY, announce=3 * len(BODY), end="fin"),  # Content-Length short
        Reply(body=BODY, announce=3 * len(BODY), end="close_notify"),
        # Cut past the first 256 KiB: some of the body is read straight off the TLS socket.
        Reply(body=[BODY] * 5, announce=9 * len(BODY), end="fin"),
        Reply(body=[BODY] * 5, announce=9 * len(BODY), end="close_notify"),
    ],
    ids=["no-length-fin", "chunked-fin", "chunked-close-notify", "short-length-fin", "short-length-close-notify",
         "long-short-length-fin", "long-short-length-close-notify"],
)
@pytest.mark.parametrize("tls_max", ["1.2", "1.3"])
def test_truncated_body_is_an_integrity_error(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory, tmp_path: Path,
    reply: Reply, tls_max: str,
) -> None:
    srv = scripted({"/f": reply}, tls_max=tls_max)
    with pytest.raises(IntegrityError, match=r"ended early|incomplete") as caught:
        _get(srv, client_context(), "/f", tmp_path / "f")
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert "nothing was saved" in str(caught.value)
    _untouched(tmp_path / "f")


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=BODY, length=False, end="close_notify"),  # the proven end of a length-less body
        Reply(body=[BODY, BODY[:7], BODY], chunked=True),
        Reply(body=BODY, end="keep-alive"),
        Reply(body=[BODY] * 9, end="keep-alive"),
    ],
    ids=["no-length-close-notify", "chunked", "content-length", "long-content-length"],
)
def test_properly_ended_bodies_are_accepted(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory, tmp_path: Path, reply: Reply
) -> None:
    srv = scripted({"/f": reply})
    _get(srv, client_context(), "/f", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"".join(reply.blocks())


def test_reset_mid_body_is_a_dropped_connection(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory, tmp_path: Path
) -> None:
    srv = scripted({"/f": Reply(body=[BODY] * 40, length=False, end="reset")})
    with pytest.raises((ConnectionDropped, IntegrityError)):
        _get(srv, client_context(), "/f", tmp_path / "f")
    _untouched(tmp_path / "f")


def test_cli_truncated_download_exits_7(
    scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path, config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = scripted({"/f": Reply(body=BODY, length=False, end="fin")})
    target = tmp_path / "f"
    target.write_bytes(OLD)
    code, _, err = run(capsys, "get", f"{srv.url}/f", str(target), "--ca", str(pki.root_ca), "--retries", "0")
    assert code == ExitCode.INTEGRITY, err
    one_error(err, "ended early")
    assert target.read_bytes() == OLD


# -- item 3: only 200 is the file ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(206, IntegrityError), (204, RemoteError), (202, RemoteError), (203, RemoteError)],
)
def test_a_download_is_200_only(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory, tmp_path: Path,
    status: int, kind: type[Exception],
) -> None:
    headers = {"Content-Range": f"bytes 0-99/{len(BODY)}"} if status == 206 else {}
    body = b"" if status == 204 else BODY[:100]
    srv = scripted({"/f": Reply(status=status, headers=headers, body=body, end="keep-alive")})
    with pytest.raises(kind) as caught:
        _get(srv, client_context(), "/f", tmp_path / "f")
    assert f"HTTP {status}" in str(caught.value) and "nothing was saved" in str(caught.value)
    _untouched(tmp_path / "f")


# -- item 4: a folder is not a file --------------------------------------------------------


def test_get_of_a_folder_redirected_to_its_index(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", index="html") as srv:
        (srv.root / "dir").mkdir()
        (srv.root / "dir" / "a.txt").write_bytes(b"a")
        target = tmp_path / "dir"
        with _adapter(srv, client_context()) as remote, pytest.raises(RemoteIsFolder) as caught:
            remote.get_file("/dir", target)
    assert str(caught.value) == f"{srv.server}: /dir is a folder"
    assert caught.value.hint == "use -r to copy a folder"
    assert caught.value.exit_code == ExitCode.REMOTE
    assert not target.exists()


def test_get_of_the_top_folder(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv, client_context()) as remote:
        with pytest.raises(RemoteIsFolder, match=": / is a folder"):
            remote.get_file("/", tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_get_of_a_folder_behind_a_relative_redirect(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory, tmp_path: Path
) -> None:
    index = b'<html><body><a href="../">../</a>\n<a href="x.txt">x.txt</a> 1\n</body></html>\n'
    srv = scripted({
        "/box": Reply(status=302, headers={"Location": "/box/"}, end="keep-alive"),
        "/box/": Reply(body=index, headers={"Content-Type": "text/html"}, end="keep-alive"),
    })
    with pytest.raises(RemoteIsFolder, match="/box is a folder"):
        _get(srv, client_context(), "/box", tmp_path / "box")
    _untouched(tmp_path / "box")


def test_cli_get_folder_without_r_exits_6(
    pki: TestPKI, tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", client_cert="none") as srv:
        (srv.root / "dir").mkdir()
        (srv.root / "dir" / "a.txt").write_bytes(b"a")
        code, _, err = run(capsys, "get", f"{srv.url}/dir", str(tmp_path / "out"), "--ca", str(pki.root_ca))
    assert code == ExitCode.REMOTE, err
    one_error(err, "/dir is a folder")
    assert "hint: use -r to copy a folder" in err
    assert not (tmp_path / "out").exists()


# -- item 6: listings are read with a cap ----------------------------------------------


def _endless(block: bytes, head: bytes = b"") -> Callable[[], Iterator[bytes]]:
    return lambda: itertools.chain([head], itertools.repeat(block))


@pytest.mark.parametrize(
    ("content_type", "body", "held"),
    [
        ("text/html", _endless(b"<p>" + b"padding " * 1000 + b"</p>\n", b"<html><body>"), 1),
        ("application/json", _endless(b" " * 8192, b"["), 1),
        # Here the entries themselves are what grows (about 250 bytes per 36-byte item); the cap
        # bounds them too.  Reading the page whole and then parsing it held ~20 times the cap.
        ("application/json", _endless(b'{"name":"f","type":"file","size":1},' * 200, b"["), 10),
    ],
    ids=["html", "json-whitespace", "json-items"],
)
def test_endless_index_stops_at_max_listing(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory,
    content_type: str, body: Callable[[], Iterator[bytes]], held: int,
) -> None:
    cap = 1 << 20  # (4 MiB of JSON items took 28 s under tracemalloc; the bound is the same at 1 MiB)
    srv = scripted({"/big/": Reply(headers={"Content-Type": content_type}, body=body, chunked=True)})
    with _adapter(srv, client_context(), max_listing=cap) as remote:
        tracemalloc.start()
        try:
            with pytest.raises(ListingTooLarge) as caught:
                remote.ls("/big")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "larger than 1 MiB" in str(caught.value) and "max_listing" in str(caught.value)
    assert caught.value.hint and "--max-listing" in caught.value.hint
    assert caught.value.exit_code == ExitCode.REMOTE
    # The reader stopped near the cap (socket buffers aside) and never held the page whole.
    assert srv.sent["/big/"] < cap + (8 << 20)
    assert peak < held * cap, f"peak {peak} bytes while reading a listing capped at {cap}"


def test_index_within_the_cap_is_read(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        for i in range(300):
            (srv.root / f"file-{i:03}.txt").write_bytes(b"x" * i)
        with _adapter(srv, client_context(), max_listing=1 << 20) as remote:
            entries = remote.ls("/")
        with _adapter(srv, client_context(), max_listing=1000) as remote, pytest.raises(ListingTooLarge):
            remote.ls("/")
    assert len(entries) == 300 and entries[299].size == 299


def test_json_index_parsed_in_any_split() -> None:
    body = (b'[{"name":"a b","type":"file","size":3,"mtime":"Sat, 28 Nov 2026 10:00:00 GMT"},\n'
            b'{"name":"sub","type":"directory"}, {"name":"\\u00e9t\\u00e9","type":"file","size":1}]')
    whole = parse_json_index(body, folder="/in")
    assert whole is not None and [e.name for e in whole] == ["a b", "sub", "été"]
    from xfer.adapters.https import _JSONIndexParser

    for step in (1, 2, 7, 50):
        parser = _JSONIndexParser(folder="/in")
        for i in range(0, len(body), step):
            assert parser.feed(body[i : i + step])
        assert parser.close() == whole
    assert parse_json_index(b'[{"name":"a"}', folder="/") is None  # cut: not a listing
    assert parse_json_index(b'{"name":"a"}', folder="/") is None
    assert parse_json_index(b"[1, 2]", folder="/") is None


def test_a_json_size_that_is_not_a_count_of_bytes_is_no_size() -> None:
    """true is a bool (an int subclass in Python) and -1 no length: neither is a file's size."""
    body = b'[{"name":"a","type":"file","size":true},{"name":"b","type":"file","size":-1},' \
           b'{"name":"c","type":"file","size":"3"},{"name":"d","type":"file","size":4}]'
    entries = parse_json_index(body, folder="/")
    assert entries is not None and [e.size for e in entries] == [None, None, None, 4]


def test_cut_listing_is_an_integrity_error(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory
) -> None:
    page = b"<html><body>" + b"".join(b'<a href="f%d">f%d</a> 1\n' % (i, i) for i in range(2000))
    srv = scripted({"/in/": Reply(headers={"Content-Type": "text/html"}, body=page, length=False, end="fin")})
    with _adapter(srv, client_context()) as remote, pytest.raises(IntegrityError, match="listing of /in"):
        remote.ls("/in")


# -- item 15: an upload does not depend on a listing ---------------------------------------


@pytest.mark.parametrize("how", ["server-403", "profile-index-none"])
def test_put_to_a_name_in_an_unlistable_folder(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, how: str
) -> None:
    index: Literal["json", "none"] = "none" if how == "server-403" else "json"
    options: dict[str, Any] = {"index": "none"} if how == "profile-index-none" else {}
    (tmp_path / "local.txt").write_bytes(b"payload")
    with HTTPSServer(pki, root=tmp_path / "srv", index=index) as srv:
        (srv.root / "drop").mkdir()
        with _adapter(srv, client_context(), **options) as remote:
            results = client.put(remote, [tmp_path / "local.txt"], "/drop/name.txt")
        assert (srv.root / "drop" / "name.txt").read_bytes() == b"payload"
    assert results[0].remote == "/drop/name.txt"


@pytest.mark.parametrize(("head", "digest", "done"), [
    (404, False, False), (403, False, False),
    (200, False, False),  # at its size: the file there before, of the same size, would be too
    (200, True, True),  # the server's SHA-256 of its copy is of these bytes
], ids=["gone", "denied", "sized", "hashed"])
def test_a_put_answered_202_accepted_is_done_only_if_the_servers_hash_proves_it(
    scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path, config: Path,
    capsys: pytest.CaptureFixture[str], head: int, digest: bool, done: bool,
) -> None:
    """``202 Accepted`` says the PUT is to be done later (found in review: reported as a finished
    upload, exit 0, when the HEAD after it found nothing; then, in the next review, when it found
    an older copy of the same size, and --remove-source-files deleted the source)."""
    data = b"x" * 1000
    stated = {"Repr-Digest": f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"} if digest else {}
    srv = scripted({"PUT /f.bin": Reply(status=202, reason="Accepted", body=b"queued\n"),
                    "HEAD /f.bin": Reply(status=head, body=data if head == 200 else b"", headers=stated)})
    (tmp_path / "f.bin").write_bytes(data)
    code, out, err = run(capsys, "put", str(tmp_path / "f.bin"), f"{srv.url}/f.bin", "--json", "--ca",
                         str(pki.root_ca), "--retries", "0", "--remove-source-files")
    if done:
        assert code == 0, err
        assert json.loads(out)[0]["verified"] == "sha256" and not (tmp_path / "f.bin").exists()
    else:
        assert code == ExitCode.REMOTE, err
        one_error(err, "the upload of /f.bin is not done (202 Accepted: to be done later)")
        assert (tmp_path / "f.bin").read_bytes() == data  # the source is kept


def _queued_three(folder: Path) -> dict[str, Reply]:
    """Three local files ``f0.txt``-``f2.txt`` in ``folder``, and a server's answers that queue
    each one's PUT to ``/in/`` (202) and then do not have it (HEAD 404)."""
    replies = {"HEAD /in/": Reply(status=200, body=b""),
               "/in/": Reply(status=200, body=b"<html></html>", headers={"Content-Type": "text/html"})}
    for n in range(3):
        replies[f"PUT /in/f{n}.txt"] = Reply(status=202, reason="Accepted", body=b"queued\n")
        replies[f"HEAD /in/f{n}.txt"] = Reply(status=404, body=b"")
        (folder / f"f{n}.txt").write_bytes(b"row %d\n" % n)
    return replies


def test_pipelined_puts_answered_202_are_never_sent_twice(
    scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path, config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A group of small files, each PUT answered 202 and not found after: each is said not done,
    and each was PUT once (found in review: the refusal sent the file again, alone)."""
    srv = scripted(_queued_three(tmp_path))
    code, _, err = run(capsys, "put", *[str(tmp_path / f"f{n}.txt") for n in range(3)], f"{srv.url}/in/",
                       "--ca", str(pki.root_ca), "--retries", "0")
    assert code == ExitCode.REMOTE, err
    for n in range(3):  # each file's own failure: the batch goes on to the next (found in review)
        assert f"the upload of /in/f{n}.txt is not done (202 Accepted" in err
    puts = [path for method, path in srv.requests if method == "PUT"]
    assert len(puts) == len(set(puts)), puts  # none twice


@pytest.mark.parametrize("stated", ["other-size", "other-hash"])
def test_a_202_never_removes_the_file_there_before(
    scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path, config: Path,
    capsys: pytest.CaptureFixture[str], stated: str,
) -> None:
    """After a 202 the HEAD shows the file there before: of another size, or hashing to another
    SHA-256.  It is no bad copy of this upload: never deleted (the queued PUT may land after it),
    the upload is not done (found in review: it was DELETEd as a failed upload)."""
    data, old = b"x" * 1000, (b"o" * 999 if stated == "other-size" else b"o" * 1000)
    digest = {"Repr-Digest": f"sha-256=:{base64.b64encode(hashlib.sha256(old).digest()).decode()}:"}
    srv = scripted({"PUT /f.bin": Reply(status=202, reason="Accepted", body=b"queued\n"),
                    "HEAD /f.bin": Reply(status=200, body=old, headers=digest)})
    (tmp_path / "f.bin").write_bytes(data)
    code, _, err = run(capsys, "put", str(tmp_path / "f.bin"), f"{srv.url}/f.bin", "--ca", str(pki.root_ca),
                       "--retries", "0", "--remove-source-files")
    assert code == ExitCode.REMOTE, err
    one_error(err, "the upload of /f.bin is not done (202 Accepted: to be done later)")
    assert ("DELETE", "/f.bin") not in srv.requests
    assert (tmp_path / "f.bin").read_bytes() == data


def test_pipelined_puts_answered_202_under_checksum_are_never_sent_twice(
    scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path, config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--checksum and no hash from the server: a 202 is "not done", not "no checksum ... the file
    is on the server" (found in review: that IntegrityError sent each file again, alone)."""
    srv = scripted(_queued_three(tmp_path))
    code, _, err = run(capsys, "put", *[str(tmp_path / f"f{n}.txt") for n in range(3)], f"{srv.url}/in/",
                       "--ca", str(pki.root_ca), "--retries", "0", "--checksum")
    assert code == ExitCode.REMOTE, err
    assert "not done (202 Accepted" in err and "gave no checksum" not in err
    puts = [path for method, path in srv.requests if method == "PUT"]
    assert sorted(puts) == ["/in/f0.txt", "/in/f1.txt", "/in/f2.txt"]


def test_a_202_refusal_kept_for_an_upload_alone_does_not_outlive_its_batch(
    scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI, client_context: ContextFactory, tmp_path: Path,
) -> None:
    """The batch goes on past a 202 (each file's own failure), so each refusal a group kept is
    raised by its file's upload alone: a later upload of that name on the same connection is sent
    (found in review: a batch stopped at the first, and the second file's kept refusal failed a
    later put of it without a request)."""
    srv = scripted(_queued_three(tmp_path))
    with _adapter(srv, client_context()) as remote:
        with pytest.raises(FilesFailed) as failed:
            client.put(remote, [tmp_path / f"f{n}.txt" for n in range(3)], "/in/")
        assert len(failed.value.failures) == 3
        srv.replies["PUT /in/f2.txt"] = Reply(status=201, body=b"")
        srv.replies["HEAD /in/f2.txt"] = Reply(status=200, body=b"row 2\n")
        assert remote.put_file(tmp_path / "f2.txt", "/in/f2.txt").size == 6
    assert [path for method, path in srv.requests if method == "PUT"].count("/in/f2.txt") == 2


@pytest.mark.parametrize(("options", "digests", "done"), [
    ({}, ("repr-digest",), True), ({}, (), False), ({"verify_upload": False}, ("repr-digest",), True),
], ids=["hashed", "sized-only", "unchecked-hashed"])
def test_a_put_stored_at_once_and_answered_202(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, options: dict[str, Any],
    digests: tuple[str, ...], done: bool,
) -> None:
    """A server that stores the file at once and says "Accepted": done where its hash of the copy
    proves these bytes (asked for a 202 even where uploads are not checked); a size alone leaves it
    not done."""
    (tmp_path / "f.bin").write_bytes(b"x" * 5000)
    with HTTPSServer(pki, root=tmp_path / "srv", put_status=202, digests=digests) as srv:
        with _adapter(srv, client_context(), **options) as remote:
            if done:
                assert remote.put_file(tmp_path / "f.bin", "/f.bin").verified == "sha256"
                with remote.open_write("/s.bin") as writer:
                    writer.write(b"y" * 3000)
                assert writer.result is not None and writer.result.verified == "sha256"
            else:
                with pytest.raises(RemoteNotDone, match=r"not done \(202 Accepted"):
                    remote.put_file(tmp_path / "f.bin", "/f.bin")
                with pytest.raises(RemoteNotDone), remote.open_write("/s.bin") as writer:
                    writer.write(b"y" * 3000)


def test_a_stream_put_answered_202_accepted_is_not_done(
    scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI, client_context: ContextFactory,
) -> None:
    srv = scripted({"PUT /s.bin": Reply(status=202, reason="Accepted", body=b"queued\n"),
                    "HEAD /s.bin": Reply(status=404, body=b"")})
    with _adapter(srv, client_context()) as remote:
        with pytest.raises(RemoteError, match=r"not done \(202 Accepted"), remote.open_write("/s.bin") as writer:
            writer.write(b"streamed")


def test_info_uses_head_not_the_listing(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", index="none") as srv:
        (srv.root / "d").mkdir()
        (srv.root / "d" / "f").write_bytes(b"12345")
        with _adapter(srv, client_context()) as remote:
            assert remote.info("/d/f").size == 5 and remote.info("/d/f").type == "file"
            assert remote.info("/d").is_dir
            with pytest.raises(RemoteNotFound):
                remote.info("/d/missing")
            with pytest.raises(UnsupportedOperation):
                remote.ls("/d")  # listing stays refused: only info no longer needs it


# -- item 16: parent folders on put ----------------------------------------------------


def test_put_creates_parents_where_the_server_does(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"deep")
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv, client_context()) as remote:
        remote.put_file(tmp_path / "f", "/a/b/c/f")
        assert (srv.root / "a" / "b" / "c" / "f").read_bytes() == b"deep"


def test_put_into_a_missing_folder_says_so(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "f").write_bytes(b"deep")
    with HTTPSServer(pki, root=tmp_path / "srv", create_parents=False, client_cert="none") as srv:
        with _adapter(srv, client_context()) as remote, pytest.raises(RemoteNotFound) as caught:
            remote.put_file(tmp_path / "f", "/missing/sub/f")
        assert "the folder /missing/sub does not exist" in str(caught.value) and "409" in str(caught.value)
        assert caught.value.hint and "davs://" in caught.value.hint
        code, _, err = run(capsys, "put", str(tmp_path / "f"), f"{srv.url}/missing/f", "--ca", str(pki.root_ca))
        assert code == ExitCode.REMOTE, err
        one_error(err, "the folder /missing does not exist")
        assert not (srv.root / "missing").exists()


# -- siblings: uploads and deletes never follow redirects ----------------------------------


def test_redirected_put_and_delete_are_errors(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"new content")
    with HTTPSServer(pki, root=tmp_path / "srv", redirects={"/moved.bin": "/other.bin"}) as srv:
        (srv.root / "other.bin").write_bytes(b"someone else's file")
        with _adapter(srv, client_context()) as remote:
            # requests would re-send a PUT/DELETE answered 302 as a GET of /other.bin (200: "done").
            with pytest.raises(RemoteError, match="302"):
                remote.put_file(tmp_path / "f", "/moved.bin")
            with pytest.raises(RemoteError, match="302"):
                remote.rm("/moved.bin")
        assert [(r.method, r.path) for r in srv.requests] == [("PUT", "/moved.bin"), ("DELETE", "/moved.bin")]
        assert (srv.root / "other.bin").read_bytes() == b"someone else's file"


def test_endless_answer_to_put_is_not_read_into_memory(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    endless = Reply(status=201, body=_endless(b"y" * 65536), chunked=True)
    srv = scripted({"/f": endless, "/g": Reply(status=201, body=b"created", end="keep-alive")})
    with _adapter(srv, client_context(), verify_upload=False) as remote:
        remote.put_file(tmp_path / "f", "/f")
        remote.put_file(tmp_path / "f", "/g")
    assert srv.sent.get("/f", 0) < 32 << 20  # old code read the endless answer whole


def test_put_conflict_with_an_existing_parent_is_not_called_missing(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv, client_context()) as remote:
        (srv.root / "a" / "dir").mkdir(parents=True)
        with pytest.raises(RemoteError) as caught:
            remote.put_file(tmp_path / "f", "/a/dir")  # 409: the name is a folder
    assert not isinstance(caught.value, RemoteNotFound)
    assert "does not exist" not in str(caught.value) and "409" in str(caught.value)


def test_answers_left_unread_never_poison_the_pool(
    scripted: Callable[..., ScriptedHTTPSServer], client_context: ContextFactory, tmp_path: Path
) -> None:
    """A 204 without length (nginx overwriting a file) is complete; a large chunked answer left
    unread must close its connection, or the next request reads its leftovers as a response."""
    (tmp_path / "f").write_bytes(b"x")
    srv = scripted({
        "/overwrite": Reply(status=204, length=False, end="keep-alive"),
        "/chatty": Reply(status=201, body=[b"z" * 65536] * 16, chunked=True, end="keep-alive"),
        "/file": Reply(body=b"the file", end="keep-alive"),
    })
    with _adapter(srv, client_context()) as remote:  # the size check HEADs right after the PUT
        remote.put_file(tmp_path / "f", "/overwrite")
        remote.get_file("/file", tmp_path / "one")
        remote.put_file(tmp_path / "f", "/chatty")
        remote.get_file("/file", tmp_path / "two")
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes() == b"the file"
    assert srv.connections == 2  # reused after the 204, given up after the unread answer


# -- listed names that are the folder or its parent ---------------------------------------------

_HTML = {"Content-Type": "text/html"}
_PARENT_PAGES = {
    "html": b'<a href="report.csv">report.csv</a> 5\n<a href="..//">..</a>\n<a href=".//">.</a>\n',
    "json": b'[{"name":"report.csv","type":"file","size":5},{"name":"","type":"directory"},'
            b'{"name":"..","type":"directory"}]',
}
_PARENT_AS_ENTRY = {
    "html": Reply(headers=_HTML, body=_PARENT_PAGES["html"]),
    "json": Reply(headers={"Content-Type": "application/json"}, body=_PARENT_PAGES["json"]),
}


@pytest.mark.parametrize("index", sorted(_PARENT_AS_ENTRY))
def test_a_glob_download_never_leaves_the_destination_through_a_listed_parent(
    capsys: pytest.CaptureFixture[str], scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI,
    tmp_path: Path, index: str,
) -> None:
    """An index listing ``..//`` (HTML) or an empty name (JSON).  Before: ``get -r 'URL/out/*' dest/``
    made an entry ``..``, downloaded the server's root into the destination's parent and replaced
    a file there (exit 0)."""
    srv = scripted({"/out/": _PARENT_AS_ENTRY[index], "/out/report.csv": Reply(body=b"hello"),
                    "/": Reply(headers=_HTML, body=b'<a href="pwned.txt">pwned.txt</a> 6\n'),
                    "/pwned.txt": Reply(body=b"PWNED\n"), "/out": Reply(headers=_HTML, body=b"")})
    home = tmp_path / "home"
    dest = home / "incoming"
    dest.mkdir(parents=True)
    (home / "pwned.txt").write_bytes(OLD)
    code, _, err = run(capsys, "get", "-r", f"{srv.url}/out/*", f"{dest}/", "--ca", str(pki.root_ca))
    assert code == ExitCode.OK, err
    assert (home / "pwned.txt").read_bytes() == OLD
    assert sorted(p.name for p in dest.iterdir()) == ["report.csv"]
    assert ("GET", "/pwned.txt") not in srv.requests


@pytest.mark.parametrize("index", sorted(_PARENT_AS_ENTRY))
def test_a_glob_removal_never_reaches_the_folder_or_its_parent(
    capsys: pytest.CaptureFixture[str], scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI, index: str,
) -> None:
    """Before: ``rm -r 'URL/a/b/*'`` sent ``DELETE /a`` (HTML ``..//``) or ``DELETE /a/b`` (JSON ``""``)."""
    srv = scripted({"/a/b/": _PARENT_AS_ENTRY[index], "DELETE *": Reply(status=204)})
    code, _, err = run(capsys, "rm", "-r", f"{srv.url}/a/b/*", "--ca", str(pki.root_ca))
    assert code == ExitCode.OK, err
    assert [path for method, path in srv.requests if method == "DELETE"] == ["/a/b/report.csv"]


def test_the_index_parsers_never_make_an_entry_of_the_folder_or_its_parent() -> None:
    """The parsers themselves, below the adapter's own guard (Adapter._entries)."""
    html = parse_html_index(_PARENT_PAGES["html"].decode(), folder="/out")
    listed = parse_json_index(_PARENT_PAGES["json"], folder="/out")
    assert html is not None and listed is not None
    assert [entry.path for entry in html] == ["/out/report.csv"]
    assert [entry.path for entry in listed] == ["/out/report.csv"]


@pytest.mark.parametrize("scheme", ["https", "davs"])
def test_a_redirect_to_a_malformed_url_is_the_servers_error_not_a_usage_error(
    capsys: pytest.CaptureFixture[str], scripted: Callable[..., ScriptedHTTPSServer], pki: TestPKI,
    tmp_path: Path, scheme: str,
) -> None:
    """``Location: https://host:1:2/`` (no valid port).  Before: exit 2, as if the user had typed it."""
    moved = Reply(status=302, headers={"Location": "https://127.0.0.1:1:2/f"})
    srv = scripted({"/f": moved, "PROPFIND *": moved, "OPTIONS *": moved})
    url = srv.url.replace("https://", f"{scheme}://")
    code, _, err = run(capsys, "get", f"{url}/f", str(tmp_path / "f"), "--ca", str(pki.root_ca), "--retries", "0")
    assert code == ExitCode.REMOTE, err
    one_error(err, "redirected to https://127.0.0.1:1:2/f")
    assert not (tmp_path / "f").exists()


def test_rm_without_r_never_removes_a_folder_on_a_webdav_capable_server(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Review I: an RFC 4918 server deletes a collection whole, slash or not (only nginx answers
    409), so https:// rm without -r removed a whole tree, exit 0.  It now goes with Depth: 0,
    which such a server refuses for a collection."""
    from xfer.testing.webdav_server import WebDAVServer

    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "cfg"))
    root = tmp_path / "r"
    (root / "box" / "sub").mkdir(parents=True)
    (root / "box" / "a.edi").write_text("a")
    (root / "box" / "sub" / "b.edi").write_text("b")
    (root / "f.edi").write_text("f")
    flags = ["--ca", str(pki.root_ca), "--identity", str(pki.client_p12),
             "--identity-password", f"file:{pki.password_file}"]
    with WebDAVServer(pki, root=root) as srv:
        url = srv.https_url.rstrip("/")
        code, _, err = run(capsys, "rm", f"{url}/box", *flags)
        assert code != 0 and "-r" in err, err
        assert (root / "box" / "a.edi").exists() and (root / "box" / "sub" / "b.edi").exists()
        code, _, err = run(capsys, "rm", f"{url}/f.edi", *flags)  # a file still goes
        assert code == 0, err
        assert not (root / "f.edi").exists()


_MULTISTATUS = (b'<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:"><D:response>'
                b"<D:href>/box/locked.txt</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response>"
                b"</D:multistatus>")


@pytest.mark.parametrize("status", [207, 202, 203])
def test_a_delete_answered_207_or_202_is_no_removal(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    """Review I: 207 Multi-Status (a member was not removed, RFC 4918) and 202 Accepted (not yet
    done) were reported as removed, exit 0.  A DELETE alone is done only as a pipelined one is
    (200 or 204, http_removal.DELETED): a 203 was a removal here and "not done" there."""
    from xfer.testing import https_server

    def answer(handler: Any) -> None:
        if handler._gate() is None:
            return
        body = _MULTISTATUS if status == 207 else b""
        handler.send_response(status)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    monkeypatch.setattr(https_server._Handler, "do_DELETE", answer)
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "cfg"))
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        (srv.root / "box").mkdir()
        (srv.root / "box" / "locked.txt").write_text("l")
        code, _, err = run(capsys, "rm", "-r", f"{srv.url}/box", "--ca", str(pki.root_ca),
                           "--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}")
    assert code == 6, err
    assert f"not done ({status}" in err
