"""The HTTPS adapter against the in-process mTLS server: contract, failures, reuse, proxy, redirects."""

from __future__ import annotations

import datetime as dt
import errno
import io
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from xfer.adapters.base import Adapter, ConnectionSettings
from xfer.adapters.https import HTTPSAdapter, parse_html_index, parse_json_index
from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ExitCode,
    HostnameMismatch,
    IdentityPasswordError,
    InsecureSchemeRefused,
    IntegrityError,
    LocalError,
    LocalFileNotFound,
    PinMismatch,
    RemoteError,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerCertificateUntrusted,
    ServerError,
    UnsupportedOperation,
)
from xfer.identity import Identity
from xfer.testing.contract import AdapterContract, make_file, sha256_of
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.proxy import ConnectProxy
from xfer.tls import XferSSLContext

ContextFactory = Callable[..., XferSSLContext]


def _adapter(srv: HTTPSServer, ctx: XferSSLContext, *, retries: int = 3, **options: Any) -> HTTPSAdapter:
    settings = ConnectionSettings(
        scheme="https",
        host=srv.host,
        port=srv.port,
        root="/",
        ssl_context=ctx,
        timeout=10,
        options=options,
        retries=retries,
    )
    return HTTPSAdapter(settings)


@pytest.fixture
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Outside tmp_path: the contract checks that nothing but the download lands there."""
    return tmp_path_factory.mktemp("srv")


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[HTTPSServer]:
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        yield srv


@pytest.fixture
def remote_for(server: HTTPSServer, client_context: ContextFactory) -> Iterator[Callable[..., HTTPSAdapter]]:
    opened: list[HTTPSAdapter] = []

    def make(which: str | None = "client_p12", *, tls_max: str | None = None, **options: Any) -> HTTPSAdapter:
        adapter = _adapter(server, client_context(which, tls_max=tls_max), **options)
        opened.append(adapter)
        return adapter

    yield make
    for adapter in opened:
        adapter.close()


# -- the contract, TLS 1.2 and 1.3, JSON and HTML index ------------------------------


class TestContractJSONIndex(AdapterContract):
    @pytest.fixture
    def remote(
        self, pki: TestPKI, server_root: Path, tls_version: str, client_context: ContextFactory
    ) -> Iterator[HTTPSAdapter]:
        with HTTPSServer(pki, root=server_root, index="json") as srv:
            with _adapter(srv, client_context(tls_max=tls_version)) as adapter:
                yield adapter


class TestContractHTMLIndex(AdapterContract):
    @pytest.fixture
    def remote(self, pki: TestPKI, server_root: Path, client_context: ContextFactory) -> Iterator[HTTPSAdapter]:
        with HTTPSServer(pki, root=server_root, index="html", tls_max="1.2") as srv:
            with _adapter(srv, client_context(), index="html") as adapter:
                yield adapter


class TestContractMultipartPOST(AdapterContract):
    @pytest.fixture
    def remote(self, pki: TestPKI, server_root: Path, client_context: ContextFactory) -> Iterator[HTTPSAdapter]:
        with HTTPSServer(pki, root=server_root) as srv:
            with _adapter(srv, client_context(), upload_method="POST", form_field="upload") as adapter:
                yield adapter


# -- what goes over the wire ------------------------------------------------------------


def test_many_operations_reuse_one_tls_connection(
    server: HTTPSServer, remote_for: Callable[..., HTTPSAdapter], tmp_path: Path
) -> None:
    remote = remote_for()
    source = tmp_path / "f"
    make_file(source, 300_000)
    for i in range(5):
        remote.put_file(source, f"/reuse/{i}.bin")
        remote.get_file(f"/reuse/{i}.bin", tmp_path / f"back{i}")
    remote.ls("/reuse")
    with pytest.raises(RemoteNotFound):
        remote.get_file("/reuse/missing", tmp_path / "nothing")
    remote.rm("/reuse/0.bin")
    assert len(server.requests) >= 18
    assert server.handshakes == 1, "every operation must reuse the pooled TLS connection"


def test_download_is_read_in_large_blocks_and_progress_is_not_per_small_chunk(
    server: HTTPSServer, remote_for: Callable[..., HTTPSAdapter], tmp_path: Path
) -> None:
    """The body is decrypted into one reused 256 KiB buffer: a 4 MiB download is 16 blocks, so
    16 progress reports (plus the opening one), not one per 64 KiB ``read()`` (issue 14)."""
    from xfer.adapters.http_transfer import BODY_BLOCK

    remote = remote_for()
    source = tmp_path / "f"
    digest = make_file(source, 4 << 20)
    remote.put_file(source, "/blocks.bin")
    reports: list[int] = []
    result = remote.get_file("/blocks.bin", tmp_path / "back", callback=lambda done, total: reports.append(done))
    assert sha256_of(tmp_path / "back") == digest == result.sha256
    assert reports[-1] == 4 << 20
    assert len(reports) <= (4 << 20) // BODY_BLOCK + 2, f"{len(reports)} progress reports for 4 MiB"
    # ...and the connection went back to the pool after the proven end: no second handshake.
    remote.get_file("/blocks.bin", tmp_path / "again")
    assert server.handshakes == 1


def test_throttled_download_reads_small_blocks(
    server: HTTPSServer, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Under --limit-rate the blocks stay small (64 KiB): a slow rate must not leave the
    connection unread for the minute after which servers drop a stalled send (nginx)."""
    from xfer.transfer import DOWNLOAD_BLOCK

    source = tmp_path / "f"
    digest = make_file(source, 1 << 20)
    settings = ConnectionSettings(scheme="https", host=server.host, port=server.port, root="/",
                                  ssl_context=client_context(), timeout=10, limit_rate=1 << 30)
    reports: list[int] = []
    with HTTPSAdapter(settings) as remote:
        remote.put_file(source, "/slow.bin")
        remote.get_file("/slow.bin", tmp_path / "back", callback=lambda done, total: reports.append(done))
    assert sha256_of(tmp_path / "back") == digest
    steps = [later - earlier for earlier, later in itertools.pairwise(reports)]
    assert max(steps) <= DOWNLOAD_BLOCK, f"blocks of up to {max(steps)} bytes under a rate limit"


def test_put_streams_with_content_length_and_get_asks_identity(
    server: HTTPSServer, remote_for: Callable[..., HTTPSAdapter], tmp_path: Path
) -> None:
    remote = remote_for()
    source = tmp_path / "f"
    make_file(source, 5 << 20)
    progress: list[int] = []
    remote.put_file(source, "/a.bin", callback=lambda sent, total: progress.append(sent))
    remote.get_file("/a.bin", tmp_path / "back")
    put = next(r for r in server.requests if r.method == "PUT")
    assert put.headers["Content-Length"] == str(5 << 20)
    assert "Transfer-Encoding" not in put.headers
    assert put.client_cn is not None
    assert progress[-1] == 5 << 20 and len(progress) >= 20  # reported while streaming
    get = next(r for r in server.requests if r.method == "GET")
    assert get.headers["Accept-Encoding"] == "identity"


def test_content_encoding_is_kept_as_sent(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    import gzip

    with HTTPSServer(pki, root=tmp_path / "srv", gzip_suffix=".gz") as srv:
        stored = gzip.compress(b"archive " * 1000)
        (srv.root / "data.tar.gz").write_bytes(stored)
        with _adapter(srv, client_context()) as remote:
            result = remote.get_file("/data.tar.gz", tmp_path / "data.tar.gz")
    assert (tmp_path / "data.tar.gz").read_bytes() == stored
    assert result.details["content_encoding"] == "gzip"


def test_context_trust_store_untouched_by_requests_env(
    server: HTTPSServer,
    client_context: ContextFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pki: TestPKI,
) -> None:
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    ctx = client_context()
    before = ctx.cert_store_stats()
    (tmp_path / "f").write_bytes(b"x" * 1000)
    with _adapter(server, ctx) as remote:
        remote.put_file(tmp_path / "f", "/f")
        remote.get_file("/f", tmp_path / "g")
        remote.ls("/")
    assert ctx.cert_store_stats() == before
    assert before["x509_ca"] == 1  # only the CA we gave, never certifi's ~145


def test_interrupted_get_leaves_nothing(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    # ranges=False: every retry starts over and is cut again (with ranges, the retries resume to the end).
    with HTTPSServer(pki, root=tmp_path / "srv", cut_get_after=1 << 20, ranges=False) as srv:
        make_file(srv.root / "big.bin", 4 << 20)
        target = tmp_path / "big.bin"
        target.write_bytes(b"previous version")
        with _adapter(srv, client_context(), retries=0) as remote, pytest.raises(IntegrityError) as caught:
            remote.get_file("/big.bin", target)
    # One try: a FIN inside the announced length is a truncation (exit 7).  (Cut on every one of
    # several tries it ends as a dropped connection, exit 5: tests/test_retry_http.py.)
    assert "ended early" in str(caught.value) and "nothing was saved" in str(caught.value)
    assert "1048576 of 4194304 bytes" in str(caught.value)
    assert target.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin", "srv"]


class _FailingFile(io.FileIO):
    """A local file whose reads fail with EIO (a dying disk, a dropped network mount) after ``good`` reads."""

    def __init__(self, path: str | os.PathLike[str], good: int) -> None:
        super().__init__(path, "rb")
        self.good = good

    def readinto(self, buffer: Any) -> int:
        if self.good <= 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        self.good -= 1
        return super().readinto(buffer)


@pytest.mark.parametrize("scheme", ["https", "davs", "davs-direct"])
def test_local_read_error_during_put_is_local_not_network(
    pki: TestPKI, tmp_path: Path, client_context: ContextFactory, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """urllib3 reports a body iterator's OSError as "Connection aborted"; the user must see the disk."""
    from xfer.adapters import http_transfer
    from xfer.testing.webdav_server import WebDAVServer

    source = tmp_path / "up.bin"
    make_file(source, 2_000_000)

    def open_failing(path: str | os.PathLike[str]) -> tuple[_FailingFile, int]:
        return _FailingFile(path, good=2), os.path.getsize(path)

    monkeypatch.setattr(http_transfer, "open_for_upload", open_failing)
    root = tmp_path / "srv"
    server = HTTPSServer(pki, root=root) if scheme == "https" else WebDAVServer(pki, root=root)
    with server:
        remote: Adapter
        if isinstance(server, HTTPSServer):
            remote = _adapter(server, client_context())
        else:
            remote = server.adapter(client_context(), upload_temp_name=scheme == "davs")
        with remote, pytest.raises(LocalError) as caught:
            remote.put_file(source, "/up.bin")
    assert caught.value.exit_code == ExitCode.ERROR  # 1, not 5 "connection broke, run again"
    assert str(caught.value) == f"cannot read {source}: Input/output error"
    if scheme == "davs":
        assert list(root.iterdir()) == []  # the temporary file was removed


# -- every bad input: type and message -----------------------------------------------------


@pytest.fixture
def strict_server(pki: TestPKI, tmp_path: Path, tls_version: str) -> Iterator[HTTPSServer]:
    """A server at ``tls_version``, so the TLS 1.3 post-handshake rejection path is exercised."""
    with HTTPSServer(pki, root=tmp_path / "srv", tls_max=tls_version) as srv:
        (srv.root / "file.txt").write_bytes(b"content")
        yield srv


def _get(srv: HTTPSServer, ctx: XferSSLContext, tmp_path: Path) -> None:
    with _adapter(srv, ctx) as remote:
        remote.get_file("/file.txt", tmp_path / "out.txt")


def test_wrong_identity_password(pki: TestPKI) -> None:
    with pytest.raises(IdentityPasswordError, match="password"):
        Identity.load(pki.client_p12, "wrong")


@pytest.mark.parametrize(
    ("which", "kind", "words"),
    [
        (None, ClientCertificateRequired, "requires a client certificate and none was presented"),
        ("client_untrusted_p12", ClientCertificateRejected, "does not trust the issuer"),
        ("client_expired_p12", ClientCertificateRejected, "expired"),
    ],
    ids=["no-identity", "untrusted-identity", "expired-identity"],
)
def test_client_certificate_failures(
    strict_server: HTTPSServer,
    client_context: ContextFactory,
    tmp_path: Path,
    which: str | None,
    kind: type,
    words: str,
) -> None:
    with pytest.raises(kind, match=words) as caught:
        _get(strict_server, client_context(which), tmp_path)
    assert strict_server.server in str(caught.value)
    assert not (tmp_path / "out.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".xfer-part")]


def test_untrusted_server_ca(
    strict_server: HTTPSServer, client_context: ContextFactory, pki: TestPKI, tmp_path: Path
) -> None:
    with pytest.raises(ServerCertificateUntrusted, match="we do not trust the server's certificate"):
        _get(strict_server, client_context(ca=pki.untrusted_ca), tmp_path)
    assert not (tmp_path / "out.txt").exists()


def test_pin_mismatch(strict_server: HTTPSServer, pki: TestPKI, identity: Identity, tmp_path: Path) -> None:
    from xfer.tls import create_ssl_context

    ctx = create_ssl_context(identity, ca=pki.root_ca, pin="sha256:" + "00" * 32)
    with pytest.raises(PinMismatch, match="does not match the pinned sha256:0000"):
        _get(strict_server, ctx, tmp_path)


def test_wrong_host_name(pki: TestPKI, tmp_path: Path, client_context: ContextFactory, tls_version: str) -> None:
    with HTTPSServer(
        pki, root=tmp_path / "srv", cert=pki.wrong_host_cert, key=pki.wrong_host_key, tls_max=tls_version
    ) as srv:
        with pytest.raises(HostnameMismatch, match="not valid for this host name"):
            _get(srv, client_context(), tmp_path)


def test_missing_local_file(remote_for: Callable[..., HTTPSAdapter], tmp_path: Path) -> None:
    with pytest.raises(LocalFileNotFound, match=r"local file .*nope\.txt does not exist"):
        remote_for().put_file(tmp_path / "nope.txt", "/nope.txt")


def test_remote_404_and_403(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", forbidden=["/secret"]) as srv:
        (srv.root / "secret").mkdir()
        (srv.root / "secret" / "f").write_bytes(b"x")
        (tmp_path / "f").write_bytes(b"x")
        with _adapter(srv, client_context()) as remote:
            with pytest.raises(RemoteNotFound, match=r"/missing.txt does not exist \(404 Not Found\)"):
                remote.get_file("/missing.txt", tmp_path / "out")
            with pytest.raises(RemotePermissionDenied, match=r"permission denied for /secret/f \(403 Forbidden\)"):
                remote.get_file("/secret/f", tmp_path / "out")
            with pytest.raises(RemotePermissionDenied):
                remote.put_file(tmp_path / "f", "/secret/g")
            with pytest.raises(RemoteNotFound):
                remote.rm("/missing.txt")
    assert not (tmp_path / "out").exists()


def test_nginx_style_400_maps_to_certificate_errors(
    pki: TestPKI, tmp_path: Path, client_context: ContextFactory
) -> None:
    with HTTPSServer(
        pki,
        root=tmp_path / "srv",
        client_cert="nginx",
        reject_client_cns=[Identity.load(pki.client_p12, pki.password).common_name],
    ) as srv:
        (srv.root / "f").write_bytes(b"x")
        with pytest.raises(ClientCertificateRequired, match=r"none was presented \(HTTP 400 Bad Request\)"):
            _get_path(srv, client_context(None), tmp_path, "/f")
        with pytest.raises(ClientCertificateRejected, match="rejected our client certificate"):
            _get_path(srv, client_context(), tmp_path, "/f")


def _get_path(srv: HTTPSServer, ctx: XferSSLContext, tmp_path: Path, path: str) -> None:
    with _adapter(srv, ctx) as remote:
        remote.get_file(path, tmp_path / "out")


def test_too_large_is_storage_full(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", max_body=1000) as srv:
        make_file(tmp_path / "f", 8 << 20)
        with _adapter(srv, client_context()) as remote:
            with pytest.raises(RemoteStorageFull, match="too large"):
                remote.put_file(tmp_path / "f", "/f")


def test_server_error_keeps_status_and_reason(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", statuses={"/broken": 503}) as srv:
        with _adapter(srv, client_context()) as remote:
            with pytest.raises(ServerError, match="HTTP 503 Service Unavailable"):
                remote.get_file("/broken", tmp_path / "out")


# -- listing and unsupported verbs ------------------------------------------------------------


def test_no_index_is_unsupported_with_davs_hint(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", index="none") as srv:
        with _adapter(srv, client_context()) as remote:
            with pytest.raises(UnsupportedOperation, match="offers no listing of /") as caught:
                remote.ls("/")
            assert caught.value.hint is not None and "davs://" in caught.value.hint
            call: Callable[[], None]
            for call in (lambda: remote.mkdir("/d"), lambda: remote.mv("/a", "/b")):
                with pytest.raises(UnsupportedOperation) as refused:
                    call()
                assert refused.value.hint is not None and "davs://" in refused.value.hint


def test_ls_of_a_file_is_its_entry(remote_for: Callable[..., HTTPSAdapter], tmp_path: Path) -> None:
    remote = remote_for()
    (tmp_path / "f").write_bytes(b"12345")
    remote.put_file(tmp_path / "f", "/dir/five.txt")
    [entry] = remote.ls("/dir/five.txt")
    assert (entry.name, entry.path, entry.size, entry.type) == ("five.txt", "/dir/five.txt", 5, "file")
    with pytest.raises(RemoteNotFound):
        remote.ls("/dir/none.txt")


def test_html_index_dates_and_sizes_as_nginx_and_apache_print_them() -> None:
    """Review D, finding 5: the date column was not read, so sync had no time to compare; and a
    date without a size column gave its minutes as the size."""
    nginx = (
        '<html><body><h1>Index of /out/</h1><hr><pre><a href="../">../</a>\r\n'
        '<a href="a.txt">a.txt</a>                                             30-Nov-2026 11:07'
        '                  10\r\n'
        '<a href="sub/">sub/</a>                                               29-Nov-2026 09:00'
        '                   -\r\n</pre><hr></body></html>'
    )
    entries = {e.name: e for e in parse_html_index(nginx, folder="/out") or []}
    a = entries["a.txt"]
    assert (a.size, a.modified, a.modified_precision, a.modified_zone_known) == (
        # nginx: GMT by default, local time with autoindex_localtime on: no zone named (the adapter
        # asks one file's HEAD, review E)
        10, dt.datetime(2026, 11, 30, 11, 7, tzinfo=dt.timezone.utc), 60, False)
    assert entries["sub"].modified == dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.timezone.utc)
    apache = (
        '<table><tr><th><a href="?C=N;O=D">Name</a></th></tr>'
        '<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="big.txt">big.txt</a></td>'
        '<td align="right">2026-11-30 11:07</td><td align="right">2.9K</td><td>&nbsp;</td></tr>'
        '<tr><td><a href="nosize.txt">nosize.txt</a></td><td align="right">2026-11-30 11:07</td></tr>'
        '<tr><td><a href="small.txt">small.txt</a></td><td align="right">2026-11-30 11:07</td>'
        '<td align="right">345</td></tr></table>'
    )
    entries = {e.name: e for e in parse_html_index(apache, folder="/pub") or []}
    assert {name: e.size for name, e in entries.items()} == {"big.txt": None, "nosize.txt": None, "small.txt": 345}
    assert {e.modified_zone_known for e in entries.values()} == {False}  # Apache: local time, zone not named
    assert {e.modified for e in entries.values()} == {dt.datetime(2026, 11, 30, 11, 7, tzinfo=dt.timezone.utc)}
    # A date that is none (31 February) is no time; the size after it is still read.
    [odd] = parse_html_index('<a href="x">x</a> 31-Feb-2026 10:00  7\n', folder="/") or []
    assert (odd.modified, odd.size) == (None, 7)


def test_parse_html_index_from_other_servers() -> None:
    apache = (
        '<table><tr><th><a href="?C=N;O=D">Name</a></th></tr>'
        '<tr><td><a href="/pub/">Parent Directory</a></td></tr>'
        '<tr><td><a href="a%20b.txt">a b.txt</a></td><td align="right">2025-01-01 10:00  </td>'
        '<td align="right">345 </td></tr>'
        '<tr><td><a href="big.iso">big.iso</a></td><td>2025-01-01 10:00</td><td align="right">1.2G</td></tr>'
        '<tr><td><a href="sub/">sub/</a></td><td>2025-01-01 10:00</td><td align="right">  - </td></tr></table>'
    )
    entries = {e.name: e for e in parse_html_index(apache, folder="/pub/x") or []}
    assert set(entries) == {"a b.txt", "big.iso", "sub"}
    assert entries["a b.txt"].size == 345 and entries["a b.txt"].path == "/pub/x/a b.txt"
    assert entries["big.iso"].size is None  # "1.2G" is not an exact size
    assert entries["sub"].type == "directory"
    # Apache's dates: to the minute, in the server's local time (no zone on the page).
    assert entries["a b.txt"].modified == dt.datetime(2025, 1, 1, 10, 0, tzinfo=dt.timezone.utc)
    assert (entries["a b.txt"].modified_precision, entries["a b.txt"].modified_zone_known) == (60, False)
    python_http_server = '<ul><li><a href="x.bin">x.bin</a></li><li><a href="d/">d/</a></li></ul>'
    assert [e.name for e in parse_html_index(python_http_server, folder="/") or []] == ["x.bin", "d"]
    assert parse_html_index("<html><body>Welcome</body></html>", folder="/") is None
    website = '<a href="https://example.com/">home</a><a href="/about">about</a>'
    assert parse_html_index(website, folder="/files") is None
    assert parse_json_index(b'{"not": "a list"}', folder="/") is None
    # An item nested deeper than Python recurses is no index (not a RecursionError).
    assert parse_json_index(b"[" + b"[" * 100_000, folder="/") is None


# -- redirects and proxies ---------------------------------------------------------------------


def test_redirects_stay_on_the_origin(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", redirects={"/moved": "/real", "/away": "", "/clear": ""}) as srv:
        srv.redirects["/away"] = f"https://localhost:{srv.port}/real"  # same server, other host name
        srv.redirects["/clear"] = f"http://{srv.host}:{srv.port}/real"
        (srv.root / "real").write_bytes(b"the real one")
        with _adapter(srv, client_context()) as remote:
            remote.get_file("/moved", tmp_path / "moved")
            assert (tmp_path / "moved").read_bytes() == b"the real one"
            with pytest.raises(RemoteError, match="redirected to https://localhost"):
                remote.get_file("/away", tmp_path / "away")
            with pytest.raises(InsecureSchemeRefused, match="redirected to http://"):
                remote.get_file("/clear", tmp_path / "clear")
        # The identity was never presented to "localhost": no request ever arrived there.
        assert [r.path for r in srv.requests] == ["/moved", "/real", "/away", "/clear"]
        assert srv.handshakes == 1
    assert not (tmp_path / "away").exists() and not (tmp_path / "clear").exists()


def test_https_proxy_connect_tunnel(
    server: HTTPSServer, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        make_file(tmp_path / "f", 1 << 20)
        with _adapter(server, client_context()) as remote:
            remote.put_file(tmp_path / "f", "/via-proxy.bin")
            remote.get_file("/via-proxy.bin", tmp_path / "back")
        assert sha256_of(tmp_path / "back") == sha256_of(tmp_path / "f")
        assert proxy.tunnels == [server.server]  # one tunnel, to the origin
        assert not proxy.saw_plaintext_http
        # The origin saw our client certificate: it was presented inside the tunnel.
        assert all(r.client_cn for r in server.requests)


def test_username_password_sent_only_to_origin(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        (srv.root / "f").write_bytes(b"x")
        settings = ConnectionSettings(
            scheme="https",
            host=srv.host,
            port=srv.port,
            root="/",
            ssl_context=client_context(),
            username="acme",
            password="s3cret",
        )
        with HTTPSAdapter(settings) as remote:
            remote.get_file("/f", tmp_path / "f")
            assert "s3cret" not in repr(remote.settings)
        assert srv.requests[0].headers["Authorization"].startswith("Basic ")


def test_sizes_verified_after_put(server: HTTPSServer, remote_for: Callable[..., HTTPSAdapter], tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    result = remote_for().put_file(tmp_path / "f", "/v.txt")
    assert result.size_verified is True
    assert os.path.getsize(server.root / "v.txt") == 3
