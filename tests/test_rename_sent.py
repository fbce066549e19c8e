"""What a retry makes of an upload's rename whose answer never came (xfer.adapters.rename_sent).

The adapters' own tests cut real connections at that moment (WebDAV, SFTP, FTPS); these pin the
decision itself: the temporary file still there, the upload in place, or neither."""

from __future__ import annotations

import pytest

from xfer.adapters.rename_sent import RenameSent, answered, sending, settle, unanswered
from xfer.errors import DeliveryUnknown, ExitCode
from xfer.retry import is_cut, is_transient, own_failure


def _attempt() -> dict[str, object]:
    """A retry's state (Attempt.state), or an adapter's own."""
    return {}


RENAME = RenameSent(temp="/in/.a.csv.0123abcd.xfer-part", remote="/in/a.csv", size=10, memo="result")


def test_a_rename_sent_is_unanswered_until_answered() -> None:
    attempt = _attempt()
    assert unanswered(attempt, "/in/a.csv") is None
    sending(attempt, RENAME)
    assert unanswered(attempt, "/in/a.csv") is RENAME
    assert unanswered(attempt, "/in/b.csv") is None
    answered(attempt, "/in/a.csv")
    assert unanswered(attempt, "/in/a.csv") is None
    sending(None, RENAME)  # outside a retry: nothing to remember, nothing fails
    assert unanswered(None, "/in/a.csv") is None


def test_the_temporary_file_still_there_is_a_rename_not_done() -> None:
    attempt = _attempt()
    sending(attempt, RENAME)
    sizes = {RENAME.temp: 10, RENAME.remote: 3}  # (an older file under the name)
    assert settle(attempt, RENAME, sizes.get, server="srv", shown="/in/a.csv") is False
    assert unanswered(attempt, "/in/a.csv") is None


def test_the_upload_at_its_size_and_no_temporary_file_is_a_rename_done() -> None:
    assert settle(_attempt(), RENAME, {RENAME.remote: 10}.get, server="srv", shown="/in/a.csv") is True


@pytest.mark.parametrize(("sizes", "said"), [
    ({}, "/in/a.csv is not there"),  # taken by the partner's pick-up
    ({RENAME.remote: 11}, "holds 11 bytes, not the 10 sent"),  # replaced by a newer file
])
def test_anything_else_is_delivery_unknown_and_never_sent_again(sizes: dict[str, int], said: str) -> None:
    attempt = _attempt()
    sending(attempt, RENAME)
    with pytest.raises(DeliveryUnknown, match=said) as caught:
        settle(attempt, RENAME, sizes.get, server="srv", shown="/in/a.csv")
    error = caught.value
    assert error.exit_code == ExitCode.CONNECT
    assert "not sent again" in (error.hint or "")
    assert not is_transient(error)  # a retry would send it again
    assert not is_cut(error)  # (its final message does not say "cut on each try": the look was not)
    assert own_failure(error)  # that file's: the batch goes on with the others
    assert unanswered(attempt, "/in/a.csv") is None


def test_a_look_that_fails_leaves_it_unsettled_for_the_next_try() -> None:
    attempt = _attempt()
    sending(attempt, RENAME)

    def broken(path: str) -> int | None:
        raise ConnectionResetError("cut again")

    with pytest.raises(ConnectionResetError):
        settle(attempt, RENAME, broken, server="srv", shown="/in/a.csv")
    assert unanswered(attempt, "/in/a.csv") is RENAME
