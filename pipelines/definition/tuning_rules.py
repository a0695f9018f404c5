"""A tuning step's rules that no request shape states: SageMaker refuses them at CreateHyperParameterTuningJob,
or (the objective metric) runs every trial and then finds nothing to rank.

- ranges:      the tunable ranges of all types together are at most the range lists' `max` in botocore's model
               (30): "the sum of the number of hyperparameters for all the ranges can't exceed the maximum
               number specified" (botocore's ParameterRanges doc string)
- scaling:     `Logarithmic` "works only for ranges that have only values greater than 0"; `ReverseLogarithmic`
               "only for ranges that are entirely within the range 0<=x<1.0" and "is not supported for integer
               hyperparameter ranges" (botocore's ContinuousParameterRange ScalingType doc string; developer
               guide, "Define Hyperparameter Ranges",
               https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-define-ranges.html)
- min-max:     a range's MinValue is a number (an integer for an integer range) and not above its MaxValue
- count:       static plus tunable hyperparameters, with the ones tuning adds itself (`_tuning_objective_metric`),
               within botocore's HyperParameters map `max` (100) that every trial's CreateTrainingJob meets:
               "You can use up to 100 hyperparameters in total (static + tunable)"; "SageMaker AI Automatic
               Model Tuning (AMT) may add additional hyperparameters(s) that contribute to the limit of 100 total
               hyperparameters", `_tuning_objective_metric` (the define-ranges page above)
- objective:   the objective metric is a `MetricDefinitions` Name of the algorithm that trains (a custom
               algorithm defines its own metrics; a built-in one, named by `AlgorithmName`, defines them per
               algorithm: botocore's FinalHyperParameterTuningJobObjectiveMetric MetricName doc string,
               https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-define-metrics-variables.html)
- warm-start:  the tuning job's MaxNumberOfTrainingJobs plus its parents' is at most 500: "The training jobs
               launched by every parent job in a warm start tuning job count against the 500 maximum training
               jobs for a tuning job" (developer guide, "Run a Warm Start Hyperparameter Tuning Job",
               https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html; botocore's
               HyperParameterTuningJobWarmStartConfig doc string says the same). A parent outside the
               definition (a literal job name) has a budget lint cannot know; it is not counted.

Values are judged as the rules see them: parameters at the values given (their defaults in lint), `UNKNOWN`
(a property of another step) never judged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from pipelines.definition.expressions import gets
from pipelines.definition.service_rules import UNKNOWN, service_model
from pipelines.definition.violation import Violation

RULE = "tuning"
RANGE_TYPES = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")
TUNER_ADDED_HYPERPARAMETERS = ("_tuning_objective_metric",)  # AMT adds it to every trial (define-ranges page)
MAX_TRAINING_JOBS_WITH_PARENTS = 500  # the warm-start page: parents' jobs count against the 500 of a tuning job


@functools.cache
def max_ranges() -> int:
    """The most tunable ranges a tuning job takes, all types together: the range lists' `max` in botocore."""
    shapes = service_model()["shapes"]
    return min(shapes[name]["max"] for name in RANGE_TYPES)


@functools.cache
def max_hyperparameters() -> int:
    """The most hyperparameters a training job (so a trial) takes: botocore's HyperParameters map `max`."""
    return service_model()["shapes"]["HyperParameters"]["max"]


def tuning_violations(step: str, arguments: Any, parent_budgets: dict[str, Any]) -> Iterator[Violation]:
    """Every rule above a tuning step's (resolved) arguments break. `parent_budgets`: its warm-start parents
    in this definition (`warm_start_parents`), each to its resolved MaxNumberOfTrainingJobs."""
    if not isinstance(arguments, dict):
        return
    config = _mapping(arguments.get("HyperParameterTuningJobConfig"))
    for where, training in training_definitions(arguments):
        ranges_where, ranges = "HyperParameterTuningJobConfig.ParameterRanges", config.get("ParameterRanges")
        if "HyperParameterRanges" in training:
            ranges_where, ranges = f"{where}.HyperParameterRanges", training["HyperParameterRanges"]
        ranges = _mapping(ranges)
        for message in _range_problems(ranges, ranges_where):
            yield Violation(step, RULE, message)
        for message in _count_problems(training, ranges, where):
            yield Violation(step, RULE, message)
        objective = _mapping(training.get("TuningObjective") or config.get("HyperParameterTuningJobObjective"))
        for message in _objective_problems(training, objective, where):
            yield Violation(step, RULE, message)
    for message in _budget_problems(arguments, parent_budgets):
        yield Violation(step, RULE, message)


def warm_start_parents(raw_arguments: Any) -> list[str]:
    """The steps of this definition a tuning step names as warm-start parents (by `Get Steps.X.…`), from its
    arguments as written (resolved, a property is UNKNOWN)."""
    warm = _mapping(_mapping(raw_arguments).get("WarmStartConfig"))
    parents = []
    for reference in gets(warm.get("ParentHyperParameterTuningJobs", [])):
        if reference.startswith("Steps."):
            parents.append(reference.removeprefix("Steps.").partition(".")[0])
    return parents


# -- the parts of a tuning request -------------------------------------------------------------------------
def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def training_definitions(arguments: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A tuning request's training-job definitions, each with where it sits (`TrainingJobDefinitions[1]`)."""
    if isinstance(arguments.get("TrainingJobDefinition"), dict):
        yield "TrainingJobDefinition", arguments["TrainingJobDefinition"]
    definitions = arguments.get("TrainingJobDefinitions")
    for index, training in enumerate(definitions if isinstance(definitions, list) else []):
        if isinstance(training, dict):
            yield f"TrainingJobDefinitions[{index}]", training


def _range_items(ranges: dict[str, Any]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for kind in RANGE_TYPES:
        items = ranges.get(kind)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                yield kind, index, item


# -- ranges, scaling, min-max ------------------------------------------------------------------------------
def _range_problems(ranges: dict[str, Any], where: str) -> Iterator[str]:
    items = list(_range_items(ranges))
    if len(items) > max_ranges():
        counts = ", ".join(f"{kind} {len(ranges[kind])}" for kind in RANGE_TYPES if ranges.get(kind))
        yield (f"{where}: {len(items)} tunable ranges ({counts}); a tuning job searches at most {max_ranges()} "
               "hyperparameters across all range types")  # fmt: skip
    for kind, index, item in items:
        if kind == "CategoricalParameterRanges":
            continue
        field = f"{where}.{kind}[{index}] ({item.get('Name')})"
        low, high = _bound(item.get("MinValue"), kind), _bound(item.get("MaxValue"), kind)
        for name, value in (("MinValue", low), ("MaxValue", high)):
            if isinstance(value, str):
                yield f"{field}.{name}: {value}"
        if not isinstance(low, float) or not isinstance(high, float):
            continue
        if low > high:
            yield f"{field}: MinValue {_show(low)} is above MaxValue {_show(high)}"
        scaling = item.get("ScalingType")
        if scaling == "Logarithmic" and low <= 0:
            yield (f"{field}.ScalingType: Logarithmic works only for ranges whose values are all greater than 0 "
                   f"(MinValue {_show(low)})")  # fmt: skip
        if scaling == "ReverseLogarithmic":
            if kind == "IntegerParameterRanges":
                yield f"{field}.ScalingType: ReverseLogarithmic is not supported for integer ranges"
            elif low < 0 or high >= 1:
                yield (f"{field}.ScalingType: ReverseLogarithmic works only for ranges entirely within 0 <= x < 1 "
                       f"(MinValue {_show(low)}, MaxValue {_show(high)})")  # fmt: skip


def _bound(value: Any, kind: str) -> float | str | None:
    """The bound as a number; a message where it is not one; None where it is not known before the run."""
    if value is UNKNOWN or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"{value!r} is not a number"
    if kind == "IntegerParameterRanges" and not number.is_integer():
        return f"{value!r} is not an integer (an integer range)"
    return number


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)


# -- hyperparameter count ----------------------------------------------------------------------------------
def _count_problems(training: dict[str, Any], ranges: dict[str, Any], where: str) -> Iterator[str]:
    static = _mapping(training.get("StaticHyperParameters"))
    tuned = {item.get("Name") for _, _, item in _range_items(ranges)}
    names = {*static, *tuned, *TUNER_ADDED_HYPERPARAMETERS}
    if any(name is UNKNOWN for name in names):
        return
    if len(names) > max_hyperparameters():
        yield (f"{where}: each trial would get {len(names)} hyperparameters ({len(static)} static, {len(tuned)} "
               f"tuned, {', '.join(TUNER_ADDED_HYPERPARAMETERS)} added by tuning); a training job takes at most "
               f"{max_hyperparameters()}")  # fmt: skip


# -- objective metric --------------------------------------------------------------------------------------
def _objective_problems(training: dict[str, Any], objective: dict[str, Any], where: str) -> Iterator[str]:
    algorithm = _mapping(training.get("AlgorithmSpecification"))
    metric = objective.get("MetricName")
    if algorithm.get("AlgorithmName") or not isinstance(metric, str):
        return  # a built-in or marketplace algorithm defines its own metrics; an UNKNOWN name is the run's
    definitions = algorithm.get("MetricDefinitions")
    if not isinstance(definitions, list) or not definitions:
        return  # no MetricDefinitions: a built-in algorithm's image, which this layer cannot tell from others
    names = [item.get("Name") for item in definitions if isinstance(item, dict)]
    if UNKNOWN not in names and metric not in names:
        yield (f"HyperParameterTuningJobObjective.MetricName {metric!r} is not a Name in "
               f"{where}.AlgorithmSpecification.MetricDefinitions ({', '.join(map(str, names))}): no trial would "
               "report the objective")  # fmt: skip


# -- warm-start budget -------------------------------------------------------------------------------------
def training_job_budget(arguments: Any) -> Any:
    """A tuning step's (resolved) MaxNumberOfTrainingJobs."""
    config = _mapping(_mapping(arguments).get("HyperParameterTuningJobConfig"))
    return _mapping(config.get("ResourceLimits")).get("MaxNumberOfTrainingJobs")


def _budget_problems(arguments: dict[str, Any], budgets: dict[str, Any]) -> Iterator[str]:
    own = training_job_budget(arguments)
    if not budgets or not _known(own) or not all(_known(budget) for budget in budgets.values()):
        return
    total = own + sum(budgets.values())
    if total > MAX_TRAINING_JOBS_WITH_PARENTS:
        shown = ", ".join(f"{parent} {budget}" for parent, budget in budgets.items())
        yield (f"HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs: {own} of its own plus its "
               f"warm-start parents' ({shown}) is {total} training jobs; a warm-start tuning job's parents count "
               f"against its {MAX_TRAINING_JOBS_WITH_PARENTS}")  # fmt: skip


def _known(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
