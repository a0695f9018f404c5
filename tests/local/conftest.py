"""The runner's tests run the project's real definition; `fake_run` swaps the code bundle for tiny fake steps."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipelines.code_bundle import build_code_bundle
from pipelines.config import load_config
from pipelines.local.executor import PipelineExecution, RunOptions, RunResult, Upload
from pipelines.local.mirror import mirror_execution
from pipelines.local.runner import build_definition

FAKE_CODE = Path(__file__).parent / "fixtures" / "fake_code"


@pytest.fixture(scope="session")
def quick_config():
    return load_config(profile="quick")


@pytest.fixture(scope="session")
def quick_definition(quick_config) -> dict[str, Any]:
    definition, _ = build_definition(quick_config)
    return definition


def fake_uploads(config) -> list[Upload]:
    """The fake steps at the code URI the definition names (same prefix, different files)."""
    prefix = build_code_bundle(config.s3_root).s3_uri
    return [
        Upload(f"{prefix}/{path.relative_to(FAKE_CODE).as_posix()}", local_path=path)
        for path in sorted(FAKE_CODE.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]


@dataclass
class FakeRun:
    result: RunResult
    lines: list[str] = field(default_factory=list)

    @property
    def record(self):
        return self.result.record

    def status(self, name: str) -> str:
        return self.record.steps[name].status


@pytest.fixture
def run_fake(quick_config, quick_definition, tmp_path):
    """Run the real quick definition with the fake steps: `run_fake(control=..., parameters=..., run_dir=...)`."""

    def run(run_dir: Path | None = None, definition: dict[str, Any] | None = None, **kwargs: Any) -> FakeRun:
        return fake_run(quick_config, definition or quick_definition, run_dir or tmp_path / "runs", **kwargs)

    return run


def fake_run(
    config,
    definition: dict[str, Any],
    run_dir: Path,
    control: dict[str, Any] | None = None,
    parameters: dict[str, str] | None = None,
    use_cache: bool = True,
    max_trials: int | None = 3,
    max_parallel: int | None = None,
    aws_endpoint: str | None = None,
    mirror: bool = False,
) -> FakeRun:
    lines: list[str] = []
    options = RunOptions(
        run_dir=run_dir,
        parameters=parameters or {},
        use_cache=use_cache,
        max_trials=max_trials,
        cores=2,
        max_parallel=max_parallel,
        echo=lines.append,
        region=config.pipeline.region,
        aws_endpoint=aws_endpoint,
    )
    execution = PipelineExecution(
        json.loads(json.dumps(definition)), options, fake_uploads(config), config.pipeline.name
    )
    if mirror:  # as `run_config` does: the run is an execution in the emulator
        mirror_execution(execution, config.pipeline.role_arn, config.pipeline.description)

    def plant_inputs(run: PipelineExecution) -> None:
        bars = str(run.parameters["InputDataUrl"]).rstrip("/")
        run.store.put_bytes(json.dumps(control or {}).encode(), f"{bars}/control.json")
        run.store.put_bytes(b"", f"{str(run.parameters['TweetsDataUrl']).rstrip('/')}/empty")

    result = execution.run(before_steps=plant_inputs)
    return FakeRun(result, lines)


@pytest.fixture
def run_definition():
    """`run_definition(config, definition, run_dir, **kwargs)`: any definition with the fake steps."""
    return fake_run
