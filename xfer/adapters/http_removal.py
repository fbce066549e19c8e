"""Removing the sources of many downloads over HTTP at once (``--remove-source-files``, issue 14).

One file after another, a removal is a look (HTTPS: ``HEAD``; WebDAV: ``PROPFIND``) and a
``DELETE``, each a round trip: at 50 ms that is 100 s for 1,000 files.  Here the looks come
first, all of them pipelined (the adapter says which request: HTTPS a ``HEAD``, WebDAV a
``PROPFIND`` Depth 0), then the ``DELETE``\\ s of the files shown with their sizes, in writes of
at most :data:`REQUESTS_AT_ONCE`.  Both are HTTP/1.1 pipelining of idempotent requests
(RFC 9112 9.3.2), on the session's open connection (:meth:`~xfer.http_session.XferSession.pipelined`).

A ``DELETE`` is never sent twice.  A file whose ``DELETE`` may have reached the server without
an answer coming back (the connection broke) is only looked at again: gone is removed; still there
is kept, and said (a file of that name and size may have been put there anew meanwhile).  Requests
after an answer that closed its connection (``Connection: close``: nginx's ``keepalive_requests``)
were not acted on, as RFC 9112 9.6 requires of the server; they go again in the next write.
Whatever cannot go pipelined goes the adapter's way for one file (``alone``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import requests

from ..errors import ConnectionDropped, Interrupted, RemoteError, RemoteNotDone, RemoteNotFound, XferError, source_kept
from ..http_errors import closes_connection
from ..http_session import XferSession, if_match
from ..types import SourceVersion, opaque_etag
from .base import Adapter, Entry, Source, source_changed, sources

__all__ = ["DELETED", "REQUESTS_AT_ONCE", "answers_together", "not_done", "remove_together"]

#: The answers that say a ``DELETE`` is done (RFC 9110 9.3.5).  ``202 Accepted`` is not: the
#: server took the request, to carry it out later or never, and the file is still there.
DELETED = frozenset({200, 204})

#: Requests in one pipelined write: a bound on what one broken connection leaves undecided.
REQUESTS_AT_ONCE = 256

#: Requests in a write after a connection that the server closed early (keep-alive limit).
_RESENT_AT_LEAST = 8

#: ``(method, url, body, headers)``, as :meth:`XferSession.pipelined` takes them.
Call = tuple[str, str, Any, dict[str, str] | None]


class _Exchanged:
    """What became of pipelined requests, by their place among the calls.

    ``answers``: those answered.  ``unsure``: those that may have reached the server, whose
    answers did not come (the exchange failed, or the connection ended without saying it would).
    The others were not sent: pipelining does not go on this connection (no connection was
    open, or the server showed it takes no pipelined requests).
    """

    def __init__(self) -> None:
        self.answers: dict[int, requests.Response] = {}
        self.unsure: set[int] = set()


def _send_together(session: XferSession, calls: Sequence[Call]) -> _Exchanged:
    """``calls`` (idempotent requests) pipelined in writes of at most :data:`REQUESTS_AT_ONCE`.

    Where no connection is open (at first, or after the server closed one), the next request opens
    one, alone (urllib3 words what goes wrong in a handshake).  Requests left unanswered behind an
    answer that closed the connection were not acted on: they go again in the next write.  Stops
    at a write that answered nothing, when a connection just opened did not stay open, or when the
    session no longer pipelines; what was not sent by then is neither answered nor unsure.
    """
    sent = _Exchanged()
    todo = list(range(len(calls)))
    opened = False
    limit = REQUESTS_AT_ONCE
    while todo and session.pipelining:
        now = todo[:limit]
        try:
            with session.translating():
                answers = session.pipelined([calls[place] for place in now])
        except Interrupted:
            raise
        except XferError:  # the first answer failed: any of them may have been acted on
            sent.unsure.update(now)
            todo = todo[len(now):]
            continue
        if answers is None:  # nothing sent: no connection is open (the first, or the server closed the last)
            if opened:
                break  # the connection just opened did not stay open: pipelining goes nowhere here
            opened = True
            first, todo = now[0], todo[1:]
            method, url, body, headers = calls[first]
            try:
                with session.translating(), session.request(
                        method, url, data=body, headers=headers, allow_redirects=False) as answer:
                    sent.answers[first] = answer
            except Interrupted:
                raise
            except XferError:
                sent.unsure.add(first)
            continue
        opened = False
        answered = [(place, answer) for place, answer in zip(now, answers, strict=True) if answer is not None]
        sent.answers.update(answered)
        missing = [place for place, answer in zip(now, answers, strict=True) if answer is None]
        if missing and answered and closes_connection(answered[-1][1].headers):
            todo = missing + todo[len(now):]  # not acted on (RFC 9112 9.6): again, on a new connection
            # A server that closes after a few requests would have every write carry all the rest
            # again for a few answers: at most twice what this connection took.
            limit = min(REQUESTS_AT_ONCE, max(2 * len(answered), _RESENT_AT_LEAST))
        else:
            sent.unsure.update(missing)
            todo = todo[len(now):]
        if not answered:
            break
    return sent


def answers_together(session: XferSession, calls: Sequence[Call]) -> dict[int, requests.Response]:
    """The answers to ``calls`` (looks: idempotent requests) pipelined, by each call's place; a
    place missing was not answered (ask it alone)."""
    return _send_together(session, calls).answers


class _Removal:
    """The files of one :meth:`~xfer.adapters.base.Adapter.remove_sources` call over HTTP: each as
    the caller named it (a listed path keeps its kind: ``alone`` and ``look`` take it), its size and
    the version its download got, and its server path, or why there is none (the connection's root,
    a name xfer will not send).

    ``shown[place]``: what the server showed of the file (an entry, or what it answered instead);
    None until the adapter's look, and for a file the look did not decide.
    """

    def __init__(self, files: Sequence[tuple[str, int] | Source], server_path: Callable[[str], str]) -> None:
        self.files = sources(files)
        self.targets: list[str | None] = []
        self.shown: list[Entry | XferError | None] = []
        for path, _, _ in self.files:
            try:
                self.targets.append(server_path(path))
                self.shown.append(None)
            except XferError as refused:  # said for that file, as the default says it
                self.targets.append(None)
                self.shown.append(refused)

    def asked(self) -> list[tuple[int, str]]:
        """(place, server path) of each file the server is to be asked about."""
        return [(place, target) for place, target in enumerate(self.targets) if target is not None]


def remove_together(
    adapter: Adapter,
    session: XferSession,
    files: Sequence[tuple[str, int] | Source],
    *,
    ask: Callable[[str], Call],
    shown_by: Callable[[str, requests.Response], Entry | XferError | None],
) -> list[XferError | None]:
    """:meth:`~xfer.adapters.base.Adapter.remove_sources` over HTTP: each file's look (``ask``: the
    request for a server path) pipelined, read by ``shown_by`` (what the answer shows of the file:
    an entry, what the server said instead, or None: nothing certain), then the ``DELETE``\\ s of
    the files shown as files of their sizes and versions, together.  Whatever is not decided that way goes the
    adapter's default way for one file."""
    removal = _Removal(files, lambda path: adapter._not_root(path, "remove"))
    asked = removal.asked()
    looks = _send_together(session, [ask(target) for _, target in asked])
    for position, (place, target) in enumerate(asked):
        if position in looks.answers:
            removal.shown[place] = shown_by(target, looks.answers[position])
    return _remove_shown(session, removal, user_path=adapter.user_path, alone=adapter._remove_source,
                         look=adapter.info)


def _remove_shown(
    session: XferSession,
    removal: _Removal,
    *,
    user_path: Callable[[str], str],
    alone: Callable[[str, int, SourceVersion | None], XferError | None],
    look: Callable[[str], Entry],
) -> list[XferError | None]:
    """Remove each file of ``removal`` that the server showed as a file of its size and version,
    by ``DELETE``\\ s sent together, each conditional on the version the download got
    (:func:`_pinned`).  Per file None (removed) or what kept it, as
    :meth:`~xfer.adapters.base.Adapter.remove_sources` says.

    ``alone`` removes one file the adapter's way (its look, then its removal): for the files the
    look did not decide and those whose ``DELETE`` could not go pipelined.  ``look`` is the
    adapter's ``info``, asked about a file whose ``DELETE`` went out unanswered.  Both take the
    path as the caller gave it.
    """
    files = removal.files
    decided: dict[int, XferError | None] = {}
    due: list[tuple[int, str]] = []
    seen_targets: set[str] = set()
    for place, target in enumerate(removal.targets):
        seen, size, version = removal.shown[place], files[place].size, files[place].version
        if isinstance(seen, Entry) and target is not None:
            etag = _etag(seen)
            changed = version.changed(etag if isinstance(etag, str) else None, seen.modified) if version else None
            if seen.type != "file" or seen.size != size:
                decided[place] = source_changed(user_path(target), seen.size if seen.type == "file" else None, size)
            elif changed is not None:  # (the file put anew after its download, of the same size)
                decided[place] = source_kept(user_path(target), changed)
            elif target not in seen_targets:  # (a file named twice: the second goes alone, and finds it gone)
                seen_targets.add(target)
                due.append((place, target))
        elif isinstance(seen, XferError):
            decided[place] = seen
    pinned = {place: _pinned(files[place].version, removal.shown[place]) for place, _ in due}
    sent = _send_together(session, [("DELETE", session.url_for(target), None, _unchanged(pinned[place]))
                                     for place, target in due])
    for position, (place, target) in enumerate(due):
        path, shown_as = files[place].path, user_path(target)
        answer = sent.answers.get(position)
        if answer is not None and answer.status_code == 412:  # another file under the name since the download?
            decided[place] = _refused_as_changed(files[place], pinned[place], shown_as, look=look, alone=alone)
        elif answer is not None and answer.status_code != 207:
            decided[place] = _deleted(session, answer, target, shown_as)
        elif answer is not None:  # a removal that failed in part: nothing to say of a file
            decided[place] = _looked_again(path, look, RemoteError(
                f"{session.server} answered the removal of {shown_as} with 207 Multi-Status",
                hint="run the command again", server=session.server, path=shown_as))
        elif position in sent.unsure:
            decided[place] = _looked_again(path, look, ConnectionDropped(
                f"{session.server}: the connection broke while removing {shown_as}",
                hint="run the command again", server=session.server, path=shown_as))
    ended: XferError | None = None
    for place, (path, size, version) in enumerate(files):
        if place in decided:
            continue
        if ended is None:
            try:
                decided[place] = alone(path, size, version)
                continue
            except XferError as exc:  # not this file's alone: it and every one not yet decided stay
                ended = exc
        decided[place] = ended
    return [decided[place] for place in range(len(files))]


def _pinned(version: SourceVersion | None, seen: Entry | XferError | None) -> str | None:
    """The ETag a file's ``DELETE`` is conditional on: the one the download's GET saw, so that the
    whole time since the download is covered, not only the time since the look; the look's where
    the GET gave none (a removal without a known version)."""
    etag = version.etag if version is not None and version.etag else _etag(seen)
    return etag if isinstance(etag, str) else None


def _unchanged(etag: str | None) -> dict[str, str] | None:
    """A ``DELETE``'s condition: the file is still the version ``etag`` names (``If-Match``,
    RFC 9110 13.1.1), where that is a strong one: a file put anew under the name meanwhile, even
    of the same size, is then refused (412), not removed.  A weak ETag never matches there
    (Apache's, within a second of a write), and without one the removal goes as before.  An
    unquoted ``getetag`` (wsgidav's) is quoted, as the header needs it."""
    value = if_match(etag)
    return {"If-Match": value} if value else None


def _etag(seen: Entry | XferError | None) -> object:
    """The ETag a look showed, if any."""
    return seen.extra.get("etag") if isinstance(seen, Entry) else None


def _refused_as_changed(
    source: Source, pinned: str | None, shown_as: str, *,
    look: Callable[[str], Entry], alone: Callable[[str, int, SourceVersion | None], XferError | None],
) -> XferError | None:
    """A ``DELETE`` refused by its ``If-Match`` on ``pinned`` (412): kept if the file is another
    now.  A server that still shows the ETag it refused does not match its own tags (an unquoted
    one compared with its quotes, say): that file goes the default way, unconditioned, as it did
    before (its look still compares the version)."""
    path, size, version = source
    try:
        again = look(path)
        etag = _etag(again)
        if (again.type == "file" and again.size == size and isinstance(etag, str) and pinned is not None
                and opaque_etag(etag) == opaque_etag(pinned)):
            return alone(path, size, version)
    except Interrupted:
        raise
    except XferError as exc:  # (gone meanwhile, or no answer): said for that file
        return exc
    since = "it was downloaded" if version is not None and version.etag else "it was looked at"
    return source_kept(shown_as, f"it changed on the server after {since}")


def _deleted(session: XferSession, answer: requests.Response, path: str, shown_as: str) -> XferError | None:
    """None if the ``DELETE``'s answer says the file is removed (:data:`DELETED`); a success that
    does not (``202 Accepted``) is :func:`not_done`; else what the server said."""
    if answer.status_code in DELETED:
        return None
    if 200 <= answer.status_code < 300:
        said = f"{answer.status_code} {answer.reason or ''}".strip()
        return not_done(session.server, "removal", shown_as, said)
    try:
        session.check(answer, path=path)
    except XferError as exc:
        return exc
    return None


def not_done(server: str, action: str, path: str, said: str) -> RemoteNotDone:
    """A request the server answered with a success that does not say it is done (``202 Accepted``:
    to be done later, RFC 9110 15.3.3): "the ``action`` of ``path`` is not done".  One wording for
    every WebDAV verb and for a ``DELETE`` sent alone or pipelined."""
    return RemoteNotDone(
        f"{server}: the {action} of {path} is not done ({said}: to be done later)",
        hint="look at the server later, then run the command again", server=server, path=path,
    )


def _looked_again(path: str, look: Callable[[str], Entry], why: XferError) -> XferError | None:
    """A file whose ``DELETE`` may have been carried out, its answer saying nothing of it (``why``):
    gone is removed, still there is kept (never a second ``DELETE``)."""
    try:
        look(path)
    except RemoteNotFound:
        return None
    except Interrupted:
        raise
    except XferError:  # no answer to the look either: not known
        return why.copy_with(f"{why.message}: it may have been removed")
    return why.copy_with(f"{why.message}, which is still there: kept")
