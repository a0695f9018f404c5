"""FinBERT's and FinGPT's scores in one table, by the config's policy.

- `finbert`: FinBERT only (FinGPT scores, if any, are ignored)
- `fingpt`: FinGPT's probabilities where it scored the tweet, FinBERT's elsewhere
- `mean`: the mean of both models' probabilities where both scored the tweet, FinBERT's elsewhere
"""

from __future__ import annotations

import pandas as pd

from steps.common.errors import StepInputError
from steps.sentiment.labels import PROB_COLUMNS, score_from_probs
from steps.sentiment.settings import COMBINE_POLICIES


def combine_scores(
    finbert: pd.DataFrame, fingpt: pd.DataFrame, policy: str, *, source: str
) -> tuple[pd.DataFrame, int]:
    """Returns the combined table and how many rows took FinGPT's scores into account."""
    if policy not in COMBINE_POLICIES:
        raise StepInputError(f"unknown combine policy {policy!r}", file="--combine",
                             fix=f"use one of {', '.join(COMBINE_POLICIES)}")
    if policy == "finbert" or fingpt.empty:
        return finbert, 0
    for column in ("tweet_id", "ticker", *PROB_COLUMNS):
        if column not in fingpt.columns:
            raise StepInputError("missing column", file=source, column=column,
                                 fix="pass the folder written by python -m steps.sentiment.fingpt")
    other = fingpt[["tweet_id", "ticker", *PROB_COLUMNS]].astype({"tweet_id": str, "ticker": str})
    other = other.drop_duplicates(["tweet_id", "ticker"])
    merged = finbert.merge(other, on=["tweet_id", "ticker"], how="left", suffixes=("", "_fingpt"))
    has = merged["p_pos_fingpt"].notna()
    for column in PROB_COLUMNS:
        theirs = merged[f"{column}_fingpt"]
        if policy == "fingpt":
            merged.loc[has, column] = theirs[has]
        else:
            merged.loc[has, column] = (merged.loc[has, column] + theirs[has]) / 2
    merged["score"] = score_from_probs(merged[list(PROB_COLUMNS)].to_numpy())
    merged.loc[has, "model"] = merged.loc[has, "model"] + ("|fingpt" if policy == "fingpt" else "+fingpt")
    return merged.drop(columns=[f"{c}_fingpt" for c in PROB_COLUMNS]), int(has.sum())
