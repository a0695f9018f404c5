"""The model zoo behind one walk-forward loop: every algorithm trains, reports, saves, loads and predicts the
same; out-of-fold predictions are out of fold; per-stock / per-sector models route by ticker."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from steps.common.folds import fold_masks, holdout_mask
from steps.evaluate.run import run_evaluation
from steps.features.table import load_feature_table
from steps.train.algorithms import Algorithm, FitResult, HyperParameter, get_algorithm, load_model_dir
from steps.train.algorithms.gru_model import sequence_indices
from steps.train.run import Grouping, cross_validate_and_refit, run_training
from steps.train.settings import ALGORITHMS

ROOT = Path(__file__).resolve().parents[2]
LOG = logging.getLogger("test")
# Small budgets: the point is the contract, not the fit (a family not listed runs on its declared defaults).
FAST = {
    "xgboost": {"num_round": 40, "early_stopping_rounds": 5, "max_depth": 3, "nthread": 1},
    "catboost": {"iterations": 40, "early_stopping_rounds": 5, "depth": 4, "nthread": 1},
    "lightgbm": {"num_round": 40, "early_stopping_rounds": 5, "num_leaves": 8, "nthread": 1},
    "gru": {"max_epochs": 3, "patience": 1, "hidden_size": 8, "sequence_length": 4, "nthread": 1, "device": "cpu"},
}


def _params(name: str) -> dict[str, Any]:
    return {**get_algorithm(name).defaults(), **FAST.get(name, {})}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_trains_through_the_container_contract(name, features_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SM_CHANNEL_TRAIN": str(features_dir), "SM_MODEL_DIR": str(tmp_path / "model"),
           "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"), "SM_INPUT_CONFIG_DIR": str(tmp_path / "config")}
    args = [arg for key, value in FAST.get(name, {}).items() for arg in (f"--{key}", str(value))]
    result = subprocess.run([sys.executable, "-m", "steps.train", "--algorithm", name, *args], capture_output=True,
                            text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    match = re.search(r"^validation:auc=([0-9.]+)$", result.stdout, re.MULTILINE)
    assert match and 0.0 <= float(match.group(1)) <= 1.0
    meta = json.loads((tmp_path / "model" / "model_meta.json").read_text())
    assert meta["algorithm"] == name
    assert len(meta["best_iterations"]) == 3 and all(i >= 1 for i in meta["best_iterations"])
    assert meta["refit_iterations"] == max(1, round(float(np.mean(meta["best_iterations"]))))
    assert set(get_algorithm(name).files) <= set(meta["files"])
    # one loader for every algorithm; predict(frame) selects the features by name, in any column order
    model = load_model_dir(tmp_path / "model")
    frame = load_feature_table(features_dir).frame
    shuffled = frame[list(reversed(frame.columns))]
    scores = model.predict(shuffled)
    assert scores.shape == (len(frame),) and np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_allclose(scores, model.predict(frame))


class SpyAlgorithm(Algorithm):
    """Records which rows (by a row-id feature) each fitted model saw and which it predicted."""

    name = "spy"
    hyperparameters = (HyperParameter("unused", int, 0),)
    log: ClassVar[list[dict[str, Any]]] = []

    def fit(self, x_train, y_train, x_valid, y_valid, feature_names):
        self.seen = set(x_train[:, 0].astype(int))
        self.stopped_on = set(x_valid[:, 0].astype(int))
        return FitResult(best_iteration=3)

    def refit(self, x, y, iterations, feature_names):
        self.seen = set(x[:, 0].astype(int))
        self.stopped_on = set()

    def predict(self, x):
        ids = x[:, 0].astype(int)
        SpyAlgorithm.log.append({"seen": self.seen, "predicted": set(ids)})
        return (ids % 7) / 7.0

    def save(self, model_dir):
        return []

    @classmethod
    def load(cls, model_dir, meta):
        return cls({})


@pytest.mark.parametrize("mode", ["global", "stock"])
def test_out_of_fold_predictions_come_from_models_that_never_saw_the_row(mode, features_dir: Path) -> None:
    table = load_feature_table(features_dir)
    table.frame["row_id"] = np.arange(len(table.frame), dtype="float64")
    table.feature_columns = ["row_id", *table.feature_columns]
    SpyAlgorithm.log = []
    _, _, oof, _ = cross_validate_and_refit(table, SpyAlgorithm, {"unused": 0}, LOG, Grouping(mode, 50))
    ids = pd.merge(oof, table.frame.assign(row_id=table.frame["row_id"].astype(int))[["ticker", "ts", "row_id"]],
                   on=["ticker", "ts"])
    assert len(ids) == len(oof) and ids["row_id"].is_unique
    # every out-of-fold score was produced by a predict call on validation rows of a model that did not fit them
    validation_calls = [c for c in SpyAlgorithm.log if c["predicted"] and not c["predicted"] & c["seen"]]
    for row in ids["row_id"]:
        assert any(row in c["predicted"] for c in validation_calls)
    # and the rows are validation rows of their fold, never the holdout, never the fold's train rows
    masks = fold_masks(table.frame, table.folds)
    holdout = holdout_mask(table.frame, table.folds)
    for fold, part in ids.groupby("fold"):
        train, validation = masks[int(fold)]
        assert validation[part["row_id"]].all() and not train[part["row_id"]].any()
        assert not holdout[part["row_id"]].any()


@pytest.mark.parametrize("mode, key", [("stock", "ticker"), ("sector", "sector")])
def test_grouped_training_makes_one_model_per_group_and_reports_per_group_auc(mode, key, features_dir: Path,
                                                                              tmp_path: Path) -> None:
    algorithm = get_algorithm("lightgbm")
    frame = load_feature_table(features_dir).frame
    groups = sorted(frame[key].unique())
    run_training(features_dir, tmp_path / "model", tmp_path / "out", algorithm, _params("lightgbm"), LOG,
                 Grouping(mode, min_group_rows=50))
    meta = json.loads((tmp_path / "model" / "model_meta.json").read_text())
    assert meta["grouping"]["mode"] == mode and sorted(meta["grouping"]["groups"]) == groups
    for name, group in meta["grouping"]["groups"].items():
        assert (tmp_path / "model" / group["folder"] / "model.txt").is_file(), name
        assert group["folds"] and group["refit_iterations"] >= 1
    model = load_model_dir(tmp_path / "model")
    assert sorted(model.group_models) == groups
    # routing by ticker: a group's rows score with its own model, an unknown ticker with the global model
    one = frame[frame[key] == groups[0]].head(5)
    own = model.group_models[groups[0]].predict(algorithm.design_matrix(one, model.features, model.global_model.params))
    np.testing.assert_allclose(model.predict(one), own)
    stranger = one.assign(ticker="ZZZZ")
    np.testing.assert_allclose(model.predict(stranger), model.global_model.predict(
        algorithm.design_matrix(stranger, model.features, model.global_model.params)))
    report = run_evaluation(tmp_path / "model", features_dir, tmp_path / "evaluation", "lightgbm", LOG, bootstrap=5)
    assert report["by_group"]["mode"] == mode
    assert sorted(report["by_group"]["auc"]) == groups
    assert all(v["rows"] > 0 for v in report["by_group"]["auc"].values())
    assert sorted(report["by_ticker"]) == sorted(frame["ticker"].unique())


def test_small_groups_fall_back_to_the_global_model(features_dir: Path, tmp_path: Path) -> None:
    result, _, oof, group_models = cross_validate_and_refit(
        load_feature_table(features_dir), get_algorithm("lightgbm"), _params("lightgbm"), LOG,
        Grouping("stock", min_group_rows=10**6))
    assert group_models == {} and set(oof["model"]) == {"global"}
    assert sorted(result.meta["grouping"]["fallback_to_global"]) == sorted(oof["ticker"].unique())


def test_gru_sequences_hold_only_the_same_tickers_past_rows() -> None:
    frame = pd.DataFrame({"ticker": ["A", "B", "A", "B", "A"],
                          "ts": pd.to_datetime([1, 1, 2, 2, 3], unit="h", utc=True)})
    indices = sequence_indices(frame, 3)
    assert indices.tolist() == [[-1, -1, 0], [-1, -1, 1], [-1, 0, 2], [-1, 1, 3], [0, 2, 4]]


def test_gru_is_deterministic_on_cpu(features_dir: Path, tmp_path: Path) -> None:
    algorithm = get_algorithm("gru")
    runs = []
    for attempt in range(2):
        run_training(features_dir, tmp_path / f"m{attempt}", tmp_path / f"o{attempt}", algorithm, _params("gru"), LOG)
        runs.append(pd.read_parquet(tmp_path / f"m{attempt}" / "oof_predictions.parquet"))
    pd.testing.assert_frame_equal(runs[0], runs[1])
