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

from pipelines.config import ConfigError, load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.lint import iter_steps
from pipelines.session import OfflinePipelineSession
from steps.evaluate.settings import EvaluateSettings
from steps.features.settings import FeatureCommand, FeatureRun
from steps.leaks.settings import LeakRun, LeakScreens, LeakSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def definition(config) -> dict:
    return json.loads(definition_json(get_pipeline(config)))


def _steps_by_name(steps: list[dict]) -> dict[str, dict]:
    """Every step by name, the branches of condition steps included."""
    return {step["Name"]: step for step in iter_steps(steps)}


def _names(steps: list[dict]) -> list[str]:
    return [s["Name"] for s in steps]


ZOO = ["xgboost", "catboost", "lightgbm", "gru"]


@pytest.fixture(scope="module")
def zoo_config():
    return load_config(overrides={"algorithms": ZOO})


@pytest.fixture(scope="module")
def zoo(zoo_config) -> dict:
    return json.loads(definition_json(get_pipeline(zoo_config)))


def _round_names(suffix: str, algorithms: list[str]) -> list[str]:
    return [
        *(f"Tune-{a}{suffix}" for a in algorithms),
        *(f"Evaluate-{a}{suffix}" for a in algorithms),
        f"Gate-plausible{suffix}",
    ]


def test_top_level_chain_and_branches(definition):
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("BuildFeatures", "Processing"),
        ("LeakTests", "Processing"),
        ("SealLockbox", "Processing"),
        ("LeakGate", "Condition"),
    ]
    leak_gate = definition["Steps"][3]["Arguments"]
    assert _names(leak_gate["IfSteps"]) == ["Tune-xgboost", "Evaluate-xgboost", "Gate-plausible"]
    assert _names(leak_gate["ElseSteps"]) == ["Fail-leaks"]


def test_each_round_gates_every_model_then_builds_checks_and_registers_the_ensemble(zoo, zoo_config):
    # Given all four algorithms and three tuning attempts
    assert zoo_config.gates.max_tuning_attempts == 3
    steps = _steps_by_name(zoo["Steps"])
    leak_gate = steps["LeakGate"]["Arguments"]
    assert _names(leak_gate["IfSteps"]) == _round_names("", ZOO)
    for suffix, next_suffix in (("", "-2"), ("-2", "-3"), ("-3", None)):
        # the round's AUCs are held to the plausible ceiling before Gate-models
        plausible = steps[f"Gate-plausible{suffix}"]["Arguments"]
        assert _names(plausible["IfSteps"]) == [f"Gate-models{suffix}"]
        assert _names(plausible["ElseSteps"]) == [f"Fail-implausible{suffix}"]
        gate = steps[f"Gate-models{suffix}"]["Arguments"]
        # passed: the round's ensemble chain
        assert [(s["Name"], s["Type"]) for s in gate["IfSteps"]] == [
            (f"BuildEnsemble{suffix}", "Processing"),
            (f"Gate-ensemble{suffix}", "Condition"),
        ]
        ensemble_gate = steps[f"Gate-ensemble{suffix}"]["Arguments"]
        assert _names(ensemble_gate["IfSteps"]) == [f"Gate-plausible-ensemble{suffix}"]
        plausible_ensemble = steps[f"Gate-plausible-ensemble{suffix}"]["Arguments"]
        assert _names(plausible_ensemble["ElseSteps"]) == [f"Fail-implausible-ensemble{suffix}"]
        assert [(s["Name"], s["Type"]) for s in plausible_ensemble["IfSteps"]] == [
            (f"CheckArtifact{suffix}", "Processing"),
            (f"Gate-artifact{suffix}", "Condition"),
        ]
        assert _names(ensemble_gate["ElseSteps"]) == [f"Fail-ensemble{suffix}"]
        artifact_gate = steps[f"Gate-artifact{suffix}"]["Arguments"]
        # passed: the round loop has ended; the lockbox is opened once, and its own gate guards Register
        assert [(s["Name"], s["Type"]) for s in artifact_gate["IfSteps"]] == [
            (f"FinalHoldout{suffix}", "Processing"),
            (f"Gate-final{suffix}", "Condition"),
        ]
        assert _names(artifact_gate["ElseSteps"]) == [f"Fail-artifact{suffix}"]
        final_gate = steps[f"Gate-final{suffix}"]["Arguments"]
        assert [(s["Name"], s["Type"]) for s in final_gate["IfSteps"]] == [
            (f"Register{suffix}-RegisterModel", "RegisterModel")
        ]
        assert _names(final_gate["ElseSteps"]) == [f"Fail-final{suffix}"]
        # failed: the next round (every algorithm re-tuned), or after the last round Fail-models
        expected = _round_names(next_suffix, ZOO) if next_suffix else ["Fail-models"]
        assert _names(gate["ElseSteps"]) == expected
    assert not any(name.endswith("-4") for name in steps)


def test_gate_models_is_an_and_over_every_algorithms_holdout_auc(zoo):
    steps = _steps_by_name(zoo["Steps"])
    for suffix in ("", "-2", "-3"):
        conditions = steps[f"Gate-models{suffix}"]["Arguments"]["Conditions"]
        assert conditions == [
            {
                "Type": "GreaterThanOrEqualTo",
                "LeftValue": {
                    "Std:JsonGet": {
                        "Path": "binary_classification_metrics.auc.value",
                        "PropertyFile": {"Get": f"Steps.Evaluate-{a}{suffix}.PropertyFiles.Evaluation-{a}{suffix}"},
                    }
                },
                "RightValue": {"Get": "Parameters.MinModelAUC"},
            }
            for a in ZOO
        ]


def test_fail_models_names_every_algorithm_with_its_auc_and_the_threshold(zoo):
    message = _steps_by_name(zoo["Steps"])["Fail-models"]["Arguments"]["ErrorMessage"]["Std:Join"]
    values = message["Values"]
    assert {"Get": "Parameters.MinModelAUC"} in values
    for algorithm in ZOO:
        auc = {  # the AUC as the step writes it at 4 decimals (a definition cannot round): issue 31
            "Std:JsonGet": {
                "Path": "signal_metadata.auc",
                "PropertyFile": {"Get": f"Steps.Evaluate-{algorithm}-3.PropertyFiles.Evaluation-{algorithm}-3"},
            }
        }
        assert values[values.index(auc) - 1] == f" {algorithm} "
    # one flat Join: no function nested inside another's values
    assert not any(isinstance(v, dict) and "Std:Join" in v for v in values)


def test_retuning_is_warm_started_from_every_earlier_round_and_evaluates_the_overall_best(zoo):
    """Warm start is not recursive: round 3 names round 1 too, or its OverallBestTrainingJob would not cover it."""
    steps = _steps_by_name(zoo["Steps"])
    for algorithm in ZOO:
        assert "WarmStartConfig" not in steps[f"Tune-{algorithm}"]["Arguments"]
        for earlier, child in (
            ([f"Tune-{algorithm}"], f"Tune-{algorithm}-2"),
            ([f"Tune-{algorithm}", f"Tune-{algorithm}-2"], f"Tune-{algorithm}-3"),
        ):
            assert steps[child]["Arguments"]["WarmStartConfig"] == {
                "WarmStartType": "IdenticalDataAndAlgorithm",
                "ParentHyperParameterTuningJobs": [
                    {"HyperParameterTuningJobName": {"Get": f"Steps.{parent}.HyperParameterTuningJobName"}}
                    for parent in earlier
                ],
            }
            parent = earlier[-1]
            # same job definition as the parent: identical data and algorithm
            assert (
                steps[child]["Arguments"]["TrainingJobDefinition"]
                == steps[parent]["Arguments"]["TrainingJobDefinition"]
            )
            model = next(
                i
                for i in steps[child.replace("Tune", "Evaluate")]["Arguments"]["ProcessingInputs"]
                if i["InputName"] == "model"
            )
            assert model["S3Input"]["S3Uri"] == {
                "Std:Join": {
                    "On": "/",
                    "Values": [
                        f"s3://conviction-ml-artifacts/conviction-pipelines/models/{algorithm}",
                        {"Get": f"Steps.{child}.OverallBestTrainingJob.TrainingJobName"},
                        "output/model.tar.gz",
                    ],
                }
            }


def test_gru_trains_on_its_own_instance_type_parameter(zoo):
    steps = _steps_by_name(zoo["Steps"])
    for algorithm in ZOO:
        job = steps[f"Tune-{algorithm}"]["Arguments"]["TrainingJobDefinition"]
        resources = job["HyperParameterTuningResourceConfig"]
        expected = "GruInstanceType" if algorithm == "gru" else "TrainingInstanceType"
        assert resources["InstanceType"] == {"Get": f"Parameters.{expected}"}, algorithm
    params = {p["Name"]: p.get("DefaultValue") for p in zoo["Parameters"]}
    assert params["GruInstanceType"] == "ml.g4dn.xlarge"


def test_ensemble_gate_requires_the_threshold_and_beating_the_best_single_model(zoo):
    steps = _steps_by_name(zoo["Steps"])
    ensemble = steps["BuildEnsemble"]["Arguments"]
    assert ensemble["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "steps.ensemble"]
    inputs = {i["InputName"]: i["S3Input"]["LocalPath"] for i in ensemble["ProcessingInputs"]}
    for algorithm in ZOO:
        assert inputs[f"model-{algorithm}"] == f"/opt/ml/processing/input/models/{algorithm}"
        assert inputs[f"evaluation-{algorithm}"] == f"/opt/ml/processing/input/evaluations/{algorithm}"
    evaluation = {"Get": "Steps.BuildEnsemble.PropertyFiles.EnsembleEvaluation"}
    assert steps["Gate-ensemble"]["Arguments"]["Conditions"] == [
        {
            "Type": "GreaterThanOrEqualTo",
            "LeftValue": {
                "Std:JsonGet": {"Path": "binary_classification_metrics.auc.value", "PropertyFile": evaluation}
            },
            "RightValue": {"Get": "Parameters.MinEnsembleAUC"},
        },
        {
            "Type": "Equals",
            "LeftValue": {"Std:JsonGet": {"Path": "ensemble.beats_best_single", "PropertyFile": evaluation}},
            "RightValue": True,
        },
    ]
    message = steps["Fail-ensemble"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert {"Get": "Parameters.MinEnsembleAUC"} in message
    for quoted in ("signal_metadata.auc", "signal_metadata.best_single_auc"):  # at 4 decimals, as the step writes
        assert {"Std:JsonGet": {"Path": quoted, "PropertyFile": evaluation}} in message
    check = steps["CheckArtifact"]["Arguments"]
    assert check["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "steps.check_artifact"]
    assert steps["Gate-artifact"]["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"]["Path"] == "passed"


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


@pytest.mark.parametrize("profile, ceiling", [(None, 0.70), ("daily", 0.60)])
def test_every_evaluated_auc_is_held_to_the_profiles_plausible_ceiling_before_register(profile, ceiling,
                                                                                        step_settings):
    """Gate-plausible: each model's holdout AUC <= leaks.plausibility[<frequency>/<horizon>].max_holdout_auc, a
    literal of the definition (no parameter can lift it at start time); the ensemble's likewise."""
    config = load_config(profile=profile, overrides={"algorithms": ["xgboost", "lightgbm"]})
    assert config.plausibility.max_holdout_auc == ceiling
    definition = json.loads(definition_json(get_pipeline(config)))
    steps = _steps_by_name(definition["Steps"])

    def auc(step: str, property_file: str) -> dict:
        return {"Std:JsonGet": {"Path": "binary_classification_metrics.auc.value",
                                "PropertyFile": {"Get": f"Steps.{step}.PropertyFiles.{property_file}"}}}

    for suffix in ("", "-2", "-3"):
        assert steps[f"Gate-plausible{suffix}"]["Arguments"]["Conditions"] == [
            {"Type": "LessThanOrEqualTo", "LeftValue": auc(f"Evaluate-{a}{suffix}", f"Evaluation-{a}{suffix}"),
             "RightValue": ceiling} for a in ("xgboost", "lightgbm")]
        assert steps[f"Gate-plausible-ensemble{suffix}"]["Arguments"]["Conditions"] == [
            {"Type": "LessThanOrEqualTo", "LeftValue": auc(f"BuildEnsemble{suffix}", f"EnsembleEvaluation{suffix}"),
             "RightValue": ceiling}]
        # and the final holdout's, in Gate-final beside MinFinalAUC
        final = auc(f"FinalHoldout{suffix}", f"FinalEvaluation{suffix}")
        assert steps[f"Gate-final{suffix}"]["Arguments"]["Conditions"] == [
            {"Type": "GreaterThanOrEqualTo", "LeftValue": final, "RightValue": {"Get": "Parameters.MinFinalAUC"}},
            {"Type": "LessThanOrEqualTo", "LeftValue": final, "RightValue": ceiling}]
        message = steps[f"Fail-implausible{suffix}"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
        assert message[0].startswith(f"Gate-plausible{suffix} failed: a holdout AUC above {ceiling} is implausible")
        quoted = auc(f"Evaluate-lightgbm{suffix}", f"Evaluation-lightgbm{suffix}")
        quoted["Std:JsonGet"]["Path"] = "signal_metadata.auc"  # quoted at 4 decimals, compared at full precision
        assert quoted in message
    evaluate = step_settings(steps["Evaluate-xgboost"], EvaluateSettings, definition)
    assert evaluate.suspicious_auc == ceiling  # the step's flag and the gate agree


@pytest.mark.parametrize("profile", [None, "daily"])
def test_leak_tests_hold_the_table_to_the_configured_settings_and_the_horizons_thresholds(profile, step_settings):
    """The leak step's contract comes from the configuration: the same settings BuildFeatures is given (ingest
    lag and the IncludeSentiment parameter included), never read from the manifest of the table under test;
    read back by each step's own generated command line."""
    config = load_config(profile=profile)
    definition = json.loads(definition_json(get_pipeline(config)))
    steps = _steps_by_name(definition["Steps"])
    features = steps["BuildFeatures"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    leaks = steps["LeakTests"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    built = step_settings(steps["BuildFeatures"], FeatureCommand, definition)
    held = step_settings(steps["LeakTests"], LeakSettings, definition)
    expected = config.feature_settings().model_dump(exclude={"absent_inputs", "extra"})
    assert built.model_dump(exclude=set(FeatureRun.model_fields)) == expected
    assert held.contract() == config.feature_settings()
    assert held.model_dump(include=set(LeakScreens.model_fields)) == config.plausibility.model_dump(
        include=set(LeakScreens.model_fields))
    assert held.model_dump(include=set(LeakRun.model_fields)) == config.leaks.model_dump(exclude={"plausibility"})
    assert "--include-sentiment" in leaks and "--include-sentiment" in features  # a parameter: its own flag


def test_ticker_batches_reaches_build_features_and_stays_out_of_the_leak_contract(step_settings):
    """features.ticker_batches is how BuildFeatures works through its input: it reaches that step's command line
    and no other, so the table's contract (what LeakTests holds it to) is the same however it was built."""
    one_pass = load_config()
    in_turn = load_config(overrides={"features": {"ticker_batches": 8}})
    definition = json.loads(definition_json(get_pipeline(in_turn)))
    steps = _steps_by_name(definition["Steps"])
    assert step_settings(steps["BuildFeatures"], FeatureCommand, definition).ticker_batches == 8
    assert step_settings(steps["LeakTests"], LeakSettings, definition).contract() == one_pass.feature_settings()
    assert in_turn.feature_settings() == one_pass.feature_settings()
    with pytest.raises(ConfigError, match=r"features\.ticker_batches"):
        load_config(overrides={"features": {"ticker_batches": 0}})


def test_the_years_profile_builds_and_checks_in_ticker_batches_with_the_same_contract(step_settings) -> None:
    """`--profile years` (docs/performance.md "Scale"): both steps in 8 batches; the table's contract is the
    default one, so a table built for years is checked against the same settings."""
    config = load_config(profile="years")
    definition = json.loads(definition_json(get_pipeline(config)))
    steps = _steps_by_name(definition["Steps"])
    assert step_settings(steps["BuildFeatures"], FeatureCommand, definition).ticker_batches == 8
    held = step_settings(steps["LeakTests"], LeakSettings, definition)
    assert held.ticker_batches == 8 and held.contract() == load_config().feature_settings()


def test_leak_tests_carry_the_configured_ticker_batches(step_settings) -> None:
    """`leaks.ticker_batches` reaches LeakTests' command line (the step reads its bars in that many batches);
    the default, 1, is the one-pass run."""
    default = json.loads(definition_json(get_pipeline(load_config())))
    assert step_settings(_steps_by_name(default["Steps"])["LeakTests"], LeakSettings, default).ticker_batches == 1
    config = load_config(overrides={"leaks": {"ticker_batches": 8}})
    definition = json.loads(definition_json(get_pipeline(config)))
    held = step_settings(_steps_by_name(definition["Steps"])["LeakTests"], LeakSettings, definition)
    assert held.ticker_batches == 8


def test_leak_tests_writes_the_data_quality_baseline_to_its_own_output(definition):
    """LeakTests is the first step that reads the whole (merged) table: it writes Model Monitor's baseline."""
    leaks = _steps_by_name(definition["Steps"])["LeakTests"]["Arguments"]
    outputs = {o["OutputName"]: o["S3Output"]["LocalPath"] for o in leaks["ProcessingOutputConfig"]["Outputs"]}
    assert outputs == {"leaks": "/opt/ml/processing/output/leaks", "baseline": "/opt/ml/processing/output/baseline"}
    arguments = leaks["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--baseline-output") + 1] == outputs["baseline"]


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
    # the sealed table: every row but the lockbox's (SealLockbox stands in for BuildFeatures)
    assert channels["train"] == {"Get": "Steps.SealLockbox.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"}
    assert channels["code"].startswith("s3://conviction-ml-artifacts/conviction-pipelines/code/")


def test_every_job_step_caches_and_retries_throttling_and_capacity(definition):
    jobs = [s for s in _steps_by_name(definition["Steps"]).values() if s["Type"] in {"Processing", "Tuning"}]
    # features, leaks, the seal, and per round: tune, evaluate, ensemble, artifact check, final holdout
    assert len(jobs) == 3 + 3 * 5
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


def test_register_registers_the_ensemble_artifact_with_its_metrics_and_metadata(definition):
    steps = _steps_by_name(definition["Steps"])
    for suffix in ("", "-2", "-3"):
        register = steps[f"Register{suffix}-RegisterModel"]["Arguments"]
        ensemble_output = {
            "Get": f"Steps.BuildEnsemble{suffix}.ProcessingOutputConfig.Outputs['ensemble'].S3Output.S3Uri"
        }
        container = register["InferenceSpecification"]["Containers"][0]
        assert container["ModelDataUrl"] == {"Std:Join": {"On": "/", "Values": [ensemble_output, "model.tar.gz"]}}
        assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
        assert register["ModelPackageGroupName"] == "conviction-direction"
        metrics = register["ModelMetrics"]
        # model quality: the final holdout's evaluation (the lockbox, scored once), not the selection holdout's
        final_output = {"Get": f"Steps.FinalHoldout{suffix}.ProcessingOutputConfig.Outputs['final'].S3Output.S3Uri"}
        assert metrics["ModelQuality"]["Statistics"]["S3Uri"] == {
            "Std:Join": {"On": "/", "Values": [final_output, "evaluation.json"]}
        }
        # Studio-native data quality: Model Monitor's baseline files, written by LeakTests (no FeatureStability)
        baseline = {"Get": "Steps.LeakTests.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"}
        for part, file in (("Statistics", "statistics.json"), ("Constraints", "constraints.json")):
            expected = {"ContentType": "application/json",
                        "S3Uri": {"Std:Join": {"On": "/", "Values": [baseline, file]}}}
            assert metrics["ModelDataQuality"][part] == expected
            assert register["DriftCheckBaselines"]["ModelDataQuality"][part] == expected
        assert not metrics.get("Explainability")  # no FeatureStability step, no explainability report
        metadata = register["CustomerMetadataProperties"]
        # the leak report is no data-quality statistics: it stays reachable as a metadata URI
        leaks = {"Get": "Steps.LeakTests.ProcessingOutputConfig.Outputs['leaks'].S3Output.S3Uri"}
        assert metadata["leak_report"] == {"Std:Join": {"On": "/", "Values": [leaks, "leak_report.json"]}}
        assert "stability_report" not in metadata
        assert {"code_digest", "data_start", "data_end", "features_manifest", "algorithms"} <= set(metadata)
        assert metadata["data_start"]["Std:JsonGet"]["Path"] == "data_range.rows_start"
        assert metadata["tuning_round"] == str(1 if not suffix else int(suffix[1:]))
        for key in ("final_auc", "selection_auc", "looks", "selection_dsr", "pbo", "holdout_ic"):
            assert metadata[key]["Std:JsonGet"]["PropertyFile"] == {
                "Get": f"Steps.FinalHoldout{suffix}.PropertyFiles.FinalEvaluation{suffix}"}, key


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


@pytest.mark.parametrize("switch, grouping", [("--per-stock", "stock"), ("--per-sector", "sector")])
def test_per_stock_and_per_sector_switches_set_the_training_jobs_grouping(switch, grouping):
    import argparse

    from pipelines.cli_options import add_config_arguments, resolve_legacy_options

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    resolved = resolve_legacy_options(parser.parse_args([switch]), environ={})
    config = load_config(overrides=resolved.overrides)
    assert config.training.grouping == grouping
    definition = json.loads(definition_json(get_pipeline(config)))
    static = _steps_by_name(definition["Steps"])["Tune-xgboost"]["Arguments"]["TrainingJobDefinition"][
        "StaticHyperParameters"
    ]
    assert static["grouping"] == grouping and static["min_group_rows"] == str(config.training.min_group_rows)


def test_build_features_scales_out_over_ticker_shards(definition, config):
    """FeatureInstanceCount instances, each given a ShardedByS3Key share of the bar objects (ticker= partitions)
    and every tweet; the shards are merged by the readers of the features (steps/features/shards.py)."""
    params = {p["Name"]: (p["Type"], p.get("DefaultValue")) for p in definition["Parameters"]}
    assert params["FeatureInstanceCount"] == ("Integer", config.features.instance_count)
    job = _steps_by_name(definition["Steps"])["BuildFeatures"]["Arguments"]
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == {"Get": "Parameters.FeatureInstanceCount"}
    distribution = {i["InputName"]: i["S3Input"]["S3DataDistributionType"] for i in job["ProcessingInputs"]}
    assert distribution == {"code": "FullyReplicated", "bars": "ShardedByS3Key", "tweets": "FullyReplicated"}


def test_a_configured_universe_is_the_file_the_jobs_read(tmp_path):
    """data.universe_csv ships as the bundle's configs/universe.csv (what every job's --universe names), so a
    configured universe is the one the jobs use, and changing it moves the code URI (issue 29: it was ignored)."""
    from pipelines.definition import get_pipeline
    from pipelines.session import OfflinePipelineSession

    universe = tmp_path / "three.csv"
    universe.write_text("ticker,sector\nAAPL,Technology\nMSFT,Technology\nXOM,Energy\n")

    def code_uploads(config):
        session = OfflinePipelineSession(config)
        get_pipeline(config, session)
        return {u.s3_uri.rsplit("/code/", 1)[1]: u for u in session.pending_uploads if "/code/" in u.s3_uri}

    bundled = code_uploads(load_config())
    configured = code_uploads(load_config(overrides={"data": {"universe_csv": str(universe)}}))
    (bundled_key,) = [k for k in bundled if k.endswith("/configs/universe.csv")]
    (configured_key,) = [k for k in configured if k.endswith("/configs/universe.csv")]
    assert Path(configured[configured_key].local_path) == universe
    assert Path(bundled[bundled_key].local_path).read_text() != universe.read_text()
    assert configured_key.split("/")[0] != bundled_key.split("/")[0]  # another code digest
