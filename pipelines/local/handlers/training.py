"""TrainingStep: one CreateTrainingJob, run on the host under the training contract."""

from __future__ import annotations

from typing import Any

from pipelines.definition.step_types import TrainingStepType
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun
from pipelines.local.jobs.training import training_step_properties


class TrainingHandler(StepHandler):
    declaration = TrainingStepType()
    cacheable = True

    def execute(self, run: StepRun) -> StepResult:
        with run.job_slot():
            properties = training_step_properties(
                run.name, run.arguments, run.job_root, run.execution.store, run.execution.options.containers
            )
        metrics = {m["MetricName"]: m["Value"] for m in properties["FinalMetricDataList"]}
        return StepResult(properties, {"model": properties["ModelArtifacts"]["S3ModelArtifacts"]}, metrics)

    def output_uris(self, properties: dict[str, Any]) -> list[str]:
        return [properties["ModelArtifacts"]["S3ModelArtifacts"]]
