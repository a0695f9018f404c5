"""ROC points agree with scikit-learn's AUC (an independent computation) before and after thinning."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from steps.common.curves import roc_points, trapezoid_auc


def test_roc_points_reproduce_the_auc_with_ties_and_thinning():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 5000)
    scores = np.round(labels * 0.3 + rng.normal(size=5000), 2)  # many ties
    fpr, tpr = roc_points(labels, scores, max_points=100_000)
    assert abs(trapezoid_auc(fpr, tpr) - roc_auc_score(labels, scores)) < 1e-12
    thin_fpr, thin_tpr = roc_points(labels, scores, max_points=150)
    assert len(thin_fpr) <= 151 and (thin_fpr[0], thin_tpr[0], thin_fpr[-1], thin_tpr[-1]) == (0, 0, 1, 1)
    assert abs(trapezoid_auc(thin_fpr, thin_tpr) - roc_auc_score(labels, scores)) < 0.01
    assert np.all(np.diff(thin_fpr) >= 0) and np.all(np.diff(thin_tpr) >= 0)


def test_one_class_gives_the_diagonal():
    fpr, tpr = roc_points(np.ones(10), np.arange(10.0))
    assert list(fpr) == [0.0, 1.0] and list(tpr) == [0.0, 1.0]


def test_paired_difference_is_zero_for_identical_models_and_detects_a_real_gap():
    from steps.common.bootstrap import paired_auc_difference

    rng = np.random.default_rng(11)
    days = np.repeat(np.arange(40), 50)
    labels = rng.integers(0, 2, len(days))
    weak = labels * 0.2 + rng.normal(size=len(days))
    strong = labels * 0.8 + rng.normal(size=len(days))
    same = paired_auc_difference(labels, weak, weak, days, resamples=200)
    assert same.difference == 0 and same.ci_low == 0 and same.ci_high == 0
    gap = paired_auc_difference(labels, strong, weak, days, resamples=200)
    expected = roc_auc_score(labels, strong) - roc_auc_score(labels, weak)
    assert abs(gap.difference - expected) < 1e-12
    assert 0 < gap.ci_low < gap.difference < gap.ci_high
