"""pytest fixtures for real-server tests (the bed's self-test and the adapters' contract tests).

Stable fixture names (documented in integration/README.md):

``bed``        session-scoped :class:`integration.bed.Bed`: every server started once per session.
``bed_pki``    the bed's :class:`xfer.testing.pki.TestPKI` (client.p12, ca.pem, password.txt, ...).
``bed_server`` factory ``bed_server("vsftpd-explicit") -> ServerInfo``; skips (locally) or fails
               (``CI`` set) when that server's package is missing.

Set ``XFER_BED_DIR`` to keep the run folder (logs, configs) after the session; otherwise a fresh
temporary folder is made and removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.bed import Bed, BedError, ServerInfo
from xfer.testing.pki import TestPKI


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def bed_pki(bed: Bed) -> TestPKI:
    pki: TestPKI = bed.pki  # typed Any in bed.py, which must not import xfer.testing at module level
    return pki


@pytest.fixture(scope="session")
def bed() -> Iterator[Bed]:
    if os.geteuid() != 0:
        message = "the real-server bed runs servers as root (vsftpd/proftpd/pure-ftpd need it)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    keep = os.environ.get("XFER_BED_DIR")
    run_dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="xfer-bed-"))
    try:
        started = Bed.start(run_dir, require_all=_in_ci())
    except BedError as exc:
        pytest.fail(f"test bed failed to start:\n{exc}", pytrace=False)
    try:
        yield started
    finally:
        started.stop()
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def bed_server(bed: Bed) -> Callable[[str], ServerInfo]:
    def get(name: str) -> ServerInfo:
        if name in bed.servers:
            return bed.servers[name]
        reason = bed.missing.get(name, f"unknown server {name!r}")
        if _in_ci():
            pytest.fail(f"{name}: {reason}")
        pytest.skip(f"{name}: {reason}")

    return get


@pytest.fixture(params=["1.2", "1.3"], ids=["tls12", "tls13"])
def tls_version(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over TLS 1.2 and TLS 1.3 (the client's maximum; the servers offer both)."""
    value: str = request.param
    return value


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marker into the node id
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist, every real-server test runs in one worker.

    The bed's daemons are started once per session, per worker: keeping its tests together
    means one bed (one set of ports, one pyas2), while the in-process tests fill the others.
    """
    group = pytest.mark.xdist_group("bed")
    for item in items:
        if item.nodeid.startswith("integration/"):
            item.add_marker(group)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the benchmarks in the suite measured (their ``bench`` user property).

    Reports carry user properties across pytest-xdist workers, so the lines reach the
    controller's summary where a worker's own print would be lost.
    """
    lines = [
        str(value)
        for report in terminalreporter.getreports("passed")
        for key, value in report.user_properties
        if key == "bench"
    ]
    if lines:
        terminalreporter.section("bench (ratio = anchor time / xfer time, > 1: xfer faster)")
        for line in lines:
            terminalreporter.write_line(line)
