"""Daily OHLCV CSVs (one file per ticker, or long format with a ticker column) -> the bars contract.

Column names are matched case-insensitively with the usual spellings (Date/date/timestamp,
Open, High, Low, Close, Adj Close/adj_close, Volume, Ticker/Symbol). Each daily bar is stamped at the
session's close, 16:00 New York time, converted to UTC (the contract's `ts` is the bar's close time).
`adjust=True` scales open/high/low/close by Adj Close / Close (splits and dividends), when present.
Rows with a missing or non-positive price are dropped and counted; everything else goes through the same
validation as steps.features (steps.common.validation.validate_bars) before anything is written.

Sources: paths to CSV files or folders of CSVs, or `arch:<name>` for the daily index prices that the
`arch` package ships (arch.data: sp500, nasdaq; 1999-2018), read from the installed package offline.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steps.common.errors import StepInputError
from steps.common.io import atomic_dir, write_json, write_text
from steps.common.validation import validate_bars

MARKET_TZ = "America/New_York"
CLOSE_TIME = pd.Timedelta(hours=16)
ALIASES = {
    "date": ("date", "datetime", "timestamp", "time", "day"),
    "ticker": ("ticker", "symbol", "name", "code"),
    "open": ("open",), "high": ("high",), "low": ("low",), "close": ("close",),
    "adj_close": ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close"),
    "volume": ("volume", "vol"),
}
ARCH_DATASETS = {"sp500": "SP500", "nasdaq": "NASDAQ"}


def resolve_sources(sources: list[str]) -> list[tuple[Path, str | None]]:
    """(file, ticker-from-name or None) for each CSV; `arch:<name>` resolves into the installed package."""
    files: list[tuple[Path, str | None]] = []
    for source in sources:
        if source.startswith("arch:"):
            name = source.split(":", 1)[1]
            if name not in ARCH_DATASETS:
                raise StepInputError(f"unknown arch dataset {name!r}", file=source,
                                     fix=f"use one of {', '.join(f'arch:{k}' for k in ARCH_DATASETS)}")
            try:
                path = Path(str(resources.files(f"arch.data.{name}") / f"{name}.csv.gz"))
            except ModuleNotFoundError as exc:
                raise StepInputError("the arch package is not installed", file=source,
                                     fix="pip install -e '.[realdata]'") from exc
            files.append((path, ARCH_DATASETS[name]))
            continue
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if re.search(r"\.csv(\.gz)?$", p.name, re.IGNORECASE))
            if not found:
                raise StepInputError("no CSV files in the folder", file=path, fix="pass CSV files or their folder")
            files.extend((p, None) for p in found)
        elif path.is_file():
            files.append((path, None))
        else:
            raise StepInputError("not found", file=path, fix="pass an existing CSV file or folder")
    return files


def _ticker_from_name(path: Path) -> str:
    return re.sub(r"\.csv(\.gz)?$", "", path.name, flags=re.IGNORECASE).upper()


def _columns(frame: pd.DataFrame, path: Path) -> dict[str, str]:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    found = {}
    for name, spellings in ALIASES.items():
        for spelling in spellings:
            if spelling in lowered:
                found[name] = lowered[spelling]
                break
    for name in ("date", "open", "high", "low", "close"):
        if name not in found:
            raise StepInputError(f"missing column (one of {', '.join(ALIASES[name])})", file=path, column=name,
                                 fix="rename the column or pass a file with daily OHLC prices")
    return found


def read_daily_csv(path: Path, ticker: str | None, *, adjust: bool) -> tuple[pd.DataFrame, int]:
    """One CSV (a single ticker, or long format) -> bars-contract rows, and the number of rows dropped."""
    frame = pd.read_csv(path)
    if frame.empty:
        raise StepInputError("no rows", file=path, fix="pass a file with daily prices")
    columns = _columns(frame, path)
    if "ticker" in columns:
        tickers = frame[columns["ticker"]].astype(str).str.strip().str.upper()
    else:
        tickers = pd.Series(ticker or _ticker_from_name(path), index=frame.index)
    dates = pd.to_datetime(frame[columns["date"]], errors="coerce")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(MARKET_TZ).dt.tz_localize(None)
    ts = (dates.dt.normalize() + CLOSE_TIME).dt.tz_localize(MARKET_TZ, nonexistent="shift_forward",
                                                             ambiguous="NaT").dt.tz_convert("UTC")
    prices = {name: pd.to_numeric(frame[columns[name]], errors="coerce") for name in ("open", "high", "low", "close")}
    if adjust and "adj_close" in columns:
        factor = pd.to_numeric(frame[columns["adj_close"]], errors="coerce") / prices["close"]
        prices = {name: values * factor for name, values in prices.items()}
    volume = (pd.to_numeric(frame[columns["volume"]], errors="coerce") if "volume" in columns
              else pd.Series(0.0, index=frame.index))
    bars = pd.DataFrame({"ticker": tickers, "ts": ts, **prices, "volume": volume.astype("float64")})
    keep = bars["ts"].notna() & np.isfinite(bars[["open", "high", "low", "close"]]).all(axis=1) & \
        (bars[["open", "high", "low", "close"]] > 0).all(axis=1)
    bars["volume"] = bars["volume"].where(np.isfinite(bars["volume"]) & (bars["volume"] >= 0), 0.0)
    # Daily highs/lows from some vendors disagree with open/close by a tick: widen, never narrow.
    bars["high"] = bars[["open", "high", "low", "close"]].max(axis=1)
    bars["low"] = bars[["open", "high", "low", "close"]].min(axis=1)
    return bars[keep].reset_index(drop=True), int((~keep).sum())


def import_prices(sources: list[str], output: str | Path, *, sector: str = "Unknown", adjust: bool = True,
                  start: str | None = None, end: str | None = None,
                  logger: logging.Logger | None = None) -> dict[str, object]:
    """Read every source, validate, and write `<output>/bars/` (parquet, hive-partitioned by ticker) with a
    `_universe.csv` (ticker,sector) that steps.features reads, plus an empty `<output>/tweets/`."""
    logger = logger or logging.getLogger("import_prices")
    pieces, dropped = [], 0
    for path, ticker in resolve_sources(sources):
        bars, lost = read_daily_csv(path, ticker, adjust=adjust)
        pieces.append(bars)
        dropped += lost
        logger.info("read %d daily bars (%d dropped) from %s", len(bars), lost, path)
    bars = pd.concat(pieces, ignore_index=True)
    if start:
        bars = bars[bars["ts"] >= pd.Timestamp(start, tz="UTC")]
    if end:
        bars = bars[bars["ts"] <= pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)]
    bars = bars.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
    bars = validate_bars(bars, ", ".join(sources))
    root = Path(output)
    universe = pd.DataFrame({"ticker": sorted(bars["ticker"].unique()), "sector": sector})
    with atomic_dir(root / "bars") as folder:
        pq.write_to_dataset(pa.Table.from_pandas(bars, preserve_index=False), root_path=str(folder),
                            partition_cols=["ticker"], basename_template="part-{i}.parquet")
        universe.to_csv(folder / "_universe.csv", index=False)
    (root / "tweets").mkdir(parents=True, exist_ok=True)
    summary = {"sources": sources, "bars": len(bars), "dropped_rows": dropped, "tickers": universe["ticker"].tolist(),
               "start": bars["ts"].min().isoformat(), "end": bars["ts"].max().isoformat(), "adjusted": adjust}
    write_json(summary, root / "import.json")
    write_text("# REAL DAILY PRICES\n\nImported by `python -m steps.import_prices` from: "
               + ", ".join(sources) + f"\n\n{len(bars)} daily bars, {universe['ticker'].tolist()}, "
               f"{summary['start']} .. {summary['end']}. No tweets: run with sentiment off.\n",
               root / "SOURCE.md")
    return summary
