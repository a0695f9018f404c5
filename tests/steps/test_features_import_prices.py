"""steps.import_prices: daily OHLCV CSVs (per ticker, long format, arch's bundled prices) -> bars contract.

The files in tests/data/prices were generated once with numpy (seed 0): 40 business days from 2024-03-01
for AAA and BBB, close = p0 * exp(cumsum(N(0, 1%))), Adj Close = 0.98 x Close.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from steps.common.io import read_table
from steps.common.validation import validate_bars
from steps.import_prices.run import import_prices

ROOT = Path(__file__).resolve().parents[2]
PRICES = ROOT / "tests" / "data" / "prices"


def test_per_ticker_files_become_the_bars_contract(tmp_path: Path) -> None:
    summary = import_prices([str(PRICES / "per_ticker")], tmp_path, sector="Test", adjust=False)
    bars = validate_bars(read_table(tmp_path / "bars"), tmp_path / "bars")
    assert summary["tickers"] == ["AAA", "BBB"] and len(bars) == 80 and summary["dropped_rows"] == 0
    local = bars["ts"].dt.tz_convert("America/New_York")
    assert (local.dt.hour == 16).all() and (local.dt.minute == 0).all()  # stamped at the session's close
    raw = pd.read_csv(PRICES / "per_ticker" / "AAA.csv")
    aaa = bars[bars["ticker"] == "AAA"].reset_index(drop=True)
    assert aaa["close"].tolist() == pytest.approx(raw["Close"].tolist())
    assert pd.read_csv(tmp_path / "bars" / "_universe.csv").to_dict("list") == {"ticker": ["AAA", "BBB"],
                                                                               "sector": ["Test", "Test"]}
    assert (tmp_path / "tweets").is_dir() and (tmp_path / "SOURCE.md").exists()


def test_adjusted_prices_scale_every_price(tmp_path: Path) -> None:
    import_prices([str(PRICES / "per_ticker" / "BBB.csv")], tmp_path, adjust=True)
    bars = read_table(tmp_path / "bars")
    raw = pd.read_csv(PRICES / "per_ticker" / "BBB.csv")
    assert bars["close"].tolist() == pytest.approx(raw["Adj Close"].tolist())
    assert bars["open"].tolist() == pytest.approx((raw["Open"] * raw["Adj Close"] / raw["Close"]).tolist())


def test_long_format_drops_broken_rows_and_upper_cases_tickers(tmp_path: Path) -> None:
    summary = import_prices([str(PRICES / "long.csv")], tmp_path)
    assert summary["tickers"] == ["AAA", "BBB"] and summary["dropped_rows"] == 2 and summary["bars"] == 78


def test_cli_bad_file_is_one_line_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("Day,Price\n2024-01-02,3\n")
    result = subprocess.run([sys.executable, "-m", "steps.import_prices", "--input", str(broken), "--output",
                             str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "column 'open'" in result.stderr and str(broken) in result.stderr
    assert not (tmp_path / "out" / "bars").exists()


def test_arch_daily_index_prices_run_through_the_daily_features(tmp_path: Path) -> None:
    pytest.importorskip("arch")
    import_prices(["arch:sp500"], tmp_path / "real", sector="Index", start="2015-01-01")
    result = subprocess.run([sys.executable, "-m", "steps.features", "--bars", str(tmp_path / "real" / "bars"),
                             "--output", str(tmp_path / "features"), "--frequency", "1d", "--windows", "5,10,20",
                             "--sample-every-bars", "1", "--label-horizon-bars", "1", "--include-sentiment", "false",
                             "--n-folds", "2", "--train-days", "252", "--validation-days", "126", "--holdout-days",
                             "126", "--embargo-bars", "2"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(tmp_path / "features" / "features.parquet")
    assert set(table["ticker"]) == {"SP500"} and set(table["sector"]) == {"Index"}
    assert len(table) > 900 and 0.45 < table["label"].mean() < 0.6
    wrong = subprocess.run([sys.executable, "-m", "steps.features", "--bars", str(tmp_path / "real" / "bars"),
                            "--output", str(tmp_path / "f2"), "--include-sentiment", "false"],
                           capture_output=True, text=True, cwd=ROOT)
    assert wrong.returncode == 2 and "frequency" in wrong.stderr and "Traceback" not in wrong.stderr
