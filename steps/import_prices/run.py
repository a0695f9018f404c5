"""Daily price CSVs (per ticker, long, close-only or wide) -> the bars contract, plus what a user must know.

Reading one file is read.py. Here: the sources (paths, folders, `arch:<name>` for the daily index prices the
`arch` package ships, read offline), tickers named by `--ticker` (one per `--input`, in order), the columns
every source has (an input one source lacks is left out for all: a feature table has one set of columns),
volume that is missing or all zero (left out, not filled), sectors from a ticker,sector file, and the
warnings that prices look unadjusted. Everything goes through the same validation as steps.features
(steps.common.validation.validate_bars) before anything is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steps.common.clock import apply_verdict, bars_clock
from steps.common.errors import StepInputError
from steps.common.io import atomic_dir, write_json, write_text
from steps.common.names import read_universe_rows
from steps.common.validation import OPTIONAL_BAR_COLUMNS, validate_bars
from steps.import_prices.read import PriceFile, check_ticker, read_price_file
from steps.import_prices.splits import split_like_jumps

ARCH_DATASETS = {"sp500": "SP500", "nasdaq": "NASDAQ"}
CSV_SUFFIXES = (".csv", ".csv.gz")


@dataclass(frozen=True)
class Source:
    path: Path
    ticker: str | None
    ticker_source: str | None  # "--ticker" or "arch dataset"; None: from the file


def resolve_sources(sources: list[str], tickers: list[str] | None = None) -> list[Source]:
    """The files to read, each with the ticker a user gave it (`tickers[i]` for `sources[i]`)."""
    if tickers and len(tickers) != len(sources):
        raise StepInputError(f"{len(tickers)} --ticker for {len(sources)} --input", column="ticker",
                             fix="give one --ticker per --input, in the same order, or none")
    files: list[Source] = []
    for position, source in enumerate(sources):
        given = check_ticker(tickers[position].strip().upper(), source, "ticker", fix="pass a symbol to --ticker") \
            if tickers else None
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
            files.append(Source(path, given or ARCH_DATASETS[name], "--ticker" if given else "arch dataset"))
            continue
        path = Path(source)
        if path.is_dir():
            if given:
                raise StepInputError("is a folder, so one --ticker cannot name its files", file=path,
                                     fix="name the files TICKER.csv, add a ticker column, or pass the files one by one")
            found = sorted(p for p in path.iterdir() if p.name.lower().endswith(CSV_SUFFIXES))
            if not found:
                raise StepInputError("no CSV files in the folder", file=path, fix="pass CSV files or their folder")
            files.extend(Source(p, None, None) for p in found)
        elif path.is_file():
            files.append(Source(path, given, "--ticker" if given else None))
        else:
            raise StepInputError("not found", file=path, fix="pass an existing CSV file or folder")
    return files


def load_sectors(path: str | Path) -> dict[str, str]:
    """ticker -> sector from a `ticker,sector` CSV (the universe's own format)."""
    source = Path(path)
    mapping: dict[str, str] = {}
    for ticker, sector in read_universe_rows(source):  # names checked: each ticker becomes a folder
        if mapping.setdefault(ticker.upper(), sector) != sector:
            raise StepInputError(f"gives {ticker.upper()} two sectors ({mapping[ticker.upper()]}, {sector})",
                                 file=source, column="sector", fix="keep one line per ticker")
    return mapping


def _common_columns(pieces: list[tuple[Source, PriceFile]], logger: logging.Logger) -> list[str]:
    """The optional inputs every file has; one missing in some files is left out for all, said once."""
    kept = []
    for column in OPTIONAL_BAR_COLUMNS:
        without = [str(source.path) for source, piece in pieces if column not in piece.bars.columns]
        if not without:
            kept.append(column)
        elif len(without) < len(pieces):
            logger.warning("%s: no %s column: %s is left out for every ticker (the feature table has one set of "
                           "columns)", ", ".join(without), column, column)
    return kept


def _volume(bars: pd.DataFrame, source: str, logger: logging.Logger) -> pd.DataFrame:
    """Volume as it is, or no volume column: all missing or all zero (index files often carry zeros) is no
    volume, and a few missing values are an error: a 0 in their place would be a false observation."""
    if "volume" not in bars.columns:
        return bars
    volume = bars["volume"]
    if volume.isna().all() or (volume.fillna(0) == 0).all():
        logger.warning("%s: the volume column is empty or all zero: left out, and the volume features with it",
                       source)
        return bars.drop(columns=["volume"])
    bad = volume.isna() | ~np.isfinite(volume) | (volume < 0)
    if bad.any():
        first = bars.loc[bad.idxmax()]
        raise StepInputError(f"{int(bad.sum())} rows have no readable non-negative volume (first: {first['ticker']} "
                             f"on {first['ts'].tz_convert('America/New_York').date()})", file=source, column="volume",
                             fix="fill or drop those rows, or remove the volume column to import without volume "
                                 "features")
    return bars


def import_prices(sources: list[str], output: str | Path, *, sector: str = "Unknown", adjust: bool = True,
                  start: str | None = None, end: str | None = None, tickers: list[str] | None = None,
                  sectors_file: str | Path | None = None, logger: logging.Logger | None = None,
                  clock_check: str = "refuse") -> dict[str, object]:
    """Read every source, validate, and write `<output>/bars/` (parquet, hive-partitioned by ticker) with a
    `_universe.csv` (ticker,sector) that steps.features reads, plus an empty `<output>/tweets/`,
    `import.json` (what was read and what is missing) and `SOURCE.md`.

    `clock_check` (refuse | warn | off): the bars' dates must fall on Monday-Friday in New York; a calendar moved
    by a day (midnight-UTC timestamps in the date column, read in New York) is refused (steps/common/clock.py)."""
    logger = logger or logging.getLogger("import_prices")
    label = ", ".join(sources)
    mapping = load_sectors(sectors_file) if sectors_file is not None else None
    pieces: list[tuple[Source, PriceFile]] = []
    for source in resolve_sources(sources, tickers):
        piece = read_price_file(source.path, source.ticker, adjust=adjust, ticker_source=source.ticker_source,
                                logger=logger)
        pieces.append((source, piece))
        logger.info("read %d daily bars (%d dropped) from %s", len(piece.bars), piece.dropped_rows, source.path)
        if piece.dropped_rows:  # a silent gap in a price history is worse than a loud one
            logger.warning("%s: dropped %d row(s) without a readable date or with a missing or non-positive price "
                           "(import.json counts them)", source.path, piece.dropped_rows)
        if not piece.has_adjusted_column and piece.shape != "wide":
            logger.warning("%s has no adjusted close column: its prices are used as they are (splits and dividends "
                           "not applied unless the vendor did)", source.path)
    kept = _common_columns(pieces, logger)
    columns = ["ticker", "ts", *(c for c in ("open", "high", "low") if c in kept), "close",
               *(["volume"] if "volume" in kept else [])]
    bars = pd.concat([piece.bars[columns] for _, piece in pieces], ignore_index=True)
    if start:
        bars = bars[bars["ts"] >= pd.Timestamp(start, tz="UTC")]
    if end:
        bars = bars[bars["ts"] <= pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)]
    if bars.empty:
        raise StepInputError(f"no bars between {start or 'the start'} and {end or 'the end'}", file=label,
                             column="ts", fix="widen --start/--end")
    bars = _volume(bars.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True), label, logger)
    bars = validate_bars(bars, label)
    clock = apply_verdict(bars_clock(bars["ts"], "1d"), clock_check, label, "ts", logger)
    jumps = split_like_jumps(bars)
    for ticker, found in jumps.items():
        shown = ", ".join(f"{j['date']} x{j['ratio']:.3f}" for j in found[:5])
        logger.warning("%s: %d close-to-close jump(s) the size of a stock split (%s%s): the prices look unadjusted "
                       "there, so every return across them is wrong; pass an adjusted close (Adj Close)", ticker,
                       len(found), shown, ", ..." if len(found) > 5 else "")
    names = sorted(bars["ticker"].unique())
    universe = pd.DataFrame({"ticker": names, "sector": _sectors(names, mapping, sector, sectors_file, logger)})
    absent = [c for c in OPTIONAL_BAR_COLUMNS if c not in bars.columns]
    root = Path(output)
    with atomic_dir(root / "bars") as folder:
        pq.write_to_dataset(pa.Table.from_pandas(bars, preserve_index=False), root_path=str(folder),
                            partition_cols=["ticker"], basename_template="part-{i}.parquet")
        universe.to_csv(folder / "_universe.csv", index=False)
    # An S3 prefix with no object is no ProcessingInput SageMaker (or the local runner) accepts: the tweets
    # folder holds one note, which readers skip (`_`-prefixed), so that it reads as "no tweets".
    write_text("No tweets come with price files: run with sentiment off.\n", root / "tweets" / "_NO_TWEETS.md")
    summary = {
        "sources": sources, "bars": len(bars), "dropped_rows": sum(p.dropped_rows for _, p in pieces),
        "tickers": names, "start": bars["ts"].min().isoformat(), "end": bars["ts"].max().isoformat(),
        "adjusted": adjust, "absent_inputs": absent,
        "files": [{"path": str(s.path), "shape": p.shape, "tickers": sorted(p.bars["ticker"].unique()),
                   "ticker_from": p.ticker_source, "adjusted_close_applied": p.adjusted,
                   "has_adjusted_close": p.has_adjusted_column, "notes": p.notes} for s, p in pieces],
        "split_like_jumps": jumps,
        "clock_check": {"mode": clock_check, "level": clock.level, "finding": clock.problem, **clock.figures},
    }
    write_json(summary, root / "import.json")
    write_text(_source_text(summary, universe), root / "SOURCE.md")
    return summary


def _sectors(names: list[str], mapping: dict[str, str] | None, default: str, sectors_file: str | Path | None,
             logger: logging.Logger) -> list[str]:
    if mapping is None:
        return [default] * len(names)
    unmapped = [t for t in names if t not in mapping]
    if unmapped:
        logger.warning("%s has no sector for %s: they get the sector %r", sectors_file, ", ".join(unmapped), default)
    return [mapping.get(t, default) for t in names]


def _source_text(summary: dict[str, object], universe: pd.DataFrame) -> str:
    sources = ", ".join(summary["sources"])  # type: ignore[arg-type]
    absent: list[str] = summary["absent_inputs"]  # type: ignore[assignment]
    jumps: dict[str, list] = summary["split_like_jumps"]  # type: ignore[assignment]
    lines = ["# REAL DAILY PRICES", "", f"Imported by `python -m steps.import_prices` from: {sources}", "",
             f"{summary['bars']} daily bars, {summary['start']} .. {summary['end']}. No tweets: run with sentiment "
             "off.", "", "| ticker | sector |", "| --- | --- |"]
    lines += [f"| {t} | {s} |" for t, s in zip(universe["ticker"], universe["sector"], strict=True)]
    if absent:
        lines += ["", f"No {', '.join(absent)} column(s): steps.features drops the features that need them (its "
                  "manifest lists them under dropped_features)."]
    if jumps:
        lines += ["", "Split-sized jumps (the prices look unadjusted there): "
                  + ", ".join(f"{t} ({len(found)})" for t, found in jumps.items())]
    return "\n".join(lines) + "\n"
