"""1 GiB over WebDAV in a child process: flat client memory, exact bytes, one TLS connection.

The child is a fresh interpreter doing only the transfer, so its peak RSS (``os.wait4``'s
rusage: RUSAGE_CHILDREN for that one child) is the client's alone; wsgidav runs here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.testing.contract import make_file, sha256_of
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import WebDAVServer

from .child import run_child

CHILD = textwrap.dedent(
    """
    import sys
    from xfer.adapters.base import ConnectionSettings
    from xfer.adapters.webdav import WebDAVAdapter
    from xfer.identity import Identity
    from xfer.tls import create_ssl_context

    port, p12, password, ca, source, target = sys.argv[1:7]
    context = create_ssl_context(Identity.load(p12, password), ca=ca)
    settings = ConnectionSettings(scheme="davs", host="127.0.0.1", port=int(port), root="/",
                                  ssl_context=context, timeout=120, options={"upload_temp_name": True})
    last = [0, 0]
    with WebDAVAdapter(settings) as remote:
        remote.mkdir("/big")
        remote.put_file(source, "/big/file.bin", callback=lambda done, total: last.__setitem__(0, done))
        remote.get_file("/big/file.bin", target, callback=lambda done, total: last.__setitem__(1, done))
    print(last[0], last[1])
    """
)


@pytest.fixture
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDAVServer]:
    with WebDAVServer(pki, root=tmp_path_factory.mktemp("dav-big")) as srv:
        yield srv


@pytest.mark.slow
def test_one_gib_put_and_get_with_flat_memory(server: WebDAVServer, pki: TestPKI, tmp_path: Path) -> None:
    size = 1 << 30
    source, target = tmp_path / "source.bin", tmp_path / "back.bin"
    expected = make_file(source, size, seed=11)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = run_child(script, str(server.port), str(pki.client_p12), pki.password, str(pki.root_ca),
                      str(source), str(target))
    assert child.returncode == 0, child.stderr
    out, peak_mb = child.stdout, child.peak_mb
    print(f"webdav client peak RSS {peak_mb:.0f} MB for a 1 GiB put + get; {server.handshakes} handshake(s)")
    assert peak_mb < 100, f"client peak RSS {peak_mb:.0f} MB for a 1 GiB put + get"
    assert out.split() == [str(size), str(size)], "progress must end exactly at the size, both ways"
    assert sha256_of(server.root / "big" / "file.bin") == expected
    assert sha256_of(target) == expected
    assert [p.name for p in (server.root / "big").iterdir()] == ["file.bin"]
    puts = [r for r in server.requests if r.method == "PUT"]
    # Under retries a large upload first asks (one-byte Content-Range pieces) whether the server
    # takes pieces; this one refuses the first, so the file goes in one streamed PUT.
    assert puts[0].headers.get("Content-Range") == f"bytes 0-0/{size}" and len(puts) == 2
    assert puts[-1].headers["Content-Length"] == str(size) and "Transfer-Encoding" not in puts[-1].headers
    assert server.handshakes == 1
