"""What the one-pass and the batched leak runs share (run.py, in_turn.py): the settings, the recomputation's
labelled rows and the checks that read the table against what the bars say about its rows."""

from __future__ import annotations

import pandas as pd

from steps.common.errors import StepInputError
from steps.common.feature_table import FeatureTable
from steps.common.logging import StepTimer
from steps.features.catalogue import feature_columns
from steps.features.settings import FeatureSettings
from steps.leaks.asymmetry import AsymmetryThresholds, past_future_asymmetry
from steps.leaks.checks.common import CheckResult
from steps.leaks.checks.duplicates import duplicates
from steps.leaks.checks.folds import folds_are_clean
from steps.leaks.checks.label_alignment import label_alignment
from steps.leaks.checks.labels_match_bars import labels_match_bars
from steps.leaks.checks.target_leakage import LeakThresholds, target_leakage
from steps.leaks.checks.timestamp_alignment import BarPositions, Recounter, timestamp_alignment


def settings_from_manifest(table: FeatureTable) -> FeatureSettings:
    payload = table.manifest.get("settings")
    if not isinstance(payload, dict):
        raise StepInputError("has no 'settings'", file=table.folder / "manifest.json", column="settings",
                             fix="rebuild the features with steps.features")
    return FeatureSettings.from_json(payload, source=str(table.folder / "manifest.json"))


def labelled_rows(full: pd.DataFrame) -> pd.DataFrame:
    """The recomputation's labelled rows, label as int64: what the table holds, for table_matches_code."""
    recomputed = full[full["label"].notna()]
    return recomputed.assign(label=recomputed["label"].astype("int64")).reset_index(drop=True)


def table_checks(table: FeatureTable, positions: BarPositions, tweets: pd.DataFrame | None,
                 settings: FeatureSettings, timer: StepTimer, thresholds: LeakThresholds,
                 asymmetry: AsymmetryThresholds, recounter: Recounter | None = None) -> list[CheckResult]:
    """The checks that need the table and what the bars say about its rows (`positions`), never the feature code;
    the sentiment recount from `tweets`, or `recounter` (assembled batch by batch, steps/leaks/in_turn.py)."""
    frame = table.frame
    columns = [c for c in table.feature_columns if c in frame.columns]
    with timer.block("alignment"):
        found = [label_alignment(frame, settings),
                 timestamp_alignment(frame, positions, tweets, settings, recounter)]
    with timer.block("labels_match_bars"):
        found.append(labels_match_bars(frame, positions, settings))
    with timer.block("folds_duplicates"):
        found.append(folds_are_clean(frame, table.folds, settings, positions.label_end))
        found.append(duplicates(frame, table.folds, columns or feature_columns(settings)))
    with timer.block("target_leakage"):
        found.append(target_leakage(frame, table.folds, columns, positions.past_return, thresholds))
    with timer.block("past_future_asymmetry"):
        found.append(past_future_asymmetry(frame, table.folds, columns, positions.forward_return,
                                           positions.past_return, settings, asymmetry))
    return found
