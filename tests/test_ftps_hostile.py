"""FTPS against server behaviours the bed's daemons do not show, as fakes (:mod:`xfer.testing.ftps_fake`).

Regression tests for issue 11: the data-channel handshake order (item 11), streams cut
without close_notify (item 2), endless listings (item 6), a password echoed in replies
(item 8), SIZE on folders (item 12), and their siblings.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from xfer import client
from xfer.adapters.ftps import FTPSAdapter
from xfer.errors import ExitCode, IntegrityError, ListingTooLarge
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


# -- item 2: a data stream cut without close_notify -----------------------------------------------


def _no_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "xfer-part" in p.name]


@pytest.mark.parametrize("size", [False, True], ids=["no-SIZE", "SIZE"])
def test_download_cut_without_close_notify_is_an_integrity_error(
    pki: TestPKI, root: Path, client_context: ContextFactory, tls_version: str, tmp_path: Path, size: bool
) -> None:
    """The server cuts RETR after 30000 of 70000 bytes (FIN, no close_notify) and says 226.
    Without SIZE the half file used to replace the good local one, exit 0."""
    target = tmp_path / "a.edi"
    target.write_bytes(b"old and good")
    with FakeFTPSServer(pki, root=root, tls_max=tls_version, size=size, cut_after=30_000) as srv:
        remote = srv.adapter(client_context(tls_max=tls_version))
        with remote:
            with pytest.raises(IntegrityError) as failure:
                remote.get_file("/in/a.edi", target)
            assert failure.value.exit_code == ExitCode.INTEGRITY
            assert "30000" in str(failure.value)
            # The session is in step: the next operation gets its own answer.
            assert remote.info("/in/b.edi").size == 3
    assert target.read_bytes() == b"old and good"
    assert _no_leftovers(tmp_path) == []


def test_download_without_close_notify_is_complete_when_its_size_proves_it(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """A server that never sends close_notify on data connections still works where SIZE (or
    MLST) says how long the file is and every byte arrived."""
    for size in (True, False):  # SIZE, or MLST's size fact
        with FakeFTPSServer(pki, root=root, size=size, cut_after=70_000) as srv:
            remote = srv.adapter(client_context())
            with remote:
                remote.get_file("/in/a.edi", tmp_path / "a.edi")
        assert (tmp_path / "a.edi").read_bytes() == b"A" * 70_000
        (tmp_path / "a.edi").unlink()


def test_download_without_close_notify_and_no_size_is_not_proven(
    pki: TestPKI, root: Path, client_context: ContextFactory, tmp_path: Path
) -> None:
    """All bytes arrived, but nothing says so: without SIZE and MLST the FIN could be a cut."""
    with FakeFTPSServer(pki, root=root, size=False, mlst=False, cut_after=70_000) as srv:
        remote = srv.adapter(client_context())
        with remote, pytest.raises(IntegrityError):
            remote.get_file("/in/a.edi", tmp_path / "a.edi")
    assert not (tmp_path / "a.edi").exists()
    assert _no_leftovers(tmp_path) == []


@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST"])
def test_listing_cut_without_close_notify_is_an_integrity_error(
    pki: TestPKI, root: Path, client_context: ContextFactory, tls_version: str, tmp_path: Path, mlst: bool
) -> None:
    """get -r fetched 4 of 10 files, exit 0, when the listing was cut; now nothing is fetched."""
    for number in range(10):
        (root / "in" / f"f{number}.edi").write_bytes(b"x")
    with FakeFTPSServer(pki, root=root, tls_max=tls_version, mlst=mlst, cut_after=150) as srv:
        remote = srv.adapter(client_context(tls_max=tls_version))
        with remote:
            with pytest.raises(IntegrityError, match="listing of /in"):
                remote.ls("/in")
            with pytest.raises(IntegrityError):
                client.get(remote, ["/in"], tmp_path / "down", recursive=True)
    assert not (tmp_path / "down").exists() or list((tmp_path / "down").rglob("*.edi")) == []


# -- item 6: listings are read with a cap -------------------------------------------------------------


@pytest.mark.parametrize("mlst", [True, False], ids=["MLSD", "LIST"])
def test_endless_listing_stops_at_max_listing(
    pki: TestPKI, root: Path, client_context: ContextFactory, mlst: bool
) -> None:
    """A listing that never ends used to be read whole into memory (1.3-1.9 GB for 200 MB)."""
    cap = 2 * 2**20
    with FakeFTPSServer(pki, root=root, mlst=mlst, endless_listing=True) as srv:
        remote = srv.adapter(client_context(), max_listing=cap)
        with remote:
            tracemalloc.start()
            try:
                with pytest.raises(ListingTooLarge) as failure:
                    remote.ls("/in")
                _current, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert failure.value.exit_code == ExitCode.REMOTE
            assert "--max-listing" in (failure.value.hint or "")
            assert "2 MiB" in str(failure.value)
            # Parsed as it arrives: the peak is the entries of 2 MiB of lines, not a copy of
            # everything the server sent.
            assert peak < 40 * 2**20, peak
            assert remote.info("/in/a.edi").size == 70_000  # the session is usable again
    assert srv.endless_sent < 8 * cap
