"""The CLI a newcomer finds their way in: examples and plain placeholders in every --help,
exit codes and environment variables in `xfer --help`, shell completion of profile names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from xfer.cli import click_command, main
from xfer.cli.help import walk
from xfer.errors import ExitCode

REPO = Path(__file__).resolve().parent.parent
COMMANDS = [" ".join(path) for path, _ in walk(click_command())]

#: Typer's type labels (`<list[str]>`, `<int range>`, `<str>`) and click's `{NAME}` usage form.
PLACEHOLDER = re.compile(r"<[a-z][\w\[\]| ,]*>|\{[a-z_]+\}")
#: Internal parameter names shown as a value's placeholder (``--as2-mdn OPT--AS2--MDN``).
INTERNAL_METAVAR = re.compile(r"\b[A-Z][A-Z0-9]*--[A-Z][A-Z0-9-]*")


def test_every_command_is_walked() -> None:
    assert {"", "put", "get", "doctor", "profile test", "identity show", "as2 send"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "xfer")
def test_help_has_an_example_and_no_internal_placeholder(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*command.split(), "--help"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Examples:" in out and "  xfer " in out.split("Examples:", 1)[1]
    found = PLACEHOLDER.findall(out) + INTERNAL_METAVAR.findall(out)
    assert not found, f"{command or 'xfer'} --help shows {found}"
    # A secret option's help names the reference forms once, not "(reference) (env:VAR, ...)".
    assert "(reference) (" not in " ".join(out.split())


def test_usage_line_names_the_arguments_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    main(["put", "--help"])
    assert capsys.readouterr().out.startswith("Usage: xfer put [OPTIONS] SOURCE... TARGET\n")
    main(["get", "--help"])
    assert capsys.readouterr().out.startswith("Usage: xfer get [OPTIONS] SOURCE... LOCAL\n")
    main(["put", "--help"])
    assert "--identity FILE " in capsys.readouterr().out


def test_root_help_lists_exit_codes_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    out = capsys.readouterr().out
    section = out.split("Exit codes:", 1)[1].split("Environment:", 1)[0]
    for code in ExitCode:
        assert re.search(rf"(^|\s){int(code)} \w", section), f"exit code {int(code)} missing"
    for variable in ("XFER_CONFIG_DIR", "XFER_PROFILE_PATH", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        assert variable in out
    environment = " ".join(out.split("Environment:", 1)[1].split())
    assert "--proxy option (profile key proxy)" in environment
    assert "FTPS and SFTP read only this one" in environment
    assert "--install-completion" in out and "--show-completion" in out


@pytest.fixture
def shell(tmp_path: Path) -> dict[str, str]:
    """An `xfer` on PATH running this checkout, three saved HTTPS profiles, an AS2 one, and a file that
    is no profile at all (not UTF-8: it broke every completion)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "xfer"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m xfer "$@"\n')
    wrapper.chmod(0o755)
    profiles = tmp_path / "config" / "profiles"
    profiles.mkdir(parents=True)
    for name in ("partner", "payroll", "other"):
        (profiles / f"{name}.toml").write_text('url = "https://127.0.0.1:1/"\n')
    (profiles / "edi-hub.toml").write_text('url = "https://127.0.0.1:1/as2"\nprotocol = "as2"\n'
                                           '[as2]\nas2_from = "ME"\nas2_to = "HUB"\nsign = "none"\n'
                                           'encrypt = "none"\nmdn = "unsigned-sync"\n')
    (profiles / "broken.toml").write_bytes(b'url = "https://127.0.0.1:1/"\n# \xff\xfe\n')
    env = {k: v for k, v in os.environ.items() if k != "XFER_PROFILE_PATH"}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(REPO),
               XFER_CONFIG_DIR=str(tmp_path / "config"))
    return env


def _complete(env: dict[str, str], words: str, script: str | None = None) -> list[str]:
    """Source Typer's bash script (from --show-completion, or ``script``) and run its function on
    ``words``, in the fixture's folder (where local names may complete too)."""
    if script is None:
        script = subprocess.run(["xfer", "--show-completion", "bash"], env=env, capture_output=True, text=True,
                                check=True).stdout
    assert "_XFER_COMPLETE=complete_bash" in script
    count = len(words.split()) - (0 if words.endswith(" ") else 1)
    program = (f"{script}\nCOMP_WORDS=({words}); COMP_CWORD={count}\n"
               '_xfer_completion xfer\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "-c", program], env=env, capture_output=True, text=True, check=True,
                          cwd=Path(env["XFER_CONFIG_DIR"]).parent)
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_profile_targets(shell: dict[str, str]) -> None:
    assert _complete(shell, "xfer ls pa") == ["partner:", "payroll:"]
    assert _complete(shell, "xfer get par") == ["partner:"]
    assert _complete(shell, "xfer profile show pa") == ["partner", "payroll"]
    assert _complete(shell, "xfer doctor o") == ["other"]
    assert "doctor" in _complete(shell, "xfer do")
    # put SOURCE... TARGET: click gives every word to SOURCE..., so the target is completed there.
    assert _complete(shell, "xfer put file.txt pa") == ["partner:", "payroll:"]
    assert _complete(shell, "xfer put a.txt b.txt -r o") == ["other:"]
    assert _complete(shell, "xfer put pa") == []  # the first word is a local file: the shell's own completion
    assert _complete(shell, "xfer put file.txt zz") == []  # no profile: the shell completes file names
    assert _complete(shell, "xfer sync outbox/ pa") == ["partner:", "payroll:"]
    assert _complete(shell, "xfer sync pa") == ["partner:", "payroll:"]
    # as2 send: AS2 profiles only (and a broken file, whose protocol is unknown).
    assert _complete(shell, "xfer as2 send invoice.edi pa") == []
    assert _complete(shell, "xfer as2 send invoice.edi ") == ["broken", "edi-hub"]
    assert _complete(shell, "xfer doctor e") == ["edi-hub"]
    assert _complete(shell, "xfer as2 send invoice.edi partner:/x") == []


def test_a_local_name_is_not_lost_to_a_profile_name(shell: dict[str, str]) -> None:
    """A non-empty answer replaces bash's file completion: a local file sharing the prefix is offered too."""
    folder = Path(shell["XFER_CONFIG_DIR"]).parent
    (folder / "partner-notes.txt").write_text("x")
    (folder / "partner-out").mkdir()
    assert _complete(shell, "xfer put file.txt part") == ["partner:", "partner-notes.txt", "partner-out/"]
    assert _complete(shell, "xfer sync part") == ["partner:", "partner-notes.txt", "partner-out/"]
    # get's last word is the local name (read-back: it was offered profiles only).
    assert _complete(shell, "xfer get partner:/a.txt part") == ["partner:", "partner-notes.txt", "partner-out/"]
    assert _complete(shell, "xfer get part") == ["partner:"]  # the first word is remote


def test_install_completion_writes_a_script_that_completes(shell: dict[str, str], tmp_path: Path) -> None:
    """`xfer --install-completion bash` (Typer's): the script under HOME, sourced from ~/.bashrc,
    and that script completes profile targets."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**shell, "HOME": str(home), "SHELL": "/bin/bash"}
    done = subprocess.run(["xfer", "--install-completion", "bash"], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    script = home / ".bash_completions" / "xfer.sh"
    assert str(script) in done.stdout
    text = script.read_text()
    assert "_XFER_COMPLETE=complete_bash" in text and "complete -o default -F _xfer_completion xfer" in text
    assert f"source '{script}'" in (home / ".bashrc").read_text()
    assert _complete(env, "xfer put file.txt pa", script=text) == ["partner:", "payroll:"]


def _help_of(root: Any, path: list[str]) -> str:
    """What ``xfer PATH --help`` prints, from the given command tree."""
    from typer._click import Context

    ctx = Context(root, info_name="xfer", **root.context_settings)
    command = root
    for name in path:
        ctx = Context(command.commands[name], info_name=name, parent=ctx)
        command = command.commands[name]
    return str(command.get_help(ctx))


@pytest.mark.parametrize("command", [c for c in COMMANDS if c], ids=str)
def test_a_run_parses_with_the_same_command_as_the_whole_tree(command: str) -> None:
    """`xfer NAME ...` builds only NAME under the root (start-up, issue 14): the same command,
    options, help and examples as in the whole tree."""
    from xfer.cli import _command_name

    path = command.split()
    assert _command_name([*path, "x"]) == path[0]
    pruned = click_command(path[0])
    assert list(pruned.commands) == [path[0]]
    assert _help_of(pruned, path) == _help_of(click_command(), path)
    assert [p.name for p in pruned.params] == [p.name for p in click_command().params]


def test_a_line_without_a_known_command_gets_the_whole_tree() -> None:
    from xfer.cli import _command_name

    assert _command_name(["--help"]) is None
    assert _command_name(["-v", "ls", "x:/"]) == "ls"
    assert _command_name(["lss", "x:/"]) is None  # click's "No such command" lists the real ones
    assert _command_name(["--", "ls"]) is None


def test_a_typo_still_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lss", "x:/"]) == ExitCode.USAGE
    assert "No such command 'lss'" in capsys.readouterr().err


def test_the_command_table_names_every_command_once_in_help_order() -> None:
    """xfer.cli.COMMANDS (which module to import for a run) lists exactly the whole tree's
    top-level commands, in the order `xfer --help` shows them."""
    from xfer.cli import COMMANDS

    assert list(click_command().commands) == list(COMMANDS)
    assert "put" in COMMANDS and "as2" in COMMANDS


def _page(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*command.split(), "--help"]) == 0
    return capsys.readouterr().out


def test_the_placeholder_pattern_catches_what_profile_add_showed() -> None:
    assert INTERNAL_METAVAR.findall("  --as2-mdn OPT--AS2--MDN   [as2] Receipt wanted") == ["OPT--AS2--MDN"]
    assert INTERNAL_METAVAR.findall("  --sftp-known-hosts OPT--SFTP--KNOWN-HOSTS") == ["OPT--SFTP--KNOWN-HOSTS"]
    assert not INTERNAL_METAVAR.findall("  --as2-mdn MDN  --no-sftp-agent  --identity FILE  SOURCE... TARGET")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "xfer")
def test_one_examples_block_per_page(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _page(command, capsys)
    assert out.count("Examples:") == 1, f"xfer {command} --help has {out.count('Examples:')} Examples: blocks"


def _examples(page: str) -> list[str]:
    """The example command lines of a help page: the indented lines of its "Examples:" block,
    the part that runs xfer of a pipeline, without a trailing "(note)"."""
    block = page.split("Examples:", 1)[1].split("\n\n", 1)[0]
    lines = []
    for raw in block.splitlines():
        line = re.split(r"\s{2,}\(", raw.strip(), maxsplit=1)[0]
        if not line:
            continue
        segments = [s.strip() for s in line.split(" | ") if s.strip().startswith("xfer ")]
        assert len(segments) == 1, f"not an xfer command line: {raw!r}"
        lines.append(segments[0])
    return lines


def _parse(words: list[str]) -> None:
    """Parse a command line with the CLI's own parser (click's make_context), running nothing:
    an unknown option, a missing or an extra argument raises click's UsageError."""
    from typer.exceptions import Exit

    root = click_command()
    try:
        ctx = root.make_context("xfer", list(words))
        command = root
        # A group keeps its subcommand's name apart from the words that follow it.
        while getattr(command, "commands", None) and (words := [*ctx._protected_args, *ctx.args]):
            name, command, rest = command.resolve_command(ctx, words)
            assert command is not None, words
            ctx = command.make_context(name, rest, parent=ctx)
        assert not getattr(command, "commands", None) or command is root, f"{words}: a group, no command"
        assert not ctx.args, f"{words}: left over {ctx.args}"
    except Exit as done:  # an eager root flag ended the parse
        assert done.exit_code == 0, words
    except SystemExit as done:  # Typer's --install-completion ran (under a test's HOME) and exits
        assert done.code == 0, words


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "xfer")
def test_every_example_parses_with_the_real_parser(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong example (`xfer as2 receipts partner-as2`: no such argument) can never ship again."""
    import shlex

    monkeypatch.setenv("HOME", str(tmp_path))  # the root's `xfer --install-completion` writes under HOME
    monkeypatch.setenv("SHELL", "/bin/bash")
    examples = _examples(_page(command, capsys))
    assert examples
    for example in examples:
        words = shlex.split(example)
        assert words[0] == "xfer"
        if command:
            assert " ".join(words[1:]).startswith(command), f"{command} --help shows an example of another command"
        _parse(words[1:])
    capsys.readouterr()


def test_the_example_parser_catches_a_wrong_example() -> None:
    from typer._click.exceptions import UsageError as ClickUsageError

    with pytest.raises(ClickUsageError, match="unexpected extra argument"):
        _parse(["as2", "receipts", "partner-as2"])
    with pytest.raises(ClickUsageError):
        _parse(["profile", "add", "partner-as2", "https://as2.example.com/as2", "--protocol", "as2", "..."])
    with pytest.raises(ClickUsageError, match="No such option"):
        _parse(["ls", "partner:/", "--jsn"])
    _parse(["as2", "resend", "<id@example.com>", "--profile", "partner-as2"])


def test_doctor_offers_no_transfer_option(capsys: pytest.CaptureFixture[str]) -> None:
    out = _page("doctor", capsys)
    for flag in ("--limit-rate", "--retries", "--retry-wait", "--resume", "--checksum"):
        assert flag not in out
    assert "--proxy" in out and "--identity" in out
    assert main(["doctor", "partner", "--retries", "3"]) == ExitCode.USAGE
    assert "No such option" in capsys.readouterr().err
