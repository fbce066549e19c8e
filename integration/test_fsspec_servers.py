"""The fsspec filesystem (``xfer://PROFILE/...``) against the bed's real daemons (issue 17).

Through the bed's own profiles: nginx (HTTPS and WebDAV), Apache (WebDAV), vsftpd (explicit
and implicit), proftpd, pure-ftpd.  ``ls``, ``info``, ``cat_file`` with ranges, ``pipe_file``,
``open`` for reading (seeks) and for writing (streamed: the part is on the server before
``close()``, discarded on an exception), ``rm``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

from integration.bed import Bed, ServerInfo
from integration.test_streams_servers import PROFILES
from xfer.filesystem import XferFileSystem

pytestmark = pytest.mark.integration

DATA = bytes(range(256)) * 1024  # 256 KiB, every byte value


@pytest.fixture(params=list(PROFILES))
def fs_on(
    request: pytest.FixtureRequest, bed: Bed, bed_server: Callable[[str], ServerInfo],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[XferFileSystem, ServerInfo, str]]:
    """(filesystem on the bed profile, its server, a fresh folder); everything removed afterwards."""
    server = bed_server(PROFILES[request.param])
    monkeypatch.setenv("XFER_PROFILE_PATH", str(bed.profiles_dir))
    fsspec.register_implementation("xfer", XferFileSystem, clobber=True)
    fs = XferFileSystem(request.param, skip_instance_cache=True)
    folder = f"/fsspec-{uuid.uuid4().hex[:8]}"
    yield fs, server, folder
    try:
        if fs.exists(folder):
            fs.rm(folder, recursive=True)
    finally:
        fs.close()


def _on_disk(server: ServerInfo, path: str) -> Path:
    return server.root / path.lstrip("/")


def test_filesystem_verbs(fs_on: tuple[XferFileSystem, ServerInfo, str]) -> None:
    fs, server, folder = fs_on
    fs.pipe_file(f"{folder}/a.bin", DATA)  # creates the folder (FTPS, WebDAV; nginx: create_full_put_path)
    fs.pipe_file(f"{folder}/b.csv", b"x,y\n1,2\n")
    assert _on_disk(server, f"{folder}/a.bin").read_bytes() == DATA
    assert sorted(fs.ls(folder, detail=False)) == [f"{folder}/a.bin", f"{folder}/b.csv"]
    info = fs.info(f"{folder}/a.bin")
    assert info["size"] == len(DATA) and info["type"] == "file"
    assert fs.cat_file(f"{folder}/a.bin") == DATA
    assert fs.cat_file(f"{folder}/a.bin", start=1000, end=70_000) == DATA[1000:70_000]
    assert fs.cat_file(f"{folder}/a.bin", start=-100) == DATA[-100:]
    with fs.open(f"{folder}/a.bin", "rb", block_size=4096) as handle:
        handle.seek(200_000)
        assert handle.read(5000) == DATA[200_000:205_000]
        handle.seek(10)
        assert handle.read(10) == DATA[10:20]
    with fsspec.open(f"xfer://{fs.profile}{folder}/b.csv", "rt") as text:
        assert text.read() == "x,y\n1,2\n"
    fs.rm(f"{folder}/b.csv")
    assert not fs.exists(f"{folder}/b.csv")
    assert not _on_disk(server, f"{folder}/b.csv").exists()


def test_compound_calls_on_a_tree(fs_on: tuple[XferFileSystem, ServerInfo, str], tmp_path: Path) -> None:
    """``du``, ``find``, ``glob``, ``get -r``, ``copy -r`` and ``rm`` on each daemon's own listings: what
    one call remembers from a listing (sizes, folders) is what the server holds, and a call sees
    what it wrote (``copy`` into a folder it listed)."""
    fs, server, folder = fs_on
    tree = {f"d{d}/f{f}.csv": b"a,b\n" + b"1,2\n" * (3 * d + f) for d in range(2) for f in range(3)}
    for relative, data in tree.items():
        fs.pipe_file(f"{folder}/{relative}", data)
    assert fs.du(folder) == sum(len(data) for data in tree.values())
    assert sorted(fs.find(folder)) == sorted(f"{folder}/{relative}" for relative in tree)
    assert sorted(fs.glob(f"{folder}/*/f1.csv")) == [f"{folder}/d0/f1.csv", f"{folder}/d1/f1.csv"]
    local = tmp_path / "got"
    fs.get(folder, str(local), recursive=True)
    got = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
    assert got == tree
    fs.copy(f"{folder}/d0", f"{folder}/d1/inner", recursive=True)
    assert _on_disk(server, f"{folder}/d1/inner/f2.csv").read_bytes() == tree["d0/f2.csv"]
    assert fs.du(f"{folder}/d1") == sum(len(data) for data in tree.values())  # its own files, and d0's copied in
    fs.rm(f"{folder}/d1/inner", recursive=True)
    assert not _on_disk(server, f"{folder}/d1/inner").exists()


def test_open_wb_streams_and_discards(fs_on: tuple[XferFileSystem, ServerInfo, str]) -> None:
    fs, server, folder = fs_on
    target = f"{folder}/w.bin"
    final = _on_disk(server, target)
    with fs.open(target, "wb", block_size=64 * 1024) as handle:
        for _ in range(8):
            handle.write(DATA)
        if server.name not in ("nginx", "apache"):  # FTPS: our part file is on the server's disk meanwhile
            deadline = time.monotonic() + 20
            while not [p for p in final.parent.glob(".w.bin.*.xfer-part") if p.stat().st_size] and (
                time.monotonic() < deadline
            ):
                time.sleep(0.05)
            assert [p for p in final.parent.glob(".w.bin.*.xfer-part") if p.stat().st_size], "not streamed"
        assert not final.exists()
    assert final.read_bytes() == DATA * 8
    assert not list(final.parent.glob(".w.bin.*"))
    assert fs.cat_file(target, start=len(DATA) * 7) == DATA

    with pytest.raises(RuntimeError), fs.open(target, "wb", block_size=64 * 1024) as handle:
        handle.write(DATA * 2)
        raise RuntimeError("the job failed")
    deadline = time.monotonic() + 20
    while list(final.parent.glob(".w.bin.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert final.read_bytes() == DATA * 8  # the previous version, untouched
    assert not list(final.parent.glob(".w.bin.*"))


@pytest.mark.parametrize("fs_on", [name for name in PROFILES if name != "nginx-https"], indirect=True)
def test_rmdir_of_a_folder_with_entries_is_an_oserror_enotempty(fs_on: tuple[XferFileSystem, ServerInfo, str]) -> None:
    """os.rmdir's error whatever the server says: vsftpd's "550 Remove directory operation
    failed." gives no reason (the folder's listing does), proftpd and pure-ftpd name it; WebDAV
    would delete the whole collection (xfer looks first).  (nginx's HTTPS listing has no rmdir.)"""
    import errno

    from xfer.errors import RemoteFolderNotEmpty

    fs, server, folder = fs_on
    fs.pipe_file(f"{folder}/full/a.bin", b"x")
    with pytest.raises(RemoteFolderNotEmpty) as caught:
        fs.rmdir(f"{folder}/full")
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOTEMPTY
    assert _on_disk(server, f"{folder}/full/a.bin").exists()
    # vsftpd gives that reply for EACCES too: the hint to remove the contents is only for a server
    # that says "not empty" (following it would delete every file, then fail the same way).
    reasonless = "Remove directory operation failed" in caught.value.message
    assert reasonless == server.name.startswith("vsftpd"), caught.value.message
    assert ("rm -r" in (caught.value.hint or "")) is not reasonless
