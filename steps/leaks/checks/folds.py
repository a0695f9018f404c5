"""folds: chronological, purged and embargoed train rows (purged on the label windows recomputed from the
bars, so an understated label_end cannot hide an overlap), holdout outside every fold."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from steps.common.folds import Folds, bar_interval, fold_masks, holdout_mask
from steps.features.settings import FeatureSettings
from steps.leaks.checks.common import CheckResult


def folds_are_clean(table: pd.DataFrame, folds: Folds, settings: FeatureSettings,
                    bar_label_end: np.ndarray | None = None) -> CheckResult:
    """`bar_label_end`: each row's label_end from the bars (BarPositions); purging is checked against it too."""
    problems = []
    previous_end = None
    for fold in folds.folds:
        order = [fold.train_start, fold.train_end, fold.validation_start, fold.validation_end]
        if not all(a <= b for a, b in itertools.pairwise(order)) or not fold.train_end < fold.validation_start:
            problems.append(f"fold {fold.fold} is not chronological (train {fold.train_start}..{fold.train_end}, "
                            f"validation {fold.validation_start}..{fold.validation_end})")
        if previous_end is not None and fold.validation_start <= previous_end:
            problems.append(f"fold {fold.fold} validation overlaps or precedes the previous fold's")
        previous_end = fold.validation_end
        if fold.validation_end >= folds.holdout_start or fold.train_end >= folds.holdout_start:
            problems.append(f"fold {fold.fold} reaches into the holdout (holdout_start {folds.holdout_start})")
    required = bar_interval(settings.frequency) * settings.embargo_bars
    if folds.embargo < required.floor("s"):
        problems.append(f"embargo {folds.embargo} is shorter than {settings.embargo_bars} bars ({required})")
    if folds.purge != "label_end":
        problems.append(f"purge is {folds.purge!r}, expected 'label_end'")
    holdout = holdout_mask(table, folds)
    for fold, (train, validation) in zip(folds.folds, fold_masks(table, folds), strict=True):
        if (train & validation).any():
            problems.append(f"fold {fold.fold}: {int((train & validation).sum())} rows in both train and validation")
        leaking = train & ~(table["label_end"] + folds.embargo < fold.validation_start).to_numpy()
        if leaking.any():
            problems.append(f"fold {fold.fold}: {int(leaking.sum())} train rows not purged")
        if bar_label_end is not None:
            true_end = pd.DatetimeIndex(bar_label_end).tz_localize("UTC")
            known = ~true_end.isna()
            overlapping = train & known & ~np.asarray(true_end + folds.embargo < fold.validation_start)
            if overlapping.any():
                problems.append(f"fold {fold.fold}: {int(overlapping.sum())} train rows whose label window (from the "
                                f"bars) plus the embargo reaches into validation ({fold.validation_start})")
        if ((train | validation) & holdout).any():
            problems.append(f"fold {fold.fold}: {int(((train | validation) & holdout).sum())} holdout rows in the fold")
        if (validation & (table["label_end"] >= folds.holdout_start).to_numpy()).any():
            problems.append(f"fold {fold.fold}: validation labels reach into the holdout")
    passed = not problems
    details = "; ".join(problems) if problems else (
        f"{len(folds.folds)} folds chronological, train purged on label_end + {folds.embargo}, "
        f"holdout ({int(holdout.sum())} rows from {folds.holdout_start}) outside every fold")
    return CheckResult("folds", passed, details, ["ts", "label_end"] if problems else [])
