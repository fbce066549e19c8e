"""Byte-exact MIME for AS2: build entities ourselves, parse them without re-serialising.

``email.generator`` rewrites line endings and folds long headers, and a signature covers
bytes, not a parsed model: one changed byte and the partner's verification fails.  So
entities are written here as ``header CRLF ... CRLF CRLF body`` with the body untouched,
and parsing keeps the raw bytes of every part (only header *values* go through ``email``).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import secrets
import string
from collections.abc import Sequence
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from urllib.parse import quote

from ..errors import IntegrityError

CRLF = b"\r\n"

_ATEXT = set(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~.")


def entity(headers: Sequence[tuple[str, str]], body: bytes | memoryview) -> bytes:
    """One MIME entity: CRLF-terminated header lines, an empty line, then ``body`` as is."""
    return b"".join([header_block(headers), body])


def header_block(headers: Sequence[tuple[str, str]]) -> bytes:
    """Header lines plus the empty line that ends them; refuses values that would inject lines."""
    lines = []
    for name, value in headers:
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} must not contain line breaks")
        lines.append(f"{name}: {value}\r\n".encode("ascii"))
    lines.append(CRLF)
    return b"".join(lines)


def quoted(value: str) -> str:
    """An RFC 2822 quoted-string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def atom_or_quoted(value: str) -> str:
    """``value`` as is when it is an atom, else quoted (AS2 names with spaces, RFC 4130 §6.2)."""
    return value if value and set(value) <= _ATEXT else quoted(value)


def filename_param(filename: str) -> str:
    """``filename="..."``, or RFC 2231 ``filename*=utf-8''...`` for names that are not ASCII."""
    if filename.isascii() and filename.isprintable():
        return f"filename={quoted(filename)}"
    return "filename*=utf-8''" + quote(filename, safe="")


def new_boundary() -> str:
    """A boundary no payload contains by chance (128 random bits); callers still check."""
    return "----=_xfer_" + secrets.token_hex(16)


def parse_headers(data: bytes) -> Message:
    """Header lines → a Message for reading values (never for writing bytes back)."""
    return BytesHeaderParser(policy=compat32).parsebytes(data)


def content_type(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype`` (lower case) and its parameters (names lower case, values unquoted)."""
    message = Message()
    message["Content-Type"] = value
    params: dict[str, str] = {}
    for key, param in message.get_params(failobj=[])[1:]:
        params[key.lower()] = param if isinstance(param, str) else str(param)
    return message.get_content_type(), params


def split_entity(data: bytes) -> tuple[Message, bytes]:
    """Split an entity at the first empty line; bare-LF entities are accepted when reading."""
    if data.startswith(CRLF):
        return parse_headers(b""), data[2:]
    if data.startswith(b"\n"):
        return parse_headers(b""), data[1:]
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf != -1 and (lf == -1 or crlf < lf):
        return parse_headers(data[: crlf + 2]), data[crlf + 4 :]
    if lf != -1:
        return parse_headers(data[: lf + 1]), data[lf + 2 :]
    raise IntegrityError("the MIME entity has no end of headers")


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The raw bytes of each body part (RFC 2046 §5.1.1: the CRLF before a delimiter is not content).

    A delimiter counts only as a whole line: ``--boundary`` then optional blanks and the line
    end, or ``--boundary--``.  So an inner boundary that begins with the outer one
    (``_B_1`` inside ``_B``, as some products number them) is content, not a delimiter.
    """
    if not boundary or not boundary.isascii():  # RFC 2046 §5.1.1: 1 to 70 ASCII characters
        raise IntegrityError(f"the multipart boundary {boundary!r} is missing or not ASCII")
    delimiter = b"--" + boundary.encode("ascii")
    newline = CRLF if body.find(CRLF + delimiter) != -1 or body.startswith(delimiter + CRLF) else b"\n"
    # After the delimiter: transport padding (blanks), then the line end, CRLF or a bare LF (products
    # that write LF after the close delimiter, or before an epilogue), or the end of the body.
    line = re.compile(re.escape(newline + delimiter) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    # The first delimiter may open the body; with a line end before it, every one follows one.
    data = newline + body
    parts: list[bytes] = []
    start: int | None = None
    for match in line.finditer(data):
        if start is not None:
            parts.append(data[start : match.start()])
        if match.group(1):
            return parts  # the close delimiter
        start = match.end()
    hint = "the partner's answer is cut short or not well-formed MIME: ask the partner to check what it sent"
    if start is None:
        raise IntegrityError(f"the multipart body has no part with boundary {boundary!r}", hint=hint)
    raise IntegrityError("the multipart body has no closing boundary", hint=hint)


def decoded_body(headers: Message, body: bytes) -> bytes:
    """The content after undoing its Content-Transfer-Encoding (binary, 7/8bit, base64, QP)."""
    # str(): compat32 gives a Header object, not a str, for a value with bytes >= 0x80.
    encoding = str(headers.get("Content-Transfer-Encoding") or "binary").strip().lower()
    if encoding == "base64":
        try:
            return base64.b64decode(body)
        except binascii.Error as exc:
            raise IntegrityError(f"the base64 content is damaged ({exc})") from exc
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body
