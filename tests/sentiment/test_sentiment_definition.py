"""The definition with sentiment scoring on (`--twitter-sentiment`), tested as data, offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.lint import iter_steps


@pytest.fixture(scope="module")
def definition() -> dict:
    config = load_config(overrides={"sentiment": {"enabled": True}})
    return json.loads(definition_json(get_pipeline(config)))


def _by_name(steps: list[dict]) -> dict[str, dict]:
    """Every step by name, the branches of condition steps included."""
    return {step["Name"]: step for step in iter_steps(steps)}


def _execution_join(*tail: str) -> dict:
    return {"Std:Join": {"On": "/", "Values": [
        {"Std:Join": {"On": "/", "Values": [
            "s3://conviction-ml-artifacts/conviction-pipelines", "executions",
            {"Get": "Execution.PipelineExecutionId"}, "ScoreSentimentFinGPT", "checkpoints"]}},
        *tail]}} if tail else {"Std:Join": {"On": "/", "Values": [
            "s3://conviction-ml-artifacts/conviction-pipelines", "executions",
            {"Get": "Execution.PipelineExecutionId"}, "ScoreSentimentFinGPT", "checkpoints"]}}


def test_scoring_steps_come_before_build_features(definition):
    top = [(s["Name"], s["Type"]) for s in definition["Steps"]]
    assert top[:3] == [("FinGPTGate", "Condition"), ("ScoreSentimentFinBERT", "Processing"),
                       ("BuildFeatures", "Processing")]
    assert {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}["UseFinGPT"] is False


def test_fingpt_runs_only_when_use_fingpt_is_true(definition):
    gate = definition["Steps"][0]["Arguments"]
    assert gate["Conditions"] == [{"Type": "Equals", "LeftValue": {"Get": "Parameters.UseFinGPT"}, "RightValue": True}]
    assert [(s["Name"], s["Type"]) for s in gate["IfSteps"]] == [("ScoreSentimentFinGPT", "Training")]
    assert [(s["Name"], s["Type"]) for s in gate["ElseSteps"]] == [("SkipFinGPT", "Processing")]


def test_fingpt_job_is_managed_spot_with_checkpoints_and_capacity_retry(definition):
    job = _by_name(definition["Steps"])["ScoreSentimentFinGPT"]
    args = job["Arguments"]
    assert args["EnableManagedSpotTraining"] is True
    assert args["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert args["StoppingCondition"] == {"MaxRuntimeInSeconds": 14400, "MaxWaitTimeInSeconds": 28800}
    assert args["CheckpointConfig"] == {"LocalPath": "/opt/ml/checkpoints", "S3Uri": _execution_join()}
    assert args["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "steps.sentiment.fingpt"]
    assert "--checkpoint" in args["AlgorithmSpecification"]["ContainerArguments"]
    channels = {c["ChannelName"] for c in args["InputDataConfig"]}
    assert channels == {"tweets", "model", "code"}
    retried = {e for policy in job["RetryPolicies"] for e in policy["ExceptionType"]}
    assert "SageMaker.CAPACITY_ERROR" in retried


def test_finbert_reads_fingpt_prefix_and_feeds_features_and_leaks(definition):
    steps = _by_name(definition["Steps"])
    finbert = steps["ScoreSentimentFinBERT"]
    assert finbert["DependsOn"] == ["FinGPTGate"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in finbert["Arguments"]["ProcessingInputs"]}
    assert inputs["fingpt"] == _execution_join("scores")
    assert inputs["tweets"] == {"Get": "Parameters.TweetsDataUrl"}
    skip_out = steps["SkipFinGPT"]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert skip_out == inputs["fingpt"]
    assert finbert["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == [
        "python3", "-m", "steps.sentiment.finbert"]
    scored = {"Get": "Steps.ScoreSentimentFinBERT.ProcessingOutputConfig.Outputs['tweets'].S3Output.S3Uri"}
    for consumer in ("BuildFeatures", "LeakTests"):
        sources = {i["InputName"]: i["S3Input"]["S3Uri"] for i in steps[consumer]["Arguments"]["ProcessingInputs"]}
        assert sources["tweets"] == scored


def test_default_definition_has_no_sentiment_steps():
    definition = json.loads(definition_json(get_pipeline(load_config())))
    names = set(_by_name(definition["Steps"]))
    assert not names & {"FinGPTGate", "ScoreSentimentFinBERT", "ScoreSentimentFinGPT", "SkipFinGPT"}
    assert "UseFinGPT" not in {p["Name"] for p in definition["Parameters"]}


@pytest.mark.parametrize("how", [["--twitter-sentiment"], []])
def test_upsert_dry_run_with_the_switch(how, tmp_path):
    env_extra = {} if how else {"TWITTER_SENTIMENT": "1"}
    import os

    result = subprocess.run(
        [sys.executable, "-m", "pipelines.upsert", "--dry-run", *how, "--output", str(tmp_path / "p.json")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env_extra},
    )
    assert result.returncode == 0, result.stderr
    steps = json.loads((tmp_path / "p.json").read_text())["Steps"]
    assert steps[1]["Name"] == "ScoreSentimentFinBERT"


def test_definition_with_sentiment_passes_the_lint():
    result = subprocess.run([sys.executable, "-m", "pipelines.lint", "--twitter-sentiment"], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
