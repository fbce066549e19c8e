"""A WebDAV upload's MOVE into place whose answer never came (review U, finding 1).

The server carries out the MOVE and the connection breaks before its answer: before, the retry
uploaded again and MOVEd again, delivering the file twice, even after the partner had taken the
first copy, or over a newer file written under the name meanwhile.  Now the next try looks first
(:mod:`xfer.adapters.rename_sent`).  The cut is placed by the fault proxy at the first byte of
the MOVE's answer; the partner acts between the tries (``xfer.retry._sleep``)."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

import xfer
import xfer.retry
from xfer.errors import DeliveryUnknown, ExitCode
from xfer.testing import webdav_server
from xfer.testing.faults import Cut
from xfer.testing.webdav_server import RecordedRequest, Reply

from .helpers import run


class _MoveCut:
    """Counts the server's requests by method; at the first MOVE, cuts its connection at the
    next byte down (the answer), the MOVE carried out (``carried_out=False``: answered instead,
    not done).  ``gateway``: no cut; the MOVE is done on disk and answered 504, as a reverse proxy
    whose backend's answer never came answers it."""

    def __init__(self, *, carried_out: bool = True, gateway: bool = False) -> None:
        self.carried_out = carried_out
        self.gateway = gateway
        self.proxy: Any = None
        self.root: Path | None = None
        self.armed = True
        self.methods: list[str] = []
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: RecordedRequest) -> Reply | None:
        self.methods.append(request.method)
        self.requests.append((request.method, request.path))
        if request.method != "MOVE" or not self.armed:
            return None
        self.armed = False
        if self.gateway:
            assert self.root is not None
            destination = urllib.parse.unquote(urllib.parse.urlsplit(request.headers["Destination"]).path)
            (self.root / request.path.lstrip("/")).replace(self.root / destination.lstrip("/"))
            return Reply(504, b"gateway timeout")
        for connection in self.proxy.connections:
            if not connection.closed.is_set() and connection.cut is not None:
                object.__setattr__(connection.cut, "after", connection.bytes_down)  # (a frozen Cut)
        return None if self.carried_out else Reply(500)  # (the 500 never arrives either)


@pytest.fixture
def upload(xfer_faulty: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """(put(between, carried_out) -> the library's result or error, the moves, the served root)."""

    class Upload:
        cut: _MoveCut
        root: Path

        def put(self, between: Callable[[Path], None], *, carried_out: bool = True, cli: list[str] | None = None,
                capsys: pytest.CaptureFixture[str] | None = None, gateway: bool = False,
                hashes: bool = False) -> Any:
            self.cut = _MoveCut(carried_out=carried_out, gateway=gateway)
            server = xfer_faulty("davs", intercept=self.cut, repr_digest=hashes)
            self.root = self.cut.root = server.endpoint.root
            monkeypatch.setattr(xfer.retry, "_sleep", lambda seconds: between(self.root))
            source = tmp_path / "invoice.edi"
            source.write_bytes(b"INVOICE 1001\n" * 100)
            with server.through(lambda number, peer: Cut("down", after=10**15)) as (proxy, profile):
                self.cut.proxy = proxy
                if cli is not None:
                    assert capsys is not None
                    profiles = tmp_path / "profiles"
                    profiles.mkdir()
                    (profiles / "partner.toml").write_text(tomli_w.dumps(profile.to_toml()))
                    monkeypatch.setenv("XFER_PROFILE_PATH", str(profiles))
                    return run(capsys, "put", *cli, str(source), "partner:/invoice.edi")
                with xfer.connect(profile, retries=3) as remote:
                    try:
                        return remote.put_file(source, "/invoice.edi")
                    except xfer.XferError as exc:
                        return exc

    yield Upload()


def _taken(root: Path) -> None:
    (root / "invoice.edi").unlink(missing_ok=True)


def test_a_move_done_and_unheard_is_settled_by_a_look_not_sent_again(upload: Any) -> None:
    result = upload.put(lambda root: None)
    assert not isinstance(result, Exception), result
    assert result.attempts == 2 and result.size_verified
    assert upload.cut.methods.count("PUT") == 1 and upload.cut.methods.count("MOVE") == 1
    assert (upload.root / "invoice.edi").read_bytes() == b"INVOICE 1001\n" * 100
    assert [p.name for p in upload.root.iterdir()] == ["invoice.edi"]


def test_a_move_done_then_the_file_taken_is_delivery_unknown_never_sent_twice(upload: Any) -> None:
    error = upload.put(_taken)
    assert isinstance(error, DeliveryUnknown), error
    assert error.exit_code == ExitCode.CONNECT and "not sent again" in (error.hint or "")
    assert "cut on each" not in str(error)
    assert upload.cut.methods.count("PUT") == 1 and upload.cut.methods.count("MOVE") == 1
    assert list(upload.root.iterdir()) == []


def test_a_newer_file_written_after_the_move_stays(upload: Any) -> None:
    newer = b"INVOICE 1001 (corrected)\n"
    error = upload.put(lambda root: (root / "invoice.edi").write_bytes(newer))
    assert isinstance(error, DeliveryUnknown), error
    assert "holds 25 bytes, not the 1300 sent" in str(error)
    assert (upload.root / "invoice.edi").read_bytes() == newer


def test_a_same_size_file_put_there_since_is_not_deleted_by_the_check(upload: Any) -> None:
    """The server states its hashes: the file found at the upload's size is a partner's next one,
    of the same size.  Review R, 1: the check after the look deleted it as a bad copy."""
    theirs = b"INVOICE 1002\n" * 100
    error = upload.put(lambda root: (root / "invoice.edi").write_bytes(theirs), hashes=True)
    assert isinstance(error, DeliveryUnknown), error
    assert "holds other bytes of the same size" in str(error)
    assert (upload.root / "invoice.edi").read_bytes() == theirs
    assert ("DELETE", "/invoice.edi") not in upload.cut.requests  # (the temporary name's, at the end, may go)


def test_a_move_done_and_answered_504_by_a_gateway_is_looked_at_too(upload: Any) -> None:
    """Review R, 2: a gateway's 504 to a MOVE its backend did says no more than a cut: the next try
    PUT and MOVEd again, over the partner's newer file."""
    newer = b"INVOICE 1001 (corrected)\n"
    error = upload.put(lambda root: (root / "invoice.edi").write_bytes(newer), gateway=True)
    assert isinstance(error, DeliveryUnknown), error
    assert (upload.root / "invoice.edi").read_bytes() == newer
    assert upload.cut.methods.count("PUT") == 1 and upload.cut.methods.count("MOVE") == 1
    done = upload.put(lambda root: None, gateway=True)
    assert not isinstance(done, Exception), done
    assert done.attempts == 2 and upload.cut.methods.count("PUT") == 1


def test_a_move_not_done_is_done_by_the_next_try_without_a_second_upload(upload: Any) -> None:
    result = upload.put(lambda root: None, carried_out=False)
    assert not isinstance(result, Exception), result
    assert upload.cut.methods.count("PUT") == 1 and upload.cut.methods.count("MOVE") == 2
    assert [p.name for p in upload.root.iterdir()] == ["invoice.edi"]


def test_the_cli_keeps_the_source_of_a_delivery_unknown(upload: Any, capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    code, _, err = upload.put(_taken, cli=["--remove-source-files"], capsys=capsys)
    assert code == ExitCode.CONNECT, err
    assert "not sent again" in err and "Traceback" not in err
    assert (tmp_path / "invoice.edi").exists()
    assert upload.cut.methods.count("MOVE") == 1


def test_a_hash_the_put_answer_proved_is_not_asked_again_of_the_look(
    xfer_faulty: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review R3: ``--checksum``, a server that states its hash in the PUT answer only (not on
    HEAD).  The upload found in place after a lost MOVE answer ended as "no checksum" (exit 7),
    inviting a second delivery; the PUT answer's hash had proven it before the MOVE."""
    data = b"INVOICE 1001\n" * 100
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    original = webdav_server._stored_as

    def stored_as(status: Any, start_response: Any) -> Any:
        inner = original(status, start_response)

        def answer(said: Any, headers: Any, *rest: Any) -> Any:
            return inner(said, [*headers, ("Repr-Digest", f"sha-256=:{digest}:")], *rest)

        return answer

    monkeypatch.setattr(webdav_server, "_stored_as", stored_as)
    monkeypatch.setattr(xfer.retry, "_sleep", lambda seconds: None)
    cut = _MoveCut()
    server = xfer_faulty("davs", intercept=cut, put_status=201)
    source = tmp_path / "invoice.edi"
    source.write_bytes(data)
    with server.through(lambda number, peer: Cut("down", after=10**15)) as (proxy, profile):
        cut.proxy = proxy
        with xfer.connect(profile, retries=3, checksum=True) as remote:
            result = remote.put_file(source, "/invoice.edi")
    assert result.attempts == 2 and result.verified == "sha256"
    assert cut.methods.count("PUT") == 1


def test_a_gateway_answering_502_to_every_move_leaves_no_temporary_file(
    xfer_faulty: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review R3: each try's look found the temporary file (the backend never saw a MOVE) and
    MOVEd it again; when the tries ran out, it stayed on the server."""
    methods: list[str] = []

    def intercept(request: RecordedRequest) -> Reply | None:
        methods.append(request.method)
        return Reply(502, b"bad gateway") if request.method == "MOVE" else None

    server = xfer_faulty("davs", intercept=intercept)
    monkeypatch.setattr(xfer.retry, "_sleep", lambda seconds: None)
    source = tmp_path / "invoice.edi"
    source.write_bytes(b"INVOICE 1001\n" * 100)
    with server.through(lambda number, peer: Cut("down", after=10**15)) as (_proxy, profile):
        with xfer.connect(profile, retries=2) as remote, pytest.raises(xfer.XferError):
            remote.put_file(source, "/invoice.edi")
    assert methods.count("PUT") == 1 and methods.count("MOVE") == 3
    assert list(server.endpoint.root.iterdir()) == []
