"""Issue 28's static rules (pipelines.definition: retry_rules, tuning_rules, spot_rules, processing_rules,
parameter_rules), each refused by `check_definition` and so by lint: a planted case per rule, its message
naming the step, the field and the rule; the definitions this project builds pass every one."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from pipelines import lint
from pipelines.config import ConfigError, load_config
from pipelines.definition import definition_json, get_pipeline
from pipelines.definition.graph import flatten_steps
from pipelines.definition.retry_rules import (
    RetryPolicy,
    allowed_exception_types,
    parse_retry_policies,
    retried_exception_types,
)
from pipelines.definition.rules import check_definition

Definition = dict[str, Any]


@pytest.fixture(scope="module")
def built() -> tuple[Any, Definition]:
    config = load_config()
    return config, json.loads(definition_json(get_pipeline(config)))


def _step(definition: Definition, name: str) -> dict[str, Any]:
    return flatten_steps(definition)[name].spec


def _tuning(definition: Definition, name: str = "Tune-xgboost") -> dict[str, Any]:
    return _step(definition, name)["Arguments"]


def _ranges(definition: Definition, name: str = "Tune-xgboost") -> dict[str, Any]:
    return _tuning(definition, name)["HyperParameterTuningJobConfig"]["ParameterRanges"]


def _policy(**members: Any) -> dict[str, Any]:
    return {"ExceptionType": ["Step.SERVICE_FAULT"], "IntervalSeconds": 1, "BackoffRate": 2.0, **members}


# -- planted cases: (what it plants, the step, the rule, what the message says) ------------------------------
def _enum_values(d: Definition) -> None:
    parameter = next(p for p in d["Parameters"] if p["Name"] == "ProcessingInstanceType")
    parameter["EnumValues"] = [f"ml.m5.{size}xlarge" for size in range(2, 19)]  # 17


def _too_many_hyperparameters(d: Definition) -> None:
    # static + tuned = 100 (what botocore's HyperParameters map takes); _tuning_objective_metric makes it 101
    training, ranges = _tuning(d)["TrainingJobDefinition"], _ranges(d)
    tuned = sum(len(items) for items in ranges.values())
    static = training["StaticHyperParameters"]
    for index in range(100 - tuned - len(static)):
        static[f"extra_{index}"] = "1"


def _too_many_ranges(d: Definition) -> None:
    ranges = _ranges(d)
    missing = 31 - sum(len(items) for items in ranges.values())
    ranges["CategoricalParameterRanges"] += [{"Name": f"c{i}", "Values": ["a", "b"]} for i in range(missing)]


def _set_range(name: str, **members: Any) -> Callable[[Definition], None]:
    def plant(d: Definition) -> None:
        for items in _ranges(d).values():
            for item in items:
                if item["Name"] == name:
                    item.update(members)

    return plant


def _objective(d: Definition) -> None:
    _tuning(d)["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = "validation:f1"


def _warm_start_budget(d: Definition) -> None:
    for name in ("Tune-xgboost-2", "Tune-xgboost-3"):
        _tuning(d, name)["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 300


def _spot(wait: int | None) -> Callable[[Definition], None]:
    def plant(d: Definition) -> None:
        training = _tuning(d)["TrainingJobDefinition"]
        training["EnableManagedSpotTraining"] = True
        training["CheckpointConfig"] = {"S3Uri": "s3://bucket/checkpoints"}
        if wait is not None:
            training["StoppingCondition"]["MaxWaitTimeInSeconds"] = wait

    return plant


def _input_path(d: Definition) -> None:
    _step(d, "BuildFeatures")["Arguments"]["ProcessingInputs"][0]["S3Input"]["LocalPath"] = "/tmp/code"


def _output_path(d: Definition) -> None:
    output = _step(d, "BuildFeatures")["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]
    output["S3Output"]["LocalPath"] = "/opt/ml/output/features"


def _retry(step: str, *policies: dict[str, Any]) -> Callable[[Definition], None]:
    def plant(d: Definition) -> None:
        _step(d, step)["RetryPolicies"] = list(policies)

    return plant


PLANTED = {
    "enum values": (_enum_values, "(parameters)", "parameters", ["Parameters[", "ProcessingInstanceType",
                                                                  "EnumValues: 17 values", "at most 16"]),
    "hyperparameters per trial": (_too_many_hyperparameters, "Tune-xgboost", "tuning",
                                  ["TrainingJobDefinition", "101 hyperparameters", "_tuning_objective_metric",
                                   "at most 100"]),
    "ranges in all": (_too_many_ranges, "Tune-xgboost", "tuning",
                      ["HyperParameterTuningJobConfig.ParameterRanges", "31 tunable ranges", "at most 30"]),
    "logarithmic at 0": (_set_range("gamma", ScalingType="Logarithmic"), "Tune-xgboost", "tuning",
                         ["ContinuousParameterRanges[3] (gamma).ScalingType", "Logarithmic", "greater than 0"]),
    "reverse logarithmic at 1": (_set_range("subsample", ScalingType="ReverseLogarithmic"), "Tune-xgboost", "tuning",
                                 ["(subsample).ScalingType", "0 <= x < 1", "MaxValue 1"]),
    "reverse logarithmic integer": (_set_range("max_depth", ScalingType="ReverseLogarithmic"), "Tune-xgboost",
                                    "tuning", ["IntegerParameterRanges[0] (max_depth).ScalingType",
                                               "not supported for integer ranges"]),
    "min above max": (_set_range("max_depth", MinValue="8"), "Tune-xgboost", "tuning",
                      ["IntegerParameterRanges[0] (max_depth)", "MinValue 8 is above MaxValue 6"]),
    "integer range bound": (_set_range("max_depth", MinValue="3.5"), "Tune-xgboost", "tuning",
                            ["(max_depth).MinValue", "not an integer"]),
    "objective metric": (_objective, "Tune-xgboost", "tuning",
                         ["HyperParameterTuningJobObjective.MetricName 'validation:f1'",
                          "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions", "validation:auc"]),
    "warm-start budget": (_warm_start_budget, "Tune-xgboost-3", "tuning",
                          ["ResourceLimits.MaxNumberOfTrainingJobs", "300 of its own", "Tune-xgboost-2 300",
                           "against its 500"]),
    "spot wait below run": (_spot(3600), "Tune-xgboost", "stopping",
                            ["TrainingJobDefinition.StoppingCondition.MaxWaitTimeInSeconds 3600",
                             "below MaxRuntimeInSeconds 7200"]),
    "spot without wait": (_spot(None), "Tune-xgboost", "stopping",
                          ["TrainingJobDefinition.EnableManagedSpotTraining without", "MaxWaitTimeInSeconds"]),
    "input path": (_input_path, "BuildFeatures", "processing",
                   ["ProcessingInputs[0] (code).S3Input.LocalPath '/tmp/code'", "must begin with /opt/ml/processing/"]),
    "output path": (_output_path, "BuildFeatures", "processing",
                    ["ProcessingOutputConfig.Outputs[0] (features).S3Output.LocalPath", "/opt/ml/processing/"]),
    "retry exception type": (_retry("BuildFeatures", _policy(ExceptionType=["SageMaker.JOB_CAPACITY_ERROR"])),
                             "BuildFeatures", "retry",
                             ["RetryPolicies[0].ExceptionType", "'SageMaker.JOB_CAPACITY_ERROR'",
                              "SageMaker.CAPACITY_ERROR"]),
    "retry job exception on a step with no job": (
        _retry("Register-RegisterModel", _policy(ExceptionType=["SageMaker.RESOURCE_LIMIT"])),
        "Register-RegisterModel", "retry", ["RetryPolicies[0].ExceptionType", "'SageMaker.RESOURCE_LIMIT'",
                                            "RegisterModel step"]),
    "retry on a condition": (_retry("LeakGate", _policy()), "LeakGate", "retry",
                             ["RetryPolicies", "a Condition step takes no retry policy"]),
    "retry max attempts": (_retry("BuildFeatures", _policy(MaxAttempts=21)), "BuildFeatures", "retry",
                           ["RetryPolicies[0].MaxAttempts: 21", "between 0 and 20"]),
    "retry interval": (_retry("BuildFeatures", _policy(IntervalSeconds=43201)), "BuildFeatures", "retry",
                       ["RetryPolicies[0].IntervalSeconds: 43201", "between 0 and 43200"]),
    "retry expiry": (_retry("BuildFeatures", _policy(ExpireAfterMin=14401)), "BuildFeatures", "retry",
                     ["RetryPolicies[0].ExpireAfterMin: 14401", "between 0 and 14400"]),
    "retry backoff": (_retry("BuildFeatures", _policy(BackoffRate=-1.0)), "BuildFeatures", "retry",
                      ["RetryPolicies[0].BackoffRate: -1.0", "at least 0"]),
    "retry attempts and expiry": (_retry("Tune-xgboost", _policy(MaxAttempts=3, ExpireAfterMin=60)), "Tune-xgboost",
                                  "retry", ["RetryPolicies[0]: MaxAttempts and ExpireAfterMin both given"]),
    "retry unknown member": (_retry("BuildFeatures", _policy(Jitter=True)), "BuildFeatures", "retry",
                             ["RetryPolicies[0].Jitter: not a member of a retry policy"]),
}  # fmt: skip


def planted(definition: Definition, case: str) -> Definition:
    """The definition with one of PLANTED's cases planted (a copy)."""
    changed = copy.deepcopy(definition)
    PLANTED[case][0](changed)
    return changed


def assert_refused(lines: list[str], case: str) -> None:
    _, step, rule, says = PLANTED[case]
    assert any(line.startswith(f"{step}: {rule}: ") and all(text in line for text in says) for line in lines), lines


def test_the_definitions_this_project_builds_pass_every_rule(built):
    assert check_definition(built[1]) == []


@pytest.mark.parametrize("case", PLANTED)
def test_a_planted_case_is_refused_naming_step_field_and_rule(built, case):
    lines = [str(v) for v in check_definition(planted(built[1], case))]
    assert_refused(lines, case)


@pytest.mark.parametrize("case", ["retry on a condition", "logarithmic at 0"])
def test_lint_of_a_definition_file_refuses_it(built, case, tmp_path, capsys):
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(planted(built[1], case)))
    assert lint.main(["--definition", str(path)]) == 1
    assert_refused(capsys.readouterr().out.splitlines(), case)


def test_the_warm_start_budget_is_judged_with_the_values_an_execution_starts_with(built):
    definition = built[1]
    assert check_definition(definition, parameters={"MaxTuningJobs": 166}) == []  # three rounds of 166: 498
    lines = [str(v) for v in check_definition(definition, parameters={"MaxTuningJobs": 251})]
    assert any(line.startswith("Tune-xgboost-2: tuning: ") and "502 training jobs" in line for line in lines), lines


def test_an_allowlist_longer_than_enum_values_take_is_refused_by_the_config():
    too_many = [f"ml.m5.{size}xlarge" for size in range(2, 19)]
    with pytest.raises(ConfigError, match=r"security.allowed_instance_types.*17 instance types.*at most 16"):
        load_config(overrides={"security": {"allowed_instance_types": too_many}})
    assert len(load_config().security.allowed_instance_types) <= 16


# -- the public API the runner's retries use ---------------------------------------------------------------
def test_retry_policies_parse_with_the_guides_defaults():
    step = {"Name": "S", "Type": "Training", "RetryPolicies": [
        {"ExceptionType": ["Step.SERVICE_FAULT"]},
        {"ExceptionType": ["SageMaker.CAPACITY_ERROR"], "IntervalSeconds": 10, "BackoffRate": 3, "ExpireAfterMin": 5},
    ]}  # fmt: skip
    first, second = parse_retry_policies(step)
    assert first == RetryPolicy(("Step.SERVICE_FAULT",), 1, 2.0, 5, None)
    assert second == RetryPolicy(("SageMaker.CAPACITY_ERROR",), 10, 3.0, None, 5)
    assert [second.interval_before(n) for n in (1, 2, 3)] == [10, 30, 90]


def test_which_exception_types_each_step_type_takes_and_retries():
    job = ("Step.SERVICE_FAULT", "Step.THROTTLING", "SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR",
           "SageMaker.RESOURCE_LIMIT")  # fmt: skip
    assert allowed_exception_types("Processing") == allowed_exception_types("Tuning") == job
    assert allowed_exception_types("Model") == allowed_exception_types("RegisterModel") == job[:2]
    assert allowed_exception_types("Condition") == allowed_exception_types("Fail") == ()
    assert "SageMaker.JOB_INTERNAL_ERROR" not in retried_exception_types("Tuning")  # the tuning job retries its own
    assert "SageMaker.JOB_INTERNAL_ERROR" in retried_exception_types("Training")


def test_lint_judges_the_budget_at_its_param_values(built, tmp_path, capsys):
    """`pipelines.lint --param MaxTuningJobs=251`: round 2 would ask for 502 training jobs with its parent's."""
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(built[1]))
    assert lint.main(["--definition", str(path), "--param", "MaxTuningJobs=166"]) == 0
    capsys.readouterr()
    assert lint.main(["--definition", str(path), "--param", "MaxTuningJobs=251"]) == 1
    assert any(line.startswith("Tune-xgboost-2: tuning: ") and "502 training jobs" in line
               for line in capsys.readouterr().out.splitlines())
