"""SFTP's streaming writer (``open_write``: ``xfer put -``, fsspec ``open("wb")``), against the in-process server.

The bytes reach the server under the temporary name while the stream is still open, the name
appears only at ``close()``, and a failure on the server's side in the middle of the stream
raises and leaves nothing (``put -`` through the CLI: tests/test_streams.py's sftp cases).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

import xfer
from xfer.adapters.sftp import SFTPAdapter
from xfer.errors import ConnectionDropped, XferError
from xfer.filesystem import XferFileSystem
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys, create_ssh_keys

BLOCK = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


def _connect(srv: SFTPServer, keys: SSHTestKeys) -> SFTPAdapter:
    adapter = xfer.connect(srv.url, identity=str(keys.client_key), identity_password=f"file:{keys.passphrase_file}",
                           pin=keys.host_fingerprint(), timeout=10)
    assert isinstance(adapter, SFTPAdapter)
    return adapter


@pytest.fixture
def served(ssh_keys: SSHTestKeys, tmp_path: Path) -> Iterator[SFTPServer]:
    with SFTPServer(ssh_keys, root=tmp_path / "root") as srv:
        yield srv


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_nothing_visible_half_written(served: SFTPServer, ssh_keys: SSHTestKeys) -> None:
    folder = served.root / "in"
    with _connect(served, ssh_keys) as remote:
        with remote.open_write("/in/report.csv") as writer:
            for _ in range(8):
                writer.write(BLOCK)
            # On the server's disk before close, under the temporary name only.
            _wait(lambda: any((folder / n).stat().st_size >= 1 << 20 for n in hidden(folder)), "the stream to arrive")
            [part] = hidden(folder)
            assert part.startswith(".report.csv.") and part.endswith(".xfer-part")
            assert writer.temp_name is not None and writer.temp_name.endswith(part)
            assert not (folder / "report.csv").exists()
            writer.write(b"the end\n")
        result = writer.result
    whole = BLOCK * 8 + b"the end\n"
    assert (folder / "report.csv").read_bytes() == whole
    assert result is not None and result.size == len(whole) and result.verified == "size"
    assert result.sha256 == hashlib.sha256(whole).hexdigest() and result.temp_name == part
    assert hidden(folder) == []


class _FailsLate(asyncssh.SFTPServer):
    """Takes the first MiB of a file, then refuses every write (a disk that filled up)."""

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        if offset >= 1 << 20:
            raise asyncssh.SFTPFailure("no space left on device")
        written: int = super().write(file_obj, offset, data)  # type: ignore[assignment]
        return written


def test_server_failure_mid_stream_raises_and_leaves_nothing(ssh_keys: SSHTestKeys, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "report.csv").write_bytes(b"previous version")
    with SFTPServer(ssh_keys, root=root, sftp_class=_FailsLate) as srv, _connect(srv, ssh_keys) as remote:
        with pytest.raises(XferError) as caught:
            with remote.open_write("/report.csv") as writer:
                for _ in range(16):
                    writer.write(BLOCK)
        assert "no space left on device" in caught.value.message
        assert writer.result is None
        assert (root / "report.csv").read_bytes() == b"previous version"
        assert hidden(root) == []
        assert remote.ls("/")[0].name == "report.csv"  # the connection still works


def test_fsspec_open_wb_streams(served: SFTPServer, ssh_keys: SSHTestKeys) -> None:
    fs = XferFileSystem(skip_instance_cache=True, url=served.url, identity=str(ssh_keys.client_key),
                        identity_password=f"file:{ssh_keys.passphrase_file}", pin=ssh_keys.host_fingerprint())
    with fs.open("/out/data.bin", "wb", block_size=64 * 1024) as handle:
        for _ in range(6):
            handle.write(BLOCK)
        _wait(lambda: bool(hidden(served.root / "out")), "the stream to start before close")
        assert not (served.root / "out" / "data.bin").exists()
    assert (served.root / "out" / "data.bin").read_bytes() == BLOCK * 6
    assert hidden(served.root / "out") == []


class _CloseHangs(asyncssh.SFTPServer):
    """Never answers the CLOSE of a file written to (flushing to a hung disk); all else as asyncssh's."""

    async def close(self, file_obj: Any) -> None:
        if file_obj.writable():
            await asyncio.sleep(3600)
        super().close(file_obj)


@pytest.mark.timeout(30)
def test_a_close_never_answered_fails_after_the_timeout(ssh_keys: SSHTestKeys, tmp_path: Path) -> None:
    """close() waited for the CLOSE's answer without a bound: a server that never gave it hung the
    stream for ever, where put_file fails after the timeout (review 26, finding 6)."""
    root = tmp_path / "root"
    with SFTPServer(ssh_keys, root=root, sftp_class=_CloseHangs) as srv, \
            xfer.connect(srv.url, identity=str(ssh_keys.client_key), pin=ssh_keys.host_fingerprint(),
                         identity_password=f"file:{ssh_keys.passphrase_file}", timeout=1.5, retries=0) as remote:
        started = time.monotonic()
        with pytest.raises(ConnectionDropped, match=r"stopped answering .*no reply within 1.5 s"):
            with remote.open_write("/report.csv") as writer:
                writer.write(BLOCK)
        assert time.monotonic() - started < 15
        assert writer.result is None
    assert not (root / "report.csv").exists()
