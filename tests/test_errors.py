"""Errors a program can read: structured fields filled at the adapters' error boundaries, built complete."""

from __future__ import annotations

from pathlib import Path

import pytest

import xfer
from xfer.errors import (
    AuthenticationFailed,
    RemoteError,
    RemoteIsFolder,
    RemoteNotFound,
    ServerCertificateUntrusted,
    XferError,
)
from xfer.secrets import Secret
from xfer.testing import Endpoint
from xfer.testing.pki import TestPKI, create_pki


def test_fields_default_to_none_so_old_raise_sites_keep_working() -> None:
    error = RemoteError("x: failed")
    assert error.fields() == {"server": None, "path": None, "status": None, "reply_code": None, "attempt": None,
                              "retry_after": None}
    assert str(error) == "x: failed"
    assert repr(error) == "RemoteError('x: failed')"


def test_copy_with_builds_a_new_complete_error_of_the_same_class() -> None:
    first = RemoteIsFolder("h:1: /a is a folder", hint="pass recursive=True", cli_hint="use -r",
                           server="h:1", path="/a", status=409)
    same_advice = first.copy_with("h:1: /a is a folder; more")
    assert type(same_advice) is RemoteIsFolder and isinstance(same_advice, IsADirectoryError)
    assert (same_advice.message, same_advice.args) == ("h:1: /a is a folder; more", ("h:1: /a is a folder; more",))
    assert (same_advice.hint, same_advice.cli_hint) == ("pass recursive=True", "use -r")
    assert same_advice.fields() == first.fields()
    new_advice = first.copy_with(hint="something else", attempt=2)
    # A CLI wording of the old advice would contradict the new one.
    assert (new_advice.hint, new_advice.cli_hint, new_advice.attempt) == ("something else", None, 2)
    assert (first.message, first.hint, first.attempt) == ("h:1: /a is a folder", "pass recursive=True", None)
    assert "server='h:1'" in repr(first) and "status=409" in repr(first)


def test_https_error_names_server_path_and_status(xfer_https_server: Endpoint, tmp_path: Path) -> None:
    with xfer.connect(xfer_https_server.profile) as remote, pytest.raises(RemoteNotFound) as failure:
        remote.get_file("/missing.bin", tmp_path / "x")
    error = failure.value
    assert (error.server, error.path, error.status, error.reply_code) == (
        xfer_https_server.address, "/missing.bin", 404, None)


def test_ftps_error_names_server_path_and_reply_code(xfer_ftps_server: Endpoint, tmp_path: Path) -> None:
    with xfer.connect(xfer_ftps_server.profile) as remote, pytest.raises(RemoteNotFound) as failure:
        remote.get_file("/missing.bin", tmp_path / "x")
    error = failure.value
    assert error.server == xfer_ftps_server.address
    assert error.reply_code == 550 and error.status is None
    assert error.path is not None and error.path.endswith("/missing.bin")


def test_webdav_error_names_server_path_and_status(xfer_webdav_server: Endpoint, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    with xfer.connect(xfer_webdav_server.profile) as remote:
        remote.put_file(tmp_path / "x.txt", "/x.txt")
        with pytest.raises(RemoteNotFound) as failure:
            remote.mv("/x.txt", "/no/such/x.txt")  # the server answers 409: no parent folder
    error = failure.value
    assert error.server == xfer_webdav_server.address and error.status == 409
    assert error.path is not None and error.path.endswith("/no/such/x.txt")


def test_tls_error_names_the_server(
    xfer_https_server: Endpoint, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stranger: TestPKI = create_pki(tmp_path_factory.mktemp("other-pki"))
    with pytest.raises(ServerCertificateUntrusted) as failure, xfer.connect(
        xfer_https_server.profile, ca=str(stranger.root_ca)
    ) as remote:
        remote.ls("/")
    assert failure.value.server == xfer_https_server.address


def test_repr_and_str_never_show_the_password(xfer_ftps_server: Endpoint) -> None:
    secret = "hunter2-do-not-print"
    with pytest.raises(AuthenticationFailed) as failure, xfer.connect(
        xfer_ftps_server.profile, password=Secret(secret)
    ) as remote:
        remote.ls("/")
    error: XferError = failure.value
    assert error.server == xfer_ftps_server.address and error.reply_code == 530
    for shown in (repr(error), str(error), error.hint or "", repr(error.args)):
        assert secret not in shown


def test_no_error_is_edited_after_construction() -> None:
    """``exc.message = ...`` after a raise left ``args`` (and ``cli_hint``) telling the old story."""
    import ast

    package = Path(xfer.__file__).parent
    edits: list[str] = []
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AugAssign | ast.AnnAssign) else []
            for target in targets:
                # (A log record's args are not an error's: xfer.log escapes them in place.)
                if (isinstance(target, ast.Attribute) and target.attr in ("message", "hint", "cli_hint", "args")
                        and not (isinstance(target.value, ast.Name) and target.value.id in ("self", "record"))):
                    edits.append(f"{source.relative_to(package.parent)}:{target.lineno}")
    assert not edits, f"errors edited after construction (build them with copy_with): {edits}"
