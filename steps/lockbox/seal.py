"""Split a features folder into what the rounds may read and the lockbox, which nothing reads until they end.

Masks alone would not make a lockbox: every tuning job, evaluation and ensemble reads the whole features
folder, so a bug or a convenience could look at the last sessions without anyone noticing. Here the rows are
physically apart. The `features` output holds only the rows before the final holdout whose label window also
ends before it (steps.common.folds.sealed_mask); the `lockbox` output holds the rest: the final holdout's rows
and the selection-holdout rows dropped because their outcome falls in the lockbox period (kept there only as
history for sequence models, never scored). Only steps.final_holdout, after the last gate of the round loop,
takes the lockbox as an input (pipelines/stages/final_holdout.py); `read_lockbox` is its one reader.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from steps.common.errors import StepInputError
from steps.common.feature_table import FEATURES_FILE, MANIFEST_FILE, FeatureTable
from steps.common.folds import final_holdout_mask, sealed_mask
from steps.common.io import (
    MANIFEST_FILES,
    clear_outputs,
    describe_files,
    file_digest,
    read_json,
    read_table,
    write_json,
    write_parquet,
)

FOLDS_FILE = "folds.json"
LOCKBOX_FILE = "lockbox.parquet"
LOCKBOX_MANIFEST = "lockbox.json"


def seal(table: FeatureTable, features_output: Path, lockbox_output: Path, logger: logging.Logger) -> dict[str, Any]:
    """Write the sealed features folder and the lockbox folder; returns the lockbox's description."""
    folds = table.folds
    if folds.final_holdout_start is None:
        raise StepInputError("the features have no final holdout to seal", file=table.folder / FOLDS_FILE,
                             column="final_holdout_start",
                             fix="build the features with --final-holdout-days N (folds.final_holdout_days)")
    frame = table.frame
    kept = sealed_mask(frame, folds)
    final = final_holdout_mask(frame, folds)
    sealed, withheld = frame[kept].reset_index(drop=True), frame[~kept].reset_index(drop=True)
    purged = int((~kept & ~final).sum())
    description = {
        "final_holdout_start": folds.final_holdout_start.isoformat(),
        "final_holdout_rows": int(final.sum()),
        "history_rows": purged,
        "sealed_rows": len(sealed),
        "final_holdout_sessions": int((folds.days or {}).get("final_holdout", 0)),
        "rows_end": frame.loc[final, "ts"].max().isoformat() if final.any() else None,
    }
    _write_sealed(table, sealed, Path(features_output), description)
    _write_lockbox(table, withheld, Path(lockbox_output), description)
    logger.info("sealed %d rows from %s on (%d final-holdout rows, %d history rows whose label ends there); "
                "%d rows stay readable", len(withheld), description["final_holdout_start"],
                description["final_holdout_rows"], purged, len(sealed))
    return description


def _write_sealed(table: FeatureTable, sealed: pd.DataFrame, target: Path, description: dict[str, Any]) -> None:
    """The features folder every later step reads, its manifest last (a reader takes nothing it does not list)."""
    clear_outputs(target, [MANIFEST_FILE, "shards", FEATURES_FILE, FOLDS_FILE, "metrics.json"])
    target.mkdir(parents=True, exist_ok=True)
    write_parquet(sealed, target / FEATURES_FILE)
    write_json(table.folds.to_json(), target / FOLDS_FILE)
    manifest = {k: v for k, v in table.manifest.items() if k != "shard"}
    rows = dict(manifest.get("rows") or {})
    # Outcome aggregates over the whole table would carry the lockbox's labels: recounted on the sealed rows.
    rows.update({"total": len(sealed), "sealed_away": rows.get("total", 0) - len(sealed),
                 "positive_rate": float(sealed["label"].mean()) if len(sealed) else None})
    manifest.update({
        "rows": rows,
        "lockbox": {"sealed": True, **description},
        "manifest_version": max(2, int(manifest.get("manifest_version") or 0)),
        MANIFEST_FILES: describe_files(target, [FEATURES_FILE, FOLDS_FILE]),
    })
    write_json(manifest, target / MANIFEST_FILE)


def _write_lockbox(table: FeatureTable, withheld: pd.DataFrame, target: Path, description: dict[str, Any]) -> None:
    clear_outputs(target, [LOCKBOX_MANIFEST, LOCKBOX_FILE, FOLDS_FILE])
    target.mkdir(parents=True, exist_ok=True)
    write_parquet(withheld, target / LOCKBOX_FILE)
    write_json(table.folds.to_json(), target / FOLDS_FILE)
    write_json({**description, "feature_columns": table.manifest.get("feature_columns"),
                MANIFEST_FILES: describe_files(target, [LOCKBOX_FILE, FOLDS_FILE])}, target / LOCKBOX_MANIFEST)


def read_lockbox(folder: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The lockbox rows and their description, checked against the digests written with them.

    The one reader of the lockbox: the tests wrap it to prove that no step before the round loop's end
    calls it."""
    root = Path(folder)
    path = root / LOCKBOX_MANIFEST
    if not path.is_file():
        found = sorted(root.rglob(LOCKBOX_MANIFEST)) if root.is_dir() else []
        if len(found) != 1:
            raise StepInputError(f"{LOCKBOX_MANIFEST} not found" if not found else "several lockboxes found",
                                 file=root, fix="pass the `lockbox` output of steps.lockbox")
        root, path = found[0].parent, found[0]
    description = read_json(path, name="lockbox")
    listing = description.get(MANIFEST_FILES) or {}
    for name, expected in listing.items():
        actual = file_digest(root / name) if (root / name).is_file() else None
        if actual != expected:
            raise StepInputError("differs from what the lockbox manifest lists", file=root / name,
                                 fix="seal the features again (steps.lockbox)")
    if LOCKBOX_FILE not in listing:
        raise StepInputError(f"lists no {LOCKBOX_FILE}", file=path, fix="seal the features again (steps.lockbox)")
    return read_table(root / LOCKBOX_FILE, name="lockbox"), description
