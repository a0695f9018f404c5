"""A hyperparameter tuning job: trials drawn by Optuna from the definition's ranges, each a training job.

Bayesian maps to Optuna's TPE sampler and Random to its random sampler, seeded with the definition's
RandomSeed. Scaling: Logarithmic samples in log space; ReverseLogarithmic is mirrored log space (dense
near the maximum, as SageMaker's); Auto and Linear are uniform. Early stopping is not emulated: every
trial runs to its end, and the response says so (`early_stopping_note`).

Trials run in waves of MaxParallelTrainingJobs, as SageMaker keeps that many in flight: every trial of a
wave is drawn before any of its results is told to the sampler, and results are told in trial order. So the
trials drawn depend on the definition alone, never on how many of them this machine runs at once (each
trial holds one of the run's `--max-parallel` slots while it runs): a run with `--max-parallel 1` and one
with eight draw the same trials and pick the same best job.

Warm start (WarmStartConfig, IdenticalDataAndAlgorithm or TransferLearning): the named parents' own
completed trials are added to the study before the first new trial, so the sampler starts from what they
found. It is not recursive: a parent's parents are not read, neither for the study nor for the best job
("Warm start tuning is not recursive ... If you want to use the information from MyTuningJob1, you must
explicitly add it as a parent", https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html).
`BestTrainingJob` and `TrainingJobSummaries` stay this job's own; an IdenticalDataAndAlgorithm job's
response adds OverallBestTrainingJob (`overall_best_training_job`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import optuna

from pipelines.definition.errors import UnsupportedConstruct
from pipelines.definition.expressions import to_text
from pipelines.local.errors import StepFailed
from pipelines.local.jobs.containers import ContainerRuntime
from pipelines.local.jobs.host import jobs_stopping
from pipelines.local.jobs.training import run_training_job
from pipelines.local.store import LocalStore

SUPPORTED_STRATEGIES = ("Bayesian", "Random")
SUPPORTED_WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
_SUPPORTED_CONFIG_KEYS = {
    "HyperParameterTuningJobObjective",
    "ParameterRanges",
    "RandomSeed",
    "ResourceLimits",
    "Strategy",
    "TrainingJobEarlyStoppingType",
}


def _format(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def suggest(trial: optuna.Trial, ranges: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """One trial's hyperparameters, inside the declared ranges, as the text a training job receives."""
    values: dict[str, str] = {}
    for spec in ranges.get("IntegerParameterRanges", []):
        low, high, scaling = int(float(spec["MinValue"])), int(float(spec["MaxValue"])), spec.get("ScalingType", "Auto")
        if scaling == "ReverseLogarithmic":
            raise UnsupportedConstruct(f"ScalingType ReverseLogarithmic on integer range {spec['Name']!r}")
        values[spec["Name"]] = _format(trial.suggest_int(spec["Name"], low, high, log=scaling == "Logarithmic"))
    for spec in ranges.get("ContinuousParameterRanges", []):
        low, high, scaling = float(spec["MinValue"]), float(spec["MaxValue"]), spec.get("ScalingType", "Auto")
        if scaling == "ReverseLogarithmic":
            mirrored = trial.suggest_float(f"{spec['Name']}__mirrored", low, high, log=True)
            values[spec["Name"]] = _format(min(high, max(low, low + high - mirrored)))
        elif scaling in {"Auto", "Linear", "Logarithmic"}:
            values[spec["Name"]] = _format(trial.suggest_float(spec["Name"], low, high, log=scaling == "Logarithmic"))
        else:
            raise UnsupportedConstruct(f"ScalingType {scaling!r} on range {spec['Name']!r}")
    for spec in ranges.get("CategoricalParameterRanges", []):
        values[spec["Name"]] = _format(trial.suggest_categorical(spec["Name"], list(spec["Values"])))
    unknown = set(ranges) - {"IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges"}
    if unknown:
        raise UnsupportedConstruct(f"ParameterRanges {sorted(unknown)}")
    return values


def distributions(ranges: dict[str, list[dict[str, Any]]]) -> dict[str, optuna.distributions.BaseDistribution]:
    """The Optuna distribution `suggest` draws each range from, by the same names."""
    found: dict[str, optuna.distributions.BaseDistribution] = {}
    for spec in ranges.get("IntegerParameterRanges", []):
        found[spec["Name"]] = optuna.distributions.IntDistribution(
            int(float(spec["MinValue"])), int(float(spec["MaxValue"])), log=spec.get("ScalingType") == "Logarithmic"
        )
    for spec in ranges.get("ContinuousParameterRanges", []):
        low, high, scaling = float(spec["MinValue"]), float(spec["MaxValue"]), spec.get("ScalingType", "Auto")
        name = f"{spec['Name']}__mirrored" if scaling == "ReverseLogarithmic" else spec["Name"]
        log = scaling in {"Logarithmic", "ReverseLogarithmic"}
        found[name] = optuna.distributions.FloatDistribution(low, high, log=log)
    for spec in ranges.get("CategoricalParameterRanges", []):
        found[spec["Name"]] = optuna.distributions.CategoricalDistribution(list(spec["Values"]))
    return found


def _as_trial(summary: dict[str, Any], ranges: dict[str, list[dict[str, Any]]]) -> optuna.trial.FrozenTrial | None:
    """A parent's completed training job as an Optuna trial of this study (None if outside these ranges)."""
    dists = distributions(ranges)
    reverse = {
        spec["Name"]: (float(spec["MinValue"]), float(spec["MaxValue"]))
        for spec in ranges.get("ContinuousParameterRanges", [])
        if spec.get("ScalingType") == "ReverseLogarithmic"
    }
    params: dict[str, Any] = {}
    for name, text in summary.get("TunedHyperParameters", {}).items():
        key = f"{name}__mirrored" if name in reverse else name
        distribution = dists.get(key)
        if distribution is None:
            return None
        if isinstance(distribution, optuna.distributions.CategoricalDistribution):
            value: Any = text
        elif isinstance(distribution, optuna.distributions.IntDistribution):
            value = int(float(text))
        else:
            value = float(text)
            if name in reverse:
                value = sum(reverse[name]) - value
        if not distribution._contains(distribution.to_internal_repr(value)):
            return None
        params[key] = value
    if set(params) != set(dists):
        return None
    value = summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    return optuna.trial.create_trial(params=params, distributions=dists, value=float(value))


def objective_rank(maximize: bool) -> Callable[[dict[str, Any]], float]:
    """Sort key of succeeded training-job summaries: the best objective first."""

    def rank(summary: dict[str, Any]) -> float:
        value = float(summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
        return -value if maximize else value

    return rank


def overall_best_training_job(
    own: list[dict[str, Any]], parents: list[dict[str, Any]], maximize: bool
) -> dict[str, Any] | None:
    """OverallBestTrainingJob of an IdenticalDataAndAlgorithm warm start: the best by the objective of "all
    training jobs launched by this tuning job and all parent jobs specified for the warm start tuning job"
    (botocore's DescribeHyperParameterTuningJobResponse doc string). Each parent counts with the jobs *it*
    launched (its TrainingJobSummaries), never with its own OverallBestTrainingJob: that would reach the
    parent's parents, and warm start is not recursive
    (https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html).
    On a tie this job's own trial wins, then the parents' in the order named. None if no job succeeded."""
    launched = [*own, *(s for parent in parents for s in parent.get("TrainingJobSummaries", []))]
    succeeded = [
        s for s in launched
        if s.get("ObjectiveStatus") == "Succeeded" and "FinalHyperParameterTuningJobObjectiveMetric" in s
    ]  # fmt: skip
    return min(succeeded, key=objective_rank(maximize)) if succeeded else None


def warm_start_fields(
    warm_start: dict[str, Any], own: list[dict[str, Any]], parents: list[dict[str, Any]], maximize: bool
) -> dict[str, Any]:
    """What a warm start adds to the describe-response: its WarmStartConfig, and OverallBestTrainingJob for
    IdenticalDataAndAlgorithm only (botocore's doc string: "If the hyperparameter tuning job is an warm start
    tuning job with a WarmStartType of IDENTICAL_DATA_AND_ALGORITHM, this is ..."; TransferLearning has none)."""
    fields: dict[str, Any] = {"WarmStartConfig": warm_start}
    if warm_start.get("WarmStartType") == "IdenticalDataAndAlgorithm":
        best = overall_best_training_job(own, parents, maximize)
        if best is not None:
            fields["OverallBestTrainingJob"] = best
    return fields


def early_stopping_note(config: dict[str, Any], objective_lines: list[int]) -> str | None:
    """One line when TrainingJobEarlyStoppingType is Auto, which the runner does not emulate; None for Off.

    SageMaker's rule (https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-early-stopping.html):
    after each epoch, a trial whose objective is worse than the median of the previous trials' running
    averages up to that epoch is stopped; "to support early stopping, an algorithm must emit objective
    metrics for each epoch". `objective_lines`: how many objective values each trial printed. One each (this
    project's trainers print the cross-validated AUC once, as their last line) leaves the rule no earlier
    epoch to stop at, so running every trial to its end gives SageMaker's trials; more than one means the
    cloud could stop trials that ran to their end here.
    """
    if config.get("TrainingJobEarlyStoppingType", "Off") != "Auto":
        return None
    per_epoch = sum(count > 1 for count in objective_lines)
    if per_epoch:
        return (
            f"TrainingJobEarlyStoppingType Auto is not emulated: {per_epoch} trial(s) printed the objective per "
            "epoch, so SageMaker's median rule could stop them early; here every trial ran to its end"
        )
    return (
        "TrainingJobEarlyStoppingType Auto is not emulated: every trial ran to its end (none printed the "
        "objective more than once, so SageMaker's per-epoch median rule had no earlier epoch to stop at)"
    )


def objective_line_count(log_path: str | None, regex: str | None) -> int:
    """How many values of the objective metric a trial printed (its job log read with the metric's regex)."""
    if not log_path or not regex or not Path(log_path).is_file():
        return 0
    return sum(1 for _ in re.finditer(regex, Path(log_path).read_text(errors="replace")))


def _sampler(strategy: str, seed: int | None, n_trials: int) -> optuna.samplers.BaseSampler:
    if strategy == "Bayesian":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(10, n_trials // 2)))
    if strategy == "Random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UnsupportedConstruct(f"tuning Strategy {strategy!r} (supported: {', '.join(SUPPORTED_STRATEGIES)})")


def run_tuning_job(
    step_name: str,
    tuning_job_name: str,
    arguments: dict[str, Any],
    jobs_root: Path,
    store: LocalStore,
    max_trials: int | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    cores: int | None = None,
    parents: dict[str, dict[str, Any]] | None = None,
    job_slot: Callable[[], AbstractContextManager[Any]] = nullcontext,
    validate_trial: Callable[[str, dict[str, Any]], None] | None = None,
    containers: ContainerRuntime | None = None,
) -> dict[str, Any]:
    """Runs the tuning job from resolved CreateHyperParameterTuningJob arguments; returns its describe-response.

    `parents`: describe-responses of earlier tuning jobs by name, for a WarmStartConfig to name.
    `job_slot`: held while each trial runs (the run's budget of concurrent jobs).
    `validate_trial(job_name, hyperparameters)`: raises if the CreateTrainingJob a trial makes would be refused.
    """
    if "TrainingJobDefinitions" in arguments:
        raise UnsupportedConstruct(f"{step_name}: TrainingJobDefinitions (several estimators in one tuning job)")
    warm_parents: list[dict[str, Any]] = []
    warm_start = arguments.get("WarmStartConfig")
    if warm_start:
        if warm_start.get("WarmStartType") not in SUPPORTED_WARM_START_TYPES:
            raise UnsupportedConstruct(f"{step_name}: WarmStartType {warm_start.get('WarmStartType')!r}")
        for parent in warm_start.get("ParentHyperParameterTuningJobs", []):
            name = to_text(parent["HyperParameterTuningJobName"])
            if name not in (parents or {}):
                raise StepFailed(step_name, f"warm-start parent tuning job {name!r} is not known to this run")
            warm_parents.append(parents[name])
    config = arguments["HyperParameterTuningJobConfig"]
    unknown = set(config) - _SUPPORTED_CONFIG_KEYS
    if unknown:
        raise UnsupportedConstruct(f"{step_name}: HyperParameterTuningJobConfig keys {sorted(unknown)}")
    definition = arguments["TrainingJobDefinition"]
    objective = config["HyperParameterTuningJobObjective"]
    metric_name, maximize = objective["MetricName"], objective["Type"] == "Maximize"
    metric_regex = next(
        (m["Regex"] for m in definition.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
         if m["Name"] == metric_name),
        None,
    )  # fmt: skip
    objective_lines: list[int] = []
    limits = config["ResourceLimits"]
    n_trials = int(limits["MaxNumberOfTrainingJobs"])
    if max_trials is not None:
        n_trials = min(n_trials, max_trials) if max_trials > 0 else n_trials
    parallel = max(1, min(int(limits.get("MaxParallelTrainingJobs", 1)), n_trials))
    machine = cores or os.cpu_count() or 1
    threads = max(1, machine // min(parallel, machine))  # from the definition and the machine, not the budget
    static = {k: to_text(v) for k, v in definition.get("StaticHyperParameters", {}).items()}
    ranges = config["ParameterRanges"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=_sampler(config.get("Strategy", "Bayesian"), config.get("RandomSeed"), n_trials),
    )
    seeded = 0
    for parent in warm_parents:
        for summary in parent.get("TrainingJobSummaries", []):
            if summary.get("ObjectiveStatus") != "Succeeded":
                continue
            trial = _as_trial(summary, ranges)
            if trial is not None:
                study.add_trial(trial)
                seeded += 1

    def run_trial(number: int, tuned: dict[str, str]) -> dict[str, Any]:
        digest = hashlib.sha256(repr(sorted(tuned.items())).encode()).hexdigest()[:8]
        job_name = f"{tuning_job_name}-{number + 1:03d}-{digest}"
        hyperparameters = {**static, **tuned}
        if validate_trial is not None:
            validate_trial(job_name, hyperparameters)
        with job_slot():
            described = run_training_job(
                job_name, definition, hyperparameters, jobs_root / job_name, store,
                threads=threads, containers=containers,
            )  # fmt: skip
        metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
        objective_lines.append(objective_line_count(described.get("log"), metric_regex))
        value = metrics.get(metric_name)
        summary = {
            "TrainingJobName": job_name,
            "TrainingJobArn": f"arn:aws:sagemaker:local:000000000000:training-job/{job_name}",
            "TuningJobName": tuning_job_name,
            "TrainingJobStatus": described["TrainingJobStatus"],
            "TunedHyperParameters": tuned,
            "TrainingStartTime": described["TrainingStartTime"],
            "TrainingEndTime": described["TrainingEndTime"],
            "ObjectiveStatus": "Succeeded"
            if value is not None and described["TrainingJobStatus"] == "Completed"
            else "Failed",
            "Metrics": metrics,
            "ModelArtifacts": described.get("ModelArtifacts"),
            "seconds": described["seconds"],
        }
        if value is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": metric_name, "Value": value}
        if described["TrainingJobStatus"] != "Completed":
            summary["FailureReason"] = described["FailureReason"]
        elif value is None:
            summary["FailureReason"] = f"the job printed no line matching the objective metric {metric_name!r}"
        if on_trial:
            on_trial(summary)
        return summary

    summaries: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix=f"{step_name}-trial") as pool:
        while len(summaries) < n_trials:
            wave = [study.ask() for _ in range(min(parallel, n_trials - len(summaries)))]
            drawn = [suggest(trial, ranges) for trial in wave]
            results = list(pool.map(run_trial, [trial.number for trial in wave], drawn))
            for trial, summary in zip(wave, results, strict=True):
                if summary["ObjectiveStatus"] == "Succeeded":
                    study.tell(trial, float(summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]))
                else:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            summaries += results
            if jobs_stopping():  # the run is being stopped: draw no further wave
                raise StepFailed(step_name, f"tuning job {tuning_job_name} stopped after {len(summaries)} trial(s)")
    succeeded = [s for s in summaries if s["ObjectiveStatus"] == "Succeeded"]
    if not succeeded:
        reason = summaries[0].get("FailureReason", "no trial ran") if summaries else "no trial ran"
        raise StepFailed(step_name, f"every training job of tuning job {tuning_job_name} failed; first: {reason}")

    ordered = sorted(succeeded, key=objective_rank(maximize))
    ordered += [s for s in summaries if s["ObjectiveStatus"] != "Succeeded"]
    warm = warm_start_fields(warm_start, ordered, warm_parents, maximize) if warm_start else {}
    if warm_start:
        warm["warm_start_trials"] = seeded
    note = early_stopping_note(config, objective_lines)
    return {
        "HyperParameterTuningJobName": tuning_job_name,
        "HyperParameterTuningJobStatus": "Completed",
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
        "BestTrainingJob": ordered[0],
        "TrainingJobSummaries": ordered,
        "TrainingJobStatusCounters": {
            "Completed": sum(s["TrainingJobStatus"] == "Completed" for s in summaries),
            "Failed": sum(s["TrainingJobStatus"] != "Completed" for s in summaries),
        },
        "ObjectiveStatusCounters": {
            "Succeeded": len(succeeded),
            "Failed": len(summaries) - len(succeeded),
        },
        "trials": len(summaries),
        "parallelism": parallel,
        **warm,
        **({"early_stopping_note": note} if note else {}),
    }
