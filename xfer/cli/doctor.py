"""``xfer doctor TARGET``: the step-by-step diagnosis of a connection (see :mod:`xfer.doctor`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..options import CORE
from .common import (
    TRANSFER_ONLY,
    Connection,
    JsonFlag,
    absolute_paths,
    echo,
    emit_json,
    say,
    warn,
    with_connection_options,
)
from .completion import complete_doctor_target

__all__ = ["WarnDays", "register", "run_doctor"]

WarnDays = Annotated[
    Optional[int],  # noqa: UP045 - typer needs a runtime Optional
    typer.Option("--warn-days", metavar="N", min=0,
                 help="Exit 9 when our certificate or the server's expires within N days (for a monitoring cron)."),
]

EPILOG = """Steps: 1 name resolution and TCP connect, 2 TLS and the server's certificate, 3 the server's
client-certificate request, 4 our identity and the verdict, 5 whether the server accepted us,
6 the protocol layer, 7 clock skew.  The exit code is that of the first failing step."""


def run_doctor(target: str, connection: Connection | None, *, json_output: bool, warn_days: int | None) -> int:
    """Diagnose, render (text or JSON), and return the exit code (``profile test`` shares this)."""
    from ..doctor import diagnose
    from ..doctor.render import render_text
    from . import resume_collector

    resume_collector()  # doctor connects by its own probes, not through open_remote
    overrides = absolute_paths(connection.overrides, CORE) if connection else None
    report = diagnose(target, overrides, warn_days=warn_days, style="flag", warn=warn)
    if json_output:
        emit_json(report.to_dict())
    else:
        render_text(report, echo)
    failed = report.failed
    if failed is not None and failed.error is not None:
        # The CLI's contract holds here too: one error line (and the fix) on stderr.
        say(f"xfer: error: step {failed.number} ({failed.title}): {failed.error.message}")
        if failed.fix:
            say(f"hint: {failed.fix}")
    for text in report.expiring:
        warn(text)
    return report.exit_code


def doctor(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="PROFILE, PROFILE:/path or URL.",
                                      autocompletion=complete_doctor_target)],
    connection: Connection,
    json_output: JsonFlag = False,
    warn_days: WarnDays = None,
) -> int:
    """Diagnose a connection step by step: network, TLS, certificates, identity verdict, protocol."""
    code = run_doctor(target, connection, json_output=json_output, warn_days=warn_days)
    if code:
        raise typer.Exit(code)
    return code


def register(app: typer.Typer) -> None:
    # Nothing is transferred: --limit-rate, --retries, --resume and --checksum would do nothing here.
    app.command("doctor", epilog=EPILOG)(with_connection_options(doctor, exclude=TRANSFER_ONLY))
