"""XGBoost behind the Algorithm interface (binary:logistic, histogram trees)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from steps.train.algorithms.base import Algorithm, FitResult, default_threads
from steps.train.hyperparameter_specs import DECLARED

MODEL_FILE = "model.json"


class XGBoostAlgorithm(Algorithm):
    name = "xgboost"
    files = (MODEL_FILE,)
    importance_type = "total_gain"
    hyperparameters = DECLARED["xgboost"]

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.booster: xgb.Booster | None = None
        self.best_iteration: int | None = None

    def _booster_params(self) -> dict[str, Any]:
        return {"objective": "binary:logistic", "tree_method": "hist", **self.library_params(),
                "nthread": default_threads(self.params["nthread"]), "verbosity": 0}

    def fit(self, x_train, y_train, x_valid, y_valid, feature_names):
        train = xgb.DMatrix(x_train, label=y_train, feature_names=feature_names, missing=np.nan)
        valid = xgb.DMatrix(x_valid, label=y_valid, feature_names=feature_names, missing=np.nan)
        self.booster = xgb.train(
            self._booster_params(), train, num_boost_round=int(self.params["num_round"]),
            evals=[(valid, "validation")], early_stopping_rounds=int(self.params["early_stopping_rounds"]),
            verbose_eval=False,
        )
        self.best_iteration = int(self.booster.best_iteration) + 1
        return FitResult(best_iteration=self.best_iteration)

    def refit(self, x, y, iterations, feature_names):
        data = xgb.DMatrix(x, label=y, feature_names=feature_names, missing=np.nan)
        self.booster = xgb.train(self._booster_params(), data, num_boost_round=int(iterations), verbose_eval=False)
        self.best_iteration = int(iterations)

    def predict(self, x):
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        data = xgb.DMatrix(x, feature_names=self.booster.feature_names, missing=np.nan)
        rounds = self.best_iteration or self.booster.num_boosted_rounds()
        return self.booster.predict(data, iteration_range=(0, rounds))

    def feature_importance(self) -> dict[str, float] | None:
        if self.booster is None or not self.booster.feature_names:
            return None
        gains = self.booster.get_score(importance_type="total_gain")
        return {name: float(gains.get(name, 0.0)) for name in self.booster.feature_names}

    def trained_features(self) -> list[str] | None:
        return list(self.booster.feature_names) if self.booster is not None and self.booster.feature_names else None

    def save(self, model_dir: Path) -> list[str]:
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        from steps.common.io import atomic_path

        with atomic_path(model_dir / MODEL_FILE) as temporary:
            # The temporary name keeps the .json suffix, which is how xgboost picks the JSON format.
            self.booster.save_model(str(temporary))
        return [MODEL_FILE]

    @classmethod
    def load(cls, model_dir: Path, meta: dict[str, Any]) -> XGBoostAlgorithm:
        model = cls({**cls.defaults(), **meta.get("hyperparameters", {})})
        booster = xgb.Booster()
        booster.load_model(str(model_dir / MODEL_FILE))
        model.booster = booster
        model.best_iteration = int(meta.get("refit_iterations") or booster.num_boosted_rounds())
        return model
