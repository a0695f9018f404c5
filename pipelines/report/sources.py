"""Where the report reads artifacts from: the local runner's store, or S3 for a SageMaker execution."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class ArtifactSource(Protocol):
    def read_bytes(self, uri: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""


class LocalStoreSource:
    """`s3://bucket/key` is `<run-dir>/s3/bucket/key` (pipelines/local/store.py's layout)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def read_bytes(self, uri: str) -> bytes | None:
        parsed = urlparse(uri)
        path = Path(parsed.path) if parsed.scheme == "file" else self.root / parsed.netloc / parsed.path.lstrip("/")
        return path.read_bytes() if path.is_file() else None


class S3Source:
    def __init__(self, s3_client):
        self.s3 = s3_client

    def read_bytes(self, uri: str) -> bytes | None:
        from botocore.exceptions import ClientError

        parsed = urlparse(uri)
        try:
            return self.s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise


def member_of_tarball(blob: bytes, name: str) -> bytes | None:
    """One file from a model.tar.gz, by its base name (SageMaker packs the model folder at the root)."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and Path(member.name).name == name:
                extracted = archive.extractfile(member)
                return extracted.read() if extracted else None
    return None
