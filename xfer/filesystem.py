"""``xfer://``: an fsspec filesystem, so pandas, Dask, PyArrow and every fsspec tool reach partner servers.

::

    df = pandas.read_csv("xfer://partner/outbox/orders.csv")       # profile "partner"
    fs = fsspec.filesystem("xfer", url="davs://dav.example.com/share",
                           identity="~/certs/me.p12", identity_password="env:XFER_ID_PW")

The host part is a profile name, the path is under the profile's root.  Secrets travel as
references only (an instance pickles without them, so Dask workers resolve their own);
connections are pooled per instance; listings are not cached between calls (unless asked
with ``listings_expiry_time``), but one compound call (``find``, ``get``, ``du``...) asks
about each path once; reads are ranged;
writes stream to the server's temporary part name and are renamed into place on
``close()``.  The reasons for each choice: docs/design.md, section "fsspec".
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import glob
import io
import os
import posixpath
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from inspect import CO_ASYNC_GENERATOR, CO_GENERATOR, CO_VARARGS
from pathlib import Path
from types import CodeType, FrameType, TracebackType
from typing import Any, ClassVar, TypeVar

from fsspec.callbacks import DEFAULT_CALLBACK, Callback
from fsspec.compression import compr
from fsspec.core import get_compression
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import isfilelike, stringify_path

from .adapters.base import Adapter, Capability, Entry, ProgressCallback, RemoteWriter
from .errors import (
    IntegrityError,
    RemoteError,
    RemoteFolderNotEmpty,
    RemoteIsFolder,
    RemoteNotFound,
    UnsupportedOperation,
    UsageError,
    XferError,
)
from .log import logger
from .secrets import Secret
from .transfer import is_temporary

__all__ = ["XferFile", "XferFileSystem"]

_log = logger(__name__)

#: Inside :meth:`XferFileSystem.mv`'s copy: each path ``cp_file`` copied, and whether a folder.
_copied: contextvars.ContextVar[list[tuple[str, bool]] | None] = contextvars.ContextVar("_copied", default=None)

#: The storage options that describe (or override) the connection; all are profile options.
CONNECTION_OPTIONS = ("url", "identity", "identity_password", "ca", "pin", "username", "password",
                      "timeout", "tls_min", "tls_max", "max_listing")

_V = TypeVar("_V")

#: Idle connections an instance keeps open for the next operation.
DEFAULT_POOL_SIZE = 4


class _Pool:
    """Open adapters for one filesystem instance: borrowed per operation, returned after.

    Thread-safe: an adapter is used by one thread at a time.  After a fork the idle
    connections belong to the parent (shared sockets), so the child forgets them
    unclosed and opens its own.
    """

    def __init__(self, opener: Callable[[], Adapter], size: int) -> None:
        self._opener = opener
        self._size = size
        self._idle: list[Adapter] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @contextlib.contextmanager
    def lease(self) -> Iterator[Adapter]:
        adapter = self._take() or self._opener()
        try:
            yield adapter
        except XferError:
            # An xfer error leaves the adapter usable: adapters drop and reopen a
            # connection whose state is unknown themselves (FTPS) or per request (HTTP).
            self._give_back(adapter)
            raise
        except BaseException:
            # Anything else (an interruption, a bug) may have left a reply unread.
            adapter.close()
            raise
        self._give_back(adapter)

    def _forget_the_parents(self) -> None:
        """In a forked child: the idle connections are the parent's; forget them unclosed (a
        QUIT or close_notify sent from here would end the parent's session).  Under the lock."""
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()

    def _take(self) -> Adapter | None:
        with self._lock:
            self._forget_the_parents()
            while self._idle:
                adapter = self._idle.pop()
                if not adapter.closed:
                    return adapter
        return None

    def _give_back(self, adapter: Adapter) -> None:
        if adapter.closed:
            return
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self._size:
                self._idle.append(adapter)
                return
        adapter.close()

    def close(self) -> None:
        with self._lock:
            self._forget_the_parents()
            idle, self._idle = self._idle, []
        for adapter in idle:
            adapter.close()


class _Told(threading.local):
    """What one thread's compound call (``find``, ``glob``, ``get``, ``copy``...) was told so far.

    fsspec builds those calls from many small ones: a ``get`` of a tree lists every folder, then
    asks ``isdir`` of each file it found, and a ``du`` asks ``info`` of every path ``find`` just
    listed.  Each ask is a round trip (50 ms on a distant link).  Within one such call a path's
    facts come from the listing that showed it, or from one ask; the call's own writes forget
    what they touch.  Nothing outlives the call: a partner's inbox listed twice by the caller
    is asked twice, so files that arrived in between are seen.  A write on another thread is
    not seen by this thread's call, as a partner's write is not: a call is a moment's look.
    """

    def __init__(self) -> None:
        self.depth = 0  # compound calls open on this thread (they nest: mv -> copy -> find)
        self.listings: dict[str, list[dict[str, Any]]] = {}
        self.facts: dict[str, dict[str, Any]] = {}


class _Kept:
    """What instances on one server were told, kept across calls for ``expiry`` seconds: only
    when the caller asks for it (fsspec's ``listings_expiry_time``), never by default (see :class:`_Told`).

    Dask plans a read of ``xfer://p/outbox/*.csv`` with a glob, then ``isdir`` of every file
    (twice), ``info`` for its size and ``ukey`` for its token: four round trips per file, 40 s
    for 200 files over a 50 ms link.  With an expiry the glob's listing answers them all.
    Reads never take a kept size (see :meth:`XferFileSystem.cat_file`).

    Shared by every instance with the same profile and options (:func:`_kept_for`): fsspec
    makes one instance per thread, and a write in one thread (a Dask ``to_csv`` task) must be
    seen by a ``glob`` in another.  A write through any of them forgets what it touches, and an
    answer fetched before that forgetting is not kept (:attr:`generation`); a partner's write
    is seen once the expiry has passed.  At most :data:`_KEPT_PATHS` paths are kept.
    """

    def __init__(self, expiry: float | None) -> None:
        self.expiry = expiry
        self.clock: Callable[[], float] = time.monotonic
        self._lock = threading.Lock()
        self.listings: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self.facts: dict[str, tuple[float, dict[str, Any]]] = {}
        #: Counts the forgettings: an answer asked for before the latest one may be older than a write.
        self.generation = 0

    def listing(self, key: str) -> list[dict[str, Any]] | None:
        return self._fresh(self.listings, key)

    def fact(self, key: str) -> dict[str, Any] | None:
        return self._fresh(self.facts, key)

    def _fresh(self, kept: dict[str, tuple[float, _V]], key: str) -> _V | None:
        if self.expiry is None:
            return None
        with self._lock:
            found = kept.get(key)
            if found is None:
                return None
            if self.clock() - found[0] >= self.expiry:
                del kept[key]
                return None
            return found[1]

    def keep(self, since: int, *, listing: tuple[str, list[dict[str, Any]]] | None = None,
             facts: Iterable[tuple[str, dict[str, Any]]] = ()) -> None:
        """Keep what was asked for when :attr:`generation` was ``since`` (not if anything was
        forgotten since then: a write may have changed it)."""
        if self.expiry is None:
            return
        now = self.clock()
        with self._lock:
            if self.generation != since:
                return
            if listing is not None:
                self.listings[listing[0]] = (now, listing[1])
            for key, info in facts:
                self.facts[key] = (now, info)
            if len(self.listings) + len(self.facts) > _KEPT_PATHS:
                self._purge(now)

    def _purge(self, now: float) -> None:
        """The expired entries dropped; all of them if that is not enough (it is a cache)."""
        assert self.expiry is not None
        for kept in (self.listings, self.facts):
            for key in [key for key, (when, _) in kept.items() if now - when >= self.expiry]:
                del kept[key]
        if len(self.listings) + len(self.facts) > _KEPT_PATHS:
            self.listings.clear()
            self.facts.clear()

    def forget(self, key: str | None) -> None:
        with self._lock:
            self.generation += 1
            _forget(self.listings, self.facts, key)


#: Paths (listings and facts) one :class:`_Kept` holds at most.
_KEPT_PATHS = 100_000


class _KeptByServer:
    """The :class:`_Kept` of each profile and options (with an expiry), shared by their instances."""

    def __init__(self) -> None:
        self._start()
        # A forked child starts with nothing kept (and no lock held by a thread it does not have).
        os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, _Kept] = {}

    def __call__(self, server: str, expiry: float | None) -> _Kept:
        """The :class:`_Kept` of the instances on ``server`` (their profile and options, as text)
        with ``expiry`` (a fresh, unshared one without)."""
        if expiry is None:
            return _Kept(None)
        with self._lock:
            return self._kept.setdefault(f"{expiry!r} {server}", _Kept(expiry))


_kept_for = _KeptByServer()


def _forget(listings: dict[str, Any], facts: dict[str, Any], key: str | None) -> None:
    """Forget ``key`` (a :func:`_key`; None: everything), what is under it, and the listings of the
    folders above it (a new name shows there)."""
    if key is None:
        listings.clear()
        facts.clear()
        return
    under = key.rstrip("/") + "/"
    for name in [name for name in facts if name == key or name.startswith(under)]:
        del facts[name]
    for name in [name for name in listings
                 if name == key or name.startswith(under) or under.startswith(name.rstrip("/") + "/")]:
        del listings[name]


def _key(path: str) -> str:
    """The name a call remembers ``path`` by: normalised as the adapters normalise the paths they
    send (``/d//a`` and ``/x/../d/a`` are ``/d/a`` to the server, so to the memory too)."""
    return posixpath.normpath(path)


def _is_complete(info: dict[str, Any], *, exact_sizes: bool) -> bool:
    """A listed entry whose kind and size are what ``info`` would say: a folder, or a file with its
    size where the listing's sizes are the server's own (not an HTTPS index page's: there ``info``
    asks by HEAD).  Other facts may be coarser than ``info``'s (an FTP LIST's minutes)."""
    return info["type"] == "directory" or (exact_sizes and info["type"] == "file" and info["size"] is not None)


def _as_one_call(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a filesystem method) run as one compound call (:meth:`XferFileSystem._one_call`)."""

    @functools.wraps(method)
    def call(self: XferFileSystem, *args: Any, **kwargs: Any) -> Any:
        with self._one_call():
            return method(self, *args, **kwargs)

    return call


def _working_file(entry: Entry, listed: str) -> bool:
    """``entry`` is one of xfer's working files, left out of the listing of ``listed`` (not when
    ``listed`` names that very file: ``ls`` of a file lists it)."""
    return (entry.type == "file" and is_temporary(entry.name)
            and _key(entry.path.rstrip("/") or "/") != _key(listed))


def _to_info(entry: Entry) -> dict[str, Any]:
    """fsspec's detail dict: ``name``, ``size``, ``type``, plus ``modified`` and the server's extras."""
    size = entry.size
    if size is None and entry.is_dir:
        size = 0
    return {
        "name": entry.path.rstrip("/") or "/",
        "size": size,
        "type": entry.type,
        "modified": entry.modified,
        **dict(entry.extra),
    }


def _progress(callback: Callback) -> ProgressCallback | None:
    """xfer's (transferred, total) progress as calls on an fsspec ``Callback``."""
    if callback is DEFAULT_CALLBACK:
        return None
    sized = False

    def report(transferred: int, total: int | None, /) -> None:
        nonlocal sized
        if total is not None and not sized:
            callback.set_size(total)
            sized = True
        callback.absolute_update(transferred)

    return report


#: A stack as :func:`_stack` gives it: each frame's id and code, innermost first.
Stack = tuple[tuple[int, CodeType], ...]


def _exception_leaving_with(opened_under: Stack) -> BaseException | None:
    """The exception an ``__exit__`` that is calling ``close()`` was handed, if any: a ``with`` block
    around something wrapping the file failed.  None: the file is to be installed.

    fsspec's ``OpenFile`` and pandas' handles close the file from their ``__exit__`` without
    passing the exception on.  So ``close()`` looks for that ``__exit__`` (or ``__aexit__``): the
    caller, through the ``close()`` of the layers between, ``ExitStack``'s callback wrapper and
    at most one generator (a ``@contextmanager``'s ``finally``), and reads the exception from its
    argument.  The argument, not the exception being handled: a ``with`` that ends normally
    inside an ``except`` passes None, ``ExitStack`` sets its argument to None once a callback
    suppressed the exception and to a newer one when a callback raised.  An ``__exit__`` that was
    already running when the file was opened (it and every frame below it are in
    ``opened_under``, the stack then) is not a block around it: that is its own work, such as
    an error report written while handling the error.  (The whole chain is compared, codes
    too: a frame's id alone may be that of one gone since.)  A ``close()`` from any other code
    installs.  (A ``@contextmanager`` that catches the exception and then closes the file cannot
    be told from one that lets it pass: discarded, with a warning.)  xfer's own writers (text
    mode, compression) do not need this: their ``__exit__`` is told (:class:`_ClosingOnExit`).
    """
    frame: FrameType | None = sys._getframe(2)  # (1 is XferFile.close)
    while frame is not None and frame.f_code.co_name in ("close", "_exit_wrapper"):
        frame = frame.f_back
    if frame is not None and frame.f_code.co_flags & (CO_GENERATOR | CO_ASYNC_GENERATOR):
        frame = frame.f_back
    if frame is None or frame.f_code.co_name not in ("__exit__", "__aexit__"):
        return None
    below = _stack(frame)
    if opened_under[len(opened_under) - len(below):] == below:
        return None
    code = frame.f_code
    arguments = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & CO_VARARGS)]
    for name in arguments:
        value = frame.f_locals.get(name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, BaseException):
                return item
    return None


def _stack(frame: FrameType | None) -> Stack:
    """``frame`` and those below it (its callers), innermost first: id and code of each."""
    frames: list[tuple[int, CodeType]] = []
    while frame is not None:
        frames.append((id(frame), frame.f_code))
        frame = frame.f_back
    return tuple(frames)


class _ClosingOnExit:
    """Mixin for writers layered on an :class:`XferFile` (text mode, a compression codec).

    A Python-level ``__exit__`` that is told the block's exception: then the layers and the
    file below are abandoned, nothing installed (io's own ``__exit__`` is C code and just
    closes).  A ``close()`` that closes the file below (``_below``) after the codec has written
    its trailer: fsspec's codecs leave it open, so the upload was never installed.  And a
    ``__del__`` that abandons: a writer dropped unclosed (after a failure) never installs, as
    :meth:`XferFile.__del__` promises (io's would close, and so install).
    """

    _below: XferFile | _ClosingOnExit | None = None

    def __exit__(self, *exc_info: Any) -> None:
        if exc_info[1] is not None:
            self._abandon()
            return
        self.close()

    def _abandon(self) -> None:
        """Close without installing: the file below first, then this layer (its writes fail quietly)."""
        below, self._below = self._below, None
        if below is not None:
            below._abandon()
        with contextlib.suppress(Exception):
            super().close()  # type: ignore[misc]  # mixed into file classes

    def detach(self) -> Any:
        """The layer below, handed to the caller: this writer owns nothing any more."""
        self._below = None
        return super().detach()  # type: ignore[misc]  # mixed into file classes

    def __del__(self) -> None:
        if self._below is not None:
            self._abandon()

    def close(self) -> None:
        below, self._below = self._below, None
        try:
            super().close()  # type: ignore[misc]  # mixed into file classes
        except BaseException:
            if below is not None:
                below._abandon()  # the codec's trailer is missing: the file is incomplete
            raise
        if below is not None:
            below.close()


class _TextWriter(_ClosingOnExit, io.TextIOWrapper):
    """Text-mode writing on an :class:`XferFile` (io's ``close()`` closes the file below itself)."""


@functools.cache
def _closing_on_exit(cls: type) -> type:
    """``cls`` (a compression codec's file class) with :class:`_ClosingOnExit` mixed in."""
    return type(cls.__name__, (_ClosingOnExit, cls), {"__module__": cls.__module__})


def _check_length(path: str, data: bytes, start: int, end: int | None, size: int | None) -> None:
    """Raise :class:`~xfer.errors.IntegrityError` if ``data``, read from ``start`` up to ``end``
    (None: the end), is shorter than a file of ``size`` bytes (None: unknown) holds there, or
    longer than was asked: more than ``end - start``, or, read to the end from the middle, more
    than the file holds from ``start`` (a server that ignored the offset: the file's first bytes).
    A whole file read from its start may have grown since its size was asked: kept."""
    if end is not None and len(data) > end - start:
        raise IntegrityError(
            f"{path}: {len(data)} bytes came for the {end - start} asked for at offset {start}; "
            "they were discarded",
            hint="the server did not send the range asked for; read the file whole (cat_file, get)",
        )
    if size is None:
        return
    expected = max(0, min(size, size if end is None else end) - start)
    if end is None and start and len(data) > expected:
        raise IntegrityError(
            f"{path}: {len(data)} bytes came from offset {start} of the {size}-byte file, which holds "
            f"{expected} there: the server did not start where asked (or the file changed); they were discarded",
            hint="read the file whole (cat_file, get), or read it again",
        )
    if len(data) < expected:
        raise IntegrityError(
            f"{path} changed while it was read: {len(data)} bytes at offset {start}, where the "
            f"{size}-byte file it was opened as holds {expected}",
            hint="read it again",
        )


class XferFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """fsspec filesystem over an xfer profile (or a URL and options).  See the module docstring.

    Paths are absolute under the connection's root: ``/outbox/a.csv``; ``xfer://PROFILE/outbox/a.csv``
    names the same file with its profile.
    """

    protocol: ClassVar[str] = "xfer"
    root_marker: ClassVar[str] = "/"

    def __init__(
        self,
        profile: str | None = None,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        listings_expiry_time: float | None = None,
        **options: Any,
    ) -> None:
        """``profile``: a profile name (the host part of ``xfer://PROFILE/...``), or None with ``url``.

        ``options`` are :data:`CONNECTION_OPTIONS`; secrets as references (``"env:VAR"``).
        ``listings_expiry_time`` (seconds; fsspec's option): keep what listings and lookups
        showed for that long, across calls (:class:`_Kept`); by default nothing is kept.
        The profile is read and validated here; nothing connects until the first operation.
        """
        if listings_expiry_time is not None and (
                isinstance(listings_expiry_time, bool) or not isinstance(listings_expiry_time, int | float)
                or not listings_expiry_time > 0):
            raise UsageError(f"xfer filesystem: listings_expiry_time must be a number of seconds above 0, "
                             f"not {listings_expiry_time!r}", hint="leave it out to keep nothing between calls")
        unknown = sorted(set(options) - set(CONNECTION_OPTIONS))
        if unknown:
            raise UsageError(f"xfer filesystem: unknown option(s) {', '.join(unknown)}",
                             hint=f"connection options are: {', '.join(CONNECTION_OPTIONS)}")
        for name in ("identity_password", "password"):
            if isinstance(options.get(name), Secret):
                # A Secret would be pickled with its value into every Dask task.
                raise UsageError(
                    f"xfer filesystem: {name} must be a reference (env:VAR, file:PATH, keyring), not a Secret",
                    hint="the filesystem is sent to other processes by its options; a reference is "
                    "resolved where it is used",
                )
        url = options.pop("url", None)
        if (profile is None) == (url is None):
            raise UsageError(
                "xfer filesystem: give a profile (xfer://PROFILE/path) or url=..., not "
                + ("both" if profile else "neither")
            )
        super().__init__()
        self.profile = profile
        self._target: str = profile if profile is not None else str(url)
        self._options: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
        secret_names = ("identity_password", "password")
        self._secrets: dict[str, Any] = {k: self._options.pop(k) for k in secret_names if k in self._options}
        from .client import resolve_profile

        # Read once: every connection this instance opens goes where the profile said now.  Read
        # per connection, an edited profile split one cached instance between two servers (the
        # idle pooled connections to the old one, new ones to the new).  Not pickled: fsspec
        # sends the name and options, and a Dask worker reads its own profile (and secrets).
        self._profile = resolve_profile(self._target, {**self._options, **self._secrets})
        # Fail now on a missing profile, a literal secret or a bad option, not in a worker later.
        self._profile.check_files()
        self._pool = _Pool(self._connect, pool_size)
        self._told = _Told()
        self._kept = _kept_for(f"{self._target} {sorted(self._options.items())!r} {sorted(self._secrets.items())!r}",
                               listings_expiry_time)

    def _connect(self) -> Adapter:
        from .client import connect

        # fsspec's verbs return no results, so nothing reads a transfer's SHA-256: it is left
        # to the transfers whose server compares it.  Computed anyway, it cost ~0.5 s of CPU
        # per GiB and, on two cores, as much wall time (the write-behind thread hashes before
        # it writes): a 1 GiB get through the library took 1.70-1.89 s against 0.90-1.24 s.
        return connect(self._profile, sha256=False)

    def close(self) -> None:
        """Close the pooled connections (the next operation opens new ones)."""
        self._pool.close()

    @contextlib.contextmanager
    def _adapter(self) -> Iterator[Adapter]:
        with self._pool.lease() as adapter:
            yield adapter

    # -- paths ----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = stringify_path(path)
        if text.startswith("xfer://"):
            # The host part is the profile: an instance option, not part of the path.
            text = "/" + text[len("xfer://") :].partition("/")[2]
        elif text.startswith("xfer::"):
            text = text[len("xfer::") :]
        # Not normalised: ".." in a glob pattern ("/data/*/..") is part of the pattern, and must
        # not become "/data" (which rm would remove).  What a call remembers is keyed by _key.
        text = "/" + text.lstrip("/")
        return text.rstrip("/") or "/"

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        text = stringify_path(path)
        authority = text[len("xfer://"):].partition("/")[0] if text.startswith("xfer://") else ""
        if "@" in authority:
            # xfer://user:password@partner/...: never echoed (the profile's name would carry the
            # password into "no profile named ..."; security review, session 26).
            raise UsageError("an xfer:// URL names a profile after xfer://, never a user or password",
                             hint="xfer://PROFILE/path; the profile holds the login, by reference")
        try:
            host = urllib.parse.urlsplit(text).netloc
        except ValueError:  # its words quote the authority
            raise UsageError("not a valid xfer:// URL", hint="xfer://PROFILE/path") from None
        return {"profile": urllib.parse.unquote(host)} if host else {}

    def unstrip_protocol(self, name: str) -> str:
        if name.startswith("xfer://"):
            return name
        return f"xfer://{self.profile or ''}{self._strip_protocol(name)}"

    # -- listing and facts ------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """The entries of a folder (the one entry of a file), as fsspec detail dicts or names."""
        target = self._strip_protocol(path)
        told, key = self._told, _key(target)
        infos = told.listings.get(key) if told.depth else None
        if infos is None:
            infos = self._kept.listing(key)
        if infos is None:
            since = self._kept.generation
            infos, exact_sizes = self._listed(target)
            facts = [(_key(info["name"]), info) for info in infos if _is_complete(info, exact_sizes=exact_sizes)]
            if told.depth:
                told.listings[key] = infos
                for name, info in facts:
                    told.facts.setdefault(name, info)
            self._kept.keep(since, listing=(key, infos), facts=facts)
        return [dict(info) for info in infos] if detail else [info["name"] for info in infos]

    def _listed(self, target: str) -> tuple[list[dict[str, Any]], bool]:
        """The server's listing of ``target``, as detail dicts, and whether its sizes are exact
        (:attr:`~xfer.adapters.base.Adapter.listed_sizes_exact`)."""
        with self._adapter() as adapter:
            try:
                entries = adapter.ls(target)
            except RemoteError as exc:
                # Some servers refuse to list a missing folder in their own words (pyftpdlib:
                # "501 No such directory"); fsspec code needs to tell "not there" apart.
                if isinstance(exc, RemoteNotFound) or adapter.exists(target):
                    raise
                raise RemoteNotFound(f"{target} does not exist ({exc})") from exc
            # xfer's own working files (another writer's upload in progress, a part a crash left)
            # are not the partner's files: listed, a glob or a recursive get would read a half
            # file, as the CLI's tree copies never do.  Asked for by name, they are still found.
            shown = [e for e in entries if not _working_file(e, target)]
            return [_to_info(e) for e in shown], adapter.listed_sizes_exact

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Facts about one path; ``FileNotFoundError`` (xfer's RemoteNotFound) if nothing is there."""
        target = self._strip_protocol(path)
        told, key = self._told, _key(target)
        found = told.facts.get(key) if told.depth else None
        if found is None:
            found = self._kept.fact(key)
        if found is None:
            since = self._kept.generation
            found = self._looked_up(target)
            if told.depth:
                told.facts[key] = found
            self._kept.keep(since, facts=[(key, found)])
        return dict(found)

    def _looked_up(self, target: str) -> dict[str, Any]:
        """The server's facts about ``target``."""
        with self._adapter() as adapter:
            head = getattr(adapter, "head", None)
            try:
                entry = adapter.info(target)
            except UnsupportedOperation:
                # Plain HTTPS with no index page (or one refused): a HEAD still describes a file.
                if head is None or target == "/":
                    raise
                entry = head(target)
            if entry.type == "file" and entry.size is None and Capability.LS in adapter.capabilities:
                # An index page without sizes: listing the file itself asks the server (HEAD).
                found = [e for e in adapter.ls(target) if e.path == entry.path]
                if found:
                    entry = found[0]
        return _to_info(entry)

    # -- compound calls: each remembers what it was told (see _Told); rm and mv below too -------

    @contextlib.contextmanager
    def _one_call(self) -> Iterator[None]:
        """One compound call: what it is told is remembered until the outermost one on this
        thread ends."""
        told = self._told
        told.depth += 1
        try:
            yield
        finally:
            told.depth -= 1
            if not told.depth:
                told.listings.clear()
                told.facts.clear()

    find = _as_one_call(AbstractFileSystem.find)
    glob = _as_one_call(AbstractFileSystem.glob)
    du = _as_one_call(AbstractFileSystem.du)
    expand_path = _as_one_call(AbstractFileSystem.expand_path)
    get = _as_one_call(AbstractFileSystem.get)
    put = _as_one_call(AbstractFileSystem.put)
    copy = _as_one_call(AbstractFileSystem.copy)
    cat = _as_one_call(AbstractFileSystem.cat)

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget what this thread's compound call was told about ``path`` (None: everything), and
        what the instance keeps (``listings_expiry_time``): the path, what is under it, and the
        listings of the folders above it (a new name shows there)."""
        # fsspec's own (super()) is not called: it collects the paths a transaction wrote, for a
        # cache that outlives calls; nothing here does, and the list would grow for as long as
        # the (cached) instance lives.
        key = None if path is None else _key(self._strip_protocol(path))
        _forget(self._told.listings, self._told.facts, key)
        self._kept.forget(key)

    @contextlib.contextmanager
    def _changing(self, *paths: str) -> Iterator[None]:
        """Around a write: what was told about ``paths`` is forgotten after it, even if it failed."""
        try:
            yield
        finally:
            for path in paths:
                self.invalidate_cache(path)

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Only "not found" means False; an unreachable server or a refused certificate raises."""
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    def modified(self, path: str) -> dt.datetime:
        value = self.info(path).get("modified")
        if value is None:
            raise UsageError(f"{path}: the server gives no modification time")
        return value  # type: ignore[no-any-return]

    def checksum(self, path: str) -> int:
        """The server's hash of the file where it states one (FTP ``HASH``/``XSHA256``, HTTP
        ``Repr-Digest`` on ``HEAD``, SFTP ``check-file``: :meth:`Adapter.checksum`), as an int:
        the same value proves the same content.  Else fsspec's default, from :meth:`info`."""
        target = self._strip_protocol(path)
        with self._adapter() as adapter:
            stated = adapter.checksum(target)
        if stated is None:
            return super().checksum(path)  # type: ignore[no-any-return]
        return int(stated.value, 16)

    def ukey(self, path: str) -> str:
        """The server's ETag where it gives one (WebDAV), else size and modification time."""
        info = self.info(path)
        etag = info.get("etag")
        if etag:
            return str(etag)
        return f"{info['size']}:{info['modified'].isoformat() if info['modified'] else ''}"

    # -- reading --------------------------------------------------------------------------------

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        """The bytes of a file, or of ``[start, end)`` (negative: from the end) by a ranged read."""
        target = self._strip_protocol(path)
        # Asked now, never what a compound call remembers: a size listed a moment ago (a partner's
        # upload still growing) must not cut what is read, or make it empty.
        info = self._looked_up(target)
        if info["type"] == "directory":
            raise RemoteIsFolder(f"{target} is a folder")
        size = info["size"]
        if (start is not None and start < 0) or (end is not None and end < 0):
            if size is None:
                raise UsageError(f"{target}: the server gives no size, so offsets from the end cannot be used")
            start = max(0, size + start) if start is not None and start < 0 else start
            end = max(0, size + end) if end is not None and end < 0 else end
        first = start or 0
        if end is not None and end <= first:
            return b""
        if size is not None and first >= size:
            return b""
        with self._adapter() as adapter:
            data = adapter.read_range(target, first, None if end is None else end - first)
        _check_length(target, data, first, end, size)
        return data

    def open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        cache_options: dict[str, Any] | None = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """fsspec's ``open``; writers in text mode or with ``compression`` get a Python-level
        ``__exit__``, so an exception inside their ``with`` block discards the upload (see
        :class:`XferFile`) as it does for a binary file, and a compressed writer's ``close()``
        installs the file (fsspec's leaves it open, never installed)."""
        if "r" in mode:
            return super().open(path, mode, block_size=block_size, cache_options=cache_options,
                                compression=compression, **kwargs)
        if "b" not in mode:
            text = {key: kwargs.pop(key) for key in ("encoding", "errors", "newline") if key in kwargs}
            binary = self.open(path, mode.replace("t", "") + "b", block_size=block_size,
                               cache_options=cache_options, compression=compression, **kwargs)
            writer = _TextWriter(binary, **text)
            writer._below = binary
            return writer
        raw = super().open(path, mode, block_size=block_size, cache_options=cache_options, **kwargs)
        codec_name = get_compression(path, compression)  # "infer": by the name's suffix, maybe none
        if codec_name is None:
            return raw
        handle = compr[codec_name](raw, mode=mode[0])  # as fsspec's open
        codec: type = type(handle)
        with contextlib.suppress(TypeError):  # a codec written in C: left as fsspec makes it
            handle.__class__ = _closing_on_exit(codec)
            handle._below = raw
        return handle

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> XferFile:
        target = self._strip_protocol(path)
        if "r" in mode:
            # fsspec's reopen (an open file unpickled in a Dask worker) hands back the size and the
            # version the file was opened with: the same file is read, or none.
            opened_size, opened_version = kwargs.pop("size", None), kwargs.pop("version", None)
            info = self._looked_up(target)  # the size that bounds the reads: asked now (see cat_file)
            if info["type"] == "directory":
                raise RemoteIsFolder(f"{target} is a folder")
            if info["size"] is None:
                # An open file is read by ranges within its size (fsspec's caches count on it):
                # without one, fsspec's read() failed in arithmetic on None, naming nothing.
                raise UnsupportedOperation(
                    f"{target}: the server gives no size for it (no SIZE or MLST, nor one in its "
                    "listing), and open() reads a file by ranges within its size",
                    hint="read it whole with cat_file() or get() instead",
                )
            etag = str(info["etag"]) if info.get("etag") else None
            if opened_size is not None and (
                opened_size != info["size"] or (opened_version and etag and opened_version != etag)
            ):
                raise IntegrityError(
                    f"{target} changed since it was opened (then {opened_size} bytes, now {info['size']}): "
                    "the file handed over cannot be read as it was",
                    hint="open the file again and read it from the start",
                )
            return XferFile(self, target, mode, block_size, autocommit, cache_options=cache_options,
                            size=info["size"], version=opened_version or etag, **kwargs)
        if "a" in mode:
            raise NotImplementedError("xfer cannot append to a remote file (no protocol it speaks can, safely)")
        if "x" in mode and self.exists(target):
            raise FileExistsError(f"{target} already exists")
        return XferFile(self, target, mode, block_size, autocommit, cache_options=cache_options, **kwargs)

    def get_file(
        self,
        rpath: str,
        lpath: Any,
        callback: Callback = DEFAULT_CALLBACK,
        outfile: Any = None,
        **kwargs: Any,
    ) -> None:
        """Download with xfer's atomic local write (temporary name, size checked, rename)."""
        if outfile is not None or isfilelike(lpath):
            super().get_file(rpath, lpath, callback=callback, outfile=outfile, **kwargs)
            return
        local = os.fspath(lpath)
        if self.isdir(rpath):
            os.makedirs(local, exist_ok=True)
            return
        os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
        with self._adapter() as adapter:
            adapter.get_file(self._strip_protocol(rpath), local, callback=_progress(callback))

    # -- writing --------------------------------------------------------------------------------

    def put_file(
        self,
        lpath: Any,
        rpath: str,
        callback: Callback = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        """Upload with xfer's atomic remote write (FTPS/WebDAV: temporary name, then rename)."""
        target = self._strip_protocol(rpath)
        if mode == "create" and self.exists(target):
            raise FileExistsError(f"{target} already exists")
        local = os.fspath(lpath)
        if os.path.isdir(local):
            self._folder(target)
            return
        self._upload(local, target, _progress(callback))

    def _folder(self, target: str) -> None:
        """Create a folder where the protocol has folders; on plain HTTPS they come with their files."""
        with self._changing(target), self._adapter() as adapter:
            if Capability.MKDIR in adapter.capabilities:
                adapter.mkdir(target, parents=True)

    def _upload(self, local: str, target: str, callback: ProgressCallback | None) -> None:
        with self._changing(target), self._adapter() as adapter:
            try:
                adapter.put_file(local, target, callback=callback)
            except RemoteNotFound:
                # fsspec writers expect missing parent folders to be made (as local files do).
                if Capability.MKDIR not in adapter.capabilities:
                    raise
                adapter.mkdir(posixpath.dirname(target) or "/", parents=True)
                adapter.put_file(local, target, callback=callback)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Write ``value`` as the whole file, atomically (spooled, then one upload)."""
        target = self._strip_protocol(path)
        if mode == "create" and self.exists(target):
            raise FileExistsError(f"{target} already exists")
        with _spool() as (handle, name):
            handle.write(value)
            handle.close()
            self._upload(name, target, None)

    # -- folders, removal, moves, copies ------------------------------------------------------------

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Create a folder (an existing folder is fine; a file there raises FileExistsError)."""
        with self._changing(path), self._adapter() as adapter:
            adapter.mkdir(self._strip_protocol(path), parents=create_parents)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Create a folder and its parents.  On plain HTTPS, ``exist_ok=True`` does nothing:
        writers (Dask's ``to_csv``, partitioned Parquet) ask for it before writing files,
        and there the folders come with the files PUT into them, as on object stores."""
        target = self._strip_protocol(path)
        if not exist_ok and self.exists(target):
            raise FileExistsError(f"{target} already exists")
        if exist_ok:
            self._folder(target)
            return
        self.mkdir(target, create_parents=True)

    def rmdir(self, path: str) -> None:
        target = self._strip_protocol(path)
        with self._changing(path), self._adapter() as adapter:
            try:
                adapter.rmdir(target)
            except RemoteFolderNotEmpty as exc:
                # Listings leave xfer's working files out: a folder that looks empty may hold one.
                # (A look that fails leaves the refusal as it came.)
                try:
                    left = [e.name for e in adapter.ls(target)] if Capability.LS in adapter.capabilities else []
                except XferError:
                    raise exc from None
                if left and all(is_temporary(name) for name in left):
                    raise exc.copy_with(
                        f"{exc.message}: it holds only xfer's working files, which listings here leave out "
                        f"(an upload in progress, or one a crash left): {', '.join(sorted(left))}",
                    ) from exc
                raise

    def rm_file(self, path: str) -> None:
        with self._changing(path), self._adapter() as adapter:
            adapter.rm(self._strip_protocol(path))

    def _is_link(self, path: str) -> bool:
        """Whether folder ``path`` is a link (the server's own word; an FTP MLSD shows one as a
        folder); raises before anything is removed where the server cannot tell."""
        if "link" in self.info(path):
            return True
        with self._adapter() as adapter:
            link = adapter.is_link(self._strip_protocol(path))
        if link is None:
            raise RemoteError(f"cannot tell whether {path} is a folder or a link to one; nothing was removed",
                              hint="remove it with rm(path, recursive=True) (no maxdepth): the server's own "
                              "removal tells links apart", path=path)
        return link

    @_as_one_call
    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Remove files; with ``recursive``, folders with everything in them (one server call each)."""
        if maxdepth is not None:
            # Depth-limited: remove what fsspec's expansion found, deepest first.  Its walk goes
            # through a link to a folder: the link goes, as a link, and nothing reached through it
            # (tree/shared -> /outside lost /outside's files: review G, session 26).
            found = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
            linked = {one.rstrip("/") for one in found if self.isdir(one) and self._is_link(one)}
            for one in reversed(found):
                if any(one.startswith(link + "/") for link in linked):
                    continue
                if one.rstrip("/") not in linked and self.isdir(one):
                    self.rmdir(one)
                else:
                    self.rm_file(one)
            return
        paths = self.expand_path(path, recursive=False)
        removed: list[str] = []
        for target in sorted(paths):
            if any(target.startswith(done.rstrip("/") + "/") for done in removed):
                continue  # already gone with a folder above it
            with self._changing(target), self._adapter() as adapter:
                adapter.rm(target, recursive=recursive)
            removed.append(target)

    @_as_one_call
    def mv(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any) -> None:
        """A server-side rename where the protocol has one and fsspec's rules make it one
        rename (a single path, not into an existing folder); otherwise copy, then remove the
        paths copied, files first, then folders only if empty (:meth:`_remove_moved`): a file
        that arrived in the source during the move stays there, never removed uncopied.

        A path moved onto itself (by any spelling: ``/d/``, ``/d//a``, ``/d/x/../a``, a glob)
        or a folder moved into itself raises :class:`~xfer.errors.UsageError` before anything
        is copied or removed, as :meth:`Adapter.mv <xfer.adapters.base.Adapter.mv>` does:
        copy-then-remove would remove the only copy.

        A list of sources is moved one path at a time, each as a single-path move (into
        ``path2`` where that is one folder): fsspec's copy takes listed folders without what is
        in them (list to list), or flattens their trees into one folder (list to folder, where
        same names overwrite each other), and its remove then took the whole trees.
        """
        self._refuse_moving_into_itself(path1, path2)
        if not isinstance(path1, str):
            sources = list(path1)
            targets = [path2.rstrip("/") + "/"] * len(sources) if isinstance(path2, str) else list(path2)
            if len(targets) != len(sources):
                raise UsageError(f"mv: {len(sources)} sources but {len(targets)} destinations")
            for source, target in zip(sources, targets, strict=True):
                self.mv(source, target, recursive=recursive, maxdepth=maxdepth, **kwargs)
            return
        if isinstance(path1, str) and isinstance(path2, str) and maxdepth is None and not glob.has_magic(path1):
            source, destination = self._strip_protocol(path1), self._strip_protocol(path2)
            if not path2.endswith("/") and not self.isdir(destination):
                with self._adapter() as adapter:
                    can_rename = Capability.MV in adapter.capabilities
                if can_rename and (recursive or not self.isdir(source)):
                    with self._changing(source, destination), self._adapter() as adapter:
                        try:
                            adapter.mv(source, destination)
                        except RemoteNotFound:
                            if not self.exists(source):
                                raise
                            adapter.mkdir(posixpath.dirname(destination) or "/", parents=True)
                            adapter.mv(source, destination)
                    return
        # fsspec's copy, then remove exactly what it copied: a recursive remove of the source
        # would take files a partner put there after the copy's walk, copied nowhere.
        copied: list[tuple[str, bool]] = []
        token = _copied.set(copied)
        try:
            self.copy(path1, path2, recursive=recursive, maxdepth=maxdepth)
        finally:
            _copied.reset(token)
        self._remove_moved(copied)

    def _remove_moved(self, copied: list[tuple[str, bool]]) -> None:
        """Remove the files a move copied, then its folders, deepest first, each only if it is
        empty by then (one that is not keeps what arrived during the move, with a warning).  A
        folder that is a link goes as a link, and nothing reached through it is touched."""
        with self._adapter() as adapter:
            folders_too = Capability.RMDIR in adapter.capabilities  # plain HTTPS has none to remove
        folders = sorted({path for path, folder in copied if folder}, key=lambda p: p.count("/"), reverse=True)
        linked = [path.rstrip("/") for path in folders if folders_too and self._is_link(path)]

        def through_link(path: str) -> bool:
            return any(path.startswith(link + "/") for link in linked)

        for path, folder in copied:
            if folder or through_link(path):
                continue
            with contextlib.suppress(RemoteNotFound):  # already gone: as a move would leave it
                self.rm_file(path)
        if not folders_too:
            return
        for path in folders:
            if through_link(path):
                continue
            if path.rstrip("/") in linked:
                self.rm_file(path)
                continue
            try:
                self.rmdir(path)
            except RemoteFolderNotEmpty:
                _log.warning("mv kept the folder %s: what arrived in it during the move was not moved", path)
            except RemoteNotFound:
                pass

    def _refuse_moving_into_itself(self, path1: Any, path2: Any) -> None:
        """Refuse a move whose destination is one of its sources or lies inside one: fsspec's
        copy-then-remove would remove what it just copied.  Paths compare as the server sees
        them (:func:`_key`); a glob is compared by what it matches (``mv("/d/*", "/d/old/")``)."""
        sources = [path1] if isinstance(path1, str) else list(path1)
        if any(glob.has_magic(self._strip_protocol(p)) for p in sources):
            sources = self.expand_path(path1)  # remembered: the copy that follows does not ask again
        destinations = [path2] if isinstance(path2, str) else list(path2)
        for source in {_key(self._strip_protocol(p)) for p in sources}:
            for destination in {_key(self._strip_protocol(p)) for p in destinations}:
                # A folder destination is moved *into*: the file's own folder is itself.
                into_own_folder = (destination == posixpath.dirname(source) and isinstance(path2, str)
                                   and (path2.endswith("/") or self.isdir(destination)))
                if destination == source or into_own_folder:
                    raise UsageError(f"cannot move {source} onto itself")
                if destination.startswith(source.rstrip("/") + "/"):
                    raise UsageError(f"cannot move the folder {source} into itself ({destination})")

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """WebDAV: a server-side COPY.  FTPS/HTTPS have none: the bytes pass through this machine.

        A path copied onto itself (``copy("/d/a", "/d/")``, ``/d//a``) raises
        :class:`~xfer.errors.UsageError`: as ``shutil.copyfile``'s ``SameFileError``, and so that
        ``mv``'s copy-then-remove can never remove the only copy."""
        source, destination = self._strip_protocol(path1), self._strip_protocol(path2)
        if _key(source) == _key(destination):
            raise UsageError(f"cannot copy {source} onto itself")
        is_folder = self.info(source)["type"] == "directory"
        self._copy_one(source, destination, is_folder)
        copied = _copied.get()
        if copied is not None:
            copied.append((source, is_folder))

    def _copy_one(self, source: str, destination: str, is_folder: bool) -> None:
        """:meth:`cp_file`'s work: a folder made, or a file's bytes copied."""
        if is_folder:
            self._folder(destination)  # fsspec copies what is inside one file at a time
            return
        with self._adapter() as adapter:
            copy = getattr(adapter, "copy", None)
        if copy is not None:
            with self._changing(destination), self._adapter() as adapter:
                try:
                    adapter.copy(source, destination, overwrite=True)  # type: ignore[attr-defined]
                except RemoteNotFound:
                    if not self.exists(source):
                        raise
                    adapter.mkdir(posixpath.dirname(destination) or "/", parents=True)
                    adapter.copy(source, destination, overwrite=True)  # type: ignore[attr-defined]
            return
        with tempfile.TemporaryDirectory(prefix="xfer-relay-") as folder:
            local = str(Path(folder) / "relay")
            with self._adapter() as adapter:
                adapter.get_file(source, local)
            self._upload(local, destination, None)


@contextlib.contextmanager
def _spool() -> Iterator[tuple[Any, str]]:
    """A private local temporary file (name and open handle), removed afterwards whatever happens."""
    fd, name = tempfile.mkstemp(prefix="xfer-spool-")
    handle = os.fdopen(fd, "wb")
    try:
        yield handle, name
    finally:
        handle.close()
        with contextlib.suppress(OSError):
            os.unlink(name)


class XferFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec is untyped
    """A remote file opened through :class:`XferFileSystem`.

    Read mode: random access through fsspec's block cache; each missing block is one
    ranged read (HTTP ``Range``, FTP ``REST``).  Write mode: each block fsspec flushes
    goes straight to the server through ``Adapter.open_write`` (the temporary part name on
    FTPS and WebDAV, a chunked PUT), and ``close()`` renames it into place once its length
    is proven.  An exception leaving a ``with`` block aborts the upload and removes the part:
    a block around the file itself, or around anything that closes it from its ``__exit__``
    (``fsspec.open``'s ``OpenFile``, text mode, compression, pandas' writers, ``ExitStack``,
    ``contextlib.closing``).  ``close()`` called any other way installs the file, even inside
    an ``except`` block, and so does a ``with`` block that ends normally inside one.  Inside
    an fsspec transaction (``autocommit=False``) the bytes are spooled to a local temporary
    file instead and uploaded by ``commit()``, so nothing reaches the server before it.
    """

    fs: XferFileSystem
    #: Writing: the stack when the file was opened (see ``_exception_leaving_with``).
    _opened_under: Stack = ()

    def __init__(self, *args: Any, version: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Reading: the ETag at open (where the server gave one), sent with every block's read.
        self.version = version
        if self.writable():
            self._opened_under = _stack(sys._getframe(1))

    def __reduce__(self) -> tuple[Any, ...]:
        """fsspec's (reopen at the same position, the same size) with the version read at open."""
        function, arguments = super().__reduce__()
        *head, kwargs = arguments
        return function, (*head, {**kwargs, "version": self.version} if self.version else kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        """The bytes ``[start, end)``; fewer than the size known at open holds there means the
        file changed while it was open: :class:`~xfer.errors.IntegrityError`, never a short read
        (fsspec would return b"" before the size it was told, or mix the new bytes with old
        cached blocks).  Over HTTP and WebDAV each read carries the ETag seen at open, so a
        file replaced by one of the same size is caught too (:meth:`Adapter.read_range`)."""
        if end <= start:
            return b""
        with self.fs._adapter() as adapter:
            data = adapter.read_range(self.path, start, end - start, version=self.version)
        _check_length(self.path, data, start, end, self.size)
        return data

    # -- writing ------------------------------------------------------------------------------

    _spool_name: str | None = None
    _spool_handle: Any = None
    #: The streaming upload (autocommit) and the pooled connection it holds until it ends.
    _writer: RemoteWriter | None = None
    _lease: contextlib.ExitStack | None = None

    def _initiate_upload(self) -> None:
        if self.autocommit:
            lease = contextlib.ExitStack()
            adapter = lease.enter_context(self.fs._adapter())
            if Capability.OPEN_WRITE in adapter.capabilities:
                try:
                    self._writer = adapter.open_write(self.path)
                except BaseException:
                    lease.__exit__(*sys.exc_info())
                    raise
                self._lease = lease
                return
            lease.close()
        fd, self._spool_name = tempfile.mkstemp(prefix="xfer-spool-")
        self._spool_handle = os.fdopen(fd, "wb")

    def _upload_chunk(self, final: bool = False) -> bool:
        if self._writer is not None:
            try:
                with self.buffer.getbuffer() as block:
                    self._writer.write(block)
            except BaseException:
                self._release(failed=True)  # the writer has removed the part already
                raise
            if final:
                self.commit()
            return True
        self.buffer.seek(0)
        shutil.copyfileobj(self.buffer, self._spool_handle)
        if final:
            self._spool_handle.close()
            if self.autocommit:
                self.commit()
        return True

    def commit(self) -> None:
        """Put the file in place: end the stream (or upload the spooled bytes) under the final name."""
        writer = self._writer
        if writer is not None:
            with self.fs._changing(self.path):
                try:
                    writer.close()
                except BaseException:
                    self._release(failed=True)
                    raise
            self._release(failed=False)
            return
        if self._spool_name is None:
            return
        if not self.forced:
            # Never closed (its writer dropped, say after an error the caller caught): the spool
            # holds a prefix at most.  A writer dropped unclosed never installs.
            _log.warning("discarded the upload of %s: the transaction ended with the file never closed", self.path)
            self._abandon()
            return
        try:
            self.fs._upload(self._spool_name, self.path, None)
        finally:
            self.discard()

    def discard(self) -> None:
        """Forget what was written: the streaming upload is aborted (its part removed), the spool deleted."""
        if self._writer is not None:
            self._writer.abort()
            self._release(failed=True)
        name, self._spool_name = self._spool_name, None
        if self._spool_handle is not None:
            self._spool_handle.close()
        if name is not None:
            with contextlib.suppress(OSError):
                os.unlink(name)

    def _release(self, *, failed: bool) -> None:
        """Give the connection the stream held back to the pool (closed instead after a failure:
        its session may be mid-reply)."""
        self._writer = None
        lease, self._lease = self._lease, None
        if lease is None:
            return
        if failed:
            lease.__exit__(RuntimeError, RuntimeError("the streaming upload failed"), None)
        else:
            lease.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and self.writable():
            # The block failed: what was written is incomplete by definition.
            self._abandon()
            return
        self.close()

    #: Set by :meth:`_dealloc_warn`: the ``close()`` to come is a wrapper's finalizer's.
    _finalizing: bool = False

    def _dealloc_warn(self, source: object) -> None:
        """Called by io's ``TextIOWrapper`` (and ``BufferedWriter``) on the object below it just
        before the wrapper's finalizer closes it: the wrapper was garbage-collected unclosed, so
        the ``close()`` that follows must not install (a writer dropped unclosed never does)."""
        self._finalizing = True

    def close(self) -> None:
        """Reading: drop the cache.  Writing: put the file in place (:meth:`commit`), unless an
        exception is leaving a ``with`` block around a wrapper of this file (see the class), or
        the close is a finalizer's (a wrapper of this file garbage-collected unclosed)."""
        if self.writable() and not self.closed and self._finalizing:
            _log.warning("discarded the upload of %s: a wrapper of it was dropped unclosed", self.path)
            self._abandon()
            return
        leaving = _exception_leaving_with(self._opened_under) if self.writable() and not self.closed else None
        if leaving is not None:
            # Never silent: a caller that meant to install after handling the error learns why not.
            _log.warning("discarded the upload of %s: closed while %s was leaving a with block around it",
                         self.path, type(leaving).__name__)
            self._abandon()
            return
        self._opened_under = ()
        super().close()

    def _abandon(self) -> None:
        """Close without installing: what was written is discarded."""
        self._opened_under = ()
        self.discard()
        self.closed = True

    def __del__(self) -> None:
        # Never upload from a garbage-collected, unclosed file: only close() commits.
        if self.writable():
            self._abandon()
        else:
            super().__del__()
