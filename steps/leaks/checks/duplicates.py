"""duplicates: no (ticker, ts) twice, no row or identical feature vector in two of train/validation/holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from steps.common.folds import Folds, fold_masks, holdout_mask
from steps.leaks.checks.common import CheckResult


def duplicates(table: pd.DataFrame, folds: Folds, columns: list[str]) -> CheckResult:
    problems = []
    keys = table[["ticker", "ts"]]
    repeated = int(keys.duplicated().sum())
    if repeated:
        problems.append(f"{repeated} repeated (ticker, ts) rows")
    vectors = pd.util.hash_pandas_object(table[columns], index=False)
    # Only a vector that occurs twice can be shared between segments: intersect those rows alone (usually none)
    # instead of sorting every row once per fold.
    repeated_vector = vectors.duplicated(keep=False).to_numpy()
    vectors = vectors.to_numpy()
    holdout = holdout_mask(table, folds)
    in_folds = np.zeros(len(table), dtype=bool)
    for fold, (train, validation) in zip(folds.folds, fold_masks(table, folds), strict=True):
        shared = np.intersect1d(vectors[train & repeated_vector], vectors[validation & repeated_vector])
        if len(shared):
            problems.append(f"fold {fold.fold}: {len(shared)} identical feature vectors in train and validation")
        in_folds |= train | validation
    # The final refit trains on every row before the holdout, not only the folds' rows.
    shared_holdout = np.intersect1d(vectors[(in_folds | ~holdout) & repeated_vector],
                                    vectors[holdout & repeated_vector])
    if len(shared_holdout):
        problems.append(f"{len(shared_holdout)} identical feature vectors in the development rows (folds and refit) "
                        "and the holdout")
    passed = not problems
    details = "; ".join(problems) if problems else "no repeated rows or feature vectors across train/validation/holdout"
    return CheckResult("duplicates", passed, details, [] if passed else ["ticker", "ts"])
