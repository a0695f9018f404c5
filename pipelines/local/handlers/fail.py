"""FailStep: ends the execution in failure with its (resolved) ErrorMessage."""

from __future__ import annotations

from typing import Any

from pipelines.definition.errors import DefinitionError
from pipelines.definition.expressions import resolve, to_text
from pipelines.definition.requests import clip
from pipelines.definition.step_types import FailStepType
from pipelines.local.errors import LocalRunError, StepFailed
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun
from pipelines.local.record import StepRecord

ERROR_MESSAGE_MAX = 3072  # botocore's FailStepMetadata ErrorMessage


class FailHandler(StepHandler):
    declaration = FailStepType()
    resolves_own_arguments = True

    def execute(self, run: StepRun) -> StepResult:
        try:
            spec = run.node.spec.get("Arguments", {}).get("ErrorMessage", "")
            message = to_text(resolve(spec, run.execution.context()))
        except (DefinitionError, LocalRunError) as exc:
            message = f"(the FailStep's ErrorMessage could not be resolved: {exc})"
        run.step.arguments = {"ErrorMessage": message}
        raise StepFailed(run.name, message)

    def list_metadata(self, step: StepRecord, execution_id: str, arn_prefix: str) -> dict[str, Any]:
        if step.status != "Failed":
            return {}
        message = (step.arguments or {}).get("ErrorMessage") if isinstance(step.arguments, dict) else None
        return {"Fail": {"ErrorMessage": clip(str(message or step.failure_reason or ""), ERROR_MESSAGE_MAX)}}
