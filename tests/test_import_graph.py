"""The package's import graph (every ``import mossfuse...`` in the source, lazy ones included,
``TYPE_CHECKING`` blocks excluded) has no cycle between sub-packages, and no new cycle between
modules."""

from __future__ import annotations

import ast
from pathlib import Path

import mossfuse

ROOT = Path(mossfuse.__file__).resolve().parent.parent
#: module cycles still present (lazy re-exports); no other may appear
KNOWN_MODULE_CYCLES = {
    frozenset({"mossfuse.physics._spatial_module", "mossfuse.physics.spatial"}),
    frozenset({"mossfuse.methods.mossfuse.method", "mossfuse.methods.mossfuse.weights"}),
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in (ROOT / "mossfuse").rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _graph() -> tuple[dict[str, set[str]], dict[str, Path]]:
    mods = _modules()

    def resolve(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {id(n) for node in ast.walk(tree)
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                graph[m] |= {resolve(a.name) for a in node.names if a.name.startswith("mossfuse")}
            elif (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                  and node.module.startswith("mossfuse")):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    graph[m].add(full if full in mods else resolve(node.module))
    return graph, mods


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def _package(m: str) -> str:
    return ".".join(m.split(".")[:2])


def test_no_cycle_between_subpackages():
    graph, _ = _graph()
    pkg: dict[str, set[str]] = {}
    for m, deps in graph.items():
        pkg.setdefault(_package(m), set()).update(
            _package(d) for d in deps if d and _package(d) != _package(m))
    assert _cycles(pkg) == []


def test_no_new_cycle_between_modules():
    graph, mods = _graph()
    # a package's own __init__ (lazy exports) is not an edge between its modules
    graph = {m: {d for d in deps if d != m and mods[d].name != "__init__.py"}
             for m, deps in graph.items()}
    assert set(_cycles(graph)) <= KNOWN_MODULE_CYCLES


def test_physics_imports_no_higher_layer():
    graph, _ = _graph()
    higher = ("mossfuse.methods", "mossfuse.engine", "mossfuse.pipeline", "mossfuse.bench",
              "mossfuse.analyses", "mossfuse.cli", "mossfuse.api")
    up = {(m, d) for m, deps in graph.items() if m.startswith("mossfuse.physics")
          for d in deps if d.startswith(higher)}
    assert up == set()
