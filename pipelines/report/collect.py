"""What the report shows, gathered from an execution record and the artifacts its steps wrote.

The record is the local runner's `execution.json` (or one built from a SageMaker execution). Artifacts
are found by what steps write, not by step names: any output folder holding `evaluation.json`,
`leak_report.json`, `stability_report.json`, `check_report.json` or a feature table's `manifest.json` is
read, so new stages show up without changes here. The one name-based link: `Evaluate-<alg>[-r]` evaluated
the best model of `Tune-<alg>[-r]`, its own round's tuning step (pipelines/stages/models.py).
"""

from __future__ import annotations

import io
import json
import tarfile
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
    training_job: str | None = None     # the tuning job's best the evaluation read (its fold AUCs are shown)
    training_job_step: str | None = None  # the tuning step that ran it, when another round's (warm start)
    model_meta: dict[str, Any] | None = None  # that job's model_meta.json (its own feature importance)

    @property
    def ci95(self) -> tuple[float, float] | None:
        if self.auc is None or self.auc_std is None:
            return None
        return self.auc - 1.96 * self.auc_std, self.auc + 1.96 * self.auc_std


@dataclass
class TuningResult:
    """One tuning step. `best_job` is what its Evaluate step reads: the OverallBestTrainingJob when warm-started
    (it may be a parent round's job), else the BestTrainingJob; `own_best_*` is the best of its own trials."""

    step: str
    objective: str
    best_job: str | None
    best_value: float | None
    trials: list[dict[str, Any]]
    fold_aucs: list[float]
    own_best_job: str | None = None
    own_best_value: float | None = None
    model_uris: dict[str, str] = field(default_factory=dict)  # training job -> model.tar.gz
    best_meta: dict[str, Any] | None = None  # the best job's model_meta.json

    @property
    def best_hyperparameters(self) -> dict[str, Any]:
        return next((t["hyperparameters"] for t in self.trials if t["job"] == self.best_job), {})


@dataclass
class ReportData:
    record: dict[str, Any]
    models: list[ModelResult] = field(default_factory=list)
    tunings: list[TuningResult] = field(default_factory=list)
    leak_reports: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stability: list[tuple[str, dict[str, Any], bytes | None]] = field(default_factory=list)  # plot: an <img>
    checks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    features: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # the feature table's manifest
    finals: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # FinalHoldout's evaluation.json
    lockbox: dict[str, Any] | None = None  # SealLockbox's lockbox.json: what was sealed, opened or not
    problems: list[str] = field(default_factory=list)
    job_logs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # step -> (label, href) of its logs

    @property
    def approval(self) -> str | None:
        """The registered package's approval status as the record holds it (set when the package was created;
        `python -m pipelines.approve` changes it later in the registry, not in the record)."""
        for step in self.record.get("steps") or []:
            if step.get("type") == "RegisterModel" and step.get("status") == "Succeeded":
                status = _dict(step.get("properties")).get("ModelApprovalStatus")
                if status:
                    return str(status)
        status = self.record.get("model_approval_status")
        return str(status) if status else None


def _json(source: ArtifactSource, uri: str) -> dict[str, Any] | None:
    """The artifact's JSON object; None when absent or not an object (not UTF-8, not JSON, too deep)."""
    blob = source.read_bytes(uri)
    if blob is None:
        return None
    try:
        value = json.loads(blob)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, numbers past the digit limit
        return None
    return value if isinstance(value, dict) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    """A figure from an artifact, when it is one (a string or true/false is not a number to draw)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


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
    try:
        member = member_of_tarball(blob, "model_meta.json")
        meta = json.loads(member) if member else None
    except (OSError, EOFError, tarfile.TarError, ValueError, RecursionError):  # a model.tar.gz the report cannot read
        return None
    return meta if isinstance(meta, dict) else None


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
    metrics = _dict(evaluation.get("binary_classification_metrics"))
    auc = _dict(metrics.get("auc"))
    name = evaluation.get("algorithm") or ("ensemble" if "ensemble" in evaluation else step["name"])
    if isinstance(evaluation.get("final_metadata"), dict):
        name = f"{name} (final holdout)"
    return ModelResult(
        step=step["name"],
        name=str(name),
        auc=_number(auc.get("value")),
        auc_std=_number(auc.get("standard_deviation")),
        metrics={str(k): v.get("value") for k, v in metrics.items() if isinstance(v, dict) and k != "auc"},
        roc=_roc(source, folder),
        suspicion=evaluation.get("suspicion") if isinstance(evaluation.get("suspicion"), dict) else None,
        extra={k: evaluation[k] for k in ("ensemble", "holdout", "degradation", "signal_quality", "backtest",
                                          "by_sector", "by_ticker", "by_period", "calibration")
               if evaluation.get(k)},
        folder=folder,
    )


def _tuning(step: dict[str, Any]) -> TuningResult:
    properties = step.get("properties") or {}
    listed = properties.get("TrainingJobSummaries")
    summaries = [s for s in listed if isinstance(s, dict)] if isinstance(listed, list) else []
    trials = [
        {
            "job": s.get("TrainingJobName"),
            "status": s.get("ObjectiveStatus") or s.get("TrainingJobStatus"),
            "objective": _number(_dict(s.get("FinalHyperParameterTuningJobObjectiveMetric")).get("Value")),
            "hyperparameters": _dict(s.get("TunedHyperParameters")),
        }
        for s in summaries
    ]
    uris = {s["TrainingJobName"]: s["ModelArtifacts"]["S3ModelArtifacts"] for s in summaries
            if s.get("TrainingJobName") and _dict(s.get("ModelArtifacts")).get("S3ModelArtifacts")}
    own = _dict(properties.get("BestTrainingJob"))
    best = _dict(properties.get("OverallBestTrainingJob")) or own
    outputs = step.get("outputs") or {}
    for job in (own, best):
        uri = _dict(job.get("ModelArtifacts")).get("S3ModelArtifacts")
        if job.get("TrainingJobName") and uri:
            uris.setdefault(job["TrainingJobName"], uri)
    if own.get("TrainingJobName") and outputs.get("best_model"):  # the local runner's output: the own best's model
        uris.setdefault(own["TrainingJobName"], outputs["best_model"])

    def value(job: dict[str, Any]) -> float | None:
        return _number(_dict(job.get("FinalHyperParameterTuningJobObjectiveMetric")).get("Value"))

    objective = (step.get("metrics") or {}).get("objective_metric", "objective")
    return TuningResult(step["name"], objective, best.get("TrainingJobName"), value(best), trials, [],
                        own.get("TrainingJobName"), value(own), uris)


def _attach_fold_aucs(tunings: list[TuningResult], source: ArtifactSource) -> None:
    """Each tuning's fold AUCs are those of the job its evaluation read, whichever round ran that job."""
    uris: dict[str, str] = {}
    for tuning in tunings:
        for job, uri in tuning.model_uris.items():
            uris.setdefault(job, uri)
    for tuning in tunings:
        if tuning.best_job:
            tuning.best_meta = _model_meta(source, uris.get(tuning.best_job))
            tuning.fold_aucs = _fold_aucs(tuning.best_meta)


def tuning_of(model: ModelResult, tunings: list[TuningResult]) -> TuningResult | None:
    """The tuning step of the model's own round: Evaluate-<alg>[-r] reads Tune-<alg>[-r]'s best model."""
    by_step = {t.step: t for t in tunings}
    if model.step.startswith("Evaluate-"):
        return by_step.get("Tune-" + model.step.removeprefix("Evaluate-"))
    return None


def feature_notes(manifest: dict[str, Any]) -> list[str]:
    """What the feature table leaves out, in words: absent inputs with the features dropped for them, and the
    sessions no fold covers. Shown in the report and the run summary."""
    notes = []
    dropped = manifest.get("dropped_features") or {}
    if manifest.get("absent_inputs"):
        notes.append(f"the bars have no {', '.join(manifest['absent_inputs'])}: {len(dropped)} features that need "
                     f"them were dropped ({', '.join(dropped)})")
    coverage = manifest.get("fold_coverage") or {}
    if coverage.get("note"):
        notes.append(str(coverage["note"]))
    engagement = _dict(manifest.get("engagement"))
    late = _number(engagement.get("neutralised_late")) or 0
    unknown = _number(engagement.get("neutralised_unknown")) or 0
    if late or unknown:
        total = late + unknown + (_number(engagement.get("used")) or 0)
        notes.append(f"{int(late + unknown)} of {int(total)} tweets are unweighted in sent_*: their engagement counts "
                     f"were read after the tweet could first be used ({int(late)}) or at an unknown time "
                     f"({int(unknown)}; docs/data.md, \"When the engagement counts were read\")")
    return notes


def latest_week_below_gate(model: ModelResult, record: dict[str, Any]) -> dict[str, Any] | None:
    """The model's latest holdout week against the execution's MinModelAUC (None when not below it)."""
    decay = _dict(model.extra.get("degradation"))
    gate = _number(decay.get("gate"))
    if gate is None:
        try:
            gate = float((record.get("parameters") or {}).get("MinModelAUC"))
        except (TypeError, ValueError):
            gate = None
    auc = _number(decay.get("auc"))
    if auc is None or gate is None or auc >= gate:
        return None
    return {**decay, "auc": auc, "gate": gate, "below_gate": True}


def collect(record: dict[str, Any], source: ArtifactSource) -> ReportData:
    data = ReportData(record=record)
    for step in record.get("steps", []):
        if step.get("status") != "Succeeded":
            continue
        if step.get("type") == "Tuning":
            data.tunings.append(_tuning(step))
            continue
        for folder in (step.get("outputs") or {}).values():
            if not isinstance(folder, str) or not folder.startswith(("s3://", "file://")):
                continue
            folder = folder.rstrip("/")
            evaluation = _json(source, f"{folder}/evaluation.json")
            if evaluation:
                data.models.append(_evaluation(step, folder, evaluation, source))
                if isinstance(evaluation.get("final_metadata"), dict):
                    data.finals.append((step["name"], evaluation))
            lockbox = _json(source, f"{folder}/lockbox.json")
            if lockbox:
                data.lockbox = lockbox
            leaks = _json(source, f"{folder}/leak_report.json")
            if leaks:
                data.leak_reports.append((step["name"], leaks))
            stability = _json(source, f"{folder}/stability_report.json")
            if stability:
                plot = stability.get("plot")
                plot = plot if isinstance(plot, str) and plot and "/" not in plot and plot != ".." else "stability.svg"
                svg = source.read_bytes(f"{folder}/{plot}")
                data.stability.append((step["name"], stability, svg))
            check = _json(source, f"{folder}/check_report.json")
            if check:
                data.checks.append((step["name"], check))
            manifest = _json(source, f"{folder}/manifest.json")
            # SealLockbox's copy is BuildFeatures' table less the lockbox: its notes are the table's, said once
            if manifest and "feature_columns" in manifest and not manifest.get("lockbox"):
                data.features.append((step["name"], manifest))
    _attach_fold_aucs(data.tunings, source)
    runs = {job: t.step for t in data.tunings for job in (t.own_best_job, *(x["job"] for x in t.trials)) if job}
    for model in data.models:
        tuning = tuning_of(model, data.tunings)
        if tuning is None:
            continue
        model.training_job = tuning.best_job
        model.model_meta = tuning.best_meta
        if tuning.best_job and runs.get(tuning.best_job, tuning.step) != tuning.step:
            model.training_job_step = runs[tuning.best_job]
        if not model.fold_aucs:
            model.fold_aucs = tuning.fold_aucs
    return data


def final_holdout_lines(data: ReportData) -> list[str]:
    """The run summary's word on the lockbox: the final holdout's figures beside the selection holdout's, or that
    it stayed sealed (nothing passed selection), or nothing when the run had no lockbox."""
    lines = []
    for step, evaluation in data.finals:
        metadata = _dict(evaluation.get("final_metadata"))
        lines.append(f"{step}: {metadata.get('summary')}")
    if not lines and data.lockbox:
        box = data.lockbox
        lines.append(f"final holdout sealed, not opened: {box.get('final_holdout_rows')} rows from "
                     f"{box.get('final_holdout_start')} ({box.get('final_holdout_sessions')} sessions); no model "
                     "passed the selection gates, so nothing was scored on it")
    return lines
