"""Sentiment features: tweets in trailing time windows, counted only once they could have been ingested.

A tweet becomes available at `created_at + ingest_lag`; the window of length W for the bar closing at t
holds the tweets with availability in (t - W, t], i.e. `created_at` in (t - W - lag, t - lag]. Window
lengths are minutes for 1-minute bars and days for daily bars; `sent_daily` is a 1-day window.

- sent_W: engagement-weighted mean score, weight = 1 + log1p(likes + retweets + replies)
- sent_mean_W (shortest window): plain mean score;  sent_sum_W (second window): sum of scores
- sent_pos_ratio_W (longest window): share of tweets whose p_pos is the largest probability (score > 0
  when only a score is given);  tweet_count_W (every window, and tweet_count_daily): the number of tweets
No tweets in a window gives 0 for every feature (and count 0).

Computed with prefix sums and binary search per ticker: exact window membership, O(n log n), and the
prefix of a prefix sum does not change when later tweets are removed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from steps.features.settings import FeatureSettings


def _window_specs(settings: FeatureSettings) -> list[tuple[str, str, pd.Timedelta]]:
    unit = settings.window_unit
    length = pd.Timedelta(minutes=1) if settings.frequency == "1min" else pd.Timedelta(days=1)
    windows = settings.windows
    specs = [("sent", f"sent_{w}{unit}", length * w) for w in windows]
    specs.append(("sent", "sent_daily", pd.Timedelta(days=1)))
    specs.append(("mean", f"sent_mean_{windows[0]}{unit}", length * windows[0]))
    second = windows[1] if len(windows) > 1 else windows[0]
    specs.append(("sum", f"sent_sum_{second}{unit}", length * second))
    specs.append(("pos_ratio", f"sent_pos_ratio_{windows[-1]}{unit}", length * windows[-1]))
    specs += [("count", f"tweet_count_{w}{unit}", length * w) for w in windows]
    specs.append(("count", "tweet_count_daily", pd.Timedelta(days=1)))
    return specs


def sentiment_feature_names(settings: FeatureSettings) -> list[str]:
    return [name for _, name, _ in _window_specs(settings)]


def tweet_weights(tweets: pd.DataFrame) -> np.ndarray:
    engagement = tweets["like_count"] + tweets["retweet_count"] + tweets["reply_count"]
    return 1.0 + np.log1p(engagement.to_numpy(dtype="float64"))


def tweet_is_positive(tweets: pd.DataFrame) -> np.ndarray:
    probs = tweets[["p_pos", "p_neg", "p_neu"]].to_numpy(dtype="float64")
    by_probs = (probs[:, 0] >= probs[:, 1]) & (probs[:, 0] >= probs[:, 2])
    has_probs = ~np.isnan(probs).any(axis=1)
    return np.where(has_probs, by_probs, tweets["score"].to_numpy() > 0).astype("float64")


def tweet_prefix(weights: np.ndarray, scores: np.ndarray, positive: np.ndarray,
                 start: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Prefix sums of one ticker's tweets in availability order, each array one longer than the tweets and
    beginning at `start` (0; the live engine continues its running sums from their last value, which gives
    the batch's sums bit for bit: a cumulative sum is sequential)."""
    begin = start or {"w": 0.0, "ws": 0.0, "s": 0.0, "pos": 0.0}
    terms = {"w": weights, "ws": weights * scores, "s": scores, "pos": positive}
    return {key: np.cumsum(np.concatenate(([begin[key]], values))) for key, values in terms.items()}


def window_values(times: np.ndarray, prefix: dict[str, np.ndarray], t: np.ndarray,
                  specs: list[tuple[str, str, pd.Timedelta]]) -> dict[str, np.ndarray]:
    """Every sentiment feature at decision times `t` (int64 ns) of one ticker whose tweets became available
    at `times` (sorted), with their prefix sums (tweet_prefix). All windows in one pass (a row per window):
    the live engine calls this once per ticker and decision time, where per-call overhead is the cost."""
    lengths = np.array([np.int64(length.value) for _, _, length in specs], dtype="int64")
    hi = np.searchsorted(times, t, side="right")
    lo = np.searchsorted(times, t[None, :] - lengths[:, None], side="right")
    count = (hi[None, :] - lo).astype("float64")
    sums = {key: values[hi][None, :] - values[lo] for key, values in prefix.items()}
    kinds = [kind for kind, _, _ in specs]
    value = count.copy()  # "count"
    with np.errstate(divide="ignore", invalid="ignore"):
        for kind, numerator, denominator in (("sent", "ws", "w"), ("mean", "s", None), ("sum", "s", None),
                                             ("pos_ratio", "pos", None)):
            rows = [k for k, name in enumerate(kinds) if name == kind]
            if rows:
                total = sums[numerator][rows]
                value[rows] = total if kind == "sum" else total / (sums[denominator][rows] if denominator
                                                                   else count[rows])
    value = np.where(count > 0, value, 0.0)
    return {name: value[k] for k, (_, name, _) in enumerate(specs)}


def sentiment_features(rows: pd.DataFrame, tweets: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """Sentiment features for `rows` (ticker, ts), in the rows' order."""
    specs = _window_specs(settings)
    result = {name: np.zeros(len(rows)) for _, name, _ in specs}
    if len(tweets):
        available = tweet_available_ns(tweets, settings)
        scores = tweets["score"].to_numpy(dtype="float64")
        weights = tweet_weights(tweets)
        positive = tweet_is_positive(tweets)
        tweet_groups = tweets.groupby("ticker", sort=False).indices
        row_ts = rows["ts"].to_numpy("datetime64[ns]").astype("int64")
        for ticker, row_idx in rows.groupby("ticker", sort=False).indices.items():
            tweet_idx = tweet_groups.get(ticker)
            if tweet_idx is None:
                continue
            order = tweet_idx[np.argsort(available[tweet_idx], kind="stable")]
            prefix = tweet_prefix(weights[order], scores[order], positive[order])
            for name, values in window_values(available[order], prefix, row_ts[row_idx], specs).items():
                result[name][row_idx] = values
    return pd.DataFrame(result, index=rows.index)


def tweet_available_ns(tweets: pd.DataFrame, settings: FeatureSettings) -> np.ndarray:
    """When each tweet may first be counted: created_at + ingest_lag, as int64 ns UTC."""
    lag = np.int64(pd.Timedelta(seconds=settings.ingest_lag_seconds).value)
    return tweets["created_at"].to_numpy("datetime64[ns]").astype("int64") + lag


def window_specs(settings: FeatureSettings) -> list[tuple[str, str, pd.Timedelta]]:
    """(kind, column, window length) of every sentiment feature (public for the live engine)."""
    return _window_specs(settings)
