"""steps.train's declarations, read by the pipeline without importing any model library: the job options
(`TrainingSettings`) and the model families (`ALGORITHMS`).

`TrainingSettings` is declared once: configs/pipeline.yaml's `training:` section embeds it, the tuning stage passes
it as the training job's static hyperparameters (pipelines/stages/tuning.py), and steps.train validates what
arrives (strings, as SageMaker passes every hyperparameter) with this model.

`ALGORITHMS` is the one list of model families (Qlib's habit: one interface, a family bound by name). A family is
one implementation module under steps/train/algorithms/ (a subclass of `Algorithm`), its hyperparameters'
declarations in steps/train/hyperparameter_specs.py (read by `--help` without the model library), one
`AlgorithmEntry` line here and one configs/hpo/<name>.yaml. The config's `algorithms:`,
the HPO files, `--algorithm`, the tuning stage's image and instance type and `get_algorithm` all read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from steps.common.settings import StepSettings


@dataclass(frozen=True)
class AlgorithmEntry:
    """A model family's facts. The class is named, not imported: a job imports only its own library (catboost and
    torch take a second or more each, paid by every tuning trial) and the pipeline none."""

    name: str
    """`--algorithm`, the config's `algorithms:` item, configs/hpo/<name>.yaml and Tune-<name>."""
    module: str
    class_name: str
    gpu: bool = False
    """Tuned on the GPU instance type (GruInstanceType) with the GPU image, instead of TrainingInstanceType with the
    training image."""


ALGORITHMS: dict[str, AlgorithmEntry] = {entry.name: entry for entry in (
    AlgorithmEntry("xgboost", "steps.train.algorithms.xgboost_model", "XGBoostAlgorithm"),
    AlgorithmEntry("catboost", "steps.train.algorithms.catboost_model", "CatBoostAlgorithm"),
    AlgorithmEntry("lightgbm", "steps.train.algorithms.lightgbm_model", "LightGBMAlgorithm"),
    AlgorithmEntry("gru", "steps.train.algorithms.gru_model", "GRUAlgorithm", gpu=True),
)}


def known_algorithm(name: str) -> str:
    """`name` when it is a family in `ALGORITHMS`, else a ValueError listing them (pydantic reports it)."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; allowed: {', '.join(ALGORITHMS)}")
    return name


class TrainingSettings(StepSettings):
    """How a training job splits the universe: one global model, or one per stock / sector plus the global model
    for groups with fewer than `min_group_rows` development rows."""

    grouping: Literal["global", "stock", "sector"] = Field("global", description="one model, or one per stock / "
                                                                                 "sector plus a global fallback")
    min_group_rows: int = Field(500, ge=1, description="a group with fewer development rows is scored by the "
                                                       "global model")

    def hyperparameters(self) -> dict[str, str]:
        """As a training job's hyperparameters: none for one global model (the default; `min_group_rows` is unused
        there), else every option, as text."""
        if self.grouping == "global":
            return {}
        return {name: str(value) for name, value in self.model_dump().items()}
