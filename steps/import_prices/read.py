"""One daily price file -> bars-contract rows, whatever its common free shape.

Shapes, told apart by their columns (matched case-insensitively with the usual spellings):
- OHLCV per ticker (`Date, Open, High, Low, Close[, Adj Close][, Volume]`), the ticker named by `--ticker`,
  else by the file name (said in a warning: `msft_pmdarima.csv` would otherwise silently be `MSFT_PMDARIMA`);
- long: the same with a ticker/symbol column, one file for many tickers;
- close-only (`Date, Close` or `Date, Adj Close`, also `Price`);
- wide (`Date, AAPL, MSFT, ...`: one close column per ticker, the most common free format).
Columns a file does not have (open/high/low without OHLC, volume) are left out, never filled: steps.features
drops the features that need them. Each bar is stamped at its session's close, 16:00 New York time, in UTC.
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.io import read_csv_names
from steps.common.names import safe_name

MARKET_TZ = "America/New_York"
CLOSE_TIME = pd.Timedelta(hours=16)
PRICE_COLUMNS = ("open", "high", "low", "close")
ALIASES = {
    "date": ("date", "datetime", "timestamp", "time", "day"),
    "ticker": ("ticker", "symbol", "name", "code"),
    "open": ("open",), "high": ("high",), "low": ("low",), "close": ("close", "price"),
    "adj_close": ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close", "adj. close*",
                  "adj. close"),
    "volume": ("volume", "vol"),
}
# A ticker becomes a folder name (bars/ticker=X/) and an S3 key: no separators, spaces or '='.


@dataclass
class PriceFile:
    """What one file gave: bars (only the columns it has), and what a user must be told about it."""

    bars: pd.DataFrame
    dropped_rows: int
    shape: str                       # "ohlc", "close-only" or "wide"
    ticker_source: str               # "--ticker", "column <name>", "file name", "wide columns", "arch dataset"
    adjusted: bool                   # an adjusted close was applied
    has_adjusted_column: bool
    notes: list[str] = field(default_factory=list)


def read_csv_with_comments(path: Path) -> pd.DataFrame:
    """A CSV, skipping leading `#` lines (some free exports start with a 'Data source' comment)."""
    skip = 0
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", errors="replace") as handle:
            for line in handle:
                if not line.lstrip().startswith("#") or skip >= 100:
                    break
                skip += 1
        return read_csv_names(path, skiprows=skip)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise StepInputError(f"cannot be read as CSV ({str(exc).splitlines()[0]})", file=path,
                             fix="pass a comma-separated file with a header row") from exc


def find_columns(frame: pd.DataFrame) -> dict[str, str]:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    found = {}
    for name, spellings in ALIASES.items():
        for spelling in spellings:
            if spelling in lowered:
                found[name] = lowered[spelling]
                break
    return found


def ticker_from_name(path: Path) -> str:
    return re.sub(r"\.csv(\.gz)?$", "", path.name, flags=re.IGNORECASE).strip().upper()


def check_ticker(ticker: str, path: Path | str, column: str = "ticker",
                 fix: str = "pass --ticker SYMBOL for this file, or rename the file") -> str:
    return safe_name(ticker, column, path, fix=fix)  # the one name pattern (steps.common.names)


# A date that starts with two numbers (03/04/2024, 3.4.24, 03-04-2024): day-first or month-first?
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})(\s|T|$)")


def date_order(values: pd.Series, path: Path | str, column: str) -> bool | None:
    """Whether the dates are day-first (True), month-first (False), or neither (year-first ISO dates, month
    names: None, pandas' inference is unambiguous there). pandas infers from the first date and reads
    03/04/2024 as March 4th: a day-first file was silently misdated on every day <= 12. The file's own
    dates decide: a first number above 12 proves day-first, a second above 12 month-first; a file where no
    date decides (every day <= 12), or where both orders appear, is refused."""
    parts = values.dropna().astype(str).str.extract(_NUMERIC_DATE)
    parts = parts[parts[0].notna()]
    if parts.empty:
        return None
    first, second = parts[0].astype(int), parts[1].astype(int)
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first and month_first:
        raise StepInputError("mixes day-first and month-first dates (e.g. 13/04 and 04/13)", file=path, column=column,
                             fix="write the dates as ISO 8601 (YYYY-MM-DD)")
    if not day_first and not month_first:
        raise StepInputError(f"has dates like {values.dropna().astype(str).iloc[0]!r} that read as day-first and as "
                             "month-first alike (no day above 12 decides)", file=path, column=column,
                             fix="write the dates as ISO 8601 (YYYY-MM-DD)")
    return day_first


def session_close_times(values: pd.Series, path: Path | str = "", column: str = "date") -> pd.Series:
    """Dates (ISO, or a numeric order the file itself proves: date_order) -> the session's close, 16:00 New
    York, in UTC; NaT where unreadable."""
    day_first = date_order(values, path, column)
    if day_first is None:
        dates = pd.to_datetime(values, errors="coerce")  # one format, inferred from the first date
    else:
        dates = pd.to_datetime(values, errors="coerce", dayfirst=day_first)
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(MARKET_TZ).dt.tz_localize(None)
    return (dates.dt.normalize() + CLOSE_TIME).dt.tz_localize(MARKET_TZ, nonexistent="shift_forward",
                                                              ambiguous="NaT").dt.tz_convert("UTC")


def read_price_file(path: Path, ticker: str | None, *, adjust: bool, ticker_source: str | None = None,
                    logger: logging.Logger | None = None) -> PriceFile:
    """One CSV -> bars with the columns it has (ticker, ts, close, and open/high/low/volume when present)."""
    logger = logger or logging.getLogger("import_prices")
    frame = read_csv_with_comments(path)
    if frame.empty:
        raise StepInputError("no rows", file=path, fix="pass a file with daily prices")
    columns = find_columns(frame)
    if "date" not in columns:
        raise StepInputError(f"missing column (one of {', '.join(ALIASES['date'])})", file=path, column="date",
                             fix="name the date column Date")
    if "close" not in columns and "adj_close" not in columns and "ticker" not in columns:
        return _read_wide(path, frame, columns["date"], ticker, logger)
    if "close" not in columns and "adj_close" not in columns:
        raise StepInputError(f"missing column (one of {', '.join(ALIASES['close'] + ALIASES['adj_close'])})",
                             file=path, column="close", fix="rename the closing price column Close")
    if "ticker" in columns:
        if ticker_source == "--ticker":
            raise StepInputError(f"has a ticker column ({columns['ticker']!r}) and --ticker {ticker} was given",
                                 file=path, column=str(columns["ticker"]),
                                 fix="drop --ticker for this file: its column names the tickers")
        raw = frame[columns["ticker"]]
        if raw.isna().any():
            raise StepInputError(f"has {int(raw.isna().sum())} rows without a ticker", file=path,
                                 column=str(columns["ticker"]), fix="fill in the ticker or drop those rows")
        tickers = raw.astype(str).str.strip().str.upper()
        for name in tickers.unique():
            check_ticker(name, path, str(columns["ticker"]), fix="put the ticker symbols in that column")
        source = f"column {columns['ticker']!r}"
    else:
        if ticker is None:
            ticker = ticker_from_name(path)
            logger.warning("%s: no ticker column: named its ticker %r after the file name; pass --ticker SYMBOL "
                           "(one per --input, in order) or add a ticker column if that is not its symbol", path,
                           ticker)
            source = "file name"
        else:
            source = ticker_source or "--ticker"
        tickers = pd.Series(check_ticker(ticker, path), index=frame.index)
    return _read_ohlc(path, frame, columns, tickers, source, adjust=adjust)


def _numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _read_ohlc(path: Path, frame: pd.DataFrame, columns: dict[str, str], tickers: pd.Series, ticker_source: str,
               *, adjust: bool) -> PriceFile:
    ts = session_close_times(frame[columns["date"]], path, str(columns["date"]))
    present = [name for name in PRICE_COLUMNS if name in columns]
    prices = {name: _numbers(frame, columns[name]) for name in present}
    has_adjusted = "adj_close" in columns
    adjusted = False
    if "close" not in prices:  # only an adjusted close: it is the close (already adjusted)
        prices["close"] = _numbers(frame, columns["adj_close"])
        present.append("close")
        adjusted = True
    elif adjust and has_adjusted:
        factor = _numbers(frame, columns["adj_close"]) / prices["close"]
        prices = {name: values * factor for name, values in prices.items()}
        adjusted = True
    ohlc = [name for name in PRICE_COLUMNS if name in prices]
    bars = pd.DataFrame({"ticker": tickers, "ts": ts, **{name: prices[name] for name in ohlc}})
    if "volume" in columns:
        bars["volume"] = _numbers(frame, columns["volume"])
    keep = bars["ts"].notna() & np.isfinite(bars[ohlc]).all(axis=1) & (bars[ohlc] > 0).all(axis=1)
    if not keep.any():
        raise StepInputError("no row has a readable date and positive prices", file=path, column=str(columns["date"]),
                             fix="check the date format and the price columns")
    if {"high", "low"} <= set(ohlc):
        # Daily highs/lows from some vendors disagree with open/close by a tick: widen, never narrow.
        bars["high"] = bars[ohlc].max(axis=1)
        bars["low"] = bars[ohlc].min(axis=1)
    missing = [name for name in ("open", "high", "low") if name not in ohlc]
    shape = "ohlc" if not missing else "close-only"
    notes = [f"no {'/'.join(missing)} column(s): the features that need them are dropped"] if missing else []
    return PriceFile(bars[keep].reset_index(drop=True), int((~keep).sum()), shape, ticker_source, adjusted,
                     has_adjusted, notes)


def _read_wide(path: Path, frame: pd.DataFrame, date_column: str, ticker: str | None,
               logger: logging.Logger) -> PriceFile:
    """Date + one close column per ticker -> close-only bars. An empty cell is a session the ticker did not
    trade (before its listing, after a delisting): no bar, and not counted as a broken row."""
    if ticker is not None:
        raise StepInputError("is a wide file (one close column per ticker), so --ticker cannot name it", file=path,
                             fix="drop --ticker for this file: its column headers name the tickers")
    value_columns = [c for c in frame.columns if c != date_column]
    if not value_columns:
        raise StepInputError("missing column (no close or ticker columns beside the date)", file=path,
                             column="close", fix="pass daily prices: Date,Close or Date,<TICKER>,<TICKER>,...")
    ts = session_close_times(frame[date_column], path, str(date_column))
    pieces, dropped = [], 0
    for column in value_columns:
        name = check_ticker(str(column).strip().upper(), path, str(column),
                            fix="name each price column after its ticker symbol")
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        if raw.isna().all():
            logger.warning("%s: column %r is empty: no bars for %s", path, column, name)
            continue
        if not values.notna().any():
            raise StepInputError("is neither a date nor prices (a wide file has one close column per ticker)",
                                 file=path, column=str(column), fix="drop the column or name the close column Close")
        keep = ts.notna() & np.isfinite(values) & (values > 0)
        dropped += int((~keep & (raw.notna() | ts.isna())).sum())
        pieces.append(pd.DataFrame({"ticker": name, "ts": ts[keep], "close": values[keep]}))
    names = [str(c).strip().upper() for c in value_columns]
    if len(set(names)) != len(names):
        raise StepInputError("names a ticker twice", file=path, column=str(value_columns[0]),
                             fix="keep one column per ticker")
    logger.info("%s: a wide file: one close column per ticker (%s); no open/high/low/volume", path, ", ".join(names))
    if not pieces:
        raise StepInputError("has no prices in any column", file=path, column=str(value_columns[0]),
                             fix="pass a file with daily closes")
    bars = pd.concat(pieces, ignore_index=True)
    return PriceFile(bars, dropped, "wide", "wide columns", False, False,
                     ["wide file (closes only): the features that need open/high/low/volume are dropped"])
