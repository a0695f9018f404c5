"""Container mode end to end: the quick pipeline with every job in the CPU image gives the same numbers as
the host run (same seeds, the same locked library versions in the image and the venv), and its package
deploys with the smoke test answered by `serve` in the image, equal to the artifact's own predictions."""

from __future__ import annotations

import json
import math
import re

import pytest

from pipelines.config import load_config
from pipelines.emulator import Emulator
from pipelines.local.executor import RunOptions
from pipelines.local.jobs.containers import ContainerRuntime
from pipelines.local.runner import run_config

pytestmark = [pytest.mark.images, pytest.mark.slow]

# Small enough for CI twice over (host and containers): 4 tickers, one trial per tuning step.
OVERRIDES = {"sample_data": {"tickers": 4}}
PARAMETERS = {"MinModelAUC": "0.5", "MinEnsembleAUC": "0.5"}
MEASURED = re.compile(r"timing|seconds|(_s|_ms|_mb|_bytes|rss|memory|peak|time)(\b|\.|\[|$)", re.IGNORECASE)


def _run(tmp_path, name: str, containers: ContainerRuntime | None):
    lines: list[str] = []
    config = load_config(profile="quick", overrides=OVERRIDES)
    options = RunOptions(run_dir=tmp_path / name, max_trials=1, cores=2, echo=lines.append, parameters=PARAMETERS,
                         containers=containers)
    result = run_config(config, options)
    assert result.exit_code == 0 and result.record.model_package_arn, "\n".join(lines[-30:])
    return result, lines


def _numbers(value, path=""):
    """Every number in a step's metrics, by its path (so two runs compare figure by figure)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{path}[{index}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, float(value)


def test_a_quick_run_in_the_images_equals_the_host_run_and_serves_from_the_image(cpu_image, tmp_path):
    runtime = ContainerRuntime()
    in_images, lines = _run(tmp_path, "containers", runtime)
    assert any(line.startswith("container mode: ") and cpu_image in line for line in lines)
    on_host, _ = _run(tmp_path, "host", None)

    jobs = [s for s in in_images.steps.values()
            if s.type in {"Processing", "Training", "Tuning"} and s.status not in {"NotStarted", "Skipped"}]
    assert len(jobs) >= 5 and all(s.status == "Succeeded" for s in jobs), [(s.name, s.status) for s in jobs]
    for step in jobs:  # each job ran in a container: its log starts with the docker command
        log = step.properties.get("log") or step.properties.get("BestTrainingJob", {}).get("log")
        if log:
            with open(log) as job_log:
                assert re.match(r"\$ \S*docker run ", job_log.readline()), step.name
    compared = 0
    for name, step in in_images.steps.items():
        host = dict(_numbers(on_host.steps[name].metrics or {}))
        for path, value in _numbers(step.metrics or {}):
            if MEASURED.search(path):  # how long or how large, not what was computed
                continue
            same = math.isclose(value, host[path], rel_tol=1e-9, abs_tol=1e-12)
            assert same, f"{name}{path}: {value} in the image, {host[path]} on the host"
            compared += 1
    assert compared > 20, "the runs' figures were compared"

    from pipelines import approve, deploy

    run_dir = str(tmp_path / "containers")
    assert approve.main(["--local", "--profile", "quick", "--run-dir", run_dir, "--approve", "--latest"]) == 0
    assert deploy.main(["--local", "--containers", "--profile", "quick", "--run-dir", run_dir]) == 0
    records = sorted((tmp_path / "containers" / "endpoints").rglob("*.json"))
    deployed = [json.loads(p.read_text()) for p in records]
    assert any((d.get("smoke") or {}).get("passed") for d in deployed), deployed
    with Emulator(tmp_path / "containers" / ".emulator") as emulator:
        package = emulator.client("sagemaker").describe_model_package(
            ModelPackageName=in_images.record.model_package_arn)
    assert package["ModelApprovalStatus"] == "Approved"


def test_a_training_job_that_fails_in_the_image_reports_its_error_line_as_failure_reason(cpu_image, tmp_path):
    """The job's own one-line error (steps.common.cli) reaches /opt/ml/output/failure inside the image, and the
    runner turns it into the step's FailureReason, as SageMaker does. The code travels as a channel on
    PYTHONPATH (the definition's content-hashed code), ahead of the image's installed copy."""
    import shutil
    from pathlib import Path

    from pipelines.local.jobs.training import run_training_job
    from pipelines.local.store import LocalStore

    store = LocalStore(tmp_path / "s3")
    shutil.copytree(Path(__file__).resolve().parents[2] / "steps", store.path("s3://b/code/0123456789abcdef/steps"),
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    corrupt = store.path("s3://b/features/features.parquet")
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not a parquet file")
    definition = {
        "AlgorithmSpecification": {"TrainingImage": cpu_image, "TrainingInputMode": "File", "MetricDefinitions": []},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/features/"}}},
            {"ChannelName": "code", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/code/0123456789abcdef"}}},
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://b/models"},
        "Environment": {"PYTHONPATH": "/opt/ml/input/data/code"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    described = run_training_job("failing-job", definition, {"algorithm": "xgboost"}, tmp_path / "job", store,
                                 containers=ContainerRuntime())  # fmt: skip
    assert described["TrainingJobStatus"] == "Failed"
    log = (tmp_path / "job" / "job.log").read_text()
    printed = [line.removeprefix("error: ") for line in log.splitlines() if line.startswith("error: ")]
    assert printed, log[-2000:]
    assert described["FailureReason"].startswith(f"AlgorithmError: {printed[-1]}\n(exit code ")
