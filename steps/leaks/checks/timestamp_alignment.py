"""timestamp_alignment: checked against the bars themselves, not the feature code. Every row sits on a bar
close, its label window is the bars t+1 .. t+1+H (strictly after t), and every sentiment column (weighted
means, sent_daily, positive ratios, plain means, sums, counts) equals an independent recount of the tweets
created at or before t - ingest_lag, on every row. `locate_rows` finds the rows among the bars (the folds
and asymmetry checks read its label ends and past returns too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from steps.features.settings import FeatureSettings
from steps.leaks.checks.common import Bars, CheckResult
from steps.leaks.sentiment_recount import parse_sentiment_columns, recount

RECOUNT_ATOL = 1e-9  # sums of a few hundred scores in [-1, 1], summed in another order than the feature code


@dataclass
class BarPositions:
    """Where each table row sits among its ticker's bars, and what the bars say about it (no feature code)."""

    found: np.ndarray           # the row's (ticker, ts) is a bar close
    label_end: np.ndarray       # datetime64[ns]: ts of bar t+1+H, NaT past the data
    forward_return: np.ndarray  # close[t+1+H] / close[t+1] - 1
    past_return: np.ndarray     # close[t] / close[t-H] - 1: the same horizon, looking back


def _bar_groups(bars: Bars) -> dict[str, np.ndarray]:
    """Row positions of each ticker's bars: slices of polars bars (sorted by ticker, ts by validation), or a
    pandas groupby (any order)."""
    if isinstance(bars, pl.DataFrame):
        runs = bars.select(pl.col("ticker").rle()).unnest("ticker")
        stops = np.cumsum(runs["len"].to_numpy().astype(np.int64))
        return {str(t): np.arange(b - n, b) for t, n, b in zip(runs["value"].to_list(), runs["len"].to_list(), stops,
                                                                 strict=True)}
    return bars.groupby("ticker", sort=False).indices


def locate_rows(table: pd.DataFrame, bars: Bars, horizon: int) -> BarPositions:
    n = len(table)
    found = np.zeros(n, dtype=bool)
    label_end = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    forward, past = np.full(n, np.nan), np.full(n, np.nan)
    row_ts = table["ts"].to_numpy("datetime64[ns]")
    if isinstance(bars, pl.DataFrame):
        bar_ts_all = bars["ts"].dt.replace_time_zone(None).dt.cast_time_unit("ns").to_numpy()
        close_all = bars["close"].cast(pl.Float64).to_numpy()
    else:
        bar_ts_all = bars["ts"].to_numpy("datetime64[ns]")
        close_all = bars["close"].to_numpy(dtype="float64")
    bar_groups = _bar_groups(bars)
    for ticker, rows in table.groupby("ticker", sort=False).indices.items():
        members = bar_groups.get(ticker)
        if members is None:
            continue
        members = members[np.argsort(bar_ts_all[members], kind="stable")]
        ts, close = bar_ts_all[members], close_all[members]
        position = np.searchsorted(ts, row_ts[rows])
        inside = position < len(ts)
        hit = np.zeros(len(rows), dtype=bool)
        hit[inside] = ts[position[inside]] == row_ts[rows][inside]
        found[rows] = hit
        exit_, back = position + 1 + horizon, position - horizon
        has_forward = hit & (exit_ < len(ts))
        has_past = hit & (back >= 0)
        label_end[rows[has_forward]] = ts[exit_[has_forward]]
        forward[rows[has_forward]] = close[exit_[has_forward]] / close[position[has_forward] + 1] - 1.0
        past[rows[has_past]] = close[position[has_past]] / close[back[has_past]] - 1.0
    return BarPositions(found, label_end, forward, past)


def _differs(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~(np.abs(expected - actual) <= RECOUNT_ATOL + 1e-9 * np.abs(expected))


Recounter = Callable[[pd.Timedelta], dict[str, np.ndarray]]  # lag -> each sentiment column at every table row


def timestamp_alignment(table: pd.DataFrame, positions: BarPositions, tweets: pd.DataFrame | None,
                        settings: FeatureSettings, recounter: Recounter | None = None) -> CheckResult:
    """`recounter`: the recount of the table's sentiment columns at a lag (default: from `tweets`, all at once);
    steps/leaks/in_turn.py passes one assembled batch by batch."""
    problems, columns = [], []
    off_bar = int((~positions.found).sum())
    if off_bar:
        problems.append(f"{off_bar} rows whose (ticker, ts) is not a bar close in the bars")
        columns.append("ts")
    labelled = ~pd.isna(positions.label_end)
    table_end = table["label_end"].to_numpy("datetime64[ns]")
    wrong_end = int((labelled & (table_end != positions.label_end)).sum())
    if wrong_end:
        problems.append(f"{wrong_end} rows whose label_end is not the close of bar t+1+{settings.label_horizon_bars} "
                        "(the label window must start after t and span the horizon)")
        columns.append("label_end")
    # Every sentiment column, read by its name (weighted sent_*, sent_daily, sent_pos_ratio_*, means, sums,
    # counts), recounted from the raw tweets apart from the feature code (steps/leaks/sentiment_recount.py).
    verifiable = parse_sentiment_columns(list(table.columns))
    lag = pd.Timedelta(seconds=settings.ingest_lag_seconds)
    if recounter is None:
        def recounter(at: pd.Timedelta) -> dict[str, np.ndarray]:
            return recount(table, tweets, verifiable, at)
    if verifiable:
        expected = recounter(lag)
        without_lag: dict[str, np.ndarray] | None = None  # recounted once, on the first disagreement
        for name, values in expected.items():
            actual = table[name].to_numpy(dtype="float64", na_value=np.nan)
            bad = _differs(values, actual)
            if not bad.any():
                continue
            columns.append(name)
            text = f"{name} differs from a recount of tweets created at or before t - {lag.total_seconds():g}s " \
                   f"on {int(bad.sum())} rows"
            if without_lag is None and lag > pd.Timedelta(0):
                without_lag = recounter(pd.Timedelta(0))
            if without_lag is not None and not _differs(without_lag[name][bad], actual[bad]).any():
                text += " (it matches a recount with no ingest lag: tweets counted before created_at + lag)"
            problems.append(text)
    passed = not problems
    details = "; ".join(problems) if problems else (
        f"every row on a bar close, label window = bars t+1..t+1+{settings.label_horizon_bars} after t"
        + (f"; {', '.join(verifiable)} equal a recount of tweets created at or before t - {lag.total_seconds():g}s"
           if verifiable else "; no tweet columns to recount"))
    return CheckResult("timestamp_alignment", passed, details, columns,
                       {"recounted_columns": sorted(verifiable)})
