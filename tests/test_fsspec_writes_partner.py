"""The same rule as tests/test_fsspec_writes_with.py, through ``xfer://partner/...`` URLs: fsspec's
``OpenFile``, pandas, and ``ExitStack`` around them.

A third review found that deciding from the exception being handled (rather than the one the
``__exit__`` was handed) installed a partial file when a later ``ExitStack`` callback raised,
or when the error handled at open was raised again from the block; and that dropping a text
writer after ``detach()`` abandoned the file its caller still held.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest

from tests.fsspec_helpers import served  # noqa: F401 - a fixture, used by name
from tests.test_fsspec_pandas import FRAME, _FailsToPrint, partner  # noqa: F401 - partner: a fixture
from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint

OLD = b"previous good version"


@pytest.fixture
def folder(partner: Endpoint, request: pytest.FixtureRequest) -> Iterator[Path]:
    """This test's folder on the partner's server, holding ``a.txt`` = OLD."""
    path = partner.root / request.node.name.replace("[", "-").replace("]", "")
    path.mkdir()
    (path / "a.txt").write_bytes(OLD)
    yield path


def _url(folder: Path, name: str = "a.txt") -> str:
    return f"xfer://partner/{folder.name}/{name}"


def _cleanup_fails() -> None:
    raise OSError("cleanup failed too")


def test_a_later_exit_stack_callback_that_raises_still_discards(folder: Path) -> None:
    fs = XferFileSystem("partner")
    with pytest.raises(OSError, match="cleanup"), contextlib.ExitStack() as stack:
        handle = fs.open(f"/{folder.name}/a.txt", "wb")
        stack.callback(handle.close)
        stack.callback(_cleanup_fails)
        handle.write(b"partial")
        raise RuntimeError("producer failed")
    assert (folder / "a.txt").read_bytes() == OLD


def test_fsspec_open_in_an_exit_stack_whose_later_callback_raises_discards(folder: Path) -> None:
    with pytest.raises(OSError, match="cleanup"), contextlib.ExitStack() as stack:
        handle = stack.enter_context(fsspec.open(_url(folder), "wb"))
        stack.callback(_cleanup_fails)
        handle.write(b"partial")
        raise RuntimeError("producer failed")
    assert (folder / "a.txt").read_bytes() == OLD


def test_the_error_handled_at_open_raised_again_through_fsspec_open_discards(folder: Path) -> None:
    with pytest.raises(KeyError):
        try:
            raise KeyError("first")
        except KeyError:
            with fsspec.open(_url(folder), "wb") as handle:
                handle.write(b"partial")
                raise
    assert (folder / "a.txt").read_bytes() == OLD


def test_the_error_handled_at_open_raised_again_by_to_csv_discards(folder: Path) -> None:
    failure = RuntimeError("the frame failed half-way")

    class Raising(_FailsToPrint):
        def __str__(self) -> str:
            if self.n == 5000:
                raise failure  # the very error being handled while the file was opened
            return str(self.n)

    frame = pd.DataFrame({"a": [Raising(n) for n in range(10_000)]})
    with pytest.raises(RuntimeError):
        try:
            raise failure
        except RuntimeError:
            frame.to_csv(_url(folder), index=False)
    assert (folder / "a.txt").read_bytes() == OLD


def test_a_report_written_by_an_exit_handling_another_error_installs(folder: Path) -> None:
    """Opened and closed inside an ``__exit__`` that is handling an error: its own work, not a block
    around the file that failed."""

    class WritesAReport:
        def __enter__(self) -> WritesAReport:
            return self

        def __exit__(self, *exc_info: Any) -> bool:
            FRAME.to_csv(_url(folder, "report.csv"), index=False)
            return True

    with WritesAReport():
        raise KeyError("the job failed; the report says why")
    assert (folder / "report.csv").read_bytes() == FRAME.to_csv(index=False).encode()


def test_fsspec_open_inside_an_except_block_installs(folder: Path) -> None:
    try:
        raise KeyError("unrelated, handled")
    except KeyError:
        with fsspec.open(_url(folder), "wb") as handle:
            handle.write(b"complete")
    assert (folder / "a.txt").read_bytes() == b"complete"


def test_a_detached_text_writer_leaves_the_file_to_its_caller(folder: Path) -> None:
    fs = XferFileSystem("partner")
    text = fs.open(f"/{folder.name}/a.txt", "w")
    text.write("hello ")
    binary = text.detach()
    del text
    gc.collect()
    binary.write(b"world")
    binary.close()
    assert (folder / "a.txt").read_bytes() == b"hello world"
