"""The small-files benchmark as part of the suite (issue 14): printed ratios, no timed assertion.

Each protocol's anchor (curl on one connection, ``lftp mirror [-R] --parallel=4``, ``rclone copy
--transfers 4``), ``xfer put -r -P 4`` and ``xfer sync -P 4`` upload the same 100 files to the
session's bed, then download them (``get -r -P 4``, ``sync``; the anchor also followed by ``sync -f``, as xfer
fsyncs); the bench itself checks every file arrived whole.  The ratios
are recorded as user properties and printed in the terminal summary ("bench" section): numbers
to read, not bounds that would flake on a busy machine.  ``python -m bench.bench_small_files
--files 1000`` is the full-size run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench import bench_small_files
from integration.bed import Bed

pytestmark = pytest.mark.integration

FILES = 100


@pytest.mark.parametrize("protocol", sorted(bench_small_files.SERVERS))
def test_small_files_bench_prints_the_ratio(
    protocol: str, bed: Bed, record_property: Callable[[str, object], None]
) -> None:
    args = bench_small_files.parser().parse_args(["--files", str(FILES), "--bed-dir", str(bed.run_dir)])
    samples = bench_small_files.run(args, protocol)
    assert set(samples) == {"put", "get"}
    for direction, clients in samples.items():
        # The anchor, put/get -r, sync; a download also the anchor followed by sync -f (xfer fsyncs).
        assert len(clients) == {"put": 3, "get": 4}[direction] and {"xfer-cli", "xfer-sync"} <= set(clients)
        if direction == "get":
            assert [n for n in clients if n.endswith("+sync")] == [next(iter(clients)) + "+sync"]
        assert all(len(runs) == 1 and runs[0].wall > 0 for runs in clients.values())
        record_property("bench", bench_small_files.row(protocol, direction, clients, FILES))
