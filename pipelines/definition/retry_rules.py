"""A step's RetryPolicies: what SageMaker accepts, and what a policy says, for lint and for the runner.

Source: the developer guide's "Retry Policy for Pipeline Steps",
https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-retry-policy.html (the JSON schema, the bounds, the
steps that take a policy), and the SageMaker Python SDK's sagemaker/workflow/retry.py (MAX_ATTEMPTS_CAP = 20,
MAX_EXPIRE_AFTER_MIN = 14400, non-negative BackoffRate and IntervalSeconds, the exception-type strings). Which
step type accepts which exception types is declared on the step types (`pipelines.definition.step_types`).

The public API, shared by `check_definition` (lint and the runner, before anything runs) and the runner
that carries policies out:
- `allowed_exception_types(step_type)`: what a step of that type may name in `ExceptionType` (empty: it takes
  no RetryPolicies); `retried_exception_types(step_type)`: those SageMaker actually retries for it
- `RetryPolicy`, `parse_retry_policies(step)`: a step's policies as values, the guide's defaults filled in
- `retry_policy_violations(step)`: every rule above the step's RetryPolicies break
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.definition.errors import DefinitionError
from pipelines.definition.step_types import STEP_TYPES
from pipelines.definition.violation import Violation

# The guide's defaults and bounds (the retry page's JSON schema section; the SDK's retry.py agrees).
DEFAULT_INTERVAL_SECONDS = 1  # "The number of seconds before the first retry attempt (1 by default)"
DEFAULT_BACKOFF_RATE = 2.0  # "(2.0 by default)"
DEFAULT_MAX_ATTEMPTS = 5  # "(5 by default)"; "if both are not specified, MaxAttempts becomes the default"
MAX_INTERVAL_SECONDS = 43200  # "IntervalSeconds has a maximum value of 43200 seconds (12 hours)"
MAX_ATTEMPTS = 20  # "MaxAttempts has a maximum value of 20"; "A value of 0 specifies that errors are never retried"
MAX_EXPIRE_AFTER_MIN = 14400  # "ExpireAfterMin has a maximum value of 14,400 minutes (10 days)"
POLICY_KEYS = ("ExceptionType", "IntervalSeconds", "BackoffRate", "MaxAttempts", "ExpireAfterMin")
RULE = "retry"


def allowed_exception_types(step_type: str) -> tuple[str, ...]:
    """The exception types a step of `step_type` may retry on; empty for a type that takes no RetryPolicies."""
    declared = STEP_TYPES.get(step_type)
    return declared.retry_exceptions if declared else ()


def retried_exception_types(step_type: str) -> tuple[str, ...]:
    """The allowed types SageMaker does retry for this step type (a tuning job retries its own trials' internal
    errors, so a tuning step's SageMaker.JOB_INTERNAL_ERROR policy is accepted and never applied)."""
    declared = STEP_TYPES.get(step_type)
    if declared is None:
        return ()
    return tuple(kind for kind in declared.retry_exceptions if kind not in declared.unretried_exceptions)


@dataclass(frozen=True)
class RetryPolicy:
    """One item of a step's RetryPolicies, defaults filled in. Exactly one of `max_attempts` and
    `expire_after_min` is set: a policy that names neither retries `DEFAULT_MAX_ATTEMPTS` times."""

    exception_types: tuple[str, ...]
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    backoff_rate: float = DEFAULT_BACKOFF_RATE
    max_attempts: int | None = DEFAULT_MAX_ATTEMPTS  # retries after the first attempt, not attempts in all
    expire_after_min: int | None = None  # minutes from the step's start after which no retry begins

    def interval_before(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first): the interval, times the backoff
        rate once for each retry before it."""
        return self.interval_seconds * self.backoff_rate ** (retry - 1)


def parse_retry_policies(step: dict[str, Any]) -> list[RetryPolicy]:
    """The step's RetryPolicies; `DefinitionError` naming the step and field if one breaks a rule here."""
    problems = _policy_problems(step)
    if problems:
        raise DefinitionError(f"step {step.get('Name')!r}: {problems[0]}")
    policies = []
    for item in step.get("RetryPolicies") or []:
        neither = "MaxAttempts" not in item and "ExpireAfterMin" not in item
        policies.append(
            RetryPolicy(
                exception_types=tuple(item["ExceptionType"]),
                interval_seconds=item.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS),
                backoff_rate=float(item.get("BackoffRate", DEFAULT_BACKOFF_RATE)),
                max_attempts=DEFAULT_MAX_ATTEMPTS if neither else item.get("MaxAttempts"),
                expire_after_min=item.get("ExpireAfterMin"),
            )
        )
    return policies


def retry_policy_violations(step: dict[str, Any]) -> list[Violation]:
    """Every rule the step's RetryPolicies break, one Violation each (rule "retry")."""
    return [Violation(str(step.get("Name")), RULE, problem) for problem in _policy_problems(step)]


def _policy_problems(step: dict[str, Any]) -> list[str]:
    policies = step.get("RetryPolicies")
    if policies is None:
        return []
    step_type = str(step.get("Type"))
    allowed = allowed_exception_types(step_type)
    if not allowed:
        return [
            f"RetryPolicies: a {step_type} step takes no retry policy (the retry page lists the step types "
            "that do: Processing, Training, Tuning, Model, RegisterModel, Transform, AutoML)"
        ]
    if not isinstance(policies, list):
        return ["RetryPolicies must be a list of policies"]
    problems: list[str] = []
    for index, item in enumerate(policies):
        where = f"RetryPolicies[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += [f"{where}.{key}: not a member of a retry policy ({', '.join(POLICY_KEYS)})"
                     for key in item if key not in POLICY_KEYS]  # fmt: skip
        problems += _exception_problems(item.get("ExceptionType"), f"{where}.ExceptionType", step_type, allowed)
        problems += _number_problem(item, "IntervalSeconds", where, int, 0, MAX_INTERVAL_SECONDS)
        problems += _number_problem(item, "BackoffRate", where, float, 0, None)
        problems += _number_problem(item, "MaxAttempts", where, int, 0, MAX_ATTEMPTS)
        problems += _number_problem(item, "ExpireAfterMin", where, int, 0, MAX_EXPIRE_AFTER_MIN)
        if "MaxAttempts" in item and "ExpireAfterMin" in item:
            problems.append(f"{where}: MaxAttempts and ExpireAfterMin both given; a policy takes only one of the two")
    return problems


def _exception_problems(kinds: Any, where: str, step_type: str, allowed: tuple[str, ...]) -> list[str]:
    if not isinstance(kinds, list) or not kinds or not all(isinstance(kind, str) for kind in kinds):
        return [f"{where}: required, a non-empty list of exception types ({'|'.join(allowed)})"]
    return [f"{where}: {kind!r} is not an exception type a {step_type} step retries on (one of {'|'.join(allowed)})"
            for kind in kinds if kind not in allowed]  # fmt: skip


def _number_problem(
    item: dict[str, Any], key: str, where: str, kind: type, low: float, high: float | None
) -> list[str]:
    if key not in item:
        return []
    value = item[key]
    is_number = isinstance(value, int) or (kind is float and isinstance(value, float))
    if isinstance(value, bool) or not is_number:
        return [f"{where}.{key}: {value!r} is not {'an integer' if kind is int else 'a number'}"]
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        return [f"{where}.{key}: {value} is out of range (must be {bound})"]
    return []
