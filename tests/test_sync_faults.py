"""Move semantics and times: a source is removed only after a verified copy (a cut transfer keeps
it), and the times a server keeps (or cannot keep) still make the second sync a no-op."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tomli_w

from xfer.errors import ExitCode
from xfer.sync import sync
from xfer.testing import serve
from xfer.testing.endpoints import Endpoint
from xfer.testing.faults import Cut, FaultProxy
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .helpers import run, save_ftps_profile
from .test_sync import FILES, make_tree, tree

ContextFactory = Callable[..., XferSSLContext]
BIG = os.urandom(400_000)


@pytest.fixture
def proxied_dav(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Endpoint, Callable[[Cut | None], FaultProxy]]]:
    """A WebDAV server, and a factory for a fault proxy in front of it under the profile ``pp``."""
    with serve("davs", pki, root=tmp_path / "served", name="pp") as served:
        proxies: list[FaultProxy] = []

        def through(cut: Cut | None) -> FaultProxy:
            host, port = served.address.rsplit(":", 1)
            proxy = FaultProxy((host, int(port)), plan={0: cut} if cut else {}).start()
            proxies.append(proxy)
            data = served.profile.to_toml()
            data["url"] = data["url"].replace(f":{port}", f":{proxy.address[1]}")
            folder = tmp_path / "profiles"
            folder.mkdir(exist_ok=True)
            (folder / "pp.toml").write_text(tomli_w.dumps(data))
            monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
            return proxy

        try:
            yield served, through
        finally:
            for proxy in proxies:
                proxy.close()


def test_put_remove_source_files_keeps_the_source_when_the_upload_is_cut(
    capsys: pytest.CaptureFixture[str], proxied_dav: tuple[Endpoint, Callable[[Cut | None], FaultProxy]],
    tmp_path: Path,
) -> None:
    served, through = proxied_dav
    source = tmp_path / "orders.csv"
    source.write_bytes(BIG)
    proxy = through(Cut("up", after=150_000))
    # One try: the point is what a failed transfer leaves (a retry would finish it).
    code, _, err = run(capsys, "put", "--remove-source-files", "--retries", "0", str(source), "pp:/in/")
    assert code != 0, err
    assert proxy.connections[0].was_cut
    assert source.read_bytes() == BIG  # the source stays
    assert not (served.root / "in" / "orders.csv").exists()

    through(None)
    code, _, err = run(capsys, "put", "--remove-source-files", str(source), "pp:/in/")
    assert code == 0, err
    assert not source.exists()
    assert (served.root / "in" / "orders.csv").read_bytes() == BIG
    assert "removed 1 of 1 source file(s)" in err


def test_get_remove_source_files_keeps_the_remote_file_when_the_download_is_cut(
    capsys: pytest.CaptureFixture[str], proxied_dav: tuple[Endpoint, Callable[[Cut | None], FaultProxy]],
    tmp_path: Path,
) -> None:
    served, through = proxied_dav
    (served.root / "outbox").mkdir()
    (served.root / "outbox" / "a.csv").write_bytes(BIG)
    (served.root / "outbox" / "b.csv").write_bytes(b"small")
    # The cut falls in the big file, whatever the requests before it (listing, HEAD) took.
    proxy = through(Cut("down", after=200_000))
    code, _, err = run(capsys, "get", "--remove-source-files", "--retries", "0", "pp:/outbox/*.csv",
                       str(tmp_path / "in"))
    assert code in (ExitCode.CONNECT, ExitCode.INTEGRITY), err
    assert proxy.connections[0].was_cut
    assert (served.root / "outbox" / "a.csv").read_bytes() == BIG
    assert (served.root / "outbox" / "b.csv").exists()  # the batch failed: nothing is removed

    through(None)
    code, _, err = run(capsys, "get", "--remove-source-files", "pp:/outbox/*.csv", str(tmp_path / "in"))
    assert code == 0, err
    assert tree(served.root / "outbox") == {}
    assert (tmp_path / "in" / "a.csv").read_bytes() == BIG


def test_sync_remove_source_keeps_files_whose_download_is_cut(
    capsys: pytest.CaptureFixture[str], proxied_dav: tuple[Endpoint, Callable[[Cut | None], FaultProxy]],
    tmp_path: Path,
) -> None:
    served, through = proxied_dav
    make_tree(served.root / "outbox", {"a.bin": BIG, "b.bin": BIG})
    proxy = through(Cut("down", after=200_000))
    code, out, err = run(capsys, "sync", "--remove-source-files", "--retries", "0", "pp:/outbox",
                         str(tmp_path / "inbox"), "--json")
    assert code in (ExitCode.CONNECT, ExitCode.INTEGRITY), err
    assert proxy.connections[0].was_cut
    assert tree(served.root / "outbox") == {"a.bin": BIG, "b.bin": BIG}
    result = json.loads(out)
    assert result["sources_removed"] == 0 and result["failed"] == 1 and result["error"]
    assert "1 failed" in err

    through(None)
    code, _, err = run(capsys, "sync", "--remove-source-files", "pp:/outbox", str(tmp_path / "inbox"))
    assert code == 0, err
    assert tree(served.root / "outbox") == {}
    assert tree(tmp_path / "inbox") == {"a.bin": BIG, "b.bin": BIG}


def test_sync_up_sets_the_remote_time_with_mfmt(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FTPSServer(pki, root=tmp_path / "served") as server:
        profile = save_ftps_profile(server, pki, tmp_path / "profiles", monkeypatch)
        make_tree(tmp_path / "outbox", FILES)
        code, _, err = run(capsys, "sync", str(tmp_path / "outbox"), f"{profile}:/in")
        assert code == 0, err
        assert any(c.startswith("MFMT ") for c in server.commands)
        for name in FILES:
            local = (tmp_path / "outbox" / name).stat().st_mtime
            assert int((server.root / "in" / name).stat().st_mtime) == int(local)
        # Next run: equal times.  A remote copy older than the local file (same size) is sent again.
        changed = server.root / "in" / "b.txt"
        earlier = changed.stat().st_mtime - 600
        os.utime(changed, (earlier, earlier))
        code, _, err = run(capsys, "sync", str(tmp_path / "outbox"), f"{profile}:/in")
        assert code == 0, err
        assert "1 transferred, 3 skipped" in err


def test_a_refused_mfmt_leaves_the_upload_and_the_next_run_still_sends_nothing(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FEAT announces MFMT but this account may not use it (pyftpdlib without the T permission: 550)."""
    with FTPSServer(pki, root=tmp_path / "served", permissions="elradfmw") as server:
        profile = save_ftps_profile(server, pki, tmp_path / "profiles", monkeypatch)
        make_tree(tmp_path / "outbox", FILES)
        code, _, err = run(capsys, "sync", str(tmp_path / "outbox"), f"{profile}:/in")
        assert code == 0, err
        assert any(c.startswith("MFMT ") for c in server.commands)
        assert tree(server.root / "in") == FILES
        code, _, err = run(capsys, "sync", str(tmp_path / "outbox"), f"{profile}:/in")
        assert code == 0, err
        assert "0 transferred, 4 skipped" in err


@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST-only"])
def test_sync_second_run_is_a_no_op_on_a_server_without_mfmt(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, mlst: bool
) -> None:
    """The fake has no MFMT; without MLSD its LIST shows dates only.  Up and down, the
    second run transfers nothing, and a local edit is still sent."""
    root = tmp_path / "fake"
    make_tree(tmp_path / "outbox", FILES)
    make_tree(root / "outbox", FILES, age=90 * 86400)
    with FakeFTPSServer(pki, root=root, mlst=mlst) as srv, srv.adapter(client_context()) as remote:
        assert not remote.keeps_modified
        up = sync(remote, "/in", tmp_path / "outbox", upload=True)
        assert up.error is None and up.transferred == 4
        # What the listing says of its times reaches sync: LIST's dates in an unnamed zone.
        [listed] = [entry for entry in remote.ls("/in") if entry.name == "a.csv"]
        assert (listed.modified_precision, listed.modified_zone_known) == ((0, True) if mlst else (86400, False))
        again = sync(remote, "/in", tmp_path / "outbox", upload=True)
        assert (again.transferred, len(again.plan.skips)) == (0, 4)
        edited = tmp_path / "outbox" / "a.csv"
        stamp = time.time() + 2 * 86400  # beyond the day a date-only listing stands for
        os.utime(edited, (stamp, stamp))
        assert [a.path for a in sync(remote, "/in", tmp_path / "outbox", upload=True).plan.transfers] == ["a.csv"]

        down = sync(remote, "/outbox", tmp_path / "inbox", upload=False)
        assert down.error is None and down.transferred == 4
        assert tree(tmp_path / "inbox") == FILES
        assert sync(remote, "/outbox", tmp_path / "inbox", upload=False).transferred == 0


def test_remove_source_is_refused_up_front_where_the_server_cannot_remove(tmp_path: Path) -> None:
    """A server that can list and send but not delete: refused before anything is downloaded."""
    from xfer.adapters.base import Adapter, Capability, ConnectionSettings, Entry
    from xfer.errors import UnsupportedOperation

    class ReadOnly(Adapter):
        capabilities = frozenset({Capability.LS, Capability.GET})

        def _ls(self, path: str) -> list[Entry]:
            return [Entry("a.csv", "/a.csv", "file", size=1)] if path != "/a.csv" else []

        def _get_file(self, remote: str, local: str, callback: object) -> None:  # type: ignore[override]
            raise AssertionError("nothing may be downloaded")

    remote = ReadOnly(ConnectionSettings("https", "example.invalid", 443, "/"))
    with pytest.raises(UnsupportedOperation, match="cannot remove files"):
        sync(remote, "/", tmp_path / "in", upload=False, remove_source=True)
    assert not (tmp_path / "in").exists()


def test_delete_is_skipped_when_a_transfer_is_cut(
    capsys: pytest.CaptureFixture[str], proxied_dav: tuple[Endpoint, Callable[[Cut | None], FaultProxy]],
    tmp_path: Path,
) -> None:
    """--delete runs only after every transfer succeeded: a cut upload leaves every destination
    file in place, and the exit code is the transfer's."""
    served, through = proxied_dav
    make_tree(tmp_path / "outbox", {"a.bin": BIG, "b.csv": b"small"})
    extra = {"old1.csv": b"1", "old2.csv": b"2", "old3.csv": b"3"}
    make_tree(served.root / "in", extra)
    proxy = through(Cut("up", after=150_000))
    code, out, err = run(capsys, "sync", "--delete", "--force", "--retries", "0", str(tmp_path / "outbox"),
                         "pp:/in", "--json")
    assert proxy.connections[0].was_cut
    assert code in (ExitCode.CONNECT, ExitCode.INTEGRITY), err
    result = json.loads(out)
    assert (result["deleted"], result["failed"]) == (0, 1), result
    assert {a["path"]: a["status"] for a in result["actions"] if a["action"] == "delete"} == dict.fromkeys(
        extra, "not run")
    assert tree(served.root / "in") == extra


def test_delete_is_skipped_when_the_server_fails_a_transfer(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same with a transfer the server fails for sure: its hash of the upload is not ours (exit 7)."""
    with serve("https", pki, root=tmp_path / "served", name="pp", digests=("repr-digest",),
               digests_on_put=True, lie_digests=True) as served:
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path / "profiles"))
        make_tree(tmp_path / "outbox", {"a.csv": b"new"})
        make_tree(served.root / "in", {"old1.csv": b"1", "old2.csv": b"2"})
        code, _, err = run(capsys, "sync", "--delete", "--force", str(tmp_path / "outbox"), "pp:/in")
        assert code == ExitCode.INTEGRITY, err
        assert "SHA-256 check" in err and "0 deleted, 1 failed" in err
        assert tree(served.root / "in") == {"old1.csv": b"1", "old2.csv": b"2"}


@pytest.mark.parametrize("forms", [("five", "two"), ("two",), ("five",)], ids=["both", "two-only", "five-only"])
def test_sync_up_sets_the_remote_time_with_site_utime_where_there_is_no_mfmt(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, forms: tuple[str, ...]
) -> None:
    """No MFMT, but SITE HELP lists UTIME (pure-ftpd, proftpd's mod_site_misc): the uploaded files
    take the local times, in the form the server takes, found once per connection."""
    make_tree(tmp_path / "outbox", {**FILES, "with space.csv": b"s"})
    with FakeFTPSServer(pki, root=tmp_path / "fake", site_utime=forms) as srv, \
            srv.adapter(client_context()) as remote:
        assert remote.keeps_modified
        up = sync(remote, "/in", tmp_path / "outbox", upload=True)
        assert up.error is None and up.transferred == 5
        for name in [*FILES, *(["with space.csv"] if "two" in forms else [])]:
            local = (tmp_path / "outbox" / name).stat().st_mtime
            assert int((srv.root / "in" / name).stat().st_mtime) == int(local), name
        utimes = [c for c in srv.commands if c.startswith("SITE UTIME ")]
        five = [c for c in utimes if c.endswith(" UTC")]
        assert [c for c in srv.commands if c == "SITE HELP"] == ["SITE HELP"]  # once per connection
        assert not any("with space.csv" in c for c in five)  # five arguments would split the name
        if forms == ("two",):
            assert len(five) == 1  # tried once, refused, not again on this connection
        else:
            # The name with a space goes by the two-argument form (refused by a five-only server:
            # that file keeps the server's time, and the next run still sees it as sent).
            assert len(five) == 4 and len(utimes) == 5
        again = sync(remote, "/in", tmp_path / "outbox", upload=True)
        assert (again.transferred, len(again.plan.skips)) == (0, 5)


def test_a_connection_dropped_on_site_help_leaves_the_uploads_done(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``keeps_modified`` asks ``SITE HELP`` after the first upload; the server hangs up there.
    The files are uploaded and verified: a warning about their times, not failed transfers."""
    make_tree(tmp_path / "outbox", FILES)
    with FakeFTPSServer(pki, root=tmp_path / "fake", site_utime=("five", "two"), drop_on={"SITE HELP"}) as srv, \
            srv.adapter(client_context()) as remote, caplog.at_level("WARNING", logger="xfer"):
        up = sync(remote, "/in", tmp_path / "outbox", upload=True)
        assert up.error is None and up.failed == [] and up.transferred == len(FILES), up
        assert tree(srv.root / "in") == FILES
        assert "SITE HELP" in srv.commands and not any(c.startswith("SITE UTIME") for c in srv.commands)
        warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warned and all(m.startswith("could not set the time of /in/") for m in warned), warned


def test_site_utime_is_not_sent_for_a_name_its_arguments_would_change(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """proftpd rebuilds the SITE UTIME path from whitespace-split words: "a  b.csv" would become
    "a b.csv" (another file's time, or a 550).  Such names get no SITE UTIME; one space is fine."""
    odd = {"a  b.csv": b"1", "a b.csv": b"2", "trail.csv ": b"3", "tab\there.csv": b"4"}
    make_tree(tmp_path / "outbox", odd)
    old = time.time() - 86_400
    for name in odd:
        os.utime(tmp_path / "outbox" / name, (old, old))
    with FakeFTPSServer(pki, root=tmp_path / "fake", site_utime=("two",)) as srv, \
            srv.adapter(client_context()) as remote, caplog.at_level("DEBUG", logger="xfer"):
        up = sync(remote, "/in", tmp_path / "outbox", upload=True)
        assert up.error is None and up.transferred == len(odd), up
        utimes = [c for c in srv.commands if c.startswith("SITE UTIME ")]
        assert [c.split(" ", 3)[3] for c in utimes] == ["/in/a b.csv"], utimes
        assert int((srv.root / "in" / "a b.csv").stat().st_mtime) == int(old)  # its own time, no other's
        assert any("SITE UTIME not sent" in r.getMessage() for r in caplog.records if r.levelname == "DEBUG")


def test_no_site_utime_is_tried_where_site_help_lists_none(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path
) -> None:
    """vsftpd-like: no MFMT, SITE HELP without UTIME: one SITE HELP, no SITE UTIME, no warning."""
    make_tree(tmp_path / "outbox", FILES)
    with FakeFTPSServer(pki, root=tmp_path / "fake") as srv, srv.adapter(client_context()) as remote:
        up = sync(remote, "/in", tmp_path / "outbox", upload=True)
        assert up.error is None and up.transferred == 4
        assert [c for c in srv.commands if c.startswith("SITE ")] == ["SITE HELP"]
