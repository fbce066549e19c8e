"""Size checks of a batch of HTTPS uploads by one listing per folder instead of a HEAD per file (issue 14).

The first upload of a batch is checked by HEAD; if that HEAD states no digest and the folder's
JSON index shows the file with the size the HEAD proved, the other uploads leave their size check
to the end of the batch, where one listing per folder proves them all.  Everything a HEAD would
catch is still caught (a short file is exit 7); servers where a HEAD proves more keep their HEADs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import IntegrityError
from xfer.testing.contract import make_file
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

FILES = 12


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    for number in range(FILES):
        make_file(folder / f"f{number:02d}.bin", 1000 + number, seed=number)
    for number in range(3):
        make_file(folder / "sub" / f"s{number}.bin", 500 + number, seed=100 + number)
    return folder


@pytest.fixture
def serve(pki: TestPKI, tmp_path: Path) -> Iterator[Callable[..., HTTPSServer]]:
    servers: list[HTTPSServer] = []

    def start(**kwargs: Any) -> HTTPSServer:
        server = HTTPSServer(pki, root=tmp_path / f"srv{len(servers)}", **kwargs)
        server.__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _adapter(server: HTTPSServer, context: XferSSLContext, *, checksum: bool = False, **options: Any) -> HTTPSAdapter:
    return HTTPSAdapter(ConnectionSettings(
        scheme="https", host=server.host, port=server.port, root="/", ssl_context=context, timeout=10,
        options=options, retries=0, checksum=checksum,
    ))


def _count(server: HTTPSServer, method: str) -> int:
    return sum(1 for request in server.requests if request.method == method)


@pytest.mark.parametrize("parallel", [1, 4])
def test_a_batch_proves_its_sizes_by_listing_each_folder_once(
    serve: Callable[..., HTTPSServer], client_context: Callable[..., XferSSLContext], tree: Path, parallel: int
) -> None:
    server = serve()
    with _adapter(server, client_context()) as remote:
        results = remote.put([tree], "/in/", recursive=True, parallel=parallel)
        assert remote._later is None  # the batch is over: single uploads check themselves again
    assert len(results) == FILES + 3
    assert all(r.size_verified is True and r.verified == "size" for r in results)
    assert _count(server, "PUT") == FILES + 3
    methods = [request.method for request in server.requests]
    listings = [request for request in server.requests if request.method == "GET"]
    assert all(request.headers.get("Cache-Control") == "no-cache" for request in listings)  # not a cache's copy
    assert methods.count("HEAD") == 1  # the probe's: the first upload to finish (the others wait for it)
    assert methods.count("GET") == 3  # the probe's listing, then batch/ and sub/ at the end
    for path in tree.rglob("*.bin"):
        assert (server.root / "in" / "batch" / path.relative_to(tree)).read_bytes() == path.read_bytes()


def test_a_file_stored_short_is_an_integrity_error_at_the_end(
    serve: Callable[..., HTTPSServer], client_context: Callable[..., XferSSLContext], tree: Path
) -> None:
    server = serve(short_puts=["/in/batch/f07.bin"])
    with _adapter(server, client_context()) as remote, pytest.raises(IntegrityError) as caught:
        remote.put([tree], "/in/", recursive=True)
    assert "/in/batch/f07.bin has 1006 bytes on the server after uploading 1007" in str(caught.value)
    assert _count(server, "HEAD") == 1  # found by the listing, not by a HEAD


@pytest.mark.parametrize("parallel", [1, 4])
def test_the_probe_file_stored_short_stops_the_batch_as_before(
    serve: Callable[..., HTTPSServer], client_context: Callable[..., XferSSLContext], tree: Path, parallel: int
) -> None:
    """The probe fails: uploads waiting for its decision check their own sizes (no hang), the batch stops."""
    server = serve(short_puts=[f"/in/batch/f{number:02d}.bin" for number in range(FILES)])
    with _adapter(server, client_context()) as remote, pytest.raises(IntegrityError) as caught:
        remote.put([tree], "/in/", recursive=True, parallel=parallel)
    assert "bytes on the server after uploading" in str(caught.value)
    assert _count(server, "GET") == 0
    assert _count(server, "PUT") <= parallel


@pytest.mark.parametrize(
    ("server_options", "adapter_options", "why"),
    [
        ({"digests": ["repr-digest"]}, {}, "a HEAD that states a digest proves more than the size"),
        ({"index": "html"}, {}, "an HTML index's sizes are read from text, not stated"),
        ({"index": "none"}, {}, "no listing"),
        ({}, {"index": "html"}, "the profile says the index is HTML"),
        ({}, {"checksum": True}, "--checksum needs each file's digest"),
    ],
)
def test_where_a_listing_proves_less_every_file_keeps_its_head(
    serve: Callable[..., HTTPSServer], client_context: Callable[..., XferSSLContext], tree: Path,
    server_options: dict[str, Any], adapter_options: dict[str, Any], why: str,
) -> None:
    server = serve(**server_options)
    checksum = adapter_options.pop("checksum", False)
    with _adapter(server, client_context(), checksum=checksum, **adapter_options) as remote:
        if checksum:  # this server states no digest: --checksum fails on the first file, by its HEAD
            with pytest.raises(IntegrityError, match="gave no checksum"):
                remote.put([tree], "/in/", recursive=True)
            assert _count(server, "HEAD") == 1 and _count(server, "GET") == 0
            return
        results = remote.put([tree], "/in/", recursive=True)
    assert _count(server, "HEAD") == FILES + 3, why
    expected = "sha256" if server_options.get("digests") else "size"
    assert all(r.size_verified is True and r.verified == expected for r in results)


def test_a_file_the_listing_does_not_show_is_headed(
    serve: Callable[..., HTTPSServer], client_context: Callable[..., XferSSLContext], tree: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = serve()
    real = HTTPSAdapter._json_sizes
    calls: list[str] = []

    def hiding(self: HTTPSAdapter, folder: str, limit: int) -> dict[str, int] | None:
        calls.append(folder)
        sizes = real(self, folder, limit)
        if sizes is not None and len(calls) > 1:  # the probe sees the truth; the end does not
            sizes.pop("f05.bin", None)
        return sizes

    monkeypatch.setattr(HTTPSAdapter, "_json_sizes", hiding)
    with _adapter(server, client_context()) as remote:
        results = remote.put([tree], "/in/", recursive=True)
    assert all(r.size_verified is True for r in results)
    heads = [request.path for request in server.requests if request.method == "HEAD"]
    assert heads == ["/in/batch/f00.bin", "/in/batch/f05.bin"]  # the probe's, and the one not listed


def test_a_small_batch_keeps_its_heads(
    serve: Callable[..., HTTPSServer], client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    """Three files or fewer: the probe's listing and the final one would be as many requests as the HEADs."""
    server = serve()
    (tmp_path / "few").mkdir()
    for name in ("a", "b", "c"):
        make_file(tmp_path / "few" / f"{name}.bin", 100, seed=1)
    with _adapter(server, client_context()) as remote:
        results = remote.put([tmp_path / "few"], "/in/", recursive=True)
        assert remote.put_file(tmp_path / "few" / "a.bin", "/in/one.bin").size_verified is True
    assert all(result.size_verified is True for result in results)
    assert _count(server, "HEAD") == 4 and _count(server, "GET") == 0


def test_a_failed_batch_leaves_the_adapter_checking_itself(
    serve: Callable[..., HTTPSServer], client_context: Callable[..., XferSSLContext], tree: Path
) -> None:
    server = serve(max_body=1005)  # f06 and on are refused (413)
    with _adapter(server, client_context()) as remote:
        with pytest.raises(Exception, match="too large"):
            remote.put([tree], "/in/", recursive=True)
        assert remote._later is None
        before = _count(server, "HEAD")
        remote.put_file(tree / "f00.bin", "/in/again.bin")
        assert _count(server, "HEAD") == before + 1
    assert os.path.getsize(server.root / "in" / "again.bin") == 1000


def test_cli_put_r_of_a_file_stored_short_exits_7_with_one_line(pki: TestPKI, tmp_path: Path, tree: Path) -> None:
    """The batch's check at its end is the command's outcome: exit 7, one error line, no traceback."""
    import subprocess
    import sys

    from xfer.errors import ExitCode

    with HTTPSServer(pki, root=tmp_path / "srv", short_puts=["/in/batch/f09.bin"]) as server:
        env = {**os.environ, "XFER_CONFIG_DIR": str(tmp_path / "config"), "XFER_TEST_PW": pki.password,
               "NO_COLOR": "1"}
        env.pop("HTTPS_PROXY", None)
        done = subprocess.run(
            [sys.executable, "-m", "xfer", "put", "-r", "-P", "4", str(tree), f"{server.url}/in/", "--quiet",
             "--ca", str(pki.root_ca), "--identity", str(pki.client_p12), "--identity-password", "env:XFER_TEST_PW"],
            capture_output=True, text=True, env=env, check=False, timeout=60,
        )
    assert done.returncode == ExitCode.INTEGRITY, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("xfer: error: ") and "/in/batch/f09.bin has 1008 bytes" in done.stderr
    assert _count(server, "HEAD") == 1


def test_a_folder_much_larger_than_the_batch_is_not_listed(
    serve: Callable[..., HTTPSServer], client_context: Callable[..., XferSSLContext], tree: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading a listing in place of HEADs must not cost more than they would: an inbox holding
    far more files than the batch brings is not listed (its listing is cut at a budget), each
    upload keeps its HEAD."""
    monkeypatch.setattr("xfer.adapters.https._LISTING_BASE", 1024)
    monkeypatch.setattr("xfer.adapters.https._LISTING_PER_FILE", 64)
    server = serve()
    crowded = server.root / "in" / "batch"
    crowded.mkdir(parents=True)
    for number in range(200):
        (crowded / f"old-{number:04d}.txt").write_bytes(b"x")
    with _adapter(server, client_context()) as remote:
        results = remote.put([tree], "/in/", recursive=True)
    assert all(r.size_verified is True and r.verified == "size" for r in results)
    assert _count(server, "HEAD") == FILES + 3
    assert _count(server, "GET") == 1  # the probe's listing, given up at its budget
