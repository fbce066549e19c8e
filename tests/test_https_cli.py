"""``xfer put/get`` over https:// end to end (a real `python -m xfer` process): exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.errors import ExitCode
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI


@pytest.fixture(scope="module")
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HTTPSServer]:
    with HTTPSServer(pki, root=tmp_path_factory.mktemp("srv"), forbidden=["/secret"]) as srv:
        (srv.root / "file.txt").write_bytes(b"remote content\n")
        (srv.root / "secret").mkdir()
        (srv.root / "secret" / "f").write_bytes(b"x")
        yield srv


def xfer(*args: str, tmp_path: Path, password: str = "xfer-test-password") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "XFER_CONFIG_DIR": str(tmp_path / "config"),
        "XFER_TEST_PW": password,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("HTTPS_PROXY", None)
    return subprocess.run([sys.executable, "-m", "xfer", *args], capture_output=True, text=True, env=env, check=False,
                          timeout=60, cwd=tmp_path)


def tls_flags(pki: TestPKI, identity: Path | None = None, *, ca: Path | None = None, tls_max: str = "1.3") -> list[str]:
    flags = ["--ca", str(ca or pki.root_ca), "--tls-max", tls_max]
    if identity is not None:
        flags += ["--identity", str(identity), "--identity-password", "env:XFER_TEST_PW"]
    return flags


def test_put_and_get_succeed(server: HTTPSServer, pki: TestPKI, tmp_path: Path, tls_version: str) -> None:
    (tmp_path / "up.txt").write_bytes(b"uploaded\n")
    put = xfer("put", "up.txt", f"{server.url}/in/up.txt", *tls_flags(pki, pki.client_p12, tls_max=tls_version),
               tmp_path=tmp_path)
    assert put.returncode == 0, put.stderr
    assert (server.root / "in" / "up.txt").read_bytes() == b"uploaded\n"
    get = xfer("get", f"{server.url}/file.txt", "down.txt", *tls_flags(pki, pki.client_p12, tls_max=tls_version),
               tmp_path=tmp_path)
    assert get.returncode == 0, get.stderr
    assert (tmp_path / "down.txt").read_bytes() == b"remote content\n"


def _bad(pki: TestPKI, case: str) -> tuple[list[str], dict[str, str]]:
    """The flags for one bad input, and extra keyword settings."""
    if case == "wrong-password":
        return tls_flags(pki, pki.client_p12), {"password": "wrong"}
    if case == "untrusted-identity":
        return tls_flags(pki, pki.client_untrusted_p12), {}
    if case == "expired-identity":
        return tls_flags(pki, pki.client_expired_p12), {}
    if case == "no-identity":
        return tls_flags(pki), {}
    if case == "untrusted-server-ca":
        return tls_flags(pki, pki.client_p12, ca=pki.untrusted_ca), {}
    if case == "pin-mismatch":
        return [*tls_flags(pki, pki.client_p12), "--pin", "sha256:" + "ab" * 32], {}
    raise AssertionError(case)


BAD = [
    ("wrong-password", ExitCode.TLS, "password"),
    ("untrusted-identity", ExitCode.TLS, "does not trust the issuer of our client certificate"),
    ("expired-identity", ExitCode.TLS, "expired"),
    ("no-identity", ExitCode.TLS, "requires a client certificate and none was presented"),
    ("untrusted-server-ca", ExitCode.TLS, "we do not trust the server's certificate"),
    ("pin-mismatch", ExitCode.TLS, "does not match the pinned sha256:abab"),
]


def _assert_one_line(result: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("xfer: error: ")]
    assert len(errors) == 1, result.stderr
    assert words in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert all(line.startswith(("xfer: error: ", "hint: ", "xfer: warning: ")) for line in lines), result.stderr


@pytest.mark.parametrize(("case", "code", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_on_get(server: HTTPSServer, pki: TestPKI, tmp_path: Path, case: str, code: int,
                           words: str) -> None:
    flags, extra = _bad(pki, case)
    result = xfer("get", f"{server.url}/file.txt", "out.txt", *flags, tmp_path=tmp_path, **extra)
    _assert_one_line(result, code, words)
    assert not (tmp_path / "out.txt").exists()
    assert not list(tmp_path.glob(".*xfer-part"))


def test_wrong_host_name(pki: TestPKI, tmp_path: Path) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", cert=pki.wrong_host_cert, key=pki.wrong_host_key) as srv:
        result = xfer("get", f"{srv.url}/x", "out.txt", *tls_flags(pki, pki.client_p12), tmp_path=tmp_path)
    _assert_one_line(result, ExitCode.TLS, "not valid for this host name")


def test_missing_local_file(server: HTTPSServer, pki: TestPKI, tmp_path: Path) -> None:
    result = xfer("put", "nope.txt", f"{server.url}/nope.txt", *tls_flags(pki, pki.client_p12), tmp_path=tmp_path)
    _assert_one_line(result, ExitCode.ERROR, "nope.txt does not exist")


def test_remote_404_and_403(server: HTTPSServer, pki: TestPKI, tmp_path: Path) -> None:
    existing = tmp_path / "out.txt"
    existing.write_bytes(b"keep me")
    missing = xfer("get", f"{server.url}/missing.txt", "out.txt", *tls_flags(pki, pki.client_p12), tmp_path=tmp_path)
    _assert_one_line(missing, ExitCode.REMOTE, "/missing.txt does not exist (404 Not Found)")
    denied = xfer("get", f"{server.url}/secret/f", "out.txt", *tls_flags(pki, pki.client_p12), tmp_path=tmp_path)
    _assert_one_line(denied, ExitCode.REMOTE, "permission denied for /secret/f (403 Forbidden)")
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "config") == ["out.txt"]


def test_mkdir_is_unsupported_with_davs_hint(server: HTTPSServer, pki: TestPKI, tmp_path: Path) -> None:
    result = xfer("mkdir", f"{server.url}/newdir", *tls_flags(pki, pki.client_p12), tmp_path=tmp_path)
    assert result.returncode == ExitCode.UNSUPPORTED, result.stderr
    assert "hint: " in result.stderr and "davs://" in result.stderr
