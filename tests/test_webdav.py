"""The WebDAV adapter against wsgidav in-process (mTLS, TLS 1.2 and 1.3): contract, wire, names, errors."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from http.client import responses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from xfer.adapters.base import ProgressCallback
from xfer.adapters.webdav import WebDAVAdapter
from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConfigError,
    HostnameMismatch,
    IntegrityError,
    LocalError,
    LocalFileNotFound,
    PinMismatch,
    RemoteError,
    RemoteExists,
    RemoteLocked,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerCertificateUntrusted,
    UnsupportedOperation,
    UsageError,
)
from xfer.http_session import create_session
from xfer.identity import Identity
from xfer.protocols.webdav import WebDAVOptions
from xfer.registry import spec_for_scheme
from xfer.testing.contract import AdapterContract, make_file
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import WebDAVServer
from xfer.tls import XferSSLContext, create_ssl_context

ContextFactory = Callable[..., XferSSLContext]


@pytest.fixture
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Outside tmp_path: tests check that nothing but the download lands there."""
    return tmp_path_factory.mktemp("dav")


@pytest.fixture
def server(pki: TestPKI, server_root: Path) -> Iterator[WebDAVServer]:
    with WebDAVServer(pki, root=server_root) as srv:
        yield srv


@pytest.fixture
def remote(server: WebDAVServer, client_context: ContextFactory) -> Iterator[WebDAVAdapter]:
    with server.adapter(client_context()) as adapter:
        yield adapter


def _no_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".xfer-part" in p.name]


# -- the contract: TLS 1.2 and 1.3, direct and temp-name uploads -------------------------------


class TestContract(AdapterContract):
    @pytest.fixture
    def remote(
        self, pki: TestPKI, server_root: Path, tls_version: str, client_context: ContextFactory
    ) -> Iterator[WebDAVAdapter]:
        with WebDAVServer(pki, root=server_root, tls_max=tls_version) as srv:
            with srv.adapter(client_context(tls_max=tls_version), upload_temp_name=False) as adapter:
                yield adapter


class TestContractTempName(AdapterContract):
    @pytest.fixture
    def remote(self, pki: TestPKI, server_root: Path, client_context: ContextFactory) -> Iterator[WebDAVAdapter]:
        with WebDAVServer(pki, root=server_root) as srv:
            with srv.adapter(client_context(), upload_temp_name=True) as adapter:
                yield adapter


# -- what goes over the wire --------------------------------------------------------------------


def test_twenty_operations_one_handshake_nothing_on_stdout(
    server: WebDAVServer, remote: WebDAVAdapter, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "f"
    make_file(source, 300_000)
    remote.mkdir("/reuse/deeper/still")  # 3 MKCOLs after a 409
    for i in range(4):
        remote.put_file(source, f"/reuse/{i}.bin")
        remote.get_file(f"/reuse/{i}.bin", tmp_path / f"back{i}")
    remote.ls("/reuse")
    remote.info("/reuse/0.bin")
    remote.mv("/reuse/0.bin", "/reuse/moved.bin")
    remote.copy("/reuse/moved.bin", "/reuse/copied.bin")
    with pytest.raises(RemoteNotFound):
        remote.get_file("/reuse/missing", tmp_path / "nothing")
    with pytest.raises(RemoteNotFound):
        remote.info("/reuse/missing")
    with pytest.raises(RemoteError, match="is a folder with"):
        remote.rm("/reuse")
    remote.rm("/reuse/1.bin")
    remote.rm("/reuse", recursive=True)
    assert not (server.root / "reuse").exists()
    assert len(server.requests) >= 30
    assert server.handshakes == 1, f"{len(server.requests)} requests took {server.handshakes} TLS handshakes"
    out, _ = capfd.readouterr()
    assert out == "", "webdavclient3 (or anything) printed to stdout"


def test_webdavclient3_runs_on_our_session(remote: WebDAVAdapter) -> None:
    assert remote.client.session is remote.session
    assert not remote.client.webdav.cert_path and not remote.client.webdav.key_path
    remote.ls("/")  # a PROPFIND through webdavclient3's execute_request


@pytest.mark.parametrize("temp_name", [True, False], ids=["temp-name", "direct"])
def test_put_has_content_length_and_exact_progress(
    server: WebDAVServer, client_context: ContextFactory, tmp_path: Path, temp_name: bool
) -> None:
    size = 5 << 20
    source = tmp_path / "f"
    make_file(source, size)
    up: list[tuple[int, int | None]] = []
    down: list[tuple[int, int | None]] = []
    with server.adapter(client_context(), upload_temp_name=temp_name) as remote:
        remote.put_file(source, "/a.bin", callback=lambda sent, total: up.append((sent, total)))
        remote.get_file("/a.bin", tmp_path / "back", callback=lambda got, total: down.append((got, total)))
    puts = [r for r in server.requests if r.method == "PUT"]
    assert len(puts) == 1
    assert puts[0].headers["Content-Length"] == str(size)
    assert "Transfer-Encoding" not in puts[0].headers
    for seen in (up, down):
        values = [done for done, _ in seen]
        assert values == sorted(values) and values[-1] == size and max(values) == size
        assert all(total == size for _, total in seen)
        assert len(seen) >= 5  # reported while streaming, not once at the end
    # The size check is one HEAD; one GET, no extra HEAD/PROPFIND before it (webdavclient3's
    # download does both).
    if temp_name:
        part = puts[0].path
        assert [r.method for r in server.requests if r.path == part] == ["PUT", "MOVE"]
        # The size check runs on the final name, after the MOVE.
        assert [r.method for r in server.requests if r.path == "/a.bin"] == ["HEAD", "GET"]
    else:
        assert [r.method for r in server.requests if r.path == "/a.bin"] == ["PUT", "HEAD", "GET"]


def test_temp_name_upload_appears_only_when_complete(
    server: WebDAVServer, client_context: ContextFactory, tmp_path: Path
) -> None:
    source = tmp_path / "f"
    make_file(source, 100_000)
    with server.adapter(client_context(), upload_temp_name=True) as remote:
        remote.mkdir("/in")
        result = remote.put_file(source, "/in/invoice.edi")
    assert result.remote == "/in/invoice.edi"
    put = next(r for r in server.requests if r.method == "PUT")
    assert put.path.startswith("/in/.invoice.edi.") and put.path.endswith(".xfer-part")
    move = next(r for r in server.requests if r.method == "MOVE")
    # Overwrite: F -- a new name needs no overwriting, and a folder there must never be replaced.
    assert move.headers["Overwrite"] == "F" and move.headers["Destination"].endswith("/in/invoice.edi")
    assert sorted(p.name for p in (server.root / "in").iterdir()) == ["invoice.edi"]


def test_temp_name_is_the_default(server: WebDAVServer, client_context: ContextFactory, tmp_path: Path) -> None:
    # As declared in the WebDAV spec: settings built with no options must not be the unsafe mode.
    spec = spec_for_scheme("davs")
    assert spec is not None
    options = spec.parse_options({})
    assert isinstance(options, WebDAVOptions) and options.upload_temp_name is True
    (tmp_path / "f").write_bytes(b"x" * 1000)
    with server.adapter(client_context()) as remote:  # no options at all
        result = remote.put_file(tmp_path / "f", "/f.bin")
    put = next(r for r in server.requests if r.method == "PUT")
    assert put.path.startswith("/.f.bin.") and put.path.endswith(".xfer-part")
    assert result.temp_name == put.path[1:]
    assert sorted(p.name for p in server.root.iterdir()) == ["f.bin"]


class _RefusingServer(WebDAVServer):
    """wsgidav that answers ``refuse[method]`` to every request with that method (recorded as usual)."""

    def __init__(self, pki: TestPKI, *, root: Path, refuse: dict[str, int]) -> None:
        super().__init__(pki, root=root)
        self.refuse = refuse

    def _wrap(self, app: Any) -> Any:
        def refusing(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            status = self.refuse.get(environ["REQUEST_METHOD"])
            if status is None:
                result: list[bytes] = app(environ, start_response)
                return result
            body = f"{status} {responses[status]}\n".encode()
            start_response(f"{status} {responses[status]}", [("Content-Type", "text/plain"),
                                                              ("Content-Length", str(len(body)))])
            return [body]

        return super()._wrap(refusing)


def _interrupt_at(limit: int, error: BaseException) -> ProgressCallback:
    def callback(done: int, total: int | None) -> None:
        if done > limit:
            raise error

    return callback


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        ("ctrl-c", KeyboardInterrupt),
        ("local-read-error", LocalError),
        ("move-refused", UnsupportedOperation),
        ("ctrl-c-and-cleanup-fails", KeyboardInterrupt),
    ],
)
def test_failed_temp_name_upload_leaves_nothing(
    pki: TestPKI, tmp_path: Path, client_context: ContextFactory, monkeypatch: pytest.MonkeyPatch,
    failure: str, kind: type[BaseException],
) -> None:
    """Whatever stops a temp-name upload, the part file is removed and the original error propagates."""
    source = tmp_path / "f"
    make_file(source, 3_000_000)
    refuse = {"MOVE": 405} if failure == "move-refused" else {}
    callback = None
    if failure.startswith("ctrl-c"):
        callback = _interrupt_at(500_000, KeyboardInterrupt())
    elif failure == "local-read-error":
        # As FileBody raises it when the disk fails under a read, inside the HTTP library's send loop.
        callback = _interrupt_at(500_000, LocalError("cannot read f: Input/output error"))
    with _RefusingServer(pki, root=tmp_path / "srv", refuse=refuse) as srv:
        with srv.adapter(client_context(), upload_temp_name=True) as remote:
            if failure.endswith("cleanup-fails"):
                assert isinstance(remote, WebDAVAdapter)

                def no_network(*args: Any, **kwargs: Any) -> Any:
                    raise requests.ConnectionError("network gone")

                monkeypatch.setattr(remote.client, "execute_request", no_network)
            with pytest.raises(kind) as caught:
                remote.put_file(source, "/final.bin", callback=callback)
        requests_seen = srv.requests
    if failure == "move-refused":
        assert "does not allow MOVE on /final.bin" in str(caught.value)
        assert caught.value.hint is not None and "upload_temp_name = false" in caught.value.hint  # type: ignore[attr-defined]
    deletes = [r.path for r in requests_seen if r.method == "DELETE"]
    if failure.endswith("cleanup-fails"):
        assert deletes == []  # and the KeyboardInterrupt, not the cleanup's error, reached the caller
        return
    assert deletes == [r.path for r in requests_seen if r.method == "PUT"]
    assert deletes[0].startswith("/.final.bin.") and deletes[0].endswith(".xfer-part")
    assert list((tmp_path / "srv").iterdir()) == []


@pytest.mark.parametrize("temp_name", [True, False], ids=["temp-name", "direct"])
def test_405_on_the_size_check_is_not_put_refused(
    pki: TestPKI, tmp_path: Path, client_context: ContextFactory, temp_name: bool
) -> None:
    (tmp_path / "f").write_bytes(b"x" * 1000)
    with _RefusingServer(pki, root=tmp_path / "srv", refuse={"HEAD": 405}) as srv:
        with srv.adapter(client_context(), upload_temp_name=temp_name) as remote:
            result = remote.put_file(tmp_path / "f", "/f.bin")
    assert result.size_verified is False  # the server cannot tell: nothing to compare
    assert (tmp_path / "srv" / "f.bin").read_bytes() == b"x" * 1000
    # A 405 on the PUT itself still gets the WebDAV meaning.
    with _RefusingServer(pki, root=tmp_path / "srv2", refuse={"PUT": 405}) as srv:
        with srv.adapter(client_context(), upload_temp_name=temp_name) as remote:
            with pytest.raises(RemoteExists, match="does not allow PUT there"):
                remote.put_file(tmp_path / "f", "/f.bin")
    assert list((tmp_path / "srv2").iterdir()) == []


def test_mv_overwrite_option(server: WebDAVServer, client_context: ContextFactory, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    with server.adapter(client_context(), overwrite=False) as remote:
        remote.put_file(tmp_path / "a", "/a")
        remote.put_file(tmp_path / "b", "/b")
        with pytest.raises(RemoteExists, match="already exists and overwriting is off") as caught:
            remote.mv("/a", "/b")
        assert caught.value.hint and "overwrite = true" in caught.value.hint
    assert (server.root / "b").read_bytes() == b"b"
    with server.adapter(client_context()) as remote:
        remote.mv("/a", "/b")
    assert (server.root / "b").read_bytes() == b"a" and not (server.root / "a").exists()
    with pytest.raises(ConfigError, match=r"\[webdav\]: overwrite must be a bool, not str"):
        server.adapter(client_context(), overwrite="yes")


def test_folders_mkdir_rm_rmdir_mv(server: WebDAVServer, remote: WebDAVAdapter, tmp_path: Path) -> None:
    remote.mkdir("/x/y/z")
    assert (server.root / "x" / "y" / "z").is_dir()
    remote.mkdir("/x/y")  # existing: fine
    (tmp_path / "f").write_bytes(b"data")
    remote.put_file(tmp_path / "f", "/x/file")
    with pytest.raises(RemoteExists, match="a file has that name"):
        remote.mkdir("/x/file")
    with pytest.raises(RemoteNotFound, match="the folder /nope does not exist"):
        remote.mkdir("/nope/sub", parents=False)
    remote.put_file(tmp_path / "f", "/nope/deeper/f")  # missing parents are created (issue 11 item 16)
    assert (server.root / "nope" / "deeper" / "f").read_bytes() == b"data"
    remote.rm("/nope", recursive=True)
    remote.mv("/x/y", "/x/w")  # a folder
    assert (server.root / "x" / "w" / "z").is_dir()
    remote.copy("/x/w", "/x/copy")
    assert (server.root / "x" / "copy" / "z").is_dir()
    with pytest.raises(RemoteError, match="is not empty"):
        remote.rmdir("/x/w")
    remote.rmdir("/x/w/z")
    remote.rm("/x/w")  # empty now: no -r needed
    with pytest.raises(RemoteError, match="is not a folder"):
        remote.rmdir("/x/file")
    with pytest.raises(UsageError):
        remote.rm("/", recursive=True)
    remote.rm("/x", recursive=True)
    assert list(server.root.iterdir()) == []


# -- names ---------------------------------------------------------------------------------------

NAMES = ["with space.txt", "ünïcødé ✓.txt", "hash#tag.txt", "100% sure.txt", "pre%20encoded.txt",
         "plus+and&amp;.txt", "question?.txt", "semi;colon'quote\".txt"]


def test_names_round_trip(server: WebDAVServer, client_context: ContextFactory, tmp_path: Path) -> None:
    # Direct PUTs: wsgidav percent-decodes a MOVE's Destination before parsing it, so
    # "question?.txt" and "semi;colon..." would land as "question" and "semi" with temp names.
    with server.adapter(client_context(), upload_temp_name=False) as remote:
        folder = "/dir #1 100%/ü ä"
        remote.mkdir(folder)
        for index, name in enumerate(NAMES):
            (tmp_path / "src").write_bytes(name.encode())
            remote.put_file(tmp_path / "src", f"{folder}/{name}")
            assert (server.root / "dir #1 100%" / "ü ä" / name).read_bytes() == name.encode()
            remote.get_file(f"{folder}/{name}", tmp_path / f"back{index}")
            assert (tmp_path / f"back{index}").read_bytes() == name.encode()
            assert remote.info(f"{folder}/{name}").size == len(name.encode())
        entries = remote.ls(folder)
        assert sorted(e.name for e in entries) == sorted(NAMES)
        assert all(e.path == f"{folder}/{e.name}" for e in entries)
        assert [e.name for e in remote.ls("/dir #1 100%")] == ["ü ä"]
        remote.mv(f"{folder}/hash#tag.txt", f"{folder}/moved 100%#.txt")
        assert (server.root / "dir #1 100%" / "ü ä" / "moved 100%#.txt").exists()
        remote.rm("/dir #1 100%", recursive=True)
    assert list(server.root.iterdir()) == []


# -- XML from the server -------------------------------------------------------------------------------

BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode() for i in range(1, 10)
    )
    + b']>\n<D:multistatus xmlns:D="DAV:"><D:response><D:href>/</D:href><D:propstat><D:prop>'
    b"<D:displayname>&lol9;</D:displayname></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
    b"</D:response></D:multistatus>"
)


class _CannedDAV:
    """A tiny mTLS server answering every PROPFIND with a fixed 207 body (for hostile XML and odd hrefs)."""

    def __init__(self, pki: TestPKI, body: Callable[[int], bytes]) -> None:
        outer = self
        self.handshakes = 0
        self.requests: list[tuple[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                self.request.do_handshake()
                outer.handshakes += 1
                super().setup()

            def do_PROPFIND(self) -> None:
                outer.requests.append((self.command, self.path))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = body(outer.port)
                self.send_response(207)
                self.send_header("Content-Type", 'application/xml; charset="utf-8"')
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
        context.load_verify_locations(cafile=str(pki.root_ca))
        context.verify_mode = ssl.CERT_REQUIRED

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                sock, address = self.socket.accept()
                return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> _CannedDAV:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def adapter(self, context: XferSSLContext) -> WebDAVAdapter:
        from xfer.adapters.base import ConnectionSettings

        return WebDAVAdapter(ConnectionSettings(scheme="davs", host="127.0.0.1", port=self.port, root="/",
                                                ssl_context=context, timeout=10))


def test_entity_expansion_bomb_is_refused_not_expanded(pki: TestPKI, client_context: ContextFactory) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with _CannedDAV(pki, lambda port: BOMB) as canned, canned.adapter(client_context()) as remote:
        with pytest.raises(RemoteError, match="DTD or entity") as caught:
            remote.ls("/")
        assert "refused the WebDAV answer for /" in str(caught.value)
        with pytest.raises(RemoteError, match="DTD or entity"):
            remote.info("/x")
        assert canned.handshakes == 1  # the refusal left the connection usable
    # 10^9 "lol"s would be gigabytes; the refusal happens at the DOCTYPE.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000


def test_external_entities_and_junk_are_refused() -> None:
    from xfer.adapters._dav_xml import UnsafeXML, parse_multistatus

    external = (
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<D:multistatus xmlns:D="DAV:"><D:response><D:href>&x;</D:href></D:response></D:multistatus>'
    )
    for body in (BOMB, external):
        with pytest.raises(UnsafeXML, match="DTD or entity"):
            parse_multistatus(body, request_url="https://h/")
    with pytest.raises(UnsafeXML, match="not well-formed"):  # cut short: never a partial listing
        parse_multistatus(b'<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a', request_url="https://h/")
    with pytest.raises(UnsafeXML, match="not DAV: multistatus"):
        parse_multistatus(b"<html><body>oops", request_url="https://h/")
    with pytest.raises(UnsafeXML, match="not DAV: multistatus"):
        parse_multistatus(b"<html/>", request_url="https://h/")


def _multistatus(*responses: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:">' + "".join(responses)
            + "</d:multistatus>").encode()


def _response(href: str, *, collection: bool = False, size: int | None = None, etag: str | None = None) -> str:
    props = "<d:resourcetype>" + ("<d:collection/>" if collection else "") + "</d:resourcetype>"
    if size is not None:
        props += f"<d:getcontentlength>{size}</d:getcontentlength>"
    if etag is not None:
        props += f"<d:getetag>{etag}</d:getetag>"
    props += "<d:getlastmodified>Tue, 01 Sep 2026 10:00:00 GMT</d:getlastmodified>"
    return (f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop>"
            f"<d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
            "<d:propstat><d:prop><d:getcontenttype/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status>"
            "</d:propstat></d:response>")


@pytest.mark.parametrize(
    "style",
    ["absolute-url", "path", "unencoded", "no-trailing-slash", "self-last"],
)
def test_ls_reads_every_href_style(pki: TestPKI, client_context: ContextFactory, style: str) -> None:
    def body(port: int) -> bytes:
        base = f"https://127.0.0.1:{port}" if style == "absolute-url" else ""
        folder, names = "/in%20box/", ("a%20b%23.txt", "%C3%BC%25.bin", "sub/")
        if style == "unencoded":
            folder, names = "/in box/", ("a b#.txt", "ü%.bin", "sub/")
        if style == "no-trailing-slash":
            folder, names = "/in%20box", ("a%20b%23.txt", "%C3%BC%25.bin", "sub")
        own = _response(base + folder, collection=True)
        slash = "" if folder.endswith("/") else "/"
        members = [
            _response(base + folder + slash + names[0], size=3, etag='"e1"'),
            _response(base + folder + slash + names[1], size=0),
            _response(base + folder + slash + names[2], collection=True),
        ]
        return _multistatus(*([*members, own] if style == "self-last" else [own, *members]))

    with _CannedDAV(pki, body) as canned, canned.adapter(client_context()) as remote:
        entries = {e.name: e for e in remote.ls("/in box")}
    assert set(entries) == {"a b#.txt", "ü%.bin", "sub"}
    assert entries["a b#.txt"].size == 3 and entries["a b#.txt"].extra["etag"] == '"e1"'
    assert entries["a b#.txt"].path == "/in box/a b#.txt"
    assert entries["a b#.txt"].modified is not None and entries["a b#.txt"].modified.year == 2026
    assert entries["ü%.bin"].size == 0 and entries["ü%.bin"].type == "file"
    assert entries["sub"].is_dir and entries["sub"].size is None
    assert canned.requests == [("PROPFIND", "/in%20box")]


# -- every bad input --------------------------------------------------------------------------------


@pytest.fixture
def strict_server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory, tls_version: str) -> Iterator[WebDAVServer]:
    with WebDAVServer(pki, root=tmp_path_factory.mktemp("strict"), tls_max=tls_version) as srv:
        (srv.root / "file.txt").write_bytes(b"content")
        yield srv


def _run(op: str, remote: WebDAVAdapter, tmp_path: Path) -> None:
    if op == "ls":
        remote.ls("/")
    elif op == "get":
        remote.get_file("/file.txt", tmp_path / "out.txt")
    else:
        (tmp_path / "up.txt").write_bytes(b"up")
        remote.put_file(tmp_path / "up.txt", "/up.txt")


OPS = ["ls", "get", "put"]


@pytest.mark.parametrize("op", OPS)
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
    strict_server: WebDAVServer, client_context: ContextFactory, tmp_path: Path,
    which: str | None, kind: type, words: str, op: str,
) -> None:
    with strict_server.adapter(client_context(which)) as remote, pytest.raises(kind, match=words) as caught:
        _run(op, remote, tmp_path)
    assert strict_server.server in str(caught.value)
    assert not (tmp_path / "out.txt").exists() and not _no_leftovers(tmp_path)
    assert not (strict_server.root / "up.txt").exists()


@pytest.mark.parametrize("op", OPS)
def test_untrusted_server_ca(
    strict_server: WebDAVServer, client_context: ContextFactory, pki: TestPKI, tmp_path: Path, op: str
) -> None:
    with strict_server.adapter(client_context(ca=pki.untrusted_ca)) as remote:
        with pytest.raises(ServerCertificateUntrusted, match="we do not trust the server's certificate"):
            _run(op, remote, tmp_path)
    assert not (tmp_path / "out.txt").exists() and strict_server.handshakes == 0


@pytest.mark.parametrize("op", OPS)
def test_pin_mismatch(strict_server: WebDAVServer, pki: TestPKI, identity: Identity, tmp_path: Path, op: str) -> None:
    context = create_ssl_context(identity, ca=pki.root_ca, pin="sha256:" + "00" * 32)
    with strict_server.adapter(context) as remote, pytest.raises(PinMismatch, match="does not match the pinned"):
        _run(op, remote, tmp_path)
    assert not (tmp_path / "out.txt").exists()
    assert not (strict_server.root / "up.txt").exists()


def test_wrong_host_name(pki: TestPKI, tmp_path: Path, client_context: ContextFactory, tls_version: str) -> None:
    with WebDAVServer(pki, root=tmp_path / "srv", cert=pki.wrong_host_cert, key=pki.wrong_host_key,
                      tls_max=tls_version) as srv:
        for op in OPS:
            with srv.adapter(client_context()) as remote, pytest.raises(HostnameMismatch, match="not valid for this"):
                _run(op, remote, tmp_path)
    assert not (tmp_path / "out.txt").exists()


def test_missing_local_file(server: WebDAVServer, remote: WebDAVAdapter, tmp_path: Path) -> None:
    with pytest.raises(LocalFileNotFound, match=r"local file .*nope.txt does not exist"):
        remote.put_file(tmp_path / "nope.txt", "/nope.txt")
    assert not [r for r in server.requests if r.method == "PUT"]


def test_remote_404_403_507(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    with WebDAVServer(pki, root=tmp_path / "srv", forbidden=["/secret"], statuses={"/full.bin": 507}) as srv:
        (srv.root / "secret").mkdir()
        (srv.root / "secret" / "f").write_bytes(b"x")
        (tmp_path / "f").write_bytes(b"x" * 1000)
        existing = tmp_path / "keep"
        existing.write_bytes(b"old")
        # Direct PUTs: the 507 is configured for the final name, not a temporary one.
        with srv.adapter(client_context(), upload_temp_name=False) as remote:
            with pytest.raises(RemoteNotFound, match=r"/missing.txt does not exist \(404 Not Found\)"):
                remote.get_file("/missing.txt", existing)
            call: Callable[[], object]
            for call in (lambda: remote.ls("/missing"), lambda: remote.rm("/missing"),
                         lambda: remote.mv("/missing", "/x")):
                with pytest.raises(RemoteNotFound):
                    call()
            with pytest.raises(RemotePermissionDenied, match=r"permission denied for /secret/f \(403 Forbidden\)"):
                remote.get_file("/secret/f", existing)
            for call in (lambda: remote.ls("/secret"), lambda: remote.put_file(tmp_path / "f", "/secret/g"),
                         lambda: remote.mkdir("/secret/d"), lambda: remote.rm("/secret/f")):
                with pytest.raises(RemotePermissionDenied):
                    call()
            with pytest.raises(RemoteStorageFull, match=r"no space left on the server for /full.bin \(507"):
                remote.put_file(tmp_path / "f", "/full.bin")
        assert srv.handshakes == 1
    assert existing.read_bytes() == b"old" and not _no_leftovers(tmp_path)


def test_locked_resources_are_423(
    server: WebDAVServer, remote: WebDAVAdapter, client_context: ContextFactory, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"v1")
    remote.mkdir("/folder")
    remote.put_file(tmp_path / "f", "/folder/locked.txt")
    # Someone else (another client, same CA) takes an exclusive write lock.
    with create_session(client_context(), server=server.server) as other:
        lock = other.request(
            "LOCK",
            other.url_for("/folder/locked.txt"),
            data=b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
            b"<D:locktype><D:write/></D:locktype><D:owner>someone else</D:owner></D:lockinfo>",
            headers={"Timeout": "Second-600", "Content-Type": "application/xml"},
        )
        assert lock.status_code == 200, lock.text
    (tmp_path / "f").write_bytes(b"v2")
    with pytest.raises(RemoteLocked, match=r"/folder/locked.txt is locked \(423 Locked\)") as caught:
        remote.put_file(tmp_path / "f", "/folder/locked.txt")
    assert caught.value.hint and "lock" in caught.value.hint
    with pytest.raises(RemoteLocked):
        remote.rm("/folder/locked.txt")
    with pytest.raises(RemoteLocked):
        remote.mv("/folder/locked.txt", "/folder/other.txt")
    with pytest.raises(RemoteLocked):
        remote.rm("/folder", recursive=True)  # a locked member: 423 or a 207 naming it
    assert (server.root / "folder" / "locked.txt").read_bytes() == b"v1"
    assert server.handshakes == 2  # ours and the locker's


def _adapter_at(port: int, context: XferSSLContext) -> WebDAVAdapter:
    from xfer.adapters.base import ConnectionSettings

    return WebDAVAdapter(ConnectionSettings(scheme="davs", host="127.0.0.1", port=port, root="/",
                                            ssl_context=context, timeout=5))


def test_non_dav_server_is_explained(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    from xfer.errors import UnsupportedOperation
    from xfer.testing.https_server import HTTPSServer

    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter_at(srv.port, client_context()) as remote:
        with pytest.raises(UnsupportedOperation, match="does not allow PROPFIND on /") as caught:
            remote.ls("/")
    assert caught.value.hint is not None and "https://" in caught.value.hint


def test_transport_failures_are_translated(pki: TestPKI, tmp_path: Path, client_context: ContextFactory) -> None:
    from xfer.errors import ConnectError

    with WebDAVServer(pki, root=tmp_path / "srv") as srv:
        port = srv.port
    with _adapter_at(port, client_context()) as remote:
        for call in (lambda: remote.ls("/"), lambda: remote.mkdir("/x"), lambda: remote.rm("/x")):
            with pytest.raises(ConnectError):
                call()


def test_mangled_move_destination_is_an_error_not_a_silent_success(
    server: WebDAVServer, client_context: ContextFactory, tmp_path: Path
) -> None:
    """wsgidav decodes a MOVE's Destination before parsing it: "q?.txt" lands as "q".

    The size check runs on the final name, so that shows as an error instead of success.
    """
    (tmp_path / "src").write_bytes(b"payload")
    with server.adapter(client_context()) as remote, pytest.raises(IntegrityError, match="is not there after"):
        remote.put_file(tmp_path / "src", "/question?.txt")
