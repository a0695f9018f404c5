"""ModelStep (CreateModel): through boto3, as RegisterModel."""

from __future__ import annotations

from typing import Any

from pipelines.definition.step_types import ModelStepType
from pipelines.local import registry
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun
from pipelines.local.record import StepRecord


class ModelHandler(StepHandler):
    declaration = ModelStepType()

    def execute(self, run: StepRun) -> StepResult:
        properties = registry.create_model(run.name, run.job_name, run.arguments, run.execution.sagemaker_client())
        return StepResult(properties, {"ModelArn": properties["ModelArn"]})

    def list_metadata(self, step: StepRecord, execution_id: str, arn_prefix: str) -> dict[str, Any]:
        arn = (step.properties or {}).get("ModelArn")
        return {"Model": {"Arn": arn}} if arn else {}
