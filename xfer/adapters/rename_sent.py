"""An upload's move into place whose answer never came: what the next try finds decides.

An upload under a temporary name ends with one rename: WebDAV ``MOVE``, SFTP ``posix-rename``,
FTP ``RNFR``/``RNTO``.  If the connection breaks after that request went out and before its
answer came, the rename may have happened.  A retry that uploads again would then deliver the
file twice: a partner's pick-up process may have taken the first copy meanwhile, or written a
newer file under the name, which the second copy replaces (review U, finding 1).

So the try that sends the rename says so first (:func:`sending`), and the next try looks
before it sends anything (:func:`settle`):

- the temporary name is still there: the rename did not happen, and the try goes on (the
  adapter continues or removes the part, as after any cut);
- the temporary name is gone and the final name holds the upload's size: the rename happened,
  and the upload is done, proven by that size (and any hash the adapter compares then);
- anything else: the file was taken or replaced after the rename, or the temporary file was
  removed by somebody: :class:`~xfer.errors.DeliveryUnknown`, and nothing is sent again.

Kept in a ``state`` mapping the caller owns: the retry's :attr:`~xfer.retry.Attempt.state` (one
operation's tries), or an adapter's own (one connection's: a file of a group of small uploads
cut at its rename is settled before it goes alone); never on a shared object.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConnectError, DeliveryUnknown, XferError
from ..retry import is_cut

#: Where renames sent are remembered (None: nowhere, outside any retry).
State = MutableMapping[str, Any] | None

__all__ = ["RenameSent", "State", "answer_lost", "answered", "delivery_unknown", "sending", "settle", "unanswered"]


@dataclass(frozen=True)
class RenameSent:
    """A rename of a complete upload ``temp`` to ``remote`` that went out (``size``: the upload's bytes).

    ``memo``: what the adapter needs to finish the upload if the rename turns out done (its
    result, the hash of what was sent).
    """

    temp: str
    remote: str
    size: int
    memo: Any = None


def _key(remote: str) -> str:
    return f"rename-sent:{remote}"


def sending(state: State, rename: RenameSent) -> None:
    """Say that ``rename`` is about to go out: until :func:`answered`, a next try settles it first."""
    if state is not None:
        state[_key(rename.remote)] = rename


def answered(state: State, remote: str) -> None:
    """The rename to ``remote`` was answered (done or refused): a next try has nothing to settle."""
    if state is not None:
        state.pop(_key(remote), None)


def unanswered(state: State, remote: str) -> RenameSent | None:
    """The rename to ``remote`` an earlier try sent and never heard back about, if any."""
    return None if state is None else state.get(_key(remote))


#: A gateway's answers that say the server behind it did not answer (RFC 9110 15.6.3, 15.6.5): what
#: the server did with the request is unknown, as after a cut.
_GATEWAY_LOST = frozenset({502, 504})


def answer_lost(exc: BaseException) -> bool:
    """Whether ``exc``, raised while a rename was on its way, leaves it unknown whether the server
    did it: the connection broke or timed out (no status, no reply), or a gateway in front of the
    server answered that the server's answer never came (502, 504).  Not a refusal."""
    if isinstance(exc, XferError) and exc.status in _GATEWAY_LOST:
        return True
    return is_cut(exc) or (isinstance(exc, ConnectError) and exc.status is None and exc.reply_code is None)


def settle(
    state: State, rename: RenameSent, size_at: Callable[[str], int | None], *, server: str, shown: str
) -> bool:
    """Whether ``rename`` happened, from what the server shows now (``size_at(path)``: the size of
    the file at ``path``, None if nothing is there).  True: the upload is in place at its size;
    False: the temporary file is still there, not moved.  Otherwise :class:`DeliveryUnknown`
    (``shown``: the path as the user named it).  Either answer settles it for later tries; a look
    that fails (raises) leaves it unsettled, for the try after."""
    if size_at(rename.temp) is not None:
        answered(state, rename.remote)
        return False
    found = size_at(rename.remote)
    answered(state, rename.remote)
    if found == rename.size:
        return True
    raise delivery_unknown("is not there" if found is None else f"holds {found} bytes, not the {rename.size} sent",
                           server=server, shown=shown)


def delivery_unknown(now: str, *, server: str, shown: str) -> DeliveryUnknown:
    """The error for a rename whose answer was lost and whose file ``shown`` is not the upload now
    (``now``: what is there instead).  A caller that finds the file at the upload's size but with
    other bytes (a hash) raises it too: that file is someone else's, never to be deleted."""
    return DeliveryUnknown(
        f"{server}: the connection broke after {shown} was moved into place, before the server "
        f"confirmed it, and {shown} {now}: it may have been delivered and taken, or replaced since",
        hint="not sent again, so that it is not delivered twice: check with the partner whether "
        "they received it, and send it again only if they did not",
        server=server, path=shown,
    )
