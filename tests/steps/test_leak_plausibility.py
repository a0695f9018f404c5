"""Class 4 of issue 16 on real prices: a weak leak in the input data is caught by thresholds that depend on the data.

Real daily S&P 500 and NASDAQ Composite prices (1999-2018) shipped in the `arch` package (the `realdata` extra,
part of `dev`; without it these tests skip). The leak is planted in the *bars*, as a vendor's mis-stamped field
would be: each session's volume is scaled up before an up label session and down before a down one, in 66 % of
sessions (the rest the other way). The feature code is causal and the table is what the code makes, so the
code checks pass; only plausibility can see it. The thresholds are read from configs/pipeline.yaml's `daily`
profile, so these tests hold the shipped configuration to the acceptance.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import load_config
from steps.common.io import read_table
from steps.features.run import run_features
from steps.features.settings import FeatureSettings
from steps.import_prices.run import import_prices
from steps.leaks.asymmetry import AsymmetryThresholds
from steps.leaks.checks.target_leakage import LeakThresholds
from steps.leaks.run import run_leaks

pytest.importorskip("arch", reason="the real daily prices come from the arch package (pip install -e '.[realdata]')")

AGREEMENT = 0.66


def daily_contract(profile: str | None = "daily") -> tuple[FeatureSettings, LeakThresholds, AsymmetryThresholds]:
    """The settings and thresholds the pipeline passes LeakTests for a profile (pipelines/stages/checks.py)."""
    config = load_config(profile="daily")
    settings = config.feature_settings()
    p = load_config(profile=profile).plausibility
    return (settings, LeakThresholds(p.max_single_feature_auc, p.min_future_correlation,
                                     p.max_future_to_past_correlation),
            AsymmetryThresholds(p.min_future_correlation, p.min_asymmetry_z))


def plant_volume_leak(bars: pd.DataFrame, agreement: float, seed: int = 0) -> tuple[pd.DataFrame, float]:
    """Volume x1.3 before an up label session and /1.3 before a down one, in `agreement` of the sessions.

    The label of the row at t is the direction of close[t+2] / close[t+1] (the daily profile's 1-bar horizon);
    returns the bars and the share of labelled sessions whose volume move agrees with it, counted here.
    """
    bars = bars.sort_values(["ticker", "ts"]).reset_index(drop=True)
    close = bars.groupby("ticker", observed=True)["close"]
    label_up = (close.shift(-2) / close.shift(-1) - 1 > 0).to_numpy()
    agree = np.random.default_rng(seed).random(len(bars)) < agreement
    high = np.where(agree, label_up, ~label_up)
    bars["volume"] = bars["volume"] * np.where(high, 1.3, 1 / 1.3)
    labelled = close.shift(-2).notna().to_numpy()
    return bars, float((high == label_up)[labelled].mean())


def _write_bars(bars: pd.DataFrame, folder: Path) -> None:
    for ticker, rows in bars.groupby("ticker", observed=True):
        (folder / f"ticker={ticker}").mkdir(parents=True)
        rows.drop(columns="ticker").to_parquet(folder / f"ticker={ticker}" / "part-0.parquet", index=False)


@pytest.fixture(scope="module")
def real_prices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clean and leaky bars of the two indices, each with its features table (built with the configured settings)."""
    root = tmp_path_factory.mktemp("realdata")
    import_prices(["arch:sp500", "arch:nasdaq"], root / "clean", sector="Index")
    bars = read_table(root / "clean" / "bars")
    bars["ticker"] = bars["ticker"].astype(str)
    leaky, agreement = plant_volume_leak(bars, AGREEMENT)
    assert 0.64 < agreement < 0.68  # the "agrees with the next session's direction 66 % of the time"
    _write_bars(leaky, root / "leaky" / "bars")
    (root / "leaky" / "tweets").mkdir()
    settings, _, _ = daily_contract()
    for name in ("clean", "leaky"):
        run_features(root / name / "bars", root / name / "tweets", root / name / "features", settings,
                     universe=root / "clean" / "bars" / "_universe.csv", logger=logging.getLogger("test"))
    return {"root": root}


def _run(real_prices: dict[str, Path], name: str, profile: str | None = "daily") -> dict:
    root = real_prices["root"]
    settings, thresholds, asymmetry = daily_contract(profile)
    return run_leaks(root / name / "features", root / name / "bars", root / name / "tweets",
                     root / f"out-{name}-{profile}", cutoffs=3, seed=0, logger=logging.getLogger("test"),
                     contract=settings, thresholds=thresholds, asymmetry=asymmetry)


def _checks(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def test_real_daily_prices_pass_every_check_under_the_daily_thresholds(real_prices) -> None:
    report = _run(real_prices, "clean")
    assert report["passed"], report["summary"]
    development = report["past_future_asymmetry"]["segments"]["development"]
    # Honest daily features: every |rank corr| with the next session's return far under the 0.10 floor
    assert max(abs(s["future"]) for s in development.values()) < 0.05
    assert len(development) == 38 and min(s["rows"] for s in development.values()) > 9000


def test_a_weak_volume_leak_in_real_prices_fails_the_asymmetry_check_and_only_plausibility_checks(real_prices) -> None:
    report = _run(real_prices, "leaky")
    checks = _checks(report)
    asymmetry = checks["past_future_asymmetry"]
    assert not asymmetry["passed"]
    assert {"volume_z_5", "volume_z_10", "volume_z_20"} <= set(asymmetry["columns"])
    assert not any(c.startswith(("ret_", "rsi_", "macd", "bb_")) for c in asymmetry["columns"])
    development = report["past_future_asymmetry"]["segments"]["development"]["volume_z_10"]
    assert development["future"] > 0.15 and development["z"] > 5  # far from noise, far under the old 0.3
    assert "past_future_asymmetry (" in report["summary"] and "volume_z_10" in report["summary"]
    # The leak is in the data, not the code or the table: the code checks and the contract pass.
    for name in ("settings_contract", "truncation_invariance", "table_matches_code", "timestamp_alignment", "folds"):
        assert checks[name]["passed"], checks[name]["details"]


def test_the_same_leak_passes_the_one_size_thresholds_of_the_intraday_horizon(real_prices) -> None:
    """Why plausibility depends on the data: the 1min/30 thresholds (0.75 AUC, 0.3 correlation; the issue's fixed
    ones) let the leak through, as the issue found."""
    report = _run(real_prices, "leaky", profile=None)
    assert report["passed"], report["summary"]
