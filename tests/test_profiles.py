"""Profiles: validation from the option declarations, the store, and the search path."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from xfer.errors import ConfigError
from xfer.options import CORE, render_markdown, sections
from xfer.profiles import Profile, list_profiles, load_profile, save_profile

pytestmark = pytest.mark.usefixtures("config")


def make(data: dict[str, Any], name: str = "partner") -> Profile:
    return Profile.from_mapping(name, data)


def test_defaults_fill_in() -> None:
    profile = make({"url": "ftpes://h/in", "ftps": {"epsv": False}})
    assert profile.scheme == "ftpes"
    assert profile.protocol_options() == {"epsv": False, "upload_temp_name": True, "keepalive": 60.0}
    assert profile.get("timeout") == 30.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "ftpes://h/", "identiy": "x.p12"}, "unknown key 'identiy'"),
        ({"url": "ftpes://h/", "ftps": {"epsvv": True}}, "unknown key 'ftps.epsvv'"),
        ({"url": "ftpes://h/", "scp": {}}, "unknown table 'scp'"),
        ({"url": "ftp://h/"}, "clear text"),
        ({"url": "http://h/"}, "clear text"),
        ({}, "url is missing"),
        ({"url": "ftpes://h/", "timeout": "soon"}, "timeout must be a float"),
        ({"url": "ftpes://h/", "tls_min": "1.0"}, "tls_min must be one of 1.2, 1.3"),
        ({"url": "ftpes://h/", "tls_min": "1.3", "tls_max": "1.2"}, "tls_max 1.2 is lower"),
        ({"url": "ftpes://h/", "password": "hunter2"}, "must be a secret reference"),
        ({"url": "ftpes://h/", "identity_password": "env:X"}, "identity is not"),
        ({"url": "https://h/", "ftps": {"epsv": True}}, "[ftps] does not apply to a https profile"),
        ({"url": "ftpes://h/", "pin": "abc"}, "not a SHA-256 fingerprint"),
        ({"url": "ftpes://h/", "ftps": {"epsv": "yes"}}, "must be a bool"),
        ({"url": "https://h/", "protocol": "as2"}, "[as2] needs as2_from, as2_to"),
        ({"url": "ftpes://h/", "protocol": "as2"}, "needs an https:// url"),
        # Refused by the profile now, not first by the adapter when connecting.
        ({"url": "https://h/", "https": {"upload_method": "POST", "form_field": ""}}, "form_field must not be empty"),
        ({"url": "https://h/", "https": {"form_field": "f"}}, "form_field only applies with upload_method"),
    ],
)
def test_invalid_profiles(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make(data)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_typo_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        make({"url": "ftpes://h/", "identiy": "x"})
    assert caught.value.hint == "did you mean 'identity'?"


def test_error_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "bad.toml").write_text('url = "ftpes://h/"\nusername = 5\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    with pytest.raises(ConfigError, match=r"bad\.toml: username must be a str"):
        load_profile("bad")


def test_save_is_private_and_round_trips(config: Path) -> None:
    profile = make({"url": "davs://h/dav", "username": "u", "password": "env:DAV_PW", "webdav": {"overwrite": False}})
    path = save_profile(profile)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    loaded = load_profile("partner")
    assert loaded.values == profile.values and loaded.section("webdav")["overwrite"] is False
    assert "env:DAV_PW" in path.read_text()
    with pytest.raises(ConfigError, match="already exists"):
        save_profile(profile)


def test_profile_path_searched_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_profile(make({"url": "ftpes://from-config/"}))
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "partner.toml").write_text('url = "ftpes://from-path/"\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(extra))
    assert load_profile("partner").endpoint.host == "from-path"
    assert [name for name, p in list_profiles() if isinstance(p, Profile)] == ["partner"]


def test_a_profile_file_not_in_utf8_is_listed_as_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tomllib decodes the bytes itself: a UnicodeDecodeError broke `profile list` (an internal
    error) and every shell completion; now it is that one file's ConfigError."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "broken.toml").write_bytes(b'url = "ftpes://h/"\n# \xff\n')
    (extra / "partner.toml").write_text('url = "ftpes://h/"\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(extra))
    listed = dict(list_profiles())
    assert isinstance(listed["partner"], Profile)
    assert isinstance(listed["broken"], ConfigError) and "not UTF-8" in listed["broken"].message
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML: not UTF-8"):
        load_profile("broken")


def test_relative_paths_start_at_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "p1.toml").write_text('url = "ftpes://h/"\nidentity = "../ids/client.p12"\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    profile = load_profile("p1")
    assert profile.path_value("identity") == folder / "../ids/client.p12"
    with pytest.raises(ConfigError, match=r"p1\.toml: identity file .* does not exist"):
        profile.check_files()


def test_missing_profile_says_where_it_looked(config: Path) -> None:
    with pytest.raises(ConfigError, match="no profile named 'ghost'") as caught:
        load_profile("ghost")
    assert str(config / "profiles") in str(caught.value)


def test_every_option_documented_once() -> None:
    table = render_markdown()
    for option in CORE.values():
        assert f"`{option.name}`" in table and option.help in table
    for section, options in sections().items():
        for option in options.values():
            assert f"`[{section}] {option.name}`" in table


def test_repr_shows_no_secret() -> None:
    profile = make({"url": "ftpes://h/", "username": "u", "password": "env:SECRET_VAR"})
    assert "SECRET_VAR" not in repr(profile)


def test_readme_option_table_is_generated() -> None:
    """The README's table is render_markdown()'s output: the declaration drives the docs."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert render_markdown() in readme, "regenerate: python -c 'import xfer.options as o; print(o.render_markdown())'"


def test_example_profiles_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = Path(__file__).parent.parent / "profiles"
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    found = [profile for _, profile in list_profiles()]
    assert len(found) >= 8
    assert all(isinstance(p, Profile) for p in found), [p for p in found if not isinstance(p, Profile)]
    for profile in found:
        assert isinstance(profile, Profile)
        identity = profile.path_value("identity")
        # The TLS identity in integration/certs, the SSH key (sshd-sftp) in integration/certs/ssh.
        certs = (folder.parent / "integration/certs").resolve()
        assert identity is not None and identity.resolve().is_relative_to(certs)
