"""The service's rules for a definition as a whole, beyond what any one request shape says.

SageMaker checks these when it creates the pipeline or starts an execution; the emulator checks none of
them, so `pipelines.lint` (and so `upsert`) and the local runner apply them before anything runs:

- names:       step names match the definition schema's StepName (`^[A-Za-z0-9\\-_]{1,64}$`, botocore's
               `StepName` shape: at most 64); parameter names its ParameterName; display names and
               descriptions botocore's `StepDisplayName` / `StepDescription` lengths
- graph:       every DependsOn and `Get Steps.X` names a step of the definition, once; no cycle; every
               `Get Parameters.X` a declared parameter
- property:    `Get Steps.X.<path>` follows a property X's step type has: the describe-response shape of
               its job in botocore's model (DescribeProcessingJobResponse, DescribeTrainingJobResponse,
               DescribeHyperParameterTuningJobResponse + ListTrainingJobsForHyperParameterTuningJobResponse,
               DescribeModelPackageOutput, DescribeModelOutput: `pipelines.definition.step_types`), `Outcome`
               for a condition, a declared property file for `PropertyFiles.<name>`
- branch:      a step that references (DependsOn or data) a step inside a ConditionStep branch must be in
               that branch too: outside it, the referenced step may never run, and SageMaker has no
               "whichever branch ran" join (a step waits for every step it depends on)
- race:        a step that reads another step's execution-scoped output (a `Std:Join` over
               `Execution.PipelineExecutionId` naming that step) must depend on it, directly or through
               other steps; otherwise SageMaker starts both at once and the reader sees an empty prefix
- retry:       RetryPolicies as the developer guide's retry page allows them (`retry_rules`)
- parameters:  a String parameter's EnumValues count (`parameter_rules`)
- tuning:      tuning limits that are not request shapes: ranges in all, scaling domains, MinValue/MaxValue,
               hyperparameters per trial, the objective among MetricDefinitions, the warm-start training-job
               budget (`tuning_rules`)
- stopping:    MaxWaitTimeInSeconds against MaxRuntimeInSeconds and spot training (`spot_rules`)
- processing:  a processing job's LocalPaths under /opt/ml/processing/ (`processing_rules`)

The rules that judge values (parameters to processing) read each step's arguments as lint can know them
(`static_values.static_arguments`): parameters at the values given, their defaults when none are, and a value
only the run knows never judged. Each rule's source is cited in its module.

Each violation is a `Violation(step, rule, message)`, the same type lint prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pipelines.definition.errors import DefinitionError
from pipelines.definition.expressions import gets, parse_path
from pipelines.definition.graph import (
    StepNode,
    ancestors,
    execution_order,
    flatten_steps,
    iter_branch_steps,
    property_references,
)
from pipelines.definition.output_rules import output_violations
from pipelines.definition.parameter_rules import parameter_limit_violations
from pipelines.definition.processing_rules import processing_path_violations
from pipelines.definition.retry_rules import retry_policy_violations
from pipelines.definition.spot_rules import spot_violations
from pipelines.definition.static_values import StaticContext, static_arguments
from pipelines.definition.step_types import property_error
from pipelines.definition.tuning_rules import training_job_budget, tuning_violations, warm_start_parents
from pipelines.definition.violation import Violation

STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")  # definition schema StepName; botocore StepName max 64
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,256}$")  # botocore PipelineParameterName
MAX_DISPLAY_NAME, MAX_DESCRIPTION = 256, 3072  # botocore StepDisplayName / StepDescription

# Where a step's own request names what it writes: an execution-scoped URI there is an output, not a read.
_WRITE_LOCATIONS = ("ProcessingOutputConfig", "OutputDataConfig", "CheckpointConfig")
_EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}


def check_definition(definition: dict[str, Any], parameters: dict[str, Any] | None = None) -> list[Violation]:
    """Every service rule a definition breaks, as a list (empty when SageMaker would take it).

    `parameters`: the values an execution starts with (`--param`), judged in place of the defaults."""
    violations = list(_name_violations(definition))
    try:
        nodes = flatten_steps(definition)
        execution_order(nodes)
    except DefinitionError as exc:
        return [*violations, Violation("(definition)", "graph", str(exc))]
    violations += _parameter_violations(definition, nodes)
    violations += parameter_limit_violations(definition)
    for node in nodes.values():
        violations += _property_violations(node, nodes)
        violations += output_violations(node, nodes)  # names an output the step declares (output_rules)
        violations += _branch_violations(node, nodes)
        violations += _race_violations(node, nodes)
        violations += retry_policy_violations(node.spec)
    violations += _value_violations(definition, nodes, parameters or {})
    return violations


def _value_violations(
    definition: dict[str, Any], nodes: dict[str, StepNode], parameters: dict[str, Any]
) -> Iterator[Violation]:
    """The rules that judge a step's values: tuning, stopping (spot), processing."""
    values = {p.get("Name"): p.get("DefaultValue") for p in definition.get("Parameters", [])}
    values.update(parameters)
    context = StaticContext(parameters=values)  # another step's property: UNKNOWN here (no length needed)
    arguments = {name: static_arguments(node.data_arguments, context) for name, node in nodes.items()}
    budgets = {name: training_job_budget(arguments[name]) for name, node in nodes.items() if node.type == "Tuning"}
    for name, node in nodes.items():
        if node.type == "Tuning":
            parents = {parent: budgets.get(parent) for parent in warm_start_parents(node.data_arguments)}
            yield from tuning_violations(name, arguments[name], parents)
        if node.type in ("Training", "Tuning"):
            yield from spot_violations(name, node.type, arguments[name])
        if node.type == "Processing":
            yield from processing_path_violations(name, arguments[name])


# -- names ------------------------------------------------------------------------------------------------
def _name_violations(definition: dict[str, Any]) -> Iterator[Violation]:
    for spec in iter_branch_steps(definition.get("Steps", [])):
        name = str(spec.get("Name"))
        if not STEP_NAME.match(name):
            yield Violation(
                name[:80], "names", "step Name must match ^[A-Za-z0-9\\-_]{1,64}$ (letters, digits, - and _)"
            )
        if len(str(spec.get("DisplayName", ""))) > MAX_DISPLAY_NAME:
            yield Violation(name, "names", f"DisplayName longer than {MAX_DISPLAY_NAME} characters")
        if len(str(spec.get("Description", ""))) > MAX_DESCRIPTION:
            yield Violation(name, "names", f"Description longer than {MAX_DESCRIPTION} characters")
    for parameter in definition.get("Parameters", []):
        if not PARAMETER_NAME.match(str(parameter.get("Name"))):
            yield Violation(
                "(parameters)",
                "names",
                f"parameter Name {str(parameter.get('Name'))[:80]!r} must match ^[A-Za-z0-9\\-_]{{1,256}}$",
            )


def _parameter_violations(definition: dict[str, Any], nodes: dict[str, StepNode]) -> Iterator[Violation]:
    declared = {p.get("Name") for p in definition.get("Parameters", [])}
    for node in nodes.values():
        for reference in gets(node.data_arguments):
            if reference.startswith("Parameters.") and reference.removeprefix("Parameters.") not in declared:
                yield Violation(node.name, "graph", f"Get {reference!r}: the definition declares no such parameter")


# -- property references ----------------------------------------------------------------------------------
def _property_violations(node: StepNode, nodes: dict[str, StepNode]) -> Iterator[Violation]:
    for reference, target, path in property_references(node, nodes):
        step_name = target.name
        try:
            tokens = parse_path(path)
        except DefinitionError as exc:
            yield Violation(node.name, "property", f"Get {reference!r}: {exc}")
            continue
        if tokens[0] == "PropertyFiles":
            declared = {p.get("PropertyFileName") for p in target.spec.get("PropertyFiles", [])}
            if len(tokens) != 2 or tokens[1] not in declared:
                yield Violation(node.name, "property", f"Get {reference!r}: {step_name} declares no such property file")
            continue
        error = property_error(target.type, tokens)
        if error:
            yield Violation(
                node.name, "property", f"Get {reference!r}: not a property of {target.type} step {step_name} ({error})"
            )


# -- condition branches -----------------------------------------------------------------------------------
def _branch_violations(node: StepNode, nodes: dict[str, StepNode]) -> Iterator[Violation]:
    for other_name in sorted(node.explicit | node.references):
        other = nodes[other_name]
        if other.branches and node.branches[: len(other.branches)] != other.branches:
            condition, side = other.branches[-1]
            yield Violation(
                node.name,
                "branch",
                f"references {other_name}, which runs only in {condition}'s {'IfSteps' if side else 'ElseSteps'}; "
                f"{node.name} is outside that branch, so it would wait for a step that may never run "
                "(SageMaker has no join after a ConditionStep: put both in the branch, or depend on a step outside it)",
            )


# -- races ------------------------------------------------------------------------------------------------
def _execution_scoped_reads(value: Any, path: str = "") -> Iterator[tuple[str, list[str]]]:
    """(where, literal segments) of each Std:Join over the execution id that the step reads from."""
    if isinstance(value, dict):
        if len(value) == 1 and "Std:Join" in value:
            segments = list(_join_segments(value))
            if _EXECUTION_ID in _flat_values(value):
                yield path, segments
            return
        for key, item in value.items():
            if key in _WRITE_LOCATIONS:
                continue
            yield from _execution_scoped_reads(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _execution_scoped_reads(item, f"{path}[{index}]")


def _flat_values(join: dict[str, Any]) -> list[Any]:
    values = []
    for item in join["Std:Join"].get("Values", []):
        if isinstance(item, dict) and "Std:Join" in item:
            values += _flat_values(item)
        else:
            values.append(item)
    return values


def _join_segments(join: dict[str, Any]) -> Iterator[str]:
    for item in _flat_values(join):
        if isinstance(item, str):
            yield from (part for part in re.split(r"[/:]", item) if part)


def _race_violations(node: StepNode, nodes: dict[str, StepNode]) -> Iterator[Violation]:
    reads = list(_execution_scoped_reads(node.data_arguments))
    if not reads:
        return
    before = ancestors(nodes, node.name)
    for where, segments in reads:
        for writer in sorted(set(segments) & set(nodes)):
            if writer != node.name and writer not in before:
                yield Violation(
                    node.name,
                    "race",
                    f"{where} reads {writer}'s output of this execution but does not depend on {writer}: "
                    f"SageMaker may start {node.name} before {writer} has written it "
                    f"(reference {writer}'s properties, or add it to DependsOn)",
                )
