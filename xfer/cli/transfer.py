"""``xfer put/get/ls/rm/mkdir/mv``: thin wrappers over :mod:`xfer.client` and the adapter verbs."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, cast

import typer

from ..errors import BatchInterrupted, FilesFailed, UsageError, XferError
from ..options import DEFAULT_MAX_DEPTH
from ..types import Entry, OperationResult
from .common import (
    Connection,
    JsonFlag,
    QuietFlag,
    echo,
    emit_json,
    human_size,
    info,
    open_remote,
    progress,
    show_progress,
    warn,
    with_connection_options,
)
from .completion import complete_more_sources, complete_remote_then_local, complete_target

if TYPE_CHECKING:
    from ..adapters.base import Adapter, TransferResult

__all__ = ["register"]

Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Transfer folders and their contents.")]
Parallel = Annotated[
    int,
    typer.Option("--parallel", "-P", min=1, max=16,
                 help="Move up to N files at once, each over its own connection (1-16)."),
]
RemoveSource = Annotated[
    bool,
    typer.Option("--remove-source-files",
                 help="Remove each source file once its copy is verified (size on both sides): moves, not copies."),
]


@contextmanager
def _open(target: str, connection: Connection) -> Iterator[tuple[Adapter, str, str]]:
    """Connect to a target; yield the adapter, the path under its root and the target's prefix."""
    from ..urls import parse_target

    parsed = parse_target(target)
    # A URL's path is the target's path, so its connection starts at the server's root.
    adapter = open_remote(parsed.profile, connection) if parsed.profile else open_remote(target, connection, root="/")
    with adapter:
        yield adapter, parsed.path, parsed.origin


def _report(results: list[TransferResult], prefix: str, *, json_output: bool, quiet: bool) -> None:
    """Render what put/get transferred: JSON, or one line per file.

    ``result.remote`` is already the user's path (under the profile's root): adapters convert
    server paths before they return.  Converting it again here once turned ``/inbox/x`` of a
    profile rooted at ``/inbox`` into ``/x``.
    """
    if json_output:
        emit_json([r.to_dict() for r in results])
        return
    for result in results:
        arrow = (f"{result.local} -> {prefix}{result.remote}" if result.direction == "put"
                 else f"{prefix}{result.remote} -> {result.local}")
        rate = f" ({human_size(result.rate)}/s)" if result.elapsed > 0.05 else ""
        note = f"  {result.details['note']}" if result.details.get("note") else ""
        info(f"{result.direction} {arrow}  {human_size(result.size)} in {result.elapsed:.2f} s{rate}{note}",
             quiet=quiet)
        if result.details.get("warning"):  # e.g. an AS2 processed/warning: shown even with --quiet
            warn(str(result.details["warning"]))


MaxDepth = Annotated[
    int,
    typer.Option("--max-depth", min=1, show_default=True,
                 help="With -r: descend at most this many folder levels (an endless tree on the server fails)."),
]


def _source_and_destination(command: str, sources: list[str], last: str | None) -> tuple[list[str], str]:
    """put/get take SOURCE... DESTINATION; say in plain words which of the two is missing.

    Click would name the parameter ("Missing argument 'sources'") and, with one path
    given, take it for the destination.
    """
    from ..urls import is_remote

    remote_first = command == "get"
    remote_what = "PROFILE:/path or a URL"
    local_what = "a file, or a folder to download into" if remote_first else "a local file"
    source_kind, source_what = ("remote", remote_what) if remote_first else ("local", local_what)
    destination_kind, destination_what = ("local", local_what) if remote_first else ("remote", remote_what)
    example = ("xfer get PROFILE:/path/file.txt ." if remote_first
               else "xfer put file.txt PROFILE:/path/")
    if last is None:
        raise UsageError(f"{command} needs a {source_kind} source and a {destination_kind} destination",
                         hint=f"e.g. {example}")
    if not sources:
        if is_remote(last) == remote_first:  # the one path given is a source
            raise UsageError(f"{command} {last}: missing the {destination_kind} destination ({destination_what})",
                             hint=f"e.g. {example}")
        raise UsageError(f"{command} to {last}: missing the {source_kind} source ({source_what})",
                         hint=f"e.g. {example}")
    return sources, last


@with_connection_options
def put(
    sources: Annotated[
        list[str], typer.Argument(help="Local files (folders with -r).", metavar="SOURCE", show_default=False,
                                  autocompletion=complete_more_sources)
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    target: Annotated[
        Optional[str],  # noqa: UP045 - typer needs a runtime Optional
        typer.Argument(help="PROFILE:/path or URL; ending in / = into that folder.", metavar="TARGET",
                       show_default=False),  # completed by SOURCE's function: click never asks TARGET's
    ] = None,
    *,
    connection: Connection,
    recursive: Recursive = False,
    parallel: Parallel = 1,
    remove_source_files: RemoveSource = False,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Upload files to a server."""
    from ..client import put as put_files
    from ..transfer import local_error

    connection = replace(connection, sha256=json_output)  # a SHA-256 that nothing shows is not computed

    sources, target = _source_and_destination("put", sources, target)
    if STDIO in sources:
        if remove_source_files:
            raise UsageError("--remove-source-files cannot remove standard input", hint="name files to move them")
        _put_stdin(sources, target, connection, recursive=recursive, parallel=parallel, json_output=json_output,
                   quiet=quiet)
        return
    for source in sources:  # before connecting: a typo should not cost a TLS handshake
        try:
            os.stat(source)
        except OSError as exc:
            raise local_error(exc, source, "reading") from exc

    before = _local_states(sources) if remove_source_files else {}
    with _open(target, connection) as (remote, path, prefix):
        with progress(show_progress(quiet=quiet, json_output=json_output)) as callbacks:
            results, failed = _moved(lambda: put_files(remote, list(sources), path, recursive=recursive,
                                                       callbacks=callbacks, parallel=parallel))
        kept = _remove_put_sources(remote, results, before) if remove_source_files else None
    _report(results, prefix, json_output=json_output, quiet=quiet)
    if remove_source_files:
        _said_removed(results, "", quiet=quiet)
    _raise_first(failed, kept)


@with_connection_options
def get(
    sources: Annotated[
        list[str], typer.Argument(help="Remote files: PROFILE:/path or URLs.", metavar="SOURCE", show_default=False,
                                  autocompletion=complete_remote_then_local)
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    local: Annotated[
        Optional[str],  # noqa: UP045 - typer needs a runtime Optional
        typer.Argument(help="Local file, or folder to download into.", metavar="LOCAL", show_default=False),
    ] = None,
    *,
    connection: Connection,
    recursive: Recursive = False,
    parallel: Parallel = 1,
    max_depth: MaxDepth = DEFAULT_MAX_DEPTH,
    remove_source_files: RemoveSource = False,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Download files (atomically: a temp name, renamed when complete and verified)."""
    from ..client import get as get_files
    from ..urls import parse_target

    connection = replace(connection, sha256=json_output)  # a SHA-256 that nothing shows is not computed

    sources, local = _source_and_destination("get", sources, local)
    if local == STDIO:
        if remove_source_files:
            raise UsageError("--remove-source-files needs the copies on disk, not on standard output",
                             hint="name a local file or folder to move them to")
        _get_stdout(sources, connection, recursive=recursive, json_output=json_output, quiet=quiet)
        return
    parsed = [parse_target(s) for s in sources]
    if len({p.origin for p in parsed}) > 1:
        raise UsageError("all sources of one get must be on the same server", hint="run one get per server")
    with _open(sources[0], connection) as (remote, _path, prefix):
        if remove_source_files:
            from ..sync import check_removable

            check_removable(remote)
        paths, listed = _expand(remote, [(p.path, str(p)) for p in parsed], recursive=recursive, max_depth=max_depth)
        if listed and not local.endswith(("/", os.sep)):
            local += os.sep  # a pattern names files to download into a folder, however many match
        with progress(show_progress(quiet=quiet, json_output=json_output)) as callbacks:
            # What a pattern matched goes as its listed entry: file or folder is known, not asked again.
            results, failed = _moved(lambda: get_files(
                remote, [listed.get(p, p) for p in paths], local, recursive=recursive, callbacks=callbacks,
                parallel=parallel, max_depth=max_depth))
        kept = _remove_got_sources(remote, results, listed) if remove_source_files else None
    _report(results, prefix, json_output=json_output, quiet=quiet)
    if remove_source_files:
        _said_removed(results, "remote ", quiet=quiet)
    _raise_first(failed, kept)


def _moved(
    batch: Callable[[], list[TransferResult]],
) -> tuple[list[TransferResult], FilesFailed | BatchInterrupted | None]:
    """What ``batch`` moved, and the failure of the files it did not, or the Ctrl-C (SIGTERM) that
    stopped it (see :func:`xfer.batch.run_tasks`): the files that moved are reported, and their
    sources removed, whatever failed beside them or cut the batch short (a cron job stopped by
    ``timeout`` must not send again, as new, files that had moved and lost their sources)."""
    try:
        return batch(), None
    except FilesFailed as failed:
        return failed.results, failed
    except BatchInterrupted as interrupted:
        return interrupted.results, interrupted


def _raise_first(failed: FilesFailed | BatchInterrupted | None, kept: XferError | None) -> None:
    """After the report: the batch's failure (each other file's failure a warning), else what
    kept a source.  An interruption is raised again after every failure is a warning: the
    run ends as any Ctrl-C does (``xfer: interrupted``, exit 130)."""
    if isinstance(failed, BatchInterrupted):
        first = _said([*failed.failures, *([kept] if kept is not None else [])])
        if first is not None:
            warn(str(first))
        raise failed
    if failed is not None:
        _said([*failed.failures, *([kept] if kept is not None else [])])
        raise failed
    if kept is not None:
        raise kept


# -- streams: put - and get … - -------------------------------------------------------------------

#: The name of standard input (put) and standard output (get) on the command line.
STDIO = "-"


def _put_stdin(
    sources: list[str], target: str, connection: Connection, *, recursive: bool, parallel: int, json_output: bool,
    quiet: bool,
) -> None:
    """``put - TARGET``: standard input, streamed under the temporary name, renamed at its end.

    A read error or an interruption aborts the upload (the part is removed).  A producer
    that dies closes the pipe just as one that finished does; ``put -`` cannot tell the two.
    """
    import io
    import sys

    from ..adapters.base import Capability
    from ..buffers import aligned_buffer
    from ..errors import RemoteIsFolder, RemoteNotFound, UnsupportedOperation
    from ..transfer import UPLOAD_BLOCK, local_errors

    if sources != [STDIO]:
        raise UsageError("put - reads one stream: give no other source with -", hint="xfer put - PROFILE:/path/file")
    if recursive or parallel > 1:
        raise UsageError(f"put - reads one stream: {'-r' if recursive else '-P'} does not apply")
    if target.endswith("/"):
        raise UsageError(f"put - needs a file name to write to, not the folder {target}",
                         hint=f"name the file: xfer put - {target}data.csv")
    with _open(target, connection) as (remote, path, prefix):
        if Capability.OPEN_WRITE not in remote.capabilities:
            # AS2 signs, encrypts and hashes the whole message before sending: not a stream target.
            raise UnsupportedOperation(f"{remote.label or remote.settings.scheme + '://'} cannot take a stream "
                                       "(put -)", hint="write the data to a file and put the file")
        try:
            if remote.info(path).is_dir:
                raise RemoteIsFolder(f"{prefix}{path} is a folder; put - writes one file",
                                     hint=f"name the file: xfer put - {prefix}{path.rstrip('/')}/data.csv")
        except (RemoteNotFound, UnsupportedOperation):
            pass  # nothing there (or no way to look): the stream makes the file
        stdin = cast(io.BufferedReader, sys.stdin.buffer)  # typeshed says BinaryIO, which lacks readinto
        view = aligned_buffer(UPLOAD_BLOCK)  # where the kernel's copy lands matters (xfer/buffers.py)
        with remote.open_write(path) as writer:
            while True:
                with local_errors("standard input", "reading"):
                    count = stdin.readinto(view)
                if not count:
                    break
                writer.write(view[:count])
        result = writer.close()
    _report([result], prefix, json_output=json_output, quiet=quiet)


def _get_stdout(sources: list[str], connection: Connection, *, recursive: bool, json_output: bool,
                quiet: bool) -> None:
    """``get SOURCE -``: the file to standard output, as it arrives; no progress.

    The length is checked as for a file: a truncated download exits 7 even though its
    first bytes already went out (the reader of the pipe learns it from the exit code).
    """
    import sys

    from ..streams import devnull_stdout

    if len(sources) != 1 or recursive:
        raise UsageError("get … - writes one file to standard output",
                         hint="give one remote file, without -r")
    if json_output:
        raise UsageError("get … - writes the file to standard output, so --json cannot use it",
                         hint="the summary line goes to standard error (leave out -q to see it)")
    if sys.stdout is None:  # (>&-: Python has no stdout; before, an AttributeError)
        from ..errors import LocalError

        raise LocalError("cannot write to standard output: it is closed",
                         hint="redirect it to a file or a pipe, or name a local file instead of -")
    with _open(sources[0], connection) as (remote, path, prefix):
        try:
            result = remote.get_stream(path, sys.stdout.buffer)
        except XferError as exc:
            if isinstance(exc.__cause__, BrokenPipeError):
                devnull_stdout()  # the reader is gone: no second error from Python's exit flush
            raise
    result.local = STDIO
    _report([result], prefix, json_output=False, quiet=quiet)


@with_connection_options
def ls(
    target: Annotated[
        str, typer.Argument(help="PROFILE:/path or URL of a folder (or file).", autocompletion=complete_target)
    ],
    connection: Connection,
    json_output: JsonFlag = False,
) -> None:
    """List a remote folder."""
    with _open(target, connection) as (remote, path, _prefix):
        entries = remote.ls(path)
    if json_output:
        emit_json([e.to_dict() for e in entries])
        return
    for entry in entries:
        kind = "d" if entry.is_dir else ("l" if entry.type == "link" else "-")
        size = "" if entry.size is None else str(entry.size)
        when = entry.modified.strftime("%Y-%m-%d %H:%M") if entry.modified else ""
        name = entry.name + ("/" if entry.is_dir else "")
        echo(f"{kind} {size:>14} {when:16} {name}")


@with_connection_options
def rm(
    target: Annotated[str, typer.Argument(help="PROFILE:/path or URL to remove.", autocompletion=complete_target)],
    connection: Connection,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Remove a folder and its contents.")] = False,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Remove a remote file (or folder with -r); a glob (*, ?, [...], ** with -r) removes what it matches."""
    from ..retry import own_failure

    with _open(target, connection) as (remote, path, prefix):
        paths, listed = _expand(remote, [(path, target)], recursive=recursive, max_depth=DEFAULT_MAX_DEPTH)
        done: list[OperationResult] = []
        failures: list[XferError] = []
        for each in paths:
            try:
                remote.rm(each, recursive=recursive)
            except XferError as exc:
                # A pattern's match the server refuses on its own fails alone, as a file of a
                # batch does; the connection, a login, Ctrl-C stop (and lead: their exit code).
                if listed and own_failure(exc):
                    failures.append(exc)
                    continue
                failures.insert(0, exc)
                break
            done.append(OperationResult("rm", each, remote.settings.scheme, recursive=recursive))
            if listed:
                info(f"removed {prefix}{each}", quiet=quiet or json_output)
    if not listed:
        if failures:
            raise failures[0]
        _done(done[0], f"removed {prefix}{path}", json_output=json_output, quiet=quiet)
        return
    if json_output:
        emit_json([d.to_dict() for d in done])  # a pattern: one object per removed path
    first = _said(failures)
    if first is not None:
        more = f"{len(failures) - 1} more failed, " if len(failures) > 1 else ""
        raise first.copy_with(f"{first.message} ({more}{len(done)} of {len(paths)} removed)")


@with_connection_options
def mkdir(
    target: Annotated[
        str, typer.Argument(help="PROFILE:/path or URL of the folder to create.", autocompletion=complete_target)
    ],
    connection: Connection,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Create a remote folder, with any missing parents."""
    with _open(target, connection) as (remote, path, prefix):
        remote.mkdir(path, parents=True)
        # recursive: missing parents are created too (mkdir -p), which --json said they were not.
        done = OperationResult("mkdir", path, remote.settings.scheme, recursive=True)
    _done(done, f"created {prefix}{path}", json_output=json_output, quiet=quiet)


@with_connection_options
def mv(
    source: Annotated[str, typer.Argument(help="PROFILE:/path or URL to move.", autocompletion=complete_target)],
    destination: Annotated[
        str, typer.Argument(help="New path on the same server: /path, PROFILE:/path, or a bare name (same folder).")
    ],
    connection: Connection,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Rename or move a remote file or folder on the same server."""
    from ..urls import check_named_path, check_remote_path, is_remote, parse_target

    if is_remote(destination):
        dest = parse_target(destination)
        if dest.origin != parse_target(source).origin:
            raise UsageError("mv works within one server", hint="use get and put to copy between servers")
        new_path = dest.path
    elif destination.startswith("/"):
        new_path = check_named_path(check_remote_path(destination))
    else:  # a bare name renames within the source's folder, like a file manager's rename
        check_named_path(check_remote_path(destination))
        new_path = posixpath.join(posixpath.dirname(parse_target(source).path.rstrip("/")), destination)
    with _open(source, connection) as (remote, path, prefix):
        remote.mv(path, new_path)
        # Into a folder ("/sub/"): --json names the path the file has now, not the folder.
        moved_to = (posixpath.join(new_path, posixpath.basename(path.rstrip("/"))) if new_path.endswith("/")
                    else new_path)
        done = OperationResult("mv", path, remote.settings.scheme, destination=moved_to)
    _done(done, f"moved {prefix}{path} -> {prefix}{new_path}", json_output=json_output, quiet=quiet)


def _expand(
    remote: Adapter, targets: list[tuple[str, str]], *, recursive: bool, max_depth: int
) -> tuple[list[str], dict[str, Entry]]:
    """Remote paths with glob characters, matched against listings; the rest as given.

    A path that exists as written is taken literally, so a file really named ``a*.csv``
    stays reachable (and ``[*]`` spells a literal ``*`` in a pattern).  Returns the paths
    and, for those a pattern matched, their listed entries.
    """
    from ..globs import expand, has_magic

    paths: list[str] = []
    listed: dict[str, Entry] = {}
    for path, shown in targets:
        if not has_magic(path) or remote.exists(path):
            paths.append(path)
            continue
        for entry in expand(path, remote.ls, recursive=recursive, max_depth=max_depth, shown=shown):
            paths.append(entry.path)
            listed[entry.path] = entry
    return paths, listed


def _local_states(sources: list[str]) -> dict[str, tuple[int | None, float | None]]:
    """(size, time) of every local file under ``sources`` before an upload that removes them."""
    states: dict[str, tuple[int | None, float | None]] = {}
    for source in sources:
        for path in [Path(source)] if not os.path.isdir(source) else Path(source).rglob("*"):
            if path.is_file():
                stat = path.stat()
                states[str(path)] = (stat.st_size, stat.st_mtime)
    return states


def _remove_put_sources(
    remote: Adapter, results: list[TransferResult], before: dict[str, tuple[int | None, float | None]]
) -> XferError | None:
    """Each uploaded file's source, once its copy is proven (``source_removed`` set on its result);
    the first failure (:func:`_said`).  A file's own failure (it changed, the server shows another
    size or refuses that file, it cannot be unlinked) keeps that file alone; any other (the
    connection, a refused login, a server that is down: :func:`~xfer.retry.own_failure`)
    ends it, the rest kept."""
    from ..retry import own_failure
    from ..sync import name_twins, remove_uploaded, twin_kept

    failures: list[XferError] = []
    twins = name_twins(result.remote for result in results)
    for result in results:
        try:
            if result.remote in twins:
                raise twin_kept(result.local, twins[result.remote], on="a case-insensitive server")
            remove_uploaded(remote, Path(result.local), result.remote, result.size, result,
                            before=before.get(result.local, (None, None)))
        except XferError as exc:
            failures.append(exc)
            result.source_removed = False
            if own_failure(exc):
                continue
            for later in results:
                if later.source_removed is None:
                    later.source_removed = False
            break
        result.source_removed = True
    return _said(failures)


def _remove_got_sources(
    remote: Adapter, results: list[TransferResult], listed: dict[str, Entry],
) -> XferError | None:
    """Each downloaded file's source, once its copy is proven, all at once (``source_removed`` set
    on each result); the first failure (:func:`_said`).  Each source is proven on its own: one kept
    keeps no other."""
    from ..sync import remove_downloaded_together

    failures = remove_downloaded_together(remote, [
        (r.remote, Path(r.local), r.size, entry.size if (entry := listed.get(r.remote)) else None, r.source_version)
        for r in results
    ])
    for result, failure in zip(results, failures, strict=True):
        result.source_removed = failure is None
    return _said([failure for failure in failures if failure is not None])


def _said(failures: list[XferError]) -> XferError | None:
    """The first failure, to raise once the results are out; each other one a warning now, once
    (a connection's failure keeps every file after it: one line, not one per file)."""
    said = {str(failure) for failure in failures[:1]}
    for failure in failures[1:]:
        if str(failure) not in said:
            said.add(str(failure))
            warn(str(failure))
    return failures[0] if failures else None


def _said_removed(results: list[TransferResult], side: str, *, quiet: bool) -> None:
    removed = sum(1 for result in results if result.source_removed)
    info(f"removed {removed} of {len(results)} {side}source file(s) after verifying their copies", quiet=quiet)


def _done(result: OperationResult, line: str, *, json_output: bool, quiet: bool) -> None:
    """rm/mkdir/mv: the result as JSON (one object, same keys on every protocol), or one line."""
    if json_output:
        emit_json(result.to_dict())
    else:
        info(line, quiet=quiet)


def register(app: typer.Typer) -> None:
    for command in (put, get, ls, rm, mkdir, mv):
        app.command(command.__name__)(command)
