"""ModelStep (CreateModel): through boto3, as RegisterModel."""

from __future__ import annotations

from typing import Any

from pipelines.local import registry
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun


class ModelHandler(StepHandler):
    step_type = "Model"

    def request(self, arguments: dict[str, Any], job_name: str) -> tuple[str, dict[str, Any]]:
        return "CreateModel", {"ModelName": job_name, **registry.without_empty(arguments)}

    def execute(self, run: StepRun) -> StepResult:
        properties = registry.create_model(run.name, run.job_name, run.arguments, run.execution.sagemaker_client())
        return StepResult(properties, {"ModelArn": properties["ModelArn"]})
