"""steps.leaks causality and the full sentiment recount: every row proven, short-lived leaks caught.

The tables here are written by the feature step running the planted code (monkeypatched into
steps.features.run), and the leak step recomputes with that same code, as it would in a pipeline whose
feature code has the bug: table_matches_code then agrees with the table, and only a check that does not
run the feature code can object.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.io import describe_files
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.features.table import load_feature_table
from steps.leaks.causality import causality
from steps.leaks.checks.common import CheckResult
from steps.leaks.replay import replay_decision_rows
from steps.leaks.run import failure_summary, run_checks, run_leaks
from steps.leaks.sentiment_recount import SentimentColumn, parse_sentiment_columns, recount
from steps.sample_data.generator import GeneratedMarket, generate_market
from steps.sample_data.writer import write_market

UNIVERSE = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM", "XOM"],
                         "sector": ["Information Technology", "Information Technology", "Financials", "Energy"]})
SETTINGS = FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30)
SECTORS = dict(zip(UNIVERSE["ticker"], UNIVERSE["sector"], strict=True))

BuildFn = Callable[..., pd.DataFrame]


def _with_leak(leak: Callable[[pd.DataFrame], None]) -> BuildFn:
    """The feature code with `leak` applied to every decision row before unlabelled rows are dropped (where a
    bug in build_features would sit), so the table and the leak step's recomputation carry the same values."""
    def leaky_build(bars, tweets, settings, *, keep_unlabelled: bool = False, **kwargs) -> pd.DataFrame:
        frame = build_features(bars, tweets, settings, keep_unlabelled=True, **kwargs)
        leak(frame)
        if not keep_unlabelled:
            frame = frame[frame["label"].notna()].reset_index(drop=True)
            frame["label"] = frame["label"].astype("int64")
        return frame
    return leaky_build


def _next_row_when(column: str, start: pd.Timestamp, end: pd.Timestamp) -> BuildFn:
    """`column` at t takes its value at the ticker's next decision row, for rows with start <= t < end only."""
    def leak(frame: pd.DataFrame) -> None:
        ahead = frame.groupby("ticker")[column].shift(-1)
        active = ((frame["ts"] >= start) & (frame["ts"] < end)).to_numpy()
        frame.loc[active, column] = ahead[active]
    return _with_leak(leak)


def _features_with(build: BuildFn, sample: Path, out: Path, universe: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    """The features step's output with `build` as its feature code."""
    with monkeypatch.context() as patch:
        patch.setattr("steps.features.run.build_features", build)
        run_features(sample / "bars", sample / "tweets", out, SETTINGS, universe=universe,
                     logger=logging.getLogger("test"))
    return out


def _checks(features: Path, market: GeneratedMarket, build: BuildFn, **kwargs) -> dict[str, CheckResult]:
    table = load_feature_table(features)
    bars, tweets = validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets")
    return {r.name: r for r in run_checks(table, bars, tweets, cutoffs=3, seed=0, build=build, **kwargs)}


@pytest.fixture(scope="module")
def long_market() -> GeneratedMarket:
    """Four tickers from 2025-01-02 to 2025-04-01 (63 sessions): room for a leak that lasts one month."""
    return generate_market(UNIVERSE, days=63, seed=5)


@pytest.fixture(scope="module")
def long_sample(long_market: GeneratedMarket, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("long")
    write_market(long_market, root)
    return root


def test_code_look_ahead_active_for_one_month_is_caught_by_causality(long_market, long_sample, universe_csv,
                                                                     tmp_path, monkeypatch) -> None:
    start, end = pd.Timestamp("2025-02-01", tz="UTC"), pd.Timestamp("2025-03-01", tz="UTC")
    leaky = _next_row_when("ret_60", start, end)
    features = _features_with(leaky, long_sample, tmp_path / "features", universe_csv, monkeypatch)
    results = _checks(features, long_market, leaky)
    table = load_feature_table(features).frame

    check = results["causality"]
    assert not check.passed and check.columns == ["ret_60"]
    in_february = int(((table["ts"] >= start) & (table["ts"] < end)).sum())
    # Every row of the month moved (a next row's ret_60 is never its own), and no row outside it.
    assert check.data["rows_verified"] == len(table) - in_february
    assert f"rows verified causal: {len(table) - in_february} of {len(table)}" in check.details
    span = r"ret_60 differs from the causal replay on \d+ rows from 2025-02-03 \S+ to 2025-02-28"
    assert re.search(span, check.details), check.details
    assert "feature code: ret_60 differs" in check.details
    assert results["table_matches_code"].passed  # the table is what the (leaky) code makes


def test_code_look_ahead_confined_to_the_holdout_is_caught_by_causality_alone(features_dir, sample_dir, market,
                                                                            universe_csv, tmp_path,
                                                                            monkeypatch) -> None:
    holdout_start = load_feature_table(features_dir).folds.holdout_start
    leaky = _next_row_when("vwap_dev_10", holdout_start, pd.Timestamp.max.tz_localize("UTC"))
    features = _features_with(leaky, sample_dir, tmp_path / "features", universe_csv, monkeypatch)
    results = _checks(features, market, leaky)

    check = results["causality"]
    assert not check.passed and check.columns == ["vwap_dev_10"]
    first_bad = re.search(r"vwap_dev_10 differs from the causal replay on \d+ rows from (\S+ \S+)", check.details)
    assert first_bad and pd.Timestamp(first_bad.group(1), tz="UTC") >= holdout_start
    # Checks that look at the development rows only, or compare the table with its own code, see nothing.
    assert results["table_matches_code"].passed and results["target_leakage"].passed
    assert "causality (vwap_dev_10)" in failure_summary(list(results.values()))


def _sparse_tweets(market: GeneratedMarket, features_dir: Path) -> pd.DataFrame:
    """Two dozen tweets, each created 30 s before a decision instant (inside the 60 s ingest lag)."""
    instants = np.sort(load_feature_table(features_dir).frame["ts"].unique())[50::130]
    template = market.tweets.iloc[0]
    rows = []
    for k, (instant, ticker) in enumerate((i, t) for i in instants for t in UNIVERSE["ticker"]):
        score = float(np.tanh(0.3 * (k % 7) - 0.9))
        rows.append({**template.to_dict(), "tweet_id": f"sparse-{k}", "ticker": ticker,
                     "created_at": pd.Timestamp(instant) - pd.Timedelta(seconds=30),
                     "engagement_observed_at": pd.Timestamp(instant) - pd.Timedelta(seconds=30),
                     "like_count": 3 * k, "retweet_count": k % 4, "reply_count": 1,
                     "p_pos": (1 + score) / 2 * 0.9, "p_neg": (1 - score) / 2 * 0.9, "p_neu": 0.1,
                     "score": score})
    return pd.DataFrame(rows).astype(market.tweets.dtypes.to_dict())


def _unlagged_weighted(bars, tweets, settings, *, keep_unlabelled: bool = False, **kwargs) -> pd.DataFrame:
    """Feature code whose engagement-weighted sent_* columns (sent_daily too) ignore the ingest lag."""
    frame = build_features(bars, tweets, settings, keep_unlabelled=keep_unlabelled, **kwargs)
    eager = build_features(bars, tweets, settings.replace(ingest_lag_seconds=0),
                           keep_unlabelled=keep_unlabelled, **kwargs)
    weighted = [c for c in frame.columns if re.fullmatch(r"sent_(\d+m|daily)", c)]
    frame[weighted] = eager[weighted].to_numpy()
    return frame


def test_unlagged_weighted_sentiment_on_sparse_tweets_is_caught_by_the_recount(features_dir, market, universe_csv,
                                                                               tmp_path, monkeypatch) -> None:
    sparse = dataclasses.replace(market, tweets=_sparse_tweets(market, features_dir))
    write_market(sparse, tmp_path / "sample")
    features = _features_with(_unlagged_weighted, tmp_path / "sample", tmp_path / "features", universe_csv,
                              monkeypatch)
    results = _checks(features, sparse, _unlagged_weighted)

    recount_check = results["timestamp_alignment"]
    assert not recount_check.passed
    assert recount_check.columns == ["sent_5m", "sent_10m", "sent_60m", "sent_daily"]
    assert "sent_60m differs from a recount of tweets created at or before t - 60s" in recount_check.details
    assert "no ingest lag" in recount_check.details
    assert not results["causality"].passed
    assert set(results["causality"].columns) == {"sent_5m", "sent_10m", "sent_60m", "sent_daily"}
    assert results["table_matches_code"].passed


def test_recount_of_every_sentiment_kind_matches_numbers_worked_by_hand() -> None:
    t = pd.Timestamp("2025-03-03 15:00", tz="UTC")
    tweets = pd.DataFrame({
        "ticker": ["AAPL"] * 4,
        # With a 60 s lag the windows end at t - 60 s: 9 min before t is in the 10-minute window only, 3 min and
        # 70 s before in both, 30 s before not yet available.
        "created_at": [t - pd.Timedelta(minutes=9), t - pd.Timedelta(minutes=3), t - pd.Timedelta(seconds=70),
                       t - pd.Timedelta(seconds=30)],
        "like_count": [0, 9, 1, 100], "retweet_count": [0, 0, 1, 0], "reply_count": [0, 0, 0, 0],
        "p_pos": [0.2, 0.5, np.nan, 0.9], "p_neg": [0.7, 0.1, np.nan, 0.05], "p_neu": [0.1, 0.4, np.nan, 0.05],
        "score": [-0.5, 0.4, 0.2, 0.85]})
    tweets["engagement_observed_at"] = tweets["created_at"]  # counts read at creation: they weight the tweets
    rows = pd.DataFrame({"ticker": ["AAPL", "MSFT"], "ts": [t, t]})
    names = ["sent_5m", "sent_10m", "sent_mean_10m", "sent_sum_5m", "sent_pos_ratio_10m", "tweet_count_10m",
             "tweet_count_daily"]
    got = recount(rows, tweets, parse_sentiment_columns(names), pd.Timedelta(seconds=60))
    w = [1.0, 1 + np.log(10), 1 + np.log(3)]  # 1 + log1p(likes + retweets + replies)
    expected = {
        "sent_5m": (w[1] * 0.4 + w[2] * 0.2) / (w[1] + w[2]),
        "sent_10m": (w[0] * -0.5 + w[1] * 0.4 + w[2] * 0.2) / sum(w),
        "sent_mean_10m": (-0.5 + 0.4 + 0.2) / 3, "sent_sum_5m": 0.6,
        "sent_pos_ratio_10m": 2 / 3,  # p_pos largest for the second; no probabilities, score > 0 for the third
        "tweet_count_10m": 3.0, "tweet_count_daily": 3.0}
    for name, value in expected.items():
        assert got[name][0] == pytest.approx(value, rel=1e-12), name
        assert got[name][1] == 0.0, name  # no tweets about MSFT: 0, as the features document


def test_sentiment_columns_are_read_from_their_names() -> None:
    minute, day = 60_000_000_000, 86_400_000_000_000
    assert parse_sentiment_columns(["sent_mean_5m", "sent_daily", "sent_pos_ratio_3d", "tweet_count_daily",
                                    "sent_60m", "sent_foo", "ret_5"]) == {
        "sent_mean_5m": SentimentColumn("sent_mean_5m", "sent_mean", 5 * minute),
        "sent_daily": SentimentColumn("sent_daily", "sent", day),
        "sent_pos_ratio_3d": SentimentColumn("sent_pos_ratio_3d", "sent_pos_ratio", 3 * day),
        "tweet_count_daily": SentimentColumn("tweet_count_daily", "tweet_count", day),
        "sent_60m": SentimentColumn("sent_60m", "sent", 60 * minute)}


def _replayed_until(market: GeneratedMarket, settings: FeatureSettings, cutoff: pd.Timestamp) -> pd.DataFrame:
    bars = market.bars[market.bars["ts"] <= cutoff]
    tweets = market.tweets[market.tweets["created_at"] + pd.Timedelta(seconds=settings.ingest_lag_seconds) <= cutoff]
    frame = replay_decision_rows(bars, tweets, settings, SECTORS, feature_columns(settings)).frame
    return frame[frame["ts"] <= cutoff].sort_values(["ticker", "ts"]).reset_index(drop=True)


@pytest.mark.parametrize("frequency", ["1min", "1d"])
def test_replay_is_causal_at_every_decision_instant(frequency: str) -> None:
    """The replay itself, cut at every decision instant of a small market: no replayed row at or before the
    cut moves by a single bit (the engine's structure says so; this shows it on every instant)."""
    days = 4 if frequency == "1min" else 60
    settings = SETTINGS.replace(frequency=frequency, **({} if frequency == "1min" else
                                                                    {"windows": (5, 10, 20), "sample_every_bars": 2,
                                                                     "include_sentiment": False}))
    market = generate_market(UNIVERSE, days=days, seed=11, frequency=frequency)
    market = dataclasses.replace(market, bars=market.bars.drop(index=market.bars.index[7::97]))  # gaps, as real data
    everything = _replayed_until(market, settings, market.bars["ts"].max())
    instants = np.sort(everything["ts"].unique())
    assert len(instants) >= 30
    for cutoff in instants:
        cut = _replayed_until(market, settings, pd.Timestamp(cutoff))
        before = everything[everything["ts"] <= cutoff].reset_index(drop=True)
        pd.testing.assert_frame_equal(cut, before, check_exact=True, obj=f"replay cut at {cutoff}")


@pytest.mark.parametrize("frequency", ["1min", "1d"])
def test_replay_equals_the_feature_code_on_every_row(frequency: str) -> None:
    settings = SETTINGS.replace(frequency=frequency, **({} if frequency == "1min" else
                                                                    {"windows": (5, 10, 20), "sample_every_bars": 1}))
    market = generate_market(UNIVERSE, days=12 if frequency == "1min" else 120, seed=2, frequency=frequency)
    tweets = market.tweets if frequency == "1min" else market.tweets.iloc[:0]  # daily: a market without tweets
    bars = validate_bars(market.bars, "bars")
    code = build_features(bars, tweets, settings, sectors=SECTORS, keep_unlabelled=True)
    replay = replay_decision_rows(bars, tweets, settings, SECTORS, feature_columns(settings))
    table = code[code["label"].notna()]
    result = causality(table, feature_columns(settings), replay, code)
    assert result.passed, result.details
    assert result.data["rows_verified"] == len(table) > 0


def test_unverifiable_column_is_named_unverifiable_not_a_leak(features_dir, sample_dir, tmp_path) -> None:
    """A column no feature code makes (here a next-row value, but nothing can tell) is unverifiable; a column
    the code makes but the table changed is named as differing."""
    leaky = tmp_path / "features"
    shutil.copytree(features_dir, leaky)
    frame = pd.read_parquet(leaky / "features.parquet")
    frame = frame.assign(analyst_hint=frame.groupby("ticker")["ret_5"].shift(-1), ret_60=frame["ret_60"] * 1.01)
    frame.to_parquet(leaky / "features.parquet", index=False)
    manifest = json.loads((leaky / "manifest.json").read_text())
    manifest["feature_columns"].append("analyst_hint")
    manifest["files"] = describe_files(leaky, ["features.parquet", "folds.json"])  # as a writer that wrote it
    (leaky / "manifest.json").write_text(json.dumps(manifest))
    report = run_leaks(leaky, sample_dir / "bars", sample_dir / "tweets", tmp_path / "out", cutoffs=1, seed=0,
                       logger=logging.getLogger("test"), truncation_tickers=2)
    check = next(c for c in report["checks"] if c["name"] == "causality")
    rows = len(load_feature_table(leaky).frame)
    assert not check["passed"] and f"rows verified causal: 0 of {rows}" in check["details"]
    assert "unverifiable: analyst_hint" in check["details"]
    assert "causality (ret_60; unverifiable: analyst_hint)" in report["summary"]
    assert "table_matches_code (ret_60; unverifiable: analyst_hint)" in report["summary"]
    assert report["causality"]["unverifiable"] == ["analyst_hint"]
