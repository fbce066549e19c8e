"""Targets: ``NAME:/path`` (a saved profile) or ``scheme://host[:port]/path`` (a URL).

A Windows path such as ``C:\\data`` or ``C:/data`` is a local path, not profile
``C``: profile names are at least two characters long for exactly that reason.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from . import registry
from .errors import InsecureSchemeRefused, UsageError

__all__ = [
    "PROFILE_NAME", "Endpoint", "Target", "check_remote_path", "is_remote", "is_utf8", "parse_target", "parse_url",
]

#: Profile names: letters, digits, dot, dash, underscore; 2-64 chars, starting with a letter/digit.
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PROFILE_TARGET = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{1,63}):(?P<path>.*)$")


@dataclass(frozen=True)
class Endpoint:
    """A parsed server URL."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"


@dataclass(frozen=True)
class Target:
    """Where a command points: a profile plus a path, or a URL (whose path is the path)."""

    path: str
    profile: str | None = None
    endpoint: Endpoint | None = None

    def __str__(self) -> str:
        if self.profile:
            return f"{self.profile}:{self.path}"
        assert self.endpoint
        return self.endpoint.url

    @property
    def origin(self) -> str:
        """What identifies the server: the profile name, or scheme://host:port."""
        if self.profile:
            return f"{self.profile}:"
        assert self.endpoint
        return self.endpoint.url.removesuffix(self.endpoint.path)


def is_remote(text: str) -> bool:
    """True if ``text`` names a remote target rather than a local path."""
    return bool(_URL.match(text) or _PROFILE_TARGET.match(text))


def parse_url(text: str) -> Endpoint:
    """Parse ``scheme://[user@]host[:port]/path``; refuses clear-text and unknown schemes."""
    try:
        parts = urllib.parse.urlsplit(text)
        password, host = parts.password, parts.hostname
    except ValueError as exc:  # "https://[::1": urllib's own words, never the text (it may hold a password)
        # Words that quote the URL (its NFKC check names the whole "user:password@host") are not
        # repeated either (security review, session 26).
        said = str(exc)
        reason = ("its host part holds characters that Unicode normalization (NFKC) changes" if "NFKC" in said
                  else "its host part cannot be read" if "'" in said or '"' in said else said)
        raise UsageError(f"not a valid URL: {reason}", hint="e.g. ftpes://host/path or https://[::1]:8443/") from None
    scheme = parts.scheme.lower()
    # First, and never echo `text` in any message: it may carry a password.
    if password is not None:
        raise UsageError(
            "a password inside the URL is refused (it would end up in history and logs)",
            hint="use --password env:VAR, file:PATH, keyring or prompt",
        )
    insecure = registry.clear_text_schemes()
    if scheme in insecure:
        raise InsecureSchemeRefused(
            f"{scheme}:// sends data and passwords in clear text; xfer never does that",
            hint=f"use {insecure[scheme]}://",
        )
    if scheme not in registry.url_schemes():  # a profile-only scheme (as2) is no URL scheme either
        raise UsageError(
            f"unsupported scheme {scheme + '://' if scheme else '(none)'}",
            hint=f"use {registry.supported_text()}",
        )
    if not host:
        raise UsageError(f"the {scheme}:// URL has no host")
    try:
        port = parts.port or registry.default_port(scheme)
    except ValueError:
        raise UsageError(f"the {scheme}:// URL for {host} has an invalid port") from None
    path = urllib.parse.unquote(parts.path) or "/"
    return Endpoint(scheme=scheme, host=host, port=port, path=path)


def url_username(text: str) -> str | None:
    """The ``user@`` part of a URL, if any."""
    name = urllib.parse.urlsplit(text).username
    return urllib.parse.unquote(name) if name else None


def check_remote_path(path: str, *, shown: str | None = None) -> str:
    """``path`` if it is a usable remote path; a :class:`UsageError` for a backslash in it.

    Remote paths are separated by ``/`` on every protocol xfer speaks.  A Windows habit
    (``partner:\\in\\``) would otherwise create a file literally named ``\\in\\`` on an FTPS
    server while HTTPS sends ``%5C``: refused the same way everywhere, with the path to write.
    ``shown`` is how the user typed it (the whole target), for the message.
    """
    if "\\" in path:
        typed = shown or path
        # In a URL the backslash may have been typed as %5C: suggest '/' for that too.
        suggestion = re.sub(r"%5[cC]", "/", typed.replace("\\", "/"))
        raise UsageError(
            f"{typed}: remote paths are separated by '/', not by a backslash",
            hint=f"write {suggestion}",
        )
    return path


def check_named_path(path: str, *, shown: str | None = None) -> str:
    """``path`` (typed on the command line) if no part of it is ``.`` or ``..``; else UsageError.

    Resolved, they named another folder than the one written: ``rm -r NAME:/in/nothere/..``
    removed ``/in`` (POSIX's rm refuses ``.`` and ``..``, and a folder that is not there is not
    gone through), ``get -r NAME:/in/sub/..`` wrote into the local folder's parent (review T,
    session 26).  The library's verbs still resolve them, as fsspec's filesystems do."""
    if any(part in (".", "..") for part in path.split("/")):
        raise UsageError(f"{shown or path}: name the remote file or folder itself, without '.' or '..' in its path",
                         hint="write the path they stand for")
    return path


def quote_path(path: str) -> str:
    """``path`` percent-encoded for a URL (``/`` kept); one that is not UTF-8 is a usage error.

    A remote path typed with such bytes, or a local folder's name carried into it (``put -r``
    of a folder whose own name is not UTF-8), reached ``quote`` and ended as "unexpected
    internal error (UnicodeEncodeError)" (review O, finding 9)."""
    try:
        return urllib.parse.quote(path, safe="/")
    except UnicodeEncodeError:
        raise UsageError(f"{path}: the name is not UTF-8 and cannot be put in a URL",
                         hint="rename it, or move it over FTPS or SFTP (they send a name's bytes)") from None


def is_utf8(name: str) -> bool:
    """Whether ``name`` was UTF-8 where it was read: a file name of another encoding holds lone
    surrogates (Python's ``surrogateescape``), which FTP and SFTP send back as the bytes they
    were, but which no URL can carry (HTTPS, WebDAV)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_target(text: str) -> Target:
    """``NAME:/path`` or a URL.  Raises UsageError for anything else, and for a backslash in the path."""
    if _URL.match(text):
        endpoint = parse_url(text)
        check_named_path(check_remote_path(endpoint.path, shown=text), shown=text)
        return Target(path=endpoint.path, endpoint=endpoint)
    match = _PROFILE_TARGET.match(text)
    if match:
        path = check_named_path(check_remote_path(match.group("path"), shown=text), shown=text) or "/"
        return Target(path=path if path.startswith("/") else "/" + path, profile=match.group("name"))
    raise UsageError(
        f"{text!r} is not a remote target",
        hint="use PROFILE:/path or a URL such as ftpes://host/path",
    )
