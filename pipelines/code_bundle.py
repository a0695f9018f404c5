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
UNIVERSE_FILE = "configs/universe.csv"  # where the jobs read the universe (`--universe`)
CODE_DATA_FILES = (UNIVERSE_FILE,)
PROCESSING_CODE_DIR = "/opt/ml/processing/input/code"
TRAINING_CODE_DIR = "/opt/ml/input/data/code"


@dataclass(frozen=True)
class CodeBundle:
    digest: str
    s3_uri: str
    files: tuple[tuple[str, Path], ...]  # (name in the bundle, the file it is read from)

    def uploads(self) -> list[PendingUpload]:
        return [PendingUpload(f"{self.s3_uri}/{name}", local_path=path) for name, path in self.files]


def source_files(root: Path = REPO_ROOT, universe: Path | None = None) -> tuple[tuple[str, Path], ...]:
    """Every file the jobs import or read, by its name in the bundle. The universe is shipped as
    `configs/universe.csv` whichever file `data.universe_csv` names: the jobs read it there (`--universe`), so a
    configured universe is the one they use, and a changed one moves the code URI like changed code."""
    files = []
    for package in CODE_PACKAGES:
        files.extend(p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)
    named = {path.relative_to(root).as_posix(): path for path in files}
    for name in CODE_DATA_FILES:
        named[name] = root / name
    if universe is not None:
        named[UNIVERSE_FILE] = universe
    return tuple(sorted(named.items()))


def build_code_bundle(s3_root: str, root: Path = REPO_ROOT, universe: Path | None = None) -> CodeBundle:
    files = source_files(root, universe)
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    short = digest.hexdigest()[:16]
    return CodeBundle(digest=short, s3_uri=f"{s3_root}/code/{short}", files=files)
