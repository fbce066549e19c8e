"""``Adapter.remove_sources``' default, one file after another (FTPS, HTTPS, WebDAV): the sources of
proven downloads removed (``--remove-source-files``), each kept one said, a failure of the
connection ending the call with every file after it kept (SFTP's own: tests/test_sftp_remove_sources.py).
"""

from __future__ import annotations

from typing import Any

import pytest

import xfer
from xfer.errors import AuthenticationFailed, ConnectionDropped, IntegrityError, RemoteNotFound, XferError
from xfer.testing.endpoints import Endpoint


def _sources(endpoint: Endpoint, count: int) -> list[tuple[str, int]]:
    for number in range(count):
        (endpoint.root / f"f{number}.txt").write_bytes(b"x" * (number + 1))
    return [(f"/f{number}.txt", number + 1) for number in range(count)]


def test_each_source_is_proven_and_removed_or_said(xfer_https_server: Endpoint) -> None:
    files = _sources(xfer_https_server, 4)
    (xfer_https_server.root / "f1.txt").write_bytes(b"changed since the download")
    with xfer.connect(xfer_https_server.profile) as remote:
        failures = remote.remove_sources([*files, ("/gone.txt", 3)])
    assert [failure is None for failure in failures] == [True, False, True, True, False]
    assert isinstance(failures[1], IntegrityError) and "kept the source /f1.txt" in str(failures[1])
    assert isinstance(failures[4], RemoteNotFound)
    assert sorted(p.name for p in xfer_https_server.root.iterdir()) == ["f1.txt"]


@pytest.mark.parametrize("failure", [ConnectionDropped("the connection broke"), AuthenticationFailed("login refused")],
                         ids=["dropped", "login"])
def test_a_failure_not_about_one_file_keeps_it_and_every_one_after(
    xfer_https_server: Endpoint, monkeypatch: pytest.MonkeyPatch, failure: XferError,
) -> None:
    """Said for each file it kept, not raised (what was removed before it is known); no further
    file is asked about (a refused login is not tried again for each)."""
    files = _sources(xfer_https_server, 4)
    asked: list[str] = []
    with xfer.connect(xfer_https_server.profile) as remote:
        real = remote.info

        def info(path: str, **options: Any) -> Any:
            asked.append(path)
            if path == "/f1.txt":
                raise failure
            return real(path, **options)

        monkeypatch.setattr(remote, "info", info)
        failures = remote.remove_sources(files)
    assert failures == [None, failure, failure, failure]
    assert asked == ["/f0.txt", "/f1.txt"]
    assert sorted(p.name for p in xfer_https_server.root.iterdir()) == ["f1.txt", "f2.txt", "f3.txt"]
