"""Extracting a model archive (model.tar.gz) so that it can only ever write plain files under its folder,
and only as much as a model can be.

Why a module of its own: every loader of a model archive (steps.train's loader, steps.serve, steps.ensemble,
the local runner's hosting stand-in) must refuse the same hostile members: absolute paths, `..`, links,
devices. Python 3.11.4 and later do that with `extractall(filter="data")` (PEP 706), but the setup.cfg floor
is 3.11, and Debian bookworm's python3.11 (the stand-in base of the job images, containers/base) is 3.11.2,
where `filter` does not exist. There the same refusals are made here, and files are written by this code,
never by tarfile's own extraction (which would also restore the archive's owners and mode bits).

Bounds: an archive is a few KB of gzip that can expand to any size (2 GiB of zeros is 9 MB on disk), so the
members are judged from their headers, streaming, before anything is written: at most `MAX_MEMBERS` members
and `MAX_EXTRACTED_BYTES` in all; the first header past either bound stops the reading (the rest of the
archive is never decompressed). Writing then copies at most each member's header size (a short member is a
damaged archive). `extract_archive` is what the loaders call: the same refusals, extraction into a temporary
folder beside the destination that is renamed into place only when complete (removed on any failure), and
any failure as one line naming the archive.

`contained_file` is the other half of "self-contained": a file a model folder lists is read only when it is
a regular file inside that folder (not a symlink, not a hard link shared with another path, and not under a
symlinked folder).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from steps.common.errors import StepInputError

HAS_DATA_FILTER = hasattr(tarfile, "data_filter")
# The largest model this project writes (a per-stock XGBoost with 500 groups, or an ensemble of them) is
# well under 100 MB extracted, and under 2,000 files; these bounds leave ten times that.
MAX_EXTRACTED_BYTES = 1 << 30
MAX_MEMBERS = 20_000
_COPY_CHUNK = 1 << 20


def judge_members(tar: tarfile.TarFile, destination: Path, *, max_bytes: int | None = None,
                  max_members: int | None = None) -> list[tarfile.TarInfo]:
    """Every member, read header by header; the first one that is hostile or past a bound raises TarError.
    Bounds: `MAX_EXTRACTED_BYTES` and `MAX_MEMBERS` unless given."""
    max_bytes = MAX_EXTRACTED_BYTES if max_bytes is None else max_bytes
    max_members = MAX_MEMBERS if max_members is None else max_members
    root = Path(destination).resolve()
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:  # streaming: a bound stops the reading at the header that crosses it
        if len(members) >= max_members:
            raise tarfile.TarError(f"more than {max_members} members (a model archive holds far fewer)")
        total += max(member.size, 0)
        if total > max_bytes:
            raise tarfile.TarError(f"{member.name!r} takes the extracted size past {max_bytes} bytes "
                                   f"({member.size} bytes in this member): not a model archive")
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise tarfile.TarError(f"{member.name!r} would be written outside the destination")
        if not (member.isfile() or member.isdir()):
            raise tarfile.TarError(f"{member.name!r} is not a regular file or folder (links and devices are refused)")
        if not (root / name).resolve().is_relative_to(root):
            raise tarfile.TarError(f"{member.name!r} would be written outside the destination")
        members.append(member)

    return members


def _copy_exactly(source, sink, size: int, name: str) -> None:
    left = size
    while left > 0:
        chunk = source.read(min(_COPY_CHUNK, left))
        if not chunk:
            raise tarfile.TarError(f"{name!r} ends before its {size} bytes (a damaged archive)")
        sink.write(chunk)
        left -= len(chunk)


def extract_data_only(tar: tarfile.TarFile, destination: Path, *, max_bytes: int | None = None,
                      max_members: int | None = None) -> None:
    """Extract regular files and folders under `destination`; anything else, or an archive past the bounds,
    raises tarfile.TarError before anything is written."""
    members = judge_members(tar, destination, max_bytes=max_bytes, max_members=max_members)
    if HAS_DATA_FILTER:
        tar.extractall(destination, members=members, filter="data")
        return
    root = Path(destination).resolve()
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
            _copy_exactly(source, sink, member.size, member.name)
        target.chmod(0o755 if member.mode & 0o100 else 0o644)


def extract_archive(archive: Path, destination: Path, *, fix: str = "pass a model.tar.gz") -> Path:
    """`archive` (a model.tar.gz) extracted as the folder `destination` (absent or empty), which is returned.

    Extracted into a temporary folder beside `destination` and renamed into place when complete: whatever
    stops the extraction (a hostile member, a bound, a damaged or truncated archive: gzip's EOFError and
    zlib.error are not TarErrors) leaves nothing behind and becomes one StepInputError line naming the
    archive, with the caller's `fix`."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-extract-", dir=destination.parent))
    try:
        with tarfile.open(archive) as tar:
            extract_data_only(tar, staging)
        if destination.is_dir() and not any(destination.iterdir()):
            destination.rmdir()
        os.replace(staging, destination)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise StepInputError(f"cannot extract ({exc})", file=archive, fix=fix) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return destination


def contained_file(folder: Path, name: str, manifest: Path, *, fix: str) -> Path:
    """`folder/name`, refused in one line naming it unless it is a regular file that stays inside `folder`:
    not a symlink (or under one), not a hard link (a second name for a file elsewhere), no `..`."""
    root = Path(folder)
    parts = PurePosixPath(name).parts
    if PurePosixPath(name).is_absolute() or ".." in parts or not parts:
        raise StepInputError(f"lists {name!r}, outside its folder", file=manifest, fix=fix)
    path = root / name
    walked = root
    for part in parts:
        walked = walked / part
        if walked.is_symlink():
            raise StepInputError(f"is a symbolic link ({os.readlink(walked)!r}); a model folder holds its own files",
                                 file=walked, fix=fix)
    try:
        status = path.lstat()
    except OSError:
        return path  # missing: the caller's listing check says so
    if not stat.S_ISREG(status.st_mode):
        raise StepInputError("is not a regular file", file=path, fix=fix)
    if status.st_nlink > 1:
        raise StepInputError(f"is a hard link ({status.st_nlink} names for one file); a model folder holds its "
                             "own files", file=path, fix=fix)
    if not path.resolve().is_relative_to(root.resolve()):
        raise StepInputError("resolves outside its folder", file=path, fix=fix)
    return path
