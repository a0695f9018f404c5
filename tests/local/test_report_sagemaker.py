"""A SageMaker execution becomes the same record shape the report renders (the pure part of --execution-arn;
the emulator has no ListPipelineExecutionSteps, so the AWS calls themselves are not exercised here)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pipelines.definition.graph import execution_order, flatten_steps
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


def test_with_the_definition_the_execution_draws_its_dag_and_the_steps_it_never_listed(quick_definition):
    described = {
        "PipelineArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/conviction-direction",
        "PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/conviction-direction/execution/d",
        "PipelineExecutionStatus": "Failed",
        "CreationTime": T0,
        "LastModifiedTime": T0 + timedelta(minutes=40),
    }
    listed = [
        ("BuildFeatures", "Succeeded", {"ProcessingJob": {"Arn": "arn:…/processing-job/a"}}),
        ("LeakTests", "Succeeded", {"ProcessingJob": {"Arn": "arn:…/processing-job/b"}}),
        ("LeakGate", "Succeeded", {"Condition": {"Outcome": "True"}}),
        ("Tune-xgboost", "Succeeded", {"TuningJob": {"Arn": "arn:…/hyper-parameter-tuning-job/c"}}),
        ("Evaluate-xgboost", "Succeeded", {"ProcessingJob": {"Arn": "arn:…/processing-job/d"}}),
        ("Gate-plausible", "Succeeded", {"Condition": {"Outcome": "True"}}),
        ("Gate-models", "Succeeded", {"Condition": {"Outcome": "False"}}),
        ("Tune-xgboost-2", "Failed", {"TuningJob": {"Arn": "arn:…/hyper-parameter-tuning-job/e"}}),
    ]
    steps = [
        {"StepName": name, "StepStatus": status, "StartTime": T0 + timedelta(minutes=i),
         "EndTime": T0 + timedelta(minutes=i + 1), "Metadata": metadata}
        for i, (name, status, metadata) in reversed(list(enumerate(listed)))
    ]  # fmt: skip
    record = record_from_steps(described, steps, definition=quick_definition)
    nodes = flatten_steps(quick_definition)
    by_name = {step["name"]: step for step in record["steps"]}
    assert list(by_name) == execution_order(nodes)
    for name, node in nodes.items():
        assert by_name[name]["depends_on"] == sorted(node.depends_on)
        assert by_name[name]["type"] == node.type
    assert by_name["Gate-plausible"]["branch"] == "LeakGate.IfSteps"
    assert by_name["Gate-models"]["branch"] == "Gate-plausible.IfSteps"
    assert by_name["Fail-implausible"]["status"] == "Skipped"
    assert by_name["Tune-xgboost-2"]["status"] == "Failed"
    assert by_name["Fail-leaks"]["status"] == "Skipped"  # LeakGate chose its other branch
    assert by_name["Fail-leaks"]["properties"]["reason"] == "LeakGate evaluated True"
    assert by_name["BuildEnsemble"]["status"] == "Skipped"  # so did Gate-models
    assert by_name["Register-RegisterModel"]["status"] == "Skipped"
    assert by_name["Evaluate-xgboost-2"]["status"] == "NotStarted"  # the pipeline failed before it
    html = render(collect(record, _NoArtifacts()))
    full = html.split('class="graph-box graph-full"')[1]  # the unfolded graph (the folded one is drawn first)
    edges = re.findall(r'<g class="edge[^"]*" data-from="([^"]+)" data-to="([^"]+)"', full)
    assert sorted(edges) == sorted((d, name) for name, node in nodes.items() for d in node.depends_on)
