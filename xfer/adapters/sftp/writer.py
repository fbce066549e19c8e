"""``open_write`` over SFTP: the caller's bytes go to the temporary name as pipelined write requests.

The bytes are gathered into blocks of the server's write size and sent without waiting for
each answer (:class:`~.pipeline.BlockWriter`, as ``put_file`` sends a file), so memory stays
at ``depth`` blocks whatever the length.  ``close()`` waits for every answer, then checks the
stored size and renames into place exactly as ``put_file`` does (:meth:`SFTPAdapter._complete`);
``abort()`` or any failure removes the temporary file.  While the writer is open the adapter's
connection carries its requests: use no other verb of the adapter meanwhile.
"""

from __future__ import annotations

import contextlib
import posixpath
import time
from typing import TYPE_CHECKING

import asyncssh

from ...errors import XferError
from ...verify import StreamHash
from ..base import ProgressCallback, TransferResult
from ..writer import RemoteWriter
from .checkfile import CheckFile
from .pipeline import BlockWriter, answered, block_sizes

if TYPE_CHECKING:
    from .adapter import SFTPAdapter, _Stored

__all__ = ["SFTPWriter"]


class SFTPWriter(RemoteWriter):
    """See the module docstring.  Made by :meth:`SFTPAdapter.open_write`."""

    def __init__(self, adapter: SFTPAdapter, remote: str, callback: ProgressCallback | None) -> None:
        super().__init__(adapter.user_path(remote), callback)
        self._adapter = adapter
        self._server_path = remote
        self._temp = adapter._temp_name(remote)
        self.temp_name = self._temp
        self._target = self._temp or remote
        self._buffer = bytearray()
        self._block = 0
        self._file: asyncssh.SFTPClientFile | None = None
        self._writer: BlockWriter | None = None

        async def start(sftp: asyncssh.SFTPClient) -> None:
            await adapter._refuse_folder(sftp, remote)
            _, self._block = block_sizes(sftp)
            # A refused open created nothing: there is nothing to remove if this raises.
            self._file = await adapter._create(sftp, self._target, remote)
            self._writer = BlockWriter(self._file, 0, reply_timeout=adapter.settings.timeout)
            # A stream cannot be hashed again after the upload: while the server's check-file
            # algorithm is unknown it is asked for SHA-256 first, so SHA-256 is computed then;
            # with --checksum MD5 too, since a server that answers in MD5 must not fail the upload.
            state = CheckFile.of(sftp)
            unknown = state.offered is not False and state.algorithm is None
            also = await adapter._hash_to_compute(sftp, self._target)
            if unknown and also is None and adapter.settings.checksum:
                also = "md5"
            self._hash = StreamHash(also, sha256=adapter.settings.sha256 or unknown)

        adapter._run("uploading", remote, start)

    def _send(self, data: memoryview) -> None:
        self._buffer += data
        whole = len(self._buffer) - len(self._buffer) % self._block
        if whole:
            blocks = [self._buffer[at:at + self._block] for at in range(0, whole, self._block)]
            del self._buffer[:whole]
            self._push(blocks)

    def _push(self, blocks: list[bytearray]) -> None:
        writer = self._writer
        assert writer is not None

        async def push(sftp: asyncssh.SFTPClient) -> None:
            await writer.push(blocks)

        self._adapter._run("uploading", self._server_path, push)

    def _finish(self) -> TransferResult:
        adapter, writer, handle = self._adapter, self._writer, self._file
        assert writer is not None and handle is not None
        rest = bytes(self._buffer)
        self._buffer.clear()

        async def finish(sftp: asyncssh.SFTPClient) -> _Stored:
            await writer.push([rest] if rest else [])
            await writer.drain()
            self._file = None
            # Bounded as every other answer (pipeline.closing): a server that never answers the
            # CLOSE (flushing to a hung disk) fails the stream after the timeout, as it fails a put.
            await answered(handle.close(), adapter.settings.timeout)
            return await adapter._complete(sftp, self._target, self._server_path, self.written, self._hash)

        try:
            stored = adapter._run("uploading", self._server_path, finish)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the failure itself is what the caller must see
                self._discard()
            told = adapter._put_back(self._server_path, exc) if isinstance(exc, XferError) else exc
            if told is exc:
                raise
            raise told from exc
        details = adapter._details()
        if stored.previous_left is not None:
            details["previous_version_left_at"] = adapter.user_path(stored.previous_left)
        return TransferResult(
            direction="put", local="-", remote=self.remote, size=self.written,
            elapsed=time.monotonic() - self.started, details=details, protocol=adapter.settings.scheme,
            size_verified=stored.size_verified, verified=stored.verified,
            temp_name=posixpath.basename(self._temp) if self._temp is not None else None,
        )

    def _discard(self) -> None:
        """Give up the requests in flight, close the file, remove what was written (best effort)."""
        writer, handle, self._writer, self._file = self._writer, self._file, None, None
        if writer is not None:
            writer.cancel()
        target = self._target

        async def discard(sftp: asyncssh.SFTPClient) -> None:
            if handle is not None:
                with contextlib.suppress(asyncssh.Error, OSError):  # (a stuck server: NoReply, an OSError)
                    await answered(handle.close(), self._adapter.settings.timeout)
            await self._adapter._discard(sftp, target)

        self._adapter._run("removing", target, discard)
