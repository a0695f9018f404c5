"""A step whose output cannot be written (a file in the way, a full disk, a read-only mount) ends on one line
with exit 74 (EX_IOERR) and leaves no output a reader would take as complete: no manifest, no model metadata,
no temporary files.

The full and read-only disks are real: small tmpfs mounts, made when the test runs as root with the right to
mount (as in CI's container); elsewhere those cases skip and say why."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from steps.common.cli import IO_ERROR_EXIT, main_guard
from steps.features.__main__ import main as features_main
from steps.train.__main__ import main as train_main

TINY_FOLDS = ["--n-folds", "3", "--train-days", "10", "--validation-days", "4", "--holdout-days", "5",
              "--embargo-bars", "30"]


def _features_argv(sample_dir: Path, universe_csv: Path, output: Path) -> list[str]:
    return ["--bars", str(sample_dir / "bars"), "--tweets", str(sample_dir / "tweets"), "--universe",
            str(universe_csv), "--output", str(output), *TINY_FOLDS]


def _one_error_line(captured: str) -> str:
    lines = [line for line in captured.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in captured, captured
    return lines[0]


def _visible_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture
def small_mount(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A tmpfs of `request.param` ("full": 96 KiB, too small for the outputs; "read-only")."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mount_point = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    options = "size=96k" if request.param == "full" else "size=1m,ro"
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], capture_output=True,
                          text=True, timeout=30)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def test_a_file_in_the_way_of_the_output_folder(tmp_path, sample_dir, universe_csv, capsys):
    blocker = tmp_path / "features"
    blocker.write_text("keep me")
    for output in (blocker, blocker / "below"):
        assert main_guard(features_main, _features_argv(sample_dir, universe_csv, output)) == IO_ERROR_EXIT
        line = _one_error_line(capsys.readouterr().err)
        assert str(output) in line and "a file is in the way of a folder" in line
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("small_mount", ["full", "read-only"], indirect=True)
def test_features_on_a_full_or_read_only_disk(small_mount, sample_dir, universe_csv, capsys):
    output = small_mount / "features"
    code = main_guard(features_main, _features_argv(sample_dir, universe_csv, output))
    assert code == IO_ERROR_EXIT
    line = _one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line or "Read-only file system" in line
    assert "fix: " in line
    visible = _visible_files(output)
    assert not any(p.name == "manifest.json" for p in visible), "a manifest over partial output"
    assert not any(p.name.startswith((".tmp-", ".old-")) for p in visible), visible


@pytest.mark.parametrize("small_mount", ["full"], indirect=True)
def test_training_on_a_full_disk_leaves_no_model(small_mount, features_dir, tmp_path, monkeypatch, capsys):
    model_dir = small_mount / "model"
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(features_dir))
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("SM_INPUT_CONFIG_DIR", str(tmp_path / "config"))
    code = main_guard(train_main, ["--algorithm", "xgboost", "--num_round", "400", "--early_stopping_rounds", "400",
                                   "--max_depth", "8", "--nthread", "1"])
    assert code == IO_ERROR_EXIT
    line = _one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line
    assert not any(p.name == "model_meta.json" for p in _visible_files(model_dir)), "metadata over a partial model"
