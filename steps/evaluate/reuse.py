"""A round whose tuning kept the same best training job evaluates the same model: say so and reuse the evaluation.

A warm-started round evaluates its OverallBestTrainingJob. When no new trial beat the earlier rounds' best, that is
the training job the previous round already evaluated, on the same features with the same settings, and its
evaluation would come out byte for byte the same. The previous round's Evaluate output is an input of this one
(its trial collection: trials.py), so the step checks that evaluation's fingerprint (the model's model_meta.json
sha256, the features file's sha256, every evaluation setting) and its files' digests, and takes it over, marked
`reused_from`, instead of scoring and bootstrapping again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from steps.common.io import OUTPUT_MANIFEST, file_digest, read_json, read_table

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "holdout_predictions.parquet"


def fingerprint(model_meta_sha256: str | None, manifest: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """What makes an evaluation what it is; None members make it never reusable."""
    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    features = (files.get("features.parquet") or {}).get("sha256")
    return {"model_meta_sha256": model_meta_sha256, "features_sha256": features, "settings": settings}


def reusable(folder: Path | None, wanted: dict[str, Any], logger: logging.Logger
             ) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """The earlier evaluation and its predictions when `folder` holds one with this exact fingerprint, its files
    as its manifest lists them; None otherwise (then the model is evaluated)."""
    if folder is None or None in (wanted["model_meta_sha256"], wanted["features_sha256"]):
        return None
    found = sorted(Path(folder).rglob(EVALUATION_FILE)) if Path(folder).is_dir() else []
    if len(found) != 1:
        return None
    root = found[0].parent
    try:
        listing = read_json(root / OUTPUT_MANIFEST, name="evaluation manifest").get("files") or {}
        for name in (EVALUATION_FILE, PREDICTIONS_FILE):
            if listing.get(name) != file_digest(root / name):
                return None
        report = read_json(root / EVALUATION_FILE, name="evaluation")
    except (OSError, ValueError):
        return None
    if report.get("evaluated_with") != wanted:
        return None
    predictions = read_table(root / PREDICTIONS_FILE, name="holdout predictions")
    round_name = (report.get("reused_from") or {}).get("evaluation") or str(root)
    logger.info("the same training job as the previous round (OverallBestTrainingJob unchanged, model_meta sha256 "
                "%s...): its evaluation is reused, not computed again", wanted["model_meta_sha256"][:12])
    report = {**report, "reused_from": {
        "evaluation": round_name,
        "note": "the previous round evaluated this same training job on the same features with the same settings "
                "(no new trial beat it): that evaluation, byte for byte"}}
    return report, predictions
