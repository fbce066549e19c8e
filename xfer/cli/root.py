"""The Typer app of the ``xfer`` command and the one error funnel it runs in.

:mod:`xfer.cli` (the entry point) imports this module only when a command line needs
Typer: ``xfer --help`` and ``xfer COMMAND --help`` print stored pages (:mod:`.help_pages`)
without it (issue 14).

Every failure passes through :func:`dispatch`, which prints one ``xfer: error:`` line (and an
optional ``hint:``) and returns the exit code from :class:`~xfer.errors.ExitCode`;
tracebacks only with ``--traceback``.
"""

from __future__ import annotations

import functools
import traceback as traceback_module
from typing import Annotated, Any

import typer
import typer.main
from typer.exceptions import TyperException

from ..errors import ExitCode, XferError
from . import COMMANDS, write_page
from .common import retry_messages, say

__all__ = ["app", "click_command", "dispatch"]

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
    commands = importlib.import_module(f"{__package__}.{module}")
    if module in _GROUPS:
        holder.add_typer(commands.app, name=module)
    else:
        commands.register(holder)
    return holder


def dispatch(args: list[str], command: str | None, show_traceback: bool) -> int:
    """Parse ``args`` with the tree of ``command`` (None: every command) and run it; the exit code."""
    try:
        with retry_messages():  # every command: a retry or resume decision is a line on stderr
            result = click_command(command).main(args=args, prog_name="xfer", standalone_mode=False)
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
            return write_page(message + "\n", int(ExitCode.USAGE))
        ctx = getattr(exc, "ctx", None)
        command_path = getattr(ctx, "command_path", None) or "xfer"
        _report(message, f"see `{command_path} --help`")
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
