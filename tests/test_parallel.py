"""`-P N`: many files over N connections, in order, and one failure stops them all cleanly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.errors import ExitCode
from xfer.testing.contract import make_file, sha256_of
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI

from .helpers import one_error, run, save_ftps_profile


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[FTPSServer]:
    with FTPSServer(pki, root=tmp_path / "served") as srv:
        yield srv


@pytest.fixture
def profile(server: FTPSServer, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return save_ftps_profile(server, pki, tmp_path / "profiles", monkeypatch)


def _logins(server: FTPSServer) -> int:
    return sum(1 for line in server.commands if line.startswith("USER "))


def test_put_and_get_over_three_connections(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path
) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    digests = {f"f{i}.bin": make_file(batch / f"f{i}.bin", 300_000 + i, seed=i) for i in range(9)}
    code, out, err = run(capsys, "put", "-P", "3", *(str(batch / n) for n in sorted(digests)),
                         f"{profile}:/in/", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert [r["remote"] for r in results] == [f"/in/{n}" for n in sorted(digests)], "results keep the order"
    assert all(r["data_sessions_resumed"] == r["data_connections"] for r in results)
    assert _logins(server) == 3
    for name, digest in digests.items():
        assert sha256_of(server.root / "in" / name) == digest

    down = tmp_path / "down"
    code, _, err = run(capsys, "get", "-r", "-P", "3", f"{profile}:/in", f"{down}/")
    assert code == 0, err
    for name, digest in digests.items():
        assert sha256_of(down / "in" / name) == digest
    assert _logins(server) == 6


def test_one_refused_file_fails_alone_and_leaves_no_partial_files(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path
) -> None:
    """A missing file is that file's own failure: the others still arrive, whole (a failure of the
    connection stops the batch: tests/test_batch_own_failures.py)."""
    for i in range(4):
        make_file(server.root / f"big{i}.bin", 20 << 20, seed=i)
    down = tmp_path / "down"
    down.mkdir()
    sources = [f"{profile}:/big0.bin", f"{profile}:/missing.bin", f"{profile}:/big1.bin",
               f"{profile}:/big2.bin", f"{profile}:/big3.bin"]
    code, _, err = run(capsys, "get", "-P", "2", *sources, str(down))
    assert code == ExitCode.REMOTE
    [error] = [line for line in err.splitlines() if line.startswith("xfer: error: ")]  # (and the 4 "get" lines)
    assert "/missing.bin does not exist (4 file(s) were moved)" in error and "Traceback" not in err
    assert not [p.name for p in down.iterdir() if p.name.endswith(".xfer-part")]
    assert sorted(p.name for p in down.iterdir()) == [f"big{i}.bin" for i in range(4)]
    for done in down.iterdir():
        assert done.stat().st_size == 20 << 20


def test_parallel_one_is_a_single_connection(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path
) -> None:
    for i in range(3):
        (tmp_path / f"s{i}").write_text(str(i))
    code, _, err = run(capsys, "put", *(str(tmp_path / f"s{i}") for i in range(3)), f"{profile}:/one/")
    assert code == 0, err
    assert _logins(server) == 1


def test_a_server_connection_limit_means_fewer_workers_not_a_failure(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path
) -> None:
    assert server._server is not None
    server._server.max_cons_per_ip = 2  # like vsftpd max_per_ip: the third login is refused
    for i in range(6):
        (tmp_path / f"s{i}").write_bytes(b"x" * 200_000)
    code, _, err = run(capsys, "put", "-P", "4", *(str(tmp_path / f"s{i}") for i in range(6)), f"{profile}:/cap/")
    assert code == 0, err
    assert sorted(p.name for p in (server.root / "cap").iterdir()) == [f"s{i}" for i in range(6)]


def test_extra_connections_reuse_the_first_ones_settings(
    profile: str, server: FTPSServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets are resolved and the identity decrypted once, not once per connection."""
    import xfer
    from xfer import client, identity

    loads: list[str] = []
    original = identity.Identity.load.__func__  # type: ignore[attr-defined]

    def counting(cls: type, path: object, password: object = None) -> object:
        loads.append(str(path))
        return original(cls, path, password)

    monkeypatch.setattr(identity.Identity, "load", classmethod(counting))
    for i in range(6):
        (tmp_path / f"s{i}").write_bytes(b"x")
    with xfer.connect(profile) as remote:
        results = client.put(remote, [tmp_path / f"s{i}" for i in range(6)], "/once/", parallel=3)
    assert len(results) == 6 and len(loads) == 1
    assert _logins(server) == 3


def test_two_sources_with_one_destination_are_refused(
    capsys: pytest.CaptureFixture[str], profile: str, tmp_path: Path
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.csv").write_text(folder)
    code, _, err = run(capsys, "put", "-P", "2", str(tmp_path / "a" / "x.csv"), str(tmp_path / "b" / "x.csv"),
                       f"{profile}:/in/")
    assert code == ExitCode.USAGE
    one_error(err, "two sources would upload to /in/x.csv")


@pytest.mark.parametrize(("source", "lands_in"), [("tree/.", "in"), ("tree", "in/tree"), ("tree/", "in/tree")])
def test_put_r_of_dir_dot_uploads_the_contents_as_cp_does(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, source: str, lands_in: str,
) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    digest = make_file(tmp_path / "tree" / "sub" / "a.bin", 1000, seed=1)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "put", "-r", source, f"{profile}:/in/")
    assert code == 0, err
    assert sha256_of(server.root / lands_in / "sub" / "a.bin") == digest
    if lands_in == "in":
        assert not (server.root / "in" / "tree").exists()  # the contents, not the folder
