"""Model families by name, and `load_model_dir`: one loader for every family's model folder."""

from __future__ import annotations

from steps.common.errors import StepConfigError
from steps.train.algorithms.base import Algorithm, FitResult, HyperParameter
from steps.train.algorithms.catboost_model import CatBoostAlgorithm
from steps.train.algorithms.gru_model import GRUAlgorithm
from steps.train.algorithms.lightgbm_model import LightGBMAlgorithm
from steps.train.algorithms.loader import LoadedModel, find_model_folder, load_model_dir
from steps.train.algorithms.xgboost_model import XGBoostAlgorithm

ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (XGBoostAlgorithm, CatBoostAlgorithm, LightGBMAlgorithm, GRUAlgorithm)
}


def get_algorithm(name: str) -> type[Algorithm]:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise StepConfigError(
            f"unknown algorithm {name!r}", column="algorithm",
            fix=f"use one of: {', '.join(sorted(ALGORITHMS))}",
        ) from None


__all__ = ["ALGORITHMS", "Algorithm", "FitResult", "HyperParameter", "LoadedModel", "find_model_folder",
           "get_algorithm", "load_model_dir"]
