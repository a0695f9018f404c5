"""CatBoost behind the Algorithm interface (Logloss, symmetric trees, AUC for early stopping)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catboost import CatBoostClassifier, Pool

from steps.train.algorithms.base import Algorithm, FitResult, default_threads
from steps.train.hyperparameter_specs import DECLARED

MODEL_FILE = "model.cbm"


class CatBoostAlgorithm(Algorithm):
    name = "catboost"
    files = (MODEL_FILE,)
    importance_type = "PredictionValuesChange"
    hyperparameters = DECLARED["catboost"]

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.model: CatBoostClassifier | None = None

    def _classifier(self, iterations: int) -> CatBoostClassifier:
        return CatBoostClassifier(iterations=int(iterations), **self.library_params(), loss_function="Logloss",
                                  thread_count=default_threads(self.params["nthread"]), allow_writing_files=False,
                                  verbose=False)

    def fit(self, x_train, y_train, x_valid, y_valid, feature_names):
        self.model = self._classifier(self.params["iterations"])
        self.model.fit(
            Pool(x_train, y_train, feature_names=feature_names),
            eval_set=Pool(x_valid, y_valid, feature_names=feature_names),
            early_stopping_rounds=int(self.params["early_stopping_rounds"]),
            use_best_model=True,
        )
        return FitResult(best_iteration=int(self.model.get_best_iteration()) + 1)

    def refit(self, x, y, iterations, feature_names):
        self.model = self._classifier(iterations)
        self.model.fit(Pool(x, y, feature_names=feature_names))

    def predict(self, x):
        if self.model is None:
            raise RuntimeError("model is not fitted")
        return self.model.predict_proba(x)[:, 1]

    def feature_importance(self) -> dict[str, float] | None:
        if self.model is None or not self.model.feature_names_:
            return None
        values = self.model.get_feature_importance(type="PredictionValuesChange")
        return {name: float(value) for name, value in zip(self.model.feature_names_, values, strict=True)}

    def trained_features(self) -> list[str] | None:
        return list(self.model.feature_names_) if self.model is not None and self.model.feature_names_ else None

    def save(self, model_dir: Path) -> list[str]:
        if self.model is None:
            raise RuntimeError("model is not fitted")
        from steps.common.io import atomic_path

        with atomic_path(model_dir / MODEL_FILE) as temporary:
            self.model.save_model(str(temporary), format="cbm")
        return [MODEL_FILE]

    @classmethod
    def load(cls, model_dir: Path, meta: dict[str, Any]) -> CatBoostAlgorithm:
        model = cls({**cls.defaults(), **meta.get("hyperparameters", {})})
        model.model = CatBoostClassifier()
        model.model.load_model(str(model_dir / MODEL_FILE), format="cbm")
        return model


