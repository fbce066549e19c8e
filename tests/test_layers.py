"""The import graph of ``xfer``: no cycle, and every import points down a declared layer order.

Read from the source with :mod:`ast` (nothing is imported), so the test sees lazy imports
inside functions as well as module-level ones.  Three kinds of edge:

* module-level imports run when the module is imported: they must not form a cycle;
* lazy imports (inside a function) run on first use: they may not point up either,
  except the few listed in ``LAZY_UPWARD`` with the reason each is there;
* imports under ``if TYPE_CHECKING:`` never run: they are annotations, not dependencies.

A module's layer is that of the longest matching prefix in ``LAYERS``.  Within one layer any
direction is allowed as long as module-level imports form no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Bottom to top.  A module may import its own layer and the layers below it.  Why this order:
#: errors and plain types are what everything shares; options, profile-free parsing (urls,
#: registry) and credentials (secrets, identity) need nothing else of xfer; TLS builds on
#: identities; the byte-moving code (transfer, the HTTP session, the AS2 message formats) and
#: profile loading build on TLS; protocol adapters build on all of those; the library front door
#: (connect/put/get) drives adapters; the CLI renders the library; test support (embedded
#: servers, the demo, the pytest plugin) may use anything, and nothing below it may import it at
#: module level, so `pip install xfer` never needs the `testing` extra.
LAYERS: tuple[tuple[str, ...], ...] = (
    # "xfer": the package facade imports only errors at runtime; log: logger names and masking, nothing else;
    # buffers: aligned bulk buffers, on the standard library only
    # zones: the offset of a listing's unnamed zone, on the standard library only
    # landing: whether one syncfs may make a group of files durable, on the standard library only
    ("xfer", "xfer.errors", "xfer.types", "xfer.log", "xfer.numbers", "xfer.buffers", "xfer.zones", "xfer.landing"),
    ("xfer.globs",),  # glob patterns on /-paths: pure, on errors and types only
    ("xfer.pfx",),  # the quick PKCS#12 reader: cryptography only, below the identity that uses it
    # protocol specs: plain data about each protocol, the registry lists them; they import nothing heavy
    ("xfer.options", "xfer.registry", "xfer.protocols", "xfer.urls", "xfer.secrets", "xfer.identity", "xfer.verify",
     "xfer.throttle", "xfer.pipeline_io"),
    ("xfer.tls", "xfer.net"),  # net: TCP connections, direct or through a proxy
    # retry: the retry policy and the try-to-try state the download writer keeps its part in
    ("xfer.retry", "xfer.transfer", "xfer.streams", "xfer.http_session", "xfer.http_lean", "xfer.http_errors",
     "xfer.multipart", "xfer.as2", "xfer.profiles"),
    ("xfer.adapters", "xfer.batch"),  # batch: the many-file plans and runs behind Adapter.put / .get
    ("xfer.client", "xfer.sync"),  # sync: plans and runs a one-way mirror over the batch runner
    ("xfer.doctor",),  # the diagnosis drives client functions and adapters, and renders nothing itself
    ("xfer.cli", "xfer.__main__", "xfer.filesystem"),  # front ends: the CLI and fsspec
    ("xfer.testing",),
)

#: Lazy imports that point up, each with its reason.  The test fails if one disappears too, so
#: this list stays the truth.
LAZY_UPWARD: dict[tuple[str, str], str] = {
    ("xfer.cli.demo", "xfer.testing.demo"): "`xfer demo` is test code run on request; imported in the command only",
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "module", "lazy" or "typing"
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.kind} import, line {self.line})"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, module: str, is_package: bool, prefix: str) -> Iterator[tuple[str, str, int]]:
    """(target module, kind, line) of every import of a module under ``prefix`` in ``tree``."""
    package = module if is_package else module.rpartition(".")[0]

    def walk(node: ast.AST, kind: str) -> Iterator[tuple[str, str, int]]:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and kind == "module":
                child_kind = "lazy"
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.body:
                    yield from walk(ast.Module(body=[sub], type_ignores=[]), "typing")
                for sub in child.orelse:
                    yield from walk(ast.Module(body=[sub], type_ignores=[]), child_kind)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child_kind, child.lineno
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    target = child.module or ""
                yield target, child_kind, child.lineno
                for alias in child.names:  # `from xfer.as2 import mdn` imports the module xfer.as2.mdn
                    yield f"{target}.{alias.name}", child_kind, child.lineno
            yield from walk(child, child_kind)

    for target, kind, line in walk(tree, "module"):
        if target == prefix or target.startswith(prefix + "."):
            yield target, kind, line


def import_graph(root: Path, prefix: str) -> tuple[set[str], list[Edge]]:
    """Every module of the package at ``root / prefix`` and its imports of modules of that package.

    Importing ``a.b.c`` runs ``a`` and ``a.b`` first: those parents are edges too.
    """
    files = sorted((root / prefix).rglob("*.py"))
    modules = {_module_name(path, root): path for path in files}
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, kind, line in _imports(tree, module, path.name == "__init__.py", prefix):
            if target not in modules:
                continue  # `from xfer.errors import UsageError`: a name, not a module
            parts = target.split(".")
            for n in range(1, len(parts) + 1):
                reached = ".".join(parts[:n])
                if reached != module and reached in modules and not module.startswith(reached + "."):
                    edges.append(Edge(module, reached, kind, line))
    return set(modules), sorted(set(edges), key=lambda e: (e.source, e.target, e.kind, e.line))


def find_cycle(nodes: set[str], edges: list[Edge]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None."""
    after: dict[str, set[str]] = {node: set() for node in nodes}
    for edge in edges:
        after[edge.source].add(edge.target)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(after[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(nodes):
        if node not in state and (found := visit(node)):
            return found
    return None


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            # "xfer" names the facade module only: as a prefix it would place every new module
            # at the bottom instead of asking for its layer.
            covers = module == prefix or (prefix != "xfer" and module.startswith(prefix + "."))
            if covers and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__name__}")
    return best[1]


@pytest.fixture(scope="module")
def graph() -> tuple[set[str], list[Edge]]:
    return import_graph(REPO, "xfer")


def test_every_module_has_a_layer(graph: tuple[set[str], list[Edge]]) -> None:
    modules, _ = graph
    assert "xfer.adapters.base" in modules and "xfer.cli.transfer" in modules  # the parse saw the package
    for module in modules:
        layer_of(module)


def test_module_level_imports_have_no_cycle(graph: tuple[set[str], list[Edge]]) -> None:
    modules, edges = graph
    cycle = find_cycle(modules, [e for e in edges if e.kind == "module"])
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_runtime_imports_have_no_cycle(graph: tuple[set[str], list[Edge]]) -> None:
    """Lazy imports included: a cycle through a function is still two modules that need each other."""
    modules, edges = graph
    cycle = find_cycle(modules, [e for e in edges if e.kind != "typing"])
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_points_up(graph: tuple[set[str], list[Edge]]) -> None:
    _, edges = graph
    upward = [e for e in edges if e.kind != "typing" and layer_of(e.target) > layer_of(e.source)]
    module_level = [str(e) for e in upward if e.kind == "module"]
    assert module_level == [], "upward imports:\n" + "\n".join(module_level)
    lazy = {(e.source, e.target) for e in upward if e.kind == "lazy"}
    # Importing a listed module also runs its parent packages' __init__: those edges come with it.
    unexplained = sorted(
        (source, target) for source, target in lazy
        if not any(source == s and (target == t or t.startswith(target + ".")) for s, t in LAZY_UPWARD)
    )
    assert unexplained == [], f"lazy imports pointing up, not in LAZY_UPWARD: {unexplained}"
    stale = sorted(set(LAZY_UPWARD) - lazy)
    assert stale == [], f"LAZY_UPWARD lists imports that no longer exist: {stale}"


def test_product_code_never_imports_test_code_at_module_level(graph: tuple[set[str], list[Edge]]) -> None:
    """`pip install xfer` (no `testing` extra) must import every product module."""
    _, edges = graph
    testing = "xfer.testing"
    offending = [
        str(e) for e in edges
        if e.kind == "module" and not e.source.startswith(testing) and e.target.startswith(testing)
    ]
    assert offending == []


def test_transfer_and_http_session_do_not_import_adapters(graph: tuple[set[str], list[Edge]]) -> None:
    """The plain types live in xfer.types; the byte-moving code must not need the adapter package."""
    _, edges = graph
    below = ("xfer.transfer", "xfer.http_session", "xfer.http_lean", "xfer.http_errors", "xfer.multipart", "xfer.types")
    assert [str(e) for e in edges if e.source in below and e.target.startswith("xfer.adapters")] == []


def test_integration_package_has_no_import_cycle() -> None:
    """bed.py and profiles.py once imported each other (one lazily, one for typing): any kind of
    import counts here, a cycle in any form means two modules that are really one."""
    modules, edges = import_graph(REPO, "integration")
    assert {"integration.bed", "integration.profiles"} <= modules
    cycle = find_cycle(modules, edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# -- the checker itself -----------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_sees_module_lazy_and_typing_imports_and_cycles(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from . import b\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import X\n",
        "pkg/b.py": "def f():\n    from pkg.a import g\n",
        "pkg/c.py": "import pkg.sub.d\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/d.py": "from ..c import y\n",
    })
    modules, edges = import_graph(tmp_path, "pkg")
    found = {(e.source, e.target, e.kind) for e in edges}
    assert ("pkg.a", "pkg.b", "module") in found
    assert ("pkg.a", "pkg.c", "typing") in found
    assert ("pkg.b", "pkg.a", "lazy") in found
    assert ("pkg.c", "pkg.sub", "module") in found and ("pkg.c", "pkg.sub.d", "module") in found
    assert ("pkg.sub.d", "pkg.c", "module") in found
    assert find_cycle(modules, [e for e in edges if e.kind == "module"]) == ["pkg.c", "pkg.sub.d", "pkg.c"]
    assert find_cycle(modules, [e for e in edges if e.kind == "lazy"]) is None
    assert find_cycle(modules, [e for e in edges if e.kind != "typing"]) is not None
