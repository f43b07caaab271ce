"""The import graph of eraser/ (read with ast, so lazy imports inside functions count too): no cycles, the
maths in metrics/ does not reach into labelling/, and only the layers above the pipeline import it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "eraser"
#: the front ends that run erases; everything else sits below the pipeline
ABOVE_PIPELINE = {"eraser", "eraser.api", "eraser.cli", "eraser.notebook", "eraser.batch", "eraser.batch.job",
                  "eraser.batch.manifest", "eraser.batch.runner", "eraser.batch.ray_runner"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of import nodes inside ``if TYPE_CHECKING:`` blocks (not run, so not a dependency)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    return skip


def import_graph() -> dict[str, set[str]]:
    """module → the eraser modules it imports (``from eraser import x`` counts as ``eraser.x`` when that is a module)."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_only(tree)
        base = m.split(".") if path.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = ".".join(base[: len(base) - node.level + 1] + [node.module or ""]).strip(".") if node.level else node.module
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
            for t in targets:
                r = resolve(t) if t and t.split(".")[0] == "eraser" else None
                if r and r != m:
                    graph[m].add(r)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 60 and "eraser.labelling.probe" in graph["eraser.classifiers"]  # the reader sees imports
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_metrics_do_not_import_labelling():
    graph = import_graph()
    bad = {m: sorted(t for t in deps if t.startswith("eraser.labelling")) for m, deps in graph.items()
           if m.startswith("eraser.metrics")}
    assert not any(bad.values()), bad


def test_only_the_front_ends_import_the_pipeline():
    importers = {m for m, deps in import_graph().items() if "eraser.pipeline" in deps}
    assert importers and importers <= ABOVE_PIPELINE, sorted(importers - ABOVE_PIPELINE)
