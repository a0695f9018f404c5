"""Model families by name. Add catboost/lightgbm/gru here as Algorithm subclasses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.common.errors import StepConfigError, StepInputError
from steps.train.algorithms.base import Algorithm, FitResult, HyperParameter
from steps.train.algorithms.xgboost_model import XGBoostAlgorithm

ALGORITHMS: dict[str, type[Algorithm]] = {XGBoostAlgorithm.name: XGBoostAlgorithm}


def get_algorithm(name: str) -> type[Algorithm]:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise StepConfigError(
            f"unknown algorithm {name!r}", column="algorithm",
            fix=f"use one of: {', '.join(sorted(ALGORITHMS))}",
        ) from None


MODEL_META_FILE = "model_meta.json"


class LoadedModel:
    """A saved model of any family: `predict(frame)` selects `meta["features"]` by name -> P(label = 1)."""

    def __init__(self, model: Algorithm, meta: dict[str, Any], folder: Path) -> None:
        self.model, self.meta, self.folder = model, meta, folder
        self.algorithm: str = str(meta["algorithm"])
        self.features: list[str] = list(meta["features"])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise StepInputError(f"{len(missing)} of the model's features are missing", column=missing[0],
                                 fix=f"pass every feature the {self.algorithm} model was trained on")
        x = frame[self.features].to_numpy(dtype="float64", na_value=np.nan)
        return np.asarray(self.model.predict(x), dtype="float64")


def load_model_dir(model_dir: str | Path) -> LoadedModel:
    """The one entry point that loads a model folder of any algorithm (model_meta.json names it)."""
    import json

    folder = Path(model_dir)
    meta_path = folder / MODEL_META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StepInputError(f"cannot read model metadata ({exc})", file=meta_path,
                             fix="pass a model folder written by steps.train") from None
    if not isinstance(meta, dict) or "algorithm" not in meta or "features" not in meta:
        raise StepInputError("needs 'algorithm' and 'features'", file=meta_path,
                             fix="pass a model folder written by steps.train")
    return LoadedModel(get_algorithm(str(meta["algorithm"])).load(folder, meta), meta, folder)


__all__ = ["ALGORITHMS", "Algorithm", "FitResult", "HyperParameter", "LoadedModel", "get_algorithm",
           "load_model_dir"]
