"""Run client code in a fresh interpreter and measure that interpreter's own peak memory.

Why not ``os.wait4``'s ``ru_maxrss``: Linux keeps the high-water mark across
``exec``, and the child starts as a copy of the pytest process, so a child of a
140 MB pytest reports at least 140 MB whatever it does.  ``VmHWM`` in
``/proc/self/status``, read by the child at exit, belongs to the new program only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_WRAPPER = """
import atexit, os, runpy, sys

def _report_peak():
    with open("/proc/self/status") as status:
        peak_kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["XFER_TEST_PEAK_FILE"], "w") as out:
        out.write(peak_kb)

atexit.register(_report_peak)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    stdout: str
    stderr: str
    peak_mb: float


def run_child(script: Path, *args: str, timeout: float = 600) -> ChildRun:
    """Run ``script`` with ``args`` in a new interpreter; return its output and peak RSS in MB."""
    peak_file = script.with_suffix(".peak")
    env = {**os.environ, "XFER_TEST_PEAK_FILE": str(peak_file)}
    result = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(script), *args],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )
    peak_kb = int(peak_file.read_text()) if peak_file.exists() else 0
    return ChildRun(result.returncode, result.stdout, result.stderr, peak_kb / 1024)
