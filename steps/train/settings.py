"""steps.train's job options (not model hyperparameters), declared once: configs/pipeline.yaml's `training:`
section embeds `TrainingSettings`, the tuning stage passes them as the training job's static hyperparameters
(pipelines/stages/tuning.py), and steps.train validates what arrives (strings, as SageMaker passes every
hyperparameter) with this model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from steps.common.settings import StepSettings


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
