"""What a step handler is: the one place a step type's behaviour lives (after the SDK's local executor).

The run loop knows no step type. It resolves a step's arguments, asks the handler's declaration
(`pipelines.definition.step_types`) which SageMaker request they become (so the request is validated
against the service model before anything runs), consults the cache for a cacheable type, and calls
`execute`. What the run's record, its summary and its mirror in the emulator say of a step are the
handler's hooks too. A new step type is its declaration and one handler module (`pipelines.local.handlers` finds it).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pipelines.definition.requests import job_name
from pipelines.definition.step_types import StepType

if TYPE_CHECKING:
    from pipelines.definition.graph import StepNode
    from pipelines.local.executor import PipelineExecution
    from pipelines.local.record import ExecutionRecord, StepRecord


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
    declaration: ClassVar[StepType]  # what the definition layer knows of the type (request, job, properties)
    cacheable: ClassVar[bool] = False  # SageMaker caches Processing, Training and Tuning steps
    resolves_own_arguments: ClassVar[bool] = False  # Condition and Fail evaluate their arguments themselves

    @property
    def step_type(self) -> str:
        return self.declaration.name

    def execute(self, run: StepRun) -> StepResult:
        raise NotImplementedError

    def output_uris(self, properties: dict[str, Any]) -> list[str]:
        """The S3 URIs the step wrote, from its describe-response: a cache hit needs them exactly as written."""
        return []

    # -- what the run says of the step ----------------------------------------------------------------------
    def update_record(self, record: ExecutionRecord, result: StepResult) -> None:
        """What a succeeded step sets on the execution's record (RegisterModel: the model package)."""

    def end_note(self, step: StepRecord) -> str:
        """The note on a succeeded step's `[ end ]` line (a condition's branch)."""
        return ""

    def summary_note(self, step: StepRecord) -> str:
        """The note in the final table's row (a tuning step's best objective)."""
        return ""

    def gate_lines(self, step: StepRecord) -> list[str]:
        """The lines a succeeded step adds under the summary's `gates:` (a condition's operands and outcome)."""
        return []

    def list_metadata(self, step: StepRecord, execution_id: str, arn_prefix: str) -> dict[str, Any]:
        """`Metadata` of the step in ListPipelineExecutionSteps, as SageMaker returns it for the type: the ARN
        of the job it created (named as the runner names it, before its describe-response exists)."""
        job = self.declaration.job
        if job is None:
            return {}
        properties = step.properties or {}
        arn = properties.get(job.arn_property)
        name = properties.get(job.name_property) or job_name(step.name, execution_id, self.declaration.job_name_limit)
        if not arn and name:
            arn = f"{arn_prefix}:{job.arn_resource}/{str(name).lower()}"
        return {job.metadata_key: {"Arn": arn}} if arn else {}
