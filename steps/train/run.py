"""Walk-forward cross-validation, then a refit on every development row (never the holdout).

For each fold: fit with early stopping on that fold's validation window, score validation and train
AUC, keep the out-of-fold predictions. Then refit on all rows whose label window (plus embargo) ends
before the holdout starts, for the mean best iteration. Holdout rows are never read for fitting or
stopping; steps.evaluate is the only step that scores them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from steps.common.errors import StepInputError
from steps.common.feature_table import FeatureTable, feature_matrix, load_feature_table
from steps.common.folds import development_mask, fold_masks, holdout_mask
from steps.common.io import write_json, write_metrics, write_parquet
from steps.common.logging import StepTimer, log_input_size
from steps.train.algorithms import Algorithm

META_FILE = "model_meta.json"
OOF_FILE = "oof_predictions.parquet"


@dataclass
class TrainResult:
    validation_auc: float
    train_auc: float
    folds: list[dict[str, Any]]
    refit_iterations: int
    meta: dict[str, Any]


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def cross_validate_and_refit(table: FeatureTable, algorithm_cls: type[Algorithm], params: dict[str, Any],
                             logger: logging.Logger) -> tuple[TrainResult, Algorithm, pd.DataFrame]:
    frame, columns = table.frame, table.feature_columns
    source = table.folder / "features.parquet"
    x = feature_matrix(frame, columns)
    y = frame["label"].to_numpy(dtype="float64")
    holdout = holdout_mask(frame, table.folds)
    fold_results, oof = [], []
    for fold, (train, validation) in zip(table.folds.folds, fold_masks(frame, table.folds), strict=True):
        # Belt and braces: fold_masks already excludes the holdout; make it impossible here too.
        train, validation = train & ~holdout, validation & ~holdout
        if train.sum() == 0 or validation.sum() == 0 or len(np.unique(y[validation])) < 2:
            raise StepInputError(f"fold {fold.fold} has {int(train.sum())} train and {int(validation.sum())} "
                                 "validation rows (both classes needed)", file=source, column="label",
                                 fix="rebuild the features with longer train/validation windows")
        model = algorithm_cls(params)
        fit = model.fit(x[train], y[train], x[validation], y[validation], columns)
        valid_pred = model.predict(x[validation])
        result = {
            "fold": fold.fold,
            "best_iteration": fit.best_iteration,
            "validation_auc": _auc(y[validation], valid_pred),
            "train_auc": _auc(y[train], model.predict(x[train])),
            "train_rows": int(train.sum()),
            "validation_rows": int(validation.sum()),
        }
        logger.info("fold %d: best_iteration=%d validation_auc=%.4f train_auc=%.4f (%d/%d rows)", fold.fold,
                    result["best_iteration"], result["validation_auc"], result["train_auc"],
                    result["train_rows"], result["validation_rows"])
        fold_results.append(result)
        oof.append(pd.DataFrame({"ticker": frame.loc[validation, "ticker"].to_numpy(),
                                 "ts": frame.loc[validation, "ts"].to_numpy(), "fold": fold.fold,
                                 "label": y[validation].astype("int64"), "prediction": valid_pred}))
    development = development_mask(frame, table.folds) & ~holdout
    refit_iterations = max(1, round(float(np.mean([r["best_iteration"] for r in fold_results]))))
    final = algorithm_cls(params)
    final.refit(x[development], y[development], refit_iterations, columns)
    validation_auc = float(np.nanmean([r["validation_auc"] for r in fold_results]))
    train_auc = float(np.nanmean([r["train_auc"] for r in fold_results]))
    meta = {
        "algorithm": algorithm_cls.name,
        "features": columns,
        "hyperparameters": params,
        "folds": fold_results,
        "validation_auc": validation_auc,
        "train_auc": train_auc,
        "refit_iterations": refit_iterations,
        "refit_rows": int(development.sum()),
        "holdout_start": table.folds.holdout_start.isoformat(),
        "holdout_rows_excluded": int(holdout.sum()),
        "features_manifest": {k: table.manifest.get(k) for k in ("settings", "data_range")},
    }
    oof_frame = pd.concat(oof, ignore_index=True)
    oof_frame["ts"] = pd.DatetimeIndex(oof_frame["ts"]).tz_localize("UTC") \
        if pd.DatetimeIndex(oof_frame["ts"]).tz is None else oof_frame["ts"]
    result = TrainResult(validation_auc, train_auc, fold_results, refit_iterations, meta)
    return result, final, oof_frame


def run_training(train_dir: str | Path, model_dir: str | Path, output_data_dir: str | Path,
                 algorithm_cls: type[Algorithm], params: dict[str, Any], logger: logging.Logger) -> TrainResult:
    timer = StepTimer(logger)
    with timer.block("read_inputs"):
        table = load_feature_table(train_dir)
    log_input_size(logger, "features", table.frame, table.folder)
    with timer.block("cross_validate_and_refit"):
        result, model, oof = cross_validate_and_refit(table, algorithm_cls, params, logger)
    model_path = Path(model_dir)
    model_path.mkdir(parents=True, exist_ok=True)
    with timer.block("write"):
        files = model.save(model_path)
        write_parquet(oof, model_path / OOF_FILE)
        write_json({**result.meta, "files": [*files, OOF_FILE]}, model_path / META_FILE)
    write_metrics(output_data_dir, {"timings_s": timer.as_metrics(), "validation_auc": result.validation_auc,
                                    "train_auc": result.train_auc, "folds": result.folds,
                                    "rows": len(table.frame), "features": len(table.feature_columns)})
    return result
