"""Profiles: a saved partner connection, validated against the option declarations.

Store: ``$XFER_CONFIG_DIR/profiles/NAME.toml`` (default: the platform's user config
folder for xfer), folders 0700, files 0600.  ``$XFER_PROFILE_PATH`` (os.pathsep
separated folders) is searched first, so example profiles work from a checkout.
A profile holds secret *references* only; :mod:`xfer.secrets` resolves them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from . import registry
from .errors import ConfigError, UsageError, XferError
from .options import CORE, sections
from .protocols.spec import ProfileFacts, ProtocolSpec, check_value, did_you_mean, unknown_key
from .secrets import warn_if_open
from .throttle import parse_rate
from .urls import PROFILE_NAME, Endpoint, parse_url

__all__ = [
    "OverrideStyle",
    "Profile",
    "config_dir",
    "did_you_mean",
    "list_profiles",
    "load_profile",
    "profile_dirs",
    "remove_profile",
    "save_profile",
    "shadowing",
]


def config_dir() -> Path:
    """xfer's configuration folder: ``$XFER_CONFIG_DIR`` or the platform default."""
    env = os.environ.get("XFER_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("xfer", appauthor=False))


def profile_dirs() -> list[Path]:
    """Folders searched for ``NAME.toml``, first match wins."""
    extra = os.environ.get("XFER_PROFILE_PATH", "")
    dirs = [Path(p).expanduser() for p in extra.split(os.pathsep) if p]
    return [*dirs, config_dir() / "profiles"]


#: What to give instead when a path option names a folder.
_FOLDER_HINTS = {
    "ca": "give one PEM file of CA certificates (for a folder of them: cat its *.pem into one file)",
    "identity": "give the .p12/.pfx file itself",
}

#: How the caller spelled options set on top of a profile: ``xfer.connect(ca=...)``
#: (``"parameter"``) or ``--ca`` (``"flag"``, the CLI).  Error messages use the same spelling.
OverrideStyle = Literal["parameter", "flag"]


def option_label(key: str, style: OverrideStyle) -> str:
    """``identity_password`` as the caller wrote it: the parameter name, or ``--identity-password``."""
    return "--" + key.replace("_", "-") if style == "flag" else key


def _override_where(style: OverrideStyle) -> str:
    return "command line" if style == "flag" else "xfer.connect()"


@dataclass(frozen=True)
class Profile:
    """A validated profile.  Construct with :meth:`from_mapping` or :func:`load_profile`."""

    name: str
    values: Mapping[str, Any]
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: Path | None = None
    #: Keys set on top of the stored profile (error messages name the flag or parameter, not the file).
    overridden: frozenset[str] = frozenset()
    #: How those keys were given (see :data:`OverrideStyle`).
    override_style: OverrideStyle = "parameter"
    #: What messages call this profile instead of its file or name (``"URL https://h:443/"``).
    label: str | None = None

    # -- construction ----------------------------------------------------------

    @classmethod
    def from_mapping(
        cls, name: str, data: Mapping[str, Any], *, source: Path | None = None, label: str | None = None
    ) -> Profile:
        """Validate raw TOML data.  Errors name the file (or ``label``) and the key."""
        where = label or (str(source) if source else f"profile {name!r}")  # as _where() says it
        if not PROFILE_NAME.match(name):
            raise ConfigError(
                f"{where}: invalid profile name {name!r}",
                hint="use 2-64 letters, digits, '.', '-' or '_'",
            )
        values: dict[str, Any] = {}
        tables: dict[str, dict[str, Any]] = {}
        declared = sections()
        for key, value in data.items():
            if isinstance(value, dict):
                if key not in declared:
                    raise unknown_key(where, key, list(CORE) + list(declared), "table")
                tables[key] = {
                    k: check_value(where, f"{key}.{k}", declared[key], k, v) for k, v in value.items()
                }
            else:
                values[key] = check_value(where, key, CORE, key, value)
        profile = cls(name=name, values=values, sections=tables, source=source, label=label)
        profile._validate_combination(where)
        return profile

    def _validate_combination(self, where: str) -> None:
        url = self.values.get("url")
        if not url:
            raise ConfigError(f"{where}: url is missing", hint="e.g. url = \"ftpes://host/inbox\"")
        try:
            endpoint = parse_url(url)
        except XferError as exc:
            raise ConfigError(f"{where}: url: {exc.message}", hint=exc.hint) from None
        protocol = self.values.get("protocol")
        if protocol is not None:
            only = registry.profile_only_schemes().get(protocol)
            if only is None:
                raise ConfigError(f"{where}: protocol {protocol!r} is not known to xfer")
            via = only.url_scheme
            if endpoint.scheme != via:
                raise ConfigError(f"{where}: protocol = \"{protocol}\" needs an {via}:// url")
        scheme, spec = self.scheme, self.spec
        for section in self.sections:
            if section != spec.section:
                raise ConfigError(
                    f"{where}: table [{section}] does not apply to a {scheme} profile",
                    hint=f"this profile reads [{spec.section}]",
                )
        tls_min, tls_max = self.values.get("tls_min", "1.2"), self.values.get("tls_max")
        if tls_max is not None and tls_max < tls_min:
            raise ConfigError(f"{where}: tls_max {tls_max} is lower than tls_min {tls_min}")
        if self.values.get("identity_password") and not self.values.get("identity"):
            raise ConfigError(f"{where}: identity_password is set but identity is not")
        if self.values.get("password") and not self.values.get("username"):
            raise ConfigError(f"{where}: password is set but username is not")
        if "pin" in self.values:
            try:
                _pin_checker(spec)(self.values["pin"])
            except ConfigError as exc:
                said = exc.message if exc.message.startswith("pin ") else f"pin: {exc.message}"  # not "pin: pin '...'"
                raise ConfigError(f"{where}: {said}", hint=exc.hint) from None
        if "limit_rate" in self.values:
            try:
                parse_rate(self.values["limit_rate"])
            except UsageError as exc:
                raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from None
        if "proxy" in self.values:
            _check_proxy(where, "proxy", self.values["proxy"])
        spec.validate(ProfileFacts(where=where, values=self.values, given=self.sections.get(spec.section, {}),
                                   table=self.section(spec.section)))

    # -- reading -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return str(self.values["url"])

    @property
    def endpoint(self) -> Endpoint:
        return parse_url(self.url)

    @property
    def scheme(self) -> str:
        """The adapter scheme: the URL's, or the ``protocol`` a profile names (``as2``)."""
        return str(self.values.get("protocol") or parse_url(self.url).scheme)

    @property
    def spec(self) -> ProtocolSpec:
        """The protocol this profile speaks, as registered."""
        spec = registry.spec_for_scheme(self.scheme)
        assert spec is not None, self.scheme  # parse_url and the protocol choices admit registered schemes only
        return spec

    def get(self, key: str) -> Any:
        """A top-level option's value, or its declared default."""
        return self.values.get(key, CORE[key].default)

    def section(self, name: str) -> dict[str, Any]:
        """A protocol table with declared defaults filled in."""
        declared = sections()[name]
        given = self.sections.get(name, {})
        return {key: given.get(key, option.default) for key, option in declared.items()}

    def protocol_options(self) -> dict[str, Any]:
        """The table this profile's protocol reads."""
        return self.section(self.spec.section)

    def path_value(self, key: str, *, section: str | None = None) -> Path | None:
        """A path option, ``~`` expanded and relative paths resolved against the profile's folder."""
        raw = self.section(section).get(key) if section else self.values.get(key)
        if not raw:
            return None
        path = Path(str(raw)).expanduser()
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path

    def check_files(self) -> None:
        """Every file the profile names exists (run before connecting and by profile add)."""
        where = self.label or (str(self.source) if self.source else f"profile {self.name!r}")
        checks: list[tuple[str, str | None]] = [("identity", None), ("ca", None)]
        spec = self.spec
        checks += [(option.name, spec.section) for option in spec.options if option.path]
        for key, section in checks:
            path = self.path_value(key, section=section)
            if path is not None and not path.is_file():
                if key == "identity" and key in self.overridden:
                    continue  # Identity.load says it best (exit 4, with the --identity hint on the CLI)
                # A folder exists: "does not exist" would send the user looking for a typo.
                folder = path.is_dir()
                problem = f"{path} is a folder, not a file" if folder else f"file {path} does not exist"
                fix = _FOLDER_HINTS.get(key) if folder else None
                if section is None and key in self.overridden:
                    if self.override_style == "flag":
                        raise ConfigError(f"{option_label(key, 'flag')} {problem}", hint=fix)
                    raise ConfigError(f"xfer.connect(): {key} {problem}", hint=fix)
                label = f"[{section}] {key}" if section else key
                raise ConfigError(
                    f"{where}: {label} {problem}",
                    hint=fix or "fix the path in the profile (relative paths start at the profile's folder)",
                )

    def with_overrides(self, values: Mapping[str, Any], *, style: OverrideStyle = "parameter") -> Profile:
        """A copy with options given by the caller applied on top (validated again).

        Errors in an override name it as the caller wrote it (``style``): the parameter
        for library calls, the flag on the command line; never the profile file.
        Relative paths in overrides are the caller's to make absolute (the CLI resolves
        them against the current folder, as a user expects).

        A value that does not fit is a :class:`ConfigError` (exit 3) when it comes from a
        library call, and a :class:`UsageError` (exit 2) when it was typed on the command
        line (``style="flag"``): the command was written wrong, as when the CLI's parser
        refuses ``--timeout abc``.  A literal secret typed as ``--password`` is one of those:
        the flag, not a profile or the environment, holds the mistake.  The same values in
        a profile file stay config errors (:meth:`from_mapping`).
        """
        try:
            return self._with_overrides(values, style)
        except ConfigError as exc:
            if style != "flag":
                raise
            # The message says what and where already ("command line: --timeout ..."); only
            # the kind changes.  From None: the config error would repeat the same words.
            raise UsageError(exc.message, hint=exc.hint, cli_hint=exc.cli_hint) from None

    def _where(self) -> str:
        """How messages name this profile: its label, its file, or its name."""
        return self.label or (str(self.source) if self.source else f"profile {self.name!r}")

    def _with_overrides(self, values: Mapping[str, Any], style: OverrideStyle) -> Profile:
        given = {k: v for k, v in values.items() if v is not None}
        where = _override_where(style)
        for key, value in given.items():
            label = option_label(key, style)
            try:
                check_value(where, label, CORE, key, value)
            except ConfigError as exc:
                if style == "parameter" and CORE.get(key) is not None and CORE[key].secret:
                    in_memory = "pass the value itself as xfer.Secret(...)"
                    raise exc.copy_with(hint=f"{exc.hint}; or {in_memory}" if exc.hint else in_memory) from exc
                raise
            if key == "pin":  # here, so that the message names the flag, not the profile
                try:
                    _pin_checker(self.spec)(value)
                except ConfigError as exc:
                    said = exc.message.removeprefix("pin ")  # "pin 'x' is not ..." -> "--pin 'x' is not ..."
                    raise ConfigError(f"{where}: {label} {said}", hint=exc.hint) from None
            if key == "limit_rate":
                try:
                    parse_rate(value)
                except UsageError as exc:
                    said = exc.message.removeprefix("limit_rate ")
                    raise ConfigError(f"{where}: {label} {said}", hint=exc.hint) from None
            if key == "proxy":
                _check_proxy(where, label, value)
        if "tls_min" in given or "tls_max" in given:
            self._check_tls_range(given, style)
        data: dict[str, Any] = {**self.values, **given}
        for section, table in self.sections.items():
            data[section] = dict(table)
        try:
            merged = Profile.from_mapping(self.name, data, source=self.source, label=self.label)
        except ConfigError as exc:
            # This profile was valid alone: what the caller gave made it invalid, so the error
            # is the caller's, and names the profile as what the values were combined with.
            ours = self._where()
            said = exc.message.removeprefix(f"{ours}: ")
            if said == exc.message:
                raise
            raise ConfigError(f"{where}: {said} (with {ours})", hint=exc.hint) from None
        return replace(merged, overridden=frozenset(given), override_style=style)

    def _check_tls_range(self, given: Mapping[str, Any], style: OverrideStyle) -> None:
        """``tls_max`` is not below ``tls_min``, each named where it was set (flag or profile)."""

        def named(key: str, default: str | None) -> tuple[str | None, str]:
            if key in given:
                return given[key], f"{option_label(key, style)} {given[key]}"
            value = self.values.get(key, default)
            return value, f"{key} {value}" + (f" in {self._where()}" if key in self.values else " (the default)")

        low, low_said = named("tls_min", "1.2")
        high, high_said = named("tls_max", None)
        if high is not None and low is not None and high < low:
            raise ConfigError(f"{_override_where(style)}: {high_said} is lower than {low_said}")

    def to_toml(self) -> dict[str, Any]:
        """What ``save_profile`` writes: references only, never a resolved secret."""
        data: dict[str, Any] = dict(self.values)
        for section, table in self.sections.items():
            if table:
                data[section] = dict(table)
        return data

    def describe(self) -> dict[str, Any]:
        """For ``profile show``: every value, secrets as their references (which is all we hold)."""
        data = self.to_toml()
        data["name"] = self.name
        data["source"] = str(self.source) if self.source else None
        return data

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, url={self.values.get('url')!r})"


# -- the store -----------------------------------------------------------------------


def _pin_checker(spec: ProtocolSpec) -> Callable[[str], str]:
    """How ``pin`` is written for this protocol: its spec's own check, or TLS's ``sha256:HEX``."""
    if spec.check_pin is not None:
        return spec.check_pin
    from .tls import normalize_pin

    return normalize_pin


def _check_proxy(where: str, label: str, url: str) -> None:
    """``url`` is a proxy xfer can use (:func:`xfer.net.parse_proxy`, the check connecting runs), as a
    config error: refused when the profile is saved or read, not at the first connection.  A proxy URL
    with a password is refused here above all, so that it is never written to, or kept in, a profile;
    the message shows the URL with its credentials masked."""
    from .net import parse_proxy

    try:
        parse_proxy(url)
    except UsageError as exc:
        said = exc.message.removeprefix("proxy ")  # "proxy 'u': ..." -> "--proxy 'u': ..."
        raise ConfigError(f"{where}: {label} {said}", hint=exc.hint) from None


def _find(name: str) -> Path | None:
    for folder in profile_dirs():
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    return None


def shadowing(name: str) -> Path | None:
    """The file ``NAME`` resolves to when it is not the config folder's (which ``save_profile``
    writes and ``remove_profile`` deletes): one in ``$XFER_PROFILE_PATH`` comes first."""
    found = _find(name)
    own = config_dir() / "profiles" / f"{name}.toml"
    if found is None or found.resolve() == own.resolve():
        return None
    return found


def load_profile(name: str) -> Profile:
    """Find and validate profile ``name``."""
    if not PROFILE_NAME.match(name):
        raise ConfigError(f"invalid profile name {name!r}")
    path = _find(name)
    if path is None:
        searched = ", ".join(str(d) for d in profile_dirs())
        raise ConfigError(
            f"no profile named {name!r} (searched {searched})",
            hint=did_you_mean(name, _profile_names())
            or "create it with `xfer profile add NAME URL`, or list them with `xfer profile list`",
        )
    return read_profile_file(path)


def _profile_names(*folders: Path) -> set[str]:
    """The names of the profiles in ``folders`` (default: all searched); file names only, nothing parsed."""
    names: set[str] = set()
    for folder in folders or profile_dirs():
        with contextlib.suppress(OSError):
            names.update(path.stem for path in folder.glob("*.toml") if PROFILE_NAME.match(path.stem))
    return names


def read_profile_file(path: Path) -> Profile:
    # Imported here: a URL target reads no TOML, and the parser's regexes cost start-up (issue 14).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    try:
        with open(path, "rb") as handle:
            # Whoever can write the profile can point url elsewhere and receive our identity and
            # secrets on the next connection.
            warn_if_open(path, os.fstat(handle.fileno()).st_mode, what="profile file",
                         granted=stat.S_IWGRP | stat.S_IWOTH, how="writable")
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # tomllib decodes the bytes itself, before parsing
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return Profile.from_mapping(path.stem, data, source=path)


def list_profiles() -> list[tuple[str, Profile | ConfigError]]:
    """(name, profile) for every profile found, first match per name; broken ones as their error."""
    seen: dict[str, Profile | ConfigError] = {}
    for folder in profile_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            if path.stem in seen:
                continue
            try:
                seen[path.stem] = read_profile_file(path)
            except ConfigError as exc:  # one broken file must not hide the others
                seen[path.stem] = exc
    return [(name, seen[name]) for name in sorted(seen)]


def save_profile(profile: Profile, *, overwrite: bool = False) -> Path:
    """Write to the user config folder (0700 folders, 0600 file, atomic)."""
    import tomli_w

    folder = config_dir() / "profiles"
    path = folder / f"{profile.name}.toml"
    try:
        for directory in (config_dir(), folder):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.name == "posix":
                directory.chmod(0o700)
        exists = ConfigError(f"profile {profile.name!r} already exists at {path}", hint="use --force to replace it")
        if path.exists() and not overwrite:
            raise exists
        text = tomli_w.dumps(profile.to_toml())
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{profile.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temp, 0o600)
            if overwrite:
                os.replace(temp, path)
            else:
                # A second name for the complete file, made only if ``path`` does not exist: of two
                # `profile add NAME` at once, exactly one wins (exists() then replace let both say
                # "saved", the last one's file kept).
                try:
                    os.link(temp, path)
                except FileExistsError:
                    raise exists from None
                except OSError as exc:
                    # A file system without hard links (vfat, exFAT, some network shares): the
                    # check above and a rename, as before, rather than no profile at all.
                    if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS):
                        raise
                    os.replace(temp, path)
                else:
                    os.unlink(temp)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:  # the config folder is a file, read-only, on a full disk...
        where = exc.filename if isinstance(exc.filename, str) else path
        raise ConfigError(f"cannot save profile {profile.name!r} to {where}: {exc.strerror or exc}",
                          hint="check $XFER_CONFIG_DIR (or the user config folder)") from exc
    return path


def remove_profile(name: str) -> Path:
    """Delete a profile from the user config folder."""
    if not PROFILE_NAME.match(name):  # also keeps "../x" from reaching the file system
        raise ConfigError(f"invalid profile name {name!r}")
    path = config_dir() / "profiles" / f"{name}.toml"
    if not path.is_file():
        elsewhere = shadowing(name)
        raise ConfigError(f"no profile named {name!r} in {path.parent}",
                          hint=f"{name!r} is {elsewhere}, found through XFER_PROFILE_PATH: xfer removes only "
                          "profiles of its config folder" if elsewhere else
                          did_you_mean(name, _profile_names(path.parent)))
    path.unlink()
    return path
