"""``open_write`` over FTPS: one STOR to the temporary name, the bytes straight onto its TLS data connection.

The STOR, the end of the data (close_notify, then the ``226``), the size check and the
rename into place are the ones ``put_file`` uses (:meth:`FTPSAdapter._store`,
:func:`.connection.end_of_data`, :meth:`FTPSAdapter._stored`, :mod:`.install`); only the
bytes come from the caller's ``write`` calls instead of a local file.  While the writer is
open the control connection is busy with the transfer: nothing else may use the adapter.
"""

from __future__ import annotations

import contextlib
import ftplib
import posixpath
import socket
import ssl
import time
from typing import TYPE_CHECKING

from ...errors import XferError
from ...verify import StreamHash
from ..base import ProgressCallback, TransferResult
from ..writer import RemoteWriter
from . import install
from .connection import QUIT_TIMEOUT, FTPSConnection, breaks_session, end_of_data, explained

if TYPE_CHECKING:
    from .adapter import FTPSAdapter

__all__ = ["FTPSWriter"]


class FTPSWriter(RemoteWriter):
    """See the module docstring.  Made by :meth:`FTPSAdapter.open_write`."""

    def __init__(self, adapter: FTPSAdapter, remote: str, callback: ProgressCallback | None) -> None:
        super().__init__(adapter.user_path(remote), callback, hash=StreamHash(sha256=False))  # (chosen once connected)
        adapter._refuse_backslash(remote, "upload to")
        self._adapter = adapter
        self._server_path = remote
        self._temp = install.temp_name(remote) if adapter._upload_temp_name else None
        self.temp_name = self._temp
        self._target = self._temp or remote
        self._shown = remote if self._temp is None else f"{remote} (as {self._temp})"
        self._first = adapter.data_connections.tally()
        self._ftp: FTPSConnection | None = None

        def start(ftp: FTPSConnection) -> socket.socket:
            self._ftp = ftp
            return adapter._store(ftp, self._target)

        # A refused STOR created nothing: there is nothing to remove if this raises.  Retried as
        # any operation is (no byte of the caller's is sent yet): a pooled control connection
        # the server closed while idle (a 421 "timed out") is reopened, not the write's end.
        # Each try stores to the same temporary name, so the tries leave one file at most (empty:
        # a last try whose data connection failed after the 150 may leave it).
        self._conn: socket.socket | None = adapter._retrying(
            lambda: adapter._run("uploading", self._shown, start, probe=posixpath.dirname(remote))
        )[0]
        # This connection's FEAT named the hash the server compares (if any): that one, and
        # SHA-256 where the result shows it, as put_file computes.
        command = adapter._hash_command
        self._hash = StreamHash(command.algorithm if command else None, sha256=adapter.settings.sha256)

    def _send(self, data: memoryview) -> None:
        assert self._conn is not None
        try:
            self._conn.sendall(data)
        except BaseException as exc:
            error = self._error(exc)
            if error is exc:
                raise
            raise error from exc

    def _finish(self) -> TransferResult:
        adapter, conn, ftp = self._adapter, self._conn, self._ftp
        assert conn is not None and ftp is not None
        try:
            with conn, explained(ftp):
                confirmed = end_of_data(conn)
            self._conn = None
            verified = adapter._stored(ftp, self._target, self._server_path, self.written)
            # Before the rename, as put_file does: a mismatch installs nothing.
            checked = adapter._verify(
                ftp, self._target, self._hash, self.written, what=f"the upload of {self._server_path}",
                size_checked=verified, consequence="the upload was removed",
            )
            adapter._confirmed(self._server_path, end=confirmed, checked=checked)
        except BaseException as exc:
            error = self._error(exc)
            self._discard()
            if error is exc:
                raise
            raise error from exc
        adapter._last_used = time.monotonic()
        return adapter._installed(
            "-", self._server_path, self._temp, size=self.written, started=self.started, verified=verified,
            first=self._first, sha256=self._hash.hexdigest(), checked=checked,
        )

    def _error(self, exc: BaseException) -> BaseException:
        """``exc`` as the adapter reports it: the server's reason for a broken data connection,
        translated; the control connection dropped if its state is unknown."""
        adapter, ftp = self._adapter, self._ftp
        assert ftp is not None
        cause = exc
        if isinstance(exc, ssl.SSLError | OSError) and not isinstance(exc, XferError) and ftp.transfer_pending:
            try:
                ftp.explain_failure(exc)  # raises the server's reply (426 "No space left"...), if one came
            except ftplib.Error as reply:
                cause = reply
            except Exception:  # noqa: S110 - no explanation: the broken connection is the error
                pass
        if ftp.transfer_pending or breaks_session(cause):
            adapter._drop()
        if isinstance(cause, XferError) or not isinstance(cause, Exception):
            return cause
        return adapter._translate(cause, "uploading", self._shown)

    def _discard(self) -> None:
        """Cut the data connection (no close_notify: the server must not take it for complete),
        read the transfer's final reply, remove the partial upload."""
        adapter, conn, ftp = self._adapter, self._conn, self._ftp
        self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        if ftp is not None and ftp is adapter._ftp and ftp.transfer_pending:
            try:
                ftp.settimeout(QUIT_TIMEOUT)
                ftp.voidresp()  # 426 (cut) or 226: either way the dialogue is in step again
            except ftplib.Error:
                pass
            except BaseException:
                adapter._drop()
        if ftp is not None and ftp is adapter._ftp:
            ftp.settimeout(adapter.settings.timeout)
        # Whatever the STOR left (a part, or without a temp name the cut file) must not stay.
        adapter._cleanup(self._target)
