"""Load a model (model.tar.gz or a model folder), score the holdout, write evaluation.json."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from steps.common.errors import StepInputError
from steps.common.feature_table import load_feature_table
from steps.common.folds import holdout_mask, session_dates
from steps.common.io import write_json, write_metrics, write_parquet
from steps.common.logging import StepTimer, log_input_size
from steps.evaluate.metrics import bootstrap_std, point_metrics
from steps.train.algorithms import LoadedModel, load_model_dir


def _auc_or_none(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


def auc_by(frame: pd.DataFrame, keys: pd.Series | np.ndarray, scores: np.ndarray) -> dict[str, dict[str, Any]]:
    """AUC and row count per key (None where a key's rows hold one class)."""
    labels = frame["label"].to_numpy(dtype="int64")
    keys = np.asarray(keys, dtype=object)
    return {str(key): {"auc": _auc_or_none(labels[keys == key], scores[keys == key]),
                       "rows": int((keys == key).sum())} for key in sorted(set(keys))}


def breakdowns(frame: pd.DataFrame, scores: np.ndarray, model: LoadedModel) -> dict[str, Any]:
    """Where the model is good and where not: by model group, sector, ticker, week, and a calibration table."""
    report: dict[str, Any] = {"by_ticker": auc_by(frame, frame["ticker"].astype(str), scores)}
    if "sector" in frame.columns:
        report["by_sector"] = auc_by(frame, frame["sector"].fillna("unknown").astype(str), scores)
    if model.group_models:
        report["by_group"] = {"mode": model.grouping_mode, "auc": auc_by(frame, model.groups_of(frame), scores)}
    weeks = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC").tz_localize(None).to_period("W").astype(str)
    report["by_period"] = {"unit": "week", "auc": auc_by(frame, np.asarray(weeks), scores)}
    bins = np.clip((scores * 10).astype(int), 0, 9)
    labels = frame["label"].to_numpy(dtype="int64")
    report["calibration"] = [{"bin": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "rows": int((bins == b).sum()),
                              "mean_prediction": float(scores[bins == b].mean()),
                              "positive_rate": float(labels[bins == b].mean())}
                             for b in range(10) if (bins == b).any()]
    return report


def run_evaluation(model_path: str | Path, features_path: str | Path, output: str | Path,
                   algorithm: str | None, logger: logging.Logger, *, bootstrap: int = 200,
                   seed: int = 0) -> dict[str, Any]:
    timer = StepTimer(logger)
    with timer.block("load_model"):
        model = load_model_dir(model_path)
        meta = model.meta
        name = algorithm or meta.get("algorithm")
        if algorithm and meta.get("algorithm") not in (None, algorithm):
            raise StepInputError(f"model was trained with {meta.get('algorithm')!r}, not {algorithm!r}",
                                 file=Path(model_path), column="algorithm", fix="pass the matching --algorithm")
    with timer.block("read_features"):
        table = load_feature_table(features_path)
    log_input_size(logger, "features", table.frame, table.folder)
    features = meta.get("features", table.feature_columns)
    missing = [c for c in features if c not in table.frame.columns]
    if missing:
        raise StepInputError("the model's feature is missing from the table",
                             file=table.folder / "features.parquet", column=missing[0],
                             fix="evaluate with the features the model was trained on")
    frame = table.frame[holdout_mask(table.frame, table.folds)].reset_index(drop=True)
    labels = frame["label"].to_numpy(dtype="int64")
    if len(frame) == 0 or len(np.unique(labels)) < 2:
        raise StepInputError(f"holdout has {len(frame)} rows and {len(np.unique(labels))} classes",
                             file=table.folder / "features.parquet", column="label",
                             fix="rebuild the features with a longer --holdout-days")
    with timer.block("predict"):
        # The whole table is passed so a sequence model sees each holdout row's history; only holdout
        # rows are scored and reported.
        holdout = holdout_mask(table.frame, table.folds)
        scores = model.predict(table.frame)[holdout]
    with timer.block("metrics"):
        point = point_metrics(labels, scores)
        spread = bootstrap_std(labels, scores, session_dates(frame["ts"]), resamples=bootstrap, seed=seed)
    report = {
        "binary_classification_metrics": {
            metric: {"value": point[metric], "standard_deviation": spread[metric]}
            for metric in ("auc", "accuracy", "log_loss", "brier")
        },
        "algorithm": name,
        "holdout": {"rows": len(frame), "start": frame["ts"].min().isoformat(),
                    "end": frame["ts"].max().isoformat(), "positive_rate": float(labels.mean()),
                    "days": len(np.unique(session_dates(frame["ts"])))},
        "bootstrap": {"resamples": bootstrap, "unit": "trading day", "seed": seed},
        "model": {"validation_auc": meta.get("validation_auc"), "refit_iterations": meta.get("refit_iterations"),
                  "best_iterations": [f.get("best_iteration") for f in meta.get("folds", [])],
                  "grouping": model.grouping_mode, "group_models": len(model.group_models)},
        **breakdowns(frame, scores, model),
    }
    predictions = pd.DataFrame({"ticker": frame["ticker"], "ts": frame["ts"], "label": labels,
                                "prediction": scores, "forward_return": frame.get("forward_return")})
    out = Path(output)
    write_parquet(predictions, out / "holdout_predictions.parquet")
    write_json(report, out / "evaluation.json")
    write_metrics(out, {"timings_s": timer.as_metrics(), "holdout_rows": len(frame), **point})
    logger.info("holdout auc=%.4f (sd %.4f) accuracy=%.4f log_loss=%.4f brier=%.4f on %d rows", point["auc"],
                spread["auc"], point["accuracy"], point["log_loss"], point["brier"], len(frame))
    return report
