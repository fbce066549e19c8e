"""A file the server refuses on its own fails alone; the rest of the batch still moves.

Cron drains an outbox with ``put --remove-source-files`` or ``sync``.  Before, the first refused
file stopped the batch: the files after it never moved (on every run, for a file refused every
time), and the files before it kept their sources and went out again the next run, because the
failure carried nothing of what had moved.  A failure that is not one file's own (the
connection, the login) still stops the batch, and what moved before it is still reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run
from xfer.errors import ExitCode
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.pki import TestPKI

NAMES = ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]


def _flags(pki: TestPKI, srv: FakeFTPSServer, monkeypatch: pytest.MonkeyPatch, *more: str) -> list[str]:
    monkeypatch.setenv("XFER_T_FTP_PW", srv.password)
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca), "--username", srv.user, "--password", "env:XFER_T_FTP_PW",
            "--retries", "0", *more]


def _errors(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("xfer: error: ")]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    (folder / "out").mkdir(parents=True)
    for name in NAMES:
        (folder / "out" / name).write_bytes(name.encode())
    (folder / "in").mkdir()
    return folder


@pytest.mark.parametrize("parallel", ["1", "3"])
def test_put_remove_source_files_moves_every_file_but_the_refused_one(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, parallel: str,
) -> None:
    """``in/c.txt`` is a folder on the server.  Before: exit 6, nothing on stdout, all five sources
    kept (a and b went again next run), d and e never sent."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    for name in NAMES:
        (outbox / name).write_bytes(name.encode())
    (root / "in" / "c.txt").mkdir()
    with FakeFTPSServer(pki, root=root) as srv:
        code, out, err = run(capsys, "put", "--remove-source-files", "--json", "-P", parallel,
                             *[str(outbox / name) for name in NAMES], f"{srv.url}in/",
                             *_flags(pki, srv, monkeypatch))
    assert code == ExitCode.REMOTE, err
    [error] = _errors(err)
    assert "/in/c.txt is a folder" in error and "4 file(s) were moved" in error
    assert sorted(r["local"].rsplit("/", 1)[1] for r in json.loads(out)) == ["a.txt", "b.txt", "d.txt", "e.txt"]
    assert sorted(p.name for p in outbox.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in (root / "in").iterdir()) == NAMES
    assert [p.name for p in (root / "in").iterdir() if p.name.endswith("xfer-part")] == []


def test_sync_remove_source_files_drains_everything_but_the_refused_file(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``RETR /out/c.txt`` is refused every time.  Before: each run stopped at c, so d and e never
    moved, on any run."""
    inbox = tmp_path / "inbox"
    with FakeFTPSServer(pki, root=root, replies={"RETR /out/c.txt": "550 Permission denied."}) as srv:
        code, out, err = run(capsys, "sync", f"{srv.url}out", str(inbox), "--remove-source-files", "--json",
                             *_flags(pki, srv, monkeypatch))
    assert code == ExitCode.REMOTE, err
    assert sorted(p.name for p in inbox.iterdir()) == ["a.txt", "b.txt", "d.txt", "e.txt"]
    assert sorted(p.name for p in (root / "out").iterdir()) == ["c.txt"]
    result = json.loads(out)
    assert result["failed"] == 1 and result["transferred"] == 4
    statuses = {a["path"]: a["status"] for a in result["actions"]}
    assert statuses["c.txt"] == "failed" and statuses["e.txt"] == "done"


def test_get_of_a_glob_goes_on_after_a_refused_file_and_says_which(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two refusals: the first leads the error, the second is a warning; three files arrive."""
    refused = {"RETR /out/b.txt": "550 Permission denied.", "RETR /out/d.txt": "550 No such file."}
    with FakeFTPSServer(pki, root=root, replies=refused) as srv:
        code, out, err = run(capsys, "get", "--json", f"{srv.url}out/*.txt", f"{tmp_path / 'down'}/",
                             *_flags(pki, srv, monkeypatch))
    assert code == ExitCode.REMOTE, err
    [error] = _errors(err)
    assert "/out/b.txt" in error and "1 more file(s) failed" in error and "3 file(s) were moved" in error
    assert any("/out/d.txt" in line for line in err.splitlines() if line.startswith("xfer: warning: "))
    assert sorted(p.name for p in (tmp_path / "down").iterdir()) == ["a.txt", "c.txt", "e.txt"]
    assert len(json.loads(out)) == 3


def test_a_failure_of_the_connection_still_stops_the_batch_and_reports_what_moved(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server hangs up at c: not c's own failure (every file after it would meet it too)."""
    with FakeFTPSServer(pki, root=root, drop_on=["RETR /out/c.txt"]) as srv:
        code, out, err = run(capsys, "get", "--json", "--remove-source-files", f"{srv.url}out/*.txt",
                             f"{tmp_path / 'down'}/", *_flags(pki, srv, monkeypatch))
    assert code == ExitCode.CONNECT, err
    [error] = _errors(err)
    assert "2 file(s) were moved before it" in error
    assert sorted(p.name for p in (tmp_path / "down").iterdir()) == ["a.txt", "b.txt"]
    assert sorted(p.name for p in (root / "out").iterdir()) == ["c.txt", "d.txt", "e.txt"]  # a, b moved
    assert len(json.loads(out)) == 2


def test_rm_of_a_glob_goes_on_after_a_refused_match(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: a.txt removed, c, d, e never tried, and --json printed nothing."""
    with FakeFTPSServer(pki, root=root, replies={"DELE /out/b.txt": "550 Permission denied."}) as srv:
        code, out, err = run(capsys, "rm", "--json", f"{srv.url}out/*.txt", *_flags(pki, srv, monkeypatch))
    assert code == ExitCode.REMOTE, err
    [error] = _errors(err)
    assert "/out/b.txt" in error and "(4 of 5 removed)" in error
    assert sorted(p.name for p in (root / "out").iterdir()) == ["b.txt"]
    assert [item["path"] for item in json.loads(out)] == ["/out/a.txt", "/out/c.txt", "/out/d.txt", "/out/e.txt"]


# -- HTTPS: groups of small files, and what an HTTP status means for the batch ----------------------


def _https_flags(pki: TestPKI) -> list[str]:
    return ["--retries", "0", "--ca", str(pki.root_ca), "--identity", str(pki.client_p12),
            "--identity-password", f"file:{pki.password_file}"]


def _outbox(tmp_path: Path, names: list[str], size: int = 0) -> Path:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    for name in names:
        (outbox / name).write_bytes(name.encode() * max(1, size // len(name)))
    return outbox


def test_files_of_a_group_that_landed_before_a_stop_are_reported_and_their_sources_removed(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, config: Path,
) -> None:
    """Ten small files go as one pipelined group; the server answers 503 (busy: a stop) for f05.
    Before (review): the files of the group that had landed were lost from the outcome: stdout
    empty, every source kept, so all went out again on the next run."""
    from xfer.testing.https_server import HTTPSServer

    names = [f"f{i:02}.txt" for i in range(10)]
    outbox = _outbox(tmp_path, names)
    with HTTPSServer(pki, root=tmp_path / "srv", statuses={"/in/f05.txt": 503}) as srv:
        (srv.root / "in").mkdir()
        code, out, err = run(capsys, "put", "--remove-source-files", "--json", *[str(outbox / n) for n in names],
                             f"{srv.url}/in/", *_https_flags(pki))
        on_server = sorted(p.name for p in (srv.root / "in").iterdir())
    assert code != 0, err
    assert "f05.txt" not in on_server and len(on_server) >= 5
    reported = sorted(r["local"].rsplit("/", 1)[1] for r in json.loads(out))
    assert reported == on_server
    assert not set(on_server) & {p.name for p in outbox.iterdir()}, "a source kept for a file on the server"
    [error] = _errors(err)
    assert f"{len(on_server)} file(s) were moved before it" in error


def test_a_refused_login_stops_the_batch_at_the_first_file(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, config: Path,
) -> None:
    """Every PUT answered 401.  Before (review): 401 counted as one file's refusal, so each of the
    20 files was tried twice (40 refused logins: an account lock-out on a big tree)."""
    from xfer.testing.https_server import HTTPSServer

    names = [f"f{i:02}.txt" for i in range(20)]
    outbox = _outbox(tmp_path, names)
    with HTTPSServer(pki, root=tmp_path / "srv", statuses={f"/in/{name}": 401 for name in names}) as srv:
        (srv.root / "in").mkdir()
        code, _, err = run(capsys, "put", *[str(outbox / n) for n in names], f"{srv.url}/in/", *_https_flags(pki))
        puts = [r for r in srv.requests if r.method == "PUT"]
    assert code == ExitCode.REMOTE, err
    # One group (the adapter sends its refused file again alone to say what is wrong), then the
    # batch stops: never every file again, one by one.
    assert len(puts) <= len(names) + 1
    assert "xfer: warning" not in err


def test_one_file_over_the_servers_size_limit_fails_alone(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, config: Path,
) -> None:
    """413 is that file's own (it is too large), not a full store.  Before (review): it stopped the
    batch, so c.txt never moved, on any run."""
    from xfer.testing.https_server import HTTPSServer

    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "a.txt").write_bytes(b"a")
    (outbox / "b.big").write_bytes(b"b" * 200_000)
    (outbox / "c.txt").write_bytes(b"c")
    with HTTPSServer(pki, root=tmp_path / "srv", max_body=100_000) as srv:
        (srv.root / "in").mkdir()
        code, _, err = run(capsys, "put", *[str(outbox / n) for n in ("a.txt", "b.big", "c.txt")], f"{srv.url}/in/",
                           *_https_flags(pki))
        on_server = sorted(p.name for p in (srv.root / "in").iterdir())
    assert code == ExitCode.REMOTE, err
    assert on_server == ["a.txt", "c.txt"]


@pytest.mark.parametrize("parallel", ["1", "3"])
def test_sync_down_goes_on_when_one_source_cannot_be_removed(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, parallel: str,
) -> None:
    """``DELE /out/b.txt`` refused.  Before (review): the removal's failure stopped the sync, so c, d
    and e never moved, and b was counted neither failed nor kept."""
    inbox = tmp_path / "inbox"
    with FakeFTPSServer(pki, root=root, replies={"DELE /out/b.txt": "550 Permission denied."}) as srv:
        code, out, err = run(capsys, "sync", f"{srv.url}out", str(inbox), "--remove-source-files", "--json",
                             "-P", parallel, *_flags(pki, srv, monkeypatch))
    assert code == ExitCode.REMOTE, err
    assert sorted(p.name for p in inbox.iterdir()) == NAMES
    assert sorted(p.name for p in (root / "out").iterdir()) == ["b.txt"]
    result = json.loads(out)
    assert result["failed"] == 1 and result["sources_removed"] == 4
    assert {a["path"]: a["status"] for a in result["actions"]}["b.txt"] == "failed"


# -- sync's counts agree with its actions' statuses (second review) ----------------------------------


def _counts_agree(result: dict[str, Any]) -> None:
    statuses = [action["status"] for action in result["actions"]]
    assert result["transferred"] == statuses.count("done"), result
    assert result["failed"] == statuses.count("failed"), result
    assert result["skipped"] == statuses.count("skipped"), result


def test_sync_down_counts_a_copy_whose_source_stays_as_failed_only(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: b.txt was counted transferred and failed (5 + 1 for 5 files); and on a second run,
    where b.txt is unchanged, failed 1 with no action failed."""
    inbox = tmp_path / "inbox"
    refused = {"DELE /out/b.txt": "550 Permission denied."}
    with FakeFTPSServer(pki, root=root, replies=refused) as srv:
        code, out, _ = run(capsys, "sync", f"{srv.url}out", str(inbox), "--remove-source-files", "--json",
                           *_flags(pki, srv, monkeypatch))
        assert code == ExitCode.REMOTE
        _counts_agree(json.loads(out))
        code, out, _ = run(capsys, "sync", f"{srv.url}out", str(inbox), "--remove-source-files", "--json",
                           *_flags(pki, srv, monkeypatch))
    assert code == ExitCode.REMOTE
    result = json.loads(out)
    _counts_agree(result)
    assert {a["path"]: a["status"] for a in result["actions"]} == {"b.txt": "failed"}


def test_sync_up_counts_a_kept_source_as_failed_and_goes_on(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """B.txt and b.txt: a case-insensitive server could hold them as one file, so both sources stay.
    Before: counted failed 0, every status done, while the error spoke of a failed file."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    for name in ["a.txt", "B.txt", "b.txt", "c.txt"]:
        (outbox / name).write_bytes(name.encode())
    with FakeFTPSServer(pki, root=root) as srv:
        code, out, _ = run(capsys, "sync", str(outbox), f"{srv.url}in", "--remove-source-files", "--json",
                           *_flags(pki, srv, monkeypatch))
    assert code == ExitCode.INTEGRITY
    result = json.loads(out)
    _counts_agree(result)
    assert result["failed"] == 2 and sorted(p.name for p in outbox.iterdir()) == ["B.txt", "b.txt"]


def test_a_read_only_destination_stops_the_batch_at_the_first_file(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, root: Path, config: Path, read_only_disk: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every file would meet it: one error, not one failure and one warning per file (a cron mail
    of 10,000 lines for a tree).  A file's own local failure (a name too long) still fails alone."""
    with FakeFTPSServer(pki, root=root) as srv:
        code, _, err = run(capsys, "get", f"{srv.url}out/*.txt", f"{read_only_disk}/", *_flags(pki, srv, monkeypatch))
        retrieved = [c for c in srv.commands if c.startswith("RETR ")]
    assert code == ExitCode.ERROR, err
    [error] = _errors(err)
    assert "Read-only file system" in error
    assert "xfer: warning" not in err
    assert len(retrieved) <= 1
