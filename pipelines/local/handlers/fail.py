"""FailStep: ends the execution in failure with its (resolved) ErrorMessage."""

from __future__ import annotations

from pipelines.local.errors import LocalRunError, StepFailed
from pipelines.local.expressions import resolve, to_text
from pipelines.local.handlers.base import StepHandler, StepResult, StepRun


class FailHandler(StepHandler):
    step_type = "Fail"
    resolves_own_arguments = True

    def execute(self, run: StepRun) -> StepResult:
        try:
            spec = run.node.spec.get("Arguments", {}).get("ErrorMessage", "")
            message = to_text(resolve(spec, run.execution.context()))
        except LocalRunError as exc:
            message = f"(the FailStep's ErrorMessage could not be resolved: {exc})"
        run.step.arguments = {"ErrorMessage": message}
        raise StepFailed(run.name, message)
