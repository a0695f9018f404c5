"""pipelines.lint: one test per rule with a definition that violates it; the default config passes."""

from __future__ import annotations

import copy
import json
import re

import pytest

from pipelines import lint, upsert
from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline

KMS = "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555"
VPC = {"subnets": ["subnet-0a1b2c3d"], "security_group_ids": ["sg-0a1b2c3d"]}


def _build(overrides=None):
    config = load_config(overrides=overrides)
    return config, json.loads(definition_json(get_pipeline(config)))


@pytest.fixture(scope="module")
def default():
    return _build()


def _rules(violations) -> set[tuple[str, str]]:
    return {(v.step, v.rule) for v in violations}


def _job_steps(definition):
    return [s for s in lint.iter_steps(definition["Steps"]) if s["Type"] in lint.JOB_TYPES]


def test_default_config_passes(default):
    config, definition = default
    assert lint.lint_definition(definition, config) == []
    assert lint.main([]) == 0


def test_kms_configured_but_missing_is_flagged_for_every_job_step(default):
    _, plain = default
    config, encrypted = _build({"security": {"kms_key_id": KMS}})
    violations = lint.lint_definition(plain, config)
    assert {step for step, rule in _rules(violations) if rule == "kms"} == {s["Name"] for s in _job_steps(plain)}
    assert lint.lint_definition(encrypted, config) == []


def test_vpc_and_isolation_configured_but_missing_are_flagged(default):
    _, plain = default
    config, inside = _build({"security": {**VPC, "network_isolation": True}})
    rules = _rules(lint.lint_definition(plain, config))
    assert ("BuildFeatures", "vpc") in rules
    assert any(step.startswith("Tune-") and rule == "vpc" for step, rule in rules)
    assert lint.lint_definition(inside, config) == []


def test_spot_training_needs_a_checkpoint_and_max_wait(default):
    config, definition = default
    spot = copy.deepcopy(definition)
    tuning = next(s for s in _job_steps(spot) if s["Type"] == "Tuning")
    job = tuning["Arguments"]["TrainingJobDefinition"]
    job["EnableManagedSpotTraining"] = True
    found = lint.lint_definition(spot, config)
    assert [v.rule for v in found if "CheckpointConfig" in v.message] == ["spot"]  # the policy: work is lost
    assert [v.rule for v in found if "MaxWaitTimeInSeconds" in v.message] == ["stopping"]  # the service rule, once
    job["CheckpointConfig"] = {"S3Uri": "s3://bucket/checkpoints"}
    job["StoppingCondition"]["MaxWaitTimeInSeconds"] = 7200
    assert lint.lint_definition(spot, config) == []


def test_instance_type_outside_the_allowed_list_is_flagged():
    config, definition = _build({"instances": {"processing": "ml.p4d.24xlarge"}})
    violations = [v for v in lint.lint_definition(definition, config) if v.rule == "instances"]
    assert violations and all("ml.p4d.24xlarge" in v.message for v in violations)
    assert {v.step for v in violations} >= {"BuildFeatures", "LeakTests"}


def test_plain_text_secrets_are_flagged_but_secret_ids_are_not(default):
    config, definition = default
    leaky = copy.deepcopy(definition)
    features = next(s for s in _job_steps(leaky) if s["Name"] == "BuildFeatures")
    features["Arguments"]["Environment"]["TWITTER_BEARER_TOKEN"] = "AAAAAAAAAAAAAAAAAAAAA" + "x" * 60
    features["Arguments"]["Environment"]["DB_PASSWORD"] = "correct horse battery staple"
    features["Arguments"]["Environment"]["TWITTER_SECRET_ID"] = "conviction/twitter/bearer"
    features["Arguments"]["AppSpecification"]["ContainerArguments"] += ["--aws-key", "AKIAABCDEFGHIJKLMNOP"]
    found = [v for v in lint.lint_definition(leaky, config) if v.rule == "secrets"]
    text = " ".join(v.message for v in found)
    assert len(found) == 3
    assert "TWITTER_BEARER_TOKEN" in text and "DB_PASSWORD" in text and "aws-key" in text
    assert "TWITTER_SECRET_ID" not in text
    assert "x" * 20 not in text and "AKIAABCDEFGHIJKLMNOP" not in text  # never echo the secret itself


def test_caching_off_is_flagged_unless_declared_nondeterministic(default):
    config, definition = default
    uncached = copy.deepcopy(definition)
    next(s for s in _job_steps(uncached) if s["Name"] == "LeakTests")["CacheConfig"]["Enabled"] = False
    assert _rules(lint.lint_definition(uncached, config)) == {("LeakTests", "caching")}
    exempt = load_config(overrides={"caching": {"nondeterministic_steps": ["LeakTests"]}})
    assert lint.lint_definition(uncached, exempt) == []


def test_cli_exits_1_with_one_line_per_violation(tmp_path, capsys, default):
    _, plain = default
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(plain))
    assert lint.main(["--definition", str(path), "--set", f"security.kms_key_id={KMS}"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 * len(_job_steps(plain))
    assert all(": kms: " in line for line in lines)


def test_upsert_refuses_to_publish_a_violating_definition(aws_endpoint, capsys):
    code = upsert.main(["--endpoint-url", aws_endpoint, "--set", "instances.processing=ml.p4d.24xlarge"])
    assert code == 1
    assert "lint violation(s); nothing published" in capsys.readouterr().err


def test_the_fingpt_job_is_encrypted_and_isolated_as_every_other_job():
    overrides = {"sentiment": {"enabled": True, "fingpt": {"enabled": True}},
                 "security": {"kms_key_id": KMS, **VPC, "network_isolation": True}}  # fmt: skip
    config, definition = _build(overrides)
    assert "ScoreSentimentFinGPT" in {s["Name"] for s in _job_steps(definition)}
    assert lint.lint_definition(definition, config) == []


@pytest.mark.parametrize(
    ("definition", "says"),
    [
        ([], "must be a JSON object"),
        ({"Steps": {}}, "Steps must be a list"),
        ({"Steps": [1]}, "a step must be a JSON object"),
        ({"Steps": [{"Name": "A", "Type": "Processing", "Arguments": []}]}, "Arguments must be an object"),
        ({"Steps": [{"Name": "A", "Type": "Fail"}], "Parameters": [3]}, "Parameters[0] must be an object"),
        ({"Steps": [{"Name": "A", "Type": "Condition", "Arguments": {"IfSteps": {}}}]}, "IfSteps must be a list"),
    ],
)
def test_a_malformed_definition_is_one_violation_not_a_traceback(default, definition, says, tmp_path):
    from pipelines.local.errors import LocalRunError
    from pipelines.local.executor import PipelineExecution, RunOptions

    config, _ = default
    violations = lint.lint_definition(definition, config)
    assert [(v.step, v.rule) for v in violations] == [("(definition)", "shape")]
    assert says in violations[0].message
    with pytest.raises(LocalRunError, match=re.escape(says)):
        PipelineExecution(definition, RunOptions(run_dir=tmp_path))


def test_a_member_of_the_wrong_type_is_a_request_violation_not_a_traceback(default):
    config, _ = default
    definition = {"Steps": [{"Name": "A", "Type": "Processing", "Arguments": {"ProcessingResources": 5}}]}
    found = [str(v) for v in lint.lint_definition(definition, config)]
    expected = "A: request: CreateProcessingJob ProcessingResources: expected a structure (dict), got int (value 5)"
    assert expected in found
