"""Fit, explain, select; write the report, the plot and a narrowed features folder for the tuning jobs."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from steps.common.errors import StepInputError
from steps.common.feature_table import FeatureTable
from steps.common.io import (
    MANIFEST_FILES,
    OUTPUT_MANIFEST,
    atomic_path,
    clear_outputs,
    describe_files,
    write_json,
    write_manifest,
    write_metrics,
    write_parquet,
    write_text,
)
from steps.common.logging import StepTimer, log_input_size
from steps.features.baseline import write_baseline
from steps.features.table import load_feature_table
from steps.stability.explainability import ANALYSIS_FILE, clarify_analysis
from steps.stability.plot import stability_svg
from steps.stability.rfe import RfeSettings, rfe_reasons, rfe_select
from steps.stability.select import SCALE, StabilitySettings, fold_importance, select_features, settings_json

SELECTED_FILE = "selected_features.json"
OUTPUTS = [SELECTED_FILE, ANALYSIS_FILE, "stability_report.json", "stability.svg", "metrics.json"]
FEATURES_FILE = "features.parquet"
FOLDS_FILE = "folds.json"


def run_stability(features_dir: str | Path, output: str | Path, features_output: str | Path | None,
                  settings: StabilitySettings, logger: logging.Logger,
                  baseline_output: str | Path | None = None, rfe: RfeSettings | None = None) -> dict[str, Any]:
    """`features_output`: a copy of the features folder whose manifest lists only the selected columns.

    steps.train takes its columns from manifest.json's `feature_columns`, so pointing a tuning job's `train`
    channel at this folder is all it takes for every algorithm to train on the selected list.

    Also writes `analysis.json` (the SHAP values in Clarify's explainability format, steps/stability/
    explainability.py) beside the report, and with `baseline_output` the data-quality baseline of the
    training rows over the *selected* columns, the ones every model then takes (steps/features/baseline.py).
    """
    timer = StepTimer(logger)
    with timer.block("read_features"):
        table = load_feature_table(features_dir)
    log_input_size(logger, "features", table.frame, table.folder)
    columns = list(table.feature_columns)
    if len(table.folds.folds) < 2:
        raise StepInputError(f"{len(table.folds.folds)} fold(s): stability across folds needs at least 2",
                             file=table.folder / "folds.json", column="folds",
                             fix="build the features with --n-folds 2 or more")
    with timer.block("shap_per_fold"):
        folds = fold_importance(table, columns, settings)
    rfe_result = None
    if rfe is not None and rfe.enabled:  # recursive elimination on the same folds (steps/stability/rfe.py)
        with timer.block("rfe"):
            rfe_result = rfe_select(table, columns, rfe)
    selected, summary = select_features(columns, folds, settings,
                                        rfe_reasons(rfe_result, columns) if rfe_result else None)
    dropped = {c: summary[c]["dropped_because"] for c in columns if c not in selected}
    selection = {"selected": selected, "dropped": dropped, "features_before": len(columns),
                 "features_after": len(selected), "floor": settings.floor, "scale": SCALE}
    report = {**selection, "settings": settings_json(settings), "features": summary,
              "folds": [{"fold": f.fold, "best_iteration": f.best_iteration, "rows": f.rows} for f in folds],
              "plot": "stability.svg", **({"rfe": rfe_result} if rfe_result else {})}
    out = Path(output)
    clear_outputs(out, [OUTPUT_MANIFEST, *OUTPUTS])  # the old manifest first: no new file under an old listing
    write_json(selection, out / SELECTED_FILE)
    write_json(clarify_analysis(folds, columns), out / ANALYSIS_FILE)
    write_json(report, out / "stability_report.json")
    write_text(stability_svg(summary, settings.floor, f"SHAP stability over {len(folds)} folds: "
                                                      f"{len(selected)} of {len(columns)} features kept"),
               out / "stability.svg")
    if features_output is not None:
        with timer.block("write_features"):
            narrowed_copy(table, Path(features_output), selected, selection)
    baseline = None
    if baseline_output is not None:
        with timer.block("baseline"):
            baseline = write_baseline(table, selected, baseline_output)
    write_metrics(out, {"timings_s": timer.as_metrics(), "features_before": len(columns),
                        "features_after": len(selected), "dropped": sorted(dropped),
                        **({"baseline": baseline} if baseline else {})})
    write_manifest(out, OUTPUTS, step="stability")  # last: the report folder is complete
    logger.info("kept %d of %d features; dropped: %s", len(selected), len(columns),
                "; ".join(f"{c} ({', '.join(r)})" for c, r in dropped.items()) or "none")
    return report


def narrowed_copy(table: FeatureTable, target: Path, selected: list[str], selection: dict[str, Any]) -> None:
    """A features folder (features.parquet, folds.json, manifest.json last listing them) whose manifest names
    only the selected columns. File by file, each under a temporary name and renamed (the target may be a
    container mount). A single table is copied byte for byte; a sharded one (several BuildFeatures instances)
    is written merged, as the reader merged it."""
    source, manifest = table.folder, table.manifest
    clear_outputs(target, [OUTPUT_MANIFEST, "shards", FEATURES_FILE, FOLDS_FILE, SELECTED_FILE, "metrics.json"])
    target.mkdir(parents=True, exist_ok=True)
    if isinstance(manifest.get(MANIFEST_FILES), dict) and (source / FEATURES_FILE).is_file():
        for name in (FEATURES_FILE, FOLDS_FILE):
            with atomic_path(target / name) as partial:
                shutil.copy2(source / name, partial)
    else:
        write_parquet(table.frame, target / FEATURES_FILE)
        write_json(table.folds.to_json(), target / FOLDS_FILE)
    write_json(selection, target / SELECTED_FILE)
    narrowed = {**{k: v for k, v in manifest.items() if k != "shard"}, "feature_columns": selected,
                "feature_selection": {"step": "steps.stability", "file": SELECTED_FILE,
                                      "all_feature_columns": manifest.get("feature_columns")},
                "manifest_version": max(2, int(manifest.get("manifest_version") or 0)),
                MANIFEST_FILES: describe_files(target, [FEATURES_FILE, FOLDS_FILE, SELECTED_FILE])}
    write_json(narrowed, target / OUTPUT_MANIFEST)  # last
