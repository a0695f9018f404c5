"""steps.stability: on a table with known informative and noise features, the noise goes and the signal stays."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.folds import build_folds
from steps.features.table import load_feature_table
from steps.stability.explainability import ANALYSIS_FILE, clarify_analysis
from steps.stability.run import run_stability
from steps.stability.select import FoldImportance, StabilitySettings

ROOT = Path(__file__).resolve().parents[2]
INFORMATIVE = {"signal_up": 1.2, "signal_down": -1.0, "signal_weak": 0.6}
NOISE = ["noise_1", "noise_2", "noise_3", "noise_4", "noise_5"]


@pytest.fixture(scope="module")
def known_features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 tickers x 60 sessions x 26 decision rows; label drawn from a logistic model of the informative columns."""
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2025-01-02", periods=60)
    times = [day + pd.Timedelta(hours=14, minutes=30 + 15 * i) for day in days for i in range(26)]
    ts = pd.DatetimeIndex(times).tz_localize("UTC")
    tickers = [f"T{i}" for i in range(8)]
    frame = pd.DataFrame({"ticker": np.repeat(tickers, len(ts)), "ts": np.tile(ts, len(tickers))})
    logit = np.zeros(len(frame))
    for name, weight in INFORMATIVE.items():
        frame[name] = rng.standard_normal(len(frame))
        logit += weight * frame[name].to_numpy()
    for name in NOISE:
        frame[name] = rng.standard_normal(len(frame))
    frame["label"] = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype("int64")
    frame["forward_return"] = np.where(frame["label"] == 1, 0.001, -0.001)
    frame["label_end"] = frame["ts"] + pd.Timedelta(minutes=31)
    frame = frame.sort_values(["ts", "ticker"]).reset_index(drop=True)
    folds = build_folds(frame["ts"], n_folds=3, train_days=20, validation_days=6, holdout_days=6, embargo_bars=30)
    out = tmp_path_factory.mktemp("known")
    frame.to_parquet(out / "features.parquet", index=False)
    (out / "folds.json").write_text(json.dumps(folds.to_json()))
    columns = [*INFORMATIVE, *NOISE]
    (out / "manifest.json").write_text(json.dumps({"feature_columns": columns, "settings": {}}))
    return out


def test_noise_is_dropped_and_signal_kept(known_features: Path, tmp_path: Path) -> None:
    report = run_stability(known_features, tmp_path / "report", tmp_path / "features", StabilitySettings(),
                           logging.getLogger("test"))
    assert report["selected"] == list(INFORMATIVE)
    assert set(report["dropped"]) == set(NOISE)
    assert all(report["features"][c]["mean_share"] > 0.1 for c in INFORMATIVE)
    assert report["scale"].startswith("share of the total mean |SHAP|")
    # the signs SHAP finds are the signs the data were drawn with
    assert set(report["features"]["signal_down"]["signs"]) == {-1}
    assert set(report["features"]["signal_up"]["signs"]) == {1}
    for name in ("selected_features.json", "stability_report.json", "stability.svg", "analysis.json"):
        assert (tmp_path / "report" / name).is_file()
    assert (tmp_path / "report" / "stability.svg").read_text().startswith("<svg")
    # the narrowed features folder: what the tuning jobs' train channel reads
    narrowed = load_feature_table(tmp_path / "features")
    assert narrowed.feature_columns == list(INFORMATIVE)
    assert json.loads((tmp_path / "features" / "selected_features.json").read_text())["selected"] == list(INFORMATIVE)
    assert len(narrowed.frame) == len(pd.read_parquet(known_features / "features.parquet"))


def test_training_on_the_narrowed_folder_uses_only_the_selected_columns(known_features: Path, tmp_path: Path) -> None:
    from steps.train.algorithms import get_algorithm
    from steps.train.run import run_training

    run_stability(known_features, tmp_path / "report", tmp_path / "features", StabilitySettings(),
                  logging.getLogger("test"))
    algorithm = get_algorithm("xgboost")
    params = {**algorithm.defaults(), "num_round": 20, "early_stopping_rounds": 5, "nthread": 1}
    run_training(tmp_path / "features", tmp_path / "model", tmp_path / "output", algorithm, params,
                 logging.getLogger("test"))
    meta = json.loads((tmp_path / "model" / "model_meta.json").read_text())
    assert meta["features"] == list(INFORMATIVE)


def test_floor_keeps_a_minimum_and_bad_input_exits_2(known_features: Path, tmp_path: Path) -> None:
    report = run_stability(known_features, tmp_path / "r", None, StabilitySettings(floor=0.9, min_features=2),
                           logging.getLogger("test"))
    assert len(report["selected"]) == 2 and set(report["selected"]) <= set(INFORMATIVE)
    result = subprocess.run([sys.executable, "-m", "steps.stability", "--features", str(tmp_path / "nowhere"),
                             "--output", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr


# --- Studio-native outputs: Clarify's analysis.json and Model Monitor's baseline of the selected columns -----------

def _fold(k: int, mean_abs: dict[str, float], expected: float) -> FoldImportance:
    return FoldImportance(fold=k, share={}, rank={}, sign={}, sign_correlation={}, validation_agreement={},
                          best_iteration=0, rows={}, mean_abs_shap=mean_abs, expected_value=expected)


def test_clarify_analysis_averages_mean_abs_shap_and_base_values_over_folds() -> None:
    """Clarify's documented layout (SageMaker developer guide, "Run SageMaker Clarify Processing Jobs", "Get the
    Analysis Results": `explanations.kernel_shap.label0.global_shap_values` {feature: number} and
    `expected_value` number); the values are the means over folds, worked out by hand."""
    folds = [_fold(0, {"a": 0.2, "b": 0.1}, 0.1), _fold(1, {"a": 0.4, "b": 0.3}, 0.3)]
    analysis = clarify_analysis(folds, ["a", "b"])
    assert analysis == {"explanations": {"kernel_shap": {"label0": {
        "global_shap_values": {"a": pytest.approx(0.3), "b": pytest.approx(0.2)},
        "expected_value": pytest.approx(0.2)}}}}


def test_stability_writes_clarify_shap_values_studio_can_read_and_the_selected_columns_baseline(
        known_features: Path, tmp_path: Path) -> None:
    """analysis.json is read back with the SageMaker SDK's own parser for a package's Explainability.Report
    (sagemaker.model_card: EvaluationMetricTypeEnum.CLARIFY_EXPLAINABILITY, ClarifyExplainabilityParser); the
    baseline covers the selected columns over the training rows, counted here from folds.json."""
    from sagemaker.model_card import EvaluationJob, EvaluationMetricTypeEnum

    report = run_stability(known_features, tmp_path / "report", None, StabilitySettings(), logging.getLogger("test"),
                           baseline_output=tmp_path / "baseline")
    analysis_file = tmp_path / "report" / ANALYSIS_FILE
    job = EvaluationJob(name="Explainability report")
    job.add_metric_group_from_json(str(analysis_file), metric_type=EvaluationMetricTypeEnum.CLARIFY_EXPLAINABILITY)
    (group,) = job.metric_groups
    assert group.name == "explanations - global_shap_values, label=label0"
    values = {m.name: m.value for m in group.metric_data}
    assert list(values) == [*INFORMATIVE, *NOISE]  # every explained feature, in table order
    assert min(values[c] for c in INFORMATIVE) > 3 * max(values[c] for c in NOISE)
    # the strongest drawn weight has the largest mean |SHAP|; shares are these values normalised per fold
    assert max(values, key=values.get) == "signal_up"
    shares = {c: report["features"][c]["mean_share"] for c in values}
    assert max(shares, key=shares.get) == "signal_up"
    # labels drawn with no intercept: the base value (log-odds) is near logit(0.5) = 0
    expected = json.loads(analysis_file.read_text())["explanations"]["kernel_shap"]["label0"]["expected_value"]
    assert abs(expected) < 0.3

    statistics = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
    frame = pd.read_parquet(known_features / "features.parquet")
    folds = json.loads((known_features / "folds.json").read_text())
    holdout = pd.Timestamp(folds["holdout_start"])
    embargo = pd.Timedelta(seconds=folds["embargo_seconds"])
    train = frame[(frame["ts"] < holdout) & (frame["label_end"] + embargo < holdout)]
    assert statistics["dataset"]["item_count"] == len(train)
    assert [f["name"] for f in statistics["features"]] == report["selected"]
    for feature in statistics["features"]:
        column = train[feature["name"]]
        numbers = feature["numerical_statistics"]
        assert numbers["mean"] == pytest.approx(column.mean())
        assert numbers["std_dev"] == pytest.approx(column.std(ddof=0))
        assert (numbers["min"], numbers["max"]) == (column.min(), column.max())
    assert (tmp_path / "baseline" / "constraints.json").is_file()


# --- RFE with walk-forward CV (issue 19, item 4) -------------------------------------------------------------------

def test_rfe_splits_are_the_purged_walk_forward_folds_never_shuffled(known_features: Path) -> None:
    from steps.stability.rfe import RfeSettings, fold_splits

    table = load_feature_table(known_features)
    rows, splits = fold_splits(table, RfeSettings(enabled=True, max_rows_per_fold=500))
    frame = table.frame.iloc[rows].reset_index(drop=True)
    assert len(splits) == len(table.folds.folds)
    for (train, valid), fold in zip(splits, table.folds.folds, strict=True):
        assert (frame["label_end"].iloc[train] + table.folds.embargo < fold.validation_start).all()
        assert frame["ts"].iloc[train].max() < frame["ts"].iloc[valid].min()
    assert (frame["ts"] < table.folds.holdout_start).all()  # the holdout is in no split


def test_rfe_drops_planted_noise_and_keeps_the_informative_features(known_features: Path) -> None:
    from steps.stability.rfe import RfeSettings, rfe_select

    table = load_feature_table(known_features)
    result = rfe_select(table, [*INFORMATIVE, *NOISE], RfeSettings(enabled=True, step=0.125, min_features=1,
                                                                    max_rows_per_fold=800, n_estimators=30,
                                                                    threads=1))
    assert set(INFORMATIVE) <= set(result["selected"])
    assert len(set(NOISE) & set(result["selected"])) <= 1
    assert max(result["ranking"][c] for c in INFORMATIVE) == 1
    counts = result["cv_auc_by_feature_count"]
    assert counts[3]["mean_auc"] > counts[1]["mean_auc"] + 0.05  # the three signals together beat any one


def test_with_rfe_on_the_report_says_which_rule_dropped_each_feature(known_features: Path, tmp_path: Path) -> None:
    from steps.stability.rfe import RfeSettings

    # SHAP rules made permissive, so whatever goes is RFE's doing and says so.
    lenient = StabilitySettings(floor=0.0, max_rank_spread=1.0, min_sign_correlation=0.99, min_validation_z=-1e9,
                                min_features=1)
    report = run_stability(known_features, tmp_path / "report", None, lenient, logging.getLogger("test"),
                           rfe=RfeSettings(enabled=True, step=0.125, min_features=1, max_rows_per_fold=800,
                                           n_estimators=30, threads=1))
    assert set(INFORMATIVE) <= set(report["selected"]) and report["rfe"]["folds"] == 3
    assert report["dropped"] and set(report["dropped"]) <= set(NOISE)
    for reasons in report["dropped"].values():
        assert [r.split(":")[0] for r in reasons] == ["RFE"]
    written = json.loads((tmp_path / "report" / "stability_report.json").read_text())
    assert written["rfe"]["selected"] == report["rfe"]["selected"]


def test_a_bad_rfe_step_is_a_usage_error_on_one_line(known_features: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "steps.stability", "--features", str(known_features), "--output",
                           str(tmp_path / "out"), "--rfe-enabled", "true", "--rfe-step", "1.5"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: command line: column 'rfe.step': Input should be less than 1 (got 1.5); fix: pass a valid --rfe-step"]
    assert not (tmp_path / "out").exists()
