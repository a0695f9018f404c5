"""labels_match_bars: every row's target (forward_return, label, label_end) recomputed straight from the bars.

Why a check of its own: table_matches_code compares the table with the feature build run again, so a wrong
label rule in the build (a window one bar too long, an entry one bar late, a flipped comparison) agrees with
itself there; label_alignment only holds the label to the table's own forward_return. Here the target comes
from `locate_rows` (timestamp_alignment.py), which finds each row among its ticker's bars and computes
close[t+1+H] / close[t+1] - 1 and the ts of bar t+1+H with none of the feature code, and the documented rule
(docs/data.md "Labels") is applied anew: label = forward_return > dead_zone, and with a dead zone > 0 a row
with |forward_return| <= dead_zone is no training row. A row whose target cannot be recomputed (its bar is
not in the bars, or the bars end before bar t+1+H) fails too: nothing shows its label is right.

Tolerance: forward_return within 1e-9 of the price ratio close[t+1+H] / close[t+1] (relative, the ratio being
what is computed); labels and label_end exactly, except a label whose recomputed return lies within that
tolerance of the dead-zone edge, which may follow the table's own forward_return (either side is right there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from steps.features.settings import FeatureSettings
from steps.leaks.checks.common import CheckResult
from steps.leaks.checks.timestamp_alignment import BarPositions

RATIO_RTOL = 1e-9  # relative to close[t+1+H] / close[t+1]: the same division and subtraction, in float64
EXAMPLES = 3  # first differing rows named per kind of difference


def _near(value: np.ndarray, edge: np.ndarray | float, ratio: np.ndarray) -> np.ndarray:
    """`value` within the tolerance of `edge` (NaN: never)."""
    with np.errstate(invalid="ignore"):
        return np.abs(value - edge) <= RATIO_RTOL * np.abs(ratio)


def _instant(value: object) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M") if not pd.isna(value) else "none"


def _number(value: float) -> str:
    return "none" if np.isnan(value) else f"{value:.10g}"


class _Findings:
    """Per kind of difference: the count and the first rows (ticker, ts, table value vs recomputed)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.problems: list[str] = []
        self.columns: list[str] = []
        self.counts: dict[str, int] = {}

    def add(self, kind: str, column: str, bad: np.ndarray, text: str, shown_table: np.ndarray | None = None,
            shown_bars: np.ndarray | None = None, show: Callable[[Any], str] = _number) -> None:
        rows = np.flatnonzero(bad)
        self.counts[kind] = len(rows)
        if not len(rows):
            return
        examples = []
        for row in rows[:EXAMPLES]:
            where = f"{self.table['ticker'].iat[row]} at {_instant(self.table['ts'].iat[row])}"
            if shown_table is not None and shown_bars is not None:
                where += f": table {show(shown_table[row])} vs bars {show(shown_bars[row])}"
            examples.append(where)
        self.problems.append(f"{text} on {len(rows)} rows (first: {'; '.join(examples)})")
        if column not in self.columns:
            self.columns.append(column)


def labels_match_bars(table: pd.DataFrame, positions: BarPositions, settings: FeatureSettings) -> CheckResult:
    """The table's targets against the bars (`positions`, from locate_rows with the configured horizon), on
    every row; the rows are the table's, in its order (the first rows named are the earliest)."""
    horizon, dead_zone = settings.label_horizon_bars, settings.label_dead_zone
    found = _Findings(table)
    expected_return = positions.forward_return
    expected_end = positions.label_end
    recomputable = positions.found & ~np.isnat(expected_end) & ~np.isnan(expected_return)
    ratio = 1.0 + expected_return

    found.add("not_on_a_bar", "label", ~positions.found,
              "label cannot be recomputed: the row's (ticker, ts) is not a bar close in the bars")
    table_end = table["label_end"].to_numpy("datetime64[ns]")
    found.add("beyond_the_bars", "label", positions.found & ~recomputable,
              f"label cannot be recomputed: the bars end before bar t+1+{horizon}", table_end, expected_end,
              show=_instant)

    has_return = "forward_return" in table.columns
    if has_return:
        table_return = table["forward_return"].to_numpy(dtype="float64", na_value=np.nan)
        return_ok = _near(table_return, expected_return, ratio)
        found.add("forward_return", "forward_return", recomputable & ~return_ok,
                  f"forward_return differs from close[t+1+{horizon}] / close[t+1] - 1", table_return,
                  expected_return)
    else:
        table_return, return_ok = np.full(len(table), np.nan), np.zeros(len(table), dtype=bool)

    table_label = table["label"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        expected_label = (expected_return > dead_zone).astype("float64")
        own_label = (table_return > dead_zone).astype("float64")
    # At the edge, within the tolerance, either label is right if the table's forward_return agrees and says so.
    at_edge = _near(expected_return, dead_zone, ratio) & return_ok & (table_label == own_label)
    found.add("label", "label", recomputable & (table_label != expected_label) & ~at_edge,
              f"label differs from (forward_return from the bars > {dead_zone:g})", table_label, expected_label,
              show=lambda v: "none" if np.isnan(v) else str(int(v)))

    if dead_zone > 0:
        with np.errstate(invalid="ignore"):
            inside = np.abs(expected_return) <= dead_zone
        edge = _near(np.abs(expected_return), dead_zone, ratio)
        found.add("dead_zone", "label", recomputable & inside & ~edge,
                  f"rows kept with |forward_return from the bars| <= the dead zone {dead_zone:g} (no training rows)",
                  table_return, expected_return)

    found.add("label_end", "label_end", recomputable & (table_end != expected_end),
              f"label_end differs from the ts of bar t+1+{horizon}", table_end, expected_end, show=_instant)

    compared = int(recomputable.sum())
    passed = not found.problems
    if passed:
        details = (f"{compared} of {len(table)} rows: "
                   + (f"forward_return = close[t+1+{horizon}] / close[t+1] - 1 (within {RATIO_RTOL:g} of the "
                      "ratio), " if has_return else "no forward_return column; ")
                   + f"label = forward_return > {dead_zone:g}"
                   + (" with no row inside the dead zone" if dead_zone > 0 else "")
                   + f", label_end = ts of bar t+1+{horizon}, all recomputed from the bars")
    else:
        details = "the table's targets disagree with the bars: " + "; ".join(found.problems)
    return CheckResult("labels_match_bars", passed, details, found.columns,
                       {"rows": len(table), "rows_compared": compared, "differences": found.counts,
                        "forward_return_compared": has_return})
