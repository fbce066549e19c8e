"""Glob patterns on ``/``-separated paths: remote globs (``get 'p:/outbox/*.csv'``) and sync filters.

One dialect for both:

* ``*`` any run of characters within one name, ``?`` one character (neither matches ``/``);
* ``[abc]``, ``[a-z]``, ``[!abc]`` (or ``[^abc]``) one character of (or not of) a set;
* ``**`` as a whole path segment: any number of folders, none included (``a/**/b.csv``
  matches ``a/b.csv`` and ``a/x/y/b.csv``).

There is no backslash escape (a backslash is refused in remote paths, see
:func:`xfer.urls.check_remote_path`): a metacharacter is made literal by a set
holding only it, ``[*]``, ``[?]``, ``[[]``.

:class:`Filters` are ``--include``/``--exclude`` rules with gitignore's reading: a
pattern without ``/`` matches a name at any depth; a leading ``/`` (or a ``/``
inside) anchors it at the top of the tree; a trailing ``/`` matches folders only
(and so everything in them); the last rule that matches a path decides.  A path no
rule matches is included, unless the first rule is an include: then only what is
included is taken (``--include '*.csv'`` alone means "just the CSV files").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .errors import RemoteNotFound, UsageError
from .log import logger
from .types import Entry

_log = logger(__name__)

__all__ = ["Filters", "Rule", "expand", "has_magic", "match", "split_glob", "translate"]

_MAGIC = re.compile(r"[*?\[]")


def has_magic(text: str) -> bool:
    """True if ``text`` holds a glob metacharacter (``*``, ``?`` or ``[``)."""
    return _MAGIC.search(text) is not None


@functools.lru_cache(maxsize=256)
def translate(pattern: str) -> re.Pattern[str]:
    """The compiled regular expression that matches exactly the paths ``pattern`` matches."""
    segments = pattern.split("/")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            # Any number of whole folders (zero included), with their separators.
            parts.append(".*" if last else "(?:[^/]*/)*")
            continue
        parts.append(_segment(segment) + ("" if last else "/"))
    return re.compile("".join(parts), re.DOTALL)


def _segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = _set_end(segment, i)
            if end < 0:
                out.append(re.escape(char))  # an unclosed [ is an ordinary character
            else:
                body = segment[i + 1 : end]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                # Escape what regex sets treat specially (a backslash, a leading ^); keep ranges.
                escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
                out.append(f"[^/{escaped}]" if negate else f"[{escaped}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _set_end(segment: str, start: int) -> int:
    """Index of the ``]`` closing the set opened at ``start``, or -1 (a ``]`` first is a member)."""
    i = start + 1
    if i < len(segment) and segment[i] in ("!", "^"):
        i += 1
    if i < len(segment) and segment[i] == "]":
        i += 1
    end = segment.find("]", i)
    return end


def match(pattern: str, path: str) -> bool:
    """True if the whole of ``path`` matches ``pattern`` (both ``/``-separated)."""
    return translate(pattern).fullmatch(path) is not None


def split_glob(path: str) -> tuple[str, str]:
    """``(base, pattern)``: the longest leading folder without metacharacters, and the rest.

    ``/outbox/2026-*/*.csv`` -> ``("/outbox", "2026-*/*.csv")``: list ``base``, match
    ``pattern`` against the paths below it.
    """
    segments = path.split("/")
    for index, segment in enumerate(segments):
        if has_magic(segment):
            base = "/".join(segments[:index]) or "/"
            return base, "/".join(segments[index:])
    return path, ""


def expand(
    path: str,
    list_folder: Callable[[str], Sequence[Entry]],
    *,
    recursive: bool = False,
    max_depth: int = 64,
    shown: str | None = None,
) -> list[Entry]:
    """The entries a remote glob ``path`` matches, listing folder by folder (``list_folder``).

    Only the folders the pattern can reach are listed: ``/outbox/*.csv`` lists ``/outbox``
    once.  A pattern ending in ``/`` matches folders only, as a shell's ``rm -r */`` does:
    before, ``rm -r 'NAME:/in/*/'`` removed the files of ``/in`` too (review T, M1).
    ``**`` (any depth) needs ``recursive`` and stops at ``max_depth`` levels.
    Without ``recursive`` only files are matched; folders it matches are named in a warning
    (as ``rm *`` says "Is a directory"), not passed over in silence.  Nothing matched is
    :class:`RemoteNotFound` naming the pattern (``shown``: how the user typed it).
    """
    base, pattern = split_glob(path)
    segments = [s for s in pattern.split("/") if s]
    folders_only = pattern.endswith("/")
    if "**" in segments and not recursive:
        raise UsageError(f"{shown or path}: '**' matches folders at any depth; it needs -r")
    found: dict[str, Entry] = {}
    folders_left: list[str] = []  # matched, but folders need -r
    # (folder, index of the segment to match in it, depth): iterative, a listing decides how deep.
    pending: list[tuple[str, int, int]] = [(base, 0, 0)]
    while pending:
        folder, index, depth = pending.pop()
        segment = segments[index]
        last = index == len(segments) - 1
        if segment == "**":
            if last:
                raise UsageError(f"{shown or path}: end the pattern with a name after '**' (e.g. **/*.csv)")
            pending.append((folder, index + 1, depth))  # ** as zero folders
        if depth > max_depth:
            raise UsageError(f"{shown or path}: the matching folders go deeper than {max_depth} levels",
                             hint="use --max-depth to allow more")
        for entry in list_folder(folder):
            child = entry.path  # a listed path: a backslash in a name is part of it
            if segment == "**":
                if entry.is_dir:
                    pending.append((child, index, depth + 1))
                continue
            if not translate(segment).fullmatch(entry.name):
                continue
            if not last:
                if entry.is_dir:
                    pending.append((child, index + 1, depth + 1))
            elif folders_only and not entry.is_dir:
                continue
            elif entry.type == "file" or (recursive and entry.is_dir):
                found.setdefault(entry.path, entry)
            elif entry.is_dir:
                folders_left.append(entry.path)
    if folders_left:
        some = ", ".join(sorted(folders_left)[:3]) + (", ..." if len(folders_left) > 3 else "")
        _log.warning("%s also matches %d folder(s), left out without -r: %s", shown or path, len(folders_left), some)
    if not found:
        raise RemoteNotFound(f"{shown or path}: no remote file matches the pattern", path=path,
                             hint="it matches only folders: add -r to include them" if folders_left else None)
    # A match inside a matched folder is already part of it (rm -r, get -r would do it twice).
    # Sorted by path, a folder comes before what is in it; each match looks up its own
    # ancestors (not every match before it: that was quadratic, hours for 100,000 matches).
    matched: list[Entry] = []
    folders: set[str] = set()
    for entry in sorted(found.values(), key=lambda e: e.path):
        if not any(entry.path[:i] in folders for i, char in enumerate(entry.path) if char == "/"):
            matched.append(entry)
            if entry.is_dir:
                folders.add(entry.path.rstrip("/"))
    return matched


@dataclass(frozen=True)
class Rule:
    """One ``--include`` (``include=True``) or ``--exclude`` pattern."""

    pattern: str
    include: bool

    @property
    def _body(self) -> str:
        return self.pattern.strip("/")

    @property
    def folders_only(self) -> bool:
        return self.pattern.endswith("/") and len(self.pattern) > 1

    @property
    def anchored(self) -> bool:
        return "/" in self.pattern.rstrip("/")

    def matches(self, path: str, *, is_dir: bool) -> bool:
        """Does this rule match ``path`` (relative to the tree's top, ``/``-separated) itself?"""
        if self.folders_only and not is_dir:
            return False
        if self.anchored:
            return match(self._body, path)
        return match(self._body, path.rsplit("/", 1)[-1])


class Filters:
    """``--include``/``--exclude`` rules in the order given; see the module docstring."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules = tuple(rules)
        # Only includes given first: a whitelist, everything else is left out.
        self._default = not (self.rules and self.rules[0].include)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def included(self, path: str) -> bool:
        """True if the file at ``path`` (relative, ``/``-separated) is taken.

        A rule matches a file when it matches the file or one of its folders (``logs/``,
        ``/build``): the last rule that matches decides.
        """
        if not self.rules:
            return self._default  # no rule to try (and a tree of 100,000 paths to ask about)
        parts = path.split("/")
        prefixes = [("/".join(parts[:depth]), depth < len(parts)) for depth in range(1, len(parts) + 1)]
        for rule in reversed(self.rules):
            if any(rule.matches(prefix, is_dir=is_dir) for prefix, is_dir in prefixes):
                return rule.include
        return self._default
