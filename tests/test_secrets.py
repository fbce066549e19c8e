"""Secret references: resolved from env, file, keyring or prompt; literals refused, never echoed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import one_error, run
from xfer import secrets as xsecrets
from xfer.errors import SecretError
from xfer.secrets import Secret, parse_ref, resolve
from xfer.testing.pki import TestPKI


def test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XFER_T_PW", "s3cret")
    assert resolve("env:XFER_T_PW") == "s3cret"


def test_env_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XFER_T_MISSING", raising=False)
    with pytest.raises(SecretError, match="XFER_T_MISSING is not set"):
        resolve("env:XFER_T_MISSING", field_name="password")


def test_file_first_line(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("line one\nline two\n")
    secret.chmod(0o600)
    assert resolve(f"file:{secret}") == "line one"


def test_file_relative_to_base(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("rel")
    (tmp_path / "pw").chmod(0o600)
    assert resolve("file:pw", base_dir=tmp_path) == "rel"


def test_file_readable_by_others_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x")
    secret.chmod(0o644)
    seen: list[str] = []
    monkeypatch.setattr(xsecrets, "warn", seen.append)
    assert resolve(f"file:{secret}") == "x"
    assert seen and "chmod 600" in seen[0]


def test_file_missing(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="does not exist"):
        resolve(f"file:{tmp_path / 'none'}")


@pytest.mark.parametrize("literal", ["hunter2", "p@ss:word", "envVAR", "file", "env:"])
def test_literals_refused_and_not_echoed(literal: str) -> None:
    with pytest.raises(SecretError) as caught:
        parse_ref(literal, field_name="password")
    assert literal not in str(caught.value) or literal in ("file", "env:")
    assert caught.value.hint and "env:VAR" in caught.value.hint


@pytest.mark.parametrize(("reference", "words"), [("env:", "env: needs a variable"), ("file:", "file: needs a path"),
                                                 ("keyring:", "keyring: needs a name")])
def test_a_reference_without_its_argument_is_refused(reference: str, words: str) -> None:
    """``file:`` was the current folder, ``keyring:`` the bare ``keyring`` entry (review A, defect 13)."""
    with pytest.raises(SecretError, match=f"^password: {words}$"):
        parse_ref(reference, field_name="password")


@pytest.mark.parametrize(("reference", "words"), [("file:", "file: needs a path"),
                                                 ("keyring:", "keyring: needs a name")])
def test_the_cli_refuses_a_reference_without_its_argument(
    reference: str, words: str, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # "file:" was read as this folder: "Is a directory"
    code, _out, err = run(capsys, "ls", "https://127.0.0.1:1/", "--username", "u", "--password", reference,
                          "--retries", "0")
    one_error(err, f"password: {words}")
    assert code == 2, err  # typed on the command line: a usage error (review A, defect 8)


def test_secret_object_hides_value() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert resolve(secret) == "hunter2"


class MemoryKeyring:
    """An in-memory keyring backend (the real API, no OS service)."""

    def __new__(cls) -> Any:
        import keyring.backend

        class _Backend(keyring.backend.KeyringBackend):
            priority = 1

            def __init__(self) -> None:
                super().__init__()  # type: ignore[no-untyped-call]
                self.store: dict[tuple[str, str], str] = {}

            def get_password(self, service: str, username: str) -> str | None:
                return self.store.get((service, username))

            def set_password(self, service: str, username: str, password: str) -> None:
                self.store[(service, username)] = password

            def delete_password(self, service: str, username: str) -> None:
                self.store.pop((service, username), None)

        return _Backend()


class BrokenKeyring:
    """A keyring backend failing as a Secret Service backend does when D-Bus has no such service:
    with a RuntimeError, not a KeyringError.  Its message holds text that must never be shown."""

    def __new__(cls) -> Any:
        import keyring.backend

        class _Backend(keyring.backend.KeyringBackend):
            priority = 1

            def __init__(self) -> None:
                super().__init__()  # type: ignore[no-untyped-call]

            def get_password(self, service: str, username: str) -> str | None:
                raise RuntimeError("dbus: org.freedesktop.secrets not provided (Hunter2 context)")

            def set_password(self, service: str, username: str, password: str) -> None:
                raise RuntimeError("no")

            def delete_password(self, service: str, username: str) -> None:
                raise RuntimeError("no")

        return _Backend()


def _installed(backend: object) -> Iterator[object]:
    import keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(backend)  # type: ignore[arg-type]
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[object]:
    yield from _installed(MemoryKeyring())


@pytest.fixture
def broken_keyring() -> Iterator[object]:
    yield from _installed(BrokenKeyring())


def test_keyring_named_and_profile_entries(memory_keyring: object) -> None:
    import keyring

    keyring.set_password("xfer", "acme-id", "from-keyring")
    keyring.set_password("xfer", "partner/identity_password", "per-profile")
    assert resolve("keyring:acme-id") == "from-keyring"
    assert resolve("keyring", keyring_name="partner/identity_password") == "per-profile"


def test_keyring_entry_missing(memory_keyring: object) -> None:
    with pytest.raises(SecretError, match="not found") as caught:
        resolve("keyring:nothing-here")
    assert caught.value.hint and "keyring set xfer nothing-here" in caught.value.hint


def test_no_keyring_backend_names_alternatives() -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        with pytest.raises(SecretError, match="keyring") as caught:
            resolve("keyring:x")
    finally:
        keyring.set_keyring(previous)
    assert caught.value.hint and "env:VAR" in caught.value.hint and "keyrings.alt" in caught.value.hint


def test_prompt_needs_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    with pytest.raises(SecretError, match="needs a terminal"):
        resolve("prompt", field_name="password")


def test_prompt_reads_hidden_input(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "typed")
    assert resolve("prompt") == "typed"


def test_a_backend_failure_is_a_config_error(broken_keyring: object) -> None:
    with pytest.raises(SecretError, match=r"the OS keyring failed to read entry xfer/idpw \(_Backend: RuntimeError\)") \
            as caught:
        resolve("keyring:idpw", field_name="identity_password")
    assert caught.value.exit_code == 3
    assert "Hunter2" not in str(caught.value) + str(caught.value.hint)
    assert caught.value.hint and "env:VAR" in caught.value.hint


def test_the_cli_reports_a_backend_failure_in_one_line_and_lists_profiles_anyway(
    broken_keyring: object, pki: TestPKI, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """identity show, ls, doctor: exit 3, not 'bug in xfer'; profile list (which wants only the days
    left) lists the profile with the days unknown."""
    code, _out, err = run(capsys, "identity", "show", str(pki.client_p12), "--identity-password", "keyring:idpw")
    assert code == 3, err
    one_error(err, "the OS keyring failed")
    code, _out, err = run(capsys, "profile", "add", "kr", "https://127.0.0.1:1/", "--identity", str(pki.client_p12),
                          "--identity-password", "keyring")
    assert code == 0, err
    for args in (("ls", "kr:/", "--retries", "0"), ("doctor", "kr")):
        code, out, err = run(capsys, *args)
        assert code == 3, (args, out, err)
        one_error(err, "the OS keyring failed to read entry xfer/kr/identity_password")
        assert "Hunter2" not in out + err
    code, out, err = run(capsys, "profile", "list", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert row["name"] == "kr" and row["days_left"] is None
    code, out, err = run(capsys, "profile", "list")
    assert code == 0, err
    assert "kr" in out and "?" in out and "Hunter2" not in out + err


def test_file_written_by_notepad(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark and a CRLF line end (Windows Notepad) are not part of the password."""
    secret = tmp_path / "pw"
    secret.write_bytes("\ufeffpässwort\r\n".encode())
    secret.chmod(0o600)
    assert resolve(f"file:{secret}") == "pässwort"
