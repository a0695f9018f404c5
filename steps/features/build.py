"""`build_features(bars, tweets, settings)`: the decision-row table with features and labels.

Order of work, and why:
1. technical features per ticker on every bar (windows need the bars between decision rows), as one
   polars lazy plan over the ticker key (bar_features.py);
2. labels on every bar: `forward_return = close[t+1+H] / close[t+1] - 1` within the ticker (entry one
   bar after the decision, Qlib-style), `label_end = ts[t+1+H]`;
3. decision rows: one every `sample_every_bars` bars by the clock (minute of the New York day for
   1-minute bars, session number for daily bars), so every ticker is sampled at the same instants and a
   truncated input keeps the same rows;
4. market- and sector-relative returns across the tickers at each decision instant (before any row is
   dropped for want of a label, so that a row's value never depends on whether a later bar exists);
5. sentiment at the decision rows (sentiment.py);
6. `label = forward_return > dead_zone`; rows without a full label window are dropped (kept with empty
   labels when `keep_unlabelled`, which steps.leaks uses to compare features up to the very last bar),
   and with a dead zone > 0 rows with |forward_return| <= dead_zone are dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import polars as pl

from steps.features.bar_features import (
    TickerLayout,
    add_relative_returns,
    indicators,
    session_columns,
    session_features,
    trailing_returns,
)
from steps.features.catalogue import bar_feature_names, feature_columns
from steps.features.kernels import ticker_groups
from steps.features.sentiment import sentiment_features
from steps.features.settings import FeatureSettings

UNKNOWN_SECTOR = "Unknown"
FEATURE_THREADS = max(1, min(8, os.cpu_count() or 1))


def as_polars_bars(bars: pd.DataFrame | pl.DataFrame, sort: bool = True) -> pl.DataFrame:
    """The bar columns as a polars frame with ts as Datetime(ns, UTC), sorted by (ticker, ts); the optional
    columns the bars lack are left out (settings.with_bars records them as absent). `sort=False`: in the
    input's order (the live engine orders each delivery itself, on arrays)."""
    columns = [c for c in ("ticker", "ts", "open", "high", "low", "close", "volume") if c in bars.columns]
    frame = bars.select(columns) if isinstance(bars, pl.DataFrame) else pl.from_pandas(bars[columns])
    if frame.schema["ts"] == pl.Datetime("ns", "UTC") and frame.schema["ticker"] == pl.String:
        return frame if not sort or _sorted_by_ticker_ts(frame) else frame.sort(["ticker", "ts"], maintain_order=True)
    ts = pl.col("ts").dt.cast_time_unit("ns")
    zone = frame.schema["ts"].time_zone  # type: ignore[union-attr]
    frame = frame.with_columns(ts.dt.replace_time_zone("UTC") if zone is None else ts.dt.convert_time_zone("UTC"),
                               pl.col("ticker").cast(pl.String))
    if sort and not _sorted_by_ticker_ts(frame):
        frame = frame.sort(["ticker", "ts"], maintain_order=True)
    return frame


def _sorted_by_ticker_ts(frame: pl.DataFrame) -> bool:
    ticker = frame["ticker"]
    if not ticker.is_sorted():
        return False
    ts = frame["ts"].to_physical().to_numpy()
    same = ticker.rle_id().to_numpy()
    return bool(np.all((ts[1:] > ts[:-1]) | (same[1:] != same[:-1])))


def _slice_features(arrays: dict[str, np.ndarray], session: np.ndarray, ticker_id: np.ndarray, at: np.ndarray,
                    settings: FeatureSettings) -> dict[str, np.ndarray]:
    """Every bar feature and the label at rows `at` of a slice of whole tickers (sorted by ticker, ts)."""
    layout = TickerLayout(ticker_id)
    log_close = np.log(arrays["close"])
    columns = trailing_returns(log_close, layout.pos, at, settings.windows)
    windows = [(str(w), w) for w in settings.windows]
    rsi_windows = windows + ([] if settings.rsi_period in settings.windows
                             else [(str(settings.rsi_period), settings.rsi_period)])
    columns.update(indicators(arrays, layout, at, windows, rsi_windows))
    columns.update(session_features(layout, session, arrays, at, settings))
    # Label: entry one bar after t, exit H bars after the entry, within the ticker.
    horizon = settings.label_horizon_bars
    ticker_stop = np.repeat(layout.stops, layout.stops - layout.starts)[at]
    has_label = at + 1 + horizon < ticker_stop
    last = len(arrays["close"]) - 1
    entry, exit_ = np.minimum(at + 1, last), np.minimum(at + 1 + horizon, last)
    close = arrays["close"]
    columns["forward_return"] = np.where(has_label, close[exit_] / close[entry] - 1.0, np.nan)
    columns["label_end"] = np.where(has_label, arrays["ts"][exit_], np.int64(-1))
    return columns


def _input_array(frame: pl.DataFrame, column: str) -> np.ndarray:
    """A bar column as float64, or its stand-in when the bars lack it: close for open/high/low, 1 for volume.
    Only features that never read the stand-in are kept (the families' needs, catalogue.py)."""
    if column in frame.columns:
        return frame[column].cast(pl.Float64).to_numpy()
    if column == "volume":
        return np.ones(frame.height)
    return frame["close"].cast(pl.Float64).to_numpy()


def _chunks(ticker_id: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Contiguous row ranges of whole tickers, about equal in rows (the kernels' own grouping, in rows)."""
    layout = TickerLayout(ticker_id)
    return [(int(layout.starts[first]), int(layout.stops[last - 1]))
            for first, last in ticker_groups(layout.starts, layout.stops, parts)]


def is_decision(clock: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Which bars are decision rows, by the clock: the minute of the New York day (1-minute bars) or the
    session's number in the data (daily bars), every `sample_every_bars`; the same instants for every ticker."""
    return (clock % settings.sample_every_bars) == 0


def relative_returns(rows: pl.DataFrame, settings: FeatureSettings, sectors: Mapping[str, str] | None
                     ) -> pl.DataFrame:
    """`rows` (ticker, ts, ret_w) with the market- and sector-relative returns across the rows of each ts
    (bar_features.add_relative_returns); NaN returns count as missing. The live engine passes one ts."""
    sector_map = dict(sectors) if sectors is not None else {}
    rows = rows.with_columns(pl.col("ticker").replace_strict(sector_map, default=UNKNOWN_SECTOR,
                                                             return_dtype=pl.String).alias("_sector"),
                             *(pl.col(f"ret_{w}").fill_nan(None) for w in settings.windows))
    return add_relative_returns(rows, settings)


def decision_rows(bars: pd.DataFrame | pl.DataFrame, settings: FeatureSettings,
                  sectors: Mapping[str, str] | None = None, threads: int | None = None) -> pd.DataFrame:
    """Bar features, forward return and label_end at the decision rows (sorted by ticker, ts).

    Tickers are independent, so contiguous groups of whole tickers run on threads (numpy and polars
    release the GIL), four groups a thread to bound the temporaries; the result does not depend on the grouping.
    """
    frame = as_polars_bars(bars)
    settings = settings.with_bars(frame.columns)
    arrays = {column: _input_array(frame, column) for column in ("open", "high", "low", "close", "volume")}
    arrays["ts"] = frame["ts"].to_physical().to_numpy()
    ticker_id = frame["ticker"].rle_id().to_numpy()
    session, minute_of_day = session_columns(arrays["ts"])
    if settings.frequency == "1min":
        at = np.flatnonzero(is_decision(minute_of_day, settings))
    else:
        _, session_index = np.unique(session, return_inverse=True)
        at = np.flatnonzero(is_decision(session_index, settings))

    def run(bounds: tuple[int, int]) -> dict[str, np.ndarray]:
        a, b = bounds
        local = at[(at >= a) & (at < b)] - a
        return _slice_features({k: v[a:b] for k, v in arrays.items()}, session[a:b], ticker_id[a:b], local, settings)

    threads = threads or FEATURE_THREADS
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pieces = list(pool.map(run, _chunks(ticker_id, 4 * threads)))
    names = ["ticker", "ts", *bar_feature_names(settings), "forward_return", "label_end"]
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in names})
    columns = {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}
    label_end = pl.Series("label_end", columns.pop("label_end")).cast(pl.Datetime("ns", "UTC"))
    rows = pl.DataFrame({"ticker": frame["ticker"].gather(at), "ts": frame["ts"].gather(at), **columns})
    rows = rows.with_columns(pl.when(pl.col("forward_return").is_nan()).then(None).otherwise(label_end)
                             .alias("label_end"))
    out = relative_returns(rows, settings, sectors).select(names).to_pandas()
    for column in ("ts", "label_end"):
        out[column] = out[column].astype("datetime64[ns, UTC]")
    return out


def build_features(
    bars: pd.DataFrame | pl.DataFrame,
    tweets: pd.DataFrame | None,
    settings: FeatureSettings,
    *,
    sectors: Mapping[str, str] | None = None,
    keep_unlabelled: bool = False,
    threads: int | None = None,
) -> pd.DataFrame:
    """Features and labels at the decision rows, sorted by (ts, ticker). Inputs must be validated.

    `threads`: ticker groups computed concurrently (default: the machine's cores, up to 8); the values do
    not depend on it. steps.leaks builds its truncated copies on one thread beside its full recomputation.
    Bars without open/high/low/volume give a table without the features that need them (FeatureSettings.with_bars)."""
    settings = settings.with_bars(bars.columns)
    frame = decision_rows(bars, settings, sectors, threads)
    if settings.include_sentiment:
        sentiment = sentiment_features(frame[["ticker", "ts"]], tweets if tweets is not None else pd.DataFrame(),
                                       settings)
        frame = pd.concat([frame, sentiment], axis=1)

    forward = frame["forward_return"].to_numpy(dtype="float64", na_value=np.nan)
    labelled = ~np.isnan(forward)
    dead_zone = settings.label_dead_zone
    label = np.where(forward > dead_zone, 1.0, 0.0)
    label[~labelled] = np.nan
    if dead_zone > 0:
        label[labelled & (np.abs(forward) <= dead_zone)] = np.nan
    frame["label"] = label
    if not keep_unlabelled:
        frame = frame[~np.isnan(label)].copy()
        frame["label"] = frame["label"].astype("int64")

    columns = ["ticker", "ts"]
    if sectors is not None:
        frame["sector"] = frame["ticker"].map(dict(sectors)).fillna(UNKNOWN_SECTOR).astype(str)
        columns.append("sector")
    columns += [*feature_columns(settings), "label", "forward_return", "label_end"]
    frame = frame[columns].sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
    return frame
