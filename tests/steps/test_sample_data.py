"""steps.sample_data: deterministic, labelled, in market hours, with the contract's columns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from steps.common.io import read_table
from steps.common.validation import validate_bars, validate_tweets
from steps.sample_data.generator import generate_market

ROOT = Path(__file__).resolve().parents[2]


def test_deterministic_by_seed(market) -> None:
    again = generate_market(market.universe, days=30, seed=3)
    pd.testing.assert_frame_equal(again.bars, market.bars)
    pd.testing.assert_frame_equal(again.tweets, market.tweets)
    other = generate_market(market.universe, days=30, seed=4)
    assert not other.bars["close"].equals(market.bars["close"])


def test_layout_and_contract(sample_dir: Path) -> None:
    assert "GENERATED" in (sample_dir / "GENERATED.md").read_text()
    assert sorted(p.name for p in (sample_dir / "bars").iterdir())[0].startswith("ticker=")
    bars = validate_bars(read_table(sample_dir / "bars"), sample_dir / "bars")
    tweets = validate_tweets(read_table(sample_dir / "tweets"), sample_dir / "tweets")
    assert bars["ticker"].nunique() == 4 and len(tweets) > 1000
    local = bars["ts"].dt.tz_convert("America/New_York")
    minutes = local.dt.hour * 60 + local.dt.minute
    assert minutes.min() == 9 * 60 + 31 and minutes.max() == 16 * 60
    assert (local.dt.day_of_week < 5).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert len(bars) < 4 * 30 * 390  # a few bars are missing on purpose
    assert (tweets["model"] == "sample-generator").all()
    assert tweets["score"].between(-1, 1).all()


def test_cli_daily_mode(tmp_path: Path, universe_csv: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "steps.sample_data", "--output", str(tmp_path), "--days", "5",
                             "--tickers", "2", "--frequency", "1d", "--universe", str(universe_csv)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    bars = read_table(tmp_path / "bars")
    assert len(bars) == 10 and sorted(bars["ticker"].unique()) == ["AAPL", "MSFT"]
    assert (tmp_path / "metrics.json").exists()


def test_named_sizes(tmp_path: Path, universe_csv: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "steps.sample_data", "--output", str(tmp_path), "--size", "tiny",
                             "--universe", str(universe_csv), "--tweet-rate", "0.05"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    bars, tweets = read_table(tmp_path / "bars"), read_table(tmp_path / "tweets")
    assert bars["ticker"].nunique() == 4
    assert bars["ts"].dt.tz_convert("America/New_York").dt.date.nunique() == 10
    assert 0.02 * len(bars) < len(tweets) < 0.12 * len(bars)  # ~0.05 x (0.4 + 0.6 E|r|/sigma) per bar
    from steps.sample_data.__main__ import SIZES

    assert SIZES["full"]["days"] == 252 and SIZES["full"]["tickers"] == "all"
