"""The requests a definition's steps make: how their jobs are named, and what lint can know of them.

SageMaker names the job a step creates from the step and the execution; the local runner names it the same
way (`job_name`), and lint names it with a sample execution so a name's length is judged as a run would.
What lint knows of a step's arguments before a run: `pipelines.definition.static_values`.
"""

from __future__ import annotations

import re
from typing import Any

# HyperParameterTrainingJobDefinition members that configure the tuning job, not the training job it starts.
TUNING_ONLY_MEMBERS = ("DefinitionName", "TuningObjective", "HyperParameterRanges", "StaticHyperParameters",
                       "HyperParameterTuningResourceConfig")  # fmt: skip

# What lint puts where a run would have this execution's values: shaped like SageMaker's own.
SAMPLE_EXECUTION = {
    "PipelineExecutionId": "0a1b2c3d4e5f",
    "PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/sample/execution/0a1b2c3d4e5f",
    "PipelineName": "sample",
    "PipelineArn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/sample",
    "StartDateTime": "2026-01-01T00:00:00.000Z",
    "CurrentDateTime": "2026-01-01T00:00:00.000Z",
}


def job_name(step_name: str, execution_id: str, limit: int) -> str:
    """The job a step creates in an execution: the step's name, lowercased, and the execution id's last part,
    within the service's length `limit` for that job's name (no timestamp: a name says which step it was)."""
    base = re.sub(r"[^A-Za-z0-9-]", "-", step_name).lower().strip("-")
    suffix = execution_id.rsplit("-", 1)[-1]
    return f"{base[: limit - len(suffix) - 1]}-{suffix}"


def clip(text: str, limit: int) -> str:
    """`text` within a member's length limit in botocore's model, an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def without_empty(value: Any) -> Any:
    """The SDK writes `"Bias": {}` for absent metric sources; the API's shapes take them absent, not empty."""
    if isinstance(value, dict):
        return {k: without_empty(v) for k, v in value.items() if v != {}}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


def trial_request(definition: dict[str, Any], hyperparameters: dict[str, str], job_name: str) -> tuple[str, dict]:
    """The CreateTrainingJob a tuning job makes for one trial of its TrainingJobDefinition."""
    request = {key: value for key, value in definition.items() if key not in TUNING_ONLY_MEMBERS}
    request["TrainingJobName"] = job_name
    request["HyperParameters"] = dict(hyperparameters)
    resources = definition.get("HyperParameterTuningResourceConfig")
    if resources and "ResourceConfig" not in request:  # the instance config a trial gets from the tuning job
        request["ResourceConfig"] = {k: v for k, v in resources.items() if k in
                                     ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")}
    return "CreateTrainingJob", request
