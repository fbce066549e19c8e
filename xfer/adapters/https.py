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
cannot tell a partial file from the previous good version the PUT was replacing.  For
uploads that must never appear half-written, use ``davs://`` (temporary name, then MOVE).
"""

from __future__ import annotations

import email.utils
import html.parser
import json
import posixpath
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import requests

from ..errors import (
    ConfigError,
    ConnectionDropped,
    IntegrityError,
    RemoteNotFound,
    UnsupportedOperation,
    XferError,
    folder_needs_recursive,
)
from ..http_session import MultipartBody, XferSession, create_session
from ..transfer import DOWNLOAD_BLOCK, UPLOAD_BLOCK, AtomicDownload, FileBody, open_for_upload
from .base import Adapter, Capability, ConnectionSettings, Entry, EntryType, ProgressCallback, TransferResult

__all__ = ["HTTPSAdapter", "HTTPSOptions", "parse_html_index", "parse_json_index"]

UploadMethod = Literal["PUT", "POST"]
IndexFormat = Literal["auto", "json", "html", "none"]

_DAVS_HINT = "plain HTTPS has no folders or renames; if the server speaks WebDAV, use davs://{where}"


@dataclass(frozen=True)
class HTTPSOptions:
    """The ``[https]`` profile table.  Declared in ``xfer/options.py``; parsed here defensively."""

    upload_method: UploadMethod = "PUT"
    form_field: str = "file"
    index: IndexFormat = "auto"
    verify_upload: bool = True

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> HTTPSOptions:
        method = str(options.get("upload_method", cls.upload_method)).upper()
        if method not in ("PUT", "POST"):
            raise ConfigError(f'upload_method must be "PUT" or "POST", not {method!r}')
        index = str(options.get("index", cls.index)).lower()
        if index not in ("auto", "json", "html", "none"):
            raise ConfigError(f'index must be one of "auto", "json", "html", "none", not {index!r}')
        field = str(options.get("form_field", cls.form_field))
        if not field:
            raise ConfigError("form_field must not be empty")
        verify = options.get("verify_upload", cls.verify_upload)
        if not isinstance(verify, bool):
            raise ConfigError(f"verify_upload must be true or false, not {verify!r}")
        return cls(upload_method=method, form_field=field, index=index, verify_upload=verify)  # type: ignore[arg-type]


class HTTPSAdapter(Adapter):
    """Files over HTTPS with a client certificate: one pooled TLS connection for many operations."""

    schemes: ClassVar[tuple[str, ...]] = ("https",)
    default_port: ClassVar[int] = 443
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LS, Capability.GET, Capability.PUT, Capability.RM}
    )

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.options = HTTPSOptions.from_mapping(settings.options)
        self.session: XferSession = create_session(
            settings.ssl_context,
            server=settings.server,
            timeout=settings.timeout,
            blocksize=UPLOAD_BLOCK,
        )
        if settings.username is not None:
            # Some portals add a login on top of the certificate; only ever sent to this origin.
            self.session.auth = (settings.username, settings.password or "")

    def _close(self) -> None:
        self.session.close()

    def _unsupported_hint(self, capability: Capability) -> str | None:
        return _DAVS_HINT.format(where=f"{self.settings.server}{self.settings.root}")

    # -- get ---------------------------------------------------------------------

    def _get_file(self, remote: str, local: str, callback: ProgressCallback | None) -> TransferResult:
        session = self.session
        started = time.monotonic()
        with session.translating():
            response = session.get(session.url_for(remote), stream=True, headers={"Accept-Encoding": "identity"})
            with response:
                session.check(response, path=remote)
                length = _content_length(response)
                details: dict[str, Any] = {"http_status": response.status_code}
                tls = session.tls_version(response)
                encoding = response.headers.get("Content-Encoding", "identity").lower()
                if encoding != "identity":
                    # Asked for identity and got an encoding anyway: keep the bytes as sent.
                    details["content_encoding"] = encoding
                raw = response.raw
                with AtomicDownload(local, expected_size=length, callback=callback) as out:
                    try:
                        while chunk := raw.read(DOWNLOAD_BLOCK, decode_content=False):
                            out.write(chunk)
                    except XferError:
                        raise
                    except Exception as exc:
                        raise ConnectionDropped(
                            f"the connection to {self.settings.server} broke after {out.written}"
                            + (f" of {length}" if length is not None else "")
                            + f" bytes of {remote}; nothing was saved",
                            hint="run the command again",
                        ) from exc
        return TransferResult(
            direction="get",
            local=local,
            remote=self.user_path(remote),
            size=out.written,
            elapsed=time.monotonic() - started,
            details=details,
            tls_version=tls,
        )

    # -- put ---------------------------------------------------------------------

    def _put_file(self, local: str, remote: str, callback: ProgressCallback | None) -> TransferResult:
        return self._upload(local, remote, callback, check_size=self.options.verify_upload)

    def _upload(
        self, local: str, remote: str, callback: ProgressCallback | None, *, check_size: bool
    ) -> TransferResult:
        """PUT (or POST) ``local`` to ``remote``; with ``check_size``, HEAD it and compare sizes."""
        handle, size = open_for_upload(local)
        session = self.session
        started = time.monotonic()
        details: dict[str, Any] = {"method": self.options.upload_method}
        with handle, session.translating():
            if self.options.upload_method == "POST":
                # Portals: the form goes to the folder, the file name rides in the part header.
                body: Any = MultipartBody(
                    handle,
                    size,
                    field=self.options.form_field,
                    filename=posixpath.basename(remote),
                    callback=callback,
                )
                folder = posixpath.dirname(remote) or "/"
                headers = {"Content-Type": body.content_type}
                response = session.post(session.url_for(folder, folder=True), data=body, headers=headers)
            else:
                body = FileBody(handle, size, callback=callback)
                # An iterable with __len__ gets Content-Length, not chunked; requests sends a
                # zero-length one chunked, so an empty file goes as b"".
                response = self._send_put(remote, body if size else b"")
                if not size and callback is not None:
                    callback(0, 0)
            with response:
                session.check(response, path=remote)
                _ = response.content  # drain: the connection goes back to the pool
                details["http_status"] = response.status_code
            if body.sent != size:
                raise IntegrityError(
                    f"{self.settings.server} answered before the whole of {local} was sent "
                    f"({body.sent} of {size} bytes)",
                    hint="the server may have refused the upload; check its size limits",
                )
            verified = self._verify_size(remote, size) if self.options.upload_method == "PUT" and check_size else None
        return TransferResult(
            direction="put",
            local=local,
            remote=self.user_path(remote),
            size=size,
            elapsed=time.monotonic() - started,
            details=details,
            size_verified=verified,
        )

    def _send_put(self, remote: str, data: Any) -> requests.Response:
        """The PUT request itself (WebDAV gives some of its statuses their DAV meanings)."""
        return self.session.put(
            self.session.url_for(remote), data=data, headers={"Content-Type": "application/octet-stream"}
        )

    def _verify_size(self, remote: str, size: int, *, must_exist: bool = False) -> bool:
        """HEAD the uploaded file; False if the server cannot tell, IntegrityError if it differs.

        ``must_exist``: a 404 is an error (after a MOVE the file must be where we put it).
        """
        response = self.session.head(
            self.session.url_for(remote), headers={"Accept-Encoding": "identity"}, allow_redirects=False
        )
        with response:
            if response.status_code == 404 and must_exist:
                raise IntegrityError(
                    f"{self.settings.server}: {remote} is not there after the upload was moved into place",
                    hint="the server stored it under another name (some servers mangle '?', ';' or '#' "
                    "in MOVE); set upload_temp_name = false in the profile's [webdav] table",
                )
            if response.status_code != 200:
                return False  # write-only drop folders are common: nothing to compare with
            length = _content_length(response)
        if length is None:
            return False
        if length != size:
            raise IntegrityError(
                f"{self.settings.server}: {remote} has {length} bytes on the server after uploading {size}",
                hint="run the upload again; if it repeats, the server is altering or truncating uploads",
            )
        return True

    # -- rm ----------------------------------------------------------------------

    def _rm(self, path: str, recursive: bool) -> None:
        session = self.session
        with session.translating():
            response = session.delete(session.url_for(path))
            with response:
                if response.status_code == 409 and recursive:
                    # nginx (and DAV servers) want a folder's URL to end in "/".
                    response.content  # noqa: B018 - drain for reuse
                    response = session.delete(session.url_for(path, folder=True))
                elif response.status_code == 409:
                    response.content  # noqa: B018
                    raise folder_needs_recursive(f"{self.settings.server}: {self.user_path(path)} is a folder")
                session.check(response, path=path)
                _ = response.content

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
                session.url_for(path, folder=True), headers={"Accept": accept}, allow_redirects=False
            )
            with response:
                if response.status_code == 404 and path != "/":
                    response.content  # noqa: B018
                    return [self._file_entry(path)]
                if response.status_code in (403, 405, 501):
                    response.content  # noqa: B018
                    raise UnsupportedOperation(
                        f"{self.settings.server} offers no listing of {self.user_path(path)} "
                        f"(HTTP {response.status_code} {response.reason}: listing switched off, "
                        "or access denied)",
                        hint=_DAVS_HINT.format(where=where),
                    )
                session.check(response, path=path)
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                body = response.content
        if content_type.endswith("json") and mode in ("auto", "json"):
            entries = parse_json_index(body, folder=path)
        elif content_type == "text/html" and mode in ("auto", "html"):
            entries = parse_html_index(body.decode(response.encoding or "utf-8", "replace"), folder=path)
        else:
            entries = None
        if entries is None:
            raise UnsupportedOperation(
                f"{self.settings.server} answered {self.user_path(path)} with {content_type or 'no type'}"
                ", not a JSON or HTML index xfer can read",
                hint=_DAVS_HINT.format(where=where),
            )
        return entries

    def _file_entry(self, path: str) -> Entry:
        """``ls`` of a file: one entry from a HEAD (a folder URL with ``/`` gave 404)."""
        session = self.session
        response = session.head(session.url_for(path), headers={"Accept-Encoding": "identity"}, allow_redirects=False)
        with response:
            if response.status_code in (404, 410):
                raise RemoteNotFound(f"{self.settings.server}: {self.user_path(path)} does not exist")
            session.check(response, path=path)
            modified = response.headers.get("Last-Modified")
            return Entry(
                name=posixpath.basename(path),
                path=path,
                type="file",
                size=_content_length(response),
                modified=email.utils.parsedate_to_datetime(modified) if modified else None,
            )

    def _davs_where(self, path: str) -> str:
        return f"{self.settings.server}{path}"

    # -- ranged reads (added for the fsspec filesystem) ------------------------------------

    def _read_range(self, path: str, start: int, length: int | None) -> bytes:
        """One GET with ``Range``.  A 206 is checked against the range asked for; a server
        that ignores ``Range`` (200, the whole file) is read from the start and cut; 416
        (``start`` at or past the end) is no bytes."""
        from ..http_session import drain_error_body  # imported here so this addition stays self-contained

        session = self.session
        headers = {"Accept-Encoding": "identity"}
        if start or length is not None:
            headers["Range"] = f"bytes={start}-{'' if length is None else start + length - 1}"
        with session.translating():
            response = session.get(session.url_for(path), stream=True, headers=headers)
            with response:
                if response.status_code == 416:
                    drain_error_body(response)
                    return b""
                session.check(response, path=path)
                skip = start
                if response.status_code == 206:
                    first = _range_start(response.headers.get("Content-Range"))
                    if first != start:
                        raise IntegrityError(
                            f"{self.settings.server} answered a request for bytes {start}- of "
                            f"{self.user_path(path)} with another range ({response.headers.get('Content-Range')})"
                        )
                    skip = 0
                declared = _content_length(response)
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
                        f"the connection to {self.settings.server} broke while reading "
                        f"{self.user_path(path)}",
                        hint="run the command again",
                    ) from exc
                if declared is not None and len(body) < declared and (wanted is None or len(body) < wanted):
                    raise IntegrityError(
                        f"{self.settings.server} sent {len(body)} of {declared} bytes of {self.user_path(path)}"
                    )
        return bytes(body[skip:wanted])

    def head(self, path: str) -> Entry:
        """Facts about one file from a ``HEAD``: works where the server offers no listing."""
        from ..errors import UsageError  # imported here so this addition stays self-contained

        if self.closed:
            raise UsageError(f"{self!r} is closed")
        return self._entry(self._file_entry(self.remote_path(path)))


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


# -- index parsing (pure functions, tested on real nginx/Apache pages) ------------------


def parse_json_index(body: bytes, *, folder: str) -> list[Entry] | None:
    """Entries from nginx's ``autoindex_format json``; None if ``body`` is not that shape."""
    try:
        items = json.loads(body)
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
        return None
    entries = []
    for item in items:
        name = str(item["name"])
        if name in (".", "..") or "/" in name:
            continue
        kind = item.get("type")
        entry_type: EntryType = "directory" if kind == "directory" else "file" if kind == "file" else "other"
        size = item.get("size")
        mtime = item.get("mtime")
        modified = None
        if isinstance(mtime, str):
            try:
                modified = email.utils.parsedate_to_datetime(mtime)
            except (TypeError, ValueError):
                modified = None
        entries.append(
            Entry(
                name=name,
                path=posixpath.join(folder, name),
                type=entry_type,
                size=int(size) if isinstance(size, int) and entry_type == "file" else None,
                modified=modified,
            )
        )
    return entries


# An exact byte count at the end of the text after a link (nginx prints "-" for folders;
# Apache prints rounded "1.2K", which is not an exact size and is left out).
_TRAILING_SIZE = re.compile(r"(\d+)\s*$")


class _LinkCollector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (href, text after the link up to the next tag)
        self._in_link = False
        self._after_link = False  # collecting the text that follows a link (nginx: date, size)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href is not None:
                self.links.append((href, ""))
                self._in_link = True
        elif tag in ("tr", "br", "li", "p", "div"):
            self._in_link = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_link = False
            self._after_link = True

    def handle_data(self, data: str) -> None:
        if self.links and self._after_link and not self._in_link:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)
            if "\n" in data:
                self._after_link = False


def parse_html_index(page: str, *, folder: str) -> list[Entry] | None:
    """Entries from an HTML index page (nginx, Apache, python http.server); None if no links.

    Only links to direct children count: relative names (``a.txt``, ``sub/``) or
    absolute paths directly under ``folder``; parent links, sort links (``?C=N``),
    fragments and other sites are skipped.  Sizes are kept when printed exactly.
    """
    collector = _LinkCollector()
    try:
        collector.feed(page)
        collector.close()
    except AssertionError:
        return None
    base = folder.rstrip("/") + "/"
    entries: dict[str, Entry] = {}
    saw_index = False
    for href, after in collector.links:
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
        if not name or "/" in name:
            continue
        match = _TRAILING_SIZE.search(after.replace("\r", ""))
        size = int(match.group(1)) if match and not is_dir else None
        entries[name] = Entry(
            name=name,
            path=posixpath.join(folder, name),
            type="directory" if is_dir else "file",
            size=size,
        )
    if not entries and not saw_index:
        return None
    return list(entries.values())


def _range_start(content_range: str | None) -> int | None:
    """The first byte of ``Content-Range: bytes FIRST-LAST/SIZE`` (None if absent or malformed)."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", content_range or "")
    return int(match.group(1)) if match else None
