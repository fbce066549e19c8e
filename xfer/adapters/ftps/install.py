"""Putting a complete upload in place: the temporary name, rename-over, put-back.

An upload is stored as ``.NAME.RANDOM.xfer-part`` beside its target and renamed to the
target only when it is complete, so pick-up processes never see half a file.  Most
servers replace the target in one RNFR/RNTO; some (IIS, like Windows' MoveFile) refuse
because it exists, and then the old file is renamed aside first and deleted last.
Neither file is ever deleted while it is the only copy of its content, and whatever is
left over is named in the error or the result.

If the connection breaks after the RNTO went out and before its answer came, the rename may
have happened: a fresh session looks (:func:`~xfer.adapters.rename_sent.settle`) before the
error says anything about where the upload is (review U, HIGH 2).

The steps need only RNFR, RNTO and DELE on a :class:`Commands` connection, plus what the
adapter around them knows (a :class:`Site`): what is at a path and its size, how to drop a
broken session and open a fresh one, how to translate an exception.  So they are tested on
their own, with a fake of those few commands (``tests/test_ftps_install.py``).
"""

from __future__ import annotations

import ftplib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ...errors import DeliveryUnknown, Interrupted, RemoteError, XferError
from ...transfer import hidden_beside
from ..base import EntryType
from ..rename_sent import RenameSent, settle
from .connection import breaks_session
from .replies import expect_reply, says_exists

__all__ = ["Commands", "Site", "Unanswered", "install", "rename", "rename_over", "temp_name"]

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
    #: The size of the file at a path, None if the server says nothing is there; raises when
    #: the server will not say (a refused look is never "nothing there").  Asks, changes nothing.
    size_at: Callable[[_S, str], int | None]


class Unanswered(Exception):
    """The session broke after a one-step rename went out, before its answer (``cause``):
    whether the server renamed is unknown until a fresh session looks."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def temp_name(remote: str, suffix: str = "xfer-part") -> str:
    """A hidden name beside ``remote`` that no one else is using: ``.NAME.RANDOM.SUFFIX``, within
    255 bytes (:func:`~xfer.transfer.hidden_beside`)."""
    return hidden_beside(remote, suffix)


def rename(ftp: Commands, source: str, destination: str) -> None:
    """RNFR ``source``, RNTO ``destination``.  Only ``350`` answers RNFR: any other success code is
    a reply out of step (:func:`~.replies.expect_reply`), and the RNTO after it would be read wrong."""
    expect_reply(ftp.sendcmd(f"RNFR {source}"), "350", "RNFR")
    ftp.voidcmd(f"RNTO {destination}")


def install(
    site: Site[_S], temp: str, remote: str, size: int | None = None, *,
    settled: Callable[[], None] | None = None,
) -> str | None:
    """Rename the complete upload ``temp`` (``size`` bytes) to ``remote``.  On failure ``temp`` is
    kept (it is the user's data) and the error names it.  Returns what :func:`rename_over`
    could not delete.

    If the session broke after the RNTO went out, a fresh session looks (:func:`_look`): the
    upload found in place is a success (``settled`` is called, for the result to say so)."""
    action = f"renaming the uploaded temporary file {temp} to"
    lost: list[Exception] = []

    def work(ftp: _S) -> str | None:
        try:
            return rename_over(site, ftp, temp, remote)
        except Unanswered as exc:
            lost.append(exc.cause)
            return None

    try:
        left = site.run(action, remote, work)
    except XferError as exc:
        if temp not in (exc.hint or ""):
            raise exc.copy_with(hint=_with_kept(exc.hint, temp, remote)) from exc
        raise
    except KeyboardInterrupt as exc:
        # Between RNFR and RNTO, or waiting for RNTO's answer: whether the rename
        # happened is unknown, so the message says where the upload may be.
        raise Interrupted(
            f"{site.server}: interrupted while renaming the uploaded temporary file {temp} to {remote}",
            hint=f"the upload is complete on the server, as {remote} or as {temp}: "
            f"if {temp} is still there, rename it to {remote} by hand",
        ) from exc
    if not lost:
        return left
    _look(site, temp, remote, size, lost[0], action)
    if settled is not None:
        settled()
    return None


def _with_kept(hint: str | None, temp: str, remote: str) -> str:
    """``hint``, and where the complete upload is kept (``temp``, not renamed)."""
    kept = (
        f"the upload is complete on the server as {temp}: rename it to {remote} "
        "by hand, or run the command again (and remove the temporary file)"
    )
    return f"{hint}; {kept}" if hint else kept


def _look(site: Site[_S], temp: str, remote: str, size: int | None, cause: Exception, action: str) -> None:
    """The session broke after the RNTO of ``temp`` to ``remote`` went out (``cause``): look on a
    fresh session whether the server renamed.  Returns if it did (``temp`` gone, ``remote`` at
    ``size``).  Raises the broken connection's error naming ``temp`` if it did not (``temp`` is
    still there); :class:`~xfer.errors.DeliveryUnknown` if ``remote`` is not the upload (taken or
    replaced since: never sent again); and if the look fails (no fresh session, a look refused),
    that error saying it is unknown whether the rename happened, without advice to send again.
    """
    site.drop()
    error = site.translate(cause, action, remote)
    unknown = (
        f"it is unknown whether the server renamed the upload before the connection broke: if it did, "
        f"the upload is {remote}, else it is still {temp} (complete: rename it to {remote} by hand); "
        "look before running the command again, which would deliver it twice if the rename happened"
    )
    why: str | None = "the upload's size is not known" if size is None else None
    done = False
    if size is not None:
        try:
            fresh = site.reopen()
            try:
                done = settle(
                    None, RenameSent(temp, remote, size), lambda path: site.size_at(fresh, path),
                    server=site.server, shown=remote,
                )
            finally:
                fresh.quit_quietly()
        except DeliveryUnknown as exc:
            raise exc from cause
        except Exception as exc:
            why = str(exc).strip() or type(exc).__name__
        except KeyboardInterrupt as exc:
            raise Interrupted(f"{site.server}: interrupted while {action} {remote}", hint=unknown) from exc
    if why is not None:
        raise error.copy_with(
            f"{error.message}; looking on a fresh session whether the rename happened failed ({why})", hint=unknown,
        ) from cause
    if done:
        return
    raise error.copy_with(hint=_with_kept(error.hint, temp, remote)) from cause


def rename_over(site: Site[_S], ftp: _S, source: str, destination: str) -> str | None:
    """RNFR/RNTO ``source`` to ``destination``, replacing the file there.

    Most servers replace in one step.  Some (IIS, like Windows' MoveFile) refuse
    because the target exists; then the old file is renamed aside, ``source`` is
    renamed into place, and only then is the old file deleted.  If that second
    rename fails in any way (refused, 4xx or 5xx, connection lost, interrupted), the
    old file is renamed back (see :func:`_put_back`).  Neither file is ever deleted
    while it is the only copy of its content.  Returns the aside name if deleting
    it failed (the upload succeeded; the old version is left over), else None.

    :class:`Unanswered` if the session breaks during the one-step rename (for :func:`install`
    to look).
    """
    try:
        rename(ftp, source, destination)
        return None
    except (ftplib.error_perm, ftplib.error_temp) as exc:
        # IIS says "exists" with a 550; a 450 saying so is read the same way.
        if not says_exists(str(exc)) or site.kind(ftp, destination) != "file":
            raise
    except Exception as exc:
        if breaks_session(exc):  # the RNTO may have gone out and been done: only a look can tell
            raise Unanswered(exc) from exc
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
