"""SFTP over SSH (``sftp://user@host[:22]/path``): SSH keys, the agent, OpenSSH user certificates.

SSH authenticates both ends without TLS, so the top-level options read differently here:
``identity`` is an SSH private key (OpenSSH, PEM or PKCS#8; its ``KEY-cert.pub`` beside it is
the user certificate), ``identity_password`` its passphrase, and ``pin`` the host key's
fingerprint as ssh-keygen prints it (``SHA256:BASE64``).  ``ca``, ``tls_min`` and ``tls_max``
do not apply.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from ..errors import ConfigError
from .spec import Option, ProfileFacts, ProtocolOptions, ProtocolSpec, Scheme, SettingsSource, check_value

__all__ = ["SPEC", "Once", "SFTPOptions", "normalize_ssh_pin"]

_T = TypeVar("_T")


class Once:
    """A value computed at most once, on first use, by whichever thread asks first.

    A failure is not kept: the next caller computes again (a wrong passphrase stays an error
    each time it is tried, not a cached one).
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._value: Any = None
        self._done = False

    def get(self, compute: Callable[[], _T]) -> _T:
        with self._lock:
            if not self._done:
                self._value = compute()
                self._done = True
            return cast("_T", self._value)


@dataclass(frozen=True)
class SFTPOptions(ProtocolOptions):
    """The ``[sftp]`` table parsed, plus the top-level key, passphrase and pin read the SSH way."""

    #: OpenSSH user certificate; None: ``KEY-cert.pub`` beside the key, if there is one.
    certificate: str | None = None
    #: known_hosts file; None: the user's ``~/.ssh/known_hosts``.
    known_hosts: str | None = None
    #: Offer the SSH agent's keys (when no ``identity`` is given).
    agent: bool = True
    upload_temp_name: bool = True
    #: The private key file (top-level ``identity``).
    key_file: str | None = None
    #: Resolves the key's passphrase (top-level ``identity_password``) when called.
    key_password: Callable[[], str | None] | None = field(default=None, repr=False, compare=False)
    #: ``SHA256:BASE64`` of the host key (top-level ``pin``); replaces known_hosts.
    pin: str | None = None
    #: The ``user@`` of the profile's URL (``username`` wins when both are set).
    url_username: str | None = None
    #: The key once decrypted, shared by every connection made with these options (a retry's
    #: reconnection, ``-P`` workers): an OpenSSH key's bcrypt KDF costs about a second at
    #: asyncssh's 128 rounds, as the TLS identity is decrypted once into one SSLContext.
    # init=False: dataclasses.replace() of these options (another key file) starts a cache of its own.
    loaded_key: Once = field(default_factory=Once, init=False, repr=False, compare=False)


def normalize_ssh_pin(pin: str) -> str:
    """``SHA256:BASE64`` (ssh-keygen -l, unpadded) from what the user typed; ConfigError if it is not one."""
    value = pin.strip()
    prefix, _, digest = value.partition(":")
    if prefix.lower() == "sha256" and len(digest) == 64 and all(c in "0123456789abcdefABCDEF" for c in digest):
        raise ConfigError(
            f"pin {pin!r} is a TLS certificate fingerprint; an SSH host key is pinned as SHA256:BASE64",
            hint="copy the fingerprint from `ssh-keygen -lf KEY.pub` or from xfer's unknown-host-key error",
        )
    try:
        raw = base64.b64decode(digest + "=" * (-len(digest) % 4), validate=True) if prefix == "SHA256" else b""
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"pin {pin!r} is not an SSH host key fingerprint",
            hint="use SHA256: followed by the base64 digest, as `ssh-keygen -lf KEY.pub` prints it",
        )
    return "SHA256:" + digest.rstrip("=")


def _check(facts: ProfileFacts) -> None:
    for key in ("ca", "tls_min", "tls_max"):
        if facts.values.get(key) is not None:
            raise ConfigError(
                f"{facts.where}: {key} does not apply to sftp:// (SSH has no TLS)",
                hint="the server is trusted by known_hosts or pin = \"SHA256:...\"",
            )


def _build(source: SettingsSource) -> SFTPOptions:
    table = source.table

    def where(key: str) -> str | None:
        path = source.path(key)
        return str(path) if path is not None else None

    key_file = str(source.identity_file) if source.identity_file is not None else None
    if key_file is not None and source.warn is not None:
        _warn_expiring(key_file, where("certificate"), source.warn)
    return SFTPOptions(
        certificate=where("certificate"),
        known_hosts=where("known_hosts"),
        agent=bool(table.get("agent", True)),
        upload_temp_name=bool(table.get("upload_temp_name", True)),
        key_file=key_file,
        key_password=_once(source.identity_password) if source.identity_password is not None else None,
        pin=normalize_ssh_pin(source.pin) if source.pin else None,
        url_username=_url_user(source.url),
    )


def _once(resolve: Callable[[], str | None]) -> Callable[[], str | None]:
    """``resolve``, called at most once: ``-P 4`` opens four connections, and a ``prompt``
    passphrase must be asked for once, not four times."""
    memo = Once()
    return lambda: memo.get(resolve)


#: Days before a user certificate's end from which every connection warns (as for PKCS#12).
EXPIRY_WARNING_DAYS = 30


def _warn_expiring(key_file: str, certificate: str | None, warn: Callable[[str], None]) -> None:
    """Warn when the user certificate ends soon (an expired one is refused when the key is loaded)."""
    import datetime as dt

    from ..errors import XferError
    from .sftp_certificates import certificate_beside, read_certificate_facts

    path = Path(certificate) if certificate else certificate_beside(key_file)
    if path is None:
        return
    try:
        facts = read_certificate_facts(path)
    except XferError:
        return  # loading the key says what is wrong with it, with the right exit code
    if facts.valid_before is None:
        return
    left = facts.valid_before - dt.datetime.now(dt.timezone.utc)
    if dt.timedelta(0) < left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        warn(f"SSH certificate {facts.key_id!r} expires in {left.days} days "
             f"({facts.valid_before:%Y-%m-%d}); ask the CA for a new one soon")


def _url_user(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    name = urlsplit(url).username
    return unquote(name) if name else None


def _from_mapping(mapping: Mapping[str, Any]) -> SFTPOptions:
    declared = SPEC.declared
    table = SPEC.defaults()
    extra: dict[str, object] = {}
    for key, value in mapping.items():
        if key in ("key_file", "key_password", "pin"):
            extra[key] = value  # a library caller's own key, passphrase callable and pin
        else:
            table[key] = check_value("[sftp]", key, declared, key, value)
    pin = extra.get("pin")
    return SFTPOptions(
        **table,
        key_file=str(extra["key_file"]) if extra.get("key_file") else None,
        key_password=cast("Callable[[], str | None] | None", extra.get("key_password")),
        pin=normalize_ssh_pin(pin) if isinstance(pin, str) else None,
    )


SPEC = ProtocolSpec(
    label="SFTP",
    section="sftp",
    schemes=(Scheme("sftp", 22, "xfer.adapters.sftp:SFTPAdapter", note="SSH"),),
    options=(
        Option("certificate", str, None, "OpenSSH user certificate (default: KEY-cert.pub beside the "
               "identity key, if present)", path=True),
        Option("known_hosts", str, None, "known_hosts file trusted for host keys and @cert-authority "
               "lines (default: ~/.ssh/known_hosts)", path=True),
        Option("agent", bool, True, "Offer the SSH agent's keys (SSH_AUTH_SOCK) when no identity is given"),
        Option("upload_temp_name", bool, True,
               "Upload under a temporary name, then rename (pick-up folders never see half files)"),
    ),
    settings_type=SFTPOptions,
    proxy_environment=("ALL_PROXY",),
    validate=_check,
    build=_build,
    from_mapping=_from_mapping,
    tls=False,
    check_pin=normalize_ssh_pin,
)


def default_known_hosts() -> Path:
    """Where OpenSSH keeps the user's known hosts."""
    return Path("~/.ssh/known_hosts").expanduser()
