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
    │   └── TransferCut                            (a cut stream: retried)
    ├── UnsupportedOperation                   8   (NotImplementedError)
    ├── CertificateExpiring                    9   (--warn-days)
    ├── LocalError                             1   (OSError)
    │   ├── LocalFileNotFound                      (FileNotFoundError)
    │   └── LocalDiskFull
    ├── FilesFailed                 the first failure's code (a batch: what moved, what failed)
    └── Interrupted                          130

    KeyboardInterrupt
    └── BatchInterrupted            Ctrl-C stopped a batch after files had moved (what moved, what failed)
"""

from __future__ import annotations

import enum
import errno
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

if TYPE_CHECKING:  # annotations only: nothing to install at run time
    from .types import TransferResult

    if sys.version_info >= (3, 11):
        from typing import Self, Unpack
    else:
        from typing_extensions import Self, Unpack

__all__ = [
    "AuthenticationFailed",
    "BatchInterrupted",
    "CertificateExpiring",
    "ClientCertificateRejected",
    "ClientCertificateRequired",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionDropped",
    "DeliveryUnknown",
    "ErrorFields",
    "ExitCode",
    "FilesFailed",
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
    "ProxyDenied",
    "ProxyRefused",
    "RemoteError",
    "RemoteExists",
    "RemoteFolderNotEmpty",
    "RemoteIsFolder",
    "RemoteLocked",
    "RemoteNotDone",
    "RemoteNotFound",
    "RemotePermissionDenied",
    "RemoteStorageFull",
    "SecretError",
    "ServerCertificateUntrusted",
    "ServerError",
    "TLSError",
    "TLSVersionMismatch",
    "TransferCut",
    "UnsupportedOperation",
    "UsageError",
    "XferError",
    "folder_missing",
    "folder_needs_recursive",
    "listing_too_large",
    "source_kept",
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
    #: ``--warn-days N``: a certificate (ours or the server's) expires within N days.
    EXPIRING = 9
    INTERRUPTED = 130


class ErrorFields(TypedDict, total=False):
    """The structured fields of :class:`XferError`, to pass the same ones to several constructors."""

    server: str | None
    path: str | None
    status: int | None
    reply_code: int | None
    attempt: int | None
    retry_after: float | None


class XferError(Exception):
    """Base of every xfer error: a message a user can act on, and an optional hint.

    ``hint`` speaks to whoever called: in the library it names parameters
    (``recursive=True``).  ``cli_hint``, when the advice differs on the command line
    (``xfer rm -r``), is what the CLI shows instead.

    A program reads the facts from fields rather than the wording (like httpx's
    ``.request``/``.response``); each is None where it does not apply or is not known:

    * ``server``: ``host:port`` the error came from (never a user name or password);
    * ``path``: the remote or local path the message names;
    * ``status``: the HTTP status code (HTTPS, WebDAV, AS2);
    * ``reply_code``: the FTP reply code (FTPS), e.g. ``550``;
    * ``attempt``: which try failed, counting from 1, once an operation is retried;
    * ``retry_after``: seconds the server asked us to wait before trying again (HTTP ``Retry-After``).

    An error is built complete: to add to one, build another with :meth:`copy_with`.
    """

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        cli_hint: str | None = None,
        server: str | None = None,
        path: str | None = None,
        status: int | None = None,
        reply_code: int | None = None,
        attempt: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.cli_hint = cli_hint
        self.server = server
        self.path = path
        self.status = status
        self.reply_code = reply_code
        self.attempt = attempt
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        # Only what the constructor was given: messages never quote a secret (adapters take
        # passwords out of replies before quoting them), and the fields hold none.
        fields = ", ".join(f"{name}={value!r}" for name, value in self.fields().items() if value is not None)
        return f"{type(self).__name__}({self.message!r}{', ' if fields else ''}{fields})"

    def fields(self) -> dict[str, str | int | float | None]:
        """The structured facts (``server``, ``path``, ``status``, ``reply_code``, ``attempt``, ``retry_after``)."""
        return {
            "server": self.server,
            "path": self.path,
            "status": self.status,
            "reply_code": self.reply_code,
            "attempt": self.attempt,
            "retry_after": self.retry_after,
        }

    def copy_with(self, message: str | None = None, *, hint: str | None = None, **fields: Unpack[ErrorFields]) -> Self:
        """A new error of the same class: this one's message, hint and fields, with the given ones instead.

        Raise it ``from`` this one.  ``cli_hint`` is kept only when the hint is unchanged
        (a CLI wording of the old advice would contradict the new).
        """
        given = cast(ErrorFields, self.fields())  # the same keys: one list of them, in fields()
        given.update(fields)
        return type(self)(
            self.message if message is None else message,
            hint=self.hint if hint is None else hint,
            cli_hint=self.cli_hint if hint is None else None,
            **given,
        )


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


class DeliveryUnknown(ConnectionDropped):
    """The connection broke after an upload's move into place was sent, before its answer, and
    what the server shows now neither proves the move nor rules it out (the file was taken or
    replaced since): never sent again, which could deliver it twice.  Not retried."""


class ProxyRefused(ConnectError):
    """The proxy answered, but would not (or could not) open the tunnel to the server."""


class ProxyDenied(ProxyRefused):
    """The proxy's rules, or its login, refuse the tunnel (a 4xx to ``CONNECT``, a SOCKS rule or
    method refusal): asking again cannot help, so it is not retried."""


class RemoteError(XferError):
    """The server refused or failed an operation."""

    exit_code = ExitCode.REMOTE


class RemoteNotDone(RemoteError):
    """The server took the request and answered that it is not done yet (HTTP ``202 Accepted``):
    never sent again by the same run (the server has it), said, and left to the user to look at."""


class RemoteNotFound(RemoteError, FileNotFoundError):
    """The remote file or folder does not exist."""

    #: Whether the server said so of the name itself (a 404, ENOENT, FTP "no such file"); False
    #: where "not there" is the word of a listing, or a refusal in other words read as absence
    #: (FTP ``550 Permission denied`` to MLST).  ``sync --delete`` down deletes on the first only.
    stated: bool = True

    def copy_with(self, message: str | None = None, *, hint: str | None = None, **fields: Unpack[ErrorFields]) -> Self:
        # (A retry renumbers the error it raises, a backslash in the name adds a hint: "not
        # stated" read as stated deleted the local copy: review of 15ffd9e, findings 1 and 2.)
        copy = super().copy_with(message, hint=hint, **fields)
        copy.stated = self.stated
        return copy


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


class RemoteFolderNotEmpty(RemoteError, OSError):
    """A folder to remove (``rmdir``) still holds entries.

    An :class:`OSError` with ``errno`` ``ENOTEMPTY``, as ``os.rmdir`` raises (Python has no
    subclass for it): fsspec callers catch ``OSError`` whatever the protocol.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        # Set while the error is built (never edited afterwards): what os.rmdir's error carries.
        self.errno = errno.ENOTEMPTY
        self.strerror = os.strerror(errno.ENOTEMPTY)
        self.filename = self.path

    @classmethod
    def refused(cls, *, said: str = "", entries: int | None = None, **fields: Unpack[ErrorFields]) -> Self:
        """The one wording of this error, for every protocol.

        ``entries`` None: the server said the folder is not empty (or xfer saw its members), and
        the hint is ``rm -r``.  A count: the server refused without a reason and the folder lists
        that many entries; a full folder is then only the likely cause (vsftpd gives the same
        reply for a parent it may not write), so no ``rm -r`` hint that would delete every file
        and fail anyway.
        """
        server, path = fields.get("server"), fields.get("path")
        where = f" {path}" if path else ""
        tail = f" {said}" if said else ""
        if entries is None:
            return cls(f"{server}: folder{where} is not empty{tail}", hint="remove it with its contents: xfer rm -r",
                       **fields)
        return cls(f"{server}: removing the folder{where} was refused; the folder holds {entries} "
                   f"entr{'y' if entries == 1 else 'ies'} (it may also be protected){tail}", **fields)


class ListingTooLarge(RemoteError):
    """A folder listing is larger than ``max_listing`` allows; xfer stopped reading it."""


class IntegrityError(XferError):
    """Sizes, checksums or an AS2 MIC do not match: the data cannot be trusted."""

    exit_code = ExitCode.INTEGRITY


class TransferCut(IntegrityError):
    """A data stream ended before its proven end (no close_notify, short of its length): the
    connection was cut.  Nothing wrong was *stored*, so another try can fix it (see :mod:`xfer.retry`)."""


class UnsupportedOperation(XferError, NotImplementedError):
    """The protocol or server cannot do this operation."""

    exit_code = ExitCode.UNSUPPORTED


class CertificateExpiring(XferError):
    """A certificate expires within the ``--warn-days`` the caller gave (for monitoring)."""

    exit_code = ExitCode.EXPIRING


class LocalError(XferError, OSError):
    """A local file cannot be read or written."""


class LocalFileNotFound(LocalError, FileNotFoundError):
    """The local file does not exist."""


class LocalDiskFull(LocalError):
    """The local disk is full: the download was removed, the old file kept."""


def listing_too_large(server: str, path: str, limit: int) -> ListingTooLarge:
    """A listing passed ``max_listing`` bytes: one wording for every protocol."""
    size = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit} bytes"
    return ListingTooLarge(
        f"{server}: the listing of {path} is larger than {size} (max_listing); xfer stopped reading it",
        hint="if the folder really is that large, raise the limit with --max-listing MIB "
        "(max_listing in the profile)",
        server=server, path=path,
    )


def source_kept(source: str, why: str) -> IntegrityError:
    """``--remove-source-files`` kept ``source``: its copy is not proven, or the source changed.
    One wording for uploads and downloads, whichever side asked."""
    return IntegrityError(f"kept the source {source}: {why}", hint="run the command again")


def folder_missing(server: str, folder: str, detail: str, /, **facts: Unpack[ErrorFields]) -> RemoteNotFound:
    """A move or upload failed because the destination's ``folder`` does not exist.

    One wording for every protocol, so that the user looks at the folder (not at the
    source, which is there): ``detail`` is what the server said.  The hint names
    ``xfer mkdir``, which creates missing parents too.
    """
    return RemoteNotFound(
        f"{server}: the folder {folder} does not exist ({detail})",
        hint="create it first with xfer mkdir (missing parents are created too)",
        **facts,
    )


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


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (in the console script, SIGTERM, SIGHUP and SIGQUIT too) stopped a batch after files
    had settled: :attr:`results` holds what moved (their sources may now be removed, their
    results reported), :attr:`failures` each file's own failure before it, in the order of the files.

    Still a :class:`KeyboardInterrupt`, not an :class:`XferError`: a caller's ``except XferError``
    (or ``except Exception``) around a batch must not swallow the user's Ctrl-C, and one that
    catches ``KeyboardInterrupt`` catches this too.  A batch interrupted before anything settled
    raises the plain ``KeyboardInterrupt``.
    """

    def __init__(self, results: Sequence[TransferResult] = (), failures: Sequence[XferError] = ()) -> None:
        super().__init__()
        self.results = list(results)
        self.failures = list(failures)


class FilesFailed(XferError):
    """Files of a batch (``put``/``get`` of several files, ``-r``, a glob, ``sync``) failed: :attr:`results`
    holds what moved (their sources may now be removed, their results reported), :attr:`failures`
    each failure: the one that stopped the batch first, if one did, then each file's own, in the
    order of the files.

    The message, hint, fields and exit code are the first failure's (a script reads the same
    code as for that file alone), with a count of what else happened.  A batch of one file,
    and a batch stopped before anything settled, raise that error itself.
    """

    def __init__(
        self, message: str, *, results: Sequence[TransferResult] = (), failures: Sequence[XferError] = (),
        exit_code: ExitCode = ExitCode.ERROR, **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.results = list(results)
        self.failures = list(failures)
        self.exit_code = exit_code

    @classmethod
    def of(cls, failures: Sequence[XferError], results: Sequence[TransferResult], *, stopped: bool = False) -> Self:
        """The error for ``failures`` (the first one leads) after ``results`` moved; ``stopped``:
        the first failure stopped the batch (files after it were not tried)."""
        first = failures[0]
        more = [f"{len(failures) - 1} more file(s) failed"] if len(failures) > 1 else []
        if results:
            more.append(f"{len(results)} file(s) were moved{' before it' if stopped else ''}")
        note = f" ({'; '.join(more)})" if more else ""
        return cls(first.message + note, results=results, failures=failures, exit_code=first.exit_code,
                   hint=first.hint, cli_hint=first.cli_hint, **first.fields())

    def copy_with(self, message: str | None = None, *, hint: str | None = None, **fields: Unpack[ErrorFields]) -> Self:
        copy = super().copy_with(message, hint=hint, **fields)
        copy.results, copy.failures, copy.exit_code = self.results, self.failures, self.exit_code
        return copy
