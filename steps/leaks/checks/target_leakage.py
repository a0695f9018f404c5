"""target_leakage: no single feature separates the labels implausibly well (single-feature AUC outside
[1 - a, a] on development rows), and none correlates with the future return far more than with the past
return over the same horizon: the usual symptoms of a label or future return copied into a feature."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from steps.common.folds import Folds, holdout_mask
from steps.leaks.checks.common import CheckResult
from steps.leaks.checks.ranks import correlation, ranks
from steps.leaks.settings import LeakScreens

_SCREENS = LeakScreens()  # the thresholds' defaults and bounds are declared once, in steps/leaks/settings.py


@dataclass(frozen=True)
class LeakThresholds:
    """The target-leakage screen's limits (configs/pipeline.yaml `leaks.plausibility`, steps/leaks/settings.py)."""

    max_single_feature_auc: float = _SCREENS.max_single_feature_auc
    min_future_correlation: float = _SCREENS.min_future_correlation
    max_future_to_past_correlation: float = _SCREENS.max_future_to_past_correlation


# The screen looks for features whose AUC alone is beyond 0.75 or whose rank correlation with the future
# return is beyond 0.3: on 50,000 rows the standard error of an AUC near 0.5 is about 0.0026 and that of a
# rank correlation about 0.0045, two orders of magnitude inside those margins, so a seeded sample of that
# size flags the same columns as every row at a seventh of the sorting (366,031 rows at full scale).
TARGET_LEAKAGE_MAX_ROWS = 50_000


def target_leakage(table: pd.DataFrame, folds: Folds, columns: list[str], past_return: np.ndarray,
                   thresholds: LeakThresholds = LeakThresholds()) -> CheckResult:
    """Single-feature AUC on the label, and rank correlation with the future vs the past return (development rows).

    Every column is ranked once; the AUC is the Mann-Whitney statistic of those ranks and the correlations are
    Spearman's (Pearson on ranks, pairwise complete): one sort per column instead of one per statistic.
    """
    development = ~holdout_mask(table, folds)
    rows = np.flatnonzero(np.asarray(development))
    if len(rows) > TARGET_LEAKAGE_MAX_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(rows, TARGET_LEAKAGE_MAX_ROWS, replace=False))
    sample = table.iloc[rows]
    labels = sample["label"].to_numpy()
    future = sample["forward_return"].to_numpy(dtype="float64") if "forward_return" in table \
        else np.full(len(rows), np.nan)
    ranked = ranks({"\0future": future, "\0past": np.asarray(past_return, dtype="float64")[rows],
                     **{column: sample[column].to_numpy(dtype="float64", na_value=np.nan) for column in columns}})
    future_ranks, past_ranks = ranked["\0future"], ranked["\0past"]
    limit = thresholds.max_single_feature_auc
    aucs, future_corr, past_corr, reasons = {}, {}, {}, {}
    for column in columns:
        column_ranks = ranked[column]
        ok = ~np.isnan(column_ranks)
        positives = labels[ok] == 1
        n_pos, n_neg = int(positives.sum()), int((~positives).sum())
        if ok.sum() >= 50 and n_pos and n_neg:
            auc = float((column_ranks[ok][positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
            aucs[column] = round(auc, 4)
            if abs(auc - 0.5) > limit - 0.5:
                reasons.setdefault(column, []).append(f"AUC {auc:.3f} alone")
        cf, cp = correlation(column_ranks, future_ranks), correlation(column_ranks, past_ranks)
        future_corr[column], past_corr[column] = round(cf, 4), round(cp, 4)
        if (not np.isnan(cf) and abs(cf) >= thresholds.min_future_correlation
                and abs(cf) > thresholds.max_future_to_past_correlation * abs(0.0 if np.isnan(cp) else cp)):
            reasons.setdefault(column, []).append(f"corr with future return {cf:+.3f} vs past return {cp:+.3f}")
    passed = not reasons
    if passed:
        details = (f"no single feature has AUC outside [{1 - limit:.2f}, {limit:.2f}] or a future-return rank "
                   f"correlation >= {thresholds.min_future_correlation} that exceeds "
                   f"{thresholds.max_future_to_past_correlation}x its past-return correlation")
    else:
        details = "implausibly predictive (target leakage?): " + "; ".join(
            f"{c}: {', '.join(r)}" for c, r in sorted(reasons.items()))
    return CheckResult("target_leakage", passed, details, sorted(reasons),
                       {"auc": aucs, "future_correlation": future_corr, "past_correlation": past_corr,
                        "thresholds": asdict(thresholds)})
