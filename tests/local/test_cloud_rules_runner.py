"""Issue 28's static rules, as the local runner applies them: a definition that breaks one is refused before
the first job, with lint's line (step, rule, field), and nothing is written. One case per rule module; every
case is in tests/pipelines/test_cloud_rules.py."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pipelines.definition.graph import flatten_steps
from pipelines.local.errors import DefinitionRefused
from pipelines.local.executor import PipelineExecution, RunOptions

Definition = dict[str, Any]


def _arguments(definition: Definition, step: str) -> dict[str, Any]:
    return flatten_steps(definition)[step].spec["Arguments"]


def _retry_on_a_condition(d: Definition) -> None:
    flatten_steps(d)["LeakGate"].spec["RetryPolicies"] = [{"ExceptionType": ["Step.SERVICE_FAULT"], "MaxAttempts": 2}]


def _logarithmic_at_zero(d: Definition) -> None:
    ranges = _arguments(d, "Tune-xgboost")["HyperParameterTuningJobConfig"]["ParameterRanges"]
    next(r for r in ranges["ContinuousParameterRanges"] if r["Name"] == "gamma")["ScalingType"] = "Logarithmic"


def _objective_not_defined(d: Definition) -> None:
    config = _arguments(d, "Tune-xgboost")["HyperParameterTuningJobConfig"]
    config["HyperParameterTuningJobObjective"]["MetricName"] = "validation:f1"


def _spot_wait_below_run(d: Definition) -> None:
    training = _arguments(d, "Tune-xgboost")["TrainingJobDefinition"]
    training.update(EnableManagedSpotTraining=True, CheckpointConfig={"S3Uri": "s3://bucket/checkpoints"})
    training["StoppingCondition"]["MaxWaitTimeInSeconds"] = 60


def _input_outside_processing(d: Definition) -> None:
    _arguments(d, "BuildFeatures")["ProcessingInputs"][0]["S3Input"]["LocalPath"] = "/tmp/code"


def _enum_values(d: Definition) -> None:
    parameter = next(p for p in d["Parameters"] if p["Name"] == "ProcessingInstanceType")
    parameter["EnumValues"] = [f"ml.m5.{size}xlarge" for size in range(2, 19)]


CASES: dict[str, tuple[Callable[[Definition], None], str]] = {
    "retry": (_retry_on_a_condition, "LeakGate: retry: RetryPolicies: a Condition step takes no retry policy"),
    "tuning scaling": (_logarithmic_at_zero, "Tune-xgboost: tuning: HyperParameterTuningJobConfig.ParameterRanges"
                                             ".ContinuousParameterRanges[3] (gamma).ScalingType: Logarithmic"),
    "tuning objective": (_objective_not_defined, "Tune-xgboost: tuning: HyperParameterTuningJobObjective.MetricName "
                                                 "'validation:f1' is not a Name in TrainingJobDefinition"),
    "spot": (_spot_wait_below_run, "Tune-xgboost: stopping: TrainingJobDefinition.StoppingCondition"
                                   ".MaxWaitTimeInSeconds 60 is below MaxRuntimeInSeconds"),
    "processing": (_input_outside_processing, "BuildFeatures: processing: ProcessingInputs[0] (code).S3Input.LocalPath"
                                              " '/tmp/code' must begin with /opt/ml/processing/"),
    "parameters": (_enum_values, "(parameters): parameters: Parameters["),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_the_runner_refuses_before_the_first_job(quick_definition, tmp_path, case):
    plant, says = CASES[case]
    changed = copy.deepcopy(quick_definition)
    plant(changed)
    with pytest.raises(DefinitionRefused) as refused:
        PipelineExecution(changed, RunOptions(run_dir=tmp_path / "runs"))
    assert says in str(refused.value)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing ran


def test_the_quick_definition_is_not_refused(quick_definition, tmp_path):
    PipelineExecution(copy.deepcopy(quick_definition), RunOptions(run_dir=tmp_path / "runs"))


def test_the_runner_judges_the_rules_at_the_executions_own_values(quick_definition, tmp_path):
    """The same definition, started with MaxTuningJobs=251: round 2 and its parent ask for 502 training jobs."""
    with pytest.raises(DefinitionRefused, match=r"Tune-xgboost-2: tuning: .*502 training jobs"):
        PipelineExecution(copy.deepcopy(quick_definition),
                          RunOptions(run_dir=tmp_path / "runs", parameters={"MaxTuningJobs": "251"}))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
