"""past_future_asymmetry on the generated sample: its figures recomputed with scipy, and what it flags."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from steps.common.folds import holdout_mask
from steps.common.validation import validate_bars
from steps.features.table import load_feature_table
from steps.leaks.asymmetry import AsymmetryThresholds, overlap_factor, past_future_asymmetry
from steps.leaks.checks.timestamp_alignment import locate_rows


@pytest.fixture(scope="module")
def planted(features_dir, market, tiny_settings):
    """The sample table with three planted columns, and each row's returns from the bars."""
    table = load_feature_table(features_dir)
    frame = table.frame.copy()
    positions = locate_rows(frame, validate_bars(market.bars, "bars"), tiny_settings.label_horizon_bars)
    rng = np.random.default_rng(0)
    future, past = positions.forward_return, positions.past_return
    frame["knows_future"] = future + rng.standard_normal(len(frame)) * np.nanstd(future) * 1.5
    frame["knows_past"] = past + rng.standard_normal(len(frame)) * np.nanstd(past) * 0.5
    holdout = np.asarray(holdout_mask(frame, table.folds))
    frame["future_in_holdout_only"] = np.where(holdout, future, rng.standard_normal(len(frame)))
    return table, frame, positions


def test_the_figures_are_spearman_and_fisher_z_recomputed_independently(planted, tiny_settings) -> None:
    table, frame, positions = planted
    result = past_future_asymmetry(frame, table.folds, ["knows_future", "knows_past"], positions.forward_return,
                                   positions.past_return, tiny_settings, AsymmetryThresholds(0.1, 3.0))
    development = ~np.asarray(holdout_mask(frame, table.folds))
    for column in ("knows_future", "knows_past"):  # knows_past is NaN where the bars have no past return
        ok = development & ~np.isnan(positions.forward_return) & frame[column].notna().to_numpy()
        figures = result.data["segments"]["development"][column]
        rho_future = spearmanr(frame[column][ok], positions.forward_return[ok]).statistic
        both = ok & ~np.isnan(positions.past_return)
        rho_past = spearmanr(frame[column][both], positions.past_return[both]).statistic
        n_eff = ok.sum() / overlap_factor(tiny_settings)  # 30-bar labels every 15 bars: 2 rows share a window
        z = (np.arctanh(abs(rho_future)) - np.arctanh(abs(rho_past))) * np.sqrt((n_eff - 3) / 2)
        assert figures["future"] == pytest.approx(rho_future, abs=1e-4)
        assert figures["past"] == pytest.approx(rho_past, abs=1e-4)
        assert figures["z"] == pytest.approx(z, abs=0.01) and figures["rows"] == ok.sum()
    assert overlap_factor(tiny_settings) == 2.0


def test_a_feature_that_knows_the_future_fails_and_one_built_from_the_past_passes(planted, tiny_settings) -> None:
    table, frame, positions = planted
    result = past_future_asymmetry(frame, table.folds, ["knows_future", "knows_past", "ret_5"],
                                   positions.forward_return, positions.past_return, tiny_settings,
                                   AsymmetryThresholds(0.3, 3.0))
    assert not result.passed and result.columns == ["knows_future"]
    assert "knows_future: development: corr with future return +0." in result.details
    assert result.data["segments"]["development"]["knows_past"]["past"] > 0.8  # strongly tied to what it saw


def test_a_leak_confined_to_the_holdout_is_caught_on_the_holdout_rows(planted, tiny_settings) -> None:
    """A leak the development rows never show: the holdout is checked on its own."""
    table, frame, positions = planted
    result = past_future_asymmetry(frame, table.folds, ["future_in_holdout_only"], positions.forward_return,
                                   positions.past_return, tiny_settings, AsymmetryThresholds(0.3, 3.0))
    assert not result.passed
    assert abs(result.data["segments"]["development"]["future_in_holdout_only"]["future"]) < 0.1
    assert "future_in_holdout_only: holdout: corr with future return +1.000" in result.details
