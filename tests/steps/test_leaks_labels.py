"""labels_match_bars: the table's forward_return, label and label_end recomputed from the bars, not the feature code.

Each wrong label rule is planted in the *feature code*: the table is written by it and the leak step runs it
again, so table_matches_code agrees with it (the gap the check closes). The expected values are computed here
with pandas shifts on the generated bars, apart from the check's own locate_rows."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from steps.common.validation import validate_bars
from steps.features.build import build_features
from steps.features.in_turn import batches_of, ticker_partitions
from steps.features.inputs import read_bars, read_tweets
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.features.table import load_feature_table
from steps.leaks.checks.common import CheckResult
from steps.leaks.checks.labels_match_bars import labels_match_bars
from steps.leaks.checks.timestamp_alignment import locate_rows
from steps.leaks.in_turn import run_checks_in_turn
from steps.leaks.run import run_checks
from steps.sample_data.generator import generate_market

LOGGER = logging.getLogger("test")
Build = Callable[..., pd.DataFrame]


def _pandas_bars(bars) -> pd.DataFrame:
    return bars.to_pandas() if isinstance(bars, pl.DataFrame) else bars


def _with_targets_of(targets_build: Callable[[object, FeatureSettings], pd.DataFrame]) -> Build:
    """Feature code that is honest but for forward_return and label, taken from `targets_build(bars, settings)`
    (a full keep_unlabelled build); label_end stays the honest bar t+1+H, so only the return and label are wrong."""
    def leaky(bars, tweets, settings, *, keep_unlabelled: bool = False, **kwargs) -> pd.DataFrame:
        frame = build_features(bars, tweets, settings, keep_unlabelled=True, **kwargs)
        other = targets_build(bars, settings).set_index(["ticker", "ts"])
        keys = pd.MultiIndex.from_frame(frame[["ticker", "ts"]])
        frame["forward_return"] = other["forward_return"].reindex(keys).to_numpy()
        frame["label"] = other["label"].reindex(keys).to_numpy()
        if not keep_unlabelled:
            frame = frame[frame["label"].notna()].reset_index(drop=True)
            frame["label"] = frame["label"].astype("int64")
        return frame
    return leaky


def _one_bar_too_many(bars, settings: FeatureSettings) -> pd.DataFrame:
    """The label's window over H+1 bars: close[t+2+H] / close[t+1] - 1."""
    return build_features(bars, None, settings.replace(label_horizon_bars=settings.label_horizon_bars + 1,
                                                       include_sentiment=False), keep_unlabelled=True)


def _entry_at_the_decision_bar(bars, settings: FeatureSettings) -> pd.DataFrame:
    """The window shifted one bar back: close[t+H] / close[t] - 1 (every close moved one bar later)."""
    shifted = pl.from_pandas(_pandas_bars(bars)) if not isinstance(bars, pl.DataFrame) else bars
    shifted = shifted.with_columns(pl.col("close").shift(1).over("ticker").fill_null(pl.col("close")))
    return build_features(shifted, None, settings.replace(include_sentiment=False), keep_unlabelled=True)


def _flipped_at(ticker: str, ts: pd.Timestamp) -> Build:
    """Honest code but for the label of one row, flipped."""
    def leaky(bars, tweets, settings, *, keep_unlabelled: bool = False, **kwargs) -> pd.DataFrame:
        frame = build_features(bars, tweets, settings, keep_unlabelled=keep_unlabelled, **kwargs)
        row = (frame["ticker"] == ticker) & (frame["ts"] == ts)
        frame.loc[row, "label"] = 1 - frame.loc[row, "label"]
        return frame
    return leaky


def _table_written_by(build: Build, sample_dir: Path, universe_csv: Path, out: Path, settings: FeatureSettings,
                      monkeypatch: pytest.MonkeyPatch):
    with monkeypatch.context() as patch:
        patch.setattr("steps.features.run.build_features", build)
        run_features(sample_dir / "bars", sample_dir / "tweets", out, settings, universe=universe_csv, logger=LOGGER)
    return load_feature_table(out)


def _both_paths(table, sample_dir: Path, build: Build, settings: FeatureSettings) -> dict[str, CheckResult]:
    """Every check, in one pass and in 3 ticker batches; the two reports must be the same."""
    bars = validate_bars(read_bars(sample_dir / "bars"), sample_dir / "bars", as_polars=True)
    one = run_checks(table, bars, read_tweets(sample_dir / "tweets"), cutoffs=1, seed=0, truncation_tickers=2,
                     build=build, contract=settings)
    batched, _ = run_checks_in_turn(table, sample_dir / "bars", sample_dir / "tweets",
                                    batches_of(ticker_partitions(sample_dir / "bars"), 3), cutoffs=1, seed=0,
                                    truncation_tickers=2, build=build, contract=settings)
    as_json = [json.loads(json.dumps(r.as_dict(), default=str)) for r in one]
    assert [json.loads(json.dumps(r.as_dict(), default=str)) for r in batched] == as_json
    return {r.name: r for r in batched}


def _expected_returns(bars: pd.DataFrame, table: pd.DataFrame, entry: int, exit_: int) -> pd.Series:
    """close[t+exit_] / close[t+entry] - 1 at each table row, by pandas shifts within the ticker."""
    bars = bars.sort_values(["ticker", "ts"])
    close = bars.groupby("ticker")["close"]
    values = (close.shift(-exit_) / close.shift(-entry) - 1.0).to_numpy()
    lookup = pd.Series(values, index=pd.MultiIndex.from_frame(bars[["ticker", "ts"]].astype({"ticker": str})))
    return pd.Series(lookup.reindex(pd.MultiIndex.from_frame(table[["ticker", "ts"]].astype({"ticker": str})))
                     .to_numpy(), index=table.index)


def _first_difference(table: pd.DataFrame, wrong: pd.Series) -> pd.Series:
    return table[wrong.to_numpy()].iloc[0]


def test_a_label_window_one_bar_too_long_is_caught_on_both_paths(features_dir: Path, sample_dir: Path,
                                                                 universe_csv: Path, tmp_path: Path, market,
                                                                 tiny_settings: FeatureSettings,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    build = _with_targets_of(_one_bar_too_many)
    table = _table_written_by(build, sample_dir, universe_csv, tmp_path / "features", tiny_settings, monkeypatch)
    checks = _both_paths(table, sample_dir, build, tiny_settings)
    check = checks["labels_match_bars"]
    frame, horizon = table.frame, tiny_settings.label_horizon_bars
    honest = _expected_returns(market.bars, frame, 1, 1 + horizon)
    planted = _expected_returns(market.bars, frame, 1, 2 + horizon)
    assert np.allclose(frame["forward_return"], planted, rtol=0, atol=1e-12)  # the table holds the H+1 window
    wrong_return = (frame["forward_return"] - honest).abs() > 1e-9 * (1 + honest).abs()
    wrong_label = frame["label"].astype(bool) != (honest > 0)
    assert 0 < wrong_label.sum() < wrong_return.sum()
    assert not check.passed and check.columns == ["forward_return", "label"]
    assert check.data["differences"]["forward_return"] == int(wrong_return.sum())
    assert check.data["differences"]["label"] == int(wrong_label.sum())
    first = _first_difference(frame, wrong_return)
    row = frame.index[wrong_return.to_numpy()][0]
    assert (f"forward_return differs from close[t+1+{horizon}] / close[t+1] - 1 on {int(wrong_return.sum())} rows "
            f"(first: {first['ticker']} at {first['ts'].strftime('%Y-%m-%d %H:%M')}: table "
            f"{planted[row]:.10g} vs bars {honest[row]:.10g}") in check.details
    # The gap it closes: the code reproduces the table, the labels follow the table's returns, label_end is right.
    for name in ("table_matches_code", "label_alignment", "timestamp_alignment", "causality"):
        assert checks[name].passed, checks[name].details


def test_a_forward_return_shifted_one_bar_is_caught_on_both_paths(features_dir: Path, sample_dir: Path,
                                                                  universe_csv: Path, tmp_path: Path, market,
                                                                  tiny_settings: FeatureSettings,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    build = _with_targets_of(_entry_at_the_decision_bar)
    table = _table_written_by(build, sample_dir, universe_csv, tmp_path / "features", tiny_settings, monkeypatch)
    checks = _both_paths(table, sample_dir, build, tiny_settings)
    check = checks["labels_match_bars"]
    frame, horizon = table.frame, tiny_settings.label_horizon_bars
    planted = _expected_returns(market.bars, frame, 0, horizon)
    assert np.allclose(frame["forward_return"], planted, rtol=0, atol=1e-12)  # close[t+H] / close[t] - 1
    honest = _expected_returns(market.bars, frame, 1, 1 + horizon)
    wrong_return = (frame["forward_return"] - honest).abs() > 1e-9 * (1 + honest).abs()
    assert not check.passed and "forward_return" in check.columns
    assert check.data["differences"]["forward_return"] == int(wrong_return.sum()) > 0.9 * len(frame)
    assert checks["table_matches_code"].passed and checks["label_alignment"].passed


def test_a_label_flipped_on_one_row_is_named(features_dir: Path, sample_dir: Path, universe_csv: Path,
                                             tmp_path: Path, tiny_settings: FeatureSettings,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    honest = load_feature_table(features_dir).frame
    target = honest.iloc[len(honest) // 2]
    build = _flipped_at(target["ticker"], target["ts"])
    table = _table_written_by(build, sample_dir, universe_csv, tmp_path / "features", tiny_settings, monkeypatch)
    checks = _both_paths(table, sample_dir, build, tiny_settings)
    check = checks["labels_match_bars"]
    was = int(target["label"])
    assert not check.passed and check.columns == ["label"]
    assert check.data["differences"] == {"not_on_a_bar": 0, "beyond_the_bars": 0, "forward_return": 0, "label": 1,
                                         "label_end": 0}
    assert (f"label differs from (forward_return from the bars > 0) on 1 rows (first: {target['ticker']} at "
            f"{target['ts'].strftime('%Y-%m-%d %H:%M')}: table {1 - was} vs bars {was})") in check.details
    assert checks["table_matches_code"].passed  # the code wrote it


def test_the_honest_sample_passes_on_both_paths(features_dir: Path, sample_dir: Path,
                                                tiny_settings: FeatureSettings) -> None:
    table = load_feature_table(features_dir)
    checks = _both_paths(table, sample_dir, build_features, tiny_settings)
    check = checks["labels_match_bars"]
    rows = len(table.frame)
    assert check.passed and check.data["rows_compared"] == rows, check.details
    assert check.details.startswith(f"{rows} of {rows} rows: forward_return = close[t+1+30] / close[t+1] - 1")
    assert set(check.data["differences"].values()) == {0}


def test_rows_whose_label_window_runs_past_the_bars_cannot_be_recomputed_and_fail(
        features_dir: Path, market, tiny_settings: FeatureSettings) -> None:
    """The leak step given fewer bars than the table was built from: the last rows' labels are unverifiable."""
    frame = load_feature_table(features_dir).frame
    bars = validate_bars(market.bars, "bars", as_polars=True)
    last_day = market.bars["ts"].dt.tz_convert("America/New_York").dt.date.max()
    cut = bars.filter(pl.col("ts").dt.convert_time_zone("America/New_York").dt.date() < last_day)
    horizon = tiny_settings.label_horizon_bars
    # Rows whose bar t+1+H is on the dropped day (counted from the table's own label_end).
    beyond = (frame["label_end"].dt.tz_convert("America/New_York").dt.date == last_day)
    beyond &= frame["ts"].dt.tz_convert("America/New_York").dt.date < last_day
    on_dropped_day = frame["ts"].dt.tz_convert("America/New_York").dt.date == last_day
    check = labels_match_bars(frame, locate_rows(frame, cut, horizon), tiny_settings)
    assert not check.passed and check.columns == ["label"]
    assert check.data["differences"]["beyond_the_bars"] == int(beyond.sum()) > 0
    assert check.data["differences"]["not_on_a_bar"] == int(on_dropped_day.sum()) > 0
    assert check.data["rows_compared"] == len(frame) - int(beyond.sum()) - int(on_dropped_day.sum())
    assert f"label cannot be recomputed: the bars end before bar t+1+{horizon} on {int(beyond.sum())} rows" \
        in check.details


DAILY = FeatureSettings(frequency="1d", windows=(5, 10), sample_every_bars=1, label_horizon_bars=1,
                        include_sentiment=False)


@pytest.fixture(scope="module")
def daily_bars() -> pd.DataFrame:
    universe = pd.DataFrame({"ticker": ["AAPL", "JPM"], "sector": ["IT", "Financials"]})
    bars = generate_market(universe, days=80, seed=5, frequency="1d").bars
    return validate_bars(bars, "bars")


def test_daily_bars_next_session_labels_pass_and_a_two_session_window_fails(daily_bars) -> None:
    honest = build_features(daily_bars, None, DAILY)
    positions = locate_rows(honest, daily_bars, DAILY.label_horizon_bars)
    check = labels_match_bars(honest, positions, DAILY)
    assert check.passed and check.data["rows_compared"] == len(honest) > 100, check.details
    expected = _expected_returns(_pandas_bars(daily_bars), honest, 1, 2)  # next session's close-to-close
    assert np.allclose(honest["forward_return"], expected, rtol=0, atol=1e-12)
    longer = build_features(daily_bars, None, DAILY.replace(label_horizon_bars=2))
    wrong = labels_match_bars(longer, locate_rows(longer, daily_bars, DAILY.label_horizon_bars), DAILY)
    assert not wrong.passed and wrong.columns == ["forward_return", "label", "label_end"], wrong.details
    assert wrong.data["differences"]["label_end"] == len(longer)  # every window ends one session late


def test_a_dead_zone_row_kept_in_the_table_is_named(daily_bars) -> None:
    """With a dead zone, rows whose |return| is inside it are no training rows: a table built without the
    dead zone keeps them, and the check (with the configured dead zone) names them."""
    zone = 0.004
    configured = DAILY.replace(label_dead_zone=zone)
    built = build_features(daily_bars, None, configured)
    assert labels_match_bars(built, locate_rows(built, daily_bars, 1), configured).passed
    kept = build_features(daily_bars, None, DAILY)  # no dead zone applied
    check = labels_match_bars(kept, locate_rows(kept, daily_bars, 1), configured)
    expected = _expected_returns(_pandas_bars(daily_bars), kept, 1, 2)
    inside = int((expected.abs() <= zone).sum())
    assert not check.passed and check.data["differences"]["dead_zone"] == inside > 0
    assert f"rows kept with |forward_return from the bars| <= the dead zone {zone:g}" in check.details


def test_a_label_at_the_edge_follows_the_tables_return_within_the_tolerance(daily_bars) -> None:
    """A return a hair (1e-12) above the dead-zone edge in the table and a hair below in the bars: either label is
    right; the same label with a return a visible step away is not."""
    frame = build_features(daily_bars, None, DAILY)
    positions = locate_rows(frame, daily_bars, 1)
    row = int(np.argmin(np.abs(positions.forward_return)))
    positions.forward_return[row] = -1e-12
    frame.loc[row, ["forward_return", "label"]] = [1e-12, 1]
    assert labels_match_bars(frame, positions, DAILY).passed
    frame.loc[row, "forward_return"] = 1e-6
    check = labels_match_bars(frame, positions, DAILY)
    assert check.data["differences"]["forward_return"] == 1 and check.data["differences"]["label"] == 1
