"""A SageMaker execution becomes the same record shape the report renders (the pure part of --execution-arn;
the emulator has no ListPipelineExecutionSteps, so the AWS calls themselves are not exercised here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipelines.report.__main__ import record_from_steps
from pipelines.report.collect import collect
from pipelines.report.render import render

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


class _NoArtifacts:
    def read_bytes(self, uri: str) -> bytes | None:
        return None


def test_execution_steps_map_to_a_record_the_report_renders():
    described = {
        "PipelineArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/conviction-direction",
        "PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/conviction-direction/execution/abc",
        "PipelineExecutionStatus": "Failed",
        "FailureReason": "Step failure: Gate-models-3",
        "CreationTime": T0,
        "LastModifiedTime": T0 + timedelta(minutes=40),
    }
    steps = [  # newest first, as the API lists them
        {"StepName": "Fail-models", "StepStatus": "Failed", "StartTime": T0 + timedelta(minutes=39),
         "EndTime": T0 + timedelta(minutes=40), "FailureReason": "xgboost 0.58 < 0.60", "Metadata": {"Fail": {}}},
        {"StepName": "Gate-models", "StepStatus": "Succeeded", "StartTime": T0 + timedelta(minutes=30),
         "EndTime": T0 + timedelta(minutes=30), "Metadata": {"Condition": {"Outcome": "False"}}},
        {"StepName": "BuildFeatures", "StepStatus": "Succeeded", "StartTime": T0,
         "EndTime": T0 + timedelta(minutes=5), "Metadata": {"ProcessingJob": {"Arn": "arn:…/processing-job/pj"}}},
    ]  # fmt: skip
    record = record_from_steps(described, steps)
    assert [s["name"] for s in record["steps"]] == ["BuildFeatures", "Gate-models", "Fail-models"]
    assert record["steps"][0]["type"] == "Processing" and record["steps"][0]["seconds"] == 300
    assert record["steps"][1]["properties"] == {"Outcome": False}
    assert record["pipeline_name"] == "conviction-direction" and record["execution_id"] == "abc"
    html = render(collect(record, _NoArtifacts()))
    assert "Pipeline Failed: Step failure: Gate-models-3" in html
    for name in ("BuildFeatures", "Gate-models", "Fail-models"):
        assert f'data-step="{name}"' in html
