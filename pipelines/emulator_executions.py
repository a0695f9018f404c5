"""Pipeline executions in the emulator as SageMaker answers for them: what moto 5.2 lacks, added to its server.

moto keeps pipelines and executions but has no `ListPipelineExecutionSteps`, describes every execution
with an empty `FailureReason` and lists a missing one as the text "None". `install()` registers on
moto's SageMaker response class, in this process, before the emulator serves:

- `ListPipelineExecutionSteps`, answered through moto's own serializer with botocore's output shape
  (the spec): the steps that started, newest first (`SortOrder`), `MaxResults` / `NextToken` pages;
- `DescribePipelineExecution` and `ListPipelineExecutions` that return the execution's failure reason
  (absent when there is none), newest first, with `SortOrder`, `MaxResults` / `NextToken`;
- `PutLocalPipelineExecution`, the one action that is not SageMaker's (`LOCAL_EXECUTION_ACTION`): a local
  run (`pipelines.local.mirror`) puts its whole execution (id, status, failure reason, times, parameters,
  steps in the `ListPipelineExecutionSteps` item shape) each time its record changes. It reaches moto
  as an ordinary request, so moto's recorder journals it and a restarted emulator replays it: the steps
  come back with everything else. Each put carries the whole state, so only the last one per execution
  matters (`local_put_key`, used by the journal's compaction).

moto's recorder is also made to journal one request at a time (`_serialise_recording`).

The request shape of the local action is botocore's own shapes, declared for boto3 clients in
`pipelines/emulator_model/` (`emulator_client` loads it); the server reads its JSON body directly.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from typing import Any

LOCAL_EXECUTION_ACTION = "PutLocalPipelineExecution"
_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Register the actions above on moto's SageMaker server (idempotent; moto is imported here)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.sagemaker.responses import SageMakerResponse

        parse_parameters = SageMakerResponse.parse_parameters

        def parse_local_parameters(self, request) -> None:
            # botocore's model (which moto parses requests with) has no local action: its body is plain JSON
            if self._get_action() == LOCAL_EXECUTION_ACTION:
                self.params = json.loads(request.data or b"{}")
                return
            parse_parameters(self, request)

        SageMakerResponse.parse_parameters = parse_local_parameters
        _serialise_recording()
        SageMakerResponse.put_local_pipeline_execution = _put_local_pipeline_execution
        SageMakerResponse.list_pipeline_execution_steps = _list_pipeline_execution_steps
        SageMakerResponse.describe_pipeline_execution = _describe_pipeline_execution
        SageMakerResponse.list_pipeline_executions = _list_pipeline_executions
        _installed = True


# -- the journal -----------------------------------------------------------------------------------------
def _serialise_recording() -> None:
    """One journal line at a time: moto's server answers requests on several threads, and its recorder
    appends each request in more than one write, so two large requests at once (a run's execution put
    while a step registers its model) could interleave into lines the next start cannot read."""
    from moto.moto_api import recorder

    record_request = recorder._record_request
    lock = threading.Lock()

    def record_one_at_a_time(*args: Any, **kwargs: Any) -> None:
        with lock:
            record_request(*args, **kwargs)

    recorder._record_request = record_one_at_a_time


def local_put_key(entry: dict[str, Any], action: str | None) -> tuple[str, str] | None:
    """(pipeline, execution id) of a journalled local put, None for any other request."""
    if action != LOCAL_EXECUTION_ACTION:
        return None
    body = entry.get("body") or "{}"
    try:
        if entry.get("body_encoded"):
            body = base64.b64decode(body)
        document = json.loads(body)
        return str(document["PipelineName"]), str(document["PipelineExecutionId"])
    except (ValueError, KeyError, TypeError):
        return None


# -- the server side ---------------------------------------------------------------------------------------
def _time(value: Any) -> datetime | None:
    """A JSON-protocol timestamp (epoch seconds) as moto keeps times: naive UTC."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def _step(item: dict[str, Any]) -> dict[str, Any]:
    step = dict(item)
    for key in ("StartTime", "EndTime"):
        if key in step:
            step[key] = _time(step[key])
    return step


def _execution(backend, arn: str):
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    return get_pipeline_execution_from_arn(backend.pipelines, arn)


def _put_local_pipeline_execution(self) -> str:
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakePipelineExecution
    from moto.sagemaker.utils import get_pipeline_from_name

    body = self.params
    for required in ("PipelineName", "PipelineExecutionId", "PipelineExecutionStatus"):
        if not body.get(required):
            raise ValidationError(message=f"{LOCAL_EXECUTION_ACTION}: {required} is required")
    pipeline = get_pipeline_from_name(self.sagemaker_backend.pipelines, body["PipelineName"])
    arn = f"{pipeline.arn}/execution/{body['PipelineExecutionId']}"
    execution = pipeline.pipeline_executions.get(arn)
    if execution is None:
        execution = FakePipelineExecution(
            pipeline_execution_arn=arn,
            pipeline_execution_display_name=body.get("PipelineExecutionDisplayName") or body["PipelineExecutionId"],
            pipeline_parameters=body.get("PipelineParameters") or [],
            pipeline_execution_description=body.get("PipelineExecutionDescription") or "",
            parallelism_configuration=pipeline.parallelism_configuration,
            pipeline_definition=pipeline.pipeline_definition,
            client_request_token="",
        )
        pipeline.pipeline_executions[arn] = execution
    execution.pipeline_parameters = body.get("PipelineParameters") or execution.pipeline_parameters
    execution.pipeline_execution_status = body["PipelineExecutionStatus"]
    execution.pipeline_execution_failure_reason = body.get("FailureReason") or None
    started = _time(body.get("StartTime"))
    if started is not None:
        execution.start_time = execution.creation_time = started
    execution.last_modified_time = _time(body.get("LastModifiedTime")) or execution.start_time
    execution.local_steps = [_step(item) for item in body.get("PipelineExecutionSteps") or []]
    if pipeline.last_execution_time is None or execution.start_time > pipeline.last_execution_time:
        pipeline.last_execution_time = execution.start_time
    return json.dumps({"PipelineExecutionArn": arn})


def _page(self, items: list[Any]) -> tuple[list[Any], str | None]:
    """`MaxResults` / `NextToken` over a list (the token is the offset); everything when no MaxResults."""
    from moto.sagemaker.exceptions import ValidationError

    token = self._get_param("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValidationError(message=f"Invalid pagination token {token!r}") from None
    size = self._get_param("MaxResults")
    end = len(items) if not size else start + int(size)
    return items[start:end], (str(end) if end < len(items) else None)


def _newest_first(self, items: list[Any], key) -> list[Any]:
    ordered = sorted(items, key=key)  # stable: ties keep the order the run wrote them in
    return ordered if self._get_param("SortOrder") == "Ascending" else ordered[::-1]


def _list_pipeline_execution_steps(self):
    from moto.core.responses import ActionResult

    execution = _execution(self.sagemaker_backend, self._get_param("PipelineExecutionArn"))
    steps = [s for s in getattr(execution, "local_steps", []) if s.get("StartTime") is not None]
    page, token = _page(self, _newest_first(self, steps, key=lambda s: s["StartTime"]))
    return ActionResult({"PipelineExecutionSteps": page, **({"NextToken": token} if token else {})})


def _describe_pipeline_execution(self):
    from moto.core.responses import ActionResult

    arn = self._get_param("PipelineExecutionArn")
    described = self.sagemaker_backend.describe_pipeline_execution(arn)
    reason = _execution(self.sagemaker_backend, arn).pipeline_execution_failure_reason
    described.pop("FailureReason", None)
    if reason:
        described["FailureReason"] = reason
    return ActionResult(described)


def _list_pipeline_executions(self):
    from moto.core.responses import ActionResult
    from moto.sagemaker.utils import get_pipeline_from_name

    pipeline = get_pipeline_from_name(self.sagemaker_backend.pipelines, self._get_param("PipelineName"))
    summaries = []
    for arn, execution in pipeline.pipeline_executions.items():
        summary = {
            "PipelineExecutionArn": arn,
            "StartTime": execution.start_time,
            "PipelineExecutionStatus": execution.pipeline_execution_status,
            "PipelineExecutionDescription": execution.pipeline_execution_description,
            "PipelineExecutionDisplayName": execution.pipeline_execution_display_name,
        }
        if execution.pipeline_execution_failure_reason:
            summary["PipelineExecutionFailureReason"] = execution.pipeline_execution_failure_reason
        summaries.append({k: v for k, v in summary.items() if v is not None})
    page, token = _page(self, _newest_first(self, summaries, key=lambda s: s["StartTime"]))
    return ActionResult({"PipelineExecutionSummaries": page, **({"NextToken": token} if token else {})})
