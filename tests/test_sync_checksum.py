"""``xfer sync --checksum`` against servers that state hashes: the planner asks the server for the
hash of each file present on both sides with the same size (FTP ``HASH``/``XSHA256``/``XCRC``, HTTP
``Repr-Digest`` on ``HEAD``, SFTP ``check-file``), the way an upload is verified, and compares it
with the local file's hash in the algorithm the server answered in.

Each case: a second run sends nothing, and a file changed in place (same size, same time: the
default comparison cannot see it) is sent again, up and down.  Where the server states no hash the
refusal stays (tests/test_sync.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import tomli_w

from xfer.errors import ExitCode
from xfer.testing import serve
from xfer.testing.endpoints import Endpoint
from xfer.testing.ftps_server import hashing_handler
from xfer.testing.pki import TestPKI
from xfer.testing.sftp_server import CheckFileServer

from .helpers import one_error, run
from .test_sync import FILES, make_tree, tree


class _Md5CheckFile(CheckFileServer):
    algorithms: ClassVar[tuple[str, ...]] = ("md5",)


#: case -> (protocol, server options): every way a server of each protocol states a hash.
SERVERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ftpes-HASH": ("ftpes", {"handler_class": hashing_handler(("HASH", "XSHA256"))}),
    "ftpes-XCRC": ("ftpes", {"handler_class": hashing_handler(("XCRC",))}),
    "https-repr-digest": ("https", {"digests": ("repr-digest",), "digests_on_put": True}),
    "https-digest-md5": ("https", {"digests": ("digest-md5",)}),
    "davs-repr-digest": ("davs", {"repr_digest": True}),
    "sftp-check-file": ("sftp", {"sftp_class": CheckFileServer}),
    "sftp-check-file-md5": ("sftp", {"sftp_class": _Md5CheckFile}),
}


@pytest.fixture(params=sorted(SERVERS))
def hashing(
    request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Endpoint]:
    protocol, options = SERVERS[request.param]
    with serve(protocol, pki, root=tmp_path / "served", name="pp", **options) as served:
        folder = tmp_path / "profiles"
        folder.mkdir()
        (folder / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
        yield served


def _sync(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "sync", *args, "--json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def _sent(result: dict[str, Any]) -> list[str]:
    return [a["path"] for a in result["actions"] if a["action"] == "transfer"]


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """New content of the same size, and the old time back: only a hash can tell."""
    before = path.stat()
    assert len(data) == before.st_size
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_sync_up_checksum_asks_the_server_and_resends_a_file_changed_in_place(
    capsys: pytest.CaptureFixture[str], hashing: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, FILES)
    first = _sync(capsys, str(local), "pp:/in", "--checksum")
    assert first["transferred"] == 4, first
    assert tree(hashing.root / "in") == FILES

    second = _sync(capsys, str(local), "pp:/in", "--checksum")
    assert (second["transferred"], second["skipped"]) == (0, 4), second
    reasons = {a["reason"] for a in second["actions"]}
    assert len(reasons) == 1 and reasons.pop().startswith("same size and "), second

    _rewrite_in_place(local / "b.txt", b"HELLO\n")
    # Size and time alone see nothing...
    assert _sync(capsys, str(local), "pp:/in", "--dry-run")["actions"][0]["action"] == "skip"
    # ...the server's hash does.
    third = _sync(capsys, str(local), "pp:/in", "--checksum")
    assert _sent(third) == ["b.txt"], third
    assert next(a["reason"] for a in third["actions"] if a["action"] == "transfer").endswith(" differs")
    assert (hashing.root / "in" / "b.txt").read_bytes() == b"HELLO\n"
    assert _sync(capsys, str(local), "pp:/in", "--checksum")["transferred"] == 0


def test_sync_down_checksum_asks_the_server_and_refetches_a_file_changed_in_place(
    capsys: pytest.CaptureFixture[str], hashing: Endpoint, tmp_path: Path
) -> None:
    make_tree(hashing.root / "outbox", FILES)
    local = tmp_path / "inbox"
    first = _sync(capsys, "pp:/outbox", str(local), "--checksum")
    assert first["transferred"] == 4, first
    second = _sync(capsys, "pp:/outbox", str(local), "--checksum")
    assert (second["transferred"], second["skipped"]) == (0, 4), second

    _rewrite_in_place(hashing.root / "outbox" / "sub" / "c.csv", b"C\n" * 100)
    third = _sync(capsys, "pp:/outbox", str(local), "--checksum")
    assert _sent(third) == ["sub/c.csv"], third
    assert tree(local) == {**FILES, "sub/c.csv": b"C\n" * 100}


def test_only_files_of_the_same_size_are_hashed_by_the_server(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A size that differs decides alone: the server is asked for no hash of that file."""
    with serve("ftpes", pki, root=tmp_path / "served", name="pp",
               handler_class=hashing_handler(("XSHA256",))) as served:
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path / "profiles"))
        local = tmp_path / "outbox"
        make_tree(local, FILES)
        make_tree(served.root / "in", {**FILES, "a.csv": b"other size"})
        commands: list[str] = served.server.commands
        commands.clear()
        result = _sync(capsys, str(local), "pp:/in", "--checksum", "--dry-run")
        assert _sent(result) == ["a.csv"]
        asked = sorted(c.split(" ", 1)[1].rsplit("/", 1)[-1] for c in commands if c.startswith("XSHA256 "))
        assert asked == ["b.txt", "c.csv", "d.bin"], commands


def test_checksum_is_refused_where_the_server_states_none(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sync down from an HTTPS server without digests: the destination holds the files, and the
    server, asked, states no hash: exit 8, nothing fetched again."""
    with serve("https", pki, root=tmp_path / "served", name="pp") as served:
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path / "profiles"))
        make_tree(served.root / "outbox", FILES)
        make_tree(tmp_path / "inbox", FILES)
        code, _, err = run(capsys, "sync", "pp:/outbox", str(tmp_path / "inbox"), "--checksum")
        assert code == ExitCode.UNSUPPORTED
        one_error(err, "--checksum", "no checksum")


def test_fsspec_checksum_is_the_servers_hash_where_it_states_one(pki: TestPKI, tmp_path: Path) -> None:
    """``XferFileSystem.checksum`` uses the same question; without a server hash, fsspec's default."""
    import hashlib

    from .fsspec_helpers import filesystem

    data = b"x,y\n1,2\n"
    with serve("ftpes", pki, root=tmp_path / "hashing", handler_class=hashing_handler(("XSHA256",))) as hashing, \
            serve("ftpes", pki, root=tmp_path / "plain") as plain:
        for served in (hashing, plain):
            (served.root / "a.csv").write_bytes(data)
        assert filesystem(hashing).checksum("/a.csv") == int(hashlib.sha256(data).hexdigest(), 16)
        fs = filesystem(plain)
        assert fs.checksum("/a.csv") == fs.checksum("/a.csv") != int(hashlib.sha256(data).hexdigest(), 16)
