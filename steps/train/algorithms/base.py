"""The interface every model family implements: xgboost, catboost, lightgbm and gru behind one loop.

A family declares its hyperparameters (name -> type and default) and knows how to fit with early stopping
on a validation window, refit for a fixed number of rounds, predict probabilities, and save/load itself
in a model folder. Cross-validation, grouping, metrics and file layout live in steps.train.run, once for
all. A family that reads more than the current row (the GRU reads the last K rows of the same ticker)
overrides `design_matrix`, which turns the whole feature table into the model's input rows once; the loop
then only ever indexes that by row masks, so fold boundaries are the same for every family. The result need
not be an array: the GRU's is a `SequenceMatrix` (flat rows plus each row's window), whose row selection
copies positions, not K-row sequences.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from steps.train.hyperparameter_specs import HyperParameter


@dataclass
class FitResult:
    best_iteration: int
    """Number of boosting rounds / epochs that scored best on the validation window (>= 1)."""


def default_threads(requested: int = 0) -> int:
    """`requested`, else what the job was given (OMP_NUM_THREADS / SM_NUM_CPUS, set by the runner), else all."""
    if requested and requested > 0:
        return int(requested)
    for variable in ("OMP_NUM_THREADS", "SM_NUM_CPUS"):
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


class Algorithm(ABC):
    name: ClassVar[str]
    hyperparameters: ClassVar[tuple[HyperParameter, ...]]
    files: ClassVar[tuple[str, ...]] = ()
    importance_type: ClassVar[str | None] = None  # what `feature_importance` measures, in the library's words

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {hp.name: hp.default for hp in cls.hyperparameters}

    def library_params(self) -> dict[str, Any]:
        """This model's hyperparameters that the library takes as they are, under the library's names: derived from
        the declarations, so a hyperparameter is written once (the family adds what is fixed or translated)."""
        return {hp.library or hp.name: self.params[hp.name] for hp in self.hyperparameters if hp.library is not None}

    @classmethod
    def design_matrix(cls, frame: pd.DataFrame, columns: list[str], params: dict[str, Any]) -> np.ndarray:
        """The model's input for every row of `frame` (row i of the result belongs to row i of the frame).

        Whatever it returns, `x[mask]` (a boolean row mask or row positions) selects rows and `len(x)` counts
        them; that is all the loop and the loader do with it before handing it to fit/predict."""
        return frame[columns].to_numpy(dtype="float64", na_value=np.nan)

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

    def feature_importance(self) -> dict[str, float] | None:
        """The fitted model's own importance of each feature (the library's gain), every feature named, unused ones
        at 0. Written into model_meta.json at training time so the report can always show which inputs the model
        leans on, even when the SHAP stability stage did not run; None where the family has no such measure (GRU).
        """
        return None

    def trained_features(self) -> list[str] | None:
        """The feature names, in input order, that the saved model file itself records (None: it records none).

        The loader compares them with model_meta.json's `features`: the model takes columns by position, so
        a list reordered after training would silently score every row on the wrong inputs."""
        return None

    @classmethod
    @abstractmethod
    def load(cls, model_dir: Path, meta: dict[str, Any]) -> Algorithm:
        """Load a model saved by `save` (meta is model_meta.json, or a group's part of it)."""
