"""The doctor's report: numbered steps, each passed, failed or not applicable, with its facts.

Facts are plain JSON values under stable keys (documented in the README, "xfer doctor").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ExitCode, XferError

__all__ = ["FAIL", "OK", "SKIP", "Report", "Status", "Step"]

Status = Literal["ok", "fail", "skip"]
OK: Status = "ok"
FAIL: Status = "fail"
SKIP: Status = "skip"


@dataclass
class Step:
    """One step of the diagnosis.

    ``key`` names the step for scripts (``network``, ``tls``, ``client_certificate_request``,
    ``identity``, ``acceptance``, ``protocol``, ``clock``); ``lines`` are the facts in words,
    ``verdicts`` the conclusions a user acts on, ``fix`` what to do when the step failed.
    """

    key: str
    title: str
    status: Status = OK
    facts: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    error: XferError | None = None
    fix: str | None = None
    number: int = 0

    def fail(self, error: XferError, *, verdict: str | None = None) -> Step:
        """Mark the step failed because of ``error``; its hint becomes the fix."""
        self.status = FAIL
        self.error = error
        if verdict:
            self.verdicts.append(verdict)
        self.fix = error.cli_hint or error.hint
        return self

    def to_dict(self) -> dict[str, Any]:
        error = None
        if self.error is not None:
            error = {
                "type": type(self.error).__name__,
                "message": self.error.message,
                "hint": self.error.cli_hint or self.error.hint,
                "exit_code": int(self.error.exit_code),
            }
        return {
            "number": self.number,
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "facts": self.facts,
            "verdicts": self.verdicts,
            "fix": self.fix,
            "error": error,
        }


@dataclass
class Report:
    """Everything ``xfer doctor`` found, in the order it looked."""

    target: str
    server: str
    protocol: str
    steps: list[Step] = field(default_factory=list)
    #: Certificates (ours or the server's) that expire within ``warn_days``.
    expiring: list[str] = field(default_factory=list)
    warn_days: int | None = None

    def add(self, step: Step) -> Step:
        step.number = len(self.steps) + 1
        self.steps.append(step)
        return step

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if s.status == FAIL), None)

    @property
    def exit_code(self) -> int:
        """The failing step's error code; else :data:`ExitCode.EXPIRING` for a certificate near its end."""
        failed = self.failed
        if failed is not None and failed.error is not None:
            return int(failed.error.exit_code)
        if self.expiring:
            return int(ExitCode.EXPIRING)
        return int(ExitCode.OK)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "server": self.server,
            "protocol": self.protocol,
            "ok": self.failed is None,
            "exit_code": self.exit_code,
            "warn_days": self.warn_days,
            "expiring": self.expiring,
            "steps": [s.to_dict() for s in self.steps],
        }
