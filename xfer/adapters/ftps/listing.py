"""Reading what FTP servers say about files: MLSD/MLST facts, LIST lines, MDTM stamps.

A listing is read line by line as it arrives, up to ``max_listing`` bytes
(:func:`listing_lines`): a server cannot make xfer hold an endless listing.

MLSD/MLST (RFC 3659) are machine-readable and preferred.  LIST output is whatever
``ls -l`` (Unix) or IIS (Windows "DOS" style) prints; vsftpd 3.0.3 offers only
that, so both common layouts are parsed here.  A line that matches neither is
skipped rather than guessed at: a wrong size is worse than a missing entry.

Names come from the server and are not trusted: an entry whose name can never be
one component of a server path (empty, ``.``, ``..``, or containing ``/``, NUL or a
line break) is dropped, so no listing can send a recursive delete or download
outside the folder it lists, or into endless recursion.  Such an entry is skipped
rather than failing the whole listing: an honest server never sends one, and the
rest of the folder stays usable.

A backslash is *not* dropped: on a POSIX server ``Q3\\report.csv`` is a legal name,
and the FTP path separator is ``/`` only.  Whether a name is safe to write on the
local file system (where ``\\`` separates folders on Windows) is the client's
decision, made where the local path is built, not here.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Iterator

from ...errors import listing_too_large
from ...numbers import server_int
from ..base import Entry, EntryType
from .connection import DataReader

__all__ = ["is_safe_name", "listing_lines", "parse_list_line", "parse_mdtm", "parse_mlsd_line", "parse_mlst_line"]

#: Bytes read from a listing's data connection at a time.
LISTING_READ = 64 * 1024

_MLSX_TYPES: dict[str, EntryType] = {"file": "file", "dir": "directory"}

_UNIX_LINE = re.compile(
    r"""^(?P<mode>[bcdlps-][-rwxsStTl]{9})[+@.]?\s+
        \d+\s+                       # link count
        (?:\S+\s+){1,2}?             # owner and group (group missing on some servers)
        (?P<size>\d+)\s+
        (?P<month>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+(?P<time>\d{1,2}:\d{2}|\d{4})\s
        (?P<name>.+)$""",
    re.VERBOSE | re.ASCII,  # (\d: ASCII digits only, as a server's numbers are)
)

_WINDOWS_LINE = re.compile(
    r"""^(?P<date>\d{2}-\d{2}-\d{2,4})\s+(?P<time>\d{1,2}:\d{2}\s*[AaPp][Mm]|\d{1,2}:\d{2})\s+
        (?:(?P<dir><DIR>)|(?P<size>\d+))\s+(?P<name>.+)$""",
    re.VERBOSE | re.ASCII,
)

#: Characters that make a name more than one server path component, or break an FTP
#: command line.  (Not ``\\``: see the module docstring.)
_UNSAFE_CHARACTERS = frozenset("/\x00\r\n")

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
)}


def listing_lines(reader: DataReader, *, encoding: str, limit: int, server: str, folder: str) -> Iterator[str]:
    """The lines of a listing as they arrive, ``\r\n`` or ``\n`` ended; at most ``limit`` bytes.

    Beyond ``limit`` (the ``max_listing`` setting) it raises :class:`ListingTooLarge`,
    naming ``server`` and ``folder``.
    """
    buffer = bytearray(LISTING_READ)
    view = memoryview(buffer)
    pending = bytearray()
    while count := reader.read_into(view):
        if reader.received > limit:
            raise listing_too_large(server, folder, limit)
        pending += view[:count]
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            yield pending[start:end].decode(encoding, "surrogateescape").rstrip("\r")
            start = end + 1
        del pending[:start]
    if pending:
        yield pending.decode(encoding, "surrogateescape").rstrip("\r")


def _mlsx_time(value: str) -> dt.datetime | None:
    """RFC 3659 time-val: YYYYMMDDHHMMSS[.sss], always UTC."""
    try:
        stamp = dt.datetime.strptime(value[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.timezone.utc)


def parse_mdtm(reply: str) -> dt.datetime | None:
    """The time in an MDTM reply (``213 YYYYMMDDHHMMSS``), or None if unreadable."""
    parts = reply.split()
    return _mlsx_time(parts[-1]) if parts else None


def is_safe_name(name: str) -> bool:
    """True if ``name`` is one plain server path component a listing may return.

    Says nothing about the local file system: ``a\\b`` is one name here.
    """
    return name not in ("", ".", "..") and _UNSAFE_CHARACTERS.isdisjoint(name)


def parse_mlsd_line(line: str, folder: str) -> Entry | None:
    """One MLSD line: an entry of ``folder``, or None (``.``/``..``, unreadable, unsafe name)."""
    facts, name = _split_mlsx(line)
    if facts is None or not is_safe_name(name):
        return None
    return _mlsx_entry(facts, name, posixpath.join(folder, name))


def parse_mlst_line(line: str, path: str) -> Entry | None:
    """The fact line of an MLST reply about ``path``, or None if unreadable.

    The server echoes a path after the facts; it is ignored, so the entry always
    describes ``path``, the one we asked about.
    """
    facts, _echoed = _split_mlsx(line)
    if facts is None:
        return None
    return _mlsx_entry(facts, posixpath.basename(path.rstrip("/")) or "/", path)


def _split_mlsx(line: str) -> tuple[dict[str, str] | None, str]:
    """``facts; name`` -> (facts, name); facts is None for an unreadable line or ``cdir``/``pdir``."""
    facts_part, sep, name = line.lstrip(" ").partition(" ")
    if not sep or not name:
        return None, ""
    facts: dict[str, str] = {}
    for fact in facts_part.split(";"):
        key, eq, value = fact.partition("=")
        if eq:
            facts[key.lower()] = value
    if facts.get("type", "").lower() in ("cdir", "pdir"):
        return None, name
    return facts, name


def _mlsx_entry(facts: dict[str, str], name: str, path: str) -> Entry:
    kind = facts.get("type", "").lower()
    entry_type: EntryType
    if kind.startswith("os.unix=slink") or kind.startswith("os.unix=symlink"):
        entry_type = "link"
    else:
        entry_type = _MLSX_TYPES.get(kind, "other")
    size_fact = facts.get("size") or facts.get("sizd")
    size = server_int(size_fact)
    extra: dict[str, str] = {k: facts[k] for k in ("perm", "unique", "unix.mode") if k in facts}
    return Entry(
        name=name,
        path=path,
        type=entry_type,
        size=size if entry_type != "directory" else None,
        modified=_mlsx_time(facts["modify"]) if "modify" in facts else None,
        extra=extra,
    )


def parse_list_line(line: str, folder: str, *, now: dt.datetime | None = None) -> Entry | None:
    """One LIST line in Unix ``ls -l`` or Windows/IIS layout; None if neither, or the name is unsafe."""
    line = line.rstrip("\r\n")
    match = _UNIX_LINE.match(line)
    if match:
        return _unix_entry(match, folder, now or dt.datetime.now(dt.timezone.utc))
    match = _WINDOWS_LINE.match(line)
    if match:
        return _windows_entry(match, folder)
    return None


def _unix_entry(match: re.Match[str], folder: str, now: dt.datetime) -> Entry | None:
    mode = match["mode"]
    name = match["name"]
    entry_type: EntryType
    target = None
    if mode[0] == "d":
        entry_type = "directory"
    elif mode[0] == "-":
        entry_type = "file"
    elif mode[0] == "l":
        entry_type = "link"
        name, _, target = name.partition(" -> ")
    else:
        entry_type = "other"
    if not is_safe_name(name):
        return None
    month = _MONTHS.get(match["month"].lower())
    modified = None
    precision = 0.0
    if month:
        try:
            if ":" in match["time"]:
                # "Jan  1 12:00" means within the last six months: pick the year that makes it so.
                hour, minute = (int(p) for p in match["time"].split(":"))
                modified = dt.datetime(now.year, month, int(match["day"]), hour, minute,
                                       tzinfo=dt.timezone.utc)
                if modified > now + dt.timedelta(days=1):
                    modified = modified.replace(year=now.year - 1)
                precision = 60.0
            else:
                modified = dt.datetime(int(match["time"]), month, int(match["day"]),
                                       tzinfo=dt.timezone.utc)
                precision = 86400.0
        except ValueError:
            modified = None
    return Entry(
        name=name,
        path=posixpath.join(folder, name),
        type=entry_type,
        size=server_int(match["size"]) if entry_type == "file" else None,
        modified=modified,
        extra={"unix.mode": mode, **({"target": target} if target else {})},
        modified_precision=precision if modified else 0.0,
        modified_zone_known=False,  # ls prints the server's local time, in a zone it does not name
    )


def _windows_entry(match: re.Match[str], folder: str) -> Entry | None:
    name = match["name"]
    if not is_safe_name(name):
        return None
    modified = None
    stamp = f"{match['date']} {match['time'].replace(' ', '').upper()}"
    for layout in ("%m-%d-%y %I:%M%p", "%m-%d-%Y %I:%M%p", "%m-%d-%y %H:%M", "%m-%d-%Y %H:%M"):
        try:
            # IIS prints server-local time without a zone; UTC is the least wrong guess.
            modified = dt.datetime.strptime(stamp, layout).replace(tzinfo=dt.timezone.utc)
            break
        except ValueError:
            continue
    is_dir = match["dir"] is not None
    return Entry(
        name=name,
        path=posixpath.join(folder, name),
        type="directory" if is_dir else "file",
        size=None if is_dir else server_int(match["size"]),
        modified=modified,
        modified_precision=60.0 if modified else 0.0,
        modified_zone_known=False,
    )
