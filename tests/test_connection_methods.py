"""Multi-file put/get are methods of the connection; ``xfer.put`` / ``xfer.get`` are thin wrappers."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest

import xfer
import xfer.client
from xfer.adapters.base import Adapter
from xfer.errors import RemoteIsFolder, UsageError
from xfer.testing import Endpoint


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("protocol", ["ftpes", "davs"])
def test_put_and_get_a_tree_over_parallel_connections(
    protocol: str, xfer_serve: Callable[..., Endpoint], tmp_path: Path
) -> None:
    endpoint: Endpoint = xfer_serve(protocol)
    source = tmp_path / "out"
    (source / "sub").mkdir(parents=True)
    for index in range(4):
        (source / f"f{index}.txt").write_bytes(b"x" * (index + 1))
    (source / "sub" / "deep.bin").write_bytes(b"\0\1\2")
    with xfer.connect(endpoint.profile) as remote:
        assert isinstance(remote, Adapter)
        sent = remote.put([source], "/in/", recursive=True, parallel=3)
        assert sorted(r.remote for r in sent) == [
            "/in/out/f0.txt", "/in/out/f1.txt", "/in/out/f2.txt", "/in/out/f3.txt", "/in/out/sub/deep.bin"]
        one = remote.put(source / "f0.txt", "/single.txt")  # one path needs no list
        assert [r.remote for r in one] == ["/single.txt"]
        got = remote.get("/in/out", tmp_path / "back", recursive=True, parallel=2)
        assert len(got) == 5
    assert _tree(tmp_path / "back") == _tree(source)
    assert (endpoint.root / "single.txt").read_bytes() == b"x"


def test_methods_refuse_folders_without_recursive(xfer_ftps_server: Endpoint, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with xfer.connect(xfer_ftps_server.profile) as remote:
        with pytest.raises(UsageError, match="is a folder") as refused:
            remote.put(tmp_path / "dir", "/x")
        assert refused.value.hint == "pass recursive=True to upload folders"
        remote.mkdir("/folder")
        with pytest.raises(RemoteIsFolder) as folder:
            remote.get("/folder", tmp_path / "down")
        assert (folder.value.server, folder.value.path) == (xfer_ftps_server.address, "/folder")


def test_module_functions_are_thin_wrappers(xfer_https_server: Endpoint, tmp_path: Path) -> None:
    """Same signature as before; the work is the connection's."""
    assert list(inspect.signature(xfer.client.put).parameters) == [
        "remote", "sources", "destination", "recursive", "callbacks", "parallel", "reconnect"]
    assert list(inspect.signature(xfer.client.get).parameters) == [
        "remote", "sources", "destination", "recursive", "callbacks", "parallel", "reconnect", "max_depth"]
    (tmp_path / "a.txt").write_text("a")
    seen: list[tuple[str, str]] = []
    with xfer.connect(xfer_https_server.profile) as remote:

        def counting(local: str, remote_path: str, size: int | None) -> None:
            seen.append((Path(local).name, remote_path))

        results = xfer.put(remote, [tmp_path / "a.txt"], "/a.txt", callbacks=counting)
    assert [r.remote for r in results] == ["/a.txt"] and seen == [("a.txt", "/a.txt")]


def test_a_profile_name_with_a_path_connects_below_that_folder(
    xfer_serve: Callable[..., Endpoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``connect("NAME:/path")``, as ``xfer ls NAME:/path``: relative paths start at ``/path``.
    Before: the path was dropped and a put landed in the profile's top folder."""
    import tomli_w

    endpoint: Endpoint = xfer_serve("ftpes")
    (endpoint.root / "outbox").mkdir()
    (endpoint.root / "outbox" / "in-outbox.txt").write_bytes(b"1")
    (endpoint.root / "top.txt").write_bytes(b"t")
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "partner.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    (tmp_path / "x.edi").write_bytes(b"x")
    for target in ("partner:/outbox", "partner:outbox/", "partner:/sub/../outbox"):
        with xfer.connect(target) as remote:
            assert [entry.name for entry in remote.ls("")] == ["in-outbox.txt"], target
    with xfer.connect("partner:/outbox") as remote:
        remote.put_file(tmp_path / "x.edi", "x.edi")
    assert (endpoint.root / "outbox" / "x.edi").read_bytes() == b"x"
    with xfer.connect("partner:/") as remote, xfer.connect("partner:/../..") as above:
        top = [entry.name for entry in remote.ls("")]
        assert top == [entry.name for entry in above.ls("")] == ["outbox", "top.txt"]
    with pytest.raises(UsageError, match="backslash"):
        xfer.connect("partner:\\outbox")
