"""Numbers in what servers send: lengths, sizes, status and reply codes, seconds.

``str.isdigit()`` is not the test for text ``int()`` takes: it holds for "²" and other digits
``int()`` refuses (a ValueError out of a transfer), and ``int()`` refuses more than 4,300
digits.  A server's text is input, not truth: anything else is "not a number" (None), and the
caller says what that means.
"""

from __future__ import annotations

__all__ = ["server_int", "server_status"]


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
