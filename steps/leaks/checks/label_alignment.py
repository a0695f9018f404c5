"""label_alignment: every label window ends after its row (label_end > ts) and labels match returns."""

from __future__ import annotations

import pandas as pd

from steps.features.settings import FeatureSettings
from steps.leaks.checks.common import CheckResult


def label_alignment(table: pd.DataFrame, settings: FeatureSettings) -> CheckResult:
    ts, label_end = table["ts"], table["label_end"]
    missing = int(label_end.isna().sum())
    not_after = int((label_end <= ts).sum())
    problems, columns = [], []
    if missing or not_after:
        problems.append(f"{not_after} rows with label_end <= ts and {missing} with no label_end")
        columns.append("label_end")
    if "forward_return" in table.columns:
        expected = (table["forward_return"] > settings.label_dead_zone).astype("int64")
        wrong = int((expected != table["label"].astype("int64")).sum())
        if wrong:
            problems.append(f"{wrong} labels disagree with forward_return > {settings.label_dead_zone}")
            columns.append("label")
    passed = not problems
    details = "; ".join(problems) if problems else f"label_end > ts on all {len(table)} rows; labels match returns"
    return CheckResult("label_alignment", passed, details, columns)
