"""Fixtures shared by the unit and in-process-server tests."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xfer.identity import Identity
from xfer.testing.pki import TestPKI, create_pki
from xfer.tls import XferSSLContext, create_ssl_context


@pytest.fixture(autouse=True)
def retry_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between retries, recorded instead of slept (xfer retries transient failures
    3 times by default: error tests would otherwise sleep seconds each)."""
    import xfer.retry

    waits: list[float] = []
    monkeypatch.setattr(xfer.retry, "_sleep", waits.append)
    return waits


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """One throwaway PKI for the whole session (RSA key generation is the slow part)."""
    return create_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def identity(pki: TestPKI) -> Identity:
    return Identity.load(pki.client_p12, pki.password)


@pytest.fixture
def client_context(pki: TestPKI) -> Callable[..., XferSSLContext]:
    """Factory: a client context for one of the PKI's identities (attribute name) or none."""

    def make(
        which: str | None = "client_p12", *, tls_max: str | None = None, ca: Path | None = None
    ) -> XferSSLContext:
        ident = Identity.load(getattr(pki, which), pki.password) if which else None
        return create_ssl_context(ident, ca=ca or pki.root_ca, maximum_version=tls_max)

    return make


@pytest.fixture(params=["1.2", "1.3"], ids=["tls12", "tls13"])
def tls_version(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over TLS 1.2 and TLS 1.3 (used as the client's maximum)."""
    value: str = request.param
    return value


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty xfer config folder and no profile path: tests never read the user's profiles."""
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("XFER_PROFILE_PATH", raising=False)
    return tmp_path / "config"


@pytest.fixture
def tiny_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real 2 MiB tmpfs, for full-disk tests."""
    yield from mounted_tmpfs(tmp_path_factory, "tiny", "size=2m")


@pytest.fixture
def read_only_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real read-only tmpfs: every write fails with EROFS."""
    yield from mounted_tmpfs(tmp_path_factory, "read-only", "ro,size=1m")


def mounted_tmpfs(tmp_path_factory: pytest.TempPathFactory, name: str, options: str) -> Iterator[Path]:
    """A tmpfs mounted with ``options`` for the test.  Needs root: CI runs as root, so there a
    failed mount fails the test instead of skipping it."""
    folder = tmp_path_factory.mktemp(name)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs: {done.stderr.decode().strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def scripted_proxy() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """``start(handler)``: a TCP listener running ``handler(connection)`` per connection; its http:// URL."""
    listeners: list[socket.socket] = []

    def start(handler: Callable[[socket.socket], None]) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def accept() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=handler, args=(connection,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in listeners:
        listener.close()
