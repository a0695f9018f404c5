"""Input contracts: each violation is a one-line StepInputError naming file, column and fix."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from steps.common.errors import StepInputError
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import to_daily

ROOT = Path(__file__).resolve().parents[2]


def _bars(market) -> pd.DataFrame:
    return market.bars.head(500).copy()


def _naive(frame):
    frame["ts"] = frame["ts"].dt.tz_localize(None)
    return frame


def _duplicate(frame):
    return pd.concat([frame.head(3), frame], ignore_index=True).sort_values(["ticker", "ts"], kind="stable")


def _unsorted(frame):
    return frame.iloc[::-1].reset_index(drop=True)


def _negative(frame):
    frame.loc[7, "low"] = -1.0
    return frame


@pytest.mark.parametrize(("breaker", "column", "words"), [
    (lambda f: f.drop(columns=["close"]), "close", "missing column"),
    (lambda f: f.rename(columns={"volume": "Volume"}), "volume", "'Volume' is there"),
    (lambda f: f.assign(volume=np.where(np.arange(len(f)) == 5, np.nan, f["volume"])), "volume", "drop the column"),
    (_naive, "ts", "naive"),
    (_duplicate, "ts", "duplicate"),
    (_unsorted, "ts", "not sorted"),
    (_negative, "low", "low > 0"),
    (lambda f: f.assign(close=f["close"].astype(str)), "close", "expected numbers"),
    (lambda f: f.head(0), None, "empty"),
])
def test_bad_bars(market, breaker, column, words) -> None:
    with pytest.raises(StepInputError) as error:
        validate_bars(breaker(_bars(market)), "in/bars")
    message = str(error.value)
    assert "\n" not in message and message.startswith("in/bars") and words in message and "fix:" in message
    if column:
        assert f"column '{column}'" in message


def test_bars_without_open_high_low_or_volume_are_valid_and_keep_only_their_columns(market) -> None:
    close_only = _bars(market).drop(columns=["open", "high", "low", "volume"])
    checked = validate_bars(close_only, "in/bars")
    assert list(checked.columns) == ["ticker", "ts", "close"] and len(checked) == len(close_only)
    no_volume = validate_bars(pl.from_pandas(_bars(market).drop(columns=["volume"])), "in/bars", as_polars=True)
    assert no_volume.columns == ["ticker", "ts", "open", "high", "low", "close"]


def test_bad_tweets(market) -> None:
    tweets = market.tweets.head(50).copy()
    with pytest.raises(StepInputError, match="column 'score'"):
        validate_tweets(tweets.assign(score=2.0), "in/tweets")
    with pytest.raises(StepInputError, match="neither 'score'"):
        validate_tweets(tweets.drop(columns=["score", "p_pos"]), "in/tweets")
    with pytest.raises(StepInputError, match=r"column 'tweet_id'.*duplicate \(tweet_id, ticker\)"):
        validate_tweets(pd.concat([tweets, tweets.head(1)]), "in/tweets")
    scored_only = validate_tweets(tweets.drop(columns=["p_pos", "p_neg", "p_neu"]), "in/tweets")
    assert scored_only["p_pos"].isna().all() and len(scored_only) == 50
    assert validate_tweets(pd.DataFrame(), "none").empty


def test_a_tweet_naming_two_tickers_is_one_row_per_ticker_and_counts_for_both(market) -> None:
    tweets = market.tweets.head(50).copy()
    first = tweets.iloc[0]
    other = next(t for t in market.tweets["ticker"].unique() if t != first["ticker"])
    both = pd.concat([tweets, tweets.head(1).assign(ticker=other)], ignore_index=True)
    checked = validate_tweets(both, "in/tweets")
    assert len(checked) == 51
    assert set(checked.loc[checked["tweet_id"] == first["tweet_id"], "ticker"]) == {first["ticker"], other}


def test_daily_bars_use_day_windows(market) -> None:
    daily = validate_bars(to_daily(market.bars), "daily")
    settings = FeatureSettings(frequency="1d", windows=(2, 5), sample_every_bars=1, label_horizon_bars=2)
    frame = build_features(daily, validate_tweets(market.tweets, "t"), settings)
    assert {"sent_2d", "sent_5d", "sent_daily", "tweet_count_5d", "ret_2", "rsi_14"} <= set(frame.columns)
    assert (frame["label_end"] > frame["ts"]).all()
    assert frame.groupby("ticker").size().max() == 30 - 3


def _mixed_zones(frame):
    frame = frame.astype({"ts": object})
    frame.loc[3, "ts"] = frame.loc[3, "ts"].tz_convert("America/New_York")
    return frame


def _one_line(error: pytest.ExceptionInfo, source: str, column: str | None, *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message and message.startswith(source) and "fix:" in message
    assert all(word in message for word in words), message
    if column:
        assert f"column '{column}'" in message


def test_bars_mixed_time_zones(market) -> None:
    with pytest.raises(StepInputError) as error:
        validate_bars(_mixed_zones(_bars(market)), "in/bars")
    _one_line(error, "in/bars", "ts", "mixes time zones")


def test_bars_unknown_tickers(market) -> None:
    with pytest.raises(StepInputError) as error:
        validate_bars(_bars(market), "in/bars", known_tickers={"MSFT"})
    _one_line(error, "in/bars", "ticker", "not in the universe", "AAPL")


def test_bars_without_ticker_and_infinite_prices(market) -> None:
    bars = _bars(market)
    bars.loc[4, "ticker"] = ""
    with pytest.raises(StepInputError) as error:
        validate_bars(bars, "in/bars")
    _one_line(error, "in/bars", "ticker", "without a ticker")
    with pytest.raises(StepInputError) as error:
        validate_bars(_bars(market).assign(volume=-1.0), "in/bars")
    _one_line(error, "in/bars", "volume", "volume >= 0")


def test_csv_timestamps_naive_mixed_and_good(tmp_path, market) -> None:
    bars = _bars(market)
    text = bars.assign(ts=bars["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    good = validate_bars(pd.read_csv(io.StringIO(text.to_csv(index=False))), "in/a.csv")
    pd.testing.assert_series_equal(good["ts"], validate_bars(bars, "x")["ts"])
    naive = text.assign(ts=bars["ts"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    with pytest.raises(StepInputError) as error:
        validate_bars(pd.read_csv(io.StringIO(naive.to_csv(index=False))), "in/a.csv")
    _one_line(error, "in/a.csv", "ts", "naive")
    mixed = text.copy()
    mixed.loc[2, "ts"] = "2025-01-02 09:33:00"
    with pytest.raises(StepInputError) as error:
        validate_bars(pd.read_csv(io.StringIO(mixed.to_csv(index=False))), "in/a.csv")
    _one_line(error, "in/a.csv", "ts", "mixes time zones")


def test_tweets_without_ticker_unknown_ticker_and_mixed_zones(market) -> None:
    tweets = market.tweets.head(50).copy()
    with pytest.raises(StepInputError) as error:
        validate_tweets(tweets.assign(ticker=[None] + ["AAPL"] * 49), "in/tweets")
    _one_line(error, "in/tweets", "ticker", "without a ticker")
    with pytest.raises(StepInputError) as error:
        validate_tweets(tweets.assign(ticker=["ZZZZ"] + ["AAPL"] * 49), "in/tweets", known_tickers={"AAPL"})
    _one_line(error, "in/tweets", "ticker", "ZZZZ")
    zoned = tweets.astype({"created_at": object})
    zoned.loc[zoned.index[1], "created_at"] = zoned["created_at"].iloc[1].tz_convert("Europe/London")
    with pytest.raises(StepInputError) as error:
        validate_tweets(zoned, "in/tweets")
    _one_line(error, "in/tweets", "created_at", "mixes time zones")
    with pytest.raises(StepInputError) as error:
        validate_tweets(tweets.assign(created_at=tweets["created_at"].dt.tz_localize(None)), "in/tweets")
    _one_line(error, "in/tweets", "created_at", "naive")


def _cli(tmp_path: Path, bars_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "steps.features", "--bars", str(bars_dir), "--output",
                           str(tmp_path / "out"), "--include-sentiment", "false", *extra],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize(("case", "column", "words"), [
    ("empty_folder", None, "no parquet or CSV"),
    ("empty_file", None, "empty"),
    ("unknown_ticker", "ticker", "not in the universe"),
    ("negative_price", "close", "close > 0"),
    ("naive", "ts", "naive"),
])
def test_cli_bad_input_exit_2_one_line_no_output(tmp_path: Path, market, universe_csv, case, column, words) -> None:
    bars_dir = tmp_path / "bars"
    bars_dir.mkdir()
    bars = market.bars.head(2000).copy()
    if case == "empty_file":
        bars.head(0).to_parquet(bars_dir / "part.parquet")
    elif case == "unknown_ticker":
        bars.assign(ticker="ZZZZ").to_parquet(bars_dir / "part.parquet")
    elif case == "negative_price":
        bars.loc[5, "close"] = -3.0
        bars.to_parquet(bars_dir / "part.parquet")
    elif case == "naive":
        _naive(bars).to_parquet(bars_dir / "part.parquet")
    result = _cli(tmp_path, bars_dir, "--universe", str(universe_csv))
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert str(bars_dir) in last and words in last and "fix:" in last
    if column:
        assert f"column '{column}'" in last
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_cli_empty_universe_is_an_error(tmp_path: Path, sample_dir: Path) -> None:
    universe = tmp_path / "universe.csv"
    universe.write_text("ticker,sector\n")
    result = _cli(tmp_path, sample_dir / "bars", "--universe", str(universe))
    assert result.returncode == 2 and "universe is empty" in result.stderr and "Traceback" not in result.stderr


def test_csv_and_hive_parquet_inputs_give_the_same_table(tmp_path: Path, market, universe_csv) -> None:
    bars = market.bars[market.bars["ticker"].isin(["AAPL", "JPM"])]
    (tmp_path / "csv").mkdir()
    for ticker, group in bars.groupby("ticker"):  # one CSV per ticker, ISO-8601 UTC timestamps
        group.assign(ts=group["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")).to_csv(
            tmp_path / "csv" / f"{ticker}.csv", index=False)
    bars.to_parquet(tmp_path / "hive", partition_cols=["ticker"])
    by_date = bars.assign(date=bars["ts"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d"))
    by_date.to_parquet(tmp_path / "hive_date", partition_cols=["date", "ticker"])  # date=/ticker=/ folders
    settings = ["--n-folds", "2", "--train-days", "10", "--validation-days", "4", "--holdout-days", "5",
                "--universe", str(universe_csv), "--include-sentiment", "false"]
    tables = []
    for name in ("csv", "hive", "hive_date"):
        result = subprocess.run([sys.executable, "-m", "steps.features", "--bars", str(tmp_path / name),
                                 "--output", str(tmp_path / f"out-{name}"), *settings],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        tables.append(pd.read_parquet(tmp_path / f"out-{name}" / "features.parquet"))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2])


def test_bars_with_a_timestamp_beyond_2262_are_one_line_not_a_polars_error(market) -> None:
    import polars as pl

    bars = _bars(market)
    bars["ts"] = bars["ts"].astype("datetime64[us, UTC]")  # what parquet writers store; it holds year 2324
    bars.loc[bars.index[5], "ts"] = pd.Timestamp("2324-01-01", tz="UTC").as_unit("us")
    with pytest.raises(StepInputError, match=r"column 'ts': has 1 timestamp\(s\) outside 1677-09-22\.\.2262-04-11"):
        validate_bars(pl.from_pandas(bars), "bars/x.parquet")
