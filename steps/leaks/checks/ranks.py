"""Rank statistics shared by the target-leakage and past/future asymmetry screens (Spearman on ranks)."""

from __future__ import annotations

import numpy as np
import polars as pl


def ranks(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Average ranks (1-based, ties averaged) of each column's non-NaN values; NaN stays NaN. One polars
    select ranks every column on all cores (numpy would sort them one at a time)."""
    frame = pl.DataFrame({name: pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)
                          for name, values in columns.items()})
    ranked = frame.select(pl.all().rank("average").cast(pl.Float64))
    return {name: ranked[name].to_numpy() for name in columns}


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's correlation of two rank columns on their pairwise complete rows (Spearman's, given ranks);
    NaN below 50 such rows (too few to screen on), 0 when either is constant there."""
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 50:
        return float("nan")
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    scale = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / scale) if scale > 0 else 0.0
