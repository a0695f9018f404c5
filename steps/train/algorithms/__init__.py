"""Model families by name. Add catboost/lightgbm/gru here as Algorithm subclasses."""

from __future__ import annotations

from steps.common.errors import StepConfigError
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


__all__ = ["ALGORITHMS", "Algorithm", "FitResult", "HyperParameter", "get_algorithm"]
