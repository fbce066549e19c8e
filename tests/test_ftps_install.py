"""The install step of an FTPS upload on its own (:mod:`xfer.adapters.ftps.install`).

Driven by a fake of the three commands it sends (RNFR, RNTO, DELE) over a dict of files,
with faults injected per command: a refusal, a lost connection before or after the
server acted, Ctrl-C.  Each test checks what is left under which name, which is the
whole promise: the target holds one complete version, and nothing is deleted while it
is the only copy of its content.  The same paths against a real (in-process) server are
in ``tests/test_ftps_safety.py``.
"""

from __future__ import annotations

import ftplib
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from xfer.adapters.base import EntryType
from xfer.adapters.ftps import install
from xfer.adapters.ftps.replies import reply_code, reply_error
from xfer.errors import ConnectionDropped, Interrupted, RemoteError, XferError

TARGET = "/in/order.edi"
TEMP = "/in/.order.edi.1234abcd.xfer-part"
EXISTS = "550 Cannot create a file when that file already exists."


@dataclass
class Fault:
    """Raise ``error`` on the ``nth`` command starting with ``command``; ``acted``: after doing it."""

    command: str
    error: BaseException
    acted: bool = False
    nth: int = 1


@dataclass
class FakeServer:
    """Files by path; ``replace``: RNTO replaces an existing file (POSIX), else refuses (IIS)."""

    files: dict[str, bytes]
    replace: bool = True
    faults: list[Fault] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    sessions: int = 1
    drops: int = 0


class FakeFTP:
    """One control connection to a :class:`FakeServer`."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self._from: str | None = None

    def sendcmd(self, cmd: str) -> str:
        server = self.server
        server.log.append(cmd)
        fault = self._fault(cmd)
        if fault is not None and not fault.acted:
            raise fault.error
        reply = self._do(cmd)
        if fault is not None:
            raise fault.error
        return reply

    voidcmd = sendcmd

    def quit_quietly(self) -> None:
        pass

    def _fault(self, cmd: str) -> Fault | None:
        fired = None
        for fault in self.server.faults:
            if cmd.startswith(fault.command):
                fault.nth -= 1
                if fault.nth == 0 and fired is None:
                    fired = fault
        return fired

    def _do(self, cmd: str) -> str:
        verb, path = cmd.split(" ", 1)
        files = self.server.files
        if verb == "RNFR":
            if path not in files:
                raise ftplib.error_perm("550 No such file or directory.")
            self._from = path
            return "350 Ready for destination name."
        if verb == "RNTO":
            source, self._from = self._from, None
            assert source is not None, "RNTO without RNFR"
            if path in files and not self.server.replace:
                raise ftplib.error_perm(EXISTS)
            files[path] = files.pop(source)
            return "250 Rename successful."
        assert verb == "DELE", cmd
        del files[path]
        return "250 Deleted."


def site(server: FakeServer) -> install.Site[FakeFTP]:
    """The adapter's side, as the adapter provides it (translation at the boundary included)."""
    ftp = FakeFTP(server)

    def kind(_ftp: FakeFTP, path: str) -> EntryType | None:
        return "file" if path in server.files else None

    def drop() -> None:
        server.drops += 1

    def reopen() -> FakeFTP:
        server.sessions += 1
        return FakeFTP(server)

    def translate(exc: Exception, action: str, path: str) -> XferError:
        if isinstance(exc, ftplib.Error) and reply_code(str(exc)):
            return reply_error(str(exc), server="fake", action=action, path=path)
        return ConnectionDropped(f"fake: the connection failed while {action} {path}")

    def run(action: str, path: str, work: Callable[[FakeFTP], str | None]) -> str | None:
        try:
            return work(ftp)
        except XferError:
            raise
        except (ftplib.Error, OSError, EOFError) as exc:
            raise translate(exc, action, path) from exc

    def size_at(_ftp: FakeFTP, path: str) -> int | None:
        return len(server.files[path]) if path in server.files else None

    return install.Site(
        server="fake", kind=kind, drop=drop, reopen=reopen, translate=translate, run=run, size_at=size_at,
    )


def asides(server: FakeServer) -> list[str]:
    return [path for path in server.files if path.endswith(".xfer-old")]


def test_temp_names_are_hidden_beside_the_target_and_unique() -> None:
    first, second = install.temp_name(TARGET), install.temp_name(TARGET)
    assert first != second
    assert first.startswith("/in/.order.edi.") and first.endswith(".xfer-part")
    assert install.temp_name(TARGET, "xfer-old").endswith(".xfer-old")


def test_one_rename_where_the_server_replaces() -> None:
    server = FakeServer({TARGET: b"OLD", TEMP: b"NEW"})
    assert install.install(site(server), TEMP, TARGET) is None
    assert server.files == {TARGET: b"NEW"}
    assert server.log == [f"RNFR {TEMP}", f"RNTO {TARGET}"]


def test_old_version_goes_aside_and_is_deleted_only_after_the_upload_is_in_place() -> None:
    server = FakeServer({TARGET: b"OLD", TEMP: b"NEW"}, replace=False)
    assert install.install(site(server), TEMP, TARGET) is None
    assert server.files == {TARGET: b"NEW"}
    aside = server.log[3].removeprefix("RNTO ")
    assert server.log == [
        f"RNFR {TEMP}", f"RNTO {TARGET}",  # refused: exists
        f"RNFR {TARGET}", f"RNTO {aside}",
        f"RNFR {TEMP}", f"RNTO {TARGET}",
        f"DELE {aside}",
    ]


def test_old_version_that_cannot_be_deleted_is_returned() -> None:
    server = FakeServer(
        {TARGET: b"OLD", TEMP: b"NEW"}, replace=False,
        faults=[Fault("DELE", ftplib.error_perm("550 Permission denied."))],
    )
    left = install.install(site(server), TEMP, TARGET)
    assert left is not None and asides(server) == [left]
    assert server.files == {TARGET: b"NEW", left: b"OLD"}


def test_a_refusal_that_is_not_exists_is_raised_and_nothing_moves() -> None:
    server = FakeServer({TARGET: b"OLD", TEMP: b"NEW"}, faults=[Fault("RNTO", ftplib.error_perm("553 Not allowed."))])
    with pytest.raises(XferError) as failure:
        install.install(site(server), TEMP, TARGET)
    assert server.files == {TARGET: b"OLD", TEMP: b"NEW"}
    assert TEMP in (failure.value.hint or "")
    assert server.log == [f"RNFR {TEMP}", f"RNTO {TARGET}"]


def test_refused_move_aside_changes_nothing() -> None:
    server = FakeServer(
        {TARGET: b"OLD", TEMP: b"NEW"}, replace=False,
        faults=[Fault("RNTO /in/.order.edi.", ftplib.error_perm("550 Access is denied."))],
    )
    with pytest.raises(XferError) as failure:
        install.install(site(server), TEMP, TARGET)
    assert server.files == {TARGET: b"OLD", TEMP: b"NEW"}
    assert len(server.log) == 4  # nothing was sent after the refused move: nothing to put back
    assert "failed too" not in failure.value.message and TEMP in (failure.value.hint or "")


def test_refused_install_puts_the_old_version_back_at_once() -> None:
    server = FakeServer(
        {TARGET: b"OLD", TEMP: b"NEW"}, replace=False,
        faults=[Fault(f"RNTO {TARGET}", ftplib.error_perm("550 Access is denied."), nth=2)],
    )
    with pytest.raises(XferError) as failure:
        install.install(site(server), TEMP, TARGET)
    assert server.files == {TARGET: b"OLD", TEMP: b"NEW"}
    assert server.sessions == 1 and server.drops == 0  # a reply: the session is in step
    assert TEMP in (failure.value.hint or "")


def test_lost_connection_puts_the_old_version_back_on_a_fresh_session() -> None:
    server = FakeServer(
        {TARGET: b"OLD", TEMP: b"NEW"}, replace=False,
        faults=[Fault(f"RNTO {TARGET}", EOFError(), nth=2)],
    )
    with pytest.raises(ConnectionDropped) as failure:
        install.install(site(server), TEMP, TARGET)
    assert server.files == {TARGET: b"OLD", TEMP: b"NEW"}
    assert server.drops >= 1 and server.sessions == 2
    assert TEMP in (failure.value.hint or "")


def test_lost_reply_after_the_server_renamed_keeps_the_upload() -> None:
    """The connection broke after the server had renamed: the fresh session finds the upload in
    place, so the old version is not put back over it; it is returned as left over."""
    server = FakeServer(
        {TARGET: b"OLD", TEMP: b"NEW"}, replace=False,
        faults=[Fault(f"RNTO {TARGET}", EOFError(), acted=True, nth=2)],
    )
    left = install.install(site(server), TEMP, TARGET)
    assert left is not None and server.files == {TARGET: b"NEW", left: b"OLD"}


@pytest.mark.parametrize("acted", [False, True], ids=["before-rename", "after-rename"])
def test_interrupted_install_says_where_each_version_is(acted: bool) -> None:
    server = FakeServer(
        {TARGET: b"OLD", TEMP: b"NEW"}, replace=False,
        faults=[Fault(f"RNTO {TARGET}", KeyboardInterrupt(), acted=acted, nth=2)],
    )
    with pytest.raises(Interrupted) as failure:
        install.install(site(server), TEMP, TARGET)
    hint = failure.value.hint or ""
    if acted:
        (aside,) = asides(server)
        assert server.files == {TARGET: b"NEW", aside: b"OLD"} and aside in hint
    else:
        assert server.files == {TARGET: b"OLD", TEMP: b"NEW"} and TEMP in hint


def test_put_back_that_fails_too_names_every_file_left() -> None:
    server = FakeServer(
        {TARGET: b"OLD", TEMP: b"NEW"}, replace=False,
        faults=[
            Fault(f"RNTO {TARGET}", ftplib.error_perm("550 Access is denied."), nth=2),
            Fault(f"RNTO {TARGET}", ftplib.error_temp("451 Local error."), nth=3),
        ],
    )
    with pytest.raises(RemoteError) as failure:
        install.install(site(server), TEMP, TARGET)
    (aside,) = asides(server)
    assert server.files == {aside: b"OLD", TEMP: b"NEW"}  # both versions kept, under other names
    assert f"putting the previous version back from {aside} failed too" in failure.value.message
    hint = failure.value.hint or ""
    assert aside in hint and TEMP in hint and f"{TARGET} may be missing" in hint
