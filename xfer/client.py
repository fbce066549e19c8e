"""The library's front door: ``connect()``, and ``put``/``get`` (thin wrappers of ``remote.put``/``.get``).

``connect`` resolves a profile (or a URL plus options), loads the identity, builds
the TLS context through the one factory, and returns an open adapter::

    import xfer
    with xfer.connect("partner") as remote:
        remote.put_file("invoice.edi", "/inbox/invoice.edi")

Everything the CLI does goes through here, so a script has the same power.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .adapters.base import Adapter, ConnectionSettings, Entry, TLSSettings, TransferResult
from .batch import CallbackFactory
from .errors import UsageError
from .log import logger
from .options import CORE, DEFAULT_MAX_DEPTH
from .profiles import OverrideStyle, Profile, load_profile
from .protocols.spec import SettingsSource
from .retry import RetryPolicy
from .secrets import Secret, resolve
from .throttle import parse_rate
from .urls import Endpoint, check_remote_path, parse_url, url_username

if TYPE_CHECKING:
    from .identity import Identity
    from .tls import XferSSLContext

__all__ = [
    "DEFAULT_MAX_DEPTH", "CallbackFactory", "connect", "get", "load_identity", "put", "resolve_profile", "tls_context",
]


_log = logger(__name__)

#: The name of the profile built from a bare URL target.
URL_PROFILE = "url-target"

#: What a caller may set per connection: every top-level option a flag exists for (not url/protocol).
_OVERRIDABLE = tuple(name for name, option in CORE.items() if option.cli)


def resolve_profile(
    target: str | Profile,
    overrides: Mapping[str, Any] | None = None,
    *,
    style: OverrideStyle = "parameter",
) -> Profile:
    """A profile name, ``NAME:/path``, a URL or a Profile, with ``overrides`` applied and validated.

    Errors in ``overrides`` name them as the caller wrote them: parameters (``ca``), or
    with ``style="flag"`` command-line flags (``--ca``, how the CLI calls this).
    """
    values = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(values) - set(_OVERRIDABLE)
    if unknown:
        raise UsageError(f"unknown connection option(s): {', '.join(sorted(unknown))}")
    if isinstance(target, Profile):
        return target.with_overrides(values, style=style) if values else target
    if "://" in target:
        endpoint = parse_url(target)
        path = urllib.parse.quote(endpoint.path)
        data: dict[str, Any] = {"url": f"{endpoint.scheme}://{_host(endpoint)}:{endpoint.port}{path}"}
        user = url_username(target)
        if user:
            data["username"] = user
        # Options go on as overrides, so their errors name the flag, not a profile; what is
        # left to say about the target itself names the URL (there is no profile file).
        profile = Profile.from_mapping(URL_PROFILE, data, label=f"URL {data['url']}")
        return profile.with_overrides(values, style=style)
    name = target.split(":", 1)[0] if ":" in target else target
    profile = load_profile(name)
    return profile.with_overrides(values, style=style) if values else profile


def _root_of(target: str | Profile, profile_root: str) -> str:
    """The folder relative paths start from: the profile's, or ``/path`` below it for ``NAME:/path``
    (as ``xfer ls NAME:/path`` lists that folder, and a URL's path is its root)."""
    if isinstance(target, Profile) or "://" in target or ":" not in target:
        return profile_root
    below = check_remote_path(target.split(":", 1)[1], shown=target)
    # Normalised on its own first: ".." stays inside the profile's folder, as in every path.
    below = posixpath.normpath(posixpath.join("/", below)).lstrip("/")
    if not below:
        return profile_root
    return posixpath.join("/", profile_root.strip("/"), below)


def _host(endpoint: Endpoint) -> str:
    return f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host


def connect(
    target: str | Profile,
    *,
    root: str | None = None,
    identity_password: str | Secret | None = None,
    password: str | Secret | None = None,
    warn: Callable[[str], None] | None = None,
    sha256: bool = True,
    **overrides: Any,
) -> Adapter:
    """Open a connection to a profile (name or :class:`Profile`) or a URL.

    ``overrides`` are profile options (``identity``, ``ca``, ``pin``, ``username``,
    ``timeout``, ``tls_min``, ``tls_max``).  Secrets come as references
    (``"env:VAR"``) or as :class:`~xfer.secrets.Secret` objects; ``root`` replaces
    the folder that relative paths start from (default: the URL's path).
    ``warn`` receives warnings such as an identity that expires soon.  ``sha256=False``: the
    results' ``sha256`` is not wanted, so it is computed only where the server compares it
    (see :attr:`~xfer.adapters.base.ConnectionSettings.sha256`).
    """
    refs = {
        "identity_password": identity_password if isinstance(identity_password, str) else None,
        "password": password if isinstance(password, str) else None,
    }
    profile = resolve_profile(target, {**overrides, **refs})
    profile.check_files()
    # A bad --limit-rate is a usage error before anything connects.
    limit_rate = parse_rate(profile.get("limit_rate")) if profile.get("limit_rate") else None
    spec = profile.spec
    endpoint = profile.endpoint

    given_secret = identity_password if isinstance(identity_password, Secret) else None
    # A protocol without TLS (SFTP) reads its own kind of identity file: its settings builder gets the path.
    identity = _load_identity(profile, given_secret, warn) if spec.tls else None
    tls: TLSSettings | None = None
    if spec.tls:
        tls = TLSSettings(tls_context(profile, identity), identity)
    resolved_password: str | None
    if isinstance(password, Secret):
        resolved_password = password.value
    elif profile.get("password"):
        resolved_password = resolve(
            profile.get("password"), field_name="password",
            keyring_name=f"{profile.name}/password", base_dir=_base(profile),
        )
    else:
        resolved_password = None
    options = spec.build_settings(_settings_source(profile, identity, warn, given_secret))
    from .registry import adapter_class

    cls = adapter_class(profile.scheme)
    settings = ConnectionSettings(
        scheme=profile.scheme,
        host=endpoint.host,
        port=endpoint.port,
        root=root if root is not None else _root_of(target, endpoint.path),
        tls=tls,
        username=profile.get("username"),
        password=resolved_password,
        timeout=float(profile.get("timeout")),
        max_listing=int(profile.get("max_listing")) * 2**20,
        checksum=bool(profile.get("checksum")),
        sha256=sha256,
        limit_rate=limit_rate,
        retries=int(profile.get("retries")),
        retry_wait=float(profile.get("retry_wait")),
        resume=bool(profile.get("resume")),
        options=options,
        profile_name=None if profile.name == URL_PROFILE else profile.name,
        proxy=profile.get("proxy"),
    )
    # Connecting is retried like any operation: a refused or timed-out connect, a 421 "too
    # many users" at the greeting.  (HTTP adapters connect on their first request.)
    policy = RetryPolicy(retries=settings.retries, wait=settings.retry_wait)
    return policy.run(lambda: cls(settings))[0]


def tls_context(profile: Profile, identity: Identity | None) -> XferSSLContext:
    """The profile's TLS context, from the one factory (``xfer doctor`` probes with the same)."""
    from .tls import create_ssl_context

    return create_ssl_context(
        identity,
        ca=profile.path_value("ca"),
        pin=profile.get("pin"),
        minimum_version=profile.get("tls_min"),
        maximum_version=profile.get("tls_max"),
    )


def _settings_source(
    profile: Profile, identity: Identity | None, warn: Callable[[str], None] | None, given_secret: Secret | None,
) -> SettingsSource:
    """What the protocol's settings builder may read: its table, and its files and secrets resolved."""
    section = profile.spec.section

    def secret(key: str) -> str | None:
        ref = profile.section(section).get(key)
        if not ref:
            return None
        return resolve(ref, field_name=f"[{section}] {key}", keyring_name=f"{profile.name}/{key}",
                       base_dir=_base(profile))

    return SettingsSource(
        table=profile.protocol_options(),
        url=profile.url,
        identity=identity,
        path=lambda key: profile.path_value(key, section=section),
        secret=secret,
        warn=warn,
        identity_file=None if profile.spec.tls else profile.path_value("identity"),
        identity_password=None if profile.spec.tls else lambda: _identity_password(profile, given_secret),
        pin=None if profile.spec.tls else profile.get("pin"),
    )


def _base(profile: Profile) -> Path | None:
    return profile.source.parent if profile.source else None


def load_identity(
    profile: Profile, *, secret: Secret | None = None, warn: Callable[[str], None] | None = None, check: bool = True
) -> Identity | None:
    """The profile's identity (None without one); ``check=False`` keeps an expired one (for diagnosis).
    ``secret``: its password, already resolved (:func:`identity_secret`), else the profile's reference."""
    return _load_identity(profile, secret, warn, check=check)


def identity_secret(profile: Profile) -> Secret | None:
    """The profile's identity password, resolved now (a ``prompt`` asks now): for a caller that loads
    the identity and then connects, so that ``connect(..., identity_password=...)`` does not ask again."""
    password = _identity_password(profile, None)
    return None if password is None else Secret(password)


def _load_identity(
    profile: Profile, secret: Secret | None, warn: Callable[[str], None] | None, *, check: bool = True
) -> Identity | None:
    path = profile.path_value("identity")
    if path is None:
        return None
    from .identity import Identity

    identity = Identity.load(path, _identity_password(profile, secret))
    if not check:
        return identity
    for message in identity.check_usable():
        if warn is not None:
            warn(message)
    return identity


def _identity_password(profile: Profile, secret: Secret | None) -> str | None:
    """The identity's password: given as a Secret, or the profile's reference resolved now."""
    if secret is not None:
        return secret.value
    ref = profile.get("identity_password")
    if not ref:
        return None
    return resolve(ref, field_name="identity_password", keyring_name=f"{profile.name}/identity_password",
                   base_dir=_base(profile))


# -- many files ----------------------------------------------------------------------------


def put(
    remote: Adapter,
    sources: list[str | os.PathLike[str]],
    destination: str,
    *,
    recursive: bool = False,
    callbacks: CallbackFactory | None = None,
    parallel: int = 1,
    reconnect: Callable[[], Adapter] | None = None,
) -> list[TransferResult]:
    """``remote.put(...)``: see :meth:`xfer.adapters.base.Adapter.put`."""
    return remote.put(sources, destination, recursive=recursive, callbacks=callbacks, parallel=parallel,
                      reconnect=reconnect)


def get(
    remote: Adapter,
    sources: Sequence[str | Entry],
    destination: str | os.PathLike[str],
    *,
    recursive: bool = False,
    callbacks: CallbackFactory | None = None,
    parallel: int = 1,
    reconnect: Callable[[], Adapter] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[TransferResult]:
    """``remote.get(...)``: see :meth:`xfer.adapters.base.Adapter.get`."""
    return remote.get(sources, destination, recursive=recursive, callbacks=callbacks, parallel=parallel,
                      reconnect=reconnect, max_depth=max_depth)
