"""The incremental feature engine against the batch build: every decision row, bit for bit (issue 18)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gappy_market import gappy_market

from steps.common.validation import validate_bars, validate_tweets
from steps.features import build
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.engine import FeatureEngine
from steps.features.parity import ParityError, mismatches, replay_features, replay_parity
from steps.features.sentiment import tweet_available_ns
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import generate_market

SECTORS = {"AAPL": "Information Technology", "MSFT": "Information Technology", "JPM": "Financials",
           "XOM": "Energy"}


@pytest.fixture(scope="module")
def inputs(market):
    bars = validate_bars(market.bars, "bars")
    return bars.to_pandas() if hasattr(bars, "to_pandas") else bars, validate_tweets(market.tweets, "tweets")


def test_replay_reproduces_every_decision_row_bit_for_bit(inputs) -> None:
    bars, tweets = inputs
    settings = FeatureSettings()
    batch = build_features(bars, tweets, settings, sectors=SECTORS, keep_unlabelled=True)
    live = replay_features(bars, tweets, settings, SECTORS)
    assert len(live) == len(batch) > 2000
    found, total = mismatches(batch, live, feature_columns(settings), rel_tol=0.0)
    assert total == 0, found[:3]
    assert live["sector"].tolist() == batch["sector"].tolist()
    # Not vacuous: the sentiment, daily and cross-sectional columns carry values, not only NaN or 0.
    for column in ("sent_5m", "rsi_daily", "gap_overnight", "mkt_rel_ret_60", "macd_hist_60"):
        assert live[column].abs().gt(0).sum() > 100, column


def test_a_planted_one_bar_look_ahead_breaks_parity_on_exactly_the_affected_rows(inputs, monkeypatch) -> None:
    bars, tweets = inputs
    settings = FeatureSettings()
    honest = build_features(bars, tweets, settings, sectors=SECTORS, keep_unlabelled=True)
    original = build.trailing_returns

    def peeking(log_close, pos, at, windows):  # ret_w one bar ahead (where the ticker has a next bar)
        values = original(log_close, pos, at, windows)
        nxt = np.minimum(at + 1, len(log_close) - 1)
        same = np.r_[pos[1:] > 0, False][at]  # the next row is the same ticker's next bar
        values["ret_5"] = np.where(same, original(log_close, pos, nxt, windows)["ret_5"], values["ret_5"])
        return values

    monkeypatch.setattr(build, "trailing_returns", peeking)
    leaky = build_features(bars, tweets, settings, sectors=SECTORS, keep_unlabelled=True)
    with pytest.raises(ParityError) as caught:
        replay_parity(bars, tweets, settings, SECTORS, batch=leaky)
    first = leaky.loc[leaky["ret_5"].ne(honest["ret_5"])].iloc[0]
    message = str(caught.value)
    assert f"ret_5 of {first['ticker']} at {first['ts'].isoformat()}" in message
    live = replay_features(bars, tweets, settings, SECTORS)
    found, total = mismatches(leaky, live, ["ret_5"], limit=10**6)
    changed = leaky["ret_5"].ne(honest["ret_5"]) & ~(leaky["ret_5"].isna() & honest["ret_5"].isna())
    assert total == int(changed.sum()) > 1000
    assert {(m.ticker, m.ts) for m in found} == set(zip(leaky.loc[changed, "ticker"], leaky.loc[changed, "ts"],
                                                        strict=True))


def _small_market() -> tuple[pd.DataFrame, pd.DataFrame]:
    universe = pd.DataFrame({"ticker": ["AAPL", "JPM"], "sector": ["IT", "Financials"]})
    market = generate_market(universe, days=3, seed=5)
    bars = validate_bars(market.bars, "bars")
    return bars.to_pandas() if hasattr(bars, "to_pandas") else bars, validate_tweets(market.tweets, "tweets")


def test_bar_by_bar_and_tweet_by_tweet_arrivals_give_the_same_rows() -> None:
    bars, tweets = _small_market()
    settings = FeatureSettings(daily_window=2)
    sectors = {"AAPL": "IT", "JPM": "Financials"}
    batch = build_features(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
    engine = FeatureEngine(settings, sectors, expected=["AAPL", "JPM"])
    bar_times = bars["ts"].astype("int64").to_numpy()
    tweet_times = tweet_available_ns(tweets, settings)
    # One event at a time in arrival order (a tweet before a bar of the same instant: both count at it).
    events = sorted([(int(t), 1, i) for i, t in enumerate(bar_times)] + [(int(t), 0, i) for i, t in
                                                                        enumerate(tweet_times)])
    rows: list[pd.DataFrame] = []
    for _, kind, i in events:
        rows += engine.on_bars(bars.iloc[i:i + 1]) if kind else engine.on_tweets(tweets.iloc[i:i + 1])
    rows += engine.flush()
    live = pd.concat(rows, ignore_index=True)
    assert len(live) == len(batch)
    found, total = mismatches(batch, live, feature_columns(settings), rel_tol=0.0)
    assert total == 0, found[:3]
    assert engine.late_bars == engine.late_tweets == 0


def test_a_late_bar_enters_the_state_but_gets_no_row_and_later_rows_stay_exact() -> None:
    bars, _ = _small_market()
    settings = FeatureSettings(include_sentiment=False)
    sectors = {"AAPL": "IT", "JPM": "Financials"}
    batch = build_features(bars, None, settings, sectors=sectors, keep_unlabelled=True)
    decision = batch["ts"].unique()[5]
    after = decision + pd.Timedelta(minutes=1)
    late = (bars["ticker"] == "JPM") & (bars["ts"] == decision)
    first_after = (bars["ticker"] == "AAPL") & (bars["ts"] == after)
    engine = FeatureEngine(settings, sectors, expected=["AAPL", "JPM"])
    rows = engine.on_bars(bars[(bars["ts"] <= decision) & ~late])
    rows += engine.on_bars(bars[first_after])  # a later bar: the decision time completes without JPM
    rows += engine.on_bars(bars[late])  # JPM's bar arrives after its decision time was emitted
    rows += engine.on_bars(bars[(bars["ts"] > decision) & ~first_after])
    rows += engine.on_bars(bars[late])  # again: older than JPM's newest bar, dropped
    rows += engine.flush()
    live = pd.concat(rows, ignore_index=True)
    assert engine.late_bars == 2
    at_decision = live[live["ts"] == decision]
    assert at_decision["ticker"].tolist() == ["AAPL"]
    assert at_decision["mkt_rel_ret_5"].iloc[0] == 0.0  # the mean over the rows that had arrived: AAPL's own
    later_live, later_batch = live[live["ts"] > decision], batch[batch["ts"] > decision]
    assert len(later_live) == len(later_batch) > 100
    found, total = mismatches(later_batch, later_live, feature_columns(settings), rel_tol=0.0)
    assert total == 0, found[:3]


@pytest.mark.slow
def test_replay_parity_on_the_quick_sample_every_row_of_56_tickers() -> None:
    from steps.sample_data.__main__ import SIZES

    universe = pd.read_csv(Path(__file__).resolve().parents[2] / "configs" / "universe.csv")
    market = generate_market(universe, days=int(SIZES["quick"]["days"]), seed=7)  # the quick profile's market
    bars = validate_bars(market.bars, "bars")
    sectors = dict(zip(universe["ticker"], universe["sector"], strict=True))
    rows = replay_parity(bars, validate_tweets(market.tweets, "tweets"), FeatureSettings(), sectors)
    assert rows > 50_000


@pytest.mark.parametrize("columns", [("open", "high", "low", "close", "volume"), ("close",)])
@pytest.mark.parametrize("every", [1, 3])
def test_daily_bars_and_close_only_bars_replay_bit_for_bit(columns, every) -> None:
    from steps.sample_data.generator import to_daily

    universe = pd.DataFrame({"ticker": ["AAPL", "JPM", "XOM"], "sector": ["IT", "Financials", "Energy"]})
    market = generate_market(universe, days=60, seed=4)
    bars = validate_bars(to_daily(market.bars)[["ticker", "ts", *columns]], "bars")
    tweets = validate_tweets(market.tweets, "tweets")
    settings = FeatureSettings(frequency="1d", windows=(5, 10, 20), sample_every_bars=every, label_horizon_bars=2)
    sectors = dict(zip(universe["ticker"], universe["sector"], strict=True))
    batch = build_features(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
    live = replay_features(bars, tweets, settings, sectors)
    assert len(live) == len(batch) > 40
    found, total = mismatches(batch, live, feature_columns(settings.with_bars(bars.columns)), rel_tol=0.0)
    assert total == 0, found[:3]
    assert ("range_5" in live.columns) == ("high" in columns)  # a close-only table drops what needs high/low


def test_a_ticker_that_joins_late_or_misses_sessions_replays_bit_for_bit_in_any_delivery_size() -> None:
    """The engine keeps per-ticker state in arrays indexed by ticker: a ticker first seen on day 3 (its rows
    grow every array), one absent for two whole sessions (its daily tail and session must skip them) and
    deliveries of several sessions at once (several sessions completed in one call) must change nothing."""
    market = gappy_market()
    bars, tweets, settings, sectors, days = market.bars, market.tweets, market.settings, market.sectors, market.days
    batch = build_features(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
    assert set(batch.loc[batch["ts"] < days[2].tz_convert("UTC"), "ticker"]) == {"AAPL", "JPM"}  # not vacuous
    arriving = bars.sort_values("ts", kind="stable")
    for size in (1_000, 5_000):  # bars per delivery: parts of a session, and several sessions at once
        engine = FeatureEngine(settings, sectors, expected=list(sectors))
        rows = engine.on_tweets(tweets)
        for a in range(0, len(arriving), size):
            rows += engine.on_bars(arriving.iloc[a:a + size])
        rows += engine.flush()
        live = pd.concat(rows, ignore_index=True)
        assert len(live) == len(batch)
        found, total = mismatches(batch, live, feature_columns(settings), rel_tol=0.0)
        assert total == 0, (size, found[:3])
