"""The feature step's inputs: bars, tweets and the universe read and validated, and what the bars say about the
settings (their frequency must be the configured one; the optional columns they lack make those inputs absent).

Read by the one-pass build (run.py), the in-turn build (in_turn.py), steps.leaks and steps.live alike: reading
the inputs is not the runner's, so the other steps import it from here and not from a step's run module.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from steps.common.clock import apply_verdict, bars_clock, tweets_clock
from steps.common.errors import StepInputError
from steps.common.io import data_files, hive_dataset, read_table
from steps.common.logging import log_input_size
from steps.common.names import read_universe_rows
from steps.common.validation import validate_bars, validate_tweets
from steps.features.bar_features import session_columns
from steps.features.catalogue import dropped_features
from steps.features.settings import FeatureSettings


@dataclass
class Inputs:
    bars: pl.DataFrame
    tweets: pd.DataFrame
    sectors: dict[str, str] | None


def load_sectors(universe: str | Path | None, logger: logging.Logger | None = None) -> dict[str, str] | None:
    """ticker -> sector from the universe CSV; None (no sector column) when no universe file is found."""
    if universe is None:
        return None
    source = Path(universe)
    if not source.is_file():
        if logger is not None:
            logger.warning("universe %s not found: the table gets no sector column", source)
        return None
    return dict(read_universe_rows(source))  # names checked: tickers and sectors become folder names


def read_bars(path: str | Path) -> pl.DataFrame | pd.DataFrame:
    """Parquet bars straight into polars (a year of minute bars in ~1 s); CSV through read_table."""
    source = Path(path)
    if source.is_dir():
        parquet, csv = data_files(source)
        if parquet and not csv:
            try:
                return pl.from_arrow(hive_dataset(parquet, source).to_table())  # type: ignore[return-value]
            except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
                raise StepInputError(f"cannot read bars: {str(exc).splitlines()[0]}", file=source,
                                     fix="rewrite the file(s)") from exc
    return read_table(source, name="bars")


def read_tweets(tweets_dir: str | Path | None, *, known_tickers: set[str] | None = None,
                logger: logging.Logger | None = None) -> pd.DataFrame:
    """Validated scored tweets (an empty, typed frame when there is no folder). `logger`: where tweets without
    `engagement_observed_at` are said to be unweighted (validate_tweets)."""
    if tweets_dir is None:
        return validate_tweets(pd.DataFrame(), "tweets")
    return validate_tweets(read_table(tweets_dir, name="tweets", allow_empty=True), tweets_dir,
                           known_tickers=known_tickers, logger=logger)


def load_inputs(bars_dir: str | Path, tweets_dir: str | Path | None, *, include_sentiment: bool,
                sectors: dict[str, str] | None, logger: logging.Logger, frequency: str = "1min",
                clock_check: str = "off") -> Inputs:
    """Bars (polars, multi-threaded) and tweets (pandas validation, one core) are read side by side; the bars'
    errors are reported first, as when they were read one after the other. `clock_check` (refuse | warn | off):
    what to do when the data shows a clock whole hours off (check_clocks); BuildFeatures passes its setting."""
    known = set(sectors) if sectors is not None else None
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read_tweets, tweets_dir if include_sentiment else None, known_tickers=known,
                              logger=logger)
        bars = validate_bars(read_bars(bars_dir), bars_dir, known_tickers=known, as_polars=True)
        check_frequency(bars, frequency, bars_dir)
        log_input_size(logger, "bars", bars, bars_dir)
        tweets = pending.result()
    check_tweets_span(tweets, bars, tweets_dir, logger)
    check_clocks(bars, tweets, frequency=frequency, bars_source=bars_dir, tweets_source=tweets_dir, mode=clock_check,
                 logger=logger)
    if include_sentiment and tweets_dir is not None and tweets.empty:
        logger.warning("no tweets in %s: every sentiment feature is 0", tweets_dir)
    log_input_size(logger, "tweets", tweets, tweets_dir)
    return Inputs(bars, tweets, sectors)  # type: ignore[arg-type]




# Tweets this long after the last bar belong to no row, and no feed runs that far ahead of its bars: a clock or
# a year typo (2052 for 2025), refused rather than silently unused.
TWEETS_AHEAD_LIMIT = pd.Timedelta(days=7)


def check_tweets_span(tweets: pd.DataFrame, bars: pl.DataFrame, source: str | Path | None,
                      logger: logging.Logger) -> None:
    """Tweets dated after the last bar are counted: within TWEETS_AHEAD_LIMIT, a warning (a feed a little
    ahead of the bars; no row uses them); beyond it, refused, naming how many and the first."""
    if tweets.empty or bars.height == 0:
        return
    last_bar = pd.Timestamp(bars["ts"].max())
    last_bar = last_bar.tz_localize("UTC") if last_bar.tzinfo is None else last_bar
    created = tweets["created_at"]
    far = created > last_bar + TWEETS_AHEAD_LIMIT
    if far.any():
        first = tweets.loc[far.idxmax()]
        raise StepInputError(f"has {int(far.sum())} tweet(s) dated more than {TWEETS_AHEAD_LIMIT.days} days after the "
                             f"last bar ({last_bar}), first: {first['tweet_id']} at {first['created_at']}",
                             file=source, column="created_at",
                             fix="correct those timestamps (a year typo?) or drop the tweets")
    after = int((created > last_bar).sum())
    if after:
        logger.warning("%s: %d tweet(s) dated after the last bar (%s): no row uses them", source, after, last_bar)


def check_clocks(bars: pl.DataFrame, tweets: pd.DataFrame, *, frequency: str, bars_source: str | Path,
                 tweets_source: str | Path | None, mode: str, logger: logging.Logger) -> None:
    """The bars' clock against the exchange session, the tweets' against the bars' returns (steps/common/clock.py):
    a file stamped whole hours off is refused (mode refuse) or warned about (warn); off skips both."""
    if mode == "off":
        return
    apply_verdict(bars_clock(bars["ts"], frequency), mode, bars_source, "ts", logger)
    if tweets_source is None or tweets.empty:
        return
    verdict = tweets_clock(tweets["ticker"].to_numpy(), tweets["created_at"], bars_ticker=bars["ticker"],
                           bars_ts=bars["ts"], close=bars["close"].to_numpy(), frequency=frequency)
    apply_verdict(verdict, mode, tweets_source, "created_at", logger)


def check_frequency(bars: pl.DataFrame, frequency: str, source: str | Path) -> None:
    """Daily settings on intraday bars (or the reverse) would silently compute the wrong windows."""
    session, _ = session_columns(bars["ts"].to_physical().to_numpy())
    per_session = pl.DataFrame({"ticker": bars["ticker"], "session": session}).group_by("ticker", "session").len()
    most = int(per_session["len"].max())
    if frequency == "1d" and most > 1:
        raise StepInputError(f"holds up to {most} bars per ticker and session, but the frequency is 1d",
                             file=source, column="ts", fix="pass --frequency 1min, or aggregate to daily bars")
    if frequency == "1min" and most == 1 and per_session.height > 20:
        raise StepInputError("holds one bar per ticker and session (daily bars), but the frequency is 1min",
                             file=source, column="ts", fix="pass --frequency 1d (the daily profile)")
    # The declared frequency, verified from the timestamps: 5-minute or 30-second bars read as 1-minute bars
    # would make every window 5x (or half) as long as its name. The median spacing is robust to gaps and halts.
    ts = bars["ts"].to_physical().to_numpy()
    ticker = bars["ticker"].rle_id().to_numpy()  # the bars are sorted by (ticker, ts): validate_bars
    same = ticker[1:] == ticker[:-1]
    if frequency == "1min":
        same &= session[1:] == session[:-1]
    spacing = np.diff(ts)[same]
    if len(spacing) == 0:
        return
    median_s = float(np.median(spacing)) / 1e9
    if frequency == "1min" and median_s != 60.0:
        raise StepInputError(f"are declared 1min, but consecutive bars within a session are {median_s:g} s apart "
                             "(median)", file=source, column="ts",
                             fix="resample the bars to 1 minute, or pass the frequency they have (1min or 1d)")
    if frequency == "1d" and not 0.5 * 86_400 <= median_s <= 4 * 86_400:
        raise StepInputError(f"are declared 1d, but consecutive bars are {median_s / 86_400:g} days apart "
                             "(median)", file=source, column="ts", fix="pass daily bars (one per session)")


def inputs_settings(settings: FeatureSettings, bars: pl.DataFrame, source: str | Path,
                    logger: logging.Logger) -> FeatureSettings:
    """The settings for these bars (the optional columns they lack are absent), said once in the log: a table
    without volume or range features must not look like one that has them."""
    settings = settings.with_bars(bars.columns)
    dropped = dropped_features(settings)
    if dropped:
        logger.warning("bars %s have no %s column(s): dropped the %d features that need them (%s); the manifest "
                       "lists them under dropped_features", source, ", ".join(settings.absent_inputs), len(dropped),
                       ", ".join(dropped))
    return settings
