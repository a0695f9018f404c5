"""Every tree model writes its own feature importance into model_meta.json at training time (issue 31: the
report shows it when SHAP stability did not run); the GRU has none and says so with null."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from steps.features.table import load_feature_table
from steps.train.algorithms import get_algorithm
from steps.train.run import cross_validate_and_refit

FAST = {
    "xgboost": {"num_round": 30, "early_stopping_rounds": 5, "max_depth": 3, "nthread": 1},
    "lightgbm": {"num_round": 30, "early_stopping_rounds": 5, "num_leaves": 8, "nthread": 1},
    "catboost": {"iterations": 30, "early_stopping_rounds": 5, "depth": 3, "nthread": 1},
}


def _planted(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Column 0 decides the label (up to noise); column 1 is pure noise; column 2 is constant (never split on)."""
    rng = np.random.default_rng(seed)
    signal, noise = rng.normal(size=2000), rng.normal(size=2000)
    label = (signal + 0.3 * rng.normal(size=2000) > 0).astype("float64")
    return np.column_stack([signal, noise, np.ones(2000)]), label


@pytest.mark.parametrize("name", sorted(FAST))
def test_tree_models_rank_the_planted_feature_first_and_name_every_feature(name: str) -> None:
    algorithm = get_algorithm(name)
    model = algorithm({**algorithm.defaults(), **FAST[name]})
    x, y = _planted()
    names = ["signal", "noise", "constant"]
    model.fit(x[:1500], y[:1500], x[1500:], y[1500:], names)
    importance = model.feature_importance()
    assert importance is not None and list(importance) == names
    assert importance["signal"] > 5 * importance["noise"] >= 0
    assert importance["constant"] == 0.0
    assert algorithm.importance_type


def test_xgboost_importance_is_the_total_gain_of_its_trees() -> None:
    """The figure equals the sum of the split gains over the dumped trees (computed here from the dump)."""
    algorithm = get_algorithm("xgboost")
    model = algorithm({**algorithm.defaults(), **FAST["xgboost"]})
    x, y = _planted(7)
    model.fit(x[:1500], y[:1500], x[1500:], y[1500:], ["signal", "noise", "constant"])
    trees = model.booster.trees_to_dataframe()
    splits = trees[trees["Feature"] != "Leaf"]
    expected = splits.groupby("Feature")["Gain"].sum().to_dict()
    importance = model.feature_importance()
    for feature, gain in expected.items():
        assert importance[feature] == pytest.approx(gain, rel=1e-4)


def test_gru_has_no_importance() -> None:
    assert get_algorithm("gru")({**get_algorithm("gru").defaults()}).feature_importance() is None


def test_model_meta_carries_the_refit_models_importance(features_dir: Path) -> None:
    table = load_feature_table(features_dir)
    params = {**get_algorithm("xgboost").defaults(), **FAST["xgboost"]}
    result, model, _, _ = cross_validate_and_refit(table, get_algorithm("xgboost"), params, logging.getLogger("t"))
    meta = result.meta
    assert meta["feature_importance_type"] == "total_gain"
    assert set(meta["feature_importance"]) == set(table.feature_columns)
    assert meta["feature_importance"] == model.feature_importance()
    assert sum(meta["feature_importance"].values()) > 0
