"""Warm start as SageMaker documents it: not recursive, and OverallBestTrainingJob from the named parents only.

"Warm start tuning is not recursive ... If you want to use the information from MyTuningJob1, you must
explicitly add it as a parent" (https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html);
OverallBestTrainingJob is "the best objective metric value of all training jobs launched by this tuning job
and all parent jobs specified for the warm start tuning job" (botocore's DescribeHyperParameterTuningJob doc
string), for IDENTICAL_DATA_AND_ALGORITHM only. Round 1 scores 0.90, rounds 2-3 about 0.62.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines.config import load_config
from pipelines.local.jobs.tuning import (
    early_stopping_note,
    objective_line_count,
    overall_best_training_job,
    warm_start_fields,
)
from pipelines.local.runner import build_definition
from pipelines.local.store import LocalStore

ROUND_AUC = {"tune-xgboost": 0.90, "tune-xgboost-2": 0.62, "tune-xgboost-3": 0.621}
# Every round's holdout below MinModelAUC (0.60): three rounds, then Fail-models.
CONTROL = {"validation_auc_by_tuning_job": ROUND_AUC, "holdout_auc": 0.55}


def _job(name: str, value: float, tuning_job: str) -> dict[str, Any]:
    return {"TrainingJobName": name, "TuningJobName": tuning_job, "ObjectiveStatus": "Succeeded",
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:auc", "Value": value}}


def test_a_parents_own_overall_best_is_not_read_so_grandparents_are_not_reached():
    grandparent_best = _job("round-1-best", 0.90, "round-1")
    parent = {"TrainingJobSummaries": [_job("round-2-a", 0.62, "round-2")], "BestTrainingJob": _job(
        "round-2-a", 0.62, "round-2"), "OverallBestTrainingJob": grandparent_best}
    own = [_job("round-3-a", 0.615, "round-3")]

    best = overall_best_training_job(own, [parent], maximize=True)

    assert best["TrainingJobName"] == "round-2-a"
    # Named directly, the grandparent is a parent and counts
    grandparent = {"TrainingJobSummaries": [grandparent_best]}
    assert overall_best_training_job(own, [grandparent, parent], True)["TrainingJobName"] == "round-1-best"
    # Minimize; failed trials never count
    failed = {**_job("round-3-b", 0.1, "round-3"), "ObjectiveStatus": "Failed"}
    assert overall_best_training_job([*own, failed], [parent], False)["TrainingJobName"] == "round-3-a"


def test_only_identical_data_and_algorithm_has_overall_best_training_job():
    own, parents = [_job("child", 0.7, "c")], [{"TrainingJobSummaries": [_job("parent", 0.8, "p")]}]
    identical = {"WarmStartType": "IdenticalDataAndAlgorithm", "ParentHyperParameterTuningJobs": []}
    transfer = {**identical, "WarmStartType": "TransferLearning"}

    assert warm_start_fields(identical, own, parents, True)["OverallBestTrainingJob"]["TrainingJobName"] == "parent"
    assert warm_start_fields(transfer, own, parents, True) == {"WarmStartConfig": transfer}


def test_early_stopping_auto_is_reported_not_emulated(tmp_path):
    assert early_stopping_note({"TrainingJobEarlyStoppingType": "Off"}, [1, 1]) is None
    assert early_stopping_note({}, [3]) is None  # Off is the API's default
    once = early_stopping_note({"TrainingJobEarlyStoppingType": "Auto"}, [1, 1])
    assert "not emulated" in once and "none printed the objective more than once" in once
    per_epoch = early_stopping_note({"TrainingJobEarlyStoppingType": "Auto"}, [3, 1])
    assert "1 trial(s) printed the objective per epoch" in per_epoch
    log = tmp_path / "job.log"
    log.write_text("validation:auc=0.5\ntrain:auc=0.9\nvalidation:auc=0.61\n")
    assert objective_line_count(str(log), r"validation:auc=([0-9.]+)") == 2
    assert objective_line_count(str(tmp_path / "absent.log"), r"x") == 0


@pytest.fixture(scope="module")
def xgboost_definition() -> dict[str, Any]:
    definition, _ = build_definition(load_config(profile="quick", overrides={"algorithms": ["xgboost"]}))
    return definition


def _all_steps(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for step in steps:
        found[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            found.update(_all_steps(step.get("Arguments", {}).get(branch, [])))
    return found


def _evaluated_job(run, step: str) -> str:
    store = LocalStore(run.record.path.parent.parent / "s3")
    uri = run.record.steps[step].outputs["evaluation"]
    return json.loads(store.read_bytes(f"{uri}/evaluation.json"))["model_job"]


def _launched(*steps) -> list[dict[str, Any]]:
    return [s for step in steps for s in step.properties["TrainingJobSummaries"] if s["ObjectiveStatus"] == "Succeeded"]


def _best(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    return max(summaries, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])


def test_round_three_names_every_earlier_round_and_its_overall_best_is_round_ones_job(
    run_definition, quick_config, xgboost_definition, tmp_path
):
    run = run_definition(quick_config, xgboost_definition, tmp_path / "runs", control=CONTROL, max_trials=2)

    assert run.result.exit_code == 1 and run.status("Fail-models") == "Failed", run.lines
    rounds = [run.record.steps[name] for name in ("Tune-xgboost", "Tune-xgboost-2", "Tune-xgboost-3")]
    names = [step.properties["HyperParameterTuningJobName"] for step in rounds]
    third = rounds[2]
    # The definition names both earlier rounds, so round 3 reads both, directly
    assert third.arguments["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [
        {"HyperParameterTuningJobName": names[0]}, {"HyperParameterTuningJobName": names[1]}
    ]
    assert third.metrics["warm_start_trials"] == 4  # both parents' own trials seed the study
    # BestTrainingJob stays round 3's own; OverallBestTrainingJob is the best it and its parents launched
    assert third.properties["BestTrainingJob"]["TuningJobName"] == names[2]
    assert third.properties["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] < 0.63
    documented = _best(_launched(*rounds))
    assert documented["TuningJobName"] == names[0]
    assert third.properties["OverallBestTrainingJob"]["TrainingJobName"] == documented["TrainingJobName"]
    assert _evaluated_job(run, "Evaluate-xgboost-3") == documented["TrainingJobName"]
    # Early stopping Auto (the quick profile's) is accepted, not emulated, and said so once per tuning step
    assert "not emulated" in third.metrics["early_stopping"]
    assert sum("warning: Tune-xgboost-3: TrainingJobEarlyStoppingType Auto" in line for line in run.lines) == 1


def test_a_round_naming_only_its_previous_round_does_not_reach_round_one(
    run_definition, quick_config, xgboost_definition, tmp_path
):
    definition = json.loads(json.dumps(xgboost_definition))
    third = _all_steps(definition["Steps"])["Tune-xgboost-3"]
    parents = third["Arguments"]["WarmStartConfig"]["ParentHyperParameterTuningJobs"]
    third["Arguments"]["WarmStartConfig"]["ParentHyperParameterTuningJobs"] = parents[-1:]  # Tune-xgboost-2 only

    control = {**CONTROL, "objective_epochs": 3}  # and trials that print the objective each epoch
    run = run_definition(quick_config, definition, tmp_path / "runs", control=control, max_trials=2)

    assert run.status("Tune-xgboost-3") == "Succeeded", run.lines
    second, third_run = run.record.steps["Tune-xgboost-2"], run.record.steps["Tune-xgboost-3"]
    assert third_run.metrics["warm_start_trials"] == 2  # round 2's own trials, not round 1's
    documented = _best(_launched(second, third_run))  # round 2's parent (round 1) is not read: not recursive
    assert documented["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] < 0.63
    assert third_run.properties["OverallBestTrainingJob"]["TrainingJobName"] == documented["TrainingJobName"]
    assert _evaluated_job(run, "Evaluate-xgboost-3") == documented["TrainingJobName"]
    # Such trials could be stopped early by SageMaker's median rule: the record says they ran to their end here
    assert "2 trial(s) printed the objective per epoch" in third_run.metrics["early_stopping"]
    # while round 2 (naming round 1) still reports round 1's job as its overall best
    assert second.properties["OverallBestTrainingJob"]["TuningJobName"] == run.record.steps[
        "Tune-xgboost"].properties["HyperParameterTuningJobName"]
