"""Recursive feature elimination with walk-forward cross-validation (FeatureStability's `--rfe` option).

scikit-learn's `RFECV` does the elimination: within each split it refits the estimator on the remaining
features, drops the least important `step` share of the starting features, and scores every feature count
on the split's validation rows. The feature count kept is the smallest whose mean validation AUC is within
one standard error (over the folds) of the best count's (the one-standard-error rule of Breiman et al.'s
CART book): RFECV's own choice, the best mean, keeps a noise feature whenever it happens to add a hair of
AUC. A last elimination on all rows picks which features make that count. The splits are the table's own walk-forward
folds (`steps.common.folds.fold_masks`: chronological, train rows purged on `label_end` and embargoed), given
to RFECV as explicit index pairs, so nothing is shuffled and no validation row is trained on within its
split. Holdout rows are in no split and not in the final elimination either: only rows of some fold's train
or validation window are passed.

The estimator is a small regularised xgboost (the same family and scale as the SHAP step's), its importance
xgboost's total gain. Rows per fold are sampled as in the SHAP step (`max_rows_per_fold` validation rows,
4x that for training) so the option stays affordable at full size.

RFE answers a different question from the SHAP rules (does the validation AUC need this feature, given the
others?); FeatureStability keeps a feature only if both keep it, and says which rule dropped it
(steps/stability/run.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from steps.common.errors import StepInputError
from steps.common.feature_table import FeatureTable, feature_matrix
from steps.common.folds import fold_masks
from steps.stability.settings import RfeOptions, StabilitySettings

_OPTIONS, _STABILITY = RfeOptions(), StabilitySettings()


@dataclass(frozen=True)
class RfeSettings:
    """What one RFE run takes: the step's settings (declared and bounded in steps/stability/settings.py) plus the
    estimator's size and threads, which are not settings."""

    enabled: bool = _OPTIONS.enabled
    step: float = _OPTIONS.step  # share of the starting features removed per round (at least one)
    min_features: int = _OPTIONS.min_features
    max_rows_per_fold: int = _STABILITY.max_rows_per_fold
    n_estimators: int = 100
    seed: int = _STABILITY.seed
    threads: int = 0  # xgboost threads per fit; 0: every core (on a small table one thread is faster)

    @classmethod
    def from_settings(cls, settings: StabilitySettings) -> RfeSettings:
        return cls(enabled=settings.rfe.enabled, step=settings.rfe.step, min_features=settings.rfe.min_features,
                   max_rows_per_fold=settings.max_rows_per_fold, seed=settings.seed)


def fold_splits(table: FeatureTable, settings: RfeSettings) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The rows used (sorted table positions) and, per fold, (train, validation) positions into them."""
    rng = np.random.default_rng(settings.seed)
    chosen: list[tuple[np.ndarray, np.ndarray]] = []
    for train, validation in fold_masks(table.frame, table.folds):
        train_rows, valid_rows = np.flatnonzero(train), np.flatnonzero(validation)
        if len(train_rows) > 4 * settings.max_rows_per_fold:
            train_rows = np.sort(rng.choice(train_rows, 4 * settings.max_rows_per_fold, replace=False))
        if len(valid_rows) > settings.max_rows_per_fold:
            valid_rows = np.sort(rng.choice(valid_rows, settings.max_rows_per_fold, replace=False))
        chosen.append((train_rows, valid_rows))
    rows = np.unique(np.concatenate([np.concatenate(pair) for pair in chosen])) if chosen else np.array([], int)
    position = {row: i for i, row in enumerate(rows)}
    splits = [(np.array([position[r] for r in train]), np.array([position[r] for r in valid]))
              for train, valid in chosen]
    return rows, splits


def rfe_select(table: FeatureTable, columns: list[str], settings: RfeSettings) -> dict[str, Any]:
    """`selected` (table order), per-feature `ranking` (1 = kept; larger = eliminated earlier), the CV AUC per
    feature count, and the settings."""
    import xgboost as xgb  # as the SHAP step: only this step imports it
    from sklearn.feature_selection import RFE, RFECV

    rows, splits = fold_splits(table, settings)
    labels = table.frame["label"].to_numpy(dtype="int64")[rows]
    for k, (train, valid) in enumerate(splits):
        if len(np.unique(labels[train])) < 2 or len(np.unique(labels[valid])) < 2:
            raise StepInputError(f"fold {k} holds one class in its train or validation rows: RFE cannot score it",
                                 file=table.folder / "folds.json", column="label",
                                 fix="rebuild the features with longer windows, or turn stability.rfe off")
    estimator = xgb.XGBClassifier(
        n_estimators=settings.n_estimators, max_depth=3, learning_rate=0.1, min_child_weight=20, subsample=0.8,
        colsample_bytree=0.8, reg_lambda=10.0, importance_type="total_gain", random_state=settings.seed,
        n_jobs=settings.threads or None, verbosity=0)
    selector = RFECV(estimator, step=settings.step, min_features_to_select=min(settings.min_features, len(columns)),
                     cv=splits, scoring="roc_auc", importance_getter="feature_importances_")
    selector.fit(feature_matrix(table.frame.iloc[rows], columns), labels)
    results = selector.cv_results_
    by_count = {int(n): {"mean_auc": float(m), "std_auc": float(s)}
                for n, m, s in zip(results["n_features"], results["mean_test_score"], results["std_test_score"],
                                   strict=True)}
    best = int(selector.n_features_)
    standard_error = by_count[best]["std_auc"] / np.sqrt(len(splits))
    chosen = min(n for n, v in by_count.items() if v["mean_auc"] >= by_count[best]["mean_auc"] - standard_error)
    final = selector
    if chosen != best:
        final = RFE(estimator, n_features_to_select=chosen, step=settings.step,
                    importance_getter="feature_importances_").fit(feature_matrix(table.frame.iloc[rows], columns),
                                                                  labels)
    return {"selected": [c for c, keep in zip(columns, final.support_, strict=True) if keep],
            "ranking": dict(zip(columns, (int(r) for r in final.ranking_), strict=True)),
            "best_feature_count": chosen, "best_mean_auc": by_count[chosen]["mean_auc"],
            "highest_mean_auc_feature_count": best, "rule": "smallest count within one standard error of the best",
            "cv_auc_by_feature_count": by_count, "folds": len(splits), "rows": len(rows),
            "settings": asdict(settings)}


def rfe_reasons(result: dict[str, Any], columns: list[str]) -> dict[str, str]:
    """Why RFE dropped each feature it dropped: one reason text per feature, naming the rule."""
    return {c: (f"RFE: eliminated (rank {result['ranking'][c]}); walk-forward CV AUC chose "
                f"{result['best_feature_count']} features ({result['best_mean_auc']:.4f}, the one-standard-error rule)")
            for c in columns if c not in result["selected"]}
