"""When a tweet's engagement counts may weight its sentiment: only if they were read by the time the tweet is used.

Why: `sent_W` weights each tweet by 1 + log1p(likes + retweets + replies). A bought or backfilled archive holds
the *final* counts, read days after the tweet; weighting by them uses the future. The tweets contract therefore
carries `engagement_observed_at` (UTC, when the counts were read), and a tweet's counts are used only if

    engagement_observed_at <= created_at + ingest_lag

i.e. they were read by the first decision time that may count the tweet (sentiment.tweet_available_ns). Else
the tweet weighs 1, as an unweighted one. The rule is per tweet (the kernels stay per tweet, and a live tweet is
weighted as the batch build weights it) and conservative: counts read later than that are never used, even by a
later row that could have seen them. An unknown observation time (no column, or NaT) is treated as late.

steps.leaks.sentiment_recount states the same rule again, apart from this code, to check it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from steps.common.validation import ENGAGEMENT_OBSERVED_AT


def lag_ns(ingest_lag_seconds: float) -> np.int64:
    """The ingest lag in int64 nanoseconds, as sentiment.tweet_available_ns adds it."""
    return np.int64(pd.Timedelta(seconds=ingest_lag_seconds).value)


def _observed(tweets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(observed, known): the observation times as int64 ns and where they are known (not NaT, column present)."""
    if ENGAGEMENT_OBSERVED_AT not in tweets.columns:
        return np.zeros(len(tweets), "int64"), np.zeros(len(tweets), bool)
    observed = tweets[ENGAGEMENT_OBSERVED_AT].to_numpy("datetime64[ns]")
    return observed.astype("int64"), ~np.isnat(observed)


def engagement_usable(tweets: pd.DataFrame, ingest_lag_seconds: float) -> np.ndarray:
    """Per tweet: True where its counts were read at or before created_at + ingest_lag (module docstring)."""
    observed, known = _observed(tweets)
    first_use = tweets["created_at"].to_numpy("datetime64[ns]").astype("int64") + lag_ns(ingest_lag_seconds)
    return known & (observed <= first_use)


def engagement_counts(tweets: pd.DataFrame, ingest_lag_seconds: float) -> dict[str, int]:
    """How many tweets' engagement is used, neutralised because it was read late, or neutralised because when it
    was read is unknown: the manifest's `engagement` (every tweet is in exactly one of the three)."""
    _, known = _observed(tweets)
    used = int(engagement_usable(tweets, ingest_lag_seconds).sum())
    unknown = int((~known).sum())
    return {"used": used, "neutralised_late": len(tweets) - used - unknown, "neutralised_unknown": unknown}


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """The counts of two sets of tweets (the batches of an in-turn build, the shards of one job)."""
    return {key: int(total.get(key, 0)) + int(more.get(key, 0)) for key in ("used", "neutralised_late",
                                                                             "neutralised_unknown")}


def describe_counts(counts: dict[str, int], ingest_lag_seconds: float) -> str:
    """The one line the feature log (and the leak report) says about it."""
    return (f"engagement weights: {counts['used']} tweets weighted by counts read by created_at + "
            f"{ingest_lag_seconds:g}s, {counts['neutralised_late']} unweighted (counts read later), "
            f"{counts['neutralised_unknown']} unweighted (when the counts were read is unknown)")
