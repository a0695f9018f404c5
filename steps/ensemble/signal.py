"""The ensemble's own out-of-sample scores per walk-forward fold, for its per-fold IC and backtest.

The final meta-learner is fitted on every out-of-fold row, so scoring those rows with it is in-sample. As in
`stacking.walk_forward_meta`, fold k is scored by a meta-learner fitted on folds < k only; the first fold
has no earlier rows and no ensemble score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from steps.ensemble import stacking


def walk_forward_scores(oof: pd.DataFrame, names: list[str], *, c: float, seed: int) -> pd.DataFrame:
    """ticker, ts, fold, prediction of every OOF row from fold 1 on, scored by a fit on the earlier folds."""
    parts = []
    folds = sorted(int(f) for f in oof["fold"].unique())
    for fold in folds[1:]:
        train, test = oof[oof["fold"] < fold], oof[oof["fold"] == fold]
        if len(np.unique(train["label"])) < 2 or test.empty:
            continue
        learner = stacking.fit_meta_learner(train, names, c=c, seed=seed)
        parts.append(test[["ticker", "ts", "fold"]].assign(prediction=learner.predict(test)))
    if not parts:
        return pd.DataFrame({"ticker": [], "ts": [], "fold": [], "prediction": []})
    return pd.concat(parts, ignore_index=True)
