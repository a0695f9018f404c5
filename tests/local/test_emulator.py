"""The emulator: its state outlives the process that wrote it (moto's recorder journal, replayed), it serves as
a command, and a local run is a pipeline execution there (steps included) for boto3 and the SageMaker SDK."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from pipelines.emulator import EMULATOR_CREDENTIALS, Emulator, emulator_client, is_read_only
from pipelines.emulator_executions import LOCAL_EXECUTION_ACTION
from pipelines.local.executor import RunOptions
from pipelines.local.mirror import ExecutionMirror, execution_request
from pipelines.local.record import ExecutionRecord, StepRecord
from pipelines.report.__main__ import record_from_steps


def test_registry_state_survives_a_restart(tmp_path):
    with Emulator(tmp_path) as emulator:
        sm = emulator.client("sagemaker")
        sm.create_model_package_group(ModelPackageGroupName="g", ModelPackageGroupDescription="d")
        arn = sm.create_model_package(ModelPackageGroupName="g", ModelApprovalStatus="PendingManualApproval")[
            "ModelPackageArn"
        ]
        sm.list_model_packages(ModelPackageGroupName="g")
    with Emulator(tmp_path) as emulator:
        sm = emulator.client("sagemaker")
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    with Emulator(tmp_path) as emulator:
        packages = emulator.client("sagemaker").list_model_packages(ModelPackageGroupName="g")[
            "ModelPackageSummaryList"
        ]
    assert [(p["ModelPackageArn"], p["ModelApprovalStatus"]) for p in packages] == [(arn, "Approved")]
    # reads are not kept in the journal
    entries = [json.loads(line) for line in (tmp_path / "recording.jsonl").read_text().splitlines()]
    assert len(entries) == 3 and not any(is_read_only(e) for e in entries)


def test_a_second_emulator_on_the_same_folder_uses_the_first_one(tmp_path):
    with Emulator(tmp_path) as first:
        first.client("sagemaker").create_model_package_group(ModelPackageGroupName="g")
        with Emulator(tmp_path) as second:
            assert second.attached and second.endpoint == first.endpoint
        # leaving the second left the first serving, its journal untouched by a second writer
        assert first.client("sagemaker").describe_model_package_group(ModelPackageGroupName="g")
    with Emulator(tmp_path) as again:
        assert not again.attached and again.replayed == 1


# -- `python -m pipelines.emulator` ---------------------------------------------------------------------------
REPO_ROOT = Path(__file__).resolve().parents[2]


class _Served:
    """`python -m pipelines.emulator` in a subprocess, its stdout read line by line with bounded waits."""

    def __init__(self, state_dir: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.emulator", "--state-dir", str(state_dir), "--port", "0"],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.exports = {}
        deadline = time.monotonic() + 60
        while True:  # the settings block ends with how to stop it
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line.startswith("# Ctrl-C"):
                break
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                self.exports[name] = value

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    @property
    def endpoint(self) -> str:
        return self.exports["AWS_ENDPOINT_URL"]

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def rest(self) -> list[str]:
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.lines.get(timeout=5))
        return out


def test_the_command_serves_boto3_until_sigterm_and_keeps_its_state(tmp_path, monkeypatch):
    served = _Served(tmp_path)
    try:
        # Given the printed settings, plain boto3 (no endpoint in code) reaches it
        assert served.exports["CONVICTION_AWS_ENDPOINT"] == served.endpoint
        for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            monkeypatch.setenv(name, served.exports[name])
        sm = boto3.client("sagemaker")
        assert sm.list_pipelines()["PipelineSummaries"] == []
        sm.create_pipeline(PipelineName="p", PipelineDefinition="{}", RoleArn="arn:aws:iam::000000000000:role/r")
        assert [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]] == ["p"]
        # A second emulator on the same folder refuses, naming the one that serves it
        second = subprocess.run([sys.executable, "-m", "pipelines.emulator", "--state-dir", str(tmp_path)],
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert second.returncode == 2 and served.endpoint in second.stderr
    finally:
        code = served.terminate()
    assert code == 0
    assert any(line.startswith("# stopped") for line in served.rest())
    entries = [json.loads(line) for line in (tmp_path / "recording.jsonl").read_text().splitlines()]
    assert len(entries) == 1 and not any(is_read_only(e) for e in entries)  # compacted: the one create
    # And the next start has the pipeline
    again = _Served(tmp_path)
    try:
        sm = boto3.client("sagemaker", endpoint_url=again.endpoint, region_name="us-east-1", **EMULATOR_CREDENTIALS)
        assert [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]] == ["p"]
    finally:
        assert again.terminate() == 0


def test_help_is_quick_because_moto_is_imported_late():
    probe = (
        "import sys, contextlib\nimport pipelines.emulator as e\n"
        "with contextlib.suppress(SystemExit): e.main(['--help'])\n"
        "print(sorted(m for m in ('moto', 'boto3', 'sagemaker') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert "--state-dir" in done.stdout and done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


# -- a local run as a pipeline execution ----------------------------------------------------------------------
def _steps(sm, arn: str, **kwargs) -> list[dict]:
    return sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, **kwargs)["PipelineExecutionSteps"]


def test_a_local_run_is_a_pipeline_execution_with_its_steps_after_a_restart(run_fake, quick_definition, tmp_path):
    # Given a run that mirrors itself into its embedded emulator (stopped when the run ends)
    run = run_fake(mirror=True)
    assert run.result.exit_code == 0, run.lines
    executed = [name for name, step in run.record.steps.items() if step.status == "Succeeded"]
    # When an emulator starts again on that state
    with Emulator(tmp_path / "runs" / ".emulator") as emulator:
        sm = emulator.client("sagemaker")
        (summary,) = sm.list_pipeline_executions(PipelineName="conviction-direction")["PipelineExecutionSummaries"]
        arn = summary["PipelineExecutionArn"]
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        steps = _steps(sm, arn)
        ascending = _steps(sm, arn, SortOrder="Ascending")
        first_page = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, MaxResults=4)
        second_page = _steps(sm, arn, MaxResults=100, NextToken=first_page["NextToken"])
        parameters = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
        published = sm.describe_pipeline(PipelineName="conviction-direction")["PipelineDefinition"]

    # Then it is the run's execution, with the run's id, status and times
    assert arn.endswith(f":pipeline/conviction-direction/execution/{run.record.execution_id}")
    assert f"pipeline execution {arn}" in "\n".join(run.lines)
    assert summary["PipelineExecutionStatus"] == described["PipelineExecutionStatus"] == "Succeeded"
    assert "FailureReason" not in described and "PipelineExecutionFailureReason" not in summary
    assert described["CreationTime"] == datetime.fromisoformat(run.record.started_at)
    assert {"Name": "MinModelAUC", "Value": "0.6"} in parameters
    assert json.loads(published) == quick_definition
    # And its steps: the executed ones (no skipped branch), newest first, with times and SageMaker's metadata
    assert sorted(s["StepName"] for s in steps) == sorted(executed)
    assert [s["StepName"] for s in steps] == [s["StepName"] for s in reversed(ascending)]
    assert [s["StartTime"] for s in steps] == sorted((s["StartTime"] for s in steps), reverse=True)
    assert first_page["PipelineExecutionSteps"] + second_page == steps
    by_name = {s["StepName"]: s for s in steps}
    assert all(s["StepStatus"] == "Succeeded" and s["EndTime"] >= s["StartTime"] for s in steps)
    assert by_name["BuildFeatures"]["Metadata"]["ProcessingJob"]["Arn"].startswith(
        "arn:aws:sagemaker:us-east-1:123456789012:processing-job/buildfeatures-"
    )
    assert ":hyper-parameter-tuning-job/tune-xgboost-" in by_name["Tune-xgboost"]["Metadata"]["TuningJob"]["Arn"]
    assert by_name["LeakGate"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert by_name["Register-RegisterModel"]["Metadata"] == {"RegisterModel": {"Arn": run.record.model_package_arn}}
    # And the report's reader of SageMaker executions reads it as the run it was
    report = record_from_steps(described, steps)
    assert [(s["name"], s["status"]) for s in report["steps"]] == [(name, "Succeeded") for name in executed]
    # And the journal keeps one put of the execution: the last
    journal = (tmp_path / "runs" / ".emulator" / "recording.jsonl").read_text()
    assert journal.count(LOCAL_EXECUTION_ACTION) == 1


def test_a_failed_run_shows_its_failure_reasons_and_the_sdk_waiter_sees_the_failure(run_fake, tmp_path):
    from botocore.exceptions import WaiterError
    from sagemaker.workflow.pipeline import _PipelineExecution

    run = run_fake(mirror=True, parameters={"MinModelAUC": "0.7"})  # the ceiling; the fake models stay below
    assert run.result.exit_code == 1
    message = run.record.steps["Fail-models"].failure_reason
    with Emulator(tmp_path / "runs" / ".emulator") as emulator:
        sm = emulator.client("sagemaker")
        (summary,) = sm.list_pipeline_executions(PipelineName="conviction-direction")["PipelineExecutionSummaries"]
        arn = summary["PipelineExecutionArn"]
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        steps = {s["StepName"]: s for s in _steps(sm, arn)}
        execution = _PipelineExecution(arn=arn, sagemaker_session=_sdk_session(emulator.endpoint))
        with pytest.raises(WaiterError, match="terminal failure state"):
            execution.wait(delay=1, max_attempts=3)

    assert described["PipelineExecutionStatus"] == summary["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == summary["PipelineExecutionFailureReason"] == run.record.failure_reason
    fail = steps["Fail-models"]
    assert fail["StepStatus"] == "Failed" and fail["FailureReason"] == message
    assert fail["Metadata"] == {"Fail": {"ErrorMessage": message}}
    assert steps["Gate-models-3"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert "Register-RegisterModel" not in steps and "BuildEnsemble" not in steps


def _sdk_session(endpoint: str):
    """The SageMaker SDK's Session over a boto3 session pointed at the emulator as its printed settings do."""
    from sagemaker.session import Session

    boto_session = boto3.Session(region_name="us-east-1", **EMULATOR_CREDENTIALS)
    return Session(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker", endpoint_url=endpoint))


def test_the_sdk_follows_a_local_run_while_it_runs(run_fake, tmp_path, monkeypatch):
    from sagemaker.session import Session
    from sagemaker.workflow.pipeline import Pipeline, _PipelineExecution

    release = tmp_path / "release-BuildFeatures"
    with Emulator(tmp_path / "emulator") as emulator:
        # Given the SDK configured only by the environment the emulator command prints, and a run whose first
        # step holds until the test releases it
        monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
        session = Session(boto_session=boto3.Session(region_name="us-east-1", **EMULATOR_CREDENTIALS))
        runs: list = []

        def run() -> None:
            runs.append(run_fake(mirror=True, aws_endpoint=emulator.endpoint, control={"hold_until": str(release)}))

        worker = threading.Thread(target=run)
        worker.start()
        try:
            # When the run's execution shows its first step executing
            execution, live, deadline = None, [], time.monotonic() + 120
            while not live and time.monotonic() < deadline:
                with contextlib.suppress(ClientError):
                    listed = Pipeline(name="conviction-direction", sagemaker_session=session).list_executions()
                    for summary in listed["PipelineExecutionSummaries"]:
                        execution = _PipelineExecution(arn=summary["PipelineExecutionArn"], sagemaker_session=session)
                        live = execution.list_steps()
                time.sleep(0.05)
            assert live, "the run's first step never showed up in the emulator"
            while_running = execution.describe()
            release.touch()
            # Then the SDK's own waiter polls it to its end
            execution.wait(delay=1, max_attempts=180)
            described, steps = execution.describe(), execution.list_steps()
        finally:
            release.touch()
            worker.join(timeout=300)
        (finished,) = runs
        direct = _steps(emulator.client("sagemaker"), execution.arn)

    assert [(s["StepName"], s["StepStatus"], "EndTime" in s) for s in live] == [("BuildFeatures", "Executing", False)]
    assert while_running["PipelineExecutionStatus"] == "Executing"
    assert finished.result.exit_code == 0
    assert execution.arn.endswith(f"/execution/{finished.record.execution_id}")
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert steps == direct
    assert {s["StepName"] for s in steps} == {n for n, s in finished.record.steps.items() if s.status == "Succeeded"}


# -- the mirror's request, piece by piece -----------------------------------------------------------------
def _record(tmp_path, **fields) -> ExecutionRecord:
    record = ExecutionRecord(execution_id="0a1b2c3d4e5f", pipeline_name="p", path=tmp_path / "x.json")
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def test_only_started_steps_are_listed_and_the_execution_ends_with_the_run(tmp_path):
    pipeline_arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p"
    t0, t1 = "2026-01-01T00:00:00.000+00:00", "2026-01-01T00:00:05.000+00:00"
    record = _record(tmp_path, status="Failed", failure_reason="A: broke", steps={
        "A": StepRecord("A", "Processing", status="Failed", started_at=t0, ended_at=t1, failure_reason="x" * 2000),
        "B": StepRecord("B", "Training", status="Executing", started_at=t1),
        "C": StepRecord("C", "Condition", status="Skipped"),
        "D": StepRecord("D", "Fail", status="NotStarted"),
    })  # fmt: skip
    request = execution_request(record, pipeline_arn)
    # a failed step with others still running: the execution is Executing until the run ends
    assert request["PipelineExecutionStatus"] == "Executing" and "FailureReason" not in request
    a, b = request["PipelineExecutionSteps"]
    assert (a["StepName"], a["StepStatus"], len(a["FailureReason"])) == ("A", "Failed", 1024)
    prefix = pipeline_arn.split(":pipeline/")[0]
    assert a["Metadata"] == {"ProcessingJob": {"Arn": f"{prefix}:processing-job/a-0a1b2c3d4e5f"}}
    assert (b["StepName"], b["StepStatus"], "EndTime" in b) == ("B", "Executing", False)
    record.ended_at = t1
    ended = execution_request(record, pipeline_arn)
    assert (ended["PipelineExecutionStatus"], ended["FailureReason"]) == ("Failed", "A: broke")


def test_a_run_pointed_at_a_remote_endpoint_publishes_nothing_there(tmp_path):
    lines: list[str] = []
    remote = "https://api.sagemaker.us-east-1.amazonaws.com"
    client = emulator_client("sagemaker", remote)
    client.meta.events.register("before-send", lambda **_: pytest.fail("the mirror sent a request to AWS"))

    class Execution:  # only what the mirror reads
        def __init__(self):
            self.nodes, self.options = {}, RunOptions(echo=lines.append)

        def sagemaker_client(self):
            return client

    mirror = ExecutionMirror(Execution(), "arn:aws:iam::000000000000:role/r")
    mirror(_record(tmp_path))
    assert mirror.off and mirror.pipeline_arn is None
    assert lines == [f"not mirrored as a pipeline execution: {remote} is not a local emulator"]


def test_starting_an_execution_in_the_emulator_is_refused_with_what_to_run(tmp_path, monkeypatch, capsys):
    """Issue 31: `upsert --start` against the emulator made an execution that read Succeeded with 0 steps while
    nothing ran. The emulator refuses StartPipelineExecution, naming `pipelines.run`; publishing still works."""
    from pipelines import upsert

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", EMULATOR_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", EMULATOR_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with Emulator(tmp_path / "state") as emulator:
        common = ["--profile", "quick", "--endpoint-url", emulator.endpoint, "--create-bucket"]
        assert upsert.main(common) == 0
        capsys.readouterr()
        assert upsert.main([*common, "--start"]) == 1
        err = capsys.readouterr().err
        assert "AWS refused StartPipelineExecution: ValidationException" in err
        assert "runs no step" in err and "python -m pipelines.run --endpoint-url" in err
        listed = emulator.client("sagemaker").list_pipeline_executions(PipelineName="conviction-direction")
        assert listed["PipelineExecutionSummaries"] == []  # nothing recorded as run
