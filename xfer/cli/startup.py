"""What the ``xfer`` process changes at start-up that a library import cannot (issue 14).

Some dependencies do work when they are imported, for a feature xfer never calls or in a way
that costs more than its answer is worth.  The console script owns its process, so it may
step in (:func:`xfer.cli.run`, not :func:`xfer.cli.main`, which a program may call in its own
process): :func:`trim_start_up` adds a finder to the import system that acts on the first
import of a few modules.  A library user's process is left alone.

Stand-ins (:data:`DEFERRED`): the first import of each name is answered with a
:class:`StandIn`, a module that holds only what the importer reads at import time and imports
the real module on first use of any other attribute.  Nothing is lost if a path does use one:
it is imported then, once.

* ``charset_normalizer``: requests imports it for ``Response.apparent_encoding``, the
  guessed charset of a text body that declares none.  Importing it decodes a probe with
  every codec Python has (~30 ms of CPU, a tenth of a connecting command); xfer reads
  bodies as bytes and never asks for the guess.  requests checks its ``__version__`` at
  import: the stand-in holds the installed one.
* ``lxml.etree`` and ``dateutil.parser``: webdavclient3 imports them for its own parsing of
  PROPFIND answers and their dates.  xfer has webdavclient3 build and send requests only and
  parses the answers itself (:mod:`xfer.adapters._dav_xml`, which refuses what lxml would
  expand).  Importing the two cost 23-33 ms of every WebDAV command.
* ``importlib.metadata``: urllib3 imports it for ``version``, which it calls only when asked
  to speak HTTP/2 (``urllib3.http2.inject_into_urllib3``, which xfer never calls).  The
  stand-in holds a ``version`` that imports the real module when called.  6-7 ms of every
  HTTPS and WebDAV command.
* ``subprocess``: Typer imports it to open a URL in a browser (``typer.launch``) and to
  install shell completion; no command of xfer does either.  7 ms of every command Typer
  parses (``platform``, imported beside it, is not deferred: ``uuid``, which Typer's
  parameter types import, calls it at import).

Before an import (:data:`BEFORE_IMPORT`):

* ``asyncssh`` looks for liboqs (post-quantum key exchange) when it is imported, on every
  SFTP command, with ``ctypes.util.find_library``: see :func:`find_libraries_as_the_loader`.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["BEFORE_IMPORT", "DEFERRED", "StandIn", "find_libraries_as_the_loader", "trim_start_up"]


#: Makes a stand-in's "still in sys.modules? then out" one step: of two threads using it first, the
#: second must not take out the real module the first has just imported.  (Not held while importing.)
_REPLACING = threading.Lock()


class StandIn(types.ModuleType):
    """A module that imports the real one on first use of anything it does not hold itself.

    It holds what its spec gives every module (and ``__path__`` for a package: a submodule's
    import finds the real files) and what :data:`DEFERRED` says; it has no ``__all__``,
    ``__file__`` or ``__version__`` of the real one (none of its importers reads them).
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            # Dunder probes (``__path__`` by the import system, ``__wrapped__`` by inspect) are
            # not a use: without this, ``from charset_normalizer import __version__`` would load it.
            raise AttributeError(name)
        return getattr(_real(self.__name__), name)


def _real(name: str) -> types.ModuleType:
    """The real module ``name``, imported now if its stand-in is still in place."""
    with _REPLACING:
        if isinstance(sys.modules.get(name), StandIn):
            del sys.modules[name]
    return importlib.import_module(name)


def _charset_normalizer_holds(real: importlib.machinery.ModuleSpec) -> dict[str, Any] | None:
    """``__version__`` from the package's ``version.py``, read as text (not imported); None if
    it is not the layout known here (then the package is imported the ordinary way)."""
    if not real.origin:
        return None
    try:
        text = (Path(real.origin).parent / "version.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r'^__version__ = "([0-9][0-9A-Za-z.+-]*)"$', text, re.MULTILINE)
    return {"__version__": found.group(1)} if found else None


def _holds_nothing(real: importlib.machinery.ModuleSpec) -> dict[str, Any]:
    return {}


def _holds_version(real: importlib.machinery.ModuleSpec) -> dict[str, Any]:
    """``version``, which urllib3 takes with ``from importlib.metadata import version``: one that
    imports the real module when it is called."""

    def version(distribution_name: str) -> str:
        answer: str = _real(real.name).version(distribution_name)
        return answer

    return {"version": version}


#: Each deferred module: the dependency that imports it (nothing is deferred once that is
#: imported: it holds the real one), and what the stand-in holds from the start, read from the
#: real module's spec (None: import the real one now).  Why each is safe: the module docstring.
DEFERRED: dict[str, tuple[str, Callable[[importlib.machinery.ModuleSpec], dict[str, Any] | None]]] = {
    "charset_normalizer": ("requests", _charset_normalizer_holds),
    "lxml.etree": ("webdav3.client", _holds_nothing),
    "dateutil.parser": ("webdav3.client", _holds_nothing),
    "importlib.metadata": ("urllib3", _holds_version),
    "subprocess": ("typer", _holds_nothing),
}


class _StandInLoader:
    def __init__(self, holds: dict[str, Any]) -> None:
        self.holds = holds

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return StandIn(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        vars(module).update(self.holds)


def find_libraries_as_the_loader() -> None:
    """Make ``ctypes.util.find_library`` ask the dynamic loader's cache and the linker, not the C compiler.

    On Linux it asks, in turn, the loader's cache (``ldconfig -p``), the C compiler (``gcc
    -Wl,-t``: gcc, collect2 and ld, then ``objdump`` on what they find) and the linker (``ld -t``,
    which searches ``LD_LIBRARY_PATH`` too).  asyncssh asks for ``oqs`` and ``liboqs`` when it
    is imported; where liboqs is not installed, the compiler's part is 6 of the 11 processes
    that importing asyncssh starts.  ``xfer ls sftp://`` here: 0.690 -> 0.644 s wall (median of
    12; another run 0.629 -> 0.598 s, and 0.590 s with no look-up at all).

    Without ``LIBRARY_PATH`` the compiler searches the linker's folders and its own, whose
    libraries the loader does not load by the name ``find_library`` returns unless its cache
    has them: the answer is the same.  With ``LIBRARY_PATH`` set, the compiler also finds
    libraries there, which the loader may reach another way (an RPATH): then the stdlib's
    function answers, as before.  The replacement stays for the process (asyncssh's other
    look-ups use it too).  Linux only, and only where ctypes has the parts (private functions of
    ``ctypes.util``, the same from 3.6 to 3.13); else nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes.util
    except ImportError:  # a Python built without ctypes: asyncssh reports that itself
        return
    import os

    stdlib = ctypes.util.find_library
    cache = getattr(ctypes.util, "_findSoname_ldconfig", None)
    linker = getattr(ctypes.util, "_findLib_ld", None)
    soname = getattr(ctypes.util, "_get_soname", None)
    if cache is None or linker is None or soname is None:
        return

    def find_library(name: str) -> str | None:
        if os.environ.get("LIBRARY_PATH"):
            return stdlib(name)
        found: str | None = cache(name) or soname(linker(name))
        return found

    ctypes.util.find_library = find_library


#: What is done just before the first import of a module (why: the module docstring).
BEFORE_IMPORT: dict[str, Callable[[], None]] = {
    "asyncssh": find_libraries_as_the_loader,
}


class _Finder:
    """Answers the first import of each name of :data:`DEFERRED` with a :class:`StandIn`, and runs
    the step of :data:`BEFORE_IMPORT` before the first import of its module; steps aside once
    every name was seen."""

    def __init__(self) -> None:
        self.waiting = set(DEFERRED)
        self.before = dict(BEFORE_IMPORT)

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.waiting and name not in self.before:
            return None
        # Once: the stand-in's own import of the real module (and the look-up below) must find it.
        # (find_spec runs under the import lock of this name.)
        self.waiting.discard(name)
        step = self.before.pop(name, None)
        if not self.waiting and not self.before:
            # A new list, not the one changed in place: another thread's import may be walking it.
            sys.meta_path = [finder for finder in sys.meta_path if finder is not self]
        if step is not None:
            step()
            return None  # the module itself is imported the ordinary way
        real = importlib.util.find_spec(name)
        if real is None:
            return None  # not installed: the importer gets its ordinary ImportError
        holds = DEFERRED[name][1](real)
        if holds is None:
            return real
        spec = importlib.machinery.ModuleSpec(name, _StandInLoader(holds),  # type: ignore[arg-type]
                                              is_package=real.submodule_search_locations is not None)
        spec.submodule_search_locations = real.submodule_search_locations
        return spec


def trim_start_up() -> None:
    """Install the finder for the names of :data:`DEFERRED` that neither they nor their importer
    are imported yet, and of :data:`BEFORE_IMPORT` not imported yet."""
    if any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return
    finder = _Finder()
    finder.waiting -= {name for name, (importer, _) in DEFERRED.items()
                       if name in sys.modules or importer in sys.modules}
    for name in [name for name in finder.before if name in sys.modules]:
        del finder.before[name]
    if finder.waiting or finder.before:
        sys.meta_path.insert(0, finder)
