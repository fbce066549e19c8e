"""The pytest plugin as a user meets it: a test file of their own, only the public fixtures.

pytester runs that file in a fresh pytest process, so the plugin is found through its
``pytest11`` entry point exactly as in a user's project (nothing here imports it).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import xfer

def test_https(xfer_https_server, tmp_path):
    (tmp_path / "invoice.edi").write_text("UNA:+.? '")
    with xfer.connect(xfer_https_server.profile) as remote:
        remote.put_file(tmp_path / "invoice.edi", "/inbox/invoice.edi")
    assert (xfer_https_server.root / "inbox" / "invoice.edi").read_text() == "UNA:+.? '"

def test_ftps(xfer_ftps_server, tmp_path):
    (tmp_path / "a.csv").write_text("a,b\\n")
    with xfer.connect(xfer_ftps_server.profile) as remote:
        remote.put_file(tmp_path / "a.csv", "/a.csv")
        assert [e.name for e in remote.ls("/")] == ["a.csv"]
    assert xfer_ftps_server.url.startswith("ftpes://127.0.0.1:")
    assert xfer_ftps_server.server.data_sessions and all(xfer_ftps_server.server.data_sessions)

def test_webdav(xfer_webdav_server, tmp_path):
    (tmp_path / "r.txt").write_text("report")
    with xfer.connect(xfer_webdav_server.profile) as remote:
        remote.mkdir("/reports")
        remote.put_file(tmp_path / "r.txt", "/reports/r.txt")
    assert (xfer_webdav_server.root / "reports" / "r.txt").read_text() == "report"

def test_as2(xfer_as2_server, tmp_path):
    (tmp_path / "order.xml").write_text("<order/>")
    with xfer.connect(xfer_as2_server.profile) as remote:
        result = remote.put_file(tmp_path / "order.xml", "/order.xml")
    assert result.details["status"] == "confirmed"
    assert (xfer_as2_server.root / "order.xml").read_text() == "<order/>"

def test_sftp(xfer_sftp_server, tmp_path):
    (tmp_path / "a.csv").write_text("a,b\\n")
    with xfer.connect(xfer_sftp_server.profile) as remote:
        remote.put_file(tmp_path / "a.csv", "/out/a.csv")
    assert (xfer_sftp_server.root / "out" / "a.csv").read_text() == "a,b\\n"
    assert xfer_sftp_server.client_names() == ["xfer"]

def test_each_test_gets_an_empty_server(xfer_https_server):
    assert list(xfer_https_server.root.iterdir()) == []

def test_the_cli_with_the_profile(xfer_serve, xfer_pki, tmp_path, monkeypatch):
    import tomli_w
    from xfer.cli import main

    implicit = xfer_serve("ftps")  # implicit FTPS, ftps://
    (tmp_path / "implicit.toml").write_text(tomli_w.dumps(implicit.profile.to_toml()))
    (tmp_path / "note.txt").write_text("hi")
    monkeypatch.setenv("XFER_PROFILE_PATH", str(tmp_path))
    assert main(["put", str(tmp_path / "note.txt"), "implicit:/note.txt"]) == 0
    assert (implicit.root / "note.txt").read_text() == "hi"
    assert implicit.identity == xfer_pki.client_p12
    assert implicit.identity_password == f"file:{xfer_pki.password_file}"
"""


def test_users_tests_run_against_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_pipeline=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=7)


def test_fixtures_are_listed_with_their_docs(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures")
    out = result.stdout.str()
    for name in ("xfer_pki", "xfer_serve", "xfer_https_server", "xfer_ftps_server", "xfer_webdav_server",
                 "xfer_as2_server", "xfer_sftp_server"):
        assert name in out


def test_importing_xfer_testing_starts_nothing_heavy() -> None:
    code = (
        "import sys, xfer.testing as t; "
        "heavy = [m for m in ('pyftpdlib', 'wsgidav', 'cheroot', 'OpenSSL', 'requests') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "assert set(t.__all__) <= set(dir(t)); "
        "[getattr(t, name) for name in t.__all__]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
