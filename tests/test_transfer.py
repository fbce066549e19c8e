"""The atomic download writer and the streaming upload body."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from xfer import transfer
from xfer.errors import IntegrityError, Interrupted, LocalDiskFull, LocalError, LocalFileNotFound
from xfer.transfer import AtomicDownload, FileBody, open_for_upload, sha256_file


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".xfer-part"))


def test_complete_download_replaces_target(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    seen: list[tuple[int, int | None]] = []
    with AtomicDownload(target, expected_size=6, callback=lambda d, t: seen.append((d, t))) as out:
        out.write(b"abc")
        assert target.read_bytes() == b"old", "the target must not change before completion"
        out.write(b"def")
    assert target.read_bytes() == b"abcdef"
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    assert out.sha256 == "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
    assert _leftovers(tmp_path) == []


def test_short_download_is_discarded(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(IntegrityError, match="incomplete: got 3 of 10 bytes"):
        with AtomicDownload(target, expected_size=10) as out:
            out.write(b"abc")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_a_download_longer_than_its_size_is_not_called_incomplete(tmp_path: Path) -> None:
    """Review L, finding 18: 1,200 bytes where SIZE said 1,000 was "incomplete: got 1200 of 1000
    bytes ... the connection may have been cut"; nothing is saved either way."""
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(IntegrityError, match="longer than the server said: got 12 bytes, 10 expected") as caught:
        with AtomicDownload(target, expected_size=10) as out:
            out.write(b"abcdefghijkl")
    assert "incomplete" not in caught.value.message and "cut" not in (caught.value.hint or "")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, ConnectionResetError, RuntimeError])
def test_interrupted_download_leaves_nothing(tmp_path: Path, exc: type[BaseException]) -> None:
    target = tmp_path / "new.bin"
    with pytest.raises(exc):
        with AtomicDownload(target) as out:
            out.write(b"partial")
            raise exc()
    assert not target.exists() and _leftovers(tmp_path) == []


def test_disk_full_is_clear_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FullDisk(io.BufferedWriter):
        def write(self, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode, **_: FullDisk(real_fdopen(fd, "wb", buffering=0)))
    target = tmp_path / "big.bin"
    with pytest.raises(LocalDiskFull, match="disk full") as caught:
        with AtomicDownload(target) as out:
            out.write(b"x" * 10)
    assert caught.value.hint and "free some space" in caught.value.hint
    assert not target.exists() and _leftovers(tmp_path) == []


def test_file_body_streams_one_buffer(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(os.urandom(1000))
    handle, size = open_for_upload(source)
    seen: list[int] = []
    with handle:
        body = FileBody(handle, size, blocksize=300, callback=lambda d, t: seen.append(d))
        assert len(body) == 1000
        chunks = [bytes(c) for c in body]
    assert b"".join(chunks) == source.read_bytes()
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    assert seen == [300, 600, 900, 1000]


def test_file_body_detects_a_shrinking_file(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"x" * 100)
    handle, _ = open_for_upload(source)
    with handle, pytest.raises(IntegrityError, match="shrank"):
        list(FileBody(handle, 200, blocksize=64))


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(LocalFileNotFound, match="does not exist"):
        open_for_upload(tmp_path / "nope")


def test_a_folder_is_said_to_be_a_folder_and_a_pipe_a_pipe(tmp_path: Path) -> None:
    """os.open reads a folder where open() said EISDIR: the message must still say "folder"."""
    with pytest.raises(LocalError) as caught:
        open_for_upload(tmp_path)
    assert "folder" in caught.value.message and "pipe" not in caught.value.message
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(LocalError, match="is not a regular file"):
        open_for_upload(tmp_path / "pipe")  # opened without waiting for a writer, then refused
    (tmp_path / "f").write_bytes(b"data")
    handle, size = open_for_upload(tmp_path / "f")
    with handle:
        assert size == 4 and os.get_blocking(handle.fileno()) and handle.read() == b"data"


@pytest.mark.parametrize("kind", ["folder", "link to a folder"])
def test_a_download_named_as_a_folder_is_refused_as_a_folder(tmp_path: Path, kind: str) -> None:
    """One lstat now decides (issue 14): a folder, and a link to one, are still "a folder"
    (not "a symbolic link"), and nothing is written beside them."""
    (tmp_path / "inside").mkdir()
    target = tmp_path / "inside" if kind == "folder" else tmp_path / "link"
    if kind != "folder":
        target.symlink_to(tmp_path / "inside")
    with pytest.raises(LocalError, match=r"is a folder$") as caught:
        with AtomicDownload(target) as out:
            out.write(b"new")
    assert caught.value.hint == "give a file name or a folder ending in /"
    assert sorted(p.name for p in tmp_path.iterdir()) == (["inside"] if kind == "folder" else ["inside", "link"])
    assert list((tmp_path / "inside").iterdir()) == []


@pytest.fixture(params=["proc", "set-and-restore"])
def umask_read(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the umask is read: Linux's /proc, and setting it back (other systems)."""
    if request.param != "proc":
        monkeypatch.setattr(transfer, "PROC_STATUS", "/nonexistent/status")
    return str(request.param)


@pytest.mark.parametrize(("status", "umask"), [
    (b"Name:\tpython\nUmask:\t0027\nState:\tR (running)\n", 0o027),
    (b"Name:\tpython\nUmask:\t0077\n" + b"Groups:\t" + b"1 " * 3000 + b"\n", 0o077),
    (b"Name:\tpython\nState:\tR (running)\n", None),  # (before Linux 4.7: no Umask line)
    (b"Name:\tpython\nUmask:\t0099\n", None),  # (not octal)
])
def test_the_umask_is_read_from_proc_and_only_set_where_proc_cannot_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: bytes, umask: int | None
) -> None:
    """The /proc line is read without changing anything (os.umask is not called); where it is
    missing or unreadable, the umask is set and set straight back."""
    (tmp_path / "status").write_bytes(status)
    monkeypatch.setattr(transfer, "PROC_STATUS", str(tmp_path / "status"))
    real_umask, calls = os.umask, []

    def counted_umask(mask: int) -> int:
        calls.append(mask)
        return real_umask(mask)

    monkeypatch.setattr(os, "umask", counted_umask)
    actual = real_umask(0o022)
    real_umask(actual)
    assert transfer._umask() == (umask if umask is not None else actual)
    assert (calls == []) is (umask is not None)
    assert real_umask(actual) == actual  # (set back, if it was set)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_finished_download_gets_the_umask_mode(tmp_path: Path, umask_read: str, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        with AtomicDownload(tmp_path / "f") as out:
            out.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == mode


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755], ids=["0600", "0640", "0755"])
def test_a_download_over_a_file_keeps_its_permissions(tmp_path: Path, mode: int) -> None:
    """curl -o writes into the file and keeps its mode; a replaced 0600 file must not become 0644
    (before: the umask's mode).  Set-id bits are not carried over."""
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(mode | 0o4000)
    with AtomicDownload(target) as out:
        out.write(b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o7777 == mode


def test_a_download_run_as_root_over_anothers_file_keeps_its_owner(tmp_path: Path) -> None:
    """Review J, finding 11: root's download over a file owned by ``nobody`` left it root's, and
    at 0640 its owner could no longer read it.  ``cp`` and ``curl -o`` keep the owner (CI runs
    as root, where this is tested; elsewhere a download cannot give a file away)."""
    assert os.geteuid() == 0, "this test needs root, as CI runs"
    target = tmp_path / "f"
    target.write_bytes(b"old")
    os.chown(target, 65534, 65533)
    target.chmod(0o640)
    with AtomicDownload(target) as out:
        out.write(b"new")
    info = target.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (65534, 65533, 0o640)
    assert target.read_bytes() == b"new"


def test_a_root_that_may_not_give_files_away_still_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review O, finding 5: root in a user namespace (EINVAL) or on root_squash NFS (EPERM) may not
    chown; keeping the owner made every such download over another's file fail.  Best effort."""
    assert os.geteuid() == 0, "this test needs root, as CI runs"
    target = tmp_path / "f"
    target.write_bytes(b"old")
    os.chown(target, 65534, 65533)
    target.chmod(0o640)

    def refused(fd: int, uid: int, gid: int) -> None:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(os, "fchown", refused)
    with AtomicDownload(target) as out:
        out.write(b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o7777 == 0o640


@pytest.mark.parametrize("kind", ["link", "dangling link", "named pipe", "socket", "device"])
def test_a_final_name_that_is_no_regular_file_is_neither_replaced_nor_written_through(
    tmp_path: Path, kind: str,
) -> None:
    """Reviews M-1, J-1: the finished download was renamed over whatever held its name; as
    root ``xfer get … /dev/null`` made /dev/null a regular 0644 file for the whole machine.
    A link was replaced (``/dev/stdout`` is one).  Now each is refused before a byte is
    fetched, and left as it was (sync's "not written" for the same)."""
    import socket

    target = tmp_path / "f"
    (tmp_path / "elsewhere").write_bytes(b"x")
    if kind == "link":
        target.symlink_to(tmp_path / "elsewhere")
    elif kind == "dangling link":
        target.symlink_to(tmp_path / "nowhere")
    elif kind == "named pipe":
        os.mkfifo(target)
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(target))
        listener.close()
    else:
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers (CI runs as root)
    before = os.lstat(target)
    with pytest.raises(LocalError, match=r"not a regular file.*nothing was downloaded") as caught:
        with AtomicDownload(target) as out:
            out.write(b"new")
    assert "xfer get SOURCE - >" in (caught.value.hint or "")
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert (tmp_path / "elsewhere").read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "f"]  # no part left


def test_a_umask_tightened_between_downloads_holds_for_the_next(tmp_path: Path, umask_read: str) -> None:
    """A program that sets umask 077 before downloading a secret gets a 0600 file, not the mode
    of the umask its first download saw (review C: the first one read was kept for the process)."""
    old = os.umask(0o022)
    try:
        with AtomicDownload(tmp_path / "public") as out:
            out.write(b"x")
        os.umask(0o077)
        with AtomicDownload(tmp_path / "secret") as out:
            out.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "public").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600


def test_downloads_finishing_at_once_leave_the_umask_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_read: str
) -> None:
    """Where the umask can only be read by setting it, parallel workers could each read another's
    temporary 0o077 and set that back for good (every later file 0600).  A umask call that lets
    the other threads run makes the interleaving certain."""
    real_umask = os.umask

    def slow_umask(mask: int) -> int:
        previous = real_umask(mask)
        time.sleep(0.002)  # another thread's download finishes meanwhile
        return previous

    monkeypatch.setattr(os, "umask", slow_umask)
    old = real_umask(0o022)
    try:
        def save(number: int) -> None:
            with AtomicDownload(tmp_path / f"f{number}") as out:
                out.write(b"x")

        threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = real_umask(0o022)
    finally:
        real_umask(old)
    assert after == 0o022
    assert {(tmp_path / f"f{n}").stat().st_mode & 0o777 for n in range(8)} == {0o644}


def test_a_progress_report_that_stops_the_start_leaves_no_part(tmp_path: Path) -> None:
    """A batch that stops raises from the progress callback, the first time as the download
    starts: before the ``with`` block runs, so its exit would not have removed the part."""

    def stop(done: int, total: int | None) -> None:
        raise Interrupted("stopped because another transfer of the batch failed")

    with pytest.raises(Interrupted), AtomicDownload(tmp_path / "f", callback=stop) as out:
        out.write(b"never")
    assert list(tmp_path.iterdir()) == []


def test_longest_legal_name_still_downloads(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 255)
    with AtomicDownload(target) as out:
        out.write(b"long")
    assert target.read_bytes() == b"long"


def test_local_read_error_during_upload_is_a_local_error(tmp_path: Path) -> None:
    class BadDisk(io.BytesIO):
        name = "/mnt/bad/file.bin"

        def readinto(self, buffer: object) -> int:
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(LocalError, match=r"file\.bin"):
        list(FileBody(BadDisk(), 10))


@pytest.mark.parametrize(
    ("action", "expected"),
    [("writing", "cannot write /x/y: Input/output error"), ("reading", "cannot read /x/y: Input/output error"),
     ("creating", "cannot create /x/y: Input/output error")],
)
def test_local_error_wording(action: str, expected: str) -> None:
    """Issue 11 item 22: the verb was cut from the action ("cannot writ")."""
    from xfer.transfer import local_error

    assert local_error(OSError(errno.EIO, "Input/output error"), "/x/y", action).message == expected


def test_sha256_file_reads_past_one_block(tmp_path: Path) -> None:
    """The transfer code's file hash (used by AS2 receipts, the demo, the contract tests) covers
    every block, not only the first MiB it reads at a time."""
    data = os.urandom(3 * (1 << 20) + 17)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) != hashlib.sha256(data[: 1 << 20]).hexdigest()


def test_a_write_the_file_takes_in_part_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The part is written unbuffered: a write that stores only some of a block (a signal, a nearly
    full disk) is followed by one for the rest, and every byte lands in order."""
    class Piecemeal(io.FileIO):
        def write(self, data: Any) -> int:
            return super().write(memoryview(data)[:1000])

    monkeypatch.setattr(os, "fdopen", lambda fd, mode, **_: Piecemeal(fd, "r+"))
    data = os.urandom(300_001)
    target = tmp_path / "out.bin"
    with AtomicDownload(target, expected_size=len(data)) as out:
        for start in range(0, len(data), 65536):
            out.write(data[start:start + 65536])
    assert target.read_bytes() == data and _leftovers(tmp_path) == []
