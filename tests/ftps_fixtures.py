"""The in-process FTPS server fixtures that the FTPS test modules share.

Imported by name into each module (pytest finds fixtures in a module's namespace):
every test runs against explicit *and* implicit FTPS, under TLS 1.2 and 1.3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI


@pytest.fixture(params=[False, True], ids=["explicit", "implicit"])
def implicit(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


@pytest.fixture
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Not under tmp_path: contract tests assert what tmp_path holds.
    return tmp_path_factory.mktemp("ftps-root")


@pytest.fixture
def server(pki: TestPKI, server_root: Path, implicit: bool, tls_version: str) -> Iterator[FTPSServer]:
    with FTPSServer(pki, root=server_root, implicit=implicit, tls_max=tls_version) as srv:
        yield srv
