"""S3 on disk: `s3://bucket/key` is `<root>/bucket/key`.

A prefix behaves as S3 does for jobs: staging `s3://b/p` copies the object `p` if it exists, else every
object under `p/`. Writes go to a temporary name and are renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from pipelines.local.errors import LocalRunError
from steps.common.names import NAME, s3_key_error

# Where the runner links a local folder given as a file:// parameter, so job requests carry an S3 URI.
LOCAL_INPUTS_BUCKET = "s3://local-inputs"


class LocalStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme == "file":  # Path.as_uri() quotes: "my bars" is my%20bars
            return Path(unquote(parsed.path))
        if parsed.scheme != "s3" or not parsed.netloc:
            raise LocalRunError(f"not an s3:// or file:// URI: {uri!r}")
        # Defence in depth (every --param is checked first, pipelines.parameter_values): a bucket that is not
        # an S3 bucket name (`s3://../x`) or a key with a `..` segment would name a path outside the store.
        # (A bucket need only be a plain name here: the data URLs are held to S3's full naming rules upstream.)
        bucket = None if NAME.match(parsed.netloc) else f"bucket {parsed.netloc[:70]!r} is not a name"
        refused = bucket or s3_key_error(parsed.path.lstrip("/"), strict=False)
        if refused:
            raise LocalRunError(f"{uri[:200]!r}: {refused}; the local store holds only what S3 could")
        target = self.root / parsed.netloc / parsed.path.lstrip("/")
        if not target.resolve().is_relative_to(self.root.resolve()) and not self._linked(target):
            raise LocalRunError(f"{uri[:200]!r}: leads outside the local store ({self.root})")
        return target

    def _linked(self, target: Path) -> bool:
        """A path under a folder the runner linked from a file:// parameter (LOCAL_INPUTS_BUCKET): the link
        leads out of the store by design; only those links may."""
        inputs = self.root / LOCAL_INPUTS_BUCKET.removeprefix("s3://")
        return target.is_relative_to(inputs) and ".." not in target.relative_to(inputs).parts

    def exists(self, uri: str) -> bool:
        """True when the URI is an object or a non-empty prefix."""
        return bool(self.files(uri))

    def files(self, uri: str) -> list[Path]:
        """The objects under the URI: the object itself, a "folder", or (S3's own semantics) every key that
        merely starts with it, `s3://b/models/tune-x-` matching `models/tune-x-001-ab12/...`."""
        target = self.path(uri)
        if target.is_file():
            return [target]
        if target.is_dir():
            return sorted(p for p in target.rglob("*") if p.is_file())
        if uri.endswith("/") or not target.name or not target.parent.is_dir():
            return []
        found: list[Path] = []
        for entry in sorted(target.parent.iterdir()):
            if entry.name.startswith(target.name) and not entry.name.endswith((".uploading", ".partial")):
                found += [entry] if entry.is_file() else sorted(p for p in entry.rglob("*") if p.is_file())
        return found

    def download(self, uri: str, destination: Path) -> int:
        """Copy the object or prefix into `destination` (a folder); returns the number of files. A key prefix
        that is not a folder keeps each match's path below the prefix's folder."""
        source = self.path(uri)
        destination.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            shutil.copy2(source, destination / source.name)
            return 1
        base = source if source.is_dir() else source.parent
        count = 0
        for file in self.files(uri):
            target = destination / file.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
            count += 1
        return count

    def upload_dir(self, source: Path, uri: str) -> int:
        """Replace the prefix with the folder's files (S3 `EndOfJob` upload); returns the number of files."""
        target = self.path(uri)
        staging = target.with_name(target.name + ".uploading")
        shutil.rmtree(staging, ignore_errors=True)
        if source.is_dir():
            shutil.copytree(source, staging)
        else:
            staging.mkdir(parents=True)
        if target.is_file():
            target.unlink()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return sum(1 for p in target.rglob("*") if p.is_file())

    def put_file(self, source: Path, uri: str) -> None:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copy2(source, partial)
        partial.replace(target)

    def put_bytes(self, body: bytes, uri: str) -> None:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(body)
        partial.replace(target)

    def read_bytes(self, uri: str) -> bytes:
        target = self.path(uri)
        if not target.is_file():
            raise LocalRunError(f"no object at {uri} in the local store ({target})")
        return target.read_bytes()
