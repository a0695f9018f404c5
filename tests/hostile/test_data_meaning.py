"""Issue 29, class 3: data that is right in form and wrong in meaning is refused on one line naming the file
and the column, with exit 2 and nothing written; no non-finite value reaches a features table."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steps.common import validation
from steps.common.errors import StepInputError
from steps.common.io import read_table
from steps.features.inputs import check_frequency, load_sectors
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.import_prices.run import import_prices
from steps.import_prices.run import load_sectors as import_sectors
from steps.sample_data.generator import generate_market
from steps.sample_data.writer import load_universe

ROOT = Path(__file__).resolve().parents[2]
UNIVERSE = pd.DataFrame({"ticker": ["AAPL", "MSFT", "JPM", "XOM"],
                         "sector": ["Information Technology", "Information Technology", "Financials", "Energy"]})
SETTINGS = FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30,
                           include_sentiment=False)
LOG = logging.getLogger("test")


@pytest.fixture(scope="module")
def market():
    return generate_market(UNIVERSE, days=30, seed=3)


@pytest.fixture
def universe(tmp_path: Path) -> Path:
    path = tmp_path / "universe.csv"
    UNIVERSE.to_csv(path, index=False)
    return path


def _one_line(error: pytest.ExceptionInfo, *words: str) -> str:
    message = str(error.value)
    assert "\n" not in message and "fix:" in message
    for word in words:
        assert word in message, (word, message)
    return message


def _write_bars(bars: pd.DataFrame, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    bars.to_parquet(folder / "part.parquet")
    return folder


def _cli(tmp_path: Path, bars: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "steps.features", "--bars", str(bars), "--output",
                           str(tmp_path / "out"), "--include-sentiment", "false", *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def _refused(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


# ----- absurd bar values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "value"), [
    ("close", 1e308), ("high", 1e12), ("volume", 1e300), ("open", 5e-324 * 0), ("low", -3.0),
])
def test_an_absurd_bar_value_is_refused_naming_file_column_and_row(market, column, value) -> None:
    bars = market.bars.head(2000).copy()
    bars.loc[1234, column] = value
    with pytest.raises(StepInputError) as error:
        validation.validate_bars(bars, "in/bars.parquet")
    _one_line(error, "in/bars.parquet", f"column '{column}'", "row 1234")


def test_one_bar_at_1e308_through_the_cli_is_exit_2_and_writes_nothing(tmp_path: Path, market, universe) -> None:
    bars = market.bars.copy()
    bars.loc[5000, "close"] = 1e308
    result = _cli(tmp_path, _write_bars(bars, tmp_path / "bars"), "--universe", str(universe))
    _refused(result, str(tmp_path / "bars"), "column 'close'", "row 5000")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_the_last_guard_refuses_an_infinite_feature_naming_the_column(tmp_path: Path, market, universe,
                                                                      monkeypatch) -> None:
    """With the bound lifted (a value that slips past validation), the table is still never written."""
    monkeypatch.setattr(validation, "MAX_PRICE", float("inf"))
    monkeypatch.setattr(validation, "MAX_VOLUME", float("inf"))
    bars = market.bars.copy()
    bars.loc[5000, "volume"] = 1e300
    bars.loc[5001, "close"] = 1e308
    with pytest.raises(StepInputError) as error:
        run_features(_write_bars(bars, tmp_path / "bars"), None, tmp_path / "out", SETTINGS, universe=universe,
                     logger=LOG)
    message = _one_line(error, "infinite", "features.parquet")
    assert "column 'v" in message  # vwap_dev_* or volume_z_*
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_check_no_infinities_allows_missing_values_but_not_minus_infinity() -> None:
    validation.check_no_infinities(pd.DataFrame({"ticker": ["A"], "f": [np.nan]}), "t.parquet")
    with pytest.raises(StepInputError) as error:
        validation.check_no_infinities(pd.DataFrame({"ticker": ["A", "B"], "f": [1.0, -np.inf]}), "t.parquet")
    _one_line(error, "t.parquet", "column 'f'", "ticker B")


# ----- hive folder vs ticker column -----------------------------------------------------------------------------
@pytest.mark.parametrize("says", ["AAPL", "mixed"])
def test_a_hive_folder_whose_rows_name_another_ticker_is_refused_naming_the_file(tmp_path: Path, market,
                                                                                 universe, says) -> None:
    bars = market.bars
    root = tmp_path / "bars"
    for ticker, rows in bars.groupby("ticker"):
        folder = root / f"ticker={ticker}"
        folder.mkdir(parents=True)
        rows = rows.copy()
        if ticker == "MSFT":
            rows["ticker"] = "AAPL" if says == "AAPL" else np.where(np.arange(len(rows)) % 2, "AAPL", "MSFT")
            pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), folder / "part.parquet")
        else:
            pq.write_table(pa.Table.from_pandas(rows.drop(columns=["ticker"]), preserve_index=False),
                           folder / "part.parquet")
    bad = str(root / "ticker=MSFT" / "part.parquet")
    with pytest.raises(StepInputError) as error:
        read_table(root, name="bars")
    _one_line(error, bad, "column 'ticker'", "ticker=MSFT", "AAPL")
    _refused(_cli(tmp_path, root, "--universe", str(universe)), bad, "AAPL")
    _refused(_cli(tmp_path, root, "--universe", str(universe), "--ticker-batches", "2"), bad, "AAPL")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# ----- declared frequency ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("every", "shift"), [("5min", None), ("2min", None), (None, "30s")])
def test_bars_at_another_spacing_declared_1min_are_refused(market, every, shift) -> None:
    bars = market.bars.copy()
    if every is not None:
        bars = bars[bars["ts"].dt.minute % int(every[0]) == 0]
    else:  # 30-second bars: each minute's bar twice, half a minute apart
        half = bars.assign(ts=bars["ts"] + pd.Timedelta(shift))
        bars = pd.concat([bars, half]).sort_values(["ticker", "ts"], kind="stable")
    checked = validation.validate_bars(bars.reset_index(drop=True), "in/bars", as_polars=True)
    with pytest.raises(StepInputError) as error:
        check_frequency(checked, "1min", "in/bars")
    _one_line(error, "in/bars", "column 'ts'", "declared 1min")


def test_minute_bars_with_gaps_pass_and_weekly_bars_declared_daily_do_not(market) -> None:
    bars = market.bars.copy()
    gappy = bars.drop(index=bars.index[::7])  # a missing minute here and there: still 1-minute bars
    check_frequency(validation.validate_bars(gappy.reset_index(drop=True), "b", as_polars=True), "1min", "b")
    closes = bars.groupby(["ticker", bars["ts"].dt.date]).tail(1)
    weekly = closes[closes["ts"].dt.day_of_week == 4].reset_index(drop=True)
    with pytest.raises(StepInputError) as error:
        check_frequency(validation.validate_bars(weekly, "w", as_polars=True), "1d", "w")
    _one_line(error, "declared 1d", "7 days")


# ----- tweets far after the last bar ------------------------------------------------------------------------------
@pytest.mark.parametrize("ahead", [pd.DateOffset(years=27), pd.Timedelta(days=30)])
def test_tweets_dated_far_after_the_last_bar_are_refused_with_their_count(tmp_path: Path, market, universe,
                                                                          ahead) -> None:
    tweets = market.tweets.copy()
    tweets.loc[tweets.index[:3], "created_at"] = market.bars["ts"].max() + ahead
    # their counts were read when they were (mis)dated: only the date is wrong here, not the engagement contract
    tweets.loc[tweets.index[:3], "engagement_observed_at"] = tweets.loc[tweets.index[:3], "created_at"]
    tweets_dir = tmp_path / "tweets"
    tweets_dir.mkdir()
    tweets.to_parquet(tweets_dir / "part.parquet")
    settings = SETTINGS.model_copy(update={"include_sentiment": True})
    with pytest.raises(StepInputError) as error:
        run_features(_write_bars(market.bars, tmp_path / "bars"), tweets_dir, tmp_path / "out", settings,
                     universe=universe, logger=LOG)
    _one_line(error, str(tweets_dir), "column 'created_at'", "has 3 tweet(s)")
    assert not (tmp_path / "out").exists()


# ----- day-first dates ------------------------------------------------------------------------------------------
def _dated_file(tmp_path: Path, dates: list[str]) -> Path:
    path = tmp_path / "AAA.csv"
    closes = np.linspace(10, 20, len(dates))
    pd.DataFrame({"Date": dates, "Close": closes}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("dates", [
    ["03/04/2024", "04/04/2024", "05/04/2024"],          # every day <= 12: day-first and month-first alike
    ["03.04.24", "04.04.24", "05.04.24"],                 # dotted, two-digit years
    ["13/04/2024", "04/13/2024"],                         # both orders in one file
])
def test_an_ambiguous_or_mixed_date_file_is_refused(tmp_path: Path, dates) -> None:
    path = _dated_file(tmp_path, dates)
    with pytest.raises(StepInputError) as error:
        import_prices([str(path)], tmp_path / "out")
    _one_line(error, str(path), "column 'Date'", "ISO 8601")
    assert not (tmp_path / "out").exists()


def test_a_day_first_file_that_proves_its_order_is_dated_right(tmp_path: Path) -> None:
    path = _dated_file(tmp_path, ["03/04/2024", "15/04/2024", "16/04/2024"])
    import_prices([str(path)], tmp_path / "out")
    bars = read_table(tmp_path / "out" / "bars")
    days = sorted(pd.DatetimeIndex(bars["ts"]).tz_convert("America/New_York").strftime("%Y-%m-%d"))
    assert days == ["2024-04-03", "2024-04-15", "2024-04-16"]


# ----- the ticker NA ---------------------------------------------------------------------------------------------
def test_the_ticker_na_stays_a_ticker_in_every_reader(tmp_path: Path, market) -> None:
    universe = tmp_path / "u.csv"
    universe.write_text("ticker,sector\nNA,Financials\nNULL,Energy\nAAPL,Information Technology\n")
    assert load_sectors(universe) == {"NA": "Financials", "NULL": "Energy", "AAPL": "Information Technology"}
    assert import_sectors(universe) == {"NA": "Financials", "NULL": "Energy", "AAPL": "Information Technology"}
    assert load_universe(universe)["ticker"].tolist() == ["NA", "NULL", "AAPL"]
    bars = market.bars[market.bars["ticker"] == "AAPL"].head(50).assign(ticker="NA")
    bars.to_csv(tmp_path / "bars.csv", index=False)
    frame = read_table(tmp_path / "bars.csv", name="bars")
    assert set(frame["ticker"]) == {"NA"} and frame["close"].dtype == "float64"
    long = tmp_path / "long.csv"
    long.write_text("Date,Symbol,Close\n2024-01-02,NA,10\n2024-01-03,NA,11\n")
    import_prices([str(long)], tmp_path / "out")
    assert set(read_table(tmp_path / "out" / "bars")["ticker"]) == {"NA"}


def test_a_missing_value_spelled_na_in_a_price_column_is_still_missing(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("ticker,ts,close\nNA,2024-01-02T15:00:00Z,NA\n")
    frame = read_table(path, name="bars")
    assert frame["ticker"].tolist() == ["NA"] and frame["close"].isna().all()


# ----- universe sectors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "column", "words"), [
    ("ticker,sector\nAAPL,Tech\nMSFT,Tech\nAAPL,Energy\n", "sector", "AAPL two sectors"),
    ("ticker,sector\nAAPL,Tech\nMSFT,\n", "sector", "without a sector"),
    ("ticker,sector\nAAPL,Tech\n,Energy\n", "ticker", "without a ticker"),
    ("ticker,sector\nAAPL,Tech\nMSFT\n", "sector", "without a sector"),  # a short row
    ("ticker,sector\nAAPL,Tech\nMSFT,  \n", "sector", "without a sector"),  # blank
])
def test_a_universe_with_two_sectors_for_a_ticker_or_a_missing_field_is_refused(tmp_path: Path, text, column,
                                                                                words) -> None:
    path = tmp_path / "universe.csv"
    path.write_text(text)
    for reader in (load_sectors, import_sectors):
        with pytest.raises(StepInputError) as error:
            reader(path)
        _one_line(error, str(path), f"column '{column}'", words)


def test_the_features_cli_refuses_a_two_sector_universe_before_writing(tmp_path: Path, market) -> None:
    universe = tmp_path / "universe.csv"
    universe.write_text(UNIVERSE.to_csv(index=False) + "XOM,Utilities\n")
    result = _cli(tmp_path, _write_bars(market.bars.head(100), tmp_path / "bars"), "--universe", str(universe))
    _refused(result, str(universe), "XOM two sectors")
    assert not (tmp_path / "out").exists()


def test_polars_bars_keep_their_string_tickers(market) -> None:
    bars = pl.from_pandas(market.bars.head(10).assign(ticker="NA"))
    assert validation.validate_bars(bars, "b", as_polars=True)["ticker"].to_list() == ["NA"] * 10
