"""TuningStep: CreateHyperParameterTuningJob, its trials drawn by Optuna, each a training job on the host."""

from __future__ import annotations

from typing import Any

from pipelines.definition.requests import trial_request
from pipelines.definition.step_types import TuningStepType
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun
from pipelines.local.jobs.tuning import run_tuning_job
from pipelines.local.record import StepRecord
from pipelines.local.service_checks import refuse_invalid


class TuningHandler(StepHandler):
    declaration = TuningStepType()
    cacheable = True

    def execute(self, run: StepRun) -> StepResult:
        execution, options = run.execution, run.execution.options
        config = run.arguments["HyperParameterTuningJobConfig"]
        total = int(config["ResourceLimits"]["MaxNumberOfTrainingJobs"])
        if options.max_trials:
            total = min(total, options.max_trials)
        objective = config["HyperParameterTuningJobObjective"]["MetricName"]
        finished = {"n": 0}
        trial_definition = run.arguments.get("TrainingJobDefinition", {})

        def validate_trial(job_name: str, hyperparameters: dict[str, str]) -> None:
            refuse_invalid(run.name, *trial_request(trial_definition, hyperparameters, job_name))

        def on_trial(summary: dict[str, Any]) -> None:
            finished["n"] += 1
            value = summary.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
            shown = (
                f"{objective}={value:.4f}"
                if value is not None
                else f"FAILED ({summary.get('FailureReason', '').splitlines()[0]})"
            )
            tuned = ", ".join(f"{k}={_short(v)}" for k, v in summary["TunedHyperParameters"].items())
            run.echo(
                f"         {run.name} trial {finished['n']}/{total} {summary['TrainingJobName']}: {shown} "
                f"[{summary['seconds']:.1f}s] {tuned}"
            )

        properties = run_tuning_job(
            run.name,
            run.job_name,
            run.arguments,
            run.job_root,
            execution.store,
            max_trials=options.max_trials,
            on_trial=on_trial,
            cores=options.cores,
            parents=self.parents(run),
            job_slot=run.job_slot,
            validate_trial=validate_trial,
            containers=options.containers,
        )
        best = properties["BestTrainingJob"]
        outputs = {
            "best_model": best["ModelArtifacts"]["S3ModelArtifacts"],
            "best_training_job": best["TrainingJobName"],
        }
        metrics = {
            "best_objective": best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
            "objective_metric": objective,
            "trials": properties["trials"],
        }
        note = properties.pop("early_stopping_note", None)
        if note:  # Auto is accepted and not emulated: said once per tuning step, and kept in its record
            run.echo(f"         warning: {run.name}: {note}")
            metrics["early_stopping"] = note
        overall = properties.get("OverallBestTrainingJob")
        if overall:
            outputs["overall_best_training_job"] = overall["TrainingJobName"]
            metrics["overall_best_objective"] = overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
            metrics["warm_start_trials"] = properties["warm_start_trials"]
        return StepResult(properties, outputs, metrics)

    def parents(self, run: StepRun) -> dict[str, dict[str, Any]]:
        """Describe-responses of the tuning jobs this run has (cache hits included), by tuning job name: the
        jobs a warm start may name as its parents."""
        name_property = self.declaration.job.name_property
        return {
            str(step.properties[name_property]): step.properties
            for step in run.execution.succeeded_steps(self.step_type)
            if name_property in step.properties
        }

    def summary_note(self, step: StepRecord) -> str:
        if not step.metrics:
            return ""
        note = f"best {step.metrics['objective_metric']}={step.metrics['best_objective']:.4f}"
        return f"{note}, early stopping not emulated" if "early_stopping" in step.metrics else note

    def output_uris(self, properties: dict[str, Any]) -> list[str]:
        """Every trial's model: the best one is read downstream, and a warm start reads the others' results."""
        summaries = properties.get("TrainingJobSummaries", [])
        uris = [s["ModelArtifacts"]["S3ModelArtifacts"] for s in summaries if s.get("ModelArtifacts")]
        return uris or [properties["BestTrainingJob"]["ModelArtifacts"]["S3ModelArtifacts"]]


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() and "." not in value else f"{number:.4g}"
