"""The HTTPS adapter against real nginx (the bed): the contract under TLS 1.2 and 1.3, nginx's
HTTP 400 client-certificate answers, and the wrong-host-name server block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from xfer import client
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    HostnameMismatch,
    RemoteIsFolder,
    RemoteNotFound,
    UnsupportedOperation,
)
from xfer.identity import Identity
from xfer.testing.contract import AdapterContract, make_file, make_small_files, sha256_of
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

pytestmark = pytest.mark.integration


def _adapter(pki: TestPKI, host: str, port: int, *, identity: Path | None, tls_max: str | None = None) -> HTTPSAdapter:
    ident = Identity.load(identity, pki.password) if identity else None
    ctx = create_ssl_context(ident, ca=pki.root_ca, maximum_version=tls_max)
    return HTTPSAdapter(ConnectionSettings(scheme="https", host=host, port=port, root="/", ssl_context=ctx, timeout=30))


@pytest.fixture
def nginx(bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server("nginx")


class TestNginxContract(AdapterContract):
    @pytest.fixture
    def remote(self, nginx: ServerInfo, bed_pki: TestPKI, tls_version: str) -> Iterator[HTTPSAdapter]:
        with _adapter(bed_pki, nginx.host, nginx.port, identity=bed_pki.client_p12, tls_max=tls_version) as a:
            yield a


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_uploads_land_on_disk_and_reuse_one_connection(
    nginx: ServerInfo, bed_pki: TestPKI, tmp_path: Path, tls: str
) -> None:
    source = tmp_path / "f.bin"
    expected = make_file(source, 3 << 20, seed=3)
    with _adapter(bed_pki, nginx.host, nginx.port, identity=bed_pki.client_p12, tls_max=tls) as remote:
        for i in range(3):
            remote.put_file(source, f"/nginx-reuse-{tls}/{i}.bin")
            remote.get_file(f"/nginx-reuse-{tls}/{i}.bin", tmp_path / f"back{i}")
        names = [e.name for e in remote.ls(f"/nginx-reuse-{tls}")]
        pool = remote.session.adapters["https://"].poolmanager  # type: ignore[attr-defined]
        [connection_pool] = pool.pools._container.values()
        assert connection_pool.num_connections == 1, "nine operations must share one TLS connection"
        remote.rm(f"/nginx-reuse-{tls}", recursive=True)
    assert names == ["0.bin", "1.bin", "2.bin"]
    assert sha256_of(tmp_path / "back2") == expected


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize(
    ("which", "kind", "words"),
    [
        (None, ClientCertificateRequired, "requires a client certificate and none was presented (HTTP 400"),
        ("client_untrusted_p12", ClientCertificateRejected, "rejected our client certificate"),
        ("client_expired_p12", ClientCertificateRejected, "rejected our client certificate"),
    ],
    ids=["no-identity", "untrusted-identity", "expired-identity"],
)
def test_nginx_400_is_a_certificate_error(
    nginx: ServerInfo, bed_pki: TestPKI, tmp_path: Path, tls: str, which: str | None, kind: type, words: str
) -> None:
    identity = getattr(bed_pki, which) if which else None
    with _adapter(bed_pki, nginx.host, nginx.port, identity=identity, tls_max=tls) as remote:
        with pytest.raises(kind) as caught:
            remote.get_file("/any.txt", tmp_path / "out")
    assert words in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_wrong_host_block_is_refused(nginx: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    port = int(nginx.extra["wrong_host_port"])
    with _adapter(bed_pki, nginx.host, port, identity=bed_pki.client_p12) as remote:
        with pytest.raises(HostnameMismatch, match="not valid for this host name"):
            remote.ls("/")


# -- issue 11 on real nginx: folders, uploads without a listing, missing parents, proven ends --


def test_get_of_a_folder_without_r(nginx: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    """nginx redirects /dir to /dir/ and serves the index there: that is a folder, not a file."""
    (tmp_path / "a.txt").write_bytes(b"a")
    with _adapter(bed_pki, nginx.host, nginx.port, identity=bed_pki.client_p12) as remote:
        remote.put_file(tmp_path / "a.txt", "/nginx-folder/a.txt")
        with pytest.raises(RemoteIsFolder, match="/nginx-folder is a folder") as caught:
            remote.get_file("/nginx-folder", tmp_path / "out")
        assert remote.info("/nginx-folder").is_dir  # HEAD: 301 to /nginx-folder/
        assert remote.info("/nginx-folder/a.txt").size == 1
        remote.rm("/nginx-folder", recursive=True)
    assert caught.value.hint == "use -r to copy a folder"
    assert not (tmp_path / "out").exists()


def test_put_into_a_folder_without_listing(nginx: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"payload")
    with _adapter(bed_pki, nginx.host, nginx.port, identity=bed_pki.client_p12) as remote:
        remote.put_file(tmp_path / "f", "/noindex/drop/first.txt")  # creates /noindex/drop/
        with pytest.raises(UnsupportedOperation, match="offers no listing"):
            remote.ls("/noindex/drop")
        results = client.put(remote, [tmp_path / "f"], "/noindex/drop/name.txt")
        remote.get_file("/noindex/drop/name.txt", tmp_path / "back")
        remote.rm("/noindex/drop/name.txt")
        remote.rm("/noindex/drop/first.txt")
    assert results[0].remote == "/noindex/drop/name.txt" and results[0].size_verified is True
    assert (tmp_path / "back").read_bytes() == b"payload"


def test_put_parents(nginx: ServerInfo, bed_pki: TestPKI, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"deep")
    with _adapter(bed_pki, nginx.host, nginx.port, identity=bed_pki.client_p12) as remote:
        remote.put_file(tmp_path / "f", "/nginx-parents/a/b/c.txt")  # create_full_put_path on
        assert remote.info("/nginx-parents/a/b/c.txt").size == 4
        remote.rm("/nginx-parents", recursive=True)
        with pytest.raises(RemoteNotFound, match="the folder /noparents/missing does not exist") as caught:
            remote.put_file(tmp_path / "f", "/noparents/missing/c.txt")
    assert "HTTP 500" in str(caught.value) and caught.value.hint and "davs://" in caught.value.hint


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_chunked_index_and_static_files_end_properly(
    nginx: ServerInfo, bed_pki: TestPKI, tmp_path: Path, tls: str
) -> None:
    """With ragged EOFs visible, nginx's chunked index pages and Content-Length files still read."""
    source = tmp_path / "f.bin"
    expected = make_file(source, 1 << 20, seed=11)
    with _adapter(bed_pki, nginx.host, nginx.port, identity=bed_pki.client_p12, tls_max=tls) as remote:
        remote.put_file(source, f"/nginx-ends-{tls}/f.bin")
        assert [e.name for e in remote.ls(f"/nginx-ends-{tls}")] == ["f.bin"]
        remote.get_file(f"/nginx-ends-{tls}/f.bin", tmp_path / "back")
        remote.rm(f"/nginx-ends-{tls}", recursive=True)
    assert sha256_of(tmp_path / "back") == expected


def test_small_files_go_together_past_nginxs_keepalive_limit(
    nginx: ServerInfo, bed_pki: TestPKI, tmp_path: Path
) -> None:
    """2,200 small files in folders of 200, pipelined 32 at a time (put_together) on two
    connections: nginx closes each after its 1,000th request, in the middle of a group; every
    file still lands, proven once, its size read from nginx's JSON listing of its folder
    instead of a HEAD per file."""
    tree = tmp_path / "many"
    digests = make_small_files(tree, 2200, per_folder=200)
    with _adapter(bed_pki, nginx.host, nginx.port, identity=bed_pki.client_p12) as remote:
        results = remote.put([tree], "/nginx-together/", recursive=True, parallel=2)
    landed = nginx.root / "nginx-together" / "many"
    assert {p.relative_to(landed).as_posix(): sha256_of(p) for p in landed.rglob("*.bin")} == digests
    assert all(r.size_verified for r in results)
    together = sum(bool(r.details.get("pipelined")) for r in results)
    assert together > 2100, f"only {together} of 2200 went pipelined"
    listed = sum(bool(r.details.get("size_listed")) for r in results)
    # Checked by their HEADs instead: each worker's first group (32, until a HEAD has shown that
    # nginx states no hash) and the file that opens its connection; in a group that spans two
    # folders, the files of the smaller part (at most 16 a group, at the 10 folder boundaries); a
    # few more where nginx closed a connection at its 1,000th request.  Under load, with two
    # workers, 1,982 to 2,062 were listed (the bound was 2,000: the CI of 6cc8575 failed on it).
    assert listed > 2200 - 2 * 33 - 10 * 16 - 32, f"only {listed} of 2200 checked by the listing"
    # And back: get -r pipelines their GETs the same way, past the same limit.
    with _adapter(bed_pki, nginx.host, nginx.port, identity=bed_pki.client_p12) as remote:
        fetched = remote.get(["/nginx-together/many"], tmp_path / "back", recursive=True, parallel=2)
    back = tmp_path / "back"
    assert {p.relative_to(back).as_posix(): sha256_of(p) for p in back.rglob("*.bin")} == digests
    assert all(r.verified == "size" for r in fetched)
    together = sum(bool(r.details.get("pipelined")) for r in fetched)
    assert together > 2100, f"only {together} of 2200 came pipelined"
    assert not [p for p in back.rglob("*") if p.name.startswith(".")]  # no part file left
