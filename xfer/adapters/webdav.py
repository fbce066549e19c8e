"""``davs://``: WebDAV over TLS — webdavclient3 on our guarded session, file bodies streamed by us.

Who does what, and why:

* **webdavclient3 builds and sends PROPFIND, MKCOL, DELETE, MOVE and COPY** through
  ``Client.execute_request`` (its method table, per-action headers and URL joining), on
  *our* :class:`~xfer.http_session.XferSession`: ``client.session`` is replaced, its
  ``webdav_cert_path``/``webdav_key_path`` options are never set (they need the key as a
  PEM file on disk and would replace the identity in the shared context).
* Its high-level verbs (``list``, ``info``, ``mkdir``, ``move``, ``copy``, ``clean``) are
  not called.  In 3.14.7 they send an extra ``HEAD`` before each operation, leave their
  ``stream=True`` responses open (so the next call pays a new mTLS handshake), parse
  server XML with lxml (which expands internal entities), and ``mkdir`` prints to
  stdout.  ``execute_request`` is the layer beneath them; every response it returns is
  closed here, and XML is read by :mod:`._dav_xml` (defusedxml, no DTDs).
* **PUT and GET are the HTTPS adapter's**, inherited: a :class:`~xfer.transfer.FileBody`
  with ``Content-Length`` (never chunked) and exact progress, and a GET streamed into
  :class:`~xfer.transfer.AtomicDownload`.  webdavclient3's upload/download (chunked
  with a progress callback, progress that overshoots or never reaches 100 %, an extra
  HEAD and PROPFIND per download, a fixed chunk size) never run.
* **Error statuses**: ``execute_request`` raises its own exceptions on 404/405/423/507
  *without reading or closing the response* (a leaked connection each).  A response
  hook on our session, active only around our DAV calls, reads the small error body
  first (the connection returns to the pool) and stops the call with the response;
  it is then mapped here, with the WebDAV meanings (409 missing parent, 412 exists,
  423 locked, 507 full) on top of :func:`~xfer.http_session.map_http_error`.
"""

from __future__ import annotations

import contextlib
import posixpath
import secrets
import threading
import urllib.parse
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import requests
from webdav3.client import Client
from webdav3.exceptions import WebDavException

from ..errors import (
    ConfigError,
    RemoteError,
    RemoteExists,
    RemoteLocked,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerError,
    UnsupportedOperation,
    UsageError,
    XferError,
    folder_needs_recursive,
)
from ..http_session import drain_error_body, map_http_error
from ._dav_xml import PROPFIND_BODY, DAVResource, UnsafeXML, parse_multistatus
from .base import Capability, ConnectionSettings, Entry, ProgressCallback, TransferResult
from .https import HTTPSAdapter

__all__ = ["WebDAVAdapter", "WebDAVOptions"]

#: Statuses the hook intercepts around webdavclient3 calls: every failure.
_ALL_ERRORS = range(400, 600)
#: Around our own PUT: only what means something else in WebDAV than in plain HTTP.
_PUT_ERRORS = frozenset({405, 409, 423})


@dataclass(frozen=True)
class WebDAVOptions:
    """The ``[webdav]`` profile table.  Declared in ``xfer/options.py``; parsed here defensively."""

    upload_temp_name: bool = True  # as declared: an interrupted PUT never leaves a half file under the name
    overwrite: bool = True

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> WebDAVOptions:
        values = {}
        for name in ("upload_temp_name", "overwrite"):
            value = options.get(name, getattr(cls, name))
            if not isinstance(value, bool):
                raise ConfigError(f"[webdav] {name} must be true or false, not {value!r}")
            values[name] = value
        return cls(**values)


class _DAVStatus(Exception):
    """An error response caught by the hook, body already read.  Never leaves this module."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    url: str


class WebDAVAdapter(HTTPSAdapter):
    """Files and folders over WebDAV with a client certificate, on one pooled TLS connection.

    Beyond the common verbs: :meth:`copy` (server-side COPY).  ``[webdav]`` options:
    ``upload_temp_name`` (default on: PUT to a hidden temporary name, then MOVE into place;
    off, an interrupted PUT can leave a partial file under the real name) and
    ``overwrite`` (whether :meth:`mv` may replace an existing destination).
    """

    schemes: ClassVar[tuple[str, ...]] = ("davs",)
    default_port: ClassVar[int] = 443
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)

    def __init__(self, settings: ConnectionSettings) -> None:
        # The HTTPS adapter builds the guarded session for https://host:port (and basic auth).
        super().__init__(settings)
        self.dav_options = WebDAVOptions.from_mapping(settings.options)
        self._watch = threading.local()
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

    def _unsupported_hint(self, capability: Capability) -> str | None:
        return None

    # -- the request layer -------------------------------------------------------------

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        watched: Container[int] | None = getattr(self._watch, "statuses", None)
        if watched is not None and response.status_code in watched:
            drain_error_body(response)
            raise _DAVStatus(response)
        return response

    @contextlib.contextmanager
    def _watching(self, statuses: Container[int]) -> Iterator[None]:
        previous = getattr(self._watch, "statuses", None)
        self._watch.statuses = statuses
        try:
            yield
        finally:
            self._watch.statuses = previous

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
        ``copy``).  Error statuses in ``accept`` are returned, others raise the mapped
        xfer error.  ``other`` is the second path of a MOVE/COPY, for messages; ``shown``
        names ``path`` in messages instead (an upload's temporary name is not the user's).
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
                    return _Reply(response.status_code, response.content, response.url or "")
        except _DAVStatus as failure:
            if failure.response.status_code in accept:
                return _Reply(failure.response.status_code, b"", failure.response.url or "")
            raise self._status_error(failure.response, shown or path, action, other) from failure

    def _status_error(self, response: requests.Response, path: str, action: str, other: str | None) -> XferError:
        """The xfer error for a failed WebDAV request: DAV meanings first, then HTTP's."""
        server = self.settings.server
        status = response.status_code
        said = f"{status} {response.reason or ''}".strip()
        method = response.request.method if response.request is not None else action.upper()
        target = other if other is not None else path
        if status == 409 and action in ("mkdir", "upload", "move", "copy"):
            parent = posixpath.dirname(target.rstrip("/")) or "/"
            return RemoteNotFound(
                f"{server}: the folder {parent} does not exist ({method} {target}: {said})",
                hint="create it first with xfer mkdir (missing parents are created too)",
            )
        if status == 412 and action in ("move", "copy"):
            return RemoteExists(
                f"{server}: {target} already exists and overwriting is off ({said})",
                hint="remove it first, or set overwrite = true in the profile's [webdav] table",
            )
        if status == 405 and action == "upload":
            return RemoteExists(
                f"{server}: cannot upload to {path}: the server does not allow PUT there ({said}); it may be a folder",
            )
        if status in (405, 501):
            return UnsupportedOperation(
                f"{server} does not allow {method} on {path} ({said})",
                hint="for a plain web server (no WebDAV) use https://" if action == "list" else None,
            )
        if status == 423:
            return RemoteLocked(
                f"{server}: {path} is locked ({said})",
                hint="someone holds a WebDAV lock on it; try again when it is released",
            )
        return map_http_error(response, server=server, path=path, context=self.settings.ssl_context)

    def _multistatus_error(self, reply: _Reply, path: str, action: str) -> None:
        """A 207 answer to DELETE/MOVE/COPY lists the members that failed: raise for them."""
        failed = [r for r in self._parse(reply, path) if r.status >= 400]
        if not failed:
            return
        first = failed[0]
        verb = {"clean": "removing", "move": "moving", "copy": "copying"}.get(action, action)
        message = (
            f"{self.settings.server}: {verb} {path} failed for {len(failed)} item(s), "
            f"first {first.path} (HTTP {first.status}); the rest may have been done"
        )
        kinds: dict[int, type[RemoteError]] = {
            403: RemotePermissionDenied,
            404: RemoteNotFound,
            423: RemoteLocked,
            507: RemoteStorageFull,
        }
        raise kinds.get(first.status, RemoteError)(message)

    # -- PROPFIND ------------------------------------------------------------------------

    def _propfind(self, path: str, depth: int) -> list[DAVResource]:
        reply = self._dav(
            "list",
            path,
            folder=path == "/",
            headers=[f"Depth: {depth}", "Content-Type: application/xml; charset=utf-8"],
            body=PROPFIND_BODY,
        )
        if reply.status != 207:
            raise RemoteError(
                f"{self.settings.server} answered PROPFIND {path} with HTTP {reply.status}, "
                "not 207 Multi-Status: it does not seem to speak WebDAV there",
                hint="for a plain web server use https://",
            )
        return self._parse(reply, path)

    def _parse(self, reply: _Reply, path: str) -> list[DAVResource]:
        try:
            return parse_multistatus(reply.body, request_url=reply.url or self.session.url_for(path))
        except UnsafeXML as exc:
            raise RemoteError(
                f"{self.settings.server}: refused the WebDAV answer for {path}: {exc}",
                hint="the server (or something in between) sent XML xfer will not parse",
            ) from exc

    def _split(self, resources: list[DAVResource], path: str) -> tuple[DAVResource, list[DAVResource]]:
        """The resource ``path`` itself, and the others (its members, for Depth 1)."""
        wanted = path.rstrip("/") or "/"
        for index, resource in enumerate(resources):
            if resource.path == wanted:
                return resource, resources[:index] + resources[index + 1 :]
        # A server behind a path-rewriting proxy names things under another prefix; the
        # collection itself is then the one whose path is a prefix of all the others.
        if resources:
            first = min(resources, key=lambda r: len(r.path))
            prefix = first.path.rstrip("/") + "/"
            if all(r is first or r.path.startswith(prefix) for r in resources):
                return first, [r for r in resources if r is not first]
        raise RemoteError(f"{self.settings.server}: the PROPFIND answer for {path} does not describe {path}")

    def _stat(self, path: str) -> DAVResource:
        resource, _ = self._split(self._propfind(path, 0), path)
        return resource

    def _is_folder(self, path: str) -> bool:
        """True if ``path`` is a collection; False if it is missing or a file."""
        try:
            return self._stat(path).is_collection
        except RemoteNotFound:
            return False

    def _to_entry(self, resource: DAVResource, path: str) -> Entry:
        extra = {
            key: value
            for key, value in (("etag", resource.etag), ("content_type", resource.content_type))
            if value is not None
        }
        return Entry(
            name=posixpath.basename(path),
            path=path,
            type="directory" if resource.is_collection else "file",
            size=resource.size,
            modified=resource.modified,
            extra=extra,
        )

    def _ls(self, path: str) -> list[Entry]:
        itself, members = self._split(self._propfind(path, 1), path)
        if not itself.is_collection:
            return [self._to_entry(itself, path)]
        return [
            self._to_entry(member, posixpath.join(path, member.name))
            for member in members
            if member.status < 300 and member.name
        ]

    def _info(self, path: str) -> Entry:
        return self._to_entry(self._stat(path), path)

    # -- folders --------------------------------------------------------------------------

    def _mkdir(self, path: str, parents: bool) -> None:
        if path == "/":
            return
        # MKCOL on the folder first: one request when the parent exists (the usual case),
        # walking up only on 409 Conflict (missing parent).  nginx wants the trailing slash.
        tolerated = (400, 405, 409) if parents else (400, 405)
        reply = self._dav("mkdir", path, folder=True, accept=tolerated)
        if reply.status == 409:
            self._mkdir(posixpath.dirname(path), parents=True)
            reply = self._dav("mkdir", path, folder=True, accept=(400, 405))
        if reply.status in (400, 405):
            # 405: something exists there already, which is fine if it is a folder.  Apache
            # answers 400 instead when that something is a file ("name/" cannot be a file).
            try:
                exists_as_folder = self._stat(path).is_collection
            except RemoteNotFound:
                raise RemoteError(
                    f"{self.settings.server} refused to create folder {path} (HTTP {reply.status})"
                ) from None
            if not exists_as_folder:
                raise RemoteExists(f"{self.settings.server}: cannot create folder {path}: a file has that name")

    def _rm(self, path: str, recursive: bool) -> None:
        if path == "/":
            raise UsageError("refusing to remove the server's root folder")
        itself, members = self._split(self._propfind(path, 0 if recursive else 1), path)
        if itself.is_collection and not recursive and members:
            raise folder_needs_recursive(
                f"{self.settings.server}: {path} is a folder with {len(members)} entr"
                f"{'y' if len(members) == 1 else 'ies'} in it; nothing was removed"
            )
        # DELETE on a collection removes it with its members (RFC 4918 9.6.1).
        reply = self._dav("clean", path, folder=itself.is_collection)
        if reply.status == 207:
            self._multistatus_error(reply, path, "clean")

    def _rmdir(self, path: str) -> None:
        if path == "/":
            raise UsageError("refusing to remove the server's root folder")
        itself, members = self._split(self._propfind(path, 1), path)
        if not itself.is_collection:
            raise RemoteError(f"{self.settings.server}: {path} is not a folder", hint="use xfer rm for files")
        if members:
            raise RemoteError(
                f"{self.settings.server}: folder {path} is not empty", hint="remove it with its contents: xfer rm -r"
            )
        reply = self._dav("clean", path, folder=True)
        if reply.status == 207:
            self._multistatus_error(reply, path, "clean")

    # -- MOVE / COPY ------------------------------------------------------------------------

    def _mv(self, source: str, destination: str) -> None:
        self._relocate("move", source, destination, overwrite=self.dav_options.overwrite)

    def copy(self, source: str, destination: str, *, overwrite: bool | None = None) -> None:
        """Copy a file or a whole folder on the server (WebDAV COPY), without downloading it.

        ``overwrite`` defaults to the ``[webdav] overwrite`` option.
        """
        if self.closed:
            raise UsageError(f"{self!r} is closed")
        self._relocate(
            "copy",
            self.remote_path(source),
            self.remote_path(destination),
            overwrite=self.dav_options.overwrite if overwrite is None else overwrite,
        )

    def _relocate(
        self,
        action: str,
        source: str,
        destination: str,
        *,
        overwrite: bool,
        folder: bool | None = None,
        shown: str | None = None,
    ) -> None:
        if source == "/" or destination == "/":
            raise UsageError(f"cannot {action} the server's root folder")
        if folder is None:
            # nginx wants source and Destination both with or both without the trailing slash.
            folder = self._stat(source).is_collection
        headers = [
            f"Destination: {self.session.url_for(destination, folder=folder)}",
            f"Overwrite: {'T' if overwrite else 'F'}",
        ]
        if action == "copy" and folder:
            headers.append("Depth: infinity")
        try:
            reply = self._dav(action, source, folder=folder, headers=headers, other=destination, shown=shown)
        except ServerError as exc:
            # Apache mod_dav answers 500, not 409, when the destination's folder is missing.
            parent = posixpath.dirname(destination) or "/"
            if not self._is_folder(parent):
                raise RemoteNotFound(
                    f"{self.settings.server}: the folder {parent} does not exist ({exc})",
                    hint="create it first with xfer mkdir (missing parents are created too)",
                ) from exc
            raise
        if reply.status == 207:
            self._multistatus_error(reply, source, action)

    # -- PUT (GET is inherited unchanged) -------------------------------------------------

    def _put_file(self, local: str, remote: str, callback: ProgressCallback | None) -> TransferResult:
        if not self.dav_options.upload_temp_name:
            return super()._put_file(local, remote, callback)
        folder, name = posixpath.split(remote)
        target = posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.xfer-part")
        try:
            result = self._upload(local, target, callback, check_size=False)  # checked after the MOVE
            # Pick-up folders never see a half file: it appears under its name when complete.
            try:
                self._relocate("move", target, remote, overwrite=True, folder=False, shown=remote)
            except UnsupportedOperation as exc:
                raise UnsupportedOperation(
                    f"{exc}: the upload went to a temporary name and cannot be moved into place",
                    hint="set upload_temp_name = false in the profile's [webdav] table (an interrupted "
                    "upload may then leave a partial file under the real name)",
                ) from exc
        except BaseException:
            # Whatever stopped the upload (Ctrl-C, TLS, a refused MOVE, a local read error),
            # the temporary file must not stay behind; the original error is what propagates.
            self._discard(target)
            raise
        if self.options.verify_upload:
            # Checked on the final name, not the temporary one: a server that mangles the
            # MOVE destination ('?', ';') would otherwise report success for a file that
            # landed somewhere else.
            result.details["verified_size"] = self._verify_size(remote, result.size, must_exist=True)
        result.remote = self.user_path(remote)
        result.details["temp_name"] = posixpath.basename(target)
        return result

    def _send_put(self, remote: str, data: Any) -> requests.Response:
        # Watched around the PUT only: a 405 on the size-check HEAD after it is not "PUT refused".
        with self._watching(_PUT_ERRORS):
            try:
                return super()._send_put(remote, data)
            except _DAVStatus as failure:
                raise self._status_error(failure.response, remote, "upload", None) from failure

    def _discard(self, path: str) -> None:
        """Best effort: remove a temporary upload after a failure (it may not exist).

        Never raises an error of its own: the caller is re-raising the one that matters.
        After Ctrl-C or a broken connection this DELETE may fail too (network gone), or
        reach a server still finishing the aborted PUT; then the part file stays behind,
        under its hidden name, never under the real one.
        """
        with contextlib.suppress(Exception):
            self._dav("clean", path, accept=range(400, 600))


def _quote(path: str, *, folder: bool) -> str:
    """The percent-encoded path webdavclient3 appends to the origin (as ``url_for`` encodes)."""
    if folder and not path.endswith("/"):
        path += "/"
    return urllib.parse.quote(path, safe="/")
