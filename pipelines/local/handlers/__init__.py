"""The step handlers by step type: the runner's factory (one handler module per step type).

Each handler names its step type's declaration (`pipelines.definition.step_types.STEP_TYPES`);
tests/pipelines/test_step_types.py holds the two tables to each other.
"""

from __future__ import annotations

from pipelines.local.handlers.base import StepHandler, StepResult, StepRun
from pipelines.local.handlers.condition import ConditionHandler
from pipelines.local.handlers.fail import FailHandler
from pipelines.local.handlers.model import ModelHandler
from pipelines.local.handlers.processing import ProcessingHandler
from pipelines.local.handlers.register_model import RegisterModelHandler
from pipelines.local.handlers.training import TrainingHandler
from pipelines.local.handlers.tuning import TuningHandler

HANDLERS: dict[str, StepHandler] = {
    handler.step_type: handler
    for handler in (
        ProcessingHandler(),
        TrainingHandler(),
        TuningHandler(),
        ConditionHandler(),
        FailHandler(),
        RegisterModelHandler(),
        ModelHandler(),
    )
}

__all__ = ["HANDLERS", "StepHandler", "StepResult", "StepRun"]
