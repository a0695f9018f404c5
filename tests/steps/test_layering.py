"""The steps' import graph: the common floor knows no step, and no modules import each other in a circle.

Read from the source (every `import` and `from ... import`, at module level or inside a function, since a
function-level import is how a circle hides), not by importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = ROOT / "steps"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the steps.* modules it imports (a `from package import name` counts the submodule if it is one)."""
    modules = {_module(p): p for p in STEPS.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_common_floor_imports_no_step() -> None:
    graph = import_graph()
    reaching = {module: sorted(t for t in targets if not t.startswith("steps.common"))
                for module, targets in graph.items() if module.startswith("steps.common")}
    assert {m: t for m, t in reaching.items() if t} == {}


def test_no_steps_modules_import_each_other_in_a_circle() -> None:
    """Package __init__ files are left out: `steps.features` importing its own submodules is not a circle."""
    graph = import_graph()
    packages = {name for name in graph if (STEPS.parent / name.replace(".", "/") / "__init__.py").is_file()}
    plain = {m: {t for t in targets if t not in packages} for m, targets in graph.items() if m not in packages}
    assert cycles(plain) == []


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    """The check above can fail: run.py -> shards.py -> run.py, as it was before issue 17."""
    graph = {"a.run": {"a.shards", "a.build"}, "a.shards": {"a.run"}, "a.build": set()}
    assert cycles(graph) == [["a.run", "a.shards"]]
