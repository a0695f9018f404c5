"""The sentiment windows of every ticker in one compiled pass (issue 18): the batch build and the live engine
share sentiment.tweet_prefix / window_values, so these pin what both rely on."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from gappy_market import gappy_market

from steps.common.validation import validate_bars, validate_tweets
from steps.features.bar_features import utc_offsets
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.engine import FeatureEngine, TweetStore
from steps.features.parity import mismatches, replay_features
from steps.features.sentiment import TweetHistory, by_segment_and_time, tweet_prefix, window_specs, window_values
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import generate_market

MINUTE = 60_000_000_000


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, "float64").view("int64")


def test_segmented_prefix_sums_equal_each_tickers_own_cumsum_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    counts = np.array([5, 0, 1, 300, 0, 17])
    n = int(counts.sum())
    weights, scores = 1 + rng.random(n) * 3, rng.normal(size=n)
    positive = (rng.random(n) > 0.5).astype("float64")
    start = {k: rng.normal(size=len(counts)) * 1e3 for k in ("w", "ws", "s", "pos")}
    prefix = tweet_prefix(weights, scores, positive, counts, start)
    bounds = np.r_[0, np.cumsum(counts)]
    terms = {"w": weights, "ws": weights * scores, "s": scores, "pos": positive}
    for key, values in terms.items():
        expected = [np.cumsum(np.r_[start[key][g], values[a:b]]) for g, (a, b) in enumerate(itertools.pairwise(bounds))]
        assert len(prefix[key]) == n + len(counts)
        assert np.array_equal(_bits(prefix[key]), _bits(np.concatenate(expected))), key


def _history(rng: np.random.Generator, counts: list[int]) -> tuple[TweetHistory, list[dict[str, np.ndarray]]]:
    tweets = []
    for count in counts:
        times = np.sort(rng.integers(0, 600, count)) * MINUTE // 2  # half-minute stamps: ties and window edges
        tweets.append({"times": times, "w": 1 + rng.random(count), "s": rng.normal(size=count),
                       "pos": (rng.random(count) > 0.4).astype("float64")})
    prefix = tweet_prefix(np.concatenate([t["w"] for t in tweets]), np.concatenate([t["s"] for t in tweets]),
                          np.concatenate([t["pos"] for t in tweets]), np.array(counts))
    return TweetHistory(np.concatenate([t["times"] for t in tweets]), np.array(counts), prefix), tweets


def test_every_window_of_every_ticker_in_one_pass_matches_a_direct_count_of_each_row() -> None:
    rng = np.random.default_rng(2)
    history, tweets = _history(rng, [40, 0, 250, 3])
    specs = window_specs(FeatureSettings())
    row_segment = rng.integers(-1, 4, 400)  # -1: a ticker without tweets
    t = rng.integers(0, 700, 400) * MINUTE // 2  # not in time order: the walk must restart where needed
    values = window_values(history, row_segment, t, specs)
    for r in range(len(t)):
        for kind, name, length in specs:
            got = values[name][r]
            if row_segment[r] < 0:
                assert got == 0.0, name
                continue
            own = tweets[row_segment[r]]
            inside = (own["times"] > t[r] - length.value) & (own["times"] <= t[r])
            count = int(inside.sum())
            w, s, pos = own["w"][inside], own["s"][inside], own["pos"][inside]
            expected = {"count": count, "sum": s.sum(), "mean": s.mean() if count else 0.0,
                        "pos_ratio": pos.mean() if count else 0.0,
                        "sent": (w * s).sum() / w.sum() if count else 0.0}[kind]
            if count == 0:
                assert got == 0.0, name
            else:
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, r)
    assert (values["tweet_count_daily"] > 0).sum() > 100  # not vacuous


def test_rows_in_any_order_get_the_same_bits_as_rows_in_time_order() -> None:
    """The compiled pass walks on from the previous row of the same ticker when time moves forward and
    searches afresh otherwise: both must give the same values, bit for bit."""
    rng = np.random.default_rng(3)
    history, _ = _history(rng, [500, 80, 0])
    specs = window_specs(FeatureSettings())
    row_segment = np.repeat([0, 1, 2], 200)
    t = np.tile(np.sort(rng.integers(0, 700, 200)) * MINUTE // 2, 3)
    ordered = window_values(history, row_segment, t, specs)
    shuffle = rng.permutation(len(t))
    shuffled = window_values(history, row_segment[shuffle], t[shuffle], specs)
    for name, column in ordered.items():
        assert np.array_equal(_bits(column[shuffle]), _bits(shuffled[name])), name


@pytest.mark.parametrize("sorted_input", [True, False])
def test_ordering_by_ticker_then_time_is_lexsorts_order_ties_included(sorted_input: bool) -> None:
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 5, 2000)
    times = rng.integers(0, 50, 2000)  # many ties
    if sorted_input:  # time order within each ticker already: the fast path
        times = np.sort(times)
    assert np.array_equal(by_segment_and_time(codes, times, 5), np.lexsort((times, codes)))


def test_utc_offsets_equal_a_per_instant_conversion_across_dst_changes_and_year_ends() -> None:
    hour = 3_600_000_000_000
    edges = ["2024-03-10 06:00", "2024-11-03 05:00", "2025-12-31 23:00", "1969-12-31 23:00"]
    stamps = np.concatenate([pd.Timestamp(e, tz="UTC").value + np.arange(-3 * hour, 3 * hour, 7 * MINUTE)
                             for e in edges])
    for tz in ("America/New_York", "Europe/London", "Asia/Kolkata"):
        local = pd.DatetimeIndex(stamps, tz="UTC").tz_convert(tz).tz_localize(None).as_unit("ns").asi8
        assert np.array_equal(utc_offsets(stamps, tz), local - stamps), tz
        day = stamps[(stamps > pd.Timestamp("2024-11-03 05:00", tz="UTC").value - hour)][:30]  # one delivery
        assert np.array_equal(utc_offsets(day, tz), utc_offsets(stamps, tz)[np.searchsorted(stamps, day)]), tz


def test_the_engine_forgetting_old_tweets_changes_no_value(monkeypatch) -> None:
    """The engine drops tweets no later window can hold (normally a day's worth at a time); forgetting at
    every decision time must leave every row as the batch build's, bit for bit."""
    universe = pd.DataFrame({"ticker": ["AAPL", "JPM", "XOM"], "sector": ["IT", "Financials", "Energy"]})
    market = generate_market(universe, days=6, seed=8)
    bars = validate_bars(market.bars, "bars")
    bars = bars.to_pandas() if hasattr(bars, "to_pandas") else bars
    tweets = validate_tweets(market.tweets, "tweets")
    settings = FeatureSettings()
    sectors = dict(zip(universe["ticker"], universe["sector"], strict=True))
    forgotten = []
    forget = TweetStore.forget

    def counting(self: TweetStore, horizon: int) -> None:
        before = len(self.history.times)
        forget(self, horizon)
        forgotten.append(before - len(self.history.times))

    monkeypatch.setattr(TweetStore, "FORGET_AT", 1)
    monkeypatch.setattr(TweetStore, "forget", counting)
    live = replay_features(bars, tweets, settings, sectors)
    batch = build_features(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
    assert sum(forgotten) > len(tweets) // 2  # most tweets were forgotten along the way
    assert len(live) == len(batch)
    found, total = mismatches(batch, live, feature_columns(settings), rel_tol=0.0)
    assert total == 0, found[:3]
    assert (live["tweet_count_daily"] > 0).sum() > 100  # not vacuous


def test_a_replay_by_day_with_tickers_joining_late_and_missing_sessions_is_bit_for_bit(monkeypatch) -> None:
    """A day's delivery usually starts a new session for every ticker, which the engine completes without
    re-sorting the open sessions (FeatureEngine._next_sessions); a ticker absent for whole days keeps its
    open session across that shortcut, and must still close it exactly when it comes back."""
    market = gappy_market()
    bars, tweets, settings, sectors = market.bars, market.tweets, market.settings, market.sectors
    taken = []
    shortcut = FeatureEngine._next_sessions

    def counting(self: FeatureEngine, swept: dict) -> bool:
        staying = len(self.session_bars) == 1 and not set(np.unique(self.session_bars[0]["ticker"])) <= set(
            np.unique(swept["ticker"]))
        result = shortcut(self, swept)
        taken.append((result, staying))
        return result

    monkeypatch.setattr(FeatureEngine, "_next_sessions", counting)
    live = replay_features(bars, tweets, settings, sectors)
    batch = build_features(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
    assert (True, True) in taken  # the shortcut ran with a ticker's open session left open (JPM away)
    assert sum(result for result, _ in taken) >= 3 and not all(result for result, _ in taken)  # both paths ran
    assert len(live) == len(batch)
    found, total = mismatches(batch, live, feature_columns(settings), rel_tol=0.0)
    assert total == 0, found[:3]


def test_segments_that_do_not_match_the_data_are_refused_before_the_compiled_loop_reads_past_them() -> None:
    rng = np.random.default_rng(5)
    history, _ = _history(rng, [10, 5])
    specs = window_specs(FeatureSettings())
    with pytest.raises(ValueError, match="2 segments"):
        window_values(history, np.array([0, 2]), np.array([0, 0]), specs)
    with pytest.raises(ValueError, match="row segments for"):
        window_values(history, np.array([0]), np.array([0, 0]), specs)
    with pytest.raises(ValueError, match="sum to 4 for 3 tweets"):
        tweet_prefix(np.ones(3), np.ones(3), np.ones(3), np.array([2, 2]))
