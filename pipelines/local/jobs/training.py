"""A training job on the host under the SageMaker training contract.

The training image's entrypoint is `python -m steps.train` by this project's convention (containers/
install the package; the definition names only the image). Hyperparameters arrive as `--name value`
arguments and in `/opt/ml/input/config/hyperparameters.json`; channels, model and output folders through
the `SM_*` variables; metrics are read back from stdout with the definition's own MetricDefinitions.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.definition.errors import UnsupportedConstruct
from pipelines.definition.expressions import to_text
from pipelines.local.errors import StepFailed
from pipelines.local.jobs.containers import ContainerRuntime, read_job_message
from pipelines.local.jobs.host import (
    ProgramResult,
    base_environment,
    host_command,
    host_path,
    map_container_paths,
    python_path,
    run_program,
    stage_input,
)
from pipelines.local.store import LocalStore

TRAINING_ENTRYPOINT = ("python3", "-m", "steps.train")
INPUT_DATA_DIR = "/opt/ml/input/data"
MODEL_DIR = "/opt/ml/model"
OUTPUT_DATA_DIR = "/opt/ml/output/data"
INPUT_CONFIG_DIR = "/opt/ml/input/config"
FAILURE_FILE = "/opt/ml/output/failure"
# What SageMaker passes a training image that names no ContainerEntrypoint: `docker run <image> train`.
TRAIN_ARGUMENT = "train"


def parse_metrics(output: str, metric_definitions: list[dict[str, str]]) -> dict[str, float]:
    """The last value each metric regex matched in the job's output (what FinalMetricDataList reports)."""
    metrics: dict[str, float] = {}
    for definition in metric_definitions:
        for match in re.finditer(definition["Regex"], output):
            try:
                metrics[definition["Name"]] = float(match.group(1))
            except (IndexError, ValueError):
                continue
    return metrics


def _tar_folder(folder: Path, archive: Path) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)


def _restore_checkpoint(config: dict[str, Any] | None, job_root: Path, store: LocalStore) -> tuple[Path, str] | None:
    """CheckpointConfig: the S3 checkpoint (if any) is copied to LocalPath before the job starts."""
    if not config:
        return None
    local = host_path(config.get("LocalPath", "/opt/ml/checkpoints"), job_root)
    uri = to_text(config["S3Uri"]).rstrip("/")
    local.mkdir(parents=True, exist_ok=True)
    if store.exists(uri):
        store.download(uri, local)
    return local, uri


def run_training_job(
    job_name: str,
    definition: dict[str, Any],
    hyperparameters: dict[str, str],
    job_root: Path,
    store: LocalStore,
    threads: int | None = None,
    containers: ContainerRuntime | None = None,
) -> dict[str, Any]:
    """Runs one training job from resolved CreateTrainingJob-shaped arguments (in its image with `containers`,
    else on the host); returns its describe-response. A failed job's FailureReason is what it wrote to
    `/opt/ml/output/failure` (first 1024 characters, as SageMaker's), else its exit code and log tail."""
    shutil.rmtree(job_root, ignore_errors=True)
    job_root.mkdir(parents=True)
    algorithm = definition.get("AlgorithmSpecification", {})
    entrypoint = algorithm.get("ContainerEntrypoint") or list(TRAINING_ENTRYPOINT)
    channels = []
    for channel in definition.get("InputDataConfig", []):
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is None:
            raise UnsupportedConstruct(f"{job_name}: channel {channel.get('ChannelName')!r} is not an S3DataSource")
        if channel.get("InputMode", algorithm.get("TrainingInputMode", "File")) != "File":
            raise UnsupportedConstruct(
                f"{job_name}: channel {channel['ChannelName']!r} InputMode {channel['InputMode']!r}"
            )
        name = channel["ChannelName"]
        stage_input(store, to_text(source["S3Uri"]), host_path(f"{INPUT_DATA_DIR}/{name}", job_root))
        channels.append(name)

    model_dir = host_path(MODEL_DIR, job_root)
    output_data_dir = host_path(OUTPUT_DATA_DIR, job_root)
    config_dir = host_path(INPUT_CONFIG_DIR, job_root)
    for folder in (model_dir, output_data_dir, config_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2, sort_keys=True))
    (config_dir / "inputdataconfig.json").write_text(json.dumps({c: {"TrainingInputMode": "File"} for c in channels}))
    (config_dir / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
    )
    if containers is not None:
        return _finish(
            job_name, definition, hyperparameters, job_root, store,
            lambda timeout: _run_in_container(containers, job_name, definition, job_root, timeout, threads),
        )  # fmt: skip

    env = base_environment()
    env.update({k: map_container_paths(to_text(v), job_root) for k, v in definition.get("Environment", {}).items()})
    if "PYTHONPATH" in env:
        env["PYTHONPATH"] = python_path(env["PYTHONPATH"])
    env.update(
        {
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(output_data_dir),
            "SM_OUTPUT_DIR": str(host_path("/opt/ml/output", job_root)),
            "SM_INPUT_DIR": str(host_path("/opt/ml/input", job_root)),
            "SM_INPUT_CONFIG_DIR": str(config_dir),
            "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps(hyperparameters, sort_keys=True),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_TRAINING_JOB_NAME": job_name,
        }
    )
    env.update({f"SM_CHANNEL_{c.upper()}": str(host_path(f"{INPUT_DATA_DIR}/{c}", job_root)) for c in channels})
    env.update({f"SM_HP_{k.upper()}": v for k, v in hyperparameters.items()})
    if threads:
        for variable in ("OMP_NUM_THREADS", "SM_NUM_CPUS"):
            env.setdefault(variable, str(threads))

    command = host_command(list(entrypoint))
    command += [map_container_paths(to_text(a), job_root) for a in algorithm.get("ContainerArguments", [])]
    for name, value in hyperparameters.items():
        command += [f"--{name}", value]
    return _finish(
        job_name, definition, hyperparameters, job_root, store,
        lambda timeout: run_program(command, env, job_root, job_root / "job.log", timeout),
    )  # fmt: skip


def _run_in_container(
    containers: ContainerRuntime,
    job_name: str,
    definition: dict[str, Any],
    job_root: Path,
    timeout: float,
    threads: int | None,
) -> ProgramResult:
    algorithm = definition.get("AlgorithmSpecification", {})
    entrypoint = [to_text(a) for a in algorithm.get("ContainerEntrypoint", [])] or None
    arguments = [to_text(a) for a in algorithm.get("ContainerArguments", [])]
    environment = {k: to_text(v) for k, v in definition.get("Environment", {}).items()}
    environment["TRAINING_JOB_NAME"] = job_name
    environment["TRAINING_JOB_ARN"] = f"arn:aws:sagemaker:local:000000000000:training-job/{job_name}"
    if threads:  # parallel trials share this machine's cores, as the host mode's do
        environment.setdefault("OMP_NUM_THREADS", str(threads))
    return containers.run(
        algorithm["TrainingImage"],
        entrypoint=entrypoint,
        arguments=arguments if entrypoint else [TRAIN_ARGUMENT, *arguments],
        environment=environment,
        job_root=job_root,
        log_path=job_root / "job.log",
        timeout=timeout,
        network_isolation=bool(definition.get("EnableNetworkIsolation")),
        cpus=threads,
    )


def _finish(
    job_name: str,
    definition: dict[str, Any],
    hyperparameters: dict[str, str],
    job_root: Path,
    store: LocalStore,
    launch: Callable[[float], ProgramResult],
) -> dict[str, Any]:
    """Run the job (`launch`), sync its checkpoints, read its metrics, pack and upload its model."""
    algorithm = definition.get("AlgorithmSpecification", {})
    model_dir = host_path(MODEL_DIR, job_root)
    output_data_dir = host_path(OUTPUT_DATA_DIR, job_root)
    checkpoint = _restore_checkpoint(definition.get("CheckpointConfig"), job_root, store)
    started = datetime.now(UTC)
    timeout = definition.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400)
    try:
        result = launch(timeout)
    finally:
        # SageMaker syncs the checkpoint folder to S3 while the job runs and after it ends, failed or not:
        # that is what lets a spot-interrupted job resume.
        if checkpoint is not None:
            local, uri = checkpoint
            if any(local.rglob("*")):
                store.upload_dir(local, uri)
    metrics = parse_metrics(result.output, algorithm.get("MetricDefinitions", []))
    described = {
        "TrainingJobName": job_name,
        "TrainingJobStatus": "Completed" if result.returncode == 0 else "Failed",
        "HyperParameters": hyperparameters,
        "FinalMetricDataList": [
            {"MetricName": name, "Value": value, "Timestamp": time.time()} for name, value in metrics.items()
        ],
        "TrainingStartTime": started.isoformat(),
        "TrainingEndTime": datetime.now(UTC).isoformat(),
        "log": str(result.log_path),
        "seconds": round(result.seconds, 3),
    }
    if result.returncode != 0:
        written = read_job_message(host_path(FAILURE_FILE, job_root))
        described["FailureReason"] = (
            f"AlgorithmError: {written}\n(exit code {result.returncode}; log {result.log_path})"
            if written
            else f"exit code {result.returncode}; log {result.log_path}\n{result.tail()}"
        )
        return described
    output_path = to_text(definition["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
    model_uri = f"{output_path}/{job_name}/output/model.tar.gz"
    archive = job_root / "model.tar.gz"
    _tar_folder(model_dir, archive)
    store.put_file(archive, model_uri)
    if any(output_data_dir.iterdir()):
        _tar_folder(output_data_dir, job_root / "output.tar.gz")
        store.put_file(job_root / "output.tar.gz", f"{output_path}/{job_name}/output/output.tar.gz")
    described["ModelArtifacts"] = {"S3ModelArtifacts": model_uri}
    described["OutputDataConfig"] = {"S3OutputPath": output_path}
    return described


def training_step_properties(
    step_name: str,
    arguments: dict[str, Any],
    job_root: Path,
    store: LocalStore,
    containers: ContainerRuntime | None = None,
) -> dict[str, Any]:
    """A TrainingStep: one job from CreateTrainingJob arguments; a failed job fails the step."""
    job_name = job_root.name
    hyperparameters = {k: to_text(v) for k, v in arguments.get("HyperParameters", {}).items()}
    described = run_training_job(job_name, arguments, hyperparameters, job_root, store, containers=containers)
    if described["TrainingJobStatus"] != "Completed":
        raise StepFailed(step_name, f"training job {job_name} failed: {described['FailureReason']}")
    return {**arguments, **described}
