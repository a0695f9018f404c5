"""Tiny generated markets shared by the step tests (4 tickers x 30 days, well under a second to build)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.sample_data.generator import GeneratedMarket, generate_market
from steps.sample_data.writer import write_market

UNIVERSE = pd.DataFrame({
    "ticker": ["AAPL", "MSFT", "JPM", "XOM"],
    "sector": ["Information Technology", "Information Technology", "Financials", "Energy"],
})
TINY_SETTINGS = FeatureSettings(n_folds=3, train_days=10, validation_days=4, holdout_days=5, embargo_bars=30)


@pytest.fixture(scope="session")
def tiny_settings() -> FeatureSettings:
    return TINY_SETTINGS


@pytest.fixture(scope="session")
def market() -> GeneratedMarket:
    return generate_market(UNIVERSE, days=30, seed=3)


@pytest.fixture(scope="session")
def universe_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("universe") / "universe.csv"
    UNIVERSE.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory, market: GeneratedMarket) -> Path:
    root = tmp_path_factory.mktemp("sample")
    write_market(market, root)
    return root


@pytest.fixture(scope="session")
def features_dir(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, universe_csv: Path) -> Path:
    out = tmp_path_factory.mktemp("features")
    run_features(sample_dir / "bars", sample_dir / "tweets", out, TINY_SETTINGS, universe=universe_csv,
                 logger=logging.getLogger("test"))
    return out


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, features_dir: Path) -> Path:
    from steps.train.algorithms import get_algorithm
    from steps.train.run import run_training

    algorithm = get_algorithm("xgboost")
    params = {**algorithm.defaults(), "num_round": 60, "early_stopping_rounds": 10, "nthread": 1}
    out = tmp_path_factory.mktemp("model")
    run_training(features_dir, out, tmp_path_factory.mktemp("output"), algorithm, params, logging.getLogger("test"))
    return out
