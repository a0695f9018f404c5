"""Stacking on out-of-fold predictions: the data science, on frames, with no file handling.

The meta-learner sees only out-of-fold rows: each base model's predictions on the validation windows of
the walk-forward folds, made by a model that never trained on them. Those rows all lie before the
holdout (their label windows end before it starts); any row that does not is refused, not dropped.
The meta-learner is evaluated walk-forward too (fit on earlier folds' rows, score the next fold), and
its final fit uses every out-of-fold row. The holdout is scored once, by the artifact, at the end.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from steps.common.auc import auc_or_none
from steps.common.errors import StepInputError
from steps.common.folds import session_dates
from steps.serve.model import MetaLearner, logit

KEYS = ["ticker", "ts"]


def check_oof_rows(oof: pd.DataFrame, name: str, expected: dict[int, int]) -> None:
    """Every out-of-fold row the folds call for, per fold: a table with rows missing (a truncated write, a
    model trained on part of the table) would fit the stack on a sample nobody chose, and say nothing."""
    found = oof["fold"].value_counts().to_dict()
    total_expected, total_found = sum(expected.values()), len(oof)
    short = [(fold, rows, int(found.get(fold, 0))) for fold, rows in sorted(expected.items())
             if int(found.get(fold, 0)) != rows]
    unknown = sorted(set(map(int, found)) - set(expected))
    if short or unknown or total_found != total_expected:
        detail = "; ".join(f"fold {f}: {got} of {rows}" for f, rows, got in short[:4])
        detail += f"; rows of unknown folds {unknown[:4]}" if unknown else ""
        raise StepInputError(f"holds {total_found} out-of-fold rows, the features' folds call for {total_expected} "
                             f"({detail.lstrip('; ')}); a stack fitted on them would use a partial sample",
                             file=f"{name}/oof_predictions.parquet", column="fold",
                             fix="retrain the model on the same features folder (steps.train writes every "
                                 "validation row of every fold)")


def align_oof(oof_by_model: dict[str, pd.DataFrame], holdout_start: pd.Timestamp,
              expected: dict[int, int] | None = None) -> pd.DataFrame:
    """One row per (ticker, ts) of every model's OOF predictions: fold, label, one column per model.

    Raises if any OOF row lies in the holdout, if the models disagree on a row's label or fold (they
    were then trained on different feature tables and cannot be stacked), if `expected` (rows per fold)
    is given and a model's rows differ from it, or if the models do not predict the same rows.
    """
    aligned: pd.DataFrame | None = None
    for name, oof in oof_by_model.items():
        missing = [c for c in (*KEYS, "fold", "label", "prediction") if c not in oof.columns]
        if missing:
            raise StepInputError("missing column in out-of-fold predictions", file=f"{name}/oof_predictions.parquet",
                                 column=missing[0], fix="retrain the model with steps.train")
        in_holdout = pd.DatetimeIndex(oof["ts"]) >= holdout_start
        if in_holdout.any():
            raise StepInputError(f"{int(in_holdout.sum())} out-of-fold rows lie in the holdout (from "
                                 f"{holdout_start.isoformat()}); stacking on them would leak the holdout",
                                 file=f"{name}/oof_predictions.parquet", column="ts",
                                 fix="retrain the model on the same features.parquet/folds.json")
        if oof.duplicated(KEYS).any():
            raise StepInputError("duplicate (ticker, ts) rows", file=f"{name}/oof_predictions.parquet",
                                 column="ts", fix="retrain the model with steps.train")
        if expected is not None:
            check_oof_rows(oof, name, expected)
        frame = oof[[*KEYS, "fold", "label", "prediction"]].rename(columns={"prediction": name})
        if aligned is None:
            aligned = frame
            continue
        merged = aligned.merge(frame, on=KEYS, how="inner", suffixes=("", f"_{name}"))
        if expected is not None and not len(merged) == len(aligned) == len(frame):
            raise StepInputError(f"shares {len(merged)} of its {len(frame)} out-of-fold rows with the models before "
                                 f"it ({len(aligned)} rows): they predicted different rows",
                                 file=f"{name}/oof_predictions.parquet", column="ts",
                                 fix="train every model on the same features.parquet/folds.json")
        for column in ("label", "fold"):
            differ = merged[column] != merged[f"{column}_{name}"]
            if differ.any():
                raise StepInputError(f"{int(differ.sum())} rows where {name} and the other models disagree on "
                                     f"the {column}", file=f"{name}/oof_predictions.parquet", column=column,
                                     fix="train every model on the same features.parquet/folds.json")
        aligned = merged.drop(columns=[f"label_{name}", f"fold_{name}"])
    if aligned is None or aligned.empty:
        raise StepInputError("no out-of-fold row is shared by every base model", column="ts",
                             fix="train every model on the same features.parquet/folds.json")
    return aligned.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)


def fit_meta_learner(oof: pd.DataFrame, names: list[str], *, c: float, seed: int) -> MetaLearner:
    x = np.column_stack([logit(oof[name].to_numpy()) for name in names])
    y = oof["label"].to_numpy(dtype="int64")
    if len(np.unique(y)) < 2:
        raise StepInputError("out-of-fold rows hold one class only", column="label",
                             fix="rebuild the features with longer validation windows")
    model = LogisticRegression(C=c, max_iter=1000, random_state=seed)
    model.fit(x, y)
    return MetaLearner(inputs=list(names), coefficients=[float(v) for v in model.coef_[0]],
                       intercept=float(model.intercept_[0]),
                       settings={"C": c, "penalty": "l2", "rows": len(oof),
                                 "folds": sorted(map(int, oof["fold"].unique()))})


def walk_forward_meta(oof: pd.DataFrame, names: list[str], *, c: float, seed: int) -> list[dict[str, Any]]:
    """Fit on folds < k, score fold k: the meta-learner's own out-of-sample figures, before the holdout."""
    results = []
    folds = sorted(int(f) for f in oof["fold"].unique())
    for fold in folds[1:]:
        train, test = oof[oof["fold"] < fold], oof[oof["fold"] == fold]
        if len(np.unique(train["label"])) < 2 or len(np.unique(test["label"])) < 2:
            continue
        learner = fit_meta_learner(train, names, c=c, seed=seed)
        scores = learner.predict(test)
        labels = test["label"].to_numpy()
        results.append({"fold": fold, "train_rows": len(train), "rows": len(test), "auc": auc_or_none(labels, scores),
                        "base_auc": {n: auc_or_none(labels, test[n].to_numpy()) for n in names}})
    return results


def pairwise_correlation(predictions: pd.DataFrame, names: list[str]) -> dict[str, float]:
    """Pearson correlation of every pair of base models' predictions (lower = more diverse)."""
    return {f"{a}/{b}": float(np.corrcoef(predictions[a], predictions[b])[0, 1]) for a, b in combinations(names, 2)}


def auc_by_period(frame: pd.DataFrame, scores: np.ndarray, base: pd.DataFrame, names: list[str],
                  period: str) -> dict[str, dict[str, Any]]:
    """Ensemble (and base) holdout AUC per period of exchange dates: 'D' day, 'W' week, 'M' month."""
    dates = pd.to_datetime(pd.Series(session_dates(frame["ts"]), index=frame.index))
    keys = dates.dt.to_period(period).astype(str)
    labels = frame["label"].to_numpy()
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(keys.unique()):
        rows = (keys == key).to_numpy()
        out[key] = {"rows": int(rows.sum()), "positive_rate": float(labels[rows].mean()),
                    "auc": auc_or_none(labels[rows], scores[rows]),
                    "base_auc": {n: auc_or_none(labels[rows], base[n].to_numpy()[rows]) for n in names}}
    return out


def beats_best_single(auc: float, best_single_auc: float, margin: float) -> bool:
    """The ensemble may sit at most `margin` below the best single model (a negative margin demands a lead)."""
    return bool(auc >= best_single_auc - margin)
