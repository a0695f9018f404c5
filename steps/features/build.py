"""`build_features(bars, tweets, settings)`: the decision-row table with features and labels.

Order of work, and why:
1. technical features per ticker on every bar (windows need the bars between decision rows);
2. decision rows: one every `sample_every_bars` bars by the clock (minute of the New York day for
   1-minute bars, session number for daily bars), so every ticker is sampled at the same instants and a
   truncated input keeps the same rows;
3. market-relative returns across the tickers at each decision instant (before any row is dropped for
   want of a label, so that a row's value never depends on whether a later bar exists);
4. sentiment at the decision rows;
5. labels: `forward_return = close[t+1+H] / close[t+1] - 1` within the ticker (entry one bar after the
   decision, Qlib-style), `label = forward_return > dead_zone`, `label_end = ts[t+1+H]`; rows without a
   full label window are dropped (kept with empty labels when `keep_unlabelled`, which steps.leaks uses
   to compare features up to the very last bar), and with a dead zone > 0 rows with
   |forward_return| <= dead_zone are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from steps.common.folds import MARKET_TZ
from steps.features.bar_features import add_market_relative, bar_feature_names, ticker_bar_features
from steps.features.sentiment import sentiment_feature_names, sentiment_features
from steps.features.settings import FeatureSettings


def feature_columns(settings: FeatureSettings) -> list[str]:
    names = bar_feature_names(settings)
    if settings.include_sentiment:
        names += sentiment_feature_names(settings)
    return names


def _session_numbers(ts: pd.Series) -> np.ndarray:
    local = pd.DatetimeIndex(ts).tz_convert(MARKET_TZ)
    return (local.year * 10000 + local.month * 100 + local.day).to_numpy()


def _decision_mask(bars: pd.DataFrame, sessions: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    every = settings.sample_every_bars
    if settings.frequency == "1min":
        local = pd.DatetimeIndex(bars["ts"]).tz_convert(MARKET_TZ)
        minute_of_day = (local.hour * 60 + local.minute).to_numpy()
        return (minute_of_day % every) == 0
    if every == 1:
        return np.ones(len(bars), dtype=bool)
    _, session_index = np.unique(sessions, return_inverse=True)
    return (session_index % every) == 0


def build_features(
    bars: pd.DataFrame,
    tweets: pd.DataFrame | None,
    settings: FeatureSettings,
    *,
    sectors: Mapping[str, str] | None = None,
    keep_unlabelled: bool = False,
) -> pd.DataFrame:
    """Features and labels at the decision rows, sorted by (ts, ticker). Inputs must be validated."""
    bars = bars.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
    sessions = _session_numbers(bars["ts"])
    decision = _decision_mask(bars, sessions, settings)
    horizon = settings.label_horizon_bars
    pieces = []
    for _ticker, index in bars.groupby("ticker", sort=False).indices.items():
        start, stop = int(index[0]), int(index[-1]) + 1
        chunk = bars.iloc[start:stop]
        features = ticker_bar_features(chunk, sessions[start:stop], settings)
        keep = np.flatnonzero(decision[start:stop])
        piece = pd.DataFrame({name: values[keep] for name, values in features.items()})
        close = chunk["close"].to_numpy()
        ts = chunk["ts"].to_numpy("datetime64[ns]")
        entry, exit_ = keep + 1, keep + 1 + horizon
        has_label = exit_ < len(chunk)
        forward = np.full(len(keep), np.nan)
        label_end = np.full(len(keep), np.datetime64("NaT"), dtype="datetime64[ns]")
        forward[has_label] = close[exit_[has_label]] / close[entry[has_label]] - 1.0
        label_end[has_label] = ts[exit_[has_label]]
        piece.insert(0, "ts", ts[keep])
        piece.insert(0, "ticker", chunk["ticker"].to_numpy()[keep])
        piece["forward_return"] = forward
        piece["label_end"] = label_end
        pieces.append(piece)
    frame = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
    frame["ts"] = pd.DatetimeIndex(frame["ts"]).tz_localize("UTC") if frame["ts"].dt.tz is None else frame["ts"]
    frame["label_end"] = pd.DatetimeIndex(frame["label_end"]).tz_localize("UTC")
    frame = add_market_relative(frame, settings)
    if settings.include_sentiment:
        sentiment = sentiment_features(frame[["ticker", "ts"]], tweets if tweets is not None else pd.DataFrame(),
                                       settings)
        frame = pd.concat([frame, sentiment], axis=1)

    forward = frame["forward_return"].to_numpy()
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
        frame["sector"] = frame["ticker"].map(dict(sectors)).fillna("Unknown").astype(str)
        columns.append("sector")
    columns += [*feature_columns(settings), "label", "forward_return", "label_end"]
    frame = frame[columns].sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
    return frame
