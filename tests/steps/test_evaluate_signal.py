"""steps.evaluate's signal-quality and backtest sections, recomputed from what the step wrote (issue 19)."""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, spearmanr

from steps.common.io import describe_files
from steps.evaluate.run import run_evaluation

ROOT = Path(__file__).resolve().parents[2]
# CustomerMetadataValue's pattern, ASCII part (botocore: ^([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)$, 1-256 characters)
METADATA_VALUE = re.compile(r"[A-Za-z0-9 _.:/=+\-@]{1,256}")


def test_holdout_ic_folds_and_backtest_agree_with_the_written_predictions(model_dir: Path, features_dir: Path,
                                                                          tmp_path: Path) -> None:
    report = run_evaluation(model_dir, features_dir, tmp_path / "out", "xgboost", logging.getLogger("test"),
                            bootstrap=10)
    written = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    predictions = pd.read_parquet(tmp_path / "out" / "holdout_predictions.parquet")
    ics, rank_ics = [], []
    for _, rows in predictions.groupby("ts"):
        if len(rows) >= 2 and rows["prediction"].nunique() > 1 and rows["forward_return"].nunique() > 1:
            ics.append(pearsonr(rows["prediction"], rows["forward_return"])[0])
            rank_ics.append(spearmanr(rows["prediction"], rows["forward_return"])[0])
    holdout = written["signal_quality"]["holdout"]
    assert holdout["ic"]["periods"] == len(ics) > 20
    assert holdout["ic"]["mean"] == pytest.approx(np.mean(ics))
    assert holdout["rank_ic"]["mean"] == pytest.approx(np.mean(rank_ics))
    assert holdout["ic"]["t_stat"] == pytest.approx(np.mean(ics) / np.std(ics, ddof=1) * math.sqrt(len(ics)))
    metric = written["binary_classification_metrics"]["information_coefficient"]
    assert metric == {"value": pytest.approx(np.mean(ics)),
                      "standard_deviation": pytest.approx(np.std(ics, ddof=1) / math.sqrt(len(ics)))}
    assert sum(q["ic"]["periods"] for q in written["signal_quality"]["by_quarter"].values()) == len(ics)
    assert set(written["signal_quality"]["by_volatility_regime"]["ic"]) <= {"low", "mid", "high", "unknown"}
    # Per walk-forward fold, on the model's out-of-fold predictions (three folds in the tiny settings).
    assert [f["fold"] for f in written["signal_quality"]["by_fold"]] == [0, 1, 2]
    assert all(f["ic"]["periods"] > 0 for f in written["signal_quality"]["by_fold"])

    manifest = json.loads((features_dir / "manifest.json").read_text())["settings"]
    backtest = written["backtest"]
    assert backtest["settings"]["holding_periods"] == math.ceil(
        manifest["label_horizon_bars"] / manifest["sample_every_bars"])
    times = np.sort(predictions["ts"].unique())
    assert backtest["settings"]["periods"] == len(times[:: backtest["settings"]["holding_periods"]])
    for variant in ("long_short", "long_only", "market_neutral"):
        figures = backtest[variant]
        assert figures["net"]["cumulative_return"] == pytest.approx(
            figures["gross"]["cumulative_return"] - figures["total_cost"])
    assert backtest["curve"]["cumulative"][-1] == pytest.approx(backtest["long_short"]["net"]["cumulative_return"])
    # The plausibility screen judged the long-short book's net periods (the curve's, recomputed here).
    net = np.asarray(backtest["curve"]["net"])
    screen = backtest["plausibility"]
    assert screen["thresholds"]["max_period_sharpe"] == 0.5 and screen["screened"][0] == "long_short"
    assert (f"long-short net: per-period Sharpe {net.mean() / net.std(ddof=1):.2f}" in " ".join(screen["flags"])) \
        == (net.mean() / net.std(ddof=1) > 0.5)
    assert screen["plausible"] is (not screen["flags"])
    assert all(METADATA_VALUE.fullmatch(value) for value in written["signal_metadata"].values())
    assert report["signal_metadata"] == written["signal_metadata"]


def test_bad_backtest_arguments_exit_2_on_one_line_and_write_nothing(model_dir: Path, features_dir: Path,
                                                                     tmp_path: Path) -> None:
    for flag, value in (("--backtest-quantile", "0.9"), ("--backtest-quantile", "nan"), ("--backtest-cost-bps", "-3")):
        out = tmp_path / f"out{flag}{value}"
        done = subprocess.run([sys.executable, "-m", "steps.evaluate", "--model", str(model_dir), "--features",
                               str(features_dir), "--output", str(out), flag, value],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 2, done.stderr
        assert flag in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr
        assert not out.exists()


def test_a_table_without_forward_returns_is_named_not_crashed_on(model_dir: Path, features_dir: Path,
                                                                 tmp_path: Path) -> None:
    stripped = tmp_path / "features"
    shutil.copytree(features_dir, stripped)
    pd.read_parquet(stripped / "features.parquet").drop(columns=["forward_return"]).to_parquet(
        stripped / "features.parquet")
    manifest = json.loads((stripped / "manifest.json").read_text())
    manifest["files"] = describe_files(stripped, ["features.parquet", "folds.json"])
    (stripped / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, "-m", "steps.evaluate", "--model", str(model_dir), "--features",
                           str(stripped), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "features.parquet: column 'forward_return': missing column" in last and "fix:" in last
    assert not (tmp_path / "out" / "evaluation.json").exists()


def test_a_corrupt_out_of_fold_table_in_the_model_is_one_line_naming_it(model_dir: Path, features_dir: Path,
                                                                        tmp_path: Path, relist) -> None:
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    (broken / "oof_predictions.parquet").write_bytes(b"PAR1 not really parquet")
    relist(broken)  # as a writer that wrote it corrupt would: past the listing, the reader's own check answers
    done = subprocess.run([sys.executable, "-m", "steps.evaluate", "--model", str(broken), "--features",
                           str(features_dir), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "oof_predictions.parquet cannot be read" in last and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "evaluation.json").exists()


def _table_of(features_dir: Path, tickers: int, folder: Path) -> Path:
    """The tiny feature table cut to its first `tickers` names (manifest relisted, as steps.features would)."""
    shutil.copytree(features_dir, folder)
    table = pd.read_parquet(folder / "features.parquet")
    keep = sorted(table["ticker"].astype(str).unique())[:tickers]
    table[table["ticker"].astype(str).isin(keep)].to_parquet(folder / "features.parquet")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = describe_files(folder, ["features.parquet", "folds.json"])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_one_ticker_per_decision_time_is_null_and_undefined_never_zero(model_dir: Path, features_dir: Path,
                                                                       tmp_path: Path) -> None:
    """No cross-section: no IC, no long-short book. evaluation.json says null (not 0.0 +- 0.0) and the
    metadata says "undefined"; with two names per time the same figures are numbers."""
    one = _table_of(features_dir, 1, tmp_path / "one")
    run_evaluation(model_dir, one, tmp_path / "out1", "xgboost", logging.getLogger("test"), bootstrap=0)
    written = json.loads((tmp_path / "out1" / "evaluation.json").read_text())
    metrics = written["binary_classification_metrics"]
    for name in ("information_coefficient", "rank_information_coefficient", "long_short_net_sharpe"):
        assert metrics[name] == {"value": None, "standard_deviation": None}, name
    assert written["signal_quality"]["holdout"]["ic"]["mean"] is None
    assert written["signal_quality"]["holdout"]["ic"]["periods"] == 0
    net = written["backtest"]["long_short"]["net"]
    assert net["periods"] > 0 and written["backtest"]["long_short"]["held_periods"] == 0
    assert all(net[k] is None for k in ("sharpe", "hit_rate", "max_drawdown", "cumulative_return", "mean"))
    assert written["backtest"]["curve"]["cumulative"] == []
    metadata = written["signal_metadata"]
    assert (metadata["holdout_ic"], metadata["holdout_rank_ic"], metadata["holdout_net_sharpe"]) == (
        "undefined", "undefined", "undefined")
    assert all(METADATA_VALUE.fullmatch(value) for value in metadata.values())
    assert "none" not in metadata["summary"]

    two = _table_of(features_dir, 2, tmp_path / "two")
    run_evaluation(model_dir, two, tmp_path / "out2", "xgboost", logging.getLogger("test"), bootstrap=0)
    written = json.loads((tmp_path / "out2" / "evaluation.json").read_text())
    predictions = pd.read_parquet(tmp_path / "out2" / "holdout_predictions.parquet")
    # Two names: each time's IC is +1 or -1 (the pair ordered right or wrong), computed here by hand.
    signs = [np.sign((rows["prediction"].iloc[0] - rows["prediction"].iloc[1])
                     * (rows["forward_return"].iloc[0] - rows["forward_return"].iloc[1]))
             for _, rows in predictions.groupby("ts") if len(rows) == 2]
    signs = [s for s in signs if s != 0]
    metric = written["binary_classification_metrics"]["information_coefficient"]
    assert metric["value"] == pytest.approx(np.mean(signs))
    assert metric["standard_deviation"] == pytest.approx(np.std(signs, ddof=1) / math.sqrt(len(signs)))
    assert isinstance(written["binary_classification_metrics"]["long_short_net_sharpe"]["value"], float)
    assert written["signal_metadata"]["holdout_ic"] == f"{np.mean(signs):.4f}"
    assert written["signal_metadata"]["holdout_net_sharpe"] != "undefined"
