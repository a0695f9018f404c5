"""The artifact must reproduce, exactly, the holdout predictions its evaluation reported.

This runs in a process that shares nothing with the one that built the artifact: if a file is missing
from the archive, a path is absolute, or the serving code computes anything differently, the
predictions differ and the check fails before the model is registered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.feature_table import load_feature_table
from steps.common.folds import holdout_mask
from steps.common.io import read_table, write_json, write_metrics
from steps.common.logging import StepTimer
from steps.serve.model import ARCHIVE_NAME, load_artifact

PREDICTIONS_FILE = "holdout_predictions.parquet"
KEYS = ["ticker", "ts"]


def compare_predictions(expected: pd.DataFrame, actual: pd.DataFrame, tolerance: float = 0.0) -> dict[str, Any]:
    """Join on (ticker, ts); every expected row must be re-scored to within `tolerance` (0: identical)."""
    merged = expected[[*KEYS, "prediction"]].merge(actual[[*KEYS, "prediction"]], on=KEYS, how="outer",
                                                    suffixes=("_expected", "_actual"), indicator=True)
    only_expected = int((merged["_merge"] == "left_only").sum())
    only_actual = int((merged["_merge"] == "right_only").sum())
    both = merged[merged["_merge"] == "both"]
    diff = np.abs(both["prediction_expected"].to_numpy(dtype="float64") - both["prediction_actual"].to_numpy(
        dtype="float64"))
    max_abs_diff = float(diff.max()) if len(diff) else float("nan")
    mismatched = int((diff > tolerance).sum())
    passed = bool(len(both) > 0 and only_expected == 0 and only_actual == 0 and mismatched == 0)
    if passed:
        summary = f"{len(both)} holdout rows re-scored identically (max |diff| {max_abs_diff:.3g})"
    else:
        summary = (f"artifact does not reproduce the evaluation: {mismatched} of {len(both)} rows differ by more "
                   f"than {tolerance:g} (max |diff| {max_abs_diff:.3g}), {only_expected} evaluated rows not "
                   f"re-scored, {only_actual} re-scored rows not evaluated")
    return {"passed": passed, "rows": len(both), "max_abs_diff": max_abs_diff, "mismatched_rows": mismatched,
            "missing_rows": only_expected, "extra_rows": only_actual, "tolerance": tolerance, "summary": summary}


def run_check(model: str | Path, features: str | Path, evaluation: str | Path, output: str | Path,
              logger: logging.Logger, *, tolerance: float = 0.0) -> dict[str, Any]:
    timer = StepTimer(logger)
    model_path = Path(model)
    archive = model_path / ARCHIVE_NAME if model_path.is_dir() and (model_path / ARCHIVE_NAME).is_file() else model_path
    with timer.block("read_inputs"):
        table = load_feature_table(features)
        evaluation_dir = Path(evaluation)
        expected = read_table(evaluation_dir / PREDICTIONS_FILE if evaluation_dir.is_dir() else evaluation_dir,
                              name="holdout predictions")
    missing = [c for c in (*KEYS, "prediction") if c not in expected.columns]
    if missing:
        raise StepInputError("missing column", file=evaluation_dir / PREDICTIONS_FILE, column=missing[0],
                             fix="pass the output folder of steps.ensemble")
    frame = table.frame[holdout_mask(table.frame, table.folds)].reset_index(drop=True)
    with timer.block("load_and_score"), load_artifact(archive) as serving_model:
        logger.info("artifact %s: %s", archive, serving_model.describe())
        scores = serving_model.predict(frame)
    actual = pd.DataFrame({"ticker": frame["ticker"], "ts": frame["ts"], "prediction": scores})
    report = compare_predictions(expected, actual, tolerance)
    out = Path(output)
    write_json(report, out / "check_report.json")
    write_metrics(out, {"timings_s": timer.as_metrics(), "rows": report["rows"], "passed": report["passed"],
                        "max_abs_diff": report["max_abs_diff"]})
    (logger.info if report["passed"] else logger.error)("%s", report["summary"])
    return report
