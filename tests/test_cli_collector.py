"""The console script pauses the cyclic collector for start-up and the first connection resumes
it, start-up objects frozen (xfer.cli.resume_collector, issue 14); an in-process ``main()`` leaves the
caller's collector alone."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xfer.cli import main
from xfer.errors import ExitCode

#: A connecting command that fails fast: nothing listens on port 1, and no retry.
_LS = ["ls", "https://127.0.0.1:1/", "--retries", "0"]

_CHILD = r"""
import gc, json, sys
import xfer.cli as cli
import xfer.client

seen = {"connect": [], "after": None}
real_connect, real_main = xfer.client.connect, cli.main

def connect(*args, **kwargs):
    seen["connect"].append(gc.isenabled())
    return real_connect(*args, **kwargs)

def main():
    code = real_main()
    seen["after"] = [gc.isenabled(), gc.get_freeze_count() > 0]
    return code

xfer.client.connect, cli.main = connect, main
import atexit
atexit.register(lambda: sys.stderr.write("\nSEEN " + json.dumps(seen) + "\n"))
sys.argv = ["xfer", *sys.argv[1:]]
cli.run()
"""


def _child(args: list[str], config: Path) -> tuple[int, dict[str, object]]:
    env = {**os.environ, "XFER_CONFIG_DIR": str(config)}
    env.pop("XFER_PROFILE_PATH", None)
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=60,
                          check=False, env=env)
    seen: dict[str, object] = json.loads(done.stderr.rsplit("\nSEEN ", 1)[1])
    return done.returncode, seen


def test_the_console_script_collects_nothing_until_the_first_connection(tmp_path: Path) -> None:
    code, seen = _child(_LS, tmp_path)
    assert code == ExitCode.CONNECT
    assert seen["connect"] == [False]  # paused through start-up, up to the connection
    assert seen["after"] == [True, True]  # resumed once it failed, start-up objects frozen


def test_a_command_without_a_connection_stays_paused_to_its_end(tmp_path: Path) -> None:
    code, seen = _child(["profile", "list", "--json"], tmp_path)
    assert code == ExitCode.OK and seen["connect"] == []
    assert seen["after"] == [False, False]  # a short run: the process exits next


def test_main_in_a_process_of_its_own_caller_keeps_its_collector(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import xfer.client

    seen: list[bool] = []
    real = xfer.client.connect

    def connect(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(xfer.client, "connect", connect)
    frozen = gc.get_freeze_count()
    assert main(_LS) == ExitCode.CONNECT
    assert seen == [True] and gc.isenabled() and gc.get_freeze_count() == frozen
    assert "xfer: error:" in capsys.readouterr().err
