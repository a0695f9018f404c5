"""The AUC of a set of rows, or None where it does not exist.

Why a module of its own: steps.evaluate's breakdowns (per ticker, sector, regime, week) and steps.ensemble's
figures (per base model, per fold, per period) report the same AUC, and a slice of rows holding one class has
no ranking to judge, so both report None there (JSON null), never NaN or an error. One definition keeps the
two reports' numbers comparable.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auc_or_none(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of `scores` against the 0/1 `labels`; None when the labels hold fewer than two classes."""
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None
