"""WebDAV modification times (issue 16): set where the server lets clients set getlastmodified.

RFC 4918 makes ``getlastmodified`` a protected live property, and Apache and nginx refuse a
PROPPATCH of it; wsgidav takes it where configured (``mutable_live_props``), as rsync-like
clients want.  xfer learns which on the first file (asking would change something), reads a
time it set back, and stays quiet
where the server cannot keep times (sync then compares a newer server copy as unchanged).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from xfer.errors import UnsupportedOperation
from xfer.sync import sync
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import RecordedRequest, Reply, WebDAVServer
from xfer.tls import XferSSLContext

from .test_sync import FILES, make_tree

WHEN = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)


def _proppatches(server: WebDAVServer) -> list[str]:
    return [request.path for request in server.requests if request.method == "PROPPATCH"]


def test_a_server_that_takes_getlastmodified_keeps_the_time_set(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    with WebDAVServer(pki, root=tmp_path / "srv", mutable_times=True) as server, \
            server.adapter(client_context()) as remote:
        remote.put_file(tmp_path / "f", "/f")
        os.utime(server.root, (1_600_000_000.7, 1_600_000_000.7))
        assert remote.keeps_modified
        remote.set_modified("/f", WHEN)
        assert remote.info("/f").modified == WHEN
        assert (server.root / "f").stat().st_mtime == WHEN.timestamp()
        assert _proppatches(server) == ["/f"]  # asking changes nothing else
        assert server.root.stat().st_mtime == 1_600_000_000.7


def test_a_server_that_protects_getlastmodified_is_found_out_on_the_first_file(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    with WebDAVServer(pki, root=tmp_path / "srv") as server, server.adapter(client_context()) as remote:
        remote.put_file(tmp_path / "f", "/f")
        before = (server.root / "f").stat().st_mtime
        assert remote.keeps_modified  # not known until asked
        for _ in range(2):
            with pytest.raises(UnsupportedOperation, match="protected property"):
                remote.set_modified("/f", WHEN)
            assert not remote.keeps_modified
        assert _proppatches(server) == ["/f"]  # asked once; known from then on
        assert (server.root / "f").stat().st_mtime == before


def test_one_refused_file_on_a_server_that_keeps_times_is_that_file_only(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"12345")

    def locked(request: RecordedRequest) -> Reply | None:
        return Reply(status=403) if request.method == "PROPPATCH" and request.path == "/locked" else None

    with WebDAVServer(pki, root=tmp_path / "srv", mutable_times=True, intercept=locked) as server, \
            server.adapter(client_context()) as remote:
        for name in ("/a", "/locked", "/b"):
            remote.put_file(tmp_path / "f", name)
        remote.set_modified("/a", WHEN)
        with pytest.raises(UnsupportedOperation, match="refused to set the modification time of /locked"):
            remote.set_modified("/locked", WHEN)
        assert remote.keeps_modified
        remote.set_modified("/b", WHEN)
        assert (server.root / "b").stat().st_mtime == WHEN.timestamp()


def test_a_server_that_says_yes_and_ignores_the_time_is_found_out(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    """A 207 with the property's 200, and the time unchanged: the read-back tells, and it is not asked again."""

    def ignoring(request: RecordedRequest) -> Reply | None:
        if request.method != "PROPPATCH":
            return None
        body = (
            '<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:"><D:response>'
            f"<D:href>{request.path}</D:href><D:propstat><D:prop><D:getlastmodified/></D:prop>"
            "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>"
        ).encode()
        return Reply(status=207, body=body, headers={"Content-Type": "application/xml; charset=utf-8",
                                                      "Content-Length": str(len(body))})

    (tmp_path / "f").write_bytes(b"12345")
    with WebDAVServer(pki, root=tmp_path / "srv", intercept=ignoring) as server, \
            server.adapter(client_context()) as remote:
        remote.put_file(tmp_path / "f", "/f")
        with pytest.raises(UnsupportedOperation, match="did not set"):
            remote.set_modified("/f", WHEN)
        assert not remote.keeps_modified


def test_sync_up_keeps_times_where_the_server_takes_them_and_stays_quiet_where_not(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_tree(tmp_path / "outbox", FILES)
    for mutable in (True, False):
        with WebDAVServer(pki, root=tmp_path / f"srv{mutable}", mutable_times=mutable) as server, \
                server.adapter(client_context()) as remote, caplog.at_level(logging.WARNING, logger="xfer"):
            up = sync(remote, "/in", tmp_path / "outbox", upload=True)
            assert up.error is None and up.transferred == len(FILES)
            for name in FILES:
                local = (tmp_path / "outbox" / name).stat().st_mtime
                stored = (server.root / "in" / name).stat().st_mtime
                assert (int(stored) == int(local)) is mutable, name
            again = sync(remote, "/in", tmp_path / "outbox", upload=True)
            assert again.transferred == 0
            assert len(_proppatches(server)) == (len(FILES) if mutable else 1)
    assert not [record for record in caplog.records if "time" in record.getMessage()]
