"""Numbers in what servers send (:mod:`xfer.numbers`): text ``str.isdigit()`` accepts and ``int()``
refuses must read as "not a number", never as a ValueError out of a transfer."""

from __future__ import annotations

import pytest

from xfer.adapters._dav_xml import status_code
from xfer.adapters.ftps.listing import parse_mlsd_line
from xfer.adapters.ftps.replies import reply_code
from xfer.http_errors import declared_length, retry_after
from xfer.numbers import server_int

#: str.isdigit() holds for each, and int() refuses each.
NOT_NUMBERS = ["\u00b2", "1\u00b9", "\u00b3" * 3, "1" * 4400]


@pytest.mark.parametrize(("text", "number"), [
    ("0", 0), ("42", 42), (" 7\t", 7), ("9" * 19, 10**19 - 1),
    ("", None), (None, None), ("-1", None), ("+1", None), ("1_000", None), ("0x10", None), ("1 2", None),
    ("3, 3", None), ("1" * 20, None), *[(text, None) for text in NOT_NUMBERS],
], ids=lambda value: repr(value)[:12])
def test_a_server_number_is_ascii_digits_only(text: str | None, number: int | None) -> None:
    assert server_int(text) == number


@pytest.mark.parametrize("text", NOT_NUMBERS, ids=["sup2", "1-sup1", "sup3x3", "4400-digits"])
def test_no_parser_of_server_text_raises_on_digits_int_refuses(text: str) -> None:
    assert declared_length(text) is None
    assert retry_after(text) is None
    assert status_code(f"HTTP/1.1 {text} OK") is None
    assert reply_code(f"{text} transfer complete") == (text[:3] if text[:3].isascii() else "")
    entry = parse_mlsd_line(f"type=file;size={text}; report.csv", "/in")
    assert entry is not None and entry.size is None
