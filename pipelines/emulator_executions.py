"""Pipeline executions in the emulator as SageMaker answers for them: what moto lacks, answered by the front.

moto keeps pipelines and the executions StartPipelineExecution creates, but has no
`ListPipelineExecutionSteps`, describes every execution with an empty `FailureReason` and lists a missing one
as the text "None". `LocalExecutions` answers, in the emulator's HTTP front (`pipelines.emulator_front`),
beside moto rather than inside it:

- `PutLocalPipelineExecution`, the one action that is not SageMaker's (`LOCAL_EXECUTION_ACTION`): a local
  run (`pipelines.local.mirror`) puts its whole execution (id, status, failure reason, times, parameters,
  steps in the `ListPipelineExecutionSteps` item shape) each time its record changes. The pipeline must
  exist in moto (asked with DescribePipeline; moto's error is the answer when it does not). The front
  journals the put like any request that changes state, so a restarted emulator has it again; each put
  carries the whole execution, so only the last one per execution matters (`local_put_key`, for the
  journal's compaction).
- `ListPipelineExecutionSteps`: a local execution's steps that started, newest first (`SortOrder`),
  `MaxResults` / `NextToken` pages; none for an execution moto has.
- `DescribePipelineExecution`, `ListPipelineExecutions`: the local executions and moto's merged, with the
  failure reason (absent when there is none), newest first, `SortOrder`, `MaxResults` / `NextToken`; a local
  execution is described with the ParallelismConfiguration its run obeyed.
- `ListPipelineParametersForExecution`, `DescribePipelineDefinitionForExecution`: a local execution's
  (the definition the pipeline had at its first put); moto's answer for moto's executions.
- `StartPipelineExecution` is refused (ValidationException, naming what to run instead): moto would record an
  execution that reads Succeeded with no step run, a success that did not happen. `python -m pipelines.run
  --endpoint-url <this emulator>` runs the definition here and shows its execution in the emulator.

The store is in memory, guarded by a lock; the journal is what outlives the process. The request shape of
the local action is botocore's own shapes, declared for boto3 clients in `pipelines/emulator_model/`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipelines.emulator_front import Answer, SageMakerCall, error_answer, json_answer
from pipelines.emulator_journal import action_of, body_of

LOCAL_EXECUTION_ACTION = "PutLocalPipelineExecution"
START_REFUSED = (
    "this emulator stores pipelines and their executions but runs no step: an execution of {pipeline!r} started "
    "here would read Succeeded with nothing run. Run it with `python -m pipelines.run --endpoint-url <this "
    "emulator's URL>` (the same definition, every step run on this machine, its execution shown here)")
MAX_MOTO_PAGES = 100  # bounded: moto's own listing of a pipeline's executions, page after page


def local_put_key(line: dict[str, Any]) -> tuple[str, str] | None:
    """(pipeline, execution id) of a journalled local put, None for any other request."""
    if action_of(line) != LOCAL_EXECUTION_ACTION:
        return None
    try:
        document = json.loads(body_of(line) or b"{}")
        return str(document["PipelineName"]), str(document["PipelineExecutionId"])
    except (ValueError, KeyError, TypeError):
        return None


def _seconds(value: Any) -> float:
    """A JSON-protocol timestamp (epoch seconds, or ISO 8601 text) as epoch seconds, for ordering."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _reason(item: dict[str, Any], key: str) -> dict[str, Any]:
    """`item` without `key` where moto filled it with nothing ('' or 'None')."""
    if item.get(key) in (None, "", "None"):
        return {k: v for k, v in item.items() if k != key}
    return item


class PageError(ValueError):
    pass


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    """`MaxResults` / `NextToken` over a list (the token is the offset); everything when no MaxResults."""
    token = params.get("NextToken")
    try:
        start = int(token) if token else 0
        size = int(params["MaxResults"]) if params.get("MaxResults") else None
    except (TypeError, ValueError):
        raise PageError(f"Invalid pagination token {token!r}") from None
    if start < 0:
        raise PageError(f"Invalid pagination token {token!r}")
    end = len(items) if size is None else start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _ordered(items: list[dict[str, Any]], params: dict[str, Any], key: str) -> list[dict[str, Any]]:
    ordered = sorted(items, key=lambda item: _seconds(item[key]))  # stable: ties keep the order written
    return ordered if params.get("SortOrder") == "Ascending" else ordered[::-1]


def _paged(name: str, items: list[Any], params: dict[str, Any]) -> Answer:
    try:
        page, token = _page(items, params)
    except PageError as exc:
        return error_answer("ValidationException", str(exc))
    return json_answer({name: page, **({"NextToken": token} if token else {})})


@dataclass
class LocalExecution:
    pipeline_arn: str
    definition: str | None
    put: dict[str, Any]  # the last PutLocalPipelineExecution request

    @property
    def started(self) -> Any:
        return self.put.get("StartTime")

    def summary(self, arn: str) -> dict[str, Any]:
        put = self.put
        summary = {
            "PipelineExecutionArn": arn,
            "StartTime": self.started,
            "PipelineExecutionStatus": put["PipelineExecutionStatus"],
            "PipelineExecutionDescription": put.get("PipelineExecutionDescription"),
            "PipelineExecutionDisplayName": put.get("PipelineExecutionDisplayName") or put["PipelineExecutionId"],
            "PipelineExecutionFailureReason": put.get("FailureReason"),
        }
        return {k: v for k, v in summary.items() if v not in (None, "")}

    def described(self, arn: str) -> dict[str, Any]:
        put = self.put
        described = {
            "PipelineArn": self.pipeline_arn,
            "PipelineExecutionArn": arn,
            "PipelineExecutionDisplayName": put.get("PipelineExecutionDisplayName") or put["PipelineExecutionId"],
            "PipelineExecutionStatus": put["PipelineExecutionStatus"],
            "PipelineExecutionDescription": put.get("PipelineExecutionDescription"),
            "FailureReason": put.get("FailureReason"),
            "CreationTime": self.started,
            "LastModifiedTime": put.get("LastModifiedTime") or self.started,
            "ParallelismConfiguration": put.get("ParallelismConfiguration"),
        }
        return {k: v for k, v in described.items() if v not in (None, "")}


class LocalExecutions:
    """The local runs' executions (by ARN) and the actions above."""

    actions = frozenset({
        LOCAL_EXECUTION_ACTION, "ListPipelineExecutionSteps", "DescribePipelineExecution", "ListPipelineExecutions",
        "ListPipelineParametersForExecution", "DescribePipelineDefinitionForExecution", "StartPipelineExecution",
    })  # fmt: skip

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executions: dict[str, LocalExecution] = {}

    def reset(self) -> None:
        with self._lock:
            self._executions.clear()

    def _get(self, arn: Any) -> LocalExecution | None:
        with self._lock:
            return self._executions.get(str(arn))

    def answer(self, action: str, params: dict[str, Any], call: SageMakerCall) -> Answer:
        if action == LOCAL_EXECUTION_ACTION:
            return self._put(params, call)
        if action == "StartPipelineExecution":
            return error_answer("ValidationException", START_REFUSED.format(pipeline=params.get("PipelineName")))
        if action == "ListPipelineExecutions":
            return self._list(params, call)
        arn = params.get("PipelineExecutionArn")
        execution = self._get(arn)
        if execution is None:
            if action != "ListPipelineExecutionSteps":
                return self._moto_described(call(action, params)) if action == "DescribePipelineExecution" \
                    else call(action, params)  # fmt: skip
            known = call("DescribePipelineExecution", {"PipelineExecutionArn": arn})  # moto's error if unknown
            return json_answer({"PipelineExecutionSteps": []}) if known.ok else known
        if action == "ListPipelineExecutionSteps":
            steps = [s for s in execution.put.get("PipelineExecutionSteps") or [] if s.get("StartTime") is not None]
            return _paged("PipelineExecutionSteps", _ordered(steps, params, "StartTime"), params)
        if action == "DescribePipelineExecution":
            return json_answer(execution.described(str(arn)))
        if action == "ListPipelineParametersForExecution":
            return _paged("PipelineParameters", execution.put.get("PipelineParameters") or [], params)
        return json_answer({"PipelineDefinition": execution.definition or "{}", "CreationTime": execution.started})

    @staticmethod
    def _moto_described(answer: Answer) -> Answer:
        return json_answer(_reason(answer.json(), "FailureReason")) if answer.ok else answer

    def _put(self, params: dict[str, Any], call: SageMakerCall) -> Answer:
        for required in ("PipelineName", "PipelineExecutionId", "PipelineExecutionStatus"):
            if not params.get(required):
                return error_answer("ValidationException", f"{LOCAL_EXECUTION_ACTION}: {required} is required")
        pipeline = call("DescribePipeline", {"PipelineName": params["PipelineName"]})
        if not pipeline.ok:
            return pipeline
        described = pipeline.json()
        arn = f"{described['PipelineArn']}/execution/{params['PipelineExecutionId']}"
        put = dict(params)
        put.setdefault("StartTime", time.time())
        with self._lock:
            known = self._executions.get(arn)
            definition = known.definition if known else described.get("PipelineDefinition")
            self._executions[arn] = LocalExecution(described["PipelineArn"], definition, put)
        return json_answer({"PipelineExecutionArn": arn})

    def _list(self, params: dict[str, Any], call: SageMakerCall) -> Answer:
        name = params.get("PipelineName")
        summaries: list[dict[str, Any]] = []
        token = None
        for _ in range(MAX_MOTO_PAGES):
            answer = call("ListPipelineExecutions", {"PipelineName": name, **({"NextToken": token} if token else {})})
            if not answer.ok:  # moto's error for a pipeline it does not have
                return answer
            page = answer.json()
            listed = page.get("PipelineExecutionSummaries", [])
            summaries += [_reason(summary, "PipelineExecutionFailureReason") for summary in listed]
            token = page.get("NextToken")
            if not token:
                break
        with self._lock:
            local = [(arn, e) for arn, e in self._executions.items() if e.put["PipelineName"] == name]
        summaries += [execution.summary(arn) for arn, execution in local]
        return _paged("PipelineExecutionSummaries", _ordered(summaries, params, "StartTime"), params)
