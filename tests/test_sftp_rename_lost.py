"""An SFTP upload's rename whose answer the connection lost (review U, finding 1, SFTP).

An upload goes to a temporary name and ends with ``posix-rename`` (a plain RENAME on a server
without it).  When the connection breaks after the server carried out the rename, before its
answer arrived, the next try must not upload and rename again: the file would be delivered
twice (a partner's pick-up process took the first copy between the tries), or replace a newer
file written under the name meanwhile.  It looks first (:mod:`xfer.adapters.rename_sent`): the
file in place at its size ends the upload, nothing sent again; the temporary file still there
is continued as after any cut; anything else is DeliveryUnknown (exit 5, never retried).

Against the in-process SFTP server through the fault proxy: the server's rename hook moves the
connection's cut to the byte count at that moment, so the rename's answer is the first byte lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import asyncssh
import pytest
import tomli_w

import xfer
import xfer.retry
from tests.helpers import run
from xfer.adapters.sftp.adapter import SFTPAdapter
from xfer.errors import DeliveryUnknown, FilesFailed
from xfer.testing.faults import Cut, FaultProxy
from xfer.testing.pytest_plugin import FaultyServer
from xfer.testing.sftp_server import CheckFileServer, VariantServer

#: A cut planned for no byte count: moved to the one at the rename when the hook fires.
NEVER = 10**15


class NoPosixRename(VariantServer):
    """Names no extension: no ``posix-rename@openssh.com``, a RENAME that never replaces."""

    extensions: ClassVar[tuple[bytes, ...] | None] = ()


class CutAtCheck(CheckFileServer):
    """Cuts the connection (through :attr:`watch`) at a check-file of a final name: the look a try
    makes at a file its rename put in place."""

    watch: ClassVar[Renames | None] = None

    def check_file(self, fd: int, path: str, requested: str, start: int, length: int) -> tuple[str, bytes]:
        if ".xfer-part" not in path and self.watch is not None:
            self.watch.cut_now()
        return super().check_file(fd, path, requested, start, length)


@dataclass
class Renames:
    """What the server did with the uploads' renames (temporary name to final name), and the
    cut moved to the answer of the first (``armed``); ``refuse_first``: that first rename is
    answered with a failure instead of being carried out (the answer lost as well)."""

    proxy: FaultProxy | None = None
    armed: int = 1
    refuse_first: bool = False
    done: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: Files opened for writing (the temporary names): each an upload sent from 0 or continued.
    written: list[str] = field(default_factory=list)

    def cut_now(self) -> bool:
        """Move the cut to this moment if it is still to be armed; whether it was."""
        if self.armed and self.proxy is not None:
            self.armed -= 1
            for record in self.proxy.connections:
                if not record.closed.is_set() and record.cut is not None:
                    # The next byte down is the rename's answer (Cut is frozen: the plan's own copy).
                    object.__setattr__(record.cut, "after", record.bytes_down)
            return True
        return False


@pytest.fixture
def renames(monkeypatch: pytest.MonkeyPatch) -> Iterator[Renames]:
    seen = Renames()

    def moved(old: bytes, new: bytes, carry_out: Callable[[], object]) -> None:
        if b".xfer-part" not in old:
            carry_out()  # (an old version moved aside, or back)
            return
        name = new.decode()
        if seen.cut_now() and seen.refuse_first:
            seen.refused.append(name)
            raise asyncssh.SFTPFailure("refused by the test")
        carry_out()
        seen.done.append(name)

    posix_rename = asyncssh.SFTPServer.posix_rename
    rename = asyncssh.SFTPServer.rename
    opened = asyncssh.SFTPServer.open

    def posix_rename_hook(self: asyncssh.SFTPServer, old: bytes, new: bytes) -> None:
        moved(old, new, lambda: posix_rename(self, old, new))

    def rename_hook(self: asyncssh.SFTPServer, old: bytes, new: bytes) -> None:
        moved(old, new, lambda: rename(self, old, new))

    def open_hook(self: asyncssh.SFTPServer, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & asyncssh.FXF_WRITE:
            seen.written.append(path.decode())
        return opened(self, path, pflags, attrs)

    monkeypatch.setattr(asyncssh.SFTPServer, "posix_rename", posix_rename_hook)
    monkeypatch.setattr(asyncssh.SFTPServer, "rename", rename_hook)
    monkeypatch.setattr(asyncssh.SFTPServer, "open", open_hook)
    yield seen


def between_tries(monkeypatch: pytest.MonkeyPatch, partner: Callable[[], object]) -> list[int]:
    """``partner`` runs in the wait between two tries; returns the list of waits (one per retry)."""
    waits: list[int] = []

    def sleep(seconds: float) -> None:
        waits.append(1)
        partner()

    monkeypatch.setattr(xfer.retry, "_sleep", sleep)
    return waits


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


DATA = b"INVOICE 1001\n" * 1000


# -- one file --------------------------------------------------------------------------------


@pytest.mark.parametrize("sftp_class", [asyncssh.SFTPServer, NoPosixRename], ids=["posix-rename", "rename"])
def test_taken_by_the_partner_between_tries_is_delivery_unknown_and_the_cli_keeps_the_source(
    sftp_class: type[asyncssh.SFTPServer], renames: Renames, xfer_faulty: Callable[..., FaultyServer],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    server = xfer_faulty("sftp", sftp_class=sftp_class)
    root = server.endpoint.root
    (root / "invoice.edi").write_bytes(b"the previous invoice\n")  # replaced (moved aside without posix-rename)
    src = tmp_path / "invoice.edi"
    src.write_bytes(DATA)
    picked: list[bytes] = []

    def partner() -> None:  # the pick-up process takes what arrived
        if (root / "invoice.edi").exists():
            picked.append((root / "invoice.edi").read_bytes())
            (root / "invoice.edi").unlink()

    between_tries(monkeypatch, partner)
    code, _out, err = _cli_put(server, renames, tmp_path, monkeypatch, capsys, src, "--remove-source-files", "--json")
    assert code == 5, err
    assert "not sent again" in err and "DeliveryUnknown" not in err and "Traceback" not in err
    assert src.read_bytes() == DATA  # kept: the delivery is not proven
    assert picked == [DATA]
    assert renames.done == ["/invoice.edi"]  # one rename, one delivery
    assert len(renames.written) == 1  # one upload
    # Nothing under the name again: neither a second copy nor the previous version put back.
    assert sorted(p.name for p in root.iterdir()) == []


@pytest.mark.parametrize(("sftp_class", "verified"), [
    (asyncssh.SFTPServer, "size"), (CheckFileServer, "sha256"), (NoPosixRename, "size"),
], ids=["posix-rename", "check-file", "rename"])
def test_found_in_place_ends_the_upload_without_sending_it_again(
    sftp_class: type[asyncssh.SFTPServer], verified: str, renames: Renames,
    xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = xfer_faulty("sftp", sftp_class=sftp_class)
    root = server.endpoint.root
    (root / "in").mkdir()
    (root / "in" / "invoice.edi").write_bytes(b"the previous invoice\n")
    src = tmp_path / "invoice.edi"
    src.write_bytes(DATA)
    waits = between_tries(monkeypatch, lambda: None)
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=3) as remote:
            result = remote.put_file(src, "/in/invoice.edi")
    assert proxy.connections[0].was_cut and len(waits) == 1
    assert result.attempts == 2
    assert renames.done == ["/in/invoice.edi"]  # exactly one rename
    assert len(renames.written) == 1  # and one upload: the second try sent nothing
    assert (root / "in" / "invoice.edi").read_bytes() == DATA
    assert hidden(root) == []  # no temporary file, no old version left aside
    assert result.size == len(DATA) and result.size_verified and result.verified == verified
    assert result.details["rename_answer_lost"] is True
    assert result.temp_name is not None and result.temp_name.endswith(".xfer-part")


def test_a_look_cut_in_its_turn_is_settled_by_the_try_after(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second try finds the file in place, and the connection breaks while it asks the server's
    hash of it: the third try looks again (it does not take the rename for settled and send again)."""
    server = xfer_faulty("sftp", sftp_class=CutAtCheck)
    monkeypatch.setattr(CutAtCheck, "watch", renames)
    renames.armed = 2  # at the rename, then at the check-file of the file in place
    src = tmp_path / "invoice.edi"
    src.write_bytes(DATA)
    waits = between_tries(monkeypatch, lambda: None)
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=3) as remote:
            result = remote.put_file(src, "/invoice.edi")
    assert [record.was_cut for record in proxy.connections] == [True, True, False] and len(waits) == 2
    assert result.attempts == 3 and result.details["rename_answer_lost"] is True
    assert result.verified == "sha256"
    assert renames.done == ["/invoice.edi"] and len(renames.written) == 1
    assert (server.endpoint.root / "invoice.edi").read_bytes() == DATA


def test_a_newer_file_under_the_name_is_delivery_unknown_and_kept(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = xfer_faulty("sftp")
    root = server.endpoint.root
    src = tmp_path / "prices.csv"
    src.write_bytes(b"price,10\n")
    newer = b"price,12  (newer version, written after ours was installed)\n"
    between_tries(monkeypatch, lambda: (root / "prices.csv").write_bytes(newer))
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=3) as remote, pytest.raises(DeliveryUnknown) as caught:
            remote.put_file(src, "/prices.csv")
    assert caught.value.exit_code == 5 and not xfer.retry.is_transient(caught.value)
    assert f"holds {len(newer)} bytes, not the 9 sent" in caught.value.message
    assert (root / "prices.csv").read_bytes() == newer
    assert renames.done == ["/prices.csv"] and len(renames.written) == 1
    assert hidden(root) == []


def test_a_newer_file_of_the_same_size_is_told_by_check_file(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = xfer_faulty("sftp", sftp_class=CheckFileServer)
    root = server.endpoint.root
    src = tmp_path / "prices.csv"
    src.write_bytes(b"price,10\n")
    between_tries(monkeypatch, lambda: (root / "prices.csv").write_bytes(b"price,12\n"))
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=3) as remote, pytest.raises(DeliveryUnknown) as caught:
            remote.put_file(src, "/prices.csv")
    assert "other bytes of the same size (its sha256 differs)" in caught.value.message
    assert (root / "prices.csv").read_bytes() == b"price,12\n"
    assert renames.done == ["/prices.csv"] and len(renames.written) == 1


def test_a_rename_not_carried_out_is_sent_again_once_the_part_is_continued(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rename went out and its answer was lost, but the server had not moved the file (here: it
    refused): the temporary file is still there, and the next try goes on with it."""
    server = xfer_faulty("sftp")
    root = server.endpoint.root
    renames.refuse_first = True
    data = DATA * 20  # 260 kB
    src = tmp_path / "invoice.edi"
    src.write_bytes(data)
    between_tries(monkeypatch, lambda: None)
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=3) as remote:
            result = remote.put_file(src, "/invoice.edi")
    assert proxy.connections[0].was_cut
    assert result.attempts == 2 and "rename_answer_lost" not in result.details
    assert renames.refused == ["/invoice.edi"] and renames.done == ["/invoice.edi"]
    assert len(renames.written) == 2 and renames.written[0] == renames.written[1]
    assert proxy.connections[1].bytes_up < len(data) // 4  # the part continued (complete), not sent again
    assert (root / "invoice.edi").read_bytes() == data
    assert hidden(root) == []


def test_a_cut_before_the_rename_is_retried_and_uploaded_as_ever(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = xfer_faulty("sftp")
    root = server.endpoint.root
    data = DATA * 100  # 1.3 MB, cut half way up
    src = tmp_path / "big.edi"
    src.write_bytes(data)
    renames.armed = 0
    waits = between_tries(monkeypatch, lambda: None)
    with server.through({0: Cut("up", after=len(data) // 2)}) as (proxy, profile):
        with xfer.connect(profile, retries=3) as remote:
            result = remote.put_file(src, "/big.edi")
    assert proxy.connections[0].was_cut and len(waits) == 1
    assert result.attempts == 2 and "rename_answer_lost" not in result.details
    assert (root / "big.edi").read_bytes() == data
    assert renames.done == ["/big.edi"] and len(renames.written) == 2  # opened again, to go on
    assert hidden(root) == []


# -- a group of small files --------------------------------------------------------------------


@pytest.fixture
def after_group(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], None]], None]:
    """``after_group(partner)``: ``partner`` runs once the group's uploads ended (cut), before the
    files not done go alone (a retried operation each: no wait of the retry loop in between)."""

    def install(partner: Callable[[], None]) -> None:
        together = SFTPAdapter.put_together

        def put_together(self: SFTPAdapter, *args: Any, **kwargs: Any) -> list[Any]:
            try:
                return together(self, *args, **kwargs)
            finally:
                partner()

        monkeypatch.setattr(SFTPAdapter, "put_together", put_together)

    return install


def _orders(folder: Path, count: int = 4) -> list[str]:
    folder.mkdir()
    for number in range(count):
        (folder / f"order{number}.edi").write_bytes(f"ORDER {number}\n".encode() * 50)
    return [str(folder / f"order{number}.edi") for number in range(count)]


def test_a_group_cut_at_its_renames_delivers_each_file_once(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path,
) -> None:
    """Nobody touches the files: those whose rename was done (the first one to reach the server at
    least) end as they are; those whose rename never went out, or never arrived, go alone."""
    server = xfer_faulty("sftp")
    root = server.endpoint.root
    (root / "in").mkdir()
    sources = _orders(tmp_path / "out")
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=3) as remote:
            results = remote.put(sources, "/in/")
    assert proxy.connections[0].was_cut
    assert sorted(renames.done) == [f"/in/order{n}.edi" for n in range(4)]  # each renamed once
    lost = sorted(result.remote for result in results if result.details.get("rename_answer_lost"))
    assert renames.done[0] in lost  # the first (its answer cut): not sent again
    # Uploaded once each, but those whose rename did not arrive (sent again alone, from 0).
    assert len(renames.written) == 4 + sum(1 for name in renames.done if name not in lost)
    assert all(result.size_verified and result.verified == "size" for result in results)
    for number in range(4):
        assert (root / "in" / f"order{number}.edi").read_bytes() == f"ORDER {number}\n".encode() * 50
    assert hidden(root) == []


def test_a_group_rename_that_arrived_and_was_not_carried_out_is_sent_alone(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path,
) -> None:
    """The first rename to reach the server is not carried out (refused, the answer cut): its
    temporary file is still there, so that file goes alone (its part removed), renamed once."""
    server = xfer_faulty("sftp")
    root = server.endpoint.root
    (root / "in").mkdir()
    sources = _orders(tmp_path / "out")
    renames.refuse_first = True
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=3) as remote:
            results = remote.put(sources, "/in/")
    assert proxy.connections[0].was_cut and len(renames.refused) == 1
    assert sorted(renames.done) == [f"/in/order{n}.edi" for n in range(4)]  # each renamed once
    refused = next(result for result in results if result.remote == renames.refused[0])
    assert "rename_answer_lost" not in refused.details
    for number in range(4):
        assert (root / "in" / f"order{number}.edi").read_bytes() == f"ORDER {number}\n".encode() * 50
    assert hidden(root) == []  # the refused one's part too


def test_a_group_cut_at_its_renames_does_not_deliver_again_what_the_partner_took(
    renames: Renames, after_group: Callable[[Callable[[], None]], None],
    xfer_faulty: Callable[..., FaultyServer], tmp_path: Path,
) -> None:
    server = xfer_faulty("sftp")
    root = server.endpoint.root
    (root / "in").mkdir()
    sources = _orders(tmp_path / "out")
    picked: list[str] = []

    def partner() -> None:  # once the group ended, before the files go alone
        for found in (root / "in").iterdir():
            if not found.name.startswith("."):
                picked.append(f"/in/{found.name}")
                found.unlink()

    after_group(partner)
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=3) as remote, pytest.raises(FilesFailed) as caught:
            remote.put(sources, "/in/")
    assert picked, "nothing arrived before the cut: the test proves nothing"
    assert sorted(renames.done) == [f"/in/order{n}.edi" for n in range(4)]  # each renamed once
    unknown = [failure for failure in caught.value.failures if isinstance(failure, DeliveryUnknown)]
    assert sorted(failure.path or "" for failure in unknown) == sorted(picked)
    assert len(caught.value.failures) == len(unknown)
    # The files the partner had not taken arrived (alone, or in the group), once each.
    moved = sorted(result.remote for result in caught.value.results)
    assert moved == sorted(f"/in/order{n}.edi" for n in range(4) if f"/in/order{n}.edi" not in picked)
    assert sorted(f"/in/{p.name}" for p in (root / "in").iterdir()) == moved
    assert hidden(root) == []


def test_cli_json_says_the_rename_was_settled(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--remove-source-files`` removes the source of an upload found in place (its delivery proven)."""
    server = xfer_faulty("sftp")
    src = tmp_path / "invoice.edi"
    src.write_bytes(DATA)
    between_tries(monkeypatch, lambda: None)
    code, out, err = _cli_put(server, renames, tmp_path, monkeypatch, capsys, src, "--remove-source-files", "--json")
    assert code == 0, err
    assert not src.exists()
    assert renames.done == ["/invoice.edi"] and len(renames.written) == 1
    assert (server.endpoint.root / "invoice.edi").read_bytes() == DATA
    [shown] = json.loads(out)
    assert shown["attempts"] == 2 and shown["rename_answer_lost"] is True and shown["source_removed"] is True
    assert shown["sha256"] == hashlib.sha256(DATA).hexdigest() and shown["size_verified"] is True


INVOICE = b"INVOICE 1001\n" * 1000


@pytest.mark.parametrize("old", [b"the previous invoice\n", b"OLD-VER 1001\n" * 1000], ids=["other-size", "same-size"])
def test_the_old_version_is_not_put_back_under_a_name_the_rename_may_have_filled(
    old: bytes, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Review R2, 1: a server without posix-rename (the old version renamed aside first); the
    rename of the upload is done, its answer lost, and the partner takes the file at once.  The
    failed try put the old version back under the empty name: the partner took it too, and with
    an old version of the same size the next try's look found "the upload" in place (exit 0, the
    source removed, the partner's next pick-up the old file again)."""
    seen = Renames()
    server = xfer_faulty("sftp", sftp_class=NoPosixRename)
    root = server.endpoint.root
    (root / "invoice.edi").write_bytes(old)
    source = tmp_path / "invoice.edi"
    source.write_bytes(INVOICE)
    picked: list[bytes] = []
    rename = asyncssh.SFTPServer.rename

    def taken_at_once(self: asyncssh.SFTPServer, from_: bytes, to: bytes) -> None:
        rename(self, from_, to)
        if b".xfer-part" in from_ and seen.cut_now():
            picked.append((root / "invoice.edi").read_bytes())  # the pick-up, before the client sees the cut
            (root / "invoice.edi").unlink()

    def partner() -> None:
        if (root / "invoice.edi").exists():
            picked.append((root / "invoice.edi").read_bytes())
            (root / "invoice.edi").unlink()

    monkeypatch.setattr(asyncssh.SFTPServer, "rename", taken_at_once)
    monkeypatch.setattr(xfer.retry, "_sleep", lambda seconds: partner())
    code, _, err = _cli_put(server, seen, tmp_path, monkeypatch, capsys, source, "--remove-source-files")
    assert picked == [INVOICE], [taken[:20] for taken in picked]
    assert code == 5 and "not sent again" in err
    assert source.exists()


def test_a_note_left_by_a_group_is_not_a_later_uploads_proof(
    renames: Renames, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path
) -> None:
    """Review R2, 2: a group cut at a rename whose answer was lost, and the file's upload alone
    never got to settle it (the server unreachable through its retries).  On the same connection,
    a new version of that file was then "found in place" from the group's note: nothing sent,
    success, the server still holding the old order."""
    server = xfer_faulty("sftp")
    root = server.endpoint.root
    (root / "in").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    sources = []
    for number in range(4):
        (out / f"order{number}.edi").write_bytes(f"ORDER {number}\n".encode() * 50)
        sources.append(str(out / f"order{number}.edi"))
    outage = {"on": True}

    def plan(number: int, port: int) -> Cut | None:
        if number == 0:
            return Cut("down", after=NEVER)  # the group's connection: cut at the first rename's answer
        return Cut("up", after=0) if outage["on"] else None  # then unreachable for a while

    with server.through(plan) as (proxy, profile):
        renames.proxy = proxy
        with xfer.connect(profile, retries=2) as remote:
            with pytest.raises(xfer.XferError):
                remote.put(sources, "/in/")
            outage["on"] = False
            stale = renames.done[0]
            newer = b"ORDER, corrected\n" * 50
            (tmp_path / "newer.edi").write_bytes(newer)
            result = remote.put_file(tmp_path / "newer.edi", stale)
    assert (root / stale.lstrip("/")).read_bytes() == newer
    assert not result.details.get("rename_answer_lost")


def _cli_put(server: FaultyServer, watch: Renames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str], source: Path, *flags: str) -> tuple[int, str, str]:
    """``xfer put FLAGS SOURCE partner:/invoice.edi`` through the fault proxy, its cut placed by
    ``watch`` (at the rename's answer): (exit code, stdout, stderr)."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    monkeypatch.setenv("XFER_PROFILE_PATH", str(profiles))
    with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
        watch.proxy = proxy
        (profiles / "partner.toml").write_text(tomli_w.dumps(profile.to_toml()))
        return run(capsys, "put", *flags, str(source), "partner:/invoice.edi")


class _CheckNoPosix(CheckFileServer):
    """check-file, no posix-rename (a RENAME that never replaces); the look a try makes with
    check-file at the file in place is cut (through :attr:`watch`), and the partner takes the file."""

    extensions: ClassVar[tuple[bytes, ...] | None] = ()
    watch: ClassVar[Renames | None] = None
    root: ClassVar[Path | None] = None
    picked: ClassVar[list[bytes]] = []

    def check_file(self, fd: int, path: str, requested: str, start: int, length: int) -> tuple[str, bytes]:
        answer = super().check_file(fd, path, requested, start, length)
        if ".xfer-part" not in path and self.watch is not None and self.root is not None and self.watch.cut_now():
            taken = self.root / "invoice.edi"
            if taken.exists():
                _CheckNoPosix.picked.append(taken.read_bytes())
                taken.unlink()
        return answer


def test_a_look_cut_at_its_hash_puts_no_old_version_back(
    xfer_faulty: Callable[..., FaultyServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review R3: the last try's look found the upload in place, its check-file answer was cut, and
    the partner took the file: the failed try put the old version back under the empty name (the
    partner's next pick-up took it again)."""
    seen = Renames(armed=2)
    server = xfer_faulty("sftp", sftp_class=_CheckNoPosix)
    root = server.endpoint.root
    _CheckNoPosix.watch, _CheckNoPosix.root, _CheckNoPosix.picked = seen, root, []
    (root / "invoice.edi").write_bytes(b"the previous invoice\n")
    source = tmp_path / "invoice.edi"
    source.write_bytes(INVOICE)
    rename = asyncssh.SFTPServer.rename

    def renamed(self: asyncssh.SFTPServer, from_: bytes, to: bytes) -> None:
        rename(self, from_, to)
        if b".xfer-part" in from_:
            seen.cut_now()  # the upload's rename: done, its answer lost

    monkeypatch.setattr(asyncssh.SFTPServer, "rename", renamed)
    monkeypatch.setattr(xfer.retry, "_sleep", lambda seconds: None)
    try:
        with server.through(lambda number, port: Cut("down", after=NEVER)) as (proxy, profile):
            seen.proxy = proxy
            with xfer.connect(profile, retries=1) as remote, pytest.raises(xfer.XferError):
                remote.put_file(source, "/invoice.edi")
    finally:
        _CheckNoPosix.watch = _CheckNoPosix.root = None
    assert _CheckNoPosix.picked == [INVOICE]
    assert not (root / "invoice.edi").exists()
    assert [p.read_bytes() for p in root.iterdir() if p.name.endswith(".xfer-old")] == [b"the previous invoice\n"]
