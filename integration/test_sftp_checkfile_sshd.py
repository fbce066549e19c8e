"""OpenSSH's sshd has no ``check-file`` extension: xfer asks once, takes the "unsupported" answer,
and proves transfers by size (``verified: "size"``); ``checksum`` required is refused there with
nothing saved.  The variant that has it: tests/test_sftp_checkfile.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import xfer
from integration.bed import ServerInfo
from xfer.errors import IntegrityError
from xfer.profiles import Profile
from xfer.testing.contract import make_file

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sshd(bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server("sshd")


def _profile(sshd: ServerInfo, **extra: object) -> Profile:
    return Profile.from_mapping("sshd", {
        "url": sshd.url, "timeout": 15.0, "identity": sshd.extra["client_key"],
        "identity_password": f"file:{sshd.extra['passphrase_file']}",
        "sftp": {"known_hosts": sshd.extra["known_hosts_ca"]}, **extra,
    })


def test_sshd_transfers_are_verified_by_size(sshd: ServerInfo, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    digest = make_file(source, 1 << 20)
    with xfer.connect(_profile(sshd)) as remote:
        put = remote.put_file(source, "/checkfile-a.bin")
        got = remote.get_file("/checkfile-a.bin", tmp_path / "back.bin")
        with remote.open_write("/checkfile-s.bin") as writer:
            writer.write(b"s" * 100_000)
        remote.rm("/checkfile-a.bin")
        remote.rm("/checkfile-s.bin")
    assert put.verified == got.verified == "size"
    assert writer.result is not None and writer.result.verified == "size"
    assert put.sha256 == got.sha256 == digest


def test_sshd_with_checksum_required_saves_nothing(sshd: ServerInfo, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    make_file(source, 1000)
    with xfer.connect(_profile(sshd)) as remote:
        remote.put_file(source, "/checkfile-b.bin")
    try:
        with xfer.connect(_profile(sshd, checksum=True)) as remote:
            with pytest.raises(IntegrityError, match="no checksum"):
                remote.get_file("/checkfile-b.bin", tmp_path / "back.bin")
            with pytest.raises(IntegrityError, match="no checksum"):
                remote.put_file(source, "/checkfile-c.bin")
            assert not remote.exists("/checkfile-c.bin")
    finally:
        with xfer.connect(_profile(sshd)) as remote:
            remote.rm("/checkfile-b.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
    assert [p.name for p in Path(sshd.root).iterdir() if p.name.startswith(".")] == []
