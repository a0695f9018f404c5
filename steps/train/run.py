"""Walk-forward cross-validation, then a refit on every development row (never the holdout), for any family.

For each fold: fit with early stopping on that fold's validation window, score validation and train
AUC, keep the out-of-fold predictions. Then refit on all rows whose label window (plus embargo) ends
before the holdout starts, for the mean best iteration. Holdout rows are never read for fitting or
stopping; steps.evaluate is the only step that scores them.

Grouping (`stock` / `sector`): the same loop again on each group's rows, beside the global model; a group
with fewer than `min_group_rows` development rows (or no fold with both classes) is scored by the global
model. Out-of-fold predictions and the printed validation AUC are routed exactly as `predict` routes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from steps.common.errors import StepInputError
from steps.common.feature_table import FeatureTable
from steps.common.folds import development_mask, fold_masks, holdout_mask
from steps.common.io import MANIFEST_FILES, clear_outputs, read_json, write_metrics, write_parquet
from steps.common.logging import StepTimer, log_input_size
from steps.features.table import load_feature_table
from steps.train.algorithms import Algorithm
from steps.train.algorithms.loader import META_FILE, write_model_meta
from steps.train.settings import TrainingSettings

OOF_FILE = "oof_predictions.parquet"


_DEFAULT = TrainingSettings()


@dataclass(frozen=True)
class Grouping:
    """`global`: one model. `stock` / `sector`: one model per ticker / sector with at least `min_group_rows`
    development rows, trained in this job beside the global model, which scores every other group. The values
    are declared and bounded once, in steps/train/settings.py."""

    mode: str = _DEFAULT.grouping
    min_group_rows: int = _DEFAULT.min_group_rows

    @classmethod
    def from_settings(cls, settings: TrainingSettings) -> Grouping:
        return cls(mode=settings.grouping, min_group_rows=settings.min_group_rows)


@dataclass
class TrainResult:
    validation_auc: float
    train_auc: float
    folds: list[dict[str, Any]]
    refit_iterations: int
    meta: dict[str, Any]


@dataclass
class WalkForward:
    """One model family on one set of rows: per-fold results, out-of-fold predictions, the refit model."""

    folds: list[dict[str, Any]]
    oof: np.ndarray  # prediction per row of the table; NaN where the row was in no validation window
    refit_iterations: int
    model: Algorithm


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def walk_forward(table: FeatureTable, x: np.ndarray, y: np.ndarray, rows: np.ndarray,
                 algorithm_cls: type[Algorithm], params: dict[str, Any], logger: logging.Logger,
                 label: str = "global", strict: bool = True) -> WalkForward | None:
    """Fit per fold on `rows` (early stopping on the fold's validation window), then refit on all of them.

    strict: a fold without train rows or with one class in validation is an error (the global model);
    otherwise that fold is skipped, and with no usable fold at all the result is None (a group falls back).
    """
    frame, columns = table.frame, table.feature_columns
    holdout = holdout_mask(frame, table.folds)
    oof = np.full(len(frame), np.nan)
    fold_results = []
    for fold, (train, validation) in zip(table.folds.folds, fold_masks(frame, table.folds), strict=True):
        # Belt and braces: fold_masks already excludes the holdout; make it impossible here too.
        train, validation = train & ~holdout & rows, validation & ~holdout & rows
        usable = train.sum() > 0 and validation.sum() > 0 and len(np.unique(y[train])) == 2 \
            and len(np.unique(y[validation])) == 2
        if not usable:
            if strict:
                raise StepInputError(f"fold {fold.fold} has {int(train.sum())} train and {int(validation.sum())} "
                                     "validation rows (both classes needed)",
                                     file=table.folder / "features.parquet", column="label",
                                     fix="rebuild the features with longer train/validation windows")
            continue
        model = algorithm_cls(params)
        fit = model.fit(x[train], y[train], x[validation], y[validation], columns)
        valid_pred = model.predict(x[validation])
        oof[validation] = valid_pred
        result = {
            "fold": fold.fold,
            "best_iteration": int(fit.best_iteration),
            "validation_auc": _auc(y[validation], valid_pred),
            "train_auc": _auc(y[train], model.predict(x[train])),
            "train_rows": int(train.sum()),
            "validation_rows": int(validation.sum()),
        }
        logger.info("%s fold %d: best_iteration=%d validation_auc=%.4f train_auc=%.4f (%d/%d rows)", label,
                    fold.fold, result["best_iteration"], result["validation_auc"], result["train_auc"],
                    result["train_rows"], result["validation_rows"])
        fold_results.append(result)
    if not fold_results:
        return None
    development = development_mask(frame, table.folds) & ~holdout & rows
    refit_iterations = max(1, round(float(np.mean([r["best_iteration"] for r in fold_results]))))
    final = algorithm_cls(params)
    final.refit(x[development], y[development], refit_iterations, columns)
    return WalkForward(fold_results, oof, refit_iterations, final)


def group_keys(table: FeatureTable, mode: str) -> pd.Series:
    frame = table.frame
    if mode == "stock":
        return frame["ticker"].astype(str)
    if "sector" not in frame.columns or frame["sector"].isna().all():
        raise StepInputError("per-sector models need the sector of every row", file=table.folder / "features.parquet",
                             column="sector", fix="build the features with the universe file (ticker, sector)")
    return frame["sector"].fillna("unknown").astype(str)


def group_folder(name: str) -> str:
    return "groups/" + re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def cross_validate_and_refit(table: FeatureTable, algorithm_cls: type[Algorithm], params: dict[str, Any],
                             logger: logging.Logger, grouping: Grouping | None = None,
                             ) -> tuple[TrainResult, Algorithm, pd.DataFrame, dict[str, Algorithm]]:
    """The global walk-forward model, plus one per group when grouping; OOF predictions routed like predict."""
    grouping = grouping or Grouping()
    frame, columns = table.frame, table.feature_columns
    x = algorithm_cls.design_matrix(frame, columns, params)
    y = frame["label"].to_numpy(dtype="float64")
    holdout = holdout_mask(frame, table.folds)
    everything = np.ones(len(frame), dtype=bool)
    base = walk_forward(table, x, y, everything, algorithm_cls, params, logger)
    oof, scored_by = base.oof.copy(), np.full(len(frame), "global", dtype=object)
    group_models: dict[str, Algorithm] = {}
    grouping_meta: dict[str, Any] = {"mode": grouping.mode}
    if grouping.mode != "global":
        keys = group_keys(table, grouping.mode)
        development = development_mask(frame, table.folds) & ~holdout
        groups_meta, fallback = {}, {}
        for name in sorted(keys.unique()):
            rows = (keys == name).to_numpy()
            n_rows = int((rows & development).sum())
            fitted = walk_forward(table, x, y, rows, algorithm_cls, params, logger, label=name, strict=False) \
                if n_rows >= grouping.min_group_rows else None
            if fitted is None:
                fallback[name] = n_rows
                continue
            routed = rows & ~np.isnan(fitted.oof)
            oof[routed], scored_by[routed] = fitted.oof[routed], name
            group_models[name] = fitted.model
            groups_meta[name] = {"folder": group_folder(name), "rows": n_rows, "folds": fitted.folds,
                                 "refit_iterations": fitted.refit_iterations,
                                 "validation_auc": float(np.nanmean([r["validation_auc"] for r in fitted.folds]))}
        ticker_group = dict(zip(frame["ticker"].astype(str), keys, strict=True))
        grouping_meta.update({"key": "ticker" if grouping.mode == "stock" else "sector",
                              "min_group_rows": grouping.min_group_rows, "groups": groups_meta,
                              "fallback_to_global": fallback, "ticker_group": dict(sorted(ticker_group.items()))})
        logger.info("grouping=%s: %d group models, %d groups scored by the global model (< %d rows)",
                    grouping.mode, len(groups_meta), len(fallback), grouping.min_group_rows)

    # The figures the tuner sees: per fold, the AUC of the routed out-of-fold predictions.
    oof_parts, fold_results = [], []
    for result, (_, validation) in zip(base.folds, fold_masks(frame, table.folds), strict=True):
        validation = validation & ~holdout
        routed_auc = _auc(y[validation], oof[validation])
        fold_results.append({**result, "routed_validation_auc": routed_auc} if group_models else result)
        oof_parts.append(pd.DataFrame({"ticker": frame.loc[validation, "ticker"].to_numpy(),
                                       "ts": frame.loc[validation, "ts"].to_numpy(), "fold": result["fold"],
                                       "label": y[validation].astype("int64"), "prediction": oof[validation],
                                       "model": scored_by[validation]}))
    key = "routed_validation_auc" if group_models else "validation_auc"
    validation_auc = float(np.nanmean([r[key] for r in fold_results]))
    train_auc = float(np.nanmean([r["train_auc"] for r in fold_results]))
    development = development_mask(frame, table.folds) & ~holdout
    meta = {
        "algorithm": algorithm_cls.name,
        "features": columns,
        "hyperparameters": params,
        "folds": fold_results,
        "best_iterations": [r["best_iteration"] for r in fold_results],
        "validation_auc": validation_auc,
        "train_auc": train_auc,
        "refit_iterations": base.refit_iterations,
        "refit_rows": int(development.sum()),
        "holdout_start": table.folds.holdout_start.isoformat(),
        "holdout_rows_excluded": int(holdout.sum()),
        "grouping": grouping_meta,
        "features_manifest": {k: table.manifest.get(k) for k in ("settings", "data_range")},
        # the refit model's own importance (the report shows it when SHAP stability did not run); null: none
        "feature_importance": base.model.feature_importance(),
        "feature_importance_type": algorithm_cls.importance_type,
    }
    oof_frame = pd.concat(oof_parts, ignore_index=True)
    oof_frame["ts"] = pd.DatetimeIndex(oof_frame["ts"]).tz_localize("UTC") \
        if pd.DatetimeIndex(oof_frame["ts"]).tz is None else oof_frame["ts"]
    result = TrainResult(validation_auc, train_auc, fold_results, base.refit_iterations, meta)
    return result, base.model, oof_frame, group_models


def check_no_empty_feature(table: FeatureTable) -> None:
    """Refuse a feature with no value at all in the training window (every development row NaN).

    The tree libraries would split on nothing and the GRU would standardise it to zeros: a model would train,
    score and pass its gates on a column that is a broken input (a join that matched nothing, an upstream
    outage), and serve it later with values it never saw."""
    development = development_mask(table.frame, table.folds) & ~holdout_mask(table.frame, table.folds)
    rows = table.frame.loc[development, table.feature_columns]
    empty = [c for c in table.feature_columns if rows[c].isna().all()]
    if empty and len(rows):
        raise StepInputError(f"is NaN on all {len(rows)} training rows (before the holdout)"
                             + (f"; so are {len(empty) - 1} more: {', '.join(empty[1:4])}"
                                f"{', ...' if len(empty) > 4 else ''}" if len(empty) > 1 else ""),
                             file=table.folder / "features.parquet", column=empty[0],
                             fix="fix the input that feeds it and rebuild the features, or drop the column from "
                                 "manifest.json's feature_columns")


def _previous_outputs(model_path: Path) -> list[str]:
    """What an earlier run listed in this model folder (so that its leftovers are removed, not shipped)."""
    try:
        listing = read_json(model_path / META_FILE).get(MANIFEST_FILES)
    except (StepInputError, AttributeError):
        return []
    names = list(listing) if isinstance(listing, dict | list) else []
    return [n for n in names if isinstance(n, str) and not Path(n).is_absolute() and ".." not in Path(n).parts]


def run_training(train_dir: str | Path, model_dir: str | Path, output_data_dir: str | Path,
                 algorithm_cls: type[Algorithm], params: dict[str, Any], logger: logging.Logger,
                 grouping: Grouping | None = None) -> TrainResult:
    timer = StepTimer(logger)
    with timer.block("read_inputs"):
        table = load_feature_table(train_dir)
    log_input_size(logger, "features", table.frame, table.folder)
    check_no_empty_feature(table)
    with timer.block("cross_validate_and_refit"):
        result, model, oof, group_models = cross_validate_and_refit(table, algorithm_cls, params, logger, grouping)
    model_path = Path(model_dir)
    with timer.block("write"):
        # model_meta.json (the listing) goes first and comes back last: a crash in between leaves a folder
        # without one, which every reader refuses, never new files under an old listing or old files beside new.
        # On SageMaker the folder starts empty and the service tars it into model.tar.gz after the job.
        clear_outputs(model_path, [META_FILE, *_previous_outputs(model_path), OOF_FILE, "groups",
                                   *algorithm_cls.files])
        model_path.mkdir(parents=True, exist_ok=True)
        files = model.save(model_path)
        for name, group_model in group_models.items():
            folder = result.meta["grouping"]["groups"][name]["folder"]
            (model_path / folder).mkdir(parents=True, exist_ok=True)
            files += [f"{folder}/{file}" for file in group_model.save(model_path / folder)]
        write_parquet(oof, model_path / OOF_FILE)
        write_model_meta(model_path, result.meta, [*files, OOF_FILE])  # last
    write_metrics(output_data_dir, {"timings_s": timer.as_metrics(), "validation_auc": result.validation_auc,
                                    "grouping": result.meta["grouping"]["mode"],
                                    "group_models": len(group_models),
                                    "train_auc": result.train_auc, "folds": result.folds,
                                    "rows": len(table.frame), "features": len(table.feature_columns)})
    return result
