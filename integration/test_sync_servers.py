"""``xfer sync``, remote globs and ``--remove-source-files`` against the bed's real daemons.

vsftpd (no MLSD, no MFMT: LIST times, the server's own time after an upload), proftpd and
pure-ftpd (MLSD, MFMT), nginx (HTTPS with a JSON index; WebDAV) and Apache mod_dav (WebDAV,
which cannot take a file's time).  Each test works in a fresh folder of the server and looks
at both sides on disk.  AS2 (pyas2) cannot be synced: refused.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.bed import Bed, ServerInfo
from tests.helpers import rewrite_in_place
from xfer.errors import ExitCode

pytestmark = pytest.mark.integration

#: profile name (written by the bed) -> bed server name
PROFILES = {
    "vsftpd-explicit": "vsftpd-explicit",
    "vsftpd-implicit": "vsftpd-implicit",
    "proftpd": "proftpd",
    "pureftpd": "pureftpd",
    "nginx-https": "nginx",
    "nginx-webdav": "nginx",
    "apache-webdav": "apache",
}

#: Servers that announce MFMT: the uploaded file takes the local time.
KEEP_TIMES = {"proftpd", "pureftpd"}

FILES = {
    "a.csv": b"a,b\n1,2\n",
    "b.txt": b"hello\n",
    "sub/c.csv": b"c\n" * 1000,
    "sub/deep/d.bin": os.urandom(70_000),
    "x.tmp": b"scratch",
}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from xfer.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _sync(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code, out, err = _run(capsys, "sync", *args, "--json")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _make(root: Path, files: dict[str, bytes]) -> None:
    stamp = time.time() - 7200.25
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (stamp, stamp))


@pytest.fixture
def profiles(bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XFER_PROFILE_PATH", str(bed.profiles_dir))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture(params=sorted(PROFILES))
def target(
    request: pytest.FixtureRequest, bed_server: Callable[[str], ServerInfo], profiles: None
) -> Iterator[tuple[str, Path]]:
    """(``PROFILE:/folder``, that folder on this machine), fresh for one test and removed after."""
    info = bed_server(PROFILES[request.param])
    name = f"sync-{uuid.uuid4().hex[:8]}"
    yield f"{request.param}:/{name}", info.root / name
    shutil.rmtree(info.root / name, ignore_errors=True)


def _seed(capsys: pytest.CaptureFixture[str], target: tuple[str, Path], tmp_path: Path) -> tuple[str, Path]:
    """FILES uploaded by xfer (so the server's user owns them): the remote folder and its path here."""
    remote, served = target
    seed = tmp_path / "seed"
    _make(seed, FILES)
    code, _, err = _run(capsys, "put", "-r", str(seed), f"{remote}/")
    assert code == 0, err
    return f"{remote}/seed", served / "seed"


def test_sync_up_second_run_touch_and_delete(
    capsys: pytest.CaptureFixture[str], target: tuple[str, Path], tmp_path: Path
) -> None:
    remote, served = target
    local = tmp_path / "outbox"
    _make(local, FILES)
    first = _sync(capsys, str(local), remote, "--exclude", "*.tmp")
    assert first["transferred"] == 4, first
    assert _tree(served) == {k: v for k, v in FILES.items() if k != "x.tmp"}
    if remote.split(":")[0] in KEEP_TIMES:  # MFMT: the server's copy has the local time
        assert all(int((served / n).stat().st_mtime) == int((local / n).stat().st_mtime) for n in _tree(served))

    code, _, err = _run(capsys, "sync", str(local), remote, "--exclude", "*.tmp")
    assert code == 0, err
    assert "up to date, nothing transferred (listing only): 0 transferred, 4 skipped" in err

    (local / "b.txt").write_bytes(b"HELLO\n")  # same size, later time
    later = time.time() + 180
    os.utime(local / "b.txt", (later, later))
    third = _sync(capsys, str(local), remote, "--exclude", "*.tmp", "-P", "2")
    assert [a["path"] for a in third["actions"] if a["action"] == "transfer"] == ["b.txt"]  # type: ignore[attr-defined]
    assert (served / "b.txt").read_bytes() == b"HELLO\n"

    # --delete: refused beyond half of the destination, dry run changes nothing, then done.
    for name in ("a.csv", "b.txt", "sub/c.csv"):
        (local / name).unlink()
    code, _, err = _run(capsys, "sync", str(local), remote, "--delete", "--exclude", "*.tmp")
    assert code == ExitCode.USAGE and "more than half" in err
    before_local, before_remote = _snapshot(local), _snapshot(served)
    plan = _sync(capsys, str(local), remote, "--delete", "--force", "--dry-run", "--exclude", "*.tmp")
    assert sorted(a["path"] for a in plan["actions"] if a["action"] == "delete") == [  # type: ignore[attr-defined]
        "a.csv", "b.txt", "sub/c.csv"]
    assert _snapshot(local) == before_local and _snapshot(served) == before_remote
    done = _sync(capsys, str(local), remote, "--delete", "--force", "--exclude", "*.tmp")
    assert done["deleted"] == 3 and done["transferred"] == 0
    assert set(_tree(served)) == {"sub/deep/d.bin"}


def test_sync_down_second_run_and_outbox_drain(
    capsys: pytest.CaptureFixture[str], target: tuple[str, Path], tmp_path: Path
) -> None:
    remote, served = _seed(capsys, target, tmp_path)
    assert _tree(served) == FILES

    inbox = tmp_path / "inbox"
    first = _sync(capsys, remote, str(inbox), "--include", "*.csv", "--include", "*.bin")
    assert first["transferred"] == 3
    assert _tree(inbox) == {k: v for k, v in FILES.items() if not k.endswith((".txt", ".tmp"))}
    second = _sync(capsys, remote, str(inbox), "--include", "*.csv", "--include", "*.bin")
    assert second["transferred"] == 0 and second["skipped"] == 3

    # The outbox drain: move everything, the source goes once each copy is verified.
    drained = tmp_path / "drained"
    result = _sync(capsys, remote, str(drained), "--remove-source-files", "-P", "2")
    assert result["transferred"] == 5 and result["sources_removed"] == 5
    assert _tree(drained) == FILES
    assert _tree(served) == {}


def test_sync_delete_down_asks_each_server_before_deleting(
    capsys: pytest.CaptureFixture[str], target: tuple[str, Path], tmp_path: Path
) -> None:
    """Each local file ``sync --delete`` down would delete is asked about on the server first
    (HEAD, MLST/SIZE, PROPFIND, STAT): every real server says "not there" of files it does not
    have, in its own words, and they go, a folder of them with one look."""
    remote, _served = _seed(capsys, target, tmp_path)
    mirror = tmp_path / "mirror"
    _make(mirror, {**FILES, "stale.txt": b"s", "sub/stale.csv": b"s2", "gone/x.txt": b"x", "gone/y/z.txt": b"z"})
    result = _sync(capsys, remote, str(mirror), "--delete", "--force")
    actions = result["actions"]
    assert isinstance(actions, list)
    assert sorted(a["path"] for a in actions if a["action"] == "delete" and a["status"] == "done") == [
        "gone/x.txt", "gone/y/z.txt", "stale.txt", "sub/stale.csv"]
    assert result["deleted"] == 4 and result["kept"] == 0
    assert _tree(mirror) == FILES


def test_many_sources_are_each_proven_then_removed(
    capsys: pytest.CaptureFixture[str], target: tuple[str, Path], tmp_path: Path
) -> None:
    """``remove_sources`` as ``get``/``sync --remove-source-files`` call it, on each real server:
    HTTP's pipelined looks and DELETEs (nginx, Apache), FTP's one file after another.  A file
    whose size is not the one written, and a folder under a file's name, are kept."""
    import xfer
    from xfer.errors import IntegrityError

    remote, served = target
    seed = tmp_path / "seed"
    _make(seed, {**{f"f{n:02d}.txt": b"x" * (n + 1) for n in range(40)}, "dir/inner.txt": b"keep"})
    code, _, err = _run(capsys, "put", "-r", str(seed), f"{remote}/")
    assert code == 0, err
    profile, folder = remote.split(":", 1)
    sources = [(f"{folder}/seed/f{n:02d}.txt", 99 if n == 3 else n + 1) for n in range(40)]
    with xfer.connect(profile) as adapter:
        failures = adapter.remove_sources([*sources, (f"{folder}/seed/dir", 4)])
    assert isinstance(failures[3], IntegrityError) and "the server shows 4 bytes, 99 were written" in str(failures[3])
    assert isinstance(failures[40], IntegrityError) and "the server shows no file" in str(failures[40])
    assert [place for place, failure in enumerate(failures) if failure is not None] == [3, 40]
    assert _tree(served / "seed") == {"f03.txt": b"xxxx", "dir/inner.txt": b"keep"}


@pytest.mark.parametrize(("profile", "server", "honoured"), [
    ("apache-webdav", "apache", True),  # mod_dav answers 412 to an If-Match the file no longer has
    ("nginx-https", "nginx", False),  # nginx 1.22's dav module ignores If-Match on DELETE
])
def test_a_source_put_anew_after_its_look(
    bed_server: Callable[[str], ServerInfo], profiles: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path, profile: str, server: str, honoured: bool,
) -> None:
    """The pipelined removal's DELETE carries If-Match with the ETag its look saw: the server that
    honours it keeps a file written anew (same size) between the look and the removal; the one
    that ignores it removes it, as an unconditional removal would."""
    import xfer
    from xfer.adapters import http_removal
    from xfer.errors import IntegrityError

    info = bed_server(server)
    seed = tmp_path / f"anew-{uuid.uuid4().hex[:8]}"
    _make(seed, {f"f{number}.txt": b"x" * 10 for number in range(4)})
    code, _, err = _run(capsys, "put", "-r", str(seed), f"{profile}:/")  # (the server's user owns them)
    assert code == 0, err
    folder = info.root / seed.name
    for number in range(4):
        os.utime(folder / f"f{number}.txt", (time.time() - 60,) * 2)  # (Apache's ETag is weak within a second)
    victim = folder / "f1.txt"
    real = http_removal._send_together

    def sending(session: object, calls: list[tuple[str, str, object, object]]) -> object:
        if calls and calls[0][0] == "DELETE":
            victim.write_bytes(b"N" * 10)
        return real(session, calls)  # type: ignore[arg-type]

    monkeypatch.setattr(http_removal, "_send_together", sending)
    try:
        with xfer.connect(profile) as adapter:
            failures = adapter.remove_sources([(f"/{folder.name}/f{number}.txt", 10) for number in range(4)])
        assert [failure for place, failure in enumerate(failures) if place != 1] == [None] * 3
        if honoured:
            assert isinstance(failures[1], IntegrityError) and "changed on the server" in str(failures[1])
            assert victim.read_bytes() == b"N" * 10
        else:
            assert failures[1] is None and not victim.exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_remote_globs_and_move_on_get_and_rm(
    capsys: pytest.CaptureFixture[str], target: tuple[str, Path], tmp_path: Path
) -> None:
    remote, served = _seed(capsys, target, tmp_path)

    code, out, err = _run(capsys, "get", f"{remote}/*.csv", str(tmp_path / "got"), "--json")
    assert code == 0, err
    assert [Path(r["remote"]).name for r in json.loads(out)] == ["a.csv"]
    code, _, err = _run(capsys, "get", "-r", "--remove-source-files", f"{remote}/**/*.csv", str(tmp_path / "moved"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "moved").iterdir()) == ["a.csv", "c.csv"]
    assert "a.csv" not in _tree(served) and "sub/c.csv" not in _tree(served)

    code, _, err = _run(capsys, "rm", f"{remote}/*.tmp")
    assert code == 0, err
    assert "x.tmp" not in _tree(served) and "b.txt" in _tree(served)
    code, _, err = _run(capsys, "rm", f"{remote}/*.tmp")
    assert code == ExitCode.REMOTE and "*.tmp" in err

    upload = tmp_path / "up.csv"
    upload.write_bytes(b"moved up")
    code, _, err = _run(capsys, "put", "--remove-source-files", str(upload), f"{remote}/")
    assert code == 0, err
    assert not upload.exists() and (served / "up.csv").read_bytes() == b"moved up"


def test_as2_is_refused(
    capsys: pytest.CaptureFixture[str], bed_server: Callable[[str], ServerInfo], profiles: None, tmp_path: Path
) -> None:
    bed_server("pyas2")
    _make(tmp_path / "outbox", {"a.edi": b"UNA"})
    code, _, err = _run(capsys, "sync", str(tmp_path / "outbox"), "pyas2:/")
    assert code == ExitCode.UNSUPPORTED and "cannot be synced" in err


def test_sync_checksum_asks_proftpd_mod_digest(
    capsys: pytest.CaptureFixture[str], bed_server: Callable[[str], ServerInfo], profiles: None, tmp_path: Path
) -> None:
    """proftpd's mod_digest answers HASH/XSHA256 per file: a second ``--checksum`` run sends and
    fetches nothing, and a file changed in place (same size and time) goes again, up and down.
    An empty file goes too (proven by its size) and then compares equal without a hash."""
    info = bed_server("proftpd")
    name = f"sync-{uuid.uuid4().hex[:8]}"
    remote, served = f"proftpd:/{name}", info.root / name
    files = {**FILES, "empty.txt": b""}
    try:
        local = tmp_path / "outbox"
        _make(local, files)
        assert _sync(capsys, str(local), remote, "--checksum")["transferred"] == len(files)
        second = _sync(capsys, str(local), remote, "--checksum")
        assert (second["transferred"], second["skipped"]) == (0, len(files)), second
        reasons = {a["reason"] for a in second["actions"]}  # type: ignore[attr-defined]
        assert reasons == {"same size and sha256", "both empty"}, reasons
        rewrite_in_place(local / "b.txt", b"HELLO\n")
        third = _sync(capsys, str(local), remote, "--checksum")
        assert [a["path"] for a in third["actions"] if a["action"] == "transfer"] == ["b.txt"]  # type: ignore[attr-defined]
        assert (served / "b.txt").read_bytes() == b"HELLO\n"

        inbox = tmp_path / "inbox"
        assert _sync(capsys, remote, str(inbox), "--checksum")["transferred"] == len(files)
        assert _sync(capsys, remote, str(inbox), "--checksum")["transferred"] == 0
        rewrite_in_place(served / "sub" / "c.csv", b"C\n" * 1000)
        again = _sync(capsys, remote, str(inbox), "--checksum")
        assert [a["path"] for a in again["actions"] if a["action"] == "transfer"] == ["sub/c.csv"]  # type: ignore[attr-defined]
        assert (inbox / "sub" / "c.csv").read_bytes() == b"C\n" * 1000
    finally:
        shutil.rmtree(served, ignore_errors=True)


def test_sync_checksum_is_refused_where_the_server_has_no_hash(
    capsys: pytest.CaptureFixture[str], bed_server: Callable[[str], ServerInfo], profiles: None, tmp_path: Path
) -> None:
    """vsftpd has no HASH command: once both sides hold a file, ``--checksum`` refuses (exit 8)."""
    info = bed_server("vsftpd-explicit")
    name = f"sync-{uuid.uuid4().hex[:8]}"
    remote, served = f"vsftpd-explicit:/{name}", info.root / name
    try:
        local = tmp_path / "outbox"
        _make(local, {"a.csv": b"1,2\n"})
        code, _, err = _run(capsys, "put", "-r", f"{local}/.", f"{remote}/")
        assert code == 0, err
        code, _, err = _run(capsys, "sync", remote, str(local), "--checksum")
        assert code == ExitCode.UNSUPPORTED and "no checksum for a.csv" in err, err
    finally:
        shutil.rmtree(served, ignore_errors=True)


def test_site_utime_sets_the_time_on_pureftpd_when_mfmt_is_hidden(
    bed_server: Callable[[str], ServerInfo], profiles: None, tmp_path: Path
) -> None:
    """pure-ftpd lists UTIME in SITE HELP and takes both forms; with MFMT hidden from xfer (as on
    a server without it), the uploaded files still get the local times."""
    from xfer.client import connect
    from xfer.sync import sync

    info = bed_server("pureftpd")
    name = f"sync-{uuid.uuid4().hex[:8]}"
    local = tmp_path / "outbox"
    _make(local, {**FILES, "with space.csv": b"s"})
    try:
        with connect("pureftpd") as remote:
            remote._features = remote._features - {"MFMT"}  # type: ignore[attr-defined]
            assert remote.keeps_modified
            result = sync(remote, f"/{name}", local, upload=True)
            assert result.error is None and result.transferred == len(FILES) + 1
            again = sync(remote, f"/{name}", local, upload=True)
            assert again.transferred == 0
        for relative in [*FILES, "with space.csv"]:
            assert int((info.root / name / relative).stat().st_mtime) == int((local / relative).stat().st_mtime)
    finally:
        shutil.rmtree(info.root / name, ignore_errors=True)


def test_pureftpd_cuts_a_listing_at_its_limit_and_sync_delete_keeps_every_local_file(
    bed_server: Callable[[str], ServerInfo], profiles: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pure-ftpd as shipped lists at most 10,000 names (``-L 10000:5``) and ends the cut
    listing with "226 Output truncated to 10000 matches".  Before, ``sync --delete`` down
    deleted the local copies of the names it left out (7 of 10,005), exit 0."""
    info = bed_server("pureftpd")
    name = f"sync-{uuid.uuid4().hex[:8]}"
    names = [f"f{number:05d}.txt" for number in range(10_005)]
    (info.root / name).mkdir()
    local = tmp_path / "mirror"
    local.mkdir()
    try:
        for folder in (info.root / name, local):
            for file_name in names:
                (folder / file_name).touch()
        code, _, err = _run(capsys, "ls", f"pureftpd:/{name}/")
        assert code == ExitCode.REMOTE, err
        assert f"cut its listing of /{name} short" in err and "Output truncated to 10000 matches" in err, err
        code, out, err = _run(capsys, "sync", f"pureftpd:/{name}", str(local), "--delete", "--json")
        assert code == ExitCode.REMOTE, err
        assert "cut its listing" in err and not (json.loads(out) if out.strip() else {}).get("deleted")
        assert sorted(p.name for p in local.iterdir()) == names
    finally:
        shutil.rmtree(info.root / name, ignore_errors=True)
