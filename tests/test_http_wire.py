"""HTTPS at the wire level: legal answers the test bed's servers never give (review P, session 21).

Each test is one server behaviour RFC 9110/9112 allows, built with :class:`ScriptedHTTPSServer`,
on the long way (requests, urllib3, http.client) where the lean reader (:mod:`xfer.http_lean`)
already copes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import ExitCode
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .helpers import run

ContextFactory = Callable[..., XferSSLContext]
LARGE = 300_000  # more than a lean request's body: the PUT goes the long way


def _flags(pki: TestPKI) -> list[str]:
    return ["--ca", str(pki.root_ca), "--identity", str(pki.client_p12),
            "--identity-password", f"file:{pki.password_file}", "--retries", "0"]


def _adapter(srv: ScriptedHTTPSServer, ctx: XferSSLContext) -> HTTPSAdapter:
    settings = ConnectionSettings(scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=ctx,
                                  timeout=10, retries=0)
    return HTTPSAdapter(settings)


@pytest.mark.parametrize("interim", [102, 103])
def test_a_refusal_after_an_interim_answer_is_no_success(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str], interim: int
) -> None:
    """A 102 Processing or 103 Early Hints before the final answer is skipped (http.client skips only 100)."""
    (tmp_path / "up.bin").write_bytes(b"p" * LARGE)
    replies = {
        "PUT /in/up.bin": Reply(status=507, interim=(interim,), body=b"full\n", end="keep-alive"),
        "HEAD /in/up.bin": Reply(status=404, end="keep-alive"),
        "DELETE /f.txt": Reply(status=500, interim=(interim,), body=b"no\n", end="keep-alive"),
        "/g.txt": Reply(status=200, interim=(interim, interim), body=b"content\n", end="keep-alive"),
    }
    with ScriptedHTTPSServer(pki, replies) as srv:
        code, _, err = run(capsys, "put", str(tmp_path / "up.bin"), f"{srv.url}/in/up.bin", *_flags(pki))
        assert code == ExitCode.REMOTE, err
        assert "507" in err or "full" in err.lower()
        code, _, err = run(capsys, "rm", f"{srv.url}/f.txt", *_flags(pki))
        assert code == ExitCode.REMOTE and "500" in err, err
        code, out, err = run(capsys, "get", "--json", f"{srv.url}/g.txt", str(tmp_path / "g.txt"), *_flags(pki))
    assert code == 0, err
    assert (tmp_path / "g.txt").read_bytes() == b"content\n"
    assert json.loads(out)[0]["verified"] == "size"


@pytest.mark.parametrize("stated", ["8, 8", "8,8"])
def test_a_repeated_length_is_that_length(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, stated: str
) -> None:
    """``Content-Length: 8, 8`` (RFC 9110 §8.6) is 8 bytes: read at once and checked, not read to a timeout."""
    replies = {"/a.txt": Reply(body=b"content\n", length=False, headers={"Content-Length": stated},
                               end="keep-alive")}
    with ScriptedHTTPSServer(pki, replies) as srv, _adapter(srv, client_context()) as remote:
        started = time.monotonic()
        result = remote.get_file("/a.txt", str(tmp_path / "a.txt"))
        took = time.monotonic() - started
        assert remote.info("/a.txt").size == 8
    assert took < 5, f"{took:.1f} s: read until the timeout"
    assert (tmp_path / "a.txt").read_bytes() == b"content\n"
    assert result.size == 8 and result.verified == "size"


def test_different_lengths_are_refused_at_once(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """``Content-Length: 8, 9``: the framing cannot be trusted (RFC 9112 §6.3); nothing is saved."""
    replies = {"/a.txt": Reply(body=b"content\n", length=False, headers={"Content-Length": "8, 9"},
                               end="keep-alive")}
    with ScriptedHTTPSServer(pki, replies) as srv:
        started = time.monotonic()
        with _adapter(srv, client_context()) as remote, pytest.raises(Exception) as caught:
            remote.get_file("/a.txt", str(tmp_path / "a.txt"))
    assert time.monotonic() - started < 5
    assert "unmatching values (8, 9)" in str(caught.value), caught.value
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("chunked", [False, True])
def test_a_short_chunked_answer_to_a_put_keeps_the_connection(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, chunked: bool
) -> None:
    """An application server's upload answer, a short JSON body sent chunked, is read: the
    connection stays and the PUT + HEAD pipelining with it (it was one TLS handshake per file)."""
    replies: dict[str, Reply] = {}
    for number in range(10):
        content = b"y" * (number + 10)
        (tmp_path / f"f{number}.txt").write_bytes(content)
        replies[f"PUT /in/f{number}.txt"] = Reply(status=201, body=[b'{"ok":', b" true}"], chunked=chunked,
                                                  end="keep-alive")
        replies[f"HEAD /in/f{number}.txt"] = Reply(body=content, end="keep-alive")
    with ScriptedHTTPSServer(pki, replies) as srv, _adapter(srv, client_context()) as remote:
        results = [remote.put_file(str(tmp_path / f"f{number}.txt"), f"/in/f{number}.txt") for number in range(10)]
        assert remote.session.pipelining
    assert [result.verified for result in results] == ["size"] * 10
    # The first PUT opens the connection the long way (urllib3), where an answer of unknown
    # length (chunked) is never read: that one connection is given up.
    assert srv.connections <= 2, f"{srv.connections} connections for 10 small uploads"


def test_a_refusal_whose_chunked_body_breaks_off_is_still_the_refusal(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lean way reads a short chunked answer to a PUT; when that body breaks off, the 403 in its
    complete head stands (it was "the connection broke", exit 5, and the refused file sent again)."""
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_bytes(b"data\n")
    replies = {
        "PUT /in/a.txt": Reply(status=201, end="keep-alive"),
        "HEAD /in/a.txt": Reply(body=b"data\n", end="keep-alive"),
        "PUT /in/b.txt": Reply(status=403, body=[b'{"e":1}'], chunked=True, finished=False, end="fin"),
    }
    with ScriptedHTTPSServer(pki, replies) as srv:
        code, _, err = run(capsys, "put", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), f"{srv.url}/in/",
                           *_flags(pki))
        puts = [path for method, path in srv.requests if method == "PUT"]
    assert code == ExitCode.REMOTE and "403" in err, err
    assert puts.count("/in/b.txt") == 1
