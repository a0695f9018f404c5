"""From a config to an execution: build the definition with get_pipeline(), then interpret its JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.config import PipelineConfig
from pipelines.definition import definition_json, get_pipeline
from pipelines.local.executor import PipelineExecution, RunOptions, RunResult, Upload
from pipelines.local.handlers import HANDLERS
from pipelines.local.mirror import mirror_execution
from pipelines.local.sample_data import ensure_sample_data
from pipelines.session import OfflinePipelineSession


def build_definition(config: PipelineConfig) -> tuple[dict[str, Any], list[Upload]]:
    """The definition exactly as published (its JSON, never the SDK objects) and the uploads it expects."""
    session = OfflinePipelineSession(config)
    pipeline = get_pipeline(config, session)
    definition = json.loads(definition_json(pipeline))
    uploads = [Upload(u.s3_uri, u.local_path, u.body) for u in session.pending_uploads]
    return definition, uploads


def folds_days_needed(config: PipelineConfig) -> int:
    """Trading days the walk-forward folds need (steps/common/folds.py: train + folds x validation + the two
    holdouts)."""
    folds = config.folds
    return (folds.train_days + folds.n_folds * folds.validation_days + folds.holdout_days
            + folds.final_holdout_days)


# Sessions generated beyond what the folds need: the first session's rows have no previous close.
SAMPLE_MARGIN_DAYS = 2


def sample_data_settings(config: PipelineConfig) -> dict[str, Any] | None:
    """What `steps.sample_data` generates when the inputs are empty: at least as many sessions as the
    profile's own folds need, so any profile runs without data (the default one on ~a year of sessions)."""
    sample = config.sample_data
    if sample is None:
        return None
    return {
        "days": max(sample.days, folds_days_needed(config) + SAMPLE_MARGIN_DAYS),
        "tickers": sample.tickers,
        "seed": sample.seed,
        "frequency": config.features.frequency,
        "universe": sample.universe,
        "signal": sample.signal,
    }


def run_config(config: PipelineConfig, options: RunOptions, after_step=None) -> RunResult:
    definition, uploads = build_definition(config)
    options.region = config.pipeline.region
    if options.max_parallel_steps is None:  # the pipeline's ParallelismConfiguration, as `upsert` publishes it
        options.max_parallel_steps = config.pipeline.max_parallel_steps
    from pipelines.parameter_table import PARAMETERS, ParameterPolicy

    if options.parameter_policy is None:  # --param values are held to this config's allowlist and approval policy
        options.parameter_policy = ParameterPolicy.from_config(config, local_folders=True)  # links file://
    if options.containers is not None:  # every image the definition names is here, before anything runs
        from pipelines.local.jobs.containers import definition_images

        for uri in definition_images(definition):
            options.echo(f"container mode: {uri} runs as the local image {options.containers.local_image(uri)}")
    execution = PipelineExecution(definition, options, uploads, pipeline_name=config.pipeline.name)
    mirror_execution(execution, config.pipeline.role_arn, config.pipeline.description)  # visible as in Studio
    settings = sample_data_settings(config)

    def prepare(run: PipelineExecution) -> None:
        given = {PARAMETERS[name].source for name in options.parameters if name in PARAMETERS}  # --param wins
        for warning in config.unpassable_gates():
            if warning.split(" ", 1)[0] not in given:
                options.echo(f"warning: {warning}")
        if settings and config.sample_data and settings["days"] > config.sample_data.days:
            options.echo(
                f"sample data, if generated: {settings['days']} sessions, not sample_data.days "
                f"{config.sample_data.days}: this profile's folds need {folds_days_needed(config)} "
                "(--profile quick is the 30-second run)"
            )
        description = ensure_sample_data(
            run.store,
            str(run.parameters.get("InputDataUrl", config.data.input_data_url)),
            str(run.parameters.get("TweetsDataUrl", config.data.tweets_data_url)),
            settings,
            echo=options.echo,
            log_dir=run.exec_dir,
        )
        run.record.sample_data = description

    return execution.run(before_steps=prepare, after_step=after_step)


def print_summary(result: RunResult, echo=print) -> None:
    """The final table: every step that ran (or was to run), the branches not taken in one line each, then
    the gates' outcomes."""
    record = result.record
    echo("")
    width = max(26, *(len(name) + 2 for name in record.steps))  # Fail-implausible-ensemble-2 is 27 long
    echo(f"{'step':<{width}}{'type':<15}{'status':<11}{'seconds':>8}  note")
    for step in record.steps.values():
        if step.status == "Skipped":
            continue
        seconds = f"{step.seconds:.1f}" if step.seconds is not None else "-"
        note = " ".join(filter(None, ("cache hit" if step.cache_hit else "", HANDLERS[step.type].summary_note(step))))
        echo(f"{step.name:<{width}}{step.type:<15}{step.status:<11}{seconds:>8}  {note}")
    not_taken = skipped_groups(record)
    if not_taken:
        shown = "; ".join(f"{group} ({len(names)} step{'s' if len(names) > 1 else ''})" if len(names) > 1
                          else f"{group}: {names[0]}" for group, names in not_taken.items())  # fmt: skip
        echo(f"not executed: {shown}")
    gates = [line for s in record.steps.values() if s.status == "Succeeded" for line in HANDLERS[s.type].gate_lines(s)]
    if gates:
        echo("")
        echo("gates:")
        for line in gates:
            echo(f"  {line}")
    echo("")
    echo(f"pipeline {record.status}; record {record.path}")
    if record.failure_reason:
        echo(f"failure: {record.failure_reason}")
    if record.model_package_arn:
        echo(f"model package: {record.model_package_arn}")
    if result.observer_error:  # the run's steps ran, but it is not where the user will look for it
        echo(f"error: {result.observer_error}")


def skipped_groups(record) -> dict[str, list[str]]:
    """Skipped steps by the outermost branch not taken that holds them ('Gate-models.ElseSteps'), or by their
    own name when a dependency did not run; in record order."""
    groups: dict[str, list[str]] = {}
    for step in record.steps.values():
        if step.status != "Skipped":
            continue
        group, current = step.name, step
        while current.branch:
            condition = record.steps.get(current.branch.rsplit(".", 1)[0])
            group = current.branch
            if condition is None or condition.status != "Skipped":
                break
            current = condition
        groups.setdefault(group, []).append(step.name)
    return groups


def run_dir_default() -> Path:
    return Path("runs")
