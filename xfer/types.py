"""Plain types every layer shares: remote entries, transfer results, progress callbacks.

This is the bottom of the package (next to :mod:`xfer.errors`): it imports nothing
of xfer, so the transfer code, the HTTP session and the adapters can all use these
types without importing each other.  :mod:`xfer.adapters.base` re-exports them.

Two kinds of remote path exist and are easy to mix up: a *user path* is under the
connection's root (the path part of the profile URL) and is what the public verbs
take and return; a :data:`ServerPath` is the absolute path on the server that
adapters' primitives work on.  ``Adapter.remote_path`` turns the first into the
second and ``Adapter.user_path`` back; applying either twice is a bug.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, NewType, Protocol

__all__ = [
    "COMMON_RESULT_KEYS",
    "CONTROL_CHARACTER",
    "Capability",
    "Entry",
    "EntryType",
    "Landed",
    "ListedPath",
    "OperationResult",
    "ProgressCallback",
    "ServerPath",
    "Source",
    "SourceVersion",
    "TransferResult",
    "Verified",
    "opaque_etag",
]

#: A control character in a name: C0 (below 0x20) or DEL.  FTP listings may leave such a name out
#: or misprint it (:attr:`xfer.adapters.base.Adapter.LISTS_CONTROL_NAMES`).
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")

#: An absolute path on the server (the profile's root already applied), as primitives take it.
ServerPath = NewType("ServerPath", str)


class ListedPath(str):
    """A user path built from names xfer read in a listing: a server's ``ls``, a local folder's walk.

    A backslash in such a path is part of a file name (legal on POSIX: ``Q3\\report.csv``),
    not a Windows separator a caller typed, so ``Adapter.remote_path`` lets it through while
    it refuses a backslash in any other path.  ``Entry.path`` of the verbs is one.
    """

    __slots__ = ()

EntryType = Literal["file", "directory", "link", "other"]

#: A transfer's end-to-end check (``TransferResult.verified``): the server's hash of its copy
#: matched ours (``sha256``/``md5``/``crc32``), only the size could be compared, or nothing.
Verified = Literal["sha256", "md5", "crc32", "size", "none"]


class ProgressCallback(Protocol):
    """Called as bytes move: ``transferred`` so far (cumulative) and ``total`` if known."""

    def __call__(self, transferred: int, total: int | None, /) -> None: ...


#: Told of each file of a group moved together (``Adapter.put_together``, ``get_together``) as
#: soon as it is proven and under its final name: its place in the group and its result, the one
#: the call returns for it.  So a caller stopped in the middle of a group (another transfer
#: failed, Ctrl-C) still knows which files arrived.  It may be called from another thread
#: (SFTP's event loop): it must only record, never call the adapter or wait.
Landed = Callable[[int, "TransferResult"], None]


class Capability(str, enum.Enum):
    """Operations an adapter can declare.  The value is the public verb's name."""

    LS = "ls"
    INFO = "info"
    GET = "get_file"
    PUT = "put_file"
    MKDIR = "mkdir"
    RM = "rm"
    RMDIR = "rmdir"
    MV = "mv"
    SET_MODIFIED = "set_modified"
    #: Streaming upload of bytes that arrive over time (``put -``, fsspec ``open("wb")``).
    OPEN_WRITE = "open_write"

    @property
    def verb(self) -> str:
        """What messages call it: the command's name (``get``, not the method ``get_file``), which
        a library user reads as well as a user of the CLI does."""
        return self.value.removesuffix("_file")


@dataclass(frozen=True, slots=True)
class Entry:
    """One remote file or folder.  ``path`` is under the connection root, like the verbs take.

    Slotted: a listing of 100,000 entries holds no dict per entry.
    """

    name: str
    path: str
    type: EntryType
    size: int | None = None
    modified: dt.datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    #: How coarse ``modified`` is, in seconds: the true time is within ``[modified, modified +
    #: precision]``.  60 for a time listed to the minute (FTP ``LIST``), 86,400 for a date
    #: only (``LIST`` of a file older than six months); 0 for a time exact to the second.
    #: Said by the listing that gave the time, never guessed from the value: a file stamped at
    #: midnight on a server that lists seconds is exactly at midnight.
    modified_precision: float = 0.0
    #: False when the listing prints a time in a zone it does not name and xfer could not learn
    #: which (FTP ``LIST`` on a server without ``MDTM``): ``modified`` is then read as UTC, and
    #: the true time may be up to 14 hours either side of it.
    modified_zone_known: bool = True
    #: Seconds the true time may lie either side of ``modified`` (beyond its precision) although
    #: the zone is known: an FTP ``LIST`` time read in the offset learned from one file's ``MDTM``
    #: is an hour off for a file on the other side of a summer-time change (3,600).
    modified_spread: float = 0.0

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    def to_dict(self) -> dict[str, Any]:
        """The ``ls --json`` item: the same keys on every protocol (``extra`` may be empty)."""
        return {
            "name": self.name,
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "modified": self.modified.isoformat() if self.modified else None,
            "extra": dict(self.extra),
        }


#: Keys every put/get result has, on every protocol, in ``to_dict()`` order.  ``details``
#: may not use them: a protocol's fact under a common name would read as the common fact.
COMMON_RESULT_KEYS = (
    "direction", "local", "remote", "size", "elapsed", "sha256",
    "protocol", "tls_version", "size_verified", "temp_name", "verified", "attempts", "modified", "source_removed",
)


@dataclass(frozen=True)
class SourceVersion:
    """Which version of a remote file a download got, beyond its size, as the protocol named it:
    ``etag`` the GET's ETag (HTTP), ``modified`` the GET's Last-Modified (HTTP), MDTM (FTPS) or the
    STAT's mtime (SFTP); None where the server said nothing.

    ``--remove-source-files`` removes a download's source only while the server still shows these
    (:meth:`~xfer.adapters.base.Adapter.remove_sources`): a file put anew under the name after the
    download, even of the same size, is kept.  Where the server said neither, the size is all there is.
    """

    etag: str | None = None
    modified: dt.datetime | None = None

    def changed(self, etag: str | None, modified: dt.datetime | None) -> str | None:
        """Why a file the server shows now with ``etag`` and ``modified`` is not this version (None:
        nothing shows it is another).  Only what both sides name is compared, each as loosely as
        "the same version" allows: ETags by their opaque tags (:func:`opaque_etag`: Apache calls a
        file written within the second ``W/"x"`` and a second later ``"x"``), times to the whole
        second (a GET's Last-Modified has no fraction, a PROPFIND's ISO time may; review N, 2 and 7)."""
        if self.etag and etag and opaque_etag(self.etag) != opaque_etag(etag):
            return f"it changed on the server since it was downloaded (ETag {self.etag} -> {etag})"
        if (self.modified is not None and modified is not None
                and self.modified.replace(microsecond=0) != modified.replace(microsecond=0)):
            return (f"it changed on the server since it was downloaded (modified {self.modified.isoformat()} -> "
                    f"{modified.isoformat()})")
        return None


def opaque_etag(etag: str) -> str:
    """An ETag's opaque tag: without the weak mark ``W/`` and the quotes (RFC 9110 8.8.3.2's weak
    comparison, which is what "still the same version" asks; a tag quoted on one side and not on
    the other, as wsgidav's ``getetag``, is the same tag too)."""
    return etag.strip().removeprefix("W/").strip('"')


class Source(NamedTuple):
    """A download's source for :meth:`~xfer.adapters.base.Adapter.remove_sources`: its path, the
    bytes the download wrote, and the version of the file it got (None: not known; the size is all
    there is)."""

    path: str
    size: int
    version: SourceVersion | None = None


@dataclass
class TransferResult:
    """What one put or get did: the common facts as fields, protocol facts in ``details``.

    ``remote`` is a user path (under the connection root), already converted by the adapter.
    ``protocol`` is the URL scheme (``ftpes``, ``davs``...), ``tls_version`` the TLS version
    of the connection that moved the data (None if not known), ``size_verified`` whether
    the server confirmed the uploaded size (None: not checked, or a download; False: the
    server could not tell; a different size raises), ``temp_name`` the temporary name an
    upload was written under before it was renamed into place (None: written directly),
    ``verified`` the strongest check that passed after the transfer (see :data:`Verified`).
    ``attempts`` how many tries it took (1: no retry; see :mod:`xfer.retry`).  ``modified``: a put
    with ``preserve_times``, the modification time given to the remote file with the upload, as the
    server showed it after (None: not given that way; :meth:`~xfer.adapters.base.Adapter.set_modified`
    does it apart).  ``source_removed``: with ``--remove-source-files``, whether this file's source
    was removed once its copy was proven (None: not asked).  ``source_version``: a get, which
    version of the remote file it got (not in ``to_dict``: what the removal of its source checks).
    ``details`` carries what only some protocols know (HTTP status, FTPS data connections,
    the AS2 receipt); the JSON Schema ``xfer/schema/result.schema.json`` lists every key.
    """

    direction: Literal["put", "get"]
    local: str
    remote: str
    size: int
    elapsed: float
    sha256: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    protocol: str | None = None
    tls_version: str | None = None
    size_verified: bool | None = None
    temp_name: str | None = None
    verified: Verified = "none"
    attempts: int = 1
    modified: dt.datetime | None = None
    source_removed: bool | None = None
    source_version: SourceVersion | None = None

    def __post_init__(self) -> None:
        clash = sorted(set(self.details) & set(COMMON_RESULT_KEYS))
        if clash:
            raise ValueError(f"details may not use the common result keys {clash}: set the fields")

    @property
    def rate(self) -> float:
        """Bytes per second (0 for an instant transfer)."""
        return self.size / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``put``/``get --json`` item: the common keys, then the protocol's ``details``."""
        return {
            "direction": self.direction,
            "local": self.local,
            "remote": self.remote,
            "size": self.size,
            "elapsed": round(self.elapsed, 6),
            "sha256": self.sha256,
            "protocol": self.protocol,
            "tls_version": self.tls_version,
            "size_verified": self.size_verified,
            "temp_name": self.temp_name,
            "verified": self.verified,
            "attempts": self.attempts,
            "modified": self.modified.isoformat() if self.modified is not None else None,
            "source_removed": self.source_removed,
            **self.details,
        }


@dataclass(frozen=True)
class OperationResult:
    """What ``rm``/``mv``/``mkdir`` did, for ``--json``: the same keys on every protocol.

    ``path`` is the user path acted on; ``destination`` the new path of a ``mv`` (else None).
    """

    action: Literal["rm", "mv", "mkdir"]
    path: str
    protocol: str
    destination: str | None = None
    recursive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "path": self.path,
            "destination": self.destination,
            "recursive": self.recursive,
            "protocol": self.protocol,
        }
