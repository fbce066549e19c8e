"""Every error xfer raises, and the exit code each one maps to.

Adapters translate library exceptions (ssl, ftplib, requests, ...) into this
tree at their boundary, most specific first, with ``raise ... from exc``.
The CLI turns any :class:`XferError` into one ``xfer: error:`` line (plus an
optional ``hint:``) and ``exit_code``.  Builtins are mixed in where callers
would reasonably catch them (``except FileNotFoundError`` catches
:class:`RemoteNotFound` and :class:`LocalFileNotFound`).

::

    XferError                                  1
    ├── UsageError                             2
    ├── ConfigError                            3
    │   └── SecretError
    ├── IdentityError                          4
    │   ├── IdentityFileError       (OSError)
    │   ├── IdentityPasswordError
    │   ├── IdentityFormatError
    │   ├── IdentityKeyMissing
    │   └── IdentityExpired
    ├── TLSError                               4
    │   ├── ClientCertificateRequired
    │   ├── ClientCertificateRejected
    │   ├── ServerCertificateUntrusted
    │   ├── HostnameMismatch
    │   ├── PinMismatch
    │   ├── TLSVersionMismatch
    │   └── InsecureSchemeRefused
    ├── ConnectError                           5   (ConnectionError)
    │   ├── ConnectTimeout                         (TimeoutError)
    │   └── ConnectionDropped
    ├── RemoteError                            6
    │   ├── RemoteNotFound                         (FileNotFoundError)
    │   ├── RemotePermissionDenied                 (PermissionError)
    │   ├── AuthenticationFailed                   (PermissionError)
    │   ├── RemoteExists                           (FileExistsError)
    │   ├── RemoteIsFolder                         (IsADirectoryError)
    │   ├── RemoteStorageFull
    │   ├── RemoteLocked
    │   ├── ListingTooLarge
    │   └── ServerError
    ├── IntegrityError                         7
    ├── UnsupportedOperation                   8   (NotImplementedError)
    ├── LocalError                             1   (OSError)
    │   ├── LocalFileNotFound                      (FileNotFoundError)
    │   └── LocalDiskFull
    └── Interrupted                          130
"""

from __future__ import annotations

import enum

__all__ = [
    "AuthenticationFailed",
    "ClientCertificateRejected",
    "ClientCertificateRequired",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionDropped",
    "ExitCode",
    "HostnameMismatch",
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
    "RemoteError",
    "RemoteExists",
    "RemoteIsFolder",
    "RemoteLocked",
    "RemoteNotFound",
    "RemotePermissionDenied",
    "RemoteStorageFull",
    "SecretError",
    "ServerCertificateUntrusted",
    "ServerError",
    "TLSError",
    "TLSVersionMismatch",
    "UnsupportedOperation",
    "UsageError",
    "XferError",
    "folder_needs_recursive",
]


class ExitCode(enum.IntEnum):
    """Process exit codes; part of the CLI contract scripts rely on."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    TLS = 4
    CONNECT = 5
    REMOTE = 6
    INTEGRITY = 7
    UNSUPPORTED = 8
    INTERRUPTED = 130


class XferError(Exception):
    """Base of every xfer error: a message a user can act on, and an optional hint.

    ``hint`` speaks to whoever called: in the library it names parameters
    (``recursive=True``).  ``cli_hint``, when the advice differs on the command line
    (``xfer rm -r``), is what the CLI shows instead.
    """

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None, cli_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.cli_hint = cli_hint

    def __str__(self) -> str:
        return self.message


class UsageError(XferError):
    """The command line or the API call itself is wrong."""

    exit_code = ExitCode.USAGE


class ConfigError(XferError):
    """A profile, option or configuration file is invalid or missing."""

    exit_code = ExitCode.CONFIG


class SecretError(ConfigError):
    """A secret reference cannot be resolved (unset variable, no keyring, no terminal)."""


class IdentityError(XferError):
    """The PKCS#12 client identity cannot be used."""

    exit_code = ExitCode.TLS


class IdentityFileError(IdentityError, OSError):
    """The identity file is missing or unreadable."""


class IdentityPasswordError(IdentityError):
    """The identity password is wrong (or one is needed and none was given)."""


class IdentityFormatError(IdentityError):
    """The file is not a PKCS#12 bundle, or it is damaged."""


class IdentityKeyMissing(IdentityError):
    """The PKCS#12 bundle holds no private key or no certificate."""


class IdentityExpired(IdentityError):
    """The client certificate is expired or not yet valid."""


class TLSError(XferError):
    """The TLS handshake or the certificate checks failed."""

    exit_code = ExitCode.TLS


class ClientCertificateRequired(TLSError):
    """The server requires a client certificate and none was presented."""


class ClientCertificateRejected(TLSError):
    """The server rejected the client certificate we presented."""


class ServerCertificateUntrusted(TLSError):
    """We do not trust the server's certificate (unknown CA, expired, self-signed)."""


class HostnameMismatch(TLSError):
    """The server's certificate is not valid for the host name we connected to."""


class PinMismatch(TLSError):
    """The server's certificate does not match the pinned SHA-256 fingerprint."""


class TLSVersionMismatch(TLSError):
    """Client and server share no TLS version or cipher."""


class InsecureSchemeRefused(TLSError):
    """A clear-text protocol was asked for, or the server would not switch to TLS."""


class ConnectError(XferError, ConnectionError):
    """The server cannot be reached, or the connection broke."""

    exit_code = ExitCode.CONNECT


class ConnectTimeout(ConnectError, TimeoutError):
    """Connecting or waiting for the server took longer than the timeout."""


class ConnectionDropped(ConnectError):
    """The connection was closed by the peer or the network in the middle of an operation."""


class RemoteError(XferError):
    """The server refused or failed an operation."""

    exit_code = ExitCode.REMOTE


class RemoteNotFound(RemoteError, FileNotFoundError):
    """The remote file or folder does not exist."""


class RemotePermissionDenied(RemoteError, PermissionError):
    """The server denied access to the remote path."""


class AuthenticationFailed(RemoteError, PermissionError):
    """The server refused the user name / password login."""


class RemoteExists(RemoteError, FileExistsError):
    """The remote path already exists and overwriting was not allowed."""


class RemoteStorageFull(RemoteError):
    """The server has no space (or quota) left for the upload."""


class RemoteLocked(RemoteError):
    """The remote resource is locked by someone else."""


class ServerError(RemoteError):
    """The server failed with an internal error."""


class RemoteIsFolder(RemoteError, IsADirectoryError):
    """A file operation named a folder (``get`` without ``-r``, a file moved over a folder)."""


class ListingTooLarge(RemoteError):
    """A folder listing is larger than ``max_listing`` allows; xfer stopped reading it."""


class IntegrityError(XferError):
    """Sizes, checksums or an AS2 MIC do not match: the data cannot be trusted."""

    exit_code = ExitCode.INTEGRITY


class UnsupportedOperation(XferError, NotImplementedError):
    """The protocol or server cannot do this operation."""

    exit_code = ExitCode.UNSUPPORTED


class LocalError(XferError, OSError):
    """A local file cannot be read or written."""


class LocalFileNotFound(LocalError, FileNotFoundError):
    """The local file does not exist."""


class LocalDiskFull(LocalError):
    """The local disk is full: the download was removed, the old file kept."""


def folder_needs_recursive(message: str) -> RemoteIsFolder:
    """``rm`` named a folder without ``recursive``: one wording for every protocol.

    The hint names the parameter for library callers; the CLI shows its ``-r`` flag.
    """
    return RemoteIsFolder(
        message,
        hint="pass recursive=True to remove it with everything in it",
        cli_hint="remove it with everything in it: xfer rm -r",
    )


class Interrupted(XferError):
    """The user interrupted the operation (Ctrl-C)."""

    exit_code = ExitCode.INTERRUPTED
