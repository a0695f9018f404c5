"""A PipelineSession that builds definitions with no AWS access at all.

The stock `PipelineSession` calls STS and S3 from `default_bucket()` and uploads local code while
`definition()` runs, so even a dry run needs credentials. This subclass answers `default_bucket()` from
the config and records every upload instead of performing it; `upsert` performs the recorded uploads
after the definition is built, and the local runner copies them into its local store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from sagemaker.workflow.pipeline_context import PipelineSession

from pipelines import sdk  # noqa: F401
from pipelines.config import PipelineConfig

# Credentials that satisfy botocore's signer while building; nothing is ever sent with them.
_OFFLINE_CREDENTIALS = {"aws_access_key_id": "offline-build", "aws_secret_access_key": "offline-build"}


@dataclass(frozen=True)
class PendingUpload:
    """A file that must exist at `s3_uri` before the published definition can run."""

    s3_uri: str
    local_path: Path | None = None
    body: bytes | None = None


class OfflinePipelineSession(PipelineSession):
    """Answers bucket questions from config and records uploads; makes no AWS call while building."""

    def __init__(self, config: PipelineConfig, boto_session: boto3.Session | None = None):
        if boto_session is None:
            boto_session = boto3.Session(region_name=config.pipeline.region, **_OFFLINE_CREDENTIALS)
        self._configured_bucket = config.pipeline.bucket
        self.pending_uploads: list[PendingUpload] = []
        super().__init__(boto_session=boto_session, default_bucket=config.pipeline.bucket)

    def default_bucket(self) -> str:
        return self._configured_bucket

    def upload_data(self, path, bucket=None, key_prefix="data", callback=None, extra_args=None):
        """Record instead of upload; returns the URI the SDK expects (a file's own key, or the prefix)."""
        bucket = bucket or self._configured_bucket
        local = Path(path)
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for file in files:
            relative = file.name if local.is_file() else file.relative_to(local).as_posix()
            self.pending_uploads.append(PendingUpload(f"s3://{bucket}/{key_prefix}/{relative}", file))
        if local.is_file():
            return f"s3://{bucket}/{key_prefix}/{local.name}"
        return f"s3://{bucket}/{key_prefix}"

    def upload_string_as_file_body(self, body, bucket, key, kms_key=None):
        uri = f"s3://{bucket}/{key}"
        self.pending_uploads.append(PendingUpload(uri, body=body.encode() if isinstance(body, str) else body))
        return uri

    def record_upload(self, upload: PendingUpload) -> None:
        self.pending_uploads.append(upload)


@contextmanager
def default_boto_session(boto_session: boto3.Session) -> Iterator[None]:
    """Make `boto3.client(...)` use this session while the SDK builds objects.

    Some SDK constructors create clients from boto3's default session (the Estimator's TensorBoard
    helper does), and resolving credentials for it on a machine without any probes the EC2 metadata
    service over the network. Pointing the default at the offline session keeps the build off the network.
    """
    previous = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = boto_session
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = previous
