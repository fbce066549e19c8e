"""What the tests of small files sent together (uploads and downloads, issue 14) share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xfer import landing, transfer
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.testing.contract import make_file
from xfer.tls import XferSSLContext

ContextFactory = Callable[..., XferSSLContext]

#: Sizes of the files of a tree: empty, small, one over the 64 KiB bound (it goes alone and
#: ends a group), and enough files for several groups of 32.
SIZES = [0, 1, 4096, 70_000, *[(n * 997) % 9000 for n in range(75)]]


def https_adapter(host: str, port: int, ctx: XferSSLContext, **settings: Any) -> HTTPSAdapter:
    return HTTPSAdapter(ConnectionSettings(
        scheme="https", host=host, port=port, root="/", ssl_context=ctx, timeout=10, **settings
    ))


def make_tree(folder: Path, sizes: list[int] = SIZES) -> dict[str, bytes]:
    """Files ``fNNN.bin`` of ``sizes`` in ``folder`` (made, with its parents): name -> bytes."""
    folder.mkdir(parents=True)
    files = {}
    for number, size in enumerate(sizes):
        make_file(folder / f"f{number:03d}.bin", size, seed=number)
        files[f"f{number:03d}.bin"] = (folder / f"f{number:03d}.bin").read_bytes()
    return files


def count_durable_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of files of each group made durable together (:func:`xfer.landing.sync_together`,
    still run), with the system's unwritten data taken as none (the suite's own big files may be dirty)."""
    asked: list[int] = []
    monkeypatch.setattr(landing, "_unwritten_bytes", lambda: 0)

    def counted(descriptors: list[int]) -> bool:
        asked.append(len(descriptors))
        return landing.sync_together(descriptors)
    monkeypatch.setattr(transfer, "sync_together", counted)
    return asked
