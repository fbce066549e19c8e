"""`-v`/`-vv`: the handshake and the protocol exchange on stderr, through the `xfer` logger, no secret.

The secret-leak checks of the suite (a server that echoes the FTP password, credentials in
HTTP headers) run here again with `-vv`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from xfer.cli import main
from xfer.errors import ExitCode
from xfer.testing import FakeFTPSServer, create_pki, serve
from xfer.testing.endpoints import Endpoint
from xfer.testing.pki import TestPKI

FTP_SECRET = "Very-Secret-Pw-9"
DAV_SECRET = "Dav-Secret-Pw-7"


@pytest.fixture(scope="module")
def module_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return create_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(params=["https", "ftpes", "ftps", "davs", "as2"])
def endpoint(request: pytest.FixtureRequest, module_pki: TestPKI, tmp_path: Path) -> Iterator[Endpoint]:
    options = {"password": FTP_SECRET} if request.param.startswith("ftp") else {}
    with serve(request.param, module_pki, root=tmp_path / "srv", **options) as running:
        yield running


def _save(endpoint: Endpoint, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.mkdir(exist_ok=True)
    data = endpoint.profile.to_toml()
    if endpoint.protocol in ("https", "davs"):
        # Basic auth on top of the certificate: the Authorization header must be masked.
        secret = folder / "dav-password.txt"
        secret.write_text(DAV_SECRET)
        secret.chmod(0o600)
        data = {**data, "username": "alice", "password": f"file:{secret}"}
    (folder / "partner.toml").write_text(tomli_w.dumps(data))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))


def _secrets(pki: TestPKI) -> list[str]:
    basic = base64.b64encode(f"alice:{DAV_SECRET}".encode()).decode()
    return [FTP_SECRET, DAV_SECRET, basic, pki.password]


def test_vv_shows_handshake_and_exchange_without_secrets(
    endpoint: Endpoint, module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _save(endpoint, tmp_path / "profiles", monkeypatch)
    local = tmp_path / "invoice.edi"
    local.write_bytes(b"UNA:+.? '\n" * 100)
    code = main(["-vv", "put", str(local), "partner:/invoice.edi"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "xfer: tls: TLS with 127.0.0.1: TLSv1." in err
    assert "client certificate sent: CN=xfer-client,O=xfer test PKI" in err
    if endpoint.protocol.startswith("ftp"):
        assert "> USER xfer" in err and "> PASS ********" in err and "< 230" in err
        assert "> STOR " in err and "session resumed" in err  # the data connection's TLS summary
    else:
        method = "POST" if endpoint.protocol == "as2" else "PUT"
        assert f"xfer: http: {method} https://127.0.0.1:" in err and " -> 20" in err
        assert "request headers:" in err and "response headers:" in err  # -vv only
    if endpoint.protocol in ("https", "davs"):
        assert "Authorization: ********" in err
    transcript = err
    if endpoint.protocol != "as2":  # AS2 is send-only
        code = main(["get", "partner:/invoice.edi", str(tmp_path / "back.edi"), "-vv"])
        _, err = capsys.readouterr()
        assert code == 0, err
        assert ("> RETR " in err) if endpoint.protocol.startswith("ftp") else ("GET https://" in err)
        transcript += err
    for secret in _secrets(module_pki):
        assert secret not in transcript


def test_v_never_mixes_into_json_stdout(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _save(endpoint, tmp_path / "profiles", monkeypatch)
    code = main(["doctor", "partner", "--json", "-vv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    assert "xfer: tls:" in err and "xfer:" not in out


def test_plain_run_shows_no_trace(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _save(endpoint, tmp_path / "profiles", monkeypatch)
    code = main(["doctor", "partner", "--json"])
    _, err = capsys.readouterr()
    assert code == 0 and "xfer: tls:" not in err


def test_echoed_password_never_printed_with_vv(
    module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with FakeFTPSServer(module_pki, root=tmp_path / "root", echo_password=True) as srv:
        monkeypatch.setenv("XFER_T_FTP_PW", FTP_SECRET)
        code = main(["-vv", "ls", srv.url, "--identity", str(module_pki.client_p12),
                     "--identity-password", f"file:{module_pki.password_file}", "--ca", str(module_pki.root_ca),
                     "--username", srv.user, "--password", "env:XFER_T_FTP_PW"])
    out, err = capsys.readouterr()
    assert code == ExitCode.REMOTE
    assert "PASS ********" in err and "530" in err
    assert FTP_SECRET not in out + err


def test_library_warnings_get_the_cli_prefix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A warning logged by library code reads like every other CLI warning."""
    from xfer.cli import _logging

    with _logging(0):
        logging.getLogger("xfer.webdav").warning("skipped a name that is not UTF-8")
        logging.getLogger("xfer.http").info("not shown without -v")
    err = capsys.readouterr().err
    assert err == "xfer: warning: skipped a name that is not UTF-8\n"


def test_library_users_get_the_same_records(module_pki: TestPKI, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    import xfer

    with serve("ftpes", module_pki, root=tmp_path / "srv", password=FTP_SECRET) as endpoint:
        with caplog.at_level(logging.INFO, logger="xfer"), xfer.connect(endpoint.profile) as remote:
            remote.ls("/")
    names = {r.name for r in caplog.records}
    assert {"xfer.tls", "xfer.ftp"} <= names
    assert FTP_SECRET not in caplog.text and "PASS ********" in caplog.text


def test_vv_masks_cookies_both_ways(
    module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A load balancer's sticky session cookie: ``Set-Cookie`` in answers, ``Cookie`` in the
    requests that follow (the server sees it: the header was really sent), neither value shown."""
    cookie_value = "Sticky-Session-Secret-42"
    with serve("https", module_pki, root=tmp_path / "srv", set_cookie=f"LB={cookie_value}; Path=/; Secure") as endpoint:
        (endpoint.root / "d").mkdir()
        for name in ("a.txt", "b.txt"):
            (endpoint.root / "d" / name).write_text("hello")
        _save(endpoint, tmp_path / "profiles", monkeypatch)
        # One run, one session: the listing's answer sets the cookie, the GETs send it back.
        code = main(["-vv", "get", "-r", "partner:/d/", f"{tmp_path / 'back'}/"])
        _, err = capsys.readouterr()
        assert code == 0, err
        assert any(request.headers.get("Cookie") == f"LB={cookie_value}" for request in endpoint.server.requests)
    assert "Set-Cookie: ********" in err
    assert "Cookie: ********" in err.replace("Set-Cookie: ********", "")
    assert cookie_value not in err
