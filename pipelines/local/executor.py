"""Runs a definition JSON as SageMaker would: the service's rules first, then every step when it is ready.

Before anything runs, the definition is held to the service's rules (`pipelines.definition.rules`). A step
becomes ready exactly when SageMaker would start it (every step it depends on has succeeded and its branch
was chosen, `pipelines.definition.graph`); ready steps run at once, each on its own thread, while jobs and
tuning trials share `max_parallel` slots. Each step's request is validated against botocore's SageMaker
model after its expressions are resolved, and a violation fails the step as a ValidationException would.
What a step type does is its handler's (`pipelines.local.handlers`).

When the record's observer (the run's mirror in the emulator, `pipelines.local.mirror`) fails, the run does
not stop: its steps finish, since their artifacts and the record are still useful, and then the run fails
(`RunResult.exit_code` 1) with the observer's error in one line (`RunResult.observer_error`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import string
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.definition.errors import DefinitionError, UnsupportedConstruct
from pipelines.definition.expressions import EXECUTION_VARIABLES, EvaluationContext, check_supported, resolve
from pipelines.definition.graph import StepNode, execution_order, flatten_steps
from pipelines.definition.requests import job_name
from pipelines.definition.retry_rules import parse_retry_policies
from pipelines.definition.rules import check_definition
from pipelines.local.cache import StepCache, cache_key, output_digests
from pipelines.local.errors import DefinitionRefused, DefinitionUnreadable, LocalRunError, StepFailed
from pipelines.local.handlers import HANDLERS, StepResult, StepRun
from pipelines.local.jobs.host import allow_new_jobs, stop_all_jobs
from pipelines.local.record import ExecutionRecord, StepRecord, now
from pipelines.local.retries import Retrier, RetryClock, StepFault, injected_fault
from pipelines.local.service_checks import refuse_invalid
from pipelines.local.store import LOCAL_INPUTS_BUCKET, LocalStore


@dataclass
class Upload:
    """A file the definition expects in S3 before it runs (the code bundle): from a path or a body."""

    s3_uri: str
    local_path: Path | None = None
    body: bytes | None = None


@dataclass
class RunOptions:
    run_dir: Path = Path("runs")
    parameters: dict[str, str] = field(default_factory=dict)
    use_cache: bool = True
    max_trials: int | None = None
    aws_endpoint: str | None = None
    region: str = "us-east-1"
    cores: int | None = None
    max_parallel: int | None = None  # jobs and tuning trials at once (default: the cores)
    # The pipeline's ParallelismConfiguration.MaxParallelExecutionSteps (`pipeline.max_parallel_steps`, sent with
    # CreatePipeline by `upsert`): steps at once, whatever the machine; None: every ready step at once, as
    # SageMaker. A step waits for one of these and, for each job it runs, for one of `max_parallel`.
    max_parallel_steps: int | None = None
    echo: Callable[[str], None] = print
    # the start-time policy --param values are held to (pipelines.parameter_table.ParameterPolicy; run_config sets
    # the config's); None: the definition's own (ranges, and Approved only where it is the default)
    parameter_policy: Any = None
    emulator_dir: Path | None = None
    # Called with the record each time it is written (a step started or ended): a seam for mirrors of the
    # run, e.g. the emulator's pipeline execution. A failing observer is called no more; the run still
    # finishes its steps (their artifacts and record are kept), then fails: `RunResult.observer_error`.
    on_record: Callable[[ExecutionRecord], None] | None = None
    # Tests only: per step, the exception types (`pipelines.local.retries.EXCEPTION_TYPES`) its successive
    # attempts fail with, raised where the step would call the service; and a clock whose sleep only counts.
    faults: dict[str, list[str]] = field(default_factory=dict)
    retry_clock: RetryClock | None = None
    # Container mode (`--containers`): every job in the image its step declares, on this machine's Docker
    # (pipelines.local.jobs.containers); None: on the host, in this venv.
    containers: Any = None


@dataclass
class StepAttempt:
    """How one attempt at a step ended: its status, why it failed and the fault's exception type, if any."""

    status: str = "Succeeded"
    reason: str | None = None
    exception_type: str | None = None
    result: StepResult | None = None
    cache_hit: bool = False


@dataclass
class RunResult:
    record: ExecutionRecord
    exit_code: int
    # why the run's observer (its mirror in the emulator) failed, in one line; the exit code is then 1
    observer_error: str | None = None

    @property
    def steps(self) -> dict[str, StepRecord]:
        return self.record.steps


def resolve_parameters(definition: dict[str, Any], given: dict[str, str], policy: Any = None) -> dict[str, Any]:
    """Every declared parameter's value for this run, typed: the given one, checked as every command checks a
    `--param` (`pipelines.parameter_values`; `policy` a ParameterPolicy, default: the definition's own), else
    the definition's default."""
    from pipelines.parameter_values import ParameterValueError, checked_parameter_values  # loads the config

    try:
        if policy is None:  # the definition's own, with file:// folders: this run links them (_link_local_folders)
            from pipelines.parameter_table import ParameterPolicy

            policy = ParameterPolicy.from_definition(definition, local_folders=True)
        checked = checked_parameter_values(given.items(), definition, policy)
    except ParameterValueError as exc:
        raise LocalRunError(str(exc)) from None
    values: dict[str, Any] = {}
    for spec in definition.get("Parameters", []):
        name = spec["Name"]
        if name in checked:
            values[name] = checked[name]
            continue
        if "DefaultValue" not in spec:
            raise LocalRunError(f"parameter {name} has no default; pass --param {name}=VALUE")
        values[name] = spec["DefaultValue"]
        if spec.get("EnumValues") and values[name] not in spec["EnumValues"]:
            raise LocalRunError(f"--param {name}={values[name]}: allowed values are {', '.join(spec['EnumValues'])}")
    return values


# SageMaker's execution ids are 12 lowercase letters and digits (the last part of a PipelineExecutionArn,
# e.g. `.../pipeline/abalone/execution/123ab12cd3ef` in the developer guide's selective-execution page,
# https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-selective-ex.html); botocore's ARN pattern leaves
# it open (`.../execution/.*`). The runner's are the same length, so the lengths of S3 URIs and job names
# built from `Execution.PipelineExecutionId` are checked locally at the length the cloud gives them.
EXECUTION_ID_LENGTH = 12
EXECUTION_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_execution_id() -> str:
    """12 random lowercase letters and digits, as SageMaker's (`EXECUTION_ID_LENGTH`)."""
    return "".join(secrets.choice(EXECUTION_ID_ALPHABET) for _ in range(EXECUTION_ID_LENGTH))


def execution_folder_name(execution_id: str, started: datetime) -> str:
    """`<run-dir>/<UTC start>-<execution id>`: the folder sorts and reads by start time, which the random id
    does not; the id alone is what S3 URIs and job names carry."""
    return f"{started:%Y%m%dt%H%M%S}-{execution_id}"


def stage_uploads(uploads: list[Upload], store: LocalStore) -> str:
    """Put the recorded uploads in the local store; returns the digest of what was uploaded (the code)."""
    digest = hashlib.sha256()
    for upload in sorted(uploads, key=lambda u: u.s3_uri):
        body = upload.body if upload.body is not None else Path(upload.local_path).read_bytes()
        digest.update(upload.s3_uri.encode() + b"\0" + body + b"\0")
        target = store.path(upload.s3_uri)
        if not target.is_file() or target.read_bytes() != body:
            store.put_bytes(body, upload.s3_uri)
    return digest.hexdigest()[:16]


class PipelineExecution:
    """One execution of a definition on this machine."""

    def __init__(
        self,
        definition: dict[str, Any],
        options: RunOptions,
        uploads: list[Upload] | None = None,
        pipeline_name: str = "pipeline",
    ):
        self.definition = definition
        self.options = options
        try:  # a definition this runner cannot read is a run that cannot start: the same message, as a LocalRunError
            self.nodes = flatten_steps(definition, supported_types=tuple(HANDLERS))
            for node in self.nodes.values():
                check_supported(node.data_arguments, f"step {node.name!r}")
            self.order = execution_order(self.nodes)
        except DefinitionError as exc:
            raise DefinitionUnreadable(exc) from exc
        refused = check_definition(definition)  # the definition as published, at its defaults
        if refused:  # before anything is written: a refused definition leaves no trace
            raise DefinitionRefused(refused)
        self.parameters = resolve_parameters(definition, options.parameters, options.parameter_policy)  # ditto
        if options.parameters and (refused := check_definition(definition, self.parameters)):  # ... and as started
            raise DefinitionRefused(refused)
        self.run_dir = Path(options.run_dir).resolve()  # jobs run in their own folders: no relative paths
        self.store = LocalStore(self.run_dir / "s3")
        self.cache = StepCache(self.run_dir / ".cache", enabled=options.use_cache, warn=self._warn)
        self.uploads = uploads or []
        self.execution_id = new_execution_id()
        self.pipeline_name = pipeline_name
        self.exec_dir = self.run_dir / execution_folder_name(self.execution_id, datetime.now(UTC))
        self.max_parallel_steps = options.max_parallel_steps
        self.record = ExecutionRecord(
            execution_id=self.execution_id,
            pipeline_name=self.pipeline_name,
            path=self.exec_dir / "execution.json",
            parameters=dict(self.parameters),
            parallelism_configuration=(
                {"MaxParallelExecutionSteps": self.max_parallel_steps} if self.max_parallel_steps else None
            ),
        )
        self.max_parallel = max(1, options.max_parallel or default_cores())
        self._slots = threading.BoundedSemaphore(self.max_parallel)
        self._step_slots = threading.BoundedSemaphore(self.max_parallel_steps) if self.max_parallel_steps else None
        self._record_lock = threading.RLock()
        self._client_lock = threading.Lock()
        self.observer_error: str | None = None
        self._stopping = False
        self._stop_event = threading.Event()  # set with _stopping: a retry's wait ends at once
        self._reported_branches: set[tuple[str, bool]] = set()
        self._emulator = None
        self._sagemaker = None
        self.code_digest = ""

    # -- contexts -----------------------------------------------------------------------------------
    def _execution_variables(self, symbolic: bool = False) -> dict[str, str]:
        if symbolic:
            return {name: f"{{Execution.{name}}}" for name in EXECUTION_VARIABLES}
        region = self.options.region
        arn = f"arn:aws:sagemaker:{region}:000000000000:pipeline/{self.pipeline_name}"
        return {
            "PipelineExecutionId": self.execution_id,
            "PipelineExecutionArn": f"{arn}/execution/{self.execution_id}",
            "PipelineName": self.pipeline_name,
            "PipelineArn": arn,
            "StartDateTime": self.record.started_at,
            "CurrentDateTime": now(),
        }

    def context(self, symbolic: bool = False) -> EvaluationContext:
        with self._record_lock:
            succeeded = {n: s.properties for n, s in self.record.steps.items() if s.status == "Succeeded"}
        return EvaluationContext(
            parameters=self.parameters,
            execution=self._execution_variables(symbolic),
            step_properties=succeeded,
            property_files={
                n.name: {p["PropertyFileName"]: p for p in n.spec.get("PropertyFiles", [])} for n in self.nodes.values()
            },
            read_json_at=self._read_json,
        )

    def _read_json(self, uri: str) -> Any:
        try:
            return json.loads(self.store.read_bytes(uri))
        except json.JSONDecodeError as exc:
            raise LocalRunError(f"{uri} is not JSON: {exc}") from None

    def sagemaker_client(self):
        with self._client_lock:
            if self._sagemaker is None:
                from pipelines.emulator import DEFAULT_STATE_DIR, Emulator, emulator_client

                endpoint = self.options.aws_endpoint
                if endpoint is None:
                    self._emulator = Emulator(
                        self.options.emulator_dir or self.run_dir / DEFAULT_STATE_DIR.name, self.options.region
                    )
                    endpoint = self._emulator.start()
                    self.options.echo(f"AWS API emulator (moto) on {endpoint}, state in {self._emulator.state_dir}")
                self.record.aws_endpoint = endpoint
                self._sagemaker = emulator_client("sagemaker", endpoint, self.options.region)
            return self._sagemaker

    def close(self) -> None:
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None

    @contextmanager
    def job_slot(self) -> Iterator[None]:
        """Hold one of the `max_parallel` slots while a job (or one tuning trial) runs."""
        with self._slots:
            yield

    @contextmanager
    def step_slot(self) -> Iterator[None]:
        """Hold one of the pipeline's `MaxParallelExecutionSteps` slots while a step runs (none: no limit)."""
        if self._step_slots is None:
            yield
            return
        with self._step_slots:
            yield

    def _warn(self, message: str) -> None:
        self.options.echo(f"warning: {message}")

    def write_record(self) -> None:
        with self._record_lock:
            self.record.write()
            if self.options.on_record is not None and self.observer_error is None:
                try:
                    self.options.on_record(self.record)
                except Exception as exc:  # the steps go on (their artifacts are useful); the run fails at its end
                    self.observer_error = str(exc) or type(exc).__name__

    def succeeded_steps(self, step_type: str) -> list[StepRecord]:
        """The steps of a type that have succeeded so far, cache hits included (a warm start's parents)."""
        with self._record_lock:
            return [s for s in self.record.steps.values() if s.type == step_type and s.status == "Succeeded"]

    # -- running ------------------------------------------------------------------------------------
    def run(
        self,
        before_steps: Callable[[PipelineExecution], None] | None = None,
        after_step: Callable[[PipelineExecution, str], None] | None = None,
    ) -> RunResult:
        """Runs every step when it is ready; `before_steps` prepares inputs, `after_step` is a seam for tests.

        Exit code 1 when a step failed it, or when its observer failed (after every step had its chance)."""
        echo = self.options.echo
        for name in self.order:
            node = self.nodes[name]
            self.record.steps[name] = StepRecord(
                name=name,
                type=node.type,
                depends_on=sorted(node.depends_on),
                branch=f"{node.branch[0]}.{'IfSteps' if node.branch[1] else 'ElseSteps'}" if node.branch else None,
            )
        self.write_record()
        limit = self.max_parallel_steps
        steps_at_once = f"up to {limit} step{'s' if limit > 1 else ''} at once (ParallelismConfiguration), " \
            if limit else ""  # fmt: skip
        echo(
            f"execution {self.execution_id} of {self.pipeline_name}: {len(self.order)} steps, "
            f"{steps_at_once}up to {self.max_parallel} jobs at once; record {self.record.path}"
        )
        try:
            self._link_local_folders()
            self.code_digest = stage_uploads(self.uploads, self.store)
            if before_steps:
                before_steps(self)
            self._schedule(after_step)
        except BaseException as exc:  # the run ends here: say so in the record (and its mirrors), then raise
            stopped = isinstance(exc, KeyboardInterrupt)
            reason = "interrupted" if stopped else f"{type(exc).__name__}: {exc}"
            with suppress(Exception):
                self._end("Stopped" if stopped else "Failed", reason)
            raise
        else:
            self._end("Succeeded")
        finally:
            self.close()  # after the last record is written: an observer may still use the emulator
        succeeded = self.record.status == "Succeeded" and self.observer_error is None
        return RunResult(self.record, 0 if succeeded else 1, self.observer_error)

    def _end(self, status: str, reason: str | None = None) -> None:
        """The execution's end: `status` unless a step already failed it."""
        with self._record_lock:
            if self.record.status == "Executing":
                self.record.status = status
                self.record.failure_reason = reason
            self.record.ended_at = now()
        self.write_record()

    def _link_local_folders(self) -> None:
        """A `file://` parameter value becomes the S3 URI a job request can carry (SageMaker reads s3:// and
        https:// only, and the runner validates what SageMaker would see): a link in the local store to the
        folder, named after the parameter and the folder's path; nothing is copied."""
        for name, value in list(self.parameters.items()):
            if not (isinstance(value, str) and value.startswith("file://")):
                continue
            folder = self.store.path(value)
            digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
            uri = f"{LOCAL_INPUTS_BUCKET}/{name.lower()}-{digest}" + ("/" if value.endswith("/") else "")
            link = self.store.path(uri.rstrip("/"))
            if not folder.is_dir():
                raise LocalRunError(f"--param {name}={value}: no such folder ({folder})")
            if link.is_symlink() and link.resolve() != folder.resolve():
                link.unlink()
            if not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(folder.resolve(), target_is_directory=True)
            self.parameters[name] = uri
            self.options.echo(f"{name} {value} is read as {uri} (a link to that folder in the local store)")
        self.record.parameters = dict(self.parameters)

    def _schedule(self, after_step: Callable[[PipelineExecution, str], None] | None) -> None:
        """Start each step as soon as SageMaker would; after a failure start nothing new, let running ones end."""
        pending = list(self.order)
        running: dict[Future[bool], str] = {}
        allow_new_jobs()  # an earlier run in this process may have been stopped
        with ThreadPoolExecutor(max_workers=max(1, len(self.order)), thread_name_prefix="step") as pool:
            try:
                self._schedule_loop(pool, pending, running, after_step)
            except BaseException:  # Ctrl-C or a fault: end the jobs so the pool's threads can finish
                self._stopping = True
                self._stop_event.set()
                stopped = stop_all_jobs()
                if stopped:
                    self.options.echo(f"stopped {stopped} running job(s)")
                raise

    def _schedule_loop(self, pool, pending: list[str], running: dict, after_step) -> None:
        """Submit each step when it is ready, skip the ones that never will, until nothing runs."""
        failed = False
        while True:
            progressed = True
            while progressed and not failed:
                progressed = False
                for name in list(pending):
                    verdict = self._readiness(self.nodes[name])
                    if verdict == "wait":
                        continue
                    pending.remove(name)
                    progressed = True
                    if verdict == "ready":
                        running[pool.submit(self._run_step, self.nodes[name])] = name
                    else:
                        self._skip(self.nodes[name], verdict)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: self.nodes[running[f]].order):
                name = running.pop(future)
                ran = future.result()
                if ran is False:
                    failed = True
                elif ran and after_step:
                    after_step(self, name)

    def _readiness(self, node: StepNode) -> str:
        """'ready', 'wait', or why the step will never run (then it is recorded as skipped)."""
        steps = self.record.steps
        if node.branch:
            condition, wanted = node.branch
            parent = steps[condition]
            if parent.status == "Skipped":
                return f"condition {condition} did not run"
            if parent.status == "Succeeded" and parent.properties.get("Outcome") != wanted:
                return f"{condition} evaluated {parent.properties.get('Outcome')}"
        waiting = False
        for dependency in sorted(node.depends_on):
            status = steps[dependency].status
            if status == "Skipped":
                return f"depends on {dependency}, which did not run"
            if status != "Succeeded":
                waiting = True
        return "wait" if waiting else "ready"

    def _skip(self, node: StepNode, reason: str) -> None:
        """Record a step that will never run; say so once per branch not taken, not once per step in it."""
        with self._record_lock:
            step = self.record.steps[node.name]
            step.status, step.failure_reason = "Skipped", None
            step.properties = {"reason": reason}
        branch = node.branch
        parent = self.record.steps[branch[0]] if branch else None
        if parent is not None and parent.status == "Skipped":
            pass  # inside a branch already reported as not taken
        elif parent is not None and parent.properties.get("Outcome") != branch[1]:
            if branch not in self._reported_branches:
                self._reported_branches.add(branch)
                inside = [n.name for n in self.nodes.values() if branch in n.branches]
                label = f"{branch[0]}.{'IfSteps' if branch[1] else 'ElseSteps'}"
                what = f"{len(inside)} steps" if len(inside) > 1 else inside[0]
                self.options.echo(f"[ skip ] {label:<24} {what:<13} not executed: {reason}")
        else:
            self.options.echo(f"[ skip ] {node.name:<24} {node.type:<13} not executed: {reason}")
        self.write_record()

    def _run_step(self, node: StepNode) -> bool | None:
        """Runs one step (on a pool thread) once it has a parallelism slot; False when the pipeline must stop
        (the step failed), None when it never started (the run failed while it waited for a slot)."""
        with self.step_slot():
            with self._record_lock:
                if self._stopping or self.record.status == "Failed":  # SageMaker starts no step after a failure
                    return None
            return self._run_started_step(node)

    def _run_started_step(self, node: StepNode) -> bool:
        """The step from its start to its end, each attempt its RetryPolicies allow (`pipelines.local.retries`)."""
        step = self.record.steps[node.name]
        echo = self.options.echo
        with self._record_lock:
            step.status, step.started_at = "Executing", now()
        self.write_record()
        echo(f"[start ] {node.name:<24} {node.type}")
        started = time.monotonic()
        handler = HANDLERS[node.type]
        clock = self.options.retry_clock
        executing_since = clock.monotonic() if clock else started
        retrier = Retrier(node.type, parse_retry_policies(node.spec))  # valid: check_definition held them
        while True:
            attempt = self._attempt(node, step)
            if attempt.status != "Failed" or self._stopping:
                break
            elapsed = (clock.monotonic() if clock else time.monotonic()) - executing_since
            wait = retrier.wait_before_retry(attempt.exception_type, elapsed)
            if wait is None:
                break
            echo(f"[retry ] {node.name:<24} {node.type:<13} {attempt.exception_type}: attempt {len(step.attempts) + 1} "
                 f"in {wait:g}s")  # fmt: skip
            self.write_record()
            self._retry_wait(wait)
            if self._stopping:  # interrupted while it waited: the step ends Stopped, no further attempt
                break
        status, reason, result, cache_hit = attempt.status, attempt.reason, attempt.result, attempt.cache_hit
        if status == "Failed" and self._stopping:
            status, reason = "Stopped", "the run was interrupted while this step ran"
        if status == "Failed" and len(step.attempts) > 1:
            reason = f"{reason} (attempt {len(step.attempts)}; the earlier ones in the record's attempts)"
        with self._record_lock:
            if result is not None:
                step.properties, step.outputs, step.metrics = result.properties, result.outputs, result.metrics
            step.cache_hit = cache_hit
            step.status, step.failure_reason = status, reason
            step.ended_at = now()
            step.seconds = round(time.monotonic() - started, 2)
            if status == "Failed" and self.record.status != "Failed" and not self._stopping:
                self.record.status = "Failed"
                self.record.failure_reason = f"{node.name}: {reason}"
            if result is not None:
                handler.update_record(self.record, result)
        note = (handler.end_note(step) if status == "Succeeded" else "") or (" (cache hit)" if cache_hit else "")
        echo(f"[{'end':^6}] {node.name:<24} {node.type:<13} {status:<9} {step.seconds:7.1f}s{note}")
        if status == "Failed":
            echo(f"  step {node.name} failed: {reason}")
        self.write_record()
        return status != "Failed"

    def _attempt(self, node: StepNode, step: StepRecord) -> StepAttempt:
        """One attempt at the step, recorded in `step.attempts` (ListPipelineExecutionSteps' AttemptCount)."""
        with self._record_lock:
            entry: dict[str, Any] = {"attempt": len(step.attempts) + 1, "started_at": now(), "status": "Executing"}
            step.attempts.append(entry)
        attempt = StepAttempt()
        try:
            attempt.result, attempt.cache_hit = self._execute(node, step)
        except (LocalRunError, DefinitionError) as exc:
            attempt.status = "Failed"
            attempt.reason = exc.reason if isinstance(exc, StepFailed) else str(exc)
            attempt.exception_type = exc.exception_type if isinstance(exc, StepFault) else None
            if isinstance(exc, UnsupportedConstruct):
                attempt.reason = f"unsupported: {exc}"
        except Exception as exc:  # a runner bug or a fault (disk full): fail this step, let the others end
            attempt.status = "Failed"
            log = self.exec_dir / f"runner-error-{node.name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc())
            attempt.reason = f"the local runner failed: {type(exc).__name__}: {exc} (traceback in {log})"
        with self._record_lock:
            entry.update(ended_at=now(), status=attempt.status)
            if attempt.status == "Failed":
                entry.update(failure_reason=attempt.reason, exception_type=attempt.exception_type)
        return attempt

    def _retry_wait(self, seconds: float) -> None:
        """Wait before a retry; a test's clock only counts, and an interrupted run stops waiting at once."""
        if self.options.retry_clock is not None:
            self.options.retry_clock.sleep(seconds)
        else:
            self._stop_event.wait(seconds)

    def _raise_injected_fault(self, node: StepNode, step: StepRecord) -> None:
        """Where the step would call the service: the fault a test planted for this attempt, if any."""
        fault = injected_fault(self.options.faults, node.name, len(step.attempts))
        if fault is not None:
            raise fault

    def _execute(self, node: StepNode, step: StepRecord) -> tuple[StepResult, bool]:
        """The step's result and whether it came from the cache."""
        handler = HANDLERS[node.type]
        run = StepRun(self, node, step)
        if handler.resolves_own_arguments:
            self._raise_injected_fault(node, step)
            return handler.execute(run), False
        arguments_spec = node.spec.get("Arguments", {})
        run.arguments = resolve(arguments_spec, self.context())
        step.arguments = run.arguments
        run.job_name = job_name(node.name, self.execution_id, handler.declaration.job_name_limit)
        run.job_root = self.exec_dir / "jobs" / run.job_name
        request = handler.declaration.request(run.arguments, run.job_name)
        if request is not None:
            refuse_invalid(node.name, *request)
        cache_spec = node.spec.get("CacheConfig") or {}
        key = None
        if handler.cacheable and cache_spec.get("Enabled"):
            symbolic = resolve(arguments_spec, self.context(symbolic=True))
            key = cache_key(node.name, node.type, symbolic, self.code_digest)
            step.cache_key = key
            entry = self.cache.lookup(key, cache_spec.get("ExpireAfter"), store=self.store)
            if entry:
                properties = {**entry["properties"], "CachedFromExecution": entry.get("execution_id")}
                return StepResult(properties, entry.get("outputs", {}), entry.get("metrics", {})), True
        self._raise_injected_fault(node, step)
        result = handler.execute(run)
        if key:
            self.cache.save(
                key,
                {
                    "execution_id": self.execution_id,
                    "step": node.name,
                    "properties": result.properties,
                    "outputs": result.outputs,
                    "metrics": result.metrics,
                    "output_digests": output_digests(self.store, handler.output_uris(result.properties)),
                },
            )
        return result, False


def default_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
