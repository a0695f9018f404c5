"""Engagement counts weight a tweet only if they were read by the time the tweet is first used (issue 30).

A bought or backfilled archive holds the *final* like/retweet/reply counts, read days after each tweet; weighting
sent_* by them uses the future. `engagement_observed_at` says when the counts were read; a tweet's counts weight
it only if read by created_at + ingest_lag, else it weighs 1. Every expected value here is computed apart from
the feature code (plain Python over the tweets, or numbers worked by hand).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.errors import StepInputError
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.engagement import engagement_counts
from steps.features.inputs import read_tweets
from steps.features.parity import mismatches, replay_features
from steps.features.run import run_features
from steps.features.sentiment import sentiment_features
from steps.features.settings import FeatureSettings
from steps.features.table import load_feature_table
from steps.leaks.run import run_checks, run_leaks
from steps.leaks.sentiment_recount import engagement_tally, parse_sentiment_columns, recount
from steps.sample_data.generator import GeneratedMarket
from steps.sample_data.writer import write_market

LAG = pd.Timedelta(seconds=60)
WEIGHTED = {"sent_5m": 5, "sent_10m": 10, "sent_60m": 60, "sent_daily": 1440}  # minutes
SECTORS = {"AAPL": "Information Technology", "MSFT": "Information Technology", "JPM": "Financials",
           "XOM": "Energy"}


def _observed(tweets: pd.DataFrame, how: str) -> pd.DataFrame:
    """The tweets with their counts read at creation + 30 s ("fresh"), three days later ("archive"), or by
    position: fresh, archive, unknown (NaT), in turn ("mixed")."""
    fresh = tweets["created_at"] + pd.Timedelta(seconds=30)
    late = tweets["created_at"] + pd.Timedelta(days=3)
    if how == "fresh":
        observed = fresh
    elif how == "archive":
        observed = late
    else:
        kind = np.arange(len(tweets)) % 3
        observed = fresh.where(kind == 0, late).where(kind != 2, pd.NaT)
    return tweets.assign(engagement_observed_at=observed)


def _weighted_mean(tweets: pd.DataFrame, ticker: str, ts: pd.Timestamp, minutes: int) -> float:
    """sent_W of one row, tweet by tweet: counts weight a tweet only if read by created_at + lag."""
    total = weights = 0.0
    for r in tweets[tweets["ticker"] == ticker].itertuples():
        if not ts - pd.Timedelta(minutes=minutes) < r.created_at + LAG <= ts:
            continue
        observed = r.engagement_observed_at
        in_time = not pd.isna(observed) and observed <= r.created_at + LAG
        weight = 1 + math.log1p(r.like_count + r.retweet_count + r.reply_count) if in_time else 1.0
        total += weight * r.score
        weights += weight
    return total / weights if weights else 0.0


@pytest.fixture(scope="module")
def bars(market: GeneratedMarket) -> pd.DataFrame:
    return validate_bars(market.bars, "bars")


@pytest.fixture(scope="module")
def tables(market, bars, tiny_settings) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """(validated tweets, feature table) per observation scenario."""
    out = {}
    for how in ("fresh", "archive", "mixed"):
        tweets = validate_tweets(_observed(market.tweets, how), "tweets")
        out[how] = tweets, build_features(bars, tweets, tiny_settings, sectors=SECTORS)
    return out


def test_counts_read_days_later_give_unweighted_features_and_counts_read_at_creation_weighted_ones(tables) -> None:
    rng = np.random.default_rng(4)
    _, fresh_table = tables["fresh"]
    with_tweets = np.flatnonzero(fresh_table["tweet_count_5m"].to_numpy() > 1)
    picks = rng.choice(with_tweets, 12, replace=False)
    for how in ("fresh", "archive", "mixed"):
        tweets, table = tables[how]
        for index in picks:
            row = table.iloc[index]
            for name, minutes in WEIGHTED.items():
                expected = _weighted_mean(tweets, row["ticker"], row["ts"], minutes)
                assert row[name] == pytest.approx(expected, rel=1e-9, abs=1e-12), (how, name, row["ts"])
    archive = tables["archive"][1]
    # Counts read three days later weigh every tweet 1: sent_W is then the plain mean of the window's scores.
    assert np.allclose(archive["sent_5m"], archive["sent_mean_5m"], rtol=1e-12, atol=1e-15)
    # Not vacuous: the weights change sent_* on most rows with two tweets or more, and nothing else.
    moved = ~np.isclose(fresh_table["sent_5m"].to_numpy()[with_tweets], archive["sent_5m"].to_numpy()[with_tweets])
    assert moved.mean() > 0.5
    others = [c for c in fresh_table.columns if c not in WEIGHTED]
    pd.testing.assert_frame_equal(fresh_table[others], archive[others], check_exact=True)


def test_the_rule_is_per_tweet_with_the_first_decision_time_included() -> None:
    """Four tweets in one window: counts read at creation and exactly at created_at + lag weight their tweets;
    counts read one second later, or at an unknown time, do not. Worked by hand, in the feature code and in the
    leak step's recount."""
    t = pd.Timestamp("2025-03-03 15:00", tz="UTC")
    created = [t - pd.Timedelta(minutes=m) for m in (40, 30, 20, 10)]
    raw = pd.DataFrame({
        "tweet_id": ["a", "b", "c", "d"], "created_at": created, "ticker": "AAPL",
        "like_count": [9, 2, 20, 50], "retweet_count": [0, 0, 0, 4], "reply_count": [0, 0, 1, 0],
        "score": [0.5, -0.25, 0.75, -1.0], "model": "m",
        "engagement_observed_at": [created[0], created[1] + LAG, created[2] + LAG + pd.Timedelta(seconds=1), pd.NaT]})
    tweets = validate_tweets(raw, "hand")
    w = [1 + math.log(10), 1 + math.log(3), 1.0, 1.0]
    expected = (w[0] * 0.5 - w[1] * 0.25 + 0.75 - 1.0) / sum(w)
    rows = pd.DataFrame({"ticker": ["AAPL"], "ts": [t]})
    features = sentiment_features(rows, tweets, FeatureSettings())
    assert features["sent_60m"].iloc[0] == pytest.approx(expected, rel=1e-12)
    recounted = recount(rows, tweets, parse_sentiment_columns(["sent_60m"]), LAG)
    assert recounted["sent_60m"][0] == pytest.approx(expected, rel=1e-12)
    counts = {"used": 2, "neutralised_late": 1, "neutralised_unknown": 1}
    assert engagement_counts(tweets, 60.0) == counts
    assert engagement_tally(tweets, LAG) == counts
    # A longer lag makes the third tweet's counts in time: the rule follows the configured lag.
    assert engagement_counts(tweets, 61.0) == {"used": 3, "neutralised_late": 0, "neutralised_unknown": 1}


def test_counts_read_before_the_tweet_was_made_are_refused_in_one_line(market, tmp_path: Path) -> None:
    folder = tmp_path / "tweets"
    folder.mkdir()
    bad = _observed(market.tweets, "fresh")
    bad.loc[bad.index[5], "engagement_observed_at"] = bad["created_at"].iloc[5] - pd.Timedelta(seconds=1)
    bad.to_parquet(folder / "part-0.parquet", index=False)
    with pytest.raises(StepInputError) as caught:
        read_tweets(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder}: column 'engagement_observed_at': has 1 tweet(s) whose counts were read "
                              "before the tweet was created")
    assert bad["tweet_id"].iloc[5] in message and "; fix: " in message
    with pytest.raises(StepInputError, match="expected a UTC timestamp"):
        validate_tweets(market.tweets.assign(engagement_observed_at=1.5), "t")
    with pytest.raises(StepInputError, match="naive timestamps"):
        validate_tweets(market.tweets.assign(engagement_observed_at=market.tweets["created_at"].dt.tz_localize(None)),
                        "t")


def test_csv_observation_times_with_empty_cells_are_unknown(market, tmp_path: Path) -> None:
    tweets = _observed(market.tweets.head(6), "mixed")
    text = tweets.assign(created_at=tweets["created_at"].map(lambda v: v.isoformat()),
                         engagement_observed_at=tweets["engagement_observed_at"].map(
                             lambda v: "" if pd.isna(v) else v.isoformat()))
    text.to_csv(tmp_path / "tweets.csv", index=False)
    read = read_tweets(tmp_path / "tweets.csv")
    assert read["engagement_observed_at"].isna().tolist() == [False, False, True] * 2
    assert engagement_counts(read, 60.0) == {"used": 2, "neutralised_late": 2, "neutralised_unknown": 2}


def _written(market: GeneratedMarket, tweets: pd.DataFrame, root: Path) -> Path:
    write_market(dataclasses.replace(market, tweets=tweets), root)
    return root


def test_a_file_without_the_column_is_unweighted_with_one_warning_and_the_manifest_counts_it(
        market, tiny_settings, universe_csv, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = _written(market, market.tweets.drop(columns="engagement_observed_at"), tmp_path / "missing")
    archive = _written(market, _observed(market.tweets, "archive"), tmp_path / "archive")
    logger = logging.getLogger("test.engagement")
    with caplog.at_level(logging.WARNING, logger="test.engagement"):
        built = run_features(missing / "bars", missing / "tweets", tmp_path / "f_missing", tiny_settings,
                             universe=universe_csv, logger=logger)
    warnings = [r.getMessage() for r in caplog.records if "engagement_observed_at" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{missing / 'tweets'}: no 'engagement_observed_at' column")
    assert "; fix: add 'engagement_observed_at'" in warnings[0]
    n = len(market.tweets)
    assert built["engagement"] == {"used": 0, "neutralised_late": 0, "neutralised_unknown": n}
    # In batches of tickers: the same counts, the warning once.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="test.engagement"):
        in_turn = run_features(missing / "bars", missing / "tweets", tmp_path / "f_turn", tiny_settings,
                               universe=universe_csv, logger=logger, ticker_batches=2)
    assert sum("engagement_observed_at" in r.getMessage() for r in caplog.records) == 1
    assert in_turn["engagement"] == built["engagement"]
    # Unknown is treated as late: the table equals the one of an archive read three days later.
    late = run_features(archive / "bars", archive / "tweets", tmp_path / "f_archive", tiny_settings,
                        universe=universe_csv, logger=logger)
    assert late["engagement"] == {"used": 0, "neutralised_late": n, "neutralised_unknown": 0}
    tables = [load_feature_table(tmp_path / name).frame for name in ("f_missing", "f_turn", "f_archive")]
    pd.testing.assert_frame_equal(tables[0], tables[2], check_exact=True)
    pd.testing.assert_frame_equal(tables[1], tables[2], check_exact=True)
    # Unweighted: sent_5m is the plain mean of the window's scores (the counts are not 0, so weighted it is not).
    assert np.allclose(tables[0]["sent_5m"], tables[0]["sent_mean_5m"], rtol=1e-12, atol=1e-15)
    assert (market.tweets["like_count"] > 0).mean() > 0.5


def test_the_manifest_counts_a_mixed_archive(market, tiny_settings, universe_csv, tmp_path: Path) -> None:
    tweets = _observed(market.tweets, "mixed")
    root = _written(market, tweets, tmp_path / "mixed")
    manifest = run_features(root / "bars", root / "tweets", tmp_path / "features", tiny_settings,
                            universe=universe_csv, logger=logging.getLogger("test"))
    kind = np.arange(len(tweets)) % 3  # _observed: fresh, three days late, unknown
    expected = {"used": int((kind == 0).sum()), "neutralised_late": int((kind == 1).sum()),
                "neutralised_unknown": int((kind == 2).sum())}
    assert manifest["engagement"] == expected
    written = load_feature_table(tmp_path / "features").manifest
    assert written["engagement"] == expected


def test_live_scoring_of_a_mixed_archive_equals_the_batch_build_bit_for_bit(tables, bars) -> None:
    tweets, _ = tables["mixed"]
    plain = bars.to_pandas() if hasattr(bars, "to_pandas") else bars
    settings = FeatureSettings()
    batch = build_features(plain, tweets, settings, sectors=SECTORS, keep_unlabelled=True)
    live = replay_features(plain, tweets, settings, SECTORS)
    found, total = mismatches(batch, live, feature_columns(settings), rel_tol=0.0)
    assert total == 0, found[:3]
    weighted_fresh = build_features(plain, tables["fresh"][0], settings, sectors=SECTORS, keep_unlabelled=True)
    assert (live["sent_60m"] != weighted_fresh["sent_60m"]).sum() > 100  # the live engine applied the rule


def _check_results(root: Path, features: Path, tiny_settings: FeatureSettings, universe_csv: Path,
                   tweets: pd.DataFrame, market: GeneratedMarket) -> dict:
    """The leak step's checks of the table the feature step writes from `root`, as the pipeline runs them."""
    run_features(root / "bars", root / "tweets", features, tiny_settings, universe=universe_csv,
                 logger=logging.getLogger("test"))
    table = load_feature_table(features)
    results = run_checks(table, validate_bars(market.bars, "bars"), tweets, cutoffs=3, seed=0)
    return {r.name: r for r in results}


def test_leak_checks_prove_the_rule_causal_and_catch_weights_by_counts_read_later(
        market, tiny_settings, universe_csv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tweets = _observed(market.tweets, "mixed")
    root = _written(market, tweets, tmp_path / "mixed")
    validated = validate_tweets(tweets, "tweets")
    run_features(root / "bars", root / "tweets", tmp_path / "honest", tiny_settings, universe=universe_csv,
                 logger=logging.getLogger("test"))
    report = run_leaks(tmp_path / "honest", root / "bars", root / "tweets", tmp_path / "report", cutoffs=3, seed=0,
                       logger=logging.getLogger("test"), contract=tiny_settings)
    honest = {c["name"]: c for c in report["checks"]}
    for name in ("causality", "timestamp_alignment", "table_matches_code", "truncation_invariance"):
        assert honest[name]["passed"], (name, honest[name]["details"])
    # The report says, on one line, what the recount weighted, and that the features manifest counted the same.
    kind = np.arange(len(tweets)) % 3
    counts = {"used": int((kind == 0).sum()), "neutralised_late": int((kind == 1).sum()),
              "neutralised_unknown": int((kind == 2).sum())}
    assert {k: report["engagement"][k] for k in counts} == counts
    line = next(x for x in (tmp_path / "report" / "leak_report.txt").read_text().splitlines()
                if x.startswith("engagement:"))
    assert f"weighted {counts['used']} tweets" in line and "the features manifest counts the same" in line
    in_turn = run_leaks(tmp_path / "honest", root / "bars", root / "tweets", tmp_path / "report2", cutoffs=3, seed=0,
                        logger=logging.getLogger("test"), contract=tiny_settings, ticker_batches=2)
    assert in_turn["engagement"] == report["engagement"] and in_turn["passed"] == report["passed"]
    # The feature code without the rule (an archive's final counts weight every tweet): the leak step, running
    # that same code, still finds the weighted columns differ from its recount and from the causal replay.
    with monkeypatch.context() as patch:
        patch.setattr("steps.features.sentiment.engagement_usable",
                      lambda tweets, lag: np.ones(len(tweets), bool))
        leaky = _check_results(root, tmp_path / "leaky", tiny_settings, universe_csv, validated, market)
    assert not leaky["timestamp_alignment"].passed
    assert set(leaky["timestamp_alignment"].columns) == set(WEIGHTED)
    assert not leaky["causality"].passed and set(leaky["causality"].columns) == set(WEIGHTED)
    assert leaky["table_matches_code"].passed  # the table is what that code makes
