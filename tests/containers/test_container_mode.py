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
                assert job_log.readline().startswith("$ docker run "), step.name
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
