"""Downloads into a stream (``xfer get … -``): the sink the adapters write to instead of a file.

An adapter's download loop writes into a *sink*: normally :class:`~xfer.transfer.AtomicDownload`
(a temporary file renamed when complete).  A stream cannot be taken back, so
:class:`StreamSink` writes the bytes as they arrive and keeps the rest of the contract: the
length is checked against what the server announced, the bytes are hashed, and an incomplete
download still raises (exit 7), even though part of it has already gone out.  The reader of
the stream learns of the failure from the exit code, as with ``curl -f`` in a pipeline.
"""

from __future__ import annotations

import errno
import os
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from .errors import IntegrityError, LocalError
from .transfer import DownloadAccounting
from .types import ProgressCallback
from .verify import StreamHash

if TYPE_CHECKING:
    from .throttle import TokenBucket

__all__ = ["DownloadSink", "SinkFactory", "StreamSink", "devnull_stdout"]


class DownloadSink(Protocol):
    """What an adapter's download loop writes into (``AtomicDownload`` is one)."""

    #: The length the server vouches for (the adapter may learn it late, e.g. from FTP's 150).
    expected_size: int | None
    written: int
    sha256: str | None

    def __enter__(self) -> DownloadSink: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    @property
    def elapsed(self) -> float: ...


class SinkFactory(Protocol):
    """Makes the sink of one download: ``AtomicDownload`` itself, or :meth:`StreamSink.factory`."""

    def __call__(
        self, target: str, *, expected_size: int | None = None, callback: ProgressCallback | None = None,
        throttle: TokenBucket | None = None, sha256: bool = True,
    ) -> Any: ...


class StreamSink(DownloadAccounting):
    """A download written to an open binary stream (standard output), length-checked and hashed.

    ``__exit__`` without an exception checks the length against ``expected_size`` (an
    :class:`IntegrityError` if it differs) and flushes the stream.  The bytes written before
    a failure cannot be taken back: the exit code is what tells the reader.

    It speaks the download writer's resume vocabulary (:attr:`offset`, :meth:`begin`...) so the
    adapters' one download path serves both, but never resumes: nothing is kept between tries.
    """

    #: Nothing kept from an earlier try: every download into a stream starts at byte 0.
    offset = 0
    #: Blocks reach the stream as they arrive (README: "written as it arrives"): a worker would
    #: hold up to its pool (1.5 MiB) back from a slow reader or a throttled download, and a pipe
    #: gained nothing from it (measured: get URL - >/dev/null 1.30 -> 1.31 s).
    write_behind = False

    def __init__(
        self,
        stream: BinaryIO,
        *,
        expected_size: int | None = None,
        callback: ProgressCallback | None = None,
        name: str = "standard output",
        throttle: TokenBucket | None = None,
        sha256: bool = True,
    ) -> None:
        self._stream = stream
        self._name = name
        self.expected_size = expected_size
        self.written = 0
        self._callback = callback
        self._sha256 = sha256
        self._hash = StreamHash(sha256=sha256)
        self._throttle = throttle
        self.sha256: str | None = None
        self.started = 0.0
        self.previous: dict[str, Any] = {}
        #: What the remote file is (set by the adapter, as for a file download; not kept).
        self.facts: dict[str, Any] = {}

    @classmethod
    def factory(cls, stream: BinaryIO, *, name: str = "standard output") -> SinkFactory:
        """A :class:`SinkFactory` writing every download it makes into ``stream``."""

        def make(
            target: str, *, expected_size: int | None = None, callback: ProgressCallback | None = None,
            throttle: TokenBucket | None = None, sha256: bool = True,
        ) -> StreamSink:
            return cls(stream, expected_size=expected_size, callback=callback, name=name, throttle=throttle,
                       sha256=sha256)

        return make

    def __enter__(self) -> StreamSink:
        self.started = time.monotonic()
        if self._callback is not None:
            self._callback(0, self.expected_size)
        return self

    def hash_also(self, algorithm: str | None) -> None:
        """Compute ``algorithm`` besides SHA-256 (if wanted), before the first byte, as the server offers it."""
        self._hash = StreamHash(algorithm, sha256=self._sha256)

    def begin(self, offset: int) -> None:
        if offset:
            raise ValueError("a stream cannot continue a download: nothing was kept")

    def start_over(self, reason: str) -> None:
        """Nothing was kept: a stream always starts at byte 0."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._accept(data)

    def _store(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._stream.write(data)
        except OSError as exc:
            raise self._local_error(exc) from exc

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        unstored = self._end_writes(exc)  # what reached the stream before a failure stays there
        if exc_type is not None:
            return
        if unstored is not None:
            raise unstored
        if self.expected_size is not None and self.written != self.expected_size:
            raise IntegrityError(
                f"the download is incomplete: got {self.written} of {self.expected_size} bytes; "
                f"what reached {self._name} is truncated",
                hint="run the command again; the connection may have been cut",
            )
        try:
            self._stream.flush()
        except OSError as error:
            raise self._local_error(error) from error
        self.sha256 = self._hash.hexdigest()

    def _local_error(self, exc: OSError) -> LocalError:
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
            return LocalError(f"cannot write to {self._name}: the reading end of the pipe was closed")
        return LocalError(f"cannot write to {self._name}: {exc.strerror or exc}")


def devnull_stdout() -> None:
    """After a broken pipe on standard output: point it at /dev/null, so that Python's own
    flush at exit does not print a second, raw BrokenPipeError."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass
