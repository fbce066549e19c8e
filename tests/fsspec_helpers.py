"""Shared by the fsspec tests: in-process servers per module, and filesystems on them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
import tomli_w

from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: What the test ids call each protocol, and the embedded server's scheme.
PROTOCOLS = {"https": "https", "ftps": "ftpes", "webdav": "davs"}
#: The same, with SFTP: reached by a profile (its known_hosts is no storage option).
EVERY_PROTOCOL = {**PROTOCOLS, "sftp": "sftp"}

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


def _serve_each(
    table: dict[str, str], request: pytest.FixtureRequest, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    """The embedded server of ``request.param`` (a key of ``table``), on a fresh storage folder."""
    with serve(table[request.param], pki, root=tmp_path_factory.mktemp(f"fsspec-{request.param}")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module", params=list(PROTOCOLS), ids=list(PROTOCOLS))
def served(
    request: pytest.FixtureRequest, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    """One embedded server per protocol for a whole module (tests work in their own folders)."""
    yield from _serve_each(PROTOCOLS, request, pki, tmp_path_factory)


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


@pytest.fixture(scope="module", params=list(EVERY_PROTOCOL), ids=list(EVERY_PROTOCOL))
def served_any(
    request: pytest.FixtureRequest, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    """One embedded server per protocol, SFTP included, for a whole module."""
    yield from _serve_each(EVERY_PROTOCOL, request, pki, tmp_path_factory)


def save_partner_profile(endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Save ``endpoint``'s profile as ``partner`` in a ``$XFER_PROFILE_PATH`` of this test's own."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "partner.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def fs_any(served_any: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[XferFileSystem]:
    """A fresh filesystem on ``served_any`` by profile name (``partner``), closed after the test.
    ``xfer://partner/...`` reaches the same server (fsspec's cached instances are emptied around
    the test: it keys them by profile *name*, and each test saves its own profile)."""
    save_partner_profile(served_any, tmp_path, monkeypatch)
    ensure_registered()
    XferFileSystem.clear_instance_cache()
    fs = XferFileSystem("partner", skip_instance_cache=True)
    yield fs
    fs.close()
    XferFileSystem.clear_instance_cache()


@pytest.fixture
def folder_any(served_any: Endpoint, request: pytest.FixtureRequest) -> str:
    """A fresh folder for this test on ``served_any``, made server-side."""
    name = f"/{request.node.name.replace('[', '-').replace(']', '')}"
    (served_any.root / name.lstrip("/")).mkdir()
    return name


def server_tree(endpoint: Endpoint, folder: str) -> dict[str, bytes]:
    """What the server stores under ``folder``: relative path -> bytes (folders: b"<dir>")."""
    base = endpoint.root / folder.lstrip("/")
    return {p.relative_to(base).as_posix(): b"<dir>" if p.is_dir() else p.read_bytes()
            for p in sorted(base.rglob("*"))}
