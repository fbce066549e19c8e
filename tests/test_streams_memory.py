"""A 1 GiB pipe through ``xfer put -`` and ``xfer get … -`` in flat memory (issue 16: < 100 MB RSS).

A generator process writes 1 GiB into the pipe; the peak RSS of the xfer process is its own
``VmHWM`` (not the test process's, not the generator's; see :class:`_PeakRSS`).  The servers run in
this process.  Slow (1 GiB each way per protocol): marked ``slow``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
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


class _PeakRSS:
    """The peak resident set size of one process, read from ``/proc/PID/status`` (``VmHWM``)
    until it exits.

    Not ``wait4``'s ``ru_maxrss``: Linux carries that over ``execve``, so a child forked from
    this (large) test process would report the test process's size, not its own.  ``VmHWM``
    belongs to the address space the program runs in; it only grows, and the last reading
    before the process ends is its peak (it is read every 20 ms).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                text = status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)
            if "State:\tZ" in text:  # exited, not yet reaped: its memory is gone
                return
            time.sleep(0.02)

    def result(self, proc: subprocess.Popen[bytes]) -> int:
        """Wait for ``proc``; its peak RSS in bytes."""
        proc.wait(300)
        self._thread.join(5)
        assert self.peak > 0, "no reading of the process's memory"
        return self.peak


@pytest.mark.slow
def test_one_gib_pipe_in_flat_memory(served: Endpoint, tmp_path: Path) -> None:
    expected = _expected_sha256()
    generator = subprocess.Popen([sys.executable, "-c", GENERATOR], stdout=subprocess.PIPE)
    assert generator.stdout is not None
    put = xfer("put", "-", "mem:/big.bin", "--json", stdin=generator.stdout, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE)
    put_memory = _PeakRSS(put.pid)
    generator.stdout.close()  # only xfer holds the read end now
    assert put.stdout is not None and put.stderr is not None
    out, err = put.stdout.read(), put.stderr.read()
    put_rss = put_memory.result(put)
    assert generator.wait(60) == 0
    assert put.returncode == 0, err.decode()
    result = json.loads(out)[0]
    assert result["size"] == GIB and result["sha256"] == expected
    assert (served.root / "big.bin").stat().st_size == GIB

    get = xfer("get", "mem:/big.bin", "-", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    get_memory = _PeakRSS(get.pid)
    assert get.stdout is not None and get.stderr is not None
    digest, size = hashlib.sha256(), 0
    while block := get.stdout.read(1 << 20):
        digest.update(block)
        size += len(block)
    err = get.stderr.read()
    get_rss = get_memory.result(get)
    assert get.returncode == 0, err.decode()
    assert size == GIB and digest.hexdigest() == expected
    print(f"\n{served.protocol}: peak RSS put - {put_rss / 1e6:.1f} MB, get … - {get_rss / 1e6:.1f} MB")
    assert put_rss < LIMIT, f"put - peaked at {put_rss / 1e6:.1f} MB"
    assert get_rss < LIMIT, f"get … - peaked at {get_rss / 1e6:.1f} MB"
