"""What a features manifest says about the folds: rows per fold and the sessions no fold sees.

Written by steps.features for one instance's table and by the shard merge for a sharded one (shards.py), so
both produce the same manifest; it lives apart from run.py so that the merge does not import the step's runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from steps.common.errors import StepInputError
from steps.common.folds import final_holdout_mask, fold_masks, holdout_mask


def finish_manifest(manifest: dict[str, Any], frame: pd.DataFrame, folds, source: str | Path) -> dict[str, Any]:
    """Row counts per fold; an error when a fold has no train or validation rows after purging."""
    masks = fold_masks(frame, folds)
    holdout = holdout_mask(frame, folds)
    fold_rows = [{"fold": k, "train": int(train.sum()), "validation": int(val.sum())}
                 for k, (train, val) in enumerate(masks)]
    empty = [row["fold"] for row in fold_rows if row["train"] == 0 or row["validation"] == 0]
    if empty:
        raise StepInputError(f"folds {empty} have no train or validation rows after purging", file=source,
                             column="ts", fix="lengthen --train-days/--validation-days or shorten --embargo-bars")
    manifest["rows"] = {"total": len(frame), "holdout": int(holdout.sum()), "folds": fold_rows,
                        "positive_rate": float(frame["label"].mean())}
    if folds.final_holdout_start is not None:
        final = final_holdout_mask(frame, folds)
        if not final.any():
            raise StepInputError("the final holdout has no labelled rows", file=source, column="ts",
                                 fix="lengthen --final-holdout-days (a row needs its whole label window)")
        manifest["rows"]["final_holdout"] = int(final.sum())
    manifest["tickers"] = int(frame["ticker"].nunique())
    manifest["data_range"] = {"rows_start": frame["ts"].min().isoformat(), "rows_end": frame["ts"].max().isoformat()}
    manifest["fold_coverage"] = fold_coverage(folds, frame)
    return manifest


def fold_coverage(folds, frame: pd.DataFrame) -> dict[str, Any]:
    """How many sessions lie before the first fold's train window: no fold validates on them (tuning never
    sees them) and only the final refit trains on them. Long daily histories with the daily profile's 4 x
    (504 + 126) sessions leave most of the data there, which a user should be told, not find out."""
    days = {name: int(value) for name, value in (folds.days or {}).items()}
    total, validation = days.get("total", 0), days.get("validation", 1) or 1
    holdout = days.get("holdout", 0) + days.get("final_holdout", 0)
    in_folds = days.get("train", 0) + len(folds.folds) * validation
    before = max(0, total - in_folds - holdout)
    first_train = folds.folds[0].train_start if folds.folds else folds.holdout_start
    early = int((frame["ts"] < first_train).sum())
    coverage: dict[str, Any] = {"sessions": total, "sessions_in_folds": in_folds, "sessions_before_folds": before,
                                "rows_before_folds": early, "first_train_start": first_train.isoformat()}
    if before:
        train, n_folds = days.get("train", 0), max(1, len(folds.folds))
        longer = (total - train - holdout) // n_folds
        coverage["note"] = (
            f"the folds and the holdout cover the last {in_folds + holdout} of {total} sessions: the first {before} "
            f"sessions ({early} rows, before {first_train.date()}) are in no fold, so no validation window judges a "
            f"model on them and only the final refit trains on them; to use them in validation too, raise "
            + (f"--validation-days to {longer} (the same {n_folds} folds) or " if longer > validation else "")
            + f"--train-days to {train + before}"
            # the same advice for whoever runs the pipeline, not the step (pipelines.run / upsert --set)
            + " (on pipelines.run: "
            + (f"--set folds.validation_days={longer} or " if longer > validation else "")
            + f"--set folds.train_days={train + before})")
    return coverage
