"""Publishing a built definition: upload its code, create or update the pipeline, diff, start.

Plain boto3 against the SageMaker control plane, so the same code talks to AWS or to the AWS API
emulator (moto server) by endpoint URL alone.
"""

from __future__ import annotations

import ast
import difflib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

from pipelines.aws_timeouts import TimeoutSettingError, client_config, timeouts

if TYPE_CHECKING:  # building (pipelines.session) loads the SageMaker SDK; publishing's checks do not need it
    from pipelines.session import PendingUpload

# CreatePipeline takes at most 100 KB inline; larger definitions go through S3.
INLINE_DEFINITION_LIMIT = 100_000
CREDENTIALS_HELP = (
    "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
    "or run `aws sso login`; use --dry-run to build the definition without AWS"
)


class PublishError(RuntimeError):
    """A publishing problem stated in one line (no secrets, no traceback)."""


@dataclass(frozen=True)
class AwsTarget:
    region: str
    endpoint_url: str | None = None

    def session(self) -> boto3.Session:
        session = boto3.Session(region_name=self.region)
        if session.get_credentials() is None:
            raise PublishError(CREDENTIALS_HELP)
        try:
            timeouts()  # a bad CONVICTION_AWS_* override stops the command before any work is done
        except TimeoutSettingError as exc:
            raise PublishError(str(exc)) from None
        return session

    def client(self, service: str):
        """A client with bounded connect/read timeouts and retries (pipelines.aws_timeouts)."""
        try:
            config = client_config()
        except TimeoutSettingError as exc:
            raise PublishError(str(exc)) from None
        return self.session().client(service, endpoint_url=self.endpoint_url, config=config)


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def ensure_bucket(s3, bucket: str, region: str, *, create: bool, log=None) -> None:
    """The artifact bucket must exist before code, definitions and job outputs go there: say which and how
    to create it, or create it when asked (as the SDK's default bucket is)."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"403", "AccessDenied", "Forbidden"}:
            raise PublishError(
                f"bucket {bucket} exists but this identity may not use it (403); set pipeline.bucket to one it "
                "owns (--set pipeline.bucket=…, CONVICTION_PIPELINE__BUCKET, or the per-user config)"
            ) from None
        if code not in {"404", "NoSuchBucket", "NotFound"}:
            raise
    if not create:
        raise PublishError(
            f"bucket {bucket} does not exist in {region}; it holds the code, the definition and every job's "
            f"output. Create it (aws s3 mb s3://{bucket} --region {region}) or rerun with --create-bucket"
        )
    request: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**request)
    if log is not None:
        log.info("created bucket %s in %s", bucket, region)


def upload_pending(s3, uploads: list[PendingUpload]) -> int:
    """Upload what the build recorded; content-addressed keys that already exist are skipped."""
    uploaded = 0
    for upload in uploads:
        bucket, key = _split_s3(upload.s3_uri)
        try:
            s3.head_object(Bucket=bucket, Key=key)
            continue
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise
        body = upload.body if upload.body is not None else upload.local_path.read_bytes()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        uploaded += 1
    return uploaded


def published_definition(sagemaker_client, name: str) -> dict[str, Any] | None:
    try:
        described = sagemaker_client.describe_pipeline(PipelineName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"ResourceNotFound", "ValidationException"}:
            return None
        raise
    text = described["PipelineDefinition"]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # moto 5.2 keeps a definition it read from PipelineDefinitionS3Location as a dict and describes it as
        # that dict's repr; real SageMaker returns the JSON. Read the repr as the literal it is.
        return ast.literal_eval(text)


def definition_diff(old: dict[str, Any] | None, new: dict[str, Any], name: str) -> str:
    old_text = json.dumps(old, indent=2, sort_keys=True).splitlines() if old is not None else []
    new_text = json.dumps(new, indent=2, sort_keys=True).splitlines()
    label = f"{name} (published)" if old is not None else f"{name} (not published yet)"
    return "\n".join(difflib.unified_diff(old_text, new_text, label, f"{name} (this build)", lineterm=""))


def parallelism_configuration(max_parallel_steps: int | None) -> dict[str, Any]:
    """The `ParallelismConfiguration` member of CreatePipeline / UpdatePipeline (and of StartPipelineExecution,
    where it overrides the pipeline's for one run): SageMaker runs every ready step at once unless
    `MaxParallelExecutionSteps` limits it. Not part of the definition JSON (the SDK's `Pipeline.create` /
    `upsert` / `start` send it beside the definition, as `parallelism_config`). Empty when unlimited."""
    return {} if max_parallel_steps is None else {
        "ParallelismConfiguration": {"MaxParallelExecutionSteps": max_parallel_steps}
    }


def pipeline_request(
    *,
    name: str,
    definition: str,
    role_arn: str,
    description: str,
    definition_uri: str,
    max_parallel_steps: int | None = None,
) -> dict[str, Any]:
    """The CreatePipeline / UpdatePipeline body: the definition inline up to 100 KB, else from S3; the
    pipeline's parallelism limit (`pipeline.max_parallel_steps`) when it has one."""
    body: dict[str, Any] = {"PipelineName": name, "RoleArn": role_arn, "PipelineDescription": description}
    if len(definition.encode()) > INLINE_DEFINITION_LIMIT:
        bucket, key = _split_s3(definition_uri)
        body["PipelineDefinitionS3Location"] = {"Bucket": bucket, "ObjectKey": key}
    else:
        body["PipelineDefinition"] = definition
    body.update(parallelism_configuration(max_parallel_steps))
    return body


def upsert_pipeline(
    sagemaker_client,
    s3_client,
    *,
    name: str,
    definition: str,
    role_arn: str,
    description: str,
    tags: dict[str, str],
    definition_uri: str,
    max_parallel_steps: int | None = None,
) -> tuple[str, bool]:
    """Create the pipeline or update it in place (never a duplicate); returns (ARN, created). The pipeline's
    `max_parallel_steps` goes with it as its ParallelismConfiguration, which every execution then obeys."""
    body = pipeline_request(
        name=name,
        definition=definition,
        role_arn=role_arn,
        description=description,
        definition_uri=definition_uri,
        max_parallel_steps=max_parallel_steps,
    )
    location = body.get("PipelineDefinitionS3Location")
    if location:
        s3_client.put_object(Bucket=location["Bucket"], Key=location["ObjectKey"], Body=definition.encode())
    tag_list = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    if published_definition(sagemaker_client, name) is None:
        arn = sagemaker_client.create_pipeline(**body, Tags=tag_list)["PipelineArn"]
        return arn, True
    arn = sagemaker_client.update_pipeline(**body)["PipelineArn"]
    if tag_list:
        sagemaker_client.add_tags(ResourceArn=arn, Tags=tag_list)
    return arn, False


def start_execution(sagemaker_client, name: str, parameters: dict[str, str]) -> str:
    response = sagemaker_client.start_pipeline_execution(
        PipelineName=name,
        PipelineParameters=[{"Name": k, "Value": v} for k, v in sorted(parameters.items())],
    )
    return response["PipelineExecutionArn"]


__all__ = [
    "AwsTarget",
    "NoCredentialsError",
    "NoRegionError",
    "PublishError",
    "definition_diff",
    "ensure_bucket",
    "parallelism_configuration",
    "pipeline_request",
    "published_definition",
    "start_execution",
    "upload_pending",
    "upsert_pipeline",
]
