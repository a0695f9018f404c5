"""The runner's error types; `pipelines.run` is the one place that turns them into exit codes."""

from __future__ import annotations


class LocalRunError(Exception):
    """The run could not proceed; the message is one line a user can act on."""


class UnsupportedConstruct(LocalRunError):
    """The definition uses something the local runner does not interpret; the message names it."""


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
