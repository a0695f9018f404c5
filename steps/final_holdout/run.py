"""Open the lockbox once: score the model about to be registered on the final holdout, beside what selected it.

evaluation.json keeps the shape of steps.ensemble's (holdout_report), so the registry's model-quality metrics,
the gate and the report read it alike; its headline is the final holdout's. The selection holdout's figures
(the ensemble's own evaluation.json, the holdout every gate and round looked at) are copied beside them under
`selection_holdout`, labelled, and `selection` says how many looks came before (looks.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.folds import final_holdout_mask, session_dates
from steps.common.holdout_report import holdout_report, metadata_text
from steps.common.io import (
    OUTPUT_MANIFEST,
    clear_outputs,
    read_json,
    write_json,
    write_manifest,
    write_metrics,
    write_parquet,
)
from steps.common.logging import StepTimer, log_input_size
from steps.evaluate.metrics import bootstrap_std, point_metrics
from steps.evaluate.signal import holdout_sections
from steps.features.table import load_feature_table
from steps.final_holdout.looks import find_trials, selection_statistics
from steps.final_holdout.settings import FinalHoldoutSettings
from steps.lockbox.seal import read_lockbox
from steps.serve.model import ARCHIVE_NAME, load_artifact

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "holdout_predictions.parquet"
OUTPUTS = [EVALUATION_FILE, PREDICTIONS_FILE, "metrics.json"]


def final_rows(table_folds, lockbox: pd.DataFrame, source: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The final holdout's rows (the lockbox also holds history rows whose label ended there: never scored)."""
    frame = lockbox[final_holdout_mask(lockbox, table_folds)].sort_values(["ts", "ticker"], kind="stable")
    frame = frame.reset_index(drop=True)
    labels = frame["label"].to_numpy(dtype="int64")
    if len(frame) == 0 or len(np.unique(labels)) < 2:
        raise StepInputError(f"the final holdout has {len(frame)} rows and {len(np.unique(labels))} classes",
                             file=source, column="label", fix="build the features with a longer --final-holdout-days")
    return frame, labels


def selection_view(evaluation: dict[str, Any]) -> dict[str, Any]:
    """What the selection holdout said, as every gate saw it: the headline, its extent and the backtest."""
    metrics = evaluation.get("binary_classification_metrics", {})
    backtest = evaluation.get("backtest", {})
    return {
        "note": "the holdout the gates and the re-tuning rounds looked at: a best-of-N figure, not an estimate",
        "auc": metrics.get("auc"),
        "metrics": metrics,
        "holdout": evaluation.get("holdout"),
        "long_short_net": (backtest.get("long_short") or {}).get("net"),
        "signal_metadata": evaluation.get("signal_metadata"),
        "ensemble": evaluation.get("ensemble"),  # the ensemble's clause, judged on this holdout by Gate-ensemble
    }


def run_final_holdout(model: str | Path, features: str | Path, lockbox: str | Path, trials: str | Path | None,
                      output: str | Path, logger: logging.Logger,
                      settings: FinalHoldoutSettings | None = None) -> dict[str, Any]:
    """`model`: steps.ensemble's output folder (model.tar.gz, evaluation.json). `trials`: a folder per algorithm,
    each its last round's Evaluate output with the trials collected over the rounds (steps/evaluate/trials.py)."""
    settings = settings or FinalHoldoutSettings()
    timer = StepTimer(logger)
    model_dir = Path(model)
    archive = model_dir / ARCHIVE_NAME if model_dir.is_dir() else model_dir
    with timer.block("read_inputs"):
        table = load_feature_table(features)
        withheld, description = read_lockbox(lockbox)
        selection_evaluation = read_json((archive.parent / EVALUATION_FILE), name="ensemble evaluation")
    if table.folds.final_holdout_start is None or \
            pd.Timestamp(description["final_holdout_start"]) != table.folds.final_holdout_start:
        raise StepInputError("the lockbox was not sealed from these features", file=Path(lockbox),
                             column="final_holdout_start", fix="pass the two outputs of one steps.lockbox job")
    if (pd.DatetimeIndex(table.frame["ts"]) >= table.folds.final_holdout_start).any():
        raise StepInputError("the features hold final-holdout rows: they were never sealed", file=table.folder,
                             column="ts", fix="pass the `features` output of steps.lockbox")
    log_input_size(logger, "features", table.frame, table.folder)
    frame, labels = final_rows(table.folds, withheld, Path(lockbox))
    with timer.block("score_final_holdout"), load_artifact(archive) as serving_model:
        scores = serving_model.predict(frame)  # as steps.ensemble scored the selection holdout: the same code
    with timer.block("metrics"):
        point = point_metrics(labels, scores)
        spread = bootstrap_std(labels, scores, session_dates(frame["ts"]), resamples=settings.bootstrap,
                               seed=settings.seed)
        sections = holdout_sections(frame, scores, table.manifest, settings.backtest, Path(lockbox))
    with timer.block("count_looks"):
        found = find_trials(trials, logger)
        selection = selection_statistics(
            found, table.frame, table.manifest, settings.backtest,
            (selection_evaluation.get("backtest", {}).get("curve") or {}).get("net", []),
            sections["backtest"]["curve"]["net"], n_blocks=settings.pbo_blocks)
    chosen = selection_view(selection_evaluation)
    auc = point["auc"]
    suspicious = auc > settings.suspicious_auc
    details = {
        "final_holdout": {"note": "the lockbox: sealed until the round loop ended, scored once, by this model",
                          **{k: v for k, v in description.items() if k not in ("feature_columns", "files")}},
        "selection_holdout": chosen,
        "selection": selection,
        "suspicion": {"flag": suspicious, "threshold": settings.suspicious_auc,
                      "reason": f"final holdout AUC {auc:.4f} is above {settings.suspicious_auc:.2f}: check features "
                                "and labels for look-ahead" if suspicious else ""},
    }
    report = holdout_report("ensemble", frame, labels, point, spread, sections, bootstrap=settings.bootstrap,
                            seed=settings.seed, details=details)
    dsr = (selection["selection_holdout"]["dsr"] or {}).get("dsr")
    pbo = (selection["pbo"] or {}).get("pbo")
    selection_auc = (chosen["auc"] or {}).get("value")
    report["final_metadata"] = {
        "final_auc": metadata_text(auc),
        "selection_auc": metadata_text(selection_auc),
        "looks": str(selection["looks"]["n"]),
        "selection_dsr": metadata_text(dsr, 3),
        "pbo": metadata_text(pbo, 3),
        "summary": (f"final holdout AUC {metadata_text(auc)} (selection holdout {metadata_text(selection_auc)} after "
                    f"{selection['looks']['n']} looks; DSR {metadata_text(dsr, 3)}, PBO {metadata_text(pbo, 3)}); "
                    f"{report['signal_metadata']['summary']}"),
    }
    predictions = pd.DataFrame({"ticker": frame["ticker"], "ts": frame["ts"], "label": labels, "prediction": scores})
    out = Path(output)
    clear_outputs(out, [OUTPUT_MANIFEST, *OUTPUTS])
    write_parquet(predictions, out / PREDICTIONS_FILE)
    write_json(report, out / EVALUATION_FILE)
    write_metrics(out, {"timings_s": timer.as_metrics(), "final_holdout_rows": len(frame), **point,
                        "looks": selection["looks"]["n"]})
    write_manifest(out, OUTPUTS, step="final_holdout")  # last
    if suspicious:
        logger.warning("SUSPICIOUS: %s", details["suspicion"]["reason"])
    logger.info("%s", report["final_metadata"]["summary"])
    return report
