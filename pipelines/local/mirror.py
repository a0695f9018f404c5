"""A local run as a pipeline execution in the emulator, as SageMaker Studio would show it.

`mirror_execution(execution, role_arn)` makes the run's record observer (`RunOptions.on_record`) keep the
emulator up to date through the run's own SageMaker client (`PipelineExecution.sagemaker_client()`: the
embedded emulator, or `--endpoint-url`):

- once, CreatePipeline / UpdatePipeline with the run's definition (nothing when it is already published
  there unchanged);
- each time the record is written (a step started or ended, the run ended), the emulator's
  `PutLocalPipelineExecution` with the whole execution: id and ARN from the run's execution id
  (`runs/<start>-<execution-id>/`), status, failure reason, times, parameters, the pipeline's
  ParallelismConfiguration and the steps in the `ListPipelineExecutionSteps` item shape, each with its
  `AttemptCount` (`execution_request`).

Then `list_pipeline_executions`, `describe_pipeline_execution`, `list_pipeline_execution_steps` and the
SageMaker SDK's `_PipelineExecution` (describe, list_steps, wait) answer for the run, live and after the
emulator restarts. Only an emulator on this machine (a loopback endpoint) is written to: a run pointed at
any other endpoint publishes nothing there.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from pipelines.definition.requests import clip
from pipelines.local.handlers import HANDLERS
from pipelines.local.record import ExecutionRecord, StepRecord

# A step is listed once it has started, as SageMaker lists them; NotStarted and Skipped (a branch not taken)
# steps are absent. The runner's statuses are SageMaker's (Starting|Executing|Stopping|Stopped|Failed|Succeeded).
LISTED_STEP_STATUSES = ("Executing", "Succeeded", "Failed")
TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_EXECUTION_ACTION = "PutLocalPipelineExecution"  # pipelines.emulator_executions (not imported: it loads moto's
# front and werkzeug, which a run pointed at another endpoint never needs)
# botocore's length limits on the fields a reason goes into
STEP_REASON_MAX, EXECUTION_REASON_MAX = 1024, 1300


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _parameter_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def step_metadata(step: StepRecord, execution_id: str, arn_prefix: str) -> dict[str, Any]:
    """`Metadata` of a listed step, per step type as SageMaker returns it (its handler's `list_metadata`)."""
    handler = HANDLERS.get(step.type)
    return handler.list_metadata(step, execution_id, arn_prefix) if handler else {}


def execution_request(
    record: ExecutionRecord, pipeline_arn: str, specs: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The `PutLocalPipelineExecution` request for a record (`specs`: the definition's steps by name)."""
    specs = specs or {}
    arn_prefix = pipeline_arn.split(":pipeline/", 1)[0]
    steps = []
    for step in record.steps.values():
        if step.status not in LISTED_STEP_STATUSES or not step.started_at:
            continue
        spec = specs.get(step.name, {})
        item: dict[str, Any] = {"StepName": step.name, "StepStatus": step.status, "StartTime": _time(step.started_at)}
        if spec.get("DisplayName"):
            item["StepDisplayName"] = spec["DisplayName"]
        if spec.get("Description"):
            item["StepDescription"] = spec["Description"]
        if step.ended_at:
            item["EndTime"] = _time(step.ended_at)
        if step.attempts:  # "The current attempt of the execution step" (botocore's PipelineExecutionStep)
            item["AttemptCount"] = len(step.attempts)
        if step.status == "Failed" and step.failure_reason:
            item["FailureReason"] = clip(step.failure_reason, STEP_REASON_MAX)
        if step.cache_hit and (step.properties or {}).get("CachedFromExecution"):
            item["CacheHitResult"] = {
                "SourcePipelineExecutionArn": f"{pipeline_arn}/execution/{step.properties['CachedFromExecution']}"
            }
        metadata = step_metadata(step, record.execution_id, arn_prefix)
        if metadata:
            item["Metadata"] = metadata
        steps.append(item)
    # the execution's status is terminal only once the run has ended (steps still running after a failure
    # keep it Executing, as in SageMaker)
    ended = record.ended_at is not None and record.status in TERMINAL_STATUSES
    times = [_time(t) for s in record.steps.values() for t in (s.started_at, s.ended_at) if t]
    times += [_time(t) for t in (record.started_at, record.ended_at) if t]
    request: dict[str, Any] = {
        "PipelineName": record.pipeline_name,
        "PipelineExecutionId": record.execution_id,
        "PipelineExecutionDisplayName": record.execution_id,
        "PipelineExecutionDescription": clip(f"local run, record {record.path}", 3072),
        "PipelineExecutionStatus": record.status if ended else "Executing",
        "StartTime": _time(record.started_at),
        "LastModifiedTime": max(times),
        "PipelineParameters": [{"Name": k, "Value": _parameter_text(v)} for k, v in record.parameters.items()],
        "PipelineExecutionSteps": steps,
    }
    if ended and record.failure_reason:
        request["FailureReason"] = clip(record.failure_reason, EXECUTION_REASON_MAX)
    if record.parallelism_configuration:
        request["ParallelismConfiguration"] = dict(record.parallelism_configuration)
    return request


class MirrorFailed(RuntimeError):
    """The run could not mirror itself into the emulator (one line: where, what, what to do)."""


def _shown(endpoint: str) -> str:
    """The endpoint without any user:password in it (messages never carry a secret)."""
    parts = urlparse(endpoint)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


# what this project's emulator answers a put with; any other refusal (404, 500, UnknownOperation...) is an
# endpoint without the action
EMULATOR_ERROR_CODES = {"ValidationException", "ResourceNotFound", "SerializationException"}
MESSAGE_MAX = 300


def failure_line(endpoint: str, exc: BaseException) -> str:
    """Why the run is not in the emulator, and what to do about it, in one line."""
    from botocore.exceptions import ClientError

    where = _shown(endpoint) if "://" in endpoint else endpoint
    todo = "the run's record and artifacts are complete"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or "?"
        message = clip(" ".join(re.sub(r"<[^>]*>", " ", str(error.get("Message") or "")).split()), MESSAGE_MAX)
        what = f"{where} refused {exc.operation_name} ({code}{f': {message}' if message else ''})"
        if exc.operation_name == LOCAL_EXECUTION_ACTION and code not in EMULATOR_ERROR_CODES:
            todo = ("only this project's emulator keeps a run's execution: leave out --endpoint-url for the run's "
                    f"embedded one, or point it at `python -m pipelines.emulator`; {todo}")  # fmt: skip
    else:
        what = f"{where}: {type(exc).__name__}: {exc}"
        todo = f"is the emulator there running (`python -m pipelines.emulator`)? {todo}"
    return " ".join(f"the run is not mirrored into the emulator as a pipeline execution: {what}; {todo}".split())


class ExecutionMirror:
    """The observer: publishes the definition once, then puts the execution at each record write."""

    def __init__(self, execution, role_arn: str, description: str | None = None):
        self.execution = execution
        self.role_arn = role_arn
        self.description = description
        self.pipeline_arn: str | None = None
        self.execution_arn: str | None = None
        self.off = False
        self.specs = {name: node.spec for name, node in execution.nodes.items()}

    def __call__(self, record: ExecutionRecord) -> None:
        if self.off:
            return
        endpoint = self.execution.options.aws_endpoint or "the run's embedded emulator"
        try:
            client = self.execution.sagemaker_client()
            endpoint = client.meta.endpoint_url
            if self.pipeline_arn is None and urlparse(endpoint).hostname not in LOOPBACK_HOSTS:
                self.off = True
                self.execution.options.echo(f"not mirrored as a pipeline execution: {endpoint} is not a local emulator")
                return
            self._mirror(client, record)
        except Exception as exc:
            raise MirrorFailed(failure_line(endpoint, exc)) from exc

    def _mirror(self, client, record: ExecutionRecord) -> None:
        if self.pipeline_arn is None:
            self.pipeline_arn = self._publish(client)
        response = client.put_local_pipeline_execution(**execution_request(record, self.pipeline_arn, self.specs))
        if self.execution_arn is None:
            self.execution_arn = response["PipelineExecutionArn"]
            endpoint = client.meta.endpoint_url
            self.execution.options.echo(f"pipeline execution {self.execution_arn} in the emulator on {endpoint}")

    def _publish(self, client) -> str:
        """CreatePipeline, or UpdatePipeline when the definition there differs; the pipeline's ARN."""
        from botocore.exceptions import ClientError

        name = self.execution.pipeline_name
        text = json.dumps(self.execution.definition)
        try:
            described = client.describe_pipeline(PipelineName=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"ResourceNotFound", "ValidationException"}:
                raise
            described = None
        request = {"PipelineName": name, "PipelineDefinition": text, "RoleArn": self.role_arn}
        if self.description:
            request["PipelineDescription"] = self.description
        parallelism = self.execution.record.parallelism_configuration  # as `upsert` sends it
        if parallelism:
            request["ParallelismConfiguration"] = dict(parallelism)
        if described is None:
            return client.create_pipeline(**request)["PipelineArn"]
        if described.get("PipelineDefinition") != text or described.get("ParallelismConfiguration") != parallelism:
            client.update_pipeline(**request)
        return described["PipelineArn"]


def mirror_execution(execution, role_arn: str, description: str | None = None) -> ExecutionMirror:
    """Make `execution` mirror itself into the emulator (beside any observer its options already have)."""
    mirror = ExecutionMirror(execution, role_arn, description)
    previous: Callable[[ExecutionRecord], None] | None = execution.options.on_record

    def observe(record: ExecutionRecord) -> None:
        if previous is not None:
            previous(record)
        mirror(record)

    execution.options = dataclasses.replace(execution.options, on_record=observe if previous else mirror)
    return mirror
