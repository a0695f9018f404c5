"""Input contracts for bars and scored tweets (docs/steps.md), checked before any computation.

A violation is a `StepInputError` naming the file, the column and the fix: a feature built on unsorted,
duplicated or naive-time input would be silently wrong, which is worse than stopping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError

BAR_PRICE_COLUMNS = ("open", "high", "low", "close")
BAR_COLUMNS = ("ticker", "ts", *BAR_PRICE_COLUMNS, "volume")
TWEET_COUNT_COLUMNS = ("like_count", "retweet_count", "reply_count")
TWEET_PROB_COLUMNS = ("p_pos", "p_neg", "p_neu")


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], source: str, what: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise StepInputError(
                f"missing column (the {what} contract needs {', '.join(columns)})",
                file=source,
                column=column,
                fix=f"add '{column}' or rename the matching column",
            )


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


def validate_bars(frame: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """Check the bars contract and return the bars with canonical dtypes, sorted by (ticker, ts)."""
    source = str(source)
    if frame.empty:
        raise StepInputError("no bars (the input is empty)", file=source, fix="pass a folder with bar files")
    _require_columns(frame, BAR_COLUMNS, source, "bars")
    bars = pd.DataFrame({"ticker": _string_column(frame, "ticker", source),
                         "ts": _utc_timestamps(frame, "ts", source)})
    for column in (*BAR_PRICE_COLUMNS, "volume"):
        values = _numeric_column(frame, column, source)
        if not np.isfinite(values.to_numpy()).all():
            raise StepInputError(
                f"has {int((~np.isfinite(values.to_numpy())).sum())} missing or infinite values",
                file=source, column=column, fix="drop those bars or fill them from the previous close",
            )
        bad = values < 0 if column == "volume" else values <= 0
        if bad.any():
            first = frame.loc[bad[bad].index[0]]
            rule = ">= 0" if column == "volume" else "> 0"
            raise StepInputError(
                f"has {int(bad.sum())} values that break {column} {rule} "
                f"(first: ticker {first['ticker']} at {first['ts']})",
                file=source, column=column, fix="correct or drop those bars",
            )
        bars[column] = values.to_numpy()
    keys = bars[["ticker", "ts"]]
    duplicated = keys.duplicated()
    if duplicated.any():
        row = keys[duplicated].iloc[0]
        raise StepInputError(
            f"has {int(duplicated.sum())} duplicate (ticker, ts) bars (first: {row['ticker']} at {row['ts']})",
            file=source, column="ts", fix="keep one bar per ticker and timestamp",
        )
    # Sorted within each ticker: a shuffled file usually means a broken export, so say so.
    same_ticker = bars["ticker"].to_numpy()[1:] == bars["ticker"].to_numpy()[:-1]
    ts_values = bars["ts"].to_numpy()
    backwards = same_ticker & (ts_values[1:] < ts_values[:-1])
    if backwards.any():
        position = int(np.flatnonzero(backwards)[0]) + 1
        raise StepInputError(
            f"is not sorted by time within ticker (first: {bars['ticker'].iat[position]} at "
            f"{bars['ts'].iat[position]})",
            file=source, column="ts", fix="sort the bars by (ticker, ts) before writing them",
        )
    return bars.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)


def validate_tweets(frame: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """Check the scored-tweets contract; an empty input gives an empty, correctly typed frame."""
    source = str(source)
    columns = ["tweet_id", "created_at", "ticker", *TWEET_COUNT_COLUMNS, *TWEET_PROB_COLUMNS, "score", "model"]
    if frame.empty:
        empty = pd.DataFrame({column: pd.Series(dtype="float64") for column in columns})
        empty["tweet_id"] = empty["tweet_id"].astype(str)
        empty["ticker"] = empty["ticker"].astype(str)
        empty["model"] = empty["model"].astype(str)
        empty["created_at"] = pd.Series(dtype="datetime64[ns, UTC]")
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
    tweets = pd.DataFrame({
        "tweet_id": frame["tweet_id"].astype(str),
        "created_at": _utc_timestamps(frame, "created_at", source),
        "ticker": _string_column(frame, "ticker", source),
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
    duplicated = tweets["tweet_id"].duplicated()
    if duplicated.any():
        raise StepInputError(
            f"has {int(duplicated.sum())} duplicate tweet ids (first: {tweets['tweet_id'][duplicated].iat[0]})",
            file=source, column="tweet_id", fix="de-duplicate the tweets by tweet_id",
        )
    return tweets.sort_values(["ticker", "created_at"], kind="stable").reset_index(drop=True)
