"""HTTPS answers that name a range, a transfer coding or a stored size the client must not take
on trust: a resumed download's ``206``, a ranged read's ``206``, ``Transfer-Encoding`` other
than ``chunked`` alone, and an upload whose stored size differs from what was sent.

Each hostile answer is a :class:`ScriptedHTTPSServer` reply; the well-behaved variant beside it
proves the client still accepts what it should.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import ExitCode, IntegrityError
from xfer.identity import Identity
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

from .helpers import one_error, run

DATA = bytes(range(256)) * 4000  # 1,024,000 bytes
NEW = bytes(reversed(DATA))  # the file after it changed on the server: same size, other bytes
KEPT = 300_000  # what the first, cut run leaves in the part file
V1 = {"ETag": '"v1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}
REST = f"bytes {KEPT}-{len(DATA) - 1}/{len(DATA)}"


@pytest.fixture
def scripted(pki: TestPKI) -> Iterator[Callable[[dict[str, Reply]], ScriptedHTTPSServer]]:
    started: list[ScriptedHTTPSServer] = []

    def make(replies: dict[str, Reply]) -> ScriptedHTTPSServer:
        srv = ScriptedHTTPSServer(pki, replies).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def _flags(pki: TestPKI) -> list[str]:
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca), "--retries", "0"]


def _resumed(scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
             capsys: pytest.CaptureFixture[str], ranged: Reply, whole: bytes,
             validators: dict[str, str] = V1) -> tuple[int, str, str, list[bytes]]:
    """A first run cut after :data:`KEPT` bytes (the part stays; the 200 carried ``validators``), then
    ``get --resume`` whose Range request is answered with ``ranged`` and a plain GET with ``whole``;
    the second run's code, stdout, stderr, and the heads of its requests."""
    srv = scripted({"/f.bin": Reply(body=DATA[:KEPT], announce=len(DATA), headers=validators, end="fin")})
    target = tmp_path / "f.bin"
    code, _, err = run(capsys, "get", f"{srv.url}/f.bin", str(target), "--resume", *_flags(pki))
    assert code == ExitCode.INTEGRITY, err  # cut inside Content-Length
    assert (tmp_path / ".f.bin.xfer-part").stat().st_size == KEPT
    srv.replies = {"RANGE /f.bin": ranged, "/f.bin": Reply(body=whole, headers=V1)}
    before = len(srv.heads)
    code, out, err = run(capsys, "get", f"{srv.url}/f.bin", str(target), "--resume", "--json", *_flags(pki))
    return code, out, err, srv.heads[before:]


@pytest.mark.parametrize(("ranged", "warning"), [
    (Reply(status=206, body=DATA[KEPT:KEPT + 100], headers={
        **V1, "Content-Range": f"bytes {KEPT}-{KEPT + 99}/{len(DATA)}"}), "sent only part of the rest"),
    (Reply(status=206, body=DATA[KEPT:], headers={
        **V1, "Content-Range": f"bytes {KEPT}-{len(DATA) - 1}/*"}), "did not say how long the file is"),
    (Reply(status=206, body=DATA[KEPT:KEPT + 1000], headers={
        **V1, "Content-Range": REST}), "does not hold the range it names"),
    (Reply(status=206, body=NEW[KEPT:], headers={
        "ETag": '"v2"', "Content-Range": REST}), 'ETag "v1" -> "v2"'),
    (Reply(status=206, body=NEW[KEPT:], headers={
        "Last-Modified": "Tue, 02 Jan 2024 00:00:00 GMT", "Content-Range": REST}), "Last-Modified"),
    # If-Range ignored (by the server or a cache), and the 206 restates no validator: before, v1's
    # part and v2's rest were spliced into one file and saved with exit 0.
    (Reply(status=206, body=NEW[KEPT:], headers={"Content-Range": REST}),
     "does not restate the part's ETag"),
], ids=["part-of-the-rest", "size-not-said", "length-not-the-range", "another-etag", "another-date",
        "no-validator"])
def test_a_206_that_does_not_continue_the_part_starts_over(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], ranged: Reply, warning: str,
) -> None:
    """Before: each of these was joined to the part and saved with exit 0 (a short file, or two
    versions spliced) and ``"verified": "size"``."""
    code, out, err, heads = _resumed(scripted, pki, tmp_path, capsys, ranged, NEW)
    assert code == 0, err
    assert (tmp_path / "f.bin").read_bytes() == NEW  # the whole file as the server has it now
    assert warning in err
    # The ranged answer was set aside and the whole file asked for, without a Range.
    assert [b"range:" in head.lower() for head in heads] == [True, False]
    [item] = json.loads(out)
    assert item["size"] == len(NEW)
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_206_with_the_rest_of_the_same_file_resumes(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The well-behaved answer: the rest, named in full, of the version the part came from."""
    code, out, err, heads = _resumed(scripted, pki, tmp_path, capsys,
                                     Reply(status=206, body=DATA[KEPT:], headers={**V1, "Content-Range": REST}),
                                     NEW)
    assert code == 0, err
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert len(heads) == 1 and b"range: bytes=300000-" in heads[0].lower()
    [item] = json.loads(out)
    assert item["verified"] == "size" and item["size"] == len(DATA)


def test_a_206_sent_in_chunks_proves_the_whole_file_by_its_range(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No Content-Length: the size the range names is what the finished file is checked against."""
    ranged = Reply(status=206, body=[DATA[KEPT:600_000], DATA[600_000:]], chunked=True,
                   headers={**V1, "Content-Range": REST})
    code, out, err, _ = _resumed(scripted, pki, tmp_path, capsys, ranged, NEW)
    assert code == 0, err
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert json.loads(out)[0]["verified"] == "size"


def _adapter(srv: ScriptedHTTPSServer, pki: TestPKI) -> HTTPSAdapter:
    context = create_ssl_context(Identity.load(pki.client_p12, pki.password), ca=pki.root_ca)
    settings = ConnectionSettings(scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=context,
                                  timeout=10, retries=0)
    return HTTPSAdapter(settings)


FILE = bytes(range(100)) * 10  # 1,000 bytes


def _range_reply(first: int, last: int, size: str = str(len(FILE)), body: bytes | None = None) -> Reply:
    return Reply(status=206, body=FILE[first:last + 1] if body is None else body,
                 headers={"Content-Range": f"bytes {first}-{last}/{size}"})


@pytest.mark.parametrize(("asked", "answer"), [
    ((0, 100), _range_reply(0, 9)),  # less than asked of a longer file
    ((500, None), _range_reply(500, 899)),  # "to the end", and it does not end there
    ((500, None), _range_reply(500, 999, size="*")),  # "to the end", and the size is not said
    ((0, 100), _range_reply(0, 99, body=FILE[:50])),  # a body shorter than its range
    ((0, 100), _range_reply(10, 109)),  # another start
], ids=["less-than-asked", "not-to-the-end", "size-not-said", "short-body", "another-start"])
def test_a_ranged_read_refuses_a_range_short_of_what_was_asked(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI,
    asked: tuple[int, int | None], answer: Reply,
) -> None:
    srv = scripted({"RANGE /f.bin": answer})
    with _adapter(srv, pki) as adapter, pytest.raises(IntegrityError):
        adapter.read_range("/f.bin", *asked)


@pytest.mark.parametrize(("asked", "answer", "expected"), [
    ((10, 10), _range_reply(10, 19), FILE[10:20]),
    ((990, 100), _range_reply(990, 999), FILE[990:]),  # the file ends first: the range says so
    ((500, None), _range_reply(500, 999), FILE[500:]),
    ((0, 10), _range_reply(0, 99), FILE[:10]),  # more than asked: cut to what was asked
], ids=["as-asked", "file-ends-first", "to-the-end", "more-than-asked"])
def test_a_ranged_read_takes_a_range_that_holds_what_was_asked(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI,
    asked: tuple[int, int | None], answer: Reply, expected: bytes,
) -> None:
    srv = scripted({"RANGE /f.bin": answer})
    with _adapter(srv, pki) as adapter:
        assert adapter.read_range("/f.bin", *asked) == expected


TEXT = b"hello world, this is the file\n" * 3000


def _chunk_framed(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


@pytest.mark.parametrize(("coding", "body"), [
    ("gzip, chunked", _chunk_framed(gzip.compress(TEXT))),  # chunked is the last coding: legal, not decoded
    ("Chunked ", _chunk_framed(TEXT)),  # a stray blank: http.client would read it as close-delimited
    ("gzip", gzip.compress(TEXT)),
], ids=["gzip-then-chunked", "chunked-with-a-blank", "gzip"])
def test_a_body_in_another_transfer_coding_is_refused_and_nothing_saved(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], coding: str, body: bytes,
) -> None:
    """Before: the first two were saved with exit 0, chunk-size lines and all."""
    srv = scripted({"/f.txt": Reply(body=body, length=False, headers={"Transfer-Encoding": coding})})
    code, _, err = run(capsys, "get", f"{srv.url}/f.txt", str(tmp_path / "f.txt"), *_flags(pki))
    assert code == ExitCode.INTEGRITY
    one_error(err, "transfer coding", "nothing was saved")
    assert list(tmp_path.iterdir()) == []
    with _adapter(srv, pki) as adapter, pytest.raises(IntegrityError, match="transfer coding"):
        adapter.read_range("/f.txt", 0, 10)


def test_a_chunked_body_is_saved(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = scripted({"/f.txt": Reply(body=[TEXT[:1000], TEXT[1000:]], chunked=True)})
    code, _, err = run(capsys, "get", f"{srv.url}/f.txt", str(tmp_path / "f.txt"), *_flags(pki))
    assert code == 0, err
    assert (tmp_path / "f.txt").read_bytes() == TEXT


def _stored(size: int, **headers: Any) -> Reply:
    """A HEAD's answer: a file of ``size`` bytes."""
    return Reply(announce=size, headers=headers, end="keep-alive")


@pytest.mark.parametrize("scheme", ["https", "davs"])
def test_an_upload_the_server_stored_at_another_size_is_deleted(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], scheme: str,
) -> None:
    """As on a hash mismatch: the copy the server says is not the upload does not stay under the
    final name (davs: after the MOVE, the file is certainly ours).  Before: left in place."""
    source = tmp_path / "report.csv"
    source.write_bytes(b"x" * 5000)
    srv = scripted({
        "PUT *": Reply(status=201, end="keep-alive"),
        "MOVE *": Reply(status=201, end="keep-alive"),
        "HEAD /in/": Reply(status=200, end="keep-alive"),
        "HEAD *": _stored(4000),
        "DELETE *": Reply(status=204, end="keep-alive"),
    })
    url = srv.url.replace("https://", f"{scheme}://") + "/in/report.csv"
    code, _, err = run(capsys, "put", str(source), url, *_flags(pki))
    assert code == ExitCode.INTEGRITY
    one_error(err, "has 4000 bytes on the server after uploading 5000", "the server's copy was deleted")
    assert ("DELETE", "/in/report.csv") in srv.requests


def test_an_upload_stored_at_its_size_stays(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "report.csv"
    source.write_bytes(b"x" * 5000)
    srv = scripted({"PUT *": Reply(status=201, end="keep-alive"), "HEAD *": _stored(5000)})
    code, _, err = run(capsys, "put", str(source), f"{srv.url}/in/report.csv", *_flags(pki))
    assert code == 0, err
    assert not any(method == "DELETE" for method, _ in srv.requests)


# -- a read pinned to the version seen at open (If-Match) ---------------------------------------------


def test_a_server_that_refuses_its_own_etag_is_read_unpinned(pki: TestPKI, tmp_path: Path) -> None:
    """A WebDAV server whose GET refuses every If-Match (a balancer's nodes with their own ETags; a
    listing's ETag no GET matches) while it still states that ETag: the read goes unpinned, it does
    not fail for ever as 'changed'.  A file really changed still fails."""
    from xfer.testing.webdav_server import RecordedRequest, WebDAVServer
    from xfer.testing.webdav_server import Reply as DAVReply

    def refuse_if_match(request: RecordedRequest) -> DAVReply | None:
        if request.method == "GET" and "If-Match" in request.headers:
            return DAVReply(412, b"no\n")
        return None

    context = create_ssl_context(Identity.load(pki.client_p12, pki.password), ca=pki.root_ca)
    data = bytes(range(256)) * 40
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "f.bin").write_bytes(data)
    with WebDAVServer(pki, root=tmp_path / "srv", intercept=refuse_if_match) as srv, srv.adapter(context) as remote:
        etag = remote.info("/f.bin").extra.get("etag")
        assert etag, "the listing states an ETag"
        assert remote.read_range("/f.bin", 100, 50, version=str(etag)) == data[100:150]
        with pytest.raises(IntegrityError, match="changed while it was read"):
            remote.read_range("/f.bin", 100, 50, version='"another-version"')


def test_a_part_known_by_its_date_alone_continues_on_a_206_without_one(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Review N, finding 4: a server with no ETag sends If-Range's date back on a 200, and (RFC
    9110 15.3.7: after If-Range other fields SHOULD NOT be sent) no Last-Modified on the 206.  That
    206 was taken for another version, and the whole file came again on every run."""
    dated = {"Last-Modified": V1["Last-Modified"], "Date": "Mon, 01 Jan 2024 00:00:05 GMT"}
    code, _, err, heads = _resumed(scripted, pki, tmp_path, capsys,
                                   Reply(status=206, body=DATA[KEPT:], headers={"Content-Range": REST}), NEW,
                                   validators=dated)
    assert code == 0, err
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert len(heads) == 1 and b"if-range: mon, 01 jan 2024" in heads[0].lower()


def test_a_part_continued_on_a_206_without_validators_can_be_continued_again(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 206 need not repeat Last-Modified (RFC 9110 15.3.7): the part kept the facts of that 206,
    lost its date, and a second cut started over from 0 (found in review)."""
    dated = {"Last-Modified": V1["Last-Modified"], "Date": "Mon, 01 Jan 2024 00:00:05 GMT"}
    srv = scripted({"/f.bin": Reply(body=DATA[:KEPT], announce=len(DATA), headers=dated, end="fin")})
    target, more = tmp_path / "f.bin", 200_000
    code, _, err = run(capsys, "get", f"{srv.url}/f.bin", str(target), "--resume", *_flags(pki))
    assert code == ExitCode.INTEGRITY, err
    srv.replies = {"RANGE /f.bin": Reply(status=206, body=DATA[KEPT:KEPT + more], announce=len(DATA) - KEPT, end="fin",
                                         headers={"Content-Range": REST, "Date": "Mon, 01 Jan 2024 00:01:00 GMT"})}
    code, _, err = run(capsys, "get", f"{srv.url}/f.bin", str(target), "--resume", *_flags(pki))
    assert code == ExitCode.INTEGRITY, err  # cut again
    assert (tmp_path / ".f.bin.xfer-part").stat().st_size == KEPT + more
    rest = f"bytes {KEPT + more}-{len(DATA) - 1}/{len(DATA)}"
    srv.replies = {"RANGE /f.bin": Reply(status=206, body=DATA[KEPT + more:], headers={"Content-Range": rest})}
    before = len(srv.heads)
    code, _, err = run(capsys, "get", f"{srv.url}/f.bin", str(target), "--resume", *_flags(pki))
    assert code == 0, err
    assert target.read_bytes() == DATA
    assert f"range: bytes={KEPT + more}-".encode() in srv.heads[before].lower()


@pytest.mark.parametrize("date", ["Mon, 01 Jan 2024 00:00:00 GMT", None], ids=["same-second", "no-date"])
def test_a_part_dated_within_a_second_of_its_answer_starts_over(
    scripted: Callable[[dict[str, Reply]], ScriptedHTTPSServer], pki: TestPKI, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], date: str | None,
) -> None:
    """A Last-Modified no earlier than a second before the answer's Date is weak (RFC 9110 8.8.2.2):
    the file may have been written again within that second with the same date.  Sent in If-Range,
    a server honouring it sent the rest of the new version, joined to the old part, exit 0 with the
    sizes matching (found in review).  Such a part (or one saved with no Date) is not continued."""
    dated = {"Last-Modified": V1["Last-Modified"], **({"Date": date} if date else {})}
    ranged = Reply(status=206, body=NEW[KEPT:], headers={"Last-Modified": V1["Last-Modified"], "Content-Range": REST})
    code, _, err, heads = _resumed(scripted, pki, tmp_path, capsys, ranged, NEW, validators=dated)
    assert code == 0, err
    assert (tmp_path / "f.bin").read_bytes() == NEW
    assert all(b"range:" not in head.lower() for head in heads)
