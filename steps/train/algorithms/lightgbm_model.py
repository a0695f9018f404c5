"""LightGBM behind the Algorithm interface (binary objective, leaf-wise trees, AUC early stopping)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb

from steps.train.algorithms.base import Algorithm, FitResult, default_threads
from steps.train.hyperparameter_specs import DECLARED

MODEL_FILE = "model.txt"


class LightGBMAlgorithm(Algorithm):
    name = "lightgbm"
    files = (MODEL_FILE,)
    importance_type = "gain"
    hyperparameters = DECLARED["lightgbm"]

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.booster: lgb.Booster | None = None
        self.best_iteration: int | None = None

    def _booster_params(self) -> dict[str, Any]:
        return {"objective": "binary", "metric": "auc", **self.library_params(), "deterministic": True,
                "force_row_wise": True, "num_threads": default_threads(self.params["nthread"]), "verbosity": -1}

    def fit(self, x_train, y_train, x_valid, y_valid, feature_names):
        train = lgb.Dataset(x_train, label=y_train, feature_name=feature_names, free_raw_data=False)
        valid = lgb.Dataset(x_valid, label=y_valid, reference=train, free_raw_data=False)
        self.booster = lgb.train(
            self._booster_params(), train, num_boost_round=int(self.params["num_round"]), valid_sets=[valid],
            valid_names=["validation"],
            callbacks=[lgb.early_stopping(int(self.params["early_stopping_rounds"]), verbose=False)],
        )
        self.best_iteration = max(1, int(self.booster.best_iteration or self.booster.current_iteration()))
        return FitResult(best_iteration=self.best_iteration)

    def refit(self, x, y, iterations, feature_names):
        data = lgb.Dataset(x, label=y, feature_name=feature_names)
        self.booster = lgb.train(self._booster_params(), data, num_boost_round=int(iterations))
        self.best_iteration = int(iterations)

    def predict(self, x):
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        return self.booster.predict(x, num_iteration=self.best_iteration or self.booster.current_iteration())

    def feature_importance(self) -> dict[str, float] | None:
        if self.booster is None:
            return None
        gains = self.booster.feature_importance(importance_type="gain", iteration=self.best_iteration)
        return {name: float(gain) for name, gain in zip(self.booster.feature_name(), gains, strict=True)}

    def trained_features(self) -> list[str] | None:
        return list(self.booster.feature_name()) if self.booster is not None else None

    def save(self, model_dir: Path) -> list[str]:
        if self.booster is None:
            raise RuntimeError("model is not fitted")
        from steps.common.io import atomic_path

        with atomic_path(model_dir / MODEL_FILE) as temporary:
            self.booster.save_model(str(temporary), num_iteration=self.best_iteration)
        return [MODEL_FILE]

    @classmethod
    def load(cls, model_dir: Path, meta: dict[str, Any]) -> LightGBMAlgorithm:
        model = cls({**cls.defaults(), **meta.get("hyperparameters", {})})
        model.booster = lgb.Booster(model_file=str(model_dir / MODEL_FILE))
        model.best_iteration = model.booster.current_iteration()
        return model
