"""Close-to-close jumps the size of a stock split: the sign of unadjusted prices.

An unadjusted 2-for-1 split halves the close overnight; every return, volatility and label across it is then
wrong, and nothing downstream can tell a split from a crash. A move is split-like when it is large (the
close changes by more than a quarter) and within 3 % of a common split ratio (3:2, 2, 3, 4, 5, 8, 10, 20,
or their reverse). Real one-day moves that size are rare on daily closes (the S&P 500's worst day since
1950, 1987-10-19, was x0.796, outside both bounds), so a hit is worth a warning, not a refusal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLIT_RATIOS = (1.5, 2.0, 3.0, 4.0, 5.0, 8.0, 10.0, 20.0)
TOLERANCE = 0.03
LARGE_MOVE = 0.25


def split_like_jumps(bars: pd.DataFrame) -> dict[str, list[dict[str, object]]]:
    """ticker -> [{date, ratio}] for each split-sized close-to-close jump (bars sorted by ticker, ts)."""
    found: dict[str, list[dict[str, object]]] = {}
    candidates = np.array([*SPLIT_RATIOS, *(1 / r for r in SPLIT_RATIOS)])
    for ticker, group in bars.groupby("ticker", sort=True):
        close = group["close"].to_numpy(dtype="float64")
        if len(close) < 2:
            continue
        ratio = close[1:] / close[:-1]
        large = (ratio < 1 - LARGE_MOVE) | (ratio > 1 / (1 - LARGE_MOVE))
        near = (np.abs(ratio[:, None] / candidates[None, :] - 1) <= TOLERANCE).any(axis=1)
        hits = np.flatnonzero(large & near)
        if len(hits):
            dates = group["ts"].iloc[hits + 1].dt.tz_convert("America/New_York").dt.date
            found[str(ticker)] = [{"date": str(d), "ratio": round(float(ratio[i]), 4)}
                                  for d, i in zip(dates, hits, strict=True)]
    return found
