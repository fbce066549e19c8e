"""The habits, enforced by the one test command: ``ruff check`` and ``mypy --strict`` are clean.

The README's test command (which ``.ci/run`` runs verbatim) is ``python -m pytest -n 2 ...``; running the
linters from here means that command fails on a lint or type error like on a failing test.
``.pre-commit-config.yaml`` runs the same two before a commit.  Both use the configuration
in ``pyproject.toml``: mypy's ``packages`` (xfer, tests, integration, bench) and ``strict``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: What ruff checks: the same folders mypy's ``packages`` names.
CHECKED = ("xfer", "tests", "integration", "bench")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    # The work tree's xfer, not an installed copy elsewhere, is what gets checked.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=env, timeout=600, check=False)


def _tool(module: str) -> list[str]:
    """``python -m TOOL`` of this interpreter (the dev extra installs both)."""
    try:
        __import__(module)
    except ImportError:
        if shutil.which(module) is None:
            pytest.fail(f"{module} is not installed: python -m pip install -e '.[dev]'")
        return [module]
    return [sys.executable, "-m", module]


def test_ruff_check_is_clean() -> None:
    done = _run(*_tool("ruff"), "check", "--no-cache", *CHECKED)
    assert done.returncode == 0, f"ruff check {' '.join(CHECKED)}:\n{done.stdout}{done.stderr}"


def test_mypy_strict_is_clean() -> None:
    done = _run(*_tool("mypy"))  # packages and strict = true come from pyproject.toml
    assert done.returncode == 0, f"mypy (strict, {', '.join(CHECKED)}):\n{done.stdout}{done.stderr}"
    assert "Success: no issues found" in done.stdout, done.stdout


def test_mypy_config_covers_every_checked_folder() -> None:
    """Adding a folder to one list and not the other would let it drift unchecked."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["mypy"]["strict"] is True
    assert tuple(config["tool"]["mypy"]["packages"]) == CHECKED
    hooks = (REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    assert f"ruff check {' '.join(CHECKED)}" in hooks and "entry: mypy" in hooks


def test_module_docstrings_cite_only_documents_in_the_repository() -> None:
    """A docstring that sends the reader to a design note nobody can open is worse than none."""
    import ast
    import re

    cited = re.compile(r"[\w./-]+\.(?:md|rst)\b")
    missing: list[str] = []
    for folder in CHECKED:
        for source in sorted((REPO / folder).rglob("*.py")):
            text = source.read_text(encoding="utf-8")
            doc = ast.get_docstring(ast.parse(text)) or ""
            for name in cited.findall(doc):
                if not ((REPO / name).exists() or (source.parent / name).exists()):
                    missing.append(f"{source.relative_to(REPO)}: {name}")
            if source == Path(__file__).resolve():
                continue
            # Not in the repository either way, whatever the spelling: the team's notes folder.
            missing.extend(f"{source.relative_to(REPO)}: {note}" for note in ("TLS-NOTES", "DESIGN.md", "/work/shared")
                           if note in text)
    assert not missing, f"documents cited that the repository does not have: {missing}"
