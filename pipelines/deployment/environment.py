"""Where approve/deploy talk to: AWS with credentials, or the AWS API emulator of the local runner.

Three seams, each with a production and a local side:
- **clients**: boto3 clients for AWS, or for the emulator (moto server on 127.0.0.1, its state replayed
  from `<run-dir>/.emulator`, so packages `pipelines.run` registered are there);
- **artifacts**: S3 objects (model.tar.gz, evaluation.json, smoke rows) through boto3, or the local
  runner's store `<run-dir>/s3/<bucket>/<key>`, where the local run wrote them;
- **invoker**: `sagemaker-runtime` InvokeEndpoint, or HTTP to a `steps.serve` process started on
  127.0.0.1 from the endpoint's model artifact (the emulator has no inference runtime).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.deployment.invoker import ContainerServeInvoker, Invoker, LocalServeInvoker, SageMakerRuntimeInvoker
from pipelines.publish import CREDENTIALS_HELP, AwsTarget, PublishError


class DeployError(RuntimeError):
    """A problem the user can act on, in one line (exit code 2); never carries a secret."""


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise DeployError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class S3Artifacts:
    def __init__(self, s3_client) -> None:
        self.s3 = s3_client

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = split_s3(uri)
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def exists(self, uri: str) -> bool:
        bucket, key = split_s3(uri)
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except Exception:  # a 404/403 both mean "not usable here"
            return False

    def download(self, uri: str, target: Path) -> Path:
        bucket, key = split_s3(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(bucket, key, str(target))
        return target


class LocalArtifacts:
    """The local runner's S3 store: s3://bucket/key is <run-dir>/s3/bucket/key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, uri: str) -> Path:
        bucket, key = split_s3(uri)
        if any(part == ".." for part in key.split("/")):
            raise DeployError(f"S3 key with '..' is not allowed locally: {uri!r}")
        return self.root / bucket / key

    def read_bytes(self, uri: str) -> bytes:
        path = self.path(uri)
        if not path.is_file():
            raise DeployError(f"{uri} is not in the local store ({path}); run `python -m pipelines.run` first")
        return path.read_bytes()

    def exists(self, uri: str) -> bool:
        return self.path(uri).is_file()

    def download(self, uri: str, target: Path) -> Path:
        source = self.path(uri)
        if not source.is_file():
            raise DeployError(f"{uri} is not in the local store ({source}); run `python -m pipelines.run` first")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target


@dataclass
class Environment:
    description: str
    region: str
    local: bool
    _client_factory: Any
    artifacts: Any
    invoker: Invoker
    work_dir: Path
    _closers: list[Any] = field(default_factory=list)

    def client(self, service: str):
        return self._client_factory(service)

    def close(self) -> None:
        self.invoker.close()
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_environment(*, local: bool, run_dir: Path, region: str, endpoint_url: str | None = None,
                     serving_image: str | None = None) -> Environment:
    """The local emulator (`local`, state in run_dir) or AWS (credentials required, one-line error without).
    Locally, `serving_image` answers the smoke test from that image (`--containers`), else steps.serve runs in
    this venv."""
    run_dir = Path(run_dir)
    if serving_image is not None and not local:
        raise DeployError("--containers serves the model in its image on this machine: it needs --local")
    if local:
        invoker: Invoker = LocalServeInvoker()
        if serving_image is not None:
            from pipelines.local.errors import LocalRunError
            from pipelines.local.jobs.containers import ContainerRuntime

            runtime = ContainerRuntime()
            try:
                runtime.check()
                runtime.local_image(serving_image)
            except LocalRunError as exc:
                raise DeployError(str(exc)) from None
            invoker = ContainerServeInvoker(serving_image, runtime)
        from pipelines.emulator import DEFAULT_STATE_DIR, Emulator, EmulatorError, emulator_client

        closers = []
        endpoint = endpoint_url
        if endpoint is None:
            emulator = Emulator(run_dir / DEFAULT_STATE_DIR.name, region)
            try:
                endpoint = emulator.start()
            except EmulatorError as exc:  # one line, as every refusal of these commands
                raise DeployError(f"the emulator in {emulator.state_dir} cannot start: {exc}") from None
            closers.append(emulator.stop)
        return Environment(
            description=f"local AWS API emulator {endpoint} (state {run_dir / DEFAULT_STATE_DIR.name}, "
                        f"artifacts {run_dir / 's3'})",
            region=region, local=True,
            _client_factory=lambda service: emulator_client(service, endpoint, region),
            artifacts=LocalArtifacts(run_dir / "s3"), invoker=invoker,
            work_dir=run_dir / "endpoints", _closers=closers,
        )
    target = AwsTarget(region=region, endpoint_url=endpoint_url)
    try:
        target.session()
    except PublishError:
        raise DeployError(CREDENTIALS_HELP.replace("use --dry-run to build the definition without AWS",
                                                   "or pass --local to use the local emulator in runs/")) from None
    return Environment(
        description=f"AWS {region}" + (f" via {endpoint_url}" if endpoint_url else ""),
        region=region, local=False, _client_factory=target.client,
        artifacts=S3Artifacts(target.client("s3")), invoker=SageMakerRuntimeInvoker(target.client("sagemaker-runtime")),
        work_dir=run_dir / "endpoints",
    )
