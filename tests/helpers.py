"""Helpers shared by the CLI tests: run ``xfer`` in-process and check its one-line errors."""

from __future__ import annotations

import pytest

from xfer.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``xfer ARGS`` in this process; return the exit code, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str, *needles: str) -> str:
    """Assert stderr is one ``xfer: error:`` line (plus hints/warnings), no traceback; return that line."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("xfer: error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith(("xfer: error: ", "hint: ", "xfer: warning: ")) for line in lines), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]
