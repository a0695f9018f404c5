"""RetryPolicies carried out as SageMaker does (developer guide, "Retry Policy for Pipeline Steps",
https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-retry-policy.html): an injected fault of a policy's
exception type is retried after IntervalSeconds x BackoffRate^(n-1), at most MaxAttempts times; a fault no
policy names is not retried, except Step.SERVICE_FAULT / Step.THROTTLING, which SageMaker retries by default."""

from __future__ import annotations

import pytest
from tiny_definitions import definition, sleep_step

from pipelines.definition.retry_rules import RetryPolicy
from pipelines.emulator import Emulator
from pipelines.local.executor import PipelineExecution, RunOptions
from pipelines.local.mirror import execution_request, mirror_execution
from pipelines.local.retries import DEFAULT_RETRY, Retrier, injected_fault

SERVICE_FAULT, THROTTLING = "Step.SERVICE_FAULT", "Step.THROTTLING"
CAPACITY, INTERNAL = "SageMaker.CAPACITY_ERROR", "SageMaker.JOB_INTERNAL_ERROR"


class CountingClock:
    """A retry's wait costs nothing: `sleep` only moves this clock on, and says how long it was asked."""

    def __init__(self) -> None:
        self.now, self.waits = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _policy(*kinds: str, **fields) -> dict:
    return {"ExceptionType": list(kinds), "IntervalSeconds": 1, "BackoffRate": 2.0, **fields}


def _run(tmp_path, step: dict, faults: list[str], mirror: bool = False):
    clock, lines = CountingClock(), []
    options = RunOptions(run_dir=tmp_path / "runs", faults={step["Name"]: faults}, retry_clock=clock,
                         echo=lines.append)  # fmt: skip
    execution = PipelineExecution(definition(step), options, None, "p")
    if mirror:
        mirror_execution(execution, "arn:aws:iam::000000000000:role/r")
    result = execution.run()
    return result, result.record.steps[step["Name"]], clock, lines


def test_an_injected_service_fault_is_retried_per_the_policy_and_each_attempt_is_recorded(tmp_path):
    # Given a step whose policy retries Step.SERVICE_FAULT 3 times, 1 s apart doubling, and two faults planted
    step = sleep_step("Flaky", RetryPolicies=[_policy(SERVICE_FAULT, MaxAttempts=3)])
    result, record, clock, lines = _run(tmp_path, step, [SERVICE_FAULT, SERVICE_FAULT])

    # Then the third attempt runs the job and the step succeeds, after waits of 1 s and 2 s
    assert result.exit_code == 0, lines
    assert clock.waits == [1.0, 2.0]
    assert [(a["attempt"], a["status"], a.get("exception_type")) for a in record.attempts] == [
        (1, "Failed", SERVICE_FAULT), (2, "Failed", SERVICE_FAULT), (3, "Succeeded", None)]  # fmt: skip
    assert record.status == "Succeeded" and record.failure_reason is None
    assert sum("[retry ] Flaky" in line for line in lines) == 2
    # And the execution's step list shows the step once, on its third attempt (AttemptCount)
    (item,) = execution_request(result.record, "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p")[
        "PipelineExecutionSteps"]  # fmt: skip
    assert (item["StepName"], item["StepStatus"], item["AttemptCount"]) == ("Flaky", "Succeeded", 3)


def test_a_fault_that_recurs_past_max_attempts_fails_the_step_on_the_last_attempt(tmp_path):
    step = sleep_step("Flaky", RetryPolicies=[_policy(SERVICE_FAULT, MaxAttempts=2)])
    result, record, clock, _ = _run(tmp_path, step, [SERVICE_FAULT] * 5)

    assert result.exit_code == 1
    assert clock.waits == [1.0, 2.0]  # MaxAttempts counts retries: 1 attempt + 2 retries
    assert len(record.attempts) == 3 and record.status == "Failed"
    assert record.failure_reason.startswith(f"{SERVICE_FAULT}: injected for attempt 3")


def test_an_injected_fault_no_policy_names_is_not_retried(tmp_path):
    # Given a policy for Step.SERVICE_FAULT only, and a capacity error planted
    step = sleep_step("Flaky", RetryPolicies=[_policy(SERVICE_FAULT, MaxAttempts=3)])
    result, record, clock, _ = _run(tmp_path, step, [CAPACITY])

    assert result.exit_code == 1
    assert clock.waits == [] and len(record.attempts) == 1
    assert record.failure_reason.startswith(CAPACITY)
    assert result.record.failure_reason.startswith(f"Flaky: {CAPACITY}")


def test_a_policy_naming_the_fault_retries_what_would_otherwise_fail(tmp_path):
    step = sleep_step("Flaky", RetryPolicies=[_policy(CAPACITY, MaxAttempts=1, IntervalSeconds=30)])
    result, record, clock, _ = _run(tmp_path, step, [CAPACITY])

    assert result.exit_code == 0 and clock.waits == [30.0] and len(record.attempts) == 2


def test_without_a_policy_service_faults_and_throttling_are_retried_by_default(tmp_path):
    # "Pipelines retries on this type of error automatically" (the retry page): the schema's defaults
    result, record, clock, _ = _run(tmp_path, sleep_step("Plain"), [THROTTLING, SERVICE_FAULT])

    assert result.exit_code == 0
    assert clock.waits == [1.0, 2.0] and len(record.attempts) == 3


def test_the_default_retries_end_after_the_schemas_max_attempts(tmp_path):
    result, record, clock, _ = _run(tmp_path, sleep_step("Plain"), [SERVICE_FAULT] * 9)

    assert result.exit_code == 1
    assert clock.waits == [1.0, 2.0, 4.0, 8.0, 16.0] == [DEFAULT_RETRY.interval_before(n) for n in range(1, 6)]
    assert len(record.attempts) == 6


def test_a_job_that_fails_on_its_own_is_never_retried(tmp_path):
    # Given a policy for every exception type, and a job that exits 3: not a service fault
    step = sleep_step("Broken", RetryPolicies=[_policy(SERVICE_FAULT, THROTTLING, CAPACITY, INTERNAL)])
    step["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = ["python3", "-c", "raise SystemExit(3)"]
    result, record, clock, _ = _run(tmp_path, step, [])

    assert result.exit_code == 1 and clock.waits == [] and len(record.attempts) == 1
    assert record.attempts[0]["exception_type"] is None


def test_the_retried_step_is_listed_once_with_its_attempt_count_in_the_emulator(tmp_path):
    step = sleep_step("Flaky", RetryPolicies=[_policy(SERVICE_FAULT, MaxAttempts=3)])
    result, _, _, lines = _run(tmp_path, step, [SERVICE_FAULT], mirror=True)

    assert result.exit_code == 0, lines
    with Emulator(tmp_path / "runs" / ".emulator") as emulator:
        sagemaker = emulator.client("sagemaker")
        (execution,) = sagemaker.list_pipeline_executions(PipelineName="p")["PipelineExecutionSummaries"]
        steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=execution["PipelineExecutionArn"])
    assert [(s["StepName"], s["StepStatus"], s["AttemptCount"]) for s in steps["PipelineExecutionSteps"]] == [
        ("Flaky", "Succeeded", 2)]  # fmt: skip


# -- the retrier alone ------------------------------------------------------------------------------------
def test_a_tuning_steps_job_internal_error_is_never_retried_even_with_a_policy():
    # "Jobs running inside both the tuning and AutoML steps ... will not retry the SageMaker.JOB_INTERNAL_ERROR"
    policies = [RetryPolicy(exception_types=(INTERNAL, CAPACITY), max_attempts=3)]
    assert Retrier("Tuning", policies).wait_before_retry(INTERNAL, 0) is None
    assert Retrier("Tuning", policies).wait_before_retry(CAPACITY, 0) == 1.0
    assert Retrier("Training", policies).wait_before_retry(INTERNAL, 0) == 1.0


def test_expire_after_min_stops_retrying_once_the_step_has_run_that_long():
    retrier = Retrier("Processing", [RetryPolicy(exception_types=(SERVICE_FAULT,), max_attempts=None,
                                                 expire_after_min=2)])  # fmt: skip
    assert retrier.wait_before_retry(SERVICE_FAULT, elapsed_seconds=119) == 1.0
    assert retrier.wait_before_retry(SERVICE_FAULT, elapsed_seconds=120) is None


def test_each_policy_counts_its_own_retries_and_the_first_naming_the_type_decides():
    retrier = Retrier("Processing", [RetryPolicy(exception_types=(SERVICE_FAULT,), max_attempts=1),
                                     RetryPolicy(exception_types=(SERVICE_FAULT, THROTTLING), interval_seconds=7,
                                                 max_attempts=1)])  # fmt: skip
    assert retrier.wait_before_retry(SERVICE_FAULT, 0) == 1.0
    assert retrier.wait_before_retry(THROTTLING, 0) == 7.0
    assert retrier.wait_before_retry(SERVICE_FAULT, 0) is None  # the first policy's one retry is spent


def test_an_injected_fault_must_be_one_of_the_retry_pages_types():
    assert injected_fault({"S": [SERVICE_FAULT]}, "S", 2) is None
    with pytest.raises(ValueError, match=r"not one of Step\.SERVICE_FAULT"):
        injected_fault({"S": ["Step.OOPS"]}, "S", 1)
