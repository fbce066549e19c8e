"""Numbers in what servers send: lengths, sizes, status and reply codes, seconds, HTTP dates.

``str.isdigit()`` is not the test for text ``int()`` takes: it holds for "²" and other digits
``int()`` refuses (a ValueError out of a transfer), and ``int()`` refuses more than 4,300
digits.  A server's text is input, not truth: anything else is "not a number" (None), and the
caller says what that means.
"""

from __future__ import annotations

import datetime as dt
import email.utils

__all__ = ["server_http_date", "server_int", "server_status"]


def server_int(text: str | None, *, digits: int = 19) -> int | None:
    """``text`` (surrounding blanks ignored) as a non-negative number if it is 1 to ``digits``
    ASCII digits, else None.  19 digits hold any length a file or a transfer can have."""
    if text is None:
        return None
    text = text.strip()
    if not (0 < len(text) <= digits and text.isascii() and text.isdigit()):
        return None
    return int(text)


def server_status(text: str | None) -> int | None:
    """An HTTP status or FTP reply code: exactly three ASCII digits (``"200"``), else None.
    ("20" is no status, and must not pass for a 2xx.)"""
    if text is None or len(text) != 3 or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def server_http_date(text: str | None) -> dt.datetime | None:
    """An HTTP date (``Last-Modified``, ``Date``, a JSON index's ``mtime``) as an aware UTC time;
    None if there is none or it is not one.

    Every HTTP date is GMT (RFC 9110 5.6.7), the asctime form (``Fri Jan 12 10:00:00 2024``) too,
    which names no zone, and which ``parsedate_to_datetime`` (like ``-0000``) returns naive: compared
    with the same time from elsewhere it read as another (review Q: ``--remove-source-files`` kept a
    file "changed on the server"), ``.timestamp()`` shifted it by the local offset, and subtracting it
    from an aware time raised (doctor's clock step).
    """
    try:
        parsed = email.utils.parsedate_to_datetime(text) if text else None
        if parsed is None:
            return None
        return parsed.astimezone(dt.timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a zone of +99999999999999999999
        return None
