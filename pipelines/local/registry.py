"""RegisterModel and Model steps: real CreateModelPackage / CreateModel calls through boto3."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipelines.definition.requests import without_empty
from pipelines.local.errors import StepFailed


def ensure_model_package_group(client, group: str, description: str = "") -> None:
    try:
        client.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError:
        client.create_model_package_group(
            ModelPackageGroupName=group, ModelPackageGroupDescription=description or f"model group {group}"
        )


def register_model_package(step_name: str, arguments: dict[str, Any], client) -> dict[str, Any]:
    request = without_empty(arguments)
    group = request.get("ModelPackageGroupName")
    try:
        if group:
            ensure_model_package_group(client, group)
        response = client.create_model_package(**request)
        arn = response["ModelPackageArn"]
        described = client.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        raise StepFailed(step_name, f"CreateModelPackage failed: {exc}") from None
    described.pop("ResponseMetadata", None)
    return {**{k: v for k, v in described.items() if not hasattr(v, "isoformat")}, "ModelPackageArn": arn}


def create_model(step_name: str, model_name: str, arguments: dict[str, Any], client) -> dict[str, Any]:
    request = {"ModelName": model_name, **without_empty(arguments)}
    try:
        response = client.create_model(**request)
    except ClientError as exc:
        raise StepFailed(step_name, f"CreateModel failed: {exc}") from None
    return {"ModelName": request["ModelName"], "ModelArn": response["ModelArn"]}
