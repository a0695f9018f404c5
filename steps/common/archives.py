"""Extracting a model archive (model.tar.gz) so that it can only ever write plain files under its folder.

Why a module of its own: every loader of a model archive (steps.train's loader, steps.serve) must refuse the
same hostile members: absolute paths, `..`, links, devices. Python 3.11.4 and later do that with
`extractall(filter="data")` (PEP 706), but the setup.cfg floor is 3.11, and Debian bookworm's python3.11 (the
stand-in base of the job images, containers/base) is 3.11.2, where `filter` does not exist. There the same
refusals are made here, and files are written by this code, never by tarfile's own extraction (which would
also restore the archive's owners and mode bits). `extract_archive` is what the loaders call: the same
refusals, and any failure to extract as one line naming the archive.
"""

from __future__ import annotations

import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from steps.common.errors import StepInputError

HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


def extract_data_only(tar: tarfile.TarFile, destination: Path) -> None:
    """Extract regular files and folders under `destination`; anything else raises tarfile.TarError."""
    if HAS_DATA_FILTER:
        tar.extractall(destination, filter="data")
        return
    root = Path(destination).resolve()
    members = tar.getmembers()
    for member in members:  # every member judged before anything is written
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise tarfile.TarError(f"{member.name!r} would be written outside the destination")
        if not (member.isfile() or member.isdir()):
            raise tarfile.TarError(f"{member.name!r} is not a regular file or folder (links and devices are refused)")
        if not (root / name).resolve().is_relative_to(root):
            raise tarfile.TarError(f"{member.name!r} would be written outside the destination")
    for member in members:
        target = root / PurePosixPath(member.name)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            raise tarfile.TarError(f"{member.name!r} has no data")
        with source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        target.chmod(0o755 if member.mode & 0o100 else 0o644)


def extract_archive(archive: Path, destination: Path, *, fix: str = "pass a model.tar.gz") -> Path:
    """`archive` (a model.tar.gz) extracted under `destination` by `extract_data_only`, which is returned.

    Whatever stops the extraction (a hostile member, a damaged or truncated archive: gzip's EOFError and
    zlib.error are not TarErrors) becomes one StepInputError line naming the archive, with the caller's `fix`."""
    try:
        with tarfile.open(archive) as tar:
            extract_data_only(tar, destination)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise StepInputError(f"cannot extract ({exc})", file=archive, fix=fix) from None
    return destination
