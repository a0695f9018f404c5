"""steps.features checked against an independent, deliberately slow per-row computation."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.settings import FeatureSettings

LAG = pd.Timedelta(seconds=60)


def _slow_row(bars: pd.DataFrame, tweets: pd.DataFrame, ticker: str, ts: pd.Timestamp) -> dict[str, float]:
    """Every feature of one row from first principles: plain Python over the bars and tweets before ts."""
    own = bars[(bars["ticker"] == ticker) & (bars["ts"] <= ts)].sort_values("ts")
    c, h, lo, v, o = (own[k].tolist() for k in ("close", "high", "low", "volume", "open"))
    days = own["ts"].dt.tz_convert("America/New_York").dt.date.tolist()
    n = len(c)
    out: dict[str, float] = {}
    for w in (5, 10, 60):
        out[f"ret_{w}"] = math.log(c[-1] / c[-1 - w]) if n > w else math.nan
        out[f"vol_{w}"] = math.sqrt(sum(math.log(c[i] / c[i - 1]) ** 2 for i in range(n - w, n))) if n > w else math.nan
        out[f"range_{w}"] = math.log(max(h[-w:]) / min(lo[-w:])) if n >= w else math.nan
    if n >= 60:
        window = v[-60:]
        mean = sum(window) / 60
        std = math.sqrt(sum((x - mean) ** 2 for x in window) / 60)
        out["volume_z_60"] = (v[-1] - mean) / std if std > 0 else 0.0
        typical = [(h[i] + lo[i] + c[i]) / 3 for i in range(n - 60, n)]
        out["vwap_dev_60"] = math.log(c[-1] / (sum(t * x for t, x in zip(typical, window, strict=True)) / sum(window)))
    if n > 14:
        changes = [c[i] - c[i - 1] for i in range(n - 14, n)]
        gains, losses = sum(x for x in changes if x > 0), sum(-x for x in changes if x < 0)
        out["rsi_14"] = 100 * gains / (gains + losses) if gains + losses > 0 else 50.0
    today = days[-1]
    earlier = [i for i in range(n) if days[i] < today]
    if earlier:
        prev_close = c[earlier[-1]]
        first_today = min(i for i in range(n) if days[i] == today)
        out["ret_daily"] = math.log(c[-1] / prev_close)
        out["gap_overnight"] = math.log(o[first_today] / prev_close)
        prev_day = days[earlier[-1]]
        before = [i for i in range(n) if days[i] < prev_day]
        if before:
            out["prev_day_return"] = math.log(prev_close / c[before[-1]])
    mine = tweets[tweets["ticker"] == ticker]
    for name, minutes, kind in [("sent_5m", 5, "w"), ("sent_10m", 10, "w"), ("sent_60m", 60, "w"),
                                ("sent_daily", 1440, "w"), ("sent_mean_5m", 5, "mean"), ("sent_sum_10m", 10, "sum"),
                                ("sent_pos_ratio_60m", 60, "pos"), ("tweet_count_60m", 60, "count"),
                                ("tweet_count_5m", 5, "count"), ("tweet_count_10m", 10, "count"),
                                ("tweet_count_daily", 1440, "count")]:
        rows = [r for r in mine.itertuples()
                if ts - pd.Timedelta(minutes=minutes) < r.created_at + LAG <= ts]
        if not rows:
            out[name] = 0.0
            continue
        scores = [r.score for r in rows]
        weights = [1 + math.log1p(r.like_count + r.retweet_count + r.reply_count) for r in rows]
        if kind == "w":
            out[name] = sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights)
        elif kind == "mean":
            out[name] = sum(scores) / len(scores)
        elif kind == "sum":
            out[name] = sum(scores)
        elif kind == "pos":
            out[name] = sum(1 for r in rows if r.p_pos >= r.p_neg and r.p_pos >= r.p_neu) / len(rows)
        else:
            out[name] = float(len(rows))
    after = bars[(bars["ticker"] == ticker) & (bars["ts"] > ts)].sort_values("ts")
    out["forward_return"] = after["close"].iloc[30] / after["close"].iloc[0] - 1
    out["label_end"] = after["ts"].iloc[30]
    return out


@pytest.fixture(scope="module")
def inputs(market):
    return validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets")


@pytest.fixture(scope="module")
def built(inputs, tiny_settings):
    bars, tweets = inputs
    return build_features(bars, tweets, tiny_settings, sectors={"AAPL": "IT"})


def test_features_match_slow_loop_on_sampled_rows(inputs, built) -> None:
    bars, tweets = inputs
    rng = np.random.default_rng(0)
    picks = list(rng.choice(len(built), 6, replace=False))
    session = built["ts"].dt.tz_convert("America/New_York")
    # Window edges: a day's first decision row (windows cross the overnight gap), the first rows of the data.
    picks += [int(np.flatnonzero((session.dt.hour == 9) & (session.dt.minute == 45))[10]), 0, 3]
    for index in picks:
        row = built.iloc[index]
        expected = _slow_row(bars, tweets, row["ticker"], row["ts"])
        for name, value in expected.items():
            actual = row[name]
            if name == "label_end":
                assert actual == value
            elif isinstance(value, float) and math.isnan(value):
                assert math.isnan(actual), (name, index)
            else:
                assert actual == pytest.approx(value, rel=1e-9, abs=1e-9), (name, index, row["ts"])


def test_market_relative_return_uses_only_the_same_instant(built) -> None:
    for ts, group in list(built.groupby("ts"))[5:8]:
        assert group["mkt_rel_ret_10"].to_numpy() == pytest.approx(
            (group["ret_10"] - group["ret_10"].mean()).to_numpy(), abs=1e-15)
        assert ts is not None


def test_table_shape_order_and_labels(built, tiny_settings) -> None:
    assert list(built.columns[:3]) == ["ticker", "ts", "sector"]
    assert built.columns[-3:].tolist() == ["label", "forward_return", "label_end"]
    assert set(feature_columns(tiny_settings)) <= set(built.columns)
    assert built[["ts", "ticker"]].equals(built[["ts", "ticker"]].sort_values(["ts", "ticker"]).reset_index(drop=True))
    assert (built["label_end"] > built["ts"]).all()
    assert ((built["forward_return"] > 0).astype(int) == built["label"]).all()
    local = built["ts"].dt.tz_convert("America/New_York")
    assert ((local.dt.hour * 60 + local.dt.minute) % 15 == 0).all()
    assert built.loc[built["ticker"] == "MSFT", "sector"].eq("Unknown").all()


def _two_day_bars() -> pd.DataFrame:
    sessions = pd.bdate_range("2025-03-03", periods=2)
    local = [pd.Timestamp(d) + pd.Timedelta(hours=9, minutes=30 + m) for d in sessions for m in range(1, 391)]
    ts = pd.DatetimeIndex(local).tz_localize("America/New_York").tz_convert("UTC")
    close = 100 * np.exp(np.cumsum(np.full(len(ts), 1e-4)))
    return pd.DataFrame({"ticker": "AAA", "ts": ts, "open": close, "high": close * 1.001, "low": close * 0.999,
                         "close": close, "volume": 1000.0})


def test_ingest_lag_and_window_edges_exactly() -> None:
    bars = _two_day_bars()
    t = bars["ts"].iloc[100]  # every bar is a decision row below (sample_every_bars=1)
    settings = FeatureSettings(sample_every_bars=1, n_folds=1)
    second = pd.Timedelta(seconds=1)
    created = [t - LAG,                                   # available exactly at t: counts
               t - LAG + second,                          # available 1 s after t: does not
               t - LAG - pd.Timedelta(minutes=5),         # on the open edge of the 5-minute window: out
               t - LAG - pd.Timedelta(minutes=5) + second]  # just inside
    tweets = pd.DataFrame({"tweet_id": [f"t{i}" for i in range(4)], "created_at": created, "ticker": "AAA",
                           "like_count": 0, "retweet_count": 0, "reply_count": 0,
                           "p_pos": [0.9, 0.9, 0.1, 0.1], "p_neg": [0.05, 0.05, 0.8, 0.8], "p_neu": 0.05,
                           "score": [0.8, 0.6, -0.7, -0.5], "model": "m"})
    frame = build_features(validate_bars(bars, "b"), validate_tweets(tweets, "t"), settings)
    row = frame[frame["ts"] == t].iloc[0]
    assert row["tweet_count_60m"] == 3
    assert row["sent_mean_5m"] == pytest.approx((0.8 - 0.5) / 2)
    assert row["sent_sum_10m"] == pytest.approx(0.8 - 0.7 - 0.5)
    assert row["sent_pos_ratio_60m"] == pytest.approx(1 / 3)
    later = frame[frame["ts"] == t + pd.Timedelta(minutes=1)].iloc[0]
    assert later["tweet_count_60m"] == 4
    quiet = frame[frame["ts"] == bars["ts"].iloc[10]].iloc[0]
    assert quiet["sent_60m"] == 0 and quiet["tweet_count_60m"] == 0


def test_cli_writes_outputs_and_manifest(features_dir: Path, tiny_settings) -> None:
    names = {p.name for p in features_dir.iterdir()}
    assert {"features.parquet", "folds.json", "manifest.json", "metrics.json"} <= names
    assert not [n for n in names if n.startswith(".tmp")]
    manifest = json.loads((features_dir / "manifest.json").read_text())
    assert manifest["settings"]["windows"] == [5, 10, 60]
    assert manifest["feature_columns"] == feature_columns(tiny_settings)
    folds = json.loads((features_dir / "folds.json").read_text())
    assert len(folds["folds"]) == 3 and folds["purge"] == "label_end"


def test_cli_bad_input_exits_2_naming_file_and_column(tmp_path: Path, market) -> None:
    bars = market.bars.copy()
    bars["close"] = bars["close"].astype(str)
    (tmp_path / "bars").mkdir()
    bars.to_parquet(tmp_path / "bars" / "part.parquet")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "steps.features", "--bars", str(tmp_path / "bars"),
                             "--output", str(out), "--include-sentiment", "false"],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "bars") in last and "'close'" in last and "fix:" in last
    assert not out.exists() or not list(out.iterdir())
