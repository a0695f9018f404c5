"""The runner's error types; `pipelines.run` is the one place that turns them into exit codes.

A definition the runner cannot read raises the definition layer's `DefinitionError`
(`pipelines.definition.errors`); `PipelineExecution` turns one met before anything runs into a
`DefinitionUnreadable` (a `LocalRunError` with the same message), and a step that meets one fails with it.
"""

from __future__ import annotations

from pipelines.definition.errors import DefinitionError


class LocalRunError(Exception):
    """The run could not proceed; the message is one line a user can act on."""


class DefinitionUnreadable(LocalRunError):
    """The definition could not be read before anything ran; `cause` is the definition layer's error."""

    def __init__(self, cause: DefinitionError):
        super().__init__(str(cause))
        self.cause = cause


class StepFailed(LocalRunError):
    """A step ended in failure (a job's non-zero exit, a FailStep, a registry error)."""

    def __init__(self, step_name: str, reason: str):
        super().__init__(f"{step_name}: {reason}")
        self.step_name = step_name
        self.reason = reason


class DefinitionRefused(LocalRunError):
    """The definition breaks a rule SageMaker enforces when it creates or starts the pipeline."""

    def __init__(self, violations: list):
        self.violations = list(violations)
        lines = "\n".join(f"  {violation}" for violation in self.violations)
        super().__init__(f"the definition breaks {len(self.violations)} SageMaker rule(s); nothing ran:\n{lines}")
