"""Which features are stable: SHAP importance of a regularised xgboost per walk-forward fold.

For each fold a deliberately small, regularised booster is fitted on the fold's train rows (early stopping
on its validation rows) and shap's TreeExplainer attributes its validation-row predictions (log-odds units)
to the features. Per fold and feature:

- share: mean |SHAP| of the feature divided by the sum over all features of mean |SHAP|. The floor is on
  this scale: `floor` 0.01 drops a feature that carries less than 1% of the model's total attribution,
  averaged over the folds. A share does not depend on the model's size or the label's base rate, which is
  why it is used instead of raw log-odds.
- rank: 1 = largest share in that fold.
- sign: the direction of the feature's effect, the sign of the correlation between the feature's value and
  its SHAP value on the validation rows (+1 higher value -> higher P(up)); folds where |corr| is below
  `min_sign_correlation` have no clear direction and are not counted.

- validation agreement: the correlation between the feature's SHAP values and the validation labels. A
  feature the model leans on by chance (overlapping rolling train windows share their noise, so a spurious
  effect can look consistent from fold to fold) has attributions that do not line up with outcomes it has
  not seen; combined over folds as z = mean(corr) x sqrt(validation rows), which is ~N(0, 1) for noise.

A feature is dropped when its mean share is below `floor`, when its signed folds disagree (an effect that
flips direction between periods is not one a model should rely on), when its rank moves by more than
`max_rank_spread` x (number of features) between folds, or when its validation agreement z is below
`min_validation_z`. At least `min_features` (the largest mean shares)
are kept whatever the rules say, so tuning always has something to work with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from steps.common.feature_table import FeatureTable, feature_matrix
from steps.common.folds import fold_masks
from steps.stability.settings import StabilitySettings

SCALE = "share of the total mean |SHAP| (log-odds) of the fold's model, averaged over folds"


# The deliberately small, regularised booster explained per fold (not a setting: the scale of the floor assumes it).
SHAP_MODEL: dict[str, Any] = {
    "max_depth": 3, "eta": 0.05, "min_child_weight": 20, "subsample": 0.8, "colsample_bytree": 0.8,
    "lambda": 10.0, "alpha": 1.0, "num_round": 300, "early_stopping_rounds": 30}


@dataclass
class FoldImportance:
    fold: int
    share: dict[str, float]
    rank: dict[str, int]
    sign: dict[str, int]
    sign_correlation: dict[str, float]
    validation_agreement: dict[str, float]
    best_iteration: int
    rows: dict[str, int]
    mean_abs_shap: dict[str, float]  # log-odds, over the fold's explained validation rows
    expected_value: float  # the explainer's base value (log-odds)


def _sample(mask: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    index = np.flatnonzero(mask)
    if len(index) > limit:
        index = np.sort(rng.choice(index, size=limit, replace=False))
    return index


def fold_importance(table: FeatureTable, columns: list[str], settings: StabilitySettings) -> list[FoldImportance]:
    import shap  # imported here: only this step needs it, and it takes a second to load

    frame = table.frame
    labels = frame["label"].to_numpy(dtype="float64")
    rng = np.random.default_rng(settings.seed)
    params = {k: v for k, v in SHAP_MODEL.items() if k not in ("num_round", "early_stopping_rounds")}
    params.update({"objective": "binary:logistic", "eval_metric": "auc", "seed": settings.seed, "nthread": 0,
                   "verbosity": 0})
    results = []
    for k, (train, validation) in enumerate(fold_masks(frame, table.folds)):
        train_rows = _sample(train, settings.max_rows_per_fold * 4, rng)
        valid_rows = _sample(validation, settings.max_rows_per_fold, rng)
        x_train, x_valid = feature_matrix(frame.iloc[train_rows], columns), feature_matrix(frame.iloc[valid_rows],
                                                                                           columns)
        dtrain = xgb.DMatrix(x_train, label=labels[train_rows], feature_names=columns)
        dvalid = xgb.DMatrix(x_valid, label=labels[valid_rows], feature_names=columns)
        booster = xgb.train(params, dtrain, num_boost_round=int(SHAP_MODEL["num_round"]),
                            evals=[(dvalid, "validation")],
                            early_stopping_rounds=int(SHAP_MODEL["early_stopping_rounds"]), verbose_eval=False)
        best = int(booster.best_iteration)
        explainer = shap.TreeExplainer(booster[: best + 1])
        values = np.asarray(explainer.shap_values(x_valid))
        expected = float(np.ravel(explainer.expected_value)[0])
        mean_abs = np.abs(values).mean(axis=0)
        total = mean_abs.sum()
        share = mean_abs / total if total > 0 else np.zeros(len(columns))
        order = np.argsort(-share, kind="stable")
        rank = np.empty(len(columns), dtype=int)
        rank[order] = np.arange(1, len(columns) + 1)
        correlation = np.array([_correlation(x_valid[:, j], values[:, j]) for j in range(len(columns))])
        agreement = np.array([_correlation(values[:, j], labels[valid_rows]) for j in range(len(columns))])
        sign = np.where(np.abs(correlation) >= settings.min_sign_correlation, np.sign(correlation), 0).astype(int)
        results.append(FoldImportance(
            fold=k, share=dict(zip(columns, share.round(6).tolist(), strict=True)),
            rank=dict(zip(columns, rank.tolist(), strict=True)), sign=dict(zip(columns, sign.tolist(), strict=True)),
            sign_correlation=dict(zip(columns, correlation.round(4).tolist(), strict=True)),
            validation_agreement=dict(zip(columns, agreement.round(4).tolist(), strict=True)), best_iteration=best,
            rows={"train": len(train_rows), "validation": len(valid_rows)},
            mean_abs_shap=dict(zip(columns, mean_abs.astype("float64").tolist(), strict=True)),
            expected_value=expected))
    return results


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return 0.0
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def select_features(columns: list[str], folds: list[FoldImportance], settings: StabilitySettings,
                    also_dropped: dict[str, str] | None = None) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The selected columns (in table order) and, per feature, its summary and the reasons it was dropped.

    `also_dropped`: reasons from another rule (RFE, steps/stability/rfe.py), one text per feature, added to the
    SHAP rules' reasons before the minimum is rescued."""
    summary: dict[str, dict[str, Any]] = {}
    spread_limit = settings.max_rank_spread * len(columns)
    validation_rows = sum(f.rows["validation"] for f in folds)
    for column in columns:
        shares = [f.share[column] for f in folds]
        ranks = [f.rank[column] for f in folds]
        signs = [f.sign[column] for f in folds if f.sign[column] != 0]
        reasons = []
        mean_share = float(np.mean(shares))
        if mean_share < settings.floor:
            reasons.append(f"mean share {mean_share:.4f} below the floor {settings.floor}")
        if len(set(signs)) > 1:
            reasons.append(f"sign flips across folds ({'/'.join(f'{s:+d}' for s in signs)})")
        if max(ranks) - min(ranks) > spread_limit:
            reasons.append(f"rank moves from {min(ranks)} to {max(ranks)} across folds")
        agreement = [f.validation_agreement[column] for f in folds]
        z = float(np.mean(agreement) * np.sqrt(validation_rows))
        if z < settings.min_validation_z:
            reasons.append(f"attributions do not predict validation labels (z {z:.2f} < {settings.min_validation_z})")
        summary[column] = {"mean_share": round(mean_share, 6), "shares": shares, "ranks": ranks,
                           "signs": [f.sign[column] for f in folds], "validation_agreement": agreement,
                           "validation_z": round(z, 3), "dropped_because": reasons}
    for column, reason in (also_dropped or {}).items():
        summary[column]["dropped_because"].append(reason)
    kept = [c for c in columns if not summary[c]["dropped_because"]]
    if len(kept) < settings.min_features:
        by_share = sorted(columns, key=lambda c: -summary[c]["mean_share"])
        rescued = [c for c in by_share if c not in kept][: settings.min_features - len(kept)]
        for column in rescued:
            summary[column]["kept_as_minimum"] = True
        kept = [c for c in columns if c in set(kept) | set(rescued)]
    for column in columns:
        summary[column]["selected"] = column in kept
    return kept, summary


def settings_json(settings: StabilitySettings) -> dict[str, Any]:
    return {**settings.model_dump(exclude={"rfe"}), "model": SHAP_MODEL, "scale": SCALE}


def summary_frame(summary: dict[str, dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"feature": k, **v} for k, v in summary.items()]).sort_values("mean_share", ascending=False)
