"""`xfer profile test NAME`: connect with a saved profile and say what happened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from xfer.cli import main
from xfer.errors import ExitCode
from xfer.testing import create_pki, serve
from xfer.testing.endpoints import Endpoint
from xfer.testing.pki import TestPKI


@pytest.fixture(scope="module")
def module_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return create_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(params=["https", "ftpes", "ftps", "davs", "as2"])
def endpoint(request: pytest.FixtureRequest, module_pki: TestPKI, tmp_path: Path) -> Iterator[Endpoint]:
    with serve(request.param, module_pki, root=tmp_path / "srv") as running:
        yield running


def _save(endpoint: Endpoint, folder: Path, monkeypatch: pytest.MonkeyPatch, **changes: str) -> None:
    folder.mkdir(exist_ok=True)
    data = {**endpoint.profile.to_toml(), **changes}
    (folder / "partner.toml").write_text(tomli_w.dumps(data))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))


def test_profile_test_reports_the_connection(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path / "data"))
    _save(endpoint, tmp_path / "profiles", monkeypatch)
    code = main(["profile", "test", "partner", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True and report["target"] == "partner"
    steps = {s["key"]: s for s in report["steps"]}
    assert steps["tls"]["facts"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert steps["acceptance"]["facts"]["certificate_sent"] == "CN=xfer-client,O=xfer test PKI"
    if endpoint.protocol == "as2":
        assert steps["protocol"]["facts"]["mdn"] == "signed-sync"
    elif endpoint.protocol != "davs":
        assert "entries" in steps["protocol"]["facts"] or steps["protocol"]["facts"].get("listing_format") is None


def test_profile_test_fails_clearly_with_an_untrusted_identity(
    endpoint: Endpoint, module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _save(endpoint, tmp_path / "profiles", monkeypatch, identity=str(module_pki.client_untrusted_p12))
    code = main(["profile", "test", "partner"])
    _, err = capsys.readouterr()
    assert code == ExitCode.TLS, err
    assert err.startswith("xfer: error: ") and "does not trust the issuer" in err


@pytest.mark.parametrize("protocol", ["https", "ftpes"])
def test_a_prompted_identity_password_is_asked_for_once(
    module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    protocol: str,
) -> None:
    """doctor loaded the identity (one prompt), then its protocol step connected, which resolved the
    reference again (a second prompt for the same password)."""
    import getpass
    import sys

    asked: list[str] = []

    def typed(prompt: str) -> str:
        asked.append(prompt)
        return module_pki.password

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(getpass, "getpass", typed)
    monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path / "data"))
    with serve(protocol, module_pki, root=tmp_path / "srv") as endpoint:
        _save(endpoint, tmp_path / "profiles", monkeypatch, identity_password="prompt")
        code = main(["profile", "test", "partner"])
        _out, err = capsys.readouterr()
        assert code == 0, err
        assert asked == ["identity_password: "]
        asked.clear()
        login = ["--username", endpoint.profile.get("username"), "--password", endpoint.profile.get("password")]
        code = main(["doctor", endpoint.url, "--identity", str(module_pki.client_p12),
                     "--identity-password", "prompt", "--ca", str(module_pki.root_ca),
                     *(login if endpoint.profile.get("username") else [])])
        _out, err = capsys.readouterr()
        assert code == 0, err
        assert asked == ["identity_password: "]
