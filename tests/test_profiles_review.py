"""Profiles, second review: what a profile may hold and where it is saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import xfer
from tests.helpers import one_error, run
from xfer import secrets as xsecrets
from xfer.errors import ConfigError
from xfer.profiles import load_profile, save_profile

pytestmark = pytest.mark.usefixtures("config")

_PROXY_WITH_PASSWORD = "http://alice:Hunter2@127.0.0.1:9/"


def test_profile_add_refuses_a_proxy_password_without_saving_or_echoing_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password in the proxy URL was written into the profile in clear and `profile show` printed
    it; connecting then refused it (exit 2).  Now `profile add` refuses it (exit 2: typed on the
    command line, review M-8), writes nothing, masks the credentials and says how it is done instead."""
    code, _out, err = run(capsys, "profile", "add", "prox", "https://127.0.0.1:1/", "--proxy", _PROXY_WITH_PASSWORD)
    assert code == 2
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
    assert code == 2  # a usage error on the command line (review A, defect 8)
    one_error(err, "--proxy 'http://***@127.0.0.1:9/': credentials")
    assert "Hunter2" not in err


def test_an_unusable_proxy_kind_in_a_profile_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"profile 'p1': proxy 'ftp://h:21': unsupported kind ftp://"):
        xfer.Profile.from_mapping("p1", {"url": "https://h/", "proxy": "ftp://h:21"})
    assert xfer.Profile.from_mapping("p1", {"url": "https://h/", "proxy": "direct"}).get("proxy") == "direct"


def test_of_two_simultaneous_adds_of_one_name_exactly_one_saves(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """save_profile checked exists() and then replaced: two `profile add NAME` at once both said
    "saved".  Every writer here passes the check before any installs its file (they meet at a
    barrier while serialising), the widest that window gets."""
    import threading

    import tomli_w

    writers = 6
    barrier = threading.Barrier(writers, timeout=10)
    dumps = tomli_w.dumps

    def dumps_together(data: Any) -> str:
        barrier.wait()
        return dumps(data)

    monkeypatch.setattr(tomli_w, "dumps", dumps_together)
    outcomes: dict[int, str] = {}

    def add(number: int) -> None:
        try:
            save_profile(xfer.Profile.from_mapping("race", {"url": f"https://host{number}/"}))
            outcomes[number] = "saved"
        except ConfigError as exc:
            outcomes[number] = exc.message

    threads = [threading.Thread(target=add, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, outcome in outcomes.items() if outcome == "saved"]
    assert len(winners) == 1, outcomes
    assert all("already exists" in outcomes[n] for n in outcomes if n not in winners)
    assert load_profile("race").endpoint.host == f"host{winners[0]}"
    assert [p.name for p in (config / "profiles").iterdir()] == ["race.toml"]  # no temp file left


def test_add_and_rm_warn_about_a_profile_in_the_search_path_that_wins(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`profile add` said "saved" and `profile rm` "removed" while NAME kept resolving to a file of
    XFER_PROFILE_PATH; both now name that file."""
    extra = tmp_path / "extra"
    extra.mkdir()
    winner = extra / "p1.toml"
    winner.write_text('url = "https://from-path/"\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(extra))
    code, _out, err = run(capsys, "profile", "add", "p1", "https://from-config/")
    assert code == 0, err
    assert f"xfer: warning: {winner} (in XFER_PROFILE_PATH) comes first: p1: uses it" in err
    code, _out, err = run(capsys, "profile", "rm", "p1")
    assert code == 0, err
    assert f"xfer: warning: p1: still uses {winner} (in XFER_PROFILE_PATH)" in err
    code, _out, err = run(capsys, "profile", "rm", "p1")
    assert code == 3
    one_error(err, "no profile named 'p1'")
    assert f"hint: 'p1' is {winner}, found through XFER_PROFILE_PATH" in err
    # No warning when nothing shadows, nor when the search path holds the config folder itself.
    monkeypatch.setenv("XFER_PROFILE_PATH", str(config / "profiles"))
    code, _out, err = run(capsys, "profile", "add", "p2", "https://h/")
    assert code == 0 and "warning" not in err
    code, _out, err = run(capsys, "profile", "rm", "p2")
    assert code == 0 and "warning" not in err


def test_a_profile_others_may_write_is_read_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever can write a profile can point its url elsewhere and receive the identity and the
    secrets: a warning with the fix (as for a secret file others can read), not a refusal."""
    extra = tmp_path / "extra"
    extra.mkdir()
    path = extra / "p1.toml"
    path.write_text('url = "https://h/"\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(extra))
    seen: list[str] = []
    monkeypatch.setattr(xsecrets, "warn", seen.append)
    for mode, warned in ((0o600, False), (0o644, False), (0o664, True), (0o646, True)):
        path.chmod(mode)
        seen.clear()
        assert load_profile("p1").url == "https://h/"
        expected = [f"profile file {path} is writable by other users (mode {mode:04o}); chmod 600 {path}"]
        assert seen == (expected if warned else []), oct(mode)
    # The CLI points the warning at stderr (main() sets xfer.secrets.warn).
    code, _out, err = run(capsys, "profile", "show", "p1")
    assert code == 0 and f"xfer: warning: profile file {path} is writable by other users" in err


def test_a_config_folder_without_hard_links_still_saves(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """vfat and exFAT refuse link() with EPERM: the profile is saved as before the race fix (an
    existing one still needs --force), never "cannot save profile"."""
    import errno

    def no_links(source: object, target: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("xfer.profiles.os.link", no_links)
    save_profile(xfer.Profile.from_mapping("vfat", {"url": "https://host1/"}))
    assert load_profile("vfat").endpoint.host == "host1"
    with pytest.raises(ConfigError, match="already exists"):
        save_profile(xfer.Profile.from_mapping("vfat", {"url": "https://host2/"}))
    assert [p.name for p in (config / "profiles").iterdir()] == ["vfat.toml"]
