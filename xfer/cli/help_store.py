"""Writes :mod:`.help_pages`: every ``xfer ... --help`` page, rendered by Typer, stored.

``xfer --help`` and ``xfer COMMAND --help`` print the stored page without importing Typer
(start-up, issue 14).  After changing any help text, example or option, run
``python -m xfer.cli.help_store``; ``tests/test_help_pages.py`` fails until the pages match.
"""

from __future__ import annotations

from .help import walk

__all__ = ["PAGE_COLUMNS", "no_args_pages", "pages_source", "render_pages", "write_pages"]


#: Typer's help formatter is never wider than 80 columns (78 of text): the pages hold from here on.
PAGE_COLUMNS = 80


def no_args_pages() -> list[str]:
    """The command paths that show their help when given nothing else (``xfer``, ``xfer profile``)."""
    from .root import click_command

    return [" ".join(path) for path, command in walk(click_command()) if getattr(command, "no_args_is_help", False)]


def render_pages(columns: int) -> dict[str, str]:
    """What ``xfer PATH --help`` prints through Typer for every command path, on a terminal ``columns`` wide."""
    import contextlib
    import io
    import os

    from .root import click_command

    root = click_command()
    pages = {}
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)  # what the help formatter reads first for the terminal's width
    try:
        for path, _command in walk(root):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = root.main([*path, "--help"], prog_name="xfer", standalone_mode=False)
            if code != 0:
                raise RuntimeError(f"xfer {' '.join(path)} --help exited with {code}")
            pages[" ".join(path)] = out.getvalue()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return pages


_PAGES_HEADER = '''"""Every ``xfer ... --help`` page as Typer renders it on a terminal of {columns} columns or more.

Written by ``python -m xfer.cli.help_store`` (:func:`xfer.cli.help_store.write_pages`): do not edit.
:func:`xfer.cli.main` prints these without importing Typer (start-up, issue 14);
``tests/test_help_pages.py`` holds each to Typer's own rendering.
"""

# ruff: noqa: E501

from __future__ import annotations

#: The narrowest terminal the pages are right for (Typer wraps at min(columns, 80) - 2).
MIN_COLUMNS = {columns}

#: The paths that print their page (and exit 2, usage) when given no argument or option.
NO_ARGS_IS_HELP = frozenset({no_args!r})

#: Command path (``""`` for the root, ``"profile add"``) -> the page, ending in a newline.
PAGES: dict[str, str] = {{
'''


def pages_source(pages: dict[str, str], columns: int, no_args: list[str]) -> str:
    """The text of the :mod:`.help_pages` module holding ``pages``."""
    lines = [_PAGES_HEADER.format(columns=columns, no_args=no_args)]
    for path, page in pages.items():
        lines.append(f"    {path!r}: (\n")
        lines.extend(f"        {line!r}\n" for line in page.splitlines(keepends=True))
        lines.append("    ),\n")
    lines.append("}\n")
    return "".join(lines)


def write_pages() -> None:
    """Write :mod:`.help_pages` from Typer's rendering of today's commands."""
    from pathlib import Path

    target = Path(__file__).with_name("help_pages.py")
    target.write_text(pages_source(render_pages(PAGE_COLUMNS), PAGE_COLUMNS, no_args_pages()), encoding="utf-8")


if __name__ == "__main__":
    write_pages()
