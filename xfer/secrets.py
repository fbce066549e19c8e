"""Secret references: how xfer finds a password without ever being given one in plain sight.

A reference is one of::

    env:VAR          the environment variable VAR
    file:PATH        the first line of PATH (warns if group/world readable)
    keyring          the OS keyring, entry named after the profile and field
    keyring:NAME     the OS keyring entry NAME (service "xfer")
    prompt           ask on the terminal, hidden input

Anything else is refused: a literal secret on the command line ends up in shell
history and ``ps``; in a profile it ends up in backups.  Library users who hold a
secret in memory wrap it in :class:`Secret`, which never shows its value.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SecretError

__all__ = ["KEYRING_SERVICE", "Secret", "SecretRef", "parse_ref", "resolve", "warn_if_open"]

#: Service name of xfer's entries in the OS keyring.
KEYRING_SERVICE = "xfer"

_KINDS = ("env", "file", "keyring", "prompt")
_HINT = "give a reference: env:VAR, file:PATH, keyring, keyring:NAME or prompt"

#: Receives warnings (e.g. a world-readable secret file); the CLI points it at stderr.
warn: Callable[[str], None] = lambda message: print(f"xfer: warning: {message}", file=sys.stderr)  # noqa: E731


@dataclass(frozen=True)
class Secret:
    """A secret value held in memory (library use).  Its repr and str never show it."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference; ``str()`` gives back the reference text (safe to show)."""

    kind: str
    argument: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.argument}" if self.argument else self.kind


def parse_ref(text: str, *, field_name: str = "secret") -> SecretRef:
    """Parse a reference, refusing anything that looks like a literal secret.

    The error message never repeats ``text``: it may *be* the secret.
    """
    kind, sep, argument = text.partition(":")
    if kind not in _KINDS:
        raise SecretError(f"{field_name} must be a secret reference, not a literal value", hint=_HINT)
    if not argument and (kind in ("env", "file") or (kind == "keyring" and sep)):
        # "keyring:" is not the bare "keyring" (an entry named after the profile): a name was
        # meant and left out, as "file:" left out its path.
        needs = {"env": "a variable", "file": "a path", "keyring": "a name"}[kind]
        raise SecretError(f"{field_name}: {kind}: needs {needs}", hint=_HINT)
    if kind == "prompt" and sep:
        raise SecretError(f"{field_name}: prompt takes no argument", hint=_HINT)
    return SecretRef(kind, argument or None)


def resolve(
    ref: str | SecretRef | Secret,
    *,
    field_name: str = "secret",
    keyring_name: str | None = None,
    base_dir: Path | None = None,
) -> str:
    """The secret a reference points at.  Raises :class:`SecretError` with an actionable message.

    ``keyring_name`` names the keyring entry for a bare ``keyring`` reference
    (xfer uses ``PROFILE/FIELD``).  ``base_dir`` resolves relative ``file:`` paths
    (a profile's folder).
    """
    if isinstance(ref, Secret):
        return ref.value
    parsed = ref if isinstance(ref, SecretRef) else parse_ref(ref, field_name=field_name)
    if parsed.kind == "env":
        assert parsed.argument
        value = os.environ.get(parsed.argument)
        if value is None:
            raise SecretError(f"{field_name}: environment variable {parsed.argument} is not set",
                              hint=f"export {parsed.argument}=... or use another reference")
        return value
    if parsed.kind == "file":
        assert parsed.argument
        return _read_file(parsed.argument, field_name, base_dir)
    if parsed.kind == "keyring":
        return _read_keyring(parsed.argument or keyring_name, field_name)
    return _prompt(field_name)


def _read_file(argument: str, field_name: str, base_dir: Path | None) -> str:
    path = Path(argument).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        info = path.stat()
        # utf-8-sig: Windows Notepad starts a UTF-8 file with a byte-order mark, which is not part
        # of the password (kept, it made the password "wrong").
        data = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SecretError(f"{field_name}: secret file {path} does not exist") from None
    except OSError as exc:
        raise SecretError(f"{field_name}: cannot read secret file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SecretError(f"{field_name}: secret file {path} is not UTF-8 text") from None
    warn_if_open(path, info.st_mode, what="secret file", granted=stat.S_IRWXG | stat.S_IRWXO, how="readable")
    lines = data.splitlines()
    return lines[0] if lines else ""


def warn_if_open(path: Path, mode: int, *, what: str, granted: int, how: str) -> None:
    """Warn (through :data:`warn`) when ``mode`` gives other users any of the ``granted`` bits on ``path``.

    Not a refusal: shared folders, ACLs and umasks make false alarms likely enough; a warning
    with the fix is what ssh's readers of such files want too.
    """
    if os.name == "posix" and mode & granted:
        warn(f"{what} {path} is {how} by other users (mode {stat.S_IMODE(mode):04o}); chmod 600 {path}")


def _read_keyring(name: str | None, field_name: str) -> str:
    if not name:
        raise SecretError(f"{field_name}: a bare keyring reference needs a profile",
                          hint="use keyring:NAME")
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise SecretError(f"{field_name}: the keyring package is not installed",
                          hint="pip install keyring, or use env:VAR, file:PATH or prompt") from None
    try:
        value = keyring.get_password(KEYRING_SERVICE, name)
        backend = type(keyring.get_keyring())
    except keyring.errors.KeyringError as exc:
        raise SecretError(
            f"{field_name}: no usable OS keyring ({type(exc).__name__})",
            hint="on a server use env:VAR, file:PATH or prompt, or install a backend such as keyrings.alt",
        ) from None
    except Exception as exc:
        # A backend is third-party code over D-Bus, a Keychain or a file: it fails with whatever it
        # meets (RuntimeError, OSError, a D-Bus exception...), not only with KeyringError.  That is a
        # broken keyring, not a bug in xfer.  Its text is not repeated: nothing says what it holds.
        raise SecretError(
            f"{field_name}: the OS keyring failed to read entry {KEYRING_SERVICE}/{name} "
            f"({_backend_name()}: {type(exc).__name__})",
            hint="check that the keyring service is running and unlocked (python -m keyring diagnose), "
            "or use env:VAR, file:PATH or prompt",
        ) from None
    if value is None:
        if "fail" in backend.__module__:
            raise SecretError(
                f"{field_name}: no OS keyring is available on this machine",
                hint="use env:VAR, file:PATH or prompt, or install a backend such as keyrings.alt",
            )
        raise SecretError(f"{field_name}: keyring entry {KEYRING_SERVICE}/{name} not found in {backend.__name__}",
                          hint=f"store it: python -m keyring set {KEYRING_SERVICE} {name}")
    return str(value)


def _backend_name() -> str:
    """The keyring backend's class name, for messages ("the keyring" if even that cannot be had)."""
    import keyring

    try:
        return type(keyring.get_keyring()).__name__
    except Exception:  # the backend's own failure is being reported; do not add another
        return "the keyring"


def _prompt(field_name: str) -> str:
    if not sys.stdin.isatty():
        raise SecretError(f"{field_name}: 'prompt' needs a terminal, and there is none",
                          hint="in scripts use env:VAR or file:PATH")
    import getpass

    try:
        return getpass.getpass(f"{field_name}: ")
    except EOFError:
        raise SecretError(f"{field_name}: no input") from None
