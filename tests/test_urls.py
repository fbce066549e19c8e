"""Targets and URLs."""

from __future__ import annotations

import pytest

from xfer.errors import InsecureSchemeRefused, UsageError
from xfer.urls import is_remote, parse_target, parse_url


@pytest.mark.parametrize(
    ("url", "scheme", "port", "path"),
    [
        ("https://example.com/files/", "https", 443, "/files/"),
        ("ftps://example.com", "ftps", 990, "/"),
        ("ftpes://example.com:2121/in", "ftpes", 2121, "/in"),
        ("davs://[::1]:8443/dav/a%20b", "davs", 8443, "/dav/a b"),
    ],
)
def test_parse_url(url: str, scheme: str, port: int, path: str) -> None:
    endpoint = parse_url(url)
    assert (endpoint.scheme, endpoint.port, endpoint.path) == (scheme, port, path)


@pytest.mark.parametrize(("url", "secure"), [("ftp://h/", "ftpes"), ("http://h/", "https"), ("dav://h/", "davs")])
def test_clear_text_refused(url: str, secure: str) -> None:
    with pytest.raises(InsecureSchemeRefused) as caught:
        parse_url(url)
    assert caught.value.hint == f"use {secure}://"


def test_password_in_url_refused_without_echo() -> None:
    with pytest.raises(UsageError) as caught:
        parse_url("ftpes://user:hunter2@host/")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("odd", ["\u2105", "\uff0f", "\uff20"])
def test_a_url_that_urllib_refuses_is_not_echoed_either(odd: str) -> None:
    # Security review, session 26: urlsplit's NFKC check quotes "user:password@host" whole, and
    # that text was the message, before the password check could run.
    with pytest.raises(UsageError) as caught:
        parse_url(f"ftpes://bob:Sup3r{odd}Secret@example.com/")
    assert "Sup3r" not in str(caught.value) and "NFKC" in caught.value.message


def test_unknown_scheme() -> None:
    with pytest.raises(UsageError, match="unsupported scheme"):
        parse_url("gopher://h/")


def test_profile_targets() -> None:
    assert parse_target("partner:/inbox/x.edi").profile == "partner"
    assert parse_target("partner:/inbox/x.edi").path == "/inbox/x.edi"
    assert parse_target("partner:").path == "/"
    assert parse_target("partner:relative").path == "/relative"


@pytest.mark.parametrize("text", ["C:\\data\\x.txt", "C:/data", "./x", "/abs/path", "file.txt"])
def test_local_paths_are_not_targets(text: str) -> None:
    assert not is_remote(text)
    with pytest.raises(UsageError):
        parse_target(text)
