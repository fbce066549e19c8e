"""``--limit-rate``: one token bucket shared by every transfer of a run.

The bucket lives in :class:`~xfer.adapters.base.ConnectionSettings`, which the parallel
connections of one run share (the batch opens more adapters from the same settings), so
four parallel uploads at ``--limit-rate 4M`` move 4 MB/s together, not 16.  The chunk
loops of :class:`~xfer.transfer.FileBody` and :class:`~xfer.transfer.AtomicDownload`
call :meth:`TokenBucket.take` once per block, before it is sent or after it arrived.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from .errors import UsageError

__all__ = ["TokenBucket", "parse_rate"]

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_rate(text: str | int | float) -> int:
    """Bytes per second from ``10M``, ``512K``, ``1.5M``, ``2G`` or a plain number (binary units, as curl's).

    A :class:`UsageError` for anything else, or for a rate below 1 KiB/s (a typo, not a plan).
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if match is None:
        raise UsageError(
            f"limit_rate {text!r} is not a rate",
            hint="give bytes per second with an optional K, M or G suffix, e.g. --limit-rate 10M",
        )
    rate = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if rate < 1024:
        raise UsageError(
            f"limit_rate {text!r} is below 1K (bytes per second)",
            hint="give bytes per second with an optional K, M or G suffix, e.g. --limit-rate 10M",
        )
    return rate


class TokenBucket:
    """A thread-safe token bucket: ``rate`` bytes per second, bursts up to ``burst`` bytes.

    :meth:`take` debits the bytes at once and sleeps (outside the lock) until the debt is
    paid: the total over time is the rate whatever the block size, and a block larger
    than the burst still passes (it just waits longer).  ``clock`` and ``sleep`` are
    injectable for tests.
    """

    def __init__(
        self,
        rate: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A quarter second of tokens: smooth enough for a progress bar, few sleeps per second.
        self.burst = burst if burst is not None else max(rate // 4, 64 * 1024)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Empty at the start: a transfer of N bytes then takes N / rate, not less by a free burst.
        self._tokens = 0.0
        self._stamp = clock()

    def take(self, count: int) -> float:
        """Account for ``count`` bytes; wait as long as the rate demands.  Returns the wait (seconds)."""
        if count <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= count
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
