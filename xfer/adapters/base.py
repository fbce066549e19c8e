"""The adapter contract: what every protocol offers, and what is derived once for all.

An adapter implements a few primitives (``_ls``, ``_get_file``, ``_put_file``, ...)
on absolute server paths and declares them in ``capabilities``.  The public verbs
here take paths *under the connection's root* (the path part of the profile URL),
refuse undeclared operations with :class:`~xfer.errors.UnsupportedOperation`, and
derive ``info``/``exists`` where an adapter has no cheaper way.

Every adapter is a context manager; ``close()`` is idempotent and nothing relies
on ``__del__``.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import ssl
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, TypeVar

from .. import registry
from ..batch import CallbackFactory, get_files, put_files
from ..errors import (
    IntegrityError,
    RemoteExists,
    RemoteIsFolder,
    RemoteNotFound,
    UnsupportedOperation,
    UsageError,
    XferError,
    source_kept,
)
from ..options import DEFAULT_MAX_DEPTH
from ..protocols.spec import ProtocolOptions
from ..retry import NOTHING_SAVED, RetryPolicy, current_attempt, own_failure
from ..streams import SinkFactory, StreamSink
from ..throttle import TokenBucket

# The plain types live at the bottom (xfer.types) so the transfer code and the HTTP session
# need not import the adapters; re-exported here, where every adapter imports them from.
from ..types import (
    Capability,
    Entry,
    EntryType,
    Landed,
    ListedPath,
    ProgressCallback,
    ServerPath,
    Source,
    SourceVersion,
    TransferResult,
)
from ..urls import check_remote_path
from .writer import RemoteWriter

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Self
    else:
        from typing_extensions import Self

    from ..identity import Identity
    from ..verify import ServerHash

__all__ = [
    "Adapter",
    "Capability",
    "ConnectionSettings",
    "Entry",
    "EntryType",
    "Landed",
    "ListedPath",
    "ProgressCallback",
    "RemoteWriter",
    "ServerPath",
    "Source",
    "SourceVersion",
    "TLSSettings",
    "TransferResult",
]

#: Which primitive implements each capability (checked by the contract tests).
PRIMITIVES: Mapping[Capability, str] = {
    Capability.LS: "_ls",
    Capability.INFO: "_info",
    Capability.GET: "_get_file",
    Capability.PUT: "_put_file",
    Capability.MKDIR: "_mkdir",
    Capability.RM: "_rm",
    Capability.RMDIR: "_rmdir",
    Capability.MV: "_mv",
    Capability.SET_MODIFIED: "_set_modified",
    Capability.OPEN_WRITE: "_open_write",
}


@dataclass(frozen=True)
class TLSSettings:
    """How a TLS protocol secures its connection: the context from the one factory, and the identity in it."""

    context: ssl.SSLContext
    identity: Identity | None = field(default=None, repr=False)


@dataclass(frozen=True, init=False)
class ConnectionSettings:
    """Everything an adapter needs, resolved: no secret references, no profile lookups left.

    ``options`` is the protocol's typed settings (:class:`~xfer.protocols.https.HTTPSOptions`...),
    parsed once: from a profile by :func:`xfer.connect`, or here from a plain mapping a library
    caller passes (checked against the protocol's declarations).  ``tls`` is None for a
    protocol that does not use TLS.  ``password`` is the resolved secret and never shown in repr.
    """

    scheme: str
    host: str
    port: int
    root: str
    tls: TLSSettings | None
    username: str | None
    password: str | None = field(repr=False)
    timeout: float
    #: Bytes of one listing (index page, PROPFIND body, MLSD) read before :class:`ListingTooLarge`.
    max_listing: int
    #: Tries after a transient failure, the base wait before the first (seconds), and
    #: whether a failed download keeps its part file to continue later (:mod:`xfer.retry`).
    retries: int
    retry_wait: float
    resume: bool
    #: ``--checksum``: a transfer the server offers no hash for is an :class:`IntegrityError`.
    checksum: bool
    #: Compute each transfer's SHA-256 for its result even where the server compares none (the
    #: library's default); False when nothing reads it (the CLI without ``--json``): then it is
    #: computed only where the server compares it or the hash must be known before the server
    #: answers (an HTTP PUT), and ``TransferResult.sha256`` is None.  See :class:`~xfer.verify.StreamHash`.
    sha256: bool
    #: ``--limit-rate``: the one token bucket of every connection opened from these settings.
    throttle: TokenBucket | None
    options: ProtocolOptions
    profile_name: str | None
    #: The ``proxy`` option as given (a URL or ``"direct"``); None: the environment decides (:mod:`xfer.net`).
    proxy: str | None

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        root: str,
        ssl_context: ssl.SSLContext | None = None,
        *,
        tls: TLSSettings | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        max_listing: int = 64 * 2**20,
        retries: int = 3,
        retry_wait: float = 1.0,
        resume: bool = False,
        options: ProtocolOptions | Mapping[str, Any] | None = None,
        identity: Identity | None = None,
        profile_name: str | None = None,
        proxy: str | None = None,
        checksum: bool = False,
        sha256: bool = True,
        limit_rate: int | None = None,
        throttle: TokenBucket | None = None,
    ) -> None:
        # ``ssl_context``/``identity`` are the short spelling of ``tls`` for hand-built settings.
        if ssl_context is not None:
            if tls is not None:
                raise TypeError("pass tls or ssl_context, not both")
            tls = TLSSettings(ssl_context, identity)
        if not isinstance(options, ProtocolOptions):
            options = _parse_options(scheme, options or {})
        for name, value in (("scheme", scheme), ("host", host), ("port", port), ("root", root), ("tls", tls),
                            ("username", username), ("password", password), ("timeout", timeout),
                            ("max_listing", max_listing), ("retries", retries), ("retry_wait", retry_wait),
                            ("resume", resume), ("options", options), ("profile_name", profile_name),
                            ("proxy", proxy), ("sha256", sha256)):
            object.__setattr__(self, name, value)  # frozen: the one place the fields are set
        # Parallel workers of a run open adapters from these same settings: one bucket for all.
        # ``throttle`` passes a bucket on (dataclasses.replace of these settings keeps sharing it);
        # ``limit_rate`` (bytes per second) makes a new one.
        if throttle is not None and limit_rate is not None:
            raise TypeError("pass limit_rate or throttle, not both")
        object.__setattr__(self, "checksum", checksum)
        object.__setattr__(self, "throttle", throttle or (TokenBucket(limit_rate) if limit_rate else None))

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of a TLS protocol; :class:`UsageError` if these settings carry none."""
        if self.tls is None:
            raise UsageError(f"{self.scheme}:// settings without TLS have no TLS context")
        return self.tls.context

    @property
    def identity(self) -> Identity | None:
        """The client identity presented in the TLS handshake, if any."""
        return self.tls.identity if self.tls is not None else None

    def options_as(self, kind: type[_O]) -> _O:
        """``options``, as the adapter's own typed settings (a TypeError for another protocol's)."""
        if not isinstance(self.options, kind):
            raise TypeError(f"{self.scheme}:// settings hold {type(self.options).__name__}, not {kind.__name__}")
        return self.options

    @property
    def server(self) -> str:
        """``host:port`` as users know it, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


_O = TypeVar("_O", bound=ProtocolOptions)
_R = TypeVar("_R")


def _parse_options(scheme: str, mapping: Mapping[str, Any]) -> ProtocolOptions:
    spec = registry.spec_for_scheme(scheme)
    if spec is None:
        if mapping:
            raise UsageError(f"{scheme}:// is no registered protocol; its options cannot be read")
        return ProtocolOptions()
    return spec.parse_options(mapping)


class Adapter:
    """Base of every protocol adapter.  Subclasses set the class variables and primitives."""

    # Schemes and default ports are not declared here: the protocol spec (xfer/protocols/)
    # names them and the adapter class that serves each (see xfer.registry).
    #: The operations this adapter implements (each backed by its primitive).
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: How messages name this kind of connection; default ``scheme://``.
    label: ClassVar[str | None] = None
    #: Whether a listing always shows names that start with ``.`` (see :attr:`lists_dotfiles`).
    LISTS_DOTFILES: ClassVar[bool] = False
    #: Whether a listing shows names holding control characters (a tab, a bell: bytes below
    #: 0x20 and DEL) as they are.  FTP's may not: pure-ftpd leaves them out of LIST and MLSD
    #: without a word (ls.c, ``checkprintable``), vsftpd prints ``?`` in their place; there such
    #: a local name the listing did not show is asked about on its own, as a hidden dot name is.
    LISTS_CONTROL_NAMES: ClassVar[bool] = True  # (the characters: xfer.types.CONTROL_CHARACTER)
    #: Files of at most this many bytes may be uploaded or downloaded several at a time
    #: (:meth:`put_together`, :meth:`get_together`): 0, never.  At most :attr:`together_files` of
    #: them, :attr:`together_bytes` in all, at a time.
    together_max_size: ClassVar[int] = 0
    together_files: ClassVar[int] = 1
    together_bytes: ClassVar[int] = 0
    #: A file's size in :meth:`ls` is the server's account of the file itself, as :meth:`info`
    #: would give it (an FTP listing, a PROPFIND, an SFTP directory read); False where a listing
    #: is a page written for people (an HTTPS index: rounded, or generated before the file changed).
    listed_sizes_exact: ClassVar[bool] = True
    #: Paths travel in URLs (HTTPS, WebDAV), so only UTF-8 names can be sent (:func:`xfer.urls.is_utf8`):
    #: ``put -r`` and ``sync`` pass over a local file whose name is not, ``put`` of it fails alone.
    #: False where the protocol sends a name's bytes as they are (FTP, SFTP).
    paths_in_urls: ClassVar[bool] = False

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._closed = False
        #: How transient failures are retried (from the settings; tests may replace it).
        self.retry_policy = RetryPolicy(retries=settings.retries, wait=settings.retry_wait, resume=settings.resume)

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- many files ----------------------------------------------------------

    def put(
        self,
        sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        destination: str,
        *,
        recursive: bool = False,
        parallel: int = 1,
        callbacks: CallbackFactory | None = None,
        reconnect: Callable[[], Adapter] | None = None,
    ) -> list[TransferResult]:
        """Upload local files (and with ``recursive`` folders) to ``destination``; one result per file.

        ``destination`` ending in ``/``, naming an existing remote folder, or given
        several sources, is a folder to upload *into*; otherwise it is the file name.
        A missing remote folder is created.  With ``parallel > 1`` files move over up
        to that many connections at once (``reconnect`` opens one; by default another
        adapter from these settings).  ``callbacks(local, remote, size)`` gives each
        file's progress callback.

        A file the server refuses fails alone and the others still move; then, as when a
        failure of the connection stops the batch after files moved,
        :class:`~xfer.errors.FilesFailed` holds what moved and what failed
        (:func:`xfer.batch.run_tasks`).  One file raises its own error.
        """
        listed = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
        return put_files(self, listed, destination, recursive=recursive, callbacks=callbacks, parallel=parallel,
                         reconnect=reconnect)

    def get(
        self,
        sources: str | Entry | Sequence[str | Entry],
        destination: str | os.PathLike[str],
        *,
        recursive: bool = False,
        parallel: int = 1,
        callbacks: CallbackFactory | None = None,
        reconnect: Callable[[], Adapter] | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> list[TransferResult]:
        """Download remote files (and with ``recursive`` folders) to ``destination``; one result per file.

        ``destination`` that is an existing folder, ends in a path separator, or is
        given several sources, is a folder to download *into*.  A folder is walked at
        most ``max_depth`` levels deep; the whole tree is listed before any local folder
        is made, so a refused tree leaves nothing behind.  ``parallel``, ``callbacks``
        and ``reconnect`` as for :meth:`put`, and failures as there.  A source may be an
        :class:`Entry` from a listing (its type is then not asked for again).
        """
        listed = [sources] if isinstance(sources, str | Entry) else list(sources)
        return get_files(self, listed, destination, recursive=recursive, callbacks=callbacks, parallel=parallel,
                         reconnect=reconnect, max_depth=max_depth)

    def close(self) -> None:
        """Release connections.  Safe to call any number of times."""
        if not self._closed:
            self._closed = True
            self._close()

    def _close(self) -> None:
        """Subclasses release their connections here (called once)."""

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings.scheme}://{self.settings.server}{self.settings.root})"

    # -- paths ---------------------------------------------------------------

    def remote_path(self, path: str) -> ServerPath:
        """The absolute server path for a path under the root (``..`` cannot escape it).

        A backslash is refused as on the command line (:func:`xfer.urls.check_remote_path`),
        except in a :class:`~xfer.types.ListedPath` (names read from a listing).
        """
        if "\x00" in path or "\n" in path or "\r" in path:
            raise UsageError(f"remote path {path!r} contains a control character")
        if not isinstance(path, ListedPath):  # a listed name may hold one; a typed path may not
            check_remote_path(path)
        joined = posixpath.normpath(posixpath.join("/", path.lstrip("/")))
        root = self.settings.root.rstrip("/")
        return ServerPath((root + joined) if joined != "/" else (root or "/"))

    def user_path(self, server_path: str) -> str:
        """Inverse of :meth:`remote_path`, for the ``path`` of returned entries and results.

        Its argument is a server path, never a user path: what the public verbs return
        (``Entry.path``, ``TransferResult.remote``) is already converted, and converting
        again strips a leading folder named like the root.
        """
        root = self.settings.root.rstrip("/")
        if root and (server_path == root or server_path.startswith(root + "/")):
            server_path = server_path[len(root) :] or "/"
        return server_path if server_path.startswith("/") else "/" + server_path

    def _entry(self, entry: Entry) -> Entry:
        # replace(), not a new Entry: every other field (how coarse the time is, whether its zone
        # is known) is the listing's and must reach the caller (sync compares by them).
        return replace(entry, path=ListedPath(self.user_path(entry.path)))

    def _require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            label = self.label or f"{self.settings.scheme}://"
            raise UnsupportedOperation(
                f"{label} does not support {capability.verb}",
                hint=self._unsupported_hint(capability),
            )
        if self._closed:
            raise UsageError(f"{self!r} is closed")

    def connection_facts(self) -> dict[str, Any]:
        """What setting up this connection established that the TLS probe cannot show (SSH: the
        host key and how it was trusted, the login method); ``xfer profile test`` prints it."""
        return {}

    def _unsupported_hint(self, capability: Capability) -> str | None:
        """Adapters may point to a protocol that can (``davs://`` for mkdir over HTTPS)."""
        return None

    # -- public verbs ----------------------------------------------------------

    def ls(self, path: str = "/") -> list[Entry]:
        """The entries of a folder (or the one entry of a file), sorted by name."""
        self._require(Capability.LS)
        target = self.remote_path(path)
        # A copy of the list to empty (a primitive may keep its own); its entries stay shared.
        entries, _ = self._retrying(lambda: self._entries(list(self._ls(target))))
        entries.sort(key=lambda e: e.name)
        return entries

    def _entries(self, listed: list[Entry]) -> list[Entry]:
        """``listed`` (emptied here) as user-path entries.

        Each entry is let go as soon as it is converted: a folder of 100,000 entries
        is not held twice.
        """
        listed.reverse()
        converted: list[Entry] = []
        while listed:
            entry = listed.pop()
            # Whatever a listing parser let through: an entry named "", "." or ".." is the folder
            # or its parent, and its path would lead a glob's rm -r or get -r out of the folder.
            if entry.name not in ("", ".", ".."):
                converted.append(self._entry(entry))
        return converted

    def info(self, path: str) -> Entry:
        """Facts about one path; raises :class:`RemoteNotFound` if it does not exist."""
        target = self.remote_path(path)
        return self._retrying(lambda: self._info_of(target))[0]

    def _info_of(self, target: ServerPath) -> Entry:
        if Capability.INFO in self.capabilities:
            self._require(Capability.INFO)
            return self._entry(self._info(target))
        self._require(Capability.LS)
        # Derived: list the parent and pick the entry.  Costs a listing, works everywhere.
        if target == "/":
            return Entry(name="", path="/", type="directory")
        parent, name = posixpath.split(target)
        for entry in self._ls(ServerPath(parent or "/")):
            if entry.name == name:
                return self._entry(entry)
        missing = RemoteNotFound(f"{self.settings.server}: {target} does not exist")
        missing.stated = False  # (the listing's word)
        raise missing

    def info_each(self, paths: Sequence[str]) -> list[Entry | XferError]:
        """:meth:`info` of each of ``paths``: its entry, or the error that is that path's alone
        (:func:`~xfer.retry.own_failure`: not there, refused, a name that cannot be sent).  A
        failure that is no one path's (the connection, the login, a busy server) is raised.
        One after another here; HTTPS asks with pipelined ``HEAD``\\ s (``sync --delete`` down
        asks about every file it would delete)."""
        found: list[Entry | XferError] = []
        for path in paths:
            try:
                found.append(self.info(path))
            except XferError as failure:
                if not own_failure(failure):
                    raise
                found.append(failure)
        return found

    def is_link(self, path: str) -> bool | None:
        """Whether ``path`` is itself a link (which a listing may show as the folder it points to);
        None if the server cannot tell.  Anything that removes files one by one under a folder
        asks this of each folder first: removing through a link deletes the files it points to.
        By default no: a protocol without links (HTTP, WebDAV)."""
        self.remote_path(path)  # (a path the verbs refuse is refused here too)
        return False

    def exists(self, path: str) -> bool:
        try:
            self.info(path)
        except RemoteNotFound:
            return False
        return True

    def get_file(
        self,
        remote: str,
        local: str | os.PathLike[str],
        *,
        callback: ProgressCallback | None = None,
    ) -> TransferResult:
        """Download ``remote`` to ``local`` atomically (temp name, then rename).

        A transient failure is retried (``retries``), continuing from the bytes already
        received where the server allows (see :mod:`xfer.retry`).
        """
        self._require(Capability.GET)
        path, target = self.remote_path(remote), os.fspath(local)
        return self._transfer(lambda tracked: self._get_file(path, target, tracked), callback)

    def put_file(
        self,
        local: str | os.PathLike[str],
        remote: str,
        *,
        callback: ProgressCallback | None = None,
        preserve_times: bool = False,
    ) -> TransferResult:
        """Upload ``local`` to ``remote``, streaming; replaces an existing remote file.

        A transient failure is retried (``retries``); FTPS continues the temporary file.
        ``preserve_times``: give the remote file the local file's modification time with the
        upload, where the protocol does that within it (SFTP: set on the temporary file before
        the rename, so that, with the default ``upload_temp_name``, the file never appears under
        its name with another time); the result's ``modified`` is the time the server then
        shows, or None.  Elsewhere nothing more is asked of the server: call
        :meth:`set_modified` (as ``xfer sync`` does when ``modified`` is None).
        """
        self._require(Capability.PUT)
        source, path = os.fspath(local), self.remote_path(remote)
        return self._transfer(lambda tracked: self._put_file(source, path, tracked, preserve_times=preserve_times),
                              callback, idempotent=self._idempotent_put(), repeatable=self._repeatable_put())

    def put_together(
        self, files: Sequence[tuple[str | os.PathLike[str], str, ProgressCallback | None]],
        *, landed: Landed | None = None, preserve_times: bool = False,
    ) -> list[TransferResult | None]:
        """Upload small files ``(local, remote, callback)`` several at a time, where the protocol
        can do it in fewer round trips than one by one (HTTP pipelining); see
        :attr:`together_max_size`.  ``preserve_times`` as for :meth:`put_file`.

        Per file its result, or None: not uploaded this way (it may have been sent), to be
        uploaded with :meth:`put_file`, which says what is wrong with it and retries.  Nothing is
        raised for one file's failure; what is raised is a stop (:class:`~xfer.errors.Interrupted`,
        Ctrl-C), after which ``landed`` has been told of every file that arrived (see
        :data:`~xfer.types.Landed`; told of each result returned).  The default moves none.
        """
        return [None] * len(files)

    def moves_together(self, *, upload: bool) -> bool:
        """Whether small files go several at a time in that direction now (:meth:`put_together`,
        :meth:`get_together`): what the batch groups them by.  A group the adapter would then
        move one by one holds up to :attr:`together_files` files on one worker while the others
        have nothing to do.  The default: never."""
        return False

    def get_together(
        self, files: Sequence[tuple[str, str | os.PathLike[str], ProgressCallback | None]],
        *, landed: Landed | None = None, listed: Sequence[int | None] | None = None,
    ) -> list[TransferResult | None]:
        """Download small files ``(remote, local, callback)`` several at a time, as :meth:`put_together`
        uploads them (the sizes a listing showed make them small; ``listed``: those sizes, per file,
        where known: an answer of another size is not taken from the group, the file goes alone).

        Per file its result, or None: not downloaded this way (nothing is left under its local
        name), to be downloaded with :meth:`get_file`, which says what is wrong with it and
        retries.  Nothing is raised for one file's failure; a stop is, with ``landed`` told of
        every file that arrived, as :meth:`put_together`.  The default moves none.
        """
        return [None] * len(files)

    def _transfer(
        self,
        run: Callable[[ProgressCallback], TransferResult],
        callback: ProgressCallback | None,
        *,
        idempotent: bool = True,
        repeatable: bool = True,
    ) -> TransferResult:
        """``run`` (one get or put) under the retry policy; the result says how many tries it took."""
        moved = 0

        def tracked(done: int, total: int | None) -> None:
            nonlocal moved
            moved = done
            if callback is not None:
                callback(done, total)

        def attempt() -> TransferResult:
            nonlocal moved
            moved = 0  # "after N MB" speaks of the try that failed
            return run(tracked)

        result, tries = self._retrying(attempt, idempotent=idempotent, repeatable=repeatable, progress=lambda: moved)
        return self._common(replace(result, attempts=tries))

    def _idempotent_put(self) -> bool:
        """Whether sending the upload twice is harmless (HTTP POST is not: a 500 is then not retried)."""
        return True

    def _repeatable_put(self) -> bool:
        """Whether an upload that may have reached the server can be sent again (a form POST cannot:
        the server may take it twice; an AS2 message can, with its Message-ID: see :mod:`xfer.retry`)."""
        return True

    # -- retries ---------------------------------------------------------------

    def _retrying(
        self,
        operation: Callable[[], _R],
        *,
        idempotent: bool = True,
        repeatable: bool = True,
        progress: Callable[[], int | None] | None = None,
    ) -> tuple[_R, int]:
        """``operation`` under :attr:`retry_policy`, reopening the connection between tries.

        Inside another retried operation (an ``info`` a retried ``put`` makes) it runs once:
        the outer loop retries the whole.
        """
        if current_attempt() is not None:
            return operation(), 1
        return self.retry_policy.run(operation, reopen=self.reopen, idempotent=idempotent, repeatable=repeatable,
                                     progress=progress)

    def reopen(self) -> None:
        """Forget a connection that a failure may have left broken; the next operation opens a new one.

        Called by the retry loop between tries; safe on a working connection (it costs a reconnect).
        """
        self._require_open()
        self._reopen()

    def _reopen(self) -> None:
        """Subclasses drop their broken connection state here (HTTP's pool replaces dead sockets itself)."""

    def _require_open(self) -> None:
        if self._closed:
            raise UsageError(f"{self!r} is closed")

    def open_write(self, remote: str, *, callback: ProgressCallback | None = None) -> RemoteWriter:
        """Start writing ``remote`` as a stream of bytes of unknown length (see :mod:`xfer.adapters.writer`).

        The bytes go under the protocol's temporary name (FTPS, WebDAV) and appear under
        ``remote`` only when ``close()`` has proven them complete; ``abort()`` or an
        exception inside ``with`` removes them.  Until it is closed or aborted, the writer
        holds this adapter's connection: use no other verb of the adapter meanwhile.
        """
        self._require(Capability.OPEN_WRITE)
        target = self.remote_path(remote)
        if remote.endswith("/") or target == self.remote_path("/"):
            raise UsageError(f"cannot write to {remote!r}: name a file, not a folder")
        writer = self._open_write(target, callback)
        writer.protocol = self.settings.scheme
        return writer

    def get_stream(
        self, remote: str, stream: BinaryIO, *, callback: ProgressCallback | None = None, name: str = "standard output"
    ) -> TransferResult:
        """Download ``remote`` into an open binary ``stream`` (``xfer get … -``), checked as ``get_file`` checks.

        The bytes are written as they arrive; a download that proves incomplete still
        raises (:class:`~xfer.errors.IntegrityError`) after part of it went to ``stream``.
        ``name`` says in messages what the stream is.
        """
        self._require(Capability.GET)
        sink = StreamSink.factory(stream, name=name)
        try:
            return self._common(self._get_file(self.remote_path(remote), "-", callback, sink=sink))
        except XferError as exc:
            # The download paths word a failure for a file ("nothing was saved"); here part of
            # it may already be out, and the message must not say otherwise.
            if NOTHING_SAVED not in exc.message:
                raise
            raise exc.copy_with(exc.message.replace(NOTHING_SAVED, f"what went to {name} is incomplete")) from exc

    def _common(self, result: TransferResult) -> TransferResult:
        """Every result names its protocol (the scheme), whatever the adapter filled in."""
        return result if result.protocol is not None else replace(result, protocol=self.settings.scheme)

    def _landing(self, landed: Landed | None) -> Landed | None:
        """``landed`` told of each result as the adapter returns it (:meth:`_common`)."""
        if landed is None:
            return None
        told = landed
        return lambda place, result: told(place, self._common(result))

    def mkdir(self, path: str, *, parents: bool = True) -> None:
        """Create a folder (and, with ``parents``, the missing ones above it); retried like ``ls``."""
        self._require(Capability.MKDIR)
        target = self.remote_path(path)
        # Idempotent when parents=True (an existing folder is fine): a retry cannot do harm.
        if parents:
            self._retrying(lambda: self._mkdir(target, parents))
        else:
            self._mkdir(target, parents)

    def rm(self, path: str, *, recursive: bool = False) -> None:
        """Remove a file, or with ``recursive`` a folder and everything in it."""
        self._require(Capability.RM)
        self._rm(self._not_root(path, "remove"), recursive)

    def remove_sources(self, files: Sequence[tuple[str, int] | Source]) -> list[XferError | None]:
        """Remove each remote file ``(path, size[, version])`` the server still shows with ``size``
        bytes and as the ``version`` the download got (:class:`~xfer.types.SourceVersion`: its ETag
        or modification time; without one, the size is all there is): the sources of downloads
        whose copies are proven (``--remove-source-files``; see
        :func:`xfer.sync.remove_downloaded_together`).

        Per file None (removed) or what kept it: :class:`~xfer.errors.IntegrityError` (it shows
        another size or version now, or is no file), that file's own failure (:func:`own_failure`: gone,
        permission denied, locked), or, for it and every file after it, the failure that ended the
        call (the connection, a refused login, a server that is down).  Nothing is raised but a
        stop (Ctrl-C): what was removed before a failure is always said.  By default one file
        after another (``info``, retried; then ``rm``, which is not: a removal is never sent
        twice); SFTP has them in flight together, HTTPS and WebDAV pipelined.
        """
        self._require(Capability.RM)
        failures: list[XferError | None] = []
        for place, (path, size, version) in enumerate(sources(files)):
            try:
                failures.append(self._remove_source(path, size, version))
            except XferError as exc:  # not this file's alone: it and the rest stay
                failures += [exc] * (len(files) - place)
                break
        return failures

    def _remove_source(self, path: str, size: int, version: SourceVersion | None = None) -> XferError | None:
        try:
            entry = self.info(path)
            if entry.size is None and entry.type == "file":
                # (An FTPS server that refuses SIZE for it: the file is there, its size unknown.)
                return source_kept(path, f"the server does not tell its size, so nothing shows it is the {size} "
                                         "bytes written")
            if entry.size != size:
                return source_changed(path, entry.size, size)
            changed = self._version_changed(path, entry, version) if version is not None else None
            if changed is not None:
                return source_kept(path, changed)
            self.rm(path)
        except XferError as exc:
            if own_failure(exc):
                return exc
            raise
        return None

    def _version_changed(self, path: str, entry: Entry, version: SourceVersion) -> str | None:
        """Why the file ``entry`` (a look at ``path``) is not the ``version`` a download got (None:
        nothing shows that).  By default what the look shows: its ETag (HTTP) and modification time."""
        etag = entry.extra.get("etag")
        return version.changed(etag if isinstance(etag, str) else None, entry.modified)

    def rmdir(self, path: str) -> None:
        """Remove an empty folder."""
        self._require(Capability.RMDIR)
        self._rmdir(self._not_root(path, "remove"))

    def _not_root(self, path: str, action: str) -> ServerPath:
        """The server path, unless it is the connection's root (however it was spelled)."""
        target = self.remote_path(path)
        if target == self.remote_path("/"):
            raise UsageError(
                f"refusing to {action} the root of the connection ({target})",
                hint="name a file or folder below it",
            )
        return target

    def mv(self, source: str, destination: str) -> None:
        """Rename or move within the same server, as POSIX ``mv`` (and ``put``) read the destination.

        * ``destination`` that is an existing folder, or ends in ``/``, is a folder to
          move *into*: ``mv("/invoice.edi", "/batch/")`` makes ``/batch/invoice.edi``.
          A folder source with a ``/`` destination that does not exist is renamed to it.
        * A file never replaces a folder (:class:`~xfer.errors.RemoteIsFolder`), and a
          folder never replaces a file (:class:`~xfer.errors.RemoteExists`): nothing is
          deleted to make room.
        * An existing *file* at the destination is replaced, as POSIX ``mv`` does, unless
          the adapter is configured not to (WebDAV: ``[webdav] overwrite = false`` gives
          :class:`~xfer.errors.RemoteExists`).
        * Moving the connection's root, a path onto itself, or a folder into itself
          is refused (:class:`~xfer.errors.UsageError`).
        """
        self._require(Capability.MV)
        self._mv(*self._move_target(source, destination))

    def _move_target(self, source: str, destination: str, *, action: str = "move") -> tuple[str, str]:
        """The server paths of ``source`` and of where it goes, by :meth:`mv`'s rules (checked, not moved)."""
        server = self.settings.server
        src = self._not_root(source, action)
        dst = self.remote_path(destination)
        if not ({Capability.INFO, Capability.LS} & self.capabilities):
            return src, dst  # nothing to look with: the server's own rules apply

        def lookup(path: str) -> Entry | None:
            if path == self.remote_path("/"):
                return Entry(name="", path=path, type="directory")
            try:
                return self.info(self.user_path(path))
            except RemoteNotFound:
                return None

        entry = lookup(src)
        if entry is None:
            raise RemoteNotFound(f"{server}: {src} does not exist")
        target = lookup(dst)
        into = destination.endswith("/")
        if into and target is None and not entry.is_dir:
            raise RemoteNotFound(
                f"{server}: the folder {dst} does not exist",
                hint="create it first with xfer mkdir, or leave out the trailing / to rename",
            )
        if into and target is not None and not target.is_dir:
            raise RemoteExists(f"{server}: {dst} is a file, not a folder to {action} into")
        if target is not None and target.is_dir:
            dst = ServerPath(posixpath.join(dst, posixpath.basename(src)))
            target = lookup(dst)
        if dst == src:
            raise UsageError(f"cannot {action} {src} onto itself")
        if entry.is_dir and dst.startswith(src.rstrip("/") + "/"):
            raise UsageError(f"cannot {action} the folder {src} into itself ({dst})")
        if target is not None and target.is_dir:
            raise RemoteIsFolder(
                f"{server}: {dst} is a folder; a {'folder' if entry.is_dir else 'file'} never replaces a folder",
                hint="remove or rename that folder first",
            )
        if target is not None and entry.is_dir:
            raise RemoteExists(f"{server}: {dst} is a file; a folder never replaces a file")
        return src, dst

    def set_modified(self, path: str, modified: dt.datetime) -> None:
        """Set a remote file's modification time (``xfer sync`` does after an upload, so that
        the next run finds both sides equal).  ``modified`` must be timezone-aware.

        :class:`UnsupportedOperation` where the protocol, or this server, cannot
        (:attr:`keeps_modified` says beforehand).
        """
        self._require(Capability.SET_MODIFIED)
        if modified.tzinfo is None:
            raise UsageError("set_modified needs a timezone-aware time")
        self._set_modified(self.remote_path(path), modified.astimezone(dt.timezone.utc))

    def checksum(self, path: str, *, size: int | None = None) -> ServerHash | None:
        """The server's own hash of the remote file ``path``, or None where it states none.

        Asked the way an upload is verified (:mod:`xfer.verify`): FTP ``HASH``/``XSHA256``/...
        (the strongest FEAT announces), HTTP ``Repr-Digest``/``Digest`` on a ``HEAD``, SFTP
        ``check-file``.  None: the protocol has no such question, this server does not answer
        it, or it refused for this file (a size limit, a folder).  A temporary refusal (HTTP
        503/429, FTP 4xx) is an error, retried, never None.  The algorithm is the server's choice
        (:attr:`ServerHash.algorithm`): compare it with a local hash in that one.  ``size``, if
        known, lets a slow answer take its time (the server reads the whole file first).
        Changes nothing; retried like ``ls``.
        """
        self._require_open()
        target = self.remote_path(path)
        return self._retrying(lambda: self._checksum(target, size))[0]

    def _checksum(self, path: ServerPath, size: int | None) -> ServerHash | None:
        """Subclasses ask their server (see :meth:`checksum`); by default no hash is stated."""
        return None

    @property
    def lists_dotfiles(self) -> bool:
        """True where a folder's listing shows every name, those starting with ``.`` too: SFTP's
        READDIR, WebDAV's PROPFIND, FTP ``MLSD`` (RFC 3659).  False where it may leave them out:
        FTP ``LIST`` (vsftpd and pure-ftpd do, unless told otherwise), HTML index pages (nginx,
        Apache); there a dot name the listing did not show is asked about on its own."""
        return self.LISTS_DOTFILES

    @property
    def keeps_modified(self) -> bool:
        """True if :meth:`set_modified` works on this connection, as far as it knows (FTPS: ``MFMT``, or
        ``SITE UTIME``; WebDAV: until the server first refuses getlastmodified, which it tells only
        when asked to set one)."""
        return Capability.SET_MODIFIED in self.capabilities

    # -- primitives (absolute server paths) --------------------------------------
    # Typed ServerPath so mypy sees the verbs above convert (remote_path) before calling them;
    # an adapter may keep ``str`` in its overrides (a wider parameter is a valid override).

    def _ls(self, path: ServerPath) -> list[Entry]:
        raise NotImplementedError

    def _info(self, path: ServerPath) -> Entry:
        raise NotImplementedError

    def _get_file(
        self, remote: ServerPath, local: str, callback: ProgressCallback | None, *, sink: SinkFactory | None = None
    ) -> TransferResult:
        """Download into ``sink(local, ...)``: by default :class:`~xfer.transfer.AtomicDownload`."""
        raise NotImplementedError

    def _put_file(
        self, local: str, remote: ServerPath, callback: ProgressCallback | None, *, preserve_times: bool = False,
    ) -> TransferResult:
        """Upload; ``preserve_times`` only where the protocol sets the time within the upload (see :meth:`put_file`)."""
        raise NotImplementedError

    def _mkdir(self, path: ServerPath, parents: bool) -> None:
        raise NotImplementedError

    def _rm(self, path: ServerPath, recursive: bool) -> None:
        raise NotImplementedError

    def _rmdir(self, path: ServerPath) -> None:
        raise NotImplementedError

    def _mv(self, source: str, destination: str) -> None:
        raise NotImplementedError

    def _set_modified(self, path: ServerPath, modified: dt.datetime) -> None:
        raise NotImplementedError

    def _open_write(self, remote: ServerPath, callback: ProgressCallback | None) -> RemoteWriter:
        raise NotImplementedError

    # -- ranged reads (added for the fsspec filesystem, xfer.filesystem) -----------------------

    def read_range(self, path: str, start: int = 0, length: int | None = None, *, version: str | None = None) -> bytes:
        """``length`` bytes of a remote file from offset ``start`` (to its end if ``length`` is None).

        Fewer bytes come back only where the file ends; nothing is written locally.  This is
        what random access (``fsspec`` block reads, Parquet footers) is built on: HTTP
        ``Range``, FTP ``REST``.  Needs the ``get_file`` capability.

        ``version``: the file's ETag as the caller saw it (a file opened for reading, read in
        blocks).  Over HTTP and WebDAV it goes as ``If-Match``: a file replaced since, even by
        one of the same size, is an :class:`~xfer.errors.IntegrityError`, never bytes of two
        versions.  FTP and SFTP have no such check (the caller compares lengths).
        """
        self._require(Capability.GET)
        if start < 0 or (length is not None and length < 0):
            raise UsageError(f"invalid byte range: start {start}, length {length}")
        if length == 0:
            return b""
        return self._read_range(self.remote_path(path), start, length, version)

    def _read_range(self, path: str, start: int, length: int | None, version: str | None) -> bytes:
        raise NotImplementedError


def sources(files: Sequence[tuple[str, int] | Source]) -> list[Source]:
    """``files`` as sources (a plain ``(path, size)`` has no version)."""
    return [item if isinstance(item, Source) else Source(*item) for item in files]


def source_changed(path: str, shown: int | None, size: int) -> IntegrityError:
    """A download's source kept: the server shows ``shown`` bytes (None: no file) where ``size`` were written."""
    return source_kept(path, f"the server shows {'no file' if shown is None else f'{shown} bytes'}, "
                             f"{size} were written")
