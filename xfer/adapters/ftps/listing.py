"""Reading what FTP servers say about files: MLSD/MLST facts, LIST lines, MDTM stamps.

A listing is read line by line as it arrives, up to ``max_listing`` bytes
(:func:`listing_lines`): a server cannot make xfer hold an endless listing.

MLSD/MLST (RFC 3659) are machine-readable and preferred.  LIST output is whatever
``ls -l`` (Unix) or IIS (Windows "DOS" style) prints; vsftpd 3.0.3 offers only
that, so both common layouts are parsed here, with the time layouts ``ls`` prints in
other locales and time styles.  A line whose time cannot be read still gives its entry,
without a time.  A line that is no entry at all is never guessed at (a wrong size is
worse than none) nor skipped (a name sync cannot see looks absent, and ``--delete``
removes its copy): :func:`read_list_line` returns None, and the adapter fails the listing.

A LIST time is the server's wall clock, in a zone the line does not name, and
``Mon DD HH:MM`` leaves out the year.  :class:`Printed` keeps the time as printed;
:class:`ListClock` (what one connection learned from MDTM) turns it into UTC.

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

import contextlib
import datetime as dt
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ...errors import listing_too_large
from ...numbers import server_int
from ...zones import SUMMER_TIME, offset_between
from ..base import Entry, EntryType
from .connection import DataReader

__all__ = [
    "ListClock",
    "ListedLine",
    "Printed",
    "is_safe_name",
    "listing_lines",
    "parse_list_line",
    "parse_mdtm",
    "parse_mlsd_line",
    "parse_mlst_line",
    "read_list_line",
    "read_mlsd_line",
]

#: Bytes read from a listing's data connection at a time.
LISTING_READ = 64 * 1024

_MLSX_TYPES: dict[str, EntryType] = {"file": "file", "dir": "directory"}

#: An ``ls -l`` line: mode, link count, owner and group (group missing on some servers), size (a
#: device's "major, minor"), then the time in one of the layouts servers print, then the name.
#: The time is found by its layout, not its words: a month name in another language still gives
#: the entry (its time unknown) rather than losing it (review D, finding 4).
_UNIX_LINE = re.compile(
    r"""^(?P<mode>[bcdlps-][-rwxsStTlL]{9})[+@.]?\s+
        [0-9]+\s+                          # link count
        (?:\S+\s+){1,2}?                   # owner and group
        (?P<size>[0-9]+|[0-9]+,\s*[0-9]+)\s+
        (?:
            # "Nov 30 11:07", "Nov 30  2025" (C locale); "Mär 30  2025", "déc. 30 11:07", "3月 30 11:07"
            (?P<month>[^\s0-9]{1,10}|[0-9]{1,2}[月월])\s+(?P<day>[0-9]{1,2})\.?\s+
            (?P<time>[0-9]{1,2}:[0-9]{2}|[0-9]{4})
          | # "30. Nov 11:07" (German ls), "30 nov.  2025" (French)
            (?P<day2>[0-9]{1,2})\.?\s+(?P<month2>[^\s0-9]{1,10})\s+(?P<time2>[0-9]{1,2}:[0-9]{2}|[0-9]{4})
          | # "2026-11-30 11:07" (ls --time-style=long-iso), with seconds and zone (full-iso), or
            # the date alone, padded with a space to the width of "11-30 11:07" (--time-style=iso,
            # an old file)
            (?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})
            (?:\s+(?P<clock>[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?P<fraction>\.[0-9]+)?)?)(?:\s+(?P<zone>[+-][0-9]{4}))?|\x20)
          | # "11-30 11:07" (--time-style=iso, a recent file)
            (?P<monthday>[0-9]{2}-[0-9]{2})\s+(?P<time3>[0-9]{2}:[0-9]{2})
        )\s
        (?P<name>.+)$""",
    re.VERBOSE,
)

#: IIS ("DOS" style): ``11-30-26  11:07AM       <DIR>          name``.  The date is taken in any
#: digit layout and read where it can be; one that cannot be read keeps the entry, time unknown.
_WINDOWS_LINE = re.compile(
    r"""^(?P<date>[0-9]{1,4}[-./][0-9]{1,2}[-./][0-9]{1,4})\s+
        (?P<time>[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?\s*(?:[AaPp][Mm])?)\s+
        (?:(?P<dir><DIR>)|(?P<size>[0-9]+))\s+(?P<name>.+)$""",
    re.VERBOSE,
)

#: Lines of a LIST that are no entry: ``ls -l``'s "total 12" (in the server's language:
#: "insgesamt 12"), and blank lines.
_NOT_AN_ENTRY = re.compile(r"^(?:[^\s0-9]+\s+[0-9]+[KMGT]?)?\s*$")

#: Characters that make a name more than one server path component, or break an FTP
#: command line.  (Not ``\\``: see the module docstring.)
_UNSAFE_CHARACTERS = frozenset("/\x00\r\n")

#: Month abbreviations as ``ls`` prints them in English, German, French, Spanish, Italian, Dutch,
#: Portuguese and Swedish (lower case, without a trailing dot).  A word that names different
#: months in two of these languages would be left out (none does today; Polish and Czech "lis"
#: vs Croatian "lis" is why those are not here): an unknown month gives no time, a wrong one a
#: wrong time.
_MONTH_WORDS: tuple[tuple[str, ...], ...] = (
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),  # English
    ("jan", "feb", "mär", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez"),  # German
    ("jan", "feb", "mrz", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez"),  # German (older)
    ("janv", "févr", "mars", "avr", "mai", "juin", "juil", "août", "sept", "oct", "nov", "déc"),  # French
    ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),  # Spanish
    ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"),  # Spanish (glibc)
    ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"),  # Italian
    ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),  # Dutch
    ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"),  # Portuguese
    ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),  # Swedish
)


def _month_table(languages: tuple[tuple[str, ...], ...]) -> dict[str, int]:
    table: dict[str, int] = {}
    ambiguous: set[str] = set()
    for words in languages:
        for number, word in enumerate(words, start=1):
            if table.setdefault(word, number) != number:
                ambiguous.add(word)
    return {word: number for word, number in table.items() if word not in ambiguous}


_MONTHS = _month_table(_MONTH_WORDS)


def _month(word: str) -> int | None:
    """The month a listing's month word names (any case, a trailing dot, ``3月``), or None."""
    word = word.casefold().rstrip(".")
    if word[-1:] in ("月", "월") and word[:-1].isdigit():
        number = int(word[:-1])
        return number if 1 <= number <= 12 else None
    return _MONTHS.get(word)


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
            yield _line(pending[start:end], encoding)
            start = end + 1
        del pending[:start]
    if pending:
        yield _line(pending, encoding)


def _line(raw: bytes | bytearray, encoding: str) -> str:
    """One listing line without its ending's CR: only that one.  ``rstrip`` took every CR, and
    the name ``Icon\r`` (macOS) was listed as ``Icon``, another file (review L, finding 15)."""
    return raw.removesuffix(b"\r").decode(encoding, "surrogateescape")


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


def read_mlsd_line(line: str, folder: str) -> ListedLine | None:
    """One MLSD line: its entry in ``folder`` (None for ``.``/``..``, ``cdir``/``pdir`` and unsafe
    names), or None for a line that is no entry, which the caller must not pass over (as LIST's:
    :func:`read_list_line`).  ``" name"`` is an entry with no facts (RFC 3659: ``[facts] SP name``)."""
    split = _split_mlsx(line, listing=True)
    if split is None:
        return None
    facts, name = split
    if facts.get("type", "").lower() in ("cdir", "pdir") or not is_safe_name(name):
        return ListedLine(None)
    return ListedLine(_mlsx_entry(facts, name, posixpath.join(folder, name)))


def parse_mlsd_line(line: str, folder: str) -> Entry | None:
    """One MLSD line: an entry of ``folder``, or None (``.``/``..``, unreadable, unsafe name)."""
    listed = read_mlsd_line(line, folder)
    return listed.entry if listed is not None else None


def parse_mlst_line(line: str, path: str) -> Entry | None:
    """The fact line of an MLST reply about ``path``, or None if unreadable.

    The server echoes a path after the facts; it is ignored, so the entry always
    describes ``path``, the one we asked about.  ``cdir`` (some servers' word for the folder
    asked about) is a folder.
    """
    split = _split_mlsx(line)
    if split is None or not split[0]:
        return None
    facts = split[0]
    if facts.get("type", "").lower() in ("cdir", "pdir"):
        facts = {**facts, "type": "dir"}
    return _mlsx_entry(facts, posixpath.basename(path.rstrip("/")) or "/", path)


def _split_mlsx(line: str, *, listing: bool = False) -> tuple[dict[str, str], str] | None:
    """``facts SP name`` -> (facts, name); None for a line that is neither that nor ``SP name``.

    RFC 3659: each fact is ``name=value;``, and the fact set may be empty (``" name"``).  Some
    servers indent their facts with a space too, so a leading space is read as "no facts" only
    when what follows is no fact set.  A first word with no ``=`` is no fact set: ``"my file"``
    was read as the facts "my" of a file called "file" (review L, finding 14).

    ``listing``: an MLSD line, where after the leading space a first word with ``=`` but no
    closing ``;`` is part of a fact-less name (``" a=b c.txt"``: review N, finding 9).  Not on
    MLST's fact line, which always starts with a space and whose facts some servers leave
    without the last ``;``: it was read as "no facts" (review O, finding 3).
    """
    facts_part, sep, name = line.lstrip(" ").partition(" ")
    unterminated = listing and line.startswith(" ") and not facts_part.endswith(";")
    if not sep or not name or "=" not in facts_part or unterminated:
        if line.startswith(" ") and line[1:]:
            return {}, line[1:]  # no facts at all
        return None
    facts: dict[str, str] = {}
    for fact in facts_part.split(";"):
        key, eq, value = fact.partition("=")
        if eq:
            facts[key.lower()] = value
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


@dataclass(frozen=True)
class Printed:
    """A LIST time as the server printed it: its wall clock, in a zone it rarely names.

    ``year`` None: ``Mon DD HH:MM``, which ``ls`` prints for a time within the last half year
    of the server's clock (the year is for :meth:`ListClock.time_of` to choose).  ``precision``:
    how coarse the printed time is (60: minutes, 86,400: a date only, 1: seconds, 0: finer).
    ``zone``: the offset the line itself names (``ls --full-iso``), else None.
    """

    year: int | None
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0
    precision: float = 60.0
    zone: dt.timezone | None = None

    def wall(self, year: int) -> dt.datetime:
        """This wall-clock time in ``year`` (naive); ValueError for a day the year lacks (29 Feb)."""
        return dt.datetime(year, self.month, self.day, self.hour, self.minute, self.second)


@dataclass(frozen=True)
class ListedLine:
    """One LIST line read: its entry (None for a line that lists nothing xfer may show: ``.``,
    ``..``, an unsafe name, "total 12"), and its time as printed (None: no time, or unreadable).
    The entry's ``modified`` is unset until :meth:`ListClock.resolve` gives it a zone and a year."""

    entry: Entry | None
    printed: Printed | None = None


@dataclass(frozen=True)
class ListClock:
    """What one connection learned about the clock its LIST lines are printed in.

    ``offset``: the server's local time minus UTC (None: not known, and times are read as UTC,
    ``modified_zone_known=False``).  ``server_now``: a time the server's clock has certainly
    reached (None: take ours), for the year of a ``Mon DD HH:MM`` line.  One per connection:
    a reconnection may land on another machine behind the same name, set up another way.
    """

    offset: dt.timedelta | None = None
    server_now: dt.datetime | None = None

    @classmethod
    def calibrated(cls, printed: Printed, mdtm: dt.datetime) -> ListClock:
        """The clock that printed ``printed`` for a file whose MDTM (RFC 3659: UTC) is ``mdtm``.

        LIST truncates to the minute what MDTM gives to the second, so the difference is the
        offset less under a minute: rounded to the nearest quarter hour.  A ``Mon DD HH:MM`` line
        takes the year nearest ``mdtm`` (the server's year guess is not ours to repeat).  An
        offset beyond :data:`~xfer.zones.MAX_OFFSET` (a file changed between LIST and MDTM, an MDTM in
        local time) proves nothing: the clock stays unknown.
        """
        if printed.precision > 60:
            return cls()  # a date alone says nothing of the hour
        seen = mdtm.astimezone(dt.timezone.utc).replace(tzinfo=None)
        years = (printed.year,) if printed.year is not None else (seen.year - 1, seen.year, seen.year + 1)
        walls = []
        for year in years:
            with contextlib.suppress(ValueError):
                walls.append(printed.wall(year))
        if not walls:
            return cls()
        offset = offset_between(min(walls, key=lambda wall: abs(wall - seen)), mdtm)
        if offset is None:
            return cls()
        # ls prints a time without its year only when the server's clock has passed it: that
        # file's time is a floor for the server's clock (one 30 h ahead of ours, say).
        return cls(offset=offset, server_now=mdtm if printed.year is None else None)

    def time_of(self, printed: Printed, *, now: dt.datetime) -> tuple[dt.datetime | None, bool]:
        """``printed`` as a UTC time, and whether its zone is known (``now``: our clock)."""
        zone = printed.zone or (dt.timezone(self.offset) if self.offset is not None else dt.timezone.utc)
        try:
            if printed.year is not None:
                wall = printed.wall(printed.year)
            else:
                # "Jan  1 12:00" means within the last six months of the server's clock: the year
                # that makes it so, unless that puts it more than a day ahead of that clock.
                reference = max(now, self.server_now) if self.server_now is not None else now
                reference = reference.astimezone(zone)
                wall = printed.wall(reference.year)
                if wall > reference.replace(tzinfo=None) + dt.timedelta(days=1):
                    wall = printed.wall(reference.year - 1)
        except ValueError:
            return None, False
        known = printed.zone is not None or self.offset is not None
        return wall.replace(tzinfo=zone).astimezone(dt.timezone.utc), known

    def resolve(self, listed: ListedLine, *, now: dt.datetime) -> Entry | None:
        """The entry of ``listed`` with its time read on this clock."""
        entry, printed = listed.entry, listed.printed
        if entry is None or printed is None:
            return entry
        modified, known = self.time_of(printed, now=now)
        if modified is None:
            return entry
        # One offset for every file: a server printing each time in its zone's offset at that date
        # (pure-ftpd, proftpd with TimesGMT off) is an hour off across a summer-time change.
        # An offset of 0 is almost always UTC (vsftpd's default), which has no summer time; the
        # rare zone at +0 in winter then moves a summer file again, never misses one (review H).
        spread = SUMMER_TIME if known and printed.zone is None and self.offset else 0.0
        return replace(entry, modified=modified, modified_precision=printed.precision, modified_zone_known=known,
                       modified_spread=spread)


def read_list_line(line: str, folder: str) -> ListedLine | None:
    """One LIST line in Unix ``ls -l`` (any of its time layouts) or Windows/IIS layout.

    None if it is neither and no known non-entry either: the caller must not take the listing
    as whole (a name it cannot read may be there).  An entry whose time cannot be read (a month
    in a language xfer does not know) is kept, without a time.
    """
    # The line's ending only (listing_lines has taken it off already): a CR before it is the name's.
    line = line.removesuffix("\n").removesuffix("\r") if line.endswith("\n") else line
    match = _UNIX_LINE.match(line)
    if match:
        return _unix_entry(match, folder)
    match = _WINDOWS_LINE.match(line)
    if match:
        return _windows_entry(match, folder)
    if _NOT_AN_ENTRY.match(line):
        return ListedLine(None)
    return None


def parse_list_line(line: str, folder: str, *, now: dt.datetime | None = None) -> Entry | None:
    """One LIST line as an entry, its time read as UTC (the zone unknown); None if it lists
    nothing or cannot be read (:func:`read_list_line` tells the two apart)."""
    listed = read_list_line(line, folder)
    if listed is None:
        return None
    return ListClock().resolve(listed, now=now or dt.datetime.now(dt.timezone.utc))


def _unix_entry(match: re.Match[str], folder: str) -> ListedLine:
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
        return ListedLine(None)
    entry = Entry(
        name=name,
        path=posixpath.join(folder, name),
        type=entry_type,
        size=server_int(match["size"]) if entry_type == "file" else None,
        extra={"unix.mode": mode, **({"target": target} if target else {})},
        modified_zone_known=False,  # ls prints the server's local time, in a zone it does not name
    )
    return ListedLine(entry, _unix_time(match))


def _unix_time(match: re.Match[str]) -> Printed | None:
    """The time of an ``ls -l`` line, as printed; None if it cannot be read."""
    try:
        if match["date"]:
            year, month, day = (int(part) for part in match["date"].split("-"))
            clock = match["clock"]
            if not clock:
                return Printed(year, month, day, precision=86400.0)
            hour, minute, *second = (int(part) for part in clock.split(".")[0].split(":"))
            zone = None
            if match["zone"]:
                sign = -1 if match["zone"][0] == "-" else 1
                zone = dt.timezone(sign * dt.timedelta(hours=int(match["zone"][1:3]), minutes=int(match["zone"][3:])))
            precision = 60.0 if not second else 0.0 if match["fraction"] else 1.0
            printed = Printed(year, month, day, hour, minute, second[0] if second else 0, precision, zone)
        elif match["monthday"]:
            month, day = (int(part) for part in match["monthday"].split("-"))
            hour, minute = (int(part) for part in match["time3"].split(":"))
            printed = Printed(None, month, day, hour, minute)
        else:
            word, day_text, time = ((match["month"], match["day"], match["time"]) if match["month"]
                                    else (match["month2"], match["day2"], match["time2"]))
            month_number = _month(word)
            if month_number is None:
                return None
            if ":" in time:
                hour, minute = (int(part) for part in time.split(":"))
                printed = Printed(None, month_number, int(day_text), hour, minute)
            else:
                printed = Printed(int(time), month_number, int(day_text), precision=86400.0)
        printed.wall(printed.year or 2000)  # a day or hour that no year has: no time
    except ValueError:
        return None
    return printed


def _windows_entry(match: re.Match[str], folder: str) -> ListedLine:
    name = match["name"]
    if not is_safe_name(name):
        return ListedLine(None)
    is_dir = match["dir"] is not None
    entry = Entry(
        name=name,
        path=posixpath.join(folder, name),
        type="directory" if is_dir else "file",
        size=None if is_dir else server_int(match["size"]),
        modified_zone_known=False,  # IIS prints server-local time without a zone
    )
    return ListedLine(entry, _windows_time(match["date"], match["time"]))


def _windows_time(date: str, time: str) -> Printed | None:
    """An IIS date and time (``11-30-26 11:07AM``; ``2026-11-30 11:07`` on some), as printed."""
    stamp = f"{date.replace('/', '-')} {time.replace(' ', '').upper()}"
    # Dotted dates are day first wherever they are written (30.11.2026); IIS's own is month first.
    for day in ("%d.%m.%Y", "%d.%m.%y") if "." in date else ("%m-%d-%y", "%m-%d-%Y", "%Y-%m-%d"):
        for clock, precision in (("%I:%M%p", 60.0), ("%H:%M", 60.0), ("%I:%M:%S%p", 1.0), ("%H:%M:%S", 1.0)):
            try:
                wall = dt.datetime.strptime(stamp, f"{day} {clock}")
            except ValueError:
                continue
            return Printed(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second, precision)
    return None
