"""The architecture as a test: imports only point down the layers, there are no import
circles, and only the web layer knows Starlette.

Every module under server/ is parsed (AST, nothing is imported), and every `import` and
`from … import` naming a server module counts, also those inside functions (an import
moved into a function to dodge a circle is still a circle). Imports under
`if TYPE_CHECKING:` are left out: they never run.

The layers, lowest first (a module may import its own layer and the ones below):

    core    server.core        settings, parsing, clock, errors, paths, i18n: no I/O policy
    store   server.store       the one door to SQLite
    domain  people, catalogue, learning, transcript, pipeline, live, ops
                               the rules of the service; no HTTP, no Starlette
    web     server.web         app, middleware, guard, rendering, views: all that knows HTTP
    app     server.cli, server.demo, server (the package)
                               entry points that put the others together
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "server"
DOMAIN = ("people", "catalogue", "learning", "transcript", "pipeline", "live", "ops")
LAYERS = {"core": 0, "store": 1, **dict.fromkeys(DOMAIN, 2), "web": 3}
APP = 4
LAYER_NAMES = ("core", "store", "domain", "web", "app")
WEB_ONLY = ("starlette",)  # third-party packages only server/web may import


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], APP) if len(parts) > 1 else APP


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for part in node.body for n in ast.walk(part)}
    return skipped


def imported_names(path: Path) -> set[str]:
    """Every dotted name this module imports (`from a import b` gives a and a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped, own = _type_checking_only(tree), module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def graph() -> dict[str, set[str]]:
    """module -> the server modules it imports (names resolved to existing modules)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        edges[name] = {n for n in imported_names(path) if n in files and n != name}
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_there_are_no_import_circles():
    assert circles(graph()) == []


def test_imports_only_point_down_the_layers():
    upward = [
        f"{module} ({LAYER_NAMES[layer(module)]}) imports {target} ({LAYER_NAMES[layer(target)]})"
        for module, targets in graph().items()
        for target in sorted(targets)
        if layer(target) > layer(module) and not module.startswith(target + ".")
    ]
    assert upward == []


def test_only_the_web_layer_imports_starlette():
    outside = [
        f"{module_name(path)} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if layer(module_name(path)) != LAYERS["web"]
        for name in sorted(imported_names(path))
        if name.split(".")[0] in WEB_ONLY
    ]
    assert outside == []


def test_the_checks_see_what_they_look_for():
    """The parser finds function-level and relative imports; the circle finder finds one."""
    names = imported_names(PACKAGE / "web" / "app.py")
    assert "starlette.applications" in names and "server.web.respond" in names
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("server.core.clock") < layer("server.store") < layer("server.catalogue.talks")
    assert layer("server.catalogue.talks") < layer("server.web.app") < layer("server.cli")
