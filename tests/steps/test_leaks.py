"""steps.leaks: the clean sample passes; planted look-ahead (in the table or in the code) is caught."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from steps.common.feature_table import load_feature_table
from steps.common.validation import validate_bars, validate_tweets
from steps.features.build import build_features
from steps.leaks.run import run_checks, run_leaks

ROOT = Path(__file__).resolve().parents[2]


def _leaks_cli(features: Path, sample: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "steps.leaks", "--features", str(features), "--bars",
                           str(sample / "bars"), "--tweets", str(sample / "tweets"), "--output", str(out),
                           "--cutoffs", "3", *extra], capture_output=True, text=True, cwd=ROOT)


def test_clean_sample_passes_every_check(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    report = run_leaks(features_dir, sample_dir / "bars", sample_dir / "tweets", tmp_path, cutoffs=3, seed=0,
                       logger=logging.getLogger("test"))
    assert report["passed"], report
    assert report["summary"] == "no leaks found"
    names = {c["name"] for c in report["checks"]}
    assert {"truncation_invariance", "table_matches_code", "label_alignment", "folds", "duplicates"} <= names
    assert (tmp_path / "leak_report.txt").read_text().startswith("LEAK REPORT: PASSED")


def _planted(features_dir: Path, tmp_path: Path, plant) -> Path:
    target = tmp_path / "features"
    shutil.copytree(features_dir, target)
    frame = pd.read_parquet(target / "features.parquet")
    frame = plant(frame)
    frame.to_parquet(target / "features.parquet", index=False)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["feature_columns"] = [c for c in frame.columns if c not in
                                   ("ticker", "ts", "sector", "label", "forward_return", "label_end")]
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_planted_future_column_fails_and_strict_exits_1(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        # ret_5 of the next decision row: a feature shifted one step into the future.
        frame["ret_5_next"] = frame.groupby("ticker")["ret_5"].shift(-1)
        return frame

    leaky = _planted(features_dir, tmp_path, plant)
    result = _leaks_cli(leaky, sample_dir, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "leak_report.json").read_text())
    assert report["passed"] is False
    failed = {c["name"]: c for c in report["checks"] if not c["passed"]}
    assert "ret_5_next" in failed["table_matches_code"]["columns"]
    # The one-line summary the pipeline's Fail-leaks message carries names the check and the column.
    assert "table_matches_code (" in report["summary"] and "ret_5_next" in report["summary"]
    strict = _leaks_cli(leaky, sample_dir, tmp_path / "out2", "--strict")
    assert strict.returncode == 1
    assert (tmp_path / "out2" / "leak_report.json").exists()


def test_overwritten_feature_with_centred_window_is_named(features_dir: Path, sample_dir: Path,
                                                          tmp_path: Path) -> None:
    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        frame["ret_10"] = frame.groupby("ticker")["ret_10"].transform(
            lambda s: s.rolling(3, center=True, min_periods=1).mean())
        return frame

    leaky = _planted(features_dir, tmp_path, plant)
    report = run_leaks(leaky, sample_dir / "bars", sample_dir / "tweets", tmp_path / "out", cutoffs=2, seed=1,
                       logger=logging.getLogger("test"))
    check = next(c for c in report["checks"] if c["name"] == "table_matches_code")
    assert not report["passed"] and check["columns"] == ["ret_10"]


def test_planted_label_copy_is_flagged_by_association(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    leaky = _planted(features_dir, tmp_path, lambda f: f.assign(future=f["forward_return"] * 3))
    report = run_leaks(leaky, sample_dir / "bars", sample_dir / "tweets", tmp_path / "out", cutoffs=1, seed=0,
                       logger=logging.getLogger("test"))
    check = next(c for c in report["checks"] if c["name"] == "feature_label_association")
    assert not check["passed"] and check["columns"] == ["future"]


def test_leaky_code_fails_truncation_invariance(features_dir: Path, market) -> None:
    def leaky_build(bars, tweets, settings, **kwargs):
        frame = build_features(bars, tweets, settings, **kwargs)
        # A centred window: the value at t reads the next decision row.
        frame["ret_60"] = frame.groupby("ticker")["ret_60"].transform(
            lambda s: s.rolling(3, center=True, min_periods=1).mean())
        return frame

    table = load_feature_table(features_dir)
    bars, tweets = validate_bars(market.bars, "bars"), validate_tweets(market.tweets, "tweets")
    results = {r.name: r for r in run_checks(table, bars, tweets, cutoffs=3, seed=0, build=leaky_build)}
    assert not results["truncation_invariance"].passed
    assert results["truncation_invariance"].columns == ["ret_60"]


def test_purge_violation_is_caught(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    target = _planted(features_dir, tmp_path, lambda f: f)
    folds = json.loads((target / "folds.json").read_text())
    folds["embargo_seconds"] = 0
    (target / "folds.json").write_text(json.dumps(folds))
    report = run_leaks(target, sample_dir / "bars", sample_dir / "tweets", tmp_path / "out", cutoffs=1, seed=0,
                       logger=logging.getLogger("test"))
    check = next(c for c in report["checks"] if c["name"] == "folds")
    assert not check["passed"] and "embargo" in check["details"]


def test_missing_manifest_is_bad_input(features_dir: Path, sample_dir: Path, tmp_path: Path) -> None:
    target = _planted(features_dir, tmp_path, lambda f: f)
    (target / "manifest.json").unlink()
    result = _leaks_cli(target, sample_dir, tmp_path / "out")
    assert result.returncode == 2
    assert "manifest.json" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
