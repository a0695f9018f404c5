"""Retrying a failed step as SageMaker does: which failures, how often, how long apart.

Source: the developer guide's "Retry Policy for Pipeline Steps",
https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-retry-policy.html, and the SageMaker Python SDK's
`sagemaker/workflow/retry.py`. A policy's parsing, defaults and bounds are the definition layer's
(`pipelines.definition.retry_rules`, shared with lint); what is here is carrying a policy out:

- Only a failure of one of the page's exception types is retried (`StepFault`: `Step.SERVICE_FAULT`,
  `Step.THROTTLING`, `SageMaker.JOB_INTERNAL_ERROR`, `SageMaker.CAPACITY_ERROR`, `SageMaker.RESOURCE_LIMIT`). A
  job that exits non-zero, a request the service refuses, a Fail step: never.
- The first of the step's RetryPolicies that names the type decides (the page does not say which of two wins;
  this is the order the definition gives), and each policy counts its own retries. Retry number n waits
  IntervalSeconds x BackoffRate^(n-1) ("the multiplier by which the retry interval increases during each
  attempt"); after `MaxAttempts` retries ("the maximum number of retry attempts"), or once the failure comes
  `ExpireAfterMin` minutes or more "counting from the step gets executed", the step fails. 0 of either: never.
- With no policy naming it, `Step.SERVICE_FAULT` and `Step.THROTTLING` are retried anyway: "Pipelines retries
  on this type of error automatically. With a retry policy, you can override the default retry operation for
  this exception type" (the page), "regardless of pipeline step type" (the SDK's StepRetryPolicy docstring).
  How often is not published; the runner uses the policy schema's own defaults (`DEFAULT_RETRY`: 1 s, rate
  2.0, 5 retries). No other type is retried without a policy.
- A tuning step's `SageMaker.JOB_INTERNAL_ERROR` is never retried, policy or not ("Jobs running inside both the
  tuning and AutoML steps conduct retries internally and will not retry the SageMaker.JOB_INTERNAL_ERROR
  exception type, even if a retry policy is configured": `retried_exception_types`).

Nothing on this machine fails the way these faults do (no capacity to run out of, no throttling), so tests
inject them: `RunOptions.faults` names, per step, the exception types its successive attempts fail with
(`injected_fault`), raised where the step would call the service. Tests also pass a `RetryClock` so a retry's
wait costs no wall time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipelines.definition.retry_rules import RetryPolicy, retried_exception_types
from pipelines.definition.step_types import JOB_EXCEPTIONS, STEP_EXCEPTIONS
from pipelines.local.errors import StepFailed

EXCEPTION_TYPES = STEP_EXCEPTIONS + JOB_EXCEPTIONS
# What SageMaker retries with no policy, and how (the schema's defaults: see the module docstring).
DEFAULT_RETRY = RetryPolicy(exception_types=STEP_EXCEPTIONS)


class StepFault(StepFailed):
    """A step's failure that carries one of the retry page's exception types (`exception_type`)."""

    def __init__(self, step_name: str, exception_type: str, reason: str):
        super().__init__(step_name, f"{exception_type}: {reason}")
        self.exception_type = exception_type


def injected_fault(faults: Mapping[str, Sequence[str]], step_name: str, attempt: int) -> StepFault | None:
    """The fault a test planted for this attempt of this step (`attempt` counts from 1), if any."""
    planned = faults.get(step_name, ())
    if attempt > len(planned):
        return None
    kind = planned[attempt - 1]
    if kind not in EXCEPTION_TYPES:
        raise ValueError(f"injected fault {kind!r} for step {step_name}: not one of {', '.join(EXCEPTION_TYPES)}")
    return StepFault(step_name, kind, f"injected for attempt {attempt} (RunOptions.faults)")


@dataclass
class Retrier:
    """One step's retries: asked after each failed attempt whether, and after how long, to try again."""

    step_type: str
    policies: list[RetryPolicy]
    retries: dict[int, int] = field(default_factory=dict)  # retries made so far, by policy (-1: DEFAULT_RETRY)

    def wait_before_retry(self, exception_type: str | None, elapsed_seconds: float) -> float | None:
        """Seconds to wait before the next attempt, or None when the step fails now. `elapsed_seconds`: since
        the step started executing."""
        if exception_type is None:
            return None
        for index, policy in enumerate(self.policies):
            if exception_type in policy.exception_types:
                if exception_type not in retried_exception_types(self.step_type):
                    return None  # accepted by the service, never applied (a tuning job's internal errors)
                return self._next(index, policy, elapsed_seconds)
        if exception_type in DEFAULT_RETRY.exception_types:
            return self._next(-1, DEFAULT_RETRY, elapsed_seconds)
        return None

    def _next(self, key: int, policy: RetryPolicy, elapsed_seconds: float) -> float | None:
        made = self.retries.get(key, 0)
        if policy.max_attempts is not None and made >= policy.max_attempts:
            return None
        if policy.expire_after_min is not None and elapsed_seconds >= policy.expire_after_min * 60:
            return None
        self.retries[key] = made + 1
        return policy.interval_before(made + 1)


class RetryClock(Protocol):
    """What a retry waits with: tests pass one that only counts (`RunOptions.retry_clock`)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...
