"""Issue 29, class 2: model archives and folders are bounded and self-contained.

An archive is judged from its headers before anything is written (size and member bounds); a refused one
leaves nothing behind; a listed file that is a link, or leads out of its folder, is refused; what decides a
prediction but has no digest (the ensemble's threshold, a grouped model's fields) is checked; every artifact
JSON is read by one bounded reader. Each case: one line naming the file, nothing written, nothing left.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from steps.common import archives, artifact_json
from steps.common.errors import StepInputError
from steps.common.io import read_json
from steps.serve.model import ENSEMBLE_META_FILE, MetaLearner, load_artifact
from steps.train.algorithms import load_model_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp folder that load_artifact extracts into, watched for leftovers."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _one_line(exc: pytest.ExceptionInfo, *needles: str) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    for needle in needles:
        assert needle in message, message
    return message


def _tar_gz(path: Path, members: list[tuple[str, bytes]], *, raw_tail: bytes = b"") -> Path:
    """A model.tar.gz of regular files; `raw_tail`: bytes appended to the tar stream (hand-made headers)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    stream = buffer.getvalue()
    if raw_tail:
        stream = stream.rstrip(b"\0") + b"\0" * (-len(stream.rstrip(b"\0")) % 512) + raw_tail
    path.write_bytes(gzip.compress(stream, compresslevel=1))
    return path


def _huge_header(name: str, size: int) -> bytes:
    """A regular-file header that declares `size` bytes, followed by a little data and no more."""
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 4096


def _assert_nothing_left(destination: Path, scratch: Path | None = None) -> None:
    assert not destination.exists()
    assert not list(destination.parent.glob(".tmp-extract-*"))
    if scratch is not None:
        assert not list(scratch.iterdir()), list(scratch.iterdir())


# -- bounds --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["2gib-zero-member", "2gib-after-a-model-file", "100gib-member",
                                  "many-medium-members", "too-many-members", "many-empty-members"])
def test_an_archive_past_a_bound_is_refused_from_its_headers_and_nothing_is_written(
        case: str, tmp_path: Path, scratch_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "model.tar.gz"
    if case == "2gib-zero-member":
        _tar_gz(archive, [], raw_tail=_huge_header("zeros.bin", 2 << 30))
        needle = "past"
    elif case == "2gib-after-a-model-file":
        _tar_gz(archive, [("model_meta.json", b"{}")], raw_tail=_huge_header("zeros.bin", 2 << 30))
        needle = "past"
    elif case == "100gib-member":
        _tar_gz(archive, [], raw_tail=_huge_header("model/big.json", 100 << 30))
        needle = "past"
    elif case == "many-medium-members":
        monkeypatch.setattr(archives, "MAX_EXTRACTED_BYTES", 4000)
        _tar_gz(archive, [(f"part{i}.bin", b"\0" * 1000) for i in range(5)])
        needle = "past 4000 bytes"
    elif case == "too-many-members":
        monkeypatch.setattr(archives, "MAX_MEMBERS", 10)
        _tar_gz(archive, [(f"f{i}", b"x") for i in range(11)])
        needle = "more than 10 members"
    else:
        monkeypatch.setattr(archives, "MAX_MEMBERS", 50)
        _tar_gz(archive, [(f"d/e{i}", b"") for i in range(500)])
        needle = "more than 50 members"
    destination = tmp_path / "out" / "model"
    with pytest.raises(StepInputError) as refused:  # judged from the headers: 2 GiB is never decompressed
        archives.extract_archive(archive, destination)
    _one_line(refused, str(archive), needle)
    _assert_nothing_left(destination)
    with pytest.raises(StepInputError) as served:
        load_artifact(archive)
    _one_line(served, str(archive), needle)
    assert not list(scratch_tmp.iterdir())  # no conviction-model-* left by the serving loader


def test_a_real_gzip_bomb_is_refused_without_being_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real zeros this time (64 MB in the archive's header and data, 65 KB on disk) against a 16 MB bound."""
    monkeypatch.setattr(archives, "MAX_EXTRACTED_BYTES", 16 << 20)
    archive = _tar_gz(tmp_path / "bomb.tar.gz", [("model_meta.json", b"{}"), ("zeros.bin", bytes(64 << 20))])
    assert archive.stat().st_size < 1 << 20
    destination = tmp_path / "out"
    with pytest.raises(StepInputError) as refused:
        archives.extract_archive(archive, destination)
    _one_line(refused, "zeros.bin", "past")
    _assert_nothing_left(destination)


@pytest.mark.parametrize("case", ["symlink-last", "truncated-gzip", "not-gzip", "short-member"])
def test_a_refused_archive_leaves_no_partial_extraction(case: str, tmp_path: Path, scratch_tmp: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    good = [("model_meta.json", b'{"algorithm": "xgboost"}'), ("xgboost-model.json", b"{}" * 5000)]
    if case == "symlink-last":
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, data in good:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            link = tarfile.TarInfo("escape")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc"
            tar.addfile(link)
        archive.write_bytes(gzip.compress(buffer.getvalue()))
    elif case == "truncated-gzip":
        _tar_gz(archive, [*good, ("random.bin", os.urandom(20000))])
        archive.write_bytes(archive.read_bytes()[:15000])
    elif case == "not-gzip":
        archive.write_bytes(b"\x1f\x8b" + os.urandom(2000))
    else:  # the last member's header promises more data than the archive holds
        _tar_gz(archive, good, raw_tail=_huge_header("more.bin", 1 << 20)[:1024])
    destination = tmp_path / "out" / "model"
    with pytest.raises(StepInputError) as refused:
        archives.extract_archive(archive, destination)
    _one_line(refused, str(archive), "cannot extract")
    _assert_nothing_left(destination)
    with pytest.raises(StepInputError):
        load_artifact(archive)
    assert not list(scratch_tmp.iterdir())
    with pytest.raises(StepInputError):
        load_model_dir(archive)
    assert not list(scratch_tmp.iterdir())


def test_the_serving_container_refuses_a_bomb_in_one_line_with_exit_2(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "model.tar.gz", [], raw_tail=_huge_header("zeros.bin", 2 << 30))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-m", "steps.serve", "--model", str(archive), "--port", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(archive) in lines[0] and "past" in lines[0], done.stderr
    assert not list(scratch.iterdir())


# -- links and paths leading out -----------------------------------------------------------------------

def _copy(model_folder: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(model_folder, folder)
    return folder


@pytest.mark.parametrize("case", ["symlink-out", "symlink-in", "hardlink", "meta-symlink", "fifo"])
def test_a_listed_model_file_that_is_a_link_is_refused(case: str, model_folder: Path, tmp_path: Path) -> None:
    folder = _copy(model_folder, tmp_path)
    meta = json.loads((folder / "model_meta.json").read_text())
    listed = next(name for name in meta["files"] if name.endswith(".json"))
    target = folder / listed
    outside = tmp_path / "outside"
    outside.mkdir()
    if case == "meta-symlink":
        target = folder / "model_meta.json"
    shutil.copyfile(target, outside / target.name)  # the same bytes: the digest alone cannot tell
    target.unlink()
    if case in ("symlink-out", "meta-symlink"):
        target.symlink_to(outside / target.name)
        needle = "symbolic link"
    elif case == "symlink-in":
        shutil.copyfile(outside / target.name, folder / "copy")
        target.symlink_to("copy")
        needle = "symbolic link"
    elif case == "hardlink":
        os.link(outside / target.name, target)
        needle = "hard link"
    else:
        os.mkfifo(target)
        needle = "not a regular file"
    for load in (load_model_dir, load_artifact):
        with pytest.raises(StepInputError) as refused:
            load(folder)
        _one_line(refused, str(target), needle)


def _ensemble(model_folder: Path, folder: Path) -> Path:
    from steps.ensemble.run import build_artifact_folder

    meta = json.loads((model_folder / "model_meta.json").read_text())
    build_artifact_folder(folder, {"xgboost": model_folder}, MetaLearner(["xgboost"], [1.0], 0.0),
                          {"kind": "stacking", "base_models": {"xgboost": {"folder": "base/xgboost",
                                                                           "algorithm": "xgboost"}},
                           "meta_learner": "meta_learner.json", "features": meta["features"], "threshold": 0.5})
    return folder


def test_an_ensemble_whose_base_folder_is_a_symlink_out_is_refused(model_folder: Path, tmp_path: Path) -> None:
    folder = _ensemble(model_folder, tmp_path / "ensemble")
    with load_artifact(folder) as model:  # the artifact as built serves
        assert model.kind == "ensemble"
    shutil.move(folder / "base" / "xgboost", tmp_path / "elsewhere")
    (folder / "base" / "xgboost").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(StepInputError) as refused:
        load_artifact(folder)
    _one_line(refused, "base/xgboost", "symbolic link")


# -- values no digest covers ---------------------------------------------------------------------------

@pytest.mark.parametrize(("threshold", "needle"), [
    ("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "Infinity"), ("1e999", "overflows"),
    ("1.5", "between 0 and 1"), ("-0.1", "between 0 and 1"), ("0", "between 0 and 1"), ('"0.5"', "between 0 and 1"),
    ("true", "between 0 and 1"), ("null", "between 0 and 1"), ("[0.5]", "between 0 and 1"),
])
def test_an_ensemble_threshold_that_is_not_a_probability_is_refused(model_folder: Path, tmp_path: Path,
                                                                     threshold: str, needle: str) -> None:
    folder = _ensemble(model_folder, tmp_path / "ensemble")
    path = folder / ENSEMBLE_META_FILE
    text = path.read_text()
    assert '"threshold": 0.5' in text
    path.write_text(text.replace('"threshold": 0.5', f'"threshold": {threshold}'))
    with pytest.raises(StepInputError) as refused:
        load_artifact(folder)
    _one_line(refused, str(path), needle)


@pytest.mark.parametrize(("grouping", "needle"), [
    ({"mode": "stock", "groups": {"AAPL": {"folder": "groups/AAPL"}}, "ticker_group": {}}, "refit_iterations"),
    ({"mode": "stock", "groups": {"AAPL": {"refit_iterations": 5}}, "ticker_group": {}}, "'folder'"),
    ({"mode": "stock", "groups": {"AAPL": "groups/AAPL"}, "ticker_group": {}}, "not an object"),
    ({"mode": "stock", "groups": [{"folder": "g"}], "ticker_group": {}}, "must be objects"),
    ({"mode": "stock", "groups": {}, "ticker_group": ["AAPL"]}, "must be objects"),
    ({"mode": "stock", "groups": {}, "ticker_group": {"AAPL": 3}}, "map tickers"),
    ({"mode": "stock", "groups": {"AAPL": {"folder": "g", "refit_iterations": "ten"}}, "ticker_group": {}},
     "positive whole number"),
    ("stock", "not an object"),
])
def test_a_grouped_model_with_a_malformed_field_is_refused_in_one_line(model_folder: Path, tmp_path: Path,
                                                                       grouping, needle: str) -> None:
    folder = _copy(model_folder, tmp_path)
    meta = json.loads((folder / "model_meta.json").read_text())
    (folder / "model_meta.json").write_text(json.dumps({**meta, "grouping": grouping}))
    for load in (load_model_dir, load_artifact):
        with pytest.raises(StepInputError) as refused:
            load(folder)
        _one_line(refused, "model_meta.json", needle)


# -- the bounded JSON reader ---------------------------------------------------------------------------

HOSTILE_JSON = {
    "deep-lists": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deep-objects": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    "65-levels": (b'{"a":' + b"[" * 65 + b"]" * 65 + b"}", "nested too deeply"),
    "5000-digit-int": (b'{"n": ' + b"9" * 5000 + b"}", "5000-digit number"),
    "long-float": (b'{"n": 0.' + b"1" * 500 + b"}", "number"),
    "overflow": (b'{"n": 1e400}', "overflows"),
    "nan": (b'{"threshold": NaN}', "NaN"),
    "latin-1": ('{"name": "caf\u00e9"}'.encode("latin-1"), "not UTF-8"),
    "utf-16": ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
    "a-list": (b"[1, 2]", "not a JSON object"),
    "truncated": (b'{"algorithm": "xgb', "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_a_hostile_artifact_json_is_refused_in_one_line(case: str, model_folder: Path, tmp_path: Path) -> None:
    data, needle = HOSTILE_JSON[case]
    path = tmp_path / "model_meta.json"
    path.write_bytes(data)
    with pytest.raises(StepInputError) as refused:
        read_json(path, name="model metadata")
    _one_line(refused, str(path), needle)
    folder = _copy(model_folder, tmp_path / "planted")
    (folder / "model_meta.json").write_bytes(data)
    for load in (load_model_dir, load_artifact):
        with pytest.raises(StepInputError) as planted:
            load(folder)
        _one_line(planted, "model_meta.json", needle)


def test_an_oversized_artifact_json_is_refused_before_it_is_read(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifact_json, "MAX_JSON_BYTES", 1000)
    path = tmp_path / "ensemble_meta.json"
    path.write_text(json.dumps({"pad": "x" * 2000}))
    with pytest.raises(StepInputError) as refused:
        artifact_json.read_artifact_json(path, name="ensemble metadata",
                                         max_bytes=artifact_json.MAX_JSON_BYTES)
    _one_line(refused, str(path), "at most 1000")


def test_the_bounded_reader_reads_what_write_json_writes(tmp_path: Path) -> None:
    from steps.common.io import write_json

    payload = {"a": [1, 2.5, None, math.nan], "b": {"c": "\u00e9"}, "n": 10 ** 30}
    write_json(payload, tmp_path / "x.json")
    assert read_json(tmp_path / "x.json") == {"a": [1, 2.5, None, None], "b": {"c": "\u00e9"}, "n": 10 ** 30}
