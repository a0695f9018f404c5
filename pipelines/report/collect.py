"""What the report shows, gathered from an execution record and the artifacts its steps wrote.

The record is the local runner's `execution.json` (or one built from a SageMaker execution). Artifacts
are found by what steps write, not by step names: any output folder holding `evaluation.json`,
`leak_report.json`, `stability_report.json` or `check_report.json` is read, so new stages show up
without changes here.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.report.sources import ArtifactSource, member_of_tarball
from steps.common.curves import roc_points


@dataclass
class ModelResult:
    step: str
    name: str
    auc: float | None
    auc_std: float | None
    metrics: dict[str, float]
    roc: tuple[list[float], list[float]] | None = None
    fold_aucs: list[float] = field(default_factory=list)
    suspicion: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    folder: str | None = None

    @property
    def ci95(self) -> tuple[float, float] | None:
        if self.auc is None or self.auc_std is None:
            return None
        return self.auc - 1.96 * self.auc_std, self.auc + 1.96 * self.auc_std


@dataclass
class TuningResult:
    step: str
    objective: str
    best_job: str | None
    best_value: float | None
    trials: list[dict[str, Any]]
    fold_aucs: list[float]

    @property
    def best_hyperparameters(self) -> dict[str, Any]:
        return next((t["hyperparameters"] for t in self.trials if t["job"] == self.best_job), {})


@dataclass
class ReportData:
    record: dict[str, Any]
    models: list[ModelResult] = field(default_factory=list)
    tunings: list[TuningResult] = field(default_factory=list)
    leak_reports: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stability: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    checks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _json(source: ArtifactSource, uri: str) -> dict[str, Any] | None:
    blob = source.read_bytes(uri)
    if blob is None:
        return None
    try:
        return json.loads(blob)
    except json.JSONDecodeError:
        return None


def _fold_aucs(meta: dict[str, Any] | None) -> list[float]:
    if not meta:
        return []
    folds = meta.get("folds") or meta.get("fold_results") or []
    values = [f.get("validation_auc", f.get("auc")) for f in folds if isinstance(f, dict)]
    return [float(v) for v in values if isinstance(v, int | float)]


def _model_meta(source: ArtifactSource, model_uri: str | None) -> dict[str, Any] | None:
    if not model_uri:
        return None
    blob = source.read_bytes(model_uri)
    if blob is None:
        return None
    member = member_of_tarball(blob, "model_meta.json")
    return json.loads(member) if member else None


def _roc(source: ArtifactSource, folder: str) -> tuple[list[float], list[float]] | None:
    blob = source.read_bytes(f"{folder}/holdout_predictions.parquet")
    if blob is None:
        return None
    frame = pd.read_parquet(io.BytesIO(blob))
    if not {"label", "prediction"} <= set(frame.columns) or frame.empty:
        return None
    fpr, tpr = roc_points(frame["label"].to_numpy(), frame["prediction"].to_numpy())
    return [round(float(x), 5) for x in fpr], [round(float(y), 5) for y in tpr]


def _evaluation(step: dict[str, Any], folder: str, evaluation: dict[str, Any], source: ArtifactSource) -> ModelResult:
    metrics = evaluation.get("binary_classification_metrics", {})
    auc = metrics.get("auc", {})
    name = evaluation.get("algorithm") or ("ensemble" if "ensemble" in evaluation else step["name"])
    return ModelResult(
        step=step["name"],
        name=str(name),
        auc=auc.get("value"),
        auc_std=auc.get("standard_deviation"),
        metrics={k: v.get("value") for k, v in metrics.items() if isinstance(v, dict) and k != "auc"},
        roc=_roc(source, folder),
        suspicion=evaluation.get("suspicion"),
        extra={k: evaluation[k] for k in ("ensemble", "holdout", "degradation", "signal_quality", "backtest")
               if evaluation.get(k)},
        folder=folder,
    )


def _tuning(step: dict[str, Any], source: ArtifactSource) -> TuningResult:
    properties = step.get("properties") or {}
    summaries = properties.get("TrainingJobSummaries") or []
    trials = [
        {
            "job": s.get("TrainingJobName"),
            "status": s.get("ObjectiveStatus") or s.get("TrainingJobStatus"),
            "objective": (s.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value"),
            "hyperparameters": s.get("TunedHyperParameters") or {},
        }
        for s in summaries
    ]
    best = properties.get("OverallBestTrainingJob") or properties.get("BestTrainingJob") or {}
    best_value = (best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
    model_uri = (step.get("outputs") or {}).get("best_model") or (best.get("ModelArtifacts") or {}).get(
        "S3ModelArtifacts"
    )
    objective = (step.get("metrics") or {}).get("objective_metric", "objective")
    return TuningResult(step["name"], objective, best.get("TrainingJobName"), best_value, trials,
                        _fold_aucs(_model_meta(source, model_uri)))  # fmt: skip


def latest_week_below_gate(model: ModelResult, record: dict[str, Any]) -> dict[str, Any] | None:
    """The model's latest holdout week against the execution's MinModelAUC (None when not below it)."""
    decay = model.extra.get("degradation") or {}
    gate = decay.get("gate")
    if gate is None:
        gate = (record.get("parameters") or {}).get("MinModelAUC")
    if decay.get("auc") is None or gate is None or decay["auc"] >= float(gate):
        return None
    return {**decay, "gate": float(gate), "below_gate": True}


def collect(record: dict[str, Any], source: ArtifactSource) -> ReportData:
    data = ReportData(record=record)
    for step in record.get("steps", []):
        if step.get("status") != "Succeeded":
            continue
        if step.get("type") == "Tuning":
            data.tunings.append(_tuning(step, source))
            continue
        for folder in (step.get("outputs") or {}).values():
            if not isinstance(folder, str) or not folder.startswith(("s3://", "file://")):
                continue
            folder = folder.rstrip("/")
            evaluation = _json(source, f"{folder}/evaluation.json")
            if evaluation:
                data.models.append(_evaluation(step, folder, evaluation, source))
            leaks = _json(source, f"{folder}/leak_report.json")
            if leaks:
                data.leak_reports.append((step["name"], leaks))
            stability = _json(source, f"{folder}/stability_report.json")
            if stability:
                svg = source.read_bytes(f"{folder}/{stability.get('plot', 'stability.svg')}")
                data.stability.append((step["name"], stability, svg.decode() if svg else None))
            check = _json(source, f"{folder}/check_report.json")
            if check:
                data.checks.append((step["name"], check))
    by_algorithm = {t.step.removeprefix("Tune-").split("-")[0]: t for t in data.tunings}
    for model in data.models:
        tuning = by_algorithm.get(model.name)
        if tuning and not model.fold_aucs:
            model.fold_aucs = tuning.fold_aucs
    return data
