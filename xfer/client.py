"""The library's front door: ``connect()``, and multi-file put/get built on the adapter verbs.

``connect`` resolves a profile (or a URL plus options), loads the identity, builds
the TLS context through the one factory, and returns an open adapter::

    import xfer
    with xfer.connect("partner") as remote:
        remote.put_file("invoice.edi", "/inbox/invoice.edi")

Everything the CLI does goes through here, so a script has the same power.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .adapters.base import (
    Adapter,
    Capability,
    ConnectionSettings,
    Entry,
    ProgressCallback,
    TLSSettings,
    TransferResult,
)
from .batch import CallbackFactory, Task, run_tasks
from .errors import RemoteError, RemoteIsFolder, RemoteNotFound, UnsupportedOperation, UsageError, XferError
from .options import DEFAULT_MAX_DEPTH
from .profiles import OverrideStyle, Profile, load_profile
from .protocols.spec import SettingsSource
from .secrets import Secret, resolve
from .transfer import local_error, local_errors
from .types import ListedPath
from .urls import Endpoint, check_remote_path, parse_url, url_username

if TYPE_CHECKING:
    from .identity import Identity

__all__ = ["DEFAULT_MAX_DEPTH", "CallbackFactory", "connect", "get", "put", "resolve_profile"]


_log = logging.getLogger(__name__)

#: The name of the profile built from a bare URL target.
URL_PROFILE = "url-target"

_OVERRIDABLE = ("identity", "identity_password", "ca", "pin", "username", "password", "timeout",
                "tls_min", "tls_max", "max_listing")  # fmt: skip


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


def _host(endpoint: Endpoint) -> str:
    return f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host


def connect(
    target: str | Profile,
    *,
    root: str | None = None,
    identity_password: str | Secret | None = None,
    password: str | Secret | None = None,
    warn: Callable[[str], None] | None = None,
    **overrides: Any,
) -> Adapter:
    """Open a connection to a profile (name or :class:`Profile`) or a URL.

    ``overrides`` are profile options (``identity``, ``ca``, ``pin``, ``username``,
    ``timeout``, ``tls_min``, ``tls_max``).  Secrets come as references
    (``"env:VAR"``) or as :class:`~xfer.secrets.Secret` objects; ``root`` replaces
    the folder that relative paths start from (default: the URL's path).
    ``warn`` receives warnings such as an identity that expires soon.
    """
    refs = {
        "identity_password": identity_password if isinstance(identity_password, str) else None,
        "password": password if isinstance(password, str) else None,
    }
    profile = resolve_profile(target, {**overrides, **refs})
    profile.check_files()
    spec = profile.spec
    endpoint = profile.endpoint

    identity = _load_identity(
        profile,
        identity_password if isinstance(identity_password, Secret) else None,
        warn,
    )
    tls: TLSSettings | None = None
    if spec.tls:
        from .tls import create_ssl_context

        context = create_ssl_context(
            identity,
            ca=profile.path_value("ca"),
            pin=profile.get("pin"),
            minimum_version=profile.get("tls_min"),
            maximum_version=profile.get("tls_max"),
        )
        tls = TLSSettings(context, identity)
    resolved_password: str | None
    if isinstance(password, Secret):
        resolved_password = password.value
    elif profile.get("password"):
        resolved_password = resolve(
            profile.get("password"), field_name="password",
            keyring_name=f"{profile.name}/password", base_dir=_base(profile),
        )  # fmt: skip
    else:
        resolved_password = None
    options = spec.build_settings(_settings_source(profile, identity, warn))
    from .registry import adapter_class

    cls = adapter_class(profile.scheme)
    settings = ConnectionSettings(
        scheme=profile.scheme,
        host=endpoint.host,
        port=endpoint.port,
        root=root if root is not None else endpoint.path,
        tls=tls,
        username=profile.get("username"),
        password=resolved_password,
        timeout=float(profile.get("timeout")),
        max_listing=int(profile.get("max_listing")) * 2**20,
        options=options,
        profile_name=None if profile.name == URL_PROFILE else profile.name,
    )
    return cls(settings)


def _settings_source(profile: Profile, identity: Identity | None, warn: Callable[[str], None] | None) -> SettingsSource:
    """What the protocol's settings builder may read: its table, and its files and secrets resolved."""
    section = profile.spec.section

    def secret(key: str) -> str | None:
        ref = profile.section(section).get(key)
        if not ref:
            return None
        return resolve(ref, field_name=f"[{section}] {key}", keyring_name=f"{profile.name}/{key}",
                       base_dir=_base(profile))  # fmt: skip

    return SettingsSource(
        table=profile.protocol_options(),
        url=profile.url,
        identity=identity,
        path=lambda key: profile.path_value(key, section=section),
        secret=secret,
        warn=warn,
    )


def _base(profile: Profile) -> Path | None:
    return profile.source.parent if profile.source else None


def _load_identity(
    profile: Profile, secret: Secret | None, warn: Callable[[str], None] | None
) -> Identity | None:
    path = profile.path_value("identity")
    if path is None:
        return None
    from .identity import Identity

    ref = profile.get("identity_password")
    password = secret.value if secret else (
        resolve(ref, field_name="identity_password", keyring_name=f"{profile.name}/identity_password",
                base_dir=_base(profile))
        if ref else None
    )  # fmt: skip
    identity = Identity.load(path, password)
    for message in identity.check_usable():
        if warn is not None:
            warn(message)
    return identity


# -- many files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    local: Path
    remote: str
    size: int | None


def _remote_is_dir(remote: Adapter, path: str) -> bool:
    if path.endswith("/"):
        return True
    if not ({Capability.LS, Capability.INFO} & remote.capabilities):
        return False
    try:
        return remote.info(path).is_dir
    except (RemoteNotFound, UnsupportedOperation):
        # Not there, or the server cannot say (a folder that may not be listed): the
        # destination names the file.  An upload must not depend on a listing.
        return False


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
    """Upload files (and with ``recursive`` folders) to ``destination``.

    ``destination`` ending in ``/``, naming an existing remote folder, or given
    several sources, is a folder to upload *into*; otherwise it is the file name.
    With ``parallel > 1`` and ``reconnect`` (opens another connection like
    ``remote``), files move over up to that many connections at once.
    """
    check_remote_path(destination)  # typed by the caller; the names appended below are listed
    paths = [Path(s) for s in sources]
    folder_sources: set[Path] = set()
    for path in paths:
        with local_errors(path, "reading"):  # stat() raises for a name too long, and more
            path.stat()
            if path.is_dir():
                folder_sources.add(path)
        if path in folder_sources and not recursive:
            raise UsageError(f"{path} is a folder", hint="pass recursive=True to upload folders",
                             cli_hint="use -r to upload folders")  # fmt: skip
    into = len(paths) > 1 or bool(folder_sources) or _remote_is_dir(remote, destination)
    jobs: list[_Job] = []
    folders: list[str] = []
    for path in paths:
        # Names from the local disk are names (a backslash is legal in one on POSIX), not typed paths.
        base = ListedPath(posixpath.join(destination, path.name)) if into else destination
        with local_errors(path, "reading"):
            if path in folder_sources:
                folders.append(base)
                for child in sorted(_walk(path)):
                    relative = child.relative_to(path).as_posix()
                    if child.is_dir():
                        folders.append(ListedPath(posixpath.join(base, relative)))
                    else:
                        jobs.append(_Job(child, ListedPath(posixpath.join(base, relative)), child.stat().st_size))
            else:
                jobs.append(_Job(path, base, path.stat().st_size))
    if folders and Capability.MKDIR in remote.capabilities:
        for folder in folders:
            remote.mkdir(folder, parents=True)
    _refuse_duplicates([job.remote for job in jobs], "upload")
    created: set[str] = set()
    mkdir_lock = threading.Lock()

    def upload(job: _Job) -> Callable[[Adapter, ProgressCallback | None], TransferResult]:
        def run(adapter: Adapter, callback: ProgressCallback | None) -> TransferResult:
            try:
                return adapter.put_file(job.local, job.remote, callback=callback)
            except RemoteNotFound:
                # Like rclone: a missing destination folder is created, then the upload is
                # retried once.  The lock keeps parallel workers from racing to create it.
                if Capability.MKDIR not in adapter.capabilities:
                    raise
                parent = ListedPath(posixpath.dirname(job.remote.rstrip("/")) or "/")
                with mkdir_lock:
                    if parent not in created:
                        adapter.mkdir(parent, parents=True)
                        created.add(parent)
                return adapter.put_file(job.local, job.remote, callback=callback)

        return run

    tasks = [Task(str(job.local), job.remote, job.size, upload(job)) for job in jobs]
    return run_tasks(remote, tasks, callbacks=callbacks, parallel=parallel, reconnect=reconnect)


def _refuse_duplicates(destinations: list[str], what: str) -> None:
    """Two sources with the same name would race for one destination (and one would be lost)."""
    seen: set[str] = set()
    for destination in destinations:
        if destination in seen:
            raise UsageError(f"two sources would {what} to {destination}",
                             hint="give them different names, or transfer them separately")
        seen.add(destination)


def _walk(folder: Path) -> Iterator[Path]:
    """Everything under ``folder``; a subfolder that cannot be read fails the upload.

    ``os.walk`` skips what it cannot list unless told otherwise: ``put -r`` would then
    report success for a tree it uploaded only in part.
    """
    for dirpath, dirnames, filenames in os.walk(folder, onerror=_unreadable):
        dirnames.sort()
        for name in dirnames:
            yield Path(dirpath) / name
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _unreadable(exc: OSError) -> None:
    raise local_error(exc, exc.filename or "a local folder", "reading") from exc


def get(
    remote: Adapter,
    sources: list[str],
    destination: str | os.PathLike[str],
    *,
    recursive: bool = False,
    callbacks: CallbackFactory | None = None,
    parallel: int = 1,
    reconnect: Callable[[], Adapter] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[TransferResult]:
    """Download remote files (and with ``recursive`` folders) to ``destination``.

    ``destination`` that is an existing folder, ends in a path separator, or is
    given several sources, is a folder to download *into*.  ``parallel`` and
    ``reconnect`` as for :func:`put`.  A folder is walked at most ``max_depth``
    levels deep (:class:`~xfer.errors.RemoteError` beyond); the whole tree is listed
    before any local folder is made, so a refused tree leaves nothing behind.
    Local problems (a file where a folder must go, a name too long) raise
    :class:`~xfer.errors.LocalError` naming the local path.
    """
    dest = Path(destination)
    text = os.fspath(destination)
    with local_errors(dest, "writing"):  # a name too long fails even the is_dir() check
        dest_exists, dest_is_dir = dest.exists(), dest.is_dir()
    if len(sources) > 1 and dest_exists and not dest_is_dir:
        raise UsageError(f"{dest} is a file; with several sources the destination must be a folder")
    into = dest_is_dir or text.endswith(("/", os.sep)) or len(sources) > 1
    jobs: list[tuple[str, Path, int | None]] = []
    folders: list[Path] = [dest] if into else []
    for source in sources:
        name = posixpath.basename(source.rstrip("/")) or "download"
        local = dest / name if into else dest
        entry = _stat(remote, source) if recursive else None
        if entry is not None and entry.is_dir:
            tree_jobs, tree_folders = _remote_tree(remote, source, local, max_depth)
            jobs.extend(tree_jobs)
            folders.extend(tree_folders)
        else:
            jobs.append((source, local, entry.size if entry else None))
    _refuse_duplicates([str(local) for _source, local, _size in jobs], "download")
    _make_folders([*folders, *(local.parent for _source, local, _size in jobs)])

    def download(source: str, local: Path) -> Callable[[Adapter, ProgressCallback | None], TransferResult]:
        def run(adapter: Adapter, callback: ProgressCallback | None) -> TransferResult:
            try:
                return adapter.get_file(source, local, callback=callback)
            except RemoteIsFolder:
                raise  # the adapter knew, and said so in the shared words
            except RemoteError as exc:
                # Servers answer a GET/RETR on a folder in many ways (403, 550, an HTML page);
                # only after a failure is it worth a request to find out it was a folder.
                # An adapter that already said "is a folder" (exit 6) is not overruled.
                settled = isinstance(exc, RemoteNotFound | RemoteIsFolder)
                if not recursive and not settled and _is_folder(adapter, source):
                    raise RemoteIsFolder(
                        f"{adapter.settings.server}: {source} is a folder",
                        hint="pass recursive=True to download folders", cli_hint="use -r to copy a folder",
                    ) from exc
                raise

        return run

    tasks = [Task(str(local), source, size, download(source, local)) for source, local, size in jobs]
    return run_tasks(remote, tasks, callbacks=callbacks, parallel=parallel, reconnect=reconnect)


def _make_folders(folders: list[Path]) -> None:
    """Create the local folders a download needs; on failure remove the ones made here.

    A file where a folder must go, or a name too long, is a :class:`LocalError` naming it.
    """
    made: list[Path] = []
    try:
        for folder in dict.fromkeys(folders):  # in order, each once
            missing: list[Path] = []
            current = folder
            with local_errors(folder, "creating"):
                while not current.is_dir():
                    missing.append(current)
                    if current.parent == current:
                        break
                    current = current.parent
                for path in reversed(missing):  # from the top down
                    path.mkdir()
                    made.append(path)
    except BaseException:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def _is_folder(remote: Adapter, path: str) -> bool:
    try:
        entry = _stat(remote, path)
    except XferError:
        return False
    return entry is not None and entry.is_dir


def _stat(remote: Adapter, path: str) -> Entry | None:
    if not ({Capability.LS, Capability.INFO} & remote.capabilities):
        return None
    return remote.info(path)


#: Characters ``Adapter.remote_path`` refuses (a line break ends a path in every line protocol).
_UNADDRESSABLE = "\x00\r\n"


def _safe_name(name: str) -> bool:
    """A single local path component: no separator of this OS, no ``.``/``..``, no NUL.

    A backslash is an ordinary character in a POSIX file name, a separator on Windows.
    """
    separators = {"/", "\x00", os.sep, *([os.altsep] if os.altsep else [])}
    return name not in ("", ".", "..") and not any(c in name for c in separators)


def _remote_tree(
    remote: Adapter, folder: str, local: Path, max_depth: int
) -> tuple[list[tuple[str, Path, int | None]], list[Path]]:
    """The files under remote ``folder`` (depth first, sorted) and the local folders they need.

    Walked with an explicit stack, not recursion: a listing decides how deep this goes, and
    a server that shows an endless tree must meet the ``max_depth`` limit, not Python's.
    """
    jobs: list[tuple[str, Path, int | None]] = []
    folders = [local]
    stack: list[tuple[Iterator[Entry], str, Path, int]] = [(iter(remote.ls(folder)), folder, local, 0)]
    while stack:
        entries, current, target, depth = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if any(char in entry.name for char in _UNADDRESSABLE):
            # Listed (and shown escaped) but no remote path can name it: pass over it, so one
            # odd name does not stop the rest of the folder.
            _log.warning("skipped %s in %s: xfer cannot address a name with a line break or NUL",
                         ascii(entry.name), current)  # fmt: skip
            continue
        if not _safe_name(entry.name):
            # A hostile or broken server must not steer a download outside the destination.
            raise RemoteError(
                f"refusing to download {entry.name!r} listed in {current}: not a plain file name",
                hint="the server listed a name with a path in it ('/', '..'); report it to the partner",
            )
        path = ListedPath(posixpath.join(current, entry.name))  # a listed name: a backslash is part of it
        if entry.is_dir:
            if depth >= max_depth:
                raise RemoteError(
                    f"{folder} goes deeper than {max_depth} folder levels (at {path}); nothing was downloaded",
                    hint="a link loop on the server can show an endless tree; if the tree really is this "
                    "deep, allow more levels (max_depth)",
                    cli_hint="a link loop on the server can show an endless tree; if the tree really is this "
                    "deep, allow more levels with --max-depth",
                )
            folders.append(target / entry.name)
            stack.append((iter(remote.ls(path)), path, target / entry.name, depth + 1))
        elif entry.type == "file":
            jobs.append((path, target / entry.name, entry.size))
    return jobs, folders
