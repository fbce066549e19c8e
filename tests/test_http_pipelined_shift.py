"""Pipelined answers out of step with their requests (review Q, findings 1 and 2).

A server that writes one answer too many, or leaves one request unanswered, puts every later
answer of the write in another request's place.  Where the surplus is still to be read the
extra-answer guard sees it (``tests/test_http_lean.py``); these are the variants where it is not:
the server closes (as at its keep-alive limit) right after the surplus, or a slot is left
empty.  Before: files of one size saved under each other's names, verified by size, exit 0; a PUT
the server never read reported uploaded (its HEAD found yesterday's file of the same size).  Now
an exchange that ends early or closed trusts only its first answer, and sends the rest again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.testing import https_server
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI

SIZE = 100
EXTRA = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"X" * SIZE


def _adapter(host: str, port: int, context: Any, timeout: float = 5) -> HTTPSAdapter:
    return HTTPSAdapter(ConnectionSettings(scheme="https", host=host, port=port, root="/",
                                           ssl_context=context, timeout=timeout, retries=0))


def _tree(files: dict[str, bytes]) -> dict[str, Reply]:
    """The served folder /tree/ (a JSON listing, every file of one size) and its files."""
    listing = [{"name": name, "type": "file", "mtime": "Sun, 29 Nov 2026 12:13:17 GMT", "size": len(data)}
               for name, data in files.items()]
    return {
        "/tree": Reply(status=301, headers={"Location": "/tree/"}, end="keep-alive"),
        "/tree/": Reply(body=json.dumps(listing).encode(), headers={"Content-Type": "application/json"},
                        end="keep-alive"),
        **{f"/tree/{name}": Reply(body=data, end="keep-alive") for name, data in files.items()},
    }


def _wrong(results: list[Any], files: dict[str, bytes]) -> list[str]:
    return [Path(r.local).name for r in results if Path(r.local).read_bytes() != files[Path(r.local).name]]


@pytest.mark.parametrize("count", [5, 6, 8])
def test_an_answer_too_many_then_a_close_saves_no_file_under_another_name(
    pki: TestPKI, client_context: Callable[[], Any], tmp_path: Path, count: int
) -> None:
    """The surplus after f3's answer, then the server closes after f4's.  With 5 files the surplus
    itself closes, in the write's last slot: no answer is missing and nothing is left over."""
    files = {f"f{n}.bin": bytes([65 + n]) * SIZE for n in range(count)}
    replies = _tree(files)
    if count == 5:
        closing = EXTRA.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
        replies["/tree/f3.bin"] = Reply(body=files["f3.bin"] + closing, announce=SIZE, end="idle-close")
    else:
        replies["/tree/f3.bin"] = Reply(body=files["f3.bin"] + EXTRA, announce=SIZE, end="keep-alive")
        replies["/tree/f4.bin"] = Reply(body=files["f4.bin"], end="close_notify")
    with ScriptedHTTPSServer(pki, replies) as server, _adapter(server.host, server.port, client_context()) as remote:
        results = remote.get(["/tree/"], tmp_path / "out", recursive=True)
    assert len(results) == count
    assert _wrong(results, files) == []


class _Skips(ScriptedHTTPSServer):
    """Leaves the first GET of f2.bin unanswered and answers the ones after it."""

    skipped = False

    def _answer(self, tls: Any, method: str, path: str, reply: Any) -> Any:
        if method == "GET" and path == "/tree/f2.bin" and not self.skipped:
            self.skipped = True
            return True  # no answer, the connection kept
        return super()._answer(tls, method, path, reply)


def test_an_answer_left_out_saves_no_file_under_another_name(
    pki: TestPKI, client_context: Callable[[], Any], tmp_path: Path
) -> None:
    files = {f"f{n}.bin": bytes([65 + n]) * SIZE for n in range(6)}
    with _Skips(pki, _tree(files)) as server, _adapter(server.host, server.port, client_context(), 2) as remote:
        results = remote.get(["/tree/"], tmp_path / "out", recursive=True)
    assert len(results) == 6
    assert _wrong(results, files) == []


def test_a_put_the_server_never_read_is_sent_again(
    pki: TestPKI, client_context: Callable[[], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group checked by the folder's listing: a 201 too many after g2's PUT, the server closes
    after g5's: g6's PUT, never read, took g5's 201; yesterday's g6 of the same size was there."""
    handler = https_server._Handler
    real_put, real_end = handler.do_PUT, handler.end_headers

    def end_headers(self: Any) -> None:
        if self.command == "PUT" and self.path == "/up/tree/g5.bin":
            self.send_header("Connection", "close")
            self.close_connection = True
        real_end(self)

    def do_put(self: Any) -> None:
        real_put(self)
        if self.path == "/up/tree/g2.bin":
            self.wfile.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            self.wfile.flush()

    monkeypatch.setattr(handler, "do_PUT", do_put)
    monkeypatch.setattr(handler, "end_headers", end_headers)
    local, served = tmp_path / "tree", tmp_path / "srv" / "up" / "tree"
    local.mkdir()
    served.mkdir(parents=True)
    for n in range(8):
        (served / f"g{n}.bin").write_bytes(b"o" * 1000)  # yesterday's, of the same size
        (local / f"g{n}.bin").write_bytes(bytes([97 + n]) * 1000)
    with HTTPSServer(pki, root=tmp_path / "srv") as server, \
            _adapter(server.host, server.port, client_context()) as remote:
        results = remote.put([local], "/up/", recursive=True)
    assert len(results) == 8
    assert [p.name for p in sorted(served.iterdir()) if p.read_bytes() != (local / p.name).read_bytes()] == []
