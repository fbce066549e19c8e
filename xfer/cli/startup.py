"""What the ``xfer`` process defers at start-up that a library import cannot (issue 14).

requests imports ``charset_normalizer`` when it is imported, for one feature:
``Response.apparent_encoding``, the guessed charset of a text body that declares none.
Importing it decodes a probe with every codec Python has (~30 ms of CPU, a tenth of
a connecting command); xfer reads bodies as bytes and never asks for the guess.

The CLI owns its process, so it may put a stand-in in the way: :func:`defer_charset_detection`
adds a finder that answers the first ``import charset_normalizer`` with a module that knows
only the installed ``__version__`` (what requests checks at import) and imports the real
package on first use of any other attribute.  A library user's process is left alone.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import sys
import types
from pathlib import Path
from typing import Any

__all__ = ["StandIn", "defer_charset_detection"]

_DEFERRED = "charset_normalizer"


class StandIn(types.ModuleType):
    """A module that imports the real one on first use of anything it does not hold itself."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            # Dunder probes (``__path__`` by the import system, ``__wrapped__`` by inspect) are
            # not a use: without this, ``from charset_normalizer import __version__`` would load it.
            raise AttributeError(name)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


class _StandInLoader:
    def __init__(self, version: str) -> None:
        self.version = version

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return StandIn(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__version__ = self.version  # type: ignore[attr-defined]


class _Finder:
    """Answers the first import of :data:`_DEFERRED` with a :class:`StandIn`, then steps aside."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name != _DEFERRED:
            return None
        sys.meta_path.remove(self)  # once: the stand-in's own import of the real package must find it
        real = importlib.util.find_spec(name)
        version = _installed_version(real)
        if version is None:
            return real  # not the layout we know: import it the ordinary way
        return importlib.machinery.ModuleSpec(name, _StandInLoader(version))  # type: ignore[arg-type]


def _installed_version(spec: importlib.machinery.ModuleSpec | None) -> str | None:
    """``__version__`` from the package's ``version.py``, read as text (not imported)."""
    if spec is None or not spec.origin:
        return None
    try:
        text = (Path(spec.origin).parent / "version.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r'^__version__ = "([0-9][0-9A-Za-z.+-]*)"$', text, re.MULTILINE)
    return found.group(1) if found else None


def defer_charset_detection() -> None:
    """Install the stand-in finder, unless charset_normalizer (or requests) is already imported."""
    if _DEFERRED in sys.modules or "requests" in sys.modules:
        return
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
