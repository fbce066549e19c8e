"""The ``xfer`` command: the entry point, and what it decides before Typer is imported.

Commands live one sub-app per file and stay thin: parse, resolve, call one library
function, render.  The Typer app and the one error funnel live in :mod:`.root`: every
failure prints one ``xfer: error:`` line (and an optional ``hint:``) and exits with the code
from :class:`~xfer.errors.ExitCode`; tracebacks only with ``--traceback``.

Start-up (issue 14): importing this module imports neither Typer nor anything of the
commands.  ``xfer --help``, ``xfer COMMAND --help`` and a bare ``xfer`` print the pages
Typer renders for them, stored in :mod:`.help_pages` (a test holds every page to Typer's
rendering), and ``xfer --version`` its one line, so a newcomer's first command (or a
script's version check) loads no command-line toolkit; any other line is parsed by Typer,
with only its own command's module imported.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode  # loaded with the xfer package already

if TYPE_CHECKING:
    import typer

__all__ = ["COMMANDS", "app", "click_command", "main"]

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


def click_command(name: str | None = None) -> Any:
    """The click command tree, or the root with only command ``name`` (see :func:`.root.click_command`)."""
    from .root import click_command as built

    return built(name)


def __getattr__(name: str) -> typer.Typer:
    """``app``, the Typer app, imported on first use (this module stays free of Typer)."""
    if name == "app":
        from .root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def _stored_help(args: list[str]) -> tuple[str, int] | None:
    """The page (and exit code) Typer would print for ``args``, if stored and the terminal fits; else None.

    Stored: ``xfer [PATH] --help`` (or ``-h``), exit 0, and a bare ``xfer`` or group
    (``xfer profile``), exit 2.  Typer renders help at the terminal's width, up to 80 columns;
    the stored pages are that rendering at 80 or more.  A narrower terminal, shell completion
    and any other line go to Typer.
    """
    import os

    if len(args) > 3 or os.environ.get("_XFER_COMPLETE"):
        return None
    if any(not arg or arg != arg.strip() or " " in arg for arg in args):
        # "profile add" as one word, or "": not a command path Typer knows (a usage error there).
        return None
    from .help_pages import MIN_COLUMNS, NO_ARGS_IS_HELP, PAGES

    if args and args[-1] in ("--help", "-h"):
        page, code = PAGES.get(" ".join(args[:-1])), 0
    elif " ".join(args) in NO_ARGS_IS_HELP:
        page, code = PAGES.get(" ".join(args)), int(ExitCode.USAGE)  # as the funnel answers Typer's "no arguments"
    else:
        return None
    import shutil  # what Typer's formatter asks for its width

    if page is None or shutil.get_terminal_size().columns < MIN_COLUMNS:
        return None
    return page, code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # --traceback and -v/-vv are accepted anywhere on the line: they are about the run, not one command.
    split = args.index("--") if "--" in args else len(args)
    show_traceback = "--traceback" in args[:split]
    verbosity = sum(_VERBOSE[a] for a in args[:split] if a in _VERBOSE)
    args = [a for i, a in enumerate(args) if not (i < split and (a == "--traceback" or a in _VERBOSE))]
    stored = _stored_help(args)
    if stored is not None:
        return write_page(*stored)
    if args == ["--version"]:  # what the root's eager --version prints, without Typer and every command
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as package_version

        with contextlib.suppress(PackageNotFoundError):  # no metadata (a checkout on PYTHONPATH): Typer's way
            return write_page(f"xfer {package_version('xfer')}\n", 0)

    if _process_is_ours:
        from .startup import trim_start_up

        trim_start_up()  # skip or cheapen work dependencies do at import (issue 14)
        _terminate_as_interrupt()
    from .. import secrets
    from .common import warn
    from .root import dispatch

    # E.g. a world-readable secret file: escaped and styled like every warning, for this run only
    # (a program that called main() keeps its own way of warning afterwards).
    saved_warn, secrets.warn = secrets.warn, warn
    try:
        with _logging(verbosity):
            return dispatch(args, _command_name(args), show_traceback)
    finally:
        secrets.warn = saved_warn


#: The signals that end the command as Ctrl-C does (see :func:`_terminate_as_interrupt`), by name:
#: Windows has only SIGTERM of them.
_ENDING_SIGNALS = ("SIGTERM", "SIGHUP", "SIGQUIT")


def _terminate_as_interrupt() -> None:
    """SIGTERM (cron or systemd stopping the job, CI cancelling it, a pipeline's process group
    killed), SIGHUP (the terminal closed, the ssh session dropped) and SIGQUIT (Ctrl-\\) end the
    command as Ctrl-C does: part files here and on the server are removed on the way out, what
    moved is still reported, and the exit code is 130.  The default actions would end the
    process on the spot (SIGQUIT with a core dump) and leave them, under random names nothing
    resumes.  Only in the console script's process (:func:`run`): a program calling
    :func:`main` keeps its own signal handling."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for name in _ENDING_SIGNALS:
        signum = getattr(signal, name, None)
        # A parent that ignores one for us is obeyed (nohup: SIGHUP stays ignored, the job runs on).
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, interrupt)


def write_page(page: str, code: int) -> int:
    """Print a help page on stdout; return ``code``.  A reader gone (``xfer | true``) ends the
    run with 1 and no message, as Typer's own ``--help`` does; no stdout at all (``>&-``) prints
    nothing, as click does; another write error (a full disk) is one ``xfer: error:`` line."""
    if sys.stdout is None:
        return code
    try:
        sys.stdout.write(page)
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        # The rest of the page is still buffered: the interpreter's last flush at exit would
        # fail on the closed pipe again and complain on stderr.  It goes nowhere instead.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            finally:
                os.close(devnull)
        return int(ExitCode.ERROR)
    except OSError as exc:
        sys.stderr.write(f"xfer: error: cannot write the help page: {exc.strerror or exc}\n")
        return int(ExitCode.ERROR)
    return code


#: The spellings of the verbosity flag, and how much each adds.
_VERBOSE = {"-v": 1, "--verbose": 1, "-vv": 2, "-vvv": 3}


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """The CLI's one handler on the ``xfer`` logger for the run: warnings always, -v/-vv traces."""
    import logging

    from ..log import CLIHandler, verbosity_level
    from .common import say

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


#: Whether :func:`run` paused the cyclic collector and no connection has resumed it yet.
_collector_paused = False
#: Whether the console script (:func:`run`) runs the CLI: then the process is xfer's, and its
#: imports may be deferred (:mod:`.startup`); a program calling :func:`main` keeps its own.
_process_is_ours = False


def resume_collector() -> None:
    """Let the collector run again, start-up's objects frozen (not collected first: that costs
    8-15 ms, for ~100 KiB), if :func:`run` paused it; else nothing.

    The console script's process is ours, so :func:`run` pauses the cyclic collector for
    start-up: it allocates hundreds of thousands of objects (modules, classes and functions of
    Typer, requests, cryptography) that live until exit, and the collector scanned them some
    60 times before a connection was open (~2 % of a connecting command's CPU, issue 14).
    :func:`.common.open_remote` calls this once the first connection is open (its protocol's
    imports done) or has failed; frozen objects are never scanned again, as at exit.  A
    command that never connects stays paused to its end (the process exits then).  A caller
    of :func:`main` in its own process keeps its collector as it is.
    """
    global _collector_paused  # noqa: PLW0603 - process-wide by nature, like the collector itself
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


def run() -> None:
    """Console-script entry point."""
    global _collector_paused, _process_is_ours  # noqa: PLW0603
    _process_is_ours = True
    if gc.isenabled():  # no collection during start-up: see resume_collector
        gc.disable()
        _collector_paused = True
    code = main()
    # The process ends here.  Interpreter exit runs the cyclic collector over every object
    # still alive (Typer's and Click's, requests', asyncssh's: tens of ms of a connecting
    # command, issue 14) only to free memory the OS takes back anyway.  Frozen objects are
    # skipped.  Nothing of xfer's waits for a finalizer: files and connections are closed by
    # their context managers before main() returns, and atexit handlers still run.
    gc.freeze()
    sys.exit(code)
