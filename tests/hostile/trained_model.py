"""A small real model for the hostile-input tests to serve and attack (shared by conftest.py's fixture and
test_serving_hostile.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd


def build_model_folder(root: Path, num_round: int) -> Path:
    """A real xgboost model folder under `root`, trained on a tiny generated market; its features under
    `root / "features"`."""
    from steps.features.run import run_features
    from steps.features.settings import FeatureSettings
    from steps.sample_data.generator import generate_market
    from steps.sample_data.writer import write_market
    from steps.train.algorithms import get_algorithm
    from steps.train.run import run_training

    universe = pd.DataFrame({"ticker": ["AAPL", "JPM"], "sector": ["IT", "Fin"]})
    universe.to_csv(root / "universe.csv", index=False)
    write_market(generate_market(universe, days=25, seed=5), root / "sample")
    log = logging.getLogger("test")
    run_features(root / "sample" / "bars", root / "sample" / "tweets", root / "features",
                 FeatureSettings(n_folds=2, train_days=8, validation_days=4, holdout_days=5, embargo_bars=30),
                 universe=root / "universe.csv", logger=log)
    algorithm = get_algorithm("xgboost")
    run_training(root / "features", root / "model", root / "out", algorithm,
                 {**algorithm.defaults(), "num_round": num_round, "early_stopping_rounds": 5, "nthread": 1}, log)
    return root / "model"
