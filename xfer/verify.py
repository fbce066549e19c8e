"""End-to-end verification: the local hash computed while streaming, the server's hash, the verdict.

Every put and get ends with the strongest check the server offers, named in the result's
``verified`` key: ``"sha256"``, ``"md5"`` or ``"crc32"`` when the server stated a hash of
its copy and it matched ours; ``"size"`` when only the size could be compared; ``"none"``
when not even that.  Adapters only report what the server said: an FTP ``HASH``/``XSHA256``
reply, HTTP ``Repr-Digest``/``Content-Digest``/``Digest``/``Content-MD5`` headers.  The
parsing and the comparison are here, once.

The local side is a :class:`StreamHash` fed by the chunk loops of
:class:`~xfer.transfer.FileBody` and :class:`~xfer.transfer.AtomicDownload`: SHA-256
for the result's ``sha256`` (unless nothing reads it: the CLI without ``--json``), MD5 or
CRC32 alongside only when the server's strongest hash is that one (known before the bytes
move), so nothing is read twice and no hash is computed that nobody compares or shows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .errors import IntegrityError
from .types import Verified

__all__ = [
    "HASHES",
    "HASH_RATE",
    "WANT_DIGEST",
    "Check",
    "FTPHashCommand",
    "HashName",
    "ServerHash",
    "StreamHash",
    "conclude",
    "ftp_hash_command",
    "ftp_hash_reply",
    "http_digest",
]

#: Bytes per second a server is given to hash a file (FTP's HASH, XSHA256...; SFTP's check-file)
#: before its answer is late: it reads the whole range first, so the reply timeout is extended by
#: the range's size at this rate.
HASH_RATE = 20 * 2**20

#: What a result's ``verified`` says: the check that passed.
Check = Verified

#: The hashes compared, strongest first.  SHA-1 and SHA-512 offers are not used: SHA-256 is
#: what servers that hash at all offer, and ``verified`` names a fixed set.
HashName = Literal["sha256", "md5", "crc32"]
HASHES: tuple[HashName, ...] = ("sha256", "md5", "crc32")

_HEX_LENGTH: dict[HashName, int] = {"sha256": 64, "md5": 32, "crc32": 8}
_LABEL: dict[HashName, str] = {"sha256": "SHA-256", "md5": "MD5", "crc32": "CRC32"}


class StreamHash:
    """The hashes of a byte stream, updated block by block: SHA-256 unless told not to, plus ``also``.

    ``also`` is ``"md5"`` or ``"crc32"``: the one extra hash the server will be asked for
    (``"sha256"``: the server compares SHA-256, which is then computed whatever ``sha256`` says).
    ``sha256=False``: nobody reads the result's SHA-256 (the CLI prints none without
    ``--json``), so it is not computed unless the server compares it.  After TLS it is the
    largest cost of a transfer: ~0.6 s of CPU per GiB, measured here as 0.17 s of a 256 MiB
    HTTPS get whose whole client CPU was 0.54 s.
    """

    __slots__ = ("_crc", "_md5", "_sha256", "also")

    def __init__(self, also: str | None = None, *, sha256: bool = True) -> None:
        if also not in (None, "sha256", "md5", "crc32"):
            raise ValueError(f"unknown hash {also!r}")
        self.also = None if also == "sha256" else also
        self._sha256 = hashlib.sha256() if sha256 or also == "sha256" else None
        self._md5 = hashlib.md5(usedforsecurity=False) if also == "md5" else None
        self._crc = 0

    @property
    def idle(self) -> bool:
        """Computes nothing: feeding it bytes (reading a kept part back, say) is wasted work."""
        return self._sha256 is None and self.also is None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._sha256 is not None:
            self._sha256.update(data)
        if self._md5 is not None:
            self._md5.update(data)
        elif self.also == "crc32":
            self._crc = zlib.crc32(data, self._crc)

    def copy(self) -> StreamHash:
        """The hashes as they are now, to go on from apart (a piece that may have to be sent again)."""
        twin = StreamHash.__new__(StreamHash)
        twin.also, twin._crc = self.also, self._crc
        twin._sha256 = self._sha256.copy() if self._sha256 is not None else None
        twin._md5 = self._md5.copy() if self._md5 is not None else None
        return twin

    def hexdigest(self, algorithm: str = "sha256") -> str | None:
        """The hex digest so far (lowercase), or None for a hash not computed."""
        if algorithm == "sha256":
            return self._sha256.hexdigest() if self._sha256 is not None else None
        if algorithm == "md5" and self._md5 is not None:
            return self._md5.hexdigest()
        if algorithm == "crc32" and self.also == "crc32":
            return f"{self._crc:08x}"
        return None


@dataclass(frozen=True)
class ServerHash:
    """A hash of its copy the server stated: ``algorithm`` (one of :data:`HASHES`), lowercase hex, and the source."""

    algorithm: HashName
    value: str
    source: str


def conclude(
    offered: ServerHash | None,
    local: StreamHash,
    *,
    server: str,
    what: str,
    size_checked: bool,
    required: bool,
    consequence: str,
    looked_for: str,
    size: int | None = None,
) -> Check:
    """Compare the server's hash with ours; return what ``verified`` says, or raise :class:`IntegrityError`.

    ``what`` names the transfer ("the upload of /in/a.csv"), ``consequence`` what xfer did
    about the data ("nothing was saved", "the upload was removed"), ``looked_for`` what
    the server was asked ("HASH/XSHA256/XMD5/XCRC in FEAT").  ``required`` (``--checksum``)
    makes a missing hash an error instead of falling back to ``"size"``/``"none"``, except
    for an empty transfer whose size was checked (``size`` 0): every empty file has the same
    hash, so the size check proves it (``"size"``), and servers may refuse to hash a 0-byte
    range (ProFTPD's check-file answers EINVAL for an offset at the end of the file).
    """
    if offered is not None:
        ours = local.hexdigest(offered.algorithm)
        if ours is not None:
            theirs = offered.value
            if ours != theirs:
                label = _LABEL[offered.algorithm]
                raise IntegrityError(
                    f"{server}: {what} failed the {label} check: the server's {offered.source} says "
                    f"{theirs[:16]}…, the bytes xfer moved hash to {ours[:16]}…; {consequence}",
                    hint="run the command again; if it repeats, the server (or something between) "
                    "alters the data",
                )
            return offered.algorithm
    if required and not (size_checked and size == 0):
        raise IntegrityError(
            f"{server} gave no checksum for {what} (looked for {looked_for}); the checksum option "
            f"requires one; {consequence}",
            hint="drop --checksum (checksum = false in the profile) to accept a size check, or ask the "
            "partner to offer a hash (FTP HASH/XSHA256, HTTP Repr-Digest)",
        )
    return "size" if size_checked else "none"


# -- HTTP ------------------------------------------------------------------------------------

#: RFC 9530 registry names and RFC 3230 names (case-insensitive) of the hashes compared.
_HTTP_NAMES: dict[str, HashName] = {"sha-256": "sha256", "md5": "md5"}
#: Request headers asking for the hashes compared, SHA-256 preferred: RFC 9530 §4 (preferences
#: 1-10) and RFC 3230 (q-values).  Servers may state a digest only when asked.
WANT_DIGEST: Mapping[str, str] = {
    "Want-Repr-Digest": "sha-256=10, md5=3",
    "Want-Digest": "SHA-256;q=1, MD5;q=0.5",
}
_SF_ITEM = re.compile(r"\s*([A-Za-z*][A-Za-z0-9_.*-]*)\s*(?:=\s*(:[A-Za-z0-9+/=]*:|[^,;]*))?\s*((?:;[^,]*)?)\s*")


def _digest_bytes(value: str, algorithm: HashName) -> str | None:
    """Hex of a base64 digest (or, leniently, of a hex one) of the right length; None if neither."""
    value = value.strip().strip(":").strip('"')
    size = _HEX_LENGTH[algorithm] // 2
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return raw.hex()
    if re.fullmatch(rf"[0-9a-fA-F]{{{size * 2}}}", value):
        return value.lower()
    return None


def _items(value: str) -> Iterable[tuple[str, str]]:
    """``key=value`` members of a comma-separated list (a structured-field dictionary or RFC 3230's)."""
    for member in value.split(","):
        match = _SF_ITEM.fullmatch(member)
        if match is not None and match.group(2) is not None:
            yield match.group(1).lower(), match.group(2)


def http_digest(headers: Mapping[str, str], *, content: bool) -> ServerHash | None:
    """The strongest hash of the representation the headers state, or None.

    ``Repr-Digest`` (RFC 9530) and ``Digest`` (RFC 3230, an instance digest) describe the
    whole file whatever the message carries.  ``content``: the message body is the whole
    file (a ``200`` GET without a content coding), so ``Content-Digest`` and ``Content-MD5``
    describe it too; never for a PUT or HEAD answer, whose body is not the file.
    A malformed value is no hash (nothing to compare), not an error.
    """
    names = ["Repr-Digest", "Digest"] + (["Content-Digest", "Content-MD5"] if content else [])
    found: dict[HashName, ServerHash] = {}
    for header in names:
        value = headers.get(header)
        if not value:
            continue
        members = [("md5", value)] if header == "Content-MD5" else _items(value)
        for name, raw in members:
            algorithm = _HTTP_NAMES.get(name)
            if algorithm is None or algorithm in found:
                continue
            hexed = _digest_bytes(raw, algorithm)
            if hexed is not None:
                found[algorithm] = ServerHash(algorithm, hexed, header)
    return next((found[a] for a in HASHES if a in found), None)


# -- FTP -------------------------------------------------------------------------------------

#: The legacy commands (proftpd's mod_digest, Serv-U, others) per hash.
_FTP_LEGACY = {"sha256": "XSHA256", "md5": "XMD5", "crc32": "XCRC"}
#: draft-bryan-ftpext-hash names.
_FTP_HASH_NAMES = {"sha256": "SHA-256", "md5": "MD5", "crc32": "CRC32"}


@dataclass(frozen=True)
class FTPHashCommand:
    """How to ask an FTP server for a file's hash: ``command`` (``HASH`` or a legacy one) for ``algorithm``.

    ``select`` is the ``OPTS HASH`` line to send first when HASH's current algorithm is another one.
    """

    algorithm: HashName
    command: str
    select: str | None = None


def ftp_hash_command(feat_lines: Iterable[str]) -> FTPHashCommand | None:
    """The strongest hash a FEAT reply announces, and the command for it (``HASH`` preferred).

    ``feat_lines`` are the feature lines (``HASH SHA-1*;SHA-256;MD5``, ``XSHA256``...); the
    ``*`` marks HASH's current algorithm (draft-bryan-ftpext-hash).
    """
    names: set[str] = set()
    hash_algorithms: dict[str, bool] = {}  # draft name -> currently selected
    for line in feat_lines:
        words = line.strip().split(None, 1)
        if not words:
            continue
        name = words[0].upper()
        names.add(name)
        if name == "HASH" and len(words) > 1:
            for item in words[1].upper().split(";"):
                if item.strip():
                    hash_algorithms[item.strip().rstrip("*")] = item.strip().endswith("*")
    for algorithm in HASHES:
        draft = _FTP_HASH_NAMES[algorithm]
        if draft in hash_algorithms:
            select = None if hash_algorithms[draft] else f"OPTS HASH {draft}"
            return FTPHashCommand(algorithm, "HASH", select)
        if _FTP_LEGACY[algorithm] in names:
            return FTPHashCommand(algorithm, _FTP_LEGACY[algorithm])
    return None


def ftp_hash_reply(reply: str, command: FTPHashCommand, *, size: int | None = None) -> ServerHash | None:
    """The hash in a reply to ``command``; None if the reply does not carry one for the whole file.

    ``HASH``: ``213 SHA-256 0-1048576 <hex> <path>`` (algorithm, byte range, hash, path);
    a range not starting at 0 or another algorithm is no answer about the whole file, nor,
    where the file's ``size`` is known, one ending before its last byte: an end of ``size - 1``
    (the last byte's offset) or ``size`` (as servers also write it) is the whole file.  A hash of
    part of it would let a change past the range go unseen (sync would skip the file).
    Legacy commands: ``250 <hex>`` (proftpd) or ``213 <hex>``; the hex of the right length is taken.
    """
    text = reply.strip().splitlines()[-1] if reply.strip() else ""
    width = _HEX_LENGTH[command.algorithm]
    if command.command == "HASH":
        fields = text.split(None, 4)
        if len(fields) < 4 or fields[0] != "213" or fields[1].upper() != _FTP_HASH_NAMES[command.algorithm]:
            return None
        start, _, end = fields[2].partition("-")
        if start != "0":
            return None
        if size is not None and end not in (str(size - 1), str(size)):
            return None
        candidates = [fields[3]]
    else:
        if text[:1] != "2":
            return None
        candidates = text.split()[1:]
    for token in candidates:
        if command.algorithm == "crc32" and re.fullmatch(r"[0-9a-fA-F]{1,8}", token):
            return ServerHash("crc32", token.lower().rjust(8, "0"), command.command)
        if re.fullmatch(rf"[0-9a-fA-F]{{{width}}}", token):
            return ServerHash(command.algorithm, token.lower(), command.command)
    return None
