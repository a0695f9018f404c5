"""The definition's functions: `Get` (Parameters, Execution, Steps), `Std:Join`, `Std:JsonGet`.

A value in the definition JSON is a literal, a list or mapping of values, or a one-key mapping that is a
function. `resolve` evaluates every function inside a value; anything it does not know is an
`UnsupportedConstruct` naming it, never passed through as if it were data.

This is the language only: it reads nothing itself. What `Std:JsonGet` reads comes from the caller's
`EvaluationContext.read_json_at` (the local runner's store), so lint and the report use it without a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.definition.errors import DefinitionError, UnsupportedConstruct

FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")
EXECUTION_VARIABLES = (
    "PipelineExecutionId",
    "PipelineExecutionArn",
    "PipelineName",
    "PipelineArn",
    "StartDateTime",
    "CurrentDateTime",
)
_STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9_\-]+)(?:\.(.+))?$")
_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_\-]*)|\['([^']*)'\]|\[\"([^\"]*)\"\]|\[(\d+)\]")


@dataclass(frozen=True)
class PropertyFileRef:
    """`Steps.<step>.PropertyFiles.<name>`: a JSON file in one of the step's outputs."""

    step_name: str
    name: str


@dataclass
class EvaluationContext:
    parameters: Mapping[str, Any]
    execution: Mapping[str, Any]
    step_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    # step name -> property file name -> {"OutputName": ..., "FilePath": ...}
    property_files: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    read_json_at: Callable[[str], Any] | None = None  # the JSON document at an S3 URI (the runner's store)


def parse_path(path: str) -> list[str | int]:
    """`ProcessingOutputConfig.Outputs['x'].S3Output.S3Uri` -> ['ProcessingOutputConfig', 'Outputs', 'x', ...]."""
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match or match.end() == position:
            raise UnsupportedConstruct(f"property path {path!r}: cannot parse at {path[position:]!r}")
        name, quoted, double_quoted, index = match.groups()
        if index is not None:
            tokens.append(int(index))
        else:
            tokens.append(name if name is not None else quoted if quoted is not None else double_quoted)
        position = match.end()
    return tokens


def walk_path(document: Any, tokens: list[str | int], what: str) -> Any:
    """Follow a describe-response path; a name applied to a list picks the element whose *Name matches."""
    current = document
    for token in tokens:
        if isinstance(token, int):
            if not isinstance(current, list) or token >= len(current):
                raise DefinitionError(f"{what}: index [{token}] is out of range")
            current = current[token]
        elif isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list):
            matches = [item for item in current if isinstance(item, dict) and token in _names_of(item)]
            if not matches:
                raise DefinitionError(f"{what}: no element named {token!r}")
            current = matches[0]
        else:
            raise DefinitionError(f"{what}: no property {token!r}")
    return current


def _names_of(item: dict[str, Any]) -> set[str]:
    return {str(value) for key, value in item.items() if key.endswith("Name") and isinstance(value, str)}


def function_of(value: Any) -> str | None:
    """The function a value is, if it is one (a one-key mapping whose key is a known function or `Std:`)."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in FUNCTIONS or key.startswith("Std:"):
            return key
    return None


def resolve(value: Any, context: EvaluationContext) -> Any:
    function = function_of(value)
    if function == "Get":
        return _get(value["Get"], context)
    if function == "Std:Join":
        return _join(value["Std:Join"], context)
    if function == "Std:JsonGet":
        return _json_get(value["Std:JsonGet"], context)
    if function is not None:
        raise UnsupportedConstruct(f"function {function!r} is not supported by the local runner")
    if isinstance(value, dict):
        return {key: resolve(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, context) for item in value]
    return value


def _get(reference: Any, context: EvaluationContext) -> Any:
    if not isinstance(reference, str):
        raise UnsupportedConstruct(f"Get of a non-string reference {reference!r}")
    head, _, rest = reference.partition(".")
    if head == "Parameters":
        if rest not in context.parameters:
            raise DefinitionError(f"Get {reference!r}: the definition declares no parameter {rest!r}")
        return context.parameters[rest]
    if head == "Execution":
        if rest not in EXECUTION_VARIABLES:
            raise UnsupportedConstruct(f"execution variable {reference!r}")
        return context.execution[rest]
    if head == "Steps":
        match = _STEP_REFERENCE.match(reference)
        if not match or not match.group(2):
            raise UnsupportedConstruct(f"step reference {reference!r}")
        step_name, path = match.groups()
        tokens = parse_path(path)
        if tokens[0] == "PropertyFiles":
            if (
                len(tokens) != 2
                or step_name not in context.property_files
                or (tokens[1] not in context.property_files[step_name])
            ):
                raise DefinitionError(f"Get {reference!r}: step {step_name!r} declares no such property file")
            return PropertyFileRef(step_name, str(tokens[1]))
        if step_name not in context.step_properties:
            raise DefinitionError(f"Get {reference!r}: step {step_name!r} has not run (or did not succeed)")
        return walk_path(context.step_properties[step_name], tokens, f"Get {reference!r}")
    raise UnsupportedConstruct(f"Get {reference!r}: unknown namespace {head!r}")


def to_text(value: Any) -> str:
    """How SageMaker renders a value inside Std:Join: booleans as true/false, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _join(arguments: Any, context: EvaluationContext) -> str:
    if not isinstance(arguments, dict) or set(arguments) - {"On", "Values"}:
        raise UnsupportedConstruct(
            f"Std:Join with arguments {sorted(arguments) if isinstance(arguments, dict) else arguments!r}"
        )
    values = [resolve(item, context) for item in arguments.get("Values", [])]
    return str(arguments.get("On", "")).join(to_text(item) for item in values)


def _json_get(arguments: Any, context: EvaluationContext) -> Any:
    if not isinstance(arguments, dict) or "Path" not in arguments:
        raise UnsupportedConstruct(f"Std:JsonGet with arguments {arguments!r}")
    if context.read_json_at is None:
        raise DefinitionError("Std:JsonGet needs a store to read from")
    if "PropertyFile" in arguments:
        reference = resolve(arguments["PropertyFile"], context)
        if not isinstance(reference, PropertyFileRef):
            raise UnsupportedConstruct(
                f"Std:JsonGet PropertyFile that is not Steps.<name>.PropertyFiles.<file>: {reference!r}"
            )
        uri = property_file_uri(reference, context)
    elif "S3Uri" in arguments:
        uri = to_text(resolve(arguments["S3Uri"], context))
    else:
        raise UnsupportedConstruct(f"Std:JsonGet with arguments {sorted(arguments)}")
    document = context.read_json_at(uri)
    path = str(arguments["Path"])
    try:
        return walk_path(document, parse_path(path), f"Std:JsonGet {path!r} in {uri}")
    except UnsupportedConstruct:
        raise
    except DefinitionError as exc:
        raise DefinitionError(f"Std:JsonGet: path {path!r} not found in {uri} ({exc})") from None


def property_file_uri(reference: PropertyFileRef, context: EvaluationContext) -> str:
    spec = context.property_files[reference.step_name][reference.name]
    if reference.step_name not in context.step_properties:
        raise DefinitionError(f"property file {reference.name!r}: step {reference.step_name!r} has not run")
    outputs = walk_path(
        context.step_properties[reference.step_name],
        ["ProcessingOutputConfig", "Outputs", spec["OutputName"]],
        f"property file {reference.name!r}",
    )
    return f"{outputs['S3Output']['S3Uri'].rstrip('/')}/{spec['FilePath']}"


def gets(value: Any) -> Iterator[str]:
    """Every `Get` reference inside a value ("Parameters.X", "Execution.Y", "Steps.Z.path")."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("Get"), str):
            yield value["Get"]
            return
        for item in value.values():
            yield from gets(item)
    elif isinstance(value, list):
        for item in value:
            yield from gets(item)


def step_references(value: Any) -> Iterator[str]:
    """Names of the steps a value reads from (`Get Steps.<name>...`, property files included)."""
    for reference in gets(value):
        match = _STEP_REFERENCE.match(reference)
        if match:
            yield match.group(1)


def check_supported(value: Any, where: str) -> None:
    """Fail before anything runs if a value uses a function or reference this runner cannot evaluate."""
    function = function_of(value)
    if function is not None and function not in FUNCTIONS:
        raise UnsupportedConstruct(f"{where}: function {function!r} is not supported by the local runner")
    if function == "Get":
        reference = value["Get"]
        head, _, rest = str(reference).partition(".")
        if head == "Execution" and rest not in EXECUTION_VARIABLES:
            raise UnsupportedConstruct(f"{where}: execution variable {reference!r}")
        if head not in {"Parameters", "Execution", "Steps"}:
            raise UnsupportedConstruct(f"{where}: Get {reference!r} (unknown namespace {head!r})")
        if head == "Steps":
            match = _STEP_REFERENCE.match(str(reference))
            if not match or not match.group(2):
                raise UnsupportedConstruct(f"{where}: step reference {reference!r}")
            parse_path(match.group(2))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            check_supported(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_supported(item, f"{where}[{index}]")
