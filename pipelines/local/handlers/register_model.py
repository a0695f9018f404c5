"""RegisterModel: CreateModelPackage through boto3 (the emulator, or AWS with --endpoint)."""

from __future__ import annotations

from typing import Any

from pipelines.local import registry
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun


class RegisterModelHandler(StepHandler):
    step_type = "RegisterModel"

    def request(self, arguments: dict[str, Any], job_name: str) -> tuple[str, dict[str, Any]]:
        return "CreateModelPackage", registry.without_empty(arguments)

    def execute(self, run: StepRun) -> StepResult:
        properties = registry.register_model_package(run.name, run.arguments, run.execution.sagemaker_client())
        run.echo(f"         registered model package {properties['ModelPackageArn']}")
        return StepResult(properties, {"ModelPackageArn": properties["ModelPackageArn"]})
