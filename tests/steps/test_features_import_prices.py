"""steps.import_prices: daily price CSVs (per ticker, long, close-only, wide, arch's bundled prices) -> bars.

The files in tests/data/prices were generated once with numpy (seed 0): 40 business days from 2024-03-01
for AAA and BBB, close = p0 * exp(cumsum(N(0, 1%))), Adj Close = 0.98 x Close.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.errors import StepInputError
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
    assert (tmp_path / "SOURCE.md").exists() and read_table(tmp_path / "tweets", allow_empty=True).empty
    assert [p.name for p in (tmp_path / "tweets").iterdir()] == ["_NO_TWEETS.md"]  # an S3 input needs an object


def test_adjusted_prices_scale_every_price(tmp_path: Path) -> None:
    import_prices([str(PRICES / "per_ticker" / "BBB.csv")], tmp_path, adjust=True)
    bars = read_table(tmp_path / "bars")
    raw = pd.read_csv(PRICES / "per_ticker" / "BBB.csv")
    assert bars["close"].tolist() == pytest.approx(raw["Adj Close"].tolist())
    assert bars["open"].tolist() == pytest.approx((raw["Open"] * raw["Adj Close"] / raw["Close"]).tolist())


def test_long_format_drops_broken_rows_and_upper_cases_tickers(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        summary = import_prices([str(PRICES / "long.csv")], tmp_path)
    assert summary["tickers"] == ["AAA", "BBB"] and summary["dropped_rows"] == 2 and summary["bars"] == 78
    assert any("dropped 2 row(s)" in r.getMessage() for r in caplog.records), "a dropped row must be said"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "steps.import_prices", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize(("text", "column"), [
    ("Day,Price\n2024-01-02,abc\n", "Day"),         # no row with a readable price
    ("Price,Close\n3,4\n", "date"),                  # no date column
    ("Date,AAA,Note\n2024-01-02,3,x\n", "Note"),     # a wide file with a column that is not prices
    ("Date,MSFT PMDARIMA\n2024-01-02,3\n", "MSFT PMDARIMA"),  # not a symbol
])
def test_cli_bad_file_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, text: str, column: str) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text(text)
    result = _cli("--input", str(broken), "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and f"column '{column}'" in error[0] and str(broken) in error[0] and "fix:" in error[0]
    assert not (tmp_path / "out").exists()


def _closes(tmp_path: Path, sessions: int = 60, seed: int = 0) -> pd.DataFrame:
    """Business-day closes of a random walk (seed): the reference the imported bars are compared with."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"Date": pd.bdate_range("2024-01-02", periods=sessions).strftime("%Y-%m-%d"),
                         "Close": np.round(40 * np.exp(np.cumsum(rng.normal(0, 0.01, sessions))), 4)})


def test_ticker_comes_from_the_option_or_a_column_and_a_file_name_is_said(tmp_path: Path, caplog) -> None:
    closes = _closes(tmp_path)
    path = tmp_path / "msft_pmdarima.csv"
    closes.to_csv(path, index=False)
    named = import_prices([str(path)], tmp_path / "a", tickers=["msft"])
    assert named["tickers"] == ["MSFT"] and named["files"][0]["ticker_from"] == "--ticker"
    with caplog.at_level(logging.WARNING):
        guessed = import_prices([str(path)], tmp_path / "b")
    assert guessed["tickers"] == ["MSFT_PMDARIMA"] and guessed["files"][0]["ticker_from"] == "file name"
    assert any("MSFT_PMDARIMA" in r.getMessage() and "--ticker" in r.getMessage() for r in caplog.records)
    with pytest.raises(StepInputError, match="2 --ticker for 1 --input"):
        import_prices([str(path)], tmp_path / "c", tickers=["A", "B"])
    with pytest.raises(StepInputError, match="drop --ticker"):
        import_prices([str(PRICES / "long.csv")], tmp_path / "d", tickers=["A"])
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_close_only_file_keeps_only_close_and_says_what_is_absent(tmp_path: Path) -> None:
    closes = _closes(tmp_path)
    closes.to_csv(tmp_path / "x.csv", index=False)
    summary = import_prices([str(tmp_path / "x.csv")], tmp_path / "out", tickers=["XYZ"])
    bars = read_table(tmp_path / "out" / "bars")
    assert sorted(bars.columns) == ["close", "ticker", "ts"]  # no open/high/low/volume invented
    assert bars["close"].tolist() == pytest.approx(closes["Close"].tolist())
    assert summary["absent_inputs"] == ["open", "high", "low", "volume"]
    assert summary["files"][0]["shape"] == "close-only"
    assert "No open, high, low, volume column(s)" in (tmp_path / "out" / "SOURCE.md").read_text()


def test_wide_file_becomes_one_close_series_per_ticker(tmp_path: Path) -> None:
    a, b = _closes(tmp_path, seed=1), _closes(tmp_path, seed=2)
    wide = pd.DataFrame({"Date": a["Date"], "AAA": a["Close"], "^IDX": b["Close"], "GONE": np.nan})
    wide.loc[:9, "^IDX"] = np.nan  # listed from the 11th session on: no bars before, not broken rows
    path = tmp_path / "wide.csv"
    path.write_text("# Data source: a test\n" + wide.to_csv(index=False))
    summary = import_prices([str(path)], tmp_path / "out")
    bars = read_table(tmp_path / "out" / "bars")
    assert summary["tickers"] == ["AAA", "^IDX"] and summary["dropped_rows"] == 0
    assert summary["files"][0]["shape"] == "wide" and summary["absent_inputs"] == ["open", "high", "low", "volume"]
    assert bars[bars["ticker"] == "AAA"]["close"].tolist() == pytest.approx(a["Close"].tolist())
    idx = bars[bars["ticker"] == "^IDX"]
    assert len(idx) == 50 and idx["close"].tolist() == pytest.approx(b["Close"][10:].tolist())
    with pytest.raises(StepInputError, match="wide file"):
        import_prices([str(path)], tmp_path / "again", tickers=["AAA"])


def test_missing_volume_is_left_out_never_filled(tmp_path: Path, caplog) -> None:
    raw = pd.read_csv(PRICES / "per_ticker" / "AAA.csv")
    raw.drop(columns=["Volume"]).to_csv(tmp_path / "AAA.csv", index=False)
    raw.to_csv(tmp_path / "BBB.csv", index=False)
    with caplog.at_level(logging.WARNING):
        summary = import_prices([str(tmp_path / "AAA.csv"), str(tmp_path / "BBB.csv")], tmp_path / "out")
    assert summary["absent_inputs"] == ["volume"] and "volume" not in read_table(tmp_path / "out" / "bars").columns
    assert any("volume is left out for every ticker" in r.getMessage() for r in caplog.records)
    raw.assign(Volume=0).to_csv(tmp_path / "zero.csv", index=False)  # index files often carry zeros
    assert import_prices([str(tmp_path / "zero.csv")], tmp_path / "zero")["absent_inputs"] == ["volume"]
    raw.assign(Volume=raw["Volume"].where(raw.index != 7)).to_csv(tmp_path / "gap.csv", index=False)
    result = _cli("--input", str(tmp_path / "gap.csv"), "--output", str(tmp_path / "gap"))
    assert result.returncode == 2 and "column 'volume'" in result.stderr and "1 rows" in result.stderr
    assert not (tmp_path / "gap").exists()


def test_sectors_come_from_a_mapping_file(tmp_path: Path, caplog) -> None:
    mapping = tmp_path / "sectors.csv"
    mapping.write_text("ticker,sector\naaa,Energy\nZZZ,Utilities\n")
    with caplog.at_level(logging.WARNING):
        import_prices([str(PRICES / "long.csv")], tmp_path / "out", sectors_file=mapping, sector="Other")
    universe = pd.read_csv(tmp_path / "out" / "bars" / "_universe.csv")
    assert universe.to_dict("list") == {"ticker": ["AAA", "BBB"], "sector": ["Energy", "Other"]}
    assert any("no sector for BBB" in r.getMessage() for r in caplog.records)
    mapping.write_text("ticker,sector\nAAA,Energy\nAAA,Utilities\n")
    result = _cli("--input", str(PRICES / "long.csv"), "--sectors", str(mapping), "--output", str(tmp_path / "x"))
    assert result.returncode == 2 and "column 'sector'" in result.stderr and "two sectors" in result.stderr
    assert not (tmp_path / "x").exists()


def test_unadjusted_prices_are_warned_about(tmp_path: Path, caplog) -> None:
    closes = _closes(tmp_path)
    split = closes.assign(Close=np.where(closes.index >= 30, closes["Close"] / 2, closes["Close"]))  # 2-for-1
    split.to_csv(tmp_path / "SPLT.csv", index=False)
    with caplog.at_level(logging.WARNING):
        summary = import_prices([str(tmp_path / "SPLT.csv")], tmp_path / "out")
    day = closes["Date"][30]
    ratio = split["Close"][30] / split["Close"][29]
    assert summary["split_like_jumps"] == {"SPLT": [{"date": day, "ratio": round(ratio, 4)}]}
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "no adjusted close column" in messages and f"{day} x{ratio:.3f}" in messages
    adjusted = split.assign(**{"Adj Close": closes["Close"] / 2})  # the vendor's adjusted close has no jump
    adjusted.to_csv(tmp_path / "ADJ.csv", index=False)
    assert import_prices([str(tmp_path / "ADJ.csv")], tmp_path / "adj")["split_like_jumps"] == {}


def test_arch_daily_index_prices_run_through_the_daily_features(tmp_path: Path) -> None:
    pytest.importorskip("arch")
    summary = import_prices(["arch:sp500"], tmp_path / "real", sector="Index", start="2015-01-01")
    assert summary["split_like_jumps"] == {} and summary["absent_inputs"] == []  # an index: no splits
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
