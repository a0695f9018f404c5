"""The job code, shipped by content hash.

The container images carry the dependencies and a copy of this package; each published definition also
mounts the exact `steps/` source it was built from (a `code` input on PYTHONPATH, ahead of the image's
copy). The S3 prefix is the SHA-256 of the files' paths and contents, so an unchanged tree gives the
same URI (and a byte-identical definition), and a changed one can never overwrite code that an earlier
pipeline version still runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipelines.session import PendingUpload

REPO_ROOT = Path(__file__).resolve().parent.parent
CODE_PACKAGES = ("steps",)
CODE_DATA_FILES = ("configs/universe.csv",)
PROCESSING_CODE_DIR = "/opt/ml/processing/input/code"
TRAINING_CODE_DIR = "/opt/ml/input/data/code"


@dataclass(frozen=True)
class CodeBundle:
    digest: str
    s3_uri: str
    files: tuple[Path, ...]

    def uploads(self) -> list[PendingUpload]:
        return [
            PendingUpload(f"{self.s3_uri}/{path.relative_to(REPO_ROOT).as_posix()}", local_path=path)
            for path in self.files
        ]


def source_files(root: Path = REPO_ROOT) -> tuple[Path, ...]:
    files = []
    for package in CODE_PACKAGES:
        files.extend(p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)
    files.extend(root / name for name in CODE_DATA_FILES)
    return tuple(sorted(files))


def build_code_bundle(s3_root: str, root: Path = REPO_ROOT) -> CodeBundle:
    files = source_files(root)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    short = digest.hexdigest()[:16]
    return CodeBundle(digest=short, s3_uri=f"{s3_root}/code/{short}", files=files)
