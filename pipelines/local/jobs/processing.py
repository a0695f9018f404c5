"""A processing job: stage inputs, run the container's entrypoint and arguments (on the host, or in its image in
container mode), collect outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pipelines.definition.errors import UnsupportedConstruct
from pipelines.definition.expressions import to_text
from pipelines.local.errors import StepFailed
from pipelines.local.jobs.containers import ContainerRuntime, read_job_message
from pipelines.local.jobs.host import (
    base_environment,
    host_command,
    host_path,
    map_container_paths,
    python_path,
    run_program,
    stage_input,
)
from pipelines.local.store import LocalStore
from steps.common.resource_config import RESOURCE_CONFIG  # SageMaker's description of a job's instances

# What belongs in an input, for the message when a local run finds it empty.
_INPUT_HINTS = {
    "model": "an exported classifier: python -m steps.sentiment.export --model <huggingface folder> --output {path}",
}


def _empty_input_message(name: str, uri: str, store: LocalStore) -> str:
    """SageMaker fails a processing job whose S3 input has no objects; here the message says where to put them."""
    path = store.path(uri)
    hint = _INPUT_HINTS.get(name, "put the files there, or point the step at another URL")
    return (
        f"ClientError: no S3 objects found under {uri} (processing input {name!r}); locally that is {path}: "
        + hint.format(path=path)
    )


EXIT_MESSAGE = "/opt/ml/output/message"


def run_processing_job(
    step_name: str,
    arguments: dict[str, Any],
    job_root: Path,
    store: LocalStore,
    containers: ContainerRuntime | None = None,
) -> dict[str, Any]:
    """Runs the job described by resolved CreateProcessingJob arguments (in its image with `containers`, else
    on the host); returns its describe-response, with the job's `/opt/ml/output/message` as ExitMessage."""
    shutil.rmtree(job_root, ignore_errors=True)
    job_root.mkdir(parents=True)
    app = arguments.get("AppSpecification", {})
    if not app.get("ContainerEntrypoint"):
        raise UnsupportedConstruct(f"{step_name}: a processing job without ContainerEntrypoint (image default)")

    for item in arguments.get("ProcessingInputs", []):
        if "S3Input" not in item:
            raise UnsupportedConstruct(f"{step_name}: processing input {item.get('InputName')!r} is not an S3Input")
        s3_input = item["S3Input"]
        if s3_input.get("S3InputMode", "File") != "File":
            raise UnsupportedConstruct(f"{step_name}: S3InputMode {s3_input['S3InputMode']!r}")
        uri = to_text(s3_input["S3Uri"])
        if not store.exists(uri):
            raise StepFailed(step_name, _empty_input_message(item.get("InputName", ""), uri, store))
        stage_input(store, uri, host_path(s3_input["LocalPath"], job_root))

    outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for item in outputs:
        host_path(item["S3Output"]["LocalPath"], job_root).mkdir(parents=True, exist_ok=True)

    timeout = arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400)
    if containers is not None:
        resource_config = host_path(RESOURCE_CONFIG, job_root)
        resource_config.parent.mkdir(parents=True, exist_ok=True)
        resource_config.write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
        result = containers.run(
            app["ImageUri"],
            entrypoint=[to_text(a) for a in app["ContainerEntrypoint"]],
            arguments=[to_text(a) for a in app.get("ContainerArguments", [])],
            environment={k: to_text(v) for k, v in arguments.get("Environment", {}).items()},
            job_root=job_root,
            log_path=job_root / "job.log",
            timeout=timeout,
            network_isolation=bool(arguments.get("NetworkConfig", {}).get("EnableNetworkIsolation")),
        )
    else:
        env = base_environment()
        env.update({k: map_container_paths(to_text(v), job_root) for k, v in arguments.get("Environment", {}).items()})
        if "PYTHONPATH" in env:
            env["PYTHONPATH"] = python_path(env["PYTHONPATH"])
        command = host_command([map_container_paths(to_text(a), job_root) for a in app["ContainerEntrypoint"]])
        command += [map_container_paths(to_text(a), job_root) for a in app.get("ContainerArguments", [])]
        result = run_program(command, env, job_root, job_root / "job.log", timeout)
    exit_message = read_job_message(host_path(EXIT_MESSAGE, job_root)) or ""
    if result.returncode != 0:
        said = f"{exit_message}\n" if exit_message else ""
        raise StepFailed(
            step_name,
            f"{said}processing job exited with code {result.returncode}; log {result.log_path}\n{result.tail()}",
        )

    described_outputs = []
    for item in outputs:
        uri = to_text(item["S3Output"]["S3Uri"]).rstrip("/")
        store.upload_dir(host_path(item["S3Output"]["LocalPath"], job_root), uri)
        described_outputs.append({**item, "S3Output": {**item["S3Output"], "S3Uri": uri}})
    return {
        **arguments,
        "ProcessingJobName": job_root.name,
        "ProcessingJobStatus": "Completed",
        "ExitMessage": exit_message,
        "ProcessingOutputConfig": {"Outputs": described_outputs},
        "log": str(result.log_path),
        "seconds": round(result.seconds, 3),
    }
