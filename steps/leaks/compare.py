"""Column-by-column comparison of two aligned tables with a relative tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd

RTOL = 1e-9
ATOL = 1e-12


def mismatched_rows(left: pd.Series, right: pd.Series) -> np.ndarray:
    """Boolean mask of rows where the two aligned columns differ (NaN equals NaN)."""
    if pd.api.types.is_numeric_dtype(left.dtype) and pd.api.types.is_numeric_dtype(right.dtype):
        a = left.to_numpy(dtype="float64", na_value=np.nan)
        b = right.to_numpy(dtype="float64", na_value=np.nan)
        both_nan = np.isnan(a) & np.isnan(b)
        with np.errstate(invalid="ignore"):
            close = np.abs(a - b) <= RTOL * np.maximum(np.abs(a), np.abs(b)) + ATOL
        return ~(both_nan | close)
    a_na, b_na = left.isna().to_numpy(), right.isna().to_numpy()
    equal = (left.astype(str).to_numpy() == right.astype(str).to_numpy()) & ~a_na & ~b_na
    return ~(equal | (a_na & b_na))


def compare_frames(expected: pd.DataFrame, actual: pd.DataFrame, columns: list[str],
                   keys: tuple[str, ...] = ("ticker", "ts")) -> dict[str, dict[str, object]]:
    """For each column, how many rows differ between `expected` and `actual` joined on `keys`, and one example."""
    joined = expected[[*keys, *columns]].merge(actual[[*keys, *columns]], on=list(keys), how="inner",
                                               suffixes=("_expected", "_actual"))
    problems: dict[str, dict[str, object]] = {}
    for column in columns:
        bad = mismatched_rows(joined[f"{column}_expected"], joined[f"{column}_actual"])
        if bad.any():
            first = joined[bad].iloc[0]
            problems[column] = {
                "rows": int(bad.sum()),
                "example": {"ticker": str(first[keys[0]]), "ts": str(first[keys[1]]),
                            "expected": _plain(first[f"{column}_expected"]),
                            "actual": _plain(first[f"{column}_actual"])},
            }
    return problems


def _plain(value: object) -> object:
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return str(value)
