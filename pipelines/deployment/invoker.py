"""How the deploy smoke test reaches an endpoint: the `Invoker` seam.

Production: `sagemaker-runtime` InvokeEndpoint. Locally the emulator creates endpoints but runs no
model, so `LocalServeInvoker` starts the serving container's program (`python -m steps.serve`) on
127.0.0.1 from the endpoint's model artifact and sends real HTTP to it: the same program, request and
response bytes as the container SageMaker runs.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class InvokeResult:
    status: int
    body: bytes
    content_type: str = ""


class Invoker(Protocol):
    def attach(self, endpoint_name: str, model_artifact: Path) -> None:
        """Make `endpoint_name` answer from this artifact (local only; AWS endpoints already do)."""

    def invoke(self, endpoint_name: str, body: bytes, content_type: str) -> InvokeResult: ...

    def detach(self, endpoint_name: str) -> None: ...

    def close(self) -> None: ...


class SageMakerRuntimeInvoker:
    needs_artifact = False

    def __init__(self, runtime_client) -> None:
        self.runtime = runtime_client

    def attach(self, endpoint_name: str, model_artifact: Path) -> None:
        return None

    def invoke(self, endpoint_name: str, body: bytes, content_type: str) -> InvokeResult:
        try:
            response = self.runtime.invoke_endpoint(EndpointName=endpoint_name, Body=body, ContentType=content_type,
                                                    Accept="application/json")
        except ClientError as exc:
            # A container's 4xx/5xx arrives as ModelError with the container's status and body.
            error = exc.response.get("Error", {})
            status = int(exc.response.get("OriginalStatusCode") or exc.response.get("ResponseMetadata", {}).get(
                "HTTPStatusCode", 500))
            return InvokeResult(status, str(exc.response.get("OriginalMessage") or error.get("Message", "")).encode())
        return InvokeResult(200, response["Body"].read(), response.get("ContentType", ""))

    def detach(self, endpoint_name: str) -> None:
        return None

    def close(self) -> None:
        return None


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM (a serving process flushes and closes its sockets), then SIGKILL if it is still there after
    `timeout_s`: a stuck server never outlives its caller."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


def post_invocation(url: str, body: bytes, content_type: str, timeout_s: float) -> InvokeResult:
    """POST /invocations as SageMaker's runtime forwards a request to a serving container."""
    request = urllib.request.Request(f"{url}/invocations", data=body, method="POST",
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return InvokeResult(response.status, response.read(), response.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        return InvokeResult(exc.code, exc.read(), exc.headers.get("Content-Type", ""))


class LocalServeInvoker:
    """One `python -m steps.serve` process per attached endpoint, on a free port of 127.0.0.1."""

    needs_artifact = True

    def __init__(self, python: str = sys.executable, start_timeout_s: float = 90.0,
                 request_timeout_s: float = 30.0) -> None:
        self.python = python
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self.processes: dict[str, subprocess.Popen] = {}
        self.urls: dict[str, str] = {}
        self.logs: dict[str, Path] = {}

    def attach(self, endpoint_name: str, model_artifact: Path) -> None:
        """Start steps.serve on the artifact; its log goes to `<artifact folder>/serve.log`."""
        path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        log_path = Path(model_artifact).parent / "serve.log" if Path(model_artifact).is_file() else Path(
            model_artifact) / "serve.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [self.python, "-m", "steps.serve", "--model", str(model_artifact), "--host", "127.0.0.1",
                 "--port", "0"],
                stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "PYTHONPATH": path}, cwd=REPO_ROOT,
            )
        self.processes[endpoint_name] = process
        self.logs[endpoint_name] = log_path
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                error = log_path.read_text().strip().splitlines()
                self.detach(endpoint_name)
                raise RuntimeError(f"steps.serve exited with {process.returncode}: {error[-1] if error else ''}")
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline().strip()
                if line.startswith("serving "):
                    self.urls[endpoint_name] = line.split(" ", 1)[1]
                    return
        self.detach(endpoint_name)
        raise RuntimeError(f"steps.serve did not start within {self.start_timeout_s:.0f}s")

    def url(self, endpoint_name: str) -> str:
        return self.urls[endpoint_name]

    def invoke(self, endpoint_name: str, body: bytes, content_type: str) -> InvokeResult:
        if endpoint_name not in self.urls:
            raise RuntimeError(f"no local server attached for endpoint {endpoint_name}")
        return post_invocation(self.urls[endpoint_name], body, content_type, self.request_timeout_s)

    def detach(self, endpoint_name: str) -> None:
        process = self.processes.pop(endpoint_name, None)
        self.urls.pop(endpoint_name, None)
        if process is None:
            return
        stop_process(process)
        if process.stdout:
            process.stdout.close()

    def close(self) -> None:
        for name in list(self.processes):
            self.detach(name)


class ContainerServeInvoker:
    """The serving image itself per attached endpoint (`pipelines.deploy --local --containers`), started as
    SageMaker hosting starts it: the model archive extracted into `/opt/ml/model`, `docker run <image> serve`,
    port 8080 (published on a free port of 127.0.0.1), ready once GET /ping answers 200."""

    needs_artifact = True

    def __init__(self, image_uri: str, runtime=None, start_timeout_s: float = 120.0,
                 request_timeout_s: float = 30.0) -> None:
        from pipelines.local.jobs.containers import ContainerRuntime

        self.image_uri = image_uri
        self.runtime = runtime or ContainerRuntime()
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self.containers: dict[str, str] = {}
        self.urls: dict[str, str] = {}
        self.logs: dict[str, Path] = {}

    def attach(self, endpoint_name: str, model_artifact: Path) -> None:
        from pipelines.local.jobs.containers import serving_model_folder

        artifact = Path(model_artifact)
        work = (artifact.parent if artifact.is_file() else artifact) / f"{endpoint_name}-container"
        model_dir = serving_model_folder(artifact, work / "model")
        self.logs[endpoint_name] = work / "serve.log"
        name, url = self.runtime.start_server(self.image_uri, model_dir, f"serve-{endpoint_name}")
        self.containers[endpoint_name] = name
        try:
            self.runtime.wait_ready(name, url, self.start_timeout_s)
        except RuntimeError:
            self.detach(endpoint_name)
            raise
        self.urls[endpoint_name] = url

    def url(self, endpoint_name: str) -> str:
        return self.urls[endpoint_name]

    def invoke(self, endpoint_name: str, body: bytes, content_type: str) -> InvokeResult:
        if endpoint_name not in self.urls:
            raise RuntimeError(f"no serving container attached for endpoint {endpoint_name}")
        return post_invocation(self.urls[endpoint_name], body, content_type, self.request_timeout_s)

    def detach(self, endpoint_name: str) -> None:
        name = self.containers.pop(endpoint_name, None)
        self.urls.pop(endpoint_name, None)
        if name is not None:
            self.runtime.stop_server(name, self.logs.get(endpoint_name))

    def close(self) -> None:
        for name in list(self.containers):
            self.detach(name)
