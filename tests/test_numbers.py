"""Numbers in what servers send (:mod:`xfer.numbers`): text ``str.isdigit()`` accepts and ``int()``
refuses must read as "not a number", never as a ValueError out of a transfer."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from xfer.adapters._dav_xml import _int as dav_int
from xfer.adapters._dav_xml import status_code
from xfer.adapters.ftps.listing import parse_list_line, parse_mlsd_line
from xfer.adapters.ftps.replies import reply_code
from xfer.adapters.http_transfer import _content_range
from xfer.adapters.https import parse_html_index
from xfer.errors import ProxyRefused
from xfer.http_errors import declared_length, retry_after
from xfer.net import Proxy, connect_tunnel
from xfer.numbers import server_http_date, server_int, server_status

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
    assert dav_int(text) is None  # getcontentlength
    assert retry_after(text) is None
    assert status_code(f"HTTP/1.1 {text} OK") is None
    assert reply_code(f"{text} transfer complete") == {"1" * 4400: "111"}.get(text, "")
    entry = parse_mlsd_line(f"type=file;size={text}; report.csv", "/in")
    assert entry is not None and entry.size is None
    _sizes_in_other_listings_are_no_number(text)


#: Digits int() takes that are not ASCII ("34" in Arabic-Indic): a regex's \d matches them.
OTHER_DIGITS = "\u0663\u0664"


@pytest.mark.parametrize("text", [*NOT_NUMBERS, OTHER_DIGITS],
                         ids=["sup2", "1-sup1", "sup3x3", "4400-digits", "arabic"])
def test_sizes_in_list_lines_ranges_and_html_indexes_are_ascii_digits(text: str) -> None:
    _sizes_in_other_listings_are_no_number(text)


def _sizes_in_other_listings_are_no_number(text: str) -> None:
    """A LIST line's size (Unix and IIS), a Content-Range, an HTML index's trailing size: each is
    no number (no entry, or an entry without size), never a ValueError or a misread digit."""
    for line in (f"-rw-r--r-- 1 user group {text} Jan 01  2020 a.txt", f"01-01-20  10:00AM  {text} a.txt"):
        entry = parse_list_line(line, "/in")
        assert entry is None or entry.size is None, line
    assert _content_range(f"bytes 0-1/{text}") is None  # (a range naming no size is "*")
    assert _content_range(f"bytes {text}-1/10") is None
    entries = parse_html_index(f'<a href="a.txt">a.txt</a>   01-Jan-2020 10:00   {text}\n', folder="/in")
    assert entries is not None and [entry.size for entry in entries] == [None]


@pytest.mark.parametrize(("text", "status", "reply"), [
    ("200", 200, "200"), ("550", 550, "550"), ("20", None, ""), ("2000", None, "200"),  # (a reply's first three)
    ("2\u00b2", None, ""), (" 20", None, ""), ("", None, ""),
])
def test_a_status_is_exactly_three_ascii_digits(text: str, status: int | None, reply: str) -> None:
    assert server_status(text) == status
    assert status_code(f"HTTP/1.1 {text} Whatever") == status
    assert reply_code(f"{text} done") == reply


@pytest.mark.parametrize(("answer", "opens"), [
    (b"HTTP/1.1 200 Connection established\r\n\r\n", True),
    (b"HTTP/1.1 20 OK\r\n\r\n", False),  # "20" starts with "2": it passed for a 2xx before
    (b"HTTP/1.1 \xb200 OK\r\n\r\n", False),
    (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", False),
])
def test_a_proxy_tunnel_opens_on_a_2xx_status_only(answer: bytes, opens: bool) -> None:
    ours, proxy_side = socket.socketpair()
    with ours, proxy_side:
        proxy_side.sendall(answer)
        if opens:
            connect_tunnel(ours, Proxy("http", "127.0.0.1", 3128), "files.example", 443)
        else:
            with pytest.raises(ProxyRefused):
                connect_tunnel(ours, Proxy("http", "127.0.0.1", 3128), "files.example", 443)
        assert proxy_side.recv(4096).startswith(b"CONNECT files.example:443 HTTP/1.1")


@pytest.mark.parametrize("text", ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                  "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 -0000",
                                  "Sun, 06 Nov 1994 10:49:37 +0200"])
def test_every_http_date_form_is_one_aware_utc_time(text: str) -> None:
    """RFC 9110 5.6.7's three forms; each is GMT, the asctime one too though it names no zone."""
    when = server_http_date(text)
    assert when == dt.datetime(1994, 11, 6, 8, 49, 37, tzinfo=dt.timezone.utc) and when.tzinfo == dt.timezone.utc


@pytest.mark.parametrize("text", [None, "", "yesterday", "Sun, 32 Nov 1994 08:49:37 GMT",
                                  "Fri, 12 Jan 2024 10:00:00 +99999999999999999999"])  # (OverflowError)
def test_what_is_no_http_date_is_none(text: str | None) -> None:
    assert server_http_date(text) is None
