"""`<run-dir>/<start>-<execution-id>/execution.json`: what the run did, step by step, rewritten as it goes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.definition.step_types import TuningStepType


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class StepRecord:
    name: str
    type: str
    status: str = "NotStarted"  # Executing | Succeeded | Failed | Skipped | NotStarted
    started_at: str | None = None
    ended_at: str | None = None
    seconds: float | None = None
    cache_hit: bool = False
    cache_key: str | None = None
    depends_on: list[str] = field(default_factory=list)
    branch: str | None = None
    arguments: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None
    # each attempt at the step: attempt (from 1), started_at, ended_at, status, and for a failed one its
    # failure_reason and exception_type (a retry page type, or None: not retryable); SageMaker lists the step
    # once, its AttemptCount the number of these (ListPipelineExecutionSteps)
    attempts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ExecutionRecord:
    execution_id: str
    pipeline_name: str
    path: Path
    status: str = "Executing"  # Executing | Succeeded | Failed | Stopped (interrupted)
    started_at: str = field(default_factory=now)
    ended_at: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None
    sample_data: str | None = None
    model_package_arn: str | None = None
    aws_endpoint: str | None = None
    # the pipeline's ParallelismConfiguration ({"MaxParallelExecutionSteps": n}), as DescribePipelineExecution
    # shows it; None: no limit
    parallelism_configuration: dict[str, int] | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = asdict(self)
        document["path"] = str(self.path)
        document["steps"] = [asdict(step) for step in self.steps.values()]
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(document, indent=2, default=str) + "\n")
        partial.replace(self.path)


def most_trials_in_flight(record: ExecutionRecord) -> int:
    """The most tuning trials (training jobs) running at one moment, from their start and end times.

    Steps' own times would overstate it: a step is Executing while it waits for a job slot."""
    events = []
    for step in record.steps.values():
        if step.type == TuningStepType.name:
            for trial in step.properties.get("TrainingJobSummaries", []):
                events += [(datetime.fromisoformat(trial["TrainingStartTime"]), 1),
                           (datetime.fromisoformat(trial["TrainingEndTime"]), -1)]
    most = current = 0
    for _, change in sorted(events):  # at equal times an end (-1) sorts before a start
        current += change
        most = max(most, current)
    return most
