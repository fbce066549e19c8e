"""URL scheme -> adapter class, as data; the import happens on first use.

Keeping this a table of dotted paths means ``xfer --help`` imports no network or
crypto library, and a missing optional dependency fails with an error naming the fix.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import ConfigError, InsecureSchemeRefused, UnsupportedOperation

if TYPE_CHECKING:
    from .adapters.base import Adapter

__all__ = ["ADAPTERS", "CLEAR_TEXT_SCHEMES", "adapter_class", "default_port"]

#: scheme -> "module:Class"
ADAPTERS: dict[str, str] = {
    "https": "xfer.adapters.https:HTTPSAdapter",
    "ftps": "xfer.adapters.ftps:ImplicitFTPSAdapter",
    "ftpes": "xfer.adapters.ftps:ExplicitFTPSAdapter",
    "davs": "xfer.adapters.webdav:WebDAVAdapter",
    "as2": "xfer.adapters.as2:AS2Adapter",
}

#: Default ports, here so that URLs can be parsed without importing adapters.
DEFAULT_PORTS: dict[str, int] = {"https": 443, "ftps": 990, "ftpes": 21, "davs": 443, "as2": 443}

#: Schemes xfer refuses outright, with the secure scheme to use instead.
CLEAR_TEXT_SCHEMES: dict[str, str] = {
    "http": "https",
    "ftp": "ftpes",
    "dav": "davs",
    "webdav": "davs",
}

#: pip extra that provides each adapter's third-party imports.
_EXTRA_FOR_MODULE = {"webdav3": "webdavclient3"}


def default_port(scheme: str) -> int:
    return DEFAULT_PORTS[scheme]


def adapter_class(scheme: str) -> type[Adapter]:
    """The adapter class for ``scheme``, imported now."""
    if scheme in CLEAR_TEXT_SCHEMES:
        secure = CLEAR_TEXT_SCHEMES[scheme]
        raise InsecureSchemeRefused(
            f"{scheme}:// sends data and passwords in clear text; xfer never does that",
            hint=f"use {secure}://",
        )
    try:
        target = ADAPTERS[scheme]
    except KeyError:
        raise UnsupportedOperation(
            f"unknown scheme {scheme}://",
            hint="xfer speaks " + ", ".join(f"{s}://" for s in ADAPTERS if s != "as2")
            + " and AS2 (a profile with protocol = \"as2\")",
        ) from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("xfer"):
            package = _EXTRA_FOR_MODULE.get(exc.name.split(".")[0], exc.name)
            raise ConfigError(
                f"{scheme}:// needs the Python package {package!r}, which is not installed",
                hint=f"pip install {package}",
            ) from exc
        raise
    cls: type[Adapter] = getattr(module, class_name)
    return cls
