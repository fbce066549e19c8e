"""Local problems are local errors (exit 1, naming the local path), and ``get -r`` has a depth limit.

Items 17 and 18 of issue 11: a local name too long was reported as a broken connection or
an internal ``OSError``; a local *file* where a downloaded folder must go was an internal
``FileExistsError``; a server showing an endless tree (every folder holds ``a/``) ran into
Python's recursion limit after ~966 levels and left ~968 empty local folders.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyftpdlib.filesystems import AbstractedFS

from tests.helpers import one_error, run
from xfer.errors import ExitCode
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.webdav_server import WebDAVServer

pytestmark = pytest.mark.usefixtures("config")

TOO_LONG = "n" * 300  # NAME_MAX is 255 bytes on every common file system


def _tls(pki: TestPKI) -> list[str]:
    return ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
            "--ca", str(pki.root_ca)]


@pytest.fixture(params=["https", "ftpes", "davs"])
def served(request: pytest.FixtureRequest, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """(base URL, connection flags) of a server holding /f.txt and /d/inner.txt."""
    root = tmp_path_factory.mktemp("local-errors")
    (root / "d").mkdir()
    (root / "d" / "inner.txt").write_text("inner")
    (root / "f.txt").write_text("file")
    tls = _tls(pki)
    if request.param == "https":
        with HTTPSServer(pki, root=root) as https:
            yield https.url.rstrip("/"), tls
    elif request.param == "davs":
        with WebDAVServer(pki, root=root) as dav:
            yield dav.url.rstrip("/"), tls
    else:
        with FTPSServer(pki, root=root) as ftps:
            monkeypatch.setenv("XFER_T_PW", ftps.password)
            yield f"ftpes://{ftps.user}@127.0.0.1:{ftps.port}", [*tls, "--password", "env:XFER_T_PW"]


def test_local_name_too_long(capsys: pytest.CaptureFixture[str], served: tuple[str, list[str]],
                             tmp_path: Path) -> None:
    base, flags = served
    for target in (tmp_path / TOO_LONG, tmp_path / TOO_LONG / "x.txt"):
        code, _, err = run(capsys, "get", f"{base}/f.txt", str(target), *flags)
        assert code == ExitCode.ERROR, err
        one_error(err, str(target), "the local name is too long")
    assert list(tmp_path.iterdir()) == []


def test_local_file_where_a_folder_must_go(capsys: pytest.CaptureFixture[str], served: tuple[str, list[str]],
                                           tmp_path: Path) -> None:
    base, flags = served
    (tmp_path / "d").write_text("a local file, not a folder")
    code, _, err = run(capsys, "get", "-r", f"{base}/d", str(tmp_path) + "/", *flags)
    assert code == ExitCode.ERROR, err
    one_error(err, f"cannot create the folder {tmp_path / 'd'}: a file is in the way")
    assert (tmp_path / "d").read_text() == "a local file, not a folder"


def test_local_parent_is_a_file(capsys: pytest.CaptureFixture[str], served: tuple[str, list[str]],
                                tmp_path: Path) -> None:
    base, flags = served
    (tmp_path / "plain").write_text("x")
    code, _, err = run(capsys, "get", f"{base}/f.txt", str(tmp_path / "plain" / "deeper") + "/", *flags)
    assert code == ExitCode.ERROR, err
    one_error(err, str(tmp_path / "plain"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_put_of_a_local_name_too_long(tmp_path: Path) -> None:
    from xfer.adapters.base import Adapter, Capability, ConnectionSettings
    from xfer.client import put
    from xfer.errors import LocalError
    from xfer.tls import create_ssl_context

    class Nowhere(Adapter):
        capabilities = frozenset({Capability.PUT})

    settings = ConnectionSettings(scheme="https", host="h", port=1, root="/", ssl_context=create_ssl_context(None))
    remote = Nowhere(settings)
    with pytest.raises(LocalError, match="the local name is too long"):
        put(remote, [tmp_path / TOO_LONG], "/in/")


# -- an endless remote tree ----------------------------------------------------------------


class _EndlessFS(AbstractedFS):  # type: ignore[misc]  # pyftpdlib is untyped
    """Every folder below /loop holds a folder ``a`` (the same one, seen again): /loop/a/a/a/..."""

    def ftp2fs(self, ftppath: str) -> Any:
        return super().ftp2fs(re.sub(r"/a(?=/|$)", "", self.ftpnorm(ftppath)) or "/")


@pytest.fixture
def endless(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    root = tmp_path_factory.mktemp("endless")
    (root / "loop" / "a").mkdir(parents=True)
    (root / "loop" / "f.txt").write_text("x")
    with FTPSServer(pki, root=root, handler_attrs={"abstracted_fs": _EndlessFS}) as srv:
        monkeypatch.setenv("XFER_T_PW", srv.password)
        yield (f"ftpes://{srv.user}@127.0.0.1:{srv.port}",
               [*_tls(pki), "--password", "env:XFER_T_PW"])


def test_endless_tree_stops_at_the_depth_limit(capsys: pytest.CaptureFixture[str], endless: tuple[str, list[str]],
                                               tmp_path: Path) -> None:
    base, flags = endless
    code, out, err = run(capsys, "ls", f"{base}/loop/a/a/a/", *flags)
    assert code == 0 and "a/" in out and "f.txt" in out  # the fake really is endless
    code, _, err = run(capsys, "get", "-r", f"{base}/loop", str(tmp_path / "out") + "/", *flags)
    assert code == ExitCode.REMOTE, err
    one_error(err, "/loop goes deeper than 64 folder levels", "nothing was downloaded")
    assert "hint: " in err and "--max-depth" in err
    assert not (tmp_path / "out").exists()  # no empty folders left behind
    code, _, err = run(capsys, "get", "-r", "--max-depth", "3", f"{base}/loop", str(tmp_path / "out") + "/", *flags)
    assert code == ExitCode.REMOTE
    one_error(err, "deeper than 3 folder levels (at /loop/a/a/a/a)")
    assert not (tmp_path / "out").exists()


def test_depth_limit_allows_a_tree_exactly_that_deep(capsys: pytest.CaptureFixture[str], pki: TestPKI,
                                                     tmp_path: Path) -> None:
    root = tmp_path / "srv"
    (root / "t" / "1" / "2").mkdir(parents=True)
    (root / "t" / "1" / "2" / "deep.txt").write_text("deep")
    (root / "t" / "1" / "2" / "empty").mkdir()
    with WebDAVServer(pki, root=root) as dav:
        code, _, err = run(capsys, "get", "-r", "--max-depth", "2", f"{dav.url}t", str(tmp_path / "out") + "/",
                           *_tls(pki))
        assert code == ExitCode.REMOTE, err
        one_error(err, "deeper than 2 folder levels (at /t/1/2/empty)")
        code, _, err = run(capsys, "get", "-r", "--max-depth", "3", f"{dav.url}t", str(tmp_path / "out") + "/",
                           *_tls(pki))
    assert code == 0, err
    assert (tmp_path / "out" / "t" / "1" / "2" / "deep.txt").read_text() == "deep"
    assert (tmp_path / "out" / "t" / "1" / "2" / "empty").is_dir()


def test_library_depth_error_names_the_parameter(pki: TestPKI, tmp_path: Path,
                                                 endless: tuple[str, list[str]]) -> None:
    import xfer
    from xfer.client import get
    from xfer.errors import RemoteError

    base, _flags = endless
    with xfer.connect(base + "/", identity=str(pki.client_p12), identity_password=f"file:{pki.password_file}",
                      ca=str(pki.root_ca), password="env:XFER_T_PW") as remote:
        with pytest.raises(RemoteError) as caught:
            get(remote, ["/loop"], tmp_path / "out", recursive=True, max_depth=5)
    assert "max_depth" in (caught.value.hint or "") and "--max-depth" not in (caught.value.hint or "")
    assert not (tmp_path / "out").exists()
    assert os.listdir(tmp_path) == []


def test_put_r_with_an_unreadable_subfolder_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.walk skips a folder it cannot list unless told otherwise: put -r would report a partial tree as done."""
    from xfer.adapters.base import Adapter, Capability, ConnectionSettings
    from xfer.client import put
    from xfer.errors import LocalError
    from xfer.tls import create_ssl_context

    uploaded: list[str] = []

    class Recorder(Adapter):
        capabilities = frozenset({Capability.PUT, Capability.MKDIR})

        def _mkdir(self, path: str, parents: bool) -> None:
            pass

        def _put_file(self, local: str, remote: str, callback: Any, *, preserve_times: bool = False) -> Any:
            uploaded.append(remote)
            raise AssertionError("nothing may be uploaded from a tree that could not be read whole")

    tree = tmp_path / "tree"
    (tree / "locked").mkdir(parents=True)
    (tree / "locked" / "secret.txt").write_text("x")
    (tree / "a.txt").write_text("a")
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:  # root ignores file modes, so refuse the listing here
        if Path(path) == tree / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    settings = ConnectionSettings(scheme="https", host="h", port=1, root="/", ssl_context=create_ssl_context(None))
    with pytest.raises(LocalError, match=f"permission denied reading {tree / 'locked'}"):
        put(Recorder(settings), [tree], "/in/", recursive=True)
    assert uploaded == []


def test_profile_add_with_a_file_as_config_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Was "unexpected internal error (FileExistsError)"."""
    (tmp_path / "cfg").write_text("not a folder")
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "cfg"))
    code, _, err = run(capsys, "profile", "add", "partner", "https://example.invalid/")
    assert code == ExitCode.CONFIG, err
    one_error(err, "cannot save profile 'partner' to", str(tmp_path / "cfg"))
    assert (tmp_path / "cfg").read_text() == "not a folder"


def test_get_onto_a_named_pipe_or_a_link_is_refused_and_left_alone(
    capsys: pytest.CaptureFixture[str], served: tuple[str, list[str]], tmp_path: Path,
) -> None:
    """Reviews M-1, J-1: ``get`` renamed its part over a named pipe (its reader waited for ever)
    or a device (as root, /dev/null became a regular file), and over a link.  One error line,
    exit 1, and the pipe or link is left as it was."""
    base, flags = served
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    code, _, err = run(capsys, "get", f"{base}/f.txt", str(pipe), *flags)
    assert code == ExitCode.ERROR, err
    one_error(err, f"{pipe} is a named pipe, not a regular file", "nothing was downloaded")
    assert pipe.is_fifo()
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "inner.txt").symlink_to(tmp_path / "elsewhere.txt")
    code, _, err = run(capsys, "get", "-r", f"{base}/d", str(tree), *flags)
    assert code == ExitCode.ERROR, err
    assert "is a symbolic link, not a regular file" in err
    assert (tree / "d" / "inner.txt").is_symlink() and not (tmp_path / "elsewhere.txt").exists()
