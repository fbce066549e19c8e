"""The CLI's pydantic-free value conversion (xfer/cli/coercion.py) agrees with Typer's own.

Every value is converted by both :class:`~xfer.cli.coercion.FastParam` and the converter
Typer 0.29 builds (pydantic); the two must give the same value, or the same error.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer._click import Context
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

from xfer.cli import click_command
from xfer.cli.coercion import FastParam, handles
from xfer.cli.help import walk


def _parsed_once() -> dict[tuple[str, str], Any]:
    """Every parameter of the CLI the fast path stands in front of, by (command, name), after
    each command parsed a line once (the converters are installed then)."""
    found = {}
    root = click_command()
    for path, command in walk(root):
        # Contexts chained from the root's, as a run makes them: the --help option click creates
        # (and keeps) on a command's first parse takes its names (-h, --help) from there.
        ctx = Context(root, info_name="xfer", resilient_parsing=True, **root.context_settings)
        parent = root
        for name in path:
            parent = parent.commands[name]
            ctx = Context(parent, info_name=name, parent=ctx, resilient_parsing=True)
        command.parse_args(ctx, [])
        found.update({(" ".join(path), p.name): p for p in command.params
                      if isinstance(getattr(p, "_runtime_param", None), FastParam)})
    return found


PARAMS = _parsed_once()

VALUES: list[Any] = [
    "5", "+5", "-3", "007", "0", " 7 ", "1_000", "1.0", "1.5", ".5", "5.", "-2.5e3", "1e3", "1E-2", "0x10",
    "inf", "nan", "-inf", "1e999", "", "abc", "٣", "16", "17", "-1", "true", "no", "x" * 3, 4, 2.5, True,
    False, ["a", "b"], ("a",), [],
]


def _convert(runtime: Any, param: Any, value: Any) -> tuple[str, Any]:
    ctx = Context(click_command())
    try:
        return "ok", runtime.coerce(value, param=param, ctx=ctx)
    except BadParameter as exc:
        return "error", exc.format_message()


def _kinds() -> dict[str, Any]:
    """One parameter per distinct (type, min, max): the same converter for all its siblings."""
    kinds: dict[str, Any] = {}
    for param in PARAMS.values():
        info = param.type_descriptor.parameter_info
        kinds.setdefault(f"{param.type_descriptor.annotation}-{info.min}-{info.max}-{param.nargs}", param)
    return kinds


@pytest.mark.parametrize("kind", sorted(_kinds()))
def test_fast_conversion_gives_what_typer_gives(kind: str) -> None:
    param = _kinds()[kind]
    typer_own = build_runtime_param(param.type_descriptor)
    for value in VALUES:
        fast, slow = _convert(param._runtime_param, param, value), _convert(typer_own, param, value)
        if isinstance(slow[1], float) and slow[1] != slow[1]:  # nan == nan is False
            assert fast[1] != fast[1], (kind, value)
            continue
        assert fast == slow, (kind, value)
        assert type(fast[1]) is type(slow[1]), (kind, value)


def test_the_connection_flags_and_counts_take_the_fast_path() -> None:
    """Every plain parameter of a connecting command is converted without pydantic."""
    for name in ("ls", "put", "get", "sync"):
        command = dict(walk(click_command()))[(name,)]
        plain = [p.name for p in command.params if handles(p.type_descriptor)]
        assert plain, name
        assert [p for p in plain if (name, p) not in PARAMS] == []
    assert {("ls", "timeout"), ("put", "parallel"), ("get", "max_depth"), ("ls", "identity")} <= set(PARAMS)


def test_a_bad_value_keeps_typers_message() -> None:
    param = PARAMS[("put", "parallel")]
    assert _convert(param._runtime_param, param, "0") == (
        "error", "Invalid value for '--parallel' / '-P': Input should be greater than or equal to 1")
    assert _convert(param._runtime_param, param, "x")[1].endswith("Input should be a valid integer, unable to "
                                                                   "parse string as an integer")


def test_an_integer_longer_than_python_parses_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """5000 digits: int() raises ValueError past 4300 (Python's limit); that was an
    "unexpected internal error" (exit 1) instead of a bad value (exit 2)."""
    from tests.helpers import one_error, run
    from xfer.errors import ExitCode

    code, _out, err = run(capsys, "ls", "https://127.0.0.1:1/", "--retries", "9" * 5000)
    assert code == ExitCode.USAGE
    one_error(err, "--retries")
