"""Profiles, second review: what a profile may hold and where it is saved."""

from __future__ import annotations

from pathlib import Path

import pytest

import xfer
from tests.helpers import one_error, run
from xfer.errors import ConfigError

pytestmark = pytest.mark.usefixtures("config")

_PROXY_WITH_PASSWORD = "http://alice:Hunter2@127.0.0.1:9/"


def test_profile_add_refuses_a_proxy_password_without_saving_or_echoing_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password in the proxy URL was written into the profile in clear and `profile show` printed
    it; connecting then refused it (exit 2).  Now `profile add` refuses it (exit 3), writes nothing,
    masks the credentials and says how it is done instead."""
    code, _out, err = run(capsys, "profile", "add", "prox", "https://127.0.0.1:1/", "--proxy", _PROXY_WITH_PASSWORD)
    assert code == 3
    one_error(err, "proxy 'http://***@127.0.0.1:9/': credentials in the proxy URL are not accepted")
    assert "Hunter2" not in err and "alice" not in err
    assert "hint: xfer sends no proxy credentials" in err
    assert not (config / "profiles" / "prox.toml").exists()


def test_a_stored_proxy_password_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile written by hand (or by an older xfer) with proxy credentials: every load refuses it,
    as a config error naming the file, and `profile show` never prints the password."""
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "prox.toml").write_text(f'url = "https://127.0.0.1:1/"\nproxy = "{_PROXY_WITH_PASSWORD}"\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    for args in (("profile", "show", "prox"), ("ls", "prox:/", "--retries", "0")):
        code, out, err = run(capsys, *args)
        assert code == 3, (args, err)
        one_error(err, f"{folder / 'prox.toml'}: proxy 'http://***@127.0.0.1:9/': credentials")
        assert "Hunter2" not in out + err
    with pytest.raises(ConfigError, match="credentials in the proxy URL") as caught:
        xfer.Profile.from_mapping("prox", {"url": "https://h/", "proxy": _PROXY_WITH_PASSWORD})
    assert "Hunter2" not in str(caught.value)


def test_a_proxy_password_given_as_an_override_is_named_as_given(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"^xfer.connect\(\): proxy 'http://\*\*\*@127.0.0.1:9/': credentials"):
        xfer.connect("https://127.0.0.1:1/", proxy=_PROXY_WITH_PASSWORD)
    code, _out, err = run(capsys, "ls", "https://127.0.0.1:1/", "--proxy", _PROXY_WITH_PASSWORD, "--retries", "0")
    assert code == 3
    one_error(err, "--proxy 'http://***@127.0.0.1:9/': credentials")
    assert "Hunter2" not in err


def test_an_unusable_proxy_kind_in_a_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"profile 'p1': proxy 'ftp://h:21': unsupported kind ftp://"):
        xfer.Profile.from_mapping("p1", {"url": "https://h/", "proxy": "ftp://h:21"})
    assert xfer.Profile.from_mapping("p1", {"url": "https://h/", "proxy": "direct"}).get("proxy") == "direct"
