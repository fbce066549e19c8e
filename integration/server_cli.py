"""What a test needs to run the ``xfer`` command line against one bed FTP server by URL: files it
made given to the server's user, and the flags that name the identity and the login."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from integration.bed import ServerInfo
from xfer.testing.pki import TestPKI


def give_to_server(folder: Path, info: ServerInfo) -> None:
    """``folder`` and everything in it owned as the server's root is: its user must be able to
    remove what the test made."""
    owner = info.root.stat()
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, owner.st_uid, owner.st_gid)


def login_flags(info: ServerInfo, pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The flags of a command against ``info`` by URL (the password by reference, in the environment)."""
    monkeypatch.setenv("XFER_T_BED_PW", info.password or "")
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca), "--username", info.username or "", "--password", "env:XFER_T_BED_PW"]
