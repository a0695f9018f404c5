"""Model families by name, and `load_model_dir`: one loader for every family's model folder."""

from __future__ import annotations

import importlib

from steps.common.errors import StepConfigError
from steps.train.algorithms.base import Algorithm, FitResult, HyperParameter
from steps.train.algorithms.loader import LoadedModel, find_model_folder, load_model_dir

# name -> (module, class). Imported on first use: a job imports only its own library (catboost and torch
# each take a second or more to import, paid by every tuning trial).
ALGORITHMS: dict[str, tuple[str, str]] = {
    "xgboost": ("steps.train.algorithms.xgboost_model", "XGBoostAlgorithm"),
    "catboost": ("steps.train.algorithms.catboost_model", "CatBoostAlgorithm"),
    "lightgbm": ("steps.train.algorithms.lightgbm_model", "LightGBMAlgorithm"),
    "gru": ("steps.train.algorithms.gru_model", "GRUAlgorithm"),
}


def get_algorithm(name: str) -> type[Algorithm]:
    if name not in ALGORITHMS:
        raise StepConfigError(
            f"unknown algorithm {name!r}", column="algorithm",
            fix=f"use one of: {', '.join(sorted(ALGORITHMS))}",
        )
    module, cls = ALGORITHMS[name]
    return getattr(importlib.import_module(module), cls)


__all__ = ["ALGORITHMS", "Algorithm", "FitResult", "HyperParameter", "LoadedModel", "find_model_folder",
           "get_algorithm", "load_model_dir"]
