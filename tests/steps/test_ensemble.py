"""steps.ensemble and steps.check_artifact on tiny real models: a strong xgboost and a weak one on noise."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steps.common.errors import StepInputError
from steps.common.folds import load_folds
from steps.common.io import describe_files
from steps.ensemble.run import run_ensemble
from steps.ensemble.stacking import beats_best_single
from steps.evaluate.run import run_evaluation
from steps.serve.model import load_artifact

ROOT = Path(__file__).resolve().parents[2]
LOG = logging.getLogger("test")


def _evaluate(model: Path, features: Path, out: Path) -> Path:
    run_evaluation(model, features, out, None, LOG, bootstrap=20)
    return out


@pytest.fixture(scope="module")
def weak_features(tmp_path_factory: pytest.TempPathFactory, features_dir: Path) -> Path:
    """The same rows, folds and labels, with one feature of pure noise: a model on it is weak by construction."""
    out = tmp_path_factory.mktemp("weak_features")
    for name in ("folds.json", "manifest.json"):
        shutil.copy(features_dir / name, out / name)
    frame = pd.read_parquet(features_dir / "features.parquet")
    frame["noise"] = np.random.default_rng(0).normal(size=len(frame))
    frame.to_parquet(out / "features.parquet", index=False)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["feature_columns"] = ["noise"]
    manifest["files"] = describe_files(out, ["features.parquet", "folds.json"])  # what the reader checks
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.fixture(scope="module")
def weak_model(tmp_path_factory: pytest.TempPathFactory, weak_features: Path) -> Path:
    from steps.train.algorithms import get_algorithm
    from steps.train.run import run_training

    algorithm = get_algorithm("xgboost")
    params = {**algorithm.defaults(), "num_round": 30, "early_stopping_rounds": 5, "nthread": 1}
    out = tmp_path_factory.mktemp("weak_model")
    run_training(weak_features, out, tmp_path_factory.mktemp("weak_output"), algorithm, params, LOG)
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, weak_model: Path, features_dir: Path,
           weak_features: Path) -> Path:
    """models/<name>/model.tar.gz and evaluations/<name>/evaluation.json, as the pipeline stages them."""
    root = tmp_path_factory.mktemp("ensemble_inputs")
    for name, model, features in (("xgboost", model_dir, features_dir), ("weak", weak_model, weak_features)):
        (root / "models" / name).mkdir(parents=True)
        with tarfile.open(root / "models" / name / "model.tar.gz", "w:gz") as tar:
            for path in model.iterdir():
                tar.add(path, arcname=path.name)
        _evaluate(model, features, root / "evaluations" / name)
    return root


def _only(inputs: Path, tmp_path: Path, names: list[str]) -> tuple[Path, Path]:
    for kind in ("models", "evaluations"):
        for name in names:
            shutil.copytree(inputs / kind / name, tmp_path / kind / name)
    return tmp_path / "models", tmp_path / "evaluations"


def _auc(path: Path) -> float:
    return json.loads(path.read_text())["binary_classification_metrics"]["auc"]["value"]


def test_one_algorithm_ensemble_writes_the_contract_and_reproduces_in_a_fresh_process(
        inputs: Path, features_dir: Path, tmp_path: Path) -> None:
    models, evaluations = _only(inputs, tmp_path, ["xgboost"])
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "steps.ensemble", "--models", str(models), "--evaluations",
                             str(evaluations), "--features", str(features_dir), "--output", str(out),
                             "--bootstrap", "20"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert {"model.tar.gz", "evaluation.json", "holdout_predictions.parquet", "metrics.json",
            "smoke_rows.parquet"} <= {p.name for p in out.iterdir()}
    report = json.loads((out / "evaluation.json").read_text())
    ensemble = report["ensemble"]
    assert ensemble["algorithms"] == ["xgboost"] and ensemble["pairwise_correlation"] == {}
    # One base model: the meta-learner is a monotone recalibration, so the AUC is the model's own.
    assert report["binary_classification_metrics"]["auc"]["value"] == pytest.approx(
        _auc(evaluations / "xgboost" / "evaluation.json"), abs=1e-12)
    assert ensemble["beats_best_single"] is True and ensemble["auc_by_period"]
    # ... and so are its rank IC and the quantile backtest, which see only the order of the scores (issue 19).
    base = json.loads((evaluations / "xgboost" / "evaluation.json").read_text())
    assert report["signal_quality"]["holdout"]["rank_ic"]["mean"] == pytest.approx(
        base["signal_quality"]["holdout"]["rank_ic"]["mean"], abs=1e-12)
    assert report["backtest"]["long_short"] == base["backtest"]["long_short"]
    # Per fold, the meta-learner is fitted on earlier folds only: the first fold has no ensemble score.
    assert [f["fold"] for f in report["signal_quality"]["by_fold"]] == [1, 2]
    with tarfile.open(out / "model.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"ensemble_meta.json", "meta_learner.json", "base/xgboost/model.json",
            "base/xgboost/model_meta.json"} <= names
    assert "base/xgboost/oof_predictions.parquet" not in names

    check = subprocess.run([sys.executable, "-m", "steps.check_artifact", "--model", str(out), "--features",
                            str(features_dir), "--evaluation", str(out), "--output", str(tmp_path / "check")],
                           capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0, check.stderr
    check_report = json.loads((tmp_path / "check" / "check_report.json").read_text())
    assert check_report["passed"] and check_report["max_abs_diff"] == 0.0
    assert check_report["rows"] == report["holdout"]["rows"]


def test_check_artifact_fails_when_the_artifact_does_not_reproduce_the_evaluation(
        inputs: Path, features_dir: Path, tmp_path: Path, relist) -> None:
    models, evaluations = _only(inputs, tmp_path, ["xgboost"])
    out = tmp_path / "out"
    run_ensemble(models, evaluations, features_dir, out, LOG, bootstrap=5)
    predictions = pd.read_parquet(out / "holdout_predictions.parquet")
    predictions.loc[3, "prediction"] += 1e-9
    predictions.to_parquet(out / "holdout_predictions.parquet", index=False)
    relist(out)  # as an ensemble step that computed these predictions would have listed them
    check = subprocess.run([sys.executable, "-m", "steps.check_artifact", "--model", str(out), "--features",
                            str(features_dir), "--evaluation", str(out), "--output", str(tmp_path / "check")],
                           capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 1
    assert "1 of" in check.stderr and len(check.stderr.strip().splitlines()[-1]) < 300
    assert json.loads((tmp_path / "check" / "check_report.json").read_text())["passed"] is False


def test_meta_learner_never_trains_on_holdout_rows(inputs: Path, weak_features: Path, tmp_path: Path,
                                                   relist) -> None:
    features_dir = weak_features  # every row, label and fold of the tiny table, plus the weak model's feature
    models, evaluations = _only(inputs, tmp_path, ["xgboost", "weak"])
    first = run_ensemble(models, evaluations, features_dir, tmp_path / "a", LOG, bootstrap=5)
    learner = first["ensemble"]["meta_learner"]
    holdout_start = load_folds(features_dir / "folds.json").holdout_start
    with tarfile.open(tmp_path / "a" / "model.tar.gz") as tar:
        trained_on = json.loads(tar.extractfile("ensemble_meta.json").read())["trained_on"]
    assert pd.Timestamp(trained_on["oof_end"]) < holdout_start

    # Flip every holdout label: a meta-learner that saw any holdout row would change; this one must not.
    flipped = tmp_path / "flipped_features"
    shutil.copytree(features_dir, flipped)
    frame = pd.read_parquet(flipped / "features.parquet")
    in_holdout = frame["ts"] >= holdout_start
    frame.loc[in_holdout, "label"] = 1 - frame.loc[in_holdout, "label"]
    frame.to_parquet(flipped / "features.parquet", index=False)
    manifest = json.loads((flipped / "manifest.json").read_text())
    manifest["files"] = describe_files(flipped, ["features.parquet", "folds.json"])  # what the reader checks
    (flipped / "manifest.json").write_text(json.dumps(manifest))
    second = run_ensemble(models, evaluations, flipped, tmp_path / "b", LOG, bootstrap=5)
    assert second["ensemble"]["meta_learner"]["coefficients"] == learner["coefficients"]
    assert second["ensemble"]["meta_learner"]["intercept"] == learner["intercept"]
    assert second["binary_classification_metrics"]["auc"]["value"] == pytest.approx(
        1 - first["binary_classification_metrics"]["auc"]["value"])

    # Out-of-fold rows that reach into the holdout are refused, not silently used or dropped.
    leaky = tmp_path / "leaky"
    shutil.copytree(models, leaky)
    archive = leaky / "weak" / "model.tar.gz"
    extracted = tmp_path / "leaky_weak"
    with tarfile.open(archive) as tar:
        tar.extractall(extracted, filter="data")
    archive.unlink()
    oof = pd.read_parquet(extracted / "oof_predictions.parquet")
    oof.loc[0, "ts"] = holdout_start + pd.Timedelta(minutes=1)
    oof.to_parquet(extracted / "oof_predictions.parquet", index=False)
    relist(extracted)  # as a training job that wrote these rows would have listed them
    shutil.copytree(extracted, leaky / "weak", dirs_exist_ok=True)
    leaky_evaluations = tmp_path / "leaky_evaluations"  # this very model evaluated, as the pipeline would
    shutil.copytree(evaluations / "xgboost", leaky_evaluations / "xgboost")
    _evaluate(leaky / "weak", features_dir, leaky_evaluations / "weak")
    with pytest.raises(StepInputError, match="lie in the holdout"):
        run_ensemble(leaky, leaky_evaluations, features_dir, tmp_path / "c", LOG, bootstrap=5)


def test_with_one_weak_base_model_the_beats_best_single_clause_goes_both_ways(
        inputs: Path, weak_features: Path, tmp_path: Path) -> None:
    features_dir = weak_features
    models, evaluations = _only(inputs, tmp_path, ["xgboost", "weak"])
    strong_auc = _auc(evaluations / "xgboost" / "evaluation.json")
    weak_auc = _auc(evaluations / "weak" / "evaluation.json")
    assert weak_auc < strong_auc - 0.02  # the weak model really is weak

    tolerant = run_ensemble(models, evaluations, features_dir, tmp_path / "tolerant", LOG, margin=0.02, bootstrap=5)
    ensemble = tolerant["ensemble"]
    auc = tolerant["binary_classification_metrics"]["auc"]["value"]
    assert ensemble["best_single_algorithm"] == "xgboost" and ensemble["best_single_auc"] == strong_auc
    assert set(ensemble["pairwise_correlation"]) == {"weak/xgboost"}  # sorted folder names
    # The meta-learner leans on the strong model: the ensemble is close to it, far above the weak one.
    coefficients = dict(zip(ensemble["meta_learner"]["inputs"], ensemble["meta_learner"]["coefficients"], strict=True))
    assert abs(coefficients["xgboost"]) > abs(coefficients["weak"])
    assert abs(auc - strong_auc) < 0.02 and auc > weak_auc
    assert ensemble["beats_best_single"] is True

    # The same ensemble must now lead the best single model by 0.05: it does not, and says so.
    demanding = run_ensemble(models, evaluations, features_dir, tmp_path / "demanding", LOG, margin=-0.05,
                             bootstrap=5)
    assert demanding["binary_classification_metrics"]["auc"]["value"] == auc
    assert demanding["ensemble"]["beats_best_single"] is False
    assert beats_best_single(0.62, 0.63, 0.01) and not beats_best_single(0.619, 0.63, 0.01)


def test_serving_code_loads_a_single_model_folder_and_the_ensemble_alike(
        inputs: Path, model_dir: Path, features_dir: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(features_dir / "features.parquet").head(50)
    with load_artifact(model_dir) as single, load_artifact(inputs / "models" / "xgboost") as packed:
        assert single.kind == "single" and packed.kind == "single"
        np.testing.assert_array_equal(single.predict(frame), packed.predict(frame))
        assert single.features == json.loads((model_dir / "model_meta.json").read_text())["features"]
