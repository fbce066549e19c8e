"""Step 7: our clock against the server's ``Date`` header (explains "expired"/"not yet valid" surprises)."""

from __future__ import annotations

from ..numbers import server_http_date
from .certs import utc_now
from .handshake import Probe
from .report import SKIP, Step

__all__ = ["MAX_SKEW", "clock_step"]

#: Seconds of difference worth a warning: certificate checks are to the second.
MAX_SKEW = 300


def clock_step(found: Probe) -> Step:
    step = Step("clock", "Clock skew against the server")
    date = found.exchange.headers.get("Date") if found.exchange else None
    if not date:
        step.status = SKIP
        step.lines.append("the server sent no Date (FTP has none): not checked")
        step.facts = {"server_date": None, "skew_seconds": None}
        return step
    server_time = server_http_date(date)
    if server_time is None:
        step.status = SKIP
        step.lines.append(f"unreadable Date header {date!r}")
        step.facts = {"server_date": date, "skew_seconds": None}
        return step
    skew = round((utc_now() - server_time).total_seconds())
    step.facts = {"server_date": server_time.isoformat(), "skew_seconds": skew}
    step.lines.append(f"server time {server_time:%Y-%m-%d %H:%M:%S} UTC; our clock is "
                      f"{abs(skew)} s {'ahead' if skew >= 0 else 'behind'}")
    if abs(skew) > MAX_SKEW:
        step.verdicts.append(f"the clocks differ by {abs(skew)} s: certificates may look expired or not yet "
                             "valid to one side; fix the clock (NTP)")
    return step
