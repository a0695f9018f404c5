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


def test_by_ticker_writes_the_contract_deterministically(tmp_path: Path, market) -> None:
    """The one-ticker-at-a-time writer (years of bars): same files for a seed, the bars/tweets contract, unique
    tweet ids across the per-ticker files, and the shared market and sector shocks that make tickers co-move."""
    import numpy as np

    from steps.sample_data.by_ticker import write_market_by_ticker

    universe = market.universe  # conftest's four tickers, two of them in one sector
    counts = write_market_by_ticker(universe, tmp_path / "a", days=10, seed=3)
    write_market_by_ticker(universe, tmp_path / "b", days=10, seed=3)
    for kind in ("bars", "tweets"):
        pd.testing.assert_frame_equal(read_table(tmp_path / "a" / kind), read_table(tmp_path / "b" / kind))
    assert sorted(p.name for p in (tmp_path / "a" / "bars").iterdir()) == sorted(f"ticker={t}" for t in universe.ticker)
    bars = validate_bars(read_table(tmp_path / "a" / "bars"), tmp_path / "a" / "bars")
    tweets = validate_tweets(read_table(tmp_path / "a" / "tweets"), tmp_path / "a" / "tweets")
    assert counts == {"bars": len(bars), "tweets": len(tweets)}
    assert 0.99 * 4 * 10 * 390 < len(bars) < 4 * 10 * 390 and tweets["tweet_id"].is_unique
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert "GENERATED" in (tmp_path / "a" / "GENERATED.md").read_text()
    wide = bars.pivot(index="ts", columns="ticker", values="close").dropna()
    same_day = wide.index.to_series().dt.date.diff().dt.days.fillna(1).eq(0).to_numpy()
    returns = np.log(wide).diff()[same_day]
    corr = returns.corr()
    # Expected ~0.4 within Information Technology (market + sector share), ~0.25 across sectors; 0 if independent.
    assert corr.loc["AAPL", "MSFT"] > 0.3 and 0.1 < corr.loc["JPM", "XOM"] < corr.loc["AAPL", "MSFT"]
    other = write_market_by_ticker(universe, tmp_path / "c", days=10, seed=4)
    assert other != counts


def test_large_sizes_switch_to_the_by_ticker_writer(tmp_path: Path, universe_csv: Path, monkeypatch) -> None:
    import json

    from steps.sample_data import __main__ as cli

    monkeypatch.setattr(cli, "BY_TICKER_BARS", 4 * 5 * 390 - 1)
    assert cli.main(["--output", str(tmp_path / "big"), "--days", "5", "--tickers", "4", "--universe",
                     str(universe_csv)]) == 0
    assert json.loads((tmp_path / "big" / "generator.json").read_text())["by_ticker"] is True
    assert cli.main(["--output", str(tmp_path / "small"), "--days", "5", "--tickers", "3", "--universe",
                     str(universe_csv)]) == 0
    assert "by_ticker" not in json.loads((tmp_path / "small" / "generator.json").read_text())
    assert cli.SIZES["5y"]["days"] == 1260 and cli.SIZES["5y"]["days"] * 390 * 56 > cli.BY_TICKER_BARS


def test_days_below_one_is_refused_in_one_line_before_anything_is_written(tmp_path: Path, universe_csv: Path,
                                                                         capsys) -> None:
    from steps.common.cli import main_guard
    from steps.sample_data.__main__ import main

    for days in ("0", "-3"):
        code = main_guard(main, ["--output", str(tmp_path / "out"), "--days", days, "--by-ticker", "--universe",
                                 str(universe_csv)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "--days" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "out").exists()
