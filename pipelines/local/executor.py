"""Walks the definition JSON: parameters, step graph, each step by type, gates, caching and the record."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.local import registry
from pipelines.local.cache import StepCache, cache_key
from pipelines.local.conditions import evaluate
from pipelines.local.errors import LocalRunError, StepFailed, UnsupportedConstruct
from pipelines.local.expressions import (
    EXECUTION_VARIABLES,
    EvaluationContext,
    check_supported,
    resolve,
    step_references,
    to_text,
)
from pipelines.local.jobs.processing import run_processing_job
from pipelines.local.jobs.training import training_step_properties
from pipelines.local.jobs.tuning import run_tuning_job
from pipelines.local.record import ExecutionRecord, StepRecord, now
from pipelines.local.store import LocalStore

SUPPORTED_STEP_TYPES = ("Processing", "Training", "Tuning", "Condition", "Fail", "RegisterModel", "Model")
CACHEABLE_STEP_TYPES = ("Processing", "Training", "Tuning")
_CONDITION_TYPES = {"Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo", "In", "Not", "Or"}


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
    echo: Callable[[str], None] = print
    emulator_dir: Path | None = None


@dataclass
class RunResult:
    record: ExecutionRecord
    exit_code: int

    @property
    def steps(self) -> dict[str, StepRecord]:
        return self.record.steps


@dataclass
class StepNode:
    name: str
    type: str
    spec: dict[str, Any]
    order: int
    depends_on: set[str] = field(default_factory=set)
    branch: tuple[str, bool] | None = None  # (condition step, True for IfSteps)


def flatten_steps(definition: dict[str, Any]) -> dict[str, StepNode]:
    """Every step, nested condition branches included, with its dependencies from DependsOn and data references."""
    nodes: dict[str, StepNode] = {}

    def visit(steps: list[dict[str, Any]], branch: tuple[str, bool] | None) -> None:
        for spec in steps:
            name, kind = spec["Name"], spec.get("Type")
            if kind not in SUPPORTED_STEP_TYPES:
                raise UnsupportedConstruct(
                    f"step {name!r}: step type {kind!r} (supported: {', '.join(SUPPORTED_STEP_TYPES)})"
                )
            if name in nodes:
                raise LocalRunError(f"step name {name!r} appears twice in the definition")
            node = StepNode(name, kind, spec, len(nodes), branch=branch)
            node.depends_on |= set(spec.get("DependsOn", []))
            arguments = spec.get("Arguments", {})
            if kind == "Condition":  # the branches' own references are theirs, not the condition's
                arguments = arguments.get("Conditions", [])
            node.depends_on |= set(step_references(arguments))
            if branch:
                node.depends_on.add(branch[0])
            nodes[name] = node
            if kind == "Condition":
                arguments = spec["Arguments"]
                for condition in arguments.get("Conditions", []):
                    _check_condition(condition, name)
                visit(arguments.get("IfSteps", []), (name, True))
                visit(arguments.get("ElseSteps", []), (name, False))

    visit(definition.get("Steps", []), None)
    for node in nodes.values():
        node.depends_on.discard(node.name)
        missing = node.depends_on - set(nodes)
        if missing:
            raise LocalRunError(f"step {node.name!r} depends on steps not in the definition: {sorted(missing)}")
        arguments = node.spec.get("Arguments", {})
        if node.type == "Condition":
            arguments = arguments.get("Conditions", [])
        check_supported(arguments, f"step {node.name!r}")
        unknown = set(node.spec) - {
            "Name",
            "Type",
            "Arguments",
            "DependsOn",
            "CacheConfig",
            "RetryPolicies",
            "PropertyFiles",
            "Description",
            "DisplayName",
        }
        if unknown:
            raise UnsupportedConstruct(f"step {node.name!r}: keys {sorted(unknown)}")
    return nodes


def _check_condition(condition: dict[str, Any], step_name: str) -> None:
    kind = condition.get("Type")
    if kind not in _CONDITION_TYPES:
        raise UnsupportedConstruct(f"step {step_name!r}: condition type {kind!r}")
    for child in condition.get("Conditions", []):
        _check_condition(child, step_name)
    if kind == "Not":
        _check_condition(condition["Expression"], step_name)


def execution_order(nodes: dict[str, StepNode]) -> list[str]:
    """Topological order of the DAG; ties keep the definition's order."""
    remaining = dict(nodes)
    done: set[str] = set()
    order: list[str] = []
    while remaining:
        ready = sorted((n for n in remaining.values() if n.depends_on <= done), key=lambda n: n.order)
        if not ready:
            raise LocalRunError(f"the steps {sorted(remaining)} depend on each other in a cycle")
        order.append(ready[0].name)
        done.add(ready[0].name)
        del remaining[ready[0].name]
    return order


def resolve_parameters(definition: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise LocalRunError(f"--param {unknown[0]}: no such pipeline parameter; parameters: {', '.join(declared)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            values[name] = _typed(name, spec.get("Type", "String"), given[name])
        elif "DefaultValue" in spec:
            values[name] = spec["DefaultValue"]
        else:
            raise LocalRunError(f"parameter {name} has no default; pass --param {name}=VALUE")
        if spec.get("EnumValues") and values[name] not in spec["EnumValues"]:
            raise LocalRunError(f"--param {name}={values[name]}: allowed values are {', '.join(spec['EnumValues'])}")
    return values


def _typed(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "Integer":
            return int(text)
        if kind == "Float":
            return float(text)
        if kind == "Boolean":
            lowered = text.strip().lower()
            if lowered not in {"true", "false"}:
                raise ValueError(text)
            return lowered == "true"
    except ValueError:
        raise LocalRunError(f"--param {name}={text}: expected a value of type {kind}") from None
    return text


def new_execution_id() -> str:
    """Sortable by start time, lowercase like SageMaker's, safe in S3 keys and file names."""
    return f"{datetime.now(UTC):%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"


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


def _job_name(step_name: str, execution_id: str, limit: int) -> str:
    base = re.sub(r"[^A-Za-z0-9-]", "-", step_name).lower().strip("-")
    suffix = execution_id.rsplit("-", 1)[-1]
    return f"{base[: limit - len(suffix) - 1]}-{suffix}"


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
        self.run_dir = Path(options.run_dir).resolve()  # jobs run in their own folders: no relative paths
        self.store = LocalStore(self.run_dir / "s3")
        self.cache = StepCache(self.run_dir / ".cache", enabled=options.use_cache)
        self.uploads = uploads or []
        self.nodes = flatten_steps(definition)
        self.order = execution_order(self.nodes)
        self.parameters = resolve_parameters(definition, options.parameters)
        self.execution_id = new_execution_id()
        self.pipeline_name = pipeline_name
        self.exec_dir = self.run_dir / self.execution_id
        self.record = ExecutionRecord(
            execution_id=self.execution_id,
            pipeline_name=self.pipeline_name,
            path=self.exec_dir / "execution.json",
            parameters=dict(self.parameters),
        )
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
        return EvaluationContext(
            parameters=self.parameters,
            execution=self._execution_variables(symbolic),
            step_properties={n: s.properties for n, s in self.record.steps.items() if s.status == "Succeeded"},
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

    # -- running ------------------------------------------------------------------------------------
    def run(
        self,
        before_steps: Callable[[PipelineExecution], None] | None = None,
        after_step: Callable[[PipelineExecution, str], None] | None = None,
    ) -> RunResult:
        """Runs every step in order; `before_steps` prepares inputs, `after_step` is a seam for tests."""
        echo = self.options.echo
        for name in self.order:
            node = self.nodes[name]
            self.record.steps[name] = StepRecord(
                name=name,
                type=node.type,
                depends_on=sorted(node.depends_on),
                branch=f"{node.branch[0]}.{'IfSteps' if node.branch[1] else 'ElseSteps'}" if node.branch else None,
            )
        self.record.write()
        echo(
            f"execution {self.execution_id} of {self.pipeline_name}: {len(self.order)} steps; record {self.record.path}"
        )
        try:
            self.code_digest = stage_uploads(self.uploads, self.store)
            if before_steps:
                before_steps(self)
            failed = False
            for name in self.order:
                if failed:
                    break
                failed = not self._run_step(self.nodes[name])
                if after_step and not failed:
                    after_step(self, name)
        finally:
            self.close()
        if self.record.status == "Executing":
            self.record.status = "Succeeded"
        self.record.ended_at = now()
        self.record.write()
        return RunResult(self.record, 0 if self.record.status == "Succeeded" else 1)

    def _should_skip(self, node: StepNode) -> str | None:
        if node.branch:
            condition, wanted = node.branch
            parent = self.record.steps[condition]
            if parent.status != "Succeeded":
                return f"condition {condition} did not run"
            if parent.properties.get("Outcome") != wanted:
                return f"{condition} evaluated {parent.properties.get('Outcome')}"
        for dependency in sorted(node.depends_on):
            if self.record.steps[dependency].status != "Succeeded":
                return f"depends on {dependency}, which did not run"
        return None

    def _run_step(self, node: StepNode) -> bool:
        """Runs one step; False when the pipeline must stop (the step failed)."""
        step = self.record.steps[node.name]
        echo = self.options.echo
        skip = self._should_skip(node)
        if skip:
            step.status, step.failure_reason = "Skipped", None
            step.properties = {"reason": skip}
            echo(f"[ skip ] {node.name:<24} {node.type:<13} not executed: {skip}")
            self.record.write()
            return True
        step.status, step.started_at = "Executing", now()
        self.record.write()
        echo(f"[start ] {node.name:<24} {node.type}")
        started = time.monotonic()
        try:
            self._execute(node, step)
            if step.status == "Executing":
                step.status = "Succeeded"
        except (StepFailed, LocalRunError) as exc:
            step.status = "Failed"
            step.failure_reason = exc.reason if isinstance(exc, StepFailed) else str(exc)
            if isinstance(exc, UnsupportedConstruct):
                step.failure_reason = f"unsupported: {exc}"
        step.ended_at = now()
        step.seconds = round(time.monotonic() - started, 2)
        note = " (cache hit)" if step.cache_hit else ""
        if node.type == "Condition" and step.status == "Succeeded":
            note = f" -> {'IfSteps' if step.properties['Outcome'] else 'ElseSteps'}"
        echo(f"[{'end':^6}] {node.name:<24} {node.type:<13} {step.status:<9} {step.seconds:7.1f}s{note}")
        if step.status == "Failed":
            self.record.status = "Failed"
            self.record.failure_reason = f"{node.name}: {step.failure_reason}"
            echo(f"  step {node.name} failed: {step.failure_reason}")
        self.record.write()
        return step.status != "Failed"

    def _execute(self, node: StepNode, step: StepRecord) -> None:
        arguments_spec = node.spec.get("Arguments", {})
        if node.type == "Condition":
            context = self.context()
            evaluated = []
            for condition in arguments_spec.get("Conditions", []):
                evaluated.append(
                    {"condition": _describe_condition(condition, context), "value": evaluate(condition, context)}
                )
            outcome = all(item["value"] for item in evaluated)
            step.arguments = evaluated
            step.properties = {"Outcome": outcome}
            return
        if node.type == "Fail":
            try:
                message = to_text(resolve(arguments_spec.get("ErrorMessage", ""), self.context()))
            except LocalRunError as exc:
                message = f"(the FailStep's ErrorMessage could not be resolved: {exc})"
            step.arguments = {"ErrorMessage": message}
            raise StepFailed(node.name, message)

        arguments = resolve(arguments_spec, self.context())
        step.arguments = arguments
        cache_spec = node.spec.get("CacheConfig") or {}
        key = None
        if node.type in CACHEABLE_STEP_TYPES and cache_spec.get("Enabled"):
            key = cache_key(
                node.name, node.type, resolve(arguments_spec, self.context(symbolic=True)), self.code_digest
            )
            step.cache_key = key
            entry = self.cache.lookup(key, cache_spec.get("ExpireAfter"))
            if entry and self._outputs_present(node.type, entry["properties"]):
                step.cache_hit = True
                step.properties = entry["properties"]
                step.outputs, step.metrics = entry.get("outputs", {}), entry.get("metrics", {})
                step.properties["CachedFromExecution"] = entry.get("execution_id")
                return

        job_name = _job_name(node.name, self.execution_id, 32 if node.type == "Tuning" else 63)
        job_root = self.exec_dir / "jobs" / job_name
        if node.type == "Processing":
            step.properties = run_processing_job(node.name, arguments, job_root, self.store)
            step.outputs = {
                o["OutputName"]: o["S3Output"]["S3Uri"] for o in step.properties["ProcessingOutputConfig"]["Outputs"]
            }
            step.metrics = self._processing_metrics(step.outputs)
        elif node.type == "Training":
            step.properties = training_step_properties(node.name, arguments, job_root, self.store)
            step.outputs = {"model": step.properties["ModelArtifacts"]["S3ModelArtifacts"]}
            step.metrics = {m["MetricName"]: m["Value"] for m in step.properties["FinalMetricDataList"]}
        elif node.type == "Tuning":
            total = int(arguments["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"])
            if self.options.max_trials:
                total = min(total, self.options.max_trials)
            objective = arguments["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
            counter = {"n": 0}

            def on_trial(summary: dict[str, Any]) -> None:
                counter["n"] += 1
                value = summary.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value")
                shown = (
                    f"{objective}={value:.4f}"
                    if value is not None
                    else f"FAILED ({summary.get('FailureReason', '').splitlines()[0]})"
                )
                tuned = ", ".join(f"{k}={_short(v)}" for k, v in summary["TunedHyperParameters"].items())
                self.options.echo(
                    f"         trial {counter['n']}/{total} {summary['TrainingJobName']}: {shown} "
                    f"[{summary['seconds']:.1f}s] {tuned}"
                )

            step.properties = run_tuning_job(
                node.name,
                job_name,
                arguments,
                job_root,
                self.store,
                max_trials=self.options.max_trials,
                on_trial=on_trial,
                cores=self.options.cores,
                parents=self._tuning_jobs(),
            )
            best = step.properties["BestTrainingJob"]
            step.outputs = {
                "best_model": best["ModelArtifacts"]["S3ModelArtifacts"],
                "best_training_job": best["TrainingJobName"],
            }
            step.metrics = {
                "best_objective": best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                "objective_metric": objective,
                "trials": step.properties["trials"],
            }
            overall = step.properties.get("OverallBestTrainingJob")
            if overall:
                step.outputs["overall_best_training_job"] = overall["TrainingJobName"]
                step.metrics["overall_best_objective"] = overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
                step.metrics["warm_start_trials"] = step.properties["warm_start_trials"]
        elif node.type == "RegisterModel":
            step.properties = registry.register_model_package(node.name, arguments, self.sagemaker_client())
            step.outputs = {"ModelPackageArn": step.properties["ModelPackageArn"]}
            self.record.model_package_arn = step.properties["ModelPackageArn"]
            self.options.echo(f"         registered model package {step.properties['ModelPackageArn']}")
        elif node.type == "Model":
            step.properties = registry.create_model(
                node.name, _job_name(node.name, self.execution_id, 63), arguments, self.sagemaker_client()
            )
            step.outputs = {"ModelArn": step.properties["ModelArn"]}
        if key:
            self.cache.save(
                key,
                {
                    "execution_id": self.execution_id,
                    "step": node.name,
                    "properties": step.properties,
                    "outputs": step.outputs,
                    "metrics": step.metrics,
                },
            )

    def _tuning_jobs(self) -> dict[str, dict[str, Any]]:
        """Describe-responses of the tuning jobs this run has (cache hits included), by tuning job name."""
        return {
            str(step.properties["HyperParameterTuningJobName"]): step.properties
            for step in self.record.steps.values()
            if step.type == "Tuning" and step.status == "Succeeded" and "HyperParameterTuningJobName" in step.properties
        }

    def _outputs_present(self, step_type: str, properties: dict[str, Any]) -> bool:
        if step_type == "Processing":
            uris = [o["S3Output"]["S3Uri"] for o in properties.get("ProcessingOutputConfig", {}).get("Outputs", [])]
        elif step_type == "Training":
            uris = [properties["ModelArtifacts"]["S3ModelArtifacts"]]
        else:
            uris = [properties["BestTrainingJob"]["ModelArtifacts"]["S3ModelArtifacts"]]
        return all(self.store.exists(uri) for uri in uris)

    def _processing_metrics(self, outputs: dict[str, str]) -> dict[str, Any]:
        """A step's own figures: the `metrics.json` it writes beside its outputs (docs/steps.md)."""
        metrics = {}
        for name, uri in outputs.items():
            path = self.store.path(f"{uri}/metrics.json")
            if path.is_file():
                try:
                    metrics[name] = json.loads(path.read_text())
                except json.JSONDecodeError:
                    continue
        return metrics


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() and "." not in value else f"{number:.4g}"


def _describe_condition(condition: dict[str, Any], context: EvaluationContext) -> dict[str, Any]:
    """The condition with its operands resolved, for the record and the gate table."""
    kind = condition.get("Type")
    if kind in {"Not"}:
        return {"Type": kind, "Expression": _describe_condition(condition["Expression"], context)}
    if kind == "Or":
        return {"Type": kind, "Conditions": [_describe_condition(c, context) for c in condition["Conditions"]]}
    if kind == "In":
        return {
            "Type": kind,
            "QueryValue": resolve(condition["QueryValue"], context),
            "Values": resolve(condition["Values"], context),
        }
    return {
        "Type": kind,
        "LeftValue": resolve(condition["LeftValue"], context),
        "RightValue": resolve(condition["RightValue"], context),
    }


def default_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
