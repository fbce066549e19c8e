"""The SSH cipher against the bed's real OpenSSH sshd (its default cipher list): xfer asks for
AES-GCM first and gets it, where asyncssh's own preference would run chacha20-poly1305 (1.5-1.8x
the client CPU per GiB, bench/bench_sftp.py); ``put --json`` and ``profile test`` report it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest

from integration.bed import ServerInfo
from integration.test_sftp_sshd import _table, profiles, sshd  # noqa: F401  (fixtures)
from tests.helpers import run
from xfer.testing.contract import make_file

GCM = "aes128-gcm@openssh.com"


def _asyncssh_default_cipher(server: ServerInfo) -> str:
    """The cipher a client with asyncssh's default preferences gets from the bed's sshd."""
    extra = server.extra

    async def ask() -> str:
        key = asyncssh.import_private_key(Path(extra["client_key"]).read_bytes(),
                                          Path(extra["passphrase_file"]).read_text())
        certificate = asyncssh.read_certificate(f"{extra['client_key']}-cert.pub")
        async with asyncssh.connect(server.host, server.port, username=server.username,
                                    client_keys=[(key, certificate)], agent_path=None, known_hosts=None,
                                    config=None) as conn:
            return str(conn.get_extra_info("send_cipher"))

    return asyncio.run(ask())


def test_aes_gcm_is_negotiated_with_sshd_and_reported(sshd: ServerInfo, tmp_path: Path,  # noqa: F811
                                                      profiles: Callable[..., str],  # noqa: F811
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _asyncssh_default_cipher(sshd) == "chacha20-poly1305@openssh.com"
    name = profiles(_table(sshd))
    source = tmp_path / "a.bin"
    make_file(source, 1 << 20)
    code, out, err = run(capsys, "put", str(source), f"{name}:/cipher-a.bin", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["cipher"] == GCM
    code, out, err = run(capsys, "profile", "test", name, "--json")
    assert code == 0, err
    facts = next(step["facts"] for step in json.loads(out)["steps"] if step["key"] == "protocol")
    assert facts["cipher"] == GCM
