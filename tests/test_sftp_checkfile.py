"""SFTP's ``check-file`` hashes (issue 18): a server that has the extension proves each transfer by hash.

OpenSSH has no such extension (tests/test_sftp.py's plain asyncssh server, and the bed's sshd in
integration/test_sftp_checkfile_sshd.py, report ``verified: "size"``); the in-process
:class:`~xfer.testing.sftp_server.CheckFileServer` is the other legal variant: it names
``check-file`` and answers it, in SHA-256 or (a subclass) MD5 only.  A server whose hash does
not match the bytes is an integrity error (exit 7) with nothing under the final name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import asyncssh
import pytest

import xfer
from tests.helpers import one_error, run
from xfer.adapters.sftp import SFTPAdapter
from xfer.errors import IntegrityError
from xfer.testing.contract import make_file
from xfer.testing.sftp_server import CheckFileServer, SFTPServer, SSHTestKeys, create_ssh_keys


class _Md5Only(CheckFileServer):
    algorithms: ClassVar[tuple[str, ...]] = ("md5",)


class _Lying(CheckFileServer):
    corrupt: ClassVar[bool] = True


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def serve(ssh_keys: SSHTestKeys, tmp_path: Path) -> Iterator[Callable[[type[CheckFileServer] | None], SFTPServer]]:
    with_servers: list[SFTPServer] = []

    def start(kind: type[CheckFileServer] | None) -> SFTPServer:
        srv = SFTPServer(ssh_keys, root=tmp_path / "root", sftp_class=kind or asyncssh.SFTPServer)
        with_servers.append(srv.__enter__())
        return srv

    yield start
    for srv in with_servers:
        srv.__exit__(None, None, None)


def _flags(keys: SSHTestKeys) -> list[str]:
    return ["--identity", str(keys.client_key), "--identity-password", f"file:{keys.passphrase_file}",
            "--pin", keys.host_fingerprint()]


def _connect(srv: SFTPServer, keys: SSHTestKeys) -> SFTPAdapter:
    adapter = xfer.connect(srv.url, identity=str(keys.client_key), identity_password=f"file:{keys.passphrase_file}",
                           pin=keys.host_fingerprint(), timeout=10)
    assert isinstance(adapter, SFTPAdapter)
    return adapter


@pytest.mark.parametrize(("kind", "expected"), [(CheckFileServer, "sha256"), (_Md5Only, "md5"), (None, "size")])
def test_verified_by_the_servers_hash_where_it_has_check_file(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], kind: type[CheckFileServer] | None, expected: str,
) -> None:
    srv = serve(kind)
    source = tmp_path / "invoice.bin"
    digest = make_file(source, 3 << 20)
    code, out, err = run(capsys, "put", str(source), f"{srv.url}in/invoice.bin", "--json", *_flags(ssh_keys))
    assert code == 0, err
    [put] = json.loads(out)
    assert put["verified"] == expected and put["sha256"] == digest
    code, out, err = run(capsys, "get", f"{srv.url}in/invoice.bin", str(tmp_path / "back.bin"), "--json",
                         *_flags(ssh_keys))
    assert code == 0, err
    [got] = json.loads(out)
    assert got["verified"] == expected and got["sha256"] == digest
    if kind is not None:  # the server was asked, for the temporary name and for the file
        asked = [Path(path).name for path, *_ in srv.check_file_asked]
        assert "invoice.bin" in asked and any(name.endswith(".xfer-part") for name in asked)
        assert {algorithms for _, algorithms, *_ in srv.check_file_asked} == {"sha256,md5,crc32"}
    with _connect(srv, ssh_keys) as remote, remote.open_write("/in/stream.bin") as writer:
        writer.write(b"streamed" * 100_000)
    assert writer.result is not None and writer.result.verified == expected


def test_a_wrong_hash_on_get_is_exit_7_and_nothing_is_saved(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = serve(_Lying)
    make_file(srv.root / "report.bin", 2 << 20)
    (tmp_path / "local").mkdir()
    local = tmp_path / "local" / "report.bin"
    local.write_text("yesterday's report")
    code, _, err = run(capsys, "get", f"{srv.url}report.bin", str(local), *_flags(ssh_keys))
    assert code == 7, err
    line = one_error(err, "SHA-256 check", "check-file", "nothing was saved")
    assert "report.bin" in line
    assert local.read_text() == "yesterday's report"
    assert sorted(p.name for p in local.parent.iterdir()) == ["report.bin"]


def test_a_wrong_hash_on_put_is_exit_7_and_nothing_is_installed(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = serve(_Lying)
    (srv.root / "report.bin").write_text("previous version")
    source = tmp_path / "report.bin"
    make_file(source, 2 << 20)
    code, _, err = run(capsys, "put", str(source), f"{srv.url}report.bin", *_flags(ssh_keys))
    assert code == 7, err
    one_error(err, "SHA-256 check", "the upload was removed")
    assert (srv.root / "report.bin").read_text() == "previous version"
    assert sorted(p.name for p in srv.root.iterdir()) == ["report.bin"]
    with _connect(srv, ssh_keys) as remote:  # and the streaming writer, the same way
        with pytest.raises(IntegrityError), remote.open_write("/report.bin") as writer:
            writer.write(b"x" * 300_000)
    assert sorted(p.name for p in srv.root.iterdir()) == ["report.bin"]
    assert hashlib.sha256((srv.root / "report.bin").read_bytes()).hexdigest() == hashlib.sha256(
        b"previous version").hexdigest()


def test_checksum_required_without_check_file_is_refused(
    serve: Callable[[type[CheckFileServer] | None], SFTPServer], ssh_keys: SSHTestKeys, tmp_path: Path,
) -> None:
    srv = serve(None)
    make_file(srv.root / "a.bin", 1000)
    with xfer.connect(srv.url, identity=str(ssh_keys.client_key), identity_password=f"file:{ssh_keys.passphrase_file}",
                      pin=ssh_keys.host_fingerprint(), checksum=True) as remote:
        with pytest.raises(IntegrityError, match="check-file"):
            remote.get_file("/a.bin", tmp_path / "a.bin")
    assert not (tmp_path / "a.bin").exists() and not list(tmp_path.glob(".*"))
