"""An in-process HTTPS file server that requires client certificates, for tests and ``xfer demo``.

It behaves like nginx with ``dav_methods PUT DELETE``, ``create_full_put_path on``
and ``autoindex on; autoindex_format json`` (or the HTML autoindex), plus a
multipart ``POST`` upload like many partner portals::

    with HTTPSServer(pki, root=folder, tls_max="1.3") as srv:
        srv.url          # https://127.0.0.1:PORT
        srv.root         # the folder it serves
        srv.handshakes   # completed TLS handshakes (connection reuse shows here)

``client_cert`` chooses how client certificates are checked: ``"required"``
(the handshake fails without a trusted one, like Apache/vsftpd), ``"nginx"`` (the
handshake accepts anything and HTTP 400 explains, like nginx ``ssl_verify_client on``),
or ``"none"``.  Only the standard library is used.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email.utils
import fnmatch
import hashlib
import html
import json
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import urllib.parse
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from ._serving import RecordingServer, ServerState, ThreadedSocketServer, peer_common_name, server_context
from .pki import TestPKI

__all__ = ["HTTPSServer", "RecordedRequest"]

ClientCertMode = Literal["required", "nginx", "none"]
IndexMode = Literal["json", "html", "none"]
_BLOCK = 256 * 1024
#: nginx prints English month names whatever the locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: For ``digests_when_asked``: the request header that asks for each digest kind, and the algorithm it names.
_WANTED_BY: dict[str, tuple[str, str]] = {
    "repr-digest": ("Want-Repr-Digest", "sha-256"),
    "content-digest": ("Want-Content-Digest", "sha-256"),
    "digest": ("Want-Digest", "sha-256"),
    "digest-md5": ("Want-Digest", "md5"),
    "content-md5": ("", ""),
}


def _rounded(size: int) -> str:
    """A size as nginx's ``autoindex_exact_size off`` prints it: whole K, M or G, rounded up."""
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{-(-size // scale)}{unit}"
    return str(size)

#: The hash headers ``HTTPSServer(digests=...)`` can send.
_DIGEST_HEADERS = ("repr-digest", "content-digest", "digest", "digest-md5", "content-md5")

_NGINX_PAGE = (
    "<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n{detail}<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (for assertions on what the client sent)."""

    method: str
    path: str
    headers: Mapping[str, str]
    client_cn: str | None
    status: int = 0


class HTTPSServer(RecordingServer[RecordedRequest], ThreadedSocketServer):
    """A threaded stdlib HTTPS server on 127.0.0.1; a context manager that starts and stops it.

    ``root`` is the folder served (created if missing).  ``cert``/``key`` default to
    the PKI's server certificate (valid for 127.0.0.1 and localhost); ``client_ca``
    to the PKI root.  ``tls_min``/``tls_max`` take ``"1.2"``/``"1.3"``.  ``index``
    picks the listing format for folder URLs.  ``forbidden`` path prefixes answer 403,
    ``redirects`` maps a path to a ``Location``, ``statuses`` a path to an error status
    (``{"/broken": 503}``), ``max_body`` answers 413 above that
    size, ``cut_get_after`` sends only that many body bytes of any GET and drops
    the connection, ``gzip_suffix`` serves matching files with ``Content-Encoding: gzip``
    (as misconfigured servers do with stored ``.gz`` files).  ``create_parents=False``
    answers a PUT into a missing folder with 409, as nginx does without ``create_full_put_path``.
    ``digests`` names the hash headers sent with a file on GET and HEAD: ``"repr-digest"``
    (RFC 9530 ``Repr-Digest: sha-256=:B64:``), ``"content-digest"``, ``"digest"`` (RFC 3230
    ``Digest: SHA-256=B64``), ``"digest-md5"`` (``Digest: MD5=B64``), ``"content-md5"``;
    ``digests_on_put`` sends them (of the stored file) with the PUT answer too, and
    ``lie_digests`` makes each the hash of other bytes, as a server whose copy differs would.
    ``unhashed_empty`` sends none for an empty file (as servers whose hashing skips them do).
    ``digests_when_asked`` sends each only to a request that asks for its algorithm
    (RFC 9530 §4 ``Want-Repr-Digest``/``Want-Content-Digest``, RFC 3230 ``Want-Digest``;
    ``Content-MD5``, which nothing asks for, never), as servers that hash only on demand do.
    Files carry ``ETag``/``Last-Modified`` and honour ``Range`` with ``If-Range``, and ``If-Match``
    on ``GET`` (412 for another version), as nginx does;
    ``ranges=False`` ignores ``Range`` (the whole file, 200), as servers without range support.
    A chunked PUT (no ``Content-Length``) is stored like nginx stores it, complete or not at
    all; ``chunked_put=False`` answers it 411, as servers that need the length up front do.
    ``set_cookie`` is sent as ``Set-Cookie`` with every answer (a load balancer's sticky
    session); the client's ``Cookie`` header is in the recorded requests.
    ``idle_timeout`` closes a connection that sent nothing for that many seconds (Apache's
    ``KeepAliveTimeout`` is 5 s).
    ``keepalive_requests`` answers the Nth request of a connection with ``Connection: close`` and
    closes it, as nginx does (its ``keepalive_requests``, 1000 by default): requests pipelined
    after it are never read.
    ``index_size_error`` is added to every file's size in the JSON index (a stale or generated
    index, one that does not describe the files as they are).  ``hide_dotfiles`` leaves names
    starting with "." out of the index, as nginx's autoindex does; ``index_ignore`` (``fnmatch``
    patterns) leaves out the names it matches, as Apache's ``IndexIgnore`` (by default also
    ``README*``, ``HEADER*``, ``*~``) does.  ``head_status`` answers every ``HEAD`` with that
    status (``405``: a server that allows no ``HEAD``).  ``index_exact_size=False``
    prints the HTML index's sizes rounded (``3K``, ``12M``), as nginx's ``autoindex_exact_size off``
    and Apache's index pages do: no size a client may compare.  ``index_localtime`` (a zone's
    name) prints the HTML index's dates in that zone, as nginx's ``autoindex_localtime on`` does;
    by default GMT, nginx's default.
    ``drop_after_delete`` paths are removed by their first ``DELETE``, whose answer never comes: the
    connection is dropped (a server process that dies, or a link that breaks, after the removal).
    ``conditional_delete``: a ``DELETE`` with ``If-Match`` removes only a file whose ETag is one of
    those (412 otherwise, RFC 9110 13.1.1), as Apache's mod_dav does; by default the header is
    ignored, as by servers without conditional requests.
    """

    def __init__(
        self,
        pki: TestPKI,
        *,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        cert: str | os.PathLike[str] | None = None,
        key: str | os.PathLike[str] | None = None,
        client_ca: str | os.PathLike[str] | None = None,
        client_cert: ClientCertMode = "required",
        reject_client_cns: Iterable[str] = (),
        tls_min: str = "1.2",
        tls_max: str | None = None,
        index: IndexMode = "json",
        forbidden: Iterable[str] = (),
        redirects: Mapping[str, str] | None = None,
        statuses: Mapping[str, int] | None = None,
        max_body: int | None = None,
        cut_get_after: int | None = None,
        gzip_suffix: str | None = None,
        create_parents: bool = True,
        digests: Iterable[str] = (),
        digests_on_put: bool = False,
        lie_digests: bool = False,
        digests_when_asked: bool = False,
        unhashed_empty: bool = False,
        ranges: bool = True,
        chunked_put: bool = True,
        set_cookie: str | None = None,
        keepalive_requests: int | None = None,
        idle_timeout: float = 30,
        index_size_error: int = 0,
        hide_dotfiles: bool = False,
        index_ignore: Iterable[str] = (),
        head_status: int | None = None,
        index_exact_size: bool = True,
        index_localtime: str | None = None,
        drop_after_delete: Iterable[str] = (),
        conditional_delete: bool = False,
        put_status: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        #: The status of a PUT stored whole, where not 201/204: 202 as a server that stores at
        #: once and says "Accepted" (a queue in front of the store) does.
        self.put_status = put_status
        self.client_cert = client_cert
        self.reject_client_cns = frozenset(reject_client_cns)
        self.index = index
        self.index_size_error = index_size_error
        self.hide_dotfiles = hide_dotfiles
        self.index_ignore = tuple(index_ignore)
        self.head_status = head_status
        self.index_exact_size = index_exact_size
        self.index_zone = zoneinfo.ZoneInfo(index_localtime) if index_localtime else dt.timezone.utc
        self.forbidden = tuple(forbidden)
        self.redirects = dict(redirects or {})
        self.statuses = dict(statuses or {})
        self.max_body = max_body
        self.cut_get_after = cut_get_after
        self.gzip_suffix = gzip_suffix
        self.create_parents = create_parents
        self.digests = tuple(digests)
        unknown = set(self.digests) - set(_DIGEST_HEADERS)
        if unknown:
            raise ValueError(f"unknown digest headers {sorted(unknown)}")
        self.digests_on_put = digests_on_put
        self.lie_digests = lie_digests
        self.digests_when_asked = digests_when_asked
        self.unhashed_empty = unhashed_empty
        self.ranges = ranges
        self.chunked_put = chunked_put
        self.set_cookie = set_cookie
        self.keepalive_requests = keepalive_requests
        self.idle_timeout = idle_timeout
        self.drop_after_delete = set(drop_after_delete)
        self.conditional_delete = conditional_delete
        self._state: ServerState[RecordedRequest] = ServerState()
        # "nginx" asks for a certificate but lets HTTP decide, as ssl_verify_client does.
        verify_mode = {"required": ssl.CERT_REQUIRED, "nginx": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
        self.ssl_context = server_context(
            pki, cert=cert, key=key, client_ca=client_ca, tls_min=tls_min, tls_max=tls_max,
            verify_mode=verify_mode[client_cert],
        )
        self._httpd: _Server = _Server((host, port), _Handler, self)
        self.port: int = self._httpd.server_address[1]

    # -- lifecycle ------------------------------------------------------------

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT`` (no trailing slash)."""
        return f"https://{self.host}:{self.port}"

    @property
    def server(self) -> str:
        """``host:port``, as xfer names servers in messages."""
        return f"{self.host}:{self.port}"

    def _close(self) -> None:
        super()._close()
        self._httpd.close_connections()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many quick test runs on fixed ports would otherwise hit TIME_WAIT.
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], owner: HTTPSServer) -> None:
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        # The handshake runs in the handler thread, so one slow client cannot block accept().
        tls = self.owner.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._open_lock:
            self._open.add(tls)
        return tls, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up or fail the handshake are part of the tests, not server bugs.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connection reuse is observable
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers: ~40 ms per response on loopback.
    disable_nagle_algorithm = True
    server_version = "xfer-test-https"
    timeout = 30
    server: _Server
    client_cn: str | None = None
    #: Answers sent on this connection (one handler per connection).
    answered = 0

    # -- connection --------------------------------------------------------------

    def setup(self) -> None:
        with self.server.owner._state.handshake():
            self.request.settimeout(10)
            self.request.do_handshake()
        self.client_cn = peer_common_name(self.request.getpeercert())
        super().setup()
        self.connection.settimeout(self.owner.idle_timeout)  # the connection's, from here on

    def log_message(self, format: str, *args: Any) -> None:
        return

    def end_headers(self) -> None:
        if self.owner.set_cookie is not None:
            self.send_header("Set-Cookie", self.owner.set_cookie)
        self.answered += 1
        limit = self.owner.keepalive_requests
        if limit is not None and self.answered >= limit and not self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        super().end_headers()

    # -- helpers ---------------------------------------------------------------

    @property
    def owner(self) -> HTTPSServer:
        return self.server.owner

    def _record(self, status: int) -> None:
        self.owner._state.record(
            RecordedRequest(self.command, self.path, dict(self.headers.items()), self.client_cn, status)
        )

    def _fs_path(self) -> tuple[str, Path] | None:
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in url_path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            return None
        return url_path, self.owner.root.joinpath(*parts)

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html",
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _page(
        self,
        status: int,
        detail: str = "",
        *,
        title: str | None = None,
        close: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        reason = self.responses.get(status, ("",))[0]
        body = _NGINX_PAGE.format(
            status=status,
            title=title or reason,
            reason=reason,
            detail=f"<center>{html.escape(detail)}</center>\r\n" if detail else "",
        ).encode()
        self._send(status, body, headers=headers, close=close)

    def _gate(self) -> tuple[str, Path] | None:
        """Client-certificate, forbidden and redirect checks shared by every method."""
        if self.owner.client_cert == "nginx":
            if self.client_cn is None:
                self._discard_body()
                self._page(400, "No required SSL certificate was sent", title="No required SSL certificate was sent")
                return None
            if self.client_cn in self.owner.reject_client_cns:
                self._discard_body()
                self._page(400, "The SSL certificate error", title="The SSL certificate error")
                return None
        resolved = self._fs_path()
        if resolved is None:
            self._discard_body()
            self._page(400)
            return None
        url_path, _ = resolved
        if url_path in self.owner.redirects:
            self._discard_body()
            self._page(302, headers={"Location": self.owner.redirects[url_path]})
            return None
        if url_path in self.owner.statuses:
            self._discard_body()
            self._page(self.owner.statuses[url_path])
            return None
        if any(url_path.startswith(prefix) for prefix in self.owner.forbidden):
            self._discard_body()
            self._page(403)
            return None
        return resolved

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        # Small bodies are drained to keep the connection; large ones end it (like nginx).
        if length > 1 << 20:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, _BLOCK))
            if not chunk:
                break
            length -= len(chunk)

    # -- methods ---------------------------------------------------------------

    def do_HEAD(self) -> None:
        if self.owner.head_status is not None:
            self._page(self.owner.head_status)
            return
        self.do_GET()

    def do_GET(self) -> None:
        resolved = self._gate()
        if resolved is None:
            return
        url_path, target = resolved
        if target.is_dir():
            if not url_path.endswith("/"):
                location = f"{self.owner.url}{urllib.parse.quote(url_path)}/"
                self._page(301, headers={"Location": location})
                return
            self._index(url_path, target)
            return
        if url_path.endswith("/") or not target.is_file():
            self._page(404)
            return
        self._send_file(target)

    def _send_file(self, target: Path) -> None:
        stat = target.stat()
        size = stat.st_size
        modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        etag = _etag(stat)
        wanted = self.headers.get("If-Match")
        if wanted is not None and wanted.strip() != "*" and etag not in {tag.strip() for tag in wanted.split(",")}:
            self._record(412)
            self._page(412)  # another version now (RFC 9110 13.1.1), as nginx answers a GET
            return
        start, end = self._range(size, etag, modified)
        if start is not None and start >= size:
            self._record(416)
            self._page(416, headers={"Content-Range": f"bytes */{size}"})
            return
        status = 200 if start is None else 206
        first, last = (0, size - 1) if start is None else (start, min(end if end is not None else size - 1, size - 1))
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(max(last - first + 1, 0)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Last-Modified", modified)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if self.owner.gzip_suffix and target.name.endswith(self.owner.gzip_suffix):
            self.send_header("Content-Encoding", "gzip")
        for name, value in self._digest_headers(target).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = self.owner.cut_get_after
        sent = 0
        with open(target, "rb") as source:
            source.seek(first)
            left = last - first + 1
            while left > 0 and (chunk := source.read(min(_BLOCK, left))):
                left -= len(chunk)
                if limit is not None and sent + len(chunk) > limit:
                    self.wfile.write(chunk[: limit - sent])
                    self.wfile.flush()
                    # A hard cut, as when a server process dies mid-transfer.
                    self.close_connection = True
                    self.request.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(chunk)
                sent += len(chunk)

    def _range(self, size: int, etag: str, modified: str) -> tuple[int | None, int | None]:
        """``Range: bytes=FIRST-[LAST]`` as nginx reads it: ignored (whole file) if ``If-Range``
        names another version, or if the header is anything but one such range."""
        header = self.headers.get("Range")
        if not header or not self.owner.ranges:
            return None, None
        condition = self.headers.get("If-Range")
        if condition is not None and condition not in (etag, modified):
            return None, None
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
        if not match:
            return None, None
        return int(match.group(1)), (int(match.group(2)) if match.group(2) else None)

    def _index(self, url_path: str, folder: Path) -> None:
        if self.owner.index == "none":
            self._page(403)  # nginx without autoindex answers 403 for a folder
            return
        entries = []
        for child in sorted(folder.iterdir()):
            if child.name.startswith(".") and (child.name.endswith(".part") or self.owner.hide_dotfiles):
                continue
            if any(fnmatch.fnmatchcase(child.name, pattern) for pattern in self.owner.index_ignore):
                continue
            info = child.stat()
            entries.append((child.name, child.is_dir(), info.st_size, info.st_mtime))
        if self.owner.index == "json":
            items: list[dict[str, Any]] = []
            for name, is_dir, size, mtime in entries:
                item: dict[str, Any] = {
                    "name": name,
                    "type": "directory" if is_dir else "file",
                    "mtime": email.utils.formatdate(mtime, usegmt=True),
                }
                if not is_dir:
                    item["size"] = size + self.owner.index_size_error
                items.append(item)
            self._send(200, json.dumps(items).encode(), "application/json")
            return
        # The nginx HTML autoindex layout: link, date ("30-Nov-2026 11:07", GMT: nginx's default),
        # size ("-" for folders).
        rows = ['<a href="../">../</a>']
        for name, is_dir, size, mtime in entries:
            href = urllib.parse.quote(name) + ("/" if is_dir else "")
            label = html.escape(name + ("/" if is_dir else ""))
            when = dt.datetime.fromtimestamp(mtime, self.owner.index_zone)
            date = f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year} {when.hour:02d}:{when.minute:02d}"
            shown = "-" if is_dir else (str(size) if self.owner.index_exact_size else _rounded(size))
            rows.append(f'<a href="{href}">{label}</a>{" " * 10}{date}{" " * 10}{shown}')
        page = (
            f"<html>\r\n<head><title>Index of {html.escape(url_path)}</title></head>\r\n<body>\r\n"
            f"<h1>Index of {html.escape(url_path)}</h1><hr><pre>"
            + "\r\n".join(rows)
            + "\r\n</pre><hr></body>\r\n</html>\r\n"
        )
        self._send(200, page.encode(), "text/html")

    def do_PUT(self) -> None:
        resolved = self._gate()
        if resolved is None:
            return
        url_path, target = resolved
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        if "Content-Length" not in self.headers and not (chunked and self.owner.chunked_put):
            self._page(411, close=True)
            return
        length = -1 if chunked else int(self.headers["Content-Length"])
        if self.owner.max_body is not None and length > self.owner.max_body:
            self._page(413, close=True)
            return
        if url_path.endswith("/") or target.is_dir():
            self._discard_body()
            self._page(409)
            return
        if not self.owner.create_parents and not target.parent.is_dir():
            self._discard_body()
            self._page(409)  # nginx without create_full_put_path
            return
        existed = target.exists()
        target.parent.mkdir(parents=True, exist_ok=True)  # create_full_put_path on
        if not self._receive(target, length):
            return
        headers = self._digest_headers(target) if self.owner.digests_on_put else {}
        self._send(self.owner.put_status or (204 if existed else 201), b"", headers=headers)

    def _digest_headers(self, target: Path) -> dict[str, str]:
        """The hash headers ``digests`` asks for, of ``target`` (read whole: test files are small)."""
        if not self.owner.digests or (self.owner.unhashed_empty and target.stat().st_size == 0):
            return {}
        data = target.read_bytes() + (b"(not what is stored)" if self.owner.lie_digests else b"")
        sha256 = base64.b64encode(hashlib.sha256(data).digest()).decode()
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        values = {
            "repr-digest": ("Repr-Digest", f"sha-256=:{sha256}:"),
            "content-digest": ("Content-Digest", f"sha-256=:{sha256}:"),
            "digest": ("Digest", f"SHA-256={sha256}"),
            "digest-md5": ("Digest", f"MD5={md5}"),
            "content-md5": ("Content-MD5", md5),
        }
        return dict(values[kind] for kind in self.owner.digests if self._asked_for(kind))

    def _asked_for(self, kind: str) -> bool:
        """Whether the request asks for the digest ``kind`` (always, unless ``digests_when_asked``)."""
        if not self.owner.digests_when_asked:
            return True
        header, algorithm = _WANTED_BY[kind]
        wanted = (self.headers.get(header) or "").lower()
        # RFC 9530: "sha-256=10, md5=3" (preference 0: not wanted); RFC 3230: "SHA-256;q=1, MD5;q=0.5".
        for member in wanted.split(","):
            name, _, weight = member.strip().partition("=" if header != "Want-Digest" else ";")
            if name.strip() == algorithm and weight.strip().removeprefix("q=").strip() not in ("0", "0.0"):
                return True
        return False

    def _receive(self, target: Path, length: int, rfile: Any = None) -> bool:
        # Like nginx: write a temp file beside the target, rename when the body is complete.
        # ``length`` -1: a chunked body, complete only with its last (zero-size) chunk.
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        source = rfile or self.rfile
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = length
                while remaining:
                    if length < 0:
                        remaining = int(source.readline(100).split(b";")[0].strip() or b"-1", 16)
                        if remaining < 0:
                            raise ConnectionError("client closed the connection mid-body")
                        if remaining == 0:
                            while source.readline(1000) not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            break
                    while remaining > 0:
                        chunk = source.read(min(remaining, _BLOCK))
                        if not chunk:
                            raise ConnectionError("client closed the connection mid-body")
                        out.write(chunk)
                        remaining -= len(chunk)
                    if length < 0:
                        source.readline(10)  # the CRLF after the chunk's data
                        remaining = -1
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            self.close_connection = True
            raise
        return True

    def do_DELETE(self) -> None:
        resolved = self._gate()
        if resolved is None:
            return
        url_path, target = resolved
        if not target.exists() or target == self.owner.root:
            self._page(404 if not target.exists() else 403)
            return
        wanted = self.headers.get("If-Match")
        if (self.owner.conditional_delete and wanted is not None and target.is_file()
                and _etag(target.stat()) not in {tag.strip() for tag in wanted.split(",")}):
            self._page(412)
            return
        if target.is_dir():
            if not url_path.endswith("/"):
                self._page(409)  # nginx: "DELETE with trailing slash" for folders
                return
            shutil.rmtree(target)
        else:
            target.unlink()
        if url_path in self.owner.drop_after_delete:
            self.owner.drop_after_delete.discard(url_path)
            self.close_connection = True
            self.request.shutdown(socket.SHUT_RDWR)
            return
        self._send(204, b"")

    def do_POST(self) -> None:
        """``multipart/form-data`` upload into the folder named by the URL (any field name)."""
        resolved = self._gate()
        if resolved is None:
            return
        _, folder = resolved
        content_type = self.headers.get("Content-Type", "")
        length = int(self.headers.get("Content-Length") or -1)
        if length < 0:
            self._page(411, close=True)
            return
        if not content_type.startswith("multipart/form-data") or "boundary=" not in content_type:
            self._discard_body()
            self._page(415)
            return
        if self.owner.max_body is not None and length > self.owner.max_body:
            self._page(413, close=True)
            return
        boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
        reader = _MultipartReader(self.rfile, length, boundary)
        stored: list[str] = []
        for headers in reader.parts():
            disposition = headers.get("content-disposition", "")
            filename = _disposition_param(disposition, "filename")
            if filename is None:
                reader.skip_part()
                continue
            name = urllib.parse.unquote(filename).replace("/", "_")
            folder.mkdir(parents=True, exist_ok=True)
            reader.copy_part(folder / name)
            stored.append(name)
        self._send(201 if stored else 400, json.dumps({"stored": stored}).encode(), "application/json")


def _disposition_param(disposition: str, name: str) -> str | None:
    for piece in disposition.split(";"):
        key, _, value = piece.strip().partition("=")
        if key.lower() == name:
            return value.strip('"')
    return None


class _MultipartReader:
    """A small streaming multipart parser: parts are copied to disk, never held in memory."""

    def __init__(self, rfile: Any, length: int, boundary: bytes) -> None:
        self._rfile = rfile
        self._remaining = length
        self._delimiter = b"\r\n--" + boundary
        self._buffer = b"\r\n"  # the first boundary has no leading CRLF
        self._done = False

    def _fill(self) -> bool:
        if self._remaining <= 0:
            return False
        chunk = self._rfile.read(min(self._remaining, _BLOCK))
        if not chunk:
            self._remaining = 0
            return False
        self._remaining -= len(chunk)
        self._buffer += chunk
        return True

    def parts(self) -> Iterable[dict[str, str]]:
        # Skip the preamble up to the first delimiter.
        while self._delimiter not in self._buffer:
            if not self._fill():
                return
        self._buffer = self._buffer[self._buffer.index(self._delimiter) + len(self._delimiter) :]
        while not self._done:
            while len(self._buffer) < 2:
                if not self._fill():
                    return
            if self._buffer.startswith(b"--"):  # the closing delimiter
                self._done = True
                return
            self._buffer = self._buffer.removeprefix(b"\r\n")
            while b"\r\n\r\n" not in self._buffer:
                if not self._fill():
                    return
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            headers = {}
            for line in head.decode("utf-8", "replace").split("\r\n"):
                key, _, value = line.partition(":")
                if key:
                    headers[key.strip().lower()] = value.strip()
            yield headers

    def copy_part(self, target: Path | None) -> None:
        out = open(target, "wb") if target is not None else None  # noqa: SIM115
        try:
            keep = len(self._delimiter)
            while True:
                index = self._buffer.find(self._delimiter)
                if index >= 0:
                    if out:
                        out.write(self._buffer[:index])
                    self._buffer = self._buffer[index + len(self._delimiter) :]
                    while len(self._buffer) < 2 and self._fill():
                        pass
                    return
                if len(self._buffer) > keep:
                    if out:
                        out.write(self._buffer[:-keep])
                    self._buffer = self._buffer[-keep:]
                if not self._fill():
                    raise ConnectionError("multipart body ended early")
        finally:
            if out:
                out.close()

    def skip_part(self) -> None:
        self.copy_part(None)


def _etag(stat: os.stat_result) -> str:
    """A file's ETag, like nginx's: it changes with the time and the size."""
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
