"""The requests a local step makes, held to botocore's SageMaker model before the step runs.

`pipelines.service_rules` knows the model; this module knows which request each local job stands for and
turns a violation into the step failure SageMaker would report (a ValidationException).
"""

from __future__ import annotations

from typing import Any

from pipelines.local.errors import StepFailed
from pipelines.local.expressions import to_text
from pipelines.service_rules import UNKNOWN, validate_request

# HyperParameterTrainingJobDefinition members that configure the tuning job, not the training job it starts.
_TUNING_ONLY = ("DefinitionName", "TuningObjective", "HyperParameterRanges", "StaticHyperParameters",
                "HyperParameterTuningResourceConfig")


def trial_request(definition: dict[str, Any], hyperparameters: dict[str, str], job_name: str) -> tuple[str, dict]:
    """The CreateTrainingJob a tuning job makes for one trial of its TrainingJobDefinition."""
    request = {key: value for key, value in definition.items() if key not in _TUNING_ONLY}
    request["TrainingJobName"] = job_name
    request["HyperParameters"] = dict(hyperparameters)
    resources = definition.get("HyperParameterTuningResourceConfig")
    if resources and "ResourceConfig" not in request:  # the instance config a trial gets from the tuning job
        request["ResourceConfig"] = {k: v for k, v in resources.items() if k in
                                     ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")}
    return "CreateTrainingJob", request


def refuse_invalid(step_name: str, operation: str, request: dict[str, Any]) -> None:
    """Fail the step as SageMaker would: a ValidationException naming the field, the value and the rule."""
    violations = validate_request(operation, request)
    if violations:
        shown = "; ".join(str(v) for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        raise StepFailed(step_name, f"ValidationException: {operation} {shown}{more}")


# What lint puts where a run would have this execution's values: shaped like SageMaker's own.
SAMPLE_EXECUTION = {
    "PipelineExecutionId": "0a1b2c3d4e5f",
    "PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/sample/execution/0a1b2c3d4e5f",
    "PipelineName": "sample",
    "PipelineArn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/sample",
    "StartDateTime": "2026-01-01T00:00:00.000Z",
    "CurrentDateTime": "2026-01-01T00:00:00.000Z",
}


def static_arguments(value: Any, parameters: dict[str, Any]) -> Any:
    """A step's arguments as lint can know them: parameters at their defaults, execution variables as
    samples, and UNKNOWN wherever a value comes from another step (a property, a JSON file it writes)."""
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "Get" and isinstance(inner, str):
            head, _, rest = inner.partition(".")
            if head == "Parameters" and rest in parameters:
                return parameters[rest]
            if head == "Execution" and rest in SAMPLE_EXECUTION:
                return SAMPLE_EXECUTION[rest]
            return UNKNOWN
        if key == "Std:JsonGet":
            return UNKNOWN
        if key == "Std:Join" and isinstance(inner, dict):
            values = [static_arguments(item, parameters) for item in inner.get("Values", [])]
            if any(item is UNKNOWN for item in values):
                return UNKNOWN
            return str(inner.get("On", "")).join(to_text(item) for item in values)
    if isinstance(value, dict):
        return {key: static_arguments(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [static_arguments(item, parameters) for item in value]
    return value
