"""A step's arguments as lint can know them before a run: what the runner resolves, and how long the rest can be.

Lint sees parameters at their defaults (or the `--param` values it was given, checked as the runner checks
them), execution variables as samples shaped and sized like SageMaker's (`execution_sample`), and, for a
value another step makes, the most it can know:

- a property the describe response echoes from the step's own request (an output's S3 URI a Processing
  step declares, a training job's OutputDataConfig): the request's value, so its length is the run's
  (DescribeProcessingJob/DescribeTrainingJob return the create request's members as sent);
- another string property: at most its botocore shape's `max` (a tuning job's best training job name:
  TrainingJobName, 63), a `RuntimeText` that says so;
- a Std:Join over those: the sum of its parts' longest values, a `RuntimeText` carrying their assumptions;
- anything else (a Std:JsonGet, a number from a property, a file:// folder a local run links): `UNKNOWN`.

So a metadata value built from run-time strings (CustomerMetadataProperties, at most 256 characters) is
refused when its longest value is too long, and the message says what was assumed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.definition.errors import DefinitionError
from pipelines.definition.expressions import parse_path, to_text, walk_path
from pipelines.definition.graph import StepNode
from pipelines.definition.requests import SAMPLE_EXECUTION
from pipelines.definition.service_rules import UNKNOWN, RuntimeText, service_model
from pipelines.definition.step_types import STEP_TYPES

# Step types whose properties include their create request's members as sent (the describe response of
# the job the step creates echoes ProcessingOutputConfig, OutputDataConfig, InputDataConfig, ...).
ECHOING_TYPES = ("Processing", "Training", "Tuning")


def execution_sample(pipeline_name: str, region: str) -> dict[str, str]:
    """The execution variables with this pipeline's name and region: the lengths a run of it sees
    (SageMaker's execution ids are 12 characters, as SAMPLE_EXECUTION's)."""
    execution_id = SAMPLE_EXECUTION["PipelineExecutionId"]
    pipeline_arn = f"arn:aws:sagemaker:{region}:000000000000:pipeline/{pipeline_name.lower()}"
    return {
        **SAMPLE_EXECUTION,
        "PipelineName": pipeline_name,
        "PipelineArn": pipeline_arn,
        "PipelineExecutionArn": f"{pipeline_arn}/execution/{execution_id}",
    }


@dataclass(frozen=True)
class StaticContext:
    """What lint knows before a run: parameter values, sample execution variables, the steps' declarations."""

    parameters: Mapping[str, Any]
    nodes: Mapping[str, StepNode] = field(default_factory=dict)
    execution: Mapping[str, str] = field(default_factory=lambda: dict(SAMPLE_EXECUTION))


def static_arguments(value: Any, context: StaticContext, _seen: frozenset[str] = frozenset()) -> Any:
    """`value` with every function replaced by what lint can know of it (see the module docstring)."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "Get" and isinstance(inner, str):
            head, _, rest = inner.partition(".")
            if head == "Parameters" and rest in context.parameters:
                given = context.parameters[rest]
                # a local folder: the runner links it into its store under a name of its own
                return UNKNOWN if isinstance(given, str) and given.startswith("file://") else given
            if head == "Execution" and rest in context.execution:
                return context.execution[rest]
            if head == "Steps" and inner not in _seen:
                return property_value(inner, context, _seen | {inner})
            return UNKNOWN
        if key == "Std:JsonGet":
            return UNKNOWN
        if key == "Std:Join" and isinstance(inner, dict):
            values = [static_arguments(item, context, _seen) for item in inner.get("Values", [])]
            return _join(str(inner.get("On", "")), values)
    if isinstance(value, dict):
        return {key: static_arguments(item, context, _seen) for key, item in value.items()}
    if isinstance(value, list):
        return [static_arguments(item, context, _seen) for item in value]
    return value


def _join(separator: str, values: list[Any]) -> Any:
    """Std:Join as lint knows it: the text when every part is known, else its longest value."""
    if any(item is UNKNOWN for item in values):
        return UNKNOWN
    bounded = [item for item in values if isinstance(item, RuntimeText)]
    if not bounded:
        return separator.join(to_text(item) for item in values)
    longest = sum(item.max_length if isinstance(item, RuntimeText) else len(to_text(item)) for item in values)
    assumed = "; ".join(dict.fromkeys(item.assumed for item in bounded))
    return RuntimeText(longest + len(separator) * (len(values) - 1), assumed)


def property_value(reference: str, context: StaticContext, seen: frozenset[str] = frozenset()) -> Any:
    """`Get Steps.X.<path>` as lint knows it: the echoed request value's length, else the shape's maximum."""
    step_name, _, path = reference.removeprefix("Steps.").partition(".")
    node = context.nodes.get(step_name)
    if node is None or not path:
        return UNKNOWN
    try:
        tokens = parse_path(path)
    except DefinitionError:
        return UNKNOWN
    if tokens[0] == "PropertyFiles":
        return UNKNOWN
    if node.type in ECHOING_TYPES:
        try:
            declared = walk_path(node.data_arguments, tokens, reference)
        except DefinitionError:
            declared = None
        if declared is not None:
            known = static_arguments(declared, context, seen)
            if isinstance(known, str):
                return RuntimeText(len(known), f"{reference} is the {len(known)}-character value {step_name} declares")
            if isinstance(known, RuntimeText):
                return known
            return UNKNOWN
    limit = _string_limit(node.type, tuple(tokens))
    if limit is None:
        return UNKNOWN
    maximum, shape = limit
    return RuntimeText(maximum, f"{reference} is at most {maximum} characters (botocore's {shape})")


@functools.cache
def _string_limit(step_type: str, tokens: tuple[str | int, ...]) -> tuple[int, str] | None:
    """(max, shape name) of the string shape a property path ends at, in the step type's describe shapes."""
    declared = STEP_TYPES.get(step_type)
    shapes = service_model()["shapes"]
    for shape_name in declared.property_shapes if declared else ():
        name: str | None = shape_name
        for token in tokens:
            shape = shapes[name]
            if shape["type"] == "structure":
                name = shape["members"].get(token, {}).get("shape") if isinstance(token, str) else None
            elif shape["type"] == "list":
                name = shape["member"]["shape"]
            elif shape["type"] == "map":
                name = shape["value"]["shape"]
            else:
                name = None
            if name is None:
                break
        if name is not None and shapes[name]["type"] == "string" and "max" in shapes[name]:
            return shapes[name]["max"], name
    return None
