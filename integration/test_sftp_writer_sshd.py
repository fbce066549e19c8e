"""SFTP's streaming writer against the bed's OpenSSH sshd: the bytes are on sshd's disk under the
temporary name while the stream is open, the name appears only at close, an abort leaves nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

import xfer
from integration.bed import ServerInfo
from xfer.profiles import Profile

pytestmark = pytest.mark.integration

BLOCK = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture(scope="module")
def sshd(bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server("sshd")


def _hidden(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def test_stream_is_never_visible_half_written(sshd: ServerInfo) -> None:
    root = Path(sshd.root)
    profile = Profile.from_mapping("sshd", {
        "url": sshd.url, "timeout": 15.0, "identity": sshd.extra["client_key"],
        "identity_password": f"file:{sshd.extra['passphrase_file']}",
        "sftp": {"known_hosts": sshd.extra["known_hosts_ca"]},
    })
    with xfer.connect(profile) as remote:
        with remote.open_write("/streamed.csv") as writer:
            for _ in range(12):
                writer.write(BLOCK)
            deadline = time.monotonic() + 10
            while not any(p.stat().st_size >= 2 << 20 for p in _hidden(root)):
                assert time.monotonic() < deadline, "nothing reached sshd's disk before close"
                time.sleep(0.02)
            assert [p.name.endswith(".xfer-part") for p in _hidden(root)] == [True]
            assert not (root / "streamed.csv").exists()
        assert (root / "streamed.csv").read_bytes() == BLOCK * 12
        assert _hidden(root) == []
        with pytest.raises(RuntimeError), remote.open_write("/aborted.csv") as writer:
            writer.write(BLOCK * 4)
            raise RuntimeError("the producer failed")
        assert not (root / "aborted.csv").exists() and _hidden(root) == []
        remote.rm("/streamed.csv")
