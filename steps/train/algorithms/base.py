"""The interface every model family implements, so catboost/lightgbm/gru slot in beside xgboost.

A family declares its hyperparameters (name -> type and default) and knows how to fit with early stopping
on a validation window, refit for a fixed number of rounds, predict probabilities, and save/load itself
in a model folder. Cross-validation, metrics and file layout live in steps.train.run, once for all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class HyperParameter:
    name: str
    kind: type
    default: Any
    help: str = ""


@dataclass
class FitResult:
    best_iteration: int
    """Number of boosting rounds / epochs that scored best on the validation window (>= 1)."""


class Algorithm(ABC):
    name: ClassVar[str]
    hyperparameters: ClassVar[tuple[HyperParameter, ...]]

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {hp.name: hp.default for hp in cls.hyperparameters}

    @abstractmethod
    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
            feature_names: list[str]) -> FitResult:
        """Fit with early stopping on (x_valid, y_valid); keep the best iteration for predict()."""

    @abstractmethod
    def refit(self, x: np.ndarray, y: np.ndarray, iterations: int, feature_names: list[str]) -> None:
        """Fit on all development rows for a fixed number of iterations (no validation data)."""

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(label = 1) for each row."""

    @abstractmethod
    def save(self, model_dir: Path) -> list[str]:
        """Write the model into `model_dir`; return the file names written."""

    @classmethod
    @abstractmethod
    def load(cls, model_dir: Path, meta: dict[str, Any]) -> Algorithm:
        """Load a model saved by `save` (meta is model_meta.json)."""
