"""The features table as the later steps hold it: the table, its folds, its manifest and its feature columns.

Reading one from a folder is the features step's business (steps/features/table.py `load_feature_table`, which
also merges a sharded folder with the feature code); this module, on the common floor, knows no step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepInputError
from steps.common.folds import Folds, holdout_mask

FEATURES_FILE = "features.parquet"
MANIFEST_FILE = "manifest.json"
SHARDS = "shards"  # steps.features.shards.SHARDS_DIR
REBUILD = "delete the features folder (or its S3 prefix) and rerun steps.features"
NON_FEATURE_COLUMNS = ("ticker", "ts", "sector", "label", "forward_return", "label_end")


@dataclass
class FeatureTable:
    frame: pd.DataFrame
    folds: Folds
    manifest: dict[str, Any]
    feature_columns: list[str]
    folder: Path


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
