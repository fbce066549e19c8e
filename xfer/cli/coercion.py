"""Command-line values converted without pydantic on the common path (start-up, issue 14).

Typer 0.29 converts every parameter's value through a pydantic ``TypeAdapter`` it builds
for that parameter on first use, and it builds one even when the value is absent
(``None``).  A connecting command has some 25 connection flags, so ``xfer ls URL`` paid
for importing pydantic and building those adapters (about 0.2 s of a 0.45 s run) before it
opened a socket.

:func:`install` gives each plain parameter (``str``, ``int``, ``float``, ``bool`` and
``list[str]``, optionally with ``min``/``max``) a converter that takes the obvious values
itself: a string for a ``str``, decimal digits for an ``int``, a plain decimal number for a
``float``, inside the declared range.  Anything else, such as a typo or a value out of
range, goes to Typer's own pydantic converter, built then.  So every value accepted here
is one pydantic accepts with the same result (``tests/test_cli_coercion.py`` checks both
converters side by side), and every error message stays Typer's.

This uses Typer internals (``_TyperParameter._runtime_param``, ``typer._coercion``):
``typer`` is pinned below 0.30, and the import guard fails if pydantic comes back.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from typer._coercion import RuntimeParam, build_runtime_param

__all__ = ["FastParam", "handles", "install"]

#: Decimal integers only (``+5``, ``-3``, ``007``): ``int()`` and pydantic agree on these.
#: At most 4300 digits, Python's default ``int()`` limit: a longer one raises ValueError
#: there, so it is left to pydantic, which words it as a bad value.
_INT = re.compile(r"[+-]?[0-9]{1,4300}")
#: Plain decimal numbers (``1``, ``.5``, ``2.``, ``-2.5e3``); no ``inf``/``nan``/``1_0``.
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

#: Annotations the fast path knows (``list[str]`` is recognised by its arguments).
_PLAIN = (str, int, float, bool)


@dataclass(frozen=True)
class FastParam(RuntimeParam):
    """Converts the obvious values itself; hands the rest to Typer's converter."""

    descriptor: Any
    _fallback: list[RuntimeParam] = field(default_factory=list, compare=False, repr=False)

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        converted = _fast(self.annotation, value, self.parameter_info.min, self.parameter_info.max)
        if converted is not _NO:
            return converted
        return self._slow()._coerce_value(value, param=param, ctx=ctx)

    def _slow(self) -> RuntimeParam:
        """Typer's own converter (pydantic), built on the first value the fast path leaves."""
        if not self._fallback:
            self._fallback.append(build_runtime_param(self.descriptor))
        return self._fallback[0]


class _Unconverted:
    """The fast path's "not mine" (``None`` is a value)."""


_NO = _Unconverted()


def _fast(annotation: Any, value: Any, low: float | None, high: float | None) -> Any:
    if annotation is str:
        return value if isinstance(value, str) else _NO
    if annotation is bool:
        return value if isinstance(value, bool) else _NO
    if _is_str_list(annotation):
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        return _NO
    number: int | float
    if annotation is int:
        if isinstance(value, str) and _INT.fullmatch(value):
            number = int(value)
        elif type(value) is int:  # a default; bool (an int subclass) is left to pydantic
            number = value
        else:
            return _NO
    elif annotation is float:
        if (isinstance(value, str) and _FLOAT.fullmatch(value)) or type(value) in (int, float):
            number = float(value)
        else:
            return _NO
        if not math.isfinite(number):  # "1e999": pydantic's business
            return _NO
    else:
        return _NO
    if (low is not None and number < low) or (high is not None and number > high):
        return _NO  # out of range: Typer words the error
    return number


def _is_str_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list and getattr(annotation, "__args__", None) == (str,)


def handles(descriptor: Any) -> bool:
    """Whether the fast path may stand in front of this parameter's converter."""
    info = descriptor.parameter_info
    plain = descriptor.annotation in _PLAIN or _is_str_list(descriptor.annotation)
    return (plain and info.parser is None and not info.clamp and descriptor.file_annotation is None
            and not descriptor.is_choice)


def install(command: Any) -> Any:
    """Put :class:`FastParam` in front of every plain parameter of the command tree; returns it.

    Each command's parameters get theirs when the command first parses a line (its ``--help``
    option, which click creates on first use, included): ``xfer --help`` converts nothing.
    """
    from .help import walk

    for _path, each in walk(command):
        each.parse_args = _installing(each, each.parse_args)
    return command


def _installing(command: Any, parse_args: Any) -> Any:
    def installed_parse_args(ctx: Any, args: list[str]) -> Any:
        for param in command.get_params(ctx):
            _install(param)
        return parse_args(ctx, args)

    return installed_parse_args


def _install(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", None) is not None or not handles(descriptor):
        return
    param._runtime_param = FastParam(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                                     descriptor=descriptor)
