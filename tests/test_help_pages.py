"""``xfer --help``, ``xfer COMMAND --help``, a bare ``xfer`` and ``xfer --version`` print without
importing Typer (start-up, issue 14): exactly what Typer prints, for every command path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xfer.cli import _stored_help, main
from xfer.cli.help_pages import MIN_COLUMNS, NO_ARGS_IS_HELP, PAGES
from xfer.cli.help_store import PAGE_COLUMNS, no_args_pages, render_pages

#: Typer's and click's modules: none is needed to print a stored page.
_TOOLKIT = ("typer", "click", "rich", "pydantic", "shellingham")


def test_every_stored_page_is_typers_rendering() -> None:
    """The stored pages are today's: same command paths in the same order, same text (at 80
    columns and on a wider terminal, where Typer's formatter stays 80 wide)."""
    assert MIN_COLUMNS == PAGE_COLUMNS
    assert frozenset(no_args_pages()) == NO_ARGS_IS_HELP, "run `python -m xfer.cli.help_store`"
    assert "" in NO_ARGS_IS_HELP and "profile" in NO_ARGS_IS_HELP
    for columns in (PAGE_COLUMNS, 200):
        rendered = render_pages(columns)
        assert list(rendered) == list(PAGES), "run `python -m xfer.cli.help_store` to store the pages again"
        for path, page in rendered.items():
            assert PAGES[path] == page, f"`xfer {path} --help` changed: run `python -m xfer.cli.help_store`"


def _typer(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """What Typer itself makes of ``args`` (the stored pages bypassed)."""
    from xfer.cli.root import dispatch

    code = dispatch(args, None, False)
    out, err = capsys.readouterr()
    return code, out, err


#: Every stored line: PATH --help and PATH -h (exit 0), a bare group (exit 2), -v anywhere.
_LINES = [[*path.split(), flag] for path in PAGES for flag in ("--help", "-h")] + [
    path.split() for path in sorted(NO_ARGS_IS_HELP)] + [["-v", "get", "--help"], ["profile", "-v"], ["--version"]]


@pytest.mark.parametrize("args", _LINES, ids=lambda args: " ".join(args) or "(nothing)")
def test_main_prints_what_typer_prints(args: list[str], capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    expected = _typer([a for a in args if a != "-v"], capsys)
    import xfer.cli.root

    def no_typer(*args: object) -> int:
        raise AssertionError("a stored page was not used")

    monkeypatch.setattr(xfer.cli.root, "dispatch", no_typer)
    code = main(args)
    out, err = capsys.readouterr()
    assert (code, out, err) == expected
    if args == ["--version"]:
        assert out.startswith("xfer ") and code == 0
        return
    path = " ".join(a for a in args if a not in ("-v", "--help", "-h"))
    assert out == PAGES[path]
    assert code == (0 if args and args[-1] in ("--help", "-h") else 2)


def test_a_narrow_terminal_gets_typers_narrower_page(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(MIN_COLUMNS - 20))
    assert _stored_help(["get", "--help"]) is None
    assert _stored_help([]) is None
    code, out, _ = _typer(["get", "--help"], capsys)
    assert code == 0 and out != PAGES["get"]
    assert max(len(line) for line in out.splitlines() if not line.startswith("    xfer")) <= MIN_COLUMNS - 22
    assert main(["get", "--help"]) == 0
    assert capsys.readouterr().out == out


def test_lines_that_are_not_a_plain_help_go_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert _stored_help(["get", "--help"]) == (PAGES["get"], 0)
    assert _stored_help([]) == (PAGES[""], 2)
    for args in (["get", "x:/", "--help"], ["--help", "--version"], ["lss", "--help"], ["get", "--", "--help"],
                 ["--help", "get"], ["get"], ["profile", "x"], ["profile", "add", "x", "--help"],
                 # One word that holds a path, or an empty one: Typer's usage error (found in review).
                 ["profile add", "--help"], ["", "--help"], ["", "-h"], [""], [" get", "--help"]):
        assert _stored_help(args) is None, args
    monkeypatch.setenv("_XFER_COMPLETE", "complete_bash")  # shell completion: always Typer's
    assert _stored_help(["--help"]) is None
    assert _stored_help([]) is None


_CHILD = r"""
import json, sys
sys.argv = ["xfer", *sys.argv[1:]]
from xfer.cli import run
import atexit
atexit.register(lambda: sys.stderr.write("\nMODULES " + json.dumps(sorted(sys.modules)) + "\n"))
run()
"""


@pytest.mark.parametrize("args", [["--help"], ["get", "--help"], ["profile", "add", "-h"], [], ["--version"]],
                         ids=lambda args: " ".join(args) or "(nothing)")
def test_help_imports_no_command_line_toolkit(args: list[str]) -> None:
    env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=60,
                          check=False, env={**env, "PYTHONPATH": ":".join(sys.path)})
    assert done.returncode == (0 if args else 2), done.stderr
    if args == ["--version"]:
        from importlib.metadata import version

        assert done.stdout == f"xfer {version('xfer')}\n"
    else:
        assert done.stdout == PAGES[" ".join(args[:-1])]
    modules = json.loads(done.stderr.rsplit("\nMODULES ", 1)[1])
    assert [m for m in modules if m.split(".")[0] in _TOOLKIT] == []
    assert [m for m in modules if m.startswith("xfer.") and m not in
            {"xfer.errors", "xfer.cli", "xfer.cli.help_pages"}] == []


@pytest.mark.parametrize("columns", [MIN_COLUMNS, MIN_COLUMNS - 20], ids=["stored", "typer"])
@pytest.mark.parametrize("args", [["--help"], ["get", "-h"], []], ids=lambda args: " ".join(args) or "(nothing)")
def test_help_into_a_closed_pipe_ends_quietly(args: list[str], columns: int) -> None:
    """`xfer | head -0`: exit 1 and nothing on stderr, as Typer's --help (a bare `xfer` printed a
    BrokenPipeError traceback)."""
    env = {"COLUMNS": str(columns), "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    child = subprocess.Popen([sys.executable, "-m", "xfer", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=60) == 1
    assert err == b""


def test_a_help_page_with_no_stdout_or_a_full_disk_is_no_traceback(tmp_path: Path) -> None:
    """Found in review: the stored page's write was outside the error funnel (``>&-``: click prints
    nothing, exit 0; /dev/full: one error line, exit 1)."""
    env = {**os.environ, "COLUMNS": "80"}
    closed = subprocess.run([sys.executable, "-m", "xfer", "--help"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, check=False,
                            preexec_fn=lambda: os.close(1))
    assert (closed.returncode, closed.stderr) == (0, "")
    with open("/dev/full", "w") as full:
        filled = subprocess.run([sys.executable, "-m", "xfer", "get", "--help"], stdout=full,
                                stderr=subprocess.PIPE, text=True, env=env, check=False)
    assert filled.returncode == 1 and "Traceback" not in filled.stderr
    assert filled.stderr.startswith("xfer: error: cannot write the help page")


def test_the_stored_pages_are_ascii() -> None:
    """They are written with sys.stdout.write, which (unlike click.echo) does not re-wrap an ASCII
    stdout (PYTHONIOENCODING=ascii, LANG=C on old systems)."""
    assert all(page.isascii() for page in PAGES.values())
