"""Building the feature table one batch of tickers at a time, in one process (`--ticker-batches N`).

Why: the one-pass build holds every bar, every tweet and every intermediate array of the universe at once, so
its peak grows with the input (about 2 GB for a year of the 56 tickers' minute bars, about five times that for
five years). Every bar and sentiment feature and every label is per ticker, so a batch of whole tickers can be
read (only its `ticker=` partitions: pyarrow prunes the others unread), validated, built and dropped before the
next; the peak is then one batch's inputs and intermediates plus the decision rows kept so far.

What needs all tickers at one instant, the market- and sector-relative returns, and the folds, which need
every session, are computed afterwards exactly as the multi-instance merge computes them (shards.merge_rows
over the batches' decision rows, labelled or not; build_folds over the union of the batches' session first and
last bar times): the table equals the one-pass table (tested), as the merged shards of several instances do.

Tweets: with a parquet tweets folder only the batch's tickers' tweets are read (a filter pushed into the
dataset scan); a tweet about a ticker that has no bars is then never read, so never validated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from steps.common.errors import StepInputError
from steps.common.io import data_files, hive_dataset
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.features.engagement import add_counts, engagement_counts
from steps.features.inputs import check_clocks, check_frequency, check_tweets_span, inputs_settings
from steps.features.settings import FeatureSettings
from steps.features.shards import merge_rows, session_bounds

PARTITION = "ticker="


@dataclass
class Built:
    """What the write needs from a build, one-pass or in turn."""

    frame: pd.DataFrame
    bounds: pd.DatetimeIndex  # every session's first and last bar time (the folds' input)
    settings: FeatureSettings
    bar_rows: int
    tweet_rows: int
    bars_start: pd.Timestamp
    bars_end: pd.Timestamp
    tweets_of_own_tickers: bool = False  # tweet_rows counts only the built tickers' tweets (in turn), not all
    # The tweet_rows tweets: how many had their engagement used or neutralised, and why (engagement.py).
    engagement: dict[str, int] = field(default_factory=lambda: add_counts({}, {}))


def ticker_partitions(bars_dir: str | Path) -> list[str] | None:
    """The tickers of a bars folder partitioned as `ticker=X/` (steps.sample_data, steps.import_prices, S3 keys
    sharded by ShardedByS3Key), sorted; None when the folder is not laid out that way (one file, CSV)."""
    source = Path(bars_dir)
    if not source.is_dir():
        return None
    parquet, csv = data_files(source)
    if csv or not parquet:
        return None
    tickers = set()
    for path in parquet:
        first = path.relative_to(source).parts[0]
        if not first.startswith(PARTITION) or len(path.relative_to(source).parts) < 2:
            return None
        tickers.add(unquote(first[len(PARTITION):]))  # pyarrow's hive partitioning decodes %xx the same way
    return sorted(tickers)


def batches_of(tickers: list[str], count: int) -> list[list[str]]:
    """`count` contiguous batches of the sorted tickers, as equal in size as whole tickers allow."""
    count = max(1, min(count, len(tickers)))
    return [list(part) for part in np.array_split(np.array(tickers, dtype=object), count) if len(part)]


def ticker_batches_of(bars_dir: str | Path, count: int, logger: logging.Logger, doing: str) -> list[list[str]] | None:
    """The batches `count` asks for, or None for one pass: count 1, or bars not laid out as ticker=X/ (a warning
    then: the memory of one pass is not what was asked for). `doing` words the step's work in that warning."""
    if count < 1:
        raise StepInputError(f"--ticker-batches {count} must be at least 1", file=bars_dir,
                             fix=f"pass 1 (one pass) or more (batches of tickers {doing} in turn)")
    tickers = ticker_partitions(bars_dir) if count > 1 else None
    if count > 1 and tickers is None:
        logger.warning("bars %s are not partitioned as ticker=X/: %s in one pass, not in %d batches", bars_dir,
                       doing, count)
    return batches_of(tickers, count) if tickers else None


def read_batch_bars(bars_dir: Path, tickers: list[str]) -> pl.DataFrame:
    parquet, _ = data_files(bars_dir)
    try:
        table = hive_dataset(parquet, bars_dir).to_table(filter=ds.field("ticker").isin(tickers))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise StepInputError(f"cannot read bars: {str(exc).splitlines()[0]}", file=bars_dir,
                             fix="rewrite the file(s)") from exc
    return pl.from_arrow(table)  # type: ignore[return-value]


def read_batch_tweets(tweets_dir: Path | None, tickers: list[str], known: set[str] | None,
                      everything: list[pd.DataFrame], logger: logging.Logger | None = None) -> pd.DataFrame:
    """The batch's tweets, validated. Parquet: filtered in the scan. CSV (or a scan that fails): the folder is
    read and validated once, kept in `everything`, and cut per batch (correct, not bounded). `logger`: where
    tweets without `engagement_observed_at` are said to be unweighted (the caller passes it for one batch)."""
    from steps.common.io import read_table

    if tweets_dir is None or not tweets_dir.exists():
        return validate_tweets(pd.DataFrame(), "tweets")
    parquet, csv = data_files(tweets_dir) if tweets_dir.is_dir() else ([], [])
    if parquet and not csv and not everything:
        try:
            table = ds.dataset([str(p) for p in parquet], format="parquet").to_table(
                filter=ds.field("ticker").isin(tickers))
            return validate_tweets(table.to_pandas(), tweets_dir, known_tickers=known, logger=logger)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass  # mixed schemas or no ticker column: read_table's checks name the problem
    if not everything:
        everything.append(validate_tweets(read_table(tweets_dir, name="tweets", allow_empty=True), tweets_dir,
                                          known_tickers=known, logger=logger))
    tweets = everything[0]
    return tweets[tweets["ticker"].isin(tickers)].reset_index(drop=True)


def build_in_turn(bars_dir: str | Path, tweets_dir: str | Path | None, settings: FeatureSettings, *,
                  sectors: dict[str, str] | None, batches: list[list[str]], logger: logging.Logger,
                  keep_unlabelled: bool = False, clock_check: str = "off") -> Built:
    """The feature table built one batch of tickers after the other (module docstring).

    `keep_unlabelled`: return the concatenated batches' rows as they are, unlabelled rows included and the
    relative returns per batch (a shard of a multi-instance job: merge_shards recomputes them on read)."""
    source, tweets_source = Path(bars_dir), Path(tweets_dir) if tweets_dir is not None else None
    known = set(sectors) if sectors is not None else None
    pieces: list[pl.DataFrame] = []
    bounds: list[np.ndarray] = []
    everything: list[pd.DataFrame] = []
    bar_rows = tweet_rows = 0
    engagement: dict[str, int] = {}
    first: FeatureSettings | None = None
    starts, ends = [], []
    for number, tickers in enumerate(batches, start=1):
        raw = read_batch_bars(source, tickers)
        if raw.height == 0 and (pieces or number < len(batches)):  # files without rows: absent in one pass too
            logger.warning("batch %d of %d (%s): no bars", number, len(batches), ", ".join(tickers))
            continue
        bars = validate_bars(raw, source, known_tickers=known, as_polars=True)
        check_frequency(bars, settings.frequency, source)
        tweets = read_batch_tweets(tweets_source if settings.include_sentiment else None, tickers, known, everything,
                                   logger if not tweet_rows else None)  # a missing column is said once
        check_tweets_span(tweets, bars, tweets_source, logger)
        check_clocks(bars, tweets, frequency=settings.frequency, bars_source=source, tweets_source=tweets_source,
                     mode=clock_check, logger=logger)
        # The dataset's schema comes from its files, not the batch, as in one pass: every batch has the same
        # columns (a file without one reads as nulls there, which validate_bars refuses as it does in one pass).
        batch_settings = inputs_settings(settings, bars, source, logger) if first is None else first
        first = batch_settings
        frame = build_features(bars, tweets, batch_settings, sectors=sectors, keep_unlabelled=True)
        pieces.append(pl.from_pandas(frame))
        bounds.append(np.asarray(session_bounds(bars).tz_convert(None), dtype="datetime64[ns]"))
        bar_rows, tweet_rows = bar_rows + bars.height, tweet_rows + len(tweets)
        engagement = add_counts(engagement, engagement_counts(tweets, batch_settings.ingest_lag_seconds))
        starts.append(bars["ts"].min())
        ends.append(bars["ts"].max())
        logger.info("batch %d of %d: %d tickers, %d bars, %d tweets -> %d rows", number, len(batches), len(tickers),
                    bars.height, len(tweets), len(frame))
        del bars, tweets, frame
    if first is None:  # every batch was empty but the last, which validate_bars refused: unreachable
        raise StepInputError("no bars (the input is empty)", file=source, fix="pass a folder with bar files")
    logger.info("built %d batches: %d bars, %d tweets in all", len(batches), bar_rows, tweet_rows)
    union = pd.DatetimeIndex(np.unique(np.concatenate(bounds))).tz_localize("UTC")
    if keep_unlabelled:
        frame = pl.concat(pieces, how="vertical").to_pandas()
        for column in ("ts", "label_end"):
            frame[column] = frame[column].astype("datetime64[ns, UTC]")
    else:
        frame = merge_rows(pieces, first, sectors)
    return Built(frame, union, first, bar_rows, tweet_rows, min(starts), max(ends), tweets_of_own_tickers=True,
                 engagement=engagement)
