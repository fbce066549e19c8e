"""FTP listings that servers send in legal but unusual ways (review D, findings 2-4).

For each server fact the listing code relies on, the other legal variant is built as a knob of
:class:`~xfer.testing.ftps_fake.FakeFTPSServer`, and xfer is shown to handle both: a folder the
server cannot read (vsftpd: an empty listing and a ``226``), LIST lines in other layouts and
languages, LIST times in the server's local zone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from xfer.adapters.ftps.listing import ListClock, Printed
from xfer.adapters.ftps.replies import listing_cut, listing_not_read
from xfer.errors import ListingTooLarge, RemotePermissionDenied, ServerError
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .helpers import run, save_ftps_profile
from .test_sync import make_tree, tree

ContextFactory = Callable[..., XferSSLContext]

#: A mirror: public files, and two in a folder the server account may enter but not read.
MIRROR = {
    **{f"pub/f{i}.txt": b"x" * i for i in range(1, 9)},
    "private/secret1.txt": b"s1",
    "private/secret2.txt": b"s2",
}


# -- finding 2: a folder the server cannot read is no empty folder ---------------------------------


@pytest.mark.parametrize("mlst", [False, True], ids=["list", "mlsd"])
def test_ls_of_a_folder_the_server_cannot_open_is_permission_denied(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, mlst: bool
) -> None:
    """vsftpd: an empty listing and "226 Transfer done (but failed to open directory).\""""
    make_tree(tmp_path / "srv" / "out", MIRROR)
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=mlst, unlistable=["/out/private"]) as srv, \
            srv.adapter(client_context()) as remote:
        with pytest.raises(RemotePermissionDenied, match="failed to open directory") as caught:
            remote.ls("/out/private")
        assert caught.value.path == "/out/private"
        # The session stays in step: the next listing works.
        assert [e.name for e in remote.ls("/out")] == ["private", "pub"]


@pytest.mark.parametrize("variant", ["226-empty", "550"])
def test_sync_delete_keeps_local_copies_under_a_folder_the_server_cannot_open(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variant: str,
) -> None:
    """The local mirror already holds everything; the server can no longer read ``private``:
    the run fails naming that folder, and nothing local is deleted (review D, finding 2)."""
    make_tree(tmp_path / "srv" / "out", MIRROR)
    make_tree(tmp_path / "inbox", MIRROR)
    knobs: dict[str, Any] = (
        {"unlistable": ["/out/private"]} if variant == "226-empty"
        else {"replies": {"LIST /out/private": "550 Failed to open directory."}}
    )
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, **knobs) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        code, out, err = run(capsys, "ls", f"{name}:/out/private")
        assert code == 6, err
        assert "permission denied" in err and "/out/private" in err
        code, out, err = run(capsys, "sync", f"{name}:/out", str(tmp_path / "inbox"), "--delete", "--json")
    assert code == 6, err
    assert "/out/private" in err
    result = json.loads(out) if out.strip() else {}
    assert not result.get("deleted")
    assert tree(tmp_path / "inbox") == MIRROR


# -- a listing the server cut short (pure-ftpd's -L limit) is no listing -----------------------------


@pytest.mark.parametrize("mlst", [False, True], ids=["list", "mlsd"])
def test_ls_of_a_listing_the_server_cut_short_fails_naming_the_cut(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, mlst: bool
) -> None:
    """pure-ftpd lists at most 10,000 names (``-L``) and ends with "226 Output truncated to
    10000 matches": a success code and a clean close_notify over part of a folder."""
    make_tree(tmp_path / "srv" / "out", FLAT)
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=mlst, list_limit=5) as srv, \
            srv.adapter(client_context()) as remote:
        with pytest.raises(ListingTooLarge, match=r"cut its listing of /out short after 5 names "
                           r"\(server said: Output truncated to 5 matches\)") as caught:
            remote.ls("/out")
        assert caught.value.path == "/out" and "listing limit" in (caught.value.hint or "")
        assert caught.value.exit_code == 6
        # The session stays in step: a listing within the limit works.
        assert [e.name for e in remote.ls("/")] == ["out"]


@pytest.mark.parametrize("command", ["sync-delete", "get-r"])
def test_a_listing_cut_short_deletes_nothing_and_fetches_nothing(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """Before, against pure-ftpd with 10,005 files, ``sync --delete`` down deleted the 7 local
    copies the listing had left out (exit 0), and ``get -r`` fetched 9,998 of them (exit 0)."""
    make_tree(tmp_path / "srv" / "out", FLAT)
    if command == "sync-delete":
        make_tree(tmp_path / "inbox", FLAT)
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=True, list_limit=5) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        argv = (["sync", f"{name}:/out", str(tmp_path / "inbox"), "--delete", "--json"] if command == "sync-delete"
                else ["get", "-r", f"{name}:/out/", str(tmp_path / "inbox") + "/", "--json"])
        code, out, err = run(capsys, *argv)
    assert code == 6, err
    assert "cut its listing of /out short" in err and "Traceback" not in err
    if command == "sync-delete":
        result = json.loads(out) if out.strip() else {}
        assert not result.get("deleted")
        assert tree(tmp_path / "inbox") == FLAT
    else:
        assert not (tmp_path / "inbox").exists() or tree(tmp_path / "inbox") == {}


#: MSG_LS_TRUNCATED as pure-ftpd's source files hold it (bytes of each file's own encoding).
_UPSTREAM_CUTS = (
    b"\xbf\xe9\xa5X\xbaI\xb5u\xa8\xec %u \xb2\xc5\xa6X",  # zh_TW, Big5: second bytes X, I, u
    # ru, KOI8-R
    b"\xf7\xd9\xd7\xcf\xc4 \xcf\xc2\xd2\xc5\xda\xc1\xce \xc4\xcf %u \xd3\xcf\xd7\xd0\xc1\xc4\xc5\xce\xc9\xca",
    b"Wyj\xb6cie obci\xeate do %u pasuj\xb1cych",  # pl, ISO-8859-2
    b"%u \xb0\xb3\xc0\xc7 \xb0\xe1\xb0\xfa \xc7\xa5\xbd\xc3",  # ko, EUC-KR
)


def _as_read(raw: bytes, number: bytes = b"10000") -> str:
    """A 226 reply of pure-ftpd's ``raw`` words as xfer reads a reply (UTF-8, other bytes as surrogates)."""
    return "226 " + raw.replace(b"%u", number).replace(b"%s", b"/out").decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(("reply", "cut"), [
    ("226 Output truncated to 10000 matches", True),
    ("226-Options: -a -l\r\n226 Output truncated to 10000 matches", True),  # (pure-ftpd's LIST -al)
    ("226 Anzeige auf 10000 Einträge beschränkt.", True),  # built in German, its file in UTF-8
    ("226 Anzeige auf 10000 Eintr\udce4ge beschr\udce4nkt.", True),  # in Latin-1: surrogates here
    ("226 Вывод обрезан до 10000 совпадений", True),
    *((_as_read(raw), True) for raw in _UPSTREAM_CUTS),
    ("226 输出截短到 10000 符合", True),
    ("226 10000 matches total", False),  # pure-ftpd's whole listing
    ('226 Successfully transferred "/truncated-2024"', False),  # FileZilla Server quoting a folder's name
    ("226 Transfer complete", False),
    ("550 Output truncated to 10000 matches", False),
])
def test_a_cut_is_read_in_pure_ftpds_own_words_in_any_language(reply: str, cut: bool) -> None:
    """Review of 8ce053a, findings 2 and 6: "truncated" anywhere in a reply failed a folder named
    ``truncated-2024`` on FileZilla Server, and pure-ftpd built in another language cut unseen."""
    assert listing_cut(reply) is cut


@pytest.mark.parametrize(("reply", "not_read"), [
    ("226 Read error during globbing of /out", True),  # ProFTPD (mod_ls.c) and pure-ftpd (ls.c)
    ("226-Out of memory during globbing of /out\r\n226 Transfer complete", True),
    ("226 Lesefehler beim Vervollst\udce4ndigen von /out.", True),
    ("226 形成 /out 时发生读取错误", True),
    (_as_read(b"\xa7\xce\xa6\xa8 %s \xae\xc9\xb5o\xa5\xcd\xc5\xaa\xa8\xfa\xbf\xf9\xbb~"), True),  # zh_TW, Big5
    ("226 0 matches total", False),
    ("226 Transfer complete", False),
])
def test_a_failed_glob_ends_no_listing(reply: str, not_read: bool) -> None:
    """Review of 8ce053a, finding 3: ProFTPD and pure-ftpd end a LIST whose glob failed with a
    226 over no entries; taken as an empty folder, sync --delete down emptied its copy."""
    assert listing_not_read(reply) is not_read


def test_a_cut_in_another_language_fails_the_listing(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    make_tree(tmp_path / "srv" / "out", FLAT)
    with FakeFTPSServer(pki, root=tmp_path / "srv", list_limit=7,
                        list_cut_reply="Anzeige auf {limit} Eintr\udce4ge beschr\udce4nkt.") as srv, \
            srv.adapter(client_context()) as remote:
        # Exactly the limit is "cut" too, as pure-ftpd says (matches >= max_ls_files).
        with pytest.raises(ListingTooLarge, match="Anzeige auf 7"):
            remote.ls("/out")


@pytest.mark.parametrize("cut_reply", ["Output truncated to {limit} matches", "Transfer complete"],
                         ids=["pure-ftpd", "proftpd-maxfiles"])
def test_rm_r_refuses_a_folder_its_parents_listing_does_not_show(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    cut_reply: str,
) -> None:
    """Review of 8ce053a, finding 1: whether a folder is a link is read from its parent's LIST
    (MLST and CWD follow links).  A cut listing read as "no link": rm -r walked into a link to a
    folder and deleted its target's files.  Now it is refused, and nothing is removed."""
    make_tree(tmp_path / "srv" / "out", FLAT)
    make_tree(tmp_path / "srv" / "real", {"inner.txt": b"inner"})
    (tmp_path / "srv" / "out" / "zz-link").symlink_to(tmp_path / "srv" / "real")
    with FakeFTPSServer(pki, root=tmp_path / "srv", list_limit=5, list_cut_reply=cut_reply) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        code, _, err = run(capsys, "rm", "-r", f"{name}:/out/zz-link")
        commands = [line for line in srv.commands if line.startswith(("DELE", "RMD"))]
    assert code == 6, err
    assert "cannot tell whether /out/zz-link is a folder or a link to one" in err and "Traceback" not in err
    assert commands == []
    assert (tmp_path / "srv" / "real" / "inner.txt").read_bytes() == b"inner"
    assert os.path.islink(tmp_path / "srv" / "out" / "zz-link")


def test_rm_r_still_removes_a_dot_folder_a_list_leaves_out(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """vsftpd and pure-ftpd list no dot names: such a folder is not refused for being unlisted."""
    make_tree(tmp_path / "srv" / "out" / ".cache", {"a.txt": b"a", "b/c.txt": b"c"})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, hide_dotfiles=True) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        code, _, err = run(capsys, "rm", "-r", f"{name}:/out/.cache")
    assert code == 0, err
    assert not (tmp_path / "srv" / "out" / ".cache").exists()


def _rm_r(pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
          target: str, **knobs: Any) -> tuple[int, str, list[str]]:
    """``rm -r target`` against the fake with ``knobs``: exit code, stderr, and the DELE/RMD sent."""
    with FakeFTPSServer(pki, root=tmp_path / "srv", **knobs) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        code, _, err = run(capsys, "rm", "-r", f"{name}:{target}")
        return code, err, [line for line in srv.commands if line.startswith(("DELE", "RMD"))]


@pytest.mark.parametrize("mlst", [False, True], ids=["list", "mlsd"])
def test_rm_r_of_a_dot_named_link_to_a_folder_removes_the_link(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mlst: bool,
) -> None:
    """Review of fe5f526, finding 3: vsftpd and pure-ftpd list no dot names, so ``.lnk`` was
    "no link" and rm -r walked into it: the files of the folder it points to went.  ``LIST -a``
    (all three daemons of the bed honour it) shows it as the link it is."""
    make_tree(tmp_path / "srv" / "real", {"inner.txt": b"inner", "deep/x.txt": b"x"})
    (tmp_path / "srv" / "out").mkdir()
    (tmp_path / "srv" / "out" / ".lnk").symlink_to(tmp_path / "srv" / "real")
    code, err, sent = _rm_r(pki, tmp_path, monkeypatch, capsys, "/out/.lnk", mlst=mlst, hide_dotfiles=True,
                            list_links=True)
    assert code == 0, err
    assert sent == ["DELE /out/.lnk"]
    assert tree(tmp_path / "srv" / "real") == {"inner.txt": b"inner", "deep/x.txt": b"x"}


def test_rm_r_of_a_dot_link_after_a_plain_list_answered_no_files_found(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Review of 15ffd9e, finding 5: "No files found" to the plain LIST is checked with CWD there
    and back, which left the session at /; LIST -a then listed /, whose own ``.lnk`` is a folder,
    and rm -r walked into /out/.lnk: the files it points to went."""
    make_tree(tmp_path / "srv" / "real", {"precious.txt": b"p"})
    make_tree(tmp_path / "srv" / ".lnk", {"other.txt": b"o"})
    (tmp_path / "srv" / "out").mkdir()
    (tmp_path / "srv" / "out" / ".lnk").symlink_to(tmp_path / "srv" / "real")
    code, err, sent = _rm_r(pki, tmp_path, monkeypatch, capsys, "/out/.lnk", mlst=False, hide_dotfiles=True,
                            list_links=True, replies={"LIST": "450 No files found."})
    assert code == 0, err
    assert sent == ["DELE /out/.lnk"]
    assert tree(tmp_path / "srv" / "real") == {"precious.txt": b"p"}


def test_rm_r_of_a_folder_named_with_a_control_character_on_a_server_printing_it_as_a_question_mark(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Review of fe5f526, finding 7: vsftpd prints ``tab?dir`` for ``tab\tdir``; the folder was
    refused as "not shown".  It is matched so, and removed."""
    make_tree(tmp_path / "srv" / "out" / "tab\tdir", {"a.txt": b"a"})
    code, err, sent = _rm_r(pki, tmp_path, monkeypatch, capsys, "/out/tab\tdir", mlst=False, list_control_as="?")
    assert code == 0, err
    assert sent == ["DELE /out/tab\tdir/a.txt", "RMD /out/tab\tdir"]


def test_rm_r_under_a_folder_whose_name_has_a_space_on_pure_ftpd(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Review of fe5f526, finding 8, measured on the bed's pure-ftpd: ``LIST /my dir`` lists
    nothing ("0 matches total": the argument is split at spaces), so rm -r of ``/my dir/sub``
    was refused.  The folder is listed from inside it, with a bare LIST."""
    make_tree(tmp_path / "srv" / "my dir" / "sub", {"a.txt": b"a"})
    code, err, sent = _rm_r(pki, tmp_path, monkeypatch, capsys, "/my dir/sub", mlst=True, list_splits_paths=True)
    assert code == 0, err
    assert sent == ["DELE /my dir/sub/a.txt", "RMD /my dir/sub"]


# -- finding 4: LIST lines in other layouts and languages never vanish -----------------------------

GERMAN = ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")
FLAT = {f"f{i}.txt": b"x" * i for i in range(1, 6)} | {"m1.txt": b"march", "m2.txt": b"march2"}


def _stamp_months(root: Path) -> None:
    """Give the files times in March, October and December (the months whose German words
    are not English), in the year before last: LIST prints them with their year."""
    year = dt.date.today().year - 2
    for number, path in enumerate(sorted(root.iterdir())):
        month = (3, 10, 12, 5)[number % 4]
        stamp = dt.datetime(year, month, 15, 10, tzinfo=dt.timezone.utc).timestamp()
        os.utime(path, (stamp, stamp))


@pytest.mark.parametrize(("knobs", "precision"), [
    ({"list_months": GERMAN}, 86400),
    ({"list_months": GERMAN, "list_format": "ls"}, 86400),  # (old files: the year either way)
    ({"list_format": "long-iso"}, 60),
    ({"list_format": "dos"}, 60),
], ids=["german", "german-ls", "long-iso", "dos"])
def test_ls_reads_localized_and_iso_list_lines(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, knobs: dict[str, Any], precision: float
) -> None:
    make_tree(tmp_path / "srv" / "out", FLAT)
    _stamp_months(tmp_path / "srv" / "out")
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, **knobs) as srv, \
            srv.adapter(client_context()) as remote:
        entries = remote.ls("/out")
    assert sorted((e.name, e.size) for e in entries) == sorted((name, len(data)) for name, data in FLAT.items())
    for entry in entries:
        true = dt.datetime.fromtimestamp((tmp_path / "srv" / "out" / entry.name).stat().st_mtime, dt.timezone.utc)
        assert entry.modified is not None and entry.modified_precision == precision, entry
        assert entry.modified <= true < entry.modified + dt.timedelta(seconds=precision), entry


def test_a_month_xfer_does_not_know_keeps_the_entry_without_a_time(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    words = ("Sty", "Lut", "Mar", "Kwi", "Maj", "Cze", "Lip", "Sie", "Wrz", "Paź", "Lis", "Gru")  # Polish
    make_tree(tmp_path / "srv" / "out", FLAT)
    _stamp_months(tmp_path / "srv" / "out")
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_months=words) as srv, \
            srv.adapter(client_context()) as remote:
        entries = {e.name: e for e in remote.ls("/out")}
    assert sorted(entries) == sorted(FLAT)
    assert all(e.size == len(FLAT[name]) for name, e in entries.items())
    # "Paź" and "Gru" (October, December) are words xfer does not know: no time, the entry kept.
    # "Mar" and "Maj" are March and May in the languages that have those words.
    assert {name for name, e in entries.items() if e.modified is None} == {"f2.txt", "f3.txt", "m1.txt", "m2.txt"}
    assert {e.modified.month for e in entries.values() if e.modified is not None} == {3, 5}


@pytest.mark.parametrize("extra", [["total 12"], ["insgesamt 12", ""]])
def test_known_non_entries_are_no_trouble(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, extra: list[str]
) -> None:
    make_tree(tmp_path / "srv" / "out", FLAT)
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_extra=extra) as srv, \
            srv.adapter(client_context()) as remote:
        assert sorted(e.name for e in remote.ls("/out")) == sorted(FLAT)


def test_a_list_line_no_parser_reads_fails_the_listing(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    make_tree(tmp_path / "srv" / "out", FLAT)
    line = "m3.txt   5 bytes   modified yesterday"
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_extra=[line]) as srv, \
            srv.adapter(client_context()) as remote:
        with pytest.raises(ServerError, match="no entry xfer can read") as caught:
            remote.ls("/out")
        assert line in str(caught.value) and caught.value.path == "/out"
        assert remote.exists("/out/f1.txt")  # the session is still in step


@pytest.mark.parametrize("knobs", [
    {"list_months": GERMAN}, {"list_format": "long-iso"}, {"list_extra": ["m3.txt 5 bytes, yesterday"]},
], ids=["german", "long-iso", "unreadable-line"])
def test_sync_delete_keeps_the_local_copies_of_files_listed_in_other_layouts(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    knobs: dict[str, Any],
) -> None:
    """Review D, finding 4: the March files' lines were dropped, and sync --delete removed their
    local copies (exit 0).  Now they are listed, or the listing fails: nothing local goes."""
    make_tree(tmp_path / "srv" / "out", FLAT)
    _stamp_months(tmp_path / "srv" / "out")
    make_tree(tmp_path / "inbox", FLAT)  # the mirror from an earlier run
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, **knobs) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        code, out, err = run(capsys, "sync", f"{name}:/out", str(tmp_path / "inbox"), "--delete", "--json")
    if "list_extra" in knobs:
        assert code == 6 and "no entry xfer can read" in err, err
    else:
        assert code == 0, err
        assert json.loads(out)["deleted"] == 0
    assert sorted(tree(tmp_path / "inbox")) == sorted(FLAT)


# -- finding 3: LIST times in the server's own zone --------------------------------------------------


def _minute(path: Path) -> dt.datetime:
    """``path``'s time as ``ls`` shows it: to the minute, in UTC."""
    return dt.datetime.fromtimestamp(path.stat().st_mtime // 60 * 60, dt.timezone.utc)


@pytest.mark.parametrize("zone", [-5.0, 5.75, 0.0], ids=["west", "east-nepal", "utc"])
def test_ls_json_gives_list_times_in_utc_learned_from_one_mdtm(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    client_context: ContextFactory, zone: float,
) -> None:
    """proftpd, pure-ftpd and IIS print LIST times in local time; MDTM is UTC (RFC 3659).  One
    MDTM per connection gives the offset (review D, finding 3)."""
    make_tree(tmp_path / "srv" / "out", FLAT | {"sub/x.txt": b"x"})
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_format="ls", list_zone=zone) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        code, out, err = run(capsys, "ls", f"{name}:/out", "--json")
        assert code == 0, err
        listed = {item["name"]: item for item in json.loads(out)}
        assert len([c for c in srv.commands if c.startswith("MDTM ")]) == 1
        for item in listed.values():
            if item["type"] == "file":
                assert dt.datetime.fromisoformat(item["modified"]) == _minute(tmp_path / "srv" / "out" / item["name"])
        with srv.adapter(client_context()) as remote:
            first = remote.ls("/out")
            assert all(e.modified_zone_known and e.modified_precision == 60 for e in first if e.type == "file")
            remote.ls("/out/sub")
            remote.ls("/out")
        # One MDTM for the connection, whatever it lists after.
        assert len([c for c in srv.commands if c.startswith("MDTM ")]) == 2


def test_without_mdtm_list_times_stay_zone_unknown(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    make_tree(tmp_path / "srv" / "out", FLAT)
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_format="ls", list_zone=-5, mdtm=False) as srv, \
            srv.adapter(client_context()) as remote:
        first, again = remote.ls("/out"), remote.ls("/out")
        assert [c for c in srv.commands if c.startswith("MDTM ")] == ["MDTM /out/f1.txt"]  # asked once: 502
    for entry in [*first, *again]:
        assert entry.modified is not None and not entry.modified_zone_known
        # The server's wall clock, read as UTC: five hours early, and sync is told so.
        assert entry.modified == _minute(tmp_path / "srv" / "out" / entry.name) - dt.timedelta(hours=5)


def test_with_mlsd_no_mdtm_is_asked(pki: TestPKI, client_context: ContextFactory, tmp_path: Path) -> None:
    make_tree(tmp_path / "srv" / "out", FLAT)
    with FakeFTPSServer(pki, root=tmp_path / "srv", list_format="ls", list_zone=-5) as srv, \
            srv.adapter(client_context()) as remote:
        assert all(e.modified_zone_known for e in remote.ls("/out"))
        assert not [c for c in srv.commands if c.startswith("MDTM ")]


@pytest.mark.parametrize("knobs", [
    {"list_zone": -5.0}, {"list_zone": 5.0}, {"clock_ahead": 30 * 3600.0},
], ids=["west", "east", "server-clock-30h-ahead"])
def test_second_sync_sends_nothing_and_a_later_same_size_edit_is_sent(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    knobs: dict[str, Any],
) -> None:
    """A LIST-only server without MFMT (each upload gets the server's time).  West of UTC every
    run sent everything again; east of it a same-size edit was skipped; with the server's clock
    more than a day ahead, "Mon DD HH:MM" was read as last year and every run sent everything."""
    make_tree(tmp_path / "outbox", FLAT)
    (tmp_path / "srv" / "in").mkdir(parents=True)
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_format="ls", **knobs) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]

        def sync() -> dict[str, Any]:
            code, out, err = run(capsys, "sync", str(tmp_path / "outbox"), f"{name}:/in", "--json")
            assert code == 0, err
            result: dict[str, Any] = json.loads(out)
            return result

        assert sync()["transferred"] == len(FLAT)
        again = sync()
        assert again["transferred"] == 0, again["actions"]
        edited = tmp_path / "outbox" / "f3.txt"
        edited.write_bytes(b"yyy")  # same size
        # More than an hour later: one learned offset is good to an hour (summer time, review E).
        later = time.time() + 3600 + 180 + knobs.get("clock_ahead", 0)
        os.utime(edited, (later, later))
        assert [a["path"] for a in sync()["actions"] if a["action"] == "transfer"] == ["f3.txt"]
    assert (tmp_path / "srv" / "in" / "f3.txt").read_bytes() == b"yyy"


UTC = dt.timezone.utc


@pytest.mark.parametrize(("printed", "mdtm", "offset"), [
    # LIST truncates to the minute what MDTM gives to the second: 59 s less is still UTC-5.
    (Printed(None, 11, 30, 6, 7), dt.datetime(2026, 11, 30, 11, 7, 59, tzinfo=UTC), dt.timedelta(hours=-5)),
    (Printed(None, 11, 30, 16, 52), dt.datetime(2026, 11, 30, 11, 7, 0, tzinfo=UTC), dt.timedelta(hours=5, minutes=45)),
    # Across the new year: the printed year is the one nearest MDTM's, not today's.
    (Printed(None, 1, 1, 0, 30), dt.datetime(2026, 12, 31, 23, 30, 5, tzinfo=UTC), dt.timedelta(hours=1)),
    (Printed(2026, 11, 30, 11, 7), dt.datetime(2026, 11, 30, 11, 7, 30, tzinfo=UTC), dt.timedelta(0)),
    # More than 15 h apart: the file changed between LIST and MDTM, or MDTM is not UTC: unknown.
    (Printed(None, 11, 30, 11, 7), dt.datetime(2026, 11, 29, 11, 7, tzinfo=UTC), None),
])
def test_the_list_clock_is_the_nearest_quarter_hour_to_mdtm(
    printed: Printed, mdtm: dt.datetime, offset: dt.timedelta | None
) -> None:
    assert ListClock.calibrated(printed, mdtm).offset == offset


def test_a_yearless_time_reckons_with_the_servers_clock_once_known() -> None:
    """A server whose clock is 30 h ahead prints "Dec 01 17:00" for a file it stored just now."""
    now = dt.datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    printed = Printed(None, 12, 1, 17, 0)
    assert ListClock().time_of(printed, now=now) == (dt.datetime(2025, 12, 1, 17, 0, tzinfo=UTC), False)
    clock = ListClock.calibrated(printed, dt.datetime(2026, 12, 1, 17, 0, 12, tzinfo=UTC))
    assert clock.time_of(printed, now=now) == (dt.datetime(2026, 12, 1, 17, 0, tzinfo=UTC), True)
    # A date-only line ("Dec 01  2025") says nothing of the hour: no offset from it.
    assert ListClock.calibrated(Printed(2025, 12, 1, precision=86400.0),
                                dt.datetime(2025, 12, 1, 5, tzinfo=UTC)) == ListClock()


#: A file from the summer (CEST, UTC+2) and one from the winter (CET, UTC+1) in Europe/Berlin.
SUMMER = dt.datetime(2026, 8, 15, 10, 0, 30, tzinfo=dt.timezone.utc).timestamp()
WINTER = dt.datetime(2026, 11, 20, 10, 0, 30, tzinfo=dt.timezone.utc).timestamp()


def _stamped(path: Path, data: bytes, stamp: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (stamp, stamp))


def _moved(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    code, out, err = run(capsys, "sync", *args, "--json")
    assert code == 0, err
    return [a["path"] for a in json.loads(out)["actions"] if a["action"] == "transfer"]


@pytest.mark.parametrize("list_format", ["ls", "dos"])
def test_one_learned_offset_holds_across_a_summer_time_change(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    list_format: Literal["ls", "dos"],
) -> None:
    """A server printing each file at its zone's offset on that file's date (IIS, pure-ftpd): the
    offset learned from one file is an hour off for files across the change.  Review E: the winter
    file was sent again on every run, and a new file (a new MDTM'd one) made both move again."""
    outbox, inbox = tmp_path / "outbox", tmp_path / "inbox"
    _stamped(outbox / "a_summer.txt", b"summer", SUMMER)
    _stamped(outbox / "b_winter.txt", b"winter", WINTER)
    (tmp_path / "srv" / "in").mkdir(parents=True)
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, list_format=list_format,
                        list_zone="Europe/Berlin", site_utime=("five", "two")) as srv:
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        assert sorted(_moved(capsys, str(outbox), f"{name}:/in")) == ["a_summer.txt", "b_winter.txt"]
        assert _moved(capsys, str(outbox), f"{name}:/in") == []
        assert sorted(_moved(capsys, f"{name}:/in", str(inbox))) == ["a_summer.txt", "b_winter.txt"]
        assert _moved(capsys, f"{name}:/in", str(inbox)) == []
        _stamped(tmp_path / "srv" / "in" / "0_new.txt", b"new", WINTER + 7 * 86400)  # sorts first: MDTM'd now
        assert _moved(capsys, f"{name}:/in", str(inbox)) == ["0_new.txt"]
        assert _moved(capsys, str(outbox), f"{name}:/in") == []
