"""Times a listing prints in the server's local zone without naming it, and what one exact time
of the same file reveals about that zone.

FTP ``LIST`` (``ls -l``, IIS) and HTML index pages (Apache's, nginx's with
``autoindex_localtime on``) print wall-clock times.  One file's exact time from another source
(FTP ``MDTM``, RFC 3659: UTC; an HTTP ``Last-Modified``: GMT) against its printed time gives
the offset, to the quarter hour (zones are whole quarter hours from UTC; the printed time is cut
to the minute).  One offset stands for every file, so it is only good to an hour: a server that
prints each file at its zone's offset on that file's date (summer time) is an hour off for the
files on the other side of the change (:data:`SUMMER_TIME`).
"""

from __future__ import annotations

import datetime as dt

__all__ = ["MAX_OFFSET", "SUMMER_TIME", "ZONE_STEP", "offset_between"]

#: Zones are whole quarter hours from UTC.
ZONE_STEP = dt.timedelta(minutes=15)
#: Local times run from UTC-12 to UTC+14; beyond that a difference is no zone (a file changed
#: between the two looks, an "exact" time that was local too).
MAX_OFFSET = dt.timedelta(hours=15)
#: Seconds a time read in one learned offset may be off either way: a summer-time shift.
SUMMER_TIME = 3600.0


def offset_between(printed: dt.datetime, exact: dt.datetime) -> dt.timedelta | None:
    """The zone offset (local minus UTC) that printed ``exact`` as ``printed`` (a wall-clock time,
    naive, cut to the minute), to the quarter hour; None if no zone can have."""
    difference = printed.replace(tzinfo=None) - exact.astimezone(dt.timezone.utc).replace(tzinfo=None)
    offset = ZONE_STEP * round(difference / ZONE_STEP)
    return offset if abs(offset) <= MAX_OFFSET else None
