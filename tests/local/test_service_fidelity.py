"""Local green means cloud green: a definition SageMaker would refuse or race is refused by lint and by the
runner, naming the step, the field and the rule; and steps run concurrently with the same results as one at
a time."""

from __future__ import annotations

import copy
import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import load_config
from pipelines.lint import iter_steps, lint_definition
from pipelines.local.errors import DefinitionRefused
from pipelines.local.executor import PipelineExecution, RunOptions
from pipelines.local.record import most_trials_in_flight
from pipelines.local.runner import build_definition

EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}


def _step(definition: dict[str, Any], name: str) -> dict[str, Any]:
    return next(step for step in iter_steps(definition["Steps"]) if step["Name"] == name)


def _lint(definition, config) -> list[str]:
    return [str(v) for v in lint_definition(definition, config)]


# -- request rules: refused by lint before publishing and by the runner when the step would start -------------
def _plant_in_build_features(definition, plant) -> dict[str, Any]:
    changed = copy.deepcopy(definition)
    plant(_step(changed, "BuildFeatures")["Arguments"])
    return changed


REQUEST_PLANTS = {
    "enum": (
        lambda a: a["ProcessingResources"]["ClusterConfig"].__setitem__("InstanceType", "ml.z9.huge"),
        "ProcessingResources.ClusterConfig.InstanceType",
        "one of",
    ),
    "max length": (
        lambda a: a.setdefault("Environment", {}).__setitem__("LONG", "x" * 300),
        "Environment['LONG']",
        "at most 256",
    ),
    "missing required member": (
        lambda a: a["AppSpecification"].pop("ImageUri"),
        "AppSpecification.ImageUri",
        "required",
    ),
    "too many list items": (
        lambda a: a.__setitem__("ProcessingInputs", [
            {**a["ProcessingInputs"][0], "InputName": f"in{i}"} for i in range(11)
        ]),
        "ProcessingInputs",
        "at most 10",
    ),
    "pattern": (
        lambda a: a.setdefault("Environment", {}).__setitem__("BAD KEY!", "x"),
        "Environment",
        "pattern",
    ),
}


@pytest.mark.parametrize("rule", sorted(REQUEST_PLANTS))
def test_a_request_sagemaker_would_refuse_is_refused_by_lint_and_by_the_runner(
    run_definition, rule, quick_config, quick_definition, tmp_path
):
    plant, field, rule_text = REQUEST_PLANTS[rule]
    changed = _plant_in_build_features(quick_definition, plant)

    # lint (and so upsert) refuses it, naming the step, the field and the rule
    found = [line for line in _lint(changed, quick_config) if line.startswith("BuildFeatures: request:")]
    assert found, _lint(changed, quick_config)
    assert any(field in line and rule_text in line for line in found), found

    # the runner fails that step as a ValidationException, before the job starts, and runs nothing after it
    run = run_definition(quick_config, changed, tmp_path / "runs")
    step = run.record.steps["BuildFeatures"]
    assert run.result.exit_code == 1
    assert step.status == "Failed"
    assert step.failure_reason.startswith("ValidationException: CreateProcessingJob")
    assert field in step.failure_reason and rule_text in step.failure_reason
    assert not (run.record.path.parent / "jobs").exists()  # no job was started
    assert run.record.steps["LeakTests"].status == "NotStarted"


def test_model_package_metadata_with_a_comma_is_refused_before_registering(
    run_definition, quick_config, quick_definition, tmp_path
):
    changed = copy.deepcopy(quick_definition)
    _step(changed, "Register-RegisterModel")["Arguments"]["CustomerMetadataProperties"]["algorithms"] = "a,b"

    assert any(
        line.startswith("Register-RegisterModel: request: CreateModelPackage")
        and "CustomerMetadataProperties['algorithms']" in line
        and "pattern" in line
        for line in _lint(changed, quick_config)
    )
    run = run_definition(quick_config, changed, tmp_path / "runs")
    step = run.record.steps["Register-RegisterModel"]
    assert step.status == "Failed" and run.result.exit_code == 1
    assert "CustomerMetadataProperties['algorithms']" in step.failure_reason and "pattern" in step.failure_reason
    assert run.record.model_package_arn is None


def test_a_run_time_parameter_value_is_validated_where_it_is_used(
    run_definition, quick_config, quick_definition, tmp_path
):
    # the default passes lint; the value given to this run is what SageMaker would see, and it is refused
    names = {p["Name"] for p in quick_definition["Parameters"]}
    parameter = "ProcessingInstanceType"
    if parameter not in names:
        pytest.skip("the definition has no ProcessingInstanceType parameter")
    assert not [line for line in _lint(quick_definition, quick_config) if ": request:" in line]
    # without the definition's own guard (EnumValues from security.allowed_instance_types, which refuses the
    # value at start: tests/pipelines/test_parameter_policy.py), the request check is what catches it
    unguarded = copy.deepcopy(quick_definition)
    for declared in unguarded["Parameters"]:
        if declared["Name"] == parameter:
            declared.pop("EnumValues", None)
    run = run_definition(quick_config, unguarded, tmp_path / "runs", parameters={parameter: "ml.z9.huge"})
    assert run.record.steps["BuildFeatures"].status == "Failed"
    assert "InstanceType" in run.record.steps["BuildFeatures"].failure_reason


# -- definition rules: refused before anything runs ---------------------------------------------------------------
def _add_input(arguments: dict[str, Any], name: str, uri: Any) -> None:
    template = arguments["ProcessingInputs"][0]
    arguments["ProcessingInputs"].append(
        {**template, "InputName": name, "S3Input": {**template["S3Input"], "S3Uri": uri,
                                                      "LocalPath": f"/opt/ml/processing/input/{name}"}}
    )


def _refusals(changed, config, tmp_path) -> tuple[list[str], str]:
    lint_lines = _lint(changed, config)
    with pytest.raises(DefinitionRefused) as refused:
        PipelineExecution(changed, RunOptions(run_dir=tmp_path / "runs"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing ran
    return lint_lines, str(refused.value)


def test_a_property_the_step_type_does_not_have_is_refused(quick_config, quick_definition, tmp_path):
    changed = copy.deepcopy(quick_definition)
    _add_input(_step(changed, "LeakTests")["Arguments"], "model",
               {"Get": "Steps.BuildFeatures.ModelArtifacts.S3ModelArtifacts"})

    lint_lines, refused = _refusals(changed, quick_config, tmp_path)
    for text in (lint_lines, [refused]):
        assert any(
            "LeakTests: property:" in line and "Steps.BuildFeatures.ModelArtifacts.S3ModelArtifacts" in line
            and "not a property of Processing step BuildFeatures" in line
            for line in text
        ), text


def test_reading_another_steps_execution_output_without_depending_on_it_is_a_race(
    quick_config, quick_definition, tmp_path
):
    changed = copy.deepcopy(quick_definition)
    racing = {"Std:Join": {"On": "/", "Values": ["s3://bucket/executions", EXECUTION_ID, "LeakTests", "leaks"]}}
    _add_input(_step(changed, "BuildFeatures")["Arguments"], "leaks", racing)

    lint_lines, refused = _refusals(changed, quick_config, tmp_path)
    for text in (lint_lines, [refused]):
        assert any(
            "BuildFeatures: race:" in line and "ProcessingInputs[" in line and "does not depend on LeakTests" in line
            for line in text
        ), text


def test_the_same_read_after_a_dependency_is_not_a_race(quick_config, quick_definition):
    changed = copy.deepcopy(quick_definition)
    reading = {"Std:Join": {"On": "/", "Values": ["s3://bucket/executions", EXECUTION_ID, "BuildFeatures", "x"]}}
    _add_input(_step(changed, "LeakTests")["Arguments"], "features2", reading)  # LeakTests reads BuildFeatures
    assert not [line for line in _lint(changed, quick_config) if ": race:" in line]


def test_a_reference_into_another_condition_branch_is_refused(quick_config, quick_definition, tmp_path):
    changed = copy.deepcopy(quick_definition)
    changed["Steps"].append({
        "Name": "Notify", "Type": "Fail", "DependsOn": ["Register-RegisterModel"],
        "Arguments": {"ErrorMessage": "registered"},
    })

    lint_lines, refused = _refusals(changed, quick_config, tmp_path)
    for text in (lint_lines, [refused]):
        assert any(
            "Notify: branch:" in line and "Register-RegisterModel" in line and "Gate-final's IfSteps" in line
            for line in text
        ), text


def test_step_names_are_held_to_the_services_pattern_and_length(quick_config, quick_definition, tmp_path):
    changed = copy.deepcopy(quick_definition)
    changed["Steps"].append({"Name": "Notify me!", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}})
    changed["Steps"].append({"Name": "N" * 65, "Type": "Fail", "Arguments": {"ErrorMessage": "x"}})
    lint_lines, refused = _refusals(changed, quick_config, tmp_path)
    assert sum(": names: step Name must match" in line for line in lint_lines) == 2
    assert "Notify me!" in refused


def test_the_fullest_configuration_passes_lint():
    config = load_config(
        profile="quick",
        overrides={
            "algorithms": ["xgboost", "catboost", "lightgbm", "gru"],
            "sentiment": {"enabled": True},
            "stability": {"enabled": True},
        },
    )
    definition, _ = build_definition(config)
    assert lint_definition(definition, config) == []


# -- concurrency: the same outputs, records and registered metadata whatever the order -----------------------------
def _digests(run_dir: Path, execution_id: str) -> dict[str, str]:
    """Every file a step wrote to the store, by its path, with the execution id (and the job-name suffix that
    comes from it) taken out; an archive by its members' names and contents (gzip and tar stamp times)."""
    root = run_dir / "s3"
    suffix = execution_id.rsplit("-", 1)[-1]

    def neutral(data: bytes) -> bytes:
        return data.replace(execution_id.encode(), b"<execution>").replace(suffix.encode(), b"<s>")

    found = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "/code/" in path.as_posix():
            continue
        digest = hashlib.sha256()
        if path.name.endswith(".tar.gz"):
            with tarfile.open(path) as archive:
                for member in sorted(archive.getmembers(), key=lambda m: m.name):
                    digest.update(member.name.encode() + b"\0")
                    if member.isfile():
                        digest.update(neutral(archive.extractfile(member).read()))
        else:
            digest.update(neutral(path.read_bytes()))
        found[neutral(path.relative_to(root).as_posix().encode()).decode()] = digest.hexdigest()
    return found


def _comparable_record(record, execution_id: str) -> list[dict[str, Any]]:
    steps = []
    for step in record.steps.values():
        text = json.dumps(
            {"name": step.name, "status": step.status, "properties": step.properties, "outputs": step.outputs,
             "metrics": step.metrics, "arguments": step.arguments, "cache_hit": step.cache_hit},
            sort_keys=True, default=str,
        )
        text = text.replace(execution_id, "<execution>").replace(execution_id.rsplit("-", 1)[-1], "<suffix>")
        steps.append(json.loads(text))
    return steps


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_times(v) for k, v in value.items()
            if k not in {"seconds", "TrainingStartTime", "TrainingEndTime", "log", "CreationTime", "LastModifiedTime"}
        }
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def test_one_step_at_a_time_and_concurrent_runs_give_identical_outputs_records_and_metadata(run_definition, tmp_path):
    config = load_config(profile="quick", overrides={"algorithms": ["xgboost", "lightgbm"]})
    definition, _ = build_definition(config)
    runs = {}
    for max_parallel in (1, 4):
        run_dir = tmp_path / f"parallel-{max_parallel}"
        run = run_definition(config, definition, run_dir, use_cache=False, max_trials=4, max_parallel=max_parallel)
        assert run.result.exit_code == 0, run.lines
        execution_id = run.record.execution_id
        from pipelines.emulator import Emulator

        with Emulator(run_dir / ".emulator") as emulator:
            client = emulator.client("sagemaker")
            described = client.describe_model_package(ModelPackageName=run.record.model_package_arn)
            metadata = {
                k: v.replace(execution_id, "<execution>") for k, v in described["CustomerMetadataProperties"].items()
            }
        runs[max_parallel] = (
            _digests(run_dir, execution_id),
            _without_times(_comparable_record(run.record, execution_id)),
            metadata,
            run.lines,
            run.record,
        )
    one, many = runs[1], runs[4]
    assert one[0] == many[0]
    assert one[1] == many[1]
    assert one[2] == many[2]
    # and the jobs did overlap in the concurrent run, never in the one-at-a-time run
    assert most_trials_in_flight(runs[1][4]) == 1
    assert most_trials_in_flight(runs[4][4]) > 1


def test_after_a_step_fails_the_running_steps_end_and_nothing_new_starts(run_definition, tmp_path):
    # Given two tuning steps that run side by side, one of whose trials all fail (lightgbm has num_leaves)
    config = load_config(profile="quick", overrides={"algorithms": ["xgboost", "lightgbm"]})
    definition, _ = build_definition(config)
    run = run_definition(
        config, definition, tmp_path / "runs", control={"fail_with_hyperparameter": "num_leaves"}, max_parallel=4
    )

    # Then the failed step fails the execution, the other tuning job still runs to its end, and no step that
    # waits for both (the gate) ever starts
    assert run.result.exit_code == 1
    assert run.status("Tune-lightgbm") == "Failed"
    assert run.status("Tune-xgboost") == "Succeeded"
    assert run.status("Gate-models") == "NotStarted"
    assert run.record.failure_reason.startswith("Tune-lightgbm: every training job of tuning job")
    assert run.record.model_package_arn is None


def test_a_local_folder_parameter_is_read_through_an_s3_uri_the_request_can_carry(
    run_definition, quick_config, quick_definition, tmp_path
):
    # Given the bars in a local folder, named by a file:// URI (S3Input.S3Uri takes s3:// or https:// only)
    folder = tmp_path / "my bars"
    folder.mkdir()
    run = run_definition(
        quick_config, quick_definition, tmp_path / "runs", parameters={"InputDataUrl": folder.as_uri() + "/"}
    )

    # Then the run reads it through a link in the local store, and every request carried an s3:// URI
    assert run.result.exit_code == 0, run.lines
    uri = run.record.parameters["InputDataUrl"]
    assert uri.startswith("s3://local-inputs/inputdataurl-") and uri.endswith("/")
    assert (folder / "control.json").is_file()  # what the test planted went through the link into the folder
    inputs = run.record.steps["BuildFeatures"].arguments["ProcessingInputs"]
    assert all(item["S3Input"]["S3Uri"].startswith("s3://") for item in inputs)
    assert any(line.startswith(f"InputDataUrl {folder.as_uri()}/ is read as {uri}") for line in run.lines)


def test_a_local_folder_that_does_not_exist_is_a_one_line_error(quick_config, quick_definition, tmp_path):
    from pipelines.local.errors import LocalRunError

    missing = (tmp_path / "nowhere").as_uri() + "/"
    execution = PipelineExecution(
        copy.deepcopy(quick_definition), RunOptions(run_dir=tmp_path / "runs", parameters={"InputDataUrl": missing})
    )
    with pytest.raises(LocalRunError, match=f"--param InputDataUrl={missing}: no such folder"):
        execution.run()
    assert not (tmp_path / "nowhere").exists()  # nothing was created in the user's name


def test_an_empty_input_fails_the_step_as_sagemaker_does_saying_where_the_files_go(run_definition, tmp_path):
    # --twitter-sentiment with no exported FinBERT where sentiment.finbert.model_url points
    config = load_config(profile="quick", overrides={"sentiment": {"enabled": True}})
    definition, _ = build_definition(config)
    run = run_definition(config, definition, tmp_path / "runs")

    step = run.record.steps["ScoreSentimentFinBERT"]
    assert run.result.exit_code == 1 and step.status == "Failed"
    local = tmp_path / "runs" / "s3" / config.sentiment.finbert.model_url.removeprefix("s3://").rstrip("/")
    assert step.failure_reason.startswith(
        f"ClientError: no S3 objects found under {config.sentiment.finbert.model_url} (processing input 'model')"
    )
    assert str(local) in step.failure_reason
    assert f"python -m steps.sentiment.export --model <huggingface folder> --output {local}" in step.failure_reason
    assert run.record.steps["BuildFeatures"].status == "NotStarted"
