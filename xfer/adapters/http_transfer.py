"""The HTTP transfer code HTTPS and WebDAV share: one guarded session, streamed GET and PUT.

:class:`HTTPTransfer` is held by :class:`~xfer.adapters.https.HTTPSAdapter` and
:class:`~xfer.adapters.webdav.WebDAVAdapter` (neither inherits the other).  It builds the
session from the connection settings and does what both protocols do the same way: a GET
streamed into :class:`~xfer.transfer.AtomicDownload` that ends only on a proven end, a PUT
of a :class:`~xfer.transfer.FileBody` with ``Content-Length`` and its status checks, the
size check by ``HEAD`` after an upload, facts about a file from a ``HEAD``, ranged reads.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import http.client
import os
import posixpath
import queue
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple, cast

import requests
import requests.auth

from ..buffers import aligned_buffer
from ..errors import (
    ConfigError,
    ConnectionDropped,
    IntegrityError,
    Interrupted,
    RemoteError,
    RemoteIsFolder,
    RemoteNotDone,
    RemoteNotFound,
    TransferCut,
    UnsupportedOperation,
    XferError,
)
from ..http_errors import closes_connection, declared_length, media_type, stream_ended_early
from ..http_lean import Answers, body_left_unread
from ..http_session import XferSession, create_session, drain_error_body, if_match, skip_large_body
from ..log import logger
from ..multipart import MultipartBody
from ..numbers import server_http_date, server_int
from ..protocols.https import SPEC as HTTPS_SPEC
from ..protocols.https import HTTPSOptions
from ..streams import SinkFactory
from ..transfer import DOWNLOAD_BLOCK, UPLOAD_BLOCK, AtomicDownload, DownloadGroup, FileBody, SentFile, open_for_upload
from ..types import Landed, SourceVersion
from ..verify import WANT_DIGEST, Check, ServerHash, StreamHash, conclude, http_digest
from .base import ConnectionSettings, Entry, ProgressCallback, TransferResult
from .http_removal import not_done
from .writer import RemoteWriter

__all__ = ["HEAD_HEADERS", "ChunkedUpload", "HTTPTransfer", "RangedPart", "Sent", "content_length", "http_options"]

#: Where a try says it starts over (as SFTP's and a download's part do).
_retry_log = logger("xfer.retry")


class Sent(NamedTuple):
    """An upload's result and the hashes of exactly the bytes it sent: what a check after a
    later step (WebDAV's MOVE) compares a server's hash with.  Per upload, never kept on the
    adapter (parallel uploads, and a ranged upload that fell back to a whole PUT, each have their own).
    ``source``: the local file, for a hash the upload did not compute (None: a stream).
    """

    result: TransferResult
    hash: StreamHash
    source: SentFile | None = None


@dataclass
class RangedPart:
    """The file a ranged upload (:meth:`HTTPTransfer.upload_ranged`) writes on the server, which
    a cut try leaves for the next one to continue."""

    #: Its name on the server.
    remote: str
    #: The version (:attr:`SentFile.version`) of the local file whose bytes it holds: set as a try
    #: opens the file, before it sends any.  None: no try got that far.
    local: tuple[int, int, int, int] | None = None


#: The PUT's headers beyond requests' own (an upload's bytes are opaque to the server).
_PUT_HEADERS = {"Content-Type": "application/octet-stream"}
#: A download's GET: the file's bytes as they are, so its length is the file's.
_GET_HEADERS = {"Accept-Encoding": "identity"}
#: A folder's listing, to check a pipelined group's uploads (nginx ``autoindex_format json``); not
#: compressed: the lean reader does not decode (a gzipped listing would read as no listing).
_LISTING_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity", "Cache-Control": "no-cache"}


#: A file's ``HEAD``: no content coding (the length is the file's, not a coding's), and from the
#: origin: a caching proxy in front of it (Varnish, nginx ``proxy_cache``, a CDN) that kept the
#: file's old answer must not answer for it (RFC 9111 5.2.1.4).  The HEAD after an upload is its
#: proof; an old copy of the same size would prove a PUT the server stored wrongly (review P).
HEAD_HEADERS = {"Accept-Encoding": "identity", "Cache-Control": "no-cache"}


def _head_headers(want_digest: bool) -> dict[str, str]:
    """:data:`HEAD_HEADERS`; ``want_digest`` also asks for the file's digest, which servers may
    send only when asked (RFC 9530 §4, RFC 3230): SHA-256 first."""
    return {**HEAD_HEADERS, **(WANT_DIGEST if want_digest else {})}


def http_options(settings: ConnectionSettings) -> HTTPSOptions:
    """The ``[https]`` table; WebDAV has its own table and takes HTTP's defaults (PUT, verify)."""
    if isinstance(settings.options, HTTPSOptions):
        return settings.options
    return cast(HTTPSOptions, HTTPS_SPEC.parse_options({}))


class _BasicAuth(requests.auth.AuthBase):
    """HTTP Basic credentials encoded as UTF-8 (RFC 7617 section 2.1, as curl does).

    requests' own ``HTTPBasicAuth`` encodes a ``str`` as Latin-1: a password with "€" (or any
    character past U+00FF) failed as an internal UnicodeEncodeError whose text showed it.  The
    header is built once, here; neither a failure nor ``repr`` shows the password.
    """

    def __init__(self, username: str, password: str) -> None:
        try:
            # surrogateescape: a password read from the environment or a file as undecodable bytes
            # goes out as those very bytes.
            pair = f"{username}:{password}".encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise ConfigError(f"the password for user {username!r} cannot be encoded as UTF-8",
                              hint="check the secret it comes from") from None
        self._header = "Basic " + base64.b64encode(pair).decode("ascii")
        self.username = username

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return f"_BasicAuth({self.username!r}, '***')"


class HTTPTransfer:
    """GET, PUT, HEAD and ranged GET of files on one guarded session (see the module docstring).

    ``user_path`` turns server paths into the caller's for messages and results;
    ``can_mkdir`` says whether the hint for a missing upload folder may point at ``xfer mkdir``.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        options: HTTPSOptions,
        *,
        user_path: Callable[[str], str],
        can_mkdir: bool,
    ) -> None:
        self.server = settings.server
        #: The results' protocol, as the adapter's ``_common`` would fill it in (one dataclass
        #: replace per file less).
        self.protocol = settings.scheme
        self.timeout = settings.timeout
        self.options = options
        self.can_mkdir = can_mkdir
        self._user_path = user_path
        self.checksum = settings.checksum
        self.sha256 = settings.sha256
        self.throttle = settings.throttle
        self.resume = settings.resume
        #: Small files may go pipelined (:meth:`upload_together`, :meth:`download_together`): until
        #: a pipelined exchange fails, or (uploads) the server's HEAD is found not to prove a stored size.
        self._together = True
        #: Files whose pipelined PUT was answered 202 and not found after it: the error, raised
        #: by their upload alone instead of a second PUT (the server took the first one).
        self._accepted_not_done: dict[str, RemoteNotDone] = {}
        #: Whether a folder's JSON listing stands in for the HEADs of a pipelined group's files
        #: (:meth:`upload_together`), for this worker's connections.  None until an upload checked
        #: by its HEAD has shown whether this server states a hash of its copy (then the HEADs
        #: stay: a listing states sizes only); False once a listing did not prove (not a JSON
        #: index, refused, broken off, misstating a size, showing none of the files).
        self.listing_proof: bool | None = None
        #: Folders whose listing grew too long for the files a group has there (:meth:`_read_listing`).
        self._unlisted: set[str] = set()
        #: Whether the server takes PUTs with Content-Range (None: not known yet); see upload_ranged.
        self.ranged_puts: bool | None = None
        #: The largest piece of a ranged upload this server takes (a 413 lowers it to the smallest).
        self.ranged_piece_limit = RANGED_PUT_LARGEST
        self.session: XferSession = create_session(
            settings.ssl_context,
            server=settings.server,
            timeout=settings.timeout,
            blocksize=UPLOAD_BLOCK,
            proxy=settings.proxy,
        )
        # PUT/POST/DELETE answers are read only when small: an endless one must not fill memory.
        # (A hook, not stream=True: a streamed PUT that failed mid-body raced the cleanup DELETE.)
        self.session.hooks["response"].append(skip_large_body)
        self.session.lean_requests = True  # small status-only requests skip http.client (issue 14)
        if settings.username is not None:
            # Some portals add a login on top of the certificate; only ever sent to this origin.
            self.session.auth = _BasicAuth(settings.username, settings.password or "")

    def close(self) -> None:
        self.session.close()

    def get(
        self, remote: str, local: str, callback: ProgressCallback | None, *, sink: SinkFactory | None = None
    ) -> TransferResult:
        session = self.session
        if remote == "/":
            # The server's top folder: its index page is not a file either.
            raise RemoteIsFolder(f"{self.server}: / is a folder", hint="use -r to copy a folder")
        started = time.monotonic()
        out = (sink or AtomicDownload)(local, callback=callback, throttle=self.throttle, sha256=self.sha256)
        source = session.url_for(remote)
        # A part kept by an earlier try (or run) of this very URL continues with a Range request,
        # conditional (If-Range) on the file being the one the part came from.
        previous = out.previous if out.previous.get("source") == source else {}
        validator = _validator(previous)
        offset = out.offset if validator else 0
        unchecked = ("the part kept earlier is of another URL" if not previous else
                     "the part kept earlier cannot be checked against the server's file (no strong ETag, and no "
                     "Last-Modified a second before the answer's Date)")
        with session.translating():
            response = self._request(source, offset, validator)
            restart = self._restart_reason(response, offset, previous) if offset else None
            if restart is not None and response.status_code != 200:
                # Not the rest of our file, nor a whole one: ask again for the whole file.
                drain_error_body(response)
                response.close()
                response = self._request(source, 0, None)
            with response:
                # Under --limit-rate, smaller blocks: a slow rate must not leave the connection
                # unread for long (servers time out a stalled send: nginx 60 s).
                block = BODY_BLOCK if self.throttle is None else DOWNLOAD_BLOCK
                return self._save(
                    response, remote, local, out, started, lambda: _read_body(response.raw, out, block),
                    offset=offset, restart=restart, unchecked=unchecked,
                )

    def _save(
        self, response: requests.Response, remote: str, local: str, out: AtomicDownload, started: float,
        write_body: Callable[[], None], *, offset: int = 0, restart: str | None = None, unchecked: str = "",
        details: dict[str, Any] | None = None,
    ) -> TransferResult:
        """The answer to a download's GET, saved through ``out`` (``write_body`` writes its body
        there) if it is the file, and proven whole; its result (``details`` added to it).

        ``offset``: the bytes of a kept part the GET asked the rest of; ``restart``: why the
        answer does not continue them (None: it does); ``unchecked``: why the part could not be
        asked to be continued (``offset`` 0).
        """
        session = self.session
        session.check(response, path=remote)
        self.check_download(response, remote, ranged=offset > 0 and restart is None)
        refuse_transfer_coding(response, f"{self.server} sent {self._user_path(remote)}", "nothing was saved")
        resumed_at = offset if response.status_code == 206 else 0
        length = content_length(response)
        if resumed_at:
            # The file's size, as the range named it (_restart_reason proved the rest is all there).
            sent = _content_range(response.headers.get("Content-Range"))
            length = sent.size if sent is not None else None
        details = {**(details or {}), "http_status": response.status_code}
        tls = session.tls_version(response)
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        if encoding != "identity":
            # Asked for identity and got an encoding anyway: keep the bytes as sent.
            details["content_encoding"] = encoding
        # Repr-Digest and Digest describe the whole file; Content-Digest and Content-MD5
        # only the body, which is the whole file only in a 200.
        offered = http_digest(response.headers, content=response.status_code == 200)
        out.expected_size = length  # before entering: the first progress report has the total
        out.hash_also(offered.algorithm if offered else None)
        with out:
            out.facts = {"source": session.url_for(remote), "size": length, "etag": response.headers.get("ETag"),
                         "last_modified": response.headers.get("Last-Modified"), "date": response.headers.get("Date")}
            if resumed_at:
                # A 206 need not state the validators again (RFC 9110 15.3.7): the part keeps those
                # it was continued on, so that a later cut can continue it once more.  A date goes
                # with the Date of the answer that brought it (what makes it strong or weak).
                previous = out.previous
                if not out.facts["etag"]:
                    out.facts["etag"] = previous.get("etag")
                if not out.facts["last_modified"]:
                    out.facts["last_modified"], out.facts["date"] = previous.get("last_modified"), previous.get("date")
                out.begin(resumed_at)
            else:
                out.start_over(restart or unchecked)
            try:
                # The loop ends on a *proven* end only: Content-Length reached, the last
                # chunk, or close_notify.  A cut (FIN without close_notify, a chunk cut
                # short, close_notify inside the announced length) raises, because the
                # context never suppresses ragged EOFs.
                write_body()
            except XferError:
                raise
            except Exception as exc:
                raise self.broken_download(exc, remote, out.written, length) from exc
            # Before the rename: a mismatch leaves nothing under the local name.
            verified = self._conclude(
                offered, out.hash, f"the download of {self._user_path(remote)}",
                size_checked=length is not None and out.written == length,
                consequence="nothing was saved", size=out.written,
            )
        return TransferResult(
            direction="get",
            local=local,
            remote=self._user_path(remote),
            protocol=self.protocol,
            size=out.written,
            elapsed=time.monotonic() - started,
            sha256=out.sha256,
            details=details,
            tls_version=tls,
            verified=verified,
            source_version=SourceVersion(etag=response.headers.get("ETag"),
                                         modified=server_http_date(response.headers.get("Last-Modified"))),
        )

    def _conclude(
        self, offered: ServerHash | None, local: StreamHash, what: str, *, size_checked: bool, consequence: str,
        size: int | None,
    ) -> Check:
        return conclude(
            offered, local, server=self.server, what=what, size_checked=size_checked, required=self.checksum,
            consequence=consequence, looked_for="Repr-Digest, Content-Digest, Digest or Content-MD5 headers",
            size=size,
        )

    def _request(self, url: str, offset: int, validator: str | None) -> requests.Response:
        """The download's GET: from ``offset`` on if the file is still ``validator`` (ETag or date)."""
        headers = dict(_GET_HEADERS)
        if offset and validator:
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = validator
        return self.session.get(url, stream=True, headers=headers)

    @staticmethod
    def _restart_reason(response: requests.Response, offset: int, previous: dict[str, Any]) -> str | None:
        """Why a ranged answer does not continue the kept part (None: it does)."""
        status = response.status_code
        if status == 200:
            return "the file changed on the server since the part was saved (it sent the whole file)"
        if status == 416:
            return "the server refused to continue (HTTP 416)"
        if status != 206:
            return None  # an error: the usual checks say what it is
        said = response.headers.get("Content-Range")
        sent = _content_range(said)
        if sent is None or sent.first != offset:
            return f"the server sent another range ({said or 'no Content-Range'})"
        size = previous.get("size")
        if sent.size is not None and size is not None and sent.size != size:
            return f"the file changed on the server since the part was saved ({size} -> {sent.size} bytes)"
        # What proves the file whole at the end is its size: the answer must name it, and hold
        # every byte from the part's end to it (RFC 9110 allows a server to send less than asked).
        if sent.size is None:
            return f"the server did not say how long the file is ({said})"
        if sent.last != sent.size - 1:
            return f"the server sent only part of the rest of the file ({said})"
        length = content_length(response)
        if length is not None and length != sent.length:
            return f"the server's answer does not hold the range it names ({said}, Content-Length {length})"
        # If-Range asked for the rest of the part's version only; a server (or a cache) that
        # ignores it sends the rest of another one, which must not be joined to the part.
        restated = False
        for header, key in (("ETag", "etag"), ("Last-Modified", "last_modified")):
            now, then = response.headers.get(header), previous.get(key)
            if now and isinstance(then, str) and then and now != then:
                return f"the file changed on the server since the part was saved ({header} {then} -> {now})"
            restated = restated or bool(now and now == then)
        # A 206 must carry the ETag a 200 would have (RFC 9110 15.3.7): one that does not restate
        # the part's may come from a server (or cache) that ignored If-Range and sent another
        # version's rest, of the same size.  Last-Modified is not among the fields a 206 repeats
        # (after If-Range it SHOULD NOT be sent): a part whose only validator is its date is
        # continued on a 206 without one, else it would start over on every run (review N, 4).
        if not restated and previous.get("etag"):
            return "the server's answer does not restate the part's ETag, so it may be another version"
        return None

    def check_download(self, response: requests.Response, remote: str, *, ranged: bool = False) -> None:
        """Only a ``200`` after no folder redirect is the file; anything else must not replace it.

        A ``GET /dir`` that a server redirects to ``/dir/`` (nginx, Apache, our test server)
        ends at the folder's index page: that is a folder, not a file to save.  ``206``
        answers a Range request, and xfer sends none: it would be part of the file.
        ``202``/``204``/``203`` and friends carry no file either.
        """
        status = response.status_code
        if response.history and not remote.endswith("/"):
            final = urllib.parse.unquote(urllib.parse.urlsplit(response.url or "").path)
            if final.endswith("/"):
                response.close()
                raise RemoteIsFolder(f"{self.server}: {self._user_path(remote)} is a folder",
                                     hint="use -r to copy a folder")
        if status == 200 or (status == 206 and ranged):
            return
        server = self.server
        shown = self._user_path(remote)
        said = f"HTTP {status} {response.reason or http.client.responses.get(status, '')}".strip()
        response.close()
        if status == 206:
            content_range = response.headers.get("Content-Range", "no Content-Range")
            raise IntegrityError(
                f"{server} answered the download of {shown} with {said} ({content_range}) "
                "although xfer asked for the whole file; nothing was saved",
                hint="the server (or a cache in between) sent part of the file; report it to the partner",
            )
        raise RemoteError(
            f"{server} answered the download of {shown} with {said}, not 200 with the file; nothing was saved",
            hint="the file may not be ready yet; try again later or ask the partner",
        )

    def broken_download(self, exc: BaseException, remote: str, written: int, length: int | None) -> XferError:
        """The error for a body that stopped before its proven end (``exc`` from the read loop)."""
        server = self.server
        got = f"{written}" + (f" of {length}" if length is not None else "")
        if stream_ended_early(exc):
            return TransferCut(
                f"the download of {self._user_path(remote)} from {server} ended early: the server closed the "
                f"connection after {got} bytes without finishing the response; nothing was saved",
                hint="run the command again; if it repeats, the server (or something between) cuts transfers",
            )
        return ConnectionDropped(
            f"the connection to {server} broke after {got} bytes of {remote}; nothing was saved",
            hint="run the command again",
        )

    def upload(
        self,
        local: str,
        remote: str,
        callback: ProgressCallback | None,
        *,
        check_size: bool,
        send_put: Callable[[str, Any], requests.Response] | None = None,
        checked_later: bool = False,
    ) -> Sent:
        """PUT (or POST) ``local`` to ``remote``; with ``check_size``, HEAD it and compare sizes.

        ``send_put`` sends the PUT instead of :meth:`send_put` (WebDAV gives some statuses
        their DAV meanings around it).  A digest in the PUT answer (or the HEAD's) is
        compared with the bytes sent; ``checked_later``: without a digest in the PUT answer
        the caller concludes after a later step (:meth:`conclude_upload`; WebDAV's MOVE).
        """
        accepted = self._accepted_not_done.pop(remote, None)
        if accepted is not None:
            raise accepted
        handle, size = open_for_upload(local)
        source = SentFile.of(local, handle)
        session = self.session
        started = time.monotonic()
        details: dict[str, Any] = {"method": self.options.upload_method}
        stored: requests.Response | None = None  # the HEAD's answer, when it went with the PUT
        with handle, session.translating():
            if self.options.upload_method == "POST":
                # Portals: the form goes to the folder, the file name rides in the part header.
                body: Any = MultipartBody(
                    handle,
                    size,
                    field=self.options.form_field,
                    filename=posixpath.basename(remote),
                    callback=callback,
                    throttle=self.throttle,
                )
                folder = posixpath.dirname(remote) or "/"
                headers = {"Content-Type": body.content_type}
                # Never follow a redirect with an upload: requests would turn it into a GET
                # (301/302/303), and "success" would then describe a download.
                response = session.post(
                    session.url_for(folder, folder=True), data=body, headers=headers, allow_redirects=False
                )
            else:
                body = FileBody(handle, size, callback=callback, throttle=self.throttle, hash=self._sent_hash())
                # An iterable with __len__ gets Content-Length, not chunked; requests sends a
                # zero-length one chunked, so an empty file goes as b"".
                data = body if size else b""
                both = self._put_and_head(remote, data) if check_size and send_put is None else None
                if both is None:
                    response = (send_put or self.send_put)(remote, data)
                else:
                    response, stored = both
                if not size and callback is not None:
                    callback(0, 0)
                if not size:
                    body.look_past_the_end()  # (not iterated: a /proc file states 0 bytes and holds more)
            return self._answered_upload(
                local, remote, body, size, source, response, stored, check_size=check_size,
                checked_later=checked_later, started=started, details=details,
            )

    def _answered_upload(
        self, local: str, remote: str, body: FileBody | MultipartBody, size: int, source: SentFile,
        response: requests.Response,
        stored: requests.Response | None, *, check_size: bool, checked_later: bool, started: float,
        details: dict[str, Any], listed: bool = False,
    ) -> Sent:
        """What an upload's answer proves (and, with ``check_size``, what a HEAD says was stored:
        ``stored``, or asked now; ``listed``: the folder's listing showed the file at its size,
        no HEAD needed).  Raises what the answers do not prove."""
        offered: ServerHash | None = None
        with response:
            self.check_upload(response, remote)
            # Drained if small (the connection goes back to the pool); a large or
            # endless answer body is never read into memory.
            tls = self.session.tls_version(response)  # before draining: the connection may go back to the pool
            drain_error_body(response)
            details["http_status"] = response.status_code
            if self.options.upload_method == "PUT":
                offered = http_digest(response.headers, content=False)
        if body.sent != size:
            raise IntegrityError(
                f"{self.server} answered before the whole of {local} was sent "
                f"({body.sent} of {size} bytes)",
                hint="the server may have refused the upload; check its size limits",
            )
        size_ok: bool | None = None
        checked: Check = "none"
        if self._queued(details["http_status"], checked_later):
            checked = self.accepted_proof(offered, body.hash, remote, size, answer=stored, source=source)
            size_ok = True
        else:
            if self.options.upload_method == "PUT" and check_size and listed:
                size_ok = True
                details["size_listed"] = True
            elif self.options.upload_method == "PUT" and check_size:
                size_ok, head_hash = self.check_stored(remote, size, answer=stored,
                                                       remove=None if checked_later else remote)
                offered = offered or head_hash
            if offered is not None or not checked_later:
                checked = self.conclude_upload(
                    offered, body.hash, remote, size_checked=bool(size_ok), remove=remote,
                    installed=not checked_later, source=source, size=size,
                )
        return Sent(TransferResult(
            direction="put",
            local=local,
            remote=self._user_path(remote),
            protocol=self.protocol,
            size=size,
            elapsed=time.monotonic() - started,
            sha256=body.hash.hexdigest(),
            details=details,
            tls_version=tls,
            size_verified=size_ok,
            verified=checked,
        ), body.hash, source)

    def _sent_hash(self) -> StreamHash:
        """The hash an upload computes on the way.  Which digest the server states is unknown until
        it answers: with --checksum, SHA-256 and MD5 (an MD5-only server must not fail for want of
        a local MD5); else SHA-256 if the result shows it, or nothing (conclude_upload reads the
        file again if, and only if, the server states a digest: :class:`SentFile`)."""
        return StreamHash("md5" if self.checksum else None, sha256=self.sha256 or self.checksum)

    def conclude_upload(
        self, offered: ServerHash | None, sent: StreamHash, remote: str, *, size_checked: bool, remove: str,
        size: int, installed: bool = True, source: SentFile | None = None, shown: str | None = None,
    ) -> Check:
        """Compare the server's hash of ``remote`` with ``sent``, the upload's bytes; on a mismatch
        ``remove`` (the name the bad copy lies under) is deleted, best effort, and IntegrityError raised.

        ``installed``: the upload is under its final name (else the caller removes its temporary name).
        ``source``: the file sent, hashed now if ``sent`` lacks the hash the server stated (see
        :class:`~xfer.transfer.SentFile`).  ``size``: the bytes sent (an empty file's size check
        proves it: :func:`~xfer.verify.conclude`).  ``shown``: the path messages name, when
        ``remote`` is a temporary name the user never gave (WebDAV checks one before its MOVE).
        """
        if offered is not None and source is not None and sent.hexdigest(offered.algorithm) is None:
            sent = source.hash(offered.algorithm)
        if offered is None:
            consequence = "the file is on the server, unverified" if installed else "the upload was removed"
        elif sent.hexdigest(offered.algorithm) not in (None, offered.value):
            consequence = self._discard_bad_copy(remove)
        else:
            consequence = ""  # it matches: nothing to say
        return self._conclude(
            offered, sent, f"the upload of {self._user_path(shown or remote)}", size_checked=size_checked,
            consequence=consequence, size=size,
        )

    def _discard_bad_copy(self, path: str) -> str:
        """Delete the server's copy ``path`` of an upload, which the server itself says differs from
        what was sent (its size or its hash), and say so.  It must not stay where a pick-up
        process would take it."""
        if self._delete_quietly(path):
            return "the server's copy was deleted"
        return f"xfer could not delete the server's copy {self._user_path(path)}: do not use it"

    def _delete_quietly(self, path: str) -> bool:
        """DELETE ``path``; True if the server says it is gone.  Never raises (another error is on its way)."""
        try:
            response = self.session.delete(self.session.url_for(path), allow_redirects=False)
        except Exception:
            return False
        with response:
            return response.status_code in (200, 204, 404)

    def send_put(self, remote: str, data: Any, headers: dict[str, str] | None = None) -> requests.Response:
        """The PUT request itself (``headers`` added to ours).

        Redirects are not followed: requests re-sends a PUT answered ``301``/``302`` as a
        ``GET``, and the upload would "succeed" with the server's current file.
        """
        return self.session.put(
            self.session.url_for(remote), data=data, headers={**_PUT_HEADERS, **(headers or {})}, allow_redirects=False
        )

    def _put_and_head(self, remote: str, data: Any) -> tuple[requests.Response, requests.Response | None] | None:
        """The PUT of ``data`` and the HEAD that checks what the server stored, in one write and one
        round trip where the session can pipeline them (a small body on an open connection:
        :meth:`~xfer.http_session.XferSession.pipelined`), else None (nothing sent).  The HEAD's
        answer is None when it did not come: :meth:`check_stored` then asks again."""
        session = self.session
        url = session.url_for(remote)
        answers = session.pipelined([("PUT", url, data, _PUT_HEADERS), ("HEAD", url, None, _head_headers(True))])
        if answers is None or answers[0] is None:
            return None
        return answers[0], answers[1]

    def upload_together(
        self, files: Sequence[tuple[str, str, ProgressCallback | None]], *, check_size: bool,
        read_listing: Callable[[requests.Response], dict[str, int] | None] | None = None,
        landed: Landed | None = None,
    ) -> list[TransferResult | None]:
        """Small files ``(local, remote, callback)``: every PUT, with what checks it (its HEAD, or
        the folder's listing after the PUTs), in one write on an open connection: HTTP/1.1
        pipelining of idempotent requests.

        1,000 small files are then 1,000 / 32 round trips (the adapter's ``together_files``), not 1,000: the
        server works through the requests while the next ones are written.  Per file a result,
        but only for an upload fully proven here (2xx, every byte sent, and the stored size from
        a HEAD answered 200 or from the listing, or the server's hash of its copy, any digest
        matching); None for every other file, and for all of them when the requests cannot be
        pipelined or the exchange fails.  The caller then uploads that file alone (``put_file``),
        and that path says what is wrong, retries, creates a missing folder: a PUT may be sent twice.

        ``read_listing(answer)``: the sizes of the files in a folder from the answer to a ``GET`` of
        it (None if it cannot say).  The files of the folder holding most of the group's (at least
        :data:`_LISTED_FILES` names not starting with ".") are then checked by a GET of its
        listing, last in the write, instead of a HEAD each: half the requests, in the same round
        trip.  Only on a server whose HEAD states no hash of its copy (:attr:`listing_proof`; the
        first HEAD-checked file tells); a file the listing does not show at its size gets its
        HEAD after all.

        Not with ``--limit-rate``: every body of the group is read (and the rate paid) before
        the write, and a connection that idle may be closed by the server meanwhile.

        Files whose answers never came because the server closed the connection after an earlier
        answer (nginx's ``keepalive_requests``, Apache's ``MaxKeepAliveRequests``: 100 by default)
        go again together on a new connection, at most twice as many per write as the last write
        settled (at least :data:`_RESENT_FILES`): a connection that took that many likely takes as
        many again.  The second write in a row that settles fewer than two files ends it (one may have found
        its connection nearly spent): on a server that closes after a few requests, each write
        would otherwise send the remaining bodies again to settle one file.

        ``landed`` is told of each file proven, as it is (see :data:`~xfer.types.Landed`).
        """
        self._accepted_not_done.clear()  # (each was raised by its upload alone, which followed)
        return self._in_writes(len(files), lambda places, report: self._upload_group(
            [files[place] for place in places], report, check_size=check_size, read_listing=read_listing), landed)

    def can_pipeline(self) -> bool:
        """Whether small requests may go pipelined now: not once a pipelined exchange failed or the
        server showed it takes no pipelined requests, nor once it set a cookie (each request must
        carry it)."""
        return self._together and self.session.pipelining and not self.session.cookies

    def can_go_together(self, *, upload: bool) -> bool:
        """Whether small files may go pipelined now (:meth:`upload_together`, :meth:`download_together`):
        not under a rate limit, nor once a pipelined exchange failed or the server showed it does
        not take pipelined requests, nor once it set a cookie (each request must carry it: they
        go the long way); uploads only by PUT, downloads not with ``--resume``."""
        return (self.can_pipeline() and self.throttle is None
                and (self.options.upload_method == "PUT" if upload else not self.resume))

    def download_together(
        self, files: Sequence[tuple[str, str, ProgressCallback | None]],
        alone: Callable[[str, str, ProgressCallback | None], TransferResult] | None = None,
        landed: Landed | None = None,
        listed: Sequence[int | None] | None = None,
    ) -> list[TransferResult | None]:
        """Small files ``(remote, local, callback)``: their GETs in one write on an open connection
        (HTTP/1.1 pipelining, as :meth:`upload_together` sends PUTs), each answer saved as
        :meth:`get` saves one.

        Per file a result, only for a download proven as :meth:`get` proves one: a 200 (no
        redirect followed), its body whole by its ``Content-Length`` or its last chunk, any digest
        matching.  None for every other file (nothing is left under its local name), and for all of
        them when the requests cannot be pipelined or the exchange fails: the caller then
        downloads that file alone (``get_file``), which follows a redirect, says what is wrong,
        retries.  An answer longer than :data:`~xfer.http_lean.PIPELINED_GET_LIMIT` (a file that
        grew since it was listed) is left unread, and its connection given up.  Files whose
        answers a keep-alive limit cut off go again together, as in :meth:`upload_together`.
        Where no connection is open, the first file opens one, fetched by ``alone`` (the
        adapter's download of one file; :meth:`get` by default).

        Not with ``--limit-rate`` (as uploads), nor with ``--resume``: a part kept by an earlier
        run is continued by the download alone.  ``landed`` is told of each file saved, as it is.
        """
        fetch = alone or self.get
        sizes = list(listed) if listed is not None else [None] * len(files)
        return self._in_writes(len(files), lambda places, report: self._download_group(
            [files[place] for place in places], report, fetch, [sizes[place] for place in places]), landed)

    @staticmethod
    def _in_writes(
        count: int, write: Callable[[list[int], _Report], _Written], landed: Landed | None
    ) -> list[TransferResult | None]:
        """The results of ``count`` files sent together by ``write`` (their places, and how it
        reports a file proven by its position among them; what one write settled): again, on a
        new connection, for the files whose answers never came because the server closed the
        connection after an earlier answer, at most twice as many per write as the last write
        settled (at least :data:`_RESENT_FILES`).  The second write in a row that settles fewer than two
        files ends it (see :meth:`upload_together`); so does one that sent nothing.  ``landed``
        hears of each file proven, by its place among the ``count``."""
        results: list[TransferResult | None] = [None] * count
        todo = list(range(count))
        limit, poor = len(todo), 0
        while len(todo) > 1:
            now, later = todo[:limit], todo[limit:]

            def report(position: int, result: TransferResult, now: list[int] = now) -> None:
                if landed is not None:
                    landed(now[position], result)

            written = write(now, report)
            for place, result in zip(now, written.results, strict=True):
                results[place] = result
            settled = written.pipelined - len(written.unanswered)
            # Two in a row: a keep-alive limit met now and then settles little in the write it ends
            # (only its first answer is trusted then: see Answers.keep_first), and a write or more
            # settles plenty again before the next.
            poor = poor + 1 if settled < 2 else 0
            if poor == 2 or not written.pipelined:
                break  # alone, each says why
            todo = [now[position] for position in written.unanswered] + later
            limit = max(2 * settled, _RESENT_FILES)
        return results

    def _download_group(
        self, files: Sequence[tuple[str, str, ProgressCallback | None]], report: _Report,
        alone: Callable[[str, str, ProgressCallback | None], TransferResult], listed: Sequence[int | None],
    ) -> _Written:
        """One write of :meth:`download_together` (after the first file alone, if no connection
        was open); ``report`` hears of each file saved, by its position in ``files``, of which
        ``listed`` are the sizes the listing showed (None: not known)."""
        results: list[TransferResult | None] = [None] * len(files)
        if not self.can_go_together(upload=False):
            return _Written(results, [], 0)
        calls: list[tuple[str, str, Any, dict[str, str] | None]] = [
            ("GET", self.session.url_for(remote), None, _GET_HEADERS) for remote, _, _ in files
        ]
        places = list(range(len(files)))
        started = time.monotonic()
        try:
            answers = self._pipelined(calls)
            if answers is None:
                # No connection is open (a worker's first group, or the server closed the last
                # one): the first file opens one, alone, and the others follow it pipelined.
                remote, local, callback = files[0]
                _settled(results, 0, self._alone(lambda: alone(remote, local, callback)), report)
                places, started = places[1:], time.monotonic()
                answers = self._pipelined(calls[1:]) if len(places) > 1 else None
        except _GroupFailed:
            self._together = False  # as for uploads: the next groups would fail the same way
            return _Written(results, [], 0)
        if answers is None:
            return _Written(results, [], 0)
        # Saved under the file's name only where the answer is known to be its own (review Q, 1).
        answers.keep_first(1)
        unanswered: list[int] = []
        saved: list[tuple[int, AtomicDownload, TransferResult]] = []
        with DownloadGroup() as group:
            try:
                for place, answer in zip(places, answers, strict=True):
                    if answer is None:
                        unanswered.append(place)  # sent again
                        continue
                    if _other_size(answer, listed[place]):
                        # Another size than the listing's: a file changed since, or an answer out of
                        # step with its request (one too many from the server, its bytes still on
                        # their way when the answers were read: review P, finding 2).  Alone, the
                        # file's own answer says which.
                        answer.close()
                        continue
                    remote, local, callback = files[place]
                    try:
                        out = AtomicDownload(local, callback=callback, sha256=self.sha256, landing=group)
                        result = self._save_answer(answer, remote, local, out, started)
                    except Interrupted:
                        raise
                    except XferError:
                        continue  # alone, it is retried or said
                    if result is not None:
                        saved.append((place, out, result))
            finally:
                # Made durable together, then named (also the files saved before a stop).  One that
                # could not be named stays None: alone, it says why.
                group.land_and_tell(saved, lambda place, result: _settled(results, place, result, report))
        return _Written(results, unanswered, len(places))

    def _save_answer(
        self, answer: requests.Response, remote: str, local: str, out: AtomicDownload, started: float
    ) -> TransferResult | None:
        """A pipelined GET's answer saved through ``out`` as :meth:`get` saves one; None for one
        whose body was left unread."""
        with answer, self.session.translating():
            if body_left_unread(answer):
                return None
            return self._save(answer, remote, local, out, started, lambda: out.write(answer.content),
                              details={"pipelined": True})

    def _alone(self, move: Callable[[], TransferResult], remote: str | None = None) -> TransferResult | None:
        """The first file of a group, moved the ordinary way to open a connection (None if that
        fails: the caller moves it again, alone, and that says what is wrong; an upload the server
        took but did not do, ``remote``, is not sent again: :meth:`_taken_not_done`)."""
        try:
            return move()
        except Interrupted:
            raise
        except RemoteNotDone as exc:
            if remote is not None:
                self._taken_not_done(remote, exc)
            return None
        except XferError:
            return None

    def _taken_not_done(self, remote: str, error: RemoteNotDone) -> None:
        """``remote``'s PUT was answered 202 and not found after: the caller's upload alone, which
        follows, raises ``error`` instead of a second PUT of a file the server has taken."""
        self._accepted_not_done[remote] = error

    def _upload_group(
        self, files: Sequence[tuple[str, str, ProgressCallback | None]], report: _Report, *, check_size: bool,
        read_listing: Callable[[requests.Response], dict[str, int] | None] | None,
    ) -> _Written:
        """One write of :meth:`upload_together` (after the first file alone, if no connection
        was open); ``report`` hears of each file proven, by its position in ``files``."""
        missed: list[TransferResult | None] = [None] * len(files)
        unanswered: list[int] = []
        if not self.can_go_together(upload=True):
            return _Written(missed, unanswered, 0)
        session = self.session
        listing = read_listing if check_size else None
        with contextlib.ExitStack() as stack:
            bodies: list[_Grouped] = []
            for index, (local, remote, callback) in enumerate(files):
                try:
                    handle, size = open_for_upload(local)
                except XferError:
                    continue  # said by the upload alone
                stack.enter_context(handle)
                body = FileBody(handle, size, callback=callback, hash=self._sent_hash())
                bodies.append(_Grouped(index, remote, body, size, SentFile.of(local, handle)))
            try:
                plan = self._plan_group(bodies, check_size=check_size, listing=listing is not None)
                answers = self._pipelined(plan.calls) if len(bodies) > 1 else None
                if answers is None and len(bodies) > 1:
                    # Nothing was sent (pipelined() says no before it reads a body): no connection
                    # is open, a worker's first group or the server closed the last one.  The
                    # first file opens one, alone, and the others follow it pipelined.
                    first = bodies.pop(0)
                    local, remote, callback = files[first.place]
                    _settled(missed, first.place, self._alone(
                        lambda: self.upload(local, remote, callback, check_size=check_size).result, remote), report)
                    if listing is not None:
                        self._learn_listing_proof(missed[first.place])
                    plan = self._plan_group(bodies, check_size=check_size, listing=listing is not None)
                    answers = self._pipelined(plan.calls) if len(bodies) > 1 else None
            except _GroupFailed:
                # A reset, or a first answer that never came (a server slower than the read
                # timeout): the next groups would pay the same, so files go one by one from here.
                self._together = False
                return _Written(missed, unanswered, 0)
            if answers is None:
                return _Written(missed, unanswered, 0)  # (a lone file goes the ordinary way)
            # Missing after an answer that closed the connection (nginx's keepalive_requests),
            # the listing is just not there: the HEADs check this group.  Else it broke off.
            closed = any(answer is not None and closes_connection(answer.headers) for answer in answers)
            # Proven only by answers known to be their requests' (review Q, 2): the first file's.
            answers.keep_first(2 if plan.headed and plan.headed[0] else 1)
            listed: dict[str, int] = {}
            if plan.folder is not None and listing is not None:
                listed = self._read_listing(plan.folder, plan.names, answers[-1], listing, broke=not closed)
            pending = iter(answers)
            for (index, remote, body, size, source), headed in zip(bodies, plan.headed, strict=True):
                local, _, callback = files[index]
                put = next(pending)
                head = next(pending) if headed else None
                if put is None or (headed and head is None):
                    unanswered.append(index)  # sent again (a lean answer holds nothing to release)
                    continue
                stated = listed.get(posixpath.basename(remote)) if not headed else None
                shown = stated == size
                if stated is not None and stated != size:
                    # Its own HEAD (in _answered_upload) tells whether the file or the listing is
                    # wrong; either way, later files are checked by their HEADs again.  (A name
                    # the listing leaves out, a hidden one say, is only checked by its HEAD.)
                    self.listing_proof = False
                if not size and callback is not None:
                    callback(0, 0)
                if not size:
                    body.look_past_the_end()  # (not iterated: a /proc file states 0 bytes and holds more)
                try:
                    with session.translating():
                        sent = self._answered_upload(
                            local, remote, body, size, source, put, head,
                            check_size=check_size, checked_later=False, started=plan.started,
                            details={"method": "PUT", "pipelined": True},
                            listed=shown,
                        )
                except Interrupted:
                    raise
                except RemoteNotDone as exc:
                    self._taken_not_done(remote, exc)  # said by the upload alone, never PUT again
                    continue
                except XferError:
                    continue  # alone, it is retried or said
                if check_size and not sent.result.size_verified and sent.result.verified == "none":
                    # The HEAD proved nothing, neither a size nor a hash (a write-only folder:
                    # alone, that is accepted unverified).  Here an answer must prove its file:
                    # this one and the rest go alone, and so do later groups on this server.
                    self._together = False
                    break
                _settled(missed, index, sent.result, report)
                if headed and listing is not None:
                    self._learn_listing_proof(sent.result)
        return _Written(missed, unanswered, len(bodies))

    def _learn_listing_proof(self, result: TransferResult | None) -> None:
        """Settle :attr:`listing_proof` from the first upload checked by its HEAD: one proven by
        the stored size alone can be proven by a listing; one proven by a hash keeps the HEADs
        (a listing states sizes only), and so does one its HEAD could not prove.  An empty file
        tells nothing: its size proves it, and servers that hash files may not hash it."""
        if self.listing_proof is None and result is not None and result.size:
            self.listing_proof = result.verified == "size" and bool(result.size_verified)

    def _plan_group(self, bodies: list[_Grouped], *, check_size: bool, listing: bool) -> _GroupPlan:
        """The requests of a pipelined group (:meth:`upload_together`): each file's PUT, with its HEAD
        unless the listing checks it, then at most one GET of a folder's listing.

        One listing, last: a listing longer than the bound is left unread and its connection
        given up, and nothing may stand behind it.  It checks the files of the folder holding
        most of the group's, at least :data:`_LISTED_FILES`, once :attr:`listing_proof` allows
        it (until then every file has its HEAD, in the same write: the first one proven tells),
        and while that folder's listing stays short for the files it checks
        (:meth:`_read_listing`).  A name starting with "." keeps its HEAD and does not count:
        nginx's index never shows one.
        """
        session = self.session
        folder: str | None = None
        names: set[str] = set()
        if listing and self.listing_proof and not self.checksum:  # (--checksum wants a hash: HEADs)
            counts = collections.Counter(
                posixpath.dirname(grouped.remote) for grouped in bodies
                if not posixpath.basename(grouped.remote).startswith(".")
            )
            candidates = [(count, name) for name, count in counts.items() if name not in self._unlisted]
            if candidates and max(candidates)[0] >= _LISTED_FILES:
                folder = max(candidates)[1]
        calls: list[tuple[str, str, Any, dict[str, str] | None]] = []
        headed: list[bool] = []
        for grouped in bodies:
            url = session.url_for(grouped.remote)
            calls.append(("PUT", url, grouped.body if grouped.size else b"", _PUT_HEADERS))
            where, name = posixpath.split(grouped.remote)
            heads = check_size and (where != folder or name.startswith("."))
            if heads:
                calls.append(("HEAD", url, None, _head_headers(True)))
            else:
                names.add(name)
            headed.append(heads)
        if folder is not None:
            calls.append(("GET", session.url_for(folder, folder=True), None, _LISTING_HEADERS))
        return _GroupPlan(calls, headed, folder, names, time.monotonic())

    def _read_listing(
        self, folder: str, names: set[str], answer: requests.Response | None,
        read_listing: Callable[[requests.Response], dict[str, int] | None], *, broke: bool,
    ) -> dict[str, int]:
        """The sizes the listing of ``folder`` shows, to check ``names`` (``answer``: the GET's, None
        if it did not come; ``broke``: it broke off).  A listing that cannot say, broke off, or
        shows none of ``names`` ends :attr:`listing_proof` (its files get their HEADs, in
        :meth:`_answered_upload`, and later groups with the PUTs).  A folder whose listing was too
        long to read, or shows more than :data:`_LISTED_ENTRIES_PER_FILE` files per file it
        checks, is not listed again: it only grows, and HEADs cost less."""
        if answer is None:
            if broke:
                self.listing_proof = False
            return {}
        with answer:
            sizes = read_listing(answer)
        if sizes is None and answer.status_code == 200 and _left_unread(answer):
            self._unlisted.add(folder)
        elif sizes is None or not sizes.keys() & names:
            self.listing_proof = False  # not a listing, or one that shows none of the files
        elif len(sizes) > _LISTED_ENTRIES_PER_FILE * len(names):
            self._unlisted.add(folder)
        return sizes or {}

    def _pipelined(
        self, calls: list[tuple[str, str, Any, dict[str, str] | None]]
    ) -> Answers | None:
        """:meth:`XferSession.pipelined`: the answers, or None if nothing was sent.

        :class:`_GroupFailed` if the exchange failed: its bodies were read (and perhaps sent),
        so they must never be sent again; each file alone says what went wrong.
        """
        try:
            with self.session.translating():
                return self.session.pipelined(calls)
        except Interrupted:
            raise  # Ctrl-C, or the batch stopping: not a reason to try again
        except XferError as exc:
            raise _GroupFailed from exc

    def upload_ranged(
        self,
        local: str,
        part: RangedPart,
        callback: ProgressCallback | None,
        *,
        send_put: Callable[..., requests.Response],
        resume: bool,
    ) -> Sent | None:
        """PUT ``local`` to ``part.remote`` in pieces (:func:`ranged_piece`) with ``Content-Range``,
        so that a retry after a cut sends only what the server does not have yet.

        ``resume``: ``part`` holds the pieces an earlier try sent; its size (HEAD) says where to go
        on, if the file opened now is the version they came from (``part.local``).  Another (the
        file rewritten between the tries, at the same size too) is sent from 0 after the part is
        deleted: the two joined would be neither, yet of the right size.  Each piece is checked
        by HEAD: the file must have grown to the end of it.
        None (nothing to conclude from) when the server does not take ranged PUTs: it refuses
        the header (nginx: 501) or ignores it and stores each piece as the whole file; the
        caller then sends the file in one PUT, as on any server.  :attr:`ranged_puts` remembers
        the answer for this connection.  None too when such a part could not be deleted.
        """
        handle, size = open_for_upload(local)
        source = SentFile.of(local, handle)
        started = time.monotonic()
        running = self._sent_hash()
        remote = part.remote
        with handle, self.session.translating():
            offset = 0
            if resume and part.local == source.version:
                stored = self._stored_length(remote)
                offset = stored if stored is not None and stored <= size else 0
            elif resume:
                if part.local is not None:
                    _retry_log.warning("%s: the local file changed since the earlier try; sending it again "
                                       "from 0", os.path.basename(local))
                # Pieces from 0 would overwrite the part, not shorten it: a piece cut half way
                # would leave the old file's rest there, under the new version's name.  A part
                # that cannot be deleted is replaced by one PUT instead.
                if not self._delete_quietly(remote):
                    return None
            part.local = source.version  # what the pieces sent from here on are of
            piece = min(ranged_piece(size), self.ranged_piece_limit)
            pieces = -(-offset // piece)  # (those an earlier try sent)
            if offset == 0 and self.ranged_puts is None:
                # Two one-byte pieces tell a server that takes Content-Range (the file is 2 bytes
                # long) from one that ignores it (1 byte) before any large piece is spent on it.
                self.ranged_puts = self._takes_ranges(remote, handle, size, send_put)
                if not self.ranged_puts:
                    return None
                offset = 2
            FileBody(handle, 0, hash=running).skip(offset)  # the bytes the server has: hashed, not sent
            tls: str | None = None  # (a resumed try may find every piece there already: review G)
            while offset < size:
                count = min(piece, size - offset)
                handle.seek(offset)
                before = running.copy()

                def moved(done: int, total: int | None, base: int = offset) -> None:
                    if callback is not None:
                        callback(base + done, size)

                body = FileBody(handle, count, callback=moved, name=local, throttle=self.throttle, hash=running,
                                last=offset + count == size)
                headers = {"Content-Range": f"bytes {offset}-{offset + count - 1}/{size}"}
                try:
                    response = send_put(remote, body, headers)
                except XferError as exc:
                    if exc.status in _RANGE_REFUSED and offset == 0:
                        self.ranged_puts = False
                        return None
                    if not self._over_body_limit(exc.status, count):
                        raise
                    piece, running = self.ranged_piece_limit, before  # this piece again, smaller
                    continue
                with response:
                    if response.status_code in _RANGE_REFUSED and offset == 0:
                        drain_error_body(response)
                        self.ranged_puts = False
                        return None
                    if self._over_body_limit(response.status_code, count):
                        drain_error_body(response)
                        piece, running = self.ranged_piece_limit, before  # this piece again, smaller
                        continue
                    self.check_upload(response, remote)
                    tls = self.session.tls_version(response)
                    drain_error_body(response)
                if self._stored_length(remote) != offset + count:
                    self.ranged_puts = False  # Content-Range ignored: each piece replaced the file
                    return None
                offset += count
                pieces += 1
                self.ranged_puts = True
        return Sent(TransferResult(
            direction="put", local=local, remote=self._user_path(remote), size=size,
            elapsed=time.monotonic() - started, sha256=running.hexdigest(),
            details={"method": "PUT", "content_range_pieces": pieces},
            tls_version=tls, size_verified=True,
        ), running, source)

    def _over_body_limit(self, status: int | None, count: int) -> bool:
        """Whether a ranged upload's piece of ``count`` bytes answered ``status`` was over the
        server's limit on a request's body (413: Apache ``LimitRequestBody``, often some tens of
        MB) where smaller pieces would fit; then the pieces of this and later uploads on this
        connection, retries too, are the smallest (review O: 16 MiB pieces fitted before pieces
        grew with the file)."""
        if status != 413 or count <= RANGED_PUT_CHUNK:
            return False
        self.ranged_piece_limit = RANGED_PUT_CHUNK
        return True

    def _takes_ranges(
        self, remote: str, handle: BinaryIO, size: int, send_put: Callable[..., requests.Response]
    ) -> bool:
        """PUT bytes 0 and 1 of the file as two pieces: does the server put them together?"""
        for first in (0, 1):
            handle.seek(first)
            try:
                response = send_put(remote, handle.read(1), {"Content-Range": f"bytes {first}-{first}/{size}"})
            except XferError as exc:
                if exc.status in _RANGE_REFUSED:
                    return False
                raise
            with response:
                drain_error_body(response)
                if response.status_code in _RANGE_REFUSED:
                    return False
                self.check_upload(response, remote)
        return self._stored_length(remote) == 2

    def _stored_length(self, remote: str) -> int | None:
        """The size the server reports for ``remote`` (HEAD), None if it has no such file."""
        response = self.session.head(
            self.session.url_for(remote), headers={"Accept-Encoding": "identity"}, allow_redirects=False
        )
        with response:
            return content_length(response) if response.status_code == 200 else None

    def check_upload(self, response: requests.Response, remote: str) -> None:
        """A 2xx answer, or the error; a missing parent folder gets words of its own.

        Upload handlers answer a PUT into a missing folder with 409 or 404; nginx without
        ``create_full_put_path`` with a bare 500.  For those, one HEAD of the folder tells
        whether it is missing.  Plain HTTPS cannot create it.
        """
        status = response.status_code
        parent = posixpath.dirname(remote) or "/"
        if status in (404, 409, 500) and parent != "/":
            drain_error_body(response)
            if not self.folder_missing(parent):
                self.session.check(response, path=remote)  # some other reason: the usual words
            raise RemoteNotFound(
                f"{self.server}: cannot upload to {self._user_path(remote)}: the folder "
                f"{self._user_path(parent)} does not exist on the server (HTTP {status} {response.reason})",
                hint="create it first with xfer mkdir (missing parents are created too)"
                if self.can_mkdir  # WebDAV comes through here too
                else "create the folder on the server first (plain HTTPS cannot: with WebDAV, "
                "use davs:// and xfer creates missing folders)",
            )
        self.session.check(response, path=remote)

    def _queued(self, status: int | None, checked_later: bool) -> bool:
        """A PUT answered ``202 Accepted``: to be done later (RFC 9110 15.3.3), so not done until
        proven (:meth:`accepted_proof`).  Not where a later step proves it (``checked_later``:
        WebDAV's MOVE of its fresh temporary name), nor for a ``POST`` to an upload handler,
        which answers 202 when it took the bytes: that is its success."""
        return status == 202 and self.options.upload_method == "PUT" and not checked_later

    def accepted_proof(
        self, offered: ServerHash | None, sent: StreamHash, remote: str, size: int, *,
        answer: requests.Response | None = None, source: SentFile | None = None, shown: str | None = None,
    ) -> Check:
        """The proof that a PUT answered 202 landed: the server's hash of its copy (stated with the
        answer, or by a HEAD now) matching the bytes sent; a size is none (the file there before,
        of the same size, has it too).  Else :class:`RemoteNotDone`, whatever the look found: a
        file of another size or hash is the one there before, never removed as a bad copy (the
        queued PUT may land after), and no IntegrityError sends the file again alone."""
        if offered is None:
            try:
                _, offered = self.check_stored(remote, size, answer=answer)
            except Interrupted:
                raise
            except XferError:  # another size (the file there before), or no answer: nothing proven
                offered = None
        if offered is not None:
            ours = sent.hexdigest(offered.algorithm)
            if ours is None and source is not None:
                with contextlib.suppress(IntegrityError):  # (the local file changed since: unproven)
                    ours = source.hash(offered.algorithm, size).hexdigest(offered.algorithm)
            if ours == offered.value:
                return offered.algorithm
        raise not_done(self.server, "upload", shown or self._user_path(remote), "202 Accepted")

    def folder_missing(self, folder: str) -> bool:
        """True if a HEAD of ``folder/`` says it does not exist (404/410)."""
        response = self.session.head(self.session.url_for(folder, folder=True), allow_redirects=False)
        with response:
            return response.status_code in (404, 410)

    def _head(self, remote: str, *, want_digest: bool = False) -> requests.Response:
        """A ``HEAD`` of the file ``remote`` as stored (see :func:`_head_headers`)."""
        session = self.session
        return session.head(session.url_for(remote), headers=_head_headers(want_digest), allow_redirects=False)

    def stated_hash(self, remote: str) -> ServerHash | None:
        """The hash of ``remote`` its ``HEAD`` states (``Repr-Digest``, ``Digest``: the same the
        upload check reads), or None where the server has none for us: a success without digest
        headers, a refusal of the question (403 a write-only folder, 405/501 no HEAD), a redirect
        (the URL of a folder).  :class:`RemoteNotFound` if there is no such file; any other
        answer (503, 429, 401, 5xx) is the error it maps to, so the retry policy asks again
        where that is worth it, and a failure is worded as what it is, not as "no checksum"."""
        with self.session.translating():
            response = self._head(remote, want_digest=True)
            with response:
                if response.status_code in (404, 410):
                    raise RemoteNotFound(f"{self.server}: {self._user_path(remote)} does not exist")
                if response.status_code in (403, 405, 501) or 300 <= response.status_code < 400:
                    drain_error_body(response)
                    return None
                self.session.check(response, path=remote)
                return http_digest(response.headers, content=False)

    def check_stored(
        self, remote: str, size: int, *, must_exist: bool = False, answer: requests.Response | None = None,
        remove: str | None = None,
    ) -> tuple[bool, ServerHash | None]:
        """HEAD the uploaded file: (False if the server cannot tell the size, any digest it states).

        IntegrityError if the size differs; the copy is then deleted, best effort, if ``remove``
        names it (under its final name, as on a hash mismatch: :meth:`conclude_upload`); None: a
        temporary name, which the caller removes.  ``must_exist``: a 404 is an error (after a
        MOVE the file must be where we put it).  ``answer``: the HEAD's answer, if it was sent
        already (pipelined with the PUT).
        """
        response = answer if answer is not None else self._head(remote, want_digest=True)
        with response:
            if response.status_code == 404 and must_exist:
                raise IntegrityError(
                    f"{self.server}: {remote} is not there after the upload was moved into place",
                    hint="the server stored it under another name (some servers mangle '?', ';' or '#' "
                    "in MOVE); set upload_temp_name = false in the profile's [webdav] table",
                )
            if response.status_code != 200:
                return False, None  # write-only drop folders are common: nothing to compare with
            length = content_length(response)
            # A HEAD answer has no body: only the representation digests describe the file.
            offered = http_digest(response.headers, content=False)
        if length is None:
            return False, offered
        if length != size:
            consequence = self._discard_bad_copy(remove) if remove is not None else "the upload was removed"
            raise IntegrityError(
                f"{self.server}: {self._user_path(remote)} has {length} bytes on the server after uploading "
                f"{size}; {consequence}",
                hint="run the upload again; if it repeats, the server is altering or truncating uploads",
            )
        return True, offered

    def file_entry(self, path: str) -> Entry:
        """``ls`` of a file: one entry from a HEAD (a folder URL with ``/`` gave 404)."""
        response = self._head(path)
        with response:
            if response.status_code in (404, 410):
                raise RemoteNotFound(f"{self.server}: {self._user_path(path)} does not exist")
            self.session.check(response, path=path)
            return self.head_entry(path, response)

    @staticmethod
    def head_entry(path: str, response: requests.Response) -> Entry:
        """The file a ``HEAD`` answer shows (its ``ETag``, if any, in ``extra``)."""
        etag = response.headers.get("ETag")
        return Entry(
            name=posixpath.basename(path),
            path=path,
            type="file",
            size=content_length(response),
            modified=server_http_date(response.headers.get("Last-Modified")),
            extra={"etag": etag} if etag else {},
        )

    def read_range(self, path: str, start: int, length: int | None, *, version: str | None = None) -> bytes:
        """One GET with ``Range``.  A 206 is checked against the range asked for; a server
        that ignores ``Range`` (200, the whole file) is read from the start and cut; 416
        (``start`` at or past the end) is no bytes.  ``version`` (a strong ETag) goes as
        ``If-Match``: 412, the file is another now, is an :class:`IntegrityError`.  A weak ETag
        is not sent: ``If-Match`` compares strongly, so it would never match."""
        session = self.session
        headers = {"Accept-Encoding": "identity"}
        if start or length is not None:
            headers["Range"] = f"bytes={start}-{'' if length is None else start + length - 1}"
        pinned = if_match(version)
        if pinned:
            headers["If-Match"] = pinned
        with session.translating():
            response = session.get(session.url_for(path), stream=True, headers=headers)
            with response:
                if response.status_code == 416:
                    drain_error_body(response)
                    return b""
                if response.status_code == 412 and pinned:
                    drain_error_body(response)
                    try:
                        stated = if_match(self.file_entry(path).extra.get("etag"))
                    except XferError:
                        stated = None  # gone, or no HEAD: the 412 stands (the file is not the one opened)
                    if stated == pinned:
                        # The server refuses the ETag it still states (a listing's, or another
                        # node's behind a balancer): it cannot pin; the length check remains.
                        return self.read_range(path, start, length)
                    raise IntegrityError(
                        f"{self._user_path(path)} on {self.server} changed while it was read (its ETag is "
                        f"no longer {pinned})", hint="open it again to read the new version",
                    )
                session.check(response, path=path)
                skip = start
                refuse_transfer_coding(response, f"{self.server} sent {self._user_path(path)}", "nothing was read")
                sent: ContentRange | None = None
                if response.status_code == 206:
                    sent = _content_range(response.headers.get("Content-Range"))
                    if sent is None or sent.first != start or not _holds_what_was_asked(sent, start, length):
                        raise IntegrityError(
                            f"{self.server} answered a request for bytes {start}-"
                            f"{'' if length is None else start + length - 1} of {self._user_path(path)} "
                            f"with another range ({response.headers.get('Content-Range', 'no Content-Range')})"
                        )
                    skip = 0
                declared = content_length(response)
                wanted = None if length is None else skip + length
                body = bytearray()
                try:
                    # Read to the end of a body that is the range itself, so the connection
                    # goes back to the pool; a whole file sent for a range is cut once enough
                    # has arrived (that connection is closed, not reused).
                    while wanted is None or len(body) < wanted or response.status_code == 206:
                        chunk = response.raw.read(DOWNLOAD_BLOCK, decode_content=False)
                        if not chunk:
                            break
                        body += chunk
                except Exception as exc:
                    raise ConnectionDropped(
                        f"the connection to {self.server} broke while reading "
                        f"{self._user_path(path)}",
                        hint="run the command again",
                    ) from exc
                if declared is not None and len(body) < declared and (wanted is None or len(body) < wanted):
                    raise IntegrityError(
                        f"{self.server} sent {len(body)} of {declared} bytes of {self._user_path(path)}"
                    )
                if sent is not None and len(body) != sent.length:
                    raise IntegrityError(
                        f"{self.server} sent {len(body)} bytes of {self._user_path(path)} for the "
                        f"{sent.length} of bytes {sent.first}-{sent.last}"
                    )
        return bytes(body[skip:wanted])


#: A download's read size into its one reused buffer.  Each TLS record (16 KiB) is decrypted
#: straight into it; the hash and the file write then see 256 KiB at a time.  Measured on a
#: 256 MiB GET from nginx, client CPU: 64 KiB ``read()`` 0.55-0.60 s, ``readinto`` 64 KiB
#: 0.55 s, 256 KiB 0.51-0.53 s, 1 MiB no better (the rest is TLS, SHA-256 and the disk).
BODY_BLOCK = 256 * 1024


def _read_body(raw: Any, out: Any, block: int = BODY_BLOCK) -> None:
    """Read a response body to its proven end into ``out.write``, in ``block``s of one reused buffer.

    urllib3's ``read(n)`` costs a new ``bytes`` of ``n`` per call and two copies of every byte
    (http.client's ``read`` fills a bytearray, then copies it out); ``readinto`` on the
    http.client response below it decrypts into our buffer, and ``out.write`` copies it once
    more (into the file).  http.client ends the body on the same proofs as urllib3 (length
    reached, last chunk, or EOF on a close-delimited body, which without close_notify
    raises :class:`ssl.SSLEOFError`) except one: an EOF *inside* the announced length reads as
    the end, so that case raises :class:`http.client.IncompleteRead` here, as urllib3 would.
    Once http.client has seen the end, the connection goes back to the pool.
    """
    fp = getattr(raw, "_fp", None)
    if not isinstance(fp, http.client.HTTPResponse) or fp.isclosed():
        # Not urllib3 over http.client (a test double, a future urllib3): its own read path.
        while chunk := raw.read(DOWNLOAD_BLOCK, decode_content=False):
            out.write(chunk)
        return
    view = aligned_buffer(block)  # see xfer/buffers.py
    expected = fp.length  # None: chunked, or delimited by the end of the connection
    if expected and not fp.chunked:
        _read_known_length(fp, view, out)
    while count := fp.readinto(view):
        out.write(view[:count] if count < block else view)
    if expected is not None and fp.length:
        # http.client took an EOF inside Content-Length for the end (compatibility, it says).
        raise http.client.IncompleteRead(b"", fp.length)
    if fp.isclosed():
        raw.release_conn()


def _read_known_length(fp: http.client.HTTPResponse, view: memoryview, out: Any) -> None:
    """The body of known length of ``fp``, read straight from its TLS socket where it is one of
    ours (:meth:`~xfer.tls.connection.XferSSLSocket.fill`), into ``out.write``.

    What http.client's reader already holds (the start of the body, read with the head) goes
    first; after it, the reader is empty and the socket is read directly.  Every write but the
    last is a whole ``view``: the held bytes start the first block and the socket tops it up,
    so the file and the write-behind pool take whole blocks at offsets that are multiples of
    the block (the held count is any number, and a copy that lands 1-31 bytes ahead of its
    source modulo 4 KiB runs several times slower: :mod:`xfer.buffers`).  Bytes received before
    a failure are written before it is raised.  ``fp.length``, what
    http.client counts down to the body's end, is kept up to date, so that its own ``readinto``
    ends the body (and hands the connection back) as if it had read it all itself.  A stream
    that ends early leaves ``fp.length`` above 0: the caller raises ``IncompleteRead``.
    """
    reader = fp.fp
    sock = getattr(getattr(reader, "raw", None), "_sock", None)  # socket.SocketIO's socket
    fill = getattr(sock, "fill", None)
    if fill is None or fp.length is None:
        return  # not over one of our TLS sockets (plain HTTP, a test double): http.client reads
    block = len(view)
    held = len(reader.peek())  # no read if it holds something, else one (the buffer's size)
    filled = 0
    try:
        while fp.length:
            free = view[filled : filled + min(fp.length, block - filled)]
            if held:
                count = reader.readinto(free[:held])
                held -= count
            else:
                count = fill(free)
                if not count:
                    return
            fp.length -= count
            filled += count
            if filled == block:
                filled = 0  # first: a write that fails is not written again below
                out.write(view)
    finally:
        if filled:
            out.write(view[:filled])


#: Files whose answers a closed connection cut off go again together (:meth:`HTTPTransfer.upload_together`),
#: at most twice as many per write as the last write settled, and at least this many.
_RESENT_FILES = 4
#: A folder holding at least this many of a pipelined group's files is checked by one listing
#: instead of a HEAD per file (:meth:`HTTPTransfer.upload_together`): a listing's length grows
#: with the folder, a HEAD's does not.
_LISTED_FILES = 4
#: A folder whose listing shows more files than this per file it checks goes back to a HEAD per
#: file.  Measured, 128 x 4 KiB to the bed's nginx (tmpfs) into a folder already holding N
#: files, ms of CPU / wall, listing vs HEADs: N = 0: 16.8 / 18.2 vs 19.8 / 20.3; 256 (8-10
#: entries per file): 17.2 / 19.7 vs 20.5 / 20.9; 512 (16-20): 18.9 / 23.2 vs 20.2 / 21.0;
#: 1,024: 19.3 / 26.0 vs 20.4 / 20.7.
_LISTED_ENTRIES_PER_FILE = 12

#: Blocks a streamed upload may hold between the writer and the thread sending them.
_QUEUED_BLOCKS = 8


class _Grouped(NamedTuple):
    """A file of a pipelined group (:meth:`HTTPTransfer.upload_together`): its place in the
    group, where it goes, its body and size, and what is sent."""

    place: int
    remote: str
    body: FileBody
    size: int
    source: SentFile


class _GroupPlan(NamedTuple):
    """A pipelined group's requests (:meth:`HTTPTransfer._plan_group`): per file whether a HEAD
    went with its PUT, the folder whose listing follows the PUTs (if any) and the names it
    checks, and when the group started."""

    calls: list[tuple[str, str, Any, dict[str, str] | None]]
    headed: list[bool]
    folder: str | None
    names: set[str]
    started: float


#: How a write of a group reports a file proven: its position among the write's files, its result.
_Report = Callable[[int, TransferResult], None]


def _settled(results: list[TransferResult | None], position: int, result: TransferResult | None,
             report: _Report) -> None:
    """``result`` (None: the file goes alone) put in its place, and reported if the file is proven."""
    results[position] = result
    if result is not None:
        report(position, result)


class _Written(NamedTuple):
    """What one write of :meth:`HTTPTransfer.upload_together` (or ``download_together``) did: per
    file its result (None: it goes alone), the positions of the files whose answers never came (to
    be sent again), and how many files went in the pipelined write (0: none was sent that way)."""

    results: list[TransferResult | None]
    unanswered: list[int]
    pipelined: int


def _left_unread(answer: requests.Response) -> bool:
    """Whether an answer was a JSON index too long to read (a pipelined GET reads at most
    :data:`~xfer.http_lean.PIPELINED_GET_LIMIT`): a listing, of a folder too full to list."""
    return media_type(answer.headers).endswith("json") and body_left_unread(answer)


class _GroupFailed(Exception):
    """A pipelined group's exchange failed (:meth:`HTTPTransfer._pipelined`): its bodies are spent."""


class _Cut(Exception):
    """Raised inside the request body to end a chunked PUT without its last chunk (an abort)."""


class ChunkedUpload(RemoteWriter):
    """A PUT whose body is what the caller writes: ``Transfer-Encoding: chunked``, sent by a thread.

    ``write`` hands blocks (at most :data:`_QUEUED_BLOCKS` of ``UPLOAD_BLOCK`` waiting) to a
    thread running the one PUT of ``target``; ``close`` sends the last chunk and checks the
    answer (and with ``check_size`` the size by HEAD); ``abort`` ends the body *without* its
    last chunk, so the server sees an incomplete request, never a complete short file.
    ``then`` runs after a successful PUT, given the result and the hashes sent (WebDAV moves
    the part into place there); ``discard`` runs after any failure or abort (WebDAV deletes the part); ``temp_name``
    says that ``target`` is such a part.
    """

    def __init__(
        self,
        http: HTTPTransfer,
        target: str,
        callback: ProgressCallback | None,
        *,
        user_path: str,
        check_size: bool,
        send_put: Callable[[str, Any], requests.Response] | None = None,
        then: Callable[[Sent], None] | None = None,
        discard: Callable[[], None] | None = None,
        temp_name: str | None = None,
    ) -> None:
        # SHA-256 whatever the result shows: the server may state a digest after the body, and
        # a stream cannot be read again to compute it then (a file upload can: SentFile).
        super().__init__(user_path, callback, hash=StreamHash("md5" if http.checksum else None))
        self.temp_name = temp_name
        self._http = http
        self._target = target
        self._check_size = check_size
        self._send_put = send_put or http.send_put
        self._then = then
        self._on_discard = discard
        # None ends the body; a _Cut aborts it.
        self._queue: queue.Queue[bytes | _Cut | None] = queue.Queue(maxsize=_QUEUED_BLOCKS)
        self._error: BaseException | None = None
        self._status: int | None = None
        self._tls_version: str | None = None
        self._tls: str | None = None
        self._sent = 0
        self._thread = threading.Thread(target=self._request, name="xfer-chunked-put", daemon=True)
        self._thread.start()

    # -- the sending thread ------------------------------------------------------------------

    def _body(self) -> Iterator[bytes]:
        while True:
            block = self._queue.get()
            if isinstance(block, _Cut):
                raise block
            if block is None:
                return
            self._sent += len(block)
            yield block

    def _request(self) -> None:
        http = self._http
        try:
            with http.session.translating():
                response = self._send_put(self._target, self._body())
                with response:
                    if response.status_code == 411:
                        raise UnsupportedOperation(
                            f"{http.server} refuses uploads whose length is not known in advance "
                            "(HTTP 411 Length Required to a chunked PUT)",
                            hint="write the data to a local file first and put that file",
                        )
                    http.check_upload(response, self._target)
                    self._tls_version = http.session.tls_version(response)
                    drain_error_body(response)
                    self._status = response.status_code
        except BaseException as exc:  # handed to the writer's thread, which raises it
            self._error = exc

    # -- the writer's side ---------------------------------------------------------------------

    def _hand_over(self, block: bytes | _Cut | None) -> None:
        """Queue ``block`` for the thread; raise what ended the request if it ended first."""
        while True:
            if not self._thread.is_alive():
                raise self._ended_early()
            try:
                self._queue.put(block, timeout=0.2)
                return
            except queue.Full:
                continue

    def _ended_early(self) -> BaseException:
        if self._error is not None:
            return self._error
        return IntegrityError(
            f"{self._http.server} answered before the whole upload of {self.remote} was sent "
            f"({self._sent} of {self.written}+ bytes)",
            hint="the server may have refused the upload; check its size limits",
        )

    def _send(self, data: memoryview) -> None:
        for start in range(0, data.nbytes, UPLOAD_BLOCK):
            self._hand_over(bytes(data[start : start + UPLOAD_BLOCK]))

    def _finish(self) -> TransferResult:
        try:
            if self._thread.is_alive():
                self._hand_over(None)
            self._thread.join()
            if self._error is not None:
                raise self._error
            if self._sent != self.written:
                raise self._ended_early()
            http = self._http
            queued = http._queued(self._status, self._then is not None)
            verified, offered = http.check_stored(
                self._target, self.written, remove=self._target if self._then is None else None,
            ) if self._check_size and not queued else (None, None)
            result = TransferResult(
                direction="put", local="-", remote=self.remote, size=self.written, elapsed=self.elapsed,
                details={"method": "PUT", "http_status": self._status, "transfer_encoding": "chunked"},
                tls_version=self._tls_version, size_verified=verified,
            )
            if queued:
                result.verified = http.accepted_proof(None, self._hash, self._target, self.written, shown=self.remote)
                result.size_verified = True
            elif self._check_size:
                result.verified = http.conclude_upload(
                    offered, self._hash, self._target, size_checked=bool(verified), remove=self._target,
                    installed=self._then is None, size=self.written,
                )
            if self._then is not None:
                self._then(Sent(result, self._hash))
        except BaseException:
            self._cleanup()
            raise
        return result

    def _discard(self) -> None:
        if self._thread.is_alive():
            # Blocks not yet sent are dropped; the cut makes the request fail before its last chunk.
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            try:
                self._queue.put(_Cut(), timeout=self._http.timeout)
            except queue.Full:
                pass
            self._thread.join(self._http.timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._on_discard is not None:
            self._on_discard()


#: The smallest piece of a ranged upload (:meth:`HTTPTransfer.upload_ranged`; a file no larger
#: goes in one PUT): what a retry after a cut may have to send again, against one request (and
#: one HEAD) per piece.
RANGED_PUT_CHUNK = 16 * 2**20
#: The largest piece: a file over 256 MiB goes in sixteen pieces up to this size.  Between two
#: pieces the connection idles for an answer and a HEAD: a 1 GiB upload to Apache took 1.9-2.0 s
#: in 16 MiB pieces, 1.67-1.75 s in 64 MiB ones, 1.57 s in one PUT (issue 14).
RANGED_PUT_LARGEST = 64 * 2**20


def ranged_piece(size: int) -> int:
    """The piece size of a ranged upload of ``size`` bytes: a sixteenth of the file (whole MiB),
    at least :data:`RANGED_PUT_CHUNK`, at most :data:`RANGED_PUT_LARGEST`, so that a cut costs
    at most that much sent again."""
    sixteenth = -(-size // 16 // 2**20) * 2**20
    return min(max(sixteenth, RANGED_PUT_CHUNK), RANGED_PUT_LARGEST)


#: Answers to a PUT with ``Content-Range`` that mean "not this way" (RFC 9110 forbids it in
#: principle: 400; nginx: 501).
_RANGE_REFUSED = frozenset({400, 405, 411, 416, 501})


def _other_size(answer: requests.Response, listed: int | None) -> bool:
    """Whether a pipelined GET's 200 brought a body read whole of another size than ``listed``."""
    return (listed is not None and answer.status_code == 200 and not body_left_unread(answer)
            and len(answer.content) != listed)


def content_length(response: requests.Response) -> int | None:
    return declared_length(response.headers.get("Content-Length"))


def refuse_transfer_coding(response: requests.Response, what: str, consequence: str) -> None:
    """IntegrityError for a body in a transfer coding other than ``chunked`` alone (``gzip, chunked``,
    ``chunked`` twice, a stray blank): decoding the chunks would leave another coding's bytes,
    and http.client, which decides by the exact value ``chunked``, would keep the chunk framing.
    ``what``: who sent what (``SERVER sent PATH``); ``consequence``: what that means here."""
    coding = response.headers.get("Transfer-Encoding")
    if coding is not None and coding.lower() != "chunked":
        response.close()
        raise IntegrityError(
            f"{what} in a transfer coding xfer does not decode (Transfer-Encoding: {coding}); {consequence}",
            hint="the server (or a proxy in between) encodes its answers; ask the partner to send files as they are",
        )


def _holds_what_was_asked(sent: ContentRange, start: int, length: int | None) -> bool:
    """Whether a range that starts where asked holds every byte asked for: up to ``start + length``
    (or beyond), or to the end of a file it names as shorter; with no ``length``, to the end."""
    ends_the_file = sent.size is not None and sent.last == sent.size - 1
    if length is None:
        return ends_the_file
    return sent.last >= start + length - 1 or ends_the_file


class ContentRange(NamedTuple):
    """``Content-Range: bytes FIRST-LAST/SIZE``; ``size`` None for ``*`` (not known)."""

    first: int
    last: int
    size: int | None

    @property
    def length(self) -> int:
        """The bytes the range holds."""
        return self.last - self.first + 1


def _content_range(content_range: str | None) -> ContentRange | None:
    """The range a ``206`` says it holds; None if the header is absent, malformed, or names no byte
    (LAST before FIRST, or past SIZE)."""
    match = re.fullmatch(r"\s*bytes\s+([0-9]+)-([0-9]+)/([0-9]+|\*)\s*", content_range or "")
    if not match:
        return None
    first, last = server_int(match.group(1)), server_int(match.group(2))
    size = None if match.group(3) == "*" else server_int(match.group(3))
    if first is None or last is None or last < first or (match.group(3) != "*" and (size is None or last >= size)):
        return None  # (server_int: None for a number longer than any file)
    return ContentRange(first, last, size)


def _validator(facts: dict[str, Any]) -> str | None:
    """What ``If-Range`` may carry: a strong ETag, else a strong Last-Modified date (RFC 9110 13.1.5).

    A date is strong only if it is at least a second before the ``Date`` of the answer that
    brought it (RFC 9110 8.8.2.2): a file written again within that second keeps its date, and
    a server honouring ``If-Range`` by it would send the rest of the new version, joined to the
    part of the old one with every size matching (found in review).  A part saved without its
    answer's ``Date`` (by an xfer before this rule) is not continued by date either."""
    etag = facts.get("etag")
    if isinstance(etag, str) and etag and not etag.startswith("W/"):
        return etag
    modified = facts.get("last_modified")
    if not isinstance(modified, str) or not modified:
        return None
    when, answered = server_http_date(modified), server_http_date(facts.get("date"))
    if when is None or answered is None or (answered - when).total_seconds() < 1:
        return None
    return modified
