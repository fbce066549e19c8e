"""WebDAV XML: the PROPFIND request body, and a safe reader for ``207 Multi-Status`` answers.

Servers' XML is parsed with defusedxml and ``forbid_dtd=True``: a multistatus
body never needs a DTD, so any ``<!DOCTYPE`` is refused before a single entity
could be declared, let alone expanded (billion laughs, quadratic blow-up) or
fetched (external entities).  lxml, which webdavclient3 parses with, expands
internal entities by default, so webdavclient3's own parsers are not used.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import urllib.parse
import xml.etree.ElementTree as ET  # only for types and ParseError; parsing is defusedxml's
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import defusedxml
import defusedxml.ElementTree

from ..numbers import server_http_date, server_int, server_status

__all__ = [
    "PROPFIND_BODY",
    "DAVResource",
    "TooLarge",
    "UnsafeXML",
    "href_path",
    "parse_multistatus",
    "status_code",
]

_DAV = "{DAV:}"
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")

#: The properties asked for, and the only ones read: what an Entry holds.
_ASKED = ("resourcetype", "getcontentlength", "getlastmodified", "getetag", "getcontenttype")

#: Ask only for what an Entry holds: smaller answers than allprop (wsgidav adds quota and lock
#: discovery to every resource otherwise).
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:propfind xmlns:D="DAV:"><D:prop>'
    + "".join(f"<D:{name}/>" for name in _ASKED).encode()
    + b"</D:prop></D:propfind>"
)


class UnsafeXML(ValueError):
    """The server's XML is malformed, or uses DTDs/entities (refused, never expanded)."""


class TooLarge(ValueError):
    """The body went past the byte limit; reading stopped there."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class _CappedReader:
    """A file-like view of body chunks for ``iterparse``, raising :class:`TooLarge` past ``limit`` bytes."""

    def __init__(self, chunks: Iterable[bytes], limit: int | None) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._limit = limit
        self._pending = b""
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self.total += len(chunk)
            if self._limit is not None and self.total > self._limit:
                raise TooLarge(self._limit)
            self._pending = chunk
        if size < 0 or size >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data


@dataclass(frozen=True, slots=True)  # slots: a large listing holds many of these
class DAVResource:
    """One ``<D:response>`` of a multistatus: a resource, or a per-resource failure status."""

    path: str  # absolute server path, percent-decoded, without a trailing slash ("/" for the root)
    is_collection: bool = False
    size: int | None = None
    modified: dt.datetime | None = None
    etag: str | None = None
    content_type: str | None = None
    status: int = 200  # the response-level (or all-propstats-failed) status
    #: ``scheme://host[:port]`` when the href was an absolute URL (None for a path): whose it is
    #: is the caller's call (a proxy may name the server by another host, consistently).
    authority: str | None = None
    #: False when the server refused to say the ``resourcetype`` (a failed propstat named it):
    #: then ``is_collection`` False means "not known", never "a file".
    kind_known: bool = True

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


def status_code(line: str | None) -> int | None:
    """``HTTP/1.1 423 Locked`` -> 423; None when absent or unreadable."""
    if not line:
        return None
    parts = line.split()
    return server_status(parts[1]) if len(parts) >= 2 else None


def parse_multistatus(
    body: bytes | Iterable[bytes], *, request_url: str, limit: int | None = None
) -> list[DAVResource]:
    """The resources in a ``207 Multi-Status`` body, in the server's order.

    ``body`` is the whole body or its chunks as they arrive (a streamed response):
    it is parsed incrementally and each ``<D:response>`` is dropped from the tree once
    read, as is every element :func:`_resource` does not read (:data:`_WANTED`) when it
    ends, so memory follows the number of resources, not the size of the XML (review Q:
    60 MiB of ``<x/>`` cost 1.3 GB).  Nesting deeper than :data:`_MAX_DEPTH`, or more than
    :data:`_MAX_INSIDE` elements in a response or beside them, raises :class:`UnsafeXML`.  More
    than ``limit`` bytes raise :class:`TooLarge` (reading stops there).

    ``href`` values may be absolute URLs, absolute paths or (rarely) relative
    references, percent-encoded or not, with or without a trailing slash: each is
    resolved against ``request_url`` and reduced to a decoded server path.  An
    absolute URL keeps its ``authority``.
    Raises :class:`UnsafeXML` for malformed XML and for any DTD or entity.
    """
    chunks = [body] if isinstance(body, bytes | bytearray) else body
    reader = _CappedReader(chunks, limit)
    resources: list[DAVResource] = []
    # The open elements, root first: what an ended element is kept in, and how deep it is.
    open_elements: list[ET.Element] = []
    dropped = _Dropped()
    inside = 0  # elements ended in the child of the root being read
    strays = 0  # children of the root that are not <D:response>s
    rooted = False
    try:
        events = defusedxml.ElementTree.iterparse(
            reader, events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        for event, element in events:
            if event == "start":
                if not rooted:
                    if element.tag != f"{_DAV}multistatus":
                        raise UnsafeXML(f"its root element is {element.tag}, not DAV: multistatus")
                    rooted = True
                if len(open_elements) == _MAX_DEPTH:
                    # Open elements cannot be dropped: nesting is bounded instead.
                    raise UnsafeXML(f"its elements nest deeper than {_MAX_DEPTH} levels")
                open_elements.append(element)
                continue
            open_elements.pop()
            if not open_elements:
                continue  # the root's end
            parent = open_elements[-1]
            if len(open_elements) == 1:  # a child of the root
                if element.tag == f"{_DAV}response":
                    dropped.out()  # (what it holds that is not read must not be found by _resource)
                    resources.append(_resource(element, request_url))
                else:
                    strays += 1
                inside = 0
            else:
                inside += 1
            if inside > _MAX_INSIDE or strays > _MAX_INSIDE:
                # A real response holds a few dozen elements; a server padding its answer with
                # elements xfer does not read costs parse time even when they are dropped.
                raise UnsafeXML(f"more than {_MAX_INSIDE} elements " + (
                    "in one of its responses" if inside else "under its root that are not responses"))
            if len(open_elements) > 1 and _read(element.tag, parent.tag):
                continue
            # Drop what was read, and what is never read (anything but a <D:response> under the
            # root, a property not asked for): memory follows the resources, not the XML.
            dropped.add(parent, element)
    except defusedxml.DefusedXmlException as exc:
        raise UnsafeXML(f"it contains a DTD or entity declarations ({type(exc).__name__}), which xfer refuses") from exc
    except ET.ParseError as exc:
        raise UnsafeXML(f"it is not well-formed XML ({exc})") from exc
    if not rooted:
        raise UnsafeXML("it is empty")
    return resources


#: Deeper than any multistatus xfer reads (multistatus, response, propstat, prop, property,
#: its value: 6) with room for properties it was not asked for; deeper is refused.
_MAX_DEPTH = 64
#: Elements in one ``<D:response>`` (a few dozen in any real one), and children of the root that
#: are not responses: more is refused.
_MAX_INSIDE = 10_000
#: The elements read, by the element they are in: the rest is dropped as it ends.
_WANTED: dict[str, frozenset[str]] = {
    f"{_DAV}response": frozenset({f"{_DAV}href", f"{_DAV}status", f"{_DAV}propstat"}),
    f"{_DAV}propstat": frozenset({f"{_DAV}prop", f"{_DAV}status"}),
    f"{_DAV}prop": frozenset(f"{_DAV}{name}" for name in _ASKED),
    f"{_DAV}resourcetype": frozenset({f"{_DAV}collection"}),
}


class _Dropped:
    """Elements to take out of the tree, taken out together.

    ``iterparse`` hands over the events of one read at a time: when an element's end comes, the
    elements after it in that read are already in the tree, so it is seldom its parent's last
    child.  ``clear()`` would leave it there (review Q: 60 MiB of ``<x/>`` kept 1.3 GB), and
    removing elements one by one from the front of a list is quadratic.
    """

    def __init__(self) -> None:
        self._by_parent: dict[ET.Element, set[ET.Element]] = {}
        self._count = 0

    def add(self, parent: ET.Element, element: ET.Element) -> None:
        if len(parent) and parent[-1] is element:
            del parent[-1]  # (the usual case in a small answer: nothing after it yet)
            return
        self._by_parent.setdefault(parent, set()).add(element)
        self._count += 1
        if self._count >= _DROPPED_AT_ONCE:
            self.out()

    def out(self) -> None:
        """Take out every element added."""
        for parent, gone in self._by_parent.items():
            parent[:] = [child for child in parent if child not in gone]
        self._by_parent.clear()
        self._count = 0


#: Elements :class:`_Dropped` takes out together: a few reads' worth (a read is 16 KiB).
_DROPPED_AT_ONCE = 4096


def _read(tag: str, parent: str) -> bool:
    """Whether an element ``tag`` inside ``parent`` is one :func:`_resource` reads."""
    return tag in _WANTED.get(parent, frozenset())


def href_path(href: str, *, request_url: str) -> str:
    """A decoded absolute server path from an ``href`` (no trailing slash except for ``/``).

    Percent-escapes that are not UTF-8 decode to lone surrogates (``surrogateescape``).
    """
    # Not urljoin/urlsplit: an href names a resource, never a query or fragment, and some
    # servers leave "#" or "?" in names unencoded; everything after the authority is path.
    href = href.strip()
    authority = _AUTHORITY.match(href)
    if authority:
        raw = href[authority.end() :] or "/"
    elif href.startswith("/"):
        raw = href
    else:  # relative to the folder that was asked for
        base = urllib.parse.urlsplit(request_url).path
        raw = posixpath.join(base if base.endswith("/") else base + "/", href)
    # Not UTF-8 (a Latin-1 server): the odd bytes become lone surrogates, never U+FFFD, so
    # such a name stays recognisable as one xfer cannot address instead of naming another file.
    path = urllib.parse.unquote(raw, errors="surrogateescape")
    return posixpath.normpath(path).replace("//", "/") if path not in ("", "/") else "/"


def _resource(item: ET.Element, request_url: str) -> DAVResource:
    href = (item.findtext(f"{_DAV}href") or "").strip()
    path = href_path(href, request_url=request_url)
    authority = _AUTHORITY.match(href)
    status = status_code(item.findtext(f"{_DAV}status"))
    props: dict[str, ET.Element] = {}
    failures: list[int] = []
    refused: set[str] = set()  # properties named in a failed propstat
    propstats = list(item.iter(f"{_DAV}propstat"))
    for propstat in propstats:
        code = status_code(propstat.findtext(f"{_DAV}status"))
        if code is not None and not 200 <= code < 300:
            failures.append(code)  # e.g. 404 for getcontentlength on a collection: the property is absent
            failed = propstat.find(f"{_DAV}prop")
            refused.update(child.tag for child in (failed if failed is not None else ()))
            continue
        prop = propstat.find(f"{_DAV}prop")
        for child in prop if prop is not None else ():
            props.setdefault(child.tag, child)
    if status is None:
        status = 200 if props or not propstats else _all_failed(failures)
    kind = props.get(f"{_DAV}resourcetype")
    is_collection = kind is not None and kind.find(f"{_DAV}collection") is not None
    # A resourcetype the server failed to give (a 500 for it alone) says nothing: read as "a
    # file", a collection was removed whole by a DELETE meant for one file (review, H3).
    kind_known = kind is not None or f"{_DAV}resourcetype" not in refused
    return DAVResource(
        path=path,
        is_collection=is_collection,
        size=None if is_collection else _int(_text(props, "getcontentlength")),
        modified=_date(_text(props, "getlastmodified")),
        etag=_text(props, "getetag"),
        content_type=_text(props, "getcontenttype"),
        status=status,
        authority=authority.group(0) if authority else None,
        kind_known=kind_known,
    )


def _all_failed(failures: list[int]) -> int:
    """The status of a resource none of whose properties came: 404 if each was "not found" (how
    some servers describe a missing resource), else the first other failure (a 403, a 500: the
    resource may well be there, and must not read as missing)."""
    return next((code for code in failures if code != 404), 404)


def _text(props: dict[str, ET.Element], name: str) -> str | None:
    element = props.get(f"{_DAV}{name}")
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _int(value: str | None) -> int | None:
    return server_int(value)


def _date(value: str | None) -> dt.datetime | None:
    """RFC 1123 (what RFC 4918 prescribes); ISO 8601 as some servers send; else None.

    Always aware: a date without a zone (an HTTP date is GMT; ``parsedate_to_datetime`` leaves
    the asctime form, or ``-0000``, naive) is UTC, never the local time sync's ``.timestamp()``
    would take it for.
    """
    if value is None:
        return None
    parsed = server_http_date(value)
    if parsed is not None:
        return parsed
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
