"""The protocols xfer speaks: the list of specs, and everything looked up in it.

Each protocol describes itself once in a light spec module (:mod:`xfer.protocols`); URL
parsing, profile validation, the CLI flags, the README table and :func:`xfer.connect` ask
this module.  Adding a protocol is one spec module, one line in :data:`PROTOCOLS`, its
adapter and its test server.  Adapters are named by dotted path and imported on first use,
so ``xfer --help`` imports no network or crypto library, and a missing optional dependency
fails with an error naming the fix.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import ConfigError, InsecureSchemeRefused, UnsupportedOperation
from .protocols import as2, ftps, https, sftp, webdav
from .protocols.spec import ProtocolSpec, Scheme

if TYPE_CHECKING:
    from .adapters.base import Adapter

__all__ = [
    "PROTOCOLS",
    "adapter_class",
    "clear_text_schemes",
    "default_port",
    "profile_only_schemes",
    "spec_for_scheme",
    "spec_for_section",
    "supported_text",
    "url_schemes",
]

#: Every protocol, in the order documentation and hints list them.
PROTOCOLS: list[ProtocolSpec] = [https.SPEC, ftps.SPEC, webdav.SPEC, as2.SPEC, sftp.SPEC]


def _schemes() -> dict[str, tuple[ProtocolSpec, Scheme]]:
    return {scheme.name: (spec, scheme) for spec in PROTOCOLS for scheme in spec.schemes}


def spec_for_scheme(scheme: str) -> ProtocolSpec | None:
    found = _schemes().get(scheme)
    return found[0] if found else None


def spec_for_section(section: str) -> ProtocolSpec | None:
    return next((spec for spec in PROTOCOLS if spec.section == section), None)


def url_schemes() -> dict[str, Scheme]:
    """The schemes a user may type in a URL (AS2 is chosen in a profile instead)."""
    return {name: scheme for name, (_spec, scheme) in _schemes().items() if scheme.in_url}


def profile_only_schemes() -> dict[str, Scheme]:
    """Schemes chosen with ``protocol = NAME`` in a profile, reached through a URL of another scheme."""
    return {name: scheme for name, (_spec, scheme) in _schemes().items() if not scheme.in_url}


def clear_text_schemes() -> dict[str, str]:
    """Schemes xfer refuses outright -> the secure scheme to use instead."""
    return {alias: scheme.name for scheme in url_schemes().values() for alias in scheme.insecure_aliases}


def default_port(scheme: str) -> int:
    return _schemes()[scheme][1].default_port


def _url_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def supported_text(*, notes: bool = True) -> str:
    """``https://, ftps:// (implicit TLS), ftpes:// (explicit TLS) or davs://`` for hints and help."""
    return _url_list([f"{s.name}://" + (f" ({s.note})" if notes and s.note else "") for s in url_schemes().values()])


def adapter_class(scheme: str) -> type[Adapter]:
    """The adapter class for ``scheme``, imported now."""
    insecure = clear_text_schemes()
    if scheme in insecure:
        raise InsecureSchemeRefused(
            f"{scheme}:// sends data and passwords in clear text; xfer never does that",
            hint=f"use {insecure[scheme]}://",
        )
    found = _schemes().get(scheme)
    if found is None:
        spoken = [f"{name}://" for name in url_schemes()]
        spoken += [f'{spec.label} (a profile with protocol = "{name}")'
                   for name, (spec, s) in _schemes().items() if not s.in_url]
        raise UnsupportedOperation(f"unknown scheme {scheme}://", hint="xfer speaks " + _url_list(spoken))
    spec, entry = found
    module_name, _, class_name = entry.adapter.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("xfer"):
            package = spec.packages.get(exc.name.split(".")[0], exc.name)
            raise ConfigError(
                f"{scheme}:// needs the Python package {package!r}, which is not installed",
                hint=f"pip install {package}",
            ) from exc
        raise
    cls: type[Adapter] = getattr(module, class_name)
    return cls
