"""table_matches_code: the table's features equal a recomputation from the inputs with the manifest's
settings; a column the code does not produce cannot be verified, and fails. `Matches` merges the findings of
ticker batches (steps/leaks/in_turn.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from steps.leaks.checks.common import CheckResult
from steps.leaks.compare import compare_frames


@dataclass
class Matches:
    """table_matches_code's findings on some of the table's rows: merged across ticker batches (in_turn.py)."""

    rows: int
    shared: list[str]
    unverifiable: list[str]
    not_in_table: list[str]
    only_table: int = 0
    only_code: int = 0
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)

    def merged(self, other: Matches, counted: bool = True) -> Matches:
        """Both parts' findings. A column's example is the first row of the recomputation (sorted by ts, ticker)
        that differs; `counted` False: `other` revisits rows already counted, to compare more columns."""
        problems = dict(self.problems)
        for column, found in other.problems.items():
            mine = problems.get(column)
            if mine is None:
                problems[column] = found
                continue
            first = min(mine, found, key=lambda p: (pd.Timestamp(p["example"]["ts"]), p["example"]["ticker"]))
            problems[column] = {"rows": mine["rows"] + found["rows"], "example": first["example"]}
        return Matches(self.rows + other.rows * counted, self.shared, self.unverifiable, self.not_in_table,
                       self.only_table + other.only_table * counted, self.only_code + other.only_code * counted,
                       {c: problems[c] for c in self.shared if c in problems})


def match_rows(table: pd.DataFrame, recomputed: pd.DataFrame, skip: tuple[str, ...] = ()) -> Matches:
    """Compare the table's rows with the recomputation's, every shared column but `skip`."""
    keys = ["ticker", "ts"]
    produced = set(recomputed.columns)
    unverifiable = [c for c in table.columns if c not in produced]
    not_in_table = [c for c in recomputed.columns if c not in table.columns]
    keyed_table = table.set_index(keys).index
    keyed_code = recomputed.set_index(keys).index
    only_table = int((~keyed_table.isin(keyed_code)).sum())
    only_code = int((~keyed_code.isin(keyed_table)).sum())
    shared = [c for c in table.columns if c in produced and c not in keys]
    problems = compare_frames(recomputed, table, [c for c in shared if c not in skip])
    return Matches(len(table), shared, unverifiable, not_in_table, only_table, only_code, problems)


def matches_result(found: Matches) -> CheckResult:
    problems, unverifiable = found.problems, found.unverifiable
    failed = sorted(set(problems) | set(unverifiable))
    passed = not failed and found.only_table == 0 and found.only_code == 0
    parts = []
    if unverifiable:
        parts.append(f"columns not produced by steps.features cannot be verified: {', '.join(unverifiable)}")
    for column, problem in problems.items():
        parts.append(f"{column} differs from the recomputation on {problem['rows']} rows (first {problem['example']})")
    if found.only_table or found.only_code:
        parts.append(f"{found.only_table} rows only in the table, {found.only_code} rows only in the recomputation")
    details = "; ".join(parts) if parts else f"{found.rows} rows x {len(found.shared)} columns equal the recomputation"
    if found.not_in_table:
        details += f" (not in the table, not checked: {', '.join(found.not_in_table)})"
    return CheckResult("table_matches_code", passed, details, failed,
                       {"unverifiable": unverifiable, "rows_only_in_table": found.only_table,
                        "rows_only_in_recomputation": found.only_code})


def table_matches_code(table: pd.DataFrame, recomputed: pd.DataFrame) -> CheckResult:
    return matches_result(match_rows(table, recomputed))
