"""Holdout metrics with bootstrap standard deviations.

The bootstrap resamples whole trading days, not rows: rows on one day share the market's moves and the
label windows overlap, so a row bootstrap would understate the uncertainty.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

EPS = 1e-15


def point_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    clipped = np.clip(scores, EPS, 1 - EPS)
    return {
        "auc": float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan"),
        "accuracy": float(accuracy_score(labels, scores >= 0.5)),
        "log_loss": float(log_loss(labels, clipped, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
    }


def bootstrap_std(labels: np.ndarray, scores: np.ndarray, days: np.ndarray, *, resamples: int = 200,
                  seed: int = 0) -> dict[str, float]:
    """Standard deviation of each metric over day-block bootstrap resamples."""
    rng = np.random.default_rng(seed)
    unique_days, day_index = np.unique(days, return_inverse=True)
    rows_by_day = [np.flatnonzero(day_index == d) for d in range(len(unique_days))]
    samples: dict[str, list[float]] = {"auc": [], "accuracy": [], "log_loss": [], "brier": []}
    for _ in range(resamples):
        chosen = rng.integers(0, len(unique_days), len(unique_days))
        rows = np.concatenate([rows_by_day[d] for d in chosen])
        if len(np.unique(labels[rows])) < 2:
            continue
        for name, value in point_metrics(labels[rows], scores[rows]).items():
            samples[name].append(value)
    return {name: float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
            for name, values in samples.items()}
