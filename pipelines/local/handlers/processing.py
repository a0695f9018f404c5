"""ProcessingStep: one CreateProcessingJob, run on the host; its outputs' `metrics.json` are its figures."""

from __future__ import annotations

import json
from typing import Any

from pipelines.definition.step_types import ProcessingStepType
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun
from pipelines.local.jobs.processing import run_processing_job
from pipelines.local.store import LocalStore


class ProcessingHandler(StepHandler):
    declaration = ProcessingStepType()
    cacheable = True

    def execute(self, run: StepRun) -> StepResult:
        with run.job_slot():
            properties = run_processing_job(
                run.name, run.arguments, run.job_root, run.execution.store, run.execution.options.containers
            )
        outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in properties["ProcessingOutputConfig"]["Outputs"]}
        return StepResult(properties, outputs, _output_metrics(outputs, run.execution.store))

    def output_uris(self, properties: dict[str, Any]) -> list[str]:
        return [o["S3Output"]["S3Uri"] for o in properties.get("ProcessingOutputConfig", {}).get("Outputs", [])]


def _output_metrics(outputs: dict[str, str], store: LocalStore) -> dict[str, Any]:
    """A step's own figures: the `metrics.json` it writes beside its outputs (docs/steps.md)."""
    metrics = {}
    for name, uri in outputs.items():
        path = store.path(f"{uri}/metrics.json")
        if path.is_file():
            try:
                metrics[name] = json.loads(path.read_text())
            except json.JSONDecodeError:
                continue
    return metrics
