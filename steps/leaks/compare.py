"""Column-by-column comparison of two aligned tables with a relative tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from steps.leaks.instants import instants

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
    if pd.api.types.is_datetime64_any_dtype(left.dtype) and pd.api.types.is_datetime64_any_dtype(right.dtype):
        # Instants compared as UTC nanoseconds (NaT equals NaT); text conversion would take seconds per column.
        return instants(left) != instants(right)
    a_na, b_na = left.isna().to_numpy(), right.isna().to_numpy()
    equal = (left.astype(str).to_numpy() == right.astype(str).to_numpy()) & ~a_na & ~b_na
    return ~(equal | (a_na & b_na))


def compare_frames(expected: pd.DataFrame, actual: pd.DataFrame, columns: list[str],
                   keys: tuple[str, ...] = ("ticker", "ts")) -> dict[str, dict[str, object]]:
    """For each column, how many rows differ between `expected` and `actual` joined on `keys`, and one example."""
    if _same_keys(expected, actual, keys):
        # Fast path: the usual case (same rows in the same order) compares the columns in place, no join.
        left, right = expected.reset_index(drop=True), actual.reset_index(drop=True)
        pairs = {column: (left[column], right[column]) for column in columns}
        where = left
    else:
        joined = expected[[*keys, *columns]].merge(actual[[*keys, *columns]], on=list(keys), how="inner",
                                                   suffixes=("_expected", "_actual"))
        pairs = {column: (joined[f"{column}_expected"], joined[f"{column}_actual"]) for column in columns}
        where = joined
    problems: dict[str, dict[str, object]] = {}
    for column, (want, got) in pairs.items():
        bad = mismatched_rows(want, got)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            problems[column] = {
                "rows": int(bad.sum()),
                "example": {"ticker": str(where[keys[0]].iloc[first]), "ts": str(where[keys[1]].iloc[first]),
                            "expected": _plain(want.iloc[first]), "actual": _plain(got.iloc[first])},
            }
    return problems


def _same_keys(expected: pd.DataFrame, actual: pd.DataFrame, keys: tuple[str, ...]) -> bool:
    if len(expected) != len(actual):
        return False
    for key in keys:
        left, right = expected[key], actual[key]
        if pd.api.types.is_datetime64_any_dtype(left.dtype):
            if not pd.api.types.is_datetime64_any_dtype(right.dtype) or \
                    not np.array_equal(instants(left), instants(right)):
                return False
        elif not np.array_equal(left.to_numpy(), right.to_numpy()):
            return False
    return True


def _plain(value: object) -> object:
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return str(value)
