"""A features folder is read only when it is exactly what one run wrote (issue 15, class 3).

The writer clears what a previous run left and writes its manifest last, listing the files with their sizes
and sha256; the reader (load_feature_table / merge_shards) refuses, on one line naming the file, a stale
single table beside shards, a shard of another run or one too few, data without its manifest, and a file
whose digest differs. A clean rerun into the same folder then reads exactly the new rows.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

import steps.features.run as features_run
from steps.common.errors import StepInputError
from steps.features.run import run_features
from steps.features.shards import merge_shards
from steps.features.table import find_features_folder, load_feature_table

LOG = logging.getLogger("test")


def _bars(sample_dir: Path, tmp_path: Path, name: str, every: int = 1, offset: int = 0) -> Path:
    """A bars folder with every `every`-th ticker partition (from `offset`): what one instance is given."""
    target = tmp_path / "inputs" / name / "bars"
    if not target.exists():
        target.mkdir(parents=True)
        for partition in sorted((sample_dir / "bars").iterdir())[offset::every]:
            if partition.is_dir():
                shutil.copytree(partition, target / partition.name)
    return target


def _single(sample_dir: Path, tmp_path: Path, out: Path, settings, universe: Path, *, old: bool = False) -> None:
    """One instance; `old`: a previous run over half the tickers (other rows than the full table's)."""
    bars = _bars(sample_dir, tmp_path, "old", every=2) if old else sample_dir / "bars"
    run_features(bars, sample_dir / "tweets", out, settings, universe=universe, logger=LOG)


def _sharded(sample_dir: Path, tmp_path: Path, out: Path, settings, universe: Path, hosts: list[str],
             job: str | None, only: list[str] | None = None) -> None:
    """`hosts` instances of one job (each with its share of the tickers); `only`: the hosts that run."""
    for index, host in enumerate(hosts):
        if only is not None and host not in only:
            continue
        bars = _bars(sample_dir, tmp_path, f"{len(hosts)}-{host}", every=len(hosts), offset=index)
        config = tmp_path / "config" / f"{job}-{host}"
        config.mkdir(parents=True, exist_ok=True)
        (config / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
        if job is not None:
            (config / "processingjobconfig.json").write_text(json.dumps({"ProcessingJobName": job}))
        run_features(bars, sample_dir / "tweets", out, settings, universe=universe, logger=LOG,
                     resource_config=config / "resourceconfig.json")


def _refused(folder: Path, file: Path, *words: str) -> str:
    with pytest.raises(StepInputError) as caught:
        load_feature_table(folder)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(file)), message
    assert "fix:" in message
    for word in words:
        assert word in message, message
    return message


def _same_rows(folder: Path, expected: Path, exact: bool = True) -> None:
    loaded, reference = load_feature_table(folder), load_feature_table(expected)
    if exact:
        pd.testing.assert_frame_equal(loaded.frame, reference.frame)
    else:
        pd.testing.assert_frame_equal(loaded.frame, reference.frame, check_exact=False, rtol=1e-12, atol=1e-15)
    assert loaded.folds.to_json() == reference.folds.to_json()


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_manifest_lists_what_the_step_wrote(features_dir: Path, sample_dir: Path, tmp_path: Path,
                                                tiny_settings, universe_csv: Path) -> None:
    manifest = json.loads((features_dir / "manifest.json").read_text())
    assert set(manifest["files"]) == {"features.parquet", "folds.json"}
    assert manifest["files"]["features.parquet"]["bytes"] == (features_dir / "features.parquet").stat().st_size
    assert len(manifest["files"]["folds.json"]["sha256"]) == 64
    out = tmp_path / "features"
    _sharded(sample_dir, tmp_path, out, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-1")
    shard = json.loads((out / "shards" / "algo-1" / "manifest.json").read_text())
    assert set(shard["files"]) == {"features.parquet", "sessions.parquet"}
    assert shard["shard"]["host_names"] == ["algo-1", "algo-2"] and shard["shard"]["run"] == "job-1"
    assert "files" not in load_feature_table(out).manifest  # the merged manifest lists no shard's files
    # a sharded folder one level down in a channel is found (not one of its shards' tables)
    channel = tmp_path / "channel"
    shutil.copytree(out, channel / "sub")
    assert find_features_folder(channel) == channel / "sub"


def test_stale_single_table_beside_new_shards(features_dir: Path, sample_dir: Path, tmp_path: Path,
                                              tiny_settings, universe_csv: Path) -> None:
    out = tmp_path / "features"
    _single(sample_dir, tmp_path, out, tiny_settings, universe_csv, old=True)
    elsewhere = tmp_path / "sharded"
    _sharded(sample_dir, tmp_path, elsewhere, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-1")
    shutil.copytree(elsewhere / "shards", out / "shards")  # what an S3 upload onto the old prefix gives
    _refused(out, out / "features.parquet", "beside shards/")
    with pytest.raises(StepInputError, match=r"features\.parquet"):
        merge_shards(out)
    _sharded(sample_dir, tmp_path, out, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-2")
    assert not (out / "features.parquet").exists() and not (out / "manifest.json").exists()
    _same_rows(out, features_dir, exact=False)
    # and the other way round: a single run into a sharded folder removes the shards
    _single(sample_dir, tmp_path, out, tiny_settings, universe_csv)
    assert not (out / "shards").exists()
    _same_rows(out, features_dir)


def test_leftover_shard_from_an_older_run(features_dir: Path, sample_dir: Path, tmp_path: Path,
                                          tiny_settings, universe_csv: Path) -> None:
    old = tmp_path / "old"
    _sharded(sample_dir, tmp_path, old, tiny_settings, universe_csv, ["algo-1", "algo-2", "algo-3"], "job-old")
    out = tmp_path / "features"
    _sharded(sample_dir, tmp_path, out, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-new")
    shutil.copytree(old / "shards" / "algo-3", out / "shards" / "algo-3")
    _refused(out, out / "shards" / "algo-3" / "manifest.json", "another run", "job-old", "job-new")
    # without job names: a shard that is not one of the run's hosts
    shutil.rmtree(out / "shards" / "algo-3")
    shutil.copytree(out / "shards" / "algo-2", out / "shards" / "algo-3")
    _refused(out, out / "shards" / "algo-3", "not one of the hosts", "older run")
    # a host's shard missing
    shutil.rmtree(out / "shards" / "algo-3")
    shutil.rmtree(out / "shards" / "algo-2")
    _refused(out, out / "shards" / "algo-2", "missing")
    # a clean rerun into the same folder: exactly the new job's rows
    shutil.copytree(old / "shards" / "algo-3", out / "shards" / "algo-3")
    _sharded(sample_dir, tmp_path, out, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-rerun")
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["algo-1", "algo-2"]
    _same_rows(out, features_dir, exact=False)


def test_crash_before_the_manifest(features_dir: Path, sample_dir: Path, tmp_path: Path, tiny_settings,
                                   universe_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "features"
    _single(sample_dir, tmp_path, out, tiny_settings, universe_csv, old=True)
    # new data files under the old run's manifest (what a writer that kept the old manifest left)
    for name in ("features.parquet", "folds.json"):
        shutil.copy(features_dir / name, out / name)
    _refused(out, out / "features.parquet", "bytes", "manifest.json lists")
    # the writer itself removes the old manifest first: a crash before the new one leaves no manifest at all
    real = features_run.write_json

    def crash(payload, target):
        if Path(target).name == "manifest.json":
            raise KeyboardInterrupt("killed before the manifest")
        return real(payload, target)

    _single(sample_dir, tmp_path, out, tiny_settings, universe_csv, old=True)
    monkeypatch.setattr(features_run, "write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        _single(sample_dir, tmp_path, out, tiny_settings, universe_csv)
    assert (out / "features.parquet").is_file()
    _refused(out, out / "manifest.json", "did not finish")
    # a shard killed before its manifest: the folder keeps the old job's shard, refused beside the new one
    sharded = tmp_path / "sharded"
    monkeypatch.setattr(features_run, "write_json", real)
    _sharded(sample_dir, tmp_path, sharded, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-old")
    _sharded(sample_dir, tmp_path, sharded, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-new",
             only=["algo-1"])
    monkeypatch.setattr(features_run, "write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        _sharded(sample_dir, tmp_path, sharded, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-new",
                 only=["algo-2"])
    assert not [p for p in (sharded / "shards").iterdir() if p.name.startswith(".")]
    _refused(sharded, sharded / "shards" / "algo-2" / "manifest.json", "another run")
    # clean reruns into the same folders read exactly the new rows
    monkeypatch.setattr(features_run, "write_json", real)
    _single(sample_dir, tmp_path, out, tiny_settings, universe_csv)
    _same_rows(out, features_dir)
    _sharded(sample_dir, tmp_path, sharded, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-new")
    _same_rows(sharded, features_dir, exact=False)


def test_digest_mismatch(features_dir: Path, sample_dir: Path, tmp_path: Path, tiny_settings,
                         universe_csv: Path) -> None:
    out = tmp_path / "features"
    shutil.copytree(features_dir, out)
    size = (out / "features.parquet").stat().st_size
    _flip_a_byte(out / "features.parquet")
    assert (out / "features.parquet").stat().st_size == size
    _refused(out, out / "features.parquet", "sha256")
    (out / "folds.json").unlink()
    shutil.copy(features_dir / "features.parquet", out / "features.parquet")
    _refused(out, out / "folds.json", "missing")
    sharded = tmp_path / "sharded"
    _sharded(sample_dir, tmp_path, sharded, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-1")
    _flip_a_byte(sharded / "shards" / "algo-2" / "sessions.parquet")
    _refused(sharded, sharded / "shards" / "algo-2" / "sessions.parquet", "sha256")
    (sharded / "shards" / "algo-2" / "manifest.json").unlink()
    _refused(sharded, sharded / "shards" / "algo-2" / "manifest.json", "did not finish")
    _single(sample_dir, tmp_path, out, tiny_settings, universe_csv)
    _same_rows(out, features_dir)
    _sharded(sample_dir, tmp_path, sharded, tiny_settings, universe_csv, ["algo-1", "algo-2"], "job-2")
    _same_rows(sharded, features_dir, exact=False)


def test_hand_made_manifest_without_a_file_list_is_read_as_before(features_dir: Path, tmp_path: Path) -> None:
    """Folders from before manifest_version 2 (and hand-made ones) list no files: read as before."""
    out = tmp_path / "features"
    shutil.copytree(features_dir, out)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["files"]
    manifest["manifest_version"] = 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    _same_rows(out, features_dir)
    manifest["manifest_version"] = 2  # but a version-2 manifest without its list is refused
    (out / "manifest.json").write_text(json.dumps(manifest))
    _refused(out, out / "manifest.json", "lists no files")
