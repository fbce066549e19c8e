"""A 1 GiB pipe through ``xfer put -`` and ``xfer get … -`` in flat memory (issue 16: < 100 MB RSS).

A generator process writes 1 GiB into the pipe; the peak RSS of the xfer process is its own
``ru_maxrss`` from ``wait4`` (not the test process's, not the generator's).  The servers run in
this process.  Slow (1 GiB each way per protocol): marked ``slow``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_streams import use_profile, xfer
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

GIB = 1 << 30
LIMIT = 100 * 1000 * 1000  # bytes: "< 100 MB RSS"

#: Writes 1 GiB (one 1 MiB block, counter-stamped so no two blocks are alike) to stdout.
GENERATOR = """
import sys
out = sys.stdout.buffer
block = bytearray(bytes(range(256)) * 4096)
for i in range(1024):
    block[:8] = i.to_bytes(8, "big")
    out.write(block)
"""


def _expected_sha256() -> str:
    digest = hashlib.sha256()
    block = bytearray(bytes(range(256)) * 4096)
    for i in range(1024):
        block[:8] = i.to_bytes(8, "big")
        digest.update(block)
    return digest.hexdigest()


@pytest.fixture(params=["ftpes", "davs", "https"])
def served(request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Endpoint]:
    with serve(request.param, pki, root=tmp_path / "served", name="mem") as endpoint:
        use_profile(endpoint, tmp_path / "profiles", monkeypatch)
        yield endpoint


def _peak_rss(proc: subprocess.Popen[bytes]) -> int:
    """Wait for ``proc``; its own peak resident set size in bytes (Linux reports KiB)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024


@pytest.mark.slow
def test_one_gib_pipe_in_flat_memory(served: Endpoint, tmp_path: Path) -> None:
    expected = _expected_sha256()
    generator = subprocess.Popen([sys.executable, "-c", GENERATOR], stdout=subprocess.PIPE)
    assert generator.stdout is not None
    put = xfer("put", "-", "mem:/big.bin", "--json", stdin=generator.stdout, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
    generator.stdout.close()  # only xfer holds the read end now
    assert put.stdout is not None and put.stderr is not None
    out, err = put.stdout.read(), put.stderr.read()
    put_rss = _peak_rss(put)
    assert generator.wait(60) == 0
    assert put.returncode == 0, err.decode()
    result = json.loads(out)[0]
    assert result["size"] == GIB and result["sha256"] == expected
    assert (served.root / "big.bin").stat().st_size == GIB

    get = xfer("get", "mem:/big.bin", "-", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert get.stdout is not None and get.stderr is not None
    digest, size = hashlib.sha256(), 0
    while block := get.stdout.read(1 << 20):
        digest.update(block)
        size += len(block)
    err = get.stderr.read()
    get_rss = _peak_rss(get)
    assert get.returncode == 0, err.decode()
    assert size == GIB and digest.hexdigest() == expected
    print(f"\n{served.protocol}: peak RSS put - {put_rss / 1e6:.1f} MB, get … - {get_rss / 1e6:.1f} MB")
    assert put_rss < LIMIT, f"put - peaked at {put_rss / 1e6:.1f} MB"
    assert get_rss < LIMIT, f"get … - peaked at {get_rss / 1e6:.1f} MB"
