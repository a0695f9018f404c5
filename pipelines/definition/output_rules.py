"""The `property` rule against what a step declares: a reference may only name an output (or input, or
channel) the step's own request lists, and a property file may only live in a declared output.

`pipelines.definition.rules` checks that `Get Steps.X.<path>` follows X's describe-response *shape*; a shape
says `ProcessingOutputConfig.Outputs` is a list, not which names it holds. SageMaker's describe response
lists exactly the outputs the create request declared (DescribeProcessingJob returns the request's
`ProcessingOutputConfig`), so `Outputs['report']` on a step that declares no output `report` has no value:
SageMaker fails the reading step when it starts (the runner, mid-run, with "no element named"). A
PropertyFile names the output its file is in (`OutputName`, SDK `PropertyFile(output_name=...)`), and
`Std:JsonGet` reads it from that output's S3 URI: "Any output_name must match the output_name of the
ProcessingOutput that you define in your processing step" (developer guide, Pass Data Between Steps:
https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-propertyfile.html). The describe responses
are botocore's DescribeProcessingJobResponse / DescribeTrainingJobResponse /
DescribeHyperParameterTuningJobResponse: their outputs, inputs and channels are the request's own.

Run by `check_definition`, so lint and the local runner's pre-run check refuse the same references.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipelines.definition.errors import DefinitionError
from pipelines.definition.expressions import parse_path
from pipelines.definition.graph import StepNode, property_references
from pipelines.definition.violation import Violation

# Per step type: the describe-response lists whose items a path may select by name (or index), where the
# step's Arguments declare them (the same path: the describe response echoes the request), and the member
# that names an item.
NAMED_LISTS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Processing": ((("ProcessingOutputConfig", "Outputs"), "OutputName"), (("ProcessingInputs",), "InputName")),
    "Training": ((("InputDataConfig",), "ChannelName"),),
    "Tuning": ((("TrainingJobDefinition", "InputDataConfig"), "ChannelName"),),
}
_OUTPUTS = ("ProcessingOutputConfig", "Outputs")


def declared_items(node: StepNode, where: tuple[str, ...]) -> list[Any] | None:
    """The items the step's Arguments declare at `where` (None when the request has no such list: a shape
    problem the request rules report)."""
    value: Any = node.spec.get("Arguments", {})
    for key in where:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, list) else None


def declared_names(node: StepNode, where: tuple[str, ...], name_key: str) -> list[str]:
    """The names of the items declared at `where` (literal names only; a name is never an expression)."""
    items = declared_items(node, where) or []
    return [item[name_key] for item in items if isinstance(item, dict) and isinstance(item.get(name_key), str)]


def output_violations(node: StepNode, nodes: dict[str, StepNode]) -> Iterator[Violation]:
    """What `node` references or declares that names an output, input or channel no step declares."""
    yield from _reference_violations(node, nodes)
    yield from _property_file_violations(node)


def _reference_violations(node: StepNode, nodes: dict[str, StepNode]) -> Iterator[Violation]:
    for reference, target, path in property_references(node, nodes):
        step_name = target.name
        try:
            tokens = parse_path(path)
        except DefinitionError:
            continue  # the property rule's
        for where, name_key in NAMED_LISTS.get(target.type, ()):
            if tuple(tokens[: len(where)]) != where or len(tokens) == len(where):
                continue
            items = declared_items(target, where)
            if items is None:
                continue
            selector, names = tokens[len(where)], declared_names(target, where, name_key)
            field = ".".join(where)
            if isinstance(selector, int) and selector >= len(items):
                yield Violation(
                    node.name,
                    "property",
                    f"Get {reference!r}: {step_name} declares {len(items)} {field} (index [{selector}] is out of "
                    "range; SageMaker's describe response lists only the declared ones)",
                )
            elif isinstance(selector, str) and selector not in names:
                yield Violation(
                    node.name,
                    "property",
                    f"Get {reference!r}: {step_name} declares no {field} item with {name_key} {selector!r} "
                    f"(declared: {', '.join(names) or 'none'}; SageMaker's describe response lists only those)",
                )


def _property_file_violations(node: StepNode) -> Iterator[Violation]:
    outputs = declared_names(node, _OUTPUTS, "OutputName") if node.type == "Processing" else []
    for index, spec in enumerate(node.spec.get("PropertyFiles", [])):
        output = spec.get("OutputName")
        if output not in outputs:
            yield Violation(
                node.name,
                "property",
                f"PropertyFiles[{index}] {spec.get('PropertyFileName')!r}: OutputName {output!r} is not one of "
                f"the step's ProcessingOutputConfig.Outputs (declared: {', '.join(outputs) or 'none'}); "
                "Std:JsonGet reads a property file from that output's S3 URI",
            )
