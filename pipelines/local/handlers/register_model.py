"""RegisterModel: CreateModelPackage through boto3 (the emulator, or AWS with --endpoint)."""

from __future__ import annotations

from typing import Any

from pipelines.definition.step_types import RegisterModelStepType
from pipelines.local import registry
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun
from pipelines.local.record import ExecutionRecord, StepRecord


class RegisterModelHandler(StepHandler):
    declaration = RegisterModelStepType()

    def execute(self, run: StepRun) -> StepResult:
        properties = registry.register_model_package(run.name, run.arguments, run.execution.sagemaker_client())
        run.echo(f"         registered model package {properties['ModelPackageArn']}")
        return StepResult(properties, {"ModelPackageArn": properties["ModelPackageArn"]})

    def update_record(self, record: ExecutionRecord, result: StepResult) -> None:
        record.model_package_arn = result.properties["ModelPackageArn"]

    def list_metadata(self, step: StepRecord, execution_id: str, arn_prefix: str) -> dict[str, Any]:
        arn = (step.properties or {}).get("ModelPackageArn")
        return {"RegisterModel": {"Arn": arn}} if arn else {}
