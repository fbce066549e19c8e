"""Small HTTP/1.1 exchanges on the session's pooled connections, without http.client.

Why (issue 14): a small file's upload is a PUT and a HEAD.  Through requests, urllib3 and
http.client each of them costs ~0.4 ms of CPU (building header objects, parsing the
answer with the email package, wrapping the socket in a file), about ten times what the
bytes on the wire cost; 1,000 small files took four times curl's time.  Here the request
head is one formatted string, request and body leave in one write, and the answer is
parsed from the bytes received.

Only a narrow kind of request comes here (:meth:`XferSession._deliver` decides with
:func:`lean_body` and :data:`LEAN_METHODS`): to our own origin, no proxy, no redirect
followed, not streamed, a ``HEAD``, ``PUT`` or ``DELETE`` with a body of at most
:data:`LEAN_BODY_LIMIT` bytes, and only on a connection of the pool that is *already
open*.  Opening a connection (TCP, TLS handshake, the server's verdict on our certificate,
a proxy tunnel) stays with urllib3, where every failure is already worded; so does every
other request.

Several such requests may go in one write (HTTP/1.1 pipelining, :meth:`XferSession.pipelined`):
a small file's PUT and the HEAD that checks what the server stored, one round trip instead of two;
or a group of small files' PUTs and a ``GET`` of their folder's listing after them, or the
``PROPFIND`` requests that look at many WebDAV files at once (:data:`PIPELINED_METHODS`: only there does
a ``GET`` or a ``PROPFIND`` come here).

The answer is a :class:`requests.Response` as requests builds one, its body already
read if it is at most 64 KiB by ``Content-Length`` or chunked (:func:`_read_body`), else left
unread and the connection closed.  (The long way's :func:`~xfer.http_session.skip_large_body`
reads only a ``Content-Length`` one: it cannot bound requests' read of a chunked body.)  A pipelined ``GET``'s (or
``PROPFIND``'s) body is kept up to :data:`PIPELINED_GET_LIMIT`, by ``Content-Length`` or chunked.
Failures are raised as requests raises them for the same failure (``ConnectionError`` around urllib3's
``ProtocolError``, ``ReadTimeout``, ``SSLError``), so :func:`~xfer.http_errors.map_http_error`
words them the same way.  A connection goes back to the pool only after a complete answer
that lets it stay open.
"""

from __future__ import annotations

import http.client
import io
import re
import ssl
from collections.abc import Sequence
from typing import Any

import requests
import requests.exceptions
import urllib3.connectionpool
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from .http_errors import ERROR_BODY_LIMIT, closes_connection, declared_length
from .numbers import server_status

__all__ = [
    "LEAN_BODY_LIMIT", "LEAN_METHODS", "PIPELINED_GET_LIMIT", "PIPELINED_METHODS", "Answers", "Fields",
    "body_left_unread", "exchange", "lean_body", "request_target",
]

#: Requests whose answer xfer reads as a status and headers only.
LEAN_METHODS = frozenset({"HEAD", "PUT", "DELETE"})
#: Requests whose answer's body is read whole up to :data:`PIPELINED_GET_LIMIT` when pipelined: a
#: small file, a folder's listing after a group's PUTs, a WebDAV file's properties (all safe and
#: idempotent: RFC 9110 9.2, RFC 4918 9.1).
_BODY_READ = frozenset({"GET", "PROPFIND"})
#: What may go pipelined (:meth:`XferSession.pipelined`): those and :data:`LEAN_METHODS`.
PIPELINED_METHODS = LEAN_METHODS | _BODY_READ
#: A pipelined ``GET``'s (``PROPFIND``'s) body is read up to this many bytes (``Content-Length`` or
#: chunked); a longer one is left unread, its answer's content empty, and the connection given up.
PIPELINED_GET_LIMIT = 256 * 1024
#: A larger body goes the long way: it is streamed in blocks, with urllib3's handling of a
#: server that answers (413, say) before it has read the whole body.
LEAN_BODY_LIMIT = 256 * 1024
#: http.client's limits for an answer's head.
_MAX_LINE = 65536
_MAX_HEADERS = 100
#: A head of that many lines that long, and the status line: more, and it cannot be one.
_MAX_HEAD = (_MAX_HEADERS + 1) * (_MAX_LINE + 2)
_RECEIVE = 64 * 1024
#: The end of an answer's head: a line's end, then an empty line.
_HEAD_END = re.compile(rb"\n\r?\n")


class Fields(CaseInsensitiveDict[str]):
    """Header fields as requests keeps them, whose ``in`` and ``get`` do not raise for a missing name.

    requests' :class:`~requests.structures.CaseInsensitiveDict` inherits both from ``Mapping``,
    which looks the name up and catches the ``KeyError``: ~1 us per miss, and an answer is
    asked for a field it lacks about eight times (``Transfer-Encoding``, ``Set-Cookie``,
    ``Location``...), a small file's PUT and HEAD each (issue 14).  Here both read the store
    (lower-case name -> ``(name, value)``, requests' own layout) directly.
    """

    @classmethod
    def of_store(cls, store: dict[str, tuple[str, str]]) -> Fields:
        """The fields whose store is ``store`` (taken, not copied): made without ``__init__``'s
        generic ``MutableMapping.update``, a few microseconds per request and answer."""
        fields = cls.__new__(cls)
        fields._store = store  # type: ignore[attr-defined]
        return fields

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._store  # type: ignore[attr-defined]

    def get(self, name: str, default: Any = None) -> Any:
        found = self._store.get(name.lower())  # type: ignore[attr-defined]
        return default if found is None else found[1]


class Answers(list[requests.Response | None]):
    """The answers to requests sent in one write, in order (None: did not come).

    ``cut``: the connection broke while the requests were being written.  A server closes a
    connection after its Nth request (nginx's ``keepalive_requests``), and closing with requests
    unread makes its kernel reset the connection, which can discard answers already sent, the
    closing one among them: the answers missing then say nothing about the server's pipelining.
    """

    cut: bool = False
    #: The answers ended before the last, or the connection with (or right after) it: the server
    #: closed, an answer broke off or never came, or this reader gave the connection up.  Then
    #: where an answer lies may not be where its request was: a server that wrote one answer too
    #: many and closed, as at a keep-alive limit, leaves nothing extra to see, and one that left a
    #: request unanswered moves the rest the other way (review Q).  A caller to whom a misplaced
    #: answer would prove a file trusts only the first (:meth:`keep_first`).
    ended_early: bool = False

    def keep_first(self, count: int) -> int:
        """If :attr:`ended_early`, every answer after the first ``count`` made None (its request goes
        again); how many answers that took away."""
        if not self.ended_early:
            return 0
        dropped = sum(answer is not None for answer in self[count:])
        self[count:] = [None] * max(0, len(self) - count)
        return dropped


def lean_body(request: requests.PreparedRequest) -> bool:
    """Whether ``request``'s body may be sent in one write here (bytes, or a sized iterable, small)."""
    body = request.body
    if body is None:
        return True
    if isinstance(body, bytes):
        return len(body) <= LEAN_BODY_LIMIT
    if isinstance(body, str) or not hasattr(body, "__iter__"):
        return False
    try:
        return len(body) <= LEAN_BODY_LIMIT
    except TypeError:  # no length: it would be sent chunked
        return False


def exchange(
    pool: urllib3.connectionpool.HTTPConnectionPool,
    requests_: Sequence[requests.PreparedRequest],
    *,
    read_timeout: float | None,
    adapter: requests.adapters.HTTPAdapter,
) -> Answers | None:
    """Send ``requests_`` on an open pooled connection, in one write, and read their answers in
    order; None if no connection is open (everything is left as it was: the caller sends them
    the long way).

    More than one request is HTTP/1.1 pipelining (RFC 9112 9.3.2), for idempotent requests
    only (:data:`PIPELINED_METHODS` are).  An answer that cannot follow (an earlier answer closes
    the connection or leaves it unusable, or it breaks off) is None: its request is to be sent
    again.  The first answer's failures are raised as requests raises them.
    """
    conn = pool._get_conn()
    if conn.sock is None:  # type: ignore[attr-defined]  # new, or found dropped: urllib3 opens it
        pool._put_conn(conn)
        return None
    reusable = False
    first = requests_[0]
    try:
        data = b"".join(_request_head(request, conn) + _body_bytes(request) for request in requests_)
        sock: ssl.SSLSocket = conn.sock  # type: ignore[attr-defined]
        sock.settimeout(read_timeout)
        try:
            answers, reusable = _exchange(sock, data, requests_)
        except TimeoutError as exc:
            raise requests.exceptions.ReadTimeout(
                urllib3.exceptions.ReadTimeoutError(
                    pool, first.url, f"Read timed out. (read timeout={read_timeout})"
                ),
                request=first,
            ) from exc
        except ssl.SSLError as exc:
            raise requests.exceptions.SSLError(urllib3.exceptions.SSLError(exc), request=first) from exc
        except _BodyBroken as broken:  # as requests reports a body that broke off while read
            cause = broken.__cause__
            raise requests.exceptions.ChunkedEncodingError(
                urllib3.exceptions.ProtocolError(f"Connection broken: {cause!r}", cause), request=first
            ) from cause
        except (OSError, http.client.HTTPException) as exc:
            raise requests.exceptions.ConnectionError(
                urllib3.exceptions.ProtocolError("Connection aborted.", exc), request=first
            ) from exc
    finally:
        if reusable:
            pool._put_conn(conn)
        else:
            conn.close()
            pool._put_conn(None)  # frees the pool's place for a new connection
    for response in answers:
        if response is not None:
            response.connection = adapter
    return answers


def _request_head(request: requests.PreparedRequest, conn: Any) -> bytes:
    """The request line and headers as urllib3 sends them for a prepared request with a known length.

    urllib3 adds ``Host`` first (as http.client computes it), then sends requests' headers
    in their order; requests has already set ``Content-Length`` (``0`` for a ``PUT`` or
    ``DELETE`` without body, none for ``HEAD``), so urllib3 adds no framing header.
    """
    host: str = conn.host
    if ":" in host:
        host = f"[{host}]"
    if conn.port != conn.default_port:
        host = f"{host}:{conn.port}"
    lines = [f"{request.method} {request_target(request.url or '')} HTTP/1.1", f"Host: {host}"]
    # (the store's values: Mapping's items() would look every name up again)
    lines += [f"{name}: {value}" for name, value in request.headers._store.values()]  # type: ignore[attr-defined]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def request_target(url: str) -> str:
    """What ``PreparedRequest.path_url`` gives for ``url`` (a prepared, absolute URL): its path, at
    least "/", and its query; no fragment.  Found by slicing, not ``urlsplit`` (~3 us a request)."""
    rest = url[url.find("//") + 2:] if "//" in url else url
    rest = rest.partition("#")[0]
    starts = [found for found in (rest.find("/"), rest.find("?")) if found >= 0]
    target = rest[min(starts):] if starts else ""
    if target.find("?") == len(target) - 1:  # an empty query: path_url drops its "?"
        target = target[:-1]
    return target if target.startswith("/") else "/" + target


def _body_bytes(request: requests.PreparedRequest) -> bytes:
    """``request``'s body, read; exactly its ``Content-Length``, or nothing is sent.

    A body iterated once already yields nothing: sent under its length, the server would take
    the requests after it for its bytes (and store them).  That is refused here, before any
    byte leaves.
    """
    body: Any = request.body  # None, bytes or a FileBody (lean_body let nothing else through)
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    else:
        # A FileBody (it hashes, counts and reports progress as it is read) yields views of one
        # reused buffer, each valid until the next: copied as they come.  (b"".join would
        # collect them first: a file read in more than one piece, one rewritten while it is
        # read, would go out as the last piece's bytes over the first's, under the right length.)
        collected = bytearray()
        for chunk in body:
            collected += chunk
        data = bytes(collected)
    declared = request.headers.get("Content-Length")
    if declared is not None and int(declared) != len(data):
        raise RuntimeError(f"{request.method} {request.url}: a body of {len(data)} bytes for Content-Length {declared}")
    return data


class _Answer:
    """An answer's bytes as they arrive on ``sock``."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        #: The connection's TLS version, for every answer read from it.
        self.tls_version = sock.version()

    def _more(self) -> bool:
        data = self.sock.recv(_RECEIVE)
        self.buffer += data
        return bool(data)

    def take_what_arrived(self) -> bool:
        """Add to the buffer what the server has sent already, without waiting for more; whether
        the connection is still open (False: it was closed, or broke, or cannot wait again).

        After the last answer asked for nothing should have come; what has is the sign of an
        answer too many, which puts the answers read before it out of step with the requests.
        (Only what is here now: bytes still on their way are found by the next use of the
        connection, which urllib3 drops when it finds it readable.)  A close_notify read here is
        no longer there for urllib3 to find: the caller gives the connection up (review O)."""
        timeout = self.sock.gettimeout()
        open_ = True
        try:
            self.sock.settimeout(0.0)
            while data := self.sock.recv(_RECEIVE):
                self.buffer += data
            open_ = False  # (an empty read: close_notify, or the TCP end)
        except (ssl.SSLWantReadError, BlockingIOError):
            pass  # nothing more now
        except OSError:
            open_ = False  # (a reset, a ragged end, a TLS alert; or SSLWantWriteError: not waited for)
        try:
            self.sock.settimeout(timeout)
        except OSError:
            open_ = False  # (left non-blocking, it must not be used again)
        return open_

    def head(self) -> list[str]:
        """The next answer head's lines (status line first), consumed from the buffer."""
        while True:
            # Lines end in CRLF, or in a bare LF, which http.client (and RFC 9112 2.2) accepts too.
            end = _HEAD_END.search(self.buffer)
            if end is not None:
                lines = [line.rstrip("\r") for line in self.buffer[: end.start()].decode("latin-1").split("\n")]
                del self.buffer[: end.end()]
                if end.start() > _MAX_LINE and any(len(line) > _MAX_LINE for line in lines):
                    raise http.client.LineTooLong("header line")
                return lines
            if len(self.buffer) > _MAX_HEAD:
                raise http.client.LineTooLong("header section")
            if not self._more():
                if self.buffer:
                    raise http.client.IncompleteRead(bytes(self.buffer))
                raise http.client.RemoteDisconnected("Remote end closed connection without response")

    def body(self, length: int) -> bytes:
        while len(self.buffer) < length:
            if not self._more():
                raise http.client.IncompleteRead(bytes(self.buffer), length - len(self.buffer))
        data = bytes(self.buffer[:length])
        del self.buffer[:length]
        return data

    def _line(self) -> bytes:
        """The next line of a chunked body (its end removed), consumed from the buffer."""
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > _MAX_LINE:
                raise http.client.LineTooLong("chunk size line")
            if not self._more():
                raise http.client.IncompleteRead(bytes(self.buffer))
        line = bytes(self.buffer[:end]).rstrip(b"\r")
        del self.buffer[: end + 1]
        return line

    def chunked(self, limit: int) -> bytes | None:
        """A chunked body (RFC 9112 7.1), decoded; None if it is longer than ``limit``, or its
        framing (size lines, extensions, trailer fields) more than ``limit`` again (the rest is
        then left unread).  A body that breaks off, or is not chunked as it says, raises: only a
        last chunk ends it."""
        data = bytearray()
        framing = 0
        while True:
            line = self._line()
            framing += len(line) + 2
            # The size, then optional whitespace and extensions (ignored): RFC 9112 7.1.1.
            size_text = line.split(b";", 1)[0].rstrip(b" \t")
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise http.client.HTTPException(f"a chunk size that is not one: {size_text[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(data) + size > limit or framing > limit:
                return None
            data += self.body(size)
            if self._line():
                raise http.client.HTTPException("a chunk longer than its size")
        for _ in range(_MAX_HEADERS + 1):  # the trailer fields, up to an empty line
            line = self._line()
            framing += len(line) + 2
            if framing > limit:
                return None
            if not line:
                return bytes(data)
        raise http.client.HTTPException(f"got more than {_MAX_HEADERS} trailer fields")


def _exchange(sock: ssl.SSLSocket, data: bytes, requests_: Sequence[requests.PreparedRequest]) -> tuple[Answers, bool]:
    """Send ``data`` (the requests) and read their answers: (the answers, whether the connection
    may be reused).  An answer after the first that does not come whole is None; so is one whose
    end is in doubt (the next answer's head is not one), and every answer after the first when
    more came than was asked for."""
    answer = _Answer(sock)
    answers = Answers()
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError) as refused:
        # A server may answer (413, 403) and close before reading the body, as urllib3 knows:
        # its answer is what says what happened, if it arrived.  Or it closed after its Nth
        # request (keep-alive limit) with ours unread: the answers before that one may still be
        # here to read.  Not all of the request went out: whatever follows, the connection is spent.
        answers.cut = True
        try:
            response, reusable = _read_answer(answer, requests_[0])
        except (OSError, http.client.HTTPException, _BodyBroken):
            raise refused from None  # (no whole answer: the reset is what happened)
    else:
        response, reusable = _read_answer(answer, requests_[0])
    answers.append(response)
    #: Whether every answer was read to its end, so that nothing more should have come.
    whole = not answers.cut
    for request in requests_[1:]:
        if not reusable:
            answers.append(None)
            whole = False
            continue
        try:
            later, reusable = _read_answer(answer, request)
        except _BodyBroken:
            later, reusable, whole = None, False, False  # (its head was whole: the one before ended where it said)
        except (OSError, http.client.HTTPException) as exc:
            later, reusable, whole = None, False, False
            if _misframed(exc, answer) and requests_[len(answers) - 1].method in _BODY_READ:
                # The answer before this one did not end where its framing said (a body shorter or
                # longer than its Content-Length on a connection kept open): its "whole" body holds
                # bytes of this answer, or lost its own tail here.  Not to be saved (review P, 1).
                # (A PUT's, HEAD's or DELETE's answer is its status and fields, which began where
                # they should: its request was carried out, and must not look unsent: review O.)
                answers[-1] = None
        answers.append(later)
    last = answers[-1]
    if whole and last is not None and not body_left_unread(last):
        if not answer.take_what_arrived():
            reusable = False  # the server has closed it (its close_notify read here: urllib3 would not see it)
        extra = bytes(answer.buffer.strip(b"\r\n"))
    else:
        extra = b""  # (what follows an answer left unread, or a connection given up, is no sign)
    if extra:
        # More than was asked for: an extra answer (an error page written after a complete
        # answer, a split response) puts every later answer one place off, each looking proven
        # under another file's name.  Where the shift began cannot be known: none after the first
        # is trusted (review P, finding 2).  The first began where the connection's bytes did.
        # (Stray empty lines after a body, which old servers send, are not an answer.)
        answers[1:] = [None] * (len(answers) - 1)
    # Not when this reader gave the connection up for a body's length, its own choice (a file
    # grown past the bound since it was listed): a server's slip that put answers out of place
    # and an answer that long are two faults at once.  (A server that means to can send any bytes
    # for any name: what is guarded against here is a slip making one file's bytes another's.)
    # Before the look at what is left: stray empty lines after the last answer are no sign.
    gave_up = any(later is not None and body_too_long(later) for later in answers)
    answers.ended_early = not gave_up and (not whole or not reusable)
    if answer.buffer or answers.cut:
        reusable = False  # bytes after the answers (nothing we asked for), or a request only half sent
    return answers, reusable


def _misframed(failure: BaseException, answer: _Answer) -> bool:
    """Whether reading the next answer's head failed on bytes that cannot start one, rather than on a
    connection that ended or broke between two answers (then the answer before it is as it was)."""
    if isinstance(failure, http.client.RemoteDisconnected):
        return False  # closed before any byte of it: a keep-alive limit
    return isinstance(failure, http.client.HTTPException) or bool(answer.buffer)


def _read_answer(answer: _Answer, request: requests.PreparedRequest) -> tuple[requests.Response, bool]:
    """The next final answer (interim ones skipped), for ``request``: (it, whether more may follow)."""
    lines = answer.head()
    while True:
        version, status, reason = _status_line(lines[0])
        if not 100 <= status < 200:
            break
        if status == 101:
            raise http.client.HTTPException("the server switched protocols on a plain request")
        lines = answer.head()  # an interim answer (100 Continue, 103): the final one follows
    headers, cookies, complete = _headers(lines[1:])
    method = request.method
    reusable = version == "HTTP/1.1" and not closes_connection(headers) and complete
    content = b""
    has_body = method != "HEAD" and status not in (204, 304)
    unread = has_body and not complete  # its framing is not known: left unread, the connection given up
    too_long = False
    if has_body and complete:
        try:
            body, too_long = _read_body(answer, headers, limit=PIPELINED_GET_LIMIT if method in _BODY_READ else None)
        except (OSError, http.client.HTTPException) as exc:
            if method in _BODY_READ or "Transfer-Encoding" not in headers:
                raise _BodyBroken from exc  # as the long way, which reads such a body, reports it
            # A status-only answer's chunked body, which only this reader reads (to keep the
            # connection), broke off: its status stands, as on the long way, which never reads it
            # (a 403 stays a refusal, not "the connection broke" and the file sent again).
            body, too_long, reusable = None, False, False
        if body is None:
            unread, reusable = True, False  # (skip_large_body's rule): the connection is given up
        else:
            content = body
        if "Transfer-Encoding" in headers and "Content-Length" in headers:
            reusable = False  # framed twice: RFC 9112 6.3 has it handled as an error; not trusted again
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    response.headers = headers
    response.url = request.url or ""
    response.encoding = get_encoding_from_headers(headers)
    response.request = request
    response.raw = _Raw(cookies, unread=unread, too_long=too_long, tls_version=answer.tls_version)
    response._content = content
    response._content_consumed = True  # type: ignore[attr-defined]
    return response, reusable


def _read_body(answer: _Answer, headers: Fields, *, limit: int | None) -> tuple[bytes | None, bool]:
    """An answer's body, read whole if small (None: left unread), and whether it was left for its
    length (a known end past the bound: this reader's choice, which says nothing of the server).

    Small is a ``Content-Length`` or a chunked body of at most
    :data:`~xfer.http_errors.ERROR_BODY_LIMIT` bytes (:func:`~xfer.http_errors.small_body`'s
    bound), or of at most ``limit`` (a pipelined GET's).  Never read, whatever its length: no
    length (the body ends with the connection), another transfer coding.

    Why a chunked answer to a PUT is read: application servers answer an upload with a short
    JSON body, chunked.  Left unread, it cost its connection, and the HEAD sent after it in the
    same write went unanswered, which turned pipelining off: a TLS handshake per file.
    """
    bound = ERROR_BODY_LIMIT if limit is None else limit
    encoding = headers.get("Transfer-Encoding")
    if encoding is not None:
        if encoding.strip().lower() != "chunked":
            return None, False
        body = answer.chunked(bound)
        return body, body is None
    length = declared_length(headers.get("Content-Length"))
    if length is None:
        return None, False
    if length > bound:
        return None, True
    return answer.body(length), False


def body_too_long(response: requests.Response) -> bool:
    """Whether an answer read here had a body with a known end that was left unread for its length
    (the connection given up by this reader's choice, not the server's doing)."""
    return isinstance(response.raw, _Raw) and response.raw.too_long


def answer_tls_version(response: requests.Response) -> str | None:
    """The TLS version of the connection an answer read here came over (None for any other answer)."""
    return response.raw.tls_version if isinstance(response.raw, _Raw) else None


def body_left_unread(response: requests.Response) -> bool:
    """Whether an answer read here had a body it left unread (too long, or of unknown length);
    False for every other answer."""
    return isinstance(response.raw, _Raw) and response.raw.unread


def _status_line(text: str) -> tuple[str, int, str]:
    version, _, rest = text.partition(" ")
    code, _, reason = rest.partition(" ")
    status = server_status(code)
    if not version.startswith("HTTP/1.") or status is None:
        raise http.client.BadStatusLine(text)
    return version, status, reason.strip()


def _headers(lines: list[str]) -> tuple[Fields, http.client.HTTPMessage | None, bool]:
    """The fields as requests shows them (repeats joined with ", ", as urllib3 does), the parsed
    message when the answer sets cookies (what requests' cookie jar reads), and whether every
    line was a field."""
    if len(lines) > _MAX_HEADERS:
        raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
    # Collected in a plain dict first: a CaseInsensitiveDict's `in` costs a raised KeyError per new name.
    found: dict[str, tuple[str, str]] = {}
    key = ""
    complete = True
    for line in lines:
        if key and line.startswith((" ", "\t")):  # an obsolete folded continuation
            name, value = found[key]
            found[key] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            # http.client (the email parser) ends the fields at such a line and keeps the ones
            # before it; so does this.  What framed the body may be among those lost.
            complete = False
            break
        key, value = name.lower(), value.strip()
        known = found.get(key)
        found[key] = (name, value) if known is None else (name, f"{known[1]}, {value}")
    # Its store is this very mapping, in requests' layout (lower-case name -> (name, value); a
    # dict keeps its order as requests' OrderedDict does, and requests uses no method only that has).
    fields = Fields.of_store(found)
    cookies = None
    if "set-cookie" in found or "set-cookie2" in found:
        cookies = http.client.parse_headers(io.BytesIO(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")))
    return fields, cookies, complete


class _BodyBroken(Exception):
    """The answer's body broke off (the cause says how); its head had arrived."""


class _Raw:
    """``response.raw`` of an answer read here: nothing left to read or release; the parsed
    head for requests' cookie jar (``extract_cookies_to_jar`` reads ``_original_response.msg``);
    whether its body was left unread; the TLS version it came over."""

    def __init__(
        self, cookies: http.client.HTTPMessage | None, *, unread: bool, too_long: bool, tls_version: str | None
    ) -> None:
        self._original_response = _Original(cookies) if cookies is not None else None
        #: The answer had a body, left unread (:func:`body_left_unread`); for its length (:func:`body_too_long`).
        self.unread = unread
        self.too_long = too_long
        self.tls_version = tls_version

    def close(self) -> None:
        return None

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return b""


class _Original:
    def __init__(self, msg: http.client.HTTPMessage) -> None:
        self.msg = msg

