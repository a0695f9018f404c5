"""steps.train as SageMaker runs it (a subprocess with SM_* env), and steps.evaluate's report."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from steps.common.folds import load_folds
from steps.evaluate.run import run_evaluation
from steps.train.algorithms import get_algorithm
from steps.train.hyperparameters import resolve, split_argv

ROOT = Path(__file__).resolve().parents[2]


def _train(features_dir: Path, tmp_path: Path, *args: str, config: dict | None = None):
    env = {**os.environ, "SM_CHANNEL_TRAIN": str(features_dir), "SM_MODEL_DIR": str(tmp_path / "model"),
           "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"), "SM_INPUT_CONFIG_DIR": str(tmp_path / "config")}
    if config is not None:
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / "hyperparameters.json").write_text(json.dumps(config))
    return subprocess.run([sys.executable, "-m", "steps.train", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env)


def test_train_subprocess_prints_parseable_metrics_and_writes_model(features_dir: Path, tmp_path: Path) -> None:
    result = _train(features_dir, tmp_path, "--algorithm", "xgboost", "--num_round", "40",
                    "--early_stopping_rounds", "10", "--max_depth", "3", "--nthread", "1")
    assert result.returncode == 0, result.stderr
    match = re.search(r"^validation:auc=([0-9.]+)$", result.stdout, re.MULTILINE)
    assert match and 0.0 <= float(match.group(1)) <= 1.0
    assert re.search(r"^train:auc=([0-9.]+)$", result.stdout, re.MULTILINE)
    assert result.stdout.count("validation:auc=") == 1
    model = tmp_path / "model"
    assert {"model.json", "model_meta.json", "oof_predictions.parquet"} <= {p.name for p in model.iterdir()}
    meta = json.loads((model / "model_meta.json").read_text())
    assert meta["algorithm"] == "xgboost" and meta["hyperparameters"]["max_depth"] == 3
    assert len(meta["folds"]) == 3 and all(f["best_iteration"] >= 1 for f in meta["folds"])
    assert not {"ticker", "ts", "sector", "label", "forward_return", "label_end"} & set(meta["features"])
    oof = pd.read_parquet(model / "oof_predictions.parquet")
    assert list(oof.columns) == ["ticker", "ts", "fold", "label", "prediction", "model"]
    holdout_start = load_folds(features_dir / "folds.json").holdout_start
    assert (oof["ts"] < holdout_start).all()
    assert (tmp_path / "output" / "metrics.json").exists()


def test_hyperparameters_json_is_the_fallback(features_dir: Path, tmp_path: Path) -> None:
    config = {"num_round": "20", "early_stopping_rounds": "5", "eta": "0.3", "_tuning_objective_metric":
              "validation:auc", "nthread": "1"}
    result = _train(features_dir, tmp_path, config=config)
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "model" / "model_meta.json").read_text())
    assert meta["hyperparameters"]["eta"] == 0.3


def test_unknown_hyperparameter_lists_allowed_names(features_dir: Path, tmp_path: Path) -> None:
    result = _train(features_dir, tmp_path, "--algorithm", "xgboost", "--max_dept", "3")
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "max_dept" in line and "max_depth" in line and "Traceback" not in result.stderr
    assert not (tmp_path / "model").exists()


def test_hyperparameter_parsing() -> None:
    xgb = get_algorithm("xgboost")
    params = resolve(xgb, split_argv(["--max_depth", "5", "--eta=0.05", "--sagemaker_program", "x"]), "argv")
    assert params["max_depth"] == 5 and params["eta"] == 0.05
    with pytest.raises(Exception, match="int"):
        resolve(xgb, {"max_depth": "4.5"}, "argv")


def test_evaluate_reads_model_tarball_and_writes_report(model_dir: Path, features_dir: Path, tmp_path: Path) -> None:
    packed = tmp_path / "packed"
    packed.mkdir()
    with tarfile.open(packed / "model.tar.gz", "w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    out = tmp_path / "evaluation"
    result = subprocess.run([sys.executable, "-m", "steps.evaluate", "--model", str(packed), "--features",
                             str(features_dir), "--output", str(out), "--algorithm", "xgboost", "--bootstrap", "50"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "evaluation.json").read_text())
    metrics = report["binary_classification_metrics"]
    assert set(metrics) == {"auc", "accuracy", "log_loss", "brier", "information_coefficient",
                            "rank_information_coefficient", "long_short_net_sharpe"}
    assert all(set(m) == {"value", "standard_deviation"} for m in metrics.values())
    assert 0.0 <= metrics["auc"]["value"] <= 1.0
    assert report["algorithm"] == "xgboost"
    assert {"rows", "start", "end", "positive_rate"} <= set(report["holdout"])
    predictions = pd.read_parquet(out / "holdout_predictions.parquet")
    assert len(predictions) == report["holdout"]["rows"]
    assert (predictions["ts"] >= load_folds(features_dir / "folds.json").holdout_start).all()


def test_evaluate_rejects_wrong_algorithm(model_dir: Path, features_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="algorithm"):
        run_evaluation(model_dir, features_dir, tmp_path / "out", "catboost", logging.getLogger("test"))
    assert not (tmp_path / "out").exists()


def test_suspicion_flag_and_latest_period_against_the_gate(model_dir: Path, features_dir: Path, tmp_path: Path) -> None:
    """A plausible AUC is not flagged; a threshold below it is (and logged); a gate above every week flags decay."""
    from steps.evaluate.run import run_evaluation

    logger = logging.getLogger("test-evaluate")
    calm = run_evaluation(model_dir, features_dir, tmp_path / "calm", "xgboost", logger, bootstrap=20,
                          suspicious_auc=0.70, min_auc=0.0)
    auc = calm["binary_classification_metrics"]["auc"]["value"]
    assert auc < 0.70 and calm["suspicion"] == {"flag": False, "threshold": 0.70, "reason": ""}
    assert calm["degradation"]["below_gate"] is False
    weeks = calm["by_period"]["auc"]
    assert calm["degradation"]["latest_period"] == max(
        w for w, v in weeks.items() if v["auc"] is not None and v["rows"] >= 100
    )
    assert set(calm["by_volatility_regime"]["auc"]) <= {"low", "mid", "high", "unknown"}
    assert sum(v["rows"] for v in calm["by_quarter"].values()) == calm["holdout"]["rows"]

    alarmed = run_evaluation(model_dir, features_dir, tmp_path / "alarmed", "xgboost", logger, bootstrap=20,
                             suspicious_auc=auc - 0.01, min_auc=1.0)
    assert alarmed["suspicion"]["flag"] is True and f"{auc:.4f}" in alarmed["suspicion"]["reason"]
    assert alarmed["degradation"]["below_gate"] is True
    written = json.loads((tmp_path / "alarmed" / "evaluation.json").read_text())
    assert written["suspicion"]["flag"] is True


def test_an_infinite_feature_value_is_one_line_naming_the_column_not_a_crash(features_dir: Path, tmp_path: Path):
    import shutil

    import numpy as np

    from steps.common.io import describe_files

    poisoned = tmp_path / "features"
    shutil.copytree(features_dir, poisoned)
    table = pd.read_parquet(poisoned / "features.parquet")
    column = json.loads((poisoned / "manifest.json").read_text())["feature_columns"][0]
    table.loc[table.index[3], column] = np.inf
    table.to_parquet(poisoned / "features.parquet")
    manifest = json.loads((poisoned / "manifest.json").read_text())  # as a features step that wrote inf would
    manifest["files"] = describe_files(poisoned, ["features.parquet", "folds.json"])
    (poisoned / "manifest.json").write_text(json.dumps(manifest))

    done = _train(poisoned, tmp_path, "--algorithm", "xgboost")

    assert done.returncode == 2, done.stderr[-500:]
    last = done.stderr.strip().splitlines()[-1]
    assert f"column '{column}'" in last and "holds 1 infinite value(s)" in last
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").iterdir())
