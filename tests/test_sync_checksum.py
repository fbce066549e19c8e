"""``xfer sync --checksum`` against servers that state hashes: the planner asks the server for the
hash of each file present on both sides with the same size (FTP ``HASH``/``XSHA256``/``XCRC``, HTTP
``Repr-Digest`` on ``HEAD``, SFTP ``check-file``), the way an upload is verified, and compares it
with the local file's hash in the algorithm the server answered in.

Each case: a second run sends nothing, and a file changed in place (same size, same time: the
default comparison cannot see it) is sent again, up and down.  Where the server states no hash the
refusal stays (tests/test_sync.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import tomli_w
from fsspec.utils import tokenize

import xfer
from xfer.errors import ExitCode, RemoteNotFound, XferError
from xfer.testing import serve
from xfer.testing.endpoints import Endpoint
from xfer.testing.ftps_server import hashing_handler
from xfer.testing.pki import TestPKI
from xfer.testing.sftp_server import CheckFileServer

from .helpers import one_error, rewrite_in_place, run
from .test_sync import FILES as TREE
from .test_sync import make_tree, tree


class _Md5CheckFile(CheckFileServer):
    algorithms: ClassVar[tuple[str, ...]] = ("md5",)


class _ProftpdCheckFile(CheckFileServer):
    """ProFTPD's mod_sftp: its reply form, and no hash of an empty file (EINVAL for offset >= size)."""

    reply_form: ClassVar[str] = "proftpd"
    refuses_offset_at_end: ClassVar[bool] = True


#: case -> (protocol, server options): every way a server of each protocol states a hash.
SERVERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ftpes-HASH": ("ftpes", {"handler_class": hashing_handler(("HASH", "XSHA256"))}),
    "ftpes-XCRC": ("ftpes", {"handler_class": hashing_handler(("XCRC",))}),
    "https-repr-digest": ("https", {"digests": ("repr-digest",), "digests_on_put": True}),
    "https-digest-md5": ("https", {"digests": ("digest-md5",)}),
    "davs-repr-digest": ("davs", {"repr_digest": True}),
    "sftp-check-file": ("sftp", {"sftp_class": CheckFileServer}),
    "sftp-check-file-md5": ("sftp", {"sftp_class": _Md5CheckFile}),
    "sftp-check-file-proftpd": ("sftp", {"sftp_class": _ProftpdCheckFile}),
}

#: The tree synced: with an empty file, which every hash agrees on (and ProFTPD will not hash).
FILES = {**TREE, "empty.txt": b""}


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


def test_sync_up_checksum_asks_the_server_and_resends_a_file_changed_in_place(
    capsys: pytest.CaptureFixture[str], hashing: Endpoint, tmp_path: Path
) -> None:
    local = tmp_path / "outbox"
    make_tree(local, FILES)
    first = _sync(capsys, str(local), "pp:/in", "--checksum")
    assert first["transferred"] == len(FILES), first
    assert tree(hashing.root / "in") == FILES

    second = _sync(capsys, str(local), "pp:/in", "--checksum")
    assert (second["transferred"], second["skipped"]) == (0, len(FILES)), second
    reasons = {a["path"]: a["reason"] for a in second["actions"]}
    assert reasons.pop("empty.txt") == "both empty", second  # no hash asked: all empty files are equal
    assert len(set(reasons.values())) == 1 and reasons.popitem()[1].startswith("same size and "), second

    rewrite_in_place(local / "b.txt", b"HELLO\n")
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
    assert first["transferred"] == len(FILES), first
    second = _sync(capsys, "pp:/outbox", str(local), "--checksum")
    assert (second["transferred"], second["skipped"]) == (0, len(FILES)), second

    rewrite_in_place(hashing.root / "outbox" / "sub" / "c.csv", b"C\n" * 100)
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
    from .fsspec_helpers import filesystem

    data = b"x,y\n1,2\n"
    with serve("ftpes", pki, root=tmp_path / "hashing", handler_class=hashing_handler(("XSHA256",))) as hashing, \
            serve("ftpes", pki, root=tmp_path / "plain") as plain:
        for served in (hashing, plain):
            (served.root / "a.csv").write_bytes(data)
        assert filesystem(hashing).checksum("/a.csv") == int(hashlib.sha256(data).hexdigest(), 16)
        fs = filesystem(plain)
        assert fs.checksum("/a.csv") == fs.checksum("/a.csv") != int(hashlib.sha256(data).hexdigest(), 16)


# -- the question itself: what is "no hash", what is a failure to retry ----------------------------


def test_https_checksum_is_none_only_where_the_server_has_no_hash_for_us(
    pki: TestPKI, tmp_path: Path, retry_waits: list[float]
) -> None:
    """A HEAD answered 403/405/501, or 200 without digest headers, states no hash; 404 is not found;
    a busy or failing server (503, 429, 500, 401) is an error the retry policy asks again, not
    "no checksum"."""
    statuses = {"/busy": 503, "/slow": 429, "/broken": 500, "/login": 401, "/drop": 403, "/nohead": 405,
                "/unimpl": 501}
    with serve("https", pki, root=tmp_path / "served", statuses=statuses) as served:
        (served.root / "plain.csv").write_bytes(b"x\n")
        with xfer.connect(served.profile) as remote:
            assert remote.checksum("/plain.csv") is None
            for path in ("/drop", "/nohead", "/unimpl"):
                assert remote.checksum(path) is None, path
            with pytest.raises(RemoteNotFound):
                remote.checksum("/missing.csv")

            def heads(path: str) -> int:
                return sum(1 for r in served.server.requests if (r.method, r.path) == ("HEAD", path))

            for path in ("/busy", "/slow", "/broken"):
                retry_waits.clear()
                with pytest.raises(XferError) as caught:
                    remote.checksum(path)
                assert caught.value.exit_code != ExitCode.UNSUPPORTED, path
                assert heads(path) > 1 and retry_waits, path  # asked again
            with pytest.raises(XferError) as caught:
                remote.checksum("/login")
            assert caught.value.exit_code not in (ExitCode.UNSUPPORTED, ExitCode.OK)


def test_sync_checksum_names_a_busy_https_server_not_a_missing_hash(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("https", pki, root=tmp_path / "served", name="pp", statuses={"/outbox/a.csv": 503}) as served:
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "pp.toml").write_text(tomli_w.dumps(served.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path / "profiles"))
        make_tree(served.root / "outbox", {"a.csv": b"a,b\n"})
        make_tree(tmp_path / "inbox", {"a.csv": b"a,b\n"})
        # (the listing says the file is there; its HEAD answers 503)
        code, _, err = run(capsys, "sync", "pp:/outbox", str(tmp_path / "inbox"), "--checksum")
        assert code not in (ExitCode.OK, ExitCode.UNSUPPORTED), err
        assert "no checksum" not in err and "503" in err, err


def test_ftps_checksum_asks_a_busy_server_again(pki: TestPKI, tmp_path: Path) -> None:
    """``450`` (a temporary refusal) to XSHA256 is retried, not taken for "no hash"."""
    data = b"x,y\n1,2\n"
    with serve("ftpes", pki, root=tmp_path / "served", handler_class=hashing_handler(("XSHA256",), busy=1)) as served:
        (served.root / "a.csv").write_bytes(data)
        with xfer.connect(served.profile) as remote:
            stated = remote.checksum("/a.csv")
        assert stated is not None and stated.value == hashlib.sha256(data).hexdigest()
        assert sum(1 for c in served.server.commands if c.startswith("XSHA256 ")) == 2


def test_ftps_transfer_check_asks_a_busy_server_for_the_hash_not_for_the_file_again(
    pki: TestPKI, tmp_path: Path
) -> None:
    """``450`` to the hash command after a transfer under ``--checksum``: the hash is asked again;
    the file is not moved again (read-back: it went down twice, and up a second time)."""
    data = b"x,y\n1,2\n" * 1000
    (tmp_path / "up.csv").write_bytes(data)
    with serve("ftpes", pki, root=tmp_path / "served", handler_class=hashing_handler(("XSHA256",), busy=1)) as served:
        (served.root / "a.csv").write_bytes(data)
        with xfer.connect(served.profile, checksum=True) as remote:
            got = remote.get_file("/a.csv", tmp_path / "a.csv")
            put = remote.put_file(tmp_path / "up.csv", "/up.csv")
        commands = served.server.commands
    assert got.verified == "sha256" and put.verified == "sha256" and got.attempts == put.attempts == 1
    assert sum(1 for c in commands if c.startswith("RETR ")) == 1
    assert sum(1 for c in commands if c.startswith("STOR ")) == 1
    assert (tmp_path / "a.csv").read_bytes() == data and (served.root / "up.csv").read_bytes() == data


def test_https_digests_are_asked_for_on_the_checksum_head_and_the_upload_check(pki: TestPKI, tmp_path: Path) -> None:
    """A server that states digests only when asked (RFC 9530 ``Want-Repr-Digest``, RFC 3230
    ``Want-Digest``) gives them to xfer's checksum HEAD and to the HEAD after an upload."""
    import requests

    data = b"x,y\n1,2\n"
    for kind, algorithm in (("repr-digest", "sha256"), ("digest-md5", "md5")):
        root = tmp_path / kind
        with serve("https", pki, root=root, digests=(kind,), digests_when_asked=True) as served:
            (root / "a.csv").write_bytes(data)
            # The server's side: nothing unless asked.
            plain = requests.head(f"{served.url.rstrip('/')}/a.csv", verify=str(served.ca),
                                  cert=(str(pki.client_cert), str(pki.client_key)), timeout=10)
            assert not {"Repr-Digest", "Digest"} & set(plain.headers), plain.headers
            with xfer.connect(served.profile, checksum=True) as remote:
                stated = remote.checksum("/a.csv")
                assert stated is not None and stated.algorithm == algorithm, kind
                local = tmp_path / "up.csv"
                local.write_bytes(data)
                assert remote.put_file(local, "/up.csv").verified == algorithm, kind
            asked = [r.headers for r in served.server.requests if r.method == "HEAD"][1:]  # after the plain one
            assert len(asked) == 2 and all("sha-256=10" in h.get("Want-Repr-Digest", "") and "MD5;q=0.5" in
                                 h.get("Want-Digest", "") for h in asked), asked


def test_fsspec_checksum_of_a_folder_is_fsspecs_default_on_a_hashing_ftps_server(
    pki: TestPKI, tmp_path: Path
) -> None:
    """SIZE of a folder is refused (550): that is no hash (fsspec's default), not an error."""
    from .fsspec_helpers import filesystem

    with serve("ftpes", pki, root=tmp_path / "hashing", handler_class=hashing_handler(("XSHA256",))) as hashing, \
            serve("ftpes", pki, root=tmp_path / "plain") as plain:
        for served in (hashing, plain):
            (served.root / "d").mkdir()
        fs = filesystem(hashing)
        assert fs.checksum("/d") == fs.checksum("/d") == int(tokenize(fs.info("/d")), 16)
        assert isinstance(filesystem(plain).checksum("/d"), int)


def test_local_digest_in_each_algorithm_a_server_or_listing_names(tmp_path: Path) -> None:
    """The local side of the comparison: the server's algorithms, a listing's (hashlib), none unknown."""
    import zlib

    from xfer.sync import _local_digest

    data = os.urandom(3 << 20)  # more than one read block
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    for name in ("sha256", "md5", "sha512", "sha1"):
        assert _local_digest(path, name) == hashlib.new(name, data).hexdigest(), name
    assert _local_digest(path, "crc32") == f"{zlib.crc32(data):08x}"
    assert _local_digest(path, "no-such-hash") is None
