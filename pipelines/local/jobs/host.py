"""What every local job shares: the `/opt/ml` mapping, the host command line and a bounded subprocess."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from pipelines.local.errors import LocalRunError
from pipelines.local.store import LocalStore

CONTAINER_ROOT = "/opt/ml"
_CONTAINER_PATH = re.compile(r"(?<![\w/.])/opt/ml(?=/|$|\s|,|:)")
# The slowest job the runner waits for, whatever the definition's StoppingCondition says.
MAX_JOB_SECONDS = 6 * 3600


def map_container_paths(text: str, job_root: Path) -> str:
    """Rewrite `/opt/ml/...` in an argument or environment value to the job folder's copy."""
    return _CONTAINER_PATH.sub(str(job_root / "opt" / "ml").replace("\\", "/"), text)


def host_path(container_path: str, job_root: Path) -> Path:
    if not container_path.startswith(CONTAINER_ROOT):
        raise LocalRunError(f"container path {container_path!r} is not under {CONTAINER_ROOT}")
    return job_root / "opt" / "ml" / container_path[len(CONTAINER_ROOT) :].lstrip("/")


def host_command(entrypoint: list[str]) -> list[str]:
    """The image runs `python3 ...`; here that is this interpreter (the venv with the jobs' libraries)."""
    if entrypoint and Path(entrypoint[0]).name in {"python", "python3", "python3.11"}:
        return [sys.executable, *entrypoint[1:]]
    return list(entrypoint)


# The definition's code input: a content-hashed prefix written by pipelines/code_bundle.py.
_CODE_BUNDLE = re.compile(r"/code/(?P<digest>[0-9a-f]{16})/?$")


def stage_input(store: LocalStore, uri: str, destination: Path) -> None:
    """Copy an S3 input into the job folder; the code bundle is linked instead, to one shared folder per digest.

    Why: every job of every run imports the same code from the same real path, so what Python and numba
    cache next to the source (bytecode, the compiled feature kernels, ~1.5 s per process) is built once per
    code version instead of once per job. The folder is written whole, then renamed into place, so parallel
    jobs never see half of it; jobs only read it (their PYTHONPATH is resolved to it, `python_path`).
    """
    match = _CODE_BUNDLE.search(uri)
    if match is None:
        store.download(uri, destination)
        return
    shared = store.root.parent / ".code" / match["digest"]
    if not shared.is_dir():
        staging = shared.with_name(f"{shared.name}.{os.getpid()}.{time.monotonic_ns()}.staging")
        store.download(uri, staging)
        try:
            staging.rename(shared)
        except OSError:  # another job put it there first: same digest, same files
            shutil.rmtree(staging, ignore_errors=True)
    if destination.is_symlink() or destination.is_file():
        destination.unlink()
    elif destination.is_dir():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.symlink_to(shared.resolve(), target_is_directory=True)


def python_path(value: str) -> str:
    """A PYTHONPATH with each entry resolved to its real path (a linked code folder imports from one place)."""
    return os.pathsep.join(os.path.realpath(entry) if entry else entry for entry in value.split(os.pathsep))


def base_environment() -> dict[str, str]:
    """The host's environment minus what would leak the runner's own imports into the job."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"} and not k.startswith("SM_")}
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass(frozen=True)
class ProgramResult:
    returncode: int
    output: str
    seconds: float
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set by stop_all_jobs: no job program starts until a run allows them again
STOP_GRACE_SECONDS = 5.0


def allow_new_jobs() -> None:
    """A run starts: job programs may start (an earlier run in this process may have been stopped)."""
    _STOPPING.clear()


def jobs_stopping() -> bool:
    """Whether the run is ending its jobs: a tuning job draws no further trials."""
    return _STOPPING.is_set()


def stop_all_jobs() -> int:
    """End every job program still running (SIGTERM, then SIGKILL after a grace period); how many there were.

    Why: an interrupted run waits for its job threads, and a job that did not get the terminal's SIGINT
    (a signal sent to the runner alone) would otherwise run on to its end. From here on no job program starts:
    a tuning job's next trials, queued behind the ones ended here, would otherwise each run to its end."""
    with _LIVE_LOCK:
        _STOPPING.set()
        live = list(_LIVE)
    for process in live:
        with suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in live:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                process.kill()
    return len(live)


def run_program(command: list[str], env: dict[str, str], cwd: Path, log_path: Path, timeout: float) -> ProgramResult:
    """Run one job's program, stdout and stderr together into its log; bounded by `timeout` seconds."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    timeout = max(1.0, min(float(timeout), MAX_JOB_SECONDS))
    with log_path.open("w") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        with _LIVE_LOCK:  # started and listed at once: stop_all_jobs sees every program that started
            process = None
            if _STOPPING.is_set():
                log.write("\nlocal runner: not started: the run is stopping\n")
                code = 130
            else:
                try:
                    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
                except OSError as exc:
                    log.write(f"\nlocal runner: cannot start {command[0]!r}: {exc}\n")
                    code = 127
                else:
                    _LIVE.add(process)
        if process is not None:
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                log.write(f"\nlocal runner: stopped after the job's MaxRuntimeInSeconds ({timeout:.0f} s)\n")
                code = 124
            finally:
                with _LIVE_LOCK:
                    _LIVE.discard(process)
    return ProgramResult(code, log_path.read_text(errors="replace"), time.monotonic() - started, log_path)
