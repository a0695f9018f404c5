"""UTC nanoseconds of a timestamp column: how the leak checks compare instants (one definition, three users).

Why integers: comparing int64 nanoseconds is exact and fast, where text or Timestamp objects would take seconds
per column; tz-aware columns are converted to UTC first, naive ones are taken as UTC (NaT is int64's minimum)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def instants(values: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """UTC nanoseconds (int64) of a tz-aware (or naive UTC) timestamp column."""
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").asi8
