"""`python -m pipelines.report`: the run report for a local execution or a SageMaker one.

    python -m pipelines.report --execution runs/<execution-id>/execution.json   # a local run
    python -m pipelines.report --execution-arn arn:aws:sagemaker:…:pipeline/…/execution/…

The local runner writes `report.html` beside every `execution.json` by itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipelines.cli_options import add_endpoint_argument
from pipelines.definition.errors import DefinitionError
from pipelines.definition.graph import execution_order, flatten_steps
from pipelines.definition.step_types import step_type_of_metadata
from pipelines.report.graph import branch_text
from pipelines.report.record import RecordError
from pipelines.report.sources import S3Source


def record_from_sagemaker(client, execution_arn: str) -> dict:
    """A SageMaker execution in the shape of the local runner's record (steps, statuses, outputs)."""
    described = client.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    steps, token = [], None
    for _ in range(100):  # bounded: 100 pages of steps is far beyond any definition here
        page = client.list_pipeline_execution_steps(
            PipelineExecutionArn=execution_arn, **({"NextToken": token} if token else {})
        )
        steps.extend(page["PipelineExecutionSteps"])
        token = page.get("NextToken")
        if not token:
            break
    return record_from_steps(described, steps, client, definition_of_execution(client, execution_arn))


def definition_of_execution(client, execution_arn: str) -> dict | None:
    """The definition the execution ran (its step graph); None when it cannot be read (then no edges)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = client.describe_pipeline_definition_for_execution(PipelineExecutionArn=execution_arn)
        return json.loads(described["PipelineDefinition"])
    except (BotoCoreError, ClientError, KeyError, ValueError) as exc:
        print(f"report: the execution's definition could not be read ({exc}); the step graph has no edges",
              file=sys.stderr)  # fmt: skip
        return None


def with_definition(record_steps: list[dict], definition: dict[str, Any], finished: bool) -> list[dict]:
    """The execution's steps in definition order, each with what it waits for and its branch (the graph the
    local runner records, `pipelines.definition.graph`), and the steps SageMaker never listed: Skipped where a
    condition chose the other branch or a step it waits for was skipped, else NotStarted."""
    try:
        nodes = flatten_steps(definition)
        order = execution_order(nodes)
    except DefinitionError as exc:
        print(f"report: the execution's definition cannot be read as a graph ({exc})", file=sys.stderr)
        return record_steps
    listed = {step["name"]: step for step in record_steps}
    merged: dict[str, dict] = {}
    for name in order:
        node = nodes[name]
        step = listed.get(name) or {"name": name, "status": "NotStarted", "outputs": {}, "properties": {}}
        step.update(type=node.type, depends_on=sorted(node.depends_on), branch=branch_text(node.branch))
        if name not in listed and finished:
            reason = None
            if node.branch:
                condition = merged[node.branch[0]]
                if condition["status"] == "Skipped":
                    reason = f"condition {node.branch[0]} did not run"
                elif condition["status"] == "Succeeded" and condition["properties"].get("Outcome") != node.branch[1]:
                    reason = f"{node.branch[0]} evaluated {condition['properties'].get('Outcome')}"
            skipped = next((d for d in sorted(node.depends_on) if merged[d]["status"] == "Skipped"), None)
            if reason is None and skipped:
                reason = f"depends on {skipped}, which did not run"
            if reason:
                step.update(status="Skipped", properties={"reason": reason})
        merged[name] = step
    return [*merged.values(), *(step for name, step in listed.items() if name not in merged)]


_JOB_NAME = {"ProcessingJob": "ProcessingJobName", "TrainingJob": "TrainingJobName",
             "TuningJob": "HyperParameterTuningJobName", "TransformJob": "TransformJobName"}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def package_approval(client, arn: str | None) -> dict[str, str]:
    """The registered package's ARN and its approval status now (DescribeModelPackage); {} when unreadable."""
    if not arn:
        return {}
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = client.describe_model_package(ModelPackageName=arn)
    except (BotoCoreError, ClientError) as exc:
        print(f"report: the model package {arn} could not be described ({exc}); its approval status is not shown",
              file=sys.stderr)  # fmt: skip
        return {"ModelPackageArn": arn}
    return {"ModelPackageArn": arn, "ModelApprovalStatus": str(described.get("ModelApprovalStatus"))}


def record_from_steps(described: dict, steps: list[dict], client=None, definition: dict | None = None) -> dict:
    record_steps = []
    for step in reversed(steps):  # the API lists the newest first
        metadata = step.get("Metadata", {})
        outputs: dict[str, str] = {}
        kind = next(iter(metadata), "")
        if kind == "ProcessingJob" and client is not None:
            job = client.describe_processing_job(ProcessingJobName=metadata[kind]["Arn"].rsplit("/", 1)[-1])
            outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in job["ProcessingOutputConfig"]["Outputs"]}
        properties = {}
        if kind == "Condition":
            properties["Outcome"] = metadata[kind].get("Outcome") == "True"
        job = str(_dict(metadata.get(kind)).get("Arn") or "").rsplit("/", 1)[-1]
        if job and kind in _JOB_NAME:  # the job's name, for its log link (pipelines/report/logs.py)
            properties[_JOB_NAME[kind]] = job
        if kind == "RegisterModel" and client is not None:
            properties.update(package_approval(client, metadata[kind].get("Arn")))
        started, ended = step.get("StartTime"), step.get("EndTime")
        record_steps.append(
            {
                "name": step["StepName"],
                "type": step_type_of_metadata(kind),
                "status": {"Succeeded": "Succeeded", "Failed": "Failed", "Executing": "Executing"}.get(
                    step.get("StepStatus"), step.get("StepStatus")
                ),
                "seconds": (ended - started).total_seconds() if started and ended else None,
                "failure_reason": step.get("FailureReason"),
                "outputs": outputs,
                "properties": properties,
                "depends_on": [],
            }
        )
    if definition is not None:
        finished = described.get("PipelineExecutionStatus") in {"Succeeded", "Failed", "Stopped"}
        record_steps = with_definition(record_steps, definition, finished)
    package = next((s["properties"].get("ModelPackageArn") for s in record_steps
                    if s.get("type") == "RegisterModel" and s.get("status") == "Succeeded"
                    and (s.get("properties") or {}).get("ModelPackageArn")), None)
    return {
        "model_package_arn": package,
        "region": ([*str(described.get("PipelineExecutionArn") or "").split(":"), "", "", "", ""][3] or None),
        "pipeline_name": described.get("PipelineArn", "").rsplit("/", 1)[-1],
        "execution_id": described.get("PipelineExecutionArn", "").rsplit("/", 1)[-1],
        "status": described.get("PipelineExecutionStatus"),
        "failure_reason": described.get("FailureReason"),
        "started_at": str(described.get("CreationTime")),
        "ended_at": str(described.get("LastModifiedTime")),
        "parameters": {},
        "steps": record_steps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--execution", type=Path, help="a local run's execution.json")
    which.add_argument("--execution-arn", help="a SageMaker pipeline execution ARN (reads artifacts from S3)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the HTML (default: the run's report.html for --execution, "
                             "report-<execution-id>.html for --execution-arn)")
    parser.add_argument("--region", default=None)
    add_endpoint_argument(parser, "read the execution from this AWS API endpoint instead of AWS")
    args = parser.parse_args(argv)
    # imported once the arguments are read: `--help` answers without pandas
    from pipelines.report.collect import collect
    from pipelines.report.local import write_report
    from pipelines.report.logs import sagemaker_log_links
    from pipelines.report.render import render

    if args.execution:
        if not args.execution.is_file():
            print(f"report: {args.execution}: no such execution record; run `python -m pipelines.run` first",
                  file=sys.stderr)  # fmt: skip
            return 2
        try:
            print(write_report(args.execution, target=args.output))
        except RecordError as exc:
            print(f"report: {exc}", file=sys.stderr)
            return 2
        return 0
    import boto3

    session = boto3.Session(region_name=args.region)
    if session.get_credentials() is None:
        print("report: no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
              file=sys.stderr)  # fmt: skip
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    from pipelines.aws_timeouts import client_config

    config = client_config()
    try:
        record = record_from_sagemaker(
            session.client("sagemaker", endpoint_url=args.endpoint_url, config=config), args.execution_arn
        )
        data = collect(record, S3Source(session.client("s3", endpoint_url=args.endpoint_url, config=config)))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"report: {args.execution_arn}: {error.get('Code', 'error')}: {error.get('Message', exc)}; check the "
              "ARN (`aws sagemaker list-pipeline-executions`) and the region", file=sys.stderr)  # fmt: skip
        return 2
    except BotoCoreError as exc:
        print(f"report: {args.execution_arn}: {exc}", file=sys.stderr)
        return 2
    data.job_logs = sagemaker_log_links(record["steps"], record.get("region") or session.region_name or "")
    html = render(data)
    target = args.output or Path(f"report-{record['execution_id']}.html")
    target.write_text(html)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
