"""Putting a complete upload in place: the temporary name, rename-over, put-back.

An upload is stored as ``.NAME.RANDOM.xfer-part`` beside its target and renamed to the
target only when it is complete, so pick-up processes never see half a file.  Most
servers replace the target in one RNFR/RNTO; some (IIS, like Windows' MoveFile) refuse
because it exists, and then the old file is renamed aside first and deleted last.
Neither file is ever deleted while it is the only copy of its content, and whatever is
left over is named in the error or the result.

The steps need only RNFR, RNTO and DELE on a :class:`Commands` connection, plus what the
adapter around them knows (a :class:`Site`): what is at a path, how to drop a broken
session and open a fresh one, how to translate an exception.  So they are tested on
their own, with a fake of those few commands (``tests/test_ftps_install.py``).
"""

from __future__ import annotations

import ftplib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ...errors import Interrupted, RemoteError, XferError
from ...transfer import hidden_beside
from ..base import EntryType
from .connection import breaks_session
from .replies import expect_reply, says_exists

__all__ = ["Commands", "Site", "install", "rename", "rename_over", "temp_name"]

#: How long a fresh session may take to put an upload's displaced old version back after
#: the first session broke: the user is waiting (maybe after Ctrl-C), so not the full timeout.
RECOVERY_TIMEOUT = 10.0


class Commands(Protocol):
    """The part of a control connection installing uses (:class:`.FTPSConnection` has it)."""

    def sendcmd(self, cmd: str) -> str: ...

    def voidcmd(self, cmd: str) -> str: ...

    def quit_quietly(self) -> None: ...


_S = TypeVar("_S", bound=Commands)


@dataclass(frozen=True)
class Site(Generic[_S]):
    """What installing needs from the adapter around it."""

    #: The server as messages name it.
    server: str
    #: What is at a path ("file", "directory"...), or None; asks, never changes anything.
    kind: Callable[[_S, str], EntryType | None]
    #: Forget the current session: its state is unknown (no QUIT).
    drop: Callable[[], None]
    #: A fresh session, opened with a short timeout (see :data:`RECOVERY_TIMEOUT`).
    reopen: Callable[[], _S]
    #: An exception as the xfer error the adapter would raise: (exception, action, path).
    translate: Callable[[Exception, str, str], XferError]
    #: Run one piece of work on the session, translating what it raises: (action, path, work).
    run: Callable[[str, str, Callable[[_S], str | None]], str | None]


def temp_name(remote: str, suffix: str = "xfer-part") -> str:
    """A hidden name beside ``remote`` that no one else is using: ``.NAME.RANDOM.SUFFIX``, within
    255 bytes (:func:`~xfer.transfer.hidden_beside`)."""
    return hidden_beside(remote, suffix)


def rename(ftp: Commands, source: str, destination: str) -> None:
    """RNFR ``source``, RNTO ``destination``.  Only ``350`` answers RNFR: any other success code is
    a reply out of step (:func:`~.replies.expect_reply`), and the RNTO after it would be read wrong."""
    expect_reply(ftp.sendcmd(f"RNFR {source}"), "350", "RNFR")
    ftp.voidcmd(f"RNTO {destination}")


def install(site: Site[_S], temp: str, remote: str) -> str | None:
    """Rename the complete upload ``temp`` to ``remote``.  On failure ``temp`` is kept
    (it is the user's data) and the error names it.  Returns what :func:`rename_over`
    could not delete."""
    try:
        return site.run(
            f"renaming the uploaded temporary file {temp} to", remote,
            lambda ftp: rename_over(site, ftp, temp, remote),
        )
    except XferError as exc:
        if temp not in (exc.hint or ""):
            kept = (
                f"the upload is complete on the server as {temp}: rename it to {remote} "
                "by hand, or run the command again (and remove the temporary file)"
            )
            raise exc.copy_with(hint=f"{exc.hint}; {kept}" if exc.hint else kept) from exc
        raise
    except KeyboardInterrupt as exc:
        # Between RNFR and RNTO, or waiting for RNTO's answer: whether the rename
        # happened is unknown, so the message says where the upload may be.
        raise Interrupted(
            f"{site.server}: interrupted while renaming the uploaded temporary file {temp} to {remote}",
            hint=f"the upload is complete on the server, as {remote} or as {temp}: "
            f"if {temp} is still there, rename it to {remote} by hand",
        ) from exc


def rename_over(site: Site[_S], ftp: _S, source: str, destination: str) -> str | None:
    """RNFR/RNTO ``source`` to ``destination``, replacing the file there.

    Most servers replace in one step.  Some (IIS, like Windows' MoveFile) refuse
    because the target exists; then the old file is renamed aside, ``source`` is
    renamed into place, and only then is the old file deleted.  If that second
    rename fails in any way (refused, 4xx or 5xx, connection lost, interrupted), the
    old file is renamed back (see :func:`_put_back`).  Neither file is ever deleted
    while it is the only copy of its content.  Returns the aside name if deleting
    it failed (the upload succeeded; the old version is left over), else None.
    """
    try:
        rename(ftp, source, destination)
        return None
    except (ftplib.error_perm, ftplib.error_temp) as exc:
        # IIS says "exists" with a 550; a 450 saying so is read the same way.
        if not says_exists(str(exc)) or site.kind(ftp, destination) != "file":
            raise
    aside = temp_name(destination, "xfer-old")
    moved = False
    try:
        rename(ftp, destination, aside)
        moved = True
        rename(ftp, source, destination)
    except BaseException as exc:
        if not moved and not breaks_session(exc):
            raise  # the server refused to move the old version: nothing has moved
        error = _put_back(site, ftp, exc, source, destination, aside)
        if error is None:  # the upload is in place after all; only the old version is left
            return aside
        if error is exc:
            raise
        raise error from exc
    try:
        ftp.voidcmd(f"DELE {aside}")
    except (ftplib.error_perm, ftplib.error_temp):
        return aside
    except Exception as exc:
        # The upload is in place; only deleting the old version is in doubt.
        if breaks_session(exc):
            site.drop()
        return aside
    except KeyboardInterrupt as exc:
        site.drop()
        raise Interrupted(
            f"{site.server}: interrupted after the upload was renamed to {destination}",
            hint=f"the upload is complete; the previous version may be left as {aside}: remove it by hand",
        ) from exc
    return None


def _put_back(
    site: Site[_S], ftp: _S, exc: BaseException, source: str, destination: str, aside: str
) -> BaseException | None:
    """After moving the old ``destination`` to ``aside``, installing ``source`` failed with
    ``exc``: put the old version back, best effort, and return what to raise.

    After a reply (a 4xx or 5xx), the dialogue is in step and the server has renamed
    nothing more: ``aside`` goes back at once.  After a lost connection or an
    interruption, the state is unknown: a fresh session (short timeout) looks first,
    and ``aside`` goes back only where nothing is at ``destination`` (never over a file).

    Returns ``exc`` itself if the old version is back and only ``source`` is left (the
    caller raises it, and the adapter names ``source``); None if the upload turned out
    to be in place (only ``aside`` is left, as after a failed DELE); otherwise an
    error naming every file left over.
    """
    server = site.server
    action = f"renaming the uploaded temporary file {source} to"
    problem: BaseException | None = None
    installed = False
    try:
        if not breaks_session(exc):
            rename(ftp, aside, destination)
        else:
            site.drop()
            fresh = site.reopen()
            try:
                if site.kind(fresh, aside) is not None:
                    if site.kind(fresh, destination) is None:
                        rename(fresh, aside, destination)
                    elif site.kind(fresh, source) is None:
                        installed = True
                    else:
                        raise RemoteError(f"{destination} exists, but is not the upload")
            finally:
                fresh.quit_quietly()
    except BaseException as failed:
        # Best effort: even a second Ctrl-C only ends the attempt; the report still
        # names what is left where.
        problem = failed
        if breaks_session(failed):
            site.drop()
    interrupted = isinstance(exc, KeyboardInterrupt)
    if problem is None and installed:
        if interrupted:
            return Interrupted(
                f"{server}: interrupted after the upload was renamed to {destination}",
                hint=f"the upload is complete; the previous version is left as {aside}: remove it by hand",
            )
        return None
    if problem is None:
        if interrupted:
            return Interrupted(
                f"{server}: interrupted while {action} {destination}; {destination} is the previous version again",
                hint=f"the upload is complete on the server as {source}: rename it to "
                f"{destination} by hand, or run the command again (and remove {source})",
            )
        return exc
    if interrupted:
        error: XferError = Interrupted(f"{server}: interrupted while {action} {destination}")
    elif isinstance(exc, Exception):
        error = site.translate(exc, action, destination)
    else:
        return exc
    why = str(problem).strip() or type(problem).__name__
    if isinstance(problem, KeyboardInterrupt):
        why = "interrupted"
    recover = (
        f"{destination} may be missing: the previous version is {aside} and the complete "
        f"upload is {source}; rename one of them to {destination} by hand"
    )
    return error.copy_with(
        f"{error.message}; putting the previous version back from {aside} failed too ({why})",
        hint=f"{recover}; {error.hint}" if error.hint else recover,
    )
