"""What a protocol is, as data: :class:`ProtocolSpec`, and the :class:`Option` declarations it holds.

A spec module (``xfer/protocols/https.py``...) describes one protocol once: its URL schemes and
default ports, its profile table, its profile checks, how the table becomes typed settings,
and where its adapter class lives.  Everything else (URL parsing, profile validation, CLI
flags, the README table, :func:`xfer.connect`) is derived from the list in
:mod:`xfer.registry`.  Spec modules import nothing heavy: ``xfer --help`` and URL parsing
must not load ``requests`` or ``cryptography``; a builder imports what it needs when it runs.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..secrets import parse_ref

if TYPE_CHECKING:
    from ..identity import Identity

__all__ = [
    "Option",
    "ProfileFacts",
    "ProtocolOptions",
    "ProtocolSpec",
    "Scheme",
    "SettingsSource",
    "check_value",
    "did_you_mean",
    "unknown_key",
]


@dataclass(frozen=True)
class Option:
    """One setting: what it is called, what it holds, and how to explain it."""

    name: str
    type: type
    default: Any
    help: str
    #: Holds a secret *reference* (env:, file:, keyring, prompt), never a secret.
    secret: bool = False
    #: Allowed values, if the option is an enumeration.
    choices: tuple[str, ...] | None = None
    #: A local file path (``~`` expanded, relative paths resolved against the profile's folder).
    path: bool = False
    #: Shown as a flag on ``xfer profile add`` and connection commands.
    cli: bool = True
    #: The smallest whole number an ``int`` option takes (``retries`` may be 0).
    minimum: int = 1


@dataclass(frozen=True)
class ProtocolOptions:
    """Base of every protocol's typed settings (``HTTPSOptions``...): a frozen, parsed profile table."""


@dataclass(frozen=True)
class Scheme:
    """One name a protocol answers to, and the adapter class that serves it."""

    name: str
    default_port: int
    #: ``"module:Class"``, imported on first use (``xfer --help`` loads no network library).
    adapter: str
    #: Shown after the scheme in hints: ``ftps:// (implicit TLS)``.
    note: str = ""
    #: Profile-only schemes are chosen with ``protocol = NAME`` and reached through a URL of
    #: this scheme (AS2 posts to an ``https://`` URL); ``None``: the scheme is typed in URLs.
    url_scheme: str | None = None
    #: Clear-text schemes refused with a pointer to this one (``ftp://`` -> ``ftpes://``).
    insecure_aliases: tuple[str, ...] = ()

    @property
    def in_url(self) -> bool:
        return self.url_scheme is None


@dataclass(frozen=True)
class ProfileFacts:
    """What a protocol's profile check sees: the top-level values and its table, already type-checked."""

    #: How messages name the profile (its file, or ``URL https://...``).
    where: str
    #: Top-level options as written (no defaults filled in).
    values: Mapping[str, Any]
    #: The protocol's table as written.
    given: Mapping[str, Any]
    #: The table with declared defaults filled in.
    table: Mapping[str, Any]


@dataclass(frozen=True)
class SettingsSource:
    """What a settings builder may read: the validated table and the resolved connection facts."""

    table: Mapping[str, Any]
    #: The profile's URL (AS2 posts to it).
    url: str
    #: The connection's client identity, if any (AS2 signs with it unless told otherwise).
    identity: Identity | None
    #: A path option of this table, ``~`` expanded and relative to the profile's folder.
    path: Callable[[str], Path | None]
    #: A secret option of this table, resolved (keyring, prompt...), or None when unset.
    secret: Callable[[str], str | None]
    warn: Callable[[str], None] | None = None
    #: A protocol without TLS (``tls=False``): the top-level ``identity`` file, not loaded as
    #: PKCS#12 (SFTP reads an SSH private key from it), and its ``identity_password``,
    #: resolved only when called (a key without a passphrase never prompts).
    identity_file: Path | None = None
    identity_password: Callable[[], str | None] | None = None
    #: The top-level ``pin`` as written (a protocol without TLS reads it in its own format).
    pin: str | None = None


def _no_check(facts: ProfileFacts) -> None:
    """Most protocols need nothing beyond the per-option checks."""


#: The variables an HTTP-based protocol reads a proxy from, first set wins (as curl and requests do).
WEB_PROXY_ENVIRONMENT = ("HTTPS_PROXY", "ALL_PROXY")


@dataclass(frozen=True)
class ProtocolSpec:
    """A protocol, described once.  Register it in :data:`xfer.registry.PROTOCOLS`."""

    #: How people name it: ``"FTPS"``.
    label: str
    #: The profile table it reads: ``[ftps]``.
    section: str
    schemes: tuple[Scheme, ...]
    #: Its profile table, declared once (validation, flags, README and typed settings derive from it).
    options: tuple[Option, ...]
    #: The frozen dataclass the table becomes (field names are the option names, unless ``build`` says otherwise).
    settings_type: type[ProtocolOptions]
    #: Cross-option checks of a profile (``form_field`` only with POST...); raises ConfigError.
    validate: Callable[[ProfileFacts], None] = _no_check
    #: Builds the typed settings from a profile; default: the table's values as the fields.
    build: Callable[[SettingsSource], ProtocolOptions] | None = None
    #: Builds the typed settings from a plain mapping (a library caller's ConnectionSettings);
    #: default: each value checked against its declaration, defaults filled in.
    from_mapping: Callable[[Mapping[str, Any]], ProtocolOptions] | None = None
    #: Third-party import name -> the pip package that provides it, for "pip install ..." hints.
    packages: Mapping[str, str] = field(default_factory=dict)
    #: Whether connections use the TLS context from :func:`xfer.tls.create_ssl_context`
    #: (a protocol that authenticates another way, such as SSH, sets False).
    tls: bool = True
    #: Checks a ``pin`` written for this protocol and returns it normalised (raises ConfigError);
    #: None: TLS's ``sha256:HEX`` (:func:`xfer.tls.normalize_pin`).  SSH pins are ``SHA256:BASE64``.
    check_pin: Callable[[str], str] | None = None
    #: The environment variables naming its proxy when the ``proxy`` option is unset, first set
    #: wins (``NO_PROXY`` exempts hosts): the HTTP family reads ``HTTPS_PROXY`` as curl and
    #: requests do; a protocol that is no HTTPS (FTPS, SSH) reads only ``ALL_PROXY``.
    proxy_environment: tuple[str, ...] = WEB_PROXY_ENVIRONMENT

    @property
    def declared(self) -> dict[str, Option]:
        return {option.name: option for option in self.options}

    def defaults(self) -> dict[str, Any]:
        return {option.name: option.default for option in self.options}

    def build_settings(self, source: SettingsSource) -> ProtocolOptions:
        """The typed settings of a validated profile table."""
        if self.build is not None:
            return self.build(source)
        names = {f.name for f in fields(self.settings_type)}
        return self.settings_type(**{k: v for k, v in source.table.items() if k in names})

    def parse_options(self, mapping: Mapping[str, Any]) -> ProtocolOptions:
        """Typed settings from a plain mapping, checked against the declarations."""
        if self.from_mapping is not None:
            return self.from_mapping(mapping)
        declared, where = self.declared, f"[{self.section}]"
        table = self.defaults()
        for key, value in mapping.items():
            table[key] = check_value(where, key, declared, key, value)
        # No profile here: the protocol's own checks see no top-level values.
        self.validate(ProfileFacts(where=where, values={}, given=mapping, table=table))
        return self.settings_type(**table)


def check_value(where: str, label: str, declared: Mapping[str, Option], key: str, value: Any) -> Any:
    """``value`` for option ``key`` if it fits its declaration (an int becomes a float where one is declared).

    ``where`` and ``label`` are how messages name the place and the option.
    """
    option = declared.get(key)
    if option is None:
        raise unknown_key(where, label, list(declared), "key")
    if option.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, option.type) or (option.type is not bool and isinstance(value, bool)):
        # tls_min = 1.2 is a TOML float, and a version, not a number.
        # Never the value of a secret (password = 31415.9265: security review, session 26).
        quote = (" (a secret reference: env:VAR, file:PATH, keyring or prompt)" if option.secret
                 else f' (write it in quotes: "{value}")' if option.type is str and isinstance(value, float) else "")
        raise ConfigError(f"{where}: {label} must be a {option.type.__name__}, not {type(value).__name__}{quote}")
    if option.choices and value not in option.choices:
        raise ConfigError(f"{where}: {label} must be one of {', '.join(option.choices)}, not {value!r}")
    if option.secret and isinstance(value, str):
        try:
            parse_ref(value, field_name=label)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
    if option.type is int and value < option.minimum:  # max_listing: a cap of 0 MiB would refuse every listing
        raise ConfigError(f"{where}: {label} must be a whole number "
                          + ("above 0" if option.minimum == 1 else f"of {option.minimum} or more"))
    if isinstance(value, float) and (not math.isfinite(value) or value < 0 or (key == "timeout" and value == 0)):
        raise ConfigError(f"{where}: {label} must be a finite number of seconds"
                          + (" above 0" if key == "timeout" else ", 0 or more"))
    return value


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """``"did you mean 'partner'?"`` for the closest of ``known`` to a mistyped ``word``, or None."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else None


def unknown_key(where: str, key: str, known: list[str], what: str) -> ConfigError:
    """The error for a key (or table) nobody declared, with the closest declared one as the hint."""
    return ConfigError(
        f"{where}: unknown {what} {key!r}",
        hint=did_you_mean(key.rsplit(".", maxsplit=1)[-1], known) or "see `xfer profile add --help` for the options",
    )
