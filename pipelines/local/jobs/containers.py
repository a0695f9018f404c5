"""Container mode (`pipelines.run --containers`): each job in the image its step declares, started the way
SageMaker starts it, on this machine's Docker daemon.

Why it exists: host mode (the default, for speed) runs every job's program in this venv, so it cannot see
what a job does differently inside its image: a package the image's lock lacks, a path outside /opt/ml, an
entry point that only works with the runner's extra arguments. Here the job gets what SageMaker gives it and
nothing more:

- the job folder's `opt/ml` mounted at `/opt/ml` (processing inputs and outputs at their `LocalPath`,
  training channels at `/opt/ml/input/data/<channel>`, `/opt/ml/input/config/*.json`, `/opt/ml/model`,
  `/opt/ml/output`, `/opt/ml/checkpoints`); a staged input that is a link to the run's shared code folder
  gets that folder mounted read-only at the same path, so the link resolves inside the container too;
- the definition's `Environment` and nothing of the runner's (no `SM_*`, no host PYTHONPATH), plus the
  job's name as SageMaker sets it; `OMP_NUM_THREADS` and `--cpus` only where the runner shares this
  machine's cores between parallel trials (a SageMaker trial has its instance to itself);
- the definition's `ContainerEntrypoint` and `ContainerArguments`, or the image's own entry point with the
  argument `train` for a training job (hyperparameters only in `hyperparameters.json`);
- `--network none` when the definition sets `EnableNetworkIsolation`.

Values of the environment reach `docker run` through its own environment (`-e NAME`), never on its command
line, so they show in no process list and no job log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.local.errors import LocalRunError
from pipelines.local.jobs.host import ProgramResult, run_program

DOCKER_ENV = "CONVICTION_DOCKER"  # another docker-compatible CLI (e.g. podman), or a full path
CONTAINER_ML = "/opt/ml"
SERVING_PORT = 8080
_START_HINT = "start it (`dockerd &` as root, or `sudo systemctl start docker`)"


@dataclass
class ContainerRuntime:
    """This machine's Docker, the local image for each image URI of the definition, and `docker run`."""

    docker: str = field(default_factory=lambda: os.environ.get(DOCKER_ENV, "docker"))
    _images: dict[str, str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def executable(self) -> str:
        """The CLI's absolute path: a job's own PATH (its Environment reaches the CLI's) must not change it."""
        return shutil.which(self.docker) or self.docker

    def check(self) -> None:
        """The CLI exists and its daemon answers; else one line saying what to run (before any step starts)."""
        if shutil.which(self.docker) is None:
            raise LocalRunError(
                f"--containers needs Docker: no {self.docker!r} on PATH (install docker.io, or set {DOCKER_ENV})"
            )
        try:
            answer = subprocess.run(
                [self.docker, "version", "--format", "{{.Server.Version}}"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise LocalRunError(f"--containers: the Docker daemon did not answer in 30 s; {_START_HINT}") from None
        if answer.returncode != 0 or not answer.stdout.strip():
            detail = (answer.stderr.strip().splitlines() or ["no answer"])[-1]
            raise LocalRunError(f"--containers: the Docker daemon is not running ({detail}); {_START_HINT}")

    def local_image(self, uri: str) -> str:
        """The image on this machine for a definition's image URI: the URI itself if it is here (pulled from
        ECR, or tagged so), else its repository's last segment with the same tag (`make images` builds
        `conviction-cpu:<version>` for `<account>.dkr.ecr.<region>.amazonaws.com/conviction-cpu:<version>`)."""
        with self._lock:
            if uri in self._images:
                return self._images[uri]
        candidates = [uri]
        short = uri.rsplit("/", 1)[-1]
        if short != uri:
            candidates.append(short)
        for candidate in candidates:
            found = subprocess.run(
                [self.docker, "image", "inspect", "--format", "{{.Id}}", candidate],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            if found.returncode == 0:
                with self._lock:
                    self._images[uri] = candidate
                return candidate
        raise LocalRunError(
            f"--containers: image {uri} is not on this machine (looked for {' and '.join(candidates)}): "
            "build it with `make images`, or pull it and tag it with one of those names"
        )

    def run(
        self,
        image_uri: str,
        *,
        entrypoint: Sequence[str] | None,
        arguments: Sequence[str],
        environment: Mapping[str, str],
        job_root: Path,
        log_path: Path,
        timeout: float,
        network_isolation: bool = False,
        cpus: int | None = None,
    ) -> ProgramResult:
        """`docker run` one job with the job folder's `opt/ml` at `/opt/ml`; the log is the container's output."""
        image = self.local_image(image_uri)
        ml_root = (job_root / "opt" / "ml").resolve()
        ml_root.mkdir(parents=True, exist_ok=True)
        name = f"conviction-{job_root.name[:40]}-{uuid.uuid4().hex[:8]}".lower()
        command = [self.executable(), "run", "--rm", "--name", name, "-v", bind(ml_root, CONTAINER_ML)]
        for shared in linked_folders(ml_root):
            command += ["-v", bind(shared, str(shared), read_only=True)]
        if network_isolation:
            command += ["--network", "none"]
        if cpus:
            command += ["--cpus", str(cpus)]
        # what the CLI itself needs to reach its daemon (rootless and remote engines too), nothing else
        client_env = {k: v for k, v in os.environ.items()
                      if k in {"PATH", "HOME", "XDG_RUNTIME_DIR"} or k.startswith("DOCKER_")}  # fmt: skip
        for key, value in environment.items():
            command += ["-e", key]  # the value travels in the CLI's environment, not its arguments
            client_env[key] = value
        if entrypoint:
            command += ["--entrypoint", entrypoint[0], image, *entrypoint[1:], *arguments]
        else:
            command += [image, *arguments]
        try:
            return run_program(command, client_env, job_root, log_path, timeout)
        finally:
            # a timed-out or interrupted `docker run` leaves its container running: end it (no-op when gone)
            subprocess.run([self.docker, "rm", "-f", name], capture_output=True, timeout=60, check=False)


    def start_server(self, image_uri: str, model_dir: Path, label: str) -> tuple[str, str]:
        """`docker run -d <image> serve` with `model_dir` at /opt/ml/model (read-only) and port 8080 published
        on a free port of 127.0.0.1; returns the container's name and its URL."""
        image = self.local_image(image_uri)
        name = f"conviction-{label[:40]}-{uuid.uuid4().hex[:8]}".lower()
        model = bind(Path(model_dir).resolve(), f"{CONTAINER_ML}/model", read_only=True)
        command = [self.executable(), "run", "-d", "--name", name, "-p", f"127.0.0.1::{SERVING_PORT}",
                   "-v", model, image, "serve"]  # fmt: skip
        started = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if started.returncode != 0:
            subprocess.run([self.docker, "rm", "-f", name], capture_output=True, timeout=60, check=False)
            detail = (started.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"the serving container did not start: {detail}")
        published = subprocess.run([self.docker, "port", name, f"{SERVING_PORT}/tcp"],
                                   capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        address = next((line.strip() for line in published.stdout.splitlines() if line.startswith("127.0.0.1:")), "")
        if not address:
            self.stop_server(name)
            raise RuntimeError(f"the serving container publishes no port {SERVING_PORT} on 127.0.0.1")
        return name, f"http://{address}"

    def wait_ready(self, name: str, url: str, timeout_s: float) -> None:
        """Until GET /ping answers 200 (SageMaker's readiness check), the container exits, or `timeout_s`."""
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            state = subprocess.run([self.docker, "inspect", "--format", "{{.State.Running}}", name],
                                   capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
            if state.stdout.strip() != "true":
                logs = subprocess.run([self.docker, "logs", "--tail", "5", name],
                                      capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
                last = (logs.stdout + logs.stderr).strip().splitlines()
                raise RuntimeError(f"the serving container exited before /ping answered: {last[-1] if last else ''}")
            time.sleep(0.5)
        raise RuntimeError(f"the serving container did not answer /ping within {timeout_s:.0f}s")

    def stop_server(self, name: str, log_path: Path | None = None) -> None:
        """Keep its log (when asked), then remove it, running or not."""
        if log_path is not None:
            logs = subprocess.run([self.docker, "logs", name], capture_output=True, text=True, timeout=60, check=False)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(logs.stdout + logs.stderr)
        subprocess.run([self.docker, "rm", "-f", name], capture_output=True, timeout=60, check=False)


def bind(source: Path, target: str, read_only: bool = False) -> str:
    """A `-v` bind: a host path with ':' (or ',') would be read as another field, so it is refused."""
    text = str(source)
    if ":" in text or "," in text:
        raise LocalRunError(f"--containers: {text} cannot be mounted (':' or ',' in the path): use another --run-dir")
    return f"{text}:{target}{':ro' if read_only else ''}"


def serving_model_folder(artifact: Path, destination: Path) -> Path:
    """What SageMaker hosting puts in /opt/ml/model: the model archive extracted (data members only), or the
    folder itself when the artifact is one."""
    import tarfile

    from steps.common.archives import extract_data_only

    if artifact.is_dir():
        return artifact
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    with tarfile.open(artifact) as tar:
        extract_data_only(tar, destination)
    return destination


def linked_folders(ml_root: Path, depth: int = 5) -> list[Path]:
    """Real folders that links under `ml_root` point to outside it (the run's shared code folder)."""
    found: set[Path] = set()
    for folder, subfolders, _files in os.walk(ml_root):
        if len(Path(folder).relative_to(ml_root).parts) >= depth:
            subfolders.clear()
            continue
        for name in list(subfolders):
            path = Path(folder) / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(ml_root):
                    found.add(target)
    return sorted(found)


def read_job_message(path: Path, limit: int = 1024) -> str | None:
    """The first `limit` characters of a job's `/opt/ml/output/failure` (training) or `message` (processing),
    as SageMaker reports them (FailureReason / ExitMessage); None when the job wrote none."""
    if not path.is_file():
        return None
    text = path.read_bytes()[: limit * 4].decode("utf-8", errors="replace").strip()
    return text[:limit] or None


def definition_images(definition: dict) -> list[str]:
    """The image URIs a definition's jobs name as plain strings (`ImageUri`, `TrainingImage`), in every
    branch; one chosen by an expression at run time is resolved when its job starts."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in {"ImageUri", "TrainingImage"} and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(definition.get("Steps", []))
    return sorted(found)
