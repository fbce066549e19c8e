"""Review P: writers dropped unclosed installed (inside a transaction, and under a text wrapper's
finalizer); FTPS ranged reads returned the file's first bytes where the REST probe could not tell;
``mv`` of a folder deleted files that arrived while it ran.  Each test failed before its fix.
"""

from __future__ import annotations

import gc
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fsspec.core import OpenFile

from tests.fsspec_helpers import put_server_side, served, server_tree  # noqa: F401 - a fixture, used by name
from tests.test_fsspec import folder, fs, profile_path, save_profile  # noqa: F401 - fixtures, used by name
from xfer.errors import IntegrityError
from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint, serve
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


# -- HIGH 4: mv of a folder removed what arrived during the move ----------------------------------


@pytest.mark.parametrize("into", ["/", ""], ids=["dest-slash", "dest-existing-folder"])
def test_a_folder_move_keeps_files_that_arrive_during_it(
    served: Endpoint, fs: XferFileSystem, folder: str, monkeypatch: pytest.MonkeyPatch, into: str
) -> None:
    """Before: after the copy, a recursive remove of the source took the partner's new file,
    copied nowhere."""
    for name in ("a.csv", "b.csv", "sub/c.csv"):
        put_server_side(served, f"{folder}/batch/{name}", name.encode())
    put_server_side(served, f"{folder}/archive/.keep", b"")
    copy_one = fs.cp_file

    def copy_then_a_partner_drops(path1: str, path2: str, **kwargs: Any) -> None:
        copy_one(path1, path2, **kwargs)
        put_server_side(served, f"{folder}/batch/late.csv", b"partner data")  # after the copy's walk

    monkeypatch.setattr(fs, "cp_file", copy_then_a_partner_drops)
    fs.mv(f"{folder}/batch", f"{folder}/archive{into}", recursive=True)
    tree = server_tree(served, folder)
    assert {name: data for name, data in tree.items() if data != b"<dir>"} == {
        "archive/.keep": b"", "archive/batch/a.csv": b"a.csv", "archive/batch/b.csv": b"b.csv",
        "archive/batch/sub/c.csv": b"sub/c.csv", "batch/late.csv": b"partner data",
    }
    if served.protocol != "https":  # (plain HTTPS has no folders to remove)
        assert "batch/sub" not in tree  # the folders the move emptied are gone


@pytest.mark.parametrize("protocol", ["sftp", "ftpes"])
def test_a_folder_move_through_a_link_keeps_arrivals_and_what_the_link_points_to(
    pki: TestPKI, tmp_path: Path, profile_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """The move removes what it copied, file by file: a link to a folder in the tree goes as a
    link (its target's files stay), and a file that arrived during the copy stays."""
    with serve(protocol, pki, root=tmp_path / "root") as endpoint:
        save_profile(endpoint, profile_path, "partner")
        root = endpoint.root
        (root / "outside").mkdir()
        (root / "outside" / "keep.txt").write_bytes(b"precious")
        (root / "tree" / "sub").mkdir(parents=True)
        (root / "tree" / "sub" / "a.txt").write_bytes(b"a")
        os.symlink(root / "outside", root / "tree" / "shared")
        (root / "archive").mkdir()
        fs = XferFileSystem("partner", skip_instance_cache=True)
        copy_one = fs.cp_file

        def copy_then_a_partner_drops(path1: str, path2: str, **kwargs: Any) -> None:
            copy_one(path1, path2, **kwargs)
            (root / "tree" / "late.txt").write_bytes(b"partner data")

        monkeypatch.setattr(fs, "cp_file", copy_then_a_partner_drops)
        fs.mv("/tree", "/archive/", recursive=True)
        fs.close()
    assert (root / "outside" / "keep.txt").read_bytes() == b"precious"
    assert (root / "archive" / "tree" / "sub" / "a.txt").read_bytes() == b"a"
    assert (root / "tree" / "late.txt").read_bytes() == b"partner data"
    assert sorted(p.name for p in (root / "tree").iterdir()) == ["late.txt"]  # the link and sub/ went
