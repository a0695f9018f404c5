"""The features folder as the later steps read it: features.parquet + folds.json + manifest.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.folds import Folds, holdout_mask, load_folds
from steps.common.io import read_json, read_table

FEATURES_FILE = "features.parquet"
NON_FEATURE_COLUMNS = ("ticker", "ts", "sector", "label", "forward_return", "label_end")


@dataclass
class FeatureTable:
    frame: pd.DataFrame
    folds: Folds
    manifest: dict[str, Any]
    feature_columns: list[str]
    folder: Path


def find_features_folder(path: str | Path) -> Path:
    """The folder holding features.parquet: `path` itself or the one folder below it that has it.

    SageMaker copies an S3 prefix into the channel folder, sometimes with a sub-folder; look one level
    down rather than failing on that.
    """
    root = Path(path)
    if (root / FEATURES_FILE).is_file() or _is_sharded(root):
        return root
    found = sorted(root.rglob(FEATURES_FILE)) if root.is_dir() else []
    if len(found) == 1:
        return found[0].parent
    raise StepInputError(
        f"{FEATURES_FILE} not found" if not found else f"{len(found)} copies of {FEATURES_FILE} found",
        file=root, fix="pass the output folder of steps.features",
    )


def _is_sharded(folder: Path) -> bool:
    """Several feature instances wrote `shards/<host>/` (steps/features/run.py); merged on read."""
    return not (folder / FEATURES_FILE).is_file() and any((folder / "shards").glob(f"*/{FEATURES_FILE}"))


def load_feature_table(path: str | Path) -> FeatureTable:
    folder = find_features_folder(path)
    source = folder / FEATURES_FILE
    if _is_sharded(folder):
        from steps.features.shards import merge_shards  # the merge needs the feature code; imported only here

        frame, folds, manifest = merge_shards(folder)
    else:
        frame = read_table(source, name="features")
        manifest = read_json(folder / "manifest.json", name="manifest")
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


def feature_matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame[columns].to_numpy(dtype="float64", na_value=np.nan)


def holdout_rows(table: FeatureTable) -> tuple[pd.DataFrame, np.ndarray]:
    """The holdout rows and their labels; an error when there is nothing to score a model on."""
    frame = table.frame[holdout_mask(table.frame, table.folds)].reset_index(drop=True)
    labels = frame["label"].to_numpy(dtype="int64")
    if len(frame) == 0 or len(np.unique(labels)) < 2:
        raise StepInputError(f"holdout has {len(frame)} rows and {len(np.unique(labels))} classes",
                             file=table.folder / "features.parquet", column="label",
                             fix="rebuild the features with a longer --holdout-days")
    return frame, labels
