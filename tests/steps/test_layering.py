"""The import graph of `steps/` and `pipelines/`: each layer knows only the layers below it.

- the steps' common floor knows no step, and no modules import each other in a circle;
- a step's settings module is a declaration: it imports only `steps/common/` and other settings modules, so
  loading the configuration never pulls in a step's build code;
- `pipelines/` crosses into `steps/` only through those settings models and the common floor they stand on,
  never into a step's implementation;
- the definition layer (`pipelines/definition/`) and the report read nothing from the local runner
  (`pipelines/local/`): the runner imports the definition's language, never the reverse;
- no private name (`_name`) is imported across modules, tests included: a name another module needs is public.

Read from the source (every `import` and `from ... import`, at module level or inside a function, since a
function-level import is how a circle hides), not by importing anything. Each rule is a function of the graph,
and each is shown to fail on a planted graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("steps", "pipelines")
CHECKED_FOLDERS = ("steps", "pipelines", "tests", "benchmarks", "containers")


def _module(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(*folders: str, root: Path = ROOT) -> dict[str, Path]:
    return {_module(p, root): p for folder in folders for p in (root / folder).rglob("*.py")
            if "__pycache__" not in p.parts}


MODULES = sources(*PACKAGES)


def _imports(path: Path) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def import_graph(package: str = "steps", modules: dict[str, Path] = MODULES) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a `from package import name` counts the submodule if it is one)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if name != package and not name.startswith(package + "."):
            continue
        targets: set[str] = set()
        for node in _imports(path):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif node.module and node.level == 0:
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


def _is_settings(module: str) -> bool:
    return module.split(".")[-1] == "settings"


def _is_floor(module: str) -> bool:
    return module == "steps.common" or module.startswith("steps.common.")


def _offending(graph: dict[str, set[str]], applies, allowed) -> dict[str, list[str]]:
    found = {module: sorted(t for t in targets if not allowed(t))
             for module, targets in graph.items() if applies(module)}
    return {module: targets for module, targets in found.items() if targets}


def floor_reaching_steps(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    return _offending(graph, _is_floor, _is_floor)


def settings_reaching_code(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    return _offending(graph, _is_settings, lambda t: _is_floor(t) or _is_settings(t))


def pipelines_reaching_step_code(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    return _offending(graph, lambda m: m.startswith("pipelines"),
                      lambda t: not t.startswith("steps.") or _is_floor(t) or _is_settings(t))


def definition_reaching_runner(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    return _offending(graph, lambda m: m.startswith(("pipelines.definition", "pipelines.report")),
                      lambda t: not t.startswith("pipelines.local"))


def test_the_common_floor_imports_no_step() -> None:
    assert floor_reaching_steps(import_graph("steps")) == {}


def test_no_steps_modules_import_each_other_in_a_circle() -> None:
    """Package __init__ files are left out: `steps.features` importing its own submodules is not a circle."""
    graph = import_graph("steps")
    packages = {name for name in graph if (ROOT / name.replace(".", "/") / "__init__.py").is_file()}
    plain = {m: {t for t in targets if t not in packages} for m, targets in graph.items() if m not in packages}
    assert cycles(plain) == []


def test_a_steps_settings_module_imports_only_the_floor_and_other_settings() -> None:
    assert settings_reaching_code(import_graph("steps")) == {}


def test_pipelines_crosses_into_steps_only_through_settings_and_the_floor() -> None:
    assert pipelines_reaching_step_code(import_graph("pipelines")) == {}


def test_the_definition_layer_and_the_report_know_nothing_of_the_local_runner() -> None:
    graph = import_graph("pipelines")
    assert any(m.startswith("pipelines.definition.") for m in graph)  # the layer is where this test looks
    assert definition_reaching_runner(graph) == {}


def test_each_rule_fails_on_a_planted_graph() -> None:
    """The checks above can fail: run.py -> shards.py -> run.py (as before issue 17), and one planted edge per
    rule (the shapes of issue 27's findings: live/settings -> features/build, lint -> local/executor)."""
    circle = {"a.run": {"a.shards", "a.build"}, "a.shards": {"a.run"}, "a.build": set()}
    assert cycles(circle) == [["a.run", "a.shards"]]
    assert floor_reaching_steps({"steps.common.io": {"steps.features.build"}}) == {
        "steps.common.io": ["steps.features.build"]}
    assert settings_reaching_code({"steps.live.settings": {"steps.features.build", "steps.features.settings",
                                                           "steps.common.settings"}}) == {
        "steps.live.settings": ["steps.features.build"]}
    assert pipelines_reaching_step_code({"pipelines.config": {"steps.train.settings", "steps.common.io",
                                                              "steps.train.algorithms.loader"}}) == {
        "pipelines.config": ["steps.train.algorithms.loader"]}
    assert definition_reaching_runner({"pipelines.lint": {"pipelines.local.executor"},
                                       "pipelines.definition.rules": {"pipelines.local.errors"},
                                       "pipelines.report.render": {"pipelines.definition.conditions"}}) == {
        "pipelines.definition.rules": ["pipelines.local.errors"]}


def private_imports(files: dict[str, Path], modules: dict[str, Path] = MODULES) -> list[str]:
    """`from x import _name`, and `module._name` where `module` is a project module the file imported."""
    found = []
    for name, path in sorted(files.items()):
        imported: dict[str, str] = {}
        for node in _imports(path):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        imported[alias.asname or alias.name] = alias.name
            elif node.module and node.level == 0 and node.module.split(".")[0] in PACKAGES:
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{name}:{node.lineno} imports {node.module}.{alias.name}")
                    if f"{node.module}.{alias.name}" in modules:
                        imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and imported.get(node.value.id, name) != name):
                found.append(f"{name}:{node.lineno} reads {imported[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_is_imported_across_modules() -> None:
    assert private_imports(sources(*CHECKED_FOLDERS)) == []


def test_the_private_name_finder_finds_both_spellings(tmp_path: Path) -> None:
    """The two ways a private name crossed modules before issue 27 (`from steps.common.io import _data_files`,
    `stacking._auc(...)`), and what is not a crossing: a module's own private names, dunders."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from steps.common.io import _data_files, __doc__\n"
        "from steps.ensemble import stacking\n"
        "import steps.common.io as io\n"
        "def _own(): ...\n"
        "stacking._auc([], [])\n"
        "io.__name__\n"
        "_own()\n"
    )
    assert private_imports({"planted": planted}) == [
        "planted:1 imports steps.common.io._data_files",
        "planted:5 reads steps.ensemble.stacking._auc",
    ]
