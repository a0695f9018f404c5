"""Replay parity: the history replayed through the live engine must give the batch table, row for row.

Why it matters twice: it is the train/serve parity proof (the live rows are the training rows), and, since
the engine can only see what has arrived, it is a causality proof of the batch build on every row (a batch
formula that reads one bar ahead disagrees with the engine exactly on the rows it reads ahead for). The
leak gate may run it as an extra check (`replay_parity`); it keeps its own independent replay as well.

Tolerance: every value equal, or within REL_TOL relative (NaN equals NaN). The engine runs the batch's own
functions on the same inputs, so values are expected bit for bit; the tolerance only absorbs a summation
order that a library may choose differently for a group of one time (the cross-sectional means).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from steps.features.build import build_features
from steps.features.catalogue import feature_columns
from steps.features.engine import FeatureEngine, RowBlock, arrival_batches, rows_frame
from steps.features.settings import FeatureSettings

REL_TOL = 1e-12


class ParityError(Exception):
    """The engine's rows differ from the batch table; the message names feature, ticker and time."""


@dataclass(frozen=True)
class Mismatch:
    feature: str
    ticker: str
    ts: pd.Timestamp
    batch: float
    live: float

    def __str__(self) -> str:
        return f"{self.feature} of {self.ticker} at {self.ts.isoformat()}: batch {self.batch!r}, live {self.live!r}"


def replay_features(bars: pd.DataFrame | pl.DataFrame, tweets: pd.DataFrame | None, settings: FeatureSettings,
                    sectors: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every decision row of the history, computed by the live engine from bars and tweets in arrival order
    (engine.arrival_batches), sorted by (ts, ticker)."""
    settings = settings.with_bars(bars.columns)
    return replay_stream(arrival_batches(bars, tweets, settings), history_tickers(bars), settings, sectors)


def history_tickers(bars: pd.DataFrame | pl.DataFrame) -> list[str]:
    """The tickers of a recorded history, in order of first appearance (the engine's expected tickers)."""
    return (bars["ticker"].unique(maintain_order=True).to_list() if isinstance(bars, pl.DataFrame)
            else pd.unique(bars["ticker"].to_numpy()).tolist())  # not np.asarray: millions of str objects


def replay_stream(stream: Iterable[tuple[str, pd.DataFrame | pl.DataFrame]], tickers: list[str],
                  settings: FeatureSettings, sectors: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every decision row the engine emits for an arrival-ordered stream of ("bars" | "tweets", frame) pairs
    (arrival_batches' output: what a live feed delivers already in order), sorted by (ts, ticker). Separate from
    replay_features so that the benchmark can time putting a recorded history in arrival order apart from the
    engine's own work. `settings` must already carry the bars' absent inputs (FeatureSettings.with_bars)."""
    engine = FeatureEngine(settings, sectors, expected=tickers)
    out: list[RowBlock] = []
    for kind, batch in stream:
        out += engine.tweets_rows(batch) if kind == "tweets" else engine.bars_rows(batch)  # type: ignore[arg-type]
    out += engine.flush_rows()
    columns = ["ticker", "ts", *(["sector"] if sectors is not None else []), *feature_columns(settings)]
    if not out:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    frame = rows_frame(out, engine.columns, sectors is not None)  # one block, not a frame per decision time
    return frame.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)


def mismatches(batch: pd.DataFrame, live: pd.DataFrame, columns: list[str], rel_tol: float = REL_TOL,
               limit: int = 20) -> tuple[list[Mismatch], int]:
    """Up to `limit` differing values (in (ts, ticker, column) order) and how many there are in all; a row
    present on one side only counts as a difference in every column ("missing")."""
    keys = ["ticker", "ts"]
    joined = batch[[*keys, *columns]].merge(live[[*keys, *columns]], on=keys, how="outer",
                                            suffixes=("_batch", "_live"), indicator=True)
    joined = joined.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)
    found: list[Mismatch] = []
    total = 0
    bad_rows = np.zeros(len(joined), bool)
    per_column: dict[str, np.ndarray] = {}
    for column in columns:
        b = joined[f"{column}_batch"].to_numpy(dtype="float64", na_value=np.nan)
        v = joined[f"{column}_live"].to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            close = ((b == v) | (np.isnan(b) & np.isnan(v))
                     | (np.abs(b - v) <= rel_tol * np.maximum(np.abs(b), np.abs(v))))
        bad = ~close | (joined["_merge"] != "both").to_numpy()
        per_column[column] = bad
        bad_rows |= bad
        total += int(bad.sum())
    for row in np.flatnonzero(bad_rows):
        for column in columns:
            if per_column[column][row] and len(found) < limit:
                values = (float(joined.at[row, f"{column}_{side}"]) for side in ("batch", "live"))
                found.append(Mismatch(column, str(joined.at[row, "ticker"]), pd.Timestamp(joined.at[row, "ts"]),
                                      *values))
        if len(found) >= limit:
            break
    return found, total


def replay_parity(bars: pd.DataFrame | pl.DataFrame, tweets: pd.DataFrame | None, settings: FeatureSettings,
                  sectors: Mapping[str, str] | None = None, batch: pd.DataFrame | None = None) -> int:
    """Raise ParityError unless the engine's replay reproduces the batch build on every decision row (the
    unlabelled last rows included); return the number of rows compared. `batch`: a table already built with
    keep_unlabelled=True (else it is built here)."""
    settings = settings.with_bars(bars.columns)
    if batch is None:
        batch = build_features(bars, tweets, settings, sectors=sectors, keep_unlabelled=True)
    live = replay_features(bars, tweets, settings, sectors)
    found, total = mismatches(batch, live, feature_columns(settings))
    if total:
        raise ParityError(f"live replay differs from the batch build in {total} values; first: {found[0]}"
                          " (a batch feature that reads data the engine had not yet seen, or a late input)")
    return len(batch)
