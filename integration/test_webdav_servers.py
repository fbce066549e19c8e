"""The WebDAV adapter against real servers from the bed: Apache mod_dav and nginx dav-ext, TLS 1.2 and 1.3.

Both serve WebDAV at ``/``: Apache's ``url`` is ``davs://``; nginx's is ``https://`` with the
same location under ``extra["webdav_url"]``.  Apache refuses bad client certificates in the
handshake; nginx lets the handshake finish and answers HTTP 400 -- both must read as the
same xfer errors.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import xfer.client
from integration.bed import ServerInfo
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.webdav import WebDAVAdapter
from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    HostnameMismatch,
    ListingTooLarge,
    LocalFileNotFound,
    PinMismatch,
    RemoteError,
    RemoteExists,
    RemoteIsFolder,
    RemoteLocked,
    RemoteNotFound,
    RemotePermissionDenied,
    ServerCertificateUntrusted,
)
from xfer.http_session import create_session
from xfer.identity import Identity
from xfer.testing.contract import AdapterContract, make_file, make_small_files, sha256_of
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

pytestmark = pytest.mark.integration

SERVERS = ["apache", "nginx"]


def _adapter(pki: TestPKI, port: int, *, identity: Path | None = None, tls_max: str | None = None,
             ca: Path | None = None, pin: str | None = None, **options: object) -> WebDAVAdapter:
    ident = Identity.load(identity, pki.password) if identity else None
    ctx = create_ssl_context(ident, ca=ca or pki.root_ca, maximum_version=tls_max, pin=pin)
    settings = ConnectionSettings(scheme="davs", host="127.0.0.1", port=port, root="/", ssl_context=ctx,
                                  timeout=30, options=options)
    return WebDAVAdapter(settings)


@pytest.fixture(params=SERVERS)
def dav(request: pytest.FixtureRequest, bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    info = bed_server(request.param)
    url = info.url if info.url.startswith("davs://") else info.extra["webdav_url"]
    assert url == f"davs://127.0.0.1:{info.port}/", "both servers serve WebDAV at /"
    return info


@pytest.fixture
def remote(dav: ServerInfo, bed_pki: TestPKI) -> Iterator[WebDAVAdapter]:
    with _adapter(bed_pki, dav.port, identity=bed_pki.client_p12) as adapter:
        yield adapter


@pytest.fixture
def folder(remote: WebDAVAdapter) -> Iterator[str]:
    name = f"/wd-{uuid.uuid4().hex[:8]}"
    remote.mkdir(name)
    yield name
    try:
        remote.rm(name, recursive=True)
    except Exception:
        pass


class TestContract(AdapterContract):
    @pytest.fixture
    def remote(self, dav: ServerInfo, bed_pki: TestPKI, tls_version: str) -> Iterator[WebDAVAdapter]:
        with _adapter(bed_pki, dav.port, identity=bed_pki.client_p12, tls_max=tls_version) as adapter:
            yield adapter


class TestContractTempName(AdapterContract):
    @pytest.fixture
    def remote(self, dav: ServerInfo, bed_pki: TestPKI) -> Iterator[WebDAVAdapter]:
        with _adapter(bed_pki, dav.port, identity=bed_pki.client_p12, upload_temp_name=True) as adapter:
            yield adapter


def _connections(remote: WebDAVAdapter) -> int:
    pool = remote.session.adapters["https://"].poolmanager  # type: ignore[attr-defined]
    return sum(p.num_connections for p in pool.pools._container.values())


def test_twenty_operations_one_connection(
    remote: WebDAVAdapter, folder: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "f"
    expected = make_file(source, 1 << 20, seed=5)
    remote.mkdir(f"{folder}/a/b")
    for i in range(4):
        remote.put_file(source, f"{folder}/a/{i}.bin")
        remote.get_file(f"{folder}/a/{i}.bin", tmp_path / f"back{i}")
    assert [e.name for e in remote.ls(f"{folder}/a")] == ["0.bin", "1.bin", "2.bin", "3.bin", "b"]
    assert remote.info(f"{folder}/a/0.bin").size == 1 << 20
    remote.mv(f"{folder}/a/0.bin", f"{folder}/a/moved.bin")
    remote.copy(f"{folder}/a/moved.bin", f"{folder}/copied.bin")
    with pytest.raises(RemoteNotFound):
        remote.get_file(f"{folder}/a/0.bin", tmp_path / "none")
    with pytest.raises(RemoteError, match="is a folder with"):
        remote.rm(f"{folder}/a")
    remote.rm(f"{folder}/a/1.bin")
    remote.rm(f"{folder}/a", recursive=True)
    assert sha256_of(tmp_path / "back3") == expected
    assert _connections(remote) == 1, "every operation must reuse the one pooled TLS connection"
    assert capfd.readouterr().out == ""


NAMES = ["with space.txt", "ünïcødé ✓.txt", "hash#tag.txt", "100% sure.txt", "pre%20encoded.txt", "a&b+c.txt"]


def test_names_round_trip(dav: ServerInfo, remote: WebDAVAdapter, folder: str, tmp_path: Path) -> None:
    sub = f"{folder}/dir #1 100% ü"
    remote.mkdir(sub)
    for index, name in enumerate(NAMES):
        (tmp_path / "src").write_bytes(name.encode())
        remote.put_file(tmp_path / "src", f"{sub}/{name}")
        assert (dav.root / sub.lstrip("/") / name).read_bytes() == name.encode(), "stored under its real name"
        remote.get_file(f"{sub}/{name}", tmp_path / f"back{index}")
        assert (tmp_path / f"back{index}").read_bytes() == name.encode()
    entries = remote.ls(sub)
    assert sorted(e.name for e in entries) == sorted(NAMES)
    assert all(e.path == f"{sub}/{e.name}" and e.size == len(e.name.encode()) for e in entries)
    assert [e.name for e in remote.ls(folder)] == ["dir #1 100% ü"]
    remote.mv(f"{sub}/hash#tag.txt", f"{sub}/moved #2 50%.txt")
    assert (dav.root / sub.lstrip("/") / "moved #2 50%.txt").exists()


def test_mkdir_parents_mv_overwrite(dav: ServerInfo, bed_pki: TestPKI, remote: WebDAVAdapter, folder: str,
                                    tmp_path: Path) -> None:
    remote.mkdir(f"{folder}/x/y/z")
    remote.mkdir(f"{folder}/x/y")
    assert (dav.root / folder.lstrip("/") / "x" / "y" / "z").is_dir()
    (tmp_path / "a").write_bytes(b"a")
    remote.put_file(tmp_path / "a", f"{folder}/a")
    remote.put_file(tmp_path / "a", f"{folder}/b")
    with pytest.raises(RemoteExists, match="a file has that name"):
        remote.mkdir(f"{folder}/a")
    with _adapter(bed_pki, dav.port, identity=bed_pki.client_p12, overwrite=False) as careful:
        with pytest.raises(RemoteExists, match="already exists and overwriting is off"):
            careful.mv(f"{folder}/a", f"{folder}/b")
    remote.mv(f"{folder}/x", f"{folder}/w")
    assert [e.name for e in remote.ls(f"{folder}/w/y")] == ["z"]


@pytest.mark.parametrize("name", ["http.log", "htaccess-notes.txt"])
def test_names_starting_with_ht_are_uploaded(dav: ServerInfo, remote: WebDAVAdapter, folder: str, tmp_path: Path,
                                             name: str) -> None:
    """The bed's Apache refuses names starting ".ht", as every stock one does: the temporary name an
    upload goes to must not start so (review Q: ``.http.log.RANDOM.xfer-part`` got 403, exit 6)."""
    (tmp_path / "src").write_bytes(name.encode())
    remote.put_file(tmp_path / "src", f"{folder}/{name}")
    remote.mkdir(f"{folder}/streamed")
    with remote.open_write(f"{folder}/streamed/{name}") as stream:  # (the writer's own temporary name)
        stream.write(name.encode())
    stored = dav.root / folder.lstrip("/")
    assert sorted(p.name for p in stored.iterdir()) == sorted([name, "streamed"])
    assert [p.name for p in (stored / "streamed").iterdir()] == [name]
    assert (stored / name).read_bytes() == (stored / "streamed" / name).read_bytes() == name.encode()


@pytest.mark.parametrize("temp_name", [True, False], ids=["temp-name", "direct"])
def test_apache_missing_parent(bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path,
                               temp_name: bool) -> None:
    # nginx has create_full_put_path on (it makes the folders); Apache answers 409 (PUT) / 500 (MOVE).
    apache = bed_server("apache")
    top = f"/no-such-{uuid.uuid4().hex[:6]}"
    (tmp_path / "f").write_bytes(b"x")
    with _adapter(bed_pki, apache.port, identity=bed_pki.client_p12, upload_temp_name=temp_name) as remote:
        remote.put_file(tmp_path / "f", f"{top}/sub/f")  # the parents are created (MKCOL each level)
        assert (apache.root / top.lstrip("/") / "sub" / "f").read_bytes() == b"x"
        remote.rm(top, recursive=True)
        remote.put_file(tmp_path / "f", "/apache-parent.txt")
        with pytest.raises(RemoteNotFound, match=f"the folder {top} does not exist"):
            remote.mv("/apache-parent.txt", f"{top}/f")
        remote.rm("/apache-parent.txt")


# -- mv and get of folders on real servers (issue 11 items 1 and 4) -------------------------------------


def test_mv_moves_into_folders_and_never_replaces_one(
    dav: ServerInfo, bed_pki: TestPKI, remote: WebDAVAdapter, folder: str, tmp_path: Path
) -> None:
    base = dav.root / folder.lstrip("/")
    (tmp_path / "f").write_bytes(b"UNB+UNOA:1+X'")
    remote.put_file(tmp_path / "f", f"{folder}/invoice.edi")
    remote.mkdir(f"{folder}/batch")
    for i in range(3):
        remote.put_file(tmp_path / "f", f"{folder}/batch/{i}.edi")
    remote.mv(f"{folder}/invoice.edi", f"{folder}/batch/")
    assert sorted(p.name for p in (base / "batch").iterdir()) == ["0.edi", "1.edi", "2.edi", "invoice.edi"]
    remote.put_file(tmp_path / "f", f"{folder}/again.edi")
    remote.mv(f"{folder}/again.edi", f"{folder}/batch")  # an existing folder, no slash: into it too
    assert (base / "batch" / "again.edi").is_file()
    remote.mkdir(f"{folder}/batch/x.edi")
    remote.put_file(tmp_path / "f", f"{folder}/x.edi")
    with pytest.raises(RemoteIsFolder):
        remote.mv(f"{folder}/x.edi", f"{folder}/batch/")
    assert (base / "batch" / "x.edi").is_dir() and (base / "x.edi").is_file()
    (tmp_path / "g").write_bytes(b"new")
    remote.put_file(tmp_path / "g", f"{folder}/y.edi")
    remote.mv(f"{folder}/y.edi", f"{folder}/batch/0.edi")  # a file replaces a file, as POSIX mv
    assert (base / "batch" / "0.edi").read_bytes() == b"new"
    for temp_name in (True, False):  # an upload never replaces a folder either
        with _adapter(bed_pki, dav.port, identity=bed_pki.client_p12, upload_temp_name=temp_name) as up:
            with pytest.raises(RemoteIsFolder, match="is a folder"):
                up.put_file(tmp_path / "g", f"{folder}/batch")
        assert len(list((base / "batch").iterdir())) == 6


def test_get_of_a_folder_is_remote_is_folder(
    dav: ServerInfo, remote: WebDAVAdapter, folder: str, tmp_path: Path
) -> None:
    remote.mkdir(f"{folder}/batch")
    keep = tmp_path / "keep"
    keep.write_bytes(b"old")
    with pytest.raises(RemoteIsFolder, match=f"{folder}/batch is a folder") as caught:
        remote.get_file(f"{folder}/batch", keep)
    assert caught.value.hint == "pass recursive=True to download folders"  # the library's words
    assert caught.value.cli_hint == "use -r to copy a folder"  # what the CLI shows
    assert keep.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["keep"]


def test_listing_cap_on_a_real_server(dav: ServerInfo, bed_pki: TestPKI, remote: WebDAVAdapter, folder: str,
                                      tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    for i in range(40):
        remote.put_file(tmp_path / "f", f"{folder}/file-{i:03d}.bin")
    assert len(remote.ls(folder)) == 40
    small = _adapter(bed_pki, dav.port, identity=bed_pki.client_p12)
    small.settings = dataclasses.replace(small.settings, max_listing=4096)
    with small, pytest.raises(ListingTooLarge, match="larger than 4096 bytes"):
        small.ls(folder)


# -- Apache with `Alias /dav/ ...` (issue 11 item 10) ---------------------------------------------------


def test_apache_alias_layout(bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path) -> None:
    apache = bed_server("apache")
    port, share = apache.extra["alias_port"], Path(apache.extra["alias_root"])
    assert apache.extra["alias_url"] == f"davs://127.0.0.1:{port}/dav/"
    ctx = create_ssl_context(Identity.load(bed_pki.client_p12, bed_pki.password), ca=bed_pki.root_ca)
    with create_session(ctx, server=f"127.0.0.1:{port}") as raw:
        # The layout itself: the collection is /dav/; /dav is the denied DocumentRoot's.
        assert raw.request("PROPFIND", raw.url_for("/dav"), headers={"Depth": "0"}).status_code == 403
        assert raw.request("PROPFIND", raw.url_for("/dav/"), headers={"Depth": "0"}).status_code == 207
    name = f"alias-{uuid.uuid4().hex[:6]}"
    (tmp_path / "f").write_bytes(b"payload")
    settings = ConnectionSettings(scheme="davs", host="127.0.0.1", port=port, root="/dav/", ssl_context=ctx,
                                  timeout=30)
    with WebDAVAdapter(settings) as remote:
        assert remote.info("/").is_dir
        before = {e.name for e in remote.ls("/")}
        remote.mkdir(f"/{name}/in/sub")
        remote.put_file(tmp_path / "f", f"/{name}/in/a.txt")
        remote.put_file(tmp_path / "f", f"/{name}/in/sub/b.txt")
        assert {e.name for e in remote.ls("/")} == before | {name}
        results = xfer.client.get(remote, [f"/{name}/in"], tmp_path / "down", recursive=True)
        assert len(results) == 2 and (tmp_path / "down" / "sub" / "b.txt").read_bytes() == b"payload"
        remote.mkdir(f"/{name}/archive")
        remote.mv(f"/{name}/in", f"/{name}/archive/")
        assert (share / name / "archive" / "in" / "sub" / "b.txt").is_file()
        with pytest.raises(RemoteIsFolder):
            remote.get_file(f"/{name}/archive", tmp_path / "x")
        remote.rm(f"/{name}", recursive=True)
    assert not (share / name).exists()


def test_apache_403_and_423(bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path) -> None:
    apache = bed_server("apache")
    name = f"wd-perm-{uuid.uuid4().hex[:6]}"
    secret = apache.root / name
    secret.write_bytes(b"root only")
    os.chmod(secret, 0o000)  # Apache runs as www-data: it may not read this
    (tmp_path / "f").write_bytes(b"v1")
    try:
        with _adapter(bed_pki, apache.port, identity=bed_pki.client_p12) as remote:
            with pytest.raises(RemotePermissionDenied, match="403 Forbidden"):
                remote.get_file(f"/{name}", tmp_path / "out")
            assert not (tmp_path / "out").exists()
            remote.put_file(tmp_path / "f", f"/{name}.locked")
            ctx = create_ssl_context(Identity.load(bed_pki.client_p12, bed_pki.password), ca=bed_pki.root_ca)
            with create_session(ctx, server=f"127.0.0.1:{apache.port}") as other:
                lock = other.request(
                    "LOCK", other.url_for(f"/{name}.locked"),
                    data=b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
                    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>other</D:owner></D:lockinfo>",
                    headers={"Timeout": "Second-60", "Content-Type": "application/xml"},
                )
                assert lock.status_code == 200, lock.text
                token = lock.headers["Lock-Token"]
                try:
                    with pytest.raises(RemoteLocked, match="is locked"):
                        remote.put_file(tmp_path / "f", f"/{name}.locked")
                    with pytest.raises(RemoteLocked):
                        remote.rm(f"/{name}.locked")
                finally:
                    other.request("UNLOCK", other.url_for(f"/{name}.locked"), headers={"Lock-Token": token})
            remote.rm(f"/{name}.locked")
    finally:
        secret.unlink()


# -- bad inputs over WebDAVs ----------------------------------------------------------------------------


def _run(op: str, remote: WebDAVAdapter, tmp_path: Path) -> None:
    if op == "ls":
        remote.ls("/")
    elif op == "get":
        remote.get_file("/wd-probe.txt", tmp_path / "out.txt")
    else:
        (tmp_path / "up.txt").write_bytes(b"up")
        remote.put_file(tmp_path / "up.txt", "/wd-refused.txt")


@pytest.mark.parametrize("op", ["ls", "get", "put"])
@pytest.mark.parametrize(
    ("which", "kind", "words"),
    [
        (None, ClientCertificateRequired, "requires a client certificate"),
        ("client_untrusted_p12", ClientCertificateRejected, "client certificate"),
        ("client_expired_p12", ClientCertificateRejected, "client certificate"),
    ],
    ids=["no-identity", "untrusted-identity", "expired-identity"],
)
def test_client_certificate_failures(
    dav: ServerInfo, bed_pki: TestPKI, tmp_path: Path, tls_version: str,
    which: str | None, kind: type, words: str, op: str,
) -> None:
    (dav.root / "wd-probe.txt").write_bytes(b"probe")
    identity = getattr(bed_pki, which) if which else None
    with _adapter(bed_pki, dav.port, identity=identity, tls_max=tls_version) as remote:
        with pytest.raises(kind, match=words) as caught:
            _run(op, remote, tmp_path)
    assert f"127.0.0.1:{dav.port}" in str(caught.value)
    assert not (tmp_path / "out.txt").exists() and not list(tmp_path.glob(".*xfer-part"))
    assert not (dav.root / "wd-refused.txt").exists()


@pytest.mark.parametrize("op", ["ls", "get", "put"])
def test_server_trust_failures(dav: ServerInfo, bed_pki: TestPKI, tmp_path: Path, op: str) -> None:
    with _adapter(bed_pki, dav.port, identity=bed_pki.client_p12, ca=bed_pki.untrusted_ca) as remote:
        with pytest.raises(ServerCertificateUntrusted):
            _run(op, remote, tmp_path)
    with _adapter(bed_pki, dav.port, identity=bed_pki.client_p12, pin="sha256:" + "ab" * 32) as remote:
        with pytest.raises(PinMismatch):
            _run(op, remote, tmp_path)
    assert not (tmp_path / "out.txt").exists()


def test_wrong_host_name(bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI, tmp_path: Path) -> None:
    nginx = bed_server("nginx")
    with _adapter(bed_pki, nginx.extra["wrong_host_port"], identity=bed_pki.client_p12) as remote:
        for op in ("ls", "get", "put"):
            with pytest.raises(HostnameMismatch):
                _run(op, remote, tmp_path)


def test_missing_local_file_and_remote_404(remote: WebDAVAdapter, tmp_path: Path) -> None:
    with pytest.raises(LocalFileNotFound):
        remote.put_file(tmp_path / "nope", "/wd-nope")
    keep = tmp_path / "keep"
    keep.write_bytes(b"old")
    with pytest.raises(RemoteNotFound):
        remote.get_file("/wd-no-such-file", keep)
    for call in (lambda: remote.ls("/wd-no-such"), lambda: remote.rm("/wd-no-such"),
                 lambda: remote.mv("/wd-no-such", "/wd-x")):
        with pytest.raises(RemoteNotFound):
            call()
    assert keep.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["keep"]


def test_small_files_come_pipelined_past_the_keepalive_limit(
    remote: WebDAVAdapter, folder: str, tmp_path: Path
) -> None:
    """``get -r`` of 250 small files: their GETs go 32 to a write (issue 14).  Apache closes a
    connection after its 100th request (``MaxKeepAliveRequests``), in the middle of a group:
    the files whose answers never came go again together; every file arrives whole."""
    tree = tmp_path / "many"
    digests = make_small_files(tree, 250)
    remote.put([tree], f"{folder}/", recursive=True)
    fetched = remote.get([f"{folder}/many"], tmp_path / "back", recursive=True)
    back = tmp_path / "back"
    assert {p.relative_to(back).as_posix(): sha256_of(p) for p in back.rglob("*.bin")} == digests
    together = sum(bool(r.details.get("pipelined")) for r in fetched)
    assert together > 230, f"only {together} of 250 came pipelined"
    assert not [p for p in back.rglob("*") if p.name.startswith(".")]  # no part file left
