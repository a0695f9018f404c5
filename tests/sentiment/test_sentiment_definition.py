"""The definition with sentiment scoring on (`--twitter-sentiment`), tested as data, offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sentiment_constants import REPO

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.lint import iter_steps


@pytest.fixture(scope="module")
def definition() -> dict:
    """Sentiment scoring without FinGPT (`--twitter-sentiment`)."""
    config = load_config(overrides={"sentiment": {"enabled": True}})
    return json.loads(definition_json(get_pipeline(config)))


@pytest.fixture(scope="module")
def fingpt_definition() -> dict:
    """Sentiment scoring with FinGPT (`--twitter-sentiment --fingpt`)."""
    config = load_config(overrides={"sentiment": {"enabled": True, "fingpt": {"enabled": True}}})
    return json.loads(definition_json(get_pipeline(config)))


def _by_name(steps: list[dict]) -> dict[str, dict]:
    """Every step by name, the branches of condition steps included."""
    return {step["Name"]: step for step in iter_steps(steps)}


def _fingpt_checkpoints() -> dict:
    return {"Std:Join": {"On": "/", "Values": [
        "s3://conviction-ml-artifacts/conviction-pipelines", "executions",
        {"Get": "Execution.PipelineExecutionId"}, "ScoreSentimentFinGPT", "checkpoints"]}}


def _inputs(step: dict) -> dict[str, object]:
    return {i["InputName"]: i["S3Input"]["S3Uri"] for i in step["Arguments"]["ProcessingInputs"]}


def _references(value) -> list[str]:
    """Every `Get` reference inside a JSON value."""
    if isinstance(value, dict):
        found = [value["Get"]] if isinstance(value.get("Get"), str) else []
        return found + [ref for item in value.values() for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def test_scoring_steps_come_before_build_features(definition, fingpt_definition):
    top = [(s["Name"], s["Type"]) for s in definition["Steps"]]
    assert top[:2] == [("ScoreSentimentFinBERT", "Processing"), ("BuildFeatures", "Processing")]
    top = [(s["Name"], s["Type"]) for s in fingpt_definition["Steps"]]
    assert top[:3] == [("ScoreSentimentFinGPT", "Training"), ("ScoreSentimentFinBERT", "Processing"),
                       ("BuildFeatures", "Processing")]


def test_fingpt_is_a_definition_time_choice_not_a_run_time_parameter(definition, fingpt_definition):
    for built in (definition, fingpt_definition):
        assert "UseFinGPT" not in {p["Name"] for p in built["Parameters"]}
        assert not set(_by_name(built["Steps"])) & {"FinGPTGate", "SkipFinGPT"}


def test_with_fingpt_finbert_reads_fingpt_scores_through_a_property_of_the_fingpt_step(fingpt_definition):
    finbert = _by_name(fingpt_definition["Steps"])["ScoreSentimentFinBERT"]
    fingpt_input = _inputs(finbert)["fingpt"]
    assert fingpt_input == {"Std:Join": {"On": "/", "Values": [
        {"Get": "Steps.ScoreSentimentFinGPT.CheckpointConfig.S3Uri"}, "scores"]}}
    arguments = finbert["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--fingpt") + 1] == "/opt/ml/processing/input/fingpt"
    assert "DependsOn" not in finbert  # the data dependency orders them; nothing else is needed


def test_with_fingpt_no_step_of_the_sentiment_stage_depends_on_a_condition_step(fingpt_definition):
    steps = _by_name(fingpt_definition["Steps"])
    conditions = {name for name, step in steps.items() if step["Type"] == "Condition"}
    for name in ("ScoreSentimentFinGPT", "ScoreSentimentFinBERT"):
        step = steps[name]
        assert not set(step.get("DependsOn", [])) & conditions, name
        assert not {ref.split(".")[1] for ref in _references(step) if ref.startswith("Steps.")} & conditions, name
    # Both are top-level steps, inside no branch
    assert {"ScoreSentimentFinGPT", "ScoreSentimentFinBERT"} <= {s["Name"] for s in fingpt_definition["Steps"]}


def test_without_fingpt_no_fingpt_step_exists_and_finbert_has_no_fingpt_input(definition):
    steps = _by_name(definition["Steps"])
    assert not [name for name in steps if "FinGPT" in name]
    finbert = steps["ScoreSentimentFinBERT"]
    assert "fingpt" not in _inputs(finbert)
    assert "--fingpt" not in finbert["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert not any("FinGPT" in ref for ref in _references(finbert))


def test_fingpt_job_is_managed_spot_with_per_execution_checkpoints_and_capacity_retry(fingpt_definition):
    job = _by_name(fingpt_definition["Steps"])["ScoreSentimentFinGPT"]
    args = job["Arguments"]
    assert args["EnableManagedSpotTraining"] is True
    assert args["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert args["StoppingCondition"] == {"MaxRuntimeInSeconds": 14400, "MaxWaitTimeInSeconds": 28800}
    # Per execution: a resumed spot job finds its own progress, never another execution's
    assert args["CheckpointConfig"] == {"LocalPath": "/opt/ml/checkpoints", "S3Uri": _fingpt_checkpoints()}
    assert args["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "steps.sentiment.fingpt"]
    assert "--checkpoint" in args["AlgorithmSpecification"]["ContainerArguments"]
    channels = {c["ChannelName"] for c in args["InputDataConfig"]}
    assert channels == {"tweets", "model", "code", "cache"}
    retried = {e for policy in job["RetryPolicies"] for e in policy["ExceptionType"]}
    assert "SageMaker.CAPACITY_ERROR" in retried


def test_finbert_reads_raw_tweets_and_feeds_features_and_leaks(definition, fingpt_definition):
    for built in (definition, fingpt_definition):
        steps = _by_name(built["Steps"])
        finbert = steps["ScoreSentimentFinBERT"]
        assert _inputs(finbert)["tweets"] == {"Get": "Parameters.TweetsDataUrl"}
        assert finbert["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == [
            "python3", "-m", "steps.sentiment.finbert"]
        scored = {"Get": "Steps.ScoreSentimentFinBERT.ProcessingOutputConfig.Outputs['tweets'].S3Output.S3Uri"}
        for consumer in ("BuildFeatures", "LeakTests"):
            assert _inputs(steps[consumer])["tweets"] == scored


def test_default_definition_has_no_sentiment_steps():
    definition = json.loads(definition_json(get_pipeline(load_config())))
    names = set(_by_name(definition["Steps"]))
    assert not names & {"ScoreSentimentFinBERT", "ScoreSentimentFinGPT"}


@pytest.mark.parametrize("how, env_extra, first_steps", [
    (["--twitter-sentiment"], {}, ["ScoreSentimentFinBERT", "BuildFeatures"]),
    ([], {"TWITTER_SENTIMENT": "1"}, ["ScoreSentimentFinBERT", "BuildFeatures"]),
    (["--twitter-sentiment", "--fingpt"], {}, ["ScoreSentimentFinGPT", "ScoreSentimentFinBERT"]),
    ([], {"FINGPT": "1"}, ["ScoreSentimentFinGPT", "ScoreSentimentFinBERT"]),  # FinGPT implies sentiment
])
def test_upsert_dry_run_with_the_switch(how, env_extra, first_steps, tmp_path):
    import os

    environ = {k: v for k, v in os.environ.items() if k not in {"TWITTER_SENTIMENT", "FINGPT"}}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.upsert", "--dry-run", *how, "--output", str(tmp_path / "p.json")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False, env={**environ, **env_extra},
    )
    assert result.returncode == 0, result.stderr
    steps = json.loads((tmp_path / "p.json").read_text())["Steps"]
    assert [step["Name"] for step in steps[:2]] == first_steps


def test_fingpt_switch_and_env_var_set_the_config():
    import argparse

    from pipelines.cli_options import add_config_arguments, resolve_legacy_options

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    assert "FinGPT GPU spot job" in parser.format_help()
    for argv, environ in ((["--fingpt"], {}), ([], {"FINGPT": "1"})):
        config = load_config(overrides=resolve_legacy_options(parser.parse_args(argv), environ=environ).overrides)
        assert config.sentiment.enabled and config.sentiment.fingpt.enabled
    config = load_config(overrides=resolve_legacy_options(parser.parse_args([]), environ={}).overrides or None)
    assert not config.sentiment.fingpt.enabled


@pytest.mark.parametrize("switches", [["--twitter-sentiment"], ["--twitter-sentiment", "--fingpt"]])
def test_definition_with_sentiment_passes_the_lint(switches):
    result = subprocess.run([sys.executable, "-m", "pipelines.lint", *switches], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


CACHE_URI = "s3://conviction-ml-artifacts/conviction-pipelines/sentiment/cache"


def test_finbert_reads_and_writes_the_score_cache_under_the_project_prefix_not_per_execution(fingpt_definition):
    steps = _by_name(fingpt_definition["Steps"])
    finbert = steps["ScoreSentimentFinBERT"]
    assert _inputs(finbert)["cache"] == CACHE_URI
    outputs = {o["OutputName"]: o["S3Output"] for o in finbert["Arguments"]["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["cache"] == {"LocalPath": "/opt/ml/processing/output/cache", "S3UploadMode": "EndOfJob",
                                "S3Uri": CACHE_URI}
    arguments = finbert["Arguments"]["AppSpecification"]["ContainerArguments"]
    for flag, value in (("--cache", "/opt/ml/processing/input/cache"),
                        ("--cache-out", "/opt/ml/processing/output/cache"),
                        ("--resource-config", "/opt/ml/config/resourceconfig.json")):
        assert arguments[arguments.index(flag) + 1] == value
    # Its TweetsDataUrl prefix grows under the same arguments: a SageMaker cache hit would serve stale scores
    assert "CacheConfig" not in finbert
    fingpt_channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]
                       for c in steps["ScoreSentimentFinGPT"]["Arguments"]["InputDataConfig"]}
    assert fingpt_channels["cache"]["S3Uri"] == CACHE_URI


def test_the_cache_prefix_is_never_empty_its_readme_ships_with_the_code():
    from pipelines.local.runner import build_definition

    for fingpt in (False, True):
        _, uploads = build_definition(load_config(overrides={"sentiment": {"enabled": True,
                                                                           "fingpt": {"enabled": fingpt}}}))
        readme = [u for u in uploads if u.s3_uri == f"{CACHE_URI}/README.txt"]
        assert len(readme) == 1 and b"Safe to delete" in readme[0].body


def test_scoring_is_sharded_over_instances_by_tweet_object():
    config = load_config(overrides={"sentiment": {"enabled": True, "finbert": {"instance_count": 4},
                                                  "fingpt": {"enabled": True, "instance_count": 2}}})
    steps = _by_name(json.loads(definition_json(get_pipeline(config)))["Steps"])
    finbert = steps["ScoreSentimentFinBERT"]["Arguments"]
    assert finbert["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 4
    tweets = next(i["S3Input"] for i in finbert["ProcessingInputs"] if i["InputName"] == "tweets")
    assert tweets["S3DataDistributionType"] == "ShardedByS3Key"
    cache = next(i["S3Input"] for i in finbert["ProcessingInputs"] if i["InputName"] == "cache")
    assert cache["S3DataDistributionType"] == "FullyReplicated"  # every instance looks up its own tweets
    fingpt = steps["ScoreSentimentFinGPT"]["Arguments"]
    assert fingpt["ResourceConfig"]["InstanceCount"] == 2
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in fingpt["InputDataConfig"]}
    assert channels["tweets"]["S3DataDistributionType"] == "ShardedByS3Key"


def test_with_the_cache_off_there_is_no_cache_input_or_output():
    config = load_config(overrides={"sentiment": {"enabled": True, "cache": False, "fingpt": {"enabled": True}}})
    steps = _by_name(json.loads(definition_json(get_pipeline(config)))["Steps"])
    assert "cache" not in _inputs(steps["ScoreSentimentFinBERT"])
    assert "--cache" not in steps["ScoreSentimentFinBERT"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert "cache" not in {c["ChannelName"] for c in steps["ScoreSentimentFinGPT"]["Arguments"]["InputDataConfig"]}
