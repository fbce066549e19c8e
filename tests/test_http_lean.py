"""Small HEAD/PUT/DELETE requests on open pooled connections without http.client (issue 14).

:mod:`xfer.http_lean` writes a request and parses its answer itself.  These tests hold it to
what urllib3 sends (byte for byte) and to what requests answers (status, headers, cookies,
errors), and walk the legal answer shapes a server may choose: interim answers, a closing
answer, large and chunked error bodies, a connection the server dropped while idle, and
broken answers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import requests
from requests.structures import CaseInsensitiveDict

import xfer.http_lean
import xfer.http_session
from xfer import connect
from xfer.errors import RemotePermissionDenied, XferError
from xfer.http_lean import LEAN_BODY_LIMIT, PIPELINED_GET_LIMIT, Fields, body_left_unread, exchange, request_target
from xfer.http_session import XferSession, create_session, skip_large_body
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

KEEP: Final = "keep-alive"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def scripted(pki: TestPKI, client_context: Callable[..., XferSSLContext]) -> Iterator[
    Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]]
]:
    """A scripted server and a lean session for it (as HTTPTransfer sets one up)."""
    servers: list[ScriptedHTTPSServer] = []

    def start(replies: dict[str, Reply]) -> tuple[ScriptedHTTPSServer, XferSession]:
        server = ScriptedHTTPSServer(pki, {"/open": Reply(status=204, end=KEEP), **replies}).start()
        servers.append(server)
        session = create_session(client_context(), server=f"127.0.0.1:{server.port}")
        session.hooks["response"].append(skip_large_body)
        session.lean_requests = True
        # The first request opens the connection the long way (urllib3); later ones may be lean.
        session.head(session.url_for("/open"), allow_redirects=False)
        assert session.lean_answers == 0
        return server, session

    yield start
    for server in servers:
        server.stop()


def test_a_lean_request_is_the_bytes_urllib3_sends(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """Each request twice, once on a new connection (urllib3) and once on an open one (lean): same bytes."""
    replies = {path: Reply(status=204, end=KEEP) for path in ("/a%20b.txt", "/x%3By%3D1", "/e")}
    server, session = scripted(replies)
    session.auth = ("user", "pässword")
    calls: list[Callable[[], object]] = [
        lambda: session.put(session.url_for("/a b.txt"), data=b"0123", allow_redirects=False,
                            headers={"Content-Type": "application/octet-stream"}),
        lambda: session.put(session.url_for("/e"), data=b"", allow_redirects=False),
        lambda: session.head(session.url_for("/a b.txt"), headers={"Accept-Encoding": "identity"},
                             allow_redirects=False),
        lambda: session.delete(session.url_for("/x;y=1") + "?q=a&b=%2F", allow_redirects=False),
    ]
    for call in calls:
        session.close()  # the next request opens a new connection: urllib3 writes it
        call()
        lean_before = session.lean_answers
        call()
        assert session.lean_answers == lean_before + 1
        assert server.heads[-1] == server.heads[-2]
        assert b"Authorization: Basic " in server.heads[-1]
    assert server.connections == len(calls) + 1  # each close() closed the connection


def test_small_uploads_and_their_checks_go_the_lean_way(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``put`` of small files: after the first request, each PUT and HEAD is answered on the lean
    path, the two in one write (pipelined)."""
    writes: list[list[str | None]] = []

    def spied(pool: Any, requests_: Any, **kwargs: Any) -> Any:
        writes.append([request.method for request in requests_])
        return exchange(pool, requests_, **kwargs)

    monkeypatch.setattr(xfer.http_session, "exchange", spied)
    sources = tmp_path / "out"
    sources.mkdir()
    for number in range(5):
        (sources / f"f{number}.bin").write_bytes(bytes([number]) * (1000 + number))
    (sources / "big.bin").write_bytes(b"b" * (LEAN_BODY_LIMIT + 1))
    with HTTPSServer(pki, root=tmp_path / "srv") as server:
        with connect(server.url + "/", identity=str(pki.client_p12), identity_password=f"file:{pki.password_file}",
                     ca=str(pki.root_ca)) as remote:
            for source in sorted(sources.iterdir()):
                result = remote.put_file(str(source), f"/in/{source.name}")
                assert result.size_verified
            session = remote.http.session  # type: ignore[attr-defined]
            # Every request but the large file's PUT (the first: it opened the connection, and is streamed).
            assert session.lean_answers == len(server.requests) - 1 == 11
    # The large file's PUT was streamed the long way (it opened the connection), its HEAD alone.
    assert writes == [["HEAD"]] + [["PUT", "HEAD"]] * 5
    for source in sources.iterdir():
        assert (tmp_path / "srv" / "in" / source.name).read_bytes() == source.read_bytes()


def test_interim_answers_are_skipped(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    _, session = scripted({"/f": Reply(status=201, interim=(100, 103), body=b"made\n", end=KEEP)})
    response = session.put(session.url_for("/f"), data=b"x", allow_redirects=False)
    assert (response.status_code, response.content, session.lean_answers) == (201, b"made\n", 1)
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert session.lean_answers == 2  # the connection stayed usable


def test_heads_with_bare_line_feeds_are_read(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """Lines ending in LF alone (RFC 9112 2.2 lets recipients accept them; http.client does)."""
    headers = {"X-One": "1", "ETag": '"e"'}
    answer = Reply(status=201, headers=headers, body=b"made", interim=(100,), bare_lf=True, end=KEEP)
    server, session = scripted({"/lf": answer})
    for _ in range(2):
        response = session.put(session.url_for("/lf"), data=b"x", allow_redirects=False, timeout=(5, 5))
        assert (response.status_code, response.content, response.headers["ETag"]) == (201, b"made", '"e"')
    assert session.lean_answers == 2 and server.connections == 1


def test_a_closing_answer_gives_the_connection_up(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    server, session = scripted({"/last": Reply(status=204, headers={"Connection": "close"}, end=KEEP)})
    assert session.put(session.url_for("/last"), data=b"x", allow_redirects=False).status_code == 204
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2  # the request after "Connection: close" opened a new one
    assert session.lean_answers == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=403, body=b"f" * (64 * 1024 + 1), end=KEEP),
        Reply(status=403, body=[b"c" * 40_000] * 2, chunked=True, end=KEEP),
        Reply(status=403, body=b"until the end", length=False, end="close_notify"),
    ],
    ids=["over-64k", "chunked-over-64k", "until-close"],
)
def test_an_error_body_of_unknown_or_large_size_is_left_unread(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]], reply: Reply
) -> None:
    """Only a body of at most 64 KiB (by Content-Length, or chunked: the lean reader's bound) is
    read; else the connection is given up unread, and the error is still the status's."""
    server, session = scripted({"/no": reply})
    response = session.put(session.url_for("/no"), data=b"x", allow_redirects=False)
    assert (response.status_code, response.content, session.lean_answers) == (403, b"", 1)
    assert body_left_unread(response)
    with pytest.raises(RemotePermissionDenied):
        session.check(response, path="/no")
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2


def test_repeated_fields_are_joined_and_cookies_kept(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    headers = {"Set-Cookie": "sid=abc; Path=/", "X-Repeat": "1", "x-repeat": "2", "Content-Type": "text/plain"}
    _, session = scripted({"/c": Reply(status=200, headers=headers, body=b"ok", end=KEEP)})
    response = session.put(session.url_for("/c"), data=b"x", allow_redirects=False)
    assert session.lean_answers == 1
    assert response.headers["X-REPEAT"] == "1, 2" and response.encoding == "ISO-8859-1"
    assert session.cookies.get("sid") == "abc"
    sent = session.head(session.url_for("/open"), allow_redirects=False).request
    assert sent is not None and sent.headers.get("Cookie") == "sid=abc"  # the long way, with the cookie


def test_the_request_target_is_requests_path_url() -> None:
    """The lean request line's target, found by slicing, is what urllib3 would send (requests'
    ``path_url``) for every URL: hand-picked ones and 5,000 random mixes of the delimiters."""
    picked = ["https://h", "https://h/", "https://h?x", "https://h:443/a/b?c=d#f", "https://h/a#f?x", "https://h/a?",
              "https://h/a?#", "https://[::1]:8443/p/q;x=1?y#z", "https://u:p@h/x", "https://h//double//",
              "https://h/a%20b?q=%2F&r", "https://h/a?b?c", "https://h??", "https://h/a?b/c"]
    chance = random.Random(14)
    mixed = ["https://h" + "".join(chance.choice("/?#:@a%;=&.") for _ in range(chance.randint(0, 8)))
             for _ in range(5000)]
    for url in picked + mixed:
        prepared = requests.PreparedRequest()
        prepared.url = url
        assert request_target(url) == prepared.path_url, url


def test_fields_answer_in_and_get_as_requests_fields_do() -> None:
    """Fields only look a name up without raising for a missing one; what they answer is requests'."""
    items = [("Content-Length", "4"), ("X-Repeat", "1, 2"), ("ETag", '"a"')]
    theirs: CaseInsensitiveDict[str] = CaseInsensitiveDict(items)
    ours = Fields.of_store(theirs.copy()._store)  # type: ignore[attr-defined]
    for name in ("content-length", "X-REPEAT", "etag", "Location", "set-cookie", "", "Content-Length "):
        assert (name in ours) == (name in theirs)
        assert ours.get(name) == theirs.get(name) and ours.get(name, "-") == theirs.get(name, "-")
    odd: list[Any] = [4, None]
    assert all(name not in ours for name in odd)  # not a name: not there (requests would raise on .lower())
    assert isinstance(ours, CaseInsensitiveDict) and ours == theirs and dict(ours) == dict(theirs)
    assert list(ours.items()) == items and ours.copy() == theirs
    ours["location"] = "/x"
    assert ours.get("LOCATION") == "/x" and "Location" in ours


def test_lean_answers_and_plain_requests_have_fields(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    _, session = scripted({"/f": Reply(status=201, headers={"Location": "/f"}, end=KEEP)})
    session.head(session.url_for("/open"), allow_redirects=False)  # opens the connection
    response = session.put(session.url_for("/f"), data=b"x", allow_redirects=False)
    assert session.lean_answers >= 1
    assert isinstance(response.headers, Fields) and response.headers.get("location") == "/f"
    assert response.request is not None and isinstance(response.request.headers, Fields)
    assert response.request.headers.get("content-length") == "1" and "Transfer-Encoding" not in response.request.headers


def test_a_connection_the_server_closed_while_idle_is_not_used(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """A keep-alive answer, then the server closes (its idle timeout): the next request opens a new
    connection (the pool sees the close) instead of writing into the closed one."""
    server, session = scripted({"/bye": Reply(status=204, end="idle-close")})
    assert session.head(session.url_for("/bye"), allow_redirects=False).status_code == 204
    assert session.lean_answers == 1
    time.sleep(0.3)  # the close arrives
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2 and session.lean_answers == 1


def test_a_malformed_field_line_ends_the_fields_as_in_http_client(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """urllib3 only logs such a line, and http.client keeps the fields before it; so does the lean way,
    giving up the connection, since what framed the body may be among the fields lost."""
    headers = {"X-Before": "1\r\nNoColonHere", "X-After": "2"}
    server, session = scripted({"/odd": Reply(status=204, headers=headers, end=KEEP)})
    response = session.put(session.url_for("/odd"), data=b"x", allow_redirects=False)
    assert (response.status_code, session.lean_answers) == (204, 1)
    assert response.headers.get("X-Before") == "1" and "X-After" not in response.headers
    session.head(session.url_for("/open"), allow_redirects=False)
    assert server.connections == 2


def test_a_large_head_is_taken_as_the_long_way_takes_it(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """http.client limits each field line to 64 KiB and a head to 100 fields, not a head to 64 KiB
    (the lean way did: read-back).  Three 40 KB fields are an answer."""
    headers = {f"X-Big-{n}": "v" * 40_000 for n in range(3)}
    _server, session = scripted({"/big": Reply(status=204, headers=headers, end=KEEP)})
    response = session.put(session.url_for("/big"), data=b"x", allow_redirects=False)
    assert (response.status_code, session.lean_answers) == (204, 1)
    assert response.headers["X-Big-2"] == "v" * 40_000


@pytest.mark.parametrize(
    "answer",
    [
        Reply(status=403, body=b"", end="fin", length=False, headers={"Content-Length": "10"}),
        Reply(status=403, body=b"", end="reset", length=False, headers={"Content-Length": "10"}),
        Reply(status=403, body=b"", end="close_notify", length=False, headers={"Content-Length": "10"}),
        Reply(status=204, headers={"X-Huge": "v" * 70_000}, end=KEEP),
        Reply(status=204, headers={f"X-{n}": "v" for n in range(101)}, end=KEEP),
    ],
    ids=["fin-in-body", "reset-in-body", "close-in-body", "line-too-long", "too-many-fields"],
)
def test_a_broken_answer_is_the_error_the_long_way_gives(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
    client_context: Callable[..., XferSSLContext], answer: Reply, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same broken answer on an open connection, through urllib3 and the lean way: the same error."""
    server, session = scripted({"/bad": answer})
    lean_tries: list[bool] = []

    def spied(*args: Any, **kwargs: Any) -> Any:
        lean_tries.append(True)
        return exchange(*args, **kwargs)

    monkeypatch.setattr(xfer.http_session, "exchange", spied)
    errors = []
    long_way = create_session(client_context(), server=session.server)
    long_way.hooks["response"].append(skip_large_body)
    long_way.head(long_way.url_for("/open"), allow_redirects=False)  # as the fixture did for the lean one
    for ours in (long_way, session):
        with pytest.raises(XferError) as caught, ours.translating():
            ours.put(ours.url_for("/bad"), data=b"x", allow_redirects=False)
        errors.append(caught.value)
    assert server.connections == 2 and lean_tries == [True]  # the lean session's try went the lean way
    assert (type(errors[0]), str(errors[0])) == (type(errors[1]), str(errors[1]))
    assert errors[1].exit_code == 5


def test_pipelined_requests_are_answered_in_order_on_one_connection(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    replies = {"/p": Reply(status=201, body=b"made", end=KEEP), "/h": Reply(status=200, body=b"12345", end=KEEP)}
    server, session = scripted(replies)
    answers = session.pipelined([("PUT", session.url_for("/p"), b"abc", {"Content-Type": "text/plain"}),
                                 ("HEAD", session.url_for("/h"), None, {"Accept-Encoding": "identity"})])
    assert answers is not None
    put, head = answers
    assert put is not None and (put.status_code, put.content, put.request.method) == (201, b"made", "PUT")
    assert head is not None and (head.status_code, head.headers["Content-Length"], head.content) == (200, "5", b"")
    assert server.requests[-2:] == [("PUT", "/p"), ("HEAD", "/h")] and server.connections == 1
    assert session.lean_answers == 2
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204  # still in step


@pytest.mark.parametrize(
    "first",
    [
        Reply(status=204, headers={"Connection": "close"}, end=KEEP),
        Reply(status=204, headers={"Set-Cookie": "sid=1; Path=/"}, end=KEEP),
    ],
    ids=["closing", "cookie"],
)
def test_requests_after_a_closing_or_cookie_setting_answer_are_to_be_sent_again(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]], first: Reply
) -> None:
    """The second request went out with the first; its answer is not used: None, to send again."""
    _, session = scripted({"/p": first, "/h": Reply(status=200, end=KEEP)})
    answers = session.pipelined([("PUT", session.url_for("/p"), b"x", None),
                                 ("HEAD", session.url_for("/h"), None, None)])
    assert answers is not None and answers[0] is not None and answers[0].status_code == 204
    assert answers[1] is None


def test_a_later_answer_that_breaks_off_is_to_be_sent_again(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    cut = Reply(status=200, body=b"", end="fin", length=False, headers={"Content-Length": "10"})
    server, session = scripted({"/p": Reply(status=204, end=KEEP), "/d": cut})
    answers = session.pipelined([("PUT", session.url_for("/p"), b"x", None),
                                 ("DELETE", session.url_for("/d"), None, None)])
    assert answers is not None and answers[0] is not None and answers[1] is None
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2  # the broken connection was given up


class _CutSocket:
    """A connection the server reset while the requests were written (it closed after its keep-alive
    limit with them unread): the write fails; what it had answered before may still be read."""

    def __init__(self, received: bytes) -> None:
        self.received = received

    def settimeout(self, timeout: float | None) -> None:
        return None

    def version(self) -> str:
        return "TLSv1.3"

    def sendall(self, data: bytes) -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    def recv(self, size: int) -> bytes:
        if not self.received:
            raise ConnectionResetError(104, "Connection reset by peer")
        data, self.received = self.received[:size], self.received[size:]
        return data


def test_answers_that_came_before_a_reset_are_read_and_the_exchange_is_marked_cut() -> None:
    requests_ = [requests.Request("PUT", f"https://h/{n}", data=b"x").prepare() for n in range(4)]
    received = (b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
                b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    answers, reusable = xfer.http_lean._exchange(_CutSocket(received), b"", requests_)  # type: ignore[arg-type]
    assert answers.cut and not reusable
    assert [None if a is None else a.status_code for a in answers] == [201, 201, None, None]


@pytest.mark.parametrize("received", [b"", b"HTTP/1.1 201 Cre", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"],
                         ids=["nothing", "half-a-head", "half-a-body"])
def test_a_reset_before_a_whole_first_answer_is_the_reset(received: bytes) -> None:
    """No whole answer came before the reset: the reset is the failure said, not a parse error."""
    requests_ = [requests.Request("PUT", "https://h/a", data=b"x").prepare()]
    with pytest.raises(ConnectionResetError):
        xfer.http_lean._exchange(_CutSocket(received), b"", requests_)  # type: ignore[arg-type]


def test_answers_missing_after_a_reset_leave_pipelining_on_once(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's reset (its keep-alive limit, requests unread) may discard its closing answer: what
    is missing then says nothing about pipelining.  But two writes in a row that only their first
    request got through are a server that closes on what follows an answer: pipelining ends."""
    _, session = scripted({"/p": Reply(status=201, end=KEEP), "/h": Reply(status=200, end=KEEP)})
    real = xfer.http_lean._exchange
    kept: list[int] = []

    def reset_after(sock: Any, data: bytes, requests_: Any) -> tuple[Any, bool]:
        answers, reusable = real(sock, data, requests_)
        if len(requests_) == 1:  # (the HEAD that opens a connection)
            return answers, reusable
        cut = xfer.http_lean.Answers([*answers[:kept[0]], *[None] * (len(answers) - kept[0])])
        cut.cut = True
        return cut, False

    monkeypatch.setattr(xfer.http_lean, "_exchange", reset_after)
    calls = [("PUT", session.url_for("/p"), b"x", None), ("HEAD", session.url_for("/h"), None, None),
             ("HEAD", session.url_for("/h"), None, None)]
    for answered, still_on in [(1, True), (2, True), (1, True), (1, False)]:
        session.head(session.url_for("/open"), allow_redirects=False)  # a connection to write on
        kept[:] = [answered]
        answers = session.pipelined(calls)
        assert answers is not None and [a is not None for a in answers] == [n < answered for n in range(3)]
        assert session.pipelining is still_on, (answered, still_on)


def test_a_server_that_drops_pipelined_requests_costs_one_wait_then_none(
    pki: TestPKI, client_context: Callable[..., XferSSLContext],
) -> None:
    """The HEAD that went with the PUT is never answered: after that one read timeout the session
    pipelines no more (each request then goes on its own)."""
    replies = {"/open": Reply(status=204, end=KEEP), "/p": Reply(status=204, end=KEEP)}
    with ScriptedHTTPSServer(pki, replies, pipelining=False) as server:
        session = create_session(client_context(), server=f"127.0.0.1:{server.port}", timeout=(5, 0.5))
        session.hooks["response"].append(skip_large_body)
        session.lean_requests = True
        session.head(session.url_for("/open"), allow_redirects=False)
        calls: list[tuple[str, str, Any, dict[str, str] | None]] = [
            ("PUT", session.url_for("/p"), b"x", None), ("HEAD", session.url_for("/p"), None, None)]
        answers = session.pipelined(calls)
        assert answers is not None and answers[0] is not None and answers[1] is None
        assert not session.pipelining and session.pipelined(calls) is None
        assert session.head(session.url_for("/p"), allow_redirects=False).status_code == 204


def test_nothing_is_pipelined_without_an_open_connection(
    pki: TestPKI, client_context: Callable[..., XferSSLContext],
) -> None:
    with ScriptedHTTPSServer(pki, {"/p": Reply(status=204, end=KEEP)}) as server:
        session = create_session(client_context(), server=f"127.0.0.1:{server.port}")
        session.lean_requests = True
        calls: list[tuple[str, str, Any, dict[str, str] | None]] = [("PUT", session.url_for("/p"), b"x", None)]
        assert session.pipelined(calls) is None  # a new connection: opened the long way
        assert server.requests == []
        session.head(session.url_for("/p"), allow_redirects=False)  # now one is open
        assert session.pipelined([("POST", session.url_for("/p"), b"x", None)]) is None  # not idempotent
        assert server.requests == [("HEAD", "/p")]


# -- a pipelined GET's body (a folder's listing after a group's PUTs) ------------------------------


def _put_and_raw_listing(body: Any, *, end: Any = KEEP) -> dict[str, Reply]:
    """Replies for :func:`_put_then_get`: the listing's body as given, chunked by hand."""
    return {"/p": Reply(status=201, end=KEEP),
            "/l/": Reply(headers={"Transfer-Encoding": "chunked"}, body=body, length=False, end=end)}


def _put_then_get(session: XferSession) -> list[Any]:
    answers = session.pipelined([("PUT", session.url_for("/p"), b"x", None),
                                 ("GET", session.url_for("/l/"), None, {"Accept": "application/json"})])
    assert answers is not None and answers[0] is not None
    return answers


@pytest.mark.parametrize("reply", [
    Reply(body=[b'[{"name":', b' "a"}]'], chunked=True, end=KEEP),
    Reply(body=b'[{"name": "a"}]', end=KEEP),
], ids=["chunked", "length"])
def test_a_pipelined_get_is_read_whole_and_the_connection_kept(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]], reply: Reply
) -> None:
    server, session = scripted({"/p": Reply(status=201, end=KEEP), "/l/": reply})
    _, listing = _put_then_get(session)
    assert listing is not None and (listing.status_code, listing.content) == (200, b'[{"name": "a"}]')
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 1  # the connection stayed in step


def test_chunk_extensions_and_trailer_fields_are_read_past(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """RFC 9112 7.1: ``size;name=value`` lines and trailer fields after the last chunk."""
    raw = b"5;ext=1\r\nhello\r\n6 ; x\r\n world\r\n1\t\r\n!\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n"
    server, session = scripted(_put_and_raw_listing(raw))
    _, listing = _put_then_get(session)
    assert listing is not None and listing.content == b"hello world!"
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 1


@pytest.mark.parametrize("reply", [
    Reply(body=[b"x" * 4000] * 70, chunked=True, end=KEEP),  # 280,000 bytes in chunks
    Reply(body=b"x" * 280_000, end=KEEP),  # by Content-Length
    Reply(body=b"x" * 100, length=False, end="close_notify"),  # until the close: no length to trust
], ids=["chunked", "length", "until-close"])
def test_a_pipelined_get_longer_than_the_bound_is_left_unread(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]], reply: Reply
) -> None:
    """Longer than PIPELINED_GET_LIMIT (256 KiB), or of unknown length: an answer with no content,
    its connection given up (never read into memory, never taken for a listing)."""
    server, session = scripted({"/p": Reply(status=201, end=KEEP), "/l/": reply})
    _, listing = _put_then_get(session)
    assert listing is not None and listing.status_code == 200 and listing.content == b""
    assert body_left_unread(listing)
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "length"])
def test_an_empty_body_read_whole_is_not_left_unread(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]], chunked: bool
) -> None:
    """What was read, even nothing, is no body left unread (a listing too long to read)."""
    _, session = scripted({"/p": Reply(status=201, end=KEEP), "/l/": Reply(body=b"", chunked=chunked, end=KEEP)})
    put, listing = _put_then_get(session)
    assert listing is not None and listing.content == b"" and not body_left_unread(listing)
    assert put is not None and not body_left_unread(put)


@pytest.mark.parametrize(("size", "chunked", "read"), [
    (PIPELINED_GET_LIMIT, True, True), (PIPELINED_GET_LIMIT + 1, True, False),
    (PIPELINED_GET_LIMIT, False, True), (PIPELINED_GET_LIMIT + 1, False, False),
], ids=["chunked-at", "chunked-over", "length-at", "length-over"])
def test_the_bound_of_a_pipelined_get_is_inclusive(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
    size: int, chunked: bool, read: bool,
) -> None:
    body = [b"y" * 4096] * (size // 4096) + [b"y" * (size % 4096)]
    server, session = scripted({"/p": Reply(status=201, end=KEEP), "/l/": Reply(body=body, chunked=chunked, end=KEEP)})
    _, listing = _put_then_get(session)
    assert listing is not None and len(listing.content) == (size if read else 0)
    assert body_left_unread(listing) is not read
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == (1 if read else 2)


def test_a_chunked_body_of_tiny_chunks_with_long_extensions_is_bounded_by_its_framing(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """Endless 1-byte chunks with 8 KiB extensions: 256 KiB of data would be 2 GiB on the wire.
    The framing counts too: past the bound, the rest is left unread (and the server, still
    sending, finds the connection given up)."""
    def chunks() -> Iterator[bytes]:
        while True:
            yield b"1;" + b"e" * 8192 + b"\r\nx\r\n"

    server, session = scripted(_put_and_raw_listing(chunks))
    _, listing = _put_then_get(session)
    assert listing is not None and listing.content == b""
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2
    assert server.sent["/l/"] < 64 * PIPELINED_GET_LIMIT  # stopped early (the data alone: 2 GiB)


def test_trailer_fields_count_against_the_bound(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """50 trailer fields of 10 KiB after a short body: fewer than the field limit, but 500 KiB:
    the rest is left unread, not read to the end."""
    raw = b"2\r\nok\r\n0\r\n" + b"".join(b"X-T%d: " % n + b"v" * 10240 + b"\r\n" for n in range(50)) + b"\r\n"
    server, session = scripted(_put_and_raw_listing(raw))
    _, listing = _put_then_get(session)
    assert listing is not None and listing.content == b""
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "long-way"])
def test_a_status_only_answer_whose_length_is_no_number_is_left_unread(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], lean: bool,
) -> None:
    """A PUT answered with ``Content-Length: \u00b2`` (isdigit() holds, int() refuses): the body is
    of unknown length, left unread, the connection given up; no ValueError, either way."""
    replies = {"/open": Reply(status=204, end=KEEP),
               "/p": Reply(status=201, headers={"Content-Length": "\u00b2"}, length=False, end=KEEP)}
    with ScriptedHTTPSServer(pki, replies) as server:
        session = create_session(client_context(), server=f"127.0.0.1:{server.port}")
        session.hooks["response"].append(skip_large_body)
        session.lean_requests = lean
        session.head(session.url_for("/open"), allow_redirects=False)
        answer = session.put(session.url_for("/p"), data=b"x", allow_redirects=False)
        assert (answer.status_code, answer.content) == (201, b"")
        assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
        assert server.connections == 2
        assert session.lean_answers == (1 if lean else 0)  # (the HEAD after it opened a connection)


@pytest.mark.parametrize("length", ["\u00b2", "1\u00b9", "0x10", "+5"])
def test_a_content_length_that_is_no_number_leaves_the_body_unread(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]], length: str,
) -> None:
    """str.isdigit() holds for "\u00b2", which int() refuses: no ValueError, the body is of unknown length."""
    server, session = scripted({"/p": Reply(status=201, end=KEEP),
                                "/l/": Reply(headers={"Content-Length": length}, body=b"", length=False, end=KEEP)})
    _, listing = _put_then_get(session)
    assert listing is not None and listing.content == b""
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2


def test_an_answer_framed_twice_is_read_but_its_connection_not_reused(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """Transfer-Encoding and Content-Length both (RFC 9112 6.3: to be handled as an error): the
    chunked body is read, and the connection given up rather than trusted to be in step."""
    server, session = scripted({"/p": Reply(status=201, end=KEEP),
                                "/l/": Reply(headers={"Content-Length": "3"}, body=[b"[1]"], chunked=True, end=KEEP)})
    _, listing = _put_then_get(session)
    assert listing is not None and listing.content == b"[1]"
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2


@pytest.mark.parametrize("raw", [
    b"zz\r\nhello\r\n0\r\n\r\n",  # not a size
    b" 5\r\nhello\r\n0\r\n\r\n",  # whitespace before the size
    b"5\x0b\r\nhello\r\n0\r\n\r\n",  # a vertical tab after it
    b"\r\nhello\r\n0\r\n\r\n",  # no size
    b"3\r\nhello\r\n0\r\n\r\n",  # a chunk longer than its size
    b"5\r\nhello\r\n",  # no last chunk: the connection ends (below)
], ids=["not-hex", "leading-space", "vertical-tab", "empty", "overlong", "no-last-chunk"])
def test_a_pipelined_get_whose_chunks_are_broken_is_not_answered(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]], raw: bytes
) -> None:
    """Broken chunking is never content: the answer is None (to be asked again), the connection given up."""
    server, session = scripted(_put_and_raw_listing(raw, end="fin"))
    _, listing = _put_then_get(session)
    assert listing is None
    assert session.head(session.url_for("/open"), allow_redirects=False).status_code == 204
    assert server.connections == 2


class _Answered:
    """A connection holding canned answers (for reading them without a server)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def version(self) -> str:
        return "TLSv1.3"

    def recv(self, size: int) -> bytes:
        data, self.data = self.data[:size], self.data[size:]
        return data


@pytest.mark.parametrize(
    ("method", "head", "too_long"),
    [
        ("GET", f"Content-Length: {PIPELINED_GET_LIMIT + 1}", True),  # a file grown past the limit
        ("GET", "Transfer-Encoding: chunked", True),  # (its chunks run past the limit below)
        ("PUT", "Content-Length: 70000", True),  # an error page over the bound
        ("PUT", "Transfer-Encoding: chunked", True),  # an upload's answer, chunked past the 64 KiB bound
        ("PUT", "Transfer-Encoding: gzip", False),  # another coding: never read, the server's way
        ("GET", "Connection: keep-alive", False),  # no length at all: the server's way
    ],
)
def test_a_body_left_for_its_length_is_told_from_one_that_cannot_be_read(
    method: str, head: str, too_long: bool
) -> None:
    """Only a body left unread for its length says nothing about the server (pipelining stays on)."""
    body = b"%x\r\n%s\r\n" % (PIPELINED_GET_LIMIT + 1, b"x" * (PIPELINED_GET_LIMIT + 1)) if "chunked" in head else b""
    answer = xfer.http_lean._Answer(_Answered(f"HTTP/1.1 200 OK\r\n{head}\r\n\r\n".encode() + body))  # type: ignore[arg-type]
    request = requests.Request(method, "https://h/f", data=b"x" if method == "PUT" else None).prepare()
    response, reusable = xfer.http_lean._read_answer(answer, request)
    assert body_left_unread(response) and not reusable
    assert xfer.http_lean.body_too_long(response) is too_long


def test_a_put_answer_longer_than_its_length_leaves_the_put_answered(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
) -> None:
    """A 201 with ``Content-Length: 0`` and a body: the HEAD's head after it is no head.  The PUT's
    status stands (its request was carried out); only the HEAD's answer is lost.  Before, the
    PUT's answer was dropped too, and the upload sent its spent body again the long way: a read
    timeout, then a retry (review O, finding 1)."""
    _server, session = scripted({
        "PUT /a.bin": Reply(status=201, body=b"Created", announce=0, end=KEEP),
        "HEAD /a.bin": Reply(body=b"D" * 10, end=KEEP),
    })
    answers = session.pipelined([("PUT", session.url_for("/a.bin"), b"D" * 10, None),
                                 ("HEAD", session.url_for("/a.bin"), None, None)])
    assert answers is not None
    put, head = answers
    assert put is not None and put.status_code == 201
    assert head is None


def test_a_close_notify_read_after_the_last_answer_gives_the_connection_up(
    scripted: Callable[[dict[str, Reply]], tuple[ScriptedHTTPSServer, XferSession]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An answer announced keep-alive, then the server closes properly (a graceful reload): read
    after the last answer, the close_notify is no longer there for urllib3 to see, and the next
    request went out on the closed connection ("was dropped", exit 5; review O, finding 2).  (The
    wait only lets the close_notify arrive before the look, as it does when sent with the answer.)"""
    looked: list[bool] = []
    look = xfer.http_lean._Answer.take_what_arrived

    def once_arrived(answer: Any) -> bool:
        import select
        select.select([answer.sock], [], [], 2.0)
        looked.append(look(answer))
        return looked[-1]

    monkeypatch.setattr(xfer.http_lean._Answer, "take_what_arrived", once_arrived)
    _server, session = scripted({"HEAD /a": Reply(body=b"x", end="idle-close"), "HEAD /b": Reply(body=b"y", end=KEEP)})
    assert session.head(session.url_for("/a"), allow_redirects=False).status_code == 200
    assert looked == [False]  # the close was seen
    time.sleep(0.2)
    assert session.head(session.url_for("/b"), allow_redirects=False).status_code == 200  # on a new connection
