"""The step graph of a definition JSON as SageMaker reads it: every step, its branch, and what it waits for.

One reading of the graph serves the static rules (`pipelines.definition.rules`, run by lint and by the
local runner before anything starts) and the local runner's scheduler, so what lint calls a dependency is
what the runner waits for.

SageMaker starts a step when every step it depends on has succeeded: the steps in its `DependsOn`, every
step its arguments reference (`Get Steps.X…`, property files included) and, for a step inside a
ConditionStep's branch, that condition having chosen the branch. A ConditionStep's own dependencies are
those of its `Conditions`; its branches' references belong to the branch steps.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipelines.definition.errors import DefinitionError, UnsupportedConstruct
from pipelines.definition.expressions import gets, step_references

STEP_KEYS = {
    "Name",
    "Type",
    "Arguments",
    "DependsOn",
    "CacheConfig",
    "RetryPolicies",
    "PropertyFiles",
    "Description",
    "DisplayName",
}
CONDITION_TYPES = {"Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo", "In", "Not", "Or"}

Branch = tuple[str, bool]  # (condition step, True for its IfSteps)


@dataclass
class StepNode:
    name: str
    type: str
    spec: dict[str, Any]
    order: int
    depends_on: set[str] = field(default_factory=set)  # everything it waits for (explicit, data, its branch)
    explicit: set[str] = field(default_factory=set)  # DependsOn as written
    references: set[str] = field(default_factory=set)  # steps its arguments read
    branches: tuple[Branch, ...] = ()  # enclosing condition branches, outermost first

    @property
    def branch(self) -> Branch | None:
        """The innermost branch the step is in (None at the top level)."""
        return self.branches[-1] if self.branches else None

    @property
    def data_arguments(self) -> Any:
        """The part of the arguments the step itself evaluates (a condition's branches are not its own)."""
        arguments = self.spec.get("Arguments", {})
        return arguments.get("Conditions", []) if self.type == "Condition" else arguments


def flatten_steps(definition: dict[str, Any], supported_types: Collection[str] | None = None) -> dict[str, StepNode]:
    """Every step, nested condition branches included, in definition order, with what it waits for.

    `supported_types`: the step types the caller can run (the local runner's handlers); others are refused.
    """
    nodes: dict[str, StepNode] = {}
    if not isinstance(definition, dict):
        raise DefinitionError(f"the definition must be a JSON object, not {type(definition).__name__}")
    _check_list(definition, "Steps", "the definition", required=True)
    for index, parameter in enumerate(_check_list(definition, "Parameters", "the definition")):
        if not isinstance(parameter, dict) or not isinstance(parameter.get("Name"), str):
            raise DefinitionError(f"Parameters[{index}] must be an object with a Name")

    def visit(steps: list[dict[str, Any]], branches: tuple[Branch, ...]) -> None:
        for spec in steps:
            _check_step_shape(spec)
            name, kind = spec.get("Name"), spec.get("Type")
            if supported_types is not None and kind not in supported_types:
                raise UnsupportedConstruct(
                    f"step {name!r}: step type {kind!r} (supported: {', '.join(supported_types)})"
                )
            if name in nodes:
                raise DefinitionError(f"step name {name!r} appears twice in the definition")
            node = StepNode(name, kind, spec, len(nodes), branches=branches)
            node.explicit = set(spec.get("DependsOn", []))
            node.references = set(step_references(node.data_arguments))
            node.depends_on = node.explicit | node.references
            if branches:
                node.depends_on.add(branches[-1][0])
            nodes[name] = node
            if kind == "Condition":
                arguments = spec.get("Arguments", {})
                for condition in arguments.get("Conditions", []):
                    _check_condition(condition, name)
                visit(arguments.get("IfSteps", []), (*branches, (name, True)))
                visit(arguments.get("ElseSteps", []), (*branches, (name, False)))

    visit(definition.get("Steps", []), ())
    for node in nodes.values():
        node.depends_on.discard(node.name)
        missing = node.depends_on - set(nodes)
        if missing:
            raise DefinitionError(f"step {node.name!r} depends on steps not in the definition: {sorted(missing)}")
        unknown = set(node.spec) - STEP_KEYS
        if unknown:
            raise UnsupportedConstruct(f"step {node.name!r}: keys {sorted(unknown)}")
    return nodes


def _check_list(container: dict[str, Any], key: str, where: str, required: bool = False) -> list[Any]:
    value = container.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise DefinitionError(f"{where}: {key} must be a list, not {type(value).__name__}")
    return value


def _check_step_shape(spec: Any) -> None:
    """The definition schema's shape of a step, so a malformed definition is one line, not a traceback."""
    if not isinstance(spec, dict):
        raise DefinitionError(f"a step must be a JSON object, not {type(spec).__name__}: {str(spec)[:80]}")
    name = spec.get("Name")
    if not isinstance(name, str):
        raise DefinitionError(f"a step without a Name: {str(spec)[:80]}")
    if not isinstance(spec.get("Type"), str):
        raise DefinitionError(f"step {name!r}: Type must be a string")
    arguments = spec.get("Arguments", {})
    if not isinstance(arguments, dict):
        raise DefinitionError(f"step {name!r}: Arguments must be an object, not {type(arguments).__name__}")
    depends_on = _check_list(spec, "DependsOn", f"step {name!r}")
    if not all(isinstance(item, str) for item in depends_on):
        raise DefinitionError(f"step {name!r}: DependsOn must list step names")
    for item in _check_list(spec, "PropertyFiles", f"step {name!r}"):
        if not isinstance(item, dict) or not isinstance(item.get("PropertyFileName"), str):
            raise DefinitionError(f"step {name!r}: each PropertyFiles entry needs a PropertyFileName")
    if spec.get("Type") == "Condition":
        for key in ("Conditions", "IfSteps", "ElseSteps"):
            _check_list(arguments, key, f"step {name!r}")
        if not all(isinstance(c, dict) for c in arguments.get("Conditions", [])):
            raise DefinitionError(f"step {name!r}: each condition must be an object")


def _check_condition(condition: dict[str, Any], step_name: str) -> None:
    kind = condition.get("Type")
    if kind not in CONDITION_TYPES:
        raise UnsupportedConstruct(f"step {step_name!r}: condition type {kind!r}")
    for child in condition.get("Conditions", []):
        _check_condition(child, step_name)
    if kind == "Not":
        _check_condition(condition["Expression"], step_name)


def execution_order(nodes: dict[str, StepNode]) -> list[str]:
    """A topological order of the DAG; ties keep the definition's order. Raises on a cycle."""
    remaining = dict(nodes)
    done: set[str] = set()
    order: list[str] = []
    while remaining:
        ready = sorted((n for n in remaining.values() if n.depends_on <= done), key=lambda n: n.order)
        if not ready:
            raise DefinitionError(f"the steps {sorted(remaining)} depend on each other in a cycle")
        order.append(ready[0].name)
        done.add(ready[0].name)
        del remaining[ready[0].name]
    return order


def ancestors(nodes: dict[str, StepNode], name: str) -> set[str]:
    """Every step that must have succeeded before `name` can start."""
    seen: set[str] = set()
    stack = list(nodes[name].depends_on)
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(nodes[current].depends_on)
    return seen


def iter_branch_steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step spec, depth first through condition branches."""
    for step in steps:
        yield step
        if step.get("Type") == "Condition":
            yield from iter_branch_steps(step.get("Arguments", {}).get("IfSteps", []))
            yield from iter_branch_steps(step.get("Arguments", {}).get("ElseSteps", []))


def property_references(node: StepNode, nodes: dict[str, StepNode]) -> Iterator[tuple[str, StepNode, str]]:
    """(`Get` reference, the step it names, the property path) for each `Get Steps.X.<path>` in `node`'s
    arguments naming a step of the definition (an unknown step is flatten_steps' error, a bare step name
    has no property: both are skipped). The property and output rules each judge the path their way."""
    for reference in gets(node.data_arguments):
        if not reference.startswith("Steps."):
            continue
        step_name, _, path = reference.removeprefix("Steps.").partition(".")
        target = nodes.get(step_name)
        if target is not None and path:
            yield reference, target, path
