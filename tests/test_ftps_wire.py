"""FTPS against replies and reply shapes the bed's daemons never send, as fakes (:mod:`xfer.testing.ftps_fake`).

Regression tests for review L (the FTPS wire level): each test names its finding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import one_error, run
from xfer import client
from xfer.adapters.ftps.listing import parse_mlst_line, read_mlsd_line
from xfer.errors import ConnectionDropped, ConnectTimeout, ExitCode, RemoteError, RemoteNotFound, ServerError, XferError
from xfer.testing.ftps_fake import EmptyTransfer, EpsvAnswer, FakeFTPSServer, MlstShape
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .ftps_fixtures import implicit  # noqa: F401 - a fixture, used by name

ContextFactory = Callable[..., XferSSLContext]


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fake-root")
    (folder / "in").mkdir()
    (folder / "in" / "a.edi").write_bytes(b"A" * 70_000)
    (folder / "in" / "big.iso").write_bytes(b"B" * 1000)
    return folder


def _cli_flags(pki: TestPKI, srv: FakeFTPSServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("XFER_T_FTP_PW", srv.password)
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca), "--username", srv.user, "--password", "env:XFER_T_FTP_PW", "--retries", "0"]


# -- finding 1: SIZE refused for one existing file ------------------------------------------------


@pytest.mark.parametrize("mlst", [True, False], ids=["MLST", "no-MLST"])
def test_a_file_whose_size_is_refused_is_there_and_downloads(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path, mlst: bool
) -> None:
    """``550 big.iso: file too large for SIZE``: the file was "does not exist" (no MLST) or
    "permission denied" (MLST), and RETR was never tried.  A refused SIZE is an unknown size."""
    with FakeFTPSServer(pki, root=root, mlst=mlst, size_refused=["/in/big.iso"]) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            entry = remote.info("/in/big.iso")
            assert entry.type == "file"
            assert [e.name for e in remote.ls("/in/big.iso")] == ["big.iso"]
            remote.get_file("/in/big.iso", tmp_path / "big.iso")
            client.get(remote, ["/in"], f"{tmp_path / 'tree'}/", recursive=True)
            assert not remote.exists("/in/nothing.iso")
    assert (tmp_path / "big.iso").read_bytes() == b"B" * 1000
    assert (tmp_path / "tree" / "in" / "big.iso").read_bytes() == b"B" * 1000
    assert "RETR /in/big.iso" in srv.commands


# -- findings 17 and 18: SIZE's reply checked -----------------------------------------------------


def test_a_negative_size_is_no_size(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """``213 -1`` was taken as a size ("got 1000 of -1 bytes", exit 7): it is none, and the stream's
    close_notify proves the download as on a server without SIZE."""
    with FakeFTPSServer(pki, root=root, mlst=False, replies={"SIZE /in/big.iso": "213 -1"}) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            assert remote.info("/in/big.iso").size is None
            remote.get_file("/in/big.iso", tmp_path / "big.iso")
    assert (tmp_path / "big.iso").read_bytes() == b"B" * 1000


def test_a_size_answered_with_another_code_is_a_protocol_error(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A ``250`` (an extra reply the server sent earlier, read one command late) answering SIZE was
    quietly "no SIZE", and every reply after it answered the command before.  Now the session is
    dropped with a protocol error, and the next command runs on a new one."""
    with FakeFTPSServer(pki, root=root, mlst=False, replies={"SIZE /in/big.iso": "250 Rename successful."}) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            with pytest.raises(ServerError, match=r"answered SIZE with 'Rename successful\.' \(250\)") as caught:
                remote.get_file("/in/big.iso", tmp_path / "big.iso")
            assert caught.value.exit_code == ExitCode.REMOTE
            assert remote.info("/in/a.edi").size == 70_000
    assert not (tmp_path / "big.iso").exists()
    assert "RETR /in/big.iso" not in srv.commands
    assert srv.commands.count("USER xfer") == 2


# -- finding 2: one deadline per reply ---------------------------------------------------------------


def test_a_reply_trickling_in_is_bounded_by_the_timeout(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """MLST answered with a ``250-`` line every 0.3 s and never a last line: each read was within the
    1 s timeout, so xfer waited until the server gave up (a minute here; days for a server that
    goes on).  The whole reply now has twice the timeout."""
    with FakeFTPSServer(pki, root=root, trickled={"MLST /in/a.edi": 0.3}) as srv:
        with srv.adapter(client_context(), timeout=1.0, retries=0) as remote:
            started = time.monotonic()
            with pytest.raises(ConnectTimeout, match="did not answer in time"):
                remote.info("/in/a.edi")
            assert time.monotonic() - started < 4


# -- finding 3: "No files found" for an empty folder -------------------------------------------------


@pytest.mark.parametrize("reply", ["450 No files found", "550 No files found"])
@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST"])
def test_no_files_found_for_an_existing_folder_is_an_empty_listing(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path, reply: str, mlst: bool
) -> None:
    """proftpd and wu-ftpd answer a listing of an empty folder with "No files found": ls said the
    folder "does not exist" (after MLST had said it did), and get -r over it failed the batch."""
    (root / "in" / "empty").mkdir()
    with FakeFTPSServer(pki, root=root, mlst=mlst, empty_listing=reply) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            assert remote.ls("/in/empty") == []
            client.get(remote, ["/in"], f"{tmp_path / 'down'}/", recursive=True)
            with pytest.raises(RemoteNotFound):
                remote.ls("/in/nothing")
            remote.rm("/in/empty", recursive=True)
    assert sorted(p.name for p in (tmp_path / "down" / "in").iterdir()) == ["a.edi", "big.iso", "empty"]
    assert not (root / "in" / "empty").exists()


# -- finding 11: silence after a download is no hang-up ----------------------------------------------


def test_silence_after_a_download_is_said_to_be_silence(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """The data came whole, then no 226 and no hang-up: "closed the control connection" (before) was
    untrue; the reply timed out.  Exit 5 either way; nothing is saved."""
    with FakeFTPSServer(pki, root=root, silent_after_data=True) as srv:
        with srv.adapter(client_context(), timeout=1.0, retries=0) as remote:
            with pytest.raises(ConnectTimeout) as caught:
                remote.get_file("/in/a.edi", tmp_path / "a.edi")
    assert "did not confirm the download of /in/a.edi in time (70000 bytes had arrived)" in str(caught.value)
    assert "closed" not in str(caught.value)
    assert caught.value.exit_code == ExitCode.CONNECT
    assert list(tmp_path.iterdir()) == []


# -- findings 5 and 6: empty transfers without TLS ---------------------------------------------------


@pytest.mark.parametrize("how", ["final-only", "no-tls"])
@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST"])
def test_an_empty_transfer_without_tls_is_empty_where_that_is_proven(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path, how: EmptyTransfer, mlst: bool
) -> None:
    """An empty folder's listing and an empty file's RETR, ended with only a 226 (final-only: xfer
    waited the whole timeout, then "did not answer in time") or with a 150 and a data connection
    closed before TLS (no-tls: "the data connection broke", retried as if transient).  A listing is
    empty on the server's word; a file only where SIZE says 0."""
    (root / "in" / "empty").mkdir()
    (root / "in" / "zero").write_bytes(b"")
    replies = {"SIZE /in/zero": "502 Command SIZE not implemented."}
    with FakeFTPSServer(pki, root=root, mlst=mlst, empty_transfer=how) as srv:
        with srv.adapter(client_context(), timeout=5.0, retries=0) as remote:
            started = time.monotonic()
            assert remote.ls("/in/empty") == []
            remote.get_file("/in/zero", tmp_path / "zero")
            assert time.monotonic() - started < 4
            assert remote.ls("/in/a.edi")[0].size == 70_000  # the dialogue is in step
    assert (tmp_path / "zero").read_bytes() == b""
    # Without a size to prove the file empty: a clear refusal naming it, not a cut to retry.
    with FakeFTPSServer(pki, root=root, mlst=False, size=False, empty_transfer=how, replies=replies) as srv:
        with srv.adapter(client_context(), timeout=5.0) as remote:
            with pytest.raises(ServerError, match="the download of /in/zero came without any data") as caught:
                remote.get_file("/in/zero", tmp_path / "unproven")
    assert srv.commands.count("RETR /in/zero") == 1
    assert caught.value.exit_code == ExitCode.REMOTE
    assert not (tmp_path / "unproven").exists()


def test_empty_transfers_a_server_ends_with_only_226_do_not_each_wait_a_second(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review N, finding 8: xfer waited the whole EARLY_REPLY_WAIT (1 s) for a 1xx before it asked
    whether the data connection had closed: ``get -r`` of 10 empty files took 10 s, 0.6 s elsewhere."""
    folder = root / "in" / "empties"
    folder.mkdir()
    for number in range(6):
        (folder / f"e{number}").write_bytes(b"")
    with FakeFTPSServer(pki, root=root, empty_transfer="final-only") as srv:
        with srv.adapter(client_context(), timeout=5.0, retries=0) as remote:
            started = time.monotonic()
            for number in range(6):
                remote.get_file(f"/in/empties/e{number}", tmp_path / f"e{number}")
            took = time.monotonic() - started
    assert took < 3.0, f"{took:.1f} s for 6 empty files"  # 6 s and more with a whole wait for each
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"e{number}" for number in range(6)]


# -- finding 7: two preliminary replies -------------------------------------------------------------


def test_a_second_preliminary_reply_is_skipped(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """150, then 125, then 226: the 125 was read as the final reply, "refused downloading"."""
    (tmp_path / "up.edi").write_bytes(b"up")
    with FakeFTPSServer(pki, root=root, extra_preliminary="125 Transfer starting.") as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            remote.get_file("/in/a.edi", tmp_path / "a.edi")
            assert len(remote.ls("/in")) == 2
            remote.put_file(tmp_path / "up.edi", "/in/up.edi")
    assert (tmp_path / "a.edi").read_bytes() == b"A" * 70_000
    assert (root / "in" / "up.edi").read_bytes() == b"up"


# -- finding 9: RNTO refused -------------------------------------------------------------------------


def test_a_refused_rnto_keeps_the_servers_words(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """RNFR 350, then ``550 Rename failed.``: the probe of the destination made it "/in/d/b.edi does
    not exist" (the point of a rename), and the server's words were lost."""
    (root / "in" / "d").mkdir()
    with FakeFTPSServer(pki, root=root, mlst=False, replies={"RNTO /in/d/b.edi": "550 Rename failed."}) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            with pytest.raises(RemoteError) as caught:
                remote.mv("/in/a.edi", "/in/d/b.edi")
    assert not isinstance(caught.value, RemoteNotFound)
    assert "refused renaming /in/a.edi to /in/d/b.edi (server said: 550 Rename failed.)" in str(caught.value)
    assert (root / "in" / "a.edi").exists()


# -- findings 13, 14, 15: MLST and MLSD shapes, a name ending in CR ----------------------------------


@pytest.mark.parametrize("shape", ["no-space", "one-line"])
def test_mlst_replies_in_other_shapes_are_read(
    pki: TestPKI, root: Path, client_context: ContextFactory, shape: MlstShape
) -> None:
    """The fact line without its leading space, or one ``250 facts path`` line: the entry was
    "absent" (ls: "does not exist"; rm -r of a folder sent DELE, then "does not exist")."""
    (root / "in" / "e").mkdir()
    with FakeFTPSServer(pki, root=root, mlst_shape=shape) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            assert [(e.name, e.size) for e in remote.ls("/in/a.edi")] == [("a.edi", 70_000)]
            assert remote.info("/in/e").type == "directory"
            remote.rm("/in/e", recursive=True)
    assert not (root / "in" / "e").exists()
    assert "DELE /in/e" not in srv.commands


def test_an_mlst_reply_without_facts_is_unreadable_not_absent(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    with FakeFTPSServer(pki, root=root, replies={"MLST /in/a.edi": "250 End"}) as srv:
        with srv.adapter(client_context(), retries=0) as remote, pytest.raises(ServerError, match="holds no facts"):
            remote.info("/in/a.edi")


def test_mlsd_entries_without_facts_keep_their_names(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """``" nofacts"`` was dropped and ``" my file"`` listed as ``file``: an empty fact set is allowed
    (RFC 3659), and a line that is no entry fails the listing, as a LIST line does."""
    (root / "in" / "my file").write_bytes(b"m")
    (root / "in" / "nofacts").write_bytes(b"n")
    with FakeFTPSServer(pki, root=root, mlsd_no_facts=["my file", "nofacts"]) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            listed = {e.name: e.type for e in remote.ls("/in")}
    assert listed == {"a.edi": "file", "big.iso": "file", "my file": "other", "nofacts": "other"}
    assert read_mlsd_line("garbage", "/in") is None
    assert read_mlsd_line(" type=file;size=1; indented", "/in") == read_mlsd_line("type=file;size=1; indented", "/in")
    # Review N, finding 9: no ";" ends it, so after the leading space "a=b" is part of the name.
    line = read_mlsd_line(" a=b c.txt", "/in")
    assert line is not None and line.entry is not None and line.entry.name == "a=b c.txt"
    # MLST's fact line always starts with a space; facts without their last ";" are still facts
    # there (review O, finding 3: read as "no facts", every info failed).
    entry = parse_mlst_line(" type=file;size=3;modify=20240101000000 /in/a.txt", "/in/a.txt")
    assert entry is not None and entry.type == "file" and entry.size == 3


@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST"])
def test_a_name_ending_in_cr_is_not_listed_as_another_name(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path, mlst: bool
) -> None:
    """macOS's ``Icon\\r``: every trailing CR was stripped, so it was listed as ``Icon`` (another
    file) and get -r failed on it ("/in/Icon does not exist").  The CR stays, and the name is then
    one the safe-name filter keeps out, as any name with a line break."""
    (root / "in" / "Icon\r").write_bytes(b"icon")
    with FakeFTPSServer(pki, root=root, mlst=mlst) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            assert sorted(e.name for e in remote.ls("/in")) == ["a.edi", "big.iso"]
            client.get(remote, ["/in"], f"{tmp_path / 'down'}/", recursive=True)
    assert sorted(p.name for p in (tmp_path / "down" / "in").iterdir()) == ["a.edi", "big.iso"]


# -- findings 4 and 16: the greeting and the login ----------------------------------------------------


def test_a_120_before_the_greeting_is_waited_through(
    pki: TestPKI, root: Path, client_context: ContextFactory, implicit: bool
) -> None:
    """``120`` then ``220``: the 220 was read as the answer to AUTH TLS ("refused AUTH TLS", exit 4)."""
    with FakeFTPSServer(pki, root=root, implicit=implicit, greeting_wait="120 Service ready in 1 minutes.") as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            assert remote.info("/in/a.edi").size == 70_000


def test_an_account_required_is_said_so(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``332`` after PASS: ftplib sent an empty ACCT, and its refusal read "wrong user name or password"."""
    with FakeFTPSServer(pki, root=root, account_required=True) as srv:
        code, _, err = run(capsys, "ls", srv.url, *_cli_flags(pki, srv, monkeypatch))
    assert code == ExitCode.UNSUPPORTED
    one_error(err, "requires an account (ACCT)", "which xfer does not support")
    assert not [c for c in srv.commands if c.startswith("ACCT")]


# -- finding 8: passive-mode failures ----------------------------------------------------------------


@pytest.mark.parametrize("epsv", ["refused", "dead-port"])
def test_an_epsv_that_fails_falls_back_to_pasv(
    pki: TestPKI, root: Path, client_context: ContextFactory, epsv: EpsvAnswer
) -> None:
    """``550 EPSV not allowed`` was "permission denied while listing /"; an EPSV port nothing listens
    on was "HOST:CONTROL-PORT refused the connection", with no try of PASV."""
    with FakeFTPSServer(pki, root=root, epsv=epsv) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            assert len(remote.ls("/in")) == 2
            assert len(remote.ls("/in")) == 2
    assert srv.commands.count("EPSV") == 1
    assert srv.commands.count("PASV") == 2


def test_an_unreadable_epsv_reply_is_a_protocol_error(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """``229 ... |||port|`` without parentheses was "refused listing / (server said: 229 ...)"."""
    with FakeFTPSServer(pki, root=root, epsv="bare") as srv:
        with srv.adapter(client_context(), retries=0) as remote, pytest.raises(ServerError) as caught:
            remote.ls("/in")
    assert "the server's EPSV reply names no port xfer can read" in str(caught.value)
    assert "refused" not in str(caught.value)


def test_a_data_port_nothing_listens_on_is_said_to_be_the_data_connection(
    pki: TestPKI, root: Path, client_context: ContextFactory
) -> None:
    """Neither the EPSV port nor (after the fallback) the PASV one can be reached."""
    with FakeFTPSServer(pki, root=root, epsv="dead-port") as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            srv.replies["PASV"] = "227 Entering Passive Mode (127,0,0,1,0,1)."
            passive = r"the data connection to 127\.0\.0\.1 \(passive mode, port 1\) could not be opened"
            with pytest.raises(ConnectionDropped, match=passive):
                remote.ls("/in")


# -- finding 10: a server that waits for our FIN -----------------------------------------------------


def test_an_upload_does_not_wait_the_whole_timeout_for_close_notify(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """The server neither answers our close_notify nor closes, waiting for our FIN: each upload took
    the whole timeout (8 s here; 30 s by default, per file).  SIZE proves the upload."""
    (tmp_path / "up.edi").write_bytes(b"u" * 5000)
    with FakeFTPSServer(pki, root=root, await_fin=True) as srv:
        with srv.adapter(client_context(), timeout=8.0, retries=0) as remote:
            started = time.monotonic()
            result = remote.put_file(tmp_path / "up.edi", "/in/up.edi")
            assert time.monotonic() - started < 6
    assert result.size_verified
    assert (root / "in" / "up.edi").read_bytes() == b"u" * 5000


def test_mdtm_and_an_uploads_rnfr_answered_with_another_code_drop_the_session(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """The rest of finding 17: MDTM answered other than ``213`` was split for a time anyway, and an
    upload's RNFR answered other than ``350`` sent RNTO into a dialogue out of step.  Both are
    protocol errors now: the session is dropped, and the upload stays under its temporary name,
    which the error names."""
    replies = {"MDTM /in/a.edi": "226 Transfer complete."}
    (tmp_path / "up.edi").write_bytes(b"x" * 1000)
    with FakeFTPSServer(pki, root=root, replies=replies) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            with pytest.raises(ServerError, match=r"answered MDTM with 'Transfer complete\.' \(226\)"):
                remote.get_file("/in/a.edi", tmp_path / "a.edi")
            temp: list[str] = []

            recorded = srv.record

            def rnfr_out_of_step(line: str) -> None:
                if line.startswith("RNFR "):
                    temp.append(line.split(" ", 1)[1])
                    srv.replies[line] = "250 Rename successful."
                recorded(line)

            srv.record = rnfr_out_of_step  # type: ignore[method-assign]
            with pytest.raises(ServerError, match=r"answered RNFR with .*\(250\)") as caught:
                remote.put_file(tmp_path / "up.edi", "/in/up.edi")
    assert temp and temp[0] in (caught.value.hint or "")
    assert not any(line.startswith("RNTO") for line in srv.commands)
    assert not (tmp_path / "a.edi").exists()


@pytest.mark.parametrize("refusal", ["425 Can't open data connection.", "550 Permission denied."])
def test_a_parent_listing_that_fails_is_no_proof_of_absence(
    pki: TestPKI, root: Path, client_context: ContextFactory, refusal: str
) -> None:
    """Review N, finding 1: with no MLST, SIZE or MDTM the parent's listing is the last look, and
    its failure (a 425 data connection, a denial) was taken for "no such file": ``info`` said the
    file does not exist (exit 6, not retried) and ``exists`` said False.  Only a listing refused
    as "no such folder" says that."""
    replies = {"LIST /in": refusal, "LIST /gone": "550 /gone: No such file or directory."}
    with FakeFTPSServer(pki, root=root, mlst=False, size=False, mdtm=False, replies=replies) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            with pytest.raises(XferError) as caught:
                remote.info("/in/a.edi")
            assert not isinstance(caught.value, RemoteNotFound), caught.value
            with pytest.raises(XferError):
                remote.exists("/in/a.edi")
            with pytest.raises(RemoteNotFound):
                remote.info("/gone/a.edi")  # a parent refused as not there: the file is not either


def test_a_source_whose_size_is_refused_is_kept_for_that_reason(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review N, finding 6: the download of a file whose SIZE is refused works; removing its
    source then said "the server shows no file" (it is there).  Kept, for what is true."""
    with FakeFTPSServer(pki, root=root, mlst=False, size_refused=["/in/a.edi"]) as srv:
        with srv.adapter(client_context(), retries=0) as remote:
            got = remote.get_file("/in/a.edi", tmp_path / "a.edi")
            [kept] = remote.remove_sources([("/in/a.edi", got.size)])
    assert kept is not None and "does not tell its size" in str(kept) and "no file" not in str(kept)
    assert (root / "in" / "a.edi").exists()


def test_an_upload_into_a_write_only_drop_folder_does_not_need_a_look(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """Review O, finding 4: proftpd's write-only drop folder (``<Limit READ DIRS> DenyAll``: SIZE,
    MDTM, MLST and LIST refused).  Once a refused listing stopped counting as "absent" (N-1), the
    "is the destination a folder?" look before the upload failed it.  A refused look is no answer:
    the destination names the file."""
    (root / "drop").mkdir()
    (tmp_path / "inv.edi").write_bytes(b"UNA" * 100)
    denied = {f"{command} /drop/inv.edi": "550 /drop/inv.edi: Operation not permitted"
              for command in ("SIZE", "MDTM", "MLST")}
    denied.update({f"{command} /drop": "550 /drop: Operation not permitted" for command in ("LIST", "MLSD")})
    with FakeFTPSServer(pki, root=root, replies=denied, mlst=False) as srv:
        with srv.adapter(client_context(), retries=0, upload_temp_name=False) as remote:
            client.put(remote, [tmp_path / "inv.edi"], "/drop/inv.edi")
    assert (root / "drop" / "inv.edi").read_bytes() == b"UNA" * 100
