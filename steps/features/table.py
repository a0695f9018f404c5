"""Reading a steps.features output folder: features.parquet + folds.json + manifest.json, or the shards of several
instances merged (shards.py), checked against what the manifests list.

The reader lives with the step that writes the folder: a sharded folder is merged with the feature code (the
cross-sectional returns need every ticker), which the common floor (steps/common) must not import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.feature_table import (
    FEATURES_FILE,
    MANIFEST_FILE,
    NON_FEATURE_COLUMNS,
    REBUILD,
    SHARDS,
    FeatureTable,
)
from steps.common.folds import load_folds
from steps.common.io import MANIFEST_FILES, check_files, read_json, read_table


def _is_features_folder(folder: Path) -> bool:
    return (folder / FEATURES_FILE).is_file() or (folder / MANIFEST_FILE).is_file() or (folder / SHARDS).is_dir()


def find_features_folder(path: str | Path) -> Path:
    """The features folder (features.parquet, manifest.json or shards/): `path` itself or the one below it.

    SageMaker copies an S3 prefix into the channel folder, sometimes with a sub-folder; look one level
    down rather than failing on that. A shard's own features.parquet is not a features folder.
    """
    root = Path(path)
    if _is_features_folder(root):
        return root
    found: set[Path] = set()
    for table in root.rglob(FEATURES_FILE) if root.is_dir() else []:
        parts = table.relative_to(root).parts[:-1]
        if any(part.startswith(".") for part in parts):
            continue
        found.add(root.joinpath(*parts[:parts.index(SHARDS)]) if SHARDS in parts else table.parent)
    if len(found) == 1:
        return found.pop()
    raise StepInputError(
        f"{FEATURES_FILE} not found" if not found else f"{len(found)} copies of {FEATURES_FILE} found",
        file=root, fix="pass the output folder of steps.features",
    )


def _is_sharded(folder: Path) -> bool:
    """Several feature instances wrote `shards/<host>/` (steps/features/run.py); merged on read."""
    root = folder / SHARDS
    return root.is_dir() and any(not p.name.startswith((".", "_")) for p in root.iterdir())


def _check_single(folder: Path) -> dict[str, Any]:
    """The manifest of a single instance's folder, once the files it lists are there as written.

    Manifests from before `files` was written (manifest_version < 2, or hand-made ones) list nothing to check:
    they are read as before."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise StepInputError(f"not found beside {FEATURES_FILE}: the run that wrote the folder did not finish",
                             file=path, fix=REBUILD)
    manifest = read_json(path, name="manifest")
    listing = manifest.get(MANIFEST_FILES)
    if listing is None and int(manifest.get("manifest_version") or 0) < 2:
        return manifest
    check_files(folder, listing, path, fix=REBUILD)
    for name in (FEATURES_FILE, "folds.json"):
        if name not in listing:
            raise StepInputError(f"lists no {name}", file=path, fix=REBUILD)
    return manifest


def load_feature_table(path: str | Path) -> FeatureTable:
    """The table, folds and manifest of a features folder, read exactly as its manifest lists them.

    One line (StepInputError) naming the file when the folder is not what one run wrote: no manifest, a file
    that differs from what the manifest lists, a single-instance table beside shards, a shard too many or
    too few (steps/features/shards.py)."""
    folder = find_features_folder(path)
    source = folder / FEATURES_FILE
    if _is_sharded(folder):
        # Imported here: the merge needs polars and the compiled feature code, which a reader of one instance's
        # table (every training job) need not load.
        from steps.features.shards import merge_shards

        frame, folds, manifest = merge_shards(folder)
    else:
        manifest = _check_single(folder)
        frame = read_table(source, name="features")
        folds = load_folds(folder / "folds.json")
    for column in ("ticker", "ts", "label", "label_end"):
        if column not in frame.columns:
            raise StepInputError("missing column", file=source, column=column,
                                 fix="rebuild the table with steps.features")
    for column in ("ts", "label_end"):
        if not isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            raise StepInputError(f"has dtype {frame[column].dtype}, expected a UTC timestamp", file=source,
                                 column=column, fix="rebuild the table with steps.features")
    labels = frame["label"]
    if labels.isna().any() or not labels.isin([0, 1]).all():
        raise StepInputError("must hold only 0 and 1", file=source, column="label",
                             fix="rebuild the table with steps.features")
    listed = manifest.get("feature_columns")
    if listed is None:
        listed = [c for c in frame.columns if c not in NON_FEATURE_COLUMNS]
    columns = []
    for column in listed:
        if column in NON_FEATURE_COLUMNS:
            continue
        if column not in frame.columns:
            raise StepInputError("listed in manifest.json but missing from the table", file=source,
                                 column=column, fix="rebuild the features or drop it from the manifest")
        dtype = frame[column].dtype
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            columns.append(column)
        elif pd.api.types.is_bool_dtype(dtype):
            frame[column] = frame[column].astype("float64")
            columns.append(column)
    if not columns:
        raise StepInputError("no numeric feature columns", file=source, column="feature_columns",
                             fix="rebuild the features")
    for column in columns:  # an infinity reaches the model libraries as a C++ abort, not an error
        values = frame[column].to_numpy(dtype="float64", na_value=np.nan)
        infinite = int(np.isinf(values).sum())
        if infinite:
            raise StepInputError(f"holds {infinite} infinite value(s)", file=source, column=column,
                                 fix="rebuild the features (a ratio over a zero?) or drop the column")
    return FeatureTable(frame=frame, folds=folds, manifest=manifest, feature_columns=columns, folder=folder)
