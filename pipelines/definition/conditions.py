"""ConditionStep conditions: the comparisons, `In`, `Not` and `Or` (a step's list of conditions is an And)."""

from __future__ import annotations

import operator
from typing import Any

from pipelines.definition.errors import DefinitionError, UnsupportedConstruct
from pipelines.definition.expressions import EvaluationContext, resolve

_COMPARISONS = {
    "Equals": operator.eq,
    "GreaterThan": operator.gt,
    "GreaterThanOrEqualTo": operator.ge,
    "LessThan": operator.lt,
    "LessThanOrEqualTo": operator.le,
}


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Values read from JSON or parameters may arrive as text; compare numbers as numbers, as SageMaker does."""
    if isinstance(left, bool) or isinstance(right, bool):
        return _as_bool(left), _as_bool(right)
    if isinstance(left, (int, float)) or isinstance(right, (int, float)):
        try:
            return float(left), float(right)
        except (TypeError, ValueError):
            return left, right
    return left, right


def _as_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return value


# Ordering comparisons: a null operand (a JSON null read by JsonGet, e.g. an evaluation's undefined net Sharpe)
# makes the comparison false, so a gate on it takes its else branch (its Fail step says why) instead of the run
# crashing on a TypeError. Null is not a number: it never reaches a threshold, and it is not below one either.
_ORDERINGS = {"GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"}


def evaluate(condition: dict[str, Any], context: EvaluationContext) -> bool:
    kind = condition.get("Type")
    if kind in _COMPARISONS:
        left, right = resolve(condition["LeftValue"], context), resolve(condition["RightValue"], context)
        if kind in _ORDERINGS and (left is None or right is None):
            return False
        left, right = _comparable(left, right)
        try:
            return bool(_COMPARISONS[kind](left, right))
        except TypeError:
            raise DefinitionError(f"condition {kind}: cannot compare {left!r} with {right!r}") from None
    if kind == "In":
        query = resolve(condition["QueryValue"], context)
        values = [resolve(v, context) for v in condition["Values"]]
        return any(_comparable(query, v)[0] == _comparable(query, v)[1] for v in values)
    if kind == "Not":
        return not evaluate(condition["Expression"], context)
    if kind == "Or":
        return any(evaluate(c, context) for c in condition["Conditions"])
    raise UnsupportedConstruct(f"condition type {kind!r} is not supported by the local runner")


def evaluate_all(conditions: list[dict[str, Any]], context: EvaluationContext) -> bool:
    return all(evaluate(condition, context) for condition in conditions)


def condition_text(condition: dict[str, Any]) -> str:
    """A resolved condition as one readable line, for the run summary and the report."""
    kind = condition["Type"]
    if kind == "Not":
        return f"not ({condition_text(condition['Expression'])})"
    if kind == "Or":
        return " or ".join(f"({condition_text(c)})" for c in condition["Conditions"])
    if kind == "In":
        return f"{condition['QueryValue']!r} in {condition['Values']!r}"
    text = f"{_operand(condition, 'Left')} {kind} {_operand(condition, 'Right')}"
    if kind in _ORDERINGS and (condition["LeftValue"] is None or condition["RightValue"] is None):
        text += " (null: the figure is undefined, so the comparison is false)"
    return text


def _operand(condition: dict[str, Any], side: str) -> str:
    """Numbers at 4 decimals, with the 95% interval where the gate's report gives one; null as null."""
    value = condition[f"{side}Value"]
    if value is None:
        return "null"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    interval = condition.get(f"{side}Interval")
    if interval:
        text += f" (95% interval {interval[0]:.4f}-{interval[1]:.4f})"
    return text
