"""SFTP's ``check-file`` hashes (issue 18): a server that has the extension proves each transfer by hash.

OpenSSH has no such extension (tests/test_sftp.py's plain asyncssh server, and the bed's sshd in
integration/test_sftp_checkfile_sshd.py, report ``verified: "size"``); the in-process
:class:`~xfer.testing.sftp_server.CheckFileServer` is the other legal variant: it names
``check-file`` and answers it, in SHA-256 or (a subclass) MD5 only.  A server whose hash does
not match the bytes is an integrity error (exit 7) with nothing under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import asyncssh
import pytest

import xfer
from tests.helpers import one_error, run
from xfer.adapters.sftp import SFTPAdapter
from xfer.errors import IntegrityError
from xfer.testing.contract import make_file
from xfer.testing.sftp_server import CheckFileServer, SFTPServer, SSHTestKeys, create_ssh_keys


class _Md5Only(CheckFileServer):
    algorithms: ClassVar[tuple[str, ...]] = ("md5",)


class _Lying(CheckFileServer):
    corrupt: ClassVar[bool] = True


class _Sha1Only(CheckFileServer):
    """Names check-file as ProFTPD does ("1", no algorithms) and has none xfer asks for: it answers
    SSH_FX_FAILURE "none of ... is offered"."""

    algorithms: ClassVar[tuple[str, ...]] = ("sha1",)
    advertise_algorithms: ClassVar[bool] = False


class _RefusesEmpty(CheckFileServer):
    """As ProFTPD: does not name check-file to an SFTP v3 client (before 1.3.9) and refuses to hash
    a range starting at or past the end (an empty file) with SSH_FX_FAILURE."""

    advertised: ClassVar[bool] = False

    def check_file(self, fd: int, path: str, requested: str, start: int, length: int) -> tuple[str, bytes]:
        if start >= os.fstat(fd).st_size:
            self.asked.append((path, requested, start, length))
            raise asyncssh.SFTPFailure("Invalid argument")
        return super().check_file(fd, path, requested, start, length)


class _StatusOk(CheckFileServer):
    """Answers check-file with an OK status and no hash: a malformed reply."""

    advertise_algorithms: ClassVar[bool] = False
    reply_form: ClassVar[str] = "status-ok"


class _ProFTPDForm(CheckFileServer):
    """ProFTPD's reply (the algorithm, then the hash: no "check-file" string first)."""

    advertise_algorithms: ClassVar[bool] = False
    reply_form: ClassVar[str] = "proftpd"


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def serve(ssh_keys: SSHTestKeys, tmp_path: Path) -> Iterator[Callable[[type[CheckFileServer] | None], SFTPServer]]:
    with_servers: list[SFTPServer] = []

    def start(kind: type[CheckFileServer] | None) -> SFTPServer:
        srv = SFTPServer(ssh_keys, root=tmp_path / "root", sftp_class=kind or asyncssh.SFTPServer)
        with_servers.append(srv.__enter__())
        return srv

    yield start
    for srv in with_servers:
        srv.__exit__(None, None, None)


def _flags(keys: SSHTestKeys) -> list[str]:
    return ["--identity", str(keys.client_key), "--identity-password", f"file:{keys.passphrase_file}",
            "--pin", keys.host_fingerprint()]


def _connect(srv: SFTPServer, keys: SSHTestKeys) -> SFTPAdapter:
    adapter = xfer.connect(srv.url, identity=str(keys.client_key), identity_password=f"file:{keys.passphrase_file}",
                           pin=keys.host_fingerprint(), timeout=10)
    assert isinstance(adapter, SFTPAdapter)
    return adapter


def _put_and_get(
    capsys: pytest.CaptureFixture[str], srv: SFTPServer, ssh_keys: SSHTestKeys, source: Path, remote: str, back: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``put --json`` of ``source`` to ``remote`` and ``get --json`` of it back: both results (both succeed)."""
    code, out, err = run(capsys, "put", str(source), f"{srv.url}{remote}", "--json", *_flags(ssh_keys))
    assert code == 0, err
    [put] = json.loads(out)
    code, out, err = run(capsys, "get", f"{srv.url}{remote}", str(back), "--json", *_flags(ssh_keys))
    assert code == 0, err
    [got] = json.loads(out)
    return put, got


@pytest.mark.parametrize(("kind", "expected"), [(CheckFileServer, "sha256"), (_Md5Only, "md5"), (None, "size")])
def test_verified_by_the_servers_hash_where_it_has_check_file(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], kind: type[CheckFileServer] | None, expected: str,
) -> None:
    srv = serve(kind)
    source = tmp_path / "invoice.bin"
    digest = make_file(source, 3 << 20)
    put, got = _put_and_get(capsys, srv, ssh_keys, source, "in/invoice.bin", tmp_path / "back.bin")
    assert put["verified"] == got["verified"] == expected and put["sha256"] == got["sha256"] == digest
    if kind is not None:  # the server was asked, for the temporary name and for the file
        asked = [Path(path).name for path, *_ in srv.check_file_asked]
        assert "invoice.bin" in asked and any(name.endswith(".xfer-part") for name in asked)
        assert {algorithms for _, algorithms, *_ in srv.check_file_asked} == {"sha256,md5,crc32"}
    with _connect(srv, ssh_keys) as remote, remote.open_write("/in/stream.bin") as writer:
        writer.write(b"streamed" * 100_000)
    assert writer.result is not None and writer.result.verified == expected


def test_a_wrong_hash_on_get_is_exit_7_and_nothing_is_saved(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = serve(_Lying)
    make_file(srv.root / "report.bin", 2 << 20)
    (tmp_path / "local").mkdir()
    local = tmp_path / "local" / "report.bin"
    local.write_text("yesterday's report")
    code, _, err = run(capsys, "get", f"{srv.url}report.bin", str(local), *_flags(ssh_keys))
    assert code == 7, err
    line = one_error(err, "SHA-256 check", "check-file", "nothing was saved")
    assert "report.bin" in line
    assert local.read_text() == "yesterday's report"
    assert sorted(p.name for p in local.parent.iterdir()) == ["report.bin"]


def test_a_wrong_hash_on_put_is_exit_7_and_nothing_is_installed(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = serve(_Lying)
    (srv.root / "report.bin").write_text("previous version")
    source = tmp_path / "report.bin"
    make_file(source, 2 << 20)
    code, _, err = run(capsys, "put", str(source), f"{srv.url}report.bin", *_flags(ssh_keys))
    assert code == 7, err
    one_error(err, "SHA-256 check", "the upload was removed")
    assert (srv.root / "report.bin").read_text() == "previous version"
    assert sorted(p.name for p in srv.root.iterdir()) == ["report.bin"]
    with _connect(srv, ssh_keys) as remote:  # and the streaming writer, the same way
        with pytest.raises(IntegrityError), remote.open_write("/report.bin") as writer:
            writer.write(b"x" * 300_000)
    assert sorted(p.name for p in srv.root.iterdir()) == ["report.bin"]
    assert hashlib.sha256((srv.root / "report.bin").read_bytes()).hexdigest() == hashlib.sha256(
        b"previous version").hexdigest()


def test_checksum_required_without_check_file_is_refused(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    srv = serve(None)
    make_file(srv.root / "a.bin", 1000)
    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), checksum=True) as remote:
        with pytest.raises(IntegrityError, match="check-file"):
            remote.get_file("/a.bin", tmp_path / "a.bin")
    assert not (tmp_path / "a.bin").exists() and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize(("kind", "expected"), [
    (_Sha1Only, "size"), (_StatusOk, "size"), (_RefusesEmpty, "sha256"), (_ProFTPDForm, "sha256"),
])
def test_a_check_file_refusal_falls_back_to_the_size(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], kind: type[CheckFileServer], expected: str,
) -> None:
    """A refusal other than "unsupported" (a failure status, a reply without a hash) is no hash:
    the transfer is checked by size, as against a server without the extension."""
    srv = serve(kind)
    source = tmp_path / "order.bin"
    digest = make_file(source, 1 << 20)
    put, got = _put_and_get(capsys, srv, ssh_keys, source, "order.bin", tmp_path / "back.bin")
    assert put["verified"] == got["verified"] == expected and put["sha256"] == got["sha256"] == digest
    assert srv.check_file_asked, "the server was never asked"
    with _connect(srv, ssh_keys) as remote, remote.open_write("/stream.bin") as writer:
        writer.write(b"streamed" * 100_000)
    assert writer.result is not None and writer.result.verified == expected
    assert sorted(p.name for p in srv.root.iterdir()) == ["order.bin", "stream.bin"]


def test_a_refusal_with_checksum_required_fails_and_saves_nothing(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = serve(_Sha1Only)
    make_file(srv.root / "a.bin", 1000)
    source = tmp_path / "b.bin"
    make_file(source, 1000)
    code, _, err = run(capsys, "get", f"{srv.url}a.bin", str(tmp_path / "a.bin"), "--checksum", *_flags(ssh_keys))
    assert code == 7, err
    one_error(err, "gave no checksum", "none of sha256,md5,crc32 is offered", "nothing was saved")
    code, _, err = run(capsys, "put", str(source), f"{srv.url}b.bin", "--checksum", *_flags(ssh_keys))
    assert code == 7, err
    one_error(err, "gave no checksum", "the upload was removed")
    assert sorted(p.name for p in srv.root.iterdir()) == ["a.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "root"]


def test_uploads_ask_the_server_once_each(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """The algorithm comes from SSH_FXP_VERSION: no request about the still-empty temporary file
    (one round trip, and the server opening a file, saved per connection)."""
    srv = serve(_Md5Only)
    source = tmp_path / "a.bin"
    make_file(source, 300_000)
    with _connect(srv, ssh_keys) as remote:
        results = [remote.put_file(source, f"/a{n}.bin") for n in range(3)]
    assert [r.verified for r in results] == ["md5"] * 3
    assert [(Path(path).name[:4], start, length) for path, _, start, length in srv.check_file_asked] == [
        (".a0.", 0, 0), (".a1.", 0, 0), (".a2.", 0, 0)]


def test_what_the_server_offers_is_learnt_again_on_a_new_connection(
    ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """The answer belongs to the connection: after a reconnection to another server process on the
    same address, check-file is asked about again (and a server without it is not asked again)."""
    source = tmp_path / "a.bin"
    make_file(source, 200_000)
    root = tmp_path / "root"
    first = SFTPServer(ssh_keys, root=root).__enter__()
    port = first.port
    try:
        remote = xfer.connect(first.url, identity=str(ssh_keys.client_key), checksum=False, timeout=10,
                              identity_password=f"file:{ssh_keys.passphrase_file}", pin=ssh_keys.host_fingerprint())
    except BaseException:
        first.__exit__(None, None, None)
        raise
    with remote:
        try:
            assert remote.put_file(source, "/one.bin").verified == "size"
        finally:
            first.__exit__(None, None, None)
        with SFTPServer(ssh_keys, root=root, port=port, sftp_class=CheckFileServer) as second:
            assert remote.put_file(source, "/two.bin").verified == "sha256"
            assert remote.get_file("/one.bin", tmp_path / "one.bin").verified == "sha256"
        with SFTPServer(ssh_keys, root=root, port=port) as third:
            assert remote.put_file(source, "/three.bin").verified == "size"
    assert [Path(path).name for path, *_ in second.check_file_asked][1:] == ["one.bin"]
    assert third.check_file_asked == []


def test_check_file_servers_keep_to_themselves(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """Two check-file servers and a plain one in one process: each sees only its own requests, and
    asyncssh's own server handler is left as it is for everyone else."""
    plain_handler = asyncssh.sftp.SFTPServerHandler
    one, two, plain = serve(CheckFileServer), serve(_Md5Only), serve(None)
    assert asyncssh.sftp.SFTPServerHandler is plain_handler
    source = tmp_path / "a.bin"
    make_file(source, 100_000)
    with _connect(one, ssh_keys) as remote:
        assert remote.put_file(source, "/one.bin").verified == "sha256"
    assert len(one.check_file_asked) == 1 and two.check_file_asked == []
    with _connect(two, ssh_keys) as remote:
        assert remote.put_file(source, "/two.bin").verified == "md5"
    with _connect(plain, ssh_keys) as remote:
        assert remote.put_file(source, "/three.bin").verified == "size"
    assert len(one.check_file_asked) == 1 and len(two.check_file_asked) == 1
    assert plain.check_file_asked == []


class _Md5Unnamed(CheckFileServer):
    """Has MD5 only and does not name check-file at the handshake (ProFTPD before 1.3.9 without SHA-256)."""

    algorithms: ClassVar[tuple[str, ...]] = ("md5",)
    advertised: ClassVar[bool] = False


def test_an_unnamed_algorithm_is_learnt_from_the_first_answer(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """Nothing asked before the first upload: it computed SHA-256 only and gets an MD5 answer, so the
    file sent is hashed in MD5 once more and compared (also under checksum); the connection's next
    transfers compute MD5 along."""
    srv = serve(_Md5Unnamed)
    source = tmp_path / "a.bin"
    make_file(source, 300_000)
    with _connect(srv, ssh_keys) as remote:
        assert remote.put_file(source, "/a.bin").verified == "md5"
        assert remote.put_file(source, "/b.bin").verified == "md5"
        assert remote.get_file("/a.bin", tmp_path / "back.bin").verified == "md5"
    assert len(srv.check_file_asked) == 3
    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), checksum=True) as remote:
        assert remote.put_file(source, "/c.bin").verified == "md5"
    assert sorted(p.name for p in srv.root.iterdir()) == ["a.bin", "b.bin", "c.bin"]


class _Md5UnnamedLying(_Md5Unnamed):
    corrupt: ClassVar[bool] = True


@pytest.mark.parametrize("sha256", [False, True])
def test_a_stream_under_checksum_is_proven_by_an_unnamed_md5(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, sha256: bool,
) -> None:
    """``open_write`` (``put -``, fsspec writes) cannot hash its bytes again once the server names
    MD5 after the upload: under --checksum MD5 is computed on the way while the algorithm is
    unknown, so such a server proves the stream, and a wrong copy is refused (found in review:
    the upload was refused as "answered in md5, not computed here")."""
    options: dict[str, Any] = {
        "identity": str(ssh_keys.client_key), "identity_password": f"file:{ssh_keys.passphrase_file}",
        "pin": ssh_keys.host_fingerprint(), "timeout": 10, "checksum": True, "sha256": sha256,
    }
    srv = serve(_Md5Unnamed)
    with xfer.connect(srv.url, **options) as remote, remote.open_write("/s.bin") as writer:
        writer.write(b"streamed " * 5000)
    assert writer.result is not None and writer.result.verified == "md5"
    assert (srv.root / "s.bin").read_bytes() == b"streamed " * 5000
    lying = serve(_Md5UnnamedLying)
    with xfer.connect(lying.url, **options) as remote:
        with pytest.raises(IntegrityError, match=r"(?i)md5"), remote.open_write("/t.bin") as writer:
            writer.write(b"streamed " * 5000)
    assert not (lying.root / "t.bin").exists()


@pytest.mark.parametrize("kind", [_ProFTPDForm, _RefusesEmpty, _Md5Unnamed])
@pytest.mark.parametrize("checksum", [False, True])
def test_a_server_naming_no_algorithm_proves_an_upload_that_computed_no_hash(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    kind: type[CheckFileServer], checksum: bool,
) -> None:
    """The CLI without --json (``sha256=False``) computes nothing on the way while the server's
    algorithm is unknown: its answer after the upload is compared with the file hashed then (found
    in review: it was a size check, and a failure under checksum)."""
    srv = serve(kind)
    source = tmp_path / "a.bin"
    digest = make_file(source, 300_000)
    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), checksum=checksum, sha256=False) as remote:
        put = remote.put_file(source, "/a.bin")
    assert put.verified == ("md5" if kind is _Md5Unnamed else "sha256")
    assert hashlib.sha256((srv.root / "a.bin").read_bytes()).hexdigest() == digest


def test_a_file_changed_after_its_upload_is_not_blamed_on_the_server(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """The late hash is of the file as sent: one changed since (same size, new bytes) is named as
    such, and nothing is installed."""
    srv = serve(_ProFTPDForm)
    source = tmp_path / "a.bin"
    make_file(source, 300_000)
    real_complete = SFTPAdapter._complete

    async def change_then_complete(self: SFTPAdapter, *args: Any, **kwargs: Any) -> Any:
        source.write_bytes(source.read_bytes()[::-1])
        return await real_complete(self, *args, **kwargs)

    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), sha256=False, retries=0) as remote, \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(SFTPAdapter, "_complete", change_then_complete)
        with pytest.raises(IntegrityError, match="changed while or after it was uploaded"):
            remote.put_file(source, "/a.bin")
    assert sorted(p.name for p in srv.root.iterdir() if not p.name.startswith(".")) == []


def test_an_asyncssh_of_another_shape_costs_only_the_extension_list(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """asyncssh is not pinned: where its private session class differs, the session starts through
    asyncssh's public call and check-file is learnt from the first hash request."""
    from xfer.adapters.sftp import checkfile

    assert checkfile._KNOWN_HANDLER, "the installed asyncssh should have the shape start_sftp_client knows"
    monkeypatch.setattr(checkfile, "_KNOWN_HANDLER", False)
    srv = serve(_Md5Only)
    source = tmp_path / "a.bin"
    make_file(source, 300_000)
    with _connect(srv, ssh_keys) as remote:
        results = [remote.put_file(source, f"/a{n}.bin") for n in range(2)]
    # The first answer (MD5, not computed along the first upload: the file is hashed again) teaches
    # the algorithm, which the second upload computes along.
    assert [r.verified for r in results] == ["md5", "md5"]
    assert (tmp_path / "a.bin").read_bytes() == (srv.root / "a1.bin").read_bytes()



def test_an_asyncssh_without_the_request_machinery_is_no_hash_not_a_failure() -> None:
    """check-file asks through asyncssh's private request call; a client without it (another
    asyncssh release) gets no hash (the transfer is checked by size), never an AttributeError."""
    import asyncio
    from types import SimpleNamespace

    from xfer.adapters.sftp.checkfile import CheckFile

    state = CheckFile()
    client: Any = SimpleNamespace(_handler=SimpleNamespace(), encode=str.encode)
    assert asyncio.run(state.ask(client, "/a.bin", timeout=None, size=None)) is None
    assert state.offered is False


@pytest.mark.parametrize(("kind", "expected", "computed"),
                         [(CheckFileServer, "sha256", True), (_Md5Only, "md5", False), (None, "size", False)])
def test_without_a_wanted_sha256_the_servers_hash_still_proves_each_transfer(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    kind: type[CheckFileServer] | None, expected: str, computed: bool,
) -> None:
    """The CLI without --json shows no SHA-256 (``connect(sha256=False)``): only the hash the server
    compares is computed, and the check is as strong as with it."""
    srv = serve(kind)
    source = tmp_path / "invoice.bin"
    digest = make_file(source, 3 << 20)
    adapter = xfer.connect(srv.url, identity=str(ssh_keys.client_key),
                           identity_password=f"file:{ssh_keys.passphrase_file}", pin=ssh_keys.host_fingerprint(),
                           timeout=10, sha256=False)
    with adapter as remote:
        [put] = remote.put(str(source), "/in/invoice.bin")
        [got] = remote.get("/in/invoice.bin", str(tmp_path / "back.bin"))
    assert put.verified == got.verified == expected
    assert put.sha256 == got.sha256 == (digest if computed else None)
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).hexdigest() == digest


class _Silent(CheckFileServer):
    """Takes check-file requests and never answers them; every other request is answered."""

    silent: ClassVar[bool] = True


@pytest.mark.timeout(30)
def test_a_check_file_never_answered_costs_the_timeout_not_the_transfer(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """check-file goes through asyncssh's own request call, outside the bound every other request
    has: a server that never answered it hung every get and put (review 26, finding 5).  After the
    timeout the transfer goes without the server's hash, checked by size."""
    srv = serve(_Silent)
    source = tmp_path / "a.bin"
    digest = make_file(source, 100_000)
    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), timeout=1.5, retries=0) as remote:
        started = time.monotonic()
        put = remote.put_file(source, "/a.bin")
        got = remote.get_file("/a.bin", tmp_path / "back.bin")
        took = time.monotonic() - started
    assert put.verified == got.verified == "size" and put.sha256 == got.sha256 == digest
    assert len(srv.check_file_asked) == 1  # the upload's (its temporary name): a session where it never
    assert took < 8, f"{took:.1f} s"      # answered asks no more (review H, session 26: each file waited)


class _SlowHash(CheckFileServer):
    """Hashes as ProFTPD's mod_sftp does a large file: inline, answering nothing else meanwhile
    (the in-process server's loop sleeps), for :attr:`delay` seconds."""

    delay: ClassVar[float] = 1.6

    def check_file(self, fd: int, path: str, requested: str, start: int, length: int) -> tuple[str, bytes]:
        time.sleep(self.delay)
        return super().check_file(fd, path, requested, start, length)


class _SlowerHash(_SlowHash):
    delay: ClassVar[float] = 4.0


#: 24 MiB: at check-file's 20 MiB/s, 1.2 s beyond the reply timeout to hash it.
_LARGE = 24 * 2**20


@pytest.mark.timeout(60)
def test_a_large_files_check_file_has_time_to_hash_it(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """check-file had the plain reply timeout whatever the size: a server hashing a large file
    for longer gave no hash, and under checksum the upload was removed (review 26, G1).  The
    hash gets the timeout plus the file's size at 20 MiB/s, as FTPS's HASH."""
    srv = serve(_SlowHash)
    source = tmp_path / "large.bin"
    digest = make_file(source, _LARGE)
    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), timeout=1, retries=0, checksum=True) as remote:
        put = remote.put_file(source, "/large.bin")
    assert put.verified == "sha256" and put.sha256 == digest


@pytest.mark.timeout(60)
def test_requests_after_a_late_check_file_are_not_lost_behind_it(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """A server still hashing when check-file's time is up answers nothing else until done: the
    rename after the upload waited behind the hash and timed out, the connection was dropped,
    and each retry hashed and timed out again (review 26, G1).  Now the session waits, within
    the same bound, for the server to answer again, and the upload is checked by size."""
    srv = serve(_SlowerHash)
    source = tmp_path / "large.bin"
    digest = make_file(source, _LARGE)
    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), timeout=1, retries=0) as remote:
        put = remote.put_file(source, "/large.bin")
    assert put.verified == "size" and put.sha256 == digest
    assert hashlib.sha256((srv.root / "large.bin").read_bytes()).hexdigest() == digest


class _OneFileUnsupported(CheckFileServer):
    """Hashes every file but ``special.bin`` (on a mount it cannot hash, say), which it calls unsupported."""

    def check_file(self, fd: int, path: str, requested: str, start: int, length: int) -> tuple[str, bytes]:
        if os.path.basename(path) == "special.bin":
            self.asked.append((path, requested, start, length))
            raise asyncssh.SFTPOpUnsupported("not for this file")
        return super().check_file(fd, path, requested, start, length)


def test_one_files_unsupported_is_that_files_own_once_check_file_answered(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    """An "unsupported" about a whole file turned check-file off for the rest of the session, also
    from a server whose check-file had answered: every later transfer was checked by size only
    (review 26, finding 7).  Once it answered, such a refusal is about that file, named under checksum."""
    srv = serve(_OneFileUnsupported)
    make_file(srv.root / "special.bin", 1000)
    source = tmp_path / "a.bin"
    make_file(source, 1000)
    with _connect(srv, ssh_keys) as remote:
        assert remote.put_file(source, "/a1.bin").verified == "sha256"
        assert remote.get_file("/special.bin", tmp_path / "special.bin").verified == "size"
        assert remote.put_file(source, "/a2.bin").verified == "sha256"
    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), checksum=True, retries=0) as remote:
        assert remote.get_file("/a1.bin", tmp_path / "a1.bin").verified == "sha256"
        with pytest.raises(IntegrityError, match="not for this file"):
            remote.get_file("/special.bin", tmp_path / "again.bin")
        assert remote.get_file("/a2.bin", tmp_path / "a2.bin").verified == "sha256"
    assert not (tmp_path / "again.bin").exists()

