"""``xfer sync SRC DST``: one-way mirror of a folder, only what changed (:mod:`xfer.sync`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from ..errors import UsageError
from ..options import DEFAULT_MAX_DEPTH
from .common import (
    Connection,
    JsonFlag,
    QuietFlag,
    echo,
    emit_json,
    human_size,
    info,
    progress,
    show_progress,
    with_connection_options,
)
from .completion import complete_local_or_target
from .transfer import Parallel, RemoveSource, _open

if TYPE_CHECKING:
    from typer._click.core import Context as ClickContext  # typer carries its own click

    from ..globs import Filters
    from ..sync import SyncResult

__all__ = ["register"]

_FILTER_FLAGS = {"--include": True, "--exclude": False}

MaxDepth = Annotated[
    int,
    typer.Option("--max-depth", min=1, show_default=True,
                 help="Descend at most this many folder levels on the server (an endless tree fails)."),
]


class _OrderedFilters(TyperCommand):
    """Click gives ``--include`` and ``--exclude`` as two lists; their interleaving (the last
    matching rule wins) is read here from the arguments, into ``ctx.meta``."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        order: list[tuple[str, bool]] = []
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "--":
                break
            flag, eq, value = arg.partition("=")
            if flag in _FILTER_FLAGS:
                if not eq:
                    index += 1
                    value = args[index] if index < len(args) else ""
                order.append((value, _FILTER_FLAGS[flag]))
            index += 1
        ctx.meta["xfer_filters"] = order
        return super().parse_args(ctx, args)


def _filters(ctx: typer.Context, include: list[str], exclude: list[str]) -> Filters:
    from ..globs import Filters, Rule

    order: list[tuple[str, bool]] = ctx.meta.get("xfer_filters", [])
    # The parser's own lists are the truth; the order read from the arguments only arranges them.
    if sorted(p for p, inc in order if inc) != sorted(include) or sorted(p for p, inc in order if not inc) != sorted(
        exclude
    ):
        order = [(p, True) for p in include] + [(p, False) for p in exclude]
    for pattern, _ in order:
        if not pattern or pattern == "/":
            raise UsageError(f"empty --include/--exclude pattern {pattern!r}")
    return Filters(Rule(pattern, included) for pattern, included in order)


@with_connection_options
def sync(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Local folder, or PROFILE:/path or URL of a remote folder.",
                                          autocompletion=complete_local_or_target)],
    destination: Annotated[str, typer.Argument(help="The other side: a remote folder, or a local one.",
                                               autocompletion=complete_local_or_target)],
    *,
    connection: Connection,
    delete: Annotated[
        bool, typer.Option("--delete", help="Remove destination files the source does not have (after all "
                           "transfers succeeded).")
    ] = False,
    max_delete: Annotated[
        int | None, typer.Option("--max-delete", min=0, help="Never delete more than N files (refuse the run).",
                                 show_default="no cap; deleting over half of the destination needs --force")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow --delete to remove more than half of the destination.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Print the plan; change nothing.")] = False,
    size_only: Annotated[bool, typer.Option("--size-only", help="Compare sizes only, not times.")] = False,
    checksum: Annotated[
        bool, typer.Option("--checksum", help="Compare same-size files by the server's hash (FTP HASH/XSHA256, "
                       "HTTP Repr-Digest, SFTP check-file), and prove each transfer by one (the server must offer "
                       "them).")
    ] = False,
    modify_window: Annotated[
        float, typer.Option("--modify-window", min=0, help="Seconds two times may differ and still be equal.")
    ] = 2.0,
    include: Annotated[
        list[str], typer.Option("--include", help="Glob of files to take (repeatable; the last match wins).")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    exclude: Annotated[
        list[str], typer.Option("--exclude", help="Glob of files to leave out (repeatable; the last match wins).")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    remove_source_files: RemoveSource = False,
    parallel: Parallel = 1,
    max_depth: MaxDepth = DEFAULT_MAX_DEPTH,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Make DESTINATION like SOURCE (one way), sending only new and changed files."""
    from ..sync import Compare
    from ..sync import sync as run_sync
    from ..urls import is_remote

    if size_only and checksum:
        raise UsageError("--size-only and --checksum exclude each other")
    if is_remote(source) == is_remote(destination):
        raise UsageError(
            "sync needs one local folder and one remote folder",
            hint="e.g. xfer sync ./outbox PROFILE:/inbox  or  xfer sync PROFILE:/outbox ./inbox",
        )
    upload = not is_remote(source)
    remote_target, local = (destination, source) if upload else (source, destination)
    compare = Compare(mode="size" if size_only else "checksum" if checksum else "time", window=modify_window)
    if checksum:
        # Compared by hash, and each transfer proven by one too (the connection's --checksum).
        connection.overrides["checksum"] = True
    filters = _filters(ctx, include, exclude)
    connection = replace(connection, sha256=json_output)  # a SHA-256 that nothing shows is not computed
    with _open(remote_target, connection) as (remote, path, prefix):
        with progress(show_progress(quiet=quiet, json_output=json_output) and not dry_run) as callbacks:
            result = run_sync(
                remote, path, local, upload=upload, compare=compare, filters=filters, delete=delete,
                max_delete=max_delete, force=force, dry_run=dry_run, remove_source=remove_source_files,
                parallel=parallel, callbacks=callbacks, max_depth=max_depth,
            )
    _render(result, prefix, json_output=json_output, quiet=quiet)
    result.raise_for_error()


def _render(result: SyncResult, prefix: str, *, json_output: bool, quiet: bool) -> None:
    """The plan (dry run) or the files moved, then one summary line on stderr."""
    if result.direction == "put":
        result.destination = prefix + result.destination
    else:
        result.source = prefix + result.source
    if json_output:
        emit_json(result.to_dict())
    elif result.dry_run:
        for action in (*result.plan.transfers, *result.plan.deletes):
            verb = "send" if action.kind == "transfer" else "delete"
            size = f"  {human_size(action.size)}" if action.size is not None else ""
            echo(f"would {verb} {action.path}  ({action.reason}){size}")
        for action in result.plan.kept:  # what it passes over, or keeps for --delete
            echo(f"would leave {action.path}  ({action.reason})")
        for path in result.sources_to_remove:  # (review, session 26: the real run removed them unsaid)
            echo(f"would remove the source {path}  (once its copy is proven)")
    else:
        for relative in result.done:
            info(f"{result.direction} {relative}", quiet=quiet)
        for relative in result.deleted:
            info(f"deleted {relative}", quiet=quiet)
    info(_summary(result), quiet=quiet)


def _summary(result: SyncResult) -> str:
    if result.dry_run:
        plan = result.plan
        removals = f", {len(result.sources_to_remove)} source files to remove" if result.remove_source else ""
        return (f"sync (dry run, nothing changed): {len(plan.transfers)} to transfer ({human_size(plan.bytes)}), "
                f"{len(plan.skips)} unchanged{_kept(result)}, {len(plan.deletes)} to delete{removals}")
    counts = (f"{result.transferred} transferred, {result.skipped} skipped{_kept(result)}, {len(result.deleted)} "
              f"deleted, {len(result.failed)} failed, {human_size(result.bytes)} in {result.elapsed:.2f} s")
    if result.sources_removed:
        counts += f", {len(result.sources_removed)} source files removed"
    if result.error is None and not result.transferred and not result.deleted and not result.sources_removed:
        return f"sync: up to date, nothing transferred (listing only): {counts}"
    return f"sync: {counts}"


def _kept(result: SyncResult) -> str:
    """", N left as they are" for what the plan passes over or keeps (not "unchanged": a file not
    written under a link, a destination file --delete keeps), else nothing."""
    return f", {len(result.plan.kept)} left as they are" if result.plan.kept else ""


def register(app: typer.Typer, **settings: Any) -> None:
    app.command("sync", cls=_OrderedFilters, **settings)(sync)
