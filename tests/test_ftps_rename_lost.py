"""An FTPS upload's RNTO whose answer never came (review U, HIGH 2), and the temporary name the
final error gives as the user's complete upload (review U, the give-up clean-up).

The upload ends with RNFR/RNTO of ``.NAME.RANDOM.xfer-part``.  When the connection breaks after the
server received the RNTO, before its reply arrives, a fresh session looks before anything is said:
the upload found in place is a success; the temporary file still there is the error naming it; the
final name empty (a partner's pick-up took it) is :class:`~xfer.errors.DeliveryUnknown`, never sent
again.  In-process pyftpdlib through the fault proxy: the cut is moved, when the server receives
the RNTO, to the next byte it sends (its reply).
"""

from __future__ import annotations

import ftplib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w

import xfer
import xfer.retry
from xfer.errors import ConnectionDropped, DeliveryUnknown, ExitCode, RemotePermissionDenied, XferError
from xfer.testing.faults import Cut
from xfer.testing.pytest_plugin import FaultyServer

from .helpers import run
from .test_ftps_install import TARGET, TEMP, FakeFTP, FakeServer, Fault, site

BODY = b"INVOICE 1001\n" * 100

#: The proxy's plan: every connection may be cut, at a byte count set later (:meth:`Server.lose_reply`).
NOT_YET = 10**15


@dataclass
class Server:
    """What the server did: its commands counted, and what its RNTO does (``rename``: carry it out;
    ``then``: run after it, as a partner's pick-up would)."""

    rename: bool = True
    then: Callable[[], None] | None = None
    proxy: Any = None
    renames: int = 0
    stored: list[str] = field(default_factory=list)
    #: Paths asked about (MLST, SIZE) after the RNTO.
    looked: list[str] = field(default_factory=list)

    def lose_reply(self) -> None:
        """Cut every open connection at its next byte down: the reply being written now."""
        for record in self.proxy.connections:
            if not record.closed.is_set() and record.cut is not None:
                object.__setattr__(record.cut, "after", record.bytes_down)


@pytest.fixture
def server_side(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    from pyftpdlib.handlers import FTPHandler

    state = Server()
    real_rnto, real_stor = FTPHandler.ftp_RNTO, FTPHandler.ftp_STOR
    real_mlst, real_size = FTPHandler.ftp_MLST, FTPHandler.ftp_SIZE

    def ftp_rnto(handler: Any, path: str) -> Any:
        state.renames += 1
        state.lose_reply()
        if not state.rename:
            handler._rnfr = None
            handler.respond("250 Renamed.")  # never arrives
            return None
        done = real_rnto(handler, path)
        if state.then is not None:
            state.then()
        return done

    def ftp_stor(handler: Any, path: str, mode: str = "w") -> Any:
        state.stored.append(path)
        return real_stor(handler, path, mode)

    def looking(real: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
        def ask(handler: Any, path: str) -> Any:
            if state.renames:
                state.looked.append(handler.fs.fs2ftp(path))
            return real(handler, path)
        return ask

    monkeypatch.setattr(FTPHandler, "ftp_RNTO", ftp_rnto)
    monkeypatch.setattr(FTPHandler, "ftp_STOR", ftp_stor)
    monkeypatch.setattr(FTPHandler, "ftp_MLST", looking(real_mlst))
    monkeypatch.setattr(FTPHandler, "ftp_SIZE", looking(real_size))
    monkeypatch.setattr(xfer.retry, "_sleep", lambda seconds: None)
    yield state


def _cut_later(number: int, port: int) -> Cut:
    return Cut("down", after=NOT_YET)


def _names(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir())


def test_rename_done_and_its_answer_lost_is_a_success(
    server_side: Server, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path
) -> None:
    """Before: exit 5, "the upload is complete on the server as /.invoice.edi.…xfer-part: rename it
    … or run the command again", while the file was installed and the temporary name gone."""
    server = xfer_faulty("ftpes")
    root = server.endpoint.root
    (tmp_path / "invoice.edi").write_bytes(BODY)
    with server.through(_cut_later) as (proxy, profile):
        server_side.proxy = proxy
        with xfer.connect(profile, retries=3) as remote:
            result = remote.put_file(tmp_path / "invoice.edi", "/invoice.edi")
    assert result.attempts == 1 and result.size == len(BODY) and result.size_verified
    assert "holding the 1300 bytes sent" in result.details["rename_answer_lost"]
    assert server_side.renames == 1 and len(server_side.stored) == 1  # nothing sent again
    assert _names(root) == ["invoice.edi"] and (root / "invoice.edi").read_bytes() == BODY


def test_rename_done_then_taken_by_the_partner_is_delivery_unknown(
    server_side: Server, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The partner's pick-up takes the file before the look: whether it was ours cannot be told.
    Exit 5, nothing sent again, and ``--remove-source-files`` keeps the source."""
    server = xfer_faulty("ftpes")
    root = server.endpoint.root
    taken: list[bytes] = []

    def pick_up() -> None:
        taken.append((root / "invoice.edi").read_bytes())
        (root / "invoice.edi").unlink()

    server_side.then = pick_up
    source = tmp_path / "invoice.edi"
    source.write_bytes(BODY)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(profiles))
    with server.through(_cut_later) as (proxy, profile):
        server_side.proxy = proxy
        (profiles / "partner.toml").write_text(tomli_w.dumps(profile.to_toml()))
        code, out, err = run(capsys, "put", "--remove-source-files", "--json", str(source), "partner:/invoice.edi")
    assert code == ExitCode.CONNECT == DeliveryUnknown.exit_code, err
    assert "/invoice.edi is not there: it may have been delivered and taken" in err
    assert "not sent again, so that it is not delivered twice" in err
    assert "xfer-part" not in err  # no advice to rename a file that is not there
    assert source.read_bytes() == BODY  # kept: the delivery is not proven
    assert taken == [BODY] and server_side.renames == 1 and len(server_side.stored) == 1
    assert _names(root) == []
    assert '"source_removed": true' not in out


def test_rename_not_done_names_the_temporary_file_which_is_there(
    server_side: Server, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path
) -> None:
    """The server did not rename: the error names the complete upload's temporary name, now
    known true (a fresh session found it there: before, that was said without looking), and
    nothing is sent again."""
    server_side.rename = False
    server = xfer_faulty("ftpes")
    root = server.endpoint.root
    (tmp_path / "invoice.edi").write_bytes(BODY)
    with server.through(_cut_later) as (proxy, profile):
        server_side.proxy = proxy
        with xfer.connect(profile, retries=3) as remote, pytest.raises(ConnectionDropped) as failure:
            remote.put_file(tmp_path / "invoice.edi", "/invoice.edi")
    assert not isinstance(failure.value, DeliveryUnknown)
    (temp,) = _names(root)
    assert temp.startswith(".invoice.edi.") and temp.endswith(".xfer-part")
    assert (root / temp).read_bytes() == BODY
    assert f"the upload is complete on the server as /{temp}: rename it to /invoice.edi by hand" in (
        failure.value.hint or "")
    assert server_side.renames == 1 and len(server_side.stored) == 1
    assert server_side.looked[:1] == [f"/{temp}"]


def test_the_complete_upload_the_error_names_is_not_removed_when_the_tries_give_up(
    xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Try 1 is cut mid-STOR (its part is to be removed if no try installs it); try 2 continues it
    to the end and the server refuses the RNTO.  Before: the give-up removed the part, which the
    error named as the complete upload to rename by hand; the folder was empty."""
    from pyftpdlib.handlers import FTPHandler

    def ftp_rnto(handler: Any, path: str) -> None:
        handler._rnfr = None
        handler.respond("553 Rename refused by policy.")

    monkeypatch.setattr(FTPHandler, "ftp_RNTO", ftp_rnto)
    monkeypatch.setattr(xfer.retry, "_sleep", lambda seconds: None)
    server = xfer_faulty("ftpes")
    root = server.endpoint.root
    body = bytes(range(256)) * 12_000
    (tmp_path / "big.bin").write_bytes(body)
    control: int | None = None

    def plan(number: int, port: int) -> Cut | None:
        nonlocal control
        if control is None:
            control = port
        if port != control and number <= 2:
            return Cut("up", after=1_000_000)  # the first data connection (the STOR)
        return None

    with server.through(plan) as (_proxy, profile):
        with xfer.connect(profile, retries=3) as remote, pytest.raises(RemotePermissionDenied) as failure:
            remote.put_file(tmp_path / "big.bin", "/big.bin")
    assert failure.value.attempt == 2
    (temp,) = _names(root)
    assert f"the upload is complete on the server as /{temp}: rename it to /big.bin by hand" in (
        failure.value.hint or "")
    assert (root / temp).read_bytes() == body


# -- the look itself, on a fake server (tests/test_ftps_install.py's) --------------------------


def test_a_fake_rename_done_with_its_answer_lost_is_settled_as_done() -> None:
    server = FakeServer({TEMP: b"NEW"}, faults=[Fault("RNTO", EOFError(), acted=True)])
    settled: list[bool] = []
    assert install_with(server, settled=lambda: settled.append(True)) is None
    assert settled == [True] and server.files == {TARGET: b"NEW"} and server.sessions == 2


@pytest.mark.parametrize("how", ["no-fresh-session", "look-refused"])
def test_a_failed_look_says_the_rename_is_unknown(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The look cannot be made: the error does not claim the upload is at its temporary name, nor
    advise running the command again."""
    server = FakeServer({TEMP: b"NEW"}, faults=[Fault("RNTO", EOFError(), acted=True)])
    fake = site(server)
    if how == "no-fresh-session":
        def reopen() -> FakeFTP:
            raise ConnectionRefusedError("refused")
        fake = _replace(fake, reopen=reopen)
    else:
        def size_at(_ftp: FakeFTP, path: str) -> int | None:
            raise ftplib.error_perm("550 Permission denied.")
        fake = _replace(fake, size_at=size_at)
    with pytest.raises(XferError) as failure:
        install_with(server, fake=fake)
    hint = failure.value.hint or ""
    assert "unknown whether the server renamed the upload" in hint
    assert f"complete on the server as {TEMP}" not in hint and "run the command again" not in hint
    assert "failed" in failure.value.message and not isinstance(failure.value, DeliveryUnknown)


def install_with(server: FakeServer, *, fake: Any = None, settled: Callable[[], None] | None = None) -> str | None:
    from xfer.adapters.ftps import install

    return install.install(fake or site(server), TEMP, TARGET, len(b"NEW"), settled=settled)


def _replace(fake: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(fake, **changes)
