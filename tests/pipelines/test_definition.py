"""The definition is data: test it as data (structure, parameters, gates), offline and deterministic."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.client
import pytest

from pipelines.config import load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.session import OfflinePipelineSession

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def definition(config) -> dict:
    return json.loads(definition_json(get_pipeline(config)))


def _steps_by_name(steps: list[dict]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for step in steps:
        found[step["Name"]] = step
        if step["Type"] == "Condition":
            found.update(_steps_by_name(step["Arguments"]["IfSteps"]))
            found.update(_steps_by_name(step["Arguments"]["ElseSteps"]))
    return found


def _names(steps: list[dict]) -> list[str]:
    return [s["Name"] for s in steps]


def test_top_level_chain_and_branches(definition):
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("BuildFeatures", "Processing"),
        ("LeakTests", "Processing"),
        ("LeakGate", "Condition"),
    ]
    leak_gate = definition["Steps"][2]["Arguments"]
    assert _names(leak_gate["IfSteps"]) == ["Tune-xgboost", "Evaluate-xgboost", "Gate-xgboost"]
    assert _names(leak_gate["ElseSteps"]) == ["Fail-leaks"]
    model_gate = leak_gate["IfSteps"][2]["Arguments"]
    assert [(s["Name"], s["Type"]) for s in model_gate["IfSteps"]] == [("Register-RegisterModel", "RegisterModel")]
    assert [(s["Name"], s["Type"]) for s in model_gate["ElseSteps"]] == [("Fail-xgboost", "Fail")]


def test_typed_parameters_with_config_defaults(definition):
    params = {p["Name"]: (p["Type"], p.get("DefaultValue")) for p in definition["Parameters"]}
    assert params == {
        "InputDataUrl": ("String", "s3://conviction-ml-artifacts/data/bars/"),
        "TweetsDataUrl": ("String", "s3://conviction-ml-artifacts/data/tweets/"),
        "IncludeSentiment": ("Boolean", True),
        "MinModelAUC": ("Float", 0.6),
        "MinEnsembleAUC": ("Float", 0.62),
        "ModelApprovalStatus": ("String", "PendingManualApproval"),
        "MaxTuningJobs": ("Integer", 20),
        "MaxParallelJobs": ("Integer", 2),
        "ProcessingInstanceType": ("String", "ml.m5.xlarge"),
        "TrainingInstanceType": ("String", "ml.m5.xlarge"),
    }


def test_leak_gate_reads_passed_from_the_leak_report(definition):
    steps = _steps_by_name(definition["Steps"])
    assert steps["LeakTests"]["PropertyFiles"] == [
        {"FilePath": "leak_report.json", "OutputName": "leaks", "PropertyFileName": "LeakReport"}
    ]
    assert steps["LeakGate"]["Arguments"]["Conditions"] == [
        {
            "Type": "Equals",
            "LeftValue": {
                "Std:JsonGet": {"Path": "passed", "PropertyFile": {"Get": "Steps.LeakTests.PropertyFiles.LeakReport"}}
            },
            "RightValue": True,
        }
    ]


def test_model_gate_compares_holdout_auc_with_the_parameter_and_fail_message_carries_both(definition):
    steps = _steps_by_name(definition["Steps"])
    auc = {
        "Std:JsonGet": {
            "Path": "binary_classification_metrics.auc.value",
            "PropertyFile": {"Get": "Steps.Evaluate-xgboost.PropertyFiles.Evaluation-xgboost"},
        }
    }
    assert steps["Gate-xgboost"]["Arguments"]["Conditions"] == [
        {"Type": "GreaterThanOrEqualTo", "LeftValue": auc, "RightValue": {"Get": "Parameters.MinModelAUC"}}
    ]
    message = steps["Fail-xgboost"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert auc in message and {"Get": "Parameters.MinModelAUC"} in message
    assert any("xgboost" in part for part in message if isinstance(part, str))


def test_tuning_step_is_bayesian_on_validation_auc_with_the_yaml_ranges(definition, config):
    tuning = _steps_by_name(definition["Steps"])["Tune-xgboost"]["Arguments"]
    job = tuning["HyperParameterTuningJobConfig"]
    assert job["Strategy"] == "Bayesian"
    assert job["HyperParameterTuningJobObjective"] == {"MetricName": "validation:auc", "Type": "Maximize"}
    assert job["TrainingJobEarlyStoppingType"] == "Auto"
    assert job["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": {"Get": "Parameters.MaxTuningJobs"},
        "MaxParallelTrainingJobs": {"Get": "Parameters.MaxParallelJobs"},
    }
    ranges = job["ParameterRanges"]
    declared = {r["Name"]: r for kind in ranges.values() for r in kind}
    assert set(declared) == set(config.hpo["xgboost"].ranges)
    assert declared["eta"] == {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.3", "ScalingType": "Logarithmic"}
    assert declared["max_depth"] in ranges["IntegerParameterRanges"]
    definition_ = tuning["TrainingJobDefinition"]
    assert definition_["StaticHyperParameters"]["algorithm"] == "xgboost"
    assert definition_["StaticHyperParameters"]["early_stopping_rounds"] == "50"
    regexes = {m["Name"]: m["Regex"] for m in definition_["AlgorithmSpecification"]["MetricDefinitions"]}
    import re

    assert float(re.search(regexes["validation:auc"], "fold 3 done\nvalidation:auc=0.6123\n").group(1)) == 0.6123
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition_["InputDataConfig"]}
    assert channels["train"] == {"Get": "Steps.BuildFeatures.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"}
    assert channels["code"].startswith("s3://conviction-ml-artifacts/conviction-pipelines/code/")


def test_every_job_step_caches_and_retries_throttling_and_capacity(definition):
    jobs = [s for s in _steps_by_name(definition["Steps"]).values() if s["Type"] in {"Processing", "Tuning"}]
    assert len(jobs) == 4
    for step in jobs:
        assert step["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}, step["Name"]
        retried = {e for policy in step["RetryPolicies"] for e in policy["ExceptionType"]}
        assert {"Step.THROTTLING", "SageMaker.CAPACITY_ERROR"} <= retried, step["Name"]


def test_processing_steps_run_the_step_modules_from_the_code_input(definition):
    steps = _steps_by_name(definition["Steps"])
    entrypoints = {
        name: steps[name]["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
        for name in ("BuildFeatures", "LeakTests", "Evaluate-xgboost")
    }
    assert entrypoints == {
        "BuildFeatures": ["python3", "-m", "steps.features"],
        "LeakTests": ["python3", "-m", "steps.leaks"],
        "Evaluate-xgboost": ["python3", "-m", "steps.evaluate"],
    }
    for name in entrypoints:
        arguments = steps[name]["Arguments"]
        assert arguments["Environment"]["PYTHONPATH"] == "/opt/ml/processing/input/code"
        inputs = {i["InputName"]: i["S3Input"]["LocalPath"] for i in arguments["ProcessingInputs"]}
        assert inputs["code"] == "/opt/ml/processing/input/code"


def test_every_step_module_the_definition_names_exists(definition):
    import importlib.util

    for step in _steps_by_name(definition["Steps"]).values():
        if step["Type"] == "Processing":
            module = step["Arguments"]["AppSpecification"]["ContainerEntrypoint"][2]
            assert importlib.util.find_spec(module) is not None, module


def test_register_uses_best_tuning_job_and_evaluation_metrics(definition):
    register = _steps_by_name(definition["Steps"])["Register-RegisterModel"]["Arguments"]
    container = register["InferenceSpecification"]["Containers"][0]
    assert {"Get": "Steps.Tune-xgboost.TrainingJobSummaries[0].TrainingJobName"} in container["ModelDataUrl"][
        "Std:Join"
    ]["Values"]
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert register["ModelPackageGroupName"] == "conviction-direction"
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["S3Uri"]["Std:Join"]["Values"][-1] == "evaluation.json"


def test_building_makes_no_aws_call_and_opens_no_socket(config, monkeypatch):
    calls: list[str] = []

    def refuse_call(*args, **kwargs):
        calls.append(kwargs.get("event_name", "call"))
        raise AssertionError(f"AWS call while building: {kwargs.get('event_name')}")

    def refuse_api(self, operation_name, api_params):
        calls.append(operation_name)
        raise AssertionError(f"AWS API call while building: {operation_name}")

    def refuse_connect(self, address):
        calls.append(f"connect {address}")
        raise AssertionError(f"network connection while building: {address}")

    boto_session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    boto_session.events.register("before-call.*.*", refuse_call)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse_api)
    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    session = OfflinePipelineSession(config, boto_session=boto_session)
    definition = json.loads(definition_json(get_pipeline(config, session)))
    assert calls == []
    assert definition["Steps"]
    # The code bundle was recorded for upsert to perform, not uploaded.
    assert any(u.s3_uri.endswith("steps/train/__main__.py") for u in session.pending_uploads)


def test_two_builds_are_byte_identical_even_across_processes(config):
    first = definition_json(get_pipeline(config))
    second = definition_json(get_pipeline(config))
    assert first == second
    script = (
        "from pipelines.config import load_config; from pipelines.definition import definition_json, get_pipeline;"
        "import sys; sys.stdout.write(definition_json(get_pipeline(load_config())))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        timeout=120,
    ).stdout
    assert other == first


def test_code_change_moves_the_code_uri(tmp_path):
    from pipelines.code_bundle import build_code_bundle

    (tmp_path / "steps").mkdir()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "universe.csv").write_text("ticker,sector\n")
    (tmp_path / "steps" / "a.py").write_text("x = 1\n")
    before = build_code_bundle("s3://b/p", tmp_path)
    assert build_code_bundle("s3://b/p", tmp_path) == before
    (tmp_path / "steps" / "a.py").write_text("x = 2\n")
    after = build_code_bundle("s3://b/p", tmp_path)
    assert after.s3_uri != before.s3_uri and after.s3_uri.startswith("s3://b/p/code/")
