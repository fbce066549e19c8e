"""HTTP Basic credentials go out as UTF-8 (RFC 7617), as curl sends them; requests' own Latin-1
made a password with "€" an internal error (exit 1) whose traceback showed the password."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run
from xfer.errors import ConfigError
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

_PASSWORD = "Geheim€pässwörd 密码"


def _sent_credentials(server: Any) -> list[bytes]:
    headers = [request.headers.get("Authorization", "") for request in server.requests]
    assert headers and all(h.startswith("Basic ") for h in headers), headers
    return [base64.b64decode(h.removeprefix("Basic ")) for h in headers]


def _get_as_bob(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, pki: TestPKI, tmp_path: Path
) -> tuple[int, str, str]:
    """``xfer get`` of a file on ``endpoint`` as user bob, the password from $XFER_T_BASIC_PW."""
    (endpoint.root / "hello.txt").write_bytes(b"hello")
    return run(
        capsys, "get", f"{endpoint.url}hello.txt", str(tmp_path / "got.txt"),
        "--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
        "--ca", str(pki.root_ca), "--username", "bob", "--password", "env:XFER_T_BASIC_PW",
    )


@pytest.mark.parametrize("protocol", ["https", "davs"])
def test_a_password_beyond_latin1_is_sent_as_utf8(
    pki: TestPKI, tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], protocol: str,
) -> None:
    monkeypatch.setenv("XFER_T_BASIC_PW", _PASSWORD)
    with serve(protocol, pki, root=tmp_path / "root") as endpoint:
        code, out, err = _get_as_bob(capsys, endpoint, pki, tmp_path)
        assert code == 0, err
        assert _PASSWORD not in out + err
        if protocol == "https":
            assert set(_sent_credentials(endpoint.server)) == {f"bob:{_PASSWORD}".encode()}
    assert (tmp_path / "got.txt").read_bytes() == b"hello"


def test_undecodable_bytes_of_an_environment_secret_go_out_unchanged(
    pki: TestPKI, tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An environment variable holding Latin-1 bytes (b"p\\xe4ss") reads as "p\\udce4ss" in Python;
    the server gets the variable's bytes, not an internal error."""
    monkeypatch.setenv("XFER_T_BASIC_PW", "p\udce4ss")
    with serve("https", pki, root=tmp_path / "root") as endpoint:
        code, _out, err = _get_as_bob(capsys, endpoint, pki, tmp_path)
        assert code == 0, err
        assert set(_sent_credentials(endpoint.server)) == {b"bob:p\xe4ss"}


def test_the_auth_object_never_shows_the_password() -> None:
    from xfer.adapters.http_transfer import _BasicAuth

    auth = _BasicAuth("bob", _PASSWORD)
    assert _PASSWORD not in repr(auth) and "bob" in repr(auth)
    with pytest.raises(ConfigError, match="cannot be encoded as UTF-8") as caught:
        _BasicAuth("bob", "p\ud800ss")  # a lone surrogate outside surrogateescape's range
    assert "p\ud800ss" not in str(caught.value)
