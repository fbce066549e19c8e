"""Which SSH cipher xfer negotiates, and that it says so (``--json``, ``profile test``).

xfer asks for AES-GCM first (xfer/adapters/sftp/session.py, ENCRYPTION_ALGS): asyncssh runs it in
one OpenSSL call per packet (AES-NI), while its chacha20-poly1305, asyncssh's own first choice,
costs the client 1.5-1.8x the CPU per GiB (bench/bench_sftp.py).  Both are AEAD ciphers and in
OpenSSH's default list; a server without AES-GCM still gets chacha20-poly1305.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest

import xfer
from tests.helpers import run
from tests.test_sftp import _protocol_facts, profile_of, profiles, server_root, ssh_keys  # noqa: F401  (fixtures)
from xfer.profiles import Profile
from xfer.testing.contract import make_file
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys

GCM = "aes128-gcm@openssh.com"
CHACHA = "chacha20-poly1305@openssh.com"


def asyncssh_default_cipher(srv: SFTPServer, keys: SSHTestKeys) -> str:
    """The cipher a client with asyncssh's default preferences gets from ``srv``."""

    async def ask() -> str:
        key = asyncssh.read_private_key(str(keys.plain_key))
        async with asyncssh.connect(srv.host, srv.port, username=srv.user, client_keys=[key], agent_path=None,
                                    known_hosts=None, config=None) as conn:
            return str(conn.get_extra_info("send_cipher"))

    return asyncio.run(ask())


def test_aes_gcm_is_negotiated_and_reported(ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path,
                                            profiles: Callable[[Profile], str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with SFTPServer(ssh_keys, root=server_root, authorized=(Path(f"{ssh_keys.plain_key}.pub"),)) as srv:
        # The server offers both; left to asyncssh, the connection would run chacha20-poly1305.
        assert asyncssh_default_cipher(srv, ssh_keys) == CHACHA
        with xfer.connect(profile_of(srv, ssh_keys)) as remote:
            assert remote.connection_facts()["cipher"] == GCM
        source = tmp_path / "a.bin"
        make_file(source, 1 << 20)
        name = profiles(profile_of(srv, ssh_keys))
        code, out, err = run(capsys, "put", str(source), f"{name}:/a.bin", "--json")
        assert code == 0, err
        assert json.loads(out)[0]["cipher"] == GCM
        code, out, err = run(capsys, "profile", "test", name, "--json")
        assert code == 0, err
        assert _protocol_facts(json.loads(out))["cipher"] == GCM


def test_a_server_without_aes_gcm_gets_chacha20(ssh_keys: SSHTestKeys, server_root: Path,
                                               tmp_path: Path) -> None:
    with SFTPServer(ssh_keys, root=server_root, encryption_algs=(CHACHA, "aes256-ctr")) as srv, \
            xfer.connect(profile_of(srv, ssh_keys)) as remote:
        source = tmp_path / "a.bin"
        make_file(source, 1 << 20)
        assert remote.put_file(source, "/a.bin").details["cipher"] == CHACHA
        assert (server_root / "a.bin").read_bytes() == source.read_bytes()
