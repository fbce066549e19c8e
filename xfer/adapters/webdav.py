"""``davs://``: WebDAV over TLS — webdavclient3 on our guarded session, file bodies streamed by us.

webdavclient3 only builds and sends PROPFIND/MKCOL/DELETE/MOVE/COPY (``execute_request``);
PUT and GET are the shared :class:`~.http_transfer.HTTPTransfer`.  What the server says is
checked, not trusted: collections keep their trailing slash, PROPFIND is streamed and capped
at ``max_listing``, only direct children are members, a 207 to DELETE/MOVE/COPY is an error,
MOVE/COPY go with ``Overwrite: F`` first and never replace a folder.  The reasons for each
rule: docs/design.md, section "WebDAV".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import os
import posixpath
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import requests
from webdav3.client import Client
from webdav3.exceptions import WebDavException

from ..errors import (
    ConnectTimeout,
    ErrorFields,
    IntegrityError,
    RemoteError,
    RemoteExists,
    RemoteFolderNotEmpty,
    RemoteIsFolder,
    RemoteLocked,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerError,
    UnsupportedOperation,
    UsageError,
    XferError,
    folder_missing,
    folder_needs_recursive,
    listing_too_large,
)
from ..http_errors import map_http_error
from ..http_lean import body_left_unread
from ..http_session import XferSession, drain_error_body, origin_of
from ..log import logger
from ..protocols.webdav import WebDAVOptions
from ..retry import Attempt, current_attempt, is_cut
from ..streams import SinkFactory
from ..transfer import DOWNLOAD_BLOCK, hidden_beside
from ..urls import quote_path
from ..verify import ServerHash
from ._dav_xml import PROPFIND_BODY, DAVResource, TooLarge, UnsafeXML, parse_multistatus
from .base import Adapter, Capability, ConnectionSettings, Entry, Landed, ProgressCallback, Source, TransferResult
from .http_removal import DELETED, not_done, remove_together
from .http_transfer import RANGED_PUT_CHUNK, ChunkedUpload, HTTPTransfer, RangedPart, Sent, http_options
from .rename_sent import (
    RenameSent,
    State,
    answer_lost,
    answered,
    delivery_unknown,
    sending,
    settle,
    unanswered,
)
from .writer import RemoteWriter

__all__ = ["WebDAVAdapter", "WebDAVOptions"]

_log = logger("xfer.webdav")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Statuses the hook intercepts around webdavclient3 calls: every failure and every redirect.
_ALL_ERRORS = frozenset(range(400, 600)) | _REDIRECTS
#: Around our own PUT: what means something else in WebDAV than in plain HTTP, the
#: statuses some servers give for a missing parent folder (checked, then created), and
#: redirects (requests would turn a PUT redirected by 302/303 into a GET and call it done).
_PUT_ERRORS = frozenset({403, 404, 405, 409, 423, 500}) | _REDIRECTS
#: Around a GET: what a server may answer for a folder (checked with a PROPFIND only then).
_GET_ERRORS = frozenset({403, 404, 405, 409}) | _REDIRECTS
#: Answers to MOVE/COPY with ``Overwrite: F`` that may mean "the destination exists" (see _relocate).
_SOMETHING_THERE = frozenset({409, 412}) | _REDIRECTS
#: Answers to a slash-less PROPFIND that may mean "this is a collection, ask with the slash".
_TRY_SLASH = frozenset({403, 404, 405})
#: A pipelined look at one file (:meth:`WebDAVAdapter.remove_sources`).
#: Not compressed: the lean reader does not decode (a gzipped answer, Apache's mod_deflate on XML,
#: would read as no answer, and every file would go its own way after all).
_LOOK_HEADERS = {"Depth": "0", "Content-Type": "application/xml; charset=utf-8", "Accept-Encoding": "identity"}
#: A non-multistatus success body is read up to this size (the connection is reused); larger, dropped.
_SMALL_BODY = 64 * 1024
#: PROPFIND bodies are read (and parsed) in blocks of this size.
_CHUNK = DOWNLOAD_BLOCK


class _DAVStatus(Exception):
    """An error response caught by the hook, body already read.  Never leaves this module."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True)
class _Reply:
    status: int
    url: str
    #: The parsed multistatus of a 207 answer (streamed, capped), else empty.
    resources: list[DAVResource]
    #: For an accepted error status: the error it would have raised.
    error: XferError | None = None


class WebDAVAdapter(Adapter):
    """Files and folders over WebDAV with a client certificate, on one pooled TLS connection.

    Beyond the common verbs: :meth:`copy` (server-side COPY).  ``[webdav]`` options:
    ``upload_temp_name`` (default on: PUT to a hidden temporary name, then MOVE into place;
    off, an interrupted PUT can leave a partial file under the real name) and
    ``overwrite`` (whether :meth:`mv` and :meth:`copy` may replace an existing *file*;
    a folder is never replaced).
    """

    # set_modified where the server lets clients set getlastmodified: RFC 4918 §15.7 makes it a
    # protected live property (Apache, nginx refuse), some servers take it (wsgidav's
    # mutable_live_props, for rsync-like clients); keeps_modified asks.
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)
    LISTS_DOTFILES = True  # PROPFIND shows every member

    #: Small files are downloaded pipelined (:meth:`get_together`), with HTTPS's bounds; they are
    #: uploaded one by one (each to its temporary name, then MOVEd: :meth:`put_together` moves none).
    together_max_size: ClassVar[int] = 64 * 1024
    together_files: ClassVar[int] = 32
    together_bytes: ClassVar[int] = 256 * 1024
    paths_in_urls: ClassVar[bool] = True

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        # The shared HTTP code builds the guarded session for https://host:port (and basic auth);
        # PUT and GET take HTTP's defaults (plain PUT, size verified).
        self.http = HTTPTransfer(settings, http_options(settings), user_path=self.user_path, can_mkdir=True)
        self.session: XferSession = self.http.session
        self.dav_options = settings.options_as(WebDAVOptions)
        self._watch = threading.local()
        # Server paths a PROPFIND showed to be collections: they are addressed with the "/".
        self._collections: set[str] = set()
        #: How a path-rewriting proxy in front renames paths, once an answer showed it:
        #: (the server's prefix, ours), e.g. ("/backend", "") when /in comes back as /backend/in.
        self._rewrite: tuple[str, str] | None = None
        #: Whether the server sets getlastmodified on PROPPATCH (None: not asked yet).
        self._sets_times: bool | None = None
        self.session.hooks["response"].append(self._on_response)
        client = Client(
            {
                "webdav_hostname": self.session.allowed_origin,
                "webdav_timeout": settings.timeout,
                # Its existence checks are extra HEADs per call; we ask the server once instead.
                "webdav_disable_check": True,
            }
        )
        client.session.close()  # never used: it would verify with certifi and present no identity
        client.session = self.session
        self.client = client

    def _close(self) -> None:
        self.http.close()

    def _unsupported_hint(self, capability: Capability) -> str | None:
        return None

    # -- the request layer -------------------------------------------------------------

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        stop: Callable[[requests.Response], bool] | None = getattr(self._watch, "stop", None)
        if stop is not None and stop(response):
            drain_error_body(response)
            raise _DAVStatus(response)
        return response

    @contextlib.contextmanager
    def _watching(self, stop: Container[int] | Callable[[requests.Response], bool]) -> Iterator[None]:
        """Stop responses matching ``stop`` (statuses, or a test) before requests or webdavclient3 act."""
        previous = getattr(self._watch, "stop", None)
        self._watch.stop = stop if callable(stop) else (lambda response: response.status_code in stop)
        try:
            yield
        finally:
            self._watch.stop = previous

    def _is_collection_redirect(self, response: requests.Response) -> bool:
        """A redirect from ``/a`` to ``/a/`` on the same origin: the server's way to name a collection."""
        if response.status_code not in _REDIRECTS:
            return False
        location = urllib.parse.urljoin(response.url or "", response.headers.get("Location", ""))
        asked = urllib.parse.unquote(urllib.parse.urlsplit(response.url or "").path)
        target = urllib.parse.unquote(urllib.parse.urlsplit(location).path)
        return (
            _origin(location) == self.session.allowed_origin
            and not asked.endswith("/")
            and target == asked + "/"
        )

    def _dav(
        self,
        action: str,
        path: str,
        *,
        folder: bool = False,
        headers: Sequence[str] = (),
        body: bytes | None = None,
        accept: Container[int] = (),
        other: str | None = None,
        shown: str | None = None,
    ) -> _Reply:
        """One webdavclient3 request on our session; the response is read and closed.

        ``action`` is webdavclient3's name (``list``, ``mkdir``, ``clean``, ``move``,
        ``copy``).  Error statuses in ``accept`` are returned (with the error they would
        have raised), others raise the mapped xfer error.  A ``207`` body is parsed as
        it streams in, up to ``max_listing`` bytes.  A redirect to the collection form
        of ``path`` is retried with the slash; any other redirect is an error.
        ``other`` is the second path of a MOVE/COPY, for messages; ``shown`` names
        ``path`` in messages instead (an upload's temporary name is not the user's).
        """
        session = self.session
        try:
            with session.translating(), self._watching(_ALL_ERRORS):
                try:
                    response = self.client.execute_request(
                        action, _quote(path, folder=folder), data=body, headers_ext=list(headers)
                    )
                except WebDavException as exc:
                    # Statuses are stopped by the hook before webdavclient3 sees them, so only a
                    # transport failure it wrapped could get here; its cause chain has the ssl error.
                    raise map_http_error(exc, server=self.settings.server, context=self.settings.ssl_context) from exc
                with response:
                    if response.status_code == 207:
                        resources = self._read_multistatus(response, shown or path)
                    else:
                        resources = []
                        _discard_body(response)
                    return _Reply(response.status_code, response.url or "", resources)
        except _DAVStatus as failure:
            response = failure.response
            if not folder and self._is_collection_redirect(response):
                self._collections.add(path)
                return self._dav(action, path, folder=True, headers=headers, body=body, accept=accept,
                                 other=other, shown=shown)
            error = self._status_error(response, shown or path, action, other)
            if response.status_code in accept:
                return _Reply(response.status_code, response.url or "", [], error=error)
            raise error from failure

    def _read_multistatus(self, response: requests.Response, path: str) -> list[DAVResource]:
        """Parse a 207 body while it streams in; past ``max_listing`` bytes, stop reading."""
        limit = self.settings.max_listing
        try:
            return parse_multistatus(
                response.iter_content(_CHUNK),
                request_url=response.url or self.session.url_for(path),
                limit=limit,
            )
        except TooLarge as exc:
            response.close()  # the rest stays unread: this connection cannot be reused
            raise listing_too_large(self.settings.server, path, limit) from exc
        except UnsafeXML as exc:
            response.close()
            raise RemoteError(
                f"{self.settings.server}: refused the WebDAV answer for {path}: {exc}",
                hint="the server (or something in between) sent XML xfer will not parse",
            ) from exc

    def _status_error(self, response: requests.Response, path: str, action: str, other: str | None) -> XferError:
        """The xfer error for a failed WebDAV request: DAV meanings first, then HTTP's."""
        server = self.settings.server
        status = response.status_code
        said = f"{status} {response.reason or ''}".strip()
        method = response.request.method if response.request is not None else action.upper()
        target = other if other is not None else path
        facts: ErrorFields = {"server": server, "path": target, "status": status}
        if status == 409 and action in ("mkdir", "upload", "move", "copy"):
            parent = posixpath.dirname(target.rstrip("/")) or "/"
            return folder_missing(server, parent, f"{method} {target}: {said}", **facts)
        if status == 412 and action in ("move", "copy"):
            return RemoteExists(
                f"{server}: {target} already exists and overwriting is off ({said})",
                hint="remove it first, or set overwrite = true in the profile's [webdav] table",
                **facts,
            )
        if status == 405 and action == "upload":
            return RemoteExists(
                f"{server}: cannot upload to {path}: the server does not allow PUT there ({said}); it may be a folder",
                **facts,
            )
        if status in (405, 501):
            return UnsupportedOperation(
                f"{server} does not allow {method} on {path} ({said})",
                hint="for a plain web server (no WebDAV) use https://" if action == "list" else None,
                **facts,
            )
        if status == 423:
            return RemoteLocked(
                f"{server}: {path} is locked ({said})",
                hint="someone holds a WebDAV lock on it; try again when it is released",
                **facts,
            )
        return map_http_error(response, server=server, path=path, context=self.settings.ssl_context)

    def _multistatus_error(self, reply: _Reply, path: str, action: str) -> None:
        """A 207 answer to DELETE/MOVE/COPY lists the members that failed: raise for them."""
        failed = [r for r in reply.resources if r.status >= 400]
        if not failed:
            return
        first = failed[0]
        verb = {"clean": "removing", "move": "moving", "copy": "copying"}.get(action, action)
        message = (
            f"{self.settings.server}: {verb} {path} failed for {len(failed)} item(s), "
            f"first {_printable(first.path)} (HTTP {first.status}); the rest may have been done"
        )
        kinds: dict[int, type[RemoteError]] = {
            403: RemotePermissionDenied,
            404: RemoteNotFound,
            423: RemoteLocked,
            507: RemoteStorageFull,
        }
        raise kinds.get(first.status, RemoteError)(message)

    def _done(self, reply: _Reply, path: str, action: str) -> None:
        """Raise unless the success ``reply`` to DELETE/MOVE/COPY/MKCOL of ``path`` says it is done.

        A 207 lists the members that failed (:meth:`_multistatus_error`); a 202 Accepted is a
        request taken to be carried out later, or never: nothing is done yet, and nothing may be
        reported as done (review Q: mv, cp and mkdir said so).  A DELETE is done only as
        :data:`~.http_removal.DELETED` says, as when it goes pipelined.
        """
        if reply.status == 207:
            self._multistatus_error(reply, path, action)
            return
        if reply.status == 202 or (action == "clean" and reply.status not in DELETED):
            noun = {"clean": "removal", "move": "move", "copy": "copy", "mkdir": "creation"}[action]
            said = "202 Accepted" if reply.status == 202 else f"HTTP {reply.status}"
            raise not_done(self.settings.server, noun, path, said)

    # -- PROPFIND ------------------------------------------------------------------------

    def _known_collection(self, path: str) -> bool:
        """The connection's root, and what a PROPFIND showed to be a collection."""
        return path in ("/", self.remote_path("/")) or path in self._collections

    def _forget(self, path: str) -> None:
        """``path`` and everything below it may no longer be collections (removed, moved)."""
        prefix = path.rstrip("/") + "/"
        self._collections = {p for p in self._collections if p != path and not p.startswith(prefix)}

    def _propfind(self, path: str, depth: int) -> list[DAVResource]:
        known = self._known_collection(path)
        headers = [f"Depth: {depth}", "Content-Type: application/xml; charset=utf-8"]
        reply = self._dav("list", path, folder=known, headers=headers, body=PROPFIND_BODY, accept=_TRY_SLASH)
        if reply.error is not None and path != "/":
            # A collection may be reachable only under its slash form (Apache ``Alias /dav/``
            # answers 403 for /dav), and a stale guess may be wrong the other way: ask once more.
            again = self._dav("list", path, folder=not known, headers=headers, body=PROPFIND_BODY,
                              accept=_TRY_SLASH)
            if again.error is None:
                reply = again
                if not known:
                    self._collections.add(path)
                else:
                    self._forget(path)
        if reply.error is not None:
            raise reply.error
        if reply.status != 207:
            raise RemoteError(
                f"{self.settings.server} answered PROPFIND {path} with HTTP {reply.status}, "
                "not 207 Multi-Status: it does not seem to speak WebDAV there",
                hint="for a plain web server use https://",
            )
        return reply.resources

    def _split(
        self, resources: list[DAVResource], path: str, *, depth: int, named: bool = False
    ) -> tuple[DAVResource, list[DAVResource]]:
        """The resource ``path`` itself, and its direct children (the members, for Depth 1).

        Anything else the server put in the answer (another folder, a deeper descendant,
        another host) is not a member and is left out, with a warning.  Without an entry
        for ``path`` itself, the one a path-rewriting proxy's answer names it by is taken:
        by the rewrite an earlier answer showed, else as :func:`_renamed_itself` tells it
        (the rewrite is then remembered).  ``named`` (what decides a removal: ``rm``,
        ``rmdir``) never takes the root's renamed entry, the one guess that can be a member.
        Any entry for ``path`` with a failure status fails the whole answer (a 507 after the
        200 is the server saying it cut the listing short).
        """
        wanted = path.rstrip("/") or "/"
        ours = self._same_origin(resources, wanted)
        itself = None
        if self._rewrite is not None:  # the server's name for it, as an earlier answer showed
            renamed = _rewritten(wanted, self._rewrite)
            itself = next((r for r in ours if r.path == renamed and not _maybe_a_member(r, ours)), None)
        exact = next((r for r in ours if r.path == wanted), None) if itself is None else None
        if exact is not None and not _maybe_a_member(exact, ours):
            itself = exact
        if itself is None and not (named and wanted == "/"):
            itself = _renamed_itself(ours, wanted, depth=depth)
            rewrite = _rewrite_between(itself.path, wanted) if itself is not None and wanted != "/" else None
            if rewrite is not None and rewrite[0].endswith(wanted):
                # /in answered as /backend/in/in alone: a proxy's prefix /backend/in, or a member
                # named like the folder behind a prefix /backend, in an answer that left its own
                # entry out (review Y: rm /in removed the folder).  Not certain enough to decide a
                # removal, nor to be remembered.
                itself = None if named else itself
            elif rewrite is not None and rewrite != ("", ""):
                # (Never learned from the root: its one-collection answer is also the hostile one.)
                self._rewrite = rewrite
        if itself is None and not named:
            itself = exact  # (a listing only: what decides a removal must be certain)
        if itself is None:
            raise RemoteError(
                f"{self.settings.server}: the PROPFIND answer for {path} does not describe {path}"
                + ("; nothing was removed" if named else "")
            )
        failure = next((r.status for r in ours if r.path == itself.path and r.status >= 400), None)
        if failure == 507:
            # RFC 5323 5.2 / RFC 6578 3.6: the request-URI repeated with 507 marks a truncated answer.
            raise RemoteError(
                f"{self.settings.server}: the server cut its listing of {path} short "
                "(507 Insufficient Storage for the folder itself): the listing is incomplete",
                hint="the server limits how many entries one answer holds; list smaller folders",
                server=self.settings.server, path=path, status=failure,
            )
        if failure is not None:
            # Some servers answer 207 with the failure inside (404 for a missing resource).
            raise _member_error(failure)(
                f"{self.settings.server}: {path} "
                + ("does not exist" if failure in (404, 410) else f"cannot be read (HTTP {failure})")
            )
        members = [
            r for r in ours if r is not itself and r.path != itself.path and posixpath.dirname(r.path) == itself.path
        ]
        # (The folder named twice, "/in" and "/in/", is no stranger.)
        strangers = sum(1 for r in resources if r.path != itself.path) - len(members)
        if strangers > 0:
            _log.warning(
                "%s: ignored %d entr%s of the answer for %s that are not directly in that folder",
                self.settings.server, strangers, "y" if strangers == 1 else "ies", path,
            )
        if itself.is_collection:
            self._collections.add(path)
        return itself, members

    def _same_origin(self, resources: list[DAVResource], wanted: str) -> list[DAVResource]:
        """The responses about this server: hrefs as paths, or URLs on its origin.

        A server behind a proxy may name itself by another host in absolute hrefs; when
        the folder that was asked for comes back under such a name, that name counts as
        the server's too.  Any other host is a stranger, whatever its path says.
        """
        own = {self.session.allowed_origin}
        for resource in resources:
            if resource.path == wanted and resource.authority is not None:
                own.add(_origin(resource.authority))
                break
        return [r for r in resources if r.authority is None or _origin(r.authority) in own]

    def _stat(self, path: str) -> DAVResource:
        resource, _ = self._split(self._propfind(path, 0), path, depth=0)
        return resource

    def _lookup(self, path: str) -> DAVResource | None:
        """``path``'s resource, or None if it does not exist."""
        try:
            return self._stat(path)
        except RemoteNotFound:
            return None

    def _is_folder(self, path: str) -> bool:
        """True if ``path`` is a collection; False if it is missing or a file."""
        found = self._lookup(path)
        return found is not None and found.is_collection

    def _to_entry(self, resource: DAVResource, path: str) -> Entry:
        extra = {
            key: value
            for key, value in (("etag", resource.etag), ("content_type", resource.content_type))
            if value is not None
        }
        if not resource.kind_known:
            # Neither file nor folder as far as we know: get -r and sync pass over it with a word;
            # taken for a file, sync --delete removed a whole collection (review, H3).
            extra["undescribed"] = "the server did not say whether it is a file or a folder"
        return Entry(
            name=posixpath.basename(path),
            path=path,
            type="directory" if resource.is_collection else "file" if resource.kind_known else "other",
            size=resource.size,
            modified=resource.modified,
            extra=extra,
        )

    def _ls(self, path: str) -> list[Entry]:
        itself, members = self._split(self._propfind(path, 1), path, depth=1)
        if not itself.is_collection:
            return [self._to_entry(itself, path)]
        entries: dict[str, Entry] = {}
        for member in members:
            name = member.name
            if member.status in (404, 410) or not name or name in entries:
                continue  # (gone between the server's look at the folder and at it)
            if _unaddressable(name):
                # There, but no URL or local name would be the same file.  Left out, it would read as
                # absent and sync --delete would remove the local copy (review S, finding 2): listed
                # as neither file nor folder, get -r and sync pass over it with a word.
                entries[name] = Entry(name=name, path=posixpath.join(path, name), type="other",
                                      extra={"unaddressable": "its name is not UTF-8, which xfer does not "
                                             "address or write to disk"})
                continue
            if member.status in (401, 403):
                # There, but not described to us: sabre/dav's ACL plugin lists what the user may not
                # read with every property refused (review V).  Listed as neither file nor folder, it
                # is passed over with a word by get -r and sync, and never read as absent.
                entries[name] = Entry(name=name, path=posixpath.join(path, name), type="other",
                                      extra={"refused": f"HTTP {member.status}"})
                continue
            if not 200 <= member.status < 300:
                # Left out, it would read as absent: sync --delete would remove the local copy of a
                # file the server has and did not describe (a 500 for one member).
                raise _member_error(member.status)(
                    f"{self.settings.server}: cannot list {path}: the server did not describe "
                    f"{_printable(name)} in it (HTTP {member.status}); the listing is incomplete",
                    server=self.settings.server, path=path, status=member.status,
                )
            child = posixpath.join(path, name)
            if member.is_collection:
                self._collections.add(child)
            entries[name] = self._to_entry(member, child)
        return list(entries.values())

    def _info(self, path: str) -> Entry:
        return self._to_entry(self._stat(path), path)

    def remove_sources(self, files: Sequence[tuple[str, int] | Source]) -> list[XferError | None]:
        """Every file's ``PROPFIND`` (Depth 0) pipelined, then the ``DELETE``\\ s of those shown as
        files of their sizes (:mod:`~xfer.adapters.http_removal`): a few round trips for the lot,
        where one file after another took three each (``info``, then ``rm``'s own look and its
        ``DELETE``).  A file whose look is answered otherwise than ``207`` goes the default way, as
        do all when requests cannot be pipelined.  A collection is never removed: only what its own
        ``PROPFIND`` shows to be a file is."""
        self._require(Capability.RM)
        if len(files) < 2 or not self.http.can_pipeline():
            return super().remove_sources(files)
        return remove_together(
            self, self.session, files, shown_by=self._shown_by_propfind,
            ask=lambda target: ("PROPFIND", self.session.url_for(target), PROPFIND_BODY, _LOOK_HEADERS))

    def _shown_by_propfind(self, path: str, answer: requests.Response) -> Entry | XferError | None:
        """What a pipelined ``PROPFIND`` of ``path`` (Depth 0, its body read whole) shows: the
        resource, or nothing (a ``207`` saying so); None for any other answer (a redirect to the
        collection's form, a refusal, a ``404`` that may be a collection's slash-less name: see
        :meth:`_propfind`, a body left unread)."""
        if answer.status_code != 207 or body_left_unread(answer):
            return None
        try:
            resources = parse_multistatus([answer.content], request_url=answer.url, limit=self.settings.max_listing)
            itself, _ = self._split(resources, path, depth=0, named=True)  # it decides a DELETE
        except RemoteNotFound as missing:
            return missing
        except (XferError, TooLarge, UnsafeXML):
            return None  # nothing certain: the file's own look says what is wrong
        return self._to_entry(itself, path)

    # -- modification times ----------------------------------------------------------------

    @property
    def keeps_modified(self) -> bool:
        """False once this connection found that the server does not set getlastmodified (most
        refuse it); until then :meth:`set_modified` tries.  Nothing is changed just to ask."""
        return self._sets_times is not False

    def _set_modified(self, path: str, modified: dt.datetime) -> None:
        hint = "xfer sync then compares an uploaded file as unchanged while the server's copy is newer"
        protected = UnsupportedOperation(
            f"{self.settings.server} does not let clients set modification times "
            "(it refused a PROPPATCH of getlastmodified: RFC 4918 makes it a protected property)",
            hint=hint,
        )
        if self._sets_times is False:
            raise protected
        wanted = modified.replace(microsecond=0)
        if not self._proppatch_time(path, wanted):
            if self._sets_times is None:  # the first answer is the server's rule
                self._sets_times = False
                raise protected
            raise UnsupportedOperation(  # a server that set other times refused this one
                f"{self.settings.server} refused to set the modification time of {self.user_path(path)}", hint=hint
            )
        # What a server answers is input: the time is read back (HTTP dates have whole seconds).
        if self._stat(path).modified != wanted:
            self._sets_times = False
            raise UnsupportedOperation(
                f"{self.settings.server} did not set the modification time of {self.user_path(path)} "
                "although it took the PROPPATCH",
                hint=hint,
            )
        self._sets_times = True

    def _proppatch_time(self, path: str, when: dt.datetime) -> bool:
        """PROPPATCH ``path``'s getlastmodified to ``when``; True if the server says it set it.
        A refusal of the method (405, 501) or of the property (403, 409, 422, 424) is False."""
        stamp = email.utils.format_datetime(when.astimezone(dt.timezone.utc), usegmt=True)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            f"<D:getlastmodified>{stamp}</D:getlastmodified></D:prop></D:set></D:propertyupdate>"
        ).encode()
        headers = ["Content-Type: application/xml; charset=utf-8", "Depth: 0"]
        reply = self._dav("set_property", path, folder=self._known_collection(path), headers=headers, body=body,
                          accept=(403, 405, 409, 422, 424, 501))
        if reply.error is not None or not 200 <= reply.status < 300:
            return False
        # 207: the property's own status decides (a failed propstat leaves the resource without it).
        return reply.status != 207 or any(resource.status == 200 for resource in reply.resources)

    # -- folders --------------------------------------------------------------------------

    def _mkdir(self, path: str, parents: bool) -> None:
        if path == "/":
            return
        # MKCOL on the folder first: one request when the parent exists (the usual case),
        # walking up only on 409 Conflict (missing parent).  nginx wants the trailing slash.
        tolerated = (400, 403, 405, 409) if parents else (400, 403, 405)
        reply = self._dav("mkdir", path, folder=True, accept=tolerated)
        if reply.status == 409:
            self._mkdir(posixpath.dirname(path), parents=True)
            reply = self._dav("mkdir", path, folder=True, accept=(400, 403, 405))
        if reply.status in (400, 403, 405):
            # 405: something exists there already, which is fine if it is a folder.  Apache
            # answers 400 instead when that something is a file ("name/" cannot be a file), and
            # RFC 4918 9.3.1 allows 403 for an existing folder in a parent this account may not
            # create in (review I: put -r and sync into such a folder failed).
            found = self._lookup(path)
            if found is None:
                if reply.status == 403 and reply.error is not None:
                    raise reply.error
                raise RemoteError(f"{self.settings.server} refused to create folder {path} (HTTP {reply.status})")
            if not found.is_collection:
                raise RemoteExists(f"{self.settings.server}: cannot create folder {path}: a file has that name")
        self._done(reply, path, "mkdir")
        self._collections.add(path)

    def _rm(self, path: str, recursive: bool) -> None:
        if path == "/":
            raise UsageError("refusing to remove the server's root folder")
        depth = 0 if recursive else 1
        itself, members = self._split(self._propfind(path, depth), path, depth=depth, named=True)
        if itself.is_collection and not recursive and members:
            raise folder_needs_recursive(
                f"{self.settings.server}: {path} is a folder with {len(members)} entr"
                f"{'y' if len(members) == 1 else 'ies'} in it; nothing was removed"
            )
        if not itself.kind_known and not recursive:
            raise RemoteError(
                f"{self.settings.server}: cannot tell whether {path} is a file or a folder (the server did not "
                "give its resourcetype); nothing was removed",
                hint="xfer rm -r removes it, and everything in it if it is a folder",
                server=self.settings.server, path=path,
            )
        # DELETE on a collection removes it with its members (RFC 4918 9.6.1).  A file's goes
        # with Depth: 0, which servers refuse on a collection (Apache, nginx, wsgidav: 400): a
        # folder that came to be there since the look is not removed whole.
        depth_zero = () if recursive or itself.is_collection else ("Depth: 0",)
        reply = self._dav("clean", path, folder=itself.is_collection, headers=depth_zero)
        self._forget(path)
        self._done(reply, path, "clean")

    def _rmdir(self, path: str) -> None:
        if path == "/":
            raise UsageError("refusing to remove the server's root folder")
        itself, members = self._split(self._propfind(path, 1), path, depth=1, named=True)
        if not itself.is_collection:
            raise RemoteError(f"{self.settings.server}: {path} is not a folder", hint="use xfer rm for files")
        if members:
            # An OSError (ENOTEMPTY) like os.rmdir's: fsspec's callers catch OSError.
            raise RemoteFolderNotEmpty.refused(server=self.settings.server, path=path)
        reply = self._dav("clean", path, folder=True)
        self._forget(path)
        self._done(reply, path, "clean")

    # -- MOVE / COPY ------------------------------------------------------------------------

    def _mv(self, source: str, destination: str) -> None:
        # Adapter.mv has resolved "into a folder" and refused a folder as the destination.
        self._relocate("move", source, destination, replace=self.dav_options.overwrite)

    def copy(self, source: str, destination: str, *, overwrite: bool | None = None) -> None:
        """Copy a file or a whole folder on the server (WebDAV COPY), without downloading it.

        The destination is read as :meth:`mv` reads it (an existing folder, or a path
        ending in ``/``, is copied *into*); an existing file there is replaced only if
        ``overwrite`` (default: the ``[webdav] overwrite`` option), a folder never.
        """
        if self.closed:
            raise UsageError(f"{self!r} is closed")
        source_path, target = self._move_target(source, destination, action="copy")
        self._relocate(
            "copy", source_path, target, replace=self.dav_options.overwrite if overwrite is None else overwrite
        )

    def _relocate(
        self,
        action: str,
        source: str,
        destination: str,
        *,
        replace: bool,
        folder: bool | None = None,
        shown: str | None = None,
    ) -> None:
        """MOVE or COPY ``source`` to exactly ``destination``, never over a folder.

        The request goes with ``Overwrite: F`` first, so a folder (or anything) that is
        at the destination makes the server answer 412 instead of deleting it.  Then
        only an existing *file* is replaced, and only when ``replace`` says so.
        """
        if source == "/" or destination == "/":
            raise UsageError(f"cannot {action} the server's root folder")
        if folder is None:
            # nginx wants source and Destination both with or both without the trailing slash.
            folder = self._stat(source).is_collection
        if not replace:
            # Overwrite: F is the server's to honour, and some ignore it: the file would be gone
            # before the answer (204) said so (review I).  What is there is looked at first.
            self._refuse_existing(action, destination, folder=folder)
        reply = self._send_relocate(action, source, destination, folder=folder, overwrite=False, shown=shown)
        if reply.status in _SOMETHING_THERE:
            # 412: something is there.  409 is a missing parent (RFC 4918), but nginx also says
            # 409 for a file sent onto a folder, and Apache 301 ("Destination URI should end
            # with /", no Location): a look tells which.
            existing = self._lookup(destination)
            if reply.status != 412 and existing is None and reply.error is not None:
                raise reply.error
            what = "a folder" if folder else "a file"
            if existing is not None and existing.is_collection:
                raise RemoteIsFolder(
                    f"{self.settings.server}: {destination} is a folder; {what} never replaces a folder",
                    hint="remove or rename that folder first",
                )
            if existing is not None and folder:
                raise RemoteExists(f"{self.settings.server}: {destination} is a file; a folder never replaces it")
            if existing is not None and not replace:
                raise RemoteExists(
                    f"{self.settings.server}: {destination} already exists and overwriting is off",
                    hint="remove it first, or set overwrite = true in the profile's [webdav] table",
                )
            # A file that may be replaced (or something that vanished in between).
            reply = self._send_relocate(
                action, source, destination, folder=folder, overwrite=existing is not None, shown=shown
            )
            if reply.status in _SOMETHING_THERE and (reply.status == 412 or existing is not None):
                raise RemoteExists(
                    f"{self.settings.server}: {destination} exists and the server refused to replace it "
                    f"(HTTP {reply.status}); nothing was replaced"
                )
            if reply.error is not None:
                raise reply.error
        if action == "move" and folder:
            self._forget(source)
        self._done(reply, shown or source, action)  # (an upload's MOVE: the user's name)
        if folder:
            self._collections.add(destination)

    def _refuse_existing(self, action: str, destination: str, *, folder: bool) -> None:
        """Refuse a ``destination`` that exists, when overwriting is off."""
        existing = self._lookup(destination)
        if existing is None:
            return
        if existing.is_collection:
            what = "a folder" if folder else "a file"
            raise RemoteIsFolder(f"{self.settings.server}: {destination} is a folder; {what} never replaces a folder",
                                 hint="remove or rename that folder first")
        raise RemoteExists(
            f"{self.settings.server}: {destination} already exists and overwriting is off ({action} not sent)",
            hint="remove it first, or set overwrite = true in the profile's [webdav] table",
        )

    def _send_relocate(
        self, action: str, source: str, destination: str, *, folder: bool, overwrite: bool, shown: str | None
    ) -> _Reply:
        headers = [
            f"Destination: {self.session.url_for(destination, folder=folder)}",
            f"Overwrite: {'T' if overwrite else 'F'}",
        ]
        if action == "copy" and folder:
            headers.append("Depth: infinity")
        try:
            return self._dav(action, source, folder=folder, headers=headers, accept=_SOMETHING_THERE, other=destination,
                             shown=shown)
        except ServerError as exc:
            # Apache mod_dav answers 500, not 409, when the destination's folder is missing.
            parent = posixpath.dirname(destination) or "/"
            if not self._is_folder(parent):
                raise folder_missing(self.settings.server, parent, str(exc),
                                     server=self.settings.server, path=destination) from exc
            raise

    # -- GET -------------------------------------------------------------------------------

    def _get_file(
        self, remote: str, local: str, callback: ProgressCallback | None, *, sink: SinkFactory | None = None
    ) -> TransferResult:
        """The HTTPS download, but a folder is named as such (exit 6), never saved or taken for missing.

        Servers answer a GET on a collection in many ways (404, 403, 405, a redirect to
        the slash form and then an index page); only after one of those is it worth a
        PROPFIND to tell.  Other same-origin redirects are still followed.
        """
        if self._known_collection(remote):
            # Seen as a folder earlier (it may have changed since: look again, one PROPFIND).
            if self._is_folder(remote):
                raise self._folder_error(remote)
            self._forget(remote)

        def stop(response: requests.Response) -> bool:
            if response.status_code in _REDIRECTS:
                return self._is_collection_redirect(response)
            return response.status_code in _GET_ERRORS

        try:
            with self._watching(stop):
                return self.http.get(remote, local, callback, sink=sink)
        except _DAVStatus as failure:
            is_folder = False
            with contextlib.suppress(XferError):  # the GET's own error is the one to report then
                is_folder = self._is_folder(remote)
            if is_folder:
                raise self._folder_error(remote) from failure
            raise self._status_error(failure.response, remote, "download", None) from failure

    def moves_together(self, *, upload: bool) -> bool:
        return not upload and self.http.can_go_together(upload=False)

    def get_together(
        self, files: Sequence[tuple[str, str | os.PathLike[str], ProgressCallback | None]],
        *, landed: Landed | None = None, listed: Sequence[int | None] | None = None,
    ) -> list[TransferResult | None]:
        """HTTP's pipelined GETs; any answer but a 200 (a collection's redirect among them) leaves
        its file to :meth:`_get_file`, which tells a folder from a failure."""
        self._require(Capability.GET)
        planned = [(self.remote_path(remote), os.fspath(local), callback) for remote, local, callback in files]
        fetched = self.http.download_together(planned, alone=self._get_file, landed=self._landing(landed),
                                              listed=listed)
        return [None if result is None else self._common(result) for result in fetched]

    def _folder_error(self, path: str) -> RemoteIsFolder:
        return RemoteIsFolder(
            f"{self.settings.server}: {path} is a folder", hint="pass recursive=True to download folders",
            cli_hint="use -r to copy a folder", server=self.settings.server, path=path,
        )

    # -- PUT -------------------------------------------------------------------------------

    def _put_file(
        self, local: str, remote: str, callback: ProgressCallback | None, *, preserve_times: bool = False,
    ) -> TransferResult:
        """Upload; a missing parent folder is created (MKCOL each level), then the upload runs again.

        Servers say "no parent" as 409 (RFC 4918), 404, 403 or 500: after any of those
        the parent is looked up, and only a missing one is created.  A parent that
        exists means the error was about something else, and it is raised as it came.
        """
        parent = posixpath.dirname(remote) or "/"
        try:
            return self._put_once(local, remote, callback)
        except (RemoteNotFound, RemotePermissionDenied, ServerError):
            if parent == remote or not self._missing(parent):
                raise
        self._mkdir(parent, parents=True)
        return self._put_once(local, remote, callback)

    def _missing(self, path: str) -> bool:
        """True only if the server says ``path`` does not exist (not when it will not say)."""
        if self._known_collection(path):
            return False
        try:
            return self._lookup(path) is None
        except XferError:
            return False

    def _put_once(self, local: str, remote: str, callback: ProgressCallback | None) -> TransferResult:
        http = self.http
        if not self.dav_options.upload_temp_name:
            return http.upload(local, remote, callback, check_size=http.options.verify_upload,
                               send_put=self._put_sender(remote)).result
        attempt = current_attempt()
        state = attempt.state if attempt is not None else None
        lost = unanswered(state, remote)
        if lost is not None:
            # The last try's MOVE went out and its answer never came: it may have been done,
            # and an upload now could deliver the file twice (review U, finding 1).
            if not settle(state, lost, self._size_at, server=self.settings.server, shown=remote):
                self._move_into_place(state, lost.temp, remote, lost.memo)  # the complete upload is still there
                self._installed(lost.memo, lost.temp, remote)
            else:
                self._found_installed(lost.memo, lost.temp, remote)
            result: TransferResult = lost.memo.result
            return result
        target = _temp_name(remote)
        # Under retries a large file goes up in Content-Range pieces where the server takes them
        # (Apache): a try after a cut continues the part the last one left, not from byte 0,
        # if it opened the same version of the local file.
        key = f"dav-put:{remote}"
        kept: RangedPart | None = attempt.state.get(key) if attempt is not None else None
        ranged = attempt is not None and attempt.retries > 0 and http.ranged_puts is not False \
            and _size_or_zero(local) > RANGED_PUT_CHUNK
        part = kept or RangedPart(target)  # (and which version of the local file its pieces are of)
        target = part.remote
        send_put = self._put_sender(remote)
        sent: Sent | None = None  # until the server has answered the PUT
        try:
            # The size is checked after the MOVE.
            sent = http.upload_ranged(local, part, callback, send_put=send_put,
                                      resume=kept is not None) if ranged else None
            if sent is None:  # (a ranged upload that fell back hands over no hash: this PUT hashes anew)
                sent = http.upload(local, target, callback, check_size=False, send_put=send_put,
                                   checked_later=True)
            result = sent.result
            if http.checksum and result.verified == "none":
                # --checksum and the PUT answer stated no hash: ask before the MOVE, so that
                # nothing the server has not vouched for is installed.
                stored, offered = http.check_stored(target, result.size)
                result.verified = http.conclude_upload(
                    offered, sent.hash, target, size_checked=stored, remove=target, installed=False,
                    source=sent.source, size=result.size, shown=remote,  # the user's name, not .NAME.xfer-part
                )
            self._move_into_place(state, target, remote, sent)
        except Exception as exc:
            if unanswered(state, remote) is not None:
                # The MOVE may have been done: the next try looks before anything (not removed
                # now).  If none comes, the temporary name goes: a MOVE not done left it there.
                if attempt is not None:
                    attempt.on_give_up(lambda: self._discard(target))
                raise
            if ranged and http.ranged_puts and attempt is not None:
                # The pieces sent stay for the next try; the retry loop removes them if none comes.
                if kept is None:
                    attempt.state[key] = part
                    attempt.on_give_up(lambda: self._discard(target))
            else:
                self._discard(target)
                if attempt is not None and sent is None and (is_cut(exc) or isinstance(exc, ConnectTimeout)):
                    self._discard_again_later(attempt, remote, target)
            raise
        except BaseException:
            # Whatever stopped the upload (Ctrl-C, TLS, a refused MOVE, a local read error),
            # the temporary file must not stay behind; the original error is what propagates.
            self._discard(target)
            raise
        if attempt is not None:
            for earlier in attempt.state.pop(_cut_tries_key(remote), ()):
                self._discard(earlier)
        self._installed(sent, target, remote)
        return result

    def _move_into_place(self, state: State, target: str, remote: str, sent: Sent) -> None:
        """:meth:`_into_place`, remembered in ``state`` (the retry's) while its answer is awaited:
        if the connection breaks before it comes, the next try settles it (:func:`settle`)."""
        sending(state, RenameSent(target, remote, sent.result.size, memo=sent))
        try:
            self._into_place(target, remote)
        except Exception as exc:
            if not answer_lost(exc):
                answered(state, remote)  # refused: not moved
            raise
        answered(state, remote)

    def _size_at(self, path: str) -> int | None:
        """The size of the file at ``path``; None if nothing is there (or no file of a stated size)."""
        found = self._lookup(path)
        return None if found is None or found.is_collection else found.size

    def _discard_again_later(self, attempt: Attempt, remote: str, target: str) -> None:
        """A try cut (or timed out) before its ``PUT`` was answered: its temporary name is removed once more later.

        The ``DELETE`` right after a cut may reach the server before the worker still
        finishing the aborted ``PUT`` has created the file (wsgidav does, from the bytes it
        got).  Once a later try's upload is in place, or the last try has failed, a second
        ``DELETE`` of each such name finds it; a 404 costs one round trip, and only a cut
        upload pays it.
        """
        left: list[str] = attempt.state.setdefault(_cut_tries_key(remote), [])
        if not left:
            def again() -> None:
                for name in left:
                    self._discard(name)

            attempt.on_give_up(again)
        left.append(target)

    def _into_place(self, target: str, remote: str) -> None:
        """MOVE the complete upload ``target`` to ``remote``.

        Pick-up folders never see a half file: it appears under its name when complete.
        A folder under that name is never replaced (Overwrite: F first, then only a file).
        """
        try:
            self._relocate("move", target, remote, replace=True, folder=False, shown=remote)
        except UnsupportedOperation as exc:
            raise UnsupportedOperation(
                f"{exc}: the upload went to a temporary name and cannot be moved into place",
                hint="set upload_temp_name = false in the profile's [webdav] table (an interrupted "
                "upload may then leave a partial file under the real name)",
            ) from exc

    def _installed(self, sent: Sent, target: str, remote: str) -> None:
        """After the MOVE: the size (and any hash) checked on the final name, and the result says where it went."""
        http, result = self.http, sent.result
        offered = None
        if http.options.verify_upload:
            # Checked on the final name, not the temporary one: a server that mangles the
            # MOVE destination ('?', ';') would otherwise report success for a file that
            # landed somewhere else.
            result.size_verified, offered = http.check_stored(remote, result.size, must_exist=True, remove=remote)
        if result.verified == "none":  # the PUT answer stated no hash (one it stated was checked before the MOVE)
            result.verified = http.conclude_upload(
                offered, sent.hash, remote, size_checked=bool(result.size_verified), remove=remote,
                source=sent.source, size=result.size,
            )
        result.remote = self.user_path(remote)
        result.temp_name = posixpath.basename(target)

    def _found_installed(self, sent: Sent, target: str, remote: str) -> None:
        """:meth:`_installed` for an upload a lost MOVE answer left, found at ``remote`` at its size
        by the next try's look: checked the same way (the size, and the server's hash where it
        states one), but a file there that is not the upload is never deleted.  It is someone's
        put there since (a partner's next file of the same size): :class:`DeliveryUnknown`
        (review R, finding 1: the check's clean-up deleted it)."""
        http, result = self.http, sent.result
        server = self.settings.server
        try:
            result.size_verified, offered = http.check_stored(remote, result.size, must_exist=True)
        except (IntegrityError, RemoteNotFound) as exc:
            raise delivery_unknown("is not the upload any more", server=server, shown=remote) from exc
        if offered is not None:
            ours = sent.hash.hexdigest(offered.algorithm)
            if ours is None and sent.source is not None:
                ours = sent.source.hash(offered.algorithm).hexdigest(offered.algorithm)
            if ours is not None and ours != offered.value:
                raise delivery_unknown(f"holds other bytes of the same size (its {offered.algorithm} differs)",
                                       server=server, shown=remote)
        if result.verified == "none":  # (as _installed: a hash the PUT answer stated was checked before the MOVE)
            result.verified = http.conclude_upload(
                offered, sent.hash, remote, size_checked=bool(result.size_verified), remove=remote,
                source=sent.source, size=result.size,
            )
        result.remote = self.user_path(remote)
        result.temp_name = posixpath.basename(target)

    def _open_write(self, remote: str, callback: ProgressCallback | None) -> RemoteWriter:
        """A chunked PUT to the temporary name, MOVEd into place by ``close()``.

        A missing parent folder is created first: a stream cannot be sent a second time
        after the server refused the PUT (and some servers say so only after the body).
        """
        http = self.http
        parent = posixpath.dirname(remote) or "/"
        if parent != "/" and self._missing(parent):
            self._mkdir(parent, parents=True)
        if not self.dav_options.upload_temp_name:
            return ChunkedUpload(http, remote, callback, user_path=self.user_path(remote),
                                 check_size=http.options.verify_upload, send_put=self._put_sender(remote))
        target = _temp_name(remote)

        def then(sent: Sent) -> None:
            self._into_place(target, remote)
            self._installed(sent, target, remote)

        return ChunkedUpload(http, target, callback, user_path=self.user_path(remote), check_size=False,
                             send_put=self._put_sender(remote), then=then,
                             discard=lambda: self._discard_aborted(target), temp_name=target)

    def _put_sender(self, shown: str) -> Callable[..., requests.Response]:
        """The ``send_put`` of an upload to ``shown``: its PUT may go to the temporary name, and
        what goes wrong is said of ``shown``, the path the user named (review Q: a refused PUT
        named ``.NAME.RANDOM.xfer-part``)."""

        def send_put(target: str, data: Any, headers: dict[str, str] | None = None) -> requests.Response:
            # Watched around the PUT only: a 405 on the size-check HEAD after it is not "PUT refused".
            with self._watching(_PUT_ERRORS):
                try:
                    return self.http.send_put(target, data, headers)
                except _DAVStatus as failure:
                    # A PUT onto a folder gets 405, 409, 403, even a redirect to the folder's URL
                    # (Apache): only then is it worth a look.
                    if failure.response.status_code not in (404, 423) and self._is_folder(target):
                        raise self._put_folder_error(shown) from failure
                    raise self._status_error(failure.response, shown, "upload", None) from failure

        return send_put

    # -- HEAD and ranged reads (the fsspec filesystem) ---------------------------------------

    def head(self, path: str) -> Entry:
        """Facts about one file from a ``HEAD``: works where the server offers no listing."""
        if self.closed:
            raise UsageError(f"{self!r} is closed")
        return self._entry(self.http.file_entry(self.remote_path(path)))

    def _checksum(self, path: str, size: int | None) -> ServerHash | None:
        """The hash a ``HEAD`` of ``path`` states (``xfer sync --checksum``), as an upload's check reads it."""
        return self.http.stated_hash(path)

    def _read_range(self, path: str, start: int, length: int | None, version: str | None) -> bytes:
        return self.http.read_range(path, start, length, version=version)

    def _put_folder_error(self, path: str) -> RemoteIsFolder:
        return RemoteIsFolder(
            f"{self.settings.server}: {path} is a folder; an upload never replaces a folder",
            hint="to upload into it, end the destination with /",
        )

    def _discard(self, path: str) -> None:
        """Best effort: remove a temporary upload after a failure (it may not exist).

        Never raises an error of its own: the caller is re-raising the one that matters.
        After Ctrl-C or a broken connection this DELETE may fail too (network gone), or
        reach a server still finishing the aborted PUT; then the part file stays behind,
        under its hidden name, never under the real one.
        """
        with contextlib.suppress(Exception):
            self._dav("clean", path, accept=range(400, 600))

    def _discard_aborted(self, path: str) -> None:
        """:meth:`_discard` after a stream's PUT was cut: if nothing was there yet, once more a moment
        later.  The DELETE goes over another connection and may overtake the server's handling of
        the cut PUT, which some servers (wsgidav) end by storing what had arrived (seen under load)."""
        with contextlib.suppress(Exception):
            if self._dav("clean", path, accept=range(400, 600)).status != 404:
                return
            time.sleep(_ABORTED_PUT_SETTLES)
            self._dav("clean", path, accept=range(400, 600))


#: How long a server takes, at most in practice, to end the PUT a client cut (see _discard_aborted).
_ABORTED_PUT_SETTLES = 0.5


def _cut_tries_key(remote: str) -> str:
    """Where a retried upload to ``remote`` keeps its cut tries' temporary names (``Attempt.state``)."""
    return f"dav-left:{remote}"


def _size_or_zero(local: str) -> int:
    """The local file's size; 0 if it cannot be read (the upload itself then says why)."""
    try:
        return os.stat(local).st_size
    except OSError:
        return 0


def _temp_name(remote: str) -> str:
    """The hidden name beside ``remote`` an upload is written under: ``.NAME.RANDOM.xfer-part``,
    within 255 bytes (:func:`~xfer.transfer.hidden_beside`); ``.-NAME.RANDOM.xfer-part`` for a
    NAME that starts with "ht".

    Stock Apache refuses every name that starts with ".ht" (``<Files ".ht*">`` upstream,
    ``<FilesMatch "^\\.ht">`` on Debian: its .htaccess and .htpasswd files), so ``http.log`` or
    ``htaccess-notes.txt`` could not be uploaded there (403).  ``.-`` rather than ``._`` (macOS
    resource forks, which some WebDAV servers set aside) or ``.~`` (office lock files).  Either
    form is one :func:`~xfer.transfer.is_temporary` knows as xfer's own.
    """
    folder, name = posixpath.split(remote)
    if name[:2].lower() == "ht":  # (case-blind, as Apache matches on Windows and macOS)
        name = "-" + name
    return hidden_beside(posixpath.join(folder, name))


def _unaddressable(name: str) -> bool:
    """Names that were not UTF-8 (lone surrogates): no URL or local name would be the same file.

    Controls (an escape, even a newline) are real names: listed, printed escaped by the CLI and
    exact in ``--json``; ``get -r`` passes over the ones no remote path can hold.
    """
    return any(unicodedata.category(char) == "Cs" for char in name)


def _origin(authority: str) -> str:
    """``origin_of`` that never raises: a malformed authority is nobody's origin."""
    try:
        return origin_of(authority)
    except XferError:
        return "?"


def _printable(path: str) -> str:
    """A server path for a message: bytes that were not UTF-8 shown as ``\\xNN``, not a crash on output."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _member_error(status: int) -> type[RemoteError]:
    if status in (404, 410):
        return RemoteNotFound
    if status in (401, 403):
        return RemotePermissionDenied
    return RemoteError


def _renamed_itself(ours: list[DAVResource], wanted: str, *, depth: int) -> DAVResource | None:
    """The entry a path-rewriting proxy's answer names ``wanted`` by, if one can be told; None if not.

    Behind such a proxy the server names things under another prefix (``/in`` comes back as
    ``/backend/in``) or without one (``/dav/in`` as ``/in``): the entry itself is then the one
    whose path and ``wanted`` end alike, and every other entry is under it.  Never a member of
    ``wanted``: a folder ``/data`` whose answer leaves its own entry out and holds a file
    ``data`` is not that file (review Q: ``rm /data`` removed the folder).  For the root, whose
    every member ends like it: the one collection of a Depth 0 answer (which describes nothing
    else), or in a Depth 1 answer a collection with the other entries under it, and at least one
    (review V: an answer for ``/`` of one folder, ``/docs/``, made ``/docs`` the root, and
    ``sync --delete`` removed the local copies of everything else).
    """
    if wanted == "/" and depth == 0:
        return ours[0] if len(ours) == 1 and ours[0].is_collection else None
    if wanted == "/":
        candidates = [r for r in ours if r.is_collection]
    else:
        below = wanted + "/"
        candidates = [r for r in ours if not r.path.startswith(below)
                      and (r.path.endswith(wanted) or wanted.endswith(r.path)) and r.path != "/"]
    if not candidates:
        return None
    first = min(candidates, key=lambda r: len(r.path))
    prefix = first.path.rstrip("/") + "/"
    others = [r for r in ours if r.path != first.path]
    if wanted == "/" and not others:
        return None
    return first if all(r.path.startswith(prefix) for r in others) else None


def _maybe_a_member(entry: DAVResource, ours: list[DAVResource]) -> bool:
    """Whether the entry named as we asked may be a member of the resource the answer describes:
    its folder is in the answer too, and nothing is listed under it.

    Behind a proxy that strips a prefix (``/dav/x`` answered as ``/x``), our ``/dav/dav`` is the
    server's ``/dav``: its answer holds ``/dav`` (the folder) and ``/dav/dav``, a member named
    like our path (review X: ``rm /dav/dav`` took that member for the folder, a file, and removed
    the folder).  A server answering as asked lists no folder above what was asked for.
    """
    if entry.path == "/":
        return False
    folder, below = posixpath.dirname(entry.path), entry.path + "/"
    return any(r.path == folder for r in ours) and not any(r.path.startswith(below) for r in ours)


def _rewrite_between(theirs: str, ours: str) -> tuple[str, str]:
    """The rewrite that names our path ``ours`` as the server's ``theirs`` (they end alike):
    (the server's prefix, ours)."""
    if theirs.endswith(ours):
        return theirs[: len(theirs) - len(ours)], ""
    return "", ours[: len(ours) - len(theirs)]


def _rewritten(path: str, rewrite: tuple[str, str]) -> str | None:
    """``path`` (not "/"-ended) as the server names it under ``rewrite``; None if it is not under our prefix."""
    theirs, ours = rewrite
    if ours and path != ours and not path.startswith(ours + "/"):
        return None
    rest = path[len(ours):] if ours else ("" if path == "/" else path)
    return (theirs + rest) or "/"


def _discard_body(response: requests.Response) -> None:
    """Read a small success body so the connection is reused; past ``_SMALL_BODY``, drop the connection.

    The status already said what happened: a body that breaks off changes nothing about
    that, so a failure here only costs the connection.
    """
    read = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            read += len(chunk)
            if read > _SMALL_BODY:
                response.close()
                return
    except Exception:
        response.close()


def _quote(path: str, *, folder: bool) -> str:
    """The percent-encoded path webdavclient3 appends to the origin (as ``url_for`` encodes)."""
    if folder and not path.endswith("/"):
        path += "/"
    return quote_path(path)
