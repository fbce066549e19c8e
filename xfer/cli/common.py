"""What the commands share: connection flags (generated from the option declarations),
output (results on stdout, messages on stderr), progress bars."""

from __future__ import annotations

import functools
import inspect
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from ..options import CORE, Option

if TYPE_CHECKING:
    from rich.console import Console

    from ..adapters.base import Adapter, ProgressCallback

__all__ = [
    "TRANSFER_ONLY",
    "Connection",
    "JsonFlag",
    "QuietFlag",
    "echo",
    "emit_json",
    "err_console",
    "open_remote",
    "printable",
    "progress",
    "retry_messages",
    "with_connection_options",
]

F = TypeVar("F", bound=Callable[..., Any])

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
QuietFlag = Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary on stderr.")]

#: Options that only make sense in a stored profile, not as a one-off flag.
_PROFILE_ONLY = {"url", "protocol"}


def _flag(option: Option) -> str:
    return "--" + option.name.replace("_", "-")


def connection_parameters(*, exclude: set[str] = _PROFILE_ONLY) -> list[inspect.Parameter]:
    """One CLI flag per declared top-level option: the declaration is the single source."""
    return list(_connection_parameters(frozenset(exclude)))


@functools.cache
def _connection_parameters(exclude: frozenset[str]) -> tuple[inspect.Parameter, ...]:
    """Built once per process: every connecting command shares them (``xfer ls`` imports the six
    commands of :mod:`.transfer`, each ~25 typed annotations to build).  Sharing is safe: Typer
    copies a parameter's ``typer.Option`` before it changes it, and a Parameter is immutable."""
    params = []
    for option in CORE.values():
        if option.name in exclude or not option.cli:
            continue
        kind: Any = option.type
        help_text = secret_help(option.help) if option.secret else option.help
        if option.choices:
            help_text += f" [{'|'.join(option.choices)}]"
        annotation = Annotated[
            Optional[kind],  # noqa: UP045 - typer needs a runtime Optional here
            typer.Option(f"{_flag(option)}/--no-{_flag(option)[2:]}" if option.type is bool else _flag(option),
                         help=help_text, rich_help_panel="Connection", show_default=False),
        ]
        params.append(
            inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        )
    return tuple(params)


def secret_help(text: str) -> str:
    """The help of a secret option: its declaration's text, and the forms a reference takes."""
    return text.rstrip() + " (a reference: env:VAR, file:PATH, keyring, keyring:NAME or prompt)"


def option_metavar(option: Option) -> str:
    """The placeholder of an option's value in ``--help``: FILE, REF, N, or the option's name
    (``--as2-mdn MDN``), never the internal parameter name (``OPT--AS2--MDN``)."""
    if option.path:
        return "FILE"
    if option.secret:
        return "REF"
    if option.type is int:
        return "N"
    return option.name.upper().replace("_", "-")


@dataclass(frozen=True)
class Connection:
    """The connection flags a command received, ready for :func:`xfer.client.connect`."""

    overrides: dict[str, Any]
    #: Whether the command shows the transfers' SHA-256 (``--json`` does; one line per file does
    #: not): if not, it is computed only where the server compares it (``connect(sha256=...)``).
    sha256: bool = True


#: The options about moving files, of no use to a command that transfers nothing (``doctor``).
TRANSFER_ONLY = frozenset({"checksum", "limit_rate", "retries", "retry_wait", "resume"})


def with_connection_options(func: F, *, exclude: frozenset[str] = frozenset()) -> F:
    """Add the connection flags to a command; it receives them as ``connection: Connection``.

    A command's own parameter of the same name wins (``sync --checksum`` compares by hash and
    sets the connection's ``checksum`` itself); flags named in ``exclude`` are not offered.
    """
    signature = inspect.signature(func, eval_str=True)
    extra = [p for p in connection_parameters() if p.name not in signature.parameters and p.name not in exclude]
    names = [p.name for p in extra]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        overrides = {name: kwargs.pop(name, None) for name in names}
        return func(*args, connection=Connection(overrides), **kwargs)

    own = [p for p in signature.parameters.values() if p.name != "connection"]
    wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*own, *extra]}
    return wrapper  # type: ignore[return-value]


@functools.cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


#: What a terminal would act on instead of showing: C0 controls (ESC starts an escape
#: sequence; CR and the line feed let a name overwrite or forge a line, such as a fake
#: "xfer: ok"), DEL, C1 controls (0x9b is a one-byte CSI on some terminals), and the
#: Unicode line separators and bidirectional overrides that make text read other than it is;
#: lone surrogates (undecodable bytes of a name) would make the write itself fail.
#: Every one of them is a character ``str.isprintable`` refuses (a test holds that).
UNSAFE_CHARACTERS = "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"


@functools.cache
def _unsafe() -> re.Pattern[str]:
    # Compiled on the first text that needs it, not at start-up (~1 ms, issue 14).
    return re.compile(UNSAFE_CHARACTERS)


def printable(text: str) -> str:
    """``text`` made safe for a terminal: each control character spelled as an escape (``\\x1b``).

    Names from listings and text from server replies are the server's choice; raw, they
    could set the window title, write the clipboard (OSC 52) or rewrite earlier lines.
    Applied at the output boundary, to everything printed for humans (results, listings,
    errors, hints, warnings, progress labels); ``--json`` output keeps the exact text.
    A backslash itself is left alone, so Windows paths stay readable.
    """
    if text.isprintable():  # the common case, checked in C: none of the unsafe characters is printable
        return text
    return _unsafe().sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def echo(line: str) -> None:
    """One line of a human-readable result on stdout (control characters escaped)."""
    with writing_stdout():
        typer.echo(printable(line))


@contextmanager
def writing_stdout() -> Iterator[None]:
    """Results written to stdout: a write that fails (a full disk, an I/O error) or no stdout
    at all (``>&-``) is one error line (exit 1), not "a bug in xfer", and never a silent
    success that lost the listing.  A reader gone (``| head``) is still the broken pipe
    Python ends with, as for every command-line tool."""
    from ..errors import LocalError

    if sys.stdout is None:
        raise LocalError("cannot write the result: standard output is closed",
                         hint="run the command with its output redirected to a file or a pipe")
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise LocalError(f"cannot write to standard output: {exc.strerror or exc}") from exc


def say(line: str) -> None:
    """One line for humans on stderr, escaped; never read as rich markup.

    Through rich's console once one exists (a live progress bar stays drawn below the line);
    before that, written directly: importing rich for a summary or a warning line cost a
    command ~30 ms of start-up (issue 14).

    No stderr at all (``2>&-``: Python's ``sys.stderr`` is None) says nothing: the exit code
    still tells, and a message with nowhere to go must not turn a run that succeeded into a
    failure (it did: AttributeError, exit 1, after a complete download).
    """
    if sys.stderr is None:
        return
    # Nor does a stderr that fails (a terminal hung up answers EIO; a closed pipe): the line has
    # nowhere to go, and the run's own outcome (sources to remove, exit 130) must not end there
    # (review O, finding 2).
    with suppress(OSError):
        if err_console.cache_info().currsize:
            # emoji=False: a name such as ":smile:.txt" is text, as on the direct path below.
            err_console().print(printable(line), markup=False, highlight=False, emoji=False, soft_wrap=True)
            return
        sys.stderr.write(printable(line) + "\n")
        sys.stderr.flush()


def warn(message: str) -> None:
    say(f"xfer: warning: {message}")


class _SayHandler(logging.Handler):
    """Log records as ``xfer: MESSAGE`` lines on stderr (escaped like every message)."""

    def emit(self, record: logging.LogRecord) -> None:
        say(f"xfer: {record.getMessage()}")


@contextmanager
def retry_messages() -> Iterator[None]:
    """While a command runs, each retry and resume decision (the ``xfer.retry`` logger) is a line on stderr.

    Shown with ``--quiet`` and ``--json`` too, like warnings: stdout stays the result alone.
    """
    logger = logging.getLogger("xfer.retry")
    handler = _SayHandler(logging.INFO)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False  # once, not again through a root handler
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        logger.setLevel(level)


def info(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        say(message)


def emit_json(data: Any) -> None:
    """Machine-readable result on stdout (one JSON document).

    Written as it is encoded: the document of a sync of 100,000 files is 19 MB of text,
    built (with its pieces) in memory by ``json.dumps`` first.
    """
    import json  # only for --json: a listing for a person, or FTPS, needs no JSON at all

    with writing_stdout():
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        sys.stdout.flush()


def absolute_paths(values: dict[str, Any], declared: Mapping[str, Option]) -> dict[str, Any]:
    """Paths typed on the command line are relative to the current folder, as users expect.

    Covers path options and ``file:`` secret references; the result no longer depends
    on where a profile file lives.
    """
    result = dict(values)
    for key, value in values.items():
        option = declared.get(key)
        if option is None or not isinstance(value, str):
            continue
        if option.path:
            result[key] = str(Path(value).expanduser().absolute())
        elif option.secret and value.startswith("file:") and value[5:]:  # "file:" alone is refused as it is
            result[key] = "file:" + str(Path(value[5:]).expanduser().absolute())
    return result


def _resumes_collector(func: F) -> F:
    """The console script pauses the cyclic collector for start-up; the first connection ends it."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from . import resume_collector

        try:
            return func(*args, **kwargs)
        finally:
            resume_collector()

    return wrapper  # type: ignore[return-value]


@_resumes_collector
def open_remote(target: str, connection: Connection, *, root: str | None = None) -> Adapter:
    """Connect to the profile or URL a command was given; errors name the flags as typed."""
    from ..client import connect, resolve_profile

    profile = resolve_profile(target, absolute_paths(connection.overrides, CORE), style="flag")
    return connect(profile, root=root, warn=warn, sha256=connection.sha256)


def show_progress(*, quiet: bool, json_output: bool) -> bool:
    """Progress bars only for a person watching: a terminal, and neither --quiet nor --json."""
    return not quiet and not json_output and sys.stderr is not None and sys.stderr.isatty()


@contextmanager
def progress(enabled: bool) -> Iterator[Callable[[str, str, int | None], ProgressCallback | None]]:
    """Yield a callback factory for :func:`xfer.client.put`/``get``; a rich bar when enabled."""
    if not enabled:
        yield lambda local, remote, size: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        # Not markup: a file name such as "[/]" is text, and rich would fail on it.
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        transient=False,
    )

    def factory(local: str, remote: str, size: int | None) -> ProgressCallback:
        task = bar.add_task(printable(remote.rsplit("/", 1)[-1] or remote), total=size)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        return update

    # The bar is drawn on a terminal, which is where a hang-up comes from: drawing it last on a
    # terminal gone (EIO) must not stop what follows the transfers -- the report, the removal of
    # the sources of what moved, exit 130 (review O, finding 2).
    with suppress(OSError):
        bar.start()
    try:
        yield factory
    finally:
        with suppress(OSError):
            bar.stop()


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
