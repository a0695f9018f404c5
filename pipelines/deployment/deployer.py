"""Deploy the newest Approved package: model -> endpoint config (data capture) -> endpoint -> smoke test
-> alarms to SNS and the dashboard. A failed smoke test deletes what this run created and leaves the
previous endpoint serving; alarms and the dashboard move to a new endpoint only once it has passed.

Every state-changing AWS call goes through `Calls`, which prints it first; in a dry run it prints and
skips it, except the two a dry run exists to exercise: creating (idempotently) the SNS topic and
publishing one test alert to it.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from pipelines.config import PipelineConfig
from pipelines.deployment import monitoring, registry
from pipelines.deployment.environment import DeployError, Environment
from pipelines.deployment.smoke import NOT_FEATURES, SmokeResult, describe, run_smoke_test

SMOKE_ROWS_FILE = "smoke_rows.parquet"
MAX_WAIT_POLLS = 10_000


@dataclass
class DeployOptions:
    group: str
    version: int | None = None
    dry_run: bool = False
    retire_previous: bool = False
    smoke_rows_file: Path | None = None
    now: datetime | None = None
    echo: Callable[[str], None] = print
    sleep: Callable[[float], None] = time.sleep


@dataclass
class DeployResult:
    exit_code: int
    package: registry.Package | None = None
    endpoint_name: str | None = None
    smoke: SmokeResult | None = None
    topic_arn: str | None = None
    alarm_names: list[str] = field(default_factory=list)
    dashboard: str | None = None
    test_message_id: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    summary: str = ""


def _api_name(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


class Calls:
    def __init__(self, env: Environment, dry_run: bool, echo: Callable[[str], None]) -> None:
        self.env, self.dry_run, self.echo = env, dry_run, echo
        self.made: list[dict[str, Any]] = []

    def __call__(self, service: str, method: str, *, in_dry_run: bool = False, **params: Any) -> Any:
        skipped = self.dry_run and not in_dry_run
        self.echo(f"{'would call' if skipped else 'call'} {service}.{_api_name(method)} "
                  f"{json.dumps(params, default=str, sort_keys=True)}")
        self.made.append({"service": service, "operation": _api_name(method), "params": params, "made": not skipped})
        if skipped:
            return None
        return getattr(self.env.client(service), method)(**params)


def artifact_metadata(archive: Path) -> dict[str, Any]:
    """features and threshold from the artifact's ensemble_meta.json or model_meta.json (top level)."""
    try:
        with tarfile.open(archive) as tar:
            names = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
            for meta_name in ("ensemble_meta.json", "model_meta.json"):
                if meta_name in names:
                    meta = json.load(tar.extractfile(names[meta_name]))  # type: ignore[arg-type]
                    return {"kind": meta_name, "features": list(meta["features"]),
                            "threshold": float(meta.get("threshold", 0.5))}
    except (tarfile.TarError, OSError, KeyError, ValueError) as exc:
        raise DeployError(f"{archive}: cannot read the model artifact ({exc})") from None
    raise DeployError(f"{archive}: neither ensemble_meta.json nor model_meta.json at the top of the archive")


def smoke_rows_uri(statistics_uri: str) -> str:
    return statistics_uri.rsplit("/", 1)[0] + "/" + SMOKE_ROWS_FILE


def features_fallback_uri(statistics_uri: str) -> str | None:
    """.../executions/<id>/<Step>/evaluation/evaluation.json -> .../executions/<id>/BuildFeatures/features/.

    For packages registered before steps.ensemble wrote smoke rows (the single-model Register).
    """
    parts = statistics_uri.split("/")
    if "executions" not in parts or len(parts) < parts.index("executions") + 3:
        return None
    base = "/".join(parts[: parts.index("executions") + 2])
    return f"{base}/BuildFeatures/features/"


def load_smoke_rows(env: Environment, package: registry.Package, features: list[str], limit: int,
                    override: Path | None, work: Path) -> tuple[pd.DataFrame, str]:
    if override is not None:
        if not override.is_file():
            raise DeployError(f"--smoke-rows {override}: file not found")
        rows = pd.read_parquet(override) if override.suffix == ".parquet" else pd.read_csv(override)
        source = str(override)
    elif package.statistics_uri and env.artifacts.exists(smoke_rows_uri(package.statistics_uri)):
        source = smoke_rows_uri(package.statistics_uri)
        rows = pd.read_parquet(io.BytesIO(env.artifacts.read_bytes(source)))
    else:
        fallback = features_fallback_uri(package.statistics_uri or "")
        if fallback is None or not env.artifacts.exists(fallback + "features.parquet"):
            raise DeployError(f"{package.label}: no held-out rows for the smoke test (no {SMOKE_ROWS_FILE} beside "
                              "its ModelQuality statistics); pass --smoke-rows FILE (parquet/CSV of feature rows)")
        frame = pd.read_parquet(io.BytesIO(env.artifacts.read_bytes(fallback + "features.parquet")))
        folds = json.loads(env.artifacts.read_bytes(fallback + "folds.json"))
        holdout = frame[pd.DatetimeIndex(frame["ts"]) >= pd.Timestamp(folds["holdout_start"])]
        source = f"{fallback}features.parquet (holdout rows)"
        rows = holdout.iloc[:: max(1, len(holdout) // limit)] if len(holdout) else holdout
    missing = [f for f in features if f not in rows.columns]
    if missing or rows.empty:
        raise DeployError(f"smoke rows from {source}: {len(rows)} rows, missing features {missing[:5]}")
    keep = [c for c in rows.columns if c in features or c in NOT_FEATURES]
    return rows[keep].head(limit).reset_index(drop=True), source


def previous_endpoints(sm, family: str, exclude: str) -> list[str]:
    names: list[str] = []
    request = {"NameContains": family, "MaxResults": 100, "SortBy": "CreationTime", "SortOrder": "Descending"}
    for _ in range(100):
        page = sm.list_endpoints(**request)
        names += [e["EndpointName"] for e in page.get("Endpoints", [])
                  if e["EndpointName"].startswith(family + "-") and e["EndpointName"] != exclude
                  and e.get("EndpointStatus") in {"InService", "Updating"}]
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    return names


def wait_in_service(sm, name: str, timeout_s: float, poll_s: float, sleep: Callable[[float], None],
                    echo: Callable[[str], None]) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout_s
    polls = min(MAX_WAIT_POLLS, math.ceil(timeout_s / poll_s) + 1)
    status = "unknown"
    for _ in range(polls):
        described = sm.describe_endpoint(EndpointName=name)
        status = described["EndpointStatus"]
        if status == "InService":
            return True, status
        if status in {"Failed", "OutOfService", "Deleting"}:
            return False, f"{status}: {described.get('FailureReason', 'no reason given')}"
        if time.monotonic() >= deadline:
            break
        echo(f"endpoint {name} is {status}; waiting")
        sleep(poll_s)
    return False, f"still {status} after {timeout_s:.0f}s"


def _tags(config: PipelineConfig, package: registry.Package) -> list[dict[str, str]]:
    tags = {**config.pipeline.tags, "model-package": package.label}
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def deploy(env: Environment, config: PipelineConfig, options: DeployOptions) -> DeployResult:
    echo, settings = options.echo, config.deploy
    sm = env.client("sagemaker")
    calls = Calls(env, options.dry_run, echo)
    package = registry.find_package(sm, options.group, version=options.version, status=registry.APPROVED)
    if not package.model_data_url:
        raise DeployError(f"{package.label} has no ModelDataUrl in its inference specification")
    stamp = (options.now or datetime.now(UTC)).strftime(settings.timestamp_format)
    name = settings.endpoint_name_template.format(timestamp=stamp)
    echo(f"deploying {package.label} ({package.arn}) as endpoint {name} [{env.description}]")
    work = env.work_dir / name
    archive = env.artifacts.download(package.model_data_url, work / "model.tar.gz")
    meta = artifact_metadata(archive)
    rows, source = load_smoke_rows(env, package, meta["features"], settings.smoke_rows, options.smoke_rows_file, work)
    echo(f"smoke test input: {len(rows)} held-out rows from {source}")
    family = monitoring.family_name(settings)
    result = DeployResult(exit_code=0, package=package, endpoint_name=name, calls=calls.made)
    tags = _tags(config, package)

    if not options.dry_run:
        try:
            sm.describe_endpoint(EndpointName=name)
            raise DeployError(f"endpoint {name} already exists; deploy again in a second (names carry the time)")
        except ClientError:
            pass
    previous = previous_endpoints(sm, family, exclude=name)
    calls("sagemaker", "create_model", ModelName=name, ExecutionRoleArn=config.pipeline.role_arn,
          Containers=[{"ModelPackageName": package.arn}], Tags=tags)
    capture = {"EnableCapture": settings.data_capture_percent > 0,
               "InitialSamplingPercentage": settings.data_capture_percent,
               "DestinationS3Uri": f"{config.s3_root}/{settings.data_capture_prefix}",
               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
               "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}}
    calls("sagemaker", "create_endpoint_config", EndpointConfigName=name, Tags=tags, DataCaptureConfig=capture,
          ProductionVariants=[{"VariantName": monitoring.VARIANT, "ModelName": name,
                               "InitialInstanceCount": settings.instance_count,
                               "InstanceType": settings.instance_type, "InitialVariantWeight": 1.0}])
    calls("sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=name, Tags=tags)

    if options.dry_run:
        echo(f"would wait up to {settings.wait_timeout_seconds}s for InService, then smoke-test with {len(rows)} rows")
    else:
        in_service, status = wait_in_service(sm, name, settings.wait_timeout_seconds, settings.poll_seconds,
                                             options.sleep, echo)
        smoke = None
        if in_service:
            echo(f"endpoint {name} is InService")
            try:
                env.invoker.attach(name, archive)
                smoke = run_smoke_test(env.invoker, name, rows, meta["features"], tolerance=settings.smoke_tolerance,
                                       threshold=meta["threshold"])
            except RuntimeError as exc:
                smoke = SmokeResult(False, f"smoke test FAILED on {name}: {exc}", failures=[str(exc)])
            finally:
                env.invoker.detach(name)
            result.smoke = smoke
            echo(smoke.summary)
        if not in_service or smoke is None or not smoke.passed:
            reason = smoke.summary if smoke is not None else f"endpoint {name} not InService ({status})"
            calls("sagemaker", "delete_endpoint", EndpointName=name)
            calls("sagemaker", "delete_endpoint_config", EndpointConfigName=name)
            calls("sagemaker", "delete_model", ModelName=name)
            kept = f"; still serving: {', '.join(previous)}" if previous else "; no previous endpoint"
            result.exit_code, result.summary = 1, f"deploy failed: {reason}; deleted {name}{kept}"
            _write_record(work, result)
            return result

    topic = calls("sns", "create_topic", in_dry_run=True, Name=settings.sns_topic, Tags=tags)
    result.topic_arn = topic["TopicArn"]
    for request in monitoring.alarm_requests(settings, name, result.topic_arn):
        calls("cloudwatch", "put_metric_alarm", **request)
        result.alarm_names.append(request["AlarmName"])
    calls("cloudwatch", "put_dashboard", **monitoring.dashboard_request(settings, name, env.region))
    result.dashboard = settings.dashboard
    if options.dry_run:
        published = calls("sns", "publish", in_dry_run=True, TopicArn=result.topic_arn,
                          Subject=f"[test] {family} deploy dry run",
                          Message=json.dumps({"test": True, "endpoint": name, "package": package.arn,
                                              "alarms": result.alarm_names,
                                              "text": "Test alert from `python -m pipelines.deploy --dry-run`: "
                                                      "alarms for this endpoint will notify this topic."}))
        result.test_message_id = published["MessageId"]
        result.summary = (f"dry run: {len(calls.made)} calls listed; test alert {result.test_message_id} "
                          f"published to {result.topic_arn}")
        return result
    if options.retire_previous:
        for old in previous:
            calls("sagemaker", "delete_endpoint", EndpointName=old)
            result.retired.append(old)
    kept = "" if options.retire_previous or not previous else (
        f"; previous endpoints still running: {', '.join(previous)} (--retire-previous deletes them)")
    result.summary = (f"deployed {package.label} as {name}; alarms -> {result.topic_arn}; "
                      f"dashboard {settings.dashboard}{kept}")
    _write_record(work, result)
    return result


def _write_record(work: Path, result: DeployResult) -> None:
    work.mkdir(parents=True, exist_ok=True)
    record = {"exit_code": result.exit_code, "summary": result.summary, "endpoint": result.endpoint_name,
              "package": result.package.arn if result.package else None,
              "smoke": describe(result.smoke) if result.smoke else None, "alarms": result.alarm_names,
              "dashboard": result.dashboard, "retired": result.retired,
              "calls": [{k: v for k, v in c.items() if k != "params"} for c in result.calls]}
    (work / "deployment.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
