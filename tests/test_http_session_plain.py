"""The session's short preparation of plain requests (issue 14): the request requests would send, cheaper.

``XferSession._prepare_plain`` replaces ``requests.Session.prepare_request`` for requests to our
own origin with nothing requests would have to merge.  These tests hold it to requests' own
answer field by field, and check that what it cannot do goes the long way.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from xfer.errors import UsageError
from xfer.http_session import XferSession, create_session
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext


@pytest.fixture
def session(client_context: Callable[..., XferSSLContext], monkeypatch: pytest.MonkeyPatch) -> XferSession:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return create_session(client_context(), server="127.0.0.1:8443")


def _chunks() -> Iterator[bytes]:
    yield b"a"
    yield b"b"


class _Sized:
    """An iterable body with a length, as FileBody is."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[bytes]:
        yield self.data


def _fields(prepared: requests.PreparedRequest) -> dict[str, Any]:
    return {
        "method": prepared.method,
        "url": prepared.url,
        "headers": dict(prepared.headers),
        "body": prepared.body,
        "body_position": getattr(prepared, "_body_position", None),
        "hooks": {event: list(hooks) for event, hooks in prepared.hooks.items()},
        "cookies": list(prepared._cookies),  # type: ignore[attr-defined]
    }


def _long_way(session: XferSession, method: str, url: str, data: Any, headers: Any) -> requests.PreparedRequest:
    request = requests.Request(method=method.upper(), url=url, headers=headers, data=data or {}, auth=None)
    return requests.Session.prepare_request(session, request)


@pytest.mark.parametrize("hooked", [False, True], ids=["no-hook", "hook"])
@pytest.mark.parametrize("auth", [None, ("user", "pässword")], ids=["no-auth", "basic"])
@pytest.mark.parametrize(
    ("method", "path", "data", "headers"),
    [
        ("HEAD", "/in/a.txt", None, {"Accept-Encoding": "identity"}),
        ("get", "/in/dir/", None, {"Accept": "application/json"}),
        ("PUT", "/in/a b%.txt", b"0123", {"Content-Type": "application/octet-stream"}),
        ("PUT", "/in/empty", b"", None),
        ("PUT", "/in/sized", "sized", {"User-Agent": None}),  # None removes a session header
        ("PUT", "/in/file", "file", {"Content-Type": "application/octet-stream"}),
        ("PUT", "/in/chunked", "chunks", {}),
        ("PROPFIND", "/in/", '<?xml version="1.0"?><propfind/>', {"Depth": "1"}),
        ("DELETE", "/in/x;y=1?q=a&b=%2F", None, None),
    ],
)
def test_plain_preparation_is_what_requests_prepares(
    session: XferSession, auth: tuple[str, str] | None, hooked: bool, method: str, path: str, data: Any, headers: Any
) -> None:
    session.auth = auth
    if hooked:  # (without one, the plain preparation skips prepare_hooks: the same hooks either way)
        session.hooks["response"].append(lambda response, *args, **kwargs: response)

    def body() -> Any:  # a fresh one per preparation: streams are consumed
        return {"sized": lambda: _Sized(b"xyz"), "file": lambda: io.BytesIO(b"filedata"),
                "chunks": _chunks}.get(data, lambda: data)() if isinstance(data, str) else data

    url = session.url_for(path)
    assert session._plain(url, {"data": data, "headers": headers, "allow_redirects": False})
    short, long = session._prepare_plain(method, url, body(), headers), _long_way(session, method, url, body(), headers)
    short_fields, long_fields = _fields(short), _fields(long)
    if data == "chunks":  # two generators: equal in what they hold, not identical objects
        assert list(short_fields.pop("body")) == list(long_fields.pop("body"))
    elif data == "sized":
        assert short_fields.pop("body").data == long_fields.pop("body").data
    elif data == "file":
        assert short_fields.pop("body").read() == long_fields.pop("body").read()
    assert short_fields == long_fields


def test_merged_headers_are_kept_per_combination_and_never_shared(session: XferSession) -> None:
    """The merge of the session's and a request's headers is done once per combination: the next
    request gets a copy (what one request adds, another never sees), and a change to the session's
    headers, or another request's, makes a new merge.  An invalid value is refused every time."""
    url = session.url_for("/in/a")
    put = {"Content-Type": "application/octet-stream"}
    first = session._prepare_plain("PUT", url, b"0123", put)
    first.headers["X-Only-Here"] = "1"
    second = session._prepare_plain("PUT", url, b"", put)
    assert "X-Only-Here" not in second.headers and second.headers["Content-Length"] == "0"
    assert len(session._merged_headers) == 1  # one merge for both (kept, not redone)
    assert _fields(second) == _fields(_long_way(session, "PUT", url, b"", put))
    session.headers["User-Agent"] = "changed/1"
    third = session._prepare_plain("PUT", url, b"0123", put)
    assert third.headers["User-Agent"] == "changed/1"
    assert _fields(third) == _fields(_long_way(session, "PUT", url, b"0123", put))
    head = session._prepare_plain("HEAD", url, None, {"Accept-Encoding": "identity"})
    assert _fields(head) == _fields(_long_way(session, "HEAD", url, None, {"Accept-Encoding": "identity"}))
    for _ in range(2):
        with pytest.raises(requests.exceptions.InvalidHeader):
            session._prepare_plain("PUT", url, b"", {"X-Bad": "a\r\nInjected: 1"})
        with pytest.raises(requests.exceptions.InvalidHeader):  # unhashable: requests' error, not TypeError
            session._prepare_plain("PUT", url, b"", {"X-Bad": ["a", "b"]})
    for number in range(40):  # a bounded store: more combinations than it keeps start it afresh
        session._prepare_plain("PUT", url, b"", {"X-Number": str(number)})
    assert 0 < len(session._merged_headers) <= 32


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("https://127.0.0.1:8443/a/../b", {}),  # requests removes dot segments
        ("https://127.0.0.1:8443/a/./b", {}),
        ("https://127.0.0.1:8443/%41", {}),  # requests decodes %XX of unreserved characters
        ("https://127.0.0.1:8443/a%2fb", {}),  # requests upper-cases the hex digits of an escape
        ("https://127.0.0.1:8443/a?", {}),  # requests drops an empty query
        ("https://127.0.0.1:8443/a b", {}),  # requests quotes
        ("https://127.0.0.1:8443/é", {}),
        ("https://127.0.0.1:8443/a#frag", {}),
        ("https://127.0.0.1:8443", {}),  # requests adds the "/"
        ("https://127.0.0.1:84430/a", {}),
        ("https://127.0.0.1:8443@evil.example/a", {}),
        ("https://evil.example/a", {}),
        ("https://127.0.0.1:8443/a", {"params": {"x": "1"}}),
        ("https://127.0.0.1:8443/a", {"cookies": {"x": "1"}}),
        ("https://127.0.0.1:8443/a", {"auth": ("u", "p")}),
        ("https://127.0.0.1:8443/a", {"json": {"x": 1}}),
        ("https://127.0.0.1:8443/a", {"verify": False}),
        ("https://127.0.0.1:8443/a", {"cert": "/tmp/c.pem"}),
        ("https://127.0.0.1:8443/a", {"proxies": {"https": "http://proxy.invalid:3128"}}),
    ],
)
def test_what_the_plain_preparation_cannot_do_goes_the_long_way(
    session: XferSession, url: str, kwargs: dict[str, Any]
) -> None:
    assert not session._plain(url, kwargs)


def test_session_state_that_needs_merging_goes_the_long_way(
    session: XferSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = session.url_for("/a")
    assert session._plain(url, {})
    session.cookies.set("sid", "1")  # a cookie the server set: sent by requests' preparation
    assert not session._plain(url, {})
    session.cookies.clear()
    session.params = {"x": "1"}
    assert not session._plain(url, {})
    session.params = {}
    session.proxies = {"https": "http://proxy.invalid:3128"}
    assert not session._plain(url, {})


def test_a_proxy_from_the_environment_goes_the_long_way(
    client_context: Callable[..., XferSSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = create_session(client_context(), server="127.0.0.1:8443")
    assert not session._plain(session.url_for("/a"), {})


def test_plain_requests_skip_requests_preparation(session: XferSession, monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapters' requests (url_for URLs, our kwargs) never reach ``prepare_request``; others do."""
    prepared: list[str] = []
    sent: list[requests.PreparedRequest] = []
    real = requests.Session.prepare_request

    def counting(self: requests.Session, request: requests.Request) -> requests.PreparedRequest:
        prepared.append(request.url)
        return real(self, request)

    def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        sent.append(request)
        response = requests.Response()
        response.status_code = 204
        response.request = request
        return response

    monkeypatch.setattr(requests.Session, "prepare_request", counting)
    monkeypatch.setattr(session, "send", send)
    session.put(session.url_for("/in/a.txt"), data=b"abc", headers={"Content-Type": "text/plain"},
                allow_redirects=False)
    session.head(session.url_for("/in/a.txt"), headers={"Accept-Encoding": "identity"}, allow_redirects=False)
    # A download's GET: requests' get() passes params=None along.
    session.get(session.url_for("/in/a.txt"), stream=True, headers={"Accept-Encoding": "identity"})
    assert prepared == []
    session.get(session.url_for("/in/a.txt"), params={"x": "1"})
    assert prepared == ["https://127.0.0.1:8443/in/a.txt"]
    assert [request.method for request in sent] == ["PUT", "HEAD", "GET", "GET"]
    assert sent[0].headers["Content-Length"] == "3" and sent[0].body == b"abc"


def test_the_pool_of_an_origin_is_found_as_requests_finds_it(session: XferSession) -> None:
    """The adapter keeps each origin's pool key; the pool it returns is the one requests' own lookup returns."""
    from xfer.http_session import GuardedHTTPAdapter

    adapter = session.get_adapter("https://127.0.0.1:8443/")
    assert isinstance(adapter, GuardedHTTPAdapter)
    stock = requests.adapters.HTTPAdapter.get_connection_with_tls_context
    for path in ("/a", "/b/c.txt", "/a"):
        prepared = session._prepare_plain("GET", session.url_for(path), None, None)
        ours = adapter.get_connection_with_tls_context(prepared, True, {}, None)
        assert ours is stock(adapter, prepared, True, {}, None)
        with pytest.raises(UsageError):
            adapter.get_connection_with_tls_context(prepared, False, {}, None)
    other = requests.PreparedRequest()
    other.prepare(method="GET", url="https://127.0.0.1:9443/a")
    assert adapter.get_connection_with_tls_context(other, True, {}, None).port == 9443
    proxied = adapter.get_connection_with_tls_context(prepared, True, {"https": "http://proxy.invalid:3128"}, None)
    assert proxied is not ours and getattr(proxied, "proxy", None) is not None


def test_a_cookie_set_on_a_plain_request_is_kept_and_sent_back(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short delivery reads ``Set-Cookie`` as requests does; the next request (the long way) sends it."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    replies = {"/login": Reply(status=204, headers={"Set-Cookie": "sid=abc; Path=/"}, end="keep-alive"),
               "/after": Reply(status=204, end="keep-alive")}
    with ScriptedHTTPSServer(pki, replies) as server:
        session = create_session(client_context(), server=f"127.0.0.1:{server.port}")
        response = session.put(session.url_for("/login"), data=b"x", allow_redirects=False)
        assert response.status_code == 204 and response.elapsed.total_seconds() > 0
        assert session.cookies.get("sid") == "abc"
        assert not session._plain(session.url_for("/after"), {})  # a cookie to send: requests' own way
        sent = session.head(session.url_for("/after"), allow_redirects=False).request
        assert sent is not None and sent.headers.get("Cookie") == "sid=abc"


def test_a_redirect_answer_to_a_plain_request_names_its_next_hop(
    session: XferSession, pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    """``allow_redirects=False``: the 3xx is the answer, and ``response.next`` prepared as requests does."""
    with HTTPSServer(pki, root=tmp_path, redirects={"/old": "/new"}) as server:
        ours = create_session(client_context(), server=f"127.0.0.1:{server.port}")
        response = ours.head(ours.url_for("/old"), allow_redirects=False)
        assert response.status_code == 302 and response.next is not None
        assert response.next.url == ours.url_for("/new") and response.next.method == "HEAD"
        assert ours.head(ours.url_for("/nothing"), allow_redirects=False).next is None
