"""Small files uploaded together (issue 14): their PUTs and HEADs pipelined, each file still proven.

``put -r`` of many small files over HTTPS sends up to 32 files' PUT and HEAD in one write
(:meth:`HTTPSAdapter.put_together`).  Every file that comes back from there is proven as one
uploaded alone is (2xx, every byte sent, the stored size); every other file goes alone, and
that path says what is wrong.  Against the in-process server, and servers that close a
connection after N requests (nginx's ``keepalive_requests``), refuse a file, lie about what
they stored, or drop pipelined requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import ExitCode, IntegrityError, RemotePermissionDenied
from xfer.testing.contract import make_file
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

ContextFactory = Callable[..., XferSSLContext]

#: Sizes of the files of a tree: empty, small, one over the 64 KiB bound (it goes alone and
#: ends a group), and enough files for several groups of 32.
SIZES = [0, 1, 4096, 70_000, *[(n * 997) % 9000 for n in range(75)]]


def _adapter(host: str, port: int, ctx: XferSSLContext, **settings: Any) -> HTTPSAdapter:
    return HTTPSAdapter(ConnectionSettings(
        scheme="https", host=host, port=port, root="/", ssl_context=ctx, timeout=10, **settings
    ))


def _tree(folder: Path, sizes: list[int] = SIZES) -> dict[str, bytes]:
    folder.mkdir()
    files = {}
    for number, size in enumerate(sizes):
        make_file(folder / f"f{number:03d}.bin", size, seed=number)
        files[f"f{number:03d}.bin"] = (folder / f"f{number:03d}.bin").read_bytes()
    return files


def _puts(srv: HTTPSServer) -> Counter[str]:
    return Counter(r.path for r in srv.requests if r.method == "PUT")


@pytest.mark.parametrize("parallel", [1, 3])
def test_small_files_go_together_and_each_is_proven(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, parallel: int
) -> None:
    files = _tree(tmp_path / "tree")
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv.host, srv.port, client_context()) as remote:
        results = remote.put([tmp_path / "tree"], "/in/", recursive=True, parallel=parallel)
        puts = _puts(srv)
    assert [r.local for r in results] == [str(tmp_path / "tree" / name) for name in sorted(files)]
    for name, data in files.items():
        assert (tmp_path / "srv" / "in" / "tree" / name).read_bytes() == data
    # Each file proven by the stored size, as alone; each PUT sent once.
    assert all(r.size_verified and r.verified == "size" for r in results)
    assert set(puts.values()) == {1} and len(puts) == len(files)
    together = [r for r in results if r.details.get("pipelined")]
    # All but a connection's first file (it opens the connection) and the one too large.
    assert len(together) >= len(files) - parallel - 1
    assert all(r.size <= 64 * 1024 for r in together)


def test_a_server_closing_after_n_requests_loses_no_file(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """nginx closes a connection after its 1,000th request: the requests pipelined after it
    are never read.  Their files go again, alone, on a new connection."""
    files = _tree(tmp_path / "tree")
    with (
        HTTPSServer(pki, root=tmp_path / "srv", keepalive_requests=9) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
    ):
        results = remote.put([tmp_path / "tree"], "/", recursive=True)
        handshakes = srv.handshakes
    for name, data in files.items():
        assert (tmp_path / "srv" / "tree" / name).read_bytes() == data
    assert all(r.size_verified for r in results)
    assert handshakes > len(files) * 2 // 9 - 2  # the server did close every 9 requests
    assert any(r.details.get("pipelined") for r in results)


def test_a_refused_file_fails_the_upload_as_it_does_alone(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    _tree(tmp_path / "tree")
    with (
        HTTPSServer(pki, root=tmp_path / "srv", forbidden=["/tree/f040"]) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
        pytest.raises(RemotePermissionDenied) as refused,
    ):
        remote.put([tmp_path / "tree"], "/", recursive=True)
    assert "/tree/f040.bin" in str(refused.value)
    assert not (tmp_path / "srv" / "tree" / "f040.bin").exists()


def test_a_copy_the_server_says_differs_is_not_taken_for_a_good_one(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """The server's digest of every stored file disagrees with what was sent: no file is
    taken as uploaded; alone, the first fails as an integrity error (exit 7), its copy deleted."""
    _tree(tmp_path / "tree", [100, 200, 300, 400])
    with (
        HTTPSServer(pki, root=tmp_path / "srv", digests=["repr-digest"], lie_digests=True) as srv,
        _adapter(srv.host, srv.port, client_context()) as remote,
        pytest.raises(IntegrityError) as failure,
    ):
        remote.put([tmp_path / "tree"], "/", recursive=True)
    assert failure.value.exit_code == ExitCode.INTEGRITY
    assert "/tree/f000.bin" in str(failure.value)
    assert not list((tmp_path / "srv" / "tree").iterdir())  # no copy the server disowns is left


def test_a_server_that_drops_pipelined_requests_gets_every_file_once(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A server that drops what arrived behind the request it reads costs one wait for an
    answer that does not come; then no more pipelining."""
    files = _tree(tmp_path / "tree", [10, 20, 30, 40, 50])
    replies = {f"/tree/{name}": Reply(status=201, end="keep-alive") for name in files}
    with ScriptedHTTPSServer(pki, replies, pipelining=False) as srv:
        remote = HTTPSAdapter(ConnectionSettings(
            scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=client_context(), timeout=1,
        ))
        with remote:
            results = remote.put([tmp_path / "tree"], "/", recursive=True)
            pipelining = remote.session.pipelining
        puts = Counter(path for method, path in srv.requests if method == "PUT")
    assert len(results) == len(files)
    # The first file opens the connection alone; the next one's PUT is answered, its HEAD
    # (dropped) is waited for in vain: that file goes again, then every file alone.
    assert set(puts) == {f"/tree/{name}" for name in files}
    assert sum(puts.values()) == len(files) + 1 and max(puts.values()) == 2
    assert pipelining is False
