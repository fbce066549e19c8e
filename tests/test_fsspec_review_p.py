"""Review P: writers dropped unclosed installed (inside a transaction, and under a text wrapper's
finalizer); FTPS ranged reads returned the file's first bytes where the REST probe could not tell;
``mv`` of a folder deleted files that arrived while it ran.  Each test failed before its fix.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fsspec.core import OpenFile

from tests.fsspec_helpers import put_server_side, served, server_tree  # noqa: F401 - a fixture, used by name
from tests.test_fsspec import folder, fs  # noqa: F401 - fixtures, used by name
from xfer.errors import IntegrityError
from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.pki import TestPKI

OLD = b"previous good version\n"
ROWS = [f"{i},{'x' * 40}\n" for i in range(10_000)]  # ~450 KB: several blocks


# -- HIGH 2: a transaction commits a file never closed ---------------------------------------------


def test_a_writer_dropped_unclosed_in_a_transaction_never_installs(
    served: Endpoint, fs: XferFileSystem, folder: str
) -> None:
    """Before: Transaction.complete() called commit(), which uploaded the spool's prefix under
    the final name (the previous version lost)."""
    path = f"{folder}/report.csv"
    put_server_side(served, path, OLD)
    with fs.transaction:
        handle = fs.open(path, "wb", block_size=100_000)
        try:
            for i, row in enumerate(ROWS):
                if i == 6_000:
                    raise ValueError("bad row")
                handle.write(row.encode())
        except ValueError:
            pass  # handled: the file is abandoned, never closed
        fs.pipe_file(f"{folder}/other.csv", b"whole\n")  # a file of the same transaction still commits
    assert server_tree(served, folder) == {"report.csv": OLD, "other.csv": b"whole\n"}
    del handle
    # Closed, the same file installs at the commit, not before.
    with fs.transaction:
        with fs.open(path, "wb", block_size=100_000) as handle:
            for row in ROWS:
                handle.write(row.encode())
        assert server_tree(served, folder) == {"report.csv": OLD, "other.csv": b"whole\n"}
    assert server_tree(served, folder) == {"report.csv": "".join(ROWS).encode(), "other.csv": b"whole\n"}


# -- HIGH 3: a text wrapper dropped unclosed ---------------------------------------------------------


@pytest.mark.parametrize("how", ["fsspec-openfile", "textiowrapper"])
def test_a_text_writer_dropped_after_an_error_never_installs(
    served: Endpoint, fs: XferFileSystem, folder: str, how: str
) -> None:
    """Before: io's finalizer closed the wrapper, whose close() closed the XferFile from no
    ``__exit__``: the partial file was installed."""
    path = f"{folder}/r.csv"
    put_server_side(served, path, OLD)

    def job() -> None:
        handle: Any = (OpenFile(fs, path, mode="wt").open() if how == "fsspec-openfile"
                       else io.TextIOWrapper(fs.open(path, "wb")))
        for i, row in enumerate(ROWS):
            if i == 6_000:
                raise ValueError("bad row")
            handle.write(row)

    with pytest.raises(ValueError, match="bad row"):
        job()
    gc.collect()
    assert server_tree(served, folder) == {"r.csv": OLD}
    # Closed explicitly, the same wrapper installs.
    handle = io.TextIOWrapper(fs.open(path, "wb"))
    handle.write("".join(ROWS))
    handle.close()
    assert server_tree(served, folder) == {"r.csv": "".join(ROWS).encode()}


# -- HIGH 1: FTPS ranged reads where the REST probe cannot tell --------------------------------------

DATA = bytes(range(256)) * 400


@pytest.fixture
def rest_ignoring_fs(
    request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[XferFileSystem, FakeFTPSServer]]:
    """A server that answers REST with 350 and sends from byte 0, with SIZE as ``request.param`` says."""
    root = tmp_path / "srv"
    (root / "in").mkdir(parents=True)
    (root / "in" / "data.bin").write_bytes(DATA)
    kwargs: dict[str, Any] = {"size": False} if request.param == "no-size" else {"size_refused": {"/in/data.bin"}}
    with FakeFTPSServer(pki, root=root, rest_ignored=True, **kwargs) as srv:
        monkeypatch.setenv("XFER_T_FAKE_PW", srv.password)
        fs = XferFileSystem(skip_instance_cache=True, url=srv.url, identity=str(pki.client_p12),
                            identity_password=f"file:{pki.password_file}", ca=str(pki.root_ca),
                            username=srv.user, password="env:XFER_T_FAKE_PW", timeout=20)
        yield fs, srv
        fs.close()


@pytest.mark.parametrize("rest_ignoring_fs", ["no-size", "size-refused"], indirect=True)
@pytest.mark.parametrize(("start", "end"), [(50_000, 50_010), (100_000, None), (-10, None)])
def test_a_ranged_read_the_probe_cannot_check_is_refused_not_wrong(
    rest_ignoring_fs: tuple[XferFileSystem, FakeFTPSServer], start: int, end: int | None
) -> None:
    """Before: the probe gave no verdict (no SIZE), and the file's first bytes came back as the range."""
    fs, _ = rest_ignoring_fs
    assert fs.info("/in/data.bin")["size"] == len(DATA)
    with pytest.raises(IntegrityError):
        fs.cat_file("/in/data.bin", start, end)


@pytest.mark.parametrize("rest_ignoring_fs", ["no-size"], indirect=True)
def test_a_seek_the_probe_cannot_check_is_refused_not_wrong(
    rest_ignoring_fs: tuple[XferFileSystem, FakeFTPSServer]
) -> None:
    fs, _ = rest_ignoring_fs
    with fs.open("/in/data.bin", "rb", block_size=4096) as handle:
        handle.seek(60_000)
        with pytest.raises(IntegrityError):
            handle.read(8)


@pytest.mark.parametrize("rest_ignoring_fs", ["no-size"], indirect=True)
def test_ranged_reads_the_probe_cannot_check_are_right_where_rest_is_honoured(
    rest_ignoring_fs: tuple[XferFileSystem, FakeFTPSServer], pki: TestPKI, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SIZE, a server that honours REST: each read from the middle proves its start (MLST's
    size); the same reads from one that ignores REST are refused."""
    ignoring, _ = rest_ignoring_fs
    with pytest.raises(IntegrityError):
        ignoring.cat_file("/in/data.bin", 50_000, 50_010)
    root = tmp_path / "srv2"
    root.mkdir()
    (root / "data.bin").write_bytes(DATA)
    with FakeFTPSServer(pki, root=root, size=False) as srv:
        monkeypatch.setenv("XFER_T_FAKE_PW", srv.password)
        fs = XferFileSystem(skip_instance_cache=True, url=srv.url, identity=str(pki.client_p12),
                            identity_password=f"file:{pki.password_file}", ca=str(pki.root_ca),
                            username=srv.user, password="env:XFER_T_FAKE_PW", timeout=20)
        assert fs.cat_file("/data.bin", 50_000, 50_010) == DATA[50_000:50_010]
        assert fs.cat_file("/data.bin", -10) == DATA[-10:]
        with fs.open("/data.bin", "rb", block_size=4096) as handle:
            handle.seek(60_000)
            assert handle.read(8) == DATA[60_000:60_008]
        fs.close()
