"""The report for people (numbered steps with ✓ / ✗ / –) and for programs (one JSON document)."""

from __future__ import annotations

from collections.abc import Callable

from .report import FAIL, OK, Report

__all__ = ["MARKS", "render_text"]

MARKS = {OK: "✓", FAIL: "✗", "skip": "–"}


def render_text(report: Report, line: Callable[[str], None]) -> None:
    """Write the report line by line through ``line`` (the CLI's escaping ``echo``)."""
    line(f"xfer doctor: {report.target} ({report.protocol}, {report.server})")
    for step in report.steps:
        line(f"{step.number}. {MARKS[step.status]} {step.title}")
        for text in step.lines:
            line(f"     {text}")
        for verdict in step.verdicts:
            line(f"     => {verdict}")
        if step.status == FAIL:
            if step.error is not None:
                line(f"     error: {step.error.message}")
            if step.fix:
                line(f"     fix: {step.fix}")
    failed = report.failed
    if failed is not None:
        line(f"result: step {failed.number} ({failed.key}) failed; exit code {report.exit_code}")
        return
    for text in report.expiring:
        line(f"=> {text} (within --warn-days {report.warn_days})")
    if report.expiring:
        line(f"result: every step passed, but a certificate expires soon; exit code {report.exit_code}")
    else:
        line("result: every step passed")
