"""A model archive extracts only plain files under its folder, on every Python that setup.cfg allows: with
PEP 706's data filter (3.11.4+) and with this module's own checks where the filter is absent (Debian
bookworm's 3.11.2, the job images' stand-in base)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from steps.common import archives


def _archive(path: Path, members: list[tarfile.TarInfo], payload: bytes = b"content") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            if member.isfile():
                member.size = len(payload)
                tar.addfile(member, io.BytesIO(payload))
            else:
                tar.addfile(member)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.mode = kind, link, mode
    return member


@pytest.fixture(params=[True, False], ids=["data-filter", "own-checks"])
def filter_available(request, monkeypatch):
    monkeypatch.setattr(archives, "HAS_DATA_FILTER", request.param)
    return request.param


def test_a_model_archive_extracts_its_files_and_folders(filter_available, tmp_path):
    archive = _archive(tmp_path / "model.tar.gz", [
        _member("model", tarfile.DIRTYPE, mode=0o755), _member("model/model_meta.json"),
        _member("run.sh", mode=0o4755),  # setuid is never restored
    ])  # fmt: skip
    with tarfile.open(archive) as tar:
        archives.extract_data_only(tar, tmp_path / "out")
    assert (tmp_path / "out" / "model" / "model_meta.json").read_bytes() == b"content"
    assert not (tmp_path / "out" / "run.sh").stat().st_mode & 0o4000


@pytest.mark.parametrize(
    "hostile",
    [
        _member("../escaped.txt"),
        _member("/tmp/absolute-escape.txt"),
        _member("model/../../escaped.txt"),
        _member("link", tarfile.SYMTYPE, link="/etc/passwd"),
        _member("hard", tarfile.LNKTYPE, link="/etc/passwd"),
        _member("device", tarfile.CHRTYPE),
        _member("fifo", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink", "hardlink", "device", "fifo"],
)
def test_a_hostile_member_is_refused_and_nothing_is_written(filter_available, tmp_path, hostile):
    archive = _archive(tmp_path / "model.tar.gz", [_member("model_meta.json"), hostile])
    out = tmp_path / "deep" / "out"
    # judged header by header before anything is written, on every Python
    with tarfile.open(archive) as tar, pytest.raises(tarfile.TarError):
        archives.extract_data_only(tar, out)
    assert not (tmp_path / "deep" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()
    assert not out.exists() or not any(out.iterdir())
