"""``https://``: PUT/GET/DELETE over the guarded session, listings from the server's index page.

Plain HTTPS has no folders, renames or standard listing.  Listings come from what
web servers offer (nginx ``autoindex_format json``, or an HTML index page);
``mkdir``/``mv``/``rmdir`` are refused with a pointer to ``davs://``.

Downloads ask for ``Accept-Encoding: identity`` and are never decoded: xfer moves
files, so the bytes on disk are the bytes the server stores (a ``.tar.gz`` served
with ``Content-Encoding: gzip`` by a misconfigured server stays a ``.tar.gz``,
as with curl without ``--compressed``), and the size is always checked against
``Content-Length``.

Uploads are one plain ``PUT`` (or form ``POST``) to the final name: HTTP has no rename,
so there is no temporary name to write under.  An interrupted upload may leave a
partial file under that name on servers that write the body as it arrives (WebDAV
servers, many upload handlers); nginx's own PUT buffers the whole body and creates
nothing until it is complete.  xfer does not DELETE the target after a failed PUT: it
cannot tell a partial file from the previous good version the PUT was replacing.  After a
PUT the server accepted, it is deleted if the server's own HEAD says it holds another size or
hash than was sent: a copy the server says is not the upload must not stay for a pick-up
process.  For uploads that must never appear half-written, use ``davs://`` (temporary name,
then MOVE).
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import os
import posixpath
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, Literal, Protocol

import requests

from ..errors import (
    IntegrityError,
    RemoteError,
    RemoteNotFound,
    UnsupportedOperation,
    UsageError,
    XferError,
    folder_needs_recursive,
    listing_too_large,
)
from ..http_errors import media_type, stream_ended_early
from ..http_session import XferSession, drain_error_body
from ..numbers import server_http_date, server_int
from ..protocols.https import HTTPSOptions
from ..retry import own_failure
from ..streams import SinkFactory
from ..verify import ServerHash
from ..zones import SUMMER_TIME, offset_between
from .base import (
    Adapter,
    Capability,
    ConnectionSettings,
    Entry,
    EntryType,
    Landed,
    ProgressCallback,
    ServerPath,
    Source,
    TransferResult,
)
from .http_removal import DELETED, answers_together, not_done, remove_together
from .http_transfer import HEAD_HEADERS, ChunkedUpload, HTTPTransfer, http_options
from .writer import RemoteWriter, SpooledWriter

__all__ = ["HTTPSAdapter", "HTTPSOptions", "parse_html_index", "parse_json_index"]

UploadMethod = Literal["PUT", "POST"]
IndexFormat = Literal["auto", "json", "html", "none"]

_DAVS_HINT = "plain HTTPS has no folders or renames; if the server speaks WebDAV, use davs://{where}"


class HTTPSAdapter(Adapter):
    """Files over HTTPS with a client certificate: one pooled TLS connection for many operations."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LS, Capability.INFO, Capability.GET, Capability.PUT, Capability.RM, Capability.OPEN_WRITE}
    )

    #: Small files go pipelined (:meth:`put_together`, :meth:`get_together`): files of at most
    #: 64 KiB, 32 of them and about 256 KiB in all per write.  1,000 files of 4 KiB to nginx on one connection, by the
    #: number per write: 1: 0.40-0.46 s, 8: 0.21-0.27 s, 32: 0.18-0.19 s.  The bytes bound keeps
    #: one write (what the server must take in before we read its answers) small; the answers
    #: are a few hundred bytes each.
    together_max_size: ClassVar[int] = 64 * 1024
    together_files: ClassVar[int] = 32
    together_bytes: ClassVar[int] = 256 * 1024
    #: An index page's sizes may be rounded ("1.2K") or stale (a cached or generated index):
    #: only a HEAD says what the file holds.
    listed_sizes_exact: ClassVar[bool] = False
    paths_in_urls: ClassVar[bool] = True

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.options = http_options(settings)
        self.http = HTTPTransfer(settings, self.options, user_path=self.user_path, can_mkdir=False)
        self.session: XferSession = self.http.session
        #: The zone offset of the index pages' times, once a file's HEAD told it (see _in_server_zone).
        self._index_offset: dt.timedelta | None = None
        self._index_zone_asked = False

    def _close(self) -> None:
        self.http.close()

    def _unsupported_hint(self, capability: Capability) -> str | None:
        return _DAVS_HINT.format(where=f"{self.settings.server}{self.settings.root}")

    # -- get ---------------------------------------------------------------------

    def _get_file(
        self, remote: str, local: str, callback: ProgressCallback | None, *, sink: SinkFactory | None = None
    ) -> TransferResult:
        return self.http.get(remote, local, callback, sink=sink)

    # -- put ---------------------------------------------------------------------

    def _put_file(
        self, local: str, remote: str, callback: ProgressCallback | None, *, preserve_times: bool = False,
    ) -> TransferResult:
        return self.http.upload(local, remote, callback, check_size=self.options.verify_upload).result

    def put_together(
        self, files: Sequence[tuple[str | os.PathLike[str], str, ProgressCallback | None]],
        *, landed: Landed | None = None, preserve_times: bool = False,
    ) -> list[TransferResult | None]:
        self._require(Capability.PUT)
        planned = [(os.fspath(local), self.remote_path(remote), callback) for local, remote, callback in files]
        read_listing = self._listed_sizes if self.options.index in ("auto", "json") else None
        results = self.http.upload_together(planned, check_size=self.options.verify_upload,
                                            read_listing=read_listing, landed=self._landing(landed))
        return [None if result is None else self._common(result) for result in results]

    def moves_together(self, *, upload: bool) -> bool:
        return self.http.can_go_together(upload=upload)

    def get_together(
        self, files: Sequence[tuple[str, str | os.PathLike[str], ProgressCallback | None]],
        *, landed: Landed | None = None, listed: Sequence[int | None] | None = None,
    ) -> list[TransferResult | None]:
        self._require(Capability.GET)
        planned = [(self.remote_path(remote), os.fspath(local), callback) for remote, local, callback in files]
        fetched = self.http.download_together(planned, landed=self._landing(landed), listed=listed)
        return [None if result is None else self._common(result) for result in fetched]

    def _idempotent_put(self) -> bool:
        return self.options.upload_method == "PUT"  # a form POST answered 500 may have been taken

    def _repeatable_put(self) -> bool:
        return self.options.upload_method == "PUT"  # a form POST sent twice may be two submissions

    def _open_write(self, remote: str, callback: ProgressCallback | None) -> RemoteWriter:
        """A chunked PUT to the name itself: HTTP has no rename (see the module docstring).

        An abort ends the body without its last chunk, so the server sees an incomplete
        request; nginx (like the in-process server) then stores nothing.  Nothing is deleted
        afterwards, for the reason ``put`` deletes nothing.  With ``upload_method = POST`` the
        bytes are spooled to a local temporary file and posted by ``close()``.
        """
        if self.options.upload_method != "PUT":
            # A form POST is not sent in pieces: spooled locally, then posted as put does.
            return SpooledWriter(self.user_path(remote), callback, lambda spool: self._put_file(spool, remote, None))
        return ChunkedUpload(self.http, remote, callback, user_path=self.user_path(remote),
                             check_size=self.options.verify_upload)


    # -- rm ----------------------------------------------------------------------

    def _rm(self, path: str, recursive: bool) -> None:
        """DELETE.  Without ``recursive`` it goes with ``Depth: 0``: a WebDAV-capable server
        (Apache mod_dav, wsgidav, IIS) deletes a collection whole whether or not its URL ends in
        ``/`` (RFC 4918 9.6.1), and refuses anything but ``Depth: infinity`` for one (400); a file
        takes it as it is.  nginx answers a folder's URL without ``/`` with 409.  Either refusal
        of a folder is "use -r" (review I: rm without -r removed a whole tree on such servers).
        The answer must say it is done: ``207`` (some members stay, RFC 4918) and ``202``
        (accepted, not yet done) are no removal.
        """
        session = self.session
        with session.translating():
            # No redirects: requests would follow a 301/302 answer to DELETE with a GET,
            # and report the folder or file as deleted.
            headers = None if recursive else {"Depth": "0"}
            response = session.delete(session.url_for(path), headers=headers, allow_redirects=False)
            with response:
                if response.status_code == 409 and recursive:
                    # nginx (and DAV servers) want a folder's URL to end in "/".
                    drain_error_body(response)
                    response = session.delete(session.url_for(path, folder=True), allow_redirects=False)
                elif response.status_code in (400, 409) and not recursive:
                    if self._is_folder(path, response):
                        raise folder_needs_recursive(f"{self.settings.server}: {self.user_path(path)} is a folder")
                    if response.status_code == 400:
                        # What a WebDAV server answers a collection's DELETE with Depth: 0; its HEAD
                        # may say nothing (403 without directory listings).
                        raise RemoteError(
                            f"{self.settings.server} refused to remove {self.user_path(path)} on its own "
                            f"({response.status_code} {response.reason or ''}".rstrip() + "): a WebDAV server "
                            "refuses that for a folder",
                            hint="if it is a folder, remove it with everything in it: xfer rm -r",
                            server=self.settings.server, path=self.user_path(path), status=response.status_code,
                        )
                session.check(response, path=path)
                drain_error_body(response)
                said = f"{response.status_code} {response.reason or ''}".strip()
                if response.status_code == 207:
                    raise RemoteError(
                        f"{self.settings.server}: the removal of {self.user_path(path)} is not done ({said}: "
                        "some of what it holds was not removed)",
                        hint="look at the folder on the server, then run rm again",
                        server=self.settings.server, path=self.user_path(path), status=response.status_code,
                    )
                if response.status_code not in DELETED:  # 202 Accepted: as a pipelined DELETE's (http_removal)
                    raise not_done(self.settings.server, "removal", self.user_path(path), said)

    def _is_folder(self, path: str, refused: requests.Response) -> bool:
        """After a DELETE refused with 400 or 409: whether ``path`` is a folder, by a look of its
        own: a redirect to ``path/`` (nginx, Apache), or ``path/`` answering 2xx itself (a
        WebDAV server answers a collection's HEAD with 200 either way; a file's URL with a
        trailing ``/`` is no file)."""
        drain_error_body(refused)
        try:
            if self._info(path).is_dir:
                return True
        except XferError:
            return False
        session = self.session
        with session.head(session.url_for(path, folder=True), headers=HEAD_HEADERS, allow_redirects=False) as answer:
            return 200 <= answer.status_code < 300

    # -- ls ----------------------------------------------------------------------

    def _ls(self, path: str) -> list[Entry]:
        mode = self.options.index
        where = self._davs_where(path)
        if mode == "none":
            raise UnsupportedOperation(
                'listing is switched off for this profile (index = "none")',
                hint=_DAVS_HINT.format(where=where),
            )
        accept = {
            "auto": "application/json, text/html;q=0.9",
            "json": "application/json",
            "html": "text/html",
        }[mode]
        session = self.session
        with session.translating():
            response = session.get(
                session.url_for(path, folder=True), headers={"Accept": accept}, allow_redirects=False, stream=True
            )
            with response:
                if response.status_code == 404 and path != "/":
                    drain_error_body(response)
                    return [self.http.file_entry(path)]
                if response.status_code in (403, 405, 501):
                    drain_error_body(response)
                    raise UnsupportedOperation(
                        f"{self.settings.server} offers no listing of {self.user_path(path)} "
                        f"(HTTP {response.status_code} {response.reason}: listing switched off, "
                        "or access denied)",
                        hint=_DAVS_HINT.format(where=where),
                    )
                session.check(response, path=path)
                content_type = media_type(response.headers)
                parser: _IndexParser | None = None
                if content_type.endswith("json") and mode in ("auto", "json"):
                    parser = _JSONIndexParser(folder=path)
                elif content_type == "text/html" and mode in ("auto", "html"):
                    parser = _HTMLIndexParser(folder=path, encoding=response.encoding or "utf-8")
                entries = self._read_index(response, path, parser) if parser is not None else None
        if entries is None:
            raise UnsupportedOperation(
                f"{self.settings.server} answered {self.user_path(path)} with {content_type or 'no type'}"
                ", not a JSON or HTML index xfer can read",
                hint=_DAVS_HINT.format(where=where),
            )
        return self._in_server_zone(entries)

    def _in_server_zone(self, entries: list[Entry]) -> list[Entry]:
        """``entries`` with the times an HTML index printed in the server's local zone (nginx's and
        Apache's layouts name none: nginx prints GMT, or local time with ``autoindex_localtime on``;
        Apache local time) read in that zone, where one file's ``HEAD`` tells it: its
        ``Last-Modified`` is GMT (:func:`xfer.zones.offset_between`).  Asked once per connection,
        of the first file listed with a time; good to an hour (summer time,
        :attr:`Entry.modified_spread`).  No answer that fits a zone: the times stay in an unknown
        zone (sync counts them 14 hours wide).  Review E: nginx's local-time pages were read as
        GMT, and every sync up sent every file again.
        """
        placed = [entry for entry in entries if entry.modified is not None and not entry.modified_zone_known]
        if not placed:
            return entries
        if not self._index_zone_asked:
            # A few files, not one: a HEAD may be refused (403), redirected or answered without
            # Last-Modified for one file and not another (review H).  Asked again on the next
            # listing only if no file here could be asked at all.
            for probe in [entry for entry in placed if entry.type == "file"][:_ZONE_PROBES]:
                self._index_zone_asked = True
                try:
                    exact = self.http.file_entry(probe.path).modified
                except XferError:
                    continue
                if exact is not None and probe.modified is not None:
                    self._index_offset = offset_between(probe.modified, exact)
                    break
        offset = self._index_offset
        if offset is None:
            return entries
        # An offset of 0 is almost always GMT (nginx's default), which has no summer time; the
        # rare zone at +0 in winter (London) then moves a summer file again, never misses one.
        spread = SUMMER_TIME if offset else 0.0
        return [
            replace(entry, modified=entry.modified - offset, modified_zone_known=True, modified_spread=spread)
            if entry.modified is not None and not entry.modified_zone_known else entry
            for entry in entries
        ]

    def _read_index(self, response: requests.Response, path: str, parser: _IndexParser) -> list[Entry] | None:
        """Feed the index page to ``parser`` as it arrives, never more than ``max_listing`` bytes.

        Memory stays near the cap at most: the page is parsed block by block, not held whole.
        """
        limit = self.settings.max_listing
        received = 0
        try:
            for block in response.iter_content(_INDEX_BLOCK):
                received += len(block)
                if received > limit:
                    response.close()
                    raise listing_too_large(self.settings.server, self.user_path(path), limit)
                if not parser.feed(block):
                    response.close()
                    return None
        except XferError:
            raise
        except Exception as exc:
            if stream_ended_early(exc):
                raise IntegrityError(
                    f"the listing of {self.user_path(path)} from {self.settings.server} ended early "
                    f"(after {received} bytes, without a proper end); it was not used",
                    hint="run the command again; if it repeats, the server (or something between) cuts transfers",
                ) from exc
            raise
        return parser.close()

    @staticmethod
    def _listed_sizes(answer: requests.Response) -> dict[str, int] | None:
        """The sizes of the files in a folder by name, from the answer to a GET of its JSON index:
        how :meth:`put_together` checks a group's uploads (one request, pipelined after their
        PUTs, instead of a HEAD per file).  None if the answer is not such an index, or was
        longer than :data:`~xfer.http_lean.PIPELINED_GET_LIMIT` (left unread: no content)."""
        encoding = answer.headers.get("Content-Encoding", "identity").strip().lower()
        if answer.status_code != 200 or not media_type(answer.headers).endswith("json") or encoding != "identity":
            return None  # (a compressed page is not read compressed; identity was asked for)
        try:
            items = json.loads(answer.content)
        except (ValueError, RecursionError):  # (a page nested deeper than Python recurses)
            return None
        if not isinstance(items, list):
            return None
        sizes: dict[str, int] = {}
        repeated: set[str] = set()
        for item in items:
            if not isinstance(item, dict):
                return None
            name, size = item.get("name"), _json_file_size(item)
            if isinstance(name, str) and size is not None:
                if name in sizes:
                    repeated.add(name)
                sizes[name] = size
        for name in repeated:  # which entry is the file? neither proves it
            del sizes[name]
        return sizes

    def _info(self, path: str) -> Entry:
        """Facts from a ``HEAD`` of the path itself: an upload must not depend on a listing.

        ``200`` is a file; a redirect to the same path plus ``/`` is a folder (nginx,
        Apache); ``404``/``410`` do not exist.  Other answers (``403`` on a write-only
        drop folder, ``405``) fall back to finding the name in the parent's listing.
        """
        if path == "/":
            return Entry(name="", path="/", type="directory")
        session = self.session
        with session.translating():
            url = session.url_for(path)
            with session.head(url, headers=HEAD_HEADERS, allow_redirects=False) as response:
                shown = self._shown_by_head(path, url, response)
                status = response.status_code
        if isinstance(shown, Entry):
            return shown
        if shown is not None:
            raise shown
        return self._in_listing(path, status, {})

    def _in_listing(self, path: str, status: int, listings: dict[str, list[Entry] | XferError]) -> Entry:
        r"""``path`` (a server path) found in its folder's listing, after a ``HEAD`` answered
        ``status`` without saying; each folder listed once into ``listings`` (its failure too).

        Not there: :class:`RemoteNotFound` carrying ``status``, not ``stated``: a caller that must
        not take "not listed" for "not there" reads it so (a dot name the index hides, behind
        nginx's common "deny all" for /\.: sync --delete down deleted the local copy: review S).
        """
        parent, name = posixpath.split(path)
        folder = parent or "/"
        if folder not in listings:
            try:
                listings[folder] = self._ls(folder)
            except XferError as failure:
                listings[folder] = failure
        listed = listings[folder]
        if isinstance(listed, XferError):
            raise listed
        for entry in listed:
            if entry.name == name:
                return entry
        missing = RemoteNotFound(f"{self.settings.server}: {self.user_path(path)} does not exist", status=status)
        missing.stated = False
        raise missing

    def _shown_by_head(self, path: str, url: str, response: requests.Response) -> Entry | RemoteNotFound | None:
        """What a ``HEAD`` of ``path`` (at ``url``) shows: ``200`` a file (its ``ETag``, if any, in
        ``extra``), a redirect to the same path plus ``/`` a folder, ``404``/``410`` nothing; None
        for any other answer (the parent's listing is to be asked)."""
        status = response.status_code
        if status == 200:
            return self.http.head_entry(path, response)
        if status in (404, 410):
            return RemoteNotFound(f"{self.settings.server}: {self.user_path(path)} does not exist", status=status)
        location = response.headers.get("Location")
        if 300 <= status < 400 and location is not None:
            target = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
            if target.path == urllib.parse.urlsplit(url).path + "/":
                return Entry(name=posixpath.basename(path), path=path, type="directory")
        return None

    def remove_sources(self, files: Sequence[tuple[str, int] | Source]) -> list[XferError | None]:
        """Every file's ``HEAD`` pipelined, then the ``DELETE``\\ s of those shown with their sizes
        (:mod:`~xfer.adapters.http_removal`): a few round trips for the lot, where one file after
        another took two each.  A file whose ``HEAD`` says nothing certain (a ``403`` on a
        write-only folder, say) goes the default way, as do all when requests cannot be pipelined."""
        self._require(Capability.RM)
        if len(files) < 2 or not self.http.can_pipeline():
            return super().remove_sources(files)
        url_for = self.session.url_for
        return remove_together(
            self, self.session, files, ask=lambda target: ("HEAD", url_for(target), None, HEAD_HEADERS),
            shown_by=lambda target, answer: self._shown_by_head(target, url_for(target), answer))

    def info_each(self, paths: Sequence[str]) -> list[Entry | XferError]:
        """:meth:`info` of each path with the ``HEAD``\\ s pipelined: a few round trips for the lot
        (``sync --delete`` down asks about every file it would delete; at 50 ms one after another
        that was 50 s for 1,000).  A ``HEAD`` that does not say (``403``, ``405``) is answered from
        the parent's listing, as :meth:`_info` does, each folder listed once: a server without
        ``HEAD`` cost a listing per file."""
        if len(paths) < 2 or not self.http.can_pipeline():
            return super().info_each(paths)
        found: dict[int, Entry | XferError] = {}
        asked: list[tuple[int, ServerPath, str]] = []
        for place, path in enumerate(paths):
            try:
                target = self.remote_path(path)
                asked.append((place, target, self.session.url_for(target)))
            except UsageError as refused:  # (a name no path or URL can carry: that path's own)
                found[place] = refused
        answers = answers_together(self.session, [("HEAD", url, None, HEAD_HEADERS) for _, _, url in asked])
        listings: dict[str, list[Entry] | XferError] = {}
        for position, (place, target, url) in enumerate(asked):
            answer = answers.get(position)
            if answer is None:  # not answered together: asked alone
                found[place] = super().info_each([paths[place]])[0]
                continue
            shown: Entry | XferError | None = self._shown_by_head(target, url, answer)
            if shown is None:
                try:
                    shown = self._in_listing(target, answer.status_code, listings)
                except XferError as failure:
                    # (A folder whose listing is refused, nginx's "deny" for a dot folder: 403
                    # "offers no listing", is that folder's own, not every path's.)
                    if not (own_failure(failure) or isinstance(failure, UnsupportedOperation)):
                        raise
                    shown = failure
            found[place] = self._entry(shown) if isinstance(shown, Entry) else shown
        return [found[place] for place in range(len(paths))]

    def _checksum(self, path: str, size: int | None) -> ServerHash | None:
        """The hash a ``HEAD`` of ``path`` states (``xfer sync --checksum``), as an upload's check reads it."""
        return self.http.stated_hash(path)

    def _davs_where(self, path: str) -> str:
        return f"{self.settings.server}{path}"

    # -- ranged reads (added for the fsspec filesystem) ------------------------------------

    def _read_range(self, path: str, start: int, length: int | None, version: str | None) -> bytes:
        return self.http.read_range(path, start, length, version=version)

    def head(self, path: str) -> Entry:
        """Facts about one file from a ``HEAD``: works where the server offers no listing."""
        from ..errors import UsageError  # imported here so this addition stays self-contained

        if self.closed:
            raise UsageError(f"{self!r} is closed")
        return self._entry(self.http.file_entry(self.remote_path(path)))


# -- index parsing (pure functions, tested on real nginx/Apache pages) ------------------


#: Index pages are read (and parsed) in blocks of this size.
_INDEX_BLOCK = 64 * 1024
#: One index item (a JSON object, an HTML tag) never needs more than this: beyond it the
#: page is not an index, and the parser stops instead of re-scanning an ever-growing tail.
_MAX_PENDING = 1 << 20


class _IndexParser(Protocol):
    def feed(self, data: bytes) -> bool:
        """Parse one more block; False if the page is not an index of this format."""

    def close(self) -> list[Entry] | None:
        """The entries, or None if the whole page was not an index of this format."""


def _json_entry(item: dict[str, Any], folder: str) -> Entry | None:
    name = str(item["name"])
    if name in ("", ".", "..") or "/" in name:  # "": the folder itself, not an entry of it
        return None
    kind = item.get("type")
    entry_type: EntryType = "directory" if kind == "directory" else "file" if kind == "file" else "other"
    mtime = item.get("mtime")
    return Entry(
        name=name,
        path=posixpath.join(folder, name),
        type=entry_type,
        size=_json_file_size(item),
        modified=server_http_date(mtime) if isinstance(mtime, str) else None,
    )


def _json_file_size(item: dict[str, Any]) -> int | None:
    """The size of a file item of nginx's JSON index; None for a folder, or no size."""
    size = item.get("size")
    # type(), not isinstance(): JSON's true is a bool, an int subclass, and no size.
    return size if item.get("type") == "file" and type(size) is int and size >= 0 else None


class _JSONIndexParser:
    """nginx's ``autoindex_format json`` (a flat array of objects), one object at a time.

    Only the entries and the unparsed tail of the page are held, never the whole body,
    so a huge listing costs its entries, not its text plus Python's JSON object tree.
    """

    def __init__(self, *, folder: str) -> None:
        self.folder = folder
        self.entries: list[Entry] = []
        self._decoder = json.JSONDecoder()
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._retry_at = 0  # length of _pending at which an incomplete object is tried again
        self._state = "start"  # start -> items -> end; "bad" if not this format

    def feed(self, data: bytes) -> bool:
        self._pending += self._text.decode(data)
        self._parse()
        return self._state != "bad"

    def _parse(self) -> None:
        while self._state in ("start", "items"):
            rest = self._pending.lstrip()
            if not rest:
                self._pending = ""
                return
            if self._state == "start":
                if rest[0] != "[":
                    self._state = "bad"
                    return
                self._state, self._pending = "items", rest[1:]
                continue
            if rest[0] == ",":
                self._pending = rest[1:]
                continue
            if rest[0] == "]":
                self._state, self._pending = "end", rest[1:]
                return
            if len(rest) < self._retry_at:
                self._pending = rest
                return
            try:
                item, end = self._decoder.raw_decode(rest)
            except (ValueError, RecursionError):  # (an item nested deeper than Python recurses)
                if len(rest) > _MAX_PENDING:
                    self._state = "bad"
                    return
                # Incomplete: try again once the tail has doubled (linear, not quadratic).
                self._pending, self._retry_at = rest, 2 * len(rest)
                return
            self._retry_at = 0
            self._pending = rest[end:]
            if not isinstance(item, dict) or "name" not in item:
                self._state = "bad"
                return
            entry = _json_entry(item, self.folder)
            if entry is not None:
                self.entries.append(entry)

    def close(self) -> list[Entry] | None:
        self._pending += self._text.decode(b"", final=True)
        self._retry_at = 0
        self._parse()
        if self._state != "end" or self._pending.strip():
            return None
        return self.entries


def parse_json_index(body: bytes, *, folder: str) -> list[Entry] | None:
    """Entries from nginx's ``autoindex_format json``; None if ``body`` is not that shape."""
    parser = _JSONIndexParser(folder=folder)
    parser.feed(body)
    return parser.close()


# An exact byte count at the end of the text after a link (nginx prints "-" for folders;
# Apache prints rounded "1.2K", which is not an exact size and is left out).
_TRAILING_SIZE = re.compile(r"([0-9]+)\s*$")
# The date column of an index page, to the minute.  nginx: "30-Nov-2026 11:07", in GMT unless
# autoindex_localtime is on (xfer cannot tell; its default is GMT).  Apache 2.4: "2026-11-30 11:07",
# in the server's local time, whose zone the page does not name.
#: Files of an index page whose HEAD may tell its zone, at most (see HTTPSAdapter._in_server_zone).
_ZONE_PROBES = 3
_NGINX_DATE = re.compile(r"(?<![0-9])([0-9]{2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2})(?![0-9:])")
_APACHE_DATE = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2})(?![0-9:])")
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}


def _index_date(text: str) -> tuple[dt.datetime | None, bool, str]:
    """The date printed after an index link: (its time read as UTC, or None; whether its zone is
    known; the text after the date, where the size column is)."""
    nginx = _NGINX_DATE.search(text)
    apache = None if nginx is not None else _APACHE_DATE.search(text)
    if nginx is not None:
        day, name, year, hour, minute = nginx.groups()
        month: int | None = _MONTHS.get(name.lower())
        # GMT by default, but local time with autoindex_localtime on: unnamed either way (the
        # listing asks one file's HEAD, see HTTPSAdapter._in_server_zone).
        zone_known, rest = False, text[nginx.end():]
    elif apache is not None:
        year, number, day, hour, minute = apache.groups()
        month, zone_known, rest = int(number), False, text[apache.end():]
    else:
        return None, True, text
    if month is None:
        return None, True, rest
    try:
        stamp = dt.datetime(int(year), month, int(day), int(hour), int(minute), tzinfo=dt.timezone.utc)
    except ValueError:  # (a 31 February, an hour 25: no date; the size is still read)
        return None, True, rest
    return stamp, zone_known, rest


class _HTMLIndexParser:
    """An HTML index page fed block by block (the link collector keeps only the links)."""

    def __init__(self, *, folder: str, encoding: str) -> None:
        self.folder = folder
        try:
            self._text = codecs.getincrementaldecoder(encoding)(errors="replace")
        except LookupError:
            self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        from ._html_links import LinkCollector  # (html.parser only for an HTML index: issue 14)

        self._collector = LinkCollector()

    def feed(self, data: bytes) -> bool:
        try:
            self._collector.feed(self._text.decode(data))
        except AssertionError:
            return False
        # An unterminated tag would be re-scanned on every block: not an index page.
        return len(self._collector.rawdata) <= _MAX_PENDING

    def close(self) -> list[Entry] | None:
        try:
            self._collector.feed(self._text.decode(b"", final=True))
            self._collector.close()
        except AssertionError:
            return None
        return _html_entries(self._collector.links, self.folder)


def parse_html_index(page: str, *, folder: str) -> list[Entry] | None:
    """Entries from an HTML index page (nginx, Apache, python http.server); None if no links.

    Only links to direct children count: relative names (``a.txt``, ``sub/``) or
    absolute paths directly under ``folder``; parent links, sort links (``?C=N``),
    fragments and other sites are skipped.  Sizes are kept when printed exactly (Apache's
    rounded ``2.9K`` is no size: None).  The date column is read to the minute
    (``modified_precision`` 60): nginx's ``30-Nov-2026 11:07`` as GMT, Apache's
    ``2026-11-30 11:07`` as a local time in an unknown zone (``modified_zone_known`` False).
    """
    from ._html_links import LinkCollector

    collector = LinkCollector()
    try:
        collector.feed(page)
        collector.close()
    except AssertionError:
        return None
    return _html_entries(collector.links, folder)


def _html_entries(links: list[tuple[str, str]], folder: str) -> list[Entry] | None:
    base = folder.rstrip("/") + "/"
    entries: dict[str, Entry] = {}
    saw_index = False
    for href, after in links:
        parts = urllib.parse.urlsplit(href)
        if parts.scheme or parts.netloc or parts.query or not parts.path:
            continue
        target = urllib.parse.unquote(parts.path)
        if target.startswith("/"):
            if not target.startswith(base):
                if target.rstrip("/") == posixpath.dirname(base.rstrip("/")).rstrip("/") or target == "/":
                    saw_index = True
                continue
            target = target[len(base) :]
        if target in ("../", "..", "./", ".", ""):
            saw_index = True
            continue
        is_dir = target.endswith("/")
        name = target.rstrip("/")
        if name in (".", ".."):  # "..//": the parent written another way, never an entry
            saw_index = True
            continue
        if not name or "/" in name:
            continue
        # The size is what follows the date: read from the whole text, a date without a size
        # column ("2026-11-30 11:07") would give its minutes as the size.
        modified, zone_known, rest = _index_date(after.replace("\r", ""))
        match = _TRAILING_SIZE.search(rest)
        size = server_int(match.group(1)) if match and not is_dir else None
        entries[name] = Entry(
            name=name,
            path=posixpath.join(folder, name),
            type="directory" if is_dir else "file",
            size=size,
            modified=modified,
            modified_precision=60.0 if modified is not None else 0.0,
            modified_zone_known=zone_known,
        )
    if not entries and not saw_index:
        return None
    return list(entries.values())

