"""ConditionStep: every condition evaluated (their list is an And); the outcome chooses the branch."""

from __future__ import annotations

from typing import Any

from pipelines.definition.conditions import condition_text, evaluate
from pipelines.definition.errors import DefinitionError
from pipelines.definition.expressions import EvaluationContext, resolve
from pipelines.definition.operands import SYMBOLS, operand_label
from pipelines.definition.step_types import ConditionStepType
from pipelines.local.errors import LocalRunError
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun
from pipelines.local.record import StepRecord


class ConditionHandler(StepHandler):
    declaration = ConditionStepType()
    resolves_own_arguments = True

    def execute(self, run: StepRun) -> StepResult:
        context = run.execution.context()
        evaluated = [
            {"condition": describe_condition(condition, context), "value": evaluate(condition, context)}
            for condition in run.node.spec.get("Arguments", {}).get("Conditions", [])
        ]
        run.step.arguments = evaluated
        return StepResult({"Outcome": all(item["value"] for item in evaluated)})

    def end_note(self, step: StepRecord) -> str:
        return f" -> {'IfSteps' if step.properties['Outcome'] else 'ElseSteps'}"

    def gate_lines(self, step: StepRecord) -> list[str]:
        """One line per gate: its outcome, then each condition with what its operands are (a parameter, a step's
        figure) and their values, the failed ones marked."""
        evaluated = step.arguments or []
        outcome = "passed" if step.properties.get("Outcome") else "FAILED"
        parts = [condition_line(item["condition"]) + ("" if item["value"] else " (no)") for item in evaluated]
        return [f"{step.name}: {outcome}: " + "; ".join(parts)]

    def list_metadata(self, step: StepRecord, execution_id: str, arn_prefix: str) -> dict[str, Any]:
        properties = step.properties or {}
        if "Outcome" not in properties:
            return {}
        return {"Condition": {"Outcome": "True" if properties["Outcome"] else "False"}}


def condition_line(condition: dict[str, Any]) -> str:
    """'Evaluate-xgboost AUC 0.6643 (95% interval 0.6468-0.6818) >= MinModelAUC 0.6000' (the labels the record
    kept, `describe_condition`); without them, the condition's own text."""
    kind = condition.get("Type")
    if kind not in SYMBOLS or not (condition.get("LeftLabel") or condition.get("RightLabel")):
        return condition_text(condition)
    text = condition_text(condition)
    left, _, right = text.partition(f" {kind} ")
    if not right:
        return text
    named = [f"{label} {value}".strip() for label, value in ((condition.get("LeftLabel") or "", left),
                                                              (condition.get("RightLabel") or "", right))]
    return f"{named[0]} {SYMBOLS[kind]} {named[1]}"


def describe_condition(condition: dict[str, Any], context: EvaluationContext) -> dict[str, Any]:
    """The condition with its operands resolved, for the record and the gate table."""
    kind = condition.get("Type")
    if kind == "Not":
        return {"Type": kind, "Expression": describe_condition(condition["Expression"], context)}
    if kind == "Or":
        return {"Type": kind, "Conditions": [describe_condition(c, context) for c in condition["Conditions"]]}
    if kind == "In":
        return {
            "Type": kind,
            "QueryValue": resolve(condition["QueryValue"], context),
            "Values": resolve(condition["Values"], context),
        }
    described = {
        "Type": kind,
        "LeftValue": resolve(condition["LeftValue"], context),
        "RightValue": resolve(condition["RightValue"], context),
    }
    for side in ("Left", "Right"):
        interval = _interval(condition[f"{side}Value"], described[f"{side}Value"], context)
        if interval:
            described[f"{side}Interval"] = interval
        label = operand_label(condition[f"{side}Value"])
        if label:
            described[f"{side}Label"] = label
    return described


def _interval(operand: Any, value: Any, context: EvaluationContext) -> list[float] | None:
    """A 95% interval for a metric read from a report (`….value` beside `….standard_deviation`, as the
    evaluation reports write them): the gate compares the point value, the reader should see how sure it is."""
    spec = operand.get("Std:JsonGet") if isinstance(operand, dict) else None
    path = str(spec.get("Path", "")) if isinstance(spec, dict) else ""
    if not path.endswith(".value") or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    sibling = {"Std:JsonGet": {**spec, "Path": path.removesuffix(".value") + ".standard_deviation"}}
    try:
        deviation = float(resolve(sibling, context))
    except (DefinitionError, LocalRunError, TypeError, ValueError):
        return None
    return [value - 1.96 * deviation, value + 1.96 * deviation]
