"""ParallelismConfiguration: SageMaker runs every ready step at once unless MaxParallelExecutionSteps limits it
(botocore's CreatePipeline / StartPipelineExecution member); the runner holds steps to it, beside the
machine's own `--max-parallel` job slots."""

from __future__ import annotations

from datetime import datetime

from tiny_definitions import definition, sleep_step

from pipelines.config import load_config
from pipelines.local.executor import PipelineExecution, RunOptions
from pipelines.local.mirror import execution_request
from pipelines.publish import pipeline_request


def _run(tmp_path, max_parallel_steps: int | None, steps: int = 3, seconds: float = 0.3):
    lines: list[str] = []
    options = RunOptions(run_dir=tmp_path / "runs", max_parallel=4, max_parallel_steps=max_parallel_steps,
                         echo=lines.append)  # fmt: skip
    run = PipelineExecution(definition(*(sleep_step(f"Sleep-{i}", seconds) for i in range(steps))), options, None, "p")
    return run.run(), lines


def _most_at_once(result) -> int:
    events = []
    for step in result.record.steps.values():
        events += [(datetime.fromisoformat(step.started_at), 1), (datetime.fromisoformat(step.ended_at), -1)]
    most = current = 0
    for _, change in sorted(events):  # at equal times an end (-1) sorts before a start
        current += change
        most = max(most, current)
    return most


def test_with_max_parallel_execution_steps_1_no_two_independent_steps_overlap(tmp_path):
    # Given three independent steps, four job slots, and the pipeline's MaxParallelExecutionSteps 1
    result, lines = _run(tmp_path, max_parallel_steps=1)

    # Then each ran alone, one after the other, and the record says why
    assert result.exit_code == 0, lines
    assert _most_at_once(result) == 1
    assert result.record.parallelism_configuration == {"MaxParallelExecutionSteps": 1}
    assert "up to 1 step at once (ParallelismConfiguration)" in lines[0]
    request = execution_request(result.record, "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p")
    assert request["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 1}


def test_without_a_limit_every_ready_step_starts_at_once(tmp_path):
    result, lines = _run(tmp_path, max_parallel_steps=None, seconds=1.0)

    assert result.exit_code == 0, lines
    assert _most_at_once(result) == 3
    assert result.record.parallelism_configuration is None
    assert "ParallelismConfiguration" not in execution_request(result.record, "arn:aws:sagemaker:x:1:pipeline/p")


def test_the_config_limit_is_sent_with_create_pipeline_and_absent_by_default():
    config = load_config()
    assert config.pipeline.max_parallel_steps is None  # the default definition and request are unchanged
    body = dict(name="p", definition="{}", role_arn="arn:aws:iam::000000000000:role/r", description="",
                definition_uri="s3://b/k.json")  # fmt: skip
    assert "ParallelismConfiguration" not in pipeline_request(**body)
    configured = load_config(overrides={"pipeline": {"max_parallel_steps": 2}}).pipeline.max_parallel_steps
    limited = pipeline_request(**body, max_parallel_steps=configured)
    assert limited["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
