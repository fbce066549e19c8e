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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NewType, Protocol

__all__ = [
    "Capability",
    "Entry",
    "EntryType",
    "ListedPath",
    "ProgressCallback",
    "ServerPath",
    "TransferResult",
]

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


class ProgressCallback(Protocol):
    """Called as bytes move: ``transferred`` so far (cumulative) and ``total`` if known."""

    def __call__(self, transferred: int, total: int | None, /) -> None: ...


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


@dataclass(frozen=True)
class Entry:
    """One remote file or folder.  ``path`` is under the connection root, like the verbs take."""

    name: str
    path: str
    type: EntryType
    size: int | None = None
    modified: dt.datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "modified": self.modified.isoformat() if self.modified else None,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


@dataclass
class TransferResult:
    """What one put or get did.  ``details`` carries protocol facts (TLS version, resumption, MDN).

    ``remote`` is a user path (under the connection root), already converted by the adapter.
    """

    direction: Literal["put", "get"]
    local: str
    remote: str
    size: int
    elapsed: float
    sha256: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Bytes per second (0 for an instant transfer)."""
        return self.size / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "local": self.local,
            "remote": self.remote,
            "size": self.size,
            "elapsed": round(self.elapsed, 6),
            "sha256": self.sha256,
            **self.details,
        }
