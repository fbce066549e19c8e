"""The ``xfer`` command: the Typer app and the one error funnel.

Commands live one sub-app per file and stay thin: parse, resolve, call one library
function, render.  Every failure passes through :func:`main`, which prints one
``xfer: error:`` line (and an optional ``hint:``) and exits with the code from
:class:`~xfer.errors.ExitCode`; tracebacks only with ``--traceback``.

Nothing here imports requests, cryptography or an adapter at start-up, so
``xfer --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import traceback as traceback_module
from collections.abc import Iterator
from typing import Annotated, Any

import typer
import typer.main
from typer.exceptions import TyperException

from ..errors import ExitCode, XferError
from .common import retry_messages, say, warn

__all__ = ["COMMANDS", "app", "click_command", "main"]

app = typer.Typer(
    name="xfer",
    help="Secure file transfer with TLS client certificates: HTTPS, FTPS, WebDAV and AS2.",
    no_args_is_help=True,
    add_completion=True,  # Typer's own: --install-completion / --show-completion
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version as package_version

        typer.echo(f"xfer {package_version('xfer')}")
        raise typer.Exit(0)


@app.callback()
def _root(
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the full traceback of a failure (any position).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True,
                     help="-v: TLS summary, FTP commands and replies, HTTP requests and timings on stderr; "
                     "-vv: also HTTP headers (secrets masked).  Any position."),
    ] = 0,
) -> None:
    """Secure file transfer with TLS client certificates: HTTPS, FTPS, WebDAV and AS2."""


#: Every top-level command and command group, in the order ``xfer --help`` lists them, and
#: the module of this package that defines it.  A run imports only its command's module: the
#: others (AS2's CMS, sync's planner, the demo's servers) are no part of its start-up (issue 14).
COMMANDS: dict[str, str] = {
    **dict.fromkeys(("put", "get", "ls", "rm", "mkdir", "mv"), "transfer"),
    "sync": "sync",
    "demo": "demo",
    "doctor": "doctor",
    "profile": "profile",
    "identity": "identity",
    "as2": "as2",
}
#: The modules that define a group (their ``app``) rather than commands (their ``register``).
_GROUPS = frozenset({"profile", "identity", "as2"})


@functools.cache
def click_command(name: str | None = None) -> Any:
    """The click command tree of :data:`app`, with examples and plain placeholders (built once).

    With ``name``, the root with only that command (or command group) under it: what a run
    of ``xfer NAME ...`` parses with, the same command built the same way, without importing
    or building the other commands (a good part of a connecting command's start-up, issue 14).
    (Typer's vendored click command: typed loosely, as :mod:`.help` handles it.)
    """
    from .coercion import install
    from .help import tidy

    return install(tidy(typer.main.get_command(_tree(name))))


def _tree(name: str | None) -> typer.Typer:
    """:data:`app` with every command, or only ``name``: a shallow copy, settings and root callback kept."""
    import copy

    tree = copy.copy(app)
    modules = dict.fromkeys(COMMANDS.values() if name is None else [COMMANDS[name]])
    defined = [_defined_in(module) for module in modules]
    tree.registered_commands = [c for d in defined for c in d.registered_commands if name in (None, c.name)]
    tree.registered_groups = [g for d in defined for g in d.registered_groups if name in (None, g.name)]
    return tree


@functools.cache
def _defined_in(module: str) -> typer.Typer:
    """What one command module defines, registered on a Typer of its own (imported on first need)."""
    import importlib

    holder = typer.Typer()
    commands = importlib.import_module(f"{__name__}.{module}")
    if module in _GROUPS:
        holder.add_typer(commands.app, name=module)
    else:
        commands.register(holder)
    return holder


def _command_name(args: list[str]) -> str | None:
    """The top-level command a command line runs, if it names one; else None (the whole tree).

    The root's own options take no value, so the command is the first word that is not an
    option.  Shell completion (``_XFER_COMPLETE``) always gets the whole tree.
    """
    import os

    if os.environ.get("_XFER_COMPLETE"):
        return None
    for arg in args:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
        if arg == "--":
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    from .. import secrets
    from .startup import defer_charset_detection

    defer_charset_detection()

    secrets.warn = warn  # e.g. a world-readable secret file: escaped and styled like every warning
    # --traceback and -v/-vv are accepted anywhere on the line: they are about the run, not one command.
    split = args.index("--") if "--" in args else len(args)
    show_traceback = "--traceback" in args[:split]
    verbosity = sum(_VERBOSE[a] for a in args[:split] if a in _VERBOSE)
    args = [a for i, a in enumerate(args) if not (i < split and (a == "--traceback" or a in _VERBOSE))]
    with _logging(verbosity):
        return _dispatch(args, show_traceback)


#: The spellings of the verbosity flag, and how much each adds.
_VERBOSE = {"-v": 1, "--verbose": 1, "-vv": 2, "-vvv": 3}


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """The CLI's one handler on the ``xfer`` logger for the run: warnings always, -v/-vv traces."""
    from ..log import CLIHandler, verbosity_level

    logger = logging.getLogger("xfer")
    level = verbosity_level(verbosity)
    handler = CLIHandler(say, level)
    saved = logger.level
    # Records still propagate (an embedding program's root handlers see them); with this handler
    # found, Python's last-resort stderr printer no longer prints a second, unprefixed copy.
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


def _dispatch(args: list[str], show_traceback: bool) -> int:
    try:
        with retry_messages():  # every command: a retry or resume decision is a line on stderr
            result = click_command(_command_name(args)).main(args=args, prog_name="xfer", standalone_mode=False)
    except XferError as exc:
        # The traceback is extra information: the exit code a script sees never changes with it.
        if show_traceback:
            traceback_module.print_exc()
        _report(exc.message, exc.cli_hint or exc.hint)
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        say("xfer: interrupted")
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except TyperException as exc:  # bad usage, found by the argument parser
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `xfer` or `xfer profile`: show the help
            sys.stdout.write(message + "\n")
            return int(ExitCode.USAGE)
        ctx = getattr(exc, "ctx", None)
        command = getattr(ctx, "command_path", None) or "xfer"
        _report(message, f"see `{command} --help`")
        return int(ExitCode.USAGE)
    except Exception as exc:  # the funnel: no traceback for users unless asked
        if show_traceback:
            traceback_module.print_exc()
        # Only the type: a library's message may carry URLs or headers we never vetted.
        _report(
            f"unexpected internal error ({type(exc).__name__})",
            "this is a bug in xfer; run again with --traceback and report it",
        )
        return int(ExitCode.ERROR)
    code = int(result) if isinstance(result, int) else int(ExitCode.OK)
    if code == ExitCode.INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130) itself
        say("xfer: interrupted")
    return code


def _report(message: str, hint: str | None) -> None:
    """The one error line and its hint; server text in them is escaped by :func:`say`."""
    say(f"xfer: error: {message}")
    if hint:
        say(f"hint: {hint}")


def run() -> None:
    """Console-script entry point."""
    code = main()
    # The process ends here.  Interpreter exit runs the cyclic collector over every object
    # still alive (Typer's and Click's, requests', asyncssh's: tens of ms of a connecting
    # command, issue 14) only to free memory the OS takes back anyway.  Frozen objects are
    # skipped.  Nothing of xfer's waits for a finalizer: files and connections are closed by
    # their context managers before main() returns, and atexit handlers still run.
    import gc

    gc.freeze()
    sys.exit(code)
