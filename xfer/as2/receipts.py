"""The AS2 receipt store: one JSON record per message, under the user data folder.

Every send leaves a record, on success and on failure, so a user (or a script) can always
answer "did the partner get invoice 4711, and can I prove it?"::

    store = ReceiptStore()                       # $XFER_DATA_DIR/as2/receipts or the platform's
    store.save(receipt)                          # atomic; 0600 file in a 0700 folder
    store.load("<xfer-...@host>")                # -> Receipt (UsageError if unknown)
    store.list()                                 # newest first

A record holds the message id, partner, local file, size, SHA-256 of the payload, the MIC we
computed (value + algorithm), the raw MDN (base64) and its disposition, a ``status`` and
timestamps.  ``status`` is a small state machine designed so that asynchronous MDNs and
receiving can be added without a new format (``direction`` is ``"out"`` today; an async MDN
arriving later moves ``sent`` → ``confirmed`` by Message-ID, which is the file name):

==================  =============================================================
``sending``         written before the POST: a crash leaves evidence
``not-delivered``   transport failure before the end of the message, or HTTP 4xx: safe to
                    resend with the same id
``delivery-unknown`` the whole message was sent but no receipt came (timeout, connection
                    cut, HTTP 5xx): the partner may have it; a resend with the same id is safe
``sent``            the partner answered 2xx; no receipt asked (or not yet)
``confirmed``       a receipt says ``processed`` (``warning`` may be set)
``rejected``        a receipt says ``processed/error`` or ``failed``
``unverified``      a receipt arrived but cannot be trusted (signature, MIC, id)
==================  =============================================================
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import LocalError, UsageError

__all__ = [
    "DELIVERED",
    "RESENDABLE",
    "Receipt",
    "ReceiptStatus",
    "ReceiptStore",
    "data_dir",
    "utc_now",
]

ReceiptStatus = Literal[
    "sending", "not-delivered", "delivery-unknown", "sent", "confirmed", "rejected", "unverified"
]

#: Statuses after which a resend with the same Message-ID is the normal next step.
RESENDABLE: frozenset[str] = frozenset({"sending", "not-delivered", "delivery-unknown", "unverified"})
#: Statuses that mean the partner has the message (a resend would be a duplicate).
DELIVERED: frozenset[str] = frozenset({"sent", "confirmed"})

_FORMAT = 1  # bumped if a field changes meaning; readers ignore unknown fields
_SAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def utc_now() -> str:
    """An ISO 8601 UTC timestamp with seconds, as stored in receipts."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def data_dir() -> Path:
    """xfer's data folder: ``$XFER_DATA_DIR`` or platformdirs' ``user_data_dir("xfer")``."""
    env = os.environ.get("XFER_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("xfer", appauthor=False))


@dataclass
class Receipt:
    """One AS2 message and what became of it.  ``to_dict``/``from_dict`` are the JSON form."""

    message_id: str  # with angle brackets, exactly as sent
    status: ReceiptStatus
    file: str  # absolute local path of the payload
    filename: str  # the name sent in Content-Disposition
    size: int
    url: str
    as2_from: str
    as2_to: str
    profile: str | None = None
    direction: Literal["out", "in"] = "out"
    sha256: str | None = None  # of the payload, so a resend can prove it sends the same content
    content_type: str | None = None
    sign: str | None = None  # digest name or None
    encrypt: str | None = None  # cipher name or None
    compress: bool = False
    mdn_mode: str = "none"  # none, unsigned-sync, signed-sync (async later)
    mic: str | None = None
    mic_algorithm: str | None = None
    mic_matched: bool | None = None
    disposition: str | None = None  # the MDN's whole Disposition field
    mdn_status: str | None = None  # processed, warning, error, failed
    detail: str | None = None  # e.g. authentication-failed, duplicate-document
    warning: str | None = None
    mdn_signed: bool | None = None
    mdn_message_id: str | None = None
    mdn_text: str | None = None
    mdn_raw: str | None = None  # base64 of the MDN body exactly as received
    mdn_content_type: str | None = None
    http_status: int | None = None
    error: str | None = None  # the error message when status is not sent/confirmed
    attempts: int = 0
    created: str = field(default_factory=utc_now)
    updated: str = field(default_factory=utc_now)
    confirmed: str | None = None  # when a receipt last confirmed this content (kept across its resends)
    history: list[dict[str, str]] = field(default_factory=list)  # {"at", "status", "note"}

    def move(self, status: ReceiptStatus, note: str | None = None) -> None:
        """Change ``status``, stamp ``updated`` and append to ``history``."""
        self.status = status
        self.updated = utc_now()
        if status == "confirmed":
            self.confirmed = self.updated
        entry = {"at": self.updated, "status": status}
        if note:
            entry["note"] = note
        self.history.append(entry)

    def require_undelivered(self) -> None:
        """Refuse a resend (without ``--force``) of a message the partner has: it would be a duplicate."""
        if self.status in DELIVERED:
            raise UsageError(
                f"message {self.message_id} is already {self.summary}; a resend would be a duplicate",
                hint="use --force to send it again anyway, or `xfer as2 send FILE PROFILE` for a new message",
            )

    def require_content(self, sha256: str, path: str) -> None:
        """Refuse to resend this message with content other than what it was built from.

        The partner answers a repeated Message-ID with "duplicate-document" without processing
        the copy: other content under this id would be dropped by the partner while its receipt
        looked like a confirmation, and the record of what was delivered would be lost.
        """
        if self.sha256 is not None and sha256 == self.sha256:
            return
        if self.sha256 is None:  # a record written without it (an older xfer): nothing to compare
            what = f"the record of message {self.message_id} does not say what content it carried"
        elif os.path.abspath(path) == self.file:
            what = f"{path} changed since message {self.message_id} was built"
        else:
            what = f"{path} is not the content of message {self.message_id} (sent from {self.file})"
        raise UsageError(
            f"{what}; a resend must carry the same content",
            hint="send the new content as a new message: xfer as2 send FILE PROFILE",
        )

    @property
    def summary(self) -> str:
        """One human line: status and disposition (used by the CLI)."""
        if self.status == "confirmed":
            text = self.disposition.split(";", 1)[-1].strip() if self.disposition else "processed"
            return f"confirmed ({text})"
        if self.status == "sent":
            return "sent, not confirmed (no MDN requested)"
        if self.status == "delivery-unknown":
            return "sent, receipt not received: delivery unknown"
        if self.status == "rejected":
            return f"rejected ({self.mdn_status}: {self.detail})" if self.detail else "rejected"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class ReceiptStore:
    """Receipts as ``<folder>/<message-id>.json``; the folder defaults to ``data_dir()/as2/receipts``."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else data_dir() / "as2" / "receipts"

    def _make_folder(self) -> None:
        """The folder, and each folder above it that this makes, 0700 whatever the umask: mkdir's
        mode is masked, and a parents=True mkdir gives the folders above the umask's mode alone
        (0777 under umask 000: another user could swap in forged records; security review,
        session 26)."""
        missing = [folder for folder in (self.folder, *self.folder.parents) if not folder.exists()]
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):  # (made meanwhile by another xfer)
                folder.mkdir(mode=0o700)
            if os.name == "posix":
                folder.chmod(0o700)

    def path_for(self, message_id: str) -> Path:
        """The file of one message id (``<`` ``>`` dropped; unsafe characters replaced + a hash)."""
        bare = message_id.strip().removeprefix("<").removesuffix(">")
        safe = _SAFE.sub("_", bare)[:180]
        if safe != bare:  # two ids must never share a file after the replacement
            safe += "-" + hashlib.sha256(bare.encode()).hexdigest()[:12]
        return self.folder / f"{safe}.json"

    def save(self, receipt: Receipt) -> Path:
        """Write atomically (temp file + rename): a crash never leaves half a record."""
        target = self.path_for(receipt.message_id)
        try:
            self._make_folder()
            fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".receipt-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(receipt.to_dict(), out, indent=2)
                    out.write("\n")
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise LocalError(f"cannot write the AS2 receipt {target}: {exc.strerror or exc}") from exc
        return target

    @contextlib.contextmanager
    def locked(self, message_id: str) -> Iterator[None]:
        """Hold the lock of ``message_id``'s record (a 0600 ``.lock`` file beside it) while one
        process loads, sends and saves that message: two resends of one Message-ID at once
        would send it twice, and the one that saved last would overwrite the other's outcome
        (a confirmation) with its stale record.  Raises :class:`LocalError` at once when another
        process holds it.  The lock goes with the process (flock), also when it is killed.
        """
        path = self.path_for(message_id).with_suffix(".lock")
        try:
            self._make_folder()
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise LocalError(f"cannot lock the AS2 receipt {path}: {exc.strerror or exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # EWOULDBLOCK: held by another process
                raise LocalError(
                    f"another xfer is sending AS2 message {message_id} right now: not sent again",
                    hint=f"wait for it to finish, then see what it came to: xfer as2 receipt '{message_id}'",
                ) from None
            except OSError as exc:  # ENOLCK (NFS without lockd), EOPNOTSUPP (some FUSE, SMB mounts)
                raise LocalError(
                    f"cannot lock the AS2 receipt {path}: {exc.strerror or exc}; not sent",
                    hint="keep the receipts on a local file system (XFER_DATA_DIR), or one that supports locks",
                ) from exc
            yield
        finally:
            os.close(fd)

    def load(self, message_id: str) -> Receipt:
        """The receipt of ``message_id`` (with or without angle brackets)."""
        wanted = message_id.strip()
        if not wanted.startswith("<"):
            wanted = f"<{wanted}>"
        path = self.path_for(wanted)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(
                f"no AS2 receipt for Message-ID {wanted} in {self.folder}",
                hint="`xfer as2 receipts` lists the messages sent from this account",
            ) from None
        except (OSError, ValueError) as exc:
            raise LocalError(f"cannot read the AS2 receipt {path}: {exc}") from exc
        return Receipt.from_dict(data)

    def list(self) -> list[Receipt]:
        """Every readable receipt, newest first (unreadable files are skipped)."""
        receipts = []
        if not self.folder.is_dir():
            return []
        for path in self.folder.glob("*.json"):
            try:
                receipts.append(Receipt.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(receipts, key=lambda r: (r.created, r.message_id), reverse=True)
