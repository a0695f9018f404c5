"""Gates and re-tuning rounds, with two algorithms and the fake step programs: every branch, asserted.

Thresholds set to pass -> registered in round 1; a model failing once -> warm-started round 2, registered;
a model failing always -> three rounds, then Fail-models naming it. Plus the ensemble and artifact gates.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from pipelines.config import load_config
from pipelines.local.runner import build_definition
from pipelines.local.store import LocalStore
from pipelines.model_metadata import decode_list

ALGORITHMS = ["xgboost", "lightgbm"]


@pytest.fixture(scope="module")
def zoo_definition():
    definition, _ = build_definition(load_config(profile="quick", overrides={"algorithms": ALGORITHMS}))
    return definition


@pytest.fixture
def run_zoo(run_fake, zoo_definition, tmp_path):
    def run(control: dict | None = None, **kwargs):
        control = {"state_dir": str(tmp_path), **(control or {})}
        return run_fake(definition=zoo_definition, control=control, max_trials=2, **kwargs)

    return run


def _ran(run) -> set[str]:
    return {name for name, step in run.record.steps.items() if step.status in {"Succeeded", "Failed"}}


def test_thresholds_that_pass_register_the_ensemble_in_round_one(run_zoo):
    run = run_zoo()

    assert run.result.exit_code == 0, run.lines
    assert run.record.steps["Gate-models"].properties == {"Outcome": True}
    assert {"Tune-xgboost", "Tune-lightgbm", "Evaluate-xgboost", "Evaluate-lightgbm"} <= _ran(run)
    assert run.status("Register-RegisterModel") == "Succeeded"
    assert not any(name.endswith(("-2", "-3")) for name in _ran(run))
    # The registered package is the ensemble's artifact, with the final holdout's evaluation and the leak report
    register = run.record.steps["Register-RegisterModel"].arguments
    ensemble_uri = run.record.steps["BuildEnsemble"].outputs["ensemble"]
    final_uri = run.record.steps["FinalHoldout"].outputs["final"]
    assert register["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == f"{ensemble_uri}/model.tar.gz"
    assert register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == f"{final_uri}/evaluation.json"
    assert run.record.steps["Gate-final"].properties == {"Outcome": True}
    # data quality: Model Monitor's baseline files, which the (fake) LeakTests wrote where Register points
    baseline_uri = run.record.steps["LeakTests"].outputs["baseline"]
    data_quality = register["ModelMetrics"]["ModelDataQuality"]
    assert data_quality["Statistics"]["S3Uri"] == f"{baseline_uri}/statistics.json"
    assert data_quality["Constraints"]["S3Uri"] == f"{baseline_uri}/constraints.json"
    assert register["DriftCheckBaselines"]["ModelDataQuality"] == data_quality
    assert not register["ModelMetrics"].get("Explainability")  # empty: dropped from the request
    store = LocalStore(run.record.path.parent.parent / "s3")
    for name in ("statistics.json", "constraints.json"):
        assert "features" in json.loads(store.read_bytes(f"{baseline_uri}/{name}")), name
    metadata = register["CustomerMetadataProperties"]
    assert metadata["leak_report"] == f"{run.record.steps['LeakTests'].outputs['leaks']}/leak_report.json"
    assert metadata["algorithms"] == "xgboost+lightgbm" and metadata["tuning_round"] == "1"
    assert decode_list(metadata["algorithms"]) == ALGORITHMS
    assert metadata["features_manifest"].endswith("/manifest.json")
    # the final holdout's figures, the selection holdout's beside them (the fake's strings)
    assert metadata["final_auc"] != metadata["selection_auc"] and metadata["looks"] == "7"


def test_a_model_failing_once_is_retuned_warm_started_then_registered(run_zoo):
    run = run_zoo(control={"holdout_auc": {"lightgbm": [0.55, 0.68]}})

    assert run.result.exit_code == 0, run.lines
    assert run.record.steps["Gate-models"].properties == {"Outcome": False}
    assert run.record.steps["Gate-models-2"].properties == {"Outcome": True}
    assert run.status("Register-RegisterModel") == "Skipped"
    assert run.status("Register-2-RegisterModel") == "Succeeded"
    assert run.record.model_package_arn == run.record.steps["Register-2-RegisterModel"].outputs["ModelPackageArn"]
    assert run.status("Tune-xgboost-3") == "Skipped" and run.status("Fail-models") == "Skipped"
    for algorithm in ALGORITHMS:
        parent, child = run.record.steps[f"Tune-{algorithm}"], run.record.steps[f"Tune-{algorithm}-2"]
        # Warm start: the child names its parent and starts from the parent's trials
        warm = child.arguments["WarmStartConfig"]
        assert warm["WarmStartType"] == "IdenticalDataAndAlgorithm"
        assert warm["ParentHyperParameterTuningJobs"] == [
            {"HyperParameterTuningJobName": parent.properties["HyperParameterTuningJobName"]}
        ]
        assert child.metrics["warm_start_trials"] == 2
        # The round's model is the best by the CV objective across parent and child, never by holdout
        candidates = parent.properties["TrainingJobSummaries"] + child.properties["TrainingJobSummaries"]
        best = max(candidates, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
        assert child.properties["OverallBestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
        model_input = next(
            i
            for i in run.record.steps[f"Evaluate-{algorithm}-2"].arguments["ProcessingInputs"]
            if i["InputName"] == "model"
        )
        assert model_input["S3Input"]["S3Uri"].endswith(f"/{best['TrainingJobName']}/output/model.tar.gz")
    ensemble_inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"] for i in run.record.steps["BuildEnsemble-2"].arguments["ProcessingInputs"]
    }
    assert ensemble_inputs["evaluation-lightgbm"] == run.record.steps["Evaluate-lightgbm-2"].outputs["evaluation"]


def test_a_model_failing_every_round_ends_in_fail_models_naming_it(run_zoo):
    run = run_zoo(control={"holdout_auc": {"lightgbm": [0.55]}}, parameters={"MinModelAUC": "0.6"})

    assert run.result.exit_code == 1
    for gate in ("Gate-models", "Gate-models-2", "Gate-models-3"):
        assert run.record.steps[gate].properties == {"Outcome": False}
    assert {"Tune-xgboost-3", "Tune-lightgbm-3"} <= _ran(run)
    assert not any(name.startswith(("BuildEnsemble", "Register")) for name in _ran(run))
    message = run.record.steps["Fail-models"].failure_reason
    assert message.startswith("Gate-models-3 failed after 3 tuning rounds: every model must reach MinModelAUC 0.6 ")
    assert " lightgbm 0.5500 (IC 0.0100 RankIC 0.0100 ICIR 0.100 long-short net Sharpe 0.50);" in message
    assert " xgboost 0.6" in message
    assert run.record.model_package_arn is None


def test_an_ensemble_below_its_gate_fails_with_the_numbers(run_zoo):
    run = run_zoo(control={"ensemble": {"auc": 0.605}})

    assert run.result.exit_code == 1
    assert run.record.steps["Gate-models"].properties == {"Outcome": True}
    assert run.record.steps["Gate-ensemble"].properties == {"Outcome": False}
    message = run.record.steps["Fail-ensemble"].failure_reason
    assert message.startswith("Gate-ensemble failed: ensemble holdout AUC 0.6050 (needs >= MinEnsembleAUC 0.62)")
    assert "vs best single model" in message
    assert run.status("CheckArtifact") == "Skipped" and run.status("Register-RegisterModel") == "Skipped"


def test_an_ensemble_below_the_best_single_model_is_not_registered(run_zoo):
    # above MinEnsembleAUC (0.62) but below the best single model (fake AUCs are >= 0.64)
    run = run_zoo(control={"ensemble": {"auc": 0.63}})

    assert run.result.exit_code == 1
    conditions = run.record.steps["Gate-ensemble"].arguments
    assert [c["value"] for c in conditions] == [True, False]
    assert run.status("Fail-ensemble") == "Failed"


def test_an_artifact_that_does_not_reproduce_its_predictions_is_not_registered(run_zoo):
    run = run_zoo(control={"artifact_mismatch": True})

    assert run.result.exit_code == 1
    assert run.record.steps["Gate-artifact"].properties == {"Outcome": False}
    assert "2 of 10 holdout rows differ" in run.record.steps["Fail-artifact"].failure_reason
    assert run.status("Register-RegisterModel") == "Skipped"


def test_a_holdout_auc_above_the_plausible_ceiling_stops_the_run_before_register(run_zoo):
    """0.75 clears every gate (MinModelAUC 0.60) but not the quick profile's ceiling (leaks.plausibility 1min/30:
    0.70): the run ends at Fail-implausible right after the evaluations, with no re-tuning and no Register."""
    run = run_zoo(control={"holdout_auc": {"lightgbm": [0.75]}})

    assert run.result.exit_code == 1
    assert run.record.steps["Gate-plausible"].properties == {"Outcome": False}
    message = run.record.steps["Fail-implausible"].failure_reason
    assert message.startswith("Gate-plausible failed: a holdout AUC above 0.7 is implausible for 1min bars with a "
                              "30-bar label horizon (leaks.plausibility 1min/30 max_holdout_auc")
    assert " lightgbm 0.7500;" in message and " xgboost 0.6" in message
    assert run.status("Gate-models") == "Skipped"
    assert not any(name.startswith(("BuildEnsemble", "Register", "Tune-xgboost-2")) for name in _ran(run))
    assert run.record.model_package_arn is None


def test_an_ensemble_above_the_plausible_ceiling_is_not_registered(run_zoo):
    run = run_zoo(control={"ensemble": {"auc": 0.71}})

    assert run.result.exit_code == 1
    assert run.record.steps["Gate-plausible"].properties == {"Outcome": True}
    assert run.record.steps["Gate-ensemble"].properties == {"Outcome": True}
    assert run.record.steps["Gate-plausible-ensemble"].properties == {"Outcome": False}
    message = run.record.steps["Fail-implausible-ensemble"].failure_reason
    assert message.startswith("Gate-plausible-ensemble failed: a holdout AUC above 0.7 is implausible")
    assert message.endswith(" ensemble 0.7100;")
    assert run.status("CheckArtifact") == "Skipped" and run.status("Register-RegisterModel") == "Skipped"


def test_a_final_holdout_below_its_gate_is_not_registered_and_says_both_holdouts(run_zoo):
    """The selection gates pass (as they will after enough looks); the lockbox, scored once, says no."""
    run = run_zoo(control={"final_auc": 0.55})

    assert run.result.exit_code == 1
    assert run.record.steps["Gate-artifact"].properties == {"Outcome": True}
    assert run.record.steps["Gate-final"].properties == {"Outcome": False}
    message = run.record.steps["Fail-final"].failure_reason
    assert message.startswith("Gate-final failed: the final holdout (the lockbox, scored once after the rounds) AUC "
                              "0.5500 must reach MinFinalAUC 0.6")
    assert "the selection holdout said 0.6" in message and " after 7 looks" in message
    assert run.status("Register-RegisterModel") == "Skipped" and run.record.model_package_arn is None
    # no round after the lockbox was opened: the loop had ended
    assert not any(name.endswith(("-2", "-3")) for name in _ran(run))


def test_a_final_holdout_above_the_plausible_ceiling_is_not_registered(run_zoo):
    run = run_zoo(control={"final_auc": 0.72})

    assert run.record.steps["Gate-final"].properties == {"Outcome": False}
    assert "stay <= the plausible ceiling 0.7" in run.record.steps["Fail-final"].failure_reason
    assert run.status("Register-RegisterModel") == "Skipped"


def test_the_lockbox_is_staged_for_final_holdout_only_after_every_round_gate(run_zoo, monkeypatch):
    """An instrumented reader at the storage layer: every object the runner stages into any job is recorded with the
    time. The lockbox (SealLockbox's `lockbox` output) reaches one job, FinalHoldout-2, and only after the last gate
    of the round loop (round 1 failed Gate-models, round 2 passed every selection gate); no job before it was given
    the lockbox, and the features every round read are SealLockbox's `features` output, not BuildFeatures'."""
    staged: list[tuple[str, str, float]] = []
    original = LocalStore.download

    def recording(self, uri, destination):
        staged.append((uri, str(destination), time.time()))
        return original(self, uri, destination)

    monkeypatch.setattr(LocalStore, "download", recording)
    run = run_zoo(control={"holdout_auc": {"lightgbm": [0.55, 0.65]}})

    assert run.status("Register-2-RegisterModel") == "Succeeded", run.lines
    lockbox = run.record.steps["SealLockbox"].outputs["lockbox"]
    readers = [(destination, at) for uri, destination, at in staged if uri.startswith(lockbox)]
    assert len(readers) == 1, readers
    opened = readers[0][1]
    loop_gates = [name for name in run.record.steps if name.startswith(("Gate-models", "Gate-artifact",
                                                                         "Gate-ensemble", "Gate-plausible"))]
    for name in loop_gates:
        ended = run.record.steps[name].ended_at
        if ended:
            assert datetime.fromisoformat(ended).timestamp() <= opened, name
    assert run.record.steps["FinalHoldout-2"].status == "Succeeded"
    assert run.status("FinalHoldout") == "Skipped"  # round 1's, never reached
    features = run.record.steps["BuildFeatures"].outputs["features"]
    sealed = run.record.steps["SealLockbox"].outputs["features"]
    readers_of_full_table = {d for uri, d, _ in staged if uri.startswith(features)}
    assert readers_of_full_table and all(("leak" in d.lower() or "seal" in d.lower()) for d in readers_of_full_table)
    assert any(uri.startswith(sealed) for uri, _, _ in staged)


@pytest.mark.parametrize(("knobs", "passes"), [({"pbo": 0.2, "dsr": 0.9}, True), ({"pbo": 0.7}, False),
                                               ({"dsr": 0.3}, False), ({"dsr": None}, False)])
def test_the_optional_selection_statistics_gate_refuses_overfit_or_undefined(run_fake, tmp_path, knobs, passes):
    """gates.max_pbo / gates.min_dsr (off by default) join Gate-final; an undefined DSR (null) never passes."""
    config = load_config(profile="quick", overrides={"algorithms": ALGORITHMS,
                                                     "gates": {"max_pbo": 0.5, "min_dsr": 0.5}})
    definition, _ = build_definition(config)
    run = run_fake(definition=definition, control={"state_dir": str(tmp_path), **knobs}, max_trials=2)
    assert run.record.steps["Gate-final"].properties == {"Outcome": passes}
    if passes:
        assert run.status("Register-RegisterModel") == "Succeeded"
    else:
        message = run.record.steps["Fail-final"].failure_reason
        assert "the deflated Sharpe ratio must reach gates.min_dsr 0.5" in message
        assert "the probability of backtest overfitting must stay <= gates.max_pbo 0.5" in message
        assert run.status("Register-RegisterModel") == "Skipped"


def test_without_the_optional_statistics_gate_gate_final_holds_the_auc_only(zoo_definition):
    steps = {s["Name"]: s for s in _walk(zoo_definition["Steps"])}
    assert len(steps["Gate-final"]["Arguments"]["Conditions"]) == 2


def _walk(steps: list) -> list:
    found = []
    for step in steps:
        found.append(step)
        arguments = step.get("Arguments", {})
        found += _walk(arguments.get("IfSteps", [])) + _walk(arguments.get("ElseSteps", []))
    return found
