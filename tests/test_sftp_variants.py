"""SFTP against servers that differ from OpenSSH's sftp-server in ways the protocol allows (review G).

Each fake is a :class:`~xfer.testing.sftp_server.VariantServer` with one knob turned (or a
subclass doing one thing otherwise): WRITEs carried out in parallel, a listing without
attributes, STAT without a size, no ``posix-rename@openssh.com`` (RENAME never replaces),
an account that may rename but not remove, a case-insensitive file system, a server that
refuses dot files or long names.  For each, xfer must neither report a success it did not
have, nor a failure it did not have.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path
from typing import Any, ClassVar

import asyncssh
import pytest

import xfer
from tests.test_sftp import profile_of
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys, VariantServer, create_ssh_keys


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "srv"
    folder.mkdir()
    return folder


def serve(ssh_keys: SSHTestKeys, root: Path, kind: type[asyncssh.SFTPServer]) -> SFTPServer:
    return SFTPServer(ssh_keys, root=root, sftp_class=kind)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- finding 1: a resumed upload trusts only what the server confirmed, in order --------------


class _SecondWriteNeverLands(VariantServer):
    """WRITEs in parallel (legal); the second is slow (a stalled disk) and still in progress when
    the connection breaks, right after the sixth landed: the temporary file then has a hole below
    its size, and nothing (no check-file) can tell."""

    parallel_writes = True
    writes: ClassVar[int] = 0
    cut: ClassVar[bool] = False

    async def write(self, file_obj: Any, offset: int, data: bytes) -> int:
        cls = type(self)
        cls.writes += 1
        number = cls.writes
        if number == 2 and not cls.cut:
            await asyncio.sleep(1.0)
        if file_obj.closed:  # the connection's end closed the file under the stalled write
            raise asyncssh.SFTPFailure("aborted")
        file_obj.seek(offset)
        written: int = file_obj.write(data)
        file_obj.flush()
        if number == 6 and not cls.cut:
            cls.cut = True
            self._chan.get_connection().abort()  # the link breaks
        return written


def test_a_cut_upload_resumes_from_what_was_confirmed_in_order_not_from_the_size(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path
) -> None:
    _SecondWriteNeverLands.writes, _SecondWriteNeverLands.cut = 0, False
    data = random.Random(12).randbytes(4 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    with serve(ssh_keys, root, _SecondWriteNeverLands) as srv:
        with xfer.connect(profile_of(srv, ssh_keys), retries=3, retry_wait=0.01) as remote:
            result = remote.put_file(tmp_path / "big.bin", "/big.bin")
    assert _SecondWriteNeverLands.cut and result.attempts == 2
    stored = (root / "big.bin").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest(), "a hole was installed"
    assert listing(root) == ["big.bin"]


# -- finding 2: a listing without attributes ----------------------------------------------------


class _NoAttrsInListing(VariantServer):
    listing_attrs = False


def _tree(root: Path) -> None:
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "a.txt").write_bytes(b"A" * 10)
    (root / "dir" / "sub" / "b.txt").write_bytes(b"B" * 20)


def test_entries_listed_without_attributes_are_looked_up(ssh_keys: SSHTestKeys, root: Path, tmp_path: Path) -> None:
    """SFTP v3 lets READDIR names carry no attributes: each is looked up (STAT), never taken for
    "other" (which ``get -r`` skipped with exit 0, and ``rm -r`` sent a REMOVE of a folder)."""
    _tree(root)
    with serve(ssh_keys, root, _NoAttrsInListing) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        shown = {entry.name: (entry.type, entry.size) for entry in remote.ls("/dir")}
        assert shown == {"a.txt": ("file", 10), "sub": ("directory", None)}
        remote.get(["/dir"], tmp_path / "out", recursive=True)
        assert listing(tmp_path / "out") == ["a.txt", "sub", "sub/b.txt"]
        assert (tmp_path / "out" / "sub" / "b.txt").read_bytes() == b"B" * 20
        remote.rm("/dir", recursive=True)
    assert listing(root) == []
