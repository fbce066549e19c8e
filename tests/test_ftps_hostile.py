"""FTPS against server behaviours the bed's daemons do not show, as fakes (:mod:`xfer.testing.ftps_fake`).

Regression tests for issue 11: the data-channel handshake order (item 11), streams cut
without close_notify (item 2), endless listings (item 6), a password echoed in replies
(item 8), SIZE on folders (item 12), and their siblings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from xfer.adapters.ftps import FTPSAdapter
from xfer.testing.ftps_fake import DataOrder, FakeFTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .ftps_fixtures import implicit  # noqa: F401 - a fixture, used by name

ContextFactory = Callable[..., XferSSLContext]


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fake-root")
    (folder / "in").mkdir()
    (folder / "in" / "a.edi").write_bytes(b"A" * 70_000)
    (folder / "in" / "b.edi").write_bytes(b"B" * 3)
    return folder


# -- item 11: the data connection's handshake before or after the 150 ---------------------------


@pytest.mark.parametrize("order", ["handshake-first", "reply-first"])
def test_data_channel_handshake_in_either_order(
    pki: TestPKI, root: Path, client_context: ContextFactory, tls_version: str, implicit: bool,
    order: DataOrder, tmp_path: Path,
) -> None:
    """A server that withholds the 150 until the data handshake is done (Node.js ftp-srv) used to
    deadlock until its 425; vsftpd's order (150 first) must keep working.  Listing, download
    and upload, each data connection resuming the control session."""
    context = client_context(tls_max=tls_version)
    server = FakeFTPSServer(pki, root=root, implicit=implicit, tls_max=tls_version, data_order=order, handshake_wait=3)
    with server as srv:
        remote = srv.adapter(context)
        with remote:
            _exercise(remote, root, tmp_path)
    first = ["handshake", "150"] if order == "handshake-first" else ["150", "handshake"]
    assert [d.events for d in server.data_connections] == [first] * 3
    assert all(d.resumed for d in server.data_connections)
    assert all(d.tls_version == f"TLSv{tls_version}" for d in remote.data_connections)


def _exercise(remote: FTPSAdapter, root: Path, tmp_path: Path) -> None:
    """Listing, download and upload: one data connection each."""
    assert [e.name for e in remote.ls("/in")] == ["a.edi", "b.edi"]
    remote.get_file("/in/a.edi", tmp_path / "a.edi")
    assert (tmp_path / "a.edi").read_bytes() == b"A" * 70_000
    result = remote.put_file(tmp_path / "a.edi", "/in/c.edi")
    assert (root / "in" / "c.edi").read_bytes() == b"A" * 70_000
    assert result.details["data_sessions_resumed"] == 1
