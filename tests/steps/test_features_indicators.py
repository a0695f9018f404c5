"""The indicator families, labels, groups and shards of steps.features against deliberately slow loops.

test_features.py covers returns, realised vol, range, volume z / VWAP at 60, RSI 14, the session features
and every sentiment window; this file covers every other window and family (RSI, MACD, Bollinger %b,
volume z, VWAP at 5/10/60 and daily), previous-day range, sector-relative returns, the dead zone, and the
sharded build.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.validation import validate_bars, validate_tweets
from steps.features.bar_features import macd_spans
from steps.features.build import build_features
from steps.features.catalogue import INDICATORS
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.features.table import load_feature_table

SECTORS = {"AAPL": "Information Technology", "MSFT": "Information Technology", "JPM": "Financials", "XOM": "Energy"}
TOLERANCE = {"rel": 1e-9, "abs": 1e-12}


def _ema(values: list[float], span: int) -> list[float]:
    alpha = 2 / (span + 1)
    out = [values[0]]
    for x in values[1:]:
        out.append((1 - alpha) * out[-1] + alpha * x)
    return out


def _families(o: list[float], h: list[float], lo: list[float], c: list[float], v: list[float], w: int,
              suffix: str) -> dict[str, float]:
    """The eight families at the last element of the lists (which hold one ticker's history)."""
    n = len(c)
    out: dict[str, float] = {}
    nan = math.nan
    out[f"vol_{suffix}"] = math.sqrt(sum(math.log(c[i] / c[i - 1]) ** 2 for i in range(n - w, n))) if n > w else nan
    out[f"range_{suffix}"] = math.log(max(h[-w:]) / min(lo[-w:])) if n >= w else nan
    if n >= w:
        window = v[-w:]
        mean = sum(window) / w
        std = math.sqrt(sum((x - mean) ** 2 for x in window) / w)
        out[f"volume_z_{suffix}"] = (v[-1] - mean) / std if std > 1e-12 * mean else 0.0
        typical = [(h[i] + lo[i] + c[i]) / 3 for i in range(n - w, n)]
        vwap = sum(t * x for t, x in zip(typical, window, strict=True)) / sum(window)
        out[f"vwap_dev_{suffix}"] = math.log(c[-1] / vwap)
        closes = c[-w:]
        centre = sum(closes) / w
        sd = math.sqrt(sum((x - centre) ** 2 for x in closes) / w)
        out[f"bb_pctb_{suffix}"] = (c[-1] - (centre - 2 * sd)) / (4 * sd) if sd > 1e-12 * centre else 0.5
    else:
        for family in ("volume_z", "vwap_dev", "bb_pctb"):
            out[f"{family}_{suffix}"] = nan
    if n > w:
        changes = [c[i] - c[i - 1] for i in range(n - w, n)]
        gains, losses = sum(x for x in changes if x > 0), sum(-x for x in changes if x < 0)
        out[f"rsi_{suffix}"] = 100 * gains / (gains + losses) if gains + losses > 0 else 50.0
    else:
        out[f"rsi_{suffix}"] = nan
    fast, slow, signal = macd_spans(w)
    line = [a - b for a, b in zip(_ema(c, fast), _ema(c, slow), strict=True)]
    out[f"macd_{suffix}"] = line[-1] / c[-1]
    out[f"macd_hist_{suffix}"] = (line[-1] - _ema(line, signal)[-1]) / c[-1]
    return out


def _slow_row(bars: pd.DataFrame, ticker: str, ts: pd.Timestamp, daily_window: int) -> dict[str, float]:
    own = bars[(bars["ticker"] == ticker) & (bars["ts"] <= ts)].sort_values("ts")
    columns = [own[k].tolist() for k in ("open", "high", "low", "close", "volume")]
    out: dict[str, float] = {}
    for w in (5, 10, 60):
        out.update(_families(*columns, w, str(w)))
    # Daily bars of the completed sessions before this one.
    day = own["ts"].dt.tz_convert("America/New_York").dt.date
    before = own[day < day.iloc[-1]]
    daily = before.groupby(day[day < day.iloc[-1]], sort=True).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum"))
    if len(daily):
        out.update(_families(*(daily[k].tolist() for k in ("open", "high", "low", "close", "volume")),
                             daily_window, "daily"))
        out["prev_day_range"] = math.log(daily["high"].iloc[-1] / daily["low"].iloc[-1])
    return out


@pytest.fixture(scope="module")
def inputs(market):
    return validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets")


@pytest.fixture(scope="module")
def settings() -> FeatureSettings:
    return FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, daily_window=3)


@pytest.fixture(scope="module")
def built(inputs, settings):
    bars, tweets = inputs
    return build_features(bars, tweets, settings, sectors=SECTORS)


def test_indicator_families_match_slow_loop(inputs, built, settings) -> None:
    bars, _ = inputs
    rng = np.random.default_rng(1)
    local = built["ts"].dt.tz_convert("America/New_York")
    picks = list(rng.choice(len(built), 4, replace=False))
    # Edges: the first rows of the data (windows not yet full), a session's first decision row (the
    # daily window just rolled), and the first row after the daily window fills (session 4).
    picks += [0, 5, int(np.flatnonzero((local.dt.hour == 9) & (local.dt.minute == 45))[8])]
    sessions = local.dt.date
    picks.append(int(np.flatnonzero(sessions == sorted(sessions.unique())[3])[0]))
    for index in picks:
        row = built.iloc[index]
        expected = _slow_row(bars, row["ticker"], row["ts"], settings.daily_window)
        missing = {f"{family}_daily" for family in INDICATORS} - set(expected)
        for name in missing:  # the first session: no completed daily bar yet
            assert math.isnan(row[name]), (name, index)
        for name, value in expected.items():
            if math.isnan(value):
                assert math.isnan(row[name]), (name, index, row["ts"])
            else:
                assert row[name] == pytest.approx(value, **TOLERANCE), (name, index, row["ts"])


def test_daily_window_edge(inputs, built, settings) -> None:
    """The daily indicators need daily_window completed sessions: NaN before, a number from then on."""
    sessions = built["ts"].dt.tz_convert("America/New_York").dt.date
    days = sorted(sessions.unique())
    aapl = built["ticker"] == "AAPL"
    assert built.loc[aapl & (sessions == days[settings.daily_window - 1]), "range_daily"].isna().all()
    assert built.loc[aapl & (sessions == days[settings.daily_window]), "range_daily"].notna().all()
    assert built.loc[aapl & (sessions == days[settings.daily_window]), "rsi_daily"].isna().all()  # w changes
    assert built.loc[aapl & (sessions == days[settings.daily_window + 1]), "rsi_daily"].notna().all()


def test_sector_and_market_relative_returns(built) -> None:
    for _, group in list(built.groupby("ts"))[40:43]:
        for w in (5, 10, 60):
            ret = group[f"ret_{w}"]
            assert group[f"mkt_rel_ret_{w}"].to_numpy() == pytest.approx((ret - ret.mean()).to_numpy(), abs=1e-15)
            sector_mean = group.groupby("sector")[f"ret_{w}"].transform("mean")
            assert group[f"sec_rel_ret_{w}"].to_numpy() == pytest.approx((ret - sector_mean).to_numpy(), abs=1e-15)
    energy = built[built["sector"] == "Energy"]
    assert (energy["sec_rel_ret_10"].dropna() == 0).all()  # a sector of one ticker


def test_groups_are_carried(built) -> None:
    assert list(built.columns[:3]) == ["ticker", "ts", "sector"]
    assert built.groupby("ticker")["sector"].nunique().eq(1).all()
    assert built.set_index("ticker")["sector"].to_dict() == SECTORS


def test_dead_zone_drops_small_moves_and_keeps_label_end(inputs, settings) -> None:
    bars, tweets = inputs
    zone = FeatureSettings(**{**settings.to_json(), "windows": (5, 10, 60), "label_dead_zone": 0.001})
    plain = build_features(bars, tweets, settings)
    zoned = build_features(bars, tweets, zone)
    small = plain["forward_return"].abs() <= 0.001
    assert len(zoned) == int((~small).sum()) and small.any()
    assert (zoned["forward_return"].abs() > 0.001).all()
    assert ((zoned["forward_return"] > 0.001).astype(int) == zoned["label"]).all()
    # label_end is the bar 1 + H bars after the decision bar, within the ticker.
    row = zoned.iloc[10]
    own = bars[(bars["ticker"] == row["ticker"]) & (bars["ts"] > row["ts"])].sort_values("ts")
    assert row["label_end"] == own["ts"].iloc[settings.label_horizon_bars]
    assert row["forward_return"] == pytest.approx(
        own["close"].iloc[settings.label_horizon_bars] / own["close"].iloc[0] - 1, rel=1e-12)


@pytest.mark.parametrize("ticker_batches", [1, 2], ids=["one-pass", "in-turn"])
def test_sharded_build_merges_to_the_single_instance_table(sample_dir: Path, universe_csv: Path, features_dir: Path,
                                                           tmp_path: Path, tiny_settings, ticker_batches) -> None:
    """Two 'instances', each with half of the ticker partitions (what ShardedByS3Key gives them); with
    `ticker_batches`, each instance also builds its tickers in turn (steps/features/in_turn.py)."""
    partitions = sorted((sample_dir / "bars").iterdir())
    out = tmp_path / "features"
    for index, host in enumerate(["algo-1", "algo-2"]):
        shard = tmp_path / host / "bars"
        shard.mkdir(parents=True)
        for partition in partitions[index::2]:
            shutil.copytree(partition, shard / partition.name)
        config = tmp_path / host / "resourceconfig.json"
        config.write_text(json.dumps({"current_host": host, "hosts": ["algo-1", "algo-2"]}))
        run_features(shard, sample_dir / "tweets", out, tiny_settings, universe=universe_csv,
                     logger=logging.getLogger("test"), resource_config=config, ticker_batches=ticker_batches)
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["algo-1", "algo-2"]
    merged, single = load_feature_table(out), load_feature_table(features_dir)
    pd.testing.assert_frame_equal(merged.frame, single.frame, check_exact=False, rtol=1e-12, atol=1e-15)
    assert merged.folds.to_json() == single.folds.to_json()
    assert merged.feature_columns == single.feature_columns
    assert merged.manifest["rows"] == single.manifest["rows"]
    assert merged.manifest["engagement"] == single.manifest["engagement"]  # added up or taken once, as tweet_rows
