"""Input contracts for bars and scored tweets (docs/steps.md), checked before any computation.

A violation is a `StepInputError` naming the file, the column and the fix: a feature built on unsorted,
duplicated or naive-time input would be silently wrong, which is worse than stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from steps.common.errors import StepInputError

BAR_PRICE_COLUMNS = ("open", "high", "low", "close")
BAR_COLUMNS = ("ticker", "ts", *BAR_PRICE_COLUMNS, "volume")
# A price source may lack these (close-only and wide files, index files without volume): the bars are valid
# without them and steps.features drops the features that need them (FeatureSettings.absent_inputs).
OPTIONAL_BAR_COLUMNS = ("open", "high", "low", "volume")
REQUIRED_BAR_COLUMNS = tuple(c for c in BAR_COLUMNS if c not in OPTIONAL_BAR_COLUMNS)
TWEET_COUNT_COLUMNS = ("like_count", "retweet_count", "reply_count")
TWEET_PROB_COLUMNS = ("p_pos", "p_neg", "p_neu")
# Optional: when the like/retweet/reply counts were read (UTC). steps.features weights a tweet by its counts only
# if they were read by created_at + ingest_lag (steps/features/engagement.py); missing or NaT: unknown, unweighted.
ENGAGEMENT_OBSERVED_AT = "engagement_observed_at"
ENGAGEMENT_FIX = (f"add '{ENGAGEMENT_OBSERVED_AT}' (the UTC time the like/retweet/reply counts were read; "
                  "python -m steps.ingest writes it)")
# Sane bounds on a bar's values: a price above a billion or a volume above 1e15 is a unit slip or a corrupt
# row (1e308 is finite, yet it puts ±inf into every VWAP and volume z-score built on it).
MAX_PRICE = 1e9
MAX_VOLUME = 1e15


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], source: str, what: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise StepInputError(
                f"missing column (the {what} contract needs {', '.join(columns)})",
                file=source,
                column=column,
                fix=f"add '{column}' or rename the matching column",
            )


def _present_bar_columns(frame: pd.DataFrame | pl.DataFrame, source: str) -> tuple[str, ...]:
    """The contract columns the bars have. A missing optional column is allowed, except when another column
    looks like it under a different spelling ('Volume', ' volume'): that is a naming slip, and dropping the
    features that need it would hide the slip."""
    _require_columns(frame, REQUIRED_BAR_COLUMNS, source, "bars")
    for column in OPTIONAL_BAR_COLUMNS:
        if column in frame.columns:
            continue
        lookalike = next((c for c in frame.columns if str(c).strip().lower() == column), None)
        if lookalike is not None:
            raise StepInputError(f"missing column, but {str(lookalike)!r} is there", file=source, column=column,
                                 fix=f"rename {str(lookalike)!r} to '{column}' (the bars contract is lower case)")
    return tuple(c for c in BAR_COLUMNS if c in frame.columns)


def _utc_timestamps(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise StepInputError(
            f"has dtype {values.dtype}, expected a UTC timestamp",
            file=source,
            column=column,
            fix="store it as timestamp[ns, UTC] (pandas: pd.to_datetime(..., utc=True))",
        )
    if getattr(values.dt, "tz", None) is None:
        raise StepInputError(
            "holds naive timestamps (no time zone), which are ambiguous",
            file=source,
            column=column,
            fix="localise them (e.g. tz_localize('America/New_York')) and convert to UTC",
        )
    if values.isna().any():
        raise StepInputError(
            f"has {int(values.isna().sum())} missing timestamps", file=source, column=column,
            fix="drop or fill those rows",
        )
    return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _string_column(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = frame[column]
    if not (pd.api.types.is_string_dtype(values.dtype) or pd.api.types.is_object_dtype(values.dtype)):
        raise StepInputError(
            f"has dtype {values.dtype}, expected strings", file=source, column=column,
            fix="store it as a string column",
        )
    if values.isna().any():
        raise StepInputError("has missing values", file=source, column=column, fix="drop those rows")
    return values.astype(str)


def _numeric_column(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise StepInputError(
            f"has dtype {values.dtype}, expected numbers", file=source, column=column,
            fix="cast it to float64",
        )
    return values.astype("float64")


_TZ_SUFFIX = r"(Z|[+-]\d\d:?\d\d)$"
_HAS_ZONE = r"(?:Z|[+-]\d\d:?\d\d)$"  # the same, without a group (pandas' str.contains warns about groups)


def _unknown_tickers(tickers: pl.Series, known: Collection[str] | None, source: str, what: str) -> None:
    if known is None:
        return
    unknown = sorted(set(tickers.unique().to_list()) - set(known))
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise StepInputError(
            f"has {len(unknown)} ticker(s) not in the universe ({shown})", file=source, column="ticker",
            fix=f"add them to the universe CSV (ticker,sector) or drop their {what}",
        )


def _pandas_to_polars(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> pl.DataFrame:
    """The contract columns of a pandas frame as polars, with the time-zone checks pandas can make better."""
    if "ts" in frame.columns and pd.api.types.is_object_dtype(frame["ts"].dtype):
        zones = {str(getattr(value, "tzinfo", None)) for value in frame["ts"].dropna().head(100_000)}
        if len(zones) > 1:
            raise StepInputError(
                f"mixes time zones ({', '.join(sorted(zones))})", file=source, column="ts",
                fix="convert every timestamp to UTC (pd.to_datetime(..., utc=True)) before writing",
            )
    try:
        return pl.from_pandas(frame[list(columns)])
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise StepInputError(f"cannot be read as the bars contract ({str(exc).splitlines()[0]})", file=source,
                             fix="write ticker as text, ts as UTC timestamps and prices/volume as numbers") from exc


_NS_MIN = datetime(1677, 9, 22, tzinfo=UTC)
_NS_MAX = datetime(2262, 4, 11, tzinfo=UTC)


def _polars_utc(frame: pl.DataFrame, column: str, source: str) -> pl.Series:
    values = frame[column]
    dtype = values.dtype
    if dtype == pl.String:
        has_zone = values.str.contains(_TZ_SUFFIX)
        zoned = int(has_zone.sum())
        if zoned == 0:
            raise StepInputError("holds naive timestamps (no time zone), which are ambiguous", file=source,
                                 column=column, fix="write them with an offset or Z (e.g. 2025-01-02T14:31:00Z)")
        if zoned < len(values):
            raise StepInputError(f"mixes time zones: {len(values) - zoned} of {len(values)} timestamps have no "
                                 "offset", file=source, column=column, fix="write every timestamp with an offset or Z")
        try:
            parsed = pl.from_pandas(pd.to_datetime(values.to_pandas(), utc=True, format="ISO8601"))
        except (ValueError, TypeError) as exc:
            raise StepInputError(f"has timestamps that cannot be parsed ({str(exc).splitlines()[0]})",
                                 file=source, column=column, fix="write ISO-8601 timestamps with an offset") from exc
        values = parsed.alias(column)
    elif not isinstance(dtype, pl.Datetime):
        raise StepInputError(f"has dtype {dtype}, expected a UTC timestamp", file=source, column=column,
                             fix="store it as timestamp[ns, UTC] (pandas: pd.to_datetime(..., utc=True))")
    elif dtype.time_zone is None:
        raise StepInputError("holds naive timestamps (no time zone), which are ambiguous", file=source, column=column,
                             fix="localise them (e.g. tz_localize('America/New_York')) and convert to UTC")
    if values.null_count():
        raise StepInputError(f"has {values.null_count()} missing timestamps", file=source, column=column,
                             fix="drop or fill those rows")
    values = values.dt.convert_time_zone("UTC")
    outside = values.filter((values < _NS_MIN) | (values > _NS_MAX))
    if len(outside):  # nanosecond timestamps span 1677-2262: beyond, the cast below fails inside polars
        raise StepInputError(f"has {len(outside)} timestamp(s) outside 1677-09-22..2262-04-11, e.g. {outside[0]}",
                             file=source, column=column, fix="correct those rows (a typo in the year?) or drop them")
    return values.dt.cast_time_unit("ns")


def validate_bars(frame: pd.DataFrame | pl.DataFrame, source: str | Path, *,
                  known_tickers: Collection[str] | None = None, as_polars: bool = False) -> pd.DataFrame | pl.DataFrame:
    """Check the bars contract; return the bars with canonical dtypes, sorted by (ticker, ts).

    Checked in polars (a year of minute bars for 56 tickers in well under a second); pandas in, pandas out
    unless `as_polars`. `known_tickers`: the universe; a ticker outside it is an error."""
    source = str(source)
    if len(frame) == 0:
        raise StepInputError("no bars (the input is empty)", file=source, fix="pass a folder with bar files")
    present = _present_bar_columns(frame, source)
    data = frame.select(present) if isinstance(frame, pl.DataFrame) else _pandas_to_polars(frame, present, source)
    ticker = data["ticker"]
    if isinstance(ticker.dtype, pl.Categorical | pl.Enum):
        ticker = ticker.cast(pl.String)
    if ticker.dtype != pl.String:
        raise StepInputError(f"has dtype {ticker.dtype}, expected strings", file=source, column="ticker",
                             fix="store it as a string column")
    if ticker.null_count() or (ticker.str.len_chars() == 0).any():
        raise StepInputError(f"has {ticker.null_count() + int((ticker.str.len_chars() == 0).sum())} bars without a "
                             "ticker", file=source, column="ticker", fix="drop those rows or fill in the ticker")
    _unknown_tickers(ticker, known_tickers, source, "bars")
    columns = {"ticker": ticker, "ts": _polars_utc(data, "ts", source)}
    for column in (c for c in (*BAR_PRICE_COLUMNS, "volume") if c in present):
        values = data[column]
        if not values.dtype.is_numeric() or values.dtype == pl.Boolean:
            raise StepInputError(f"has dtype {values.dtype}, expected numbers", file=source, column=column,
                                 fix="cast it to float64")
        values = values.cast(pl.Float64)
        finite = values.is_finite().fill_null(False)
        if not finite.all():
            raise StepInputError(
                f"has {int((~finite).sum())} missing or infinite values", file=source, column=column,
                fix="drop those bars or fill them from the previous close" + (
                    "" if column == "close" else ", or drop the column to build without the features that need it"),
            )
        bound = MAX_VOLUME if column == "volume" else MAX_PRICE
        bad = ((values < 0) if column == "volume" else (values <= 0)) | (values > bound)
        if bad.any():
            first = int(bad.arg_true()[0])
            rule = f"{'>= 0' if column == 'volume' else '> 0'} and <= {bound:g}"
            raise StepInputError(
                f"has {int(bad.sum())} values that break {column} {rule} "
                f"(first: row {first}, ticker {ticker[first]} at {columns['ts'][first]}, value {values[first]:g})",
                file=source, column=column, fix="correct or drop those bars (a unit slip or a corrupt row?)",
            )
        columns[column] = values
    bars = pl.DataFrame(columns)
    # Sorted within each ticker: a shuffled file usually means a broken export, so say so.
    ts_ns = bars["ts"].to_physical().to_numpy()
    codes = bars["ticker"].cast(pl.Categorical).to_physical().to_numpy()
    same_ticker = codes[1:] == codes[:-1]
    backwards = same_ticker & (ts_ns[1:] < ts_ns[:-1])
    if backwards.any():
        position = int(np.flatnonzero(backwards)[0]) + 1
        raise StepInputError(
            f"is not sorted by time within ticker (first: {bars['ticker'][position]} at {bars['ts'][position]})",
            file=source, column="ts", fix="sort the bars by (ticker, ts) before writing them",
        )
    if not bars["ticker"].is_sorted():  # (within a ticker the rows are in time order: checked above)
        bars = bars.sort(["ticker", "ts"], maintain_order=True)
        ts_ns = bars["ts"].to_physical().to_numpy()
    ticker_sorted = bars["ticker"]
    runs = ticker_sorted.rle_id().to_numpy()
    repeated = (ts_ns[1:] == ts_ns[:-1]) & (runs[1:] == runs[:-1])
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0])
        raise StepInputError(
            f"has {int(repeated.sum())} duplicate (ticker, ts) bars (first: {ticker_sorted[first]} at "
            f"{bars['ts'][first]})", file=source, column="ts", fix="keep one bar per ticker and timestamp",
        )
    if as_polars:
        return bars
    out = bars.to_pandas()
    out["ts"] = out["ts"].astype("datetime64[ns, UTC]")
    return out


def _observation_times(frame: pd.DataFrame, tweets: pd.DataFrame, source: str) -> pd.Series:
    """`engagement_observed_at` as UTC timestamps, NaT where unknown (all of it when the column is absent).

    Parquet timestamps with a zone, or ISO-8601 text with an offset (CSV; an empty cell is unknown). A time
    before the tweet was created cannot be when its counts were read: refused, not guessed at."""
    column = ENGAGEMENT_OBSERVED_AT
    created = tweets["created_at"]
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=created.index, dtype="datetime64[ns, UTC]")
    values = frame[column].reset_index(drop=True)
    present = values.dropna()
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        if getattr(values.dt, "tz", None) is None:
            raise StepInputError("holds naive timestamps (no time zone), which are ambiguous", file=source,
                                 column=column, fix="write UTC timestamps (pd.to_datetime(..., utc=True))")
        observed = values.dt.tz_convert("UTC")
    elif present.empty:  # a CSV column of empty cells: nothing is known
        observed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    elif all(isinstance(v, str) for v in present.head(100_000)) or all(
            isinstance(v, datetime) and v.tzinfo is not None for v in present.head(100_000)):
        text = present.astype(str)
        if isinstance(present.iloc[0], str) and not text.str.contains(_HAS_ZONE).all():
            raise StepInputError("holds timestamps without an offset, which are ambiguous", file=source, column=column,
                                 fix="write every timestamp with an offset or Z (e.g. 2025-01-02T14:31:00Z)")
        try:
            observed = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise StepInputError(f"has timestamps that cannot be parsed ({str(exc).splitlines()[0]})", file=source,
                                 column=column, fix="write ISO-8601 timestamps with an offset, or leave unknown ones "
                                 "empty") from exc
    else:
        raise StepInputError(f"has dtype {values.dtype}, expected a UTC timestamp", file=source, column=column,
                             fix="store it as timestamp[ns, UTC] (pandas: pd.to_datetime(..., utc=True)); NaT where "
                             "unknown")
    try:
        observed = observed.astype("datetime64[ns, UTC]")
    except (ValueError, OverflowError) as exc:  # beyond 1677-2262
        raise StepInputError(f"has timestamps outside 1677-09-22..2262-04-11 ({str(exc).splitlines()[0]})",
                             file=source, column=column, fix="correct those rows (a typo in the year?)") from exc
    early = (observed < created.reset_index(drop=True)).to_numpy(dtype=bool)  # NaT compares False: unknown is fine
    if early.any():
        first = int(np.flatnonzero(early)[0])
        raise StepInputError(
            f"has {int(early.sum())} tweet(s) whose counts were read before the tweet was created (first: "
            f"{tweets['tweet_id'].iloc[first]}, created {created.iloc[first]}, observed {observed.iloc[first]})",
            file=source, column=column,
            fix="write when the counts were read (not when the tweet was made); leave it empty (NaT) if unknown")
    return observed


def validate_tweets(frame: pd.DataFrame, source: str | Path, *,
                    known_tickers: Collection[str] | None = None,
                    logger: logging.Logger | None = None) -> pd.DataFrame:
    """Check the scored-tweets contract; an empty input gives an empty, correctly typed frame.

    `known_tickers`: the universe; a tweet about a ticker outside it is an error. `logger`: where a file without
    `engagement_observed_at` is said to be unweighted, on one line (None: not said; the in-turn build asks once)."""
    source = str(source)
    columns = ["tweet_id", "created_at", "ticker", *TWEET_COUNT_COLUMNS, *TWEET_PROB_COLUMNS, "score", "model",
               ENGAGEMENT_OBSERVED_AT]
    if frame.empty:
        empty = pd.DataFrame({column: pd.Series(dtype="float64") for column in columns})
        empty["tweet_id"] = empty["tweet_id"].astype(str)
        empty["ticker"] = empty["ticker"].astype(str)
        empty["model"] = empty["model"].astype(str)
        empty["created_at"] = pd.Series(dtype="datetime64[ns, UTC]")
        empty[ENGAGEMENT_OBSERVED_AT] = pd.Series(dtype="datetime64[ns, UTC]")
        for column in TWEET_COUNT_COLUMNS:
            empty[column] = empty[column].astype("int64")
        return empty
    _require_columns(frame, ("tweet_id", "created_at", "ticker", *TWEET_COUNT_COLUMNS, "model"), source, "tweets")
    has_probs = all(column in frame.columns for column in TWEET_PROB_COLUMNS)
    if not has_probs and "score" not in frame.columns:
        raise StepInputError(
            "missing sentiment: neither 'score' nor all of p_pos/p_neg/p_neu", file=source, column="score",
            fix="score the tweets first (steps.sentiment) or add a 'score' column in [-1, 1]",
        )
    ticker = frame["ticker"]
    missing = ticker.isna() | (ticker.astype(str).str.strip() == "")
    if missing.any():
        raise StepInputError(f"has {int(missing.sum())} tweets without a ticker", file=source, column="ticker",
                             fix="drop them or tag them with the ticker they mention (steps.ingest does this)")
    tickers = _string_column(frame, "ticker", source)
    _unknown_tickers(pl.Series(tickers.to_numpy(dtype=str)), known_tickers, source, "tweets")
    created = frame["created_at"]
    if not pd.api.types.is_datetime64_any_dtype(created.dtype) and len(created):
        if isinstance(created.iloc[0], str):
            parsed = _polars_utc(pl.DataFrame({"created_at": created.astype(str).to_numpy()}), "created_at", source)
            frame = frame.assign(created_at=pd.DatetimeIndex(parsed.to_pandas()).tz_convert("UTC"))
        else:
            zones = {str(getattr(value, "tzinfo", None)) for value in created.head(100_000)}
            if len(zones) > 1:
                raise StepInputError(f"mixes time zones ({', '.join(sorted(zones))})", file=source,
                                     column="created_at", fix="convert every timestamp to UTC before writing")
    tweets = pd.DataFrame({
        "tweet_id": frame["tweet_id"].astype(str),
        "created_at": _utc_timestamps(frame, "created_at", source),
        "ticker": tickers,
    })
    for column in TWEET_COUNT_COLUMNS:
        values = _numeric_column(frame, column, source)
        if values.isna().any() or (values < 0).any() or (values != np.floor(values)).any():
            raise StepInputError(
                "must hold non-negative whole numbers", file=source, column=column,
                fix="fill missing counts with 0 and cast to int64",
            )
        tweets[column] = values.astype("int64").to_numpy()
    if has_probs:
        for column in TWEET_PROB_COLUMNS:
            values = _numeric_column(frame, column, source)
            if values.isna().any() or ((values < 0) | (values > 1)).any():
                raise StepInputError("must hold probabilities in [0, 1]", file=source, column=column,
                                     fix="re-score the tweets")
            tweets[column] = values.to_numpy()
    else:
        for column in TWEET_PROB_COLUMNS:
            tweets[column] = np.nan
    score = _numeric_column(frame, "score", source) if "score" in frame.columns else tweets["p_pos"] - tweets["p_neg"]
    if score.isna().any() or ((score < -1) | (score > 1)).any():
        raise StepInputError("must hold scores in [-1, 1] with no missing values", file=source, column="score",
                             fix="re-score the tweets or clip the scores")
    tweets["score"] = score.to_numpy()
    tweets["model"] = frame["model"].astype(str).to_numpy()
    tweets[ENGAGEMENT_OBSERVED_AT] = _observation_times(frame, tweets, source).array
    if ENGAGEMENT_OBSERVED_AT not in frame.columns and logger is not None:
        logger.warning("%s: no '%s' column, so when the engagement counts were read is unknown: its %d tweets are "
                       "unweighted (weight 1) in sent_*; fix: %s", source, ENGAGEMENT_OBSERVED_AT, len(tweets),
                       ENGAGEMENT_FIX)
    # One row per (tweet, ticker it names): the ingester writes a tweet naming $AAPL and $MSFT twice, once
    # for each ticker, and each ticker's sentiment counts it. The same tweet twice for one ticker is a duplicate.
    duplicated = tweets.duplicated(["tweet_id", "ticker"])
    if duplicated.any():
        first = tweets[duplicated].iloc[0]
        raise StepInputError(
            f"has {int(duplicated.sum())} duplicate (tweet_id, ticker) rows (first: {first['tweet_id']} for "
            f"{first['ticker']})", file=source, column="tweet_id", fix="keep one row per tweet and ticker it names",
        )
    return tweets.sort_values(["ticker", "created_at"], kind="stable").reset_index(drop=True)


def check_no_infinities(frame: pd.DataFrame, target: str | Path) -> None:
    """The last guard before a table is written: no ±inf in any column. A missing value (NaN) has a meaning
    in a features table (a window not yet full); an infinity is an overflow that every model reads as a number."""
    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue
        infinite = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            where = f", ticker {frame['ticker'].iloc[row]}" if "ticker" in frame.columns else ""
            raise StepInputError(f"would hold {int(infinite.sum())} infinite value(s) (first: row {row}{where}); "
                                 "nothing was written", file=target, column=str(column),
                                 fix="find the bars with absurd prices or volumes that overflowed it and correct them")

