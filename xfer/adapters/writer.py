"""The streaming write primitive: a remote file written as bytes arrive (``put -``, fsspec ``open("wb")``).

``Adapter.open_write(path)`` returns a :class:`RemoteWriter`.  Its bytes go to the server as
they are written (memory stays flat whatever the length), under the protocol's temporary
name where it has one (FTPS, WebDAV: ``.NAME.RANDOM.xfer-part``); ``close()`` ends the
stream, proves its length and puts the file under its name; ``abort()`` (or an exception
inside ``with``) removes what was sent.  Nothing half-written is ever visible under the name.
Plain HTTPS has no rename: there the one PUT goes to the name itself, as ``put`` does (see
:mod:`xfer.adapters.https`).

The length is not known in advance: FTPS writes straight to the TLS data connection,
HTTP sends the body chunked (``Transfer-Encoding: chunked``) from a thread.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from ..transfer import local_errors
from ..types import ProgressCallback, TransferResult
from ..verify import StreamHash

__all__ = ["RemoteWriter", "SpooledWriter"]

State = Literal["open", "closed", "aborted"]


class RemoteWriter:
    """A remote file being written.  Subclasses send (``_send``), finish (``_finish``), discard (``_discard``).

    ``write`` raises after a failure (the part is removed by then); ``close`` returns the
    :class:`TransferResult` (``size`` the bytes written, ``sha256`` of them) and is
    idempotent; ``abort`` is best effort and never raises.  One thread at a time.
    """

    def __init__(
        self, remote: str, callback: ProgressCallback | None = None, *, hash: StreamHash | None = None
    ) -> None:
        #: The user path (under the connection root) the file appears under.
        self.remote = remote
        self.written = 0
        self.result: TransferResult | None = None
        self._callback = callback
        #: What is hashed on the way (default: SHA-256).  A stream cannot be read again, so a
        #: writer computes every hash its server may compare, and SHA-256 where the result shows it.
        self._hash = hash if hash is not None else StreamHash()
        self._state: State = "open"
        self.started = time.monotonic()
        #: The URL scheme, for the result (set by ``Adapter.open_write``).
        self.protocol: str | None = None
        #: The server path the bytes go to until ``close()`` renames them; None: the name itself
        #: (plain HTTPS, or a temporary name switched off), where an abort can leave a partial file
        #: on servers that store a body as it arrives.
        self.temp_name: str | None = None

    # -- the caller's side ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._state != "open"

    def writable(self) -> bool:
        return self._state == "open"

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Send ``data`` (it may be reused by the caller as soon as this returns)."""
        if self._state != "open":
            raise ValueError(f"write to a remote file that is {self._state} ({self.remote})")
        view = memoryview(data).cast("B")
        if not view.nbytes:
            return 0
        try:
            self._send(view)
        except BaseException:
            self.abort()
            raise
        self._hash.update(view)
        self.written += view.nbytes
        if self._callback is not None:
            self._callback(self.written, None)
        return view.nbytes

    def close(self) -> TransferResult:
        """End the stream, prove its length, put the file in place; the result."""
        if self.result is not None:
            return self.result
        if self._state != "open":
            raise ValueError(f"the upload of {self.remote} failed or was aborted; nothing was stored")
        self._state = "closed"
        # _finish removes (or names, if it is the only copy of the data) what it leaves behind.
        result = self._finish()
        digest = self._hash.hexdigest()
        if digest is not None:  # (else the result keeps what _finish found, if anything)
            result.sha256 = digest
        if result.protocol is None:
            result.protocol = self.protocol
        if self._callback is not None:
            self._callback(self.written, self.written)
        self.result = result
        return result

    def abort(self) -> None:
        """Stop the upload and remove what was sent.  Best effort; never raises."""
        if self._state != "open":
            return
        self._state = "aborted"
        try:
            self._discard()
        except Exception:  # noqa: S110 - best effort by contract: the caller's error is the one to report
            pass

    def __enter__(self) -> RemoteWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
            return
        self.close()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # -- the adapter's side ---------------------------------------------------------------

    def _send(self, data: memoryview) -> None:
        raise NotImplementedError

    def _finish(self) -> TransferResult:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


class SpooledWriter(RemoteWriter):
    """The fallback where a protocol cannot send a body of unknown length: the bytes go to a
    private local temporary file, and ``close()`` uploads that file with ``upload(path)`` (the
    adapter's ``put_file`` path).  Memory stays flat; local disk holds the data meanwhile.
    Used for plain HTTPS with ``upload_method = POST`` (a form is not sent in pieces)."""

    def __init__(self, remote: str, callback: ProgressCallback | None, upload: Callable[[str], TransferResult]) -> None:
        # Nothing hashed on the way: the upload of the spooled file hashes what it must, as any upload.
        super().__init__(remote, callback, hash=StreamHash(sha256=False))
        self._upload = upload
        with local_errors("a local temporary file", "creating"):
            fd, self._spool = tempfile.mkstemp(prefix="xfer-spool-")
        self._handle = os.fdopen(fd, "wb")

    def _send(self, data: memoryview) -> None:
        with local_errors(self._spool, "writing"):
            self._handle.write(data)

    def _finish(self) -> TransferResult:
        try:
            with local_errors(self._spool, "writing"):
                self._handle.close()
            result = self._upload(self._spool)
        finally:
            self._discard()
        result.local = "-"
        return result

    def _discard(self) -> None:
        self._handle.close()
        with contextlib.suppress(OSError):
            os.unlink(self._spool)
