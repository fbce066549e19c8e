"""``xfer demo``: render :func:`xfer.testing.demo.run_demo` as a table (or JSON); ``--keep`` waits for Ctrl-C.

The demo is test code (embedded servers, a throwaway PKI): it is imported inside the
command only, so product code never imports :mod:`xfer.testing` when it loads.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..errors import XferError
from .common import JsonFlag, QuietFlag, emit_json, err_console, printable, progress, show_progress, warn

if TYPE_CHECKING:
    from rich.console import Console

    from ..testing.demo import DemoReport

__all__ = ["register"]


def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the servers running (with profiles to try) until Ctrl-C.")
    ] = False,
    workdir: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs a runtime Optional
        typer.Option(
            "--workdir",
            help="Folder in which to make the demo's temporary folder (default: the system's).",
            file_okay=False,
            exists=True,
            show_default=False,
        ),
    ] = None,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Every protocol end to end against embedded mTLS servers: no set-up, nothing left behind."""
    from ..testing.demo import INSTALL_TESTING, run_demo
    from . import resume_collector

    resume_collector()  # servers and clients for minutes (or, with --keep, until Ctrl-C): not paused

    with contextlib.ExitStack() as bars:
        callbacks = bars.enter_context(progress(show_progress(quiet=quiet, json_output=json_output)))

        def hold(report: DemoReport) -> None:
            bars.close()  # the transfers are over: no live bars under the table and the hints
            _render(report, json_output=json_output)
            _wait_for_interrupt(report, json_output=json_output)

        report = run_demo(workdir=workdir, callbacks=callbacks, keep=hold if keep else None, warn=warn)
    if not keep:
        _render(report, json_output=json_output)
    if not report.passed:
        failed = sum(1 for row in report.rows if not row.passed)
        missing = report.missing_modules
        if missing and failed == sum(1 for row in report.rows if row.missing_module):
            raise XferError(
                f"demo: {failed} of {len(report.rows)} protocols need the 'testing' extra "
                f"({', '.join(missing)} not installed)",
                hint=INSTALL_TESTING,
            )
        raise XferError(f"demo: {failed} of {len(report.rows)} protocols failed",
                        hint=INSTALL_TESTING if missing else None)


def _render(report: DemoReport, *, json_output: bool) -> None:
    if json_output:
        emit_json(report.to_dict())
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from .common import human_size

    # A light box and no edge padding: the eight columns fit an 80-column terminal.
    table = Table(
        title=f"xfer demo: {len(report.rows)} protocols in {report.seconds:.1f} s",
        title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
        padding=(0, 1), collapse_padding=True,
    )
    for name in ("protocol", "server", "TLS", "client cert", "data ch.\nresumed", "bytes", "MB/s", "result"):
        table.add_column(name, justify="right" if name in ("bytes", "MB/s") else "left", no_wrap=True)
    for row in report.rows:
        if row.data_connections is None:
            resumed = "-"
        else:
            mark = "[green]yes[/]" if row.data_channel_resumed else "[red]NO[/]"
            resumed = f"{mark} {row.data_connections_resumed}/{row.data_connections}"
        table.add_row(
            row.protocol,
            _without_version(row.server or "-"),  # the version is in --json; the table must fit 80 columns
            (row.tls_version or "-").replace("TLSv", ""),
            f"[green]yes[/] {row.client_certificate}" if row.client_certificate else "-",
            resumed,
            human_size(row.bytes) if row.bytes else "-",
            f"{row.mb_per_s:.0f}" if row.mb_per_s is not None else "-",
            "[green]ok[/]" if row.passed else "[red]FAILED[/]",
        )
    console = Console(highlight=False)
    console.print(table)
    # Errors below the table, one line each: folded into a narrow cell they would be unreadable.
    for row in report.rows:
        if not row.passed:
            console.print(printable(f"{row.protocol}: {row.error}"), markup=False, soft_wrap=True)


def _without_version(software: str) -> str:
    name, _, version = software.rpartition(" ")
    return name if name and version[:1].isdigit() else software


def _wait_for_interrupt(report: DemoReport, *, json_output: bool) -> None:
    """Print how to use the running servers, then block until Ctrl-C (or SIGTERM)."""
    passed = [row for row in report.rows if row.passed]
    folder = next((row.profile for row in passed if {"ls", "get"} <= set(row.steps)), None)
    as2 = next((row.profile for row in passed if row.steps == ["put"]), None)
    lines = [
        "The servers keep running. In another shell:",
        f"  export XFER_PROFILE_PATH={report.profiles_dir}",
        f"  export XFER_DATA_DIR={report.data_dir}  # AS2 receipts stay in the demo folder too",
        "  xfer profile list",
        "  echo hello > hello.txt",
    ]
    if folder:
        lines += [f"  xfer put hello.txt {folder}:/ && xfer ls {folder}:/",
                  f"  xfer get {folder}:/hello.txt hello-again.txt"]
    if as2:
        lines.append(f"  xfer put hello.txt {as2}:/  # AS2: signed, encrypted, compressed; signed MDN")
    lines += [
        f"  xfer identity show {report.identity} --identity-password {report.identity_password}",
        "Press Ctrl-C to stop the servers and remove everything.",
    ]
    # Plain print, not rich: the export line must stay one line, whatever the width.
    out: Any = sys.stderr if json_output else sys.stdout
    for line in lines:
        print(line, file=out, flush=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a closed terminal, a service manager) cleans up like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console: Console = err_console()
        console.print("stopping the servers; removing " + report.workdir, markup=False, highlight=False)
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
