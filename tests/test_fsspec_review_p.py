"""Review P: writers dropped unclosed installed (inside a transaction, and under a text wrapper's
finalizer); FTPS ranged reads returned the file's first bytes where the REST probe could not tell;
``mv`` of a folder deleted files that arrived while it ran.  Each test failed before its fix.
"""

from __future__ import annotations

import gc
import io
from typing import Any

import pytest
from fsspec.core import OpenFile

from tests.fsspec_helpers import put_server_side, served, server_tree  # noqa: F401 - a fixture, used by name
from tests.test_fsspec import folder, fs  # noqa: F401 - fixtures, used by name
from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint

OLD = b"previous good version\n"
ROWS = [f"{i},{'x' * 40}\n" for i in range(10_000)]  # ~450 KB: several blocks


# -- HIGH 2: a transaction commits a file never closed ---------------------------------------------


def test_a_writer_dropped_unclosed_in_a_transaction_never_installs(
    served: Endpoint, fs: XferFileSystem, folder: str
) -> None:
    """Before: Transaction.complete() called commit(), which uploaded the spool's prefix under
    the final name (the previous version lost)."""
    path = f"{folder}/report.csv"
    put_server_side(served, path, OLD)
    with fs.transaction:
        handle = fs.open(path, "wb", block_size=100_000)
        try:
            for i, row in enumerate(ROWS):
                if i == 6_000:
                    raise ValueError("bad row")
                handle.write(row.encode())
        except ValueError:
            pass  # handled: the file is abandoned, never closed
        fs.pipe_file(f"{folder}/other.csv", b"whole\n")  # a file of the same transaction still commits
    assert server_tree(served, folder) == {"report.csv": OLD, "other.csv": b"whole\n"}
    del handle
    # Closed, the same file installs at the commit, not before.
    with fs.transaction:
        with fs.open(path, "wb", block_size=100_000) as handle:
            for row in ROWS:
                handle.write(row.encode())
        assert server_tree(served, folder) == {"report.csv": OLD, "other.csv": b"whole\n"}
    assert server_tree(served, folder) == {"report.csv": "".join(ROWS).encode(), "other.csv": b"whole\n"}


# -- HIGH 3: a text wrapper dropped unclosed ---------------------------------------------------------


@pytest.mark.parametrize("how", ["fsspec-openfile", "textiowrapper"])
def test_a_text_writer_dropped_after_an_error_never_installs(
    served: Endpoint, fs: XferFileSystem, folder: str, how: str
) -> None:
    """Before: io's finalizer closed the wrapper, whose close() closed the XferFile from no
    ``__exit__``: the partial file was installed."""
    path = f"{folder}/r.csv"
    put_server_side(served, path, OLD)

    def job() -> None:
        handle: Any = (OpenFile(fs, path, mode="wt").open() if how == "fsspec-openfile"
                       else io.TextIOWrapper(fs.open(path, "wb")))
        for i, row in enumerate(ROWS):
            if i == 6_000:
                raise ValueError("bad row")
            handle.write(row)

    with pytest.raises(ValueError, match="bad row"):
        job()
    gc.collect()
    assert server_tree(served, folder) == {"r.csv": OLD}
    # Closed explicitly, the same wrapper installs.
    handle = io.TextIOWrapper(fs.open(path, "wb"))
    handle.write("".join(ROWS))
    handle.close()
    assert server_tree(served, folder) == {"r.csv": "".join(ROWS).encode()}
