"""xfer: secure file transfer with TLS client certificates (HTTPS, FTPS, WebDAV, AS2).

::

    import xfer
    with xfer.connect("partner") as remote:
        remote.put_file("invoice.edi", "/inbox/invoice.edi")

The exceptions are importable from here directly; everything else is imported on
first use, so ``import xfer`` (and ``xfer --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AuthenticationFailed,
    BatchInterrupted,
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConfigError,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    DeliveryUnknown,
    ExitCode,
    FilesFailed,
    HostnameMismatch,
    IdentityError,
    IdentityExpired,
    IdentityFileError,
    IdentityFormatError,
    IdentityKeyMissing,
    IdentityPasswordError,
    InsecureSchemeRefused,
    IntegrityError,
    Interrupted,
    ListingTooLarge,
    LocalDiskFull,
    LocalError,
    LocalFileNotFound,
    PinMismatch,
    RemoteError,
    RemoteExists,
    RemoteIsFolder,
    RemoteLocked,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    SecretError,
    ServerCertificateUntrusted,
    ServerError,
    TLSError,
    TLSVersionMismatch,
    UnsupportedOperation,
    UsageError,
    XferError,
)

if TYPE_CHECKING:
    from .adapters.base import Adapter
    from .client import connect, get, put
    from .identity import Identity
    from .profiles import Profile, load_profile
    from .secrets import Secret
    from .tls import create_ssl_context
    from .types import Capability, Entry, TransferResult

_LAZY = {
    "connect": "xfer.client",
    "put": "xfer.client",
    "get": "xfer.client",
    "Profile": "xfer.profiles",
    "load_profile": "xfer.profiles",
    "Identity": "xfer.identity",
    "Secret": "xfer.secrets",
    "create_ssl_context": "xfer.tls",
    "Adapter": "xfer.adapters.base",
    "Capability": "xfer.types",
    "Entry": "xfer.types",
    "TransferResult": "xfer.types",
}

__all__ = [
    "Adapter",
    "AuthenticationFailed",
    "BatchInterrupted",
    "Capability",
    "ClientCertificateRejected",
    "ClientCertificateRequired",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionDropped",
    "DeliveryUnknown",
    "Entry",
    "ExitCode",
    "FilesFailed",
    "HostnameMismatch",
    "Identity",
    "IdentityError",
    "IdentityExpired",
    "IdentityFileError",
    "IdentityFormatError",
    "IdentityKeyMissing",
    "IdentityPasswordError",
    "InsecureSchemeRefused",
    "IntegrityError",
    "Interrupted",
    "ListingTooLarge",
    "LocalDiskFull",
    "LocalError",
    "LocalFileNotFound",
    "PinMismatch",
    "Profile",
    "RemoteError",
    "RemoteExists",
    "RemoteIsFolder",
    "RemoteLocked",
    "RemoteNotFound",
    "RemotePermissionDenied",
    "RemoteStorageFull",
    "Secret",
    "SecretError",
    "ServerCertificateUntrusted",
    "ServerError",
    "TLSError",
    "TLSVersionMismatch",
    "TransferResult",
    "UnsupportedOperation",
    "UsageError",
    "XferError",
    "__version__",
    "connect",
    "create_ssl_context",
    "get",
    "load_profile",
    "put",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one source of truth: the installed package's metadata
        from importlib.metadata import version

        return version("xfer")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xfer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
