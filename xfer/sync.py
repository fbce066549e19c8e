"""``xfer sync``: make a folder on one side like a folder on the other, sending only what changed.

One way: local -> remote (``upload``) or remote -> local.  Two steps:

1. **Plan** (:func:`plan_sync`, pure: two listings in, a :class:`Plan` out, no I/O).  A file
   is sent when it is new, its size differs, or (by :class:`Compare` mode) its time or
   checksum does; ``--delete`` adds the destination files the source does not have.
2. **Run** (:func:`sync`): list both sides, plan, then the transfers through
   :func:`xfer.batch.run_tasks` (``-P N`` and everything the batch runner does for
   one file does for these), then the deletions, only when every transfer succeeded.

Times.  After an upload the remote file gets the local time where the protocol can set
it (:meth:`~xfer.adapters.base.Adapter.set_modified`: FTP ``MFMT`` or ``SITE UTIME``,
SFTP), after a download the local file gets the remote time, so the next run compares
equal.  Listings are coarse in places: FTP ``LIST`` shows minutes (days for old files),
HTML index pages minutes; the listing says so (:attr:`Entry.modified_precision`), and such a
time is read as "some time within that minute (day)", plus ``window`` seconds either way.
A server that keeps whole seconds is compared at whole seconds.  FTP ``LIST`` and HTML index
pages print local time in a zone they do not name: the adapter learns it per connection from
one file's exact time (:mod:`xfer.zones`), good to an hour (:attr:`Entry.modified_spread`);
where it cannot (:attr:`Entry.modified_zone_known` False) such a time may be 14 hours either
way, so a same-size change within that is not seen (the skip says so; ``--checksum`` compares
content).  A file without a size or a time in its listing is never "unchanged" by time: it is
sent (``--size-only`` needs the sizes only).
Where the remote time cannot be set (WebDAV, HTTPS, FTP without ``MFMT`` or ``SITE UTIME``, or
an account refused it), an upload leaves the server's own time, later than the local one:
so for uploads a destination *not older* than the source, same size, is unchanged (a
later local edit is newer again).

Checksums (``--checksum``).  A file of the same size on both sides is compared by hash:
the listing's where it has one, else the server's answer for that file
(:meth:`~xfer.adapters.base.Adapter.checksum`), against the local file hashed in the
algorithm the server answered in.  No hash from the server: refused, nothing moves.

xfer's own working files (:func:`~xfer.transfer.is_temporary`: ``.NAME.XXXXXXXX.xfer-part``,
``.NAME.xfer-part`` and ``.NAME.xfer-resume`` of ``get --resume``, ``.NAME.XXXXXXXX.xfer-old``)
are never sent, compared or deleted, on either side; each walk says how many it left out (INFO).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import math
import os
import posixpath
import re
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .batch import CallbackFactory, LazyTasks, Task, local_tree, make_local_folders, remote_tree, run_tasks
from .errors import (
    FilesFailed,
    IntegrityError,
    Interrupted,
    LocalError,
    LocalFileNotFound,
    RemoteError,
    RemoteIsFolder,
    RemoteNotFound,
    UnsupportedOperation,
    UsageError,
    XferError,
    source_kept,
)
from .globs import Filters
from .log import logger
from .options import DEFAULT_MAX_DEPTH
from .retry import own_failure
from .transfer import is_temporary, local_error, local_errors, sha256_file
from .types import (
    CONTROL_CHARACTER,
    Capability,
    Entry,
    ListedPath,
    ProgressCallback,
    Source,
    SourceVersion,
    TransferResult,
)
from .verify import HASHES, StreamHash

if TYPE_CHECKING:
    from .adapters.base import Adapter

__all__ = [
    "SYNC_KEYS",
    "ZONE_SPREAD",
    "Action",
    "Compare",
    "FileState",
    "Plan",
    "SyncResult",
    "check_deletions",
    "check_removable",
    "is_temporary",
    "listed_precision",
    "name_twins",
    "plan_sync",
    "remote_digest",
    "remove_downloaded_together",
    "remove_uploaded",
    "sync",
    "twin_kept",
]

_log = logger(__name__)

#: Keys of ``xfer sync --json``, in order (documented in the README; a test holds them stable).
SYNC_KEYS = (
    "direction", "source", "destination", "dry_run", "transferred", "skipped", "kept", "deleted", "failed",
    "sources_removed", "bytes", "elapsed", "error", "actions", "results",
)

#: Hash algorithms a listing may carry in ``Entry.extra``, strongest first.
DIGEST_KEYS = ("sha256", "sha512", "sha1", "md5")


@dataclass(frozen=True, slots=True)
class FileState:
    """One file of one side: ``path`` relative to the synced folder (``/``-separated).

    ``modified`` is a POSIX time; ``precision`` how coarse it may be (seconds the true
    time may lie after it: 0 for local files, 60 for a listing that shows minutes).
    ``zone_known`` False: the listing printed the time in a zone it did not name (FTP ``LIST``,
    Apache's index page), read as UTC, so the true time may be :data:`ZONE_SPREAD` either side.
    ``digest`` is ``(algorithm, hex)`` where a listing gave one.  ``size`` or ``modified``
    None: the listing did not give it (never "the same" as anything).
    """

    path: str
    size: int | None
    modified: float | None = None
    precision: float = 0.0
    digest: tuple[str, str] | None = None
    zone_known: bool = True
    #: Seconds the true time may lie either side beyond ``precision`` with the zone known
    #: (:attr:`Entry.modified_spread`: an hour for a calibrated FTP ``LIST`` time).
    spread: float = 0.0


#: How far a time printed in an unnamed zone may be from the same time read as UTC: local
#: times run from UTC-12 to UTC+14.
ZONE_SPREAD = 14 * 3600.0


#: The reason of a skip that rests on the destination's copy being newer (``newer_is_unchanged``):
#: no proof that it holds the source's bytes.
NEWER_COPY = "same size, the destination's copy is newer (its server stamps its own times on upload)"
#: Such a file's reason where ``--remove-source-files`` would remove its source: it is sent again,
#: and its upload's own check proves the copy (:func:`_sending_newer_copies`).
NEWER_COPY_SENT = ("same size, the destination's copy is newer: sent again, as --remove-source-files removes a "
                   "source only once its copy is proven")


@dataclass(frozen=True)
class Compare:
    """How "unchanged" is decided for a file on both sides (:func:`plan_sync` says the rules).

    ``mode``: ``"time"`` (size and modification time, default), ``"size"`` (size only),
    ``"checksum"`` (size and hash).  ``window``: seconds two times may differ and still
    be equal.  ``newer_is_unchanged``: the destination cannot keep the source's times
    (it stamps its own on upload), so a destination surely not older than the source is unchanged.
    """

    mode: Literal["time", "size", "checksum"] = "time"
    window: float = 2.0
    newer_is_unchanged: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    """One line of a plan: ``kind`` is ``transfer``, ``skip`` or ``delete``; ``reason`` says why."""

    kind: Literal["transfer", "skip", "delete"]
    path: str
    reason: str
    size: int | None = None


@dataclass(frozen=True)
class Plan:
    """What a sync will do.  ``destination_files``: files the destination had (after filters)."""

    transfers: tuple[Action, ...] = ()
    skips: tuple[Action, ...] = ()
    deletes: tuple[Action, ...] = ()
    destination_files: int = 0
    #: Destination files ``--delete`` leaves because the source has something there it does not
    #: copy (``passed_over`` of :func:`plan_sync`), or a name that differs from a source name only
    #: in case, Unicode form or trailing dots and spaces; skips in the output, but not "unchanged".
    kept: tuple[Action, ...] = ()

    @property
    def actions(self) -> tuple[Action, ...]:
        return (*self.transfers, *self.deletes, *self.skips, *self.kept)

    @property
    def bytes(self) -> int:
        return sum(a.size or 0 for a in self.transfers)


def listed_precision(entry: Entry) -> float:
    """How coarse a listed time may be, as the listing said (:attr:`Entry.modified_precision`).

    Listings that show minutes (FTP ``LIST``) or only days (``LIST`` of files older than six
    months) give whole minutes and midnights, meaning "some time within it".  Only the listing
    knows: a time exactly on a minute or a midnight from a listing of seconds (SFTP, MLSD,
    WebDAV) is exact.
    """
    return entry.modified_precision if entry.modified is not None else 0.0


def remote_digest(entry: Entry) -> tuple[str, str] | None:
    """``(algorithm, hex)`` of a remote file where its listing carries a hash, else None.

    Where the listing has none, :func:`sync` asks the server for the file's hash
    (:meth:`~xfer.adapters.base.Adapter.checksum`: FTP ``HASH``/``XSHA256``, HTTP
    ``Repr-Digest`` on ``HEAD``, SFTP ``check-file``) when ``--checksum`` needs it.
    """
    for key in DIGEST_KEYS:
        value = entry.extra.get(key)
        if value:
            return key, value.lower()
    return None


def _same_time(source: FileState, destination: FileState, compare: Compare) -> Literal["same", "newer", "differs"]:
    """``"same"`` if the two times may be one, each widened by what its listing could not say;
    ``"newer"`` if they may not, but ``compare.newer_is_unchanged`` and the destination is surely
    not older; else ``"differs"``.

    A side that keeps whole seconds (SFTP v3, FTP ``MFMT``/``MDTM``/``MLSD``, HTTP dates) stored
    ``17`` for a local ``17.25``: a time without a fraction on either side compares both at whole
    seconds, as rsync does, or ``--modify-window 0`` would send such a file on every run
    (review D, finding 9).
    """
    assert source.modified is not None and destination.modified is not None
    window = compare.window
    src, dst = source.modified, destination.modified
    if src.is_integer() or dst.is_integer():
        src, dst = float(math.floor(src)), float(math.floor(dst))
    src_low, src_high = _bounds(src, source)
    dst_low, dst_high = _bounds(dst, destination)
    if src_low - window <= dst_high and dst_low - window <= src_high:
        return "same"
    # A destination that stamps its own time on upload: unchanged only if it is not older however
    # its uncertainty falls.  (A time in an unknown zone is not taken as newer on the chance the
    # server is east of UTC: a later same-size edit would be missed for as many hours.)
    return "newer" if compare.newer_is_unchanged and dst_low + window >= src_high else "differs"


def _bounds(time: float, state: FileState) -> tuple[float, float]:
    """The earliest and latest the true time of ``state`` (listed as ``time``) may be."""
    spread = state.spread if state.zone_known else max(state.spread, ZONE_SPREAD)
    return time - spread, time + state.precision + spread


def _local_digest(path: Path, algorithm: str) -> str | None:
    """``algorithm`` (hex) of a local file: one a server answers in (SHA-256, MD5, CRC32) or a
    listing names (SHA-512, SHA-1); None for one xfer cannot compute."""
    with local_errors(path, "reading"):
        if algorithm == "sha256":
            return sha256_file(path)
        update: Callable[[bytes], None]
        result: Callable[[], str | None]
        if algorithm in HASHES:
            stream = StreamHash(algorithm, sha256=False)  # CRC32 too, which hashlib has not
            update, result = stream.update, lambda: stream.hexdigest(algorithm)
        else:
            try:
                digest = hashlib.new(algorithm)
            except ValueError:
                return None
            update, result = digest.update, digest.hexdigest
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                update(block)
        return result()


def _compare(
    source: FileState,
    destination: FileState,
    compare: Compare,
    digest: Callable[[FileState, str], str | None],
    stated: Callable[[FileState], tuple[str, str] | None],
) -> tuple[bool, str]:
    """(changed, reason) for a file on both sides: see :func:`plan_sync` for the rules."""
    if source.size is not None and destination.size is not None and source.size != destination.size:
        return True, f"size differs ({destination.size} -> {source.size})"
    unsized = source.size is None or destination.size is None
    if compare.mode == "size":
        # A size the listing did not give (an index page's "2.9K") is no evidence of anything.
        return (True, "size not listed") if unsized else (False, "same size")
    if compare.mode == "checksum":
        if source.size == 0 and destination.size == 0:
            # Every empty file has the same hash; some servers refuse to hash a 0-byte range
            # (ProFTPD's check-file: offset >= size is EINVAL), so none is asked for.
            return False, "both empty"
        # Only now, for a file of the same size on both sides, is a server asked for a hash.
        known = stated(source) or stated(destination)
        if known is None:
            raise UnsupportedOperation(
                f"--checksum: the server gives no checksum for {source.path}",
                hint="leave out --checksum to compare size and time",
            )
        algorithm = known[0]
        ours, theirs = digest(source, algorithm), digest(destination, algorithm)
        if ours is None or theirs is None:
            raise UnsupportedOperation(f"--checksum: no {algorithm} checksum for {source.path}")
        return (ours != theirs, f"{algorithm} differs" if ours != theirs else f"same size and {algorithm}")
    if unsized:
        return True, "size not listed"
    if source.modified is None or destination.modified is None:
        # Same size is not "unchanged" on its own (a partner's same-size update of a daily file):
        # with no time to tell, the file is sent again; --size-only says sizes are enough.
        return True, "same size, but no time to compare"
    verdict = _same_time(source, destination, compare)
    if verdict == "differs":
        return True, "time differs"
    if verdict == "newer":
        return False, NEWER_COPY
    if not (source.zone_known and destination.zone_known):
        # The price of not knowing the zone: a same-size change within it is not seen.  Said in
        # the reason, so the plan shows it; --checksum is the way out (README).
        return False, f"same size and time within {ZONE_SPREAD / 3600:g} h (time zone of the listing unknown)"
    if source.spread or destination.spread:
        hours = max(source.spread, destination.spread) / 3600
        return False, f"same size and time within {hours:g} h (a local time of the server's; summer time may shift it)"
    return False, "same size and time"


def plan_sync(
    source: Mapping[str, FileState],
    destination: Mapping[str, FileState],
    *,
    compare: Compare | None = None,
    filters: Filters | None = None,
    delete: bool = False,
    digest: Callable[[FileState, str], str | None] | None = None,
    stated: Callable[[FileState], tuple[str, str] | None] | None = None,
    passed_over: Collection[str] = (),
    not_followed: Collection[str] = (),
    unanswered: Collection[str] = (),
) -> Plan:
    """Compare two listings (relative path -> state) and say what to transfer, skip and delete.

    A file on both sides is sent when its sizes differ, and otherwise by ``compare.mode``:

    - ``"size"``: skipped when both sizes are known (and equal); a size a listing did not give
      is never "the same", so such a file is sent.
    - ``"time"``: skipped only when both sizes are known and equal and both times are known and
      may be one (:class:`Compare` ``window``; each time widened by its ``precision``, and by
      :data:`ZONE_SPREAD` either way if its zone is unknown; compared at whole seconds if either
      has no fraction).  No size or no time on either side: sent, the reason says which.
    - ``"checksum"``: skipped when the hashes match (the sizes may be unknown).

    ``filters`` apply to both sides: an excluded destination file is neither compared nor
    deleted.  ``passed_over``: paths the source has but its listing leaves out (a name no path
    can hold, a link to a folder, a pipe): a destination file there, or under such a folder, is
    not "not in source"; it is kept, a skip that says why.  ``not_followed``: the same of the
    destination's walk: a source file there, or under such a folder, is not written (a skip that
    says why), so a link the walk said it does not follow is never written through either.
    ``unanswered``: destination files the source's listing does not show whose presence the
    source's server would not say (:func:`_verdict`): kept, a skip that says so.
    Nor is a destination file deleted whose path differs from a source path only in case, Unicode
    form (NFC/NFD) or trailing dots and spaces of a name: a case-insensitive destination (one on
    Win32 paths, which drop those dots and spaces) holds the two as one file, the one the source's
    was just written to; it is kept, a skip that names the source's, and a warning.
    For ``mode="checksum"`` only:
    ``stated(state)`` is the ``(algorithm, hex)`` a side gives of its own accord (by default
    the listing's, ``state.digest``; :func:`sync` asks the server where the listing has none),
    and ``digest(state, algorithm)`` the hash of a file in the algorithm the other side stated
    (the local side computes it).  They are called only for a file of the same size on both
    sides.
    """
    compare = compare or Compare()
    filters = filters or Filters()
    digest_of = digest or (lambda state, algorithm: state.digest[1] if state.digest else None)
    stated_of = stated or (lambda state: state.digest)

    def wanted(path: str) -> bool:
        return not is_temporary(posixpath.basename(path)) and filters.included(path)

    transfers: list[Action] = []
    skips: list[Action] = []
    kept: list[Action] = []
    for path in sorted(p for p in source if wanted(p)):
        state = source[path]
        if _under(path, not_followed):
            # Kept, not "unchanged": the destination does not hold this file, so nothing may
            # remove its source (--remove-source-files removed the only copy; review, H1).
            kept.append(Action("skip", path, "not written: the destination has a link or other non-file there",
                               state.size))
            continue
        there = destination.get(path)
        if there is None:
            transfers.append(Action("transfer", path, "new", state.size))
            continue
        changed, reason = _compare(state, there, compare, digest_of, stated_of)
        (transfers if changed else skips).append(Action("transfer" if changed else "skip", path, reason, state.size))
    present = sorted(p for p in destination if wanted(p))
    deletes: list[Action] = []
    # A destination that folds case or Unicode form (Windows, macOS, IIS, an FTP server on NTFS)
    # holds ``Report.CSV`` and the source's ``report.csv`` as one file, the one this run just
    # wrote: deleting the listed name would delete the copy (and with --remove-source-files the
    # only one left).  Whether the destination folds cannot be known from a listing, so such a
    # name is never deleted (review D, finding 1).  Win32 paths drop trailing dots and spaces the
    # same way: ``STOR report.`` writes ``report`` (review S, finding 1).
    folded: dict[str, str] = {}
    for name in source if delete else ():
        folded[_folded(name)] = name
        folded.setdefault(_folded(name, replaced=True), name)
    unanswered = frozenset(unanswered)  # (a membership test per destination file)
    for path in present if delete else ():
        if path in source and wanted(path):
            continue
        if path in unanswered:
            kept.append(Action("skip", path, "kept: the server's listing does not show it, and the server would "
                               "not say whether it has it", destination[path].size))
        elif _under(path, passed_over):
            kept.append(Action("skip", path, "kept: the source has it, not listed", destination[path].size))
        elif _folded(path) in folded:
            twin = folded[_folded(path)]
            _log.warning("sync: %s is not deleted: it differs from the source's %s only in case, Unicode "
                         "form, trailing dots or spaces, or bytes that are not UTF-8, and a destination that "
                         "folds them holds the two as one file", path, twin)
            kept.append(Action("skip", path, f"kept: the source's {twin} differs only in case, form, trailing "
                               "dots or spaces, or bytes that are not UTF-8 (on a destination that folds them "
                               "they are one file)", destination[path].size))
        else:
            deletes.append(Action("delete", path, "not in source", destination[path].size))
    return Plan(tuple(transfers), tuple(skips), tuple(deletes), destination_files=len(present), kept=tuple(kept))


def _sending_newer_copies(plan: Plan) -> Plan:
    """``plan`` with each skip of :data:`NEWER_COPY` made a transfer: for ``--remove-source-files``
    up, which removes a source only once its copy is proven.  Same size and newer is all that is
    known of such a copy (a partner's own file of that size would pass); kept as a skip, its
    source stayed for ever on servers that stamp their own times (review, session 26, H2)."""
    again = [replace(a, kind="transfer", reason=NEWER_COPY_SENT) for a in plan.skips if a.reason == NEWER_COPY]
    if not again:
        return plan
    return replace(plan, transfers=tuple(sorted([*plan.transfers, *again], key=lambda a: a.path)),
                   skips=tuple(a for a in plan.skips if a.reason != NEWER_COPY))


def _under(path: str, places: Collection[str]) -> bool:
    """Whether ``path`` is one of ``places`` or lies in a folder that is."""
    return any(path == place or path.startswith(place + "/") for place in places)


def _within_limits(plan: Plan, max_delete: int | None, force: bool) -> bool:
    """Whether :func:`check_deletions` lets ``plan`` through."""
    try:
        check_deletions(plan, max_delete=max_delete, force=force)
    except UsageError:
        return False
    return True


def check_deletions(plan: Plan, *, max_delete: int | None = None, force: bool = False, dry_run: bool = False) -> None:
    """Refuse a plan that deletes too much: more than ``max_delete`` files (always), or more
    than half of the destination without ``force`` (a wrong source folder, an empty mount).
    ``dry_run``: the plan is being shown, so the hint points at it, not at ``--dry-run``."""
    count = len(plan.deletes)
    look = "check the source folder against the plan above" if dry_run else "check the source folder (see --dry-run)"
    if max_delete is not None and count > max_delete:
        raise UsageError(
            f"sync would delete {count} files, more than --max-delete {max_delete}; nothing was changed",
            hint=f"{look}; raise --max-delete if this is intended",
        )
    if not force and count and count * 2 > plan.destination_files:
        raise UsageError(
            f"sync would delete {count} of the {plan.destination_files} files in the destination "
            "(more than half); nothing was changed",
            hint=f"{look}; add --force if this is intended",
        )


# -- running a sync ------------------------------------------------------------------------------


@dataclass
class SyncResult:
    """What a sync did (or, with ``dry_run``, would do).  ``to_dict()`` is ``xfer sync --json``.

    ``done`` maps each transferred file (relative path) to its result.  ``error`` is the
    failure that stopped the sync (None: it completed); the counts say what was done before it.
    """

    direction: Literal["put", "get"]
    source: str
    destination: str
    plan: Plan
    dry_run: bool = False
    done: dict[str, TransferResult] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    sources_removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    error: XferError | None = None
    #: ``--remove-source-files`` was asked: each source copied, or already there, leaves its side.
    remove_source: bool = False
    #: Sources the run keeps whatever happens: files only a look found (a move takes what was
    #: listed), names with a twin that differs only in case or Unicode form (maybe one file).
    sources_kept: frozenset[str] = frozenset()

    @property
    def sources_to_remove(self) -> list[str]:
        """With :attr:`remove_source`, the sources the plan would remove once their copies are
        proven: every file sent, and every one already there, but none of :attr:`sources_kept`."""
        if not self.remove_source:
            return []
        planned = [*(a.path for a in self.plan.transfers), *(a.path for a in self.plan.skips if a.size is not None)]
        return [path for path in planned if path not in self.sources_kept]

    @property
    def results(self) -> list[TransferResult]:
        """The transfer results, in plan order."""
        return [self.done[a.path] for a in self.plan.transfers if a.path in self.done]

    @property
    def transferred(self) -> int:
        """Files moved and done with: a copy whose source could not be removed is one of :attr:`failed`."""
        failed = set(self.failed)
        return sum(1 for path in self.done if path not in failed)

    @property
    def skipped(self) -> int:
        """Files left as they were (unchanged); one whose source could not be removed is failed."""
        failed = set(self.failed)
        return sum(1 for action in self.plan.skips if action.path not in failed)

    @property
    def bytes(self) -> int:
        return sum(r.size for r in self.done.values())

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _status(self, action: Action, failed: set[str], deleted: set[str]) -> str:
        if self.dry_run:
            return "skipped" if action.kind == "skip" else "planned"
        if action.path in failed:  # (an unchanged file too: its source could not be removed)
            return "failed"
        if action.kind == "skip":
            return "skipped"
        if action.path in (self.done if action.kind == "transfer" else deleted):
            return "done"
        return "not run"

    def to_dict(self) -> dict[str, Any]:
        # Sets, once: a lookup in the lists per action is quadratic on a tree of 100,000 files.
        failed, deleted, removed = set(self.failed), set(self.deleted), set(self.sources_removed)
        return {
            "direction": self.direction,
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "transferred": self.transferred,
            "skipped": self.skipped,
            "kept": len(self.plan.kept),
            "deleted": len(self.deleted),
            "failed": len(self.failed),
            "sources_removed": len(self.sources_removed),
            "bytes": self.bytes,
            "elapsed": round(self.elapsed, 6),
            "error": self.error.message if self.error else None,
            "actions": [
                {"action": a.kind, "path": a.path, "reason": a.reason, "size": a.size,
                 "status": self._status(a, failed, deleted), "source_removed": a.path in removed}
                for a in self.plan.actions
            ],
            "results": [r.to_dict() for r in self.results],
        }


def _local_files(
    folder: Path, passed_over: list[str], *, utf8_only: bool = False,
) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Regular files under ``folder`` (relative path, path, stat): :func:`~xfer.batch.local_tree`'s,
    which says what it passes over and adds it to ``passed_over``."""
    for parts, path, info in local_tree(os.fspath(folder), passed_over, utf8_only=utf8_only):
        if stat.S_ISREG(info.st_mode):
            yield "/".join(parts), Path(path), info


def _remote_files(
    remote: Adapter, folder: str, max_depth: int, passed_over: list[str], *, upload: bool
) -> tuple[dict[str, FileState], set[str]]:
    """Files (relative path -> state) and folders under remote ``folder``.  What the listing shows
    but a path cannot name is added to ``passed_over``.

    ``folder`` gone by the time it is listed (:class:`RemoteNotFound`): empty as a destination
    (``upload``), an error as a source.  Read as an empty source, a folder removed or renamed
    between its look and its listing made ``--delete --force`` delete the whole local tree
    (review S, finding 5).

    Only the states are kept, not the listed entries: a tree of 100,000 files is held once.
    """
    files: dict[str, FileState] = {}
    folders: set[str] = set()
    try:
        for _path, names, entry in remote_tree(remote, folder, max_depth, passed_over, links=False):
            relative = "/".join(names)
            if entry.is_dir:
                folders.add(relative)
            else:
                files[relative] = _remote_state(relative, entry)
    except RemoteNotFound:
        if files or folders or not upload:
            raise
    return files, folders


def _hidden(remote: Adapter, relative: str) -> bool:
    """Whether ``remote``'s listing may leave ``relative`` out: a name starting with ``.`` on
    the way (:attr:`Adapter.lists_dotfiles`), or one holding a control character
    (:attr:`Adapter.LISTS_CONTROL_NAMES`: pure-ftpd lists no such name, review of 8ce053a, finding 4)."""
    return ((not remote.lists_dotfiles and any(part.startswith(".") for part in relative.split("/")))
            or (not remote.LISTS_CONTROL_NAMES and CONTROL_CHARACTER.search(relative) is not None))


def _look_up_hidden(
    remote: Adapter, remote_path: str, local_states: Mapping[str, FileState], remote_states: dict[str, FileState],
    remote_folders: Collection[str], filters: Filters, refused: list[str], other: list[str] | None = None,
) -> set[str]:
    """Ask the server about each local file its listing did not show under a name it may hide (a
    dot name, a name with a control character: :func:`_hidden`); the paths asked about.

    nginx's and Apache's index pages leave out names starting with ``.`` (so do vsftpd and
    pure-ftpd's ``LIST`` unless told otherwise): without a look such a file is "new" on every
    upload and sent again (review D, finding 7), and ``--delete`` down deleted the local copy
    of one the server has (review S, finding 3).  One ``info`` (HTTP ``HEAD``, FTP
    ``MLST``/``SIZE``, SFTP ``STAT``) per such file, only where it can find something: not
    where the listing shows every name (:attr:`Adapter.lists_dotfiles`: SFTP, WebDAV, MLSD),
    and not under a folder the listing showed is not there (review E: 400 new dotfiles cost
    400 round trips first).  Asked together (:func:`_server_says`: HTTPS pipelines them), and
    read as the looks before deleting are (:func:`_verdict`).  A found file is compared as if
    listed; one where the server has something else (a folder) goes to ``other``, which a
    download keeps (review of fe5f526, finding 10); one the server would not say of, or only
    in its listing's word, to ``refused``: a download keeps it too.  A server that cannot be
    asked at all (HEAD refused as a method) is no answer here: the listing hides these names.
    """
    if remote.lists_dotfiles and remote.LISTS_CONTROL_NAMES:
        return set()
    hidden = [relative for relative in sorted(local_states)
              if relative not in remote_states and _hidden(remote, relative)
              and not is_temporary(posixpath.basename(relative)) and filters.included(relative)
              and _folder_may_be_there(relative, remote_folders)]
    said = _server_says(remote, remote_path, hidden)
    for relative in hidden:
        answer = said[relative]
        verdict = _verdict(answer)
        if isinstance(answer, Entry):
            if answer.type == "file":
                remote_states[relative] = _remote_state(relative, answer)
            elif other is not None:
                other.append(relative)
        elif verdict != "absent":
            refused.append(relative)
    return set(hidden)


def _folder_may_be_there(relative: str, remote_folders: Collection[str]) -> bool:
    """Whether the folders of ``relative`` up to its first dot name were listed (a dot-named
    folder may be there unlisted; a plain one the listing did not show is not there)."""
    parts = relative.split("/")[:-1]
    for depth, part in enumerate(parts):
        if part.startswith("."):
            return True
        if "/".join(parts[: depth + 1]) not in remote_folders:
            return False
    return True


def _look_up_unsized(
    remote: Adapter, remote_path: str, remote_states: dict[str, FileState], local_states: Mapping[str, FileState],
    compare: Compare,
) -> None:
    """Ask the server about each remote file its listing gave no size for, where there is a
    local file to compare it with.

    An unknown size is never "the same size" (it is sent again), and some listings have none: an
    Apache index page rounds sizes (``2.9K``), a WebDAV server may leave out
    ``getcontentlength``.  Without a look every such file moved on every run.  One ``info``
    (``HEAD``, ``PROPFIND`` of the file...) per such file, only for those; ``--checksum``
    compares hashes and needs no size.
    """
    if compare.mode == "checksum":
        return
    for relative, state in list(remote_states.items()):
        if state.size is not None or relative not in local_states:
            continue
        entry = _looked_up(remote, remote_path, relative)
        if entry is not None and entry.size is not None:
            # The size only, the time as listed (unless the listing had none): a download stamps
            # the local copy with the listed time, so the next run must compare with that one.
            remote_states[relative] = (replace(state, size=entry.size) if state.modified is not None
                                       else _remote_state(relative, entry))


def _looked_up(remote: Adapter, remote_path: str, relative: str) -> Entry | None:
    """The file ``relative`` as the server states it on its own (``info``: HEAD, MLST, STAT);
    None if it is not there, is no file, or the server cannot be asked."""
    try:
        entry = remote.info(ListedPath(posixpath.join(remote_path, relative)))
    except (RemoteNotFound, UnsupportedOperation):
        return None
    return entry if entry.type == "file" else None


@dataclass
class _Confirmed:
    """What the server said of the local files a download would delete (:func:`_confirm_deletions`)."""

    #: Files the server has, though its listing did not show them: compared as listed.
    files: dict[str, Entry] = field(default_factory=dict)
    #: Names where the server has something else (a folder), or under a folder it has that its
    #: listing did not show: kept, as names the source has but does not copy.
    other: list[str] = field(default_factory=list)
    #: Names the server would not say of (a refusal, an error): kept.
    silent: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.files or self.other or self.silent)


def _confirm_deletions(
    remote: Adapter, remote_path: str, plan: Plan, remote_folders: Collection[str], asked: Collection[str],
) -> _Confirmed:
    """Ask the server about each local file ``plan`` deletes in a download: one goes only if the
    server says it is not there (or cannot be asked at all: then its listing's word stands).

    A listing is the server's account of a folder, not proof: ProFTPD's ``ListOptions maxfiles``
    cuts one without a word, its ``HideFiles`` and vsftpd's ``hide_file`` leave names out,
    Apache's ``IndexIgnore`` hides ``README*`` from index pages, OpenSSH's sftp-server drops an
    entry it cannot ``lstat`` (review of 8ce053a).  Each of those made ``sync --delete`` down
    delete local copies of files the server has (and left them stale).  One look per file (HTTP
    ``HEAD``, pipelined: :meth:`Adapter.info_each`; FTP ``MLST`` or ``SIZE``/``MDTM``, SFTP
    ``STAT``, WebDAV ``PROPFIND``), one per folder the listing did not show at all; ``asked``:
    files already asked about (:func:`_look_up_hidden`).  A failure that is no one name's (the
    connection) keeps every file asked about, said, and the sync goes on.
    """
    asking = {action.path: _first_unlisted_folder(action.path, remote_folders) or action.path
              for action in plan.deletes if action.path not in asked}
    names = list(dict.fromkeys(asking.values()))
    confirmed = _Confirmed()
    said = _server_says(remote, remote_path, names)
    verdicts = {name: _verdict(answer) for name, answer in said.items()}
    # "Cannot be asked" only where every look sent was refused as a method: one script answering
    # its HEAD 405 among other answers is no such server, and its neighbours keep their own
    # (review of fe5f526, finding 2).  A name that could not be sent (not UTF-8) is no answer.
    sent = [verdicts[name] for name in names if not isinstance(said[name], UsageError)]
    unasked = bool(sent) and all(verdict == "unasked" for verdict in sent)
    for relative, name in asking.items():
        verdict = verdicts[name]
        answer = said[name]
        if verdict == "absent" or (verdict == "unasked" and unasked):
            continue
        if verdict == "has" and isinstance(answer, Entry):
            if name == relative and answer.type == "file":
                confirmed.files[relative] = answer
            else:
                confirmed.other.append(relative)
        else:
            confirmed.silent.append(relative)
    _warn_kept(sorted(confirmed.files), "the server has it, though its listing did not show it; it is compared "
               "as listed")
    _warn_kept(confirmed.other, "the server has something there (or its folder), though its listing did not show it")
    _warn_unanswered(confirmed.silent)
    return confirmed


def _server_says(remote: Adapter, remote_path: str, names: Sequence[str]) -> dict[str, Entry | XferError]:
    """What the server says of each of ``names`` (under ``remote_path``) asked about alone
    (:meth:`Adapter.info_each`): its entry, or the error that is that name's.  A failure that is
    no one name's (the connection) is every name's, said once: each is kept, and the sync goes on."""
    if not names:
        return {}
    try:
        answers = remote.info_each([ListedPath(posixpath.join(remote_path, name)) for name in names])
    except Interrupted:
        raise
    except XferError as failure:
        _log.warning("sync: the server could not be asked about %d local files (%s); they are kept",
                     len(names), failure.message)
        return dict.fromkeys(names, failure)
    return dict(zip(names, answers, strict=True))


def _first_unlisted_folder(relative: str, remote_folders: Collection[str]) -> str | None:
    """The outermost folder of ``relative`` the listing did not show (None: all were shown)."""
    parts = relative.split("/")[:-1]
    for depth in range(len(parts)):
        folder = "/".join(parts[: depth + 1])
        if folder not in remote_folders:
            return folder
    return None


#: What a server says of a name its listing did not show: it has something there (a file, a
#: folder: either is reason to keep the local copy), nothing is there, it would not say (a
#: refusal of this name, or "not there" only in a listing's word), or it cannot be asked at all
#: (HTTP ``HEAD`` answered ``405``/``501``).
_Answer = Literal["has", "absent", "silent", "unasked"]


def _verdict(said: Entry | XferError) -> _Answer:
    """What the server's answer about one name (:meth:`Adapter.info_each`) says (:data:`_Answer`)."""
    if isinstance(said, Entry):
        return "has"
    if isinstance(said, RemoteNotFound):
        # HTTPS: a HEAD that did not say fell back to the listing, whose word is what is in
        # question: a refusal of this name (403) is no answer.  A HEAD refused as a method (405,
        # 501) may be refused for every name (see _confirm_deletions).  FTP's "not there" counts
        # only where MLST, SIZE or MDTM said so in words (RemoteNotFound.stated).
        if said.status in (405, 501):
            return "unasked"
        return "absent" if said.stated and said.status in (None, 404, 410) else "silent"
    return "silent"  # refused, unsupported, an error, or a local name no URL can carry


#: Local files kept by name in warnings (see :func:`_warn_unanswered`); the rest are counted.
_NAMED_KEPT = 10


def _warn_unanswered(unanswered: Sequence[str]) -> None:
    """Say which local files ``sync --delete`` keeps because the server would not say whether it
    has them (see :func:`_warn_kept`)."""
    _warn_kept(unanswered, "the server's listing does not show it, and the server would not say whether it has it")


def _warn_kept(paths: Sequence[str], why: str) -> None:
    """Say which local files ``sync --delete`` keeps, and ``why``: each by name up to
    :data:`_NAMED_KEPT`, then their number (a local ``.git/`` over FTP ``LIST`` is thousands of
    them; ``--json`` lists every one under ``kept``)."""
    for relative in paths[:_NAMED_KEPT]:
        shown = ascii(relative) if _UNDECODABLE.search(relative) else relative
        _log.warning("sync: %s is not deleted: %s", shown, why)
    if len(paths) > _NAMED_KEPT:
        _log.warning("sync: %d more local files are not deleted for the same reason (--json lists them under kept)",
                     len(paths) - _NAMED_KEPT)


def _remote_state(relative: str, entry: Entry) -> FileState:
    modified = entry.modified
    return FileState(
        relative, entry.size, modified.timestamp() if modified else None, listed_precision(entry),
        remote_digest(entry), entry.modified_zone_known, entry.modified_spread,
    )


def check_removable(remote: Adapter) -> None:
    """Before a download that removes its sources: the server must be able to remove them."""
    if Capability.RM not in remote.capabilities:
        label = remote.label or f"{remote.settings.scheme}://"
        raise UnsupportedOperation(f"{label} cannot remove files: --remove-source-files would only copy")


def _check_remote(remote: Adapter, upload: bool) -> None:
    needed = {Capability.LS, Capability.PUT if upload else Capability.GET}
    missing = needed - remote.capabilities
    if missing:
        label = remote.label or f"{remote.settings.scheme}://"
        what = " and ".join(sorted(c.verb for c in missing))
        raise UnsupportedOperation(
            f"{label} cannot be synced: it does not support {what}",
            hint="sync needs a server that can list folders; use put for a send-only protocol such as AS2"
            if Capability.LS in missing else None,
        )


def sync(
    remote: Adapter,
    remote_path: str,
    local: str | os.PathLike[str],
    *,
    upload: bool,
    compare: Compare | None = None,
    filters: Filters | None = None,
    delete: bool = False,
    max_delete: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    remove_source: bool = False,
    parallel: int = 1,
    callbacks: CallbackFactory | None = None,
    reconnect: Callable[[], Adapter] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> SyncResult:
    """Make ``remote_path`` like ``local`` (``upload=True``) or ``local`` like ``remote_path``.

    Both sides are listed and compared (:func:`plan_sync`); ``dry_run`` stops there.  The
    transfers run over up to ``parallel`` connections; ``delete`` then removes the
    destination files the source does not have, only if every transfer succeeded and
    within :func:`check_deletions`' limits (checked before anything moves).
    ``remove_source`` removes each source file once its copy is verified (the
    destination's size equals the source's, and the source did not change meanwhile).

    A failure of a transfer or deletion does not raise: it is ``SyncResult.error``
    (the counts say what was done before it); :meth:`SyncResult.raise_for_error`.  So is an
    interruption while files move (Ctrl-C, SIGTERM in the ``xfer`` process): the error is
    :class:`~xfer.errors.Interrupted`, and the result still says which sources were removed.
    Usage errors (limits, a wrong folder) and listing failures raise.
    """
    started = time.monotonic()
    _check_remote(remote, upload)
    if remove_source and not upload:
        check_removable(remote)
    folder = Path(local)
    with local_errors(folder, "reading"):
        local_exists, local_is_dir = folder.exists(), folder.is_dir()
    if local_exists and not local_is_dir:
        raise UsageError(f"{folder} is a file; sync works on folders", hint="use put or get for one file")
    if upload and not local_exists:
        raise LocalFileNotFound(f"{folder} does not exist", path=str(folder))
    local_states: dict[str, FileState] = {}
    local_paths: dict[str, Path] = {}
    local_passed_over: list[str] = []
    if local_exists:
        # A download writes any name the listing gave; an upload to a server addressed by URLs
        # cannot send a name that is not UTF-8.
        for relative, path, info in _local_files(folder, local_passed_over, utf8_only=upload and remote.paths_in_urls):
            local_states[relative] = FileState(relative, info.st_size, info.st_mtime)
            local_paths[relative] = path
    # Looked at first: a destination folder that is not there yet is an empty one (servers
    # answer a listing of a missing folder in many ways: 550, 501, an empty listing), and a
    # file would list as itself.
    try:
        top: Entry | None = remote.info(remote_path)
    except RemoteNotFound:
        if not upload:
            raise
        top = None
    if top is not None and not top.is_dir:
        raise UsageError(f"{remote_path} is a file; sync works on folders", hint="use put or get for one file")
    if top is None:
        # Nothing to list yet: prove listing works (on the parent) before sending anything, or
        # a server whose listing is off (HTTPS index = "none") would take this run and refuse the next.
        with contextlib.suppress(RemoteError):
            remote.ls(posixpath.dirname(remote_path.rstrip("/")) or "/")
    remote_passed_over: list[str] = []
    unanswered: list[str] = []  # local files under names the listing hides that the server would not say of
    looked_up: set[str] = set()  # local files the server was asked about already
    remote_states, remote_folders = (_remote_files(remote, remote_path, max_depth, remote_passed_over, upload=upload)
                                     if top is not None else ({}, set()))
    if top is not None:
        _look_up_unsized(remote, remote_path, remote_states, local_states, compare or Compare())
        if upload or delete:
            # Up: a source file the listing hides is not new.  Down with --delete: a local file the
            # listing hides is not "not in source" (review S, finding 3).
            looked_up = _look_up_hidden(remote, remote_path, local_states, remote_states, remote_folders,
                                        filters or Filters(), unanswered, None if upload else remote_passed_over)
            if upload:
                unanswered.clear()  # (up, such a file is sent: its PUT says what the server thinks)
            _warn_unanswered(unanswered)
    if upload:
        # Even where the server announces it can set times, an account may be refused it
        # (MFMT answered 550): a copy newer than the source, same size, counts as sent.
        compare = replace(compare or Compare(), newer_is_unchanged=True)
        source, destination = local_states, remote_states
    else:
        source, destination = remote_states, local_states

    asked: dict[str, tuple[str, str] | None] = {}

    def stated(state: FileState) -> tuple[str, str] | None:
        """The remote file's hash: its listing's, else the server's answer (asked once per file)."""
        if local_states.get(state.path) is state:
            return None  # a local file is hashed in the algorithm the server answers in
        if state.digest is not None:
            return state.digest
        if state.path not in asked:
            answer = remote.checksum(ListedPath(posixpath.join(remote_path, state.path)), size=state.size)
            asked[state.path] = (answer.algorithm, answer.value) if answer is not None else None
        return asked[state.path]

    hashed: dict[tuple[str, str], str | None] = {}  # (a re-plan after the looks would hash each file again)

    def digest(state: FileState, algorithm: str) -> str | None:
        theirs = stated(state)
        if theirs is not None:
            return theirs[1] if theirs[0] == algorithm else None
        if state.path not in local_paths:
            return None
        if (state.path, algorithm) not in hashed:
            hashed[(state.path, algorithm)] = _local_digest(local_paths[state.path], algorithm)
        return hashed[(state.path, algorithm)]

    plan = plan_sync(source, destination, compare=compare, filters=filters, delete=delete, digest=digest,
                     stated=stated, passed_over=local_passed_over if upload else remote_passed_over,
                     not_followed=remote_passed_over if upload else local_passed_over, unanswered=unanswered)
    confirmed = _Confirmed()
    if delete and not upload and top is not None and plan.deletes and _within_limits(plan, max_delete, force):
        # Asked only of a plan the guards let through (a wrong source folder would otherwise
        # have every file looked up first); what the server has is then planned as listed.
        confirmed = _confirm_deletions(remote, remote_path, plan, remote_folders, looked_up)
        if confirmed:
            remote_states.update({path: _remote_state(path, entry) for path, entry in confirmed.files.items()})
            plan = plan_sync(source, destination, compare=compare, filters=filters, delete=delete, digest=digest,
                             stated=stated, passed_over=[*remote_passed_over, *confirmed.other],
                             not_followed=local_passed_over, unanswered=[*unanswered, *confirmed.silent])
    if upload and remove_source:
        plan = _sending_newer_copies(plan)
    _refuse_type_clashes(plan, remote_folders if upload else _local_folders(folder, plan), upload=upload)
    shown_remote = remote_path
    # Files only a look found (hidden dot names too: review of 6100fe2, finding 2) stay on the server.
    unlisted = frozenset() if upload else frozenset(path for path in [*looked_up, *confirmed.files]
                                                    if path in remote_states)
    twins = name_twins(local_states if upload else remote_states) if remove_source else {}
    result = SyncResult(
        direction="put" if upload else "get",
        source=str(folder) if upload else shown_remote,
        destination=shown_remote if upload else str(folder),
        plan=plan, dry_run=dry_run, remove_source=remove_source, sources_kept=unlisted | frozenset(twins),
    )
    if delete:
        try:
            check_deletions(plan, max_delete=max_delete, force=force, dry_run=dry_run)
        except UsageError as refused:
            if not dry_run:
                raise
            # The plan a guard refuses is the one most worth seeing before adding --force: a dry
            # run shows it, with the refusal as its error (and exit code), as the run would end
            # (review A: the hint sent users to --dry-run, which refused to show it).
            result.error = refused
    if dry_run:
        result.elapsed = time.monotonic() - started
        return result
    runner = _Runner(remote, remote_path, folder, upload, result, local_states, remote_states, remove_source,
                     unlisted=unlisted)
    try:
        runner.prepare_folders(remote_folders)
        run_tasks(remote, runner.tasks(), callbacks=callbacks, parallel=parallel, reconnect=reconnect)
        runner.raise_kept()
        if remove_source:
            runner.remove_skipped_sources()
            runner.raise_kept()
        if delete:
            runner.delete()
    except XferError as exc:
        result.error = exc
    except KeyboardInterrupt:
        # What moved before it (and whose source went) must still be said: a cron job killed
        # with SIGTERM otherwise leaves no record of sources it removed.
        result.error = Interrupted("interrupted while files were moving; what moved before is listed")
    result.elapsed = time.monotonic() - started
    return result


def _local_folders(folder: Path, plan: Plan) -> set[str]:
    """Local folders where a download would put a file (only those matter for a clash)."""
    return {a.path for a in plan.transfers if (folder / a.path).is_dir()}


def _refuse_type_clashes(plan: Plan, folders: set[str], *, upload: bool) -> None:
    """A file of the source whose name is a folder in the destination stops the sync before
    anything moves.  What is in the way is a file system's state, not the command line: the
    error is the one ``put -r`` / ``get -r`` give for it (exit 6 on the server, 1 locally), not a
    usage error a script would blame on its own invocation."""
    for action in plan.transfers:
        if action.path in folders:
            message = (f"sync: {action.path} is a file in the source and a folder in the destination; "
                       "nothing was changed")
            hint = "rename or remove one of them"
            raise RemoteIsFolder(message, hint=hint) if upload else LocalError(message, hint=hint)


class _Runner:
    """The transfers, source removals and deletions of one sync (the plan already made)."""

    def __init__(
        self,
        remote: Adapter,
        remote_path: str,
        local: Path,
        upload: bool,
        result: SyncResult,
        local_states: dict[str, FileState],
        remote_states: dict[str, FileState],
        remove_source: bool,
        *,
        unlisted: frozenset[str] = frozenset(),
    ) -> None:
        self.remote = remote
        self.remote_path = remote_path
        self.local = local
        self.upload = upload
        self.result = result
        self.local_states = local_states
        self.remote_states = remote_states
        self.remove_source = remove_source
        #: Remote files the listing did not show that a look found (:func:`_look_up_hidden`, for dot
        #: names and names with control characters; :func:`_confirm_deletions`): never removed.
        self.unlisted = unlisted
        self.lock = threading.Lock()
        #: Downloaded files (relative path, size) whose remote sources their group's ``finish``
        #: removes together, by the connection (its adapter) they came over.
        self.to_remove: dict[Adapter, list[tuple[str, int, SourceVersion | None]]] = {}
        #: Sources whose names differ only in case or Unicode form, each with one such other
        #: (:func:`name_twins`): see :meth:`_one_local_file` and :meth:`_remove_uploaded`.
        self.twins = name_twins(local_states if upload else remote_states) if remove_source else {}
        #: Downloaded files whose sources a group's ``finish`` kept for a reason of their own (the
        #: server refused that removal): the batch goes on, and the sync ends with them as its error.
        self.kept_sources: list[XferError] = []

    def raise_kept(self) -> None:
        """The sources kept so far for reasons of their own, as the sync's error (nothing is deleted
        after it); nothing if none was."""
        if self.kept_sources:
            raise FilesFailed.of(self.kept_sources, self.result.results)

    def remote_of(self, relative: str) -> ListedPath:
        return ListedPath(posixpath.join(self.remote_path, relative))

    def prepare_folders(self, existing: set[str]) -> None:
        parents = sorted({posixpath.dirname(a.path) for a in self.result.plan.transfers})
        if not self.upload:
            make_local_folders([self.local / p for p in parents] or [self.local])
            return
        if Capability.MKDIR not in self.remote.capabilities:
            return  # HTTPS: a PUT creates the folders it needs
        made = set(existing)
        for parent in ["", *parents]:
            if parent not in made:
                self.remote.mkdir(self.remote_of(parent) if parent else self.remote_path, parents=True)
                made.update(_ancestors(parent))

    def tasks(self) -> LazyTasks[Action]:
        return LazyTasks(self.result.plan.transfers, self._task)

    def _task(self, action: Action) -> Task:
        relative = action.path
        local = self.local / relative
        remote = self.remote_of(relative)

        def run(adapter: Adapter, callback: ProgressCallback | None) -> TransferResult:
            with self._failing(relative):
                outcome = (adapter.put_file(local, remote, callback=callback, preserve_times=True) if self.upload
                           else adapter.get_file(remote, local, callback=callback))
            return settle(adapter, outcome)

        def settle(adapter: Adapter, outcome: TransferResult) -> TransferResult:
            """What follows the transfer, alone or together with others (the batch calls it then)."""
            with self._failing(relative):
                if self.upload:
                    if outcome.modified is None:  # (SFTP gave it the time with the upload: no request of its own)
                        self._stamp_remote(adapter, remote, self.local_states[relative])
                else:
                    self._stamp_local(local, self.remote_states[relative])
            with self.lock:
                self.result.done[relative] = outcome
                if self.remove_source and not self.upload:  # (removed with the group's others: finish)
                    self.to_remove.setdefault(adapter, []).append((relative, outcome.size, outcome.source_version))
            if self.remove_source and self.upload:
                with self._failing(relative):  # (its source kept: the file's failure, counted as one)
                    self._remove_uploaded(adapter, relative, outcome.size, outcome)
            return outcome

        # Small files go together where the adapter can (issue 14), as for put -r and get -r.
        return Task(str(local), remote, action.size, run, upload=self.upload, download=not self.upload,
                    preserve_times=self.upload, after=settle,
                    finish=self.remove_queued if self.remove_source and not self.upload else None)

    def remove_queued(self, adapter: Adapter) -> None:
        """The remote sources of the files downloaded over ``adapter`` since its last call, at once
        (:func:`remove_downloaded_together`); the first failure raised once all were asked about."""
        with self.lock:
            due = self.to_remove.pop(adapter, [])
        self._remove_downloaded(adapter, due)

    def _remove_downloaded(self, adapter: Adapter, due: list[tuple[str, int, SourceVersion | None]]) -> None:
        """Remove the remote sources of ``due`` (relative path, size, the version downloaded; None for
        a file not downloaded now) at once, each proven on its own; record those removed, then raise
        the first failure.  A file only a look found (:attr:`unlisted`) stays: a move takes what
        the listing shows, with --delete or without (review of 15ffd9e, finding 6)."""
        due = [one for one in due if one[0] not in self.unlisted]
        if not due:
            return
        twinned = {place: self._one_local_file(relative) for place, (relative, _, _) in enumerate(due)}
        asked = [place for place, twin in twinned.items() if twin is None]
        answers = remove_downloaded_together(adapter, [
            (self.remote_of(due[place][0]), self.local / due[place][0], due[place][1],
             self.remote_states[due[place][0]].size, due[place][2])
            for place in asked
        ], within=self.local)
        failures: list[XferError | None] = [
            None if twin is None else twin_kept(str(self.remote_of(due[place][0])), twin,
                                                on=f"the local disk ({self.local / due[place][0]})")
            for place, twin in twinned.items()
        ]
        for place, answer in zip(asked, answers, strict=True):
            failures[place] = answer
        with self.lock:
            for (relative, _, _), failure in zip(due, failures, strict=True):
                if failure is None:
                    self.result.sources_removed.append(relative)
                elif own_failure(failure):  # that source alone is kept, as a file refused alone fails alone
                    self.result.failed.append(relative)
                    self.kept_sources.append(failure)
                if relative in self.result.done:  # (not a skipped file's: it moved nothing)
                    self.result.done[relative].source_removed = failure is None
        stop = next((failure for failure in failures if failure is not None and not own_failure(failure)), None)
        if stop is not None:
            raise stop

    def _one_local_file(self, relative: str) -> str | None:
        """The remote twin of ``relative`` (a name that differs only in case or Unicode form) that is
        the same local file as its copy, if any: on a case-insensitive disk ``A.txt`` and ``a.txt``
        are one file (on macOS also ``café`` composed and decomposed), and whichever downloads last
        overwrites the other, in this group or a later one.
        Neither source goes.  (On a case-sensitive disk the twin's name is another file, or none
        yet: nothing is kept.)"""
        twin = self.twins.get(relative)
        if twin is not None:
            with contextlib.suppress(OSError):
                if os.path.samefile(self.local / relative, self.local / twin):
                    return str(self.remote_of(twin))
        return None

    @contextlib.contextmanager
    def _failing(self, relative: str) -> Iterator[None]:
        """A failure inside is ``relative``'s: recorded (the summary names it), then raised."""
        try:
            yield
        except (Interrupted, KeyboardInterrupt):
            raise  # stopped because another transfer failed (or Ctrl-C): not a failure of its own
        except BaseException:
            with self.lock:
                self.result.failed.append(relative)
            raise

    @staticmethod
    def _stamp_remote(adapter: Adapter, remote: str, state: FileState) -> None:
        if state.modified is None:
            return
        try:
            # keeps_modified may ask the server (FTP SITE HELP), and so fail like set_modified.
            if adapter.keeps_modified:
                adapter.set_modified(remote, dt.datetime.fromtimestamp(state.modified, dt.timezone.utc))
        except Interrupted:
            raise
        except UnsupportedOperation as exc:
            # The server cannot keep times (found out on this file): nothing to warn about, the
            # comparison takes a newer server copy of the same size as unchanged.
            _log.debug("could not set the time of %s: %s", remote, exc.message)
        except XferError as exc:
            # The file is there, whole and verified: only the next run's comparison suffers.  A
            # dropped connection is opened again by the next operation.
            _log.warning("could not set the time of %s: %s", remote, exc.message)

    @staticmethod
    def _stamp_local(local: Path, state: FileState) -> None:
        if state.modified is not None:
            stamp = state.modified  # the listed time's timestamp()
            with local_errors(local, "writing"):
                os.utime(local, (stamp, stamp))

    def _remove_uploaded(self, adapter: Adapter, relative: str, size: int, outcome: TransferResult | None) -> None:
        """Remove the local source of ``relative`` once its copy is proven (see :func:`remove_uploaded`)."""
        state = self.local_states[relative]
        try:
            if relative in self.twins:
                raise twin_kept(str(self.local / relative), str(self.local / self.twins[relative]),
                                on="a case-insensitive server")
            remove_uploaded(adapter, self.local / relative, self.remote_of(relative), size, outcome,
                            before=(state.size, state.modified))
        except BaseException:
            if outcome is not None:
                outcome.source_removed = False
            raise
        with self.lock:
            self.result.sources_removed.append(relative)
        if outcome is not None:
            outcome.source_removed = True

    def remove_skipped_sources(self) -> None:
        """Files already at the destination (skipped as unchanged) leave the source too, as ``rclone move``;
        remote sources all at once, each proven on its own.  A source kept for a reason of its own is
        recorded (:meth:`raise_kept` says so after); any other failure is raised."""
        skipped = [action for action in self.result.plan.skips if action.size is not None]
        if self.upload:
            for action in skipped:
                try:
                    self._remove_uploaded(self.remote, action.path, action.size or 0, None)
                except XferError as exc:
                    if not own_failure(exc):
                        raise
                    with self.lock:  # that source alone is kept, as in the download direction
                        self.result.failed.append(action.path)
                        self.kept_sources.append(exc)
            return
        # (Not downloaded now: no version to hold them to, only the size.)
        self._remove_downloaded(self.remote, [(action.path, action.size or 0, None) for action in skipped])

    def delete(self) -> None:
        for action in self.result.plan.deletes:
            try:
                if self.upload:
                    self.remote.rm(self.remote_of(action.path))
                else:
                    path = self.local / action.path
                    with local_errors(path, "removing"):
                        path.unlink()
            except XferError:
                self.result.failed.append(action.path)
                raise
            self.result.deleted.append(action.path)


def remove_uploaded(
    adapter: Adapter,
    local: Path,
    remote: str,
    size: int,
    outcome: TransferResult | None,
    *,
    before: tuple[int | None, float | None],
) -> None:
    """Remove ``local`` after its upload to ``remote``: only if the server holds ``size`` bytes
    (the upload's own check, else a look) and the local file is as it was (``before``: size,
    time) when the upload started.  Otherwise :class:`IntegrityError`, and the file stays."""
    with local_errors(local, "reading"):
        now = local.stat()
    if (now.st_size, now.st_mtime) != before or now.st_size != size:
        raise source_kept(str(local), "it changed during the transfer")
    if outcome is None or outcome.size_verified is not True:
        stored = adapter.info(remote).size
        if stored != size:
            raise source_kept(str(local), f"the server holds {stored} bytes of it, not {size}")
    with local_errors(local, "removing"):
        local.unlink()


def remove_downloaded_together(
    adapter: Adapter,
    files: Sequence[tuple[str, Path, int, int | None] | tuple[str, Path, int, int | None, SourceVersion | None]],
    *, within: Path | None = None,
) -> list[XferError | None]:
    """Remove each ``remote`` after its download to ``local``: only if the server still shows the size
    it had when listed (``listed``; None: not listed), that is the size written, and it is still the
    ``version`` the download got (its ETag or modification time; absent or None: the size is all
    there is).  The local copies
    are looked at first, then their folders are made durable (those above ``within``, the
    destination that was there before, are not asked), then the server is asked about all the
    others at once (:meth:`Adapter.remove_sources`).  Per file None (removed) or what kept it."""
    failures: list[XferError | None] = [None] * len(files)
    checked: list[int] = []
    copies: dict[tuple[int, int], list[int]] = {}
    for place, (remote, local, size, listed, *_) in enumerate(files):
        try:
            with local_errors(local, "reading"):
                copy = local.lstat()  # the download's own file, never what a link there points at
        except LocalError as exc:  # (moved on already, say): this file's source stays, not the others'
            failures[place] = source_kept(remote, exc.message)
            continue
        if not stat.S_ISREG(copy.st_mode):
            failures[place] = source_kept(remote, f"{local} is not the regular file the download wrote")
            continue
        if copy.st_ino:  # (0: a file system whose numbers identify nothing)
            copies.setdefault((copy.st_dev, copy.st_ino), []).append(place)
        if copy.st_size != size:
            failures[place] = source_kept(remote, f"the copy holds {copy.st_size} bytes, the download wrote {size}")
        elif listed is not None and listed != size:
            failures[place] = source_kept(remote, f"the server listed {listed} bytes, the download got {size}")
        else:
            checked.append(place)
    for sharing in (places for places in copies.values() if len(places) > 1):
        # Two remote names, one local file (``A.txt`` and ``a.txt`` on a case-insensitive disk):
        # only the last download is there, and which one that was is not known here.
        for place in sharing:  # (one kept for its size too: what it wrote may be what the disk holds)
            failures[place] = source_kept(files[place][0], f"{len(sharing)} downloads landed in one local "
                                          f"file, {files[place][1]} (a case-insensitive disk?)")
    checked = [place for place in checked if failures[place] is None]
    unsaved = _made_durable({files[place][1].parent for place in checked}, within)
    for place in checked:
        if files[place][1].parent in unsaved:
            failures[place] = source_kept(files[place][0], unsaved[files[place][1].parent].message)
    asked = [place for place in checked if failures[place] is None]
    answers = adapter.remove_sources([Source(files[place][0], files[place][2], _version(files[place]))
                                      for place in asked]) if asked else []
    for place, answer in zip(asked, answers, strict=True):
        failures[place] = answer
    return failures


def _version(
    file: tuple[str, Path, int, int | None] | tuple[str, Path, int, int | None, SourceVersion | None],
) -> SourceVersion | None:
    """The version a download got, where :func:`remove_downloaded_together` was told it."""
    return file[4] if len(file) == 5 else None


def _made_durable(folders: set[Path], within: Path | None = None) -> dict[Path, LocalError]:
    """fsync each folder, so that after a crash its new names are still there: a source is removed
    only once its copy's name is on the disk, not just in the page cache (the file's own data was
    fsynced before its rename).  Returns the folders that could not be, with why.  A file system
    that cannot fsync a folder (EINVAL: some FUSE and network mounts; Windows opens no folders)
    gives what it can: the rename, as rsync and mv rely on.

    The folders above them too, up to ``within`` (all the way up without it), as far as they can be
    (a folder the download made is a new name in its parent): those are asked once each and their
    failures ignored, since most of them existed long before and one that cannot be opened (no read
    permission) says nothing of the copy.
    """
    failed: dict[Path, LocalError] = {}
    if os.name == "nt":
        return failed
    for folder in folders:
        try:
            _fsync_folder(folder)
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.ENOTSUP):
                failed[folder] = local_error(error, folder, "writing")
    top = within.absolute() if within is not None else None
    above = {parent for folder in folders for parent in folder.absolute().parents
             if top is None or parent == top or top in parent.parents} - folders
    for folder in above:
        with contextlib.suppress(OSError):
            _fsync_folder(folder)
    return failed


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def twin_kept(source: str, twin: str, *, on: str) -> IntegrityError:
    """A source kept because ``twin``'s name differs from its only in case, Unicode form or trailing
    dots and spaces, and ``on`` (a case-insensitive disk or server) holds the two as one file: no size
    check can tell."""
    # Quoted: two names alike but for a trailing space read as one name unquoted (review F).
    kept = source_kept(f"'{source}'", f"'{twin}' differs from it only in case, form or trailing dots or spaces, "
                                      f"and {on} holds both in one file")
    return kept.copy_with(hint="move them one at a time, or rename one")


def _folded(relative: str, *, replaced: bool = False) -> str:
    """A name as a case- and form-insensitive disk sees it: two names alike here may be one file.
    Each name of the path without its trailing dots and spaces: Win32 paths drop them (IIS, any
    server on NTFS through them), so ``report.`` is stored as ``report`` (review S, finding 1).

    ``replaced``: also as a server that stores names as Unicode keeps a name that is not UTF-8,
    each such byte (a lone surrogate here) U+FFFD: pyftpdlib lists a local ``bad\xff.txt`` just
    uploaded as ``bad\ufffd.txt``, and ``sync --delete`` deleted it as "not in source" on every
    other run (review J, finding 5).  Only for a source name against the destination's: two
    source names that differ in such bytes (Latin-1 ``caf\xe9``, ``caf\xe8``) are two files
    (review O, finding 6)."""
    folded = "/".join(name.rstrip(". ") or name for name in unicodedata.normalize("NFC", relative).split("/"))
    return (_UNDECODABLE.sub("\ufffd", folded) if replaced else folded).casefold()


#: A byte that was not UTF-8, as ``surrogateescape`` holds it.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def name_twins(names: Iterable[str]) -> dict[str, str]:
    """Each name that differs from another only in case, Unicode form or trailing dots and spaces
    (:func:`_folded`), with one such other: on a case-insensitive disk or server (Windows, macOS)
    the two are one file.  Uploading both with ``--remove-source-files`` would remove both
    sources while the server keeps one of them."""
    by_fold: dict[str, list[str]] = {}
    for name in names:
        by_fold.setdefault(_folded(name), []).append(name)
    return {name: next(other for other in alike if other != name)
            for alike in by_fold.values() if len(set(alike)) > 1 for name in alike}


def _ancestors(relative: str) -> set[str]:
    parts = relative.split("/") if relative else []
    return {"", *("/".join(parts[:n]) for n in range(1, len(parts) + 1))}

