"""Shared by the fsspec tests: in-process servers per module, and filesystems on them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: What the test ids call each protocol, and the embedded server's scheme.
PROTOCOLS = {"https": "https", "ftps": "ftpes", "webdav": "davs"}

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def entry_point() -> str:
    """``xfer.filesystem:XferFileSystem``, as pyproject.toml declares it for ``fsspec.specs``."""
    data = tomllib.loads(PYPROJECT.read_text())
    value: str = data["project"]["entry-points"]["fsspec.specs"]["xfer"]
    return value


def ensure_registered() -> None:
    """Make ``xfer://`` known to fsspec in this process, through the declared entry point.

    An installed xfer registers it by its metadata; a checkout run with PYTHONPATH may carry
    older metadata, so the declared target is registered here (the entry-point test proves
    that fsspec's own discovery accepts the declaration).
    """
    module, _, name = entry_point().partition(":")
    fsspec.register_implementation("xfer", f"{module}.{name}", clobber=True)


def storage_options(endpoint: Endpoint) -> dict[str, Any]:
    """The profile-less options for an embedded server: URL, identity, secrets as references."""
    data = endpoint.profile.to_toml()
    keys = ("url", "identity", "identity_password", "ca", "username", "password", "timeout")
    return {key: data[key] for key in keys if key in data}


def filesystem(endpoint: Endpoint) -> XferFileSystem:
    """A fresh (uncached) filesystem on ``endpoint``."""
    return XferFileSystem(skip_instance_cache=True, **storage_options(endpoint))


@pytest.fixture(scope="module", params=list(PROTOCOLS), ids=list(PROTOCOLS))
def served(
    request: pytest.FixtureRequest, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    """One embedded server per protocol for a whole module (tests work in their own folders)."""
    scheme = PROTOCOLS[request.param]
    with serve(scheme, pki, root=tmp_path_factory.mktemp(f"fsspec-{request.param}")) as endpoint:
        yield endpoint


@pytest.fixture
def fs(served: Endpoint) -> Iterator[XferFileSystem]:
    """A fresh filesystem on the module's server, closed after the test."""
    fs = filesystem(served)
    yield fs
    fs.close()


def put_server_side(endpoint: Endpoint, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` in the server's storage folder directly (as a partner drops a file)."""
    target = endpoint.root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
