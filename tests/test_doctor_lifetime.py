"""Certificate lifetime for monitoring: --warn-days on `identity show` and `doctor` (exit 9),
days left per profile in `profile list`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import tomli_w

from xfer.cli import main
from xfer.errors import ExitCode
from xfer.identity import days_left, time_left
from xfer.testing import create_pki, serve
from xfer.testing.pki import TestPKI


@pytest.fixture(scope="module")
def module_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return create_pki(tmp_path_factory.mktemp("pki"))


def _show(pki: TestPKI, which: Path, *extra: str) -> list[str]:
    return ["identity", "show", str(which), "--identity-password", f"file:{pki.password_file}", *extra]


def test_identity_show_warn_days_exits_9_for_a_certificate_near_its_end(
    module_pki: TestPKI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert int(ExitCode.EXPIRING) == 9
    code = main(_show(module_pki, module_pki.client_expiring_p12, "--warn-days", "30"))
    out, err = capsys.readouterr()
    assert code == ExitCode.EXPIRING
    assert "subject" in out  # the details are still shown
    assert "xfer: error: client certificate CN=xfer-client-expiring" in err and "within --warn-days 30" in err

    assert main(_show(module_pki, module_pki.client_expiring_p12, "--warn-days", "5")) == 0
    capsys.readouterr()
    assert main(_show(module_pki, module_pki.client_p12, "--warn-days", "30", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["days_left"] >= 360


def test_identity_show_warn_days_counts_an_expired_certificate(
    module_pki: TestPKI, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(_show(module_pki, module_pki.client_expired_p12, "--warn-days", "0"))
    assert code == ExitCode.EXPIRING
    err = capsys.readouterr().err
    assert "CN=xfer-client-expired" in err and " days ago (" in err and "expired " in err


def test_doctor_warn_days_names_our_certificate_and_the_servers(
    module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve("https", module_pki, root=tmp_path / "srv") as endpoint:
        folder = tmp_path / "profiles"
        folder.mkdir()
        (folder / "partner.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
        assert main(["doctor", "partner", "--warn-days", "30"]) == 0
        capsys.readouterr()
        code = main(["doctor", "partner", "--json", "--warn-days", "400"])
        out, err = capsys.readouterr()
    assert code == ExitCode.EXPIRING
    report = json.loads(out)
    assert report["ok"] is True and report["exit_code"] == 9
    assert any(line.startswith("your certificate CN=xfer-client") for line in report["expiring"])
    assert any(line.startswith("the server's certificate CN=127.0.0.1") for line in report["expiring"])
    assert "xfer: warning: the server's certificate" in err


def test_profile_list_shows_days_left(
    module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    common = {"identity_password": f"file:{module_pki.password_file}", "ca": str(module_pki.root_ca)}
    tables = {
        "soon": {"url": "https://127.0.0.1:1/", "identity": str(module_pki.client_expiring_p12), **common},
        "asks": {"url": "https://127.0.0.1:1/", "identity": str(module_pki.client_p12),
                 "identity_password": "prompt"},
        "none": {"url": "https://127.0.0.1:1/"},
    }
    for name, table in tables.items():
        (folder / f"{name}.toml").write_text(tomli_w.dumps(table))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    assert main(["profile", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["soon"]["days_left"] in (9, 10)
    assert rows["asks"]["days_left"] is None  # listing never prompts
    assert rows["none"]["days_left"] is None
    assert main(["profile", "list"]) == 0
    assert "days left" in capsys.readouterr().out


def test_days_are_counted_toward_zero_by_one_helper() -> None:
    """``timedelta.days`` floors: two days and a minute after the end was "-3 days left"
    while another line said "2 days ago" (review A, defect 6)."""
    end = dt.datetime(2026, 11, 28, 11, 8, tzinfo=dt.timezone.utc)
    late = end + dt.timedelta(days=2, minutes=5)
    assert days_left(end, now=late) == -2
    assert time_left(end, now=late) == "expired 2 days ago"
    assert time_left(end, now=end + dt.timedelta(hours=3)) == "expired less than a day ago"
    assert time_left(end, now=end - dt.timedelta(days=1, hours=3)) == "1 day left"
    assert days_left(end, now=end - dt.timedelta(days=29, hours=23)) == 29


def test_an_expired_certificate_is_as_old_in_every_report(
    module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The PKI's expired certificate ended two days (and the seconds since it was made) ago."""
    main(_show(module_pki, module_pki.client_expired_p12))
    out = capsys.readouterr().out
    assert "(expired 2 days ago)" in out and "days left" not in out
    main(_show(module_pki, module_pki.client_expired_p12, "--json"))
    assert json.loads(capsys.readouterr().out)["days_left"] == -2
    main(_show(module_pki, module_pki.client_expired_p12, "--warn-days", "30"))
    assert "expired 2 days ago (" in capsys.readouterr().err

    with serve("https", module_pki, root=tmp_path / "srv") as endpoint:
        folder = tmp_path / "profiles"
        folder.mkdir()
        data = {**endpoint.profile.to_toml(), "identity": str(module_pki.client_expired_p12)}
        (folder / "partner.toml").write_text(tomli_w.dumps(data))
        monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
        assert main(["doctor", "partner"]) == ExitCode.TLS
    report = capsys.readouterr().out
    assert "(expired 2 days ago)" in report and "(2 days ago)" in report, report
    assert "-3 days" not in report and "days left" not in report.split("Our client identity", 1)[1]
