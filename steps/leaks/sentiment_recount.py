"""An independent recount of every sentiment column from the raw tweets, at `created_at + ingest_lag`.

Why a second implementation: steps.features.sentiment computes these columns with prefix sums over the
tweets sorted by availability time. A bug there (a window on `created_at` without the lag, a weight applied
to the wrong tweets) would be reproduced by any check that calls it. This module shares no code with it:

- what a column means is read from its *name*, the documented scheme (docs/sentiment.md):
  `sent_<W><unit>` and `sent_daily` engagement-weighted mean score, `sent_mean_<W><unit>` plain mean,
  `sent_sum_<W><unit>` sum, `sent_pos_ratio_<W><unit>` share of positive tweets, `tweet_count_<W><unit>`
  and `tweet_count_daily` counts; unit `m` is minutes, `d` days, `daily` one day;
- the window of the row (ticker, t) holds the tweets with `created_at` in (t - W - lag, t - lag] (the
  feature code windows the availability time instead: the same set, reached another way);
- each window is summed tweet by tweet (no prefix sums), with two pointers per ticker that only move
  forward and never past the last tweet created at or before t - lag. So the value at t is, by
  construction, a function of the tweets available at t: steps.leaks.causality relies on that;
- a tweet's engagement weight uses its like/retweet/reply counts only if they were read
  (`engagement_observed_at`) by `created_at + lag`, the moment it may first be counted; counts read later, or
  at an unknown time (no column, NaT), give weight 1 (docs/sentiment.md). Stated here again, in pandas
  timestamps, apart from steps/features/engagement.py's integer nanoseconds.

No tweets in a window gives 0 for every column, as the feature code documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from steps.common.validation import ENGAGEMENT_OBSERVED_AT
from steps.leaks.instants import instants

# Longest prefixes first: `sent_mean_5m` is a plain mean, not a weighted `sent_` column named `mean_5m`.
_NAME = re.compile(r"^(sent_pos_ratio|sent_mean|sent_sum|tweet_count|sent)_(?:(\d+)(m|d)|(daily))$")
_UNIT_NS = {"m": 60_000_000_000, "d": 86_400_000_000_000}
DAY_NS = _UNIT_NS["d"]
# The statistics each window keeps, in this order in the kernel's output.
COUNT, SCORE_SUM, WEIGHT_SUM, WEIGHTED_SCORE_SUM, POSITIVE_SUM = range(5)


@dataclass(frozen=True)
class SentimentColumn:
    """What a sentiment column holds, read from its name: `kind` over a trailing window of `window_ns`."""

    name: str
    kind: str  # sent (weighted mean), sent_mean, sent_sum, sent_pos_ratio, tweet_count
    window_ns: int


def is_sentiment_name(name: str) -> bool:
    """A column in the sentiment family (whether or not its name parses)."""
    return name.startswith(("sent_", "tweet_count_"))


def parse_sentiment_columns(names: list[str]) -> dict[str, SentimentColumn]:
    """The columns among `names` whose name says what they hold (others are left out: unverifiable)."""
    found = {}
    for name in names:
        match = _NAME.match(name)
        if match is None:
            continue
        kind, length, unit, daily = match.groups()
        window = DAY_NS if daily else int(length) * _UNIT_NS[unit]
        if window > 0:
            found[name] = SentimentColumn(name, kind, window)
    return found


def tweet_weight(tweets: pd.DataFrame, lag: pd.Timedelta) -> np.ndarray:
    """1 + log1p(likes + retweets + replies) for a tweet whose counts were read by created_at + lag, else 1:
    engagement weighting (docs/sentiment.md) with nothing read after the tweet could first be counted."""
    engagement = sum(tweets[c].to_numpy(dtype="float64") for c in ("like_count", "retweet_count", "reply_count"))
    if ENGAGEMENT_OBSERVED_AT not in tweets.columns:
        return np.ones(len(tweets))
    in_time = (tweets[ENGAGEMENT_OBSERVED_AT] <= tweets["created_at"] + pd.Timedelta(lag)).to_numpy(dtype=bool)
    return np.where(in_time, 1.0 + np.log1p(engagement), 1.0)


def engagement_tally(tweets: pd.DataFrame, lag: pd.Timedelta) -> dict[str, int]:
    """How many tweets the recount weights by their counts, and how many it weighs 1 because the counts were read
    after created_at + lag or at an unknown time: what the leak report says beside the features manifest's."""
    if tweets is None or not len(tweets) or ENGAGEMENT_OBSERVED_AT not in tweets.columns:
        return {"used": 0, "neutralised_late": 0, "neutralised_unknown": 0 if tweets is None else len(tweets)}
    observed = tweets[ENGAGEMENT_OBSERVED_AT]
    unknown = observed.isna().to_numpy(dtype=bool)
    in_time = (observed <= tweets["created_at"] + pd.Timedelta(lag)).to_numpy(dtype=bool)
    return {"used": int(in_time.sum()), "neutralised_late": int((~in_time & ~unknown).sum()),
            "neutralised_unknown": int(unknown.sum())}


def tweet_positive(tweets: pd.DataFrame) -> np.ndarray:
    """1.0 where p_pos is the largest of the three probabilities (ties count as positive); where the
    probabilities are missing, where the score is above 0."""
    p_pos, p_neg, p_neu = (tweets[c].to_numpy(dtype="float64") for c in ("p_pos", "p_neg", "p_neu"))
    known = ~(np.isnan(p_pos) | np.isnan(p_neg) | np.isnan(p_neu))
    by_probabilities = (p_pos >= p_neg) & (p_pos >= p_neu)
    return np.where(known, by_probabilities, tweets["score"].to_numpy(dtype="float64") > 0).astype("float64")


@numba.njit(nogil=True, cache=True)
def _window_statistics(newest, created, score, weight, positive, windows, out):
    """For rows sorted by `newest` (= t - lag) and one ticker's tweets sorted by `created`: per row and
    window k, the statistics of the tweets created in (newest - windows[k], newest], summed one by one.

    `upto` counts the tweets created at or before the row's newest instant; nothing at or after index
    `upto` is summed, and both pointers only move forward (rows are in time order)."""
    n_tweets = len(created)
    upto = 0
    start = np.zeros(len(windows), dtype=np.int64)
    for r in range(len(newest)):
        limit = newest[r]
        while upto < n_tweets and created[upto] <= limit:
            upto += 1
        for k in range(len(windows)):
            oldest_excluded = limit - windows[k]
            while start[k] < upto and created[start[k]] <= oldest_excluded:
                start[k] += 1
            count = s = w = ws = pos = 0.0
            for j in range(start[k], upto):
                count += 1.0
                s += score[j]
                w += weight[j]
                ws += weight[j] * score[j]
                pos += positive[j]
            out[r, k, 0] = count
            out[r, k, 1] = s
            out[r, k, 2] = w
            out[r, k, 3] = ws
            out[r, k, 4] = pos


def recount(rows: pd.DataFrame, tweets: pd.DataFrame, columns: dict[str, SentimentColumn],
            lag: pd.Timedelta) -> dict[str, np.ndarray]:
    """Each column's value at every row (ticker, ts) of `rows`, in the rows' order."""
    result = {name: np.zeros(len(rows)) for name in columns}
    if not columns or not len(rows) or tweets is None or not len(tweets):
        return result
    windows = np.array(sorted({c.window_ns for c in columns.values()}), dtype=np.int64)
    slot = {int(w): k for k, w in enumerate(windows)}
    lag_ns = np.int64(pd.Timedelta(lag).value)
    row_ts = instants(rows["ts"])
    created_all = instants(tweets["created_at"])
    score_all = tweets["score"].to_numpy(dtype="float64")
    weight_all, positive_all = tweet_weight(tweets, lag), tweet_positive(tweets)
    tweet_groups = tweets.groupby(tweets["ticker"].astype(str), sort=False).indices
    for ticker, row_idx in rows.groupby(rows["ticker"].astype(str), sort=False).indices.items():
        members = tweet_groups.get(ticker)
        if members is None:
            continue
        row_idx = row_idx[np.argsort(row_ts[row_idx], kind="stable")]
        members = members[np.argsort(created_all[members], kind="stable")]
        stats = np.empty((len(row_idx), len(windows), 5))
        _window_statistics(row_ts[row_idx] - lag_ns, created_all[members], score_all[members], weight_all[members],
                           positive_all[members], windows, stats)
        for name, column in columns.items():
            at = stats[:, slot[column.window_ns]]
            count = at[:, COUNT]
            with np.errstate(divide="ignore", invalid="ignore"):
                value = {"tweet_count": count,
                         "sent_sum": at[:, SCORE_SUM],
                         "sent_mean": at[:, SCORE_SUM] / count,
                         "sent": at[:, WEIGHTED_SCORE_SUM] / at[:, WEIGHT_SUM],
                         "sent_pos_ratio": at[:, POSITIVE_SUM] / count}[column.kind]
            result[name][row_idx] = np.where(count > 0, value, 0.0)
    return result
