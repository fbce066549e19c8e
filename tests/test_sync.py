"""``xfer sync`` against the in-process servers (FTPS, WebDAV, HTTPS) and the refusal for AS2.

Every test runs the CLI in-process and looks at both sides on disk (the servers store into
a folder of this machine): what moved, what did not, what was deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from xfer.errors import ExitCode
from xfer.sync import NEWER_COPY, NEWER_COPY_SENT, SYNC_KEYS
from xfer.testing import serve
from xfer.testing.endpoints import Endpoint
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.pki import TestPKI
from xfer.transfer import is_temporary

from .helpers import one_error, run, save_ftps_profile

PROTOCOLS = ["ftpes", "davs", "https"]


@pytest.fixture(params=PROTOCOLS)
def endpoint(
    request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Endpoint]:
    with served_as_pp(request.param, pki, tmp_path, monkeypatch) as served:
        yield served


@contextlib.contextmanager
def served_as_pp(protocol: str, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    """The in-process server of ``protocol`` storing under ``tmp_path/served``, as the profile ``pp``."""
    with serve(protocol, pki, root=tmp_path / "served", name="pp") as served:
        folder = tmp_path / "profiles"
        folder.mkdir()
        (folder / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
        yield served


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative path -> content)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Content and modification time (ns) of every file: what 'nothing changed' means."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def make_tree(root: Path, files: dict[str, bytes], *, age: float = 3600) -> None:
    """Write ``files`` with a modification time ``age`` seconds ago (not on a whole minute)."""
    stamp = int(time.time() - age) // 60 * 60 + 17.25
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (stamp, stamp))


FILES = {"a.csv": b"a,b\n1,2\n", "b.txt": b"hello\n", "sub/c.csv": b"c\n" * 100, "sub/deep/d.bin": bytes(range(256))}


def sync_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code, out, err = run(capsys, "sync", *args, "--json")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def test_sync_up_then_second_run_sends_nothing_and_a_touched_file_is_resent(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, FILES)
    first = sync_json(capsys, str(local), "pp:/in")
    assert first["transferred"] == 4 and first["skipped"] == 0 and first["failed"] == 0
    assert tree(endpoint.root / "in") == FILES

    code, _, err = run(capsys, "sync", str(local), "pp:/in")
    assert code == 0, err
    assert "up to date, nothing transferred (listing only): 0 transferred, 4 skipped" in err

    # Same size, new time: sent again (a remote that cannot keep times has its own, later one;
    # a local edit after the upload is still newer).
    (local / "b.txt").write_bytes(b"HELLO\n")
    future = time.time() + 120
    os.utime(local / "b.txt", (future, future))
    third = sync_json(capsys, str(local), "pp:/in")
    assert third["transferred"] == 1, third
    assert [a["path"] for a in third["actions"] if a["action"] == "transfer"] == ["b.txt"]  # type: ignore[attr-defined]
    assert (endpoint.root / "in" / "b.txt").read_bytes() == b"HELLO\n"


def test_sync_down_sets_local_times_so_the_second_run_is_a_no_op(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    make_tree(endpoint.root / "outbox", FILES)
    local = tmp_path / "inbox"
    first = sync_json(capsys, "pp:/outbox", str(local))
    assert first["transferred"] == 4
    assert tree(local) == FILES
    second = sync_json(capsys, "pp:/outbox", str(local))
    assert second["transferred"] == 0 and second["skipped"] == 4

    # The partner changes a file (same size): it comes again.
    changed = endpoint.root / "outbox" / "sub" / "c.csv"
    changed.write_bytes(b"C\n" * 100)
    later = time.time() + 300
    os.utime(changed, (later, later))
    third = sync_json(capsys, "pp:/outbox", str(local))
    assert third["transferred"] == 1
    assert (local / "sub" / "c.csv").read_bytes() == b"C\n" * 100


def test_dry_run_changes_nothing_on_either_side(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, FILES)
    make_tree(endpoint.root / "in", {"old.csv": b"old", "a.csv": b"different size"})
    before_local, before_remote = snapshot(local), snapshot(endpoint.root)
    plan = sync_json(capsys, str(local), "pp:/in", "--dry-run", "--delete", "--force")
    assert plan["dry_run"] is True
    actions = {a["path"]: (a["action"], a["status"]) for a in plan["actions"]}  # type: ignore[attr-defined]
    assert actions["old.csv"] == ("delete", "planned")
    assert actions["a.csv"] == ("transfer", "planned")
    assert snapshot(local) == before_local
    assert snapshot(endpoint.root) == before_remote

    code, out, err = run(capsys, "sync", str(local), "pp:/in", "--dry-run", "--delete", "--force")
    assert code == 0, err
    assert "would delete old.csv" in out and "would send sub/c.csv" in out
    assert "dry run, nothing changed" in err
    assert snapshot(local) == before_local and snapshot(endpoint.root) == before_remote


def test_dry_run_names_the_sources_it_would_remove(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """Review (session 26), M1: with --remove-source-files the dry run said "0 to transfer, 2
    unchanged", and the real run removed both local files under "up to date ... (listing only)"."""
    local = tmp_path / "outbox"
    make_tree(local, {"a.csv": b"a", "b.csv": b"b"})
    make_tree(endpoint.root / "in", {"a.csv": b"a", "b.csv": b"b"})
    code, out, err = run(capsys, "sync", str(local), "pp:/in", "--dry-run", "--remove-source-files")
    assert code == 0, err
    assert "would remove the source a.csv" in out and "would remove the source b.csv" in out
    assert "2 unchanged, 0 to delete, 2 source files to remove" in err
    assert sorted(os.listdir(local)) == ["a.csv", "b.csv"]
    code, _, err = run(capsys, "sync", str(local), "pp:/in", "--remove-source-files")
    assert code == 0, err
    assert os.listdir(local) == [] and "listing only" not in err and "2 source files removed" in err


def test_delete_runs_after_the_transfers_and_keeps_its_limits(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, FILES)
    make_tree(endpoint.root / "in", {"x1": b"1", "x2": b"2"})
    # 2 of 2 destination files would go: more than half, refused without --force; nothing sent.
    code, _, err = run(capsys, "sync", str(local), "pp:/in", "--delete")
    assert code == ExitCode.USAGE
    one_error(err, "more than half")
    assert tree(endpoint.root / "in") == {"x1": b"1", "x2": b"2"}
    # The refused plan is the one to look at before adding --force: --dry-run shows it, with the
    # refusal's line and exit code (review A: the hint said --dry-run, which printed nothing).
    code, out, err = run(capsys, "sync", str(local), "pp:/in", "--delete", "--dry-run")
    assert code == ExitCode.USAGE
    assert err.count("xfer: error: ") == 1 and "more than half" in err and "against the plan above" in err
    assert "would delete x1" in out and "would send a.csv" in out
    code, out, _ = run(capsys, "sync", str(local), "pp:/in", "--delete", "--dry-run", "--json")
    assert code == ExitCode.USAGE
    document = json.loads(out)
    assert "more than half" in document["error"] and document["dry_run"] is True
    assert {a["path"] for a in document["actions"] if a["action"] == "delete"} == {"x1", "x2"}
    assert tree(endpoint.root / "in") == {"x1": b"1", "x2": b"2"}
    # --max-delete is a hard cap, --force or not.
    code, _, err = run(capsys, "sync", str(local), "pp:/in", "--delete", "--force", "--max-delete", "1")
    assert code == ExitCode.USAGE
    one_error(err, "--max-delete 1")
    assert tree(endpoint.root / "in") == {"x1": b"1", "x2": b"2"}

    result = sync_json(capsys, str(local), "pp:/in", "--delete", "--force", "--max-delete", "2")
    assert result["deleted"] == 2 and result["transferred"] == 4
    assert tree(endpoint.root / "in") == FILES


def test_include_and_exclude_last_rule_wins_and_part_files_are_never_synced(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, {**FILES, "sub/keep.tmp": b"k", "x.tmp": b"x", ".a.csv.1234abcd.xfer-part": b"half"})
    result = sync_json(capsys, str(local), "pp:/in", "--exclude", "*.tmp", "--exclude", "/sub/deep/",
                       "--include", "keep.tmp")
    sent = {a["path"] for a in result["actions"] if a["action"] == "transfer"}  # type: ignore[attr-defined]
    assert sent == {"a.csv", "b.txt", "sub/c.csv", "sub/keep.tmp"}
    assert set(tree(endpoint.root / "in")) == sent

    # Only includes: a whitelist.  Excluded destination files are not deleted either.
    result = sync_json(capsys, str(local), "pp:/in", "--include", "*.csv", "--delete")
    assert result["deleted"] == 0 and result["transferred"] == 0
    assert set(tree(endpoint.root / "in")) == sent


def test_remove_source_files_drains_the_outbox(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    make_tree(endpoint.root / "outbox", FILES)
    local = tmp_path / "inbox"
    result = sync_json(capsys, "pp:/outbox", str(local), "--remove-source-files", "-P", "2")
    assert result["transferred"] == 4 and result["sources_removed"] == 4
    assert tree(local) == FILES
    assert tree(endpoint.root / "outbox") == {}


def test_a_dangling_link_in_the_source_is_skipped_not_fatal(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, FILES)
    (local / "gone.csv").symlink_to(tmp_path / "nowhere")
    result = sync_json(capsys, str(local), "pp:/in")
    assert result["transferred"] == 4
    assert tree(endpoint.root / "in") == FILES


def test_parallel_sync_up(capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path) -> None:
    local = tmp_path / "outbox"
    files = {f"d{i % 3}/f{i}.bin": os.urandom(5000 + i) for i in range(12)}
    make_tree(local, files)
    result = sync_json(capsys, str(local), "pp:/in", "-P", "4")
    assert result["transferred"] == 12
    assert tree(endpoint.root / "in") == files
    assert sync_json(capsys, str(local), "pp:/in", "-P", "4")["transferred"] == 0


def test_json_keys_are_stable_and_checksum_needs_server_hashes(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, FILES)
    result = sync_json(capsys, str(local), "pp:/in")
    assert tuple(result) == SYNC_KEYS
    assert set(result["actions"][0]) == {"action", "path", "reason", "size", "status", "source_removed"}  # type: ignore[index]
    assert result["results"][0]["direction"] == "put"  # type: ignore[index]
    # No server here lists hashes: --checksum refuses rather than pretend (exit 8), nothing sent.
    (local / "a.csv").write_bytes(b"A,B\n1,2\n")
    code, _, err = run(capsys, "sync", str(local), "pp:/in", "--checksum")
    assert code == ExitCode.UNSUPPORTED
    one_error(err, "--checksum", "no checksum")
    assert (endpoint.root / "in" / "a.csv").read_bytes() == FILES["a.csv"]


def test_as2_cannot_be_synced(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("as2", pki, root=tmp_path / "served", name="pp") as served:
        folder = tmp_path / "profiles"
        folder.mkdir()
        (folder / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
        make_tree(tmp_path / "outbox", FILES)
        code, _, err = run(capsys, "sync", str(tmp_path / "outbox"), "pp:/")
        assert code == ExitCode.UNSUPPORTED
        one_error(err, "cannot be synced")
        assert "AS2" in err
        code, _, err = run(capsys, "sync", "pp:/", str(tmp_path / "inbox"))
    assert code == ExitCode.UNSUPPORTED
    one_error(err, "does not support get and ls")  # the commands' names, not get_file (review A)


def test_sync_refuses_files_and_a_missing_source(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    make_tree(endpoint.root, {"one.csv": b"1"})
    make_tree(tmp_path / "local", {"one.csv": b"1"})
    for args in (["pp:/one.csv", str(tmp_path / "down")], [str(tmp_path / "local"), "pp:/one.csv"],
                 [str(tmp_path / "local" / "one.csv"), "pp:/x"]):
        code, _, err = run(capsys, "sync", *args)
        assert code == ExitCode.USAGE, args
        one_error(err, "is a file; sync works on folders")
    code, _, err = run(capsys, "sync", "pp:/missing", str(tmp_path / "down"))
    assert code == ExitCode.REMOTE
    one_error(err, "/missing")
    assert not (tmp_path / "down").exists()
    assert tree(endpoint.root) == {"one.csv": b"1"}


def test_https_without_a_listing_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("https", pki, root=tmp_path / "served", name="pp") as served:
        data = served.profile.to_toml()
        data["https"] = {"index": "none"}
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "pp.toml").write_text(tomli_w.dumps(data))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path / "profiles"))
        make_tree(tmp_path / "outbox", FILES)
        code, _, err = run(capsys, "sync", str(tmp_path / "outbox"), "pp:/in")
        assert code == ExitCode.UNSUPPORTED
        one_error(err, "listing is switched off")
        assert tree(served.root) == {}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["./a", "./b"], "one local folder and one remote folder"),
        (["--size-only", "--checksum", "./a", "pp:/x"], "exclude each other"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    code, _, err = run(capsys, "sync", *args)
    assert code == ExitCode.USAGE
    one_error(err, needle)


#: xfer's own working files: an upload's part, a ``get --resume`` part and its sidecar, a copy moved aside.
WORKING = {".a.csv.1234abcd.xfer-part": b"half", ".b.txt.xfer-part": b"hal", ".b.txt.xfer-resume": b"{}",
           "sub/.c.csv.0badcafe.xfer-old": b"old", ".b.txt.xfer-resume.00ff00ff": b"{"}

#: A user's files that only look like them: no random part where xfer always writes one (a copy
#: moved aside), one xfer never writes (not 8 lowercase hex digits), no name, more after the
#: suffix, no leading dot.  (``.NAME.xfer-part`` is a ``--resume`` part whatever NAME is.)
LOOKALIKES = {".notes.xfer-old": b"1", ".a.csv.12ab.xfer-old": b"2", ".a.csv.ZZ12AB34.xfer-old": b"3",
              ".xfer-part": b"4", ".b.xfer-resume.bak": b"5", "notes.xfer-resume": b"6"}


def test_only_names_xfer_gives_its_working_files_are_left_out(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """``is_temporary`` matches the names xfer makes, not every dot file ending ``.xfer-old``; the
    files a walk leaves out are counted in one INFO line (never left out without a word)."""
    for name in WORKING:
        assert is_temporary(posixpath.basename(name)), name
    for name in LOOKALIKES:
        assert not is_temporary(name), name
    local = tmp_path / "outbox"
    make_tree(local, {**FILES, **WORKING, **LOOKALIKES})
    code, out, err = run(capsys, "sync", str(local), "pp:/in", "--json", "-v")
    assert code == 0, err
    assert json.loads(out)["transferred"] == len(FILES) + len(LOOKALIKES), out
    assert tree(endpoint.root / "in") == {**FILES, **LOOKALIKES}
    noted = [line for line in err.splitlines() if "xfer's own working files" in line]
    assert len(noted) == 1 and f"left out {len(WORKING)} of xfer's own working files under {local} " in noted[0], err

    # The server's side, walked for a sync down: the same names left out, one line.
    make_tree(endpoint.root / "in", WORKING)
    code, out, err = run(capsys, "sync", "pp:/in", str(tmp_path / "inbox"), "--json", "-v")
    assert code == 0, err
    assert tree(tmp_path / "inbox") == {**FILES, **LOOKALIKES}
    noted = [line for line in err.splitlines() if "xfer's own working files" in line]
    assert len(noted) == 1 and f"left out {len(WORKING)} of xfer's own working files under /in " in noted[0], err


def test_working_files_and_resume_sidecars_are_never_synced_sent_fetched_or_deleted(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, {**FILES, **WORKING})
    code, out, err = run(capsys, "sync", str(local), "pp:/in", "--dry-run")
    assert code == 0, err
    assert "xfer-" not in out, out
    assert sync_json(capsys, str(local), "pp:/in")["transferred"] == len(FILES)
    assert tree(endpoint.root / "in") == FILES

    # Down, with --delete: the local part and its sidecar stay (a later get --resume needs both).
    inbox = tmp_path / "inbox"
    make_tree(inbox, WORKING)
    result = sync_json(capsys, "pp:/in", str(inbox), "--delete")
    assert (result["transferred"], result["deleted"]) == (len(FILES), 0), result
    assert tree(inbox) == {**FILES, **WORKING}

    # put -r and get -r: neither sends nor fetches them.
    code, _, err = run(capsys, "put", "-r", str(local), "pp:/tree/")
    assert code == 0, err
    assert tree(endpoint.root / "tree" / "outbox") == FILES
    make_tree(endpoint.root / "tree" / "outbox", WORKING)
    code, _, err = run(capsys, "get", "-r", "pp:/tree/outbox", str(tmp_path / "got"))
    assert code == 0, err
    assert tree(tmp_path / "got") == FILES


def test_help_states_the_max_delete_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sync", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "--max-delete" in text and "default: (no cap; deleting over half of the destination needs --force)" in text


# -- what a listing passes over is not "not in source" (session 17's review) ----------------------


def test_sync_down_keeps_local_files_the_server_lists_but_xfer_cannot_fetch(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with a line break and a link to nothing are listed by the server and passed over
    (with a warning); before, --delete then removed the local files of the same names, exit 0."""
    with served_as_pp("sftp", pki, tmp_path, monkeypatch) as served:
        make_tree(served.root / "in", {"ok.csv": b"ok", "line\nbreak.csv": b"server's"})
        os.symlink(tmp_path / "nothing-here", served.root / "in" / "dangling")
        local = tmp_path / "inbox"
        make_tree(local, {"ok.csv": b"ok", "line\nbreak.csv": b"mine", "dangling": b"mine too", "gone.csv": b"g"})
        code, out, err = run(capsys, "sync", "pp:/in", str(local), "--delete", "--force", "--json")
    assert code == 0, err
    assert tree(local) == {"ok.csv": b"ok", "line\nbreak.csv": b"mine", "dangling": b"mine too"}
    actions = {a["path"]: (a["action"], a["reason"]) for a in json.loads(out)["actions"]}
    assert actions["gone.csv"] == ("delete", "not in source")
    assert actions["dangling"] == ("skip", "kept: the source has it, not listed")


def _outbox_with_a_linked_folder_and_a_pipe(tmp_path: Path) -> Path:
    """``outbox`` with ok.csv, ``linked`` (a link to a folder holding a.csv) and ``pipe`` (a FIFO)."""
    elsewhere = tmp_path / "elsewhere"
    make_tree(elsewhere, {"a.csv": b"linked"})
    local = tmp_path / "outbox"
    make_tree(local, {"ok.csv": b"ok"})
    os.symlink(elsewhere, local / "linked")
    os.mkfifo(local / "pipe")
    return local


def test_sync_up_keeps_remote_files_under_a_linked_folder_and_a_pipe(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """os.walk does not go into a link to a folder, and a pipe is no file: both are said and passed
    over.  Before, --delete removed the server's copies of everything under them, exit 0."""
    local = _outbox_with_a_linked_folder_and_a_pipe(tmp_path)
    make_tree(endpoint.root / "in", {"ok.csv": b"ok", "linked/a.csv": b"linked", "pipe": b"p", "gone.csv": b"g"})
    code, _, err = run(capsys, "sync", str(local), "pp:/in", "--delete", "--force")
    assert code == 0, err
    assert tree(endpoint.root / "in") == {"ok.csv": b"ok", "linked/a.csv": b"linked", "pipe": b"p"}
    assert "a symbolic link to a folder" in err and "not a regular file" in err


def test_sync_down_never_writes_through_what_the_local_walk_does_not_follow(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """The destination holds ``linked`` (a link to a folder), ``pipe`` and a link to nothing; the
    server has files of those paths.  The walk says it does not follow them.  Before: the server's
    ``linked/a.csv`` was written through the link into its target (on every run: never compared)."""
    inbox = _outbox_with_a_linked_folder_and_a_pipe(tmp_path)
    os.symlink(tmp_path / "unmounted" / "data.csv", inbox / "data.csv")
    make_tree(endpoint.root / "in", {"ok.csv": b"ok", "new.csv": b"n", "linked/a.csv": b"server's",
                                     "pipe": b"p", "data.csv": b"d"})
    code, out, err = run(capsys, "sync", "pp:/in", str(inbox), "--json")
    assert code == 0, err
    assert (tmp_path / "elsewhere" / "a.csv").read_bytes() == b"linked"
    assert (inbox / "linked").is_symlink() and (inbox / "data.csv").is_symlink()
    assert (inbox / "new.csv").read_bytes() == b"n"
    actions = {a["path"]: (a["action"], a["reason"]) for a in json.loads(out)["actions"]}
    for path in ("linked/a.csv", "pipe", "data.csv"):
        assert actions[path] == ("skip", "not written: the destination has a link or other non-file there"), path
    # Said in words too (review of session 26's fixes, M5: only the JSON said it).
    code, out, err = run(capsys, "sync", "pp:/in", str(inbox), "--dry-run")
    assert code == 0, err
    assert "would leave linked/a.csv  (not written: the destination has a link" in out
    assert "3 left as they are" in err
    code, _, err = run(capsys, "sync", "pp:/in", str(inbox))
    assert code == 0 and "3 left as they are" in err, err


def test_sync_down_never_removes_the_source_of_what_it_did_not_write(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """Review (session 26), H1: a file not written (under a linked folder, or a pipe's name) was
    counted "unchanged", and --remove-source-files removed the server's file when the link's
    target (or the pipe: 0 bytes) had its size: its content was then nowhere."""
    inbox = _outbox_with_a_linked_folder_and_a_pipe(tmp_path)
    make_tree(endpoint.root / "in", {"ok.csv": b"ok", "linked/a.csv": b"server", "pipe": b""})
    code, out, err = run(capsys, "sync", "pp:/in", str(inbox), "--remove-source-files", "--json")
    assert code == 0, err
    assert tree(endpoint.root / "in") == {"linked/a.csv": b"server", "pipe": b""}
    assert (tmp_path / "elsewhere" / "a.csv").read_bytes() == b"linked"
    actions = {a["path"]: (a["reason"], a["source_removed"]) for a in json.loads(out)["actions"]}
    assert actions["ok.csv"][1] is True
    assert actions["linked/a.csv"][1] is not True and actions["pipe"][1] is not True


@pytest.mark.timeout(60)
def test_put_r_passes_over_a_pipe_and_a_linked_folder(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """Before: the pipe's open waited for a writer for ever; the linked folder went up empty."""
    local = _outbox_with_a_linked_folder_and_a_pipe(tmp_path)
    code, _, err = run(capsys, "put", "-r", f"{local}/.", "pp:/in")
    assert code == 0, err
    assert tree(endpoint.root / "in") == {"ok.csv": b"ok"}
    assert not (endpoint.root / "in" / "linked").exists()
    assert "a symbolic link to a folder" in err and "not a regular file" in err


@pytest.mark.timeout(60)
def test_put_of_a_pipe_is_refused_at_once(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """Before: a pipe with no writer hung; one with a writer failed its retry's seek, reported as
    "could not connect" (exit 5) after three retries."""
    os.mkfifo(tmp_path / "pipe")
    code, _, err = run(capsys, "put", str(tmp_path / "pipe"), "pp:/in/pipe.csv")
    assert code == ExitCode.ERROR
    one_error(err, "is not a regular file")
    assert "retry" not in err
    assert not (endpoint.root / "in" / "pipe.csv").exists()


def test_kept_files_are_not_taken_for_unchanged_ones_by_remove_source_files(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept destination file is no "already there" for --remove-source-files (the source has no file
    of that path to remove).  Before: KeyError, an internal error, and --delete never ran."""
    with served_as_pp("ftpes", pki, tmp_path, monkeypatch) as served:
        local = tmp_path / "outbox"
        make_tree(local, {"ok.csv": b"ok"})
        os.mkfifo(local / "pipe")
        make_tree(served.root / "in", {"ok.csv": b"ok", "pipe": b"p", "gone.csv": b"g"})
        code, out, err = run(capsys, "sync", str(local), "pp:/in", "--delete", "--force",
                             "--remove-source-files", "--json")
    assert code == 0, err
    assert tree(served.root / "in") == {"ok.csv": b"ok", "pipe": b"p"}
    assert sorted(os.listdir(local)) == ["pipe"]  # the unchanged ok.csv left the source; the pipe stays
    result = json.loads(out)
    assert (result["skipped"], result["kept"], result["deleted"], result["sources_removed"]) == (1, 1, 1, 1)


def test_remove_source_files_sends_again_a_file_whose_server_copy_is_only_newer(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """Review (session 26), H2: a server copy of the same size, an hour newer (a partner's own
    file), was "same size and time", and the local file, never sent, was removed: its bytes were
    then nowhere.  Newer is still no reason to send, but no proof either: the plan says so, and
    --remove-source-files sends such a file again, its upload proving the copy it removes it for
    (kept instead, a file xfer itself had sent in a plain run could never be moved on servers that
    stamp their own times: review of the fix, H2)."""
    local = tmp_path / "outbox"
    make_tree(local, {"report.csv": b"MY-NEW-ROWS\n"}, age=3600)
    make_tree(local, {"ok.csv": b"ok"})
    make_tree(endpoint.root / "in", {"report.csv": b"partner-old\n"}, age=60)
    make_tree(endpoint.root / "in", {"ok.csv": b"ok"})
    plan = sync_json(capsys, str(local), "pp:/in")
    reasons = {a["path"]: a["reason"] for a in plan["actions"]}  # type: ignore[attr-defined]
    assert reasons == {"report.csv": NEWER_COPY, "ok.csv": "same size and time"}
    code, out, err = run(capsys, "sync", str(local), "pp:/in", "--remove-source-files", "--json")
    assert code == 0, err
    assert os.listdir(local) == []
    assert tree(endpoint.root / "in") == {"report.csv": b"MY-NEW-ROWS\n", "ok.csv": b"ok"}
    actions = {a["path"]: (a["action"], a["reason"]) for a in json.loads(out)["actions"]}
    assert actions["report.csv"] == ("transfer", NEWER_COPY_SENT)


def test_sync_up_keeps_the_remote_file_of_a_local_link_to_nothing(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """A link into a mount that is missing for now: said, and the server's copy kept.  Before: deleted."""
    local = tmp_path / "outbox"
    make_tree(local, {"ok.csv": b"ok"})
    os.symlink(tmp_path / "unmounted" / "data.csv", local / "data.csv")
    make_tree(endpoint.root / "in", {"ok.csv": b"ok", "data.csv": b"precious"})
    code, _, err = run(capsys, "sync", str(local), "pp:/in", "--delete", "--force")
    assert code == 0, err
    assert tree(endpoint.root / "in") == {"ok.csv": b"ok", "data.csv": b"precious"}
    assert "a symbolic link to nothing" in err


def test_put_r_passes_over_a_link_to_nothing(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, tmp_path: Path
) -> None:
    """Before: the whole upload failed, naming the top folder as missing."""
    local = tmp_path / "outbox"
    make_tree(local, {"ok.csv": b"ok", "sub/b.csv": b"b"})
    os.symlink(tmp_path / "unmounted" / "data.csv", local / "sub" / "data.csv")
    code, _, err = run(capsys, "put", "-r", f"{local}/.", "pp:/in")
    assert code == 0, err
    assert tree(endpoint.root / "in") == {"ok.csv": b"ok", "sub/b.csv": b"b"}
    assert "a symbolic link to nothing" in err


@pytest.mark.parametrize("upload", [True, False], ids=["up", "down"])
def test_a_file_against_a_folder_of_its_name_is_the_file_systems_error_not_a_usage_error(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upload: bool,
) -> None:
    """Review M-5: the clash was exit 2 ("usage"), which a cron job reads as its own command line
    being wrong; ``put -r`` gives 6 for the same clash.  Up it is the server's folder in the way
    (6), down a local folder (1, as ``get`` onto a folder).  Nothing moves either way."""
    with served_as_pp("ftpes", pki, tmp_path, monkeypatch) as served:
        local = tmp_path / "here"
        make_tree(local, {"a.txt": b"a\n"})
        make_tree(served.root / "in", {"a.txt": b"a\n"})
        if upload:
            make_tree(local, {"clash": b"a file\n"})
            make_tree(served.root / "in", {"clash/inner.txt": b"in a folder\n"})
        else:
            make_tree(served.root / "in", {"clash": b"a file\n"})
            make_tree(local, {"clash/inner.txt": b"in a folder\n"})
        before = (snapshot(local), snapshot(served.root))
        args = [str(local), "pp:/in"] if upload else ["pp:/in", str(local)]
        code, _, err = run(capsys, "sync", *args)
        assert code == (ExitCode.REMOTE if upload else ExitCode.ERROR), err
        one_error(err, "clash is a file in the source and a folder in the destination; nothing was changed")
        assert (snapshot(local), snapshot(served.root)) == before


@contextlib.contextmanager
def _listing_links_as_pp(protocol: str, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                         ) -> Iterator[FakeFTPSServer | Endpoint]:
    """A server whose listing shows links as links, as the profile ``pp``: OpenSSH's READDIR, or
    FTP LIST as vsftpd writes it (pyftpdlib's MLSD shows a link as what it points to)."""
    if protocol == "sftp":
        with served_as_pp("sftp", pki, tmp_path, monkeypatch) as served:
            yield served
        return
    with FakeFTPSServer(pki, root=tmp_path / "served", mlst=False, list_links=True) as fake:
        save_ftps_profile(fake, pki, tmp_path / "profiles", monkeypatch, name="pp")  # type: ignore[arg-type]
        yield fake


@pytest.mark.parametrize("protocol", ["ftpes-list", "sftp"])
def test_sync_never_goes_through_a_link_to_a_folder_on_the_server(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """Review (session 26), H4: the remote walk followed /in/shared -> /archive, which the local
    walk would not do on its side: sync up --delete deleted /archive's files, outside /in, and
    sync down --remove-source-files removed them from the server.  Passed over, with a word."""
    with _listing_links_as_pp(protocol, pki, tmp_path, monkeypatch) as served:
        outbox = tmp_path / "outbox"
        make_tree(outbox, {"ok.csv": b"ok", "shared/new.csv": b"new"})
        make_tree(served.root / "in", {"ok.csv": b"ok"})
        make_tree(served.root / "archive", {"contract.pdf": b"the only copy"})
        os.symlink(served.root / "archive", served.root / "in" / "shared")
        code, _, err = run(capsys, "sync", str(outbox), "pp:/in", "--delete", "--force")
        assert code == 0, err
        assert tree(served.root / "archive") == {"contract.pdf": b"the only copy"}  # nor new.csv written into it
        assert "skipped /in/shared: a link to a folder on the server, not followed" in err
        code, _, err = run(capsys, "sync", "pp:/in", str(tmp_path / "inbox"), "--remove-source-files")
        assert code == 0, err
        assert tree(served.root / "archive") == {"contract.pdf": b"the only copy"}
        assert tree(tmp_path / "inbox") == {"ok.csv": b"ok"}
