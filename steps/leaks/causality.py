"""The `causality` check: every decision row of every ticker, holdout included, depends only on the past.

The argument (docs/leaks.md, "Why causality is a proof"):
1. steps.leaks.replay recomputes every decision row with an engine fed the bars in time order (it reads
   bar i, and only bar i, when it reaches it, and writes the row at i from what it has been given), the
   tweets windowed at created_at <= t - lag (steps.leaks.sentiment_recount), and cross-sectional means
   over replayed rows of the same instant. A replayed value at t is therefore a function of the data
   available at t, whatever the engine computes.
2. This check compares every feature column of every table row with the replayed row of the same (ticker,
   ts). A row is *verified causal* when every column agrees (relative 1e-9; sentiment sums 1e-9 absolute,
   as the recount in timestamp_alignment): its values are then those of a computation that had only the
   past. The report counts them: "rows verified causal: N of N".
3. The feature code (`build`, injectable) is held to the replay on every decision row it makes, labelled
   or not: a look-ahead in the code, however short the period it is active in, shows on exactly those rows.
A column the replay does not make cannot be shown causal: it is *unverifiable*, and no row holding it
counts as verified (the check fails, and says "unverifiable", not "leak").
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from steps.features.settings import NON_FEATURE_COLUMNS
from steps.leaks.checks.common import CheckResult
from steps.leaks.instants import instants
from steps.leaks.replay import Replay
from steps.leaks.sentiment_recount import is_sentiment_name

RTOL = 1e-9
ATOL = 1e-12
SENTIMENT_ATOL = 1e-9  # sums of up to a day of scores in [-1, 1], summed in another order than the feature code


def locate(rows: pd.DataFrame, replay: Replay) -> np.ndarray:
    """The replayed row of each (ticker, ts) of `rows`, -1 where the replay has none."""
    position = np.full(len(rows), -1, dtype=np.int64)
    ts = instants(rows["ts"])
    for ticker, members in rows.groupby(rows["ticker"].astype(str), sort=False).indices.items():
        block = replay.slices.get(ticker)
        if block is None:
            continue
        keys = replay.ts_ns[block]
        at = np.searchsorted(keys, ts[members])
        hit = at < len(keys)
        hit[hit] = keys[at[hit]] == ts[members][hit]
        position[members[hit]] = block.start + at[hit]
    return position


@numba.njit(nogil=True, cache=True)
def _mismatches(replayed, position, actual, atol, out):
    """out[r]: row r's value differs from the replayed row position[r] beyond the tolerance (NaN equals NaN,
    a row with no replayed row is left False: counted apart). One pass, no temporaries."""
    for r in range(len(actual)):
        p = position[r]
        if p < 0:
            out[r] = False
            continue
        e, a = replayed[p], actual[r]
        if e == a or (np.isnan(e) and np.isnan(a)):
            out[r] = False
        else:  # a NaN against a number, or inf against anything else, fails the comparison below
            out[r] = not abs(e - a) <= RTOL * max(abs(e), abs(a)) + atol


def _disagreements(rows: pd.DataFrame, position: np.ndarray, replay: Replay, columns: list[str]
                   ) -> dict[str, np.ndarray]:
    found = position >= 0
    bad = {}
    for column in columns:
        if not pd.api.types.is_numeric_dtype(rows[column].dtype):  # every replayed feature is a number
            bad[column] = found.copy()
            continue
        values = rows[column].to_numpy()  # a view of the frame's block where it is float64 already: no copy
        if values.dtype != np.float64:
            values = rows[column].to_numpy(dtype="float64", na_value=np.nan)
        mask = np.empty(len(rows), dtype=bool)
        _mismatches(replay.columns[column], position, values, SENTIMENT_ATOL if is_sentiment_name(column) else ATOL,
                    mask)
        if mask.any():
            bad[column] = mask
    return bad


@dataclass
class Disagreement:
    """One column's disagreements with the replay on some rows: merged across ticker batches (in_turn.py)."""

    rows: int
    ts_min: np.datetime64
    ts_max: np.datetime64
    first: tuple  # where the first row comes in its frame's order: (table row,) or (ts, ticker) of the code
    ticker: str
    ts: object
    value: object
    replayed: object

    def merged(self, other: Disagreement | None) -> Disagreement:
        if other is None:
            return self
        first = self if self.first <= other.first else other
        return Disagreement(self.rows + other.rows, min(self.ts_min, other.ts_min), max(self.ts_max, other.ts_max),
                            first.first, first.ticker, first.ts, first.value, first.replayed)

    def text(self, column: str, what: str) -> str:
        """`<column> differs from the causal replay on N rows from <first ts> to <last ts> (first: ...)`."""
        return (f"{column} differs from the causal replay on {self.rows} rows from {_instant(self.ts_min)} to "
                f"{_instant(self.ts_max)} (first: {self.ticker} at {_instant(self.ts)}, {what} {_shown(self.value)}, "
                f"replay {_shown(self.replayed)})")


def _summarise(rows: pd.DataFrame, position: np.ndarray, replay: Replay, column: str, mask: np.ndarray,
               row_ids: np.ndarray | None) -> Disagreement:
    """The masked rows of `column`: how many, their span and the first of them (table: by `row_ids`, the rows'
    places in the whole table; code: by (ts, ticker), the order the feature code writes)."""
    ts = rows["ts"].to_numpy()[mask]
    first = int(np.flatnonzero(mask)[0])
    ticker, at = rows["ticker"].iloc[first], rows["ts"].iloc[first]
    order = (int(row_ids[first]),) if row_ids is not None else (pd.Timestamp(at).value, str(ticker))
    return Disagreement(int(mask.sum()), ts.min(), ts.max(), order, str(ticker), at, rows[column].iloc[first],
                        replay.columns[column][int(position[first])])


class CausalityAccumulator:
    """The causality check over a whole table, fed one part at a time: a batch of tickers (its table rows, its
    replay, its code rows), or every row with only some columns (the relative returns, recomputed over every
    batch). `causality` feeds it once with everything: the report is the same however it was fed."""

    def __init__(self, table: pd.DataFrame, columns: list[str], replayed: set[str], code: bool) -> None:
        self.table = table
        self.verifiable = [c for c in columns if c in replayed]
        self.unverifiable = [c for c in columns if c not in replayed]
        self.replayed = replayed
        self.found = np.zeros(len(table), dtype=bool)
        self.agreeing = np.ones(len(table), dtype=bool)
        self.table_bad: dict[str, Disagreement] = {}
        self.code = code
        self.code_columns: list[str] = []
        self.code_bad: dict[str, Disagreement] = {}
        self.code_rows = self.missing = self.extra = 0

    def add(self, rows: pd.DataFrame, row_ids: np.ndarray, replay: Replay, code: pd.DataFrame | None,
            columns: set[str] | None = None, counted: bool = True) -> None:
        """Compare `rows` (the table's rows `row_ids`) and the `code` rows with `replay`, on `columns` (None: all).
        `counted`: these rows' own facts (found, code rows made, missed, extra) count; False for a part that
        revisits rows already counted to compare more columns."""
        wanted = [c for c in self.verifiable if columns is None or c in columns]
        position = locate(rows, replay)
        if counted:
            self.found[row_ids] = position >= 0
        for column, mask in _disagreements(rows, position, replay, wanted).items():
            self.agreeing[row_ids[mask]] = False
            self.table_bad[column] = _summarise(rows, position, replay, column, mask, row_ids).merged(
                self.table_bad.get(column))
        if code is None:
            return
        code_columns = [c for c in code.columns if c not in NON_FEATURE_COLUMNS]
        if counted and not self.code_columns:
            self.code_columns = code_columns
        code_position = locate(code, replay)
        if counted:
            self.code_rows += len(code)
            made = np.zeros(len(replay.ts_ns), dtype=bool)
            made[code_position[code_position >= 0]] = True
            self.missing += int((~made).sum())
            self.extra += int((code_position < 0).sum())
        compared = [c for c in code_columns if c in self.replayed and (columns is None or c in columns)]
        for column, mask in _disagreements(code, code_position, replay, compared).items():
            self.code_bad[column] = _summarise(code, code_position, replay, column, mask, None).merged(
                self.code_bad.get(column))

    def result(self) -> CheckResult:
        table = self.table
        found, unverifiable = self.found, self.unverifiable
        verified = 0 if unverifiable else int((found & self.agreeing).sum())
        tickers = int(table["ticker"].nunique())
        coverage = f"rows verified causal: {verified} of {len(table)}"
        problems = []
        if unverifiable:
            problems.append(f"unverifiable: {', '.join(unverifiable)} (not a feature the causal replay makes, so no "
                            "row holding it can be shown to depend on the past only)")
        if (~found).any():
            problems.append(f"{int((~found).sum())} table rows are not decision rows of the bars (first: "
                            f"{table['ticker'].iloc[int(np.argmin(found))]} at "
                            f"{_instant(table['ts'].iloc[int(np.argmin(found))])})")
        table_bad = {c: self.table_bad[c] for c in self.verifiable if c in self.table_bad}
        problems += [bad.text(c, "table") for c, bad in table_bad.items()]
        code_unverifiable = [c for c in self.code_columns if c not in self.replayed]
        code_bad = {c: self.code_bad[c] for c in self.code_columns if c in self.code_bad}
        if self.code:
            if code_unverifiable:
                problems.append(f"the feature code makes columns the replay does not (unverifiable): "
                                f"{', '.join(code_unverifiable)}")
            if self.missing or self.extra:
                problems.append(f"the feature code makes {self.extra} rows that are not decision rows and misses "
                                f"{self.missing}")
            problems += ["feature code: " + bad.text(c, "code") for c, bad in code_bad.items()]
        passed = not problems
        span = f"{_instant(table['ts'].min())} to {_instant(table['ts'].max())}" if len(table) else "no rows"
        if passed:
            given = "the bars up to the row" + (" and the tweets available by then"
                                                if any(is_sentiment_name(c) for c in self.verifiable) else "")
            details = (f"{coverage} ({tickers} tickers, {span}, holdout included): every feature equals a replay "
                       f"that was given only {given}"
                       + (f"; the feature code's {self.code_rows} decision rows equal it too" if self.code else ""))
        else:
            details = f"{coverage}; " + "; ".join(problems)
        failing = sorted(set(table_bad) | set(code_bad) | set(unverifiable) | set(code_unverifiable))
        data = {"rows": len(table), "rows_verified": verified, "tickers": tickers,
                "unverifiable": sorted(set(unverifiable) | set(code_unverifiable)),
                "columns_not_causal": sorted(set(table_bad) | set(code_bad)), "code_rows": self.code_rows}
        return CheckResult("causality", passed, details, failing, data)


def causality(table: pd.DataFrame, columns: list[str], replay: Replay, code: pd.DataFrame | None = None
              ) -> CheckResult:
    """The table's feature `columns` on every row, and the feature code's rows (`code`: its output with the
    unlabelled rows kept), against the replay."""
    check = CausalityAccumulator(table, columns, set(replay.columns), code is not None)
    check.add(table, np.arange(len(table)), replay, code)
    return check.result()



def _shown(value: object) -> str:
    return f"{value:.10g}" if isinstance(value, float | np.floating | int | np.integer) else repr(value)


def _instant(value: object) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
