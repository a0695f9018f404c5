"""Bars without open/high/low/volume: the features that need them are dropped, never computed from stand-ins.

The reference is the same market with every input: a feature that reads only close must come out identical
to the last digit, and a feature that reads an absent input must not be in the table at all.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.errors import StepInputError
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.leaks.run import run_leaks

NEED_OHLV = {"range", "volume_z", "vwap_dev", "gap_overnight", "prev_day_range"}


def _family(name: str) -> str:
    for family in sorted(NEED_OHLV, key=len, reverse=True):
        if name == family or name.startswith(f"{family}_"):
            return family
    return ""


@pytest.fixture(scope="module")
def full_table(market, tiny_settings) -> pd.DataFrame:
    return build_features(validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets"),
                          tiny_settings, sectors={"AAPL": "IT", "MSFT": "IT"})


@pytest.mark.parametrize(("absent", "dropped_families"), [
    (("open", "high", "low", "volume"), NEED_OHLV),
    (("volume",), {"volume_z", "vwap_dev"}),
    (("open",), {"gap_overnight"}),
])
def test_bars_without_some_inputs_drop_exactly_the_features_that_read_them(market, tiny_settings, full_table,
                                                                            absent, dropped_families) -> None:
    bars = validate_bars(market.bars.drop(columns=list(absent)), "bars")
    table = build_features(bars, validate_tweets(market.tweets, "tweets"), tiny_settings,
                           sectors={"AAPL": "IT", "MSFT": "IT"})
    every = feature_columns(tiny_settings)
    missing = [c for c in every if c not in table.columns]
    assert missing and {_family(c) for c in missing} == dropped_families  # *_daily included (1-minute bars)
    assert all(_family(c) not in dropped_families for c in table.columns)
    assert feature_columns(tiny_settings.with_bars(bars.columns)) == [c for c in every if c in table.columns]
    # No stand-in value reached a kept column: each equals the full-input table's to the last digit.
    pd.testing.assert_frame_equal(table, full_table[list(table.columns)], check_exact=True)


def test_settings_record_absent_inputs_and_refuse_unknown_ones(tiny_settings) -> None:
    settings = tiny_settings.with_bars(["ticker", "ts", "close", "volume"])
    assert settings.absent_inputs == ("high", "low", "open")
    assert FeatureSettings.from_json(settings.to_json()) == settings
    assert settings.with_bars(["ticker", "ts", "open", "high", "low", "close", "volume"]) is settings  # kept
    with pytest.raises(StepInputError, match="absent_inputs"):
        FeatureSettings.from_json({"absent_inputs": ["vol"]})


def _close_only_daily(tmp_path: Path, sessions: int = 180) -> Path:
    """Two tickers of close-only daily bars (a random walk, seed 1), written as the import writes them."""
    rng = np.random.default_rng(1)
    days = pd.bdate_range("2022-01-03", periods=sessions)
    ts = (days + pd.Timedelta(hours=16)).tz_localize("America/New_York").tz_convert("UTC")
    frames = [pd.DataFrame({"ticker": t, "ts": ts, "close": 50 * np.exp(np.cumsum(rng.normal(0, 0.01, sessions)))})
              for t in ("AAA", "BBB")]
    bars = tmp_path / "bars"
    for frame in frames:
        folder = bars / f"ticker={frame['ticker'][0]}"
        folder.mkdir(parents=True)
        frame.drop(columns=["ticker"]).to_parquet(folder / "part-0.parquet", index=False)
    pd.DataFrame({"ticker": ["AAA", "BBB"], "sector": ["X", "X"]}).to_csv(bars / "_universe.csv", index=False)
    return bars


DAILY = FeatureSettings(frequency="1d", windows=(5, 10), sample_every_bars=1, label_horizon_bars=1,
                        include_sentiment=False, n_folds=2, train_days=40, validation_days=20, holdout_days=30,
                        embargo_bars=2)


def test_close_only_table_says_what_it_dropped_and_passes_the_leak_gate(tmp_path: Path, caplog) -> None:
    bars = _close_only_daily(tmp_path)
    with caplog.at_level(logging.WARNING):
        manifest = run_features(bars, None, tmp_path / "features", DAILY, universe=None,
                                logger=logging.getLogger("test"))
    assert manifest["absent_inputs"] == ["high", "low", "open", "volume"]
    assert manifest["settings"]["absent_inputs"] == ["high", "low", "open", "volume"]
    assert set(manifest["dropped_features"]) == {"range_5", "range_10", "volume_z_5", "volume_z_10", "vwap_dev_5",
                                                 "vwap_dev_10", "gap_overnight", "prev_day_range"}
    assert manifest["dropped_features"]["vwap_dev_5"] == ["high", "low", "volume"]
    assert not set(manifest["dropped_features"]) & set(manifest["feature_columns"])
    assert any("dropped the 8 features" in r.getMessage() for r in caplog.records)
    # The configured contract names no absent inputs: which inputs are absent is read from the bars.
    assert DAILY.absent_inputs == ()
    report = run_leaks(tmp_path / "features", bars, None, tmp_path / "leaks", cutoffs=5, seed=0,
                       logger=logging.getLogger("test"), contract=DAILY)
    assert report["passed"], report["summary"]
    # The causal replay covers every row of the close-only table (its stand-ins feed only dropped features).
    assert report["causality"]["rows_verified"] == report["causality"]["rows"] > 0
    assert json.loads((tmp_path / "leaks" / "leak_report.json").read_text())["passed"]


def test_fold_coverage_counts_the_sessions_no_fold_sees(tmp_path: Path, caplog) -> None:
    bars = _close_only_daily(tmp_path, sessions=190)
    with caplog.at_level(logging.WARNING):
        manifest = run_features(bars, None, tmp_path / "features", DAILY, universe=None,
                                logger=logging.getLogger("test"))
    coverage = manifest["fold_coverage"]
    # 190 sessions; folds + holdout span 40 + 2 x 20 + 30 = 110: the first 80 are in no fold.
    assert (coverage["sessions"], coverage["sessions_in_folds"], coverage["sessions_before_folds"]) == (190, 80, 80)
    table = pd.read_parquet(tmp_path / "features" / "features.parquet")
    first_train = pd.Timestamp(coverage["first_train_start"])
    assert coverage["rows_before_folds"] == int((table["ts"] < first_train).sum()) > 0
    assert first_train == (pd.bdate_range("2022-01-03", periods=190)[80] + pd.Timedelta(hours=16)).tz_localize(
        "America/New_York")
    assert "--validation-days to 60 (the same 2 folds) or --train-days to 120" in coverage["note"]  # 120 // 2; 40 + 80
    # and how a pipeline user says it (issue 31): config keys, not step flags
    assert coverage["note"].endswith("(on pipelines.run: --set folds.validation_days=60 or --set folds.train_days=120)")
    assert any("the first 80 sessions" in r.getMessage() for r in caplog.records)
    exact = FeatureSettings(**{**DAILY.to_json(), "validation_days": 60, "absent_inputs": ()})
    covered = run_features(bars, None, tmp_path / "f2", exact, universe=None, logger=logging.getLogger("test"))
    assert covered["fold_coverage"]["sessions_before_folds"] == 0 and "note" not in covered["fold_coverage"]
    # 39 + 2 x 60 + 30 = 189: one session left, and no longer validation window fits
    nearly = FeatureSettings(**{**DAILY.to_json(), "train_days": 39, "validation_days": 60, "absent_inputs": ()})
    note = run_features(bars, None, tmp_path / "f4", nearly, universe=None,
                        logger=logging.getLogger("test"))["fold_coverage"]["note"]
    assert note.endswith("to use them in validation too, raise --train-days to 40 (on pipelines.run: --set "
                         "folds.train_days=40)")
    longer = FeatureSettings(**{**DAILY.to_json(), "train_days": 120, "absent_inputs": ()})
    assert run_features(bars, None, tmp_path / "f3", longer, universe=None,
                        logger=logging.getLogger("test"))["fold_coverage"]["sessions_before_folds"] == 0
