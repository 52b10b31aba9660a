"""docs/architecture.md stays true, and the import graph of ``src/mossfuse`` has no cycle and
no upward arrow (AST-based: every ``import``, at the top of a file or inside a function;
``if TYPE_CHECKING:`` blocks excepted)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PKG = SRC / "mossfuse"
DOC = REPO / "docs" / "architecture.md"

#: Deliberate lazy pairs inside one package: the torch half of physics.spatial is loaded on first
#: use by spatial's ``__getattr__``; weights.py asks method.py for the shipped weights.
LAZY_MODULE_EDGES = {
    ("mossfuse.physics.spatial", "mossfuse.physics._spatial_module"),
    ("mossfuse.methods.mossfuse.weights", "mossfuse.methods.mossfuse.method"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            skip |= {id(x) for stmt in node.body for x in ast.walk(stmt)}
    return skip


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the mossfuse modules it imports (``from pkg import submodule`` counts as the
    submodule; a module's own parent packages are not edges)."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                subs = [f"{src}.{a.name}" for a in node.names if f"{src}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [src, *subs]
            else:
                continue
            for t in targets:
                if not t.startswith("mossfuse"):
                    continue
                r = resolve(t)
                if r and r != mod and not mod.startswith(r + "."):
                    graph[mod].add(r)
    return graph


def _top(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    nodes = set(graph) | {w for vs in graph.values() for w in vs}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(comp)
    return out


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, targets in _imports(_modules()).items():
        for t in targets:
            if _top(t) != _top(mod):
                graph[_top(mod)].add(_top(t))
    return graph


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```text\n(.*?)```", text, flags=re.S)


def _doc_layers() -> dict[str, int]:
    layers = {}
    for line in _code_blocks(DOC.read_text(encoding="utf-8"))[1].splitlines():
        level, _, names = line.strip().partition(" ")
        for name in names.split(","):
            layers[name.strip()] = int(level)
    return layers


def _doc_tree() -> list[Path]:
    """The paths of the tree block: one entry per line, two spaces of indent per level."""
    lines = _code_blocks(DOC.read_text(encoding="utf-8"))[0].splitlines()
    assert lines[0].strip() == "src/mossfuse/"
    paths: list[Path] = []
    stack: list[str] = []
    for line in lines[1:]:
        m = re.match(r"^( *)([\w.]+/|[\w.]+\.py)(\s|$)", line)
        assert m, f"not a tree entry: {line!r}"
        depth = len(m.group(1)) // 2 - 1
        assert depth <= len(stack), f"indentation skips a level: {line!r}"
        stack[depth:] = [m.group(2).rstrip("/")]
        paths.append(PKG.joinpath(*stack))
    return paths


def test_every_path_in_the_tree_exists():
    missing = [str(p.relative_to(SRC)) for p in _doc_tree() if not p.exists()]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_package_is_in_the_tree():
    named = set(_doc_tree())
    packages = [p.parent for p in PKG.rglob("__init__.py") if p.parent != PKG]
    absent = sorted(str(p.relative_to(SRC)) for p in packages if p not in named)
    assert not absent, f"packages missing from docs/architecture.md: {absent}"


def test_every_dotted_name_in_the_doc_exists():
    mods = _modules()
    text = DOC.read_text(encoding="utf-8")
    bad = []
    for name in sorted(set(re.findall(r"`(mossfuse(?:\.\w+)+)", text))):
        mod = name
        while mod not in mods:
            mod = mod.rpartition(".")[0]
        rest = name[len(mod) + 1 :].split(".") if name != mod else []
        if len(rest) > 1:
            bad.append(name)
            continue
        if rest:
            tree = ast.parse(mods[mod].read_text(encoding="utf-8"))
            defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef,
                                                                   ast.ClassDef))}
            defined |= {a.asname or a.name for n in tree.body
                        if isinstance(n, ast.ImportFrom) for a in n.names}
            if rest[0] not in defined:
                bad.append(name)
    assert not bad, f"docs/architecture.md names what does not exist: {bad}"


def test_layers_cover_every_top_level_package():
    top = {_top(m) for m in _modules()}
    assert top == set(_doc_layers()), (top ^ set(_doc_layers()))


def test_no_upward_import_between_packages():
    layers = _doc_layers()
    upward = sorted((a, b) for a, targets in _package_graph().items() for b in targets
                    if layers[b] > layers[a])
    assert not upward, f"imports from a lower layer to a higher one: {upward}"


def test_no_cycle_between_packages():
    graph = _package_graph()
    assert not _cycles(graph), _cycles(graph)


def test_no_cycle_between_modules():
    graph = _imports(_modules())
    for a, b in LAZY_MODULE_EDGES:
        graph[a].discard(b)
    assert not _cycles(graph), _cycles(graph)


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
