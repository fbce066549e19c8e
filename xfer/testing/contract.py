"""The behaviour every adapter must show, written once, run against every server.

A test class inherits :class:`AdapterContract` and provides one fixture, ``remote``:
an open adapter whose root is writable.  Optionally it overrides ``server_root``
(the folder on this machine where the server stores files) so tests can check
what really arrived.  A new server costs a fixture, not a test file::

    class TestVsftpd(AdapterContract):
        @pytest.fixture
        def remote(self, bed): ...
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import get_args

import pytest

from ..adapters.base import PRIMITIVES, Adapter, Capability
from ..errors import RemoteNotFound, UnsupportedOperation
from ..transfer import sha256_file
from ..types import Verified

__all__ = ["AdapterContract", "make_file", "sha256_of"]

SIZES = {"empty": 0, "1B": 1, "1MiB": 1 << 20, "64MiB": 64 << 20}
#: What a result's ``verified`` may say (xfer.types.Verified).
VERIFIED = frozenset(get_args(Verified))


def make_file(path: Path, size: int, *, seed: int = 0) -> str:
    """Write ``size`` pseudo-random bytes (fast, not compressible); return their sha256."""
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB pattern
    rotation = 0
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            chunk = (block[rotation:] + block[:rotation])[: min(remaining, len(block))]
            rotation = (rotation + 7) % len(block)
            out.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def make_small_files(folder: Path, count: int, *, per_folder: int = 100, largest: int = 5000) -> dict[str, str]:
    """``count`` small files of varied sizes (empty ones among them) in subfolders of ``folder``,
    ``per_folder`` to each (``d0/000.bin``...): relative path -> sha256."""
    digests = {}
    for n in range(count):
        name = f"d{n // per_folder}/{n:03d}.bin"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        digests[name] = make_file(folder / name, (n * 37) % largest, seed=n)
    return digests


def sha256_of(path: Path) -> str:
    """The sha256 (hex) of a file, read in blocks."""
    return sha256_file(path)


def _declares(remote: Adapter, capability: Capability) -> bool:
    """True if declared; if not, prove the verb is refused (so the test still checks something)."""
    if capability in remote.capabilities:
        return True
    calls: dict[Capability, Callable[[], object]] = {
        Capability.LS: lambda: remote.ls("/"),
        Capability.INFO: lambda: remote.info("/x"),
        Capability.RM: lambda: remote.rm("/x"),
        Capability.MKDIR: lambda: remote.mkdir("/x"),
        Capability.MV: lambda: remote.mv("/x", "/y"),
        Capability.SET_MODIFIED: lambda: remote.set_modified("/x", dt.datetime.now(dt.timezone.utc)),
        Capability.OPEN_WRITE: lambda: remote.open_write("/x"),
    }
    if capability is Capability.INFO and Capability.LS in remote.capabilities:
        return True  # derived from ls
    with pytest.raises(UnsupportedOperation):
        calls[capability]()
    return False


class AdapterContract:
    """Mixin of contract tests.  Subclasses provide the ``remote`` fixture."""

    @pytest.fixture
    def remote(self) -> Iterator[Adapter]:
        raise NotImplementedError("the test class must provide a `remote` fixture")

    @pytest.fixture
    def workdir(self, remote: Adapter) -> Iterator[str]:
        """A fresh folder under the root for one test, removed afterwards when possible."""
        folder = f"/contract-{uuid.uuid4().hex[:10]}"
        if Capability.MKDIR in remote.capabilities:
            remote.mkdir(folder)
        yield folder
        if Capability.RM in remote.capabilities:
            try:
                remote.rm(folder, recursive=True)
            except Exception:
                pass

    # -- declarations ---------------------------------------------------------

    def test_capabilities_match_primitives(self, remote: Adapter) -> None:
        for capability, primitive in PRIMITIVES.items():
            overridden = getattr(type(remote), primitive) is not getattr(Adapter, primitive)
            if capability is Capability.INFO and not overridden:
                continue  # info may be derived from ls
            assert (capability in remote.capabilities) == overridden, (
                f"{type(remote).__name__}: {capability.value} declared={capability in remote.capabilities} "
                f"but {primitive} overridden={overridden}"
            )

    def test_undeclared_operations_are_refused(self, remote: Adapter, workdir: str) -> None:
        for capability in set(Capability) - set(remote.capabilities) - {Capability.INFO}:
            with pytest.raises(UnsupportedOperation):
                if capability is Capability.MV:
                    remote.mv(f"{workdir}/a", f"{workdir}/b")
                elif capability is Capability.MKDIR:
                    remote.mkdir(f"{workdir}/x")
                elif capability is Capability.RMDIR:
                    remote.rmdir(f"{workdir}/x")
                elif capability is Capability.RM:
                    remote.rm(f"{workdir}/x")
                elif capability is Capability.LS:
                    remote.ls(workdir)
                elif capability is Capability.SET_MODIFIED:
                    remote.set_modified(f"{workdir}/x", dt.datetime.now(dt.timezone.utc))
                elif capability is Capability.OPEN_WRITE:
                    remote.open_write(f"{workdir}/x")

    def test_close_is_idempotent(self, remote: Adapter) -> None:
        remote.close()
        remote.close()
        assert remote.closed

    # -- data -----------------------------------------------------------------

    @pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
    def test_round_trip(self, remote: Adapter, workdir: str, tmp_path: Path, size: int) -> None:
        source = tmp_path / "source.bin"
        expected = make_file(source, size, seed=size)
        seen: list[tuple[int, int | None]] = []
        put = remote.put_file(source, f"{workdir}/file.bin", callback=lambda d, t: seen.append((d, t)))
        assert put.size == size
        assert seen and seen[-1][0] == size, "upload progress must end at the file size"
        target = tmp_path / "back.bin"
        got = remote.get_file(f"{workdir}/file.bin", target)
        assert got.size == size
        assert sha256_of(target) == expected
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".xfer-part")]
        # Hashed while streaming, on every protocol; and the end-to-end check named.
        assert put.sha256 == got.sha256 == expected
        assert put.verified in VERIFIED and got.verified in VERIFIED

    def test_put_overwrites(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        first, second = tmp_path / "a", tmp_path / "b"
        first.write_bytes(b"first version, longer than the second")
        second.write_bytes(b"second")
        remote.put_file(first, f"{workdir}/same.txt")
        remote.put_file(second, f"{workdir}/same.txt")
        remote.get_file(f"{workdir}/same.txt", tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == b"second"

    def test_get_missing_is_not_found_and_leaves_nothing(
        self, remote: Adapter, workdir: str, tmp_path: Path
    ) -> None:
        existing = tmp_path / "keep.txt"
        existing.write_bytes(b"old content")
        with pytest.raises(RemoteNotFound):
            remote.get_file(f"{workdir}/no-such-file", existing)
        assert existing.read_bytes() == b"old content"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]

    def test_get_stream_matches_get_file(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        source = tmp_path / "source.bin"
        expected = make_file(source, 300_000, seed=3)
        remote.put_file(source, f"{workdir}/s.bin")
        out = io.BytesIO()
        got = remote.get_stream(f"{workdir}/s.bin", out)
        assert got.size == 300_000
        assert hashlib.sha256(out.getvalue()).hexdigest() == expected
        assert not list(tmp_path.glob(".*xfer-part"))

    # -- streaming writes (put -, fsspec open("wb")) -------------------------------

    def test_open_write_streams_then_appears_whole(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        if not _declares(remote, Capability.OPEN_WRITE):
            return
        blocks = [b"first line\n", bytes(range(256)) * 4096, b"", b"last line\n"]
        with remote.open_write(f"{workdir}/stream.bin") as writer:
            for block in blocks:
                writer.write(block)
        whole = b"".join(blocks)
        assert writer.result is not None and writer.result.size == len(whole)
        assert writer.result.sha256 == hashlib.sha256(whole).hexdigest()
        assert writer.result.remote == f"{workdir}/stream.bin"
        remote.get_file(f"{workdir}/stream.bin", tmp_path / "back")
        assert (tmp_path / "back").read_bytes() == whole
        with remote.open_write(f"{workdir}/empty.bin") as writer:
            pass
        remote.get_file(f"{workdir}/empty.bin", tmp_path / "empty")
        assert (tmp_path / "empty").read_bytes() == b""

    def test_open_write_aborted_leaves_nothing(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        if not _declares(remote, Capability.OPEN_WRITE):
            return
        with pytest.raises(RuntimeError, match="producer failed"):
            with remote.open_write(f"{workdir}/aborted.bin") as writer:
                writer.write(b"x" * 300_000)
                raise RuntimeError("the producer failed")
        with pytest.raises(ValueError, match="aborted"):
            writer.write(b"more")
        assert writer.result is None
        if Capability.LS in remote.capabilities and remote.exists(workdir):  # plain HTTPS: no folder yet
            assert not [e.name for e in remote.ls(workdir) if "xfer-part" in e.name]
        if writer.temp_name is not None:
            # Written under a temporary name: nothing ever reached the name itself.  (Without
            # one, servers that store a body as it arrives may keep the partial file: said so
            # in the adapters' docs, as for put.)
            with pytest.raises(RemoteNotFound):
                remote.get_file(f"{workdir}/aborted.bin", tmp_path / "out")
        # The adapter is usable afterwards.
        (tmp_path / "f").write_bytes(b"after")
        remote.put_file(tmp_path / "f", f"{workdir}/after.txt")

    # -- listing and folders -----------------------------------------------------

    def test_ls_shows_names_and_sizes(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        if not _declares(remote, Capability.LS):
            return
        for name, size in (("a.txt", 3), ("b b.bin", 1000)):
            make_file(tmp_path / "f", size)
            remote.put_file(tmp_path / "f", f"{workdir}/{name}")
        entries = {e.name: e for e in remote.ls(workdir)}
        assert set(entries) >= {"a.txt", "b b.bin"}
        assert entries["a.txt"].size == 3 and entries["b b.bin"].size == 1000
        assert entries["a.txt"].type == "file"
        assert entries["a.txt"].path == f"{workdir}/a.txt"

    def test_info_and_exists(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        if not _declares(remote, Capability.LS) and not _declares(remote, Capability.INFO):
            return
        (tmp_path / "f").write_bytes(b"12345")
        remote.put_file(tmp_path / "f", f"{workdir}/five")
        entry = remote.info(f"{workdir}/five")
        assert entry.size == 5 and entry.type == "file"
        assert remote.exists(f"{workdir}/five")
        assert not remote.exists(f"{workdir}/missing")
        with pytest.raises(RemoteNotFound):
            remote.info(f"{workdir}/missing")

    def test_set_modified(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        """Where the server can keep a file's time (xfer sync relies on it), it keeps the one set."""
        if not _declares(remote, Capability.SET_MODIFIED):
            return
        (tmp_path / "f").write_bytes(b"12345")
        remote.put_file(tmp_path / "f", f"{workdir}/stamped")
        when = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)
        if not remote.keeps_modified:
            with pytest.raises(UnsupportedOperation):
                remote.set_modified(f"{workdir}/stamped", when)
            return
        try:
            remote.set_modified(f"{workdir}/stamped", when)
        except UnsupportedOperation:
            # A server that tells only when asked (WebDAV): found out now, and known from then on.
            assert not remote.keeps_modified
            return
        assert remote.info(f"{workdir}/stamped").modified == when
        listed = {e.name: e for e in remote.ls(workdir)}["stamped"].modified
        assert listed is not None and abs((listed - when).total_seconds()) < 86400  # LIST: the date at least

    def test_rm(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        if not _declares(remote, Capability.RM):
            return
        (tmp_path / "f").write_bytes(b"x")
        remote.put_file(tmp_path / "f", f"{workdir}/gone")
        remote.rm(f"{workdir}/gone")
        with pytest.raises(RemoteNotFound):
            remote.get_file(f"{workdir}/gone", tmp_path / "out")
        with pytest.raises(RemoteNotFound):
            remote.rm(f"{workdir}/gone")

    def test_mkdir_with_parents(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        if not _declares(remote, Capability.MKDIR):
            return
        remote.mkdir(f"{workdir}/x/y/z", parents=True)
        remote.mkdir(f"{workdir}/x/y/z", parents=True)  # existing folder: fine
        (tmp_path / "f").write_bytes(b"deep")
        remote.put_file(tmp_path / "f", f"{workdir}/x/y/z/deep.txt")
        if Capability.LS in remote.capabilities:
            names = [e.name for e in remote.ls(f"{workdir}/x/y")]
            assert names == ["z"]
            assert remote.info(f"{workdir}/x/y/z").is_dir

    def test_mv(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        if not _declares(remote, Capability.MV):
            return
        (tmp_path / "f").write_bytes(b"moving")
        remote.put_file(tmp_path / "f", f"{workdir}/old.txt")
        remote.mv(f"{workdir}/old.txt", f"{workdir}/new.txt")
        remote.get_file(f"{workdir}/new.txt", tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == b"moving"
        with pytest.raises(RemoteNotFound):
            remote.get_file(f"{workdir}/old.txt", tmp_path / "out2")

    def test_recursive_rm(self, remote: Adapter, workdir: str, tmp_path: Path) -> None:
        if not (_declares(remote, Capability.MKDIR) and _declares(remote, Capability.RM)):
            return
        remote.mkdir(f"{workdir}/tree/sub")
        (tmp_path / "f").write_bytes(b"x")
        remote.put_file(tmp_path / "f", f"{workdir}/tree/sub/file")
        remote.rm(f"{workdir}/tree", recursive=True)
        if Capability.LS in remote.capabilities:
            assert "tree" not in [e.name for e in remote.ls(workdir)]
