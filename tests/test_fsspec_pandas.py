"""pandas through xfer://: read_csv from a partner's outbox, to_parquet (pyarrow) into its inbox.

Each protocol's embedded server is reached by profile name, as a data team would write it:
``pd.read_csv("xfer://partner/outbox/a.csv")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.fsspec_helpers import ensure_registered, save_partner_profile, served
from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint

__all__ = ["served"]

FRAME = pd.DataFrame(
    {
        "order": range(1, 501),
        "sku": [f"SKU-{i % 37:03d}" for i in range(500)],
        "amount": [round(i * 1.25, 2) for i in range(500)],
    }
)


@pytest.fixture
def partner(served: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    """The server's profile saved as ``partner`` in ``$XFER_PROFILE_PATH``."""
    save_partner_profile(served, tmp_path, monkeypatch)
    ensure_registered()
    XferFileSystem.clear_instance_cache()  # instances are keyed by profile name; each test has its own
    yield served
    XferFileSystem.clear_instance_cache()


def test_read_csv(partner: Endpoint) -> None:
    outbox = partner.root / "outbox"
    outbox.mkdir(exist_ok=True)
    FRAME.to_csv(outbox / "a.csv", index=False)
    frame = pd.read_csv("xfer://partner/outbox/a.csv")
    pd.testing.assert_frame_equal(frame, FRAME)


def test_to_parquet_and_back(partner: Endpoint) -> None:
    FRAME.to_parquet("xfer://partner/inbox/a.parquet", engine="pyarrow")
    stored = partner.root / "inbox" / "a.parquet"
    pd.testing.assert_frame_equal(pq.read_table(stored).to_pandas(), FRAME)  # what landed is real Parquet
    assert [p.name for p in stored.parent.iterdir()] == ["a.parquet"]  # no temporary name left
    # Reading it back goes through ranged reads (the footer first, then the column chunks).
    pd.testing.assert_frame_equal(pd.read_parquet("xfer://partner/inbox/a.parquet", engine="pyarrow"), FRAME)


class _FailsToPrint:
    """A cell whose text fails: ``to_csv`` raises part-way through writing the frame."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __str__(self) -> str:
        if self.n == 5000:
            raise RuntimeError("the frame failed half-way")
        return str(self.n)


def test_a_failed_to_csv_installs_nothing(partner: Endpoint) -> None:
    """pandas closes the file from its own ``__exit__``, without the exception: the truncated CSV
    was installed over the previous version."""
    folder = partner.root / "failed-to-csv"
    folder.mkdir()
    (folder / "pd.csv").write_bytes(b"previous good version")
    frame = pd.DataFrame({"a": [_FailsToPrint(n) for n in range(10_000)]})
    with pytest.raises(RuntimeError, match="half-way"):
        frame.to_csv("xfer://partner/failed-to-csv/pd.csv", index=False)
    assert [p.name for p in folder.iterdir()] == ["pd.csv"]
    assert (folder / "pd.csv").read_bytes() == b"previous good version"
