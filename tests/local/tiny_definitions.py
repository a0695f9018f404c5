"""Hand-written definitions of a few Processing steps that only sleep: the runner's scheduling and retries,
without the project's definition or its programs (each job is `python3 -c "import time; time.sleep(s)"`)."""

from __future__ import annotations

from typing import Any


def sleep_step(name: str, seconds: float = 0.0, **fields: Any) -> dict[str, Any]:
    """A Processing step whose job sleeps `seconds`; `fields` are added to the step (RetryPolicies, DependsOn)."""
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
            },
            "AppSpecification": {
                "ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/sleep:1",
                "ContainerEntrypoint": ["python3", "-c", f"import time; time.sleep({seconds})"],
            },
            "RoleArn": "arn:aws:iam::000000000000:role/sleep",
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
        **fields,
    }


def definition(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Metadata": {}, "Parameters": [], "PipelineExperimentConfig": None,
            "Steps": list(steps)}  # fmt: skip
