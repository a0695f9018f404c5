"""The artifact must reproduce, exactly, the holdout predictions its evaluation reported.

This runs in a process that shares nothing with the one that built the artifact: if a file is missing
from the archive, a path is absolute, or the serving code computes anything differently, the
predictions differ and the check fails before the model is registered.

The evaluation folder must be complete (its manifest.json lists what steps.ensemble wrote) and the artifact
must be the very model.tar.gz that manifest lists: a check of one artifact against another's predictions
proves nothing. The report folder is complete once its own manifest.json is there.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.folds import holdout_mask
from steps.common.io import (
    OUTPUT_MANIFEST,
    check_manifest,
    clear_outputs,
    file_digest,
    read_table,
    write_json,
    write_manifest,
    write_metrics,
)
from steps.common.logging import StepTimer
from steps.features.table import load_feature_table
from steps.serve.model import ARCHIVE_NAME, load_artifact

PREDICTIONS_FILE = "holdout_predictions.parquet"
KEYS = ["ticker", "ts"]
REPORT_FILE = "check_report.json"
OUTPUTS = [REPORT_FILE, "metrics.json"]
REBUILD = "pass the output folder of steps.ensemble as it wrote it (with its manifest.json), and its model.tar.gz"


def check_inputs(archive: Path, evaluation: Path) -> Path:
    """The ensemble's output folder as it was written, and `archive` the model.tar.gz it lists."""
    folder = evaluation if evaluation.is_dir() else evaluation.parent
    manifest = check_manifest(folder, what="ensemble output", fix=REBUILD, required=(PREDICTIONS_FILE,))
    listed = manifest["files"].get(ARCHIVE_NAME)
    if isinstance(listed, dict) and archive.is_file() and file_digest(archive)["sha256"] != listed.get("sha256"):
        raise StepInputError(f"is not the artifact whose predictions the ensemble output holds (its sha256 differs "
                             f"from {ARCHIVE_NAME} in {folder / OUTPUT_MANIFEST})", file=archive, fix=REBUILD)
    return folder / PREDICTIONS_FILE


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
        predictions = check_inputs(archive, evaluation_dir)
        expected = read_table(predictions, name="holdout predictions")
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
    clear_outputs(out, [OUTPUT_MANIFEST, *OUTPUTS])
    write_json(report, out / REPORT_FILE)
    write_metrics(out, {"timings_s": timer.as_metrics(), "rows": report["rows"], "passed": report["passed"],
                        "max_abs_diff": report["max_abs_diff"]})
    write_manifest(out, OUTPUTS, step="check_artifact")  # last
    (logger.info if report["passed"] else logger.error)("%s", report["summary"])
    return report
