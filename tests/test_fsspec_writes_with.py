"""When a write through the fsspec filesystem is installed: a ``with`` around any wrapper of the
file that fails discards it; one that ends normally, or whose exception is suppressed, installs.

XferFile.close() sees no exception when fsspec's ``OpenFile``, pandas or ``contextlib`` close it
from their ``__exit__``; ``_exception_leaving_with`` decides from the exception that ``__exit__``
was handed.  The second review found that a frame merely holding the exception was taken for
one passing it on (good uploads discarded in silence) and that wrappers dropped unclosed
installed; each case below failed one way or the other before.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.fsspec_helpers import put_server_side, served, server_tree  # noqa: F401 - a fixture, used by name
from tests.test_fsspec import folder, fs  # noqa: F401 - fixtures, used by name
from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint

OLD = b"previous good version"


def test_a_with_that_ends_normally_inside_an_except_installs(served: Endpoint, fs: XferFileSystem,
                                                             folder: str) -> None:
    path = f"{folder}/b.txt"
    handle = fs.open(path, "wb")
    handle.write(b"complete")
    try:
        raise KeyError("unrelated, handled")
    except KeyError:
        with contextlib.ExitStack() as stack:
            stack.callback(handle.close)  # the with ends normally
    assert server_tree(served, folder) == {"b.txt": b"complete"}


def test_a_suppressed_exception_installs(served: Endpoint, fs: XferFileSystem, folder: str) -> None:
    path = f"{folder}/c.txt"
    handle = fs.open(path, "wb")
    handle.write(b"complete")
    with contextlib.ExitStack() as stack:
        stack.callback(handle.close)
        stack.enter_context(contextlib.suppress(KeyError))
        raise KeyError("suppressed: the with ends normally")
    assert server_tree(served, folder) == {"c.txt": b"complete"}


def test_a_generator_context_manager_failing_discards(served: Endpoint, fs: XferFileSystem, folder: str) -> None:
    path = f"{folder}/e.txt"
    put_server_side(served, path, OLD)

    @contextlib.contextmanager
    def opened() -> Iterator[Any]:
        handle = fs.open(path, "wb")
        try:
            yield handle
        finally:
            handle.close()

    with pytest.raises(RuntimeError), opened() as handle:
        handle.write(b"partial")
        raise RuntimeError("producer failed")
    assert server_tree(served, folder) == {"e.txt": OLD}


def test_an_async_context_manager_failing_discards(served: Endpoint, fs: XferFileSystem, folder: str) -> None:
    """Before: only ``__exit__`` frames were looked at, so ``__aexit__`` installed the partial file."""
    path = f"{folder}/d.txt"
    put_server_side(served, path, OLD)

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Any]:
        handle = fs.open(path, "wb")
        try:
            yield handle
        finally:
            handle.close()

    async def produce() -> None:
        async with opened() as handle:
            handle.write(b"partial")
            raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError):
        asyncio.run(produce())
    assert server_tree(served, folder) == {"d.txt": OLD}


def test_the_exception_handled_at_open_raised_again_from_the_with_discards(
    served: Endpoint, fs: XferFileSystem, folder: str
) -> None:
    """Opened while handling an error, then that error re-raised from the block: the writer's own
    ``__exit__`` is told.  Before: taken for the old error, and installed."""
    path = f"{folder}/g.txt"
    put_server_side(served, path, OLD)
    with pytest.raises(KeyError):
        try:
            raise KeyError("first")
        except KeyError:
            with fs.open(path, "w") as handle:
                handle.write("partial")
                raise
    assert server_tree(served, folder) == {"g.txt": OLD}


@pytest.mark.parametrize("how", [{"mode": "wb", "compression": "gzip"}, {"mode": "w"}], ids=["gzip", "text"])
def test_a_wrapper_dropped_unclosed_after_a_failure_installs_nothing(
    served: Endpoint, fs: XferFileSystem, folder: str, how: dict[str, Any]
) -> None:
    """Never install from a garbage-collected, unclosed writer.  Before: io's finaliser closed the
    wrapper, which installed (gzip: a valid archive of the partial data)."""
    path = f"{folder}/h.csv"
    put_server_side(served, path, OLD)

    def produce() -> None:
        handle = fs.open(path, **how)
        handle.write(b"partial" if "b" in how["mode"] else "partial")
        raise RuntimeError("producer failed, file never closed")

    with pytest.raises(RuntimeError):
        produce()
    gc.collect()
    assert server_tree(served, folder) == {"h.csv": OLD}


def test_a_context_manager_that_catches_and_then_closes_is_discarded_with_a_warning(
    served: Endpoint, fs: XferFileSystem, folder: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The one case the rule cannot tell from a failing block (its ``close()`` comes from a generator
    an ``__exit__`` handed the exception): discarded, as a failure would be, but never in silence."""
    path = f"{folder}/a.txt"

    @contextlib.contextmanager
    def tolerant(handle: Any) -> Iterator[None]:
        try:
            yield
        except KeyError:
            handle.close()

    handle = fs.open(path, "wb")
    handle.write(b"complete")
    with caplog.at_level(logging.WARNING, logger="xfer"), tolerant(handle):
        raise KeyError("handled inside the context manager")
    assert server_tree(served, folder) == {}
    assert any("discarded the upload of" in record.getMessage() for record in caplog.records)
