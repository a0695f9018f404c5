"""Where partition files go: a local folder (temp file + rename) or S3 (one PUT is atomic per object).

Both answer the same three questions, so the writer does not care which it has: write these bytes at
this relative key, which keys exist under this partition prefix, and read one back (for de-duplication
after a restart).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any, Protocol


class Sink(Protocol):
    def write(self, key: str, body: bytes) -> None: ...
    def list(self, prefix: str) -> list[str]: ...
    def read(self, key: str) -> bytes: ...
    def dates(self) -> list[str]: ...
    def describe(self, key: str) -> str: ...


def write_file(path: Path, body: bytes) -> None:
    """The one place a local sink's bytes reach the disk (and the seam tests use to inject ENOSPC/EROFS)."""
    with open(path, "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())


class LocalSink:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def write(self, key: str, body: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".tmp-{uuid.uuid4().hex}-{target.name}"
        try:
            write_file(temporary, body)
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(OSError):  # on a read-only disk the temp file may not even exist
                if temporary.exists():
                    temporary.unlink()

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*.parquet") if not p.name.startswith((".", "_"))
        )

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def dates(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name.removeprefix("date=") for p in self.root.glob("date=*") if p.is_dir())

    def describe(self, key: str) -> str:
        return str(self.root / key)


class S3Sink:
    def __init__(self, url: str, client: Any) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket, self.prefix, self.client = bucket, prefix.strip("/"), client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def write(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        strip = len(self._key("")) if self.prefix else 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(o["Key"][strip:] for o in page.get("Contents", []) if o["Key"].endswith(".parquet"))
        return sorted(keys)

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def dates(self) -> list[str]:
        found: list[str] = []
        base = self._key("")
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base + "date=", Delimiter="/"
        ):
            prefixes = [p["Prefix"][len(base):] for p in page.get("CommonPrefixes", [])]
            found.extend(p.strip("/").removeprefix("date=") for p in prefixes)
        return sorted(found)

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def open_sink(output: str, *, s3_client_factory) -> Sink:
    """`s3://bucket/prefix` -> S3Sink (client built lazily by the caller), anything else -> LocalSink."""
    if output.startswith("s3://"):
        return S3Sink(output, s3_client_factory())
    return LocalSink(output.removeprefix("file://"))
