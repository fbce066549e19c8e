"""Fill the bed's config templates: every ``{{NAME}}`` becomes ``values[NAME]``.

The Docker images use ``integration/servers/render.sh`` with the same rule (values from the
environment), so native runs and containers read the very same template files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["PLACEHOLDER", "placeholders", "render", "render_file"]

PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")


def render(text: str, values: Mapping[str, object]) -> str:
    """Replace every placeholder; a placeholder without a value is a ``KeyError`` (no silent gaps)."""

    def _sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder {{{{{name}}}}} has no value")
        return str(values[name])

    return PLACEHOLDER.sub(_sub, text)


def render_file(template: Path, output: Path, values: Mapping[str, object]) -> Path:
    """Render ``template`` into ``output`` and return ``output``."""
    output.write_text(render(template.read_text(), values))
    return output


def placeholders(template: Path) -> set[str]:
    """Names a template needs (the compose test checks Docker provides each of them)."""
    return set(PLACEHOLDER.findall(template.read_text()))
