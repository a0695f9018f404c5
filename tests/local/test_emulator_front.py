"""The emulator's HTTP front: it forwards to moto's server unchanged, answers the local executions itself, keeps
its own journal (one whole line per request, replayed after a restart, a bad line refused by name), and the
project uses no moto module but its public server."""

from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from pipelines.emulator import Emulator
from pipelines.emulator_executions import LOCAL_EXECUTION_ACTION
from pipelines.emulator_front import Front, Moto
from pipelines.local.runner import print_summary

pytestmark = pytest.mark.moto
ROLE = "arn:aws:iam::000000000000:role/r"
BINARY = bytes(range(256)) * 64  # every byte value, 16 KiB


def _put(sm, execution_id: str, started: int, status: str = "Succeeded", **extra):
    return sm.put_local_pipeline_execution(
        PipelineName="p", PipelineExecutionId=execution_id, PipelineExecutionStatus=status, StartTime=started, **extra
    )["PipelineExecutionArn"]


def test_s3_and_sagemaker_go_through_the_front_and_survive_a_restart(tmp_path):
    with Emulator(tmp_path) as emulator:
        s3, sm = emulator.client("s3"), emulator.client("sagemaker")
        s3.create_bucket(Bucket="front-bucket")
        s3.put_object(Bucket="front-bucket", Key="dir/odd key+%.bin", Body=BINARY)
        assert s3.get_object(Bucket="front-bucket", Key="dir/odd key+%.bin")["Body"].read() == BINARY
        assert s3.head_object(Bucket="front-bucket", Key="dir/odd key+%.bin")["ContentLength"] == len(BINARY)
        arn = sm.create_pipeline(PipelineName="p", PipelineDefinition='{"Steps": []}', RoleArn=ROLE)["PipelineArn"]
        assert sm.describe_pipeline(PipelineName="p")["PipelineArn"] == arn
    with Emulator(tmp_path) as again:
        assert again.replayed == 3  # bucket, object, pipeline: the reads are not journalled
        body = again.client("s3").get_object(Bucket="front-bucket", Key="dir/odd key+%.bin")["Body"].read()
        described = again.client("sagemaker").describe_pipeline(PipelineName="p")
    assert body == BINARY
    assert (described["PipelineArn"], described["PipelineDefinition"]) == (arn, '{"Steps": []}')


def test_a_journal_moto_recorder_wrote_still_replays(tmp_path):
    # the line format of the emulator before it had a front: moto's recorder, another port, a base64 body
    body = json.dumps({"ModelPackageGroupName": "g", "ModelPackageGroupDescription": "d"}).encode()
    line = {
        "headers": {"Host": "127.0.0.1:40404", "X-Amz-Target": "SageMaker.CreateModelPackageGroup",
                    "Content-Type": "application/x-amz-json-1.1", "Content-Length": str(len(body)),
                    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/sagemaker/aws4_request, "
                                     "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00"},
        "method": "POST", "url": "http://127.0.0.1:40404/",
        "body": base64.b64encode(body).decode(), "body_encoded": True,
    }  # fmt: skip
    (tmp_path / "recording.jsonl").write_text(json.dumps(line) + "\n")
    with Emulator(tmp_path) as emulator:
        described = emulator.client("sagemaker").describe_model_package_group(ModelPackageGroupName="g")
    assert described["ModelPackageGroupDescription"] == "d"


def test_executions_are_listed_newest_first_in_pages_with_their_failure_reasons(tmp_path):
    with Emulator(tmp_path) as emulator:
        sm = emulator.client("sagemaker")
        sm.create_pipeline(PipelineName="p", PipelineDefinition="{}", RoleArn=ROLE)
        first = _put(sm, "run-1", 1_800_000_000)
        failed = _put(sm, "run-3", 1_800_000_200, status="Failed", FailureReason="Fail-models: AUC 0.5")
        middle = _put(sm, "run-2", 1_800_000_100)
        _put(sm, "run-2", 1_800_000_100, status="Failed", FailureReason="a later put replaces the execution")
        listed = sm.list_pipeline_executions(PipelineName="p")["PipelineExecutionSummaries"]
        ascending = sm.list_pipeline_executions(PipelineName="p", SortOrder="Ascending")["PipelineExecutionSummaries"]
        page = sm.list_pipeline_executions(PipelineName="p", MaxResults=2)
        rest = sm.list_pipeline_executions(PipelineName="p", MaxResults=2, NextToken=page["NextToken"])
        described = sm.describe_pipeline_execution(PipelineExecutionArn=first)
        with pytest.raises(ClientError) as bad_token:
            sm.list_pipeline_executions(PipelineName="p", NextToken="not-a-token")
        with pytest.raises(ClientError) as no_pipeline:
            sm.put_local_pipeline_execution(
                PipelineName="missing", PipelineExecutionId="run-9", PipelineExecutionStatus="Executing"
            )
        with pytest.raises(ClientError) as no_execution:
            sm.list_pipeline_execution_steps(PipelineExecutionArn=first.replace("run-1", "run-0"))
        with pytest.raises(ClientError) as no_execution_described:
            sm.describe_pipeline_execution(PipelineExecutionArn=first.replace("run-1", "run-0"))

    assert [s["PipelineExecutionArn"] for s in listed] == [failed, middle, first]
    assert [s["PipelineExecutionArn"] for s in ascending] == [first, middle, failed]
    assert page["PipelineExecutionSummaries"] + rest["PipelineExecutionSummaries"] == listed
    assert "NextToken" not in rest
    assert [s.get("PipelineExecutionFailureReason") for s in listed] == [
        "Fail-models: AUC 0.5", "a later put replaces the execution", None
    ]  # fmt: skip
    assert described["PipelineExecutionStatus"] == "Succeeded" and "FailureReason" not in described
    assert bad_token.value.response["Error"]["Code"] == "ValidationException"
    # the errors moto gives for what it does not have (SageMaker's: ValidationException, botocore's model)
    for raised in (no_pipeline, no_execution, no_execution_described):
        assert raised.value.response["Error"]["Code"] == "ValidationException", raised.value.response


def test_concurrent_puts_leave_whole_journal_lines(tmp_path):
    threads, puts = 6, 4
    big = "x" * 1000  # each put over 100 KiB: many writes' worth for any writer that writes in pieces
    steps = [{"StepName": f"S{i}", "StepStatus": "Succeeded", "StartTime": 1_800_000_000 + i,
              "StepDescription": big} for i in range(100)]  # fmt: skip
    errors: list[BaseException] = []
    with Emulator(tmp_path) as emulator:
        sm = emulator.client("sagemaker")
        sm.create_pipeline(PipelineName="p", PipelineDefinition="{}", RoleArn=ROLE)

        def put_some(worker: int) -> None:
            try:
                client = emulator.client("sagemaker")
                for n in range(puts):
                    _put(client, f"run-{worker}-{n}", 1_800_000_000 + n, PipelineExecutionSteps=steps)
            except BaseException as exc:  # reported by the test's thread
                errors.append(exc)

        workers = [threading.Thread(target=put_some, args=(w,)) for w in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert not any(worker.is_alive() for worker in workers) and not errors, errors
        lines = (tmp_path / "recording.jsonl").read_text().splitlines()  # before the stop compacts it
        listed = sm.list_pipeline_executions(PipelineName="p")["PipelineExecutionSummaries"]
    entries = [json.loads(line) for line in lines]
    puts_journalled = [e for e in entries if e["headers"].get("X-Amz-Target") == f"SageMaker.{LOCAL_EXECUTION_ACTION}"]
    assert len(entries) == 1 + threads * puts and len(puts_journalled) == threads * puts
    assert len(listed) == threads * puts


def test_a_bad_journal_line_is_set_aside_with_one_warning_naming_the_file_and_line(tmp_path):
    with Emulator(tmp_path) as emulator:
        emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName="g")
    journal = tmp_path / "recording.jsonl"
    journal.write_text(journal.read_text() + '{"method": "POST", "url": "http://127.0.0.1:1/", "body\n')
    warnings: list[str] = []
    with Emulator(tmp_path, warn=warnings.append) as emulator:
        assert emulator.replayed == 1  # the valid prefix (issue 29: kill -9 mid-write leaves a torn line)
    [message] = warnings
    assert message.startswith(f"{journal}:2: not a journalled request") and "\n" not in message


class _NoLocalActions:
    """A front that answers nothing itself: an emulator without the project's actions (moto alone)."""

    actions: frozenset[str] = frozenset()

    def answer(self, action, params, call):  # pragma: no cover (never called: no actions)
        raise AssertionError(action)

    def reset(self) -> None:
        pass


def test_a_run_whose_emulator_refuses_its_execution_fails_with_one_line_saying_why(run_fake, aws_endpoint):
    front = Front(Moto(aws_endpoint), _NoLocalActions())
    endpoint = front.bind()
    front.serve()
    try:
        run = run_fake(mirror=True, aws_endpoint=endpoint)
    finally:
        front.stop()
    # the steps ran to the end (their artifacts are kept), and then the run failed
    assert run.record.status == "Succeeded" and run.record.model_package_arn
    assert run.result.exit_code == 1
    summary: list[str] = []
    print_summary(run.result, echo=summary.append)
    errors = [line for line in summary + run.lines if LOCAL_EXECUTION_ACTION in line or "mirrored" in line]
    assert len(errors) == 1, errors
    assert errors[0].startswith("error: the run is not mirrored into the emulator as a pipeline execution: ")
    assert f"{endpoint} refused {LOCAL_EXECUTION_ACTION}" in errors[0] and "python -m pipelines.emulator" in errors[0]
    assert "observer failed" not in "\n".join(summary + run.lines)


PACKAGE = Path(__file__).resolve().parents[2] / "pipelines"


def test_the_project_uses_no_moto_module_but_its_public_server():
    statement = re.compile(r"^\s*(from\s+moto(\.[\w.]+)?\s+import\s+[\w, ()]+|import\s+moto[\w.]*)", re.MULTILINE)
    uses = {
        f"{path.relative_to(PACKAGE.parent)}: {match.group(0).strip()}"
        for path in PACKAGE.rglob("*.py")
        for match in statement.finditer(path.read_text())
    }
    assert uses and all(use.endswith("from moto.server import ThreadedMotoServer") for use in uses), sorted(uses)


@pytest.mark.slow
def test_pipelines_run_exits_1_with_one_line_when_its_emulator_refuses_the_execution(aws_endpoint, tmp_path, capsys):
    from pipelines.run import main

    front = Front(Moto(aws_endpoint), _NoLocalActions())
    endpoint = front.bind()
    front.serve()
    try:
        code = main(["--profile", "quick", "--set", "sample_data.tickers=3", "--max-trials", "2",
                     "--param", "MinModelAUC=0.55", "--param", "MinEnsembleAUC=0.55",
                     "--run-dir", str(tmp_path / "runs"), "--endpoint-url", endpoint])  # fmt: skip
    finally:
        front.stop()
    out = capsys.readouterr()
    said = [line for line in (out.out + out.err).splitlines() if "mirrored" in line]
    assert code == 1, out.out + out.err
    assert "pipeline Succeeded" in out.out  # the steps ran; only the mirror failed
    assert len(said) == 1 and said[0].startswith("error: the run is not mirrored into the emulator"), said
    assert f"{endpoint} refused {LOCAL_EXECUTION_ACTION}" in said[0]
