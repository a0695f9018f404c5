"""Sentiment features: tweets in trailing time windows, counted only once they could have been ingested.

A tweet becomes available at `created_at + ingest_lag`; the window of length W for the bar closing at t
holds the tweets with availability in (t - W, t], i.e. `created_at` in (t - W - lag, t - lag]. Window
lengths are minutes for 1-minute bars and days for daily bars; `sent_daily` is a 1-day window.

- sent_W: engagement-weighted mean score, weight = 1 + log1p(likes + retweets + replies) where the counts were
  read by the time the tweet is first counted, else 1 (engagement.py: `engagement_observed_at`)
- sent_mean_W (shortest window): plain mean score;  sent_sum_W (second window): sum of scores
- sent_pos_ratio_W (longest window): share of tweets whose p_pos is the largest probability (score > 0
  when only a score is given);  tweet_count_W (every window, and tweet_count_daily): the number of tweets
No tweets in a window gives 0 for every feature (and count 0).

Computed with prefix sums and binary search per ticker: exact window membership, O(n log n), and the
prefix of a prefix sum does not change when later tweets are removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from steps.features.catalogue import sentiment_columns
from steps.features.engagement import engagement_usable, lag_ns
from steps.features.settings import FeatureSettings

# The statistic of each sentiment family (catalogue.py), as window_values computes it.
STATISTICS = {"sent": "sent", "sent_mean": "mean", "sent_sum": "sum", "sent_pos_ratio": "pos_ratio",
              "tweet_count": "count"}


def window_specs(settings: FeatureSettings) -> list[tuple[str, str, pd.Timedelta]]:
    """(statistic, column, window length) of every sentiment feature, in the table's order (catalogue.py)."""
    length = pd.Timedelta(minutes=1) if settings.frequency == "1min" else pd.Timedelta(days=1)
    return [(STATISTICS[column.family.name], column.name,
             pd.Timedelta(days=1) if column.window == "daily" else length * int(column.window))
            for column in sentiment_columns(settings)]


def tweet_weights(tweets: pd.DataFrame, settings: FeatureSettings) -> np.ndarray:
    """1 + log1p(likes + retweets + replies) where those counts were read by created_at + ingest_lag, else 1:
    counts read later (an archive's final counts) would weight a row by the future (engagement.py)."""
    # numpy, not Series arithmetic (index alignment cost ~0.3 ms per live delivery); the same integer sum
    likes, retweets, replies = (tweets[c].to_numpy() for c in ("like_count", "retweet_count", "reply_count"))
    weights = 1.0 + np.log1p(np.asarray(likes + retweets + replies, dtype="float64"))
    return np.where(engagement_usable(tweets, settings.ingest_lag_seconds), weights, 1.0)


def tweet_is_positive(tweets: pd.DataFrame) -> np.ndarray:
    # column by column: a three-column selection copies the frame first (~0.7 ms per live delivery)
    p_pos, p_neg, p_neu = (tweets[c].to_numpy(dtype="float64", na_value=np.nan) for c in ("p_pos", "p_neg", "p_neu"))
    by_probs = (p_pos >= p_neg) & (p_pos >= p_neu)
    has_probs = ~(np.isnan(p_pos) | np.isnan(p_neg) | np.isnan(p_neu))
    return np.where(has_probs, by_probs, tweets["score"].to_numpy() > 0).astype("float64")


@dataclass(frozen=True)
class TweetHistory:
    """Several tickers' tweets by availability, one segment per ticker, back to back, with their prefix sums.

    Why one flat layout and not an array per ticker: the windows of every row of every ticker are then two
    compiled calls (window_bounds, window_values) instead of a Python loop over the tickers, for the batch
    build and for the live engine alike (the engine keeps its running history in this layout)."""

    times: np.ndarray  # int64 ns availability; segment s is times[begins[s]:begins[s] + counts[s]], sorted
    counts: np.ndarray  # tweets per segment
    prefix: dict[str, np.ndarray]  # tweet_prefix(..., counts): counts[s] + 1 values per segment

    @property
    def begins(self) -> np.ndarray:
        return np.cumsum(self.counts) - self.counts

    @property
    def prefix_begins(self) -> np.ndarray:
        return self.begins + np.arange(len(self.counts))


@numba.njit(nogil=True, cache=True)
def _segment_cumsum(terms: np.ndarray, counts: np.ndarray, start: np.ndarray) -> np.ndarray:  # pragma: no cover
    # One sequential sum per segment, seeded with its start: the same additions in the same order as
    # np.cumsum(np.concatenate(([start], terms))), so the values are bit for bit those of a per-ticker cumsum.
    out = np.empty(len(terms) + len(counts))
    i = 0
    o = 0
    for s in range(len(counts)):
        total = start[s]
        out[o] = total
        o += 1
        for _ in range(counts[s]):
            total = total + terms[i]
            out[o] = total
            i += 1
            o += 1
    return out


def tweet_prefix(weights: np.ndarray, scores: np.ndarray, positive: np.ndarray, counts: np.ndarray | None = None,
                 start: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Prefix sums of tweets in availability order, one run per segment (`counts` tweets each; default one
    segment), each run one longer than its tweets and beginning at the segment's `start` (0; the live engine
    continues its running sums from their last value, which gives the batch's sums bit for bit: a
    cumulative sum is sequential)."""
    counts = np.array([len(weights)], "int64") if counts is None else np.asarray(counts, "int64")
    if int(counts.sum()) != len(weights) or (counts < 0).any():  # the compiled loop trusts them: no bounds checks
        raise ValueError(f"segment counts sum to {int(counts.sum())} for {len(weights)} tweets")
    terms = {"w": weights, "ws": weights * scores, "s": scores, "pos": positive}
    zeros = np.zeros(len(counts))
    return {key: _segment_cumsum(np.ascontiguousarray(values, "float64"), counts,
                                 zeros if start is None else np.asarray(start[key], "float64"))
            for key, values in terms.items()}


@numba.njit(nogil=True, cache=True, inline="always")
def _right(segment, q, hint):  # pragma: no cover
    # np.searchsorted(segment, q, side="right"), given that the answer is at least `hint`: rows of a
    # ticker come in time order (batch: sorted by ticker, ts; live: one session's rows), so the answer is
    # usually a few tweets past the previous row's and a short walk beats a fresh binary search (~6x).
    i = hint
    n = len(segment)
    for _ in range(8):
        if i == n or segment[i] > q:
            return i
        i += 1
    return i + np.searchsorted(segment[i:], q, side="right")


KIND_CODES = {"sent": 0, "mean": 1, "sum": 2, "pos_ratio": 3, "count": 4}


# error_model="numpy": a division by zero gives inf/nan as numpy's does (no exception path in the loop).
@numba.njit(nogil=True, cache=True, error_model="numpy")
def _windows(times, begins, counts, prefix_begins, w, ws, s, pos, row_segment, t, lengths, kinds,
             out):  # pragma: no cover
    # Per row: the window bounds in its segment (binary search, or a short walk from the previous row's),
    # then each feature from prefix-sum differences with numpy's arithmetic (same operations, same order:
    # count = hi - lo as a float, sent = sum(w*s) / sum(w), mean = sum(s) / count, ratio = sum(pos) / count;
    # 0 for an empty window).
    n_windows = len(lengths)
    last_hi = np.zeros(len(counts), np.int64)  # per segment: the previous row's local bounds and time
    last_lo = np.zeros((len(counts), n_windows), np.int64)
    last_t = np.full(len(counts), np.iinfo(np.int64).min)
    for r in range(len(t)):
        g = row_segment[r]
        if g < 0:  # a ticker without tweets
            for j in range(n_windows):
                out[j, r] = 0.0
            continue
        segment = times[begins[g]:begins[g] + counts[g]]
        if t[r] < last_t[g]:  # out of time order: search from the segment's start
            last_hi[g] = 0
            for j in range(n_windows):
                last_lo[g, j] = 0
        last_t[g] = t[r]
        last_hi[g] = _right(segment, t[r], last_hi[g])
        hi = prefix_begins[g] + last_hi[g]
        for j in range(n_windows):
            last_lo[g, j] = _right(segment, t[r] - lengths[j], last_lo[g, j])
            lo = prefix_begins[g] + last_lo[g, j]
            count = float(hi - lo)
            kind = kinds[j]
            if not count > 0.0:
                out[j, r] = 0.0
            elif kind == 0:
                out[j, r] = (ws[hi] - ws[lo]) / (w[hi] - w[lo])
            elif kind == 1:
                out[j, r] = (s[hi] - s[lo]) / count
            elif kind == 2:
                out[j, r] = s[hi] - s[lo]
            elif kind == 3:
                out[j, r] = (pos[hi] - pos[lo]) / count
            else:
                out[j, r] = count


def window_values(history: TweetHistory, row_segment: np.ndarray, t: np.ndarray,
                  specs: list[tuple[str, str, pd.Timedelta]]) -> dict[str, np.ndarray]:
    """Every sentiment feature of rows at times `t` (int64 ns), the row of segment `row_segment` (-1: a
    ticker without tweets) holding that segment's tweets available in (t - length, t] of each spec.

    Why one compiled pass: the batch build calls this once for every row of every ticker, the live engine
    once per session's rows of all tickers; in numpy each step (bounds, sums, ratios) was a full pass over
    (windows x rows) temporaries, and a per-ticker call cost ~50 us of overhead 56 times a replayed day."""
    lengths = np.array([np.int64(length.value) for _, _, length in specs], dtype="int64")
    kinds = np.array([KIND_CODES[kind] for kind, _, _ in specs], dtype="int64")
    out = np.empty((len(specs), len(t)))
    p = history.prefix
    row_segment = np.asarray(row_segment, "int64")
    if len(row_segment) != len(t) or (len(row_segment) and int(row_segment.max()) >= len(history.counts)
                                      and len(history.counts)):  # the compiled loop has no bounds checks
        raise ValueError(f"{len(row_segment)} row segments for {len(t)} rows, up to {row_segment.max(initial=-1)}"
                         f" of {len(history.counts)} segments")
    if not len(history.counts):  # no tweets at all
        row_segment = np.full(len(t), -1, "int64")
    _windows(history.times, history.begins, history.counts, history.prefix_begins, p["w"], p["ws"], p["s"],
             p["pos"], row_segment, np.asarray(t, "int64"), lengths, kinds, out)
    return {name: out[k] for k, (_, name, _) in enumerate(specs)}


def by_segment_and_time(codes: np.ndarray, times: np.ndarray, n_codes: int) -> np.ndarray:
    """The order that sorts rows by (code, time), ties in input order: np.lexsort((times, codes)), faster.

    Why not lexsort: it sorts the int64 times of every row (~40 ms for a year's tweets); a stable sort of
    the codes alone is a radix sort (16-bit codes), and tweets usually arrive in time order per ticker, in
    which case that is the whole answer (checked; otherwise the times are sorted too)."""
    order = np.argsort(codes.astype("int16" if n_codes < 2**15 else "int64"), kind="stable")
    ordered_codes, ordered_times = codes[order], times[order]
    if np.all((ordered_times[1:] >= ordered_times[:-1]) | (ordered_codes[1:] != ordered_codes[:-1])):
        return order
    return np.lexsort((times, codes))


def sentiment_features(rows: pd.DataFrame, tweets: pd.DataFrame, settings: FeatureSettings) -> pd.DataFrame:
    """Sentiment features for `rows` (ticker, ts), in the rows' order."""
    specs = window_specs(settings)
    result = {name: np.zeros(len(rows)) for _, name, _ in specs}
    if len(tweets):
        available = tweet_available_ns(tweets, settings)
        codes, names = pd.factorize(tweets["ticker"], sort=False)
        known = codes >= 0
        order = by_segment_and_time(codes[known], available[known], len(names))
        order = np.flatnonzero(known)[order]
        counts = np.bincount(codes[known], minlength=len(names))
        prefix = tweet_prefix(tweet_weights(tweets, settings)[order], tweets["score"].to_numpy(dtype="float64")[order],
                              tweet_is_positive(tweets)[order], counts)
        history = TweetHistory(available[order], counts, prefix)
        row_segment = pd.Index(names).get_indexer(rows["ticker"])
        row_ts = rows["ts"].to_numpy("datetime64[ns]").astype("int64")
        result = window_values(history, row_segment, row_ts, specs)
    return pd.DataFrame(result, index=rows.index)


def tweet_available_ns(tweets: pd.DataFrame, settings: FeatureSettings) -> np.ndarray:
    """When each tweet may first be counted: created_at + ingest_lag, as int64 ns UTC."""
    return tweets["created_at"].to_numpy("datetime64[ns]").astype("int64") + lag_ns(settings.ingest_lag_seconds)
