"""Managed spot training's rules for a training job's StoppingCondition, which no request shape states.

- `MaxWaitTimeInSeconds` "must be equal to or greater than MaxRuntimeInSeconds" (botocore's StoppingCondition
  MaxWaitTimeInSeconds doc string)
- with `EnableManagedSpotTraining`, a `MaxWaitTimeInSeconds`: "Set EnableManagedSpotTraining to True and
  specify the MaxWaitTimeInSeconds" (developer guide, "Managed Spot Training in Amazon SageMaker",
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html)

A MaxWaitTimeInSeconds without spot training is not refused: no source says SageMaker refuses it.
A training step's request carries them at the top; a tuning step's in each training job definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipelines.definition.service_rules import UNKNOWN
from pipelines.definition.tuning_rules import training_definitions
from pipelines.definition.violation import Violation

RULE = "stopping"  # not "spot": that is lint's policy rule (the firm's: a checkpoint, a MaxWait); this is SageMaker's


def spot_violations(step: str, step_type: str, arguments: Any) -> Iterator[Violation]:
    """Every rule above the (resolved) arguments of a Training or Tuning step break."""
    for where, job in _training_jobs(step_type, arguments):
        stopping = job.get("StoppingCondition")
        stopping = stopping if isinstance(stopping, dict) else {}
        wait, run = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds")
        field = f"{where}StoppingCondition"
        if job.get("EnableManagedSpotTraining") is True and wait is None:
            yield Violation(step, RULE, f"{where}EnableManagedSpotTraining without {field}.MaxWaitTimeInSeconds")
        if _number(wait) and _number(run) and wait < run:
            yield Violation(
                step,
                RULE,
                f"{field}.MaxWaitTimeInSeconds {wait} is below MaxRuntimeInSeconds {run} "
                "(the wait for spot capacity plus the run must be at least the run)",
            )


def _training_jobs(step_type: str, arguments: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(arguments, dict):
        return
    if step_type == "Training":
        yield "", arguments
    elif step_type == "Tuning":
        yield from ((f"{where}.", job) for where, job in training_definitions(arguments))


def _number(value: Any) -> bool:
    return value is not UNKNOWN and isinstance(value, (int, float)) and not isinstance(value, bool)
