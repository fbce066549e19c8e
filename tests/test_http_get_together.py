"""Small files downloaded together (issue 14): their GETs pipelined, each answer still proven.

``get -r`` of many small files over HTTPS or WebDAV sends up to 32 files' GETs in one write
(:meth:`HTTPSAdapter.get_together`, :meth:`WebDAVAdapter.get_together`), the sizes the folder's
listing showed making them small.
Every file that comes back from there is proven as one downloaded alone is (a 200, its body
whole by its length or last chunk, any digest matching) and saved the same way (a temporary
name, renamed once proven); every other file goes alone, and that path follows a redirect,
says what is wrong, retries.  Against the in-process server, servers that close a connection
after N requests, drop pipelined requests, and scripted answers that are wrong in one way each.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.together_helpers import SIZES, ContextFactory, count_durable_calls, make_tree
from tests.together_helpers import https_adapter as _adapter
from xfer import batch
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import ExitCode, FilesFailed, IntegrityError, RemoteNotFound, RemotePermissionDenied, TransferCut
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import RecordedRequest, WebDAVServer
from xfer.testing.webdav_server import Reply as DAVReply
from xfer.transfer import PART_SUFFIX


def _gets(srv: HTTPSServer) -> Counter[str]:
    return Counter(r.path for r in srv.requests if r.method == "GET" and not r.path.endswith("/"))


def _leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.rglob("*") if path.name.endswith(PART_SUFFIX)]


@pytest.mark.parametrize("parallel", [1, 3])
def test_small_downloads_go_together_and_each_is_proven(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, parallel: int
) -> None:
    files = make_tree(tmp_path / "srv" / "tree")
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv.host, srv.port, client_context()) as remote:
        results = remote.get(["/tree"], tmp_path / "out", recursive=True, parallel=parallel)
        gets = _gets(srv)
    assert sorted(r.local for r in results) == sorted(str(tmp_path / "out" / name) for name in files)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    # Each file proven by its length, as alone; each asked for once.
    assert all(r.verified == "size" and r.size == len(files[Path(r.local).name]) for r in results)
    assert set(gets.values()) == {1} and len(gets) == len(files)
    together = [r for r in results if r.details.get("pipelined")]
    # All but a connection's first file (it opens the connection) and the one too large; with
    # several workers, a worker's group may also hold a single small file (before the large one,
    # or the last of the queue): a group of one goes alone.
    assert len(together) >= len(files) - 2 * parallel - 1
    assert all(r.size <= 64 * 1024 and r.tls_version for r in together)
    assert not _leftovers(tmp_path / "out")


def test_a_server_closing_after_n_requests_loses_no_download(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """The GETs pipelined after a keep-alive limit's last answer are never read: their files go
    again together on a new connection, whose first file opens it alone."""
    files = make_tree(tmp_path / "srv" / "tree")
    with (
        HTTPSServer(pki, root=tmp_path / "srv", keepalive_requests=9) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        results = remote.get(["/tree"], tmp_path / "out", recursive=True)
        handshakes = srv.handshakes
        gets = _gets(srv)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert handshakes > len(files) // 9 - 2  # the server did close every 9 requests
    together = sum(bool(r.details.get("pipelined")) for r in results)
    assert together >= len(files) * 2 // 3, f"{together} of {len(files)} went together"
    assert max(gets.values()) <= 2  # a file whose answer was lost is asked for once more, no more


@pytest.mark.parametrize("keepalive", [1, 2])
def test_a_server_answering_one_or_two_requests_a_connection_still_gives_every_file(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, keepalive: int
) -> None:
    files = make_tree(tmp_path / "srv" / "tree", SIZES[:20])
    with (
        HTTPSServer(pki, root=tmp_path / "srv", keepalive_requests=keepalive) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        results = remote.get(["/tree"], tmp_path / "out", recursive=True)
        gets = _gets(srv)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert len(results) == len(files) and max(gets.values()) <= 2


# -- scripted answers: one file of a group answered wrongly --------------------------------------


def _scripted_tree(files: dict[str, bytes], **odd: Reply) -> dict[str, Reply]:
    """Replies for ``/tree/`` (nginx's JSON listing of ``files``) and each file; ``odd`` replaces
    the answers of some (by name)."""
    listing = [{"name": name, "type": "file", "mtime": "Sun, 29 Nov 2026 12:13:17 GMT", "size": len(data)}
               for name, data in files.items()]
    replies = {
        "/tree": Reply(status=301, headers={"Location": "/tree/"}, end="keep-alive"),  # a folder, as nginx says
        "/tree/": Reply(body=json.dumps(listing).encode(), headers={"Content-Type": "application/json"},
                        end="keep-alive"),
    }
    for name, data in files.items():
        replies[f"/tree/{name}"] = odd.get(name.replace(".", "_"), Reply(body=data, end="keep-alive"))
    return replies


def _scripted_get(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, replies: dict[str, Reply], **settings: Any
) -> tuple[list[Any], list[tuple[str, str]]]:
    with ScriptedHTTPSServer(pki, replies) as srv:
        remote = HTTPSAdapter(ConnectionSettings(
            scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=client_context(), timeout=2,
            retries=0, **settings,
        ))
        try:
            with remote:
                return remote.get(["/tree/"], tmp_path / "out", recursive=True), srv.requests
        finally:
            assert not _leftovers(tmp_path)  # whatever happened, no half file is left


FILES = {f"f{number}.bin": bytes([65 + number]) * (100 + number) for number in range(6)}


def test_scripted_files_go_together(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    """The scripted server itself: listed, then every file in one write on the listing's connection."""
    results, requests = _scripted_get(pki, client_context, tmp_path, _scripted_tree(FILES))
    for name, data in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert all(r.details.get("pipelined") for r in results)
    assert Counter(path for method, path in requests if method == "GET")["/tree/f3.bin"] == 1


def test_a_missing_file_in_a_group_fails_as_it_does_alone(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    replies = _scripted_tree(FILES, f3_bin=Reply(status=404, body=b"gone\n", end="keep-alive"))
    with pytest.raises(FilesFailed) as failure:
        _scripted_get(pki, client_context, tmp_path, replies)
    [alone] = failure.value.failures
    assert isinstance(alone, RemoteNotFound) and "/tree/f3.bin" in str(alone)
    assert failure.value.exit_code == ExitCode.REMOTE
    assert not (tmp_path / "out" / "f3.bin").exists()
    assert len(failure.value.results) == len(FILES) - 1  # the others arrived


@pytest.mark.parametrize("end", ["fin", "reset", "close_notify"])
def test_a_body_cut_short_in_a_group_is_never_saved(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, end: str
) -> None:
    """A body shorter than its Content-Length, however the connection ends: the answers after it
    are lost with it (asked for again), and the file alone says it was cut."""
    replies = _scripted_tree(FILES, f3_bin=Reply(body=b"C" * 40, announce=103, end=end))  # type: ignore[arg-type]
    with pytest.raises(FilesFailed) as failure:  # a cut stops the batch; the files before it are reported
        _scripted_get(pki, client_context, tmp_path, replies)
    assert isinstance(failure.value.failures[0], TransferCut)
    assert failure.value.exit_code == ExitCode.INTEGRITY and "/tree/f3.bin" in str(failure.value)
    assert not (tmp_path / "out" / "f3.bin").exists()
    assert [Path(r.local).name for r in failure.value.results] == ["f0.bin", "f1.bin", "f2.bin"]


def test_a_body_shorter_than_its_length_on_a_connection_kept_open_is_never_saved(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """The same, the connection kept open: the next answer's head filled the body up to its
    length, and f3 was saved as proven with "HTTP/1.1 200" in it (review P, finding 1).  The next
    head, which is then no head, puts the answer before it in doubt."""
    replies = _scripted_tree(FILES, f3_bin=Reply(body=b"C" * 40, announce=103, end="keep-alive"))
    with pytest.raises(FilesFailed) as failure:
        _scripted_get(pki, client_context, tmp_path, replies)
    assert "broke after 40 of 103 bytes of /tree/f3.bin; nothing was saved" in str(failure.value.failures[0])
    assert not (tmp_path / "out" / "f3.bin").exists()
    for result in failure.value.results:
        assert Path(result.local).read_bytes() == FILES[Path(result.local).name]


def test_a_body_longer_than_its_length_in_a_group_is_not_saved_from_the_group(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Its tail is where the next answer should begin: f3 cut to its Content-Length was saved as
    proven from the group (review P, finding 1).  Alone, a GET gets what the server's length says."""
    replies = _scripted_tree(FILES, f3_bin=Reply(body=FILES["f3.bin"], announce=50, end="keep-alive"))
    results, _ = _scripted_get(pki, client_context, tmp_path, replies)
    [f3] = [r for r in results if r.local.endswith("f3.bin")]
    assert not f3.details.get("pipelined")
    for name, data in FILES.items():
        if name != "f3.bin":
            assert (tmp_path / "out" / name).read_bytes() == data


def test_an_answer_too_many_puts_no_file_under_another_files_name(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A complete extra answer after f3's (an error page written after a response, a split
    response): every later answer was taken for the next file's, f4 saved with the extra's bytes
    and f5 with f4's, all "verified" (review P, finding 2).  The bytes left over after the last
    answer show the answers are out of step: none after the first is saved from the group."""
    extra = b"HTTP/1.1 200 OK\r\nContent-Length: 104\r\n\r\n" + b"X" * 104  # f4's size
    replies = _scripted_tree(FILES, f3_bin=Reply(body=FILES["f3.bin"] + extra, announce=103, end="keep-alive"))
    results, _ = _scripted_get(pki, client_context, tmp_path, replies)
    assert len(results) == len(FILES)
    for name, data in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data, name


def test_an_answer_of_another_size_than_listed_goes_alone(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """The listing said 103 bytes, the group's answer brought 90: a file changed since it was
    listed, or an answer out of step with its request whose sign (an answer too many) was still on
    its way (review P, finding 2).  Not taken from the group: alone, its own answer is saved."""
    changed = b"c" * 90
    files = {**FILES}
    replies = _scripted_tree(files, f3_bin=Reply(body=changed, end="keep-alive"))
    results, requests = _scripted_get(pki, client_context, tmp_path, replies)
    [f3] = [r for r in results if r.local.endswith("f3.bin")]
    assert not f3.details.get("pipelined") and f3.size == 90
    assert (tmp_path / "out" / "f3.bin").read_bytes() == changed
    assert Counter(path for method, path in requests if method == "GET")["/tree/f3.bin"] == 2
    assert all(r.details.get("pipelined") for r in results if r.local.endswith(("f4.bin", "f5.bin")))


def test_stray_empty_lines_after_the_last_answer_keep_the_group(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """An old server's CRLF after a body is not an answer too many: the last file's answer in the
    group, followed by it, is still saved from the group."""
    last = "f5.bin"
    replies = _scripted_tree(FILES, f5_bin=Reply(body=FILES[last] + b"\r\n", announce=len(FILES[last]),
                                                 end="keep-alive"))
    results, _ = _scripted_get(pki, client_context, tmp_path, replies)
    assert all(r.details.get("pipelined") for r in results if not r.local.endswith("f0.bin"))
    for name, data in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data


def test_a_chunked_answer_is_saved_once_its_last_chunk_came(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    replies = _scripted_tree(FILES, f3_bin=Reply(body=[FILES["f3.bin"][:50], FILES["f3.bin"][50:]], chunked=True,
                                                 length=False, end="keep-alive"))
    results, _ = _scripted_get(pki, client_context, tmp_path, replies)
    assert (tmp_path / "out" / "f3.bin").read_bytes() == FILES["f3.bin"]
    chunked = next(r for r in results if r.local.endswith("f3.bin"))
    assert chunked.details.get("pipelined") and chunked.size == len(FILES["f3.bin"])


def test_a_chunked_answer_without_its_last_chunk_is_never_saved(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    replies = _scripted_tree(FILES, f3_bin=Reply(body=[FILES["f3.bin"][:50]], chunked=True, finished=False,
                                                 length=False, end="fin"))
    with pytest.raises(FilesFailed) as failure:
        _scripted_get(pki, client_context, tmp_path, replies)
    assert isinstance(failure.value.failures[0], TransferCut)
    assert not (tmp_path / "out" / "f3.bin").exists()


def test_a_redirected_file_goes_alone_and_follows_it(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A pipelined answer is never followed: the file goes alone, as every redirect is handled."""
    replies = _scripted_tree(FILES, f3_bin=Reply(status=302, headers={"Location": "/moved/f3.bin"}, end="keep-alive"))
    replies["/moved/f3.bin"] = Reply(body=b"moved here", end="keep-alive")
    results, requests = _scripted_get(pki, client_context, tmp_path, replies)
    assert (tmp_path / "out" / "f3.bin").read_bytes() == b"moved here"
    moved = next(r for r in results if r.local.endswith("f3.bin"))
    assert not moved.details.get("pipelined")
    assert ("GET", "/moved/f3.bin") in requests


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_a_file_grown_past_the_pipelined_limit_goes_alone(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, chunked: bool
) -> None:
    """Listed small, answered with 300 KiB (it grew, or the listing lied): that body is left unread
    and its connection given up; the file comes whole, alone.  (Chunked, no length says what an
    empty read would lack.)"""
    grown = bytes(range(256)) * 1200
    replies = _scripted_tree(FILES, f3_bin=Reply(body=[grown], chunked=chunked, length=not chunked, end="keep-alive"))
    results, _ = _scripted_get(pki, client_context, tmp_path, replies)
    assert (tmp_path / "out" / "f3.bin").read_bytes() == grown
    for name, data in FILES.items():
        if name != "f3.bin":
            assert (tmp_path / "out" / name).read_bytes() == data
    assert not next(r for r in results if r.local.endswith("f3.bin")).details.get("pipelined")


def test_a_body_too_long_to_read_in_a_group_keeps_pipelining_on(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """The answers after a body left unread for its length are lost with the connection given up,
    and asked for again; that says nothing of the server: the other groups still go pipelined."""
    files = {f"f{number:02d}.bin": bytes([65 + number % 26]) * (100 + number) for number in range(40)}
    grown = bytes(range(256)) * 1200
    replies = _scripted_tree(files, f02_bin=Reply(body=grown, end="keep-alive"))
    with ScriptedHTTPSServer(pki, replies) as srv:
        remote = HTTPSAdapter(ConnectionSettings(
            scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=client_context(), timeout=2,
        ))
        with remote:
            results = remote.get(["/tree/"], tmp_path / "out", recursive=True)
            pipelining = remote.session.pipelining
    assert pipelining is True
    assert (tmp_path / "out" / "f02.bin").read_bytes() == grown
    assert sum(bool(r.details.get("pipelined")) for r in results) >= 35


def test_once_the_server_set_a_cookie_every_get_carries_it(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A load balancer's sticky cookie: requests prepared the short way would go without it, so
    the files go one by one, the long way, each with the cookie."""
    files = make_tree(tmp_path / "srv" / "tree", [100] * 10)
    with (
        HTTPSServer(pki, root=tmp_path / "srv", set_cookie="route=a1") as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        results = remote.get(["/tree"], tmp_path / "out", recursive=True)
        gets = [r for r in srv.requests if r.method == "GET" and not r.path.endswith("/")]
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert len(gets) == len(files) and all("route=a1" in r.headers.get("Cookie", "") for r in gets)
    assert not any(r.details.get("pipelined") for r in results)


def test_downloads_that_cannot_go_together_are_spread_over_the_workers(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under --resume nothing is grouped, so -P 3 shares the files out one at a time (a group would
    have held 32 of them on one worker)."""
    files = make_tree(tmp_path / "srv" / "tree", [100] * 40)
    taken: list[int] = []
    run_group = batch._run_group

    def recorded(adapter: Any, group: Any, *rest: Any, **named: Any) -> Any:
        taken.append(len(group))
        return run_group(adapter, group, *rest, **named)

    monkeypatch.setattr(batch, "_run_group", recorded)
    with (
        HTTPSServer(pki, root=tmp_path / "srv") as srv,
        _adapter(srv.host, srv.port, client_context(), resume=True) as remote,
    ):
        assert not remote.moves_together(upload=False) and remote.moves_together(upload=True)
        remote.get(["/tree"], tmp_path / "out", recursive=True, parallel=3)
    assert taken == [1] * len(files)  # each worker took one file at a time
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == files


def test_a_digest_that_does_not_match_saves_nothing(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    replies = _scripted_tree(FILES, f3_bin=Reply(body=FILES["f3.bin"], headers={"Repr-Digest": f"sha-256=:{wrong}:"},
                                                 end="keep-alive"))
    with pytest.raises(FilesFailed) as failure:
        _scripted_get(pki, client_context, tmp_path, replies)
    assert failure.value.exit_code == ExitCode.INTEGRITY
    assert [type(each) for each in failure.value.failures] == [IntegrityError]
    assert not (tmp_path / "out" / "f3.bin").exists()


def test_a_matching_digest_proves_a_file_in_a_group(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    right = base64.b64encode(hashlib.sha256(FILES["f3.bin"]).digest()).decode()
    replies = _scripted_tree(FILES, f3_bin=Reply(body=FILES["f3.bin"], headers={"Repr-Digest": f"sha-256=:{right}:"},
                                                 end="keep-alive"))
    results, _ = _scripted_get(pki, client_context, tmp_path, replies)
    hashed = next(r for r in results if r.local.endswith("f3.bin"))
    assert hashed.details.get("pipelined") and hashed.verified == "sha256"


def test_an_encoded_answer_is_kept_as_sent_and_says_so(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    replies = _scripted_tree(FILES, f3_bin=Reply(body=FILES["f3.bin"], headers={"Content-Encoding": "gzip"},
                                                 end="keep-alive"))
    results, _ = _scripted_get(pki, client_context, tmp_path, replies)
    encoded = next(r for r in results if r.local.endswith("f3.bin"))
    assert encoded.details.get("pipelined") and encoded.details.get("content_encoding") == "gzip"
    assert (tmp_path / "out" / "f3.bin").read_bytes() == FILES["f3.bin"]


def test_a_server_that_drops_pipelined_requests_still_gives_every_file(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """One wait for an answer that does not come, then one request at a time: the dropped GETs
    were never read, so every file is asked for once."""
    with ScriptedHTTPSServer(pki, _scripted_tree(FILES), pipelining=False) as srv:
        remote = HTTPSAdapter(ConnectionSettings(
            scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=client_context(), timeout=1,
        ))
        with remote:
            remote.get(["/tree/"], tmp_path / "out", recursive=True)
            pipelining = remote.session.pipelining
        gets = Counter(path for method, path in srv.requests if method == "GET" and path != "/tree/")
    for name, data in FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert set(gets.values()) == {1} and len(gets) == len(FILES)
    assert pipelining is False


@pytest.mark.parametrize("setting", [{"throttle_rate": 10_000_000}, {"resume": True}], ids=["limit-rate", "resume"])
def test_no_grouped_downloads_under_a_rate_limit_or_resume(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, setting: dict[str, Any]
) -> None:
    """Under ``--limit-rate`` every file pays the rate as it is read; with ``--resume`` a part an
    earlier run kept is continued by the download alone."""
    files = make_tree(tmp_path / "srv" / "tree", [100] * 10)
    settings = dict(setting)
    if "throttle_rate" in settings:
        from xfer.throttle import TokenBucket

        settings = {"throttle": TokenBucket(settings.pop("throttle_rate"))}
    with (
        HTTPSServer(pki, root=tmp_path / "srv") as srv,
        _adapter(srv.host, srv.port, client_context(), **settings) as remote,
    ):
        results = remote.get(["/tree"], tmp_path / "out", recursive=True)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert not any(r.details.get("pipelined") for r in results)


# -- WebDAV: the same GETs, and a folder told from a failure alone ------------------------------


def test_small_webdav_downloads_go_together(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "srv" / "tree")
    with WebDAVServer(pki, root=tmp_path / "srv") as srv, srv.adapter(client_context()) as remote:
        results = remote.get(["/tree"], tmp_path / "out", recursive=True, parallel=2)
        gets = Counter(r.path for r in srv.requests if r.method == "GET")
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert all(r.verified == "size" and r.protocol == "davs" for r in results)
    assert set(gets.values()) == {1}
    together = sum(bool(r.details.get("pipelined")) for r in results)
    assert together >= len(files) - 2 - 1, f"{together} of {len(files)} went together"


def test_a_webdav_file_answered_wrongly_in_a_group_is_said_alone(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A 403 for one file of a group: alone, the adapter asks whether it is a folder (it is not)
    and says the server refused it; nothing is saved under its name."""
    make_tree(tmp_path / "srv" / "tree", [100] * 10)

    def refuse(request: RecordedRequest) -> DAVReply | None:
        return DAVReply(403, b"no\n") if request.method == "GET" and request.path == "/tree/f004.bin" else None

    with (
        WebDAVServer(pki, root=tmp_path / "srv", intercept=refuse) as srv,
        srv.adapter(client_context()) as remote,
        pytest.raises(FilesFailed) as failure,
    ):
        remote.get(["/tree"], tmp_path / "out", recursive=True)
    [alone] = failure.value.failures
    assert isinstance(alone, RemotePermissionDenied) and "/tree/f004.bin" in str(alone)
    assert not (tmp_path / "out" / "f004.bin").exists() and not _leftovers(tmp_path / "out")


def test_a_group_is_reported_only_once_named_and_made_durable_at_once(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group's files wait under their temporary names for one durability call for all of them
    (:class:`xfer.transfer.DownloadGroup`); each is reported to the batch only once it has its name."""
    files = make_tree(tmp_path / "srv" / "tree", [100 + n for n in range(20)])
    asked = count_durable_calls(monkeypatch)
    there: list[bool] = []

    def landed(place: int, result: Any) -> None:
        there.append(Path(result.local).read_bytes() == files[Path(result.local).name])

    (tmp_path / "out").mkdir()
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv.host, srv.port, client_context()) as remote:
        results = remote.get_together([(f"/tree/{name}", tmp_path / "out" / name, None) for name in files],
                                      landed=landed)
    assert all(result is not None for result in results)
    # The first file opened the connection alone (fsynced alone); the other 19 went together.
    assert asked == [19]
    assert there == [True] * 20
    assert not _leftovers(tmp_path / "out")
