"""Acceptance: register -> list pending -> approve -> deploy -> InService -> smoke test over real HTTP to a
local steps.serve -> alarms and dashboard -> the dry run's test alert reaches an SQS queue on the topic.
All against moto server on 127.0.0.1, through the same CLIs and boto3 code used against AWS."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from pipelines import approve, deploy
from pipelines.config import PipelineConfig
from pipelines.deployment.deployer import DeployOptions
from pipelines.deployment.deployer import deploy as run_deploy
from pipelines.deployment.environment import open_environment
from pipelines.emulator import emulator_client


def _target(aws_endpoint: str, run_dir: Path) -> list[str]:
    return ["--profile", "quick", "--local", "--endpoint-url", aws_endpoint, "--run-dir", str(run_dir)]


def _endpoints(aws_endpoint: str) -> dict[str, str]:
    sm = emulator_client("sagemaker", aws_endpoint)
    return {e["EndpointName"]: e["EndpointStatus"] for e in sm.list_endpoints()["Endpoints"]}


@pytest.mark.slow
def test_register_approve_deploy_smoke_alarms_dashboard_and_dry_run_alert(
        aws_endpoint: str, run_dir: Path, register: Callable[[], str], config: PipelineConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    arn = register()
    target = _target(aws_endpoint, run_dir)

    assert approve.main([*target, "--list"]) == 0
    listing = capsys.readouterr().out
    assert "1 packages awaiting approval" in listing and "PendingManualApproval" in listing and "ensemble" in listing
    assert deploy.main([*target]) == 2  # nothing approved yet
    assert "no package" in capsys.readouterr().err

    assert approve.main([*target, "--latest", "--approve", "--comment", "reviewed"]) == 0
    assert "PendingManualApproval -> Approved" in capsys.readouterr().out
    sm = emulator_client("sagemaker", aws_endpoint)
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved" and described["ApprovalDescription"] == "reviewed"
    assert approve.main([*target, "--list"]) == 0 and "no packages awaiting approval" in capsys.readouterr().out

    assert deploy.main([*target]) == 0
    out = capsys.readouterr().out
    assert "smoke test passed" in out and "values, bad-input 4xx checked" in out
    (name, status), = _endpoints(aws_endpoint).items()
    assert name.startswith("conviction-ensemble-v5-") and status == "InService"
    endpoint_config = sm.describe_endpoint_config(EndpointConfigName=name)
    assert endpoint_config["DataCaptureConfig"]["EnableCapture"] is True
    assert sm.describe_model(ModelName=name)["Containers"][0]["ModelPackageName"] == arn
    record = json.loads((run_dir / "endpoints" / name / "deployment.json").read_text())
    assert record["smoke"]["passed"] and record["smoke"]["rows"] == config.deploy.smoke_rows

    cloudwatch = emulator_client("cloudwatch", aws_endpoint)
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    topic_arn = emulator_client("sns", aws_endpoint).create_topic(Name=config.deploy.sns_topic)["TopicArn"]
    assert {a["MetricName"] for a in alarms.values()} == {"Invocation5XXErrors", "ModelLatency", "Invocation4XXErrors"}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic_arn]
        assert {"Name": "EndpointName", "Value": name} in alarm["Dimensions"]
    body = json.loads(cloudwatch.get_dashboard(DashboardName=config.deploy.dashboard)["DashboardBody"])
    tweet_widgets = [w for w in body["widgets"] if "Tweet volume" in w["properties"]["title"]]
    assert len(tweet_widgets) == 1
    expression = tweet_widgets[0]["properties"]["metrics"][0][0]["expression"]
    assert config.deploy.tweet_metric.namespace in expression and "TweetsIngested" in expression
    assert any(name in json.dumps(w) for w in body["widgets"])

    sqs = emulator_client("sqs", aws_endpoint)
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    emulator_client("sns", aws_endpoint).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    assert deploy.main([*target, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    for call in ("would call sagemaker.CreateModel", "would call sagemaker.CreateEndpointConfig",
                 "would call sagemaker.CreateEndpoint ", "would call cloudwatch.PutMetricAlarm",
                 "would call cloudwatch.PutDashboard", "call sns.Publish"):
        assert call in dry, call
    assert len(_endpoints(aws_endpoint)) == 1  # the dry run created no endpoint
    messages = []
    for _ in range(5):  # bounded: the delivery is synchronous in moto, a few polls at most elsewhere
        messages += sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            break
    assert len(messages) == 1
    alert = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert alert["test"] is True and alert["package"] == arn


def test_a_rejected_package_is_never_deployed(aws_endpoint: str, run_dir: Path, register: Callable[[], str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    target = _target(aws_endpoint, run_dir)
    register()
    assert approve.main([*target, "--latest", "--reject", "--comment", "worse on the last week"]) == 0
    assert "PendingManualApproval -> Rejected" in capsys.readouterr().out
    assert deploy.main([*target]) == 2
    assert "no package in model package group 'conviction-direction' is approved" in capsys.readouterr().err
    assert deploy.main([*target, "--version", "1"]) == 2
    assert "is Rejected, not Approved" in capsys.readouterr().err
    assert deploy.main([*target, "--dry-run"]) == 2
    assert _endpoints(aws_endpoint) == {}
    sm = emulator_client("sagemaker", aws_endpoint)
    assert sm.list_models()["Models"] == [] and sm.list_endpoint_configs()["EndpointConfigs"] == []


@pytest.mark.slow
def test_failed_smoke_test_deletes_the_new_endpoint_and_keeps_the_previous(
        aws_endpoint: str, run_dir: Path, register: Callable[[], str], config: PipelineConfig,
        ensemble_output: Path, tmp_path: Path) -> None:
    register()
    assert approve.main([*_target(aws_endpoint, run_dir), "--latest", "--approve"]) == 0
    lines: list[str] = []
    with open_environment(local=True, run_dir=run_dir, region="us-east-1", endpoint_url=aws_endpoint) as env:
        first = run_deploy(env, config, DeployOptions(group=config.registry.model_package_group,
                                                      now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                                                      echo=lines.append))
        assert first.exit_code == 0, first.summary
        # Rows whose recorded predictions the artifact does not produce: the endpoint must be caught out.
        rows = pd.read_parquet(ensemble_output / "smoke_rows.parquet")
        rows["expected_prediction"] = 1.0 - rows["expected_prediction"]
        rows.to_parquet(tmp_path / "wrong.parquet", index=False)
        second = run_deploy(env, config, DeployOptions(group=config.registry.model_package_group,
                                                       now=datetime(2026, 1, 2, 3, 9, 9, tzinfo=UTC),
                                                       smoke_rows_file=tmp_path / "wrong.parquet",
                                                       echo=lines.append))
    assert second.exit_code == 1 and "smoke test FAILED" in second.summary
    assert f"still serving: {first.endpoint_name}" in second.summary
    assert _endpoints(aws_endpoint) == {first.endpoint_name: "InService"}
    sm = emulator_client("sagemaker", aws_endpoint)
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [first.endpoint_name]
    alarm = emulator_client("cloudwatch", aws_endpoint).describe_alarms()["MetricAlarms"][0]
    assert {"Name": "EndpointName", "Value": first.endpoint_name} in alarm["Dimensions"]  # not moved


def test_without_credentials_approve_and_deploy_stop_with_one_line(
        no_aws_credentials: None, capsys: pytest.CaptureFixture[str]) -> None:
    for program in (approve.main, deploy.main):
        assert program(["--dry-run"] if program is deploy.main else ["--list"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no AWS credentials found" in err[0] and "--local" in err[0]
