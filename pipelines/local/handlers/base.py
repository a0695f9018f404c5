"""What a step handler is: the one place a step type's behaviour lives (after the SDK's local executor).

The run loop knows no step type. It resolves a step's arguments, asks the handler which SageMaker request
they become (so the request is validated against the service model before anything runs), consults the
cache for a cacheable type, and calls `execute`. A new step type is one handler module and one line in
`pipelines.local.handlers.HANDLERS`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pipelines.definition_graph import StepNode
    from pipelines.local.executor import PipelineExecution
    from pipelines.local.record import StepRecord


@dataclass
class StepRun:
    """One step being executed: the execution it belongs to, its node, its record and its job's name."""

    execution: PipelineExecution
    node: StepNode
    step: StepRecord
    arguments: Any = None  # resolved, for handlers whose arguments the run loop resolves
    job_name: str = ""
    job_root: Path | None = None

    @property
    def name(self) -> str:
        return self.node.name

    def job_slot(self) -> AbstractContextManager[None]:
        """One of the run's `--max-parallel` slots, held while a job (or one tuning trial) runs."""
        return self.execution.job_slot()

    def echo(self, line: str) -> None:
        self.execution.options.echo(line)


@dataclass
class StepResult:
    """What a step leaves behind: its describe-response (properties), outputs by name and its own figures."""

    properties: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


class StepHandler:
    step_type: ClassVar[str]
    cacheable: ClassVar[bool] = False  # SageMaker caches Processing, Training and Tuning steps
    resolves_own_arguments: ClassVar[bool] = False  # Condition and Fail evaluate their arguments themselves
    job_name_limit: ClassVar[int] = 63  # the service's name length for the job the step creates

    def request(self, arguments: dict[str, Any], job_name: str) -> tuple[str, dict[str, Any]] | None:
        """The SageMaker API call this step makes, as (operation, request); None when it makes none."""
        return None

    def execute(self, run: StepRun) -> StepResult:
        raise NotImplementedError

    def output_uris(self, properties: dict[str, Any]) -> list[str]:
        """The S3 URIs the step wrote, from its describe-response: a cache hit needs them exactly as written."""
        return []
