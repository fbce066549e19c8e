"""SFTP against the bed's real OpenSSH sshd: internal-sftp, chrooted, TrustedUserCAKeys, a host certificate.

The contract suite, then each refusal through the CLI: one ``xfer: error:`` line and the exit
code the README promises.  The unknown-host-key test then adds the line xfer printed to a
known_hosts file and connects with it: the advice is proven to work, not only shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

import xfer
from integration.bed import ServerInfo
from tests.helpers import one_error, run
from xfer.adapters.base import Adapter
from xfer.profiles import Profile
from xfer.testing.contract import AdapterContract, make_file, make_small_files, sha256_of


@pytest.fixture(scope="module")
def sshd(bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server("sshd")


def _table(sshd: ServerInfo, key: str | None = None, **extra: Any) -> dict[str, Any]:
    keys = Path(sshd.extra["ssh_keys"])
    table: dict[str, Any] = {
        "url": sshd.url, "timeout": 15.0,
        "identity": str(keys / key) if key else sshd.extra["client_key"],
        "sftp": {"known_hosts": sshd.extra["known_hosts_ca"]},
        **extra,
    }
    if key is None:
        table.setdefault("identity_password", f"file:{sshd.extra['passphrase_file']}")
    return table


class TestSshdContract(AdapterContract):
    @pytest.fixture
    def remote(self, sshd: ServerInfo) -> Iterator[Adapter]:
        with xfer.connect(Profile.from_mapping("sshd", _table(sshd))) as remote:
            yield remote


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # never the user's ~/.ssh
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)

    def save(table: dict[str, Any], name: str = "sshd") -> str:
        (folder / f"{name}.toml").write_text(tomli_w.dumps(table))
        return name

    return save


def _fails(capsys: pytest.CaptureFixture[str], code: int, *args: str) -> tuple[str, str]:
    got, _out, err = run(capsys, *args)
    assert got == code, err
    return one_error(err), err


def test_certificate_accepted(sshd: ServerInfo, profiles: Callable[..., str], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    name = profiles(_table(sshd))
    source = tmp_path / "invoice.bin"
    make_file(source, 3 << 20)
    code, out, err = run(capsys, "put", str(source), f"{name}:/in/", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["size_verified"] is True
    assert sha256_of(sshd.root / "in" / "invoice.bin") == sha256_of(source)
    log = sshd.log.read_text(errors="replace")
    assert 'Accepted certificate ID "xfer-test-user"' in log
    code, out, err = run(capsys, "profile", "test", name, "--json")
    assert code == 0, err
    # sshd's HostCertificate, verified through the @cert-authority line (the doctor report's protocol step)
    facts = next(step["facts"] for step in json.loads(out)["steps"] if step["key"] == "protocol")
    assert facts["host_key_trusted_by"] == "known_hosts @cert-authority"
    assert facts["host_key"] == sshd.extra["host_fingerprint"] and facts["auth"] == "certificate"
    assert run(capsys, "rm", "-r", f"{name}:/in")[0] == 0


def test_expired_certificate_refused(sshd: ServerInfo, profiles: Callable[..., str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    name = profiles(_table(sshd, "expired_key"))
    line, _ = _fails(capsys, 4, "ls", f"{name}:/")
    assert "xfer-expired" in line and "expired on" in line


def test_wrong_principal_refused(sshd: ServerInfo, profiles: Callable[..., str],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    name = profiles(_table(sshd, "other_principal_key"))
    line, _ = _fails(capsys, 4, "ls", f"{name}:/")
    assert "refused the SSH certificate" in line and "someone-else" in line and str(sshd.username) in line


def test_unknown_host_key_refused_and_the_printed_line_works(
    sshd: ServerInfo, profiles: Callable[..., str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    table = _table(sshd)
    del table["sftp"]  # trust nothing: ~/.ssh/known_hosts does not exist (HOME is empty)
    name = profiles(table)
    line, err = _fails(capsys, 4, "ls", f"{name}:/")
    assert "unknown SSH host key" in line and sshd.extra["host_fingerprint"] in line
    hint = next(h for h in err.splitlines() if h.startswith("hint: "))
    known_line = hint.split(": ", 2)[2].split("   (or pin it")[0]
    known = tmp_path / "known_hosts"
    known.write_text(known_line + "\n")
    name = profiles({**table, "sftp": {"known_hosts": str(known)}})
    assert run(capsys, "ls", f"{name}:/")[0] == 0
    code, _out, err = run(capsys, "ls", "sshd:/", "--pin", sshd.extra["host_fingerprint"])
    assert code == 0, err


def test_wrong_key_passphrase(sshd: ServerInfo, profiles: Callable[..., str], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text("not it")
    name = profiles(_table(sshd, identity_password=f"file:{wrong}"))
    line, _ = _fails(capsys, 4, "ls", f"{name}:/")
    assert line == f"xfer: error: wrong passphrase for the SSH key {sshd.extra['client_key']}"


def test_rmdir_of_a_folder_with_entries_is_enotempty(sshd: ServerInfo, tmp_path: Path) -> None:
    """OpenSSH's sftp-server answers rmdir's ENOTEMPTY with FX_FAILURE "Failure" (SFTP v3 has no
    code for it): xfer sees that the folder still lists entries and says so, as os.rmdir's
    OSError(ENOTEMPTY), without claiming more than it knows (it was a ServerError, retried)."""
    import errno
    import uuid

    from xfer.errors import RemoteFolderNotEmpty

    source = tmp_path / "a.bin"
    make_file(source, 10)
    folder = f"/in/rmdir-{uuid.uuid4().hex[:8]}"
    with xfer.connect(Profile.from_mapping("sshd", _table(sshd))) as remote:
        remote.mkdir(folder)
        remote.put_file(source, f"{folder}/a.bin")
        try:
            with pytest.raises(RemoteFolderNotEmpty) as caught:
                remote.rmdir(folder)
            assert caught.value.errno == errno.ENOTEMPTY and str(caught.value.filename).endswith(folder)
            assert "the folder holds 1 entry" in caught.value.message, caught.value.message
            assert [entry.name for entry in remote.ls(folder)] == ["a.bin"]
        finally:
            remote.rm(f"{folder}/a.bin")
            remote.rmdir(folder)


def test_small_files_come_together_from_openssh(sshd: ServerInfo, tmp_path: Path) -> None:
    """``put -r`` and ``get -r`` of 200 small files: each group's requests in flight at once on
    OpenSSH's sftp-server (issue 14), every file whole, none left half written."""
    import uuid

    tree = tmp_path / "many"
    digests = make_small_files(tree, 200)
    folder = f"/in/together-{uuid.uuid4().hex[:8]}"
    with xfer.connect(Profile.from_mapping("sshd", _table(sshd))) as remote:
        sent = remote.put([tree], f"{folder}/", recursive=True)
        assert sum(bool(r.details.get("pipelined")) for r in sent) == 200 and all(r.size_verified for r in sent)
        try:
            fetched = remote.get([f"{folder}/many"], tmp_path / "back", recursive=True, parallel=2)
        finally:
            remote.rm(folder, recursive=True)
    back = tmp_path / "back"
    assert {p.relative_to(back).as_posix(): sha256_of(p) for p in back.rglob("*.bin")} == digests
    assert sum(bool(r.details.get("pipelined")) for r in fetched) == 200
    assert not [p for p in back.rglob("*") if p.name.startswith(".")]


def test_sync_up_keeps_each_time_on_openssh(sshd: ServerInfo, tmp_path: Path) -> None:
    """``sync`` up gives each file its local time with the upload: set on the temporary name (OpenSSH's
    SETSTAT), kept through the rename; on disk each file has it, and a second run moves nothing."""
    import os
    import uuid

    from xfer.sync import sync

    tree = tmp_path / "outbox"
    make_small_files(tree, 60)
    stamps = {}
    for number, path in enumerate(sorted(tree.rglob("*.bin"))):
        stamps[path.relative_to(tree).as_posix()] = 1_600_000_000 + 3600 * number
        os.utime(path, (stamps[path.relative_to(tree).as_posix()],) * 2)
    folder = f"/in/times-{uuid.uuid4().hex[:8]}"
    with xfer.connect(Profile.from_mapping("sshd", _table(sshd))) as remote:
        remote.mkdir(folder, parents=True)
        try:
            first = sync(remote, folder, tree, upload=True, parallel=2)
            again = sync(remote, folder, tree, upload=True, parallel=2)
            on_disk = {name: os.stat(sshd.root / folder.lstrip("/") / name).st_mtime for name in stamps}
        finally:
            remote.rm(folder, recursive=True)
    assert sorted(first.done) == sorted(stamps)
    assert all(result.modified is not None for result in first.done.values())  # together or alone
    assert sum(bool(result.details.get("pipelined")) for result in first.done.values()) > 30
    assert on_disk == stamps
    assert again.done == {} and len(again.plan.skips) == 60
