"""`python -m pipelines.upsert` against moto in server mode on 127.0.0.1, through the production boto3 code."""

from __future__ import annotations

import json

import boto3
import pytest

from pipelines import upsert
from pipelines.publish import published_definition

pytestmark = pytest.mark.moto


def _sagemaker(endpoint: str):
    return boto3.client("sagemaker", region_name="us-east-1", endpoint_url=endpoint)


def _publish(endpoint: str, *extra: str) -> int:
    boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket="conviction-ml-artifacts")
    return upsert.main(["--endpoint-url", endpoint, *extra])


def test_dry_run_prints_the_definition_without_aws(no_aws_credentials, capsys):
    assert upsert.main(["--dry-run"]) == 0
    definition = json.loads(capsys.readouterr().out)
    assert [s["Name"] for s in definition["Steps"]] == ["BuildFeatures", "LeakTests", "SealLockbox", "LeakGate"]


def test_dry_run_writes_the_output_file(no_aws_credentials, tmp_path):
    target = tmp_path / "out" / "pipeline.json"
    assert upsert.main(["--dry-run", "--output", str(target)]) == 0
    assert json.loads(target.read_text())["Version"]
    assert [p.name for p in target.parent.iterdir()] == ["pipeline.json"]


def test_missing_credentials_is_a_one_line_error(no_aws_credentials, capsys):
    assert upsert.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "no AWS credentials found" in err and "AWS_PROFILE" in err and "--dry-run" in err


def test_create_then_update_keeps_one_pipeline_with_tags(aws_endpoint, capsys):
    assert _publish(aws_endpoint) == 0
    first_arn = capsys.readouterr().out.strip().splitlines()[-1]
    assert _publish(aws_endpoint, "--param", "MinModelAUC=0.61") == 0
    second_arn = capsys.readouterr().out.strip().splitlines()[-1]
    assert first_arn == second_arn

    client = _sagemaker(aws_endpoint)
    summaries = client.list_pipelines()["PipelineSummaries"]
    assert [s["PipelineName"] for s in summaries] == ["conviction-direction"]
    tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=first_arn)["Tags"]}
    assert tags == {"owner": "ml-platform", "project": "conviction"}
    published = published_definition(client, "conviction-direction")  # JSON, or moto's repr of an S3 definition
    assert [s["Name"] for s in published["Steps"]] == ["BuildFeatures", "LeakTests", "SealLockbox", "LeakGate"]


def test_code_is_uploaded_once_by_content_hash(aws_endpoint, capsys):
    assert _publish(aws_endpoint) == 0
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws_endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="conviction-ml-artifacts")["Contents"]]
    assert any(k.endswith("/steps/features/__main__.py") for k in keys)
    # the code, and the definition itself when it is over the inline limit (100 KB)
    definition = "conviction-pipelines/definitions/conviction-direction.json"
    assert all(k.startswith("conviction-pipelines/code/") or k == definition for k in keys)
    assert _publish(aws_endpoint) == 0
    assert len(s3.list_objects_v2(Bucket="conviction-ml-artifacts")["Contents"]) == len(keys)


def test_diff_shows_a_changed_parameter_default(aws_endpoint, capsys, monkeypatch):
    assert _publish(aws_endpoint) == 0
    capsys.readouterr()
    assert upsert.main(["--endpoint-url", aws_endpoint, "--diff", "--input-data-s3", "s3://elsewhere/bars/"]) == 0
    diff = capsys.readouterr().out
    assert '-      "DefaultValue": "s3://conviction-ml-artifacts/data/bars/",' in diff
    assert '+      "DefaultValue": "s3://elsewhere/bars/",' in diff
    assert upsert.main(["--endpoint-url", aws_endpoint, "--diff"]) == 0
    assert capsys.readouterr().out.strip() == "no changes"


def test_start_passes_parameters_to_the_execution(aws_endpoint, capsys):
    assert _publish(aws_endpoint, "--start", "--param", "MinModelAUC=0.65") == 0
    execution_arn = capsys.readouterr().out.strip().splitlines()[-1]
    assert ":pipeline-execution/" in execution_arn or "execution" in execution_arn
    client = _sagemaker(aws_endpoint)
    executions = client.list_pipeline_executions(PipelineName="conviction-direction")["PipelineExecutionSummaries"]
    assert len(executions) == 1


def test_bad_param_and_unimplemented_legacy_switch_exit_2(no_aws_credentials, capsys, monkeypatch):
    assert upsert.main(["--dry-run", "--param", "MinModelAUC=high"]) == 2
    assert "expected a float" in capsys.readouterr().err
    assert upsert.main(["--dry-run", "--param", "ModelApprovalStatus=Maybe"]) == 2
    assert "allowed values are PendingManualApproval" in capsys.readouterr().err
    monkeypatch.setenv("DEPLOY", "1")
    assert upsert.main(["--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "DEPLOY=1: a model is deployed after it is approved" in err
    assert "python -m pipelines.approve --latest --approve" in err and "python -m pipelines.deploy" in err
    assert "issue" not in err  # user output names commands, never internal work items


def test_legacy_words_map_to_config(no_aws_credentials, capsys, monkeypatch):
    monkeypatch.setenv("HPO", "1")
    assert upsert.main(["--dry-run", "--algorithm", "xgboost", "--input-data-s3", "s3://my-data/bars/",
                        "--time-cv"]) == 0
    captured = capsys.readouterr()
    definition = json.loads(captured.out)
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert defaults["InputDataUrl"] == "s3://my-data/bars/"
    assert "HPO=1: always on" in captured.err and "--time-cv: always on" in captured.err


@pytest.mark.parametrize(("value", "on"), [("on", True), ("TRUE", True), ("0", False), ("", False)])
def test_environment_switches_read_booleans_as_the_steps_do(value, on):
    """One boolean reading for the project (steps/common/cli.py parse_bool): FEATURE_ANALYSIS=on switches it on,
    0 or empty leaves it off."""
    import argparse

    from pipelines.cli_options import add_config_arguments, resolve_legacy_options

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    resolved = resolve_legacy_options(parser.parse_args([]), environ={"FEATURE_ANALYSIS": value})
    assert resolved.overrides.get("stability", {}).get("enabled", False) is on


def test_a_misspelt_environment_switch_stops_upsert_on_one_line(no_aws_credentials, capsys, monkeypatch):
    """HPO=ture used to mean "off" silently; now it is a usage error naming the variable and what it takes."""
    monkeypatch.setenv("FEATURE_ANALYSIS", "ture")
    assert upsert.main(["--dry-run"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.strip().splitlines() if "FEATURE_ANALYSIS" in line]
    assert len(lines) == 1 and "FEATURE_ANALYSIS=ture: expected one of true/1/yes/on/false/0/no/off" in lines[0]
